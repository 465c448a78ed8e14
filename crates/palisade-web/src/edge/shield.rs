//! The shield in front of every route: each request (path, query, headers, cookies, body) goes through the WAF
//! engine before any handler sees it. Blocked requests get 403 with an event id; blocked and logged ones are
//! recorded (off the request path, through a bounded queue) for operators and the store's merchant, and counted
//! in `/metrics`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use palisade_shield::{Action, Policy, Shield, Verdict};
use palisade_store::shield_events::{self, NewShieldEvent, ShieldEventRow};
use palisade_store::{Db, StoreError, tenancy};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::http::error::{ApiError, error_page, is_api_path};
use crate::state::AppState;

/// The shield's settings for this node.
#[derive(Debug, Clone)]
pub struct ShieldConfig {
    pub policy: Policy,
    /// How often this node reads the bans other nodes have written.
    pub ban_sync: std::time::Duration,
}

impl Default for ShieldConfig {
    fn default() -> Self {
        Self { policy: Policy::default(), ban_sync: BAN_SYNC }
    }
}

/// Default of [`ShieldConfig::ban_sync`]: an address banned by one node is refused by the others within this.
pub const BAN_SYNC: std::time::Duration = std::time::Duration::from_secs(5);

/// One recorded decision.
#[derive(Debug, Clone, Serialize)]
pub struct ShieldEvent {
    pub id: String,
    pub at: i64,
    pub client_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub action: &'static str,
    pub score: u32,
    pub rules: Vec<&'static str>,
    pub findings: serde_json::Value,
}

/// Blocks that earn an address a temporary ban, within [`STRIKE_WINDOW_MS`].
pub const STRIKES_TO_BAN: u32 = 10;
/// The window in which strikes count.
pub const STRIKE_WINDOW_MS: i64 = 10 * 60 * 1000;
/// How long a ban lasts.
pub const BAN_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Copy, Default)]
struct Strikes {
    window_start: i64,
    count: u32,
}

/// A ban this node knows of: until when, and when this node imposed it itself (0: read from the database).
#[derive(Debug, Clone, Copy)]
struct Banned {
    until: i64,
    imposed_here_at: i64,
}

/// Addresses that keep tripping the firewall are refused outright for a while. Strikes are counted on each node
/// (on the hot path, in memory); a ban is written to the database (`palisade_store::bans`) and every node reads
/// the bans in force every [`ShieldConfig::ban_sync`], so a banned address is refused by all of them.
#[derive(Debug, Default)]
pub struct Bans {
    strikes: std::sync::Mutex<HashMap<IpAddr, Strikes>>,
    banned: std::sync::RwLock<HashMap<IpAddr, Banned>>,
    /// Whether `banned` holds anything; written under its write lock.
    any: std::sync::atomic::AtomicBool,
}

impl Bans {
    /// Whether `ip` is banned at `now`.
    #[must_use]
    pub fn banned(&self, ip: IpAddr, now: i64) -> bool {
        // Nearly always no ban at all: one shared, read-only flag instead of the lock's reader count, which every
        // request would otherwise write (and bounce between cores).
        if !self.any.load(std::sync::atomic::Ordering::Acquire) {
            return false;
        }
        self.banned.read().ok().and_then(|m| m.get(&ip).map(|b| b.until > now)).unwrap_or(false)
    }

    /// Counts a blocked request; returns the end of the ban when this strike starts one.
    pub fn strike(&self, ip: IpAddr, now: i64) -> Option<i64> {
        let Ok(mut m) = self.strikes.lock() else { return None };
        if m.len() > 100_000 {
            m.retain(|_, s| s.window_start + STRIKE_WINDOW_MS > now);
        }
        let s = m.entry(ip).or_default();
        if s.window_start + STRIKE_WINDOW_MS <= now {
            *s = Strikes { window_start: now, count: 0 };
        }
        s.count += 1;
        if s.count < STRIKES_TO_BAN {
            return None;
        }
        // The count starts again, so a lifted ban is not re-imposed by the very next blocked request.
        *s = Strikes { window_start: now, count: 0 };
        drop(m);
        let until = now + BAN_MS;
        if let Ok(mut b) = self.banned.write() {
            b.insert(ip, Banned { until, imposed_here_at: now });
            self.any.store(true, std::sync::atomic::Ordering::Release);
        }
        Some(until)
    }

    /// Replaces what this node knows with the bans in force in the database. Bans this node imposed within the
    /// last `grace_ms` are kept even if not (yet) read back, since their write may still be on its way.
    pub fn sync(&self, stored: &[palisade_store::bans::Ban], now: i64, grace_ms: i64) {
        let mut fresh: HashMap<IpAddr, Banned> = stored
            .iter()
            .filter_map(|b| Some((b.ip.parse().ok()?, Banned { until: b.banned_until.0, imposed_here_at: 0 })))
            .collect();
        let Ok(mut m) = self.banned.write() else { return };
        for (ip, b) in m.iter() {
            if b.imposed_here_at > now - grace_ms && b.until > now {
                fresh.entry(*ip).or_insert(*b);
            }
        }
        *m = fresh;
        self.any.store(!m.is_empty(), std::sync::atomic::Ordering::Release);
    }

    /// Forgets `ip`'s ban and strikes on this node (an operator lifted the ban).
    pub fn lift(&self, ip: IpAddr) {
        if let Ok(mut m) = self.banned.write() {
            m.remove(&ip);
            self.any.store(!m.is_empty(), std::sync::atomic::Ordering::Release);
        }
        if let Ok(mut m) = self.strikes.lock() {
            m.remove(&ip);
        }
    }
}

/// The engine, the policy and the event queue, shared by every request.
#[derive(Clone)]
pub struct ShieldState {
    pub engine: Shield,
    pub config: Arc<ShieldConfig>,
    pub bans: Arc<Bans>,
    events: mpsc::Sender<ShieldEvent>,
}

impl std::fmt::Debug for ShieldState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShieldState").field("mode", &self.config.policy.mode).finish_non_exhaustive()
    }
}

/// Events waiting to be written at most; beyond this they are dropped and counted, never waited for.
const QUEUE: usize = 4096;

impl ShieldState {
    /// Starts the event writer on the current runtime.
    #[must_use]
    pub fn start(db: Db, config: ShieldConfig) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(db.clone(), rx));
        let bans = Arc::new(Bans::default());
        tokio::spawn(sync_bans(db, Arc::downgrade(&bans), config.ban_sync));
        Self { engine: Shield::default(), config: Arc::new(config), bans, events: tx }
    }
}

/// Reads the bans in force every `every`, until the shield state is gone; purges long-expired ones hourly.
async fn sync_bans(db: Db, bans: std::sync::Weak<Bans>, every: std::time::Duration) {
    let grace = i64::try_from(every.as_millis()).unwrap_or(i64::MAX / 4).saturating_mul(3);
    let mut last_purge = 0;
    loop {
        tokio::time::sleep(every).await;
        let Some(bans) = bans.upgrade() else { return };
        let now = db.now();
        match palisade_store::bans::active(&db, now, 100_000).await {
            Ok(stored) => bans.sync(&stored, now.0, grace),
            Err(e) => tracing::warn!(error = %e, "could not read the shared bans; keeping this node's"),
        }
        if now.0 - last_purge > 3_600_000 {
            last_purge = now.0;
            if let Err(e) = palisade_store::bans::purge(&db, palisade_core::time::Timestamp(now.0 - 86_400_000)).await {
                tracing::warn!(error = %e, "could not purge expired bans");
            }
        }
    }
}

async fn writer(db: Db, mut rx: mpsc::Receiver<ShieldEvent>) {
    while let Some(e) = rx.recv().await {
        if let Err(err) = record(&db, &e).await {
            tracing::warn!(event = %e.id, error = %err, "shield event not recorded");
        }
    }
}

/// The store a path belongs to, if it names one (`/s/{slug}`, its checkout and images, `/admin/stores/{store}`,
/// `/api/v1/…/stores/{store}`). Cart and order pages span stores or name none; the WAF still reads them.
fn store_key(path: &str) -> Option<&str> {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    match (segs.next(), segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("s" | "checkout" | "media"), Some(slug), ..) => Some(slug),
        (Some("admin"), Some("stores"), Some(key), ..) => Some(key),
        (Some("api"), Some("v1"), Some("stores"), Some(key), _) => Some(key),
        (Some("api"), Some("v1"), Some("admin"), Some("stores"), Some(key)) => Some(key),
        _ => None,
    }
}

async fn record(db: &Db, e: &ShieldEvent) -> Result<(), StoreError> {
    let store = match store_key(&e.path) {
        Some(key) => tenancy::store_id_by_key(db, &key.chars().take(64).collect::<String>()).await?,
        None => None,
    };
    shield_events::record(
        db,
        &NewShieldEvent {
            id: &e.id,
            at: palisade_core::time::Timestamp(e.at),
            store,
            client_ip: e.client_ip.as_deref(),
            method: &e.method,
            path: &e.path,
            action: e.action,
            score: e.score,
            rules: &e.rules,
            findings: &e.findings,
        },
    )
    .await
}

/// Settings key prefix under which each running node reports what its shield runs (for the firewall controls).
pub const NODE_REPORT_PREFIX: &str = "shield.node.";
/// How often a running node renews its report.
pub const NODE_REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// A report older than this is a node that stopped without saying so; the controls leave it out.
pub const NODE_REPORT_FRESH: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Records what this node's shield runs, under its own key: with several nodes, each is judged, not the last
/// one started.
pub async fn report_node(db: &Db, node: &str, web: &crate::WebConfig) -> Result<(), StoreError> {
    let report = serde_json::json!({
        "mode": web.shield.policy.mode.as_str(), "paranoia": web.shield.policy.paranoia,
        "shedding": web.shedding.enabled, "capacity": web.shedding.capacity, "per_ip": web.shedding.per_ip,
        "header_read_timeout_secs": crate::edge::server::ConnLimits::default().header_read_timeout.as_secs(),
        "rate_limits": web.limits.enabled, "shared_limits": web.limits.redis_url.is_some(),
        "card_testing": crate::services::card_testing::node_report(),
    });
    palisade_store::settings::put(db, &format!("{NODE_REPORT_PREFIX}{node}"), &report).await
}

/// Withdraws a node's report (it is shutting down).
pub async fn forget_node(db: &Db, node: &str) -> Result<(), StoreError> {
    palisade_store::settings::delete(db, &format!("{NODE_REPORT_PREFIX}{node}")).await
}

/// The reports of the nodes that are running (renewed within [`NODE_REPORT_FRESH`]): node name and report.
pub(crate) async fn node_reports(db: &Db) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
    let fresh_since = db.now().minus(NODE_REPORT_FRESH);
    Ok(palisade_store::settings::with_prefix(db, NODE_REPORT_PREFIX)
        .await?
        .into_iter()
        .filter(|(_, _, at)| *at >= fresh_since)
        .map(|(k, v, _)| (k.trim_start_matches(NODE_REPORT_PREFIX).to_owned(), v))
        .collect())
}

/// How long firewall events are kept: a quarter covers investigations and the matrix's look-backs, and the
/// table (written on every flagged request) does not grow without end.
pub const EVENTS_KEPT: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// Deletes events older than `age`; returns how many went. Run daily by the job runner (`shield.events_prune`).
pub async fn prune_events(db: &Db, age: std::time::Duration) -> Result<u64, StoreError> {
    shield_events::prune(db, db.now().minus(age)).await
}

/// Recent events as the pages and the API show them, newest first. `matched` says where each rule matched
/// (`query "u"`, `header "user-agent"`), so a merchant can tell which field of a customer's request tripped it.
#[must_use]
pub fn shown(rows: Vec<ShieldEventRow>) -> Vec<serde_json::Value> {
    rows.into_iter()
        .map(|e| {
            serde_json::json!({"id": e.id, "at": e.at, "client_ip": e.client_ip, "method": e.method, "path": e.path,
                "action": e.action, "score": e.score, "rules": e.rules, "matched": matched(&e.findings)})
        })
        .collect()
}

/// `rule in location "field"` for each stored finding, without repeats.
fn matched(findings: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for f in findings.as_array().map(Vec::as_slice).unwrap_or_default() {
        let text = |k: &str| f.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
        let field: String = text("field").chars().take(60).collect();
        let line = format!("{} in {} \"{field}\"", text("rule"), text("location"));
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// Bodies the shield does not read: binary uploads (checked by their own validators).
fn binary(content_type: &str) -> bool {
    let c = content_type.to_ascii_lowercase();
    c.starts_with("image/") || c.starts_with("application/octet-stream") || c.starts_with("video/")
}

/// The middleware.
pub async fn inspect(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let shield = &state.shield;
    let now = state.db.now().0;
    // The store's own layer (its rules, mode and paranoia) applies even where the platform's firewall is off: a
    // store may enforce more than the platform. Bans are the platform's, and off with it.
    let layer = match store_key(req.uri().path()) {
        Some(key) => Some(state.store_rules.for_store(&state.db, key, now, &shield.config.policy).await),
        None => None,
    };
    if layer.as_deref().is_some_and(|l| l.unreadable) {
        metrics::counter!("palisade_shield_unreadable_store_refusals_total").increment(1);
        return unreadable_store(req.uri().path());
    }
    let platform_off = shield.config.policy.mode == palisade_shield::Mode::Off;
    let store_off = |l: &crate::edge::rules::StoreLayer| {
        l.rules.is_empty() && l.policy.as_ref().is_none_or(|p| p.mode == palisade_shield::Mode::Off)
    };
    if platform_off && layer.as_deref().is_none_or(store_off) {
        return next(req).await;
    }
    let ip = crate::edge::limits::request_ip(state, req.extensions(), req.headers());
    if !platform_off
        && let Some(ip) = ip
        && shield.bans.banned(crate::edge::limits::network_of(ip), now)
    {
        metrics::counter!("palisade_shield_banned_requests_total").increment(1);
        return banned(req.uri().path());
    }
    let (parts, body) = req.into_parts();
    let limit = crate::http::layers::body_limit(&parts.method, parts.uri.path(), state.config.max_body_bytes);
    let Ok(bytes) = read_body(body, limit).await else {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
            .into_response();
    };
    let uri = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut sreq = palisade_shield::Request::borrowed(parts.method.as_str(), uri);
    for (name, value) in &parts.headers {
        sreq.push_header(name.as_str(), String::from_utf8_lossy(value.as_bytes()));
    }
    let ctype = parts.headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !binary(ctype) {
        sreq.body = bytes.clone();
    }
    // The store's own rules come first.
    if let Some(layer) = &layer {
        match store_rules(state, layer, &sreq, &parts, ip, now) {
            StoreVerdict::Allow => return next(rebuilt(parts, bytes)).await,
            StoreVerdict::Respond(res) => return res,
            StoreVerdict::Inspect => {}
        }
    }
    // The store's own mode and paranoia, where it chose them, for its paths.
    let policy = layer.as_deref().and_then(|l| l.policy.as_ref()).unwrap_or(&shield.config.policy);
    let verdict = shield.engine.inspect(&sreq, policy);
    if verdict.action == Action::Allow {
        return next(rebuilt(parts, bytes)).await;
    }
    let mut verdict = verdict;
    // A suspicious request a browser cannot be sent round a challenge for (an API call, a form post), or whose
    // client already proved itself, goes through and is recorded.
    if verdict.action == Action::Challenge
        && (!crate::edge::challenge::can_challenge(&parts.method, parts.uri.path())
            || passed_challenge(state, &parts, ip, now))
    {
        verdict.action = Action::Log;
    }
    let id = emit(shield, state, &parts, ip, &verdict);
    match verdict.action {
        Action::Allow | Action::Log => return next(rebuilt(parts, bytes)).await,
        Action::Challenge => {
            return challenge(state, &parts, ip, now, crate::edge::challenge::Why::Suspicious);
        }
        Action::Block => {}
    }
    if !platform_off {
        strike(state, ip, now);
    }
    blocked(parts.uri.path(), &id)
}

/// The body the firewall inspects, up to `limit`. Most requests (page views, probes) have none: nothing to collect.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, axum::Error> {
    if axum::body::HttpBody::size_hint(&body).exact() == Some(0) {
        return Ok(Bytes::new());
    }
    axum::body::to_bytes(body, limit).await
}

/// The request again, with the body the firewall read (an empty body costs no allocation).
fn rebuilt(parts: axum::http::request::Parts, bytes: Bytes) -> Request {
    let body = if bytes.is_empty() { Body::empty() } else { Body::from(bytes) };
    Request::from_parts(parts, body)
}

/// What the store's own rules decided.
enum StoreVerdict {
    /// An `allow` rule matched: the request skips the firewall.
    Allow,
    /// The answer is decided: a block, or a challenge the client has not passed yet.
    Respond(Response),
    /// No rule matched, or one that only logs or whose challenge was passed: the firewall inspects next.
    Inspect,
}

/// The store's custom rules, which come before the firewall.
fn store_rules(
    state: &AppState,
    layer: &crate::edge::rules::StoreLayer,
    sreq: &palisade_shield::Request<'_>,
    parts: &axum::http::request::Parts,
    ip: Option<IpAddr>,
    now: i64,
) -> StoreVerdict {
    use palisade_shield::rules::RuleAction;
    let shield = &state.shield;
    let rules = &layer.rules;
    // Kept for test-runs (spread in time), or needed by the store's rules: otherwise not built at all.
    let keep = layer.store.is_some_and(|store| state.store_rules.wants_sample(store, now));
    let Some(store) = layer.store.filter(|_| keep || !rules.is_empty()) else { return StoreVerdict::Inspect };
    // Custom rules (live and in test-runs) see the request through the allow-list of `Sample::of`:
    // never credentials, card data or personal data, so neither a rule's events nor its test-run hit
    // count can be turned into an oracle over what buyers type.
    let sample = crate::edge::rules::Sample::of(
        sreq,
        now,
        parts.uri.path(),
        parts.uri.query().unwrap_or(""),
        ip,
        ip.and_then(|i| state.geoip.country(i)),
    );
    let hit = crate::edge::rules::first_match(rules, &sample).map(|r| (r.action, r.source().to_owned()));
    if keep {
        state.store_rules.remember(store, sample.kept(), now);
    }
    let Some((action, source)) = hit else { return StoreVerdict::Inspect };
    let custom = |a: Action| Verdict {
        action: a,
        score: 0,
        findings: vec![palisade_shield::Finding {
            rule: "custom.rule",
            family: palisade_shield::Family::Generic,
            score: 0,
            paranoia: 1,
            location: palisade_shield::Location::Path,
            field: "rule".into(),
            excerpt: source.chars().take(80).collect(),
        }],
    };
    let record = |a: Action| emit(shield, state, parts, ip, &custom(a));
    match action {
        RuleAction::Allow => StoreVerdict::Allow,
        RuleAction::Block => {
            let id = record(Action::Block);
            StoreVerdict::Respond(blocked(parts.uri.path(), &id))
        }
        RuleAction::Challenge if !passed_challenge(state, parts, ip, now) => {
            record(Action::Challenge);
            StoreVerdict::Respond(challenge(state, parts, ip, now, crate::edge::challenge::Why::StoreRule))
        }
        RuleAction::Challenge => StoreVerdict::Inspect,
        RuleAction::Log => {
            record(Action::Log);
            StoreVerdict::Inspect
        }
    }
}

/// Counts a block against the client's network; enough of them ban it here at once and, off the request path,
/// on the other nodes.
fn strike(state: &AppState, ip: Option<IpAddr>, now: i64) {
    let shield = &state.shield;
    if let Some(ip) = ip.map(crate::edge::limits::network_of)
        && let Some(until) = shield.bans.strike(ip, now)
    {
        metrics::counter!("palisade_shield_bans_total").increment(1);
        tracing::warn!(client = %ip, minutes = BAN_MS / 60_000, "address banned for repeatedly tripping the firewall");
        // Shared with the other nodes off the request path; this node already refuses the address.
        let db = state.db.clone();
        tokio::spawn(async move {
            let reason = format!(
                "{STRIKES_TO_BAN} requests blocked by the firewall within {} minutes",
                STRIKE_WINDOW_MS / 60_000
            );
            let until = palisade_core::time::Timestamp(until);
            if let Err(e) = palisade_store::bans::put(&db, &ip.to_string(), until, &reason).await {
                tracing::warn!(client = %ip, error = %e, "ban not shared with the other nodes");
            }
        });
    }
}

/// Whether the client holds a valid pass cookie from an earlier challenge (bound to its address).
fn passed_challenge(state: &AppState, parts: &axum::http::request::Parts, ip: Option<IpAddr>, now: i64) -> bool {
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    crate::http::auth::cookie(&parts.headers, crate::edge::challenge::PASS_COOKIE)
        .is_some_and(|v| crate::edge::challenge::pass_ok(state, v, &ip, now))
}

fn challenge(
    state: &AppState,
    parts: &axum::http::request::Parts,
    ip: Option<IpAddr>,
    now: i64,
    why: crate::edge::challenge::Why,
) -> Response {
    let ip = ip.map(|i| i.to_string()).unwrap_or_default();
    let next_url = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    crate::edge::challenge::challenge_page(state, &ip, now, next_url, why)
}

/// The answer for a store whose firewall cannot be read (see `StoreLayer::unreadable`): closed, and saying so.
fn unreadable_store(path: &str) -> Response {
    let message = "This store's security settings cannot be read right now, so it is closed until they can be: \
                   try again shortly. (The platform operator has been alerted.)";
    let status = StatusCode::SERVICE_UNAVAILABLE;
    if is_api_path(path) {
        ApiError::new(status, "security_setting_unreadable", message).into_response()
    } else {
        (status, Html(error_page(status, message))).into_response()
    }
}

fn banned(path: &str) -> Response {
    let message =
        "Requests from your address are blocked for a while because it sent many requests the firewall refused.";
    if is_api_path(path) {
        ApiError::new(StatusCode::FORBIDDEN, "temporarily_banned", message).into_response()
    } else {
        (StatusCode::FORBIDDEN, Html(error_page(StatusCode::FORBIDDEN, message))).into_response()
    }
}

/// Counts and records a decision; returns the event id the answer names.
fn emit(
    shield: &ShieldState,
    state: &AppState,
    parts: &axum::http::request::Parts,
    ip: Option<IpAddr>,
    v: &Verdict,
) -> String {
    let id = uuid::Uuid::now_v7().to_string();
    // Kept for 90 days and shown to staff: a card number in a path is not kept with it.
    let path = crate::edge::rules::kept_path(parts.uri.path());
    let action = v.action.as_str();
    metrics::counter!("palisade_shield_decisions_total", "action" => action).increment(1);
    for f in &v.findings {
        metrics::counter!("palisade_shield_findings_total", "family" => f.family.as_str()).increment(1);
    }
    let mut rules: Vec<&'static str> = v.findings.iter().map(|f| f.rule).collect();
    rules.dedup();
    tracing::warn!(shield.event = %id, shield.action = action, shield.score = v.score, shield.rules = ?rules, http.path = %path, "shield decision");
    let event = ShieldEvent {
        id: id.clone(),
        at: state.db.now().0,
        client_ip: ip.map(|i| i.to_string()),
        method: parts.method.as_str().to_owned(),
        path,
        action,
        score: v.score,
        rules,
        findings: serde_json::to_value(&v.findings).unwrap_or_default(),
    };
    if shield.events.try_send(event).is_err() {
        metrics::counter!("palisade_shield_events_dropped_total").increment(1);
    }
    id
}

fn blocked(path: &str, id: &str) -> Response {
    const MESSAGE: &str = "This request was blocked by Palisade's web application firewall. If you think this is \
                           a mistake, contact the site and quote event";
    // The event id is Palisade's own, not input: it is added after the message's card redaction, which could
    // otherwise garble an id whose hex groups happen to be all digits.
    let mut res = if is_api_path(path) {
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "blocked_by_firewall", MESSAGE);
        e.message = format!("{MESSAGE} {id}.");
        e.into_response()
    } else {
        let page =
            crate::http::error::error_page_quoting(StatusCode::FORBIDDEN, &format!("{MESSAGE} below."), Some(id));
        (StatusCode::FORBIDDEN, Html(page)).into_response()
    };
    if let Ok(v) = axum::http::HeaderValue::from_str(id) {
        res.headers_mut().insert("x-palisade-event", v);
    }
    res
}

/// The firewall area's controls: the platform runs the WAF in block mode; each store protects its admin.
#[allow(
    clippy::too_many_lines,
    reason = "the registrations of matrix controls read as one list, each control beside its check"
)]
pub fn register(reg: &mut palisade_store::matrix::Registry) -> palisade_store::error::Result<()> {
    use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
    use palisade_store::matrix::EvalContext;
    const PCI_WAF: Reference =
        Reference { framework: "PCI DSS 4.0", clause: "6.4.2 Automated technical solution for public-facing web apps" };
    const OWASP: Reference = Reference { framework: "OWASP CRS", clause: "Anomaly scoring, paranoia level 1+" };
    reg.register(
        Control {
            id: "platform.waf-blocking",
            area: Area::FirewallNetwork,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "The web application firewall is in block mode in front of every route",
            why: "Detect-only logs an attack after it has happened; blocking stops the request before any handler runs.",
            remediation: "Run `palisade serve` without `--shield-mode detect|off` (block is the default).",
            references: &[PCI_WAF, OWASP],
        },
        |ctx: EvalContext| async move {
            let nodes = match node_reports(&ctx.db).await {
                Ok(n) => n,
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            if nodes.is_empty() {
                return ControlStatus::unmet("no running node has reported its firewall mode (start `palisade serve`)");
            }
            let mode = |v: &serde_json::Value| v.get("mode").and_then(serde_json::Value::as_str).unwrap_or("unknown").to_owned();
            let weak: Vec<String> =
                nodes.iter().filter(|(_, v)| mode(v) != "block").map(|(n, v)| format!("{n} runs in {} mode", mode(v))).collect();
            if !weak.is_empty() {
                return ControlStatus::unmet(weak.join("; "));
            }
            let paranoia =
                nodes.iter().filter_map(|(_, v)| v.get("paranoia").and_then(serde_json::Value::as_u64)).min().unwrap_or(1);
            ControlStatus::met(format!("block mode at paranoia level {paranoia} on {} node(s)", nodes.len()))
        },
    )?;
    reg.register(
        Control {
            id: "platform.ddos-shedding",
            area: Area::FirewallNetwork,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Application-level DDoS defences are on: rate limits, priority load shedding, connection and header deadlines",
            why: "A flood must cost the attacker more than the shop: refuse early and cheaply, and keep checkout alive.",
            remediation: "Run `palisade serve` without `--no-rate-limits`; with several nodes, share the limits with `--redis-url`.",
            references: &[OWASP],
        },
        |ctx: EvalContext| async move {
            let nodes = match node_reports(&ctx.db).await {
                Ok(n) => n,
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            if nodes.is_empty() {
                return ControlStatus::unmet("no running node has reported its defences (start `palisade serve`)");
            }
            let on = |v: &serde_json::Value, k: &str| v.get(k).and_then(serde_json::Value::as_bool).unwrap_or(false);
            let mut gaps = Vec::new();
            for (node, v) in &nodes {
                if !on(v, "rate_limits") {
                    gaps.push(format!("{node}: rate limits are off (--no-rate-limits)"));
                }
                if !on(v, "shedding") {
                    gaps.push(format!("{node}: load shedding is off"));
                }
            }
            let own = nodes.iter().filter(|(_, v)| !on(v, "shared_limits")).count();
            if nodes.len() > 1 && own > 0 {
                gaps.push(format!(
                    "{own} of {} nodes keep their own rate limits, so a client gets one budget per node: share them with --redis-url",
                    nodes.len()
                ));
            }
            if !gaps.is_empty() {
                return ControlStatus::unmet(gaps.join("; "));
            }
            let Some((_, v)) = nodes.first() else { return ControlStatus::unmet("no running node") };
            ControlStatus::met(format!(
                "rate limits ({}), shedding at {} in flight, header deadline {} s, on {} node(s)",
                if on(v, "shared_limits") { "shared through Redis" } else { "one node" },
                v.get("capacity").and_then(serde_json::Value::as_u64).unwrap_or(0),
                v.get("header_read_timeout_secs").and_then(serde_json::Value::as_u64).unwrap_or(0),
                nodes.len()
            ))
        },
    )?;
    reg.register(
        Control {
            id: "store.no-store-wide-allow",
            area: Area::FirewallNetwork,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Neither a setting nor a custom rule switches the firewall off for the whole store",
            why: "The store's firewall mode can step back to detect-only or off, or below the platform's paranoia level, \
                  and an `allow` rule skips the WAF; for a webhook that is fine, for every path it removes the platform's protection from the store.",
            remediation: "Set the store's firewall mode back to block (or \"as the platform\") once tuning is done, and \
                          narrow allow rules to the exact path (and method or address) that needs them, or delete them.",
            references: &[OWASP],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            let (store, rules, fw) = match (
                palisade_store::tenancy::get_store(&ctx.db, &scope).await,
                palisade_store::firewall::rules(&ctx.db, &scope).await,
                palisade_store::firewall::get(&ctx.db, &scope).await,
            ) {
                (Ok(s), Ok(r), Ok(f)) => (s, r, f),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            if let Some(mode) = fw.waf_mode.as_deref().filter(|m| *m != "block") {
                return ControlStatus::unmet(format!("the store's firewall mode is {mode}"));
            }
            // A store may be stricter than the platform, not laxer.
            let platform = node_reports(&ctx.db)
                .await
                .unwrap_or_default()
                .iter()
                .filter_map(|(_, v)| v.get("paranoia").and_then(serde_json::Value::as_u64))
                .min();
            if let (Some(own), Some(platform)) = (fw.waf_paranoia, platform)
                && u64::from(own) < platform
            {
                return ControlStatus::unmet(format!(
                    "the store's paranoia level {own} is below the platform's {platform}"
                ));
            }
            let (slug, id) = (&store.slug, &store.id);
            let storefront = [
                format!("/s/{slug}"),
                format!("/s/{slug}/p/a-product"),
                format!("/s/{slug}/cart"),
                format!("/s/{slug}/checkout"),
                format!("/s/{slug}/search"),
            ];
            let api = [format!("/api/v1/stores/{slug}/products/a-product"), format!("/api/v1/stores/{slug}/orders")];
            let admin = [
                format!("/admin/stores/{id}"),
                format!("/admin/stores/{id}/products"),
                format!("/api/v1/admin/stores/{id}/orders"),
            ];
            fn refs(v: &[String]) -> Vec<&str> {
                v.iter().map(String::as_str).collect()
            }
            let (storefront, api, admin) = (refs(&storefront), refs(&api), refs(&admin));
            let areas: [&[&str]; 3] = [&storefront, &api, &admin];
            let wide: Vec<String> = rules
                .iter()
                .filter(|r| r.enabled)
                .filter(|r| palisade_shield::rules::parse(&r.source).is_ok_and(|p| p.disables_firewall_for(&areas)))
                .map(|r| r.source.clone())
                .collect();
            if wide.is_empty() {
                ControlStatus::met(format!("{} enabled rule(s), none store-wide", rules.iter().filter(|r| r.enabled).count()))
            } else {
                ControlStatus::unmet(format!("store-wide allow: {}", wide.join("; ")))
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.admin-protected",
            area: Area::FirewallNetwork,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store admin is protected beyond passwords (an IP allow-list, or two-step verification for all staff)",
            why: "The admin reaches orders, payouts and customers' data; a stolen password alone must not open it.",
            remediation: "In the Security Center, require two-step verification for all staff, or restrict the admin to \
                          your office's addresses with the IP allow-list.",
            references: &[OWASP],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let fw = match palisade_store::firewall::get(&ctx.db, &scope).await {
                Ok(f) => f,
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            if !fw.admin_allowlist.is_empty() {
                return ControlStatus::met(format!("admin reachable only from {} listed address range(s)", fw.admin_allowlist.len()));
            }
            match palisade_identity::policy::get(&ctx.db, &scope).await {
                Ok(p) if p.require_staff_mfa => ControlStatus::met("two-step verification is required for all staff"),
                Ok(_) => ControlStatus::unmet("neither an IP allow-list nor required two-step verification"),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::store_key;

    #[test]
    fn paths_name_their_store() {
        assert_eq!(store_key("/s/tea/p/oolong"), Some("tea"));
        assert_eq!(store_key("/admin/stores/abc/orders"), Some("abc"));
        assert_eq!(store_key("/api/v1/stores/tea/orders"), Some("tea"));
        assert_eq!(store_key("/api/v1/admin/stores/abc/products"), Some("abc"));
        assert_eq!(store_key("/checkout/tea"), Some("tea"));
        assert_eq!(store_key("/media/tea/abc.jpg"), Some("tea"));
        assert_eq!(store_key("/search"), None);
    }
}
