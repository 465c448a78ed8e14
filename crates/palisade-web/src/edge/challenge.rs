//! "Under attack" mode: before the storefront, a browser solves a small proof-of-work (our own script, no third
//! party) and gets a signed pass cookie bound to its address for an hour. Turned on by an operator (platform-wide),
//! by a merchant (their store), or automatically when the storefront's request rate passes a threshold — the whole
//! storefront's (platform-wide) or one store's (that store only).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::http::form::Form;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::http::auth::cookie;
use crate::state::AppState;

/// The pass cookie's name.
pub const PASS_COOKIE: &str = "palisade_pass";
/// Leading zero bits a solution needs (about 16 000 hashes on average).
pub const BITS: u32 = 14;
/// How long a pass is good for.
pub const PASS_FOR: Duration = Duration::from_secs(3600);
/// How long a challenge may take to solve.
const CHALLENGE_FOR: Duration = Duration::from_secs(300);
/// Storefront requests per second (over 10 s) that switch platform-wide attack mode on by themselves (default of
/// `--auto-attack-mode-rps`).
pub const AUTO_THRESHOLD_PER_SEC: u64 = 2000;
/// Requests per second (over 10 s) to one store's pages that switch that store's attack mode on by themselves
/// (default of `--auto-attack-mode-store-rps`). Below the per-store rate limit (500/s), so a flood is challenged
/// before it is refused.
pub const AUTO_STORE_THRESHOLD_PER_SEC: u64 = 300;
/// Stores tracked at once; slugs come from request paths, so a flood of made-up ones must not grow it.
const STORES_TRACKED: usize = 10_000;
/// How long automatic attack mode lasts.
pub const AUTO_FOR: Duration = Duration::from_secs(15 * 60);

/// Request-rate tracking for automatic attack mode, and a short-lived copy of the platform-wide switch (so the
/// storefront does not read it from the database on every request).
#[derive(Debug, Default)]
pub struct RateWatch {
    window: AtomicI64,
    count: AtomicU64,
    /// Platform attack mode until (ms), as last read; and when it was read.
    platform_until: AtomicI64,
    platform_read: AtomicI64,
    stores: Mutex<StoreCounts>,
}

/// Per store (slug): the 10-second window and its request count; and the window last swept of stale entries.
#[derive(Debug, Default)]
struct StoreCounts {
    by_slug: HashMap<String, (i64, u64)>,
    swept: i64,
}

impl RateWatch {
    /// Drops the cached platform-wide switch (after this node changed it).
    pub fn forget_switch(&self) {
        self.platform_read.store(0, Ordering::Release);
    }

    /// Counts a request to one store in `window`; returns the window's count so far.
    fn count_store(&self, slug: &str, window: i64) -> u64 {
        let Ok(mut counts) = self.stores.lock() else { return 0 };
        let StoreCounts { by_slug, swept } = &mut *counts;
        if let Some(e) = by_slug.get_mut(slug) {
            if e.0 != window {
                *e = (window, 0);
            }
            e.1 += 1;
            return e.1;
        }
        if by_slug.len() >= STORES_TRACKED {
            // At most one sweep per window; while the map is full of this window's slugs, new ones go uncounted
            // (made-up slugs are 404s; a real store's flood is caught by its own count or the per-store limit).
            if *swept != window {
                by_slug.retain(|_, e| e.0 == window);
                *swept = window;
            }
            if by_slug.len() >= STORES_TRACKED {
                return 1;
            }
        }
        by_slug.insert(slug.to_owned(), (window, 1));
        1
    }
}

/// How long the platform-wide switch is cached.
const SWITCH_TTL_MS: i64 = 2_000;

/// Paths that are not pages: a browser fetches them for a page and cannot solve a challenge put in their place
/// (the challenge itself and its script, images, style sheets, health checks, metrics, the API).
fn is_resource(path: &str) -> bool {
    path == "/_challenge"
        || ["/assets/", "/theme/", "/media/"].iter().any(|p| path.starts_with(p))
        || path.ends_with("/theme.css")
        || matches!(path, "/metrics")
        || crate::http::error::is_api_path(path)
}

/// Paths never put behind under-attack mode: resources, and admin, sign-in and account pages (staff must reach
/// their tools during an attack; rate limits and shedding still apply).
fn exempt(path: &str) -> bool {
    is_resource(path)
        || ["/admin", "/console", "/login", "/logout", "/register", "/account", "/invitations/"]
            .iter()
            .any(|p| path.starts_with(p))
}

fn store_slug(path: &str) -> Option<&str> {
    path.strip_prefix("/s/").and_then(|r| r.split('/').next()).filter(|s| !s.is_empty())
}

fn leading_zero_bits(h: &[u8]) -> u32 {
    let mut n = 0;
    for b in h {
        if *b == 0 {
            n += 8;
        } else {
            n += b.leading_zeros();
            break;
        }
    }
    n
}

/// Whether `n` solves `challenge` at `bits`.
#[must_use]
pub fn solves(challenge: &str, n: &str, bits: u32) -> bool {
    leading_zero_bits(&Sha256::digest(format!("{challenge}:{n}").as_bytes())) >= bits
}

async fn platform_until(state: &AppState, now: i64) -> i64 {
    let w = &state.rate_watch;
    if w.platform_read.load(Ordering::Acquire) + SWITCH_TTL_MS > now {
        return w.platform_until.load(Ordering::Acquire);
    }
    // Off only when the switch reads as off (never set, or null); a value that cannot be read turns the challenge
    // on for this read's lifetime (fail closed), logged.
    let until = match palisade_store::settings::get(&state.db, "shield.attack_mode_until").await {
        Ok(None) => 0,
        Ok(Some((serde_json::Value::Null, _))) => 0,
        Ok(Some((v, _))) => v.as_i64().unwrap_or_else(|| {
            tracing::error!(value = %v, "platform attack-mode switch unreadable; treated as on");
            i64::MAX
        }),
        Err(e) => {
            tracing::error!(error = %e, "platform attack-mode switch unreadable; treated as on");
            i64::MAX
        }
    };
    w.platform_until.store(until, Ordering::Release);
    w.platform_read.store(now, Ordering::Release);
    until
}

async fn active(state: &AppState, path: &str, now: i64) -> bool {
    if platform_until(state, now).await > now {
        return true;
    }
    let Some(slug) = store_slug(path) else { return false };
    // The store's switch comes with its firewall layer, cached per store for a few seconds (and dropped on this
    // node when a merchant flips it), not read from the database on every storefront request.
    let layer = state.store_rules.for_store(&state.db, slug, now, &state.shield.config.policy).await;
    layer.attack_mode_until.is_some_and(|t| t > now)
}

pub(crate) fn pass_ok(state: &AppState, value: &str, ip: &str, now: i64) -> bool {
    let Some((expiry, tag)) = value.split_once('.') else { return false };
    let Ok(exp) = expiry.parse::<i64>() else { return false };
    exp > now && state.identity.links().verify("pass", &format!("{ip}|{exp}"), tag)
}

/// Counts a storefront request and switches attack mode on when the rate passes the threshold.
async fn watch_rate(state: &AppState, now: i64) {
    let window = now / 10_000;
    let w = &state.rate_watch;
    if w.window.swap(window, Ordering::AcqRel) != window {
        w.count.store(0, Ordering::Release);
    }
    let n = w.count.fetch_add(1, Ordering::AcqRel) + 1;
    let threshold = state.config.auto_attack_rps;
    if threshold > 0 && n == threshold * 10 {
        let until = now + AUTO_FOR.as_millis() as i64;
        if palisade_store::settings::put(&state.db, "shield.attack_mode_until", &serde_json::json!(until)).await.is_ok()
        {
            // This node enforces it from the very next request, not when its cached copy expires.
            w.forget_switch();
            tracing::warn!(requests = n, "storefront flood: under-attack mode switched on for 15 minutes");
            metrics::counter!("palisade_attack_mode_auto_total", "scope" => "platform").increment(1);
        }
    }
}

/// Counts a request to one store's pages and switches that store's attack mode on when its rate passes the
/// per-store threshold: a flood aimed at one shop challenges that shop's visitors, not everyone's.
async fn watch_store_rate(state: &AppState, slug: &str, now: i64) {
    let threshold = state.config.auto_attack_store_rps;
    if threshold == 0 {
        return;
    }
    if state.rate_watch.count_store(slug, now / 10_000) != threshold * 10 {
        return;
    }
    let layer = state.store_rules.for_store(&state.db, slug, now, &state.shield.config.policy).await;
    let Some(id) = layer.store else { return };
    // Already on for a while yet (a continuing flood, or the merchant's own switch): nothing to write. A flood
    // that goes on extends it once less than half the period is left.
    let auto_for = AUTO_FOR.as_millis() as i64;
    if layer.attack_mode_until.is_some_and(|t| t >= now + auto_for / 2) {
        return;
    }
    let until = palisade_core::time::Timestamp(now + auto_for);
    let scope = palisade_store::StaffScope::system(id, "shield.auto_attack_mode");
    match palisade_store::firewall::extend_attack_mode(&state.db, &scope, until).await {
        Ok(true) => {
            state.store_rules.invalidate();
            tracing::warn!(store = %id, requests = threshold * 10, "store flood: its under-attack mode switched on for 15 minutes");
            metrics::counter!("palisade_attack_mode_auto_total", "scope" => "store").increment(1);
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(store = %id, error = %e, "store flood: attack mode could not be switched on"),
    }
}

/// The middleware.
pub async fn gate(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let path = req.uri().path().to_owned();
    if exempt(&path) {
        return next(req).await;
    }
    let now = state.db.now().0;
    watch_rate(state, now).await;
    if let Some(slug) = store_slug(&path) {
        watch_store_rate(state, slug, now).await;
    }
    if !active(state, &path, now).await {
        return next(req).await;
    }
    let ip = crate::edge::limits::request_ip(state, req.extensions(), req.headers())
        .map(|i| i.to_string())
        .unwrap_or_default();
    if cookie(req.headers(), PASS_COOKIE).is_some_and(|v| pass_ok(state, v, &ip, now)) {
        return next(req).await;
    }
    let next_url = req.uri().path_and_query().map_or("/", |p| p.as_str()).to_owned();
    challenge_page(state, &ip, now, &next_url, Why::UnderAttack)
}

/// Why a browser is asked to prove itself: the page says so in plain words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Under-attack mode (platform-wide, or the store's).
    UnderAttack,
    /// The firewall scored the request as suspicious, below its block threshold.
    Suspicious,
    /// One of the store's own firewall rules asks for it.
    StoreRule,
}

impl Why {
    fn label(self) -> &'static str {
        match self {
            Why::UnderAttack => "under_attack",
            Why::Suspicious => "suspicious",
            Why::StoreRule => "store_rule",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Why::UnderAttack => {
                "This shop is under heavy load, so your browser is doing a small calculation to show it is not a bot."
            }
            Why::Suspicious => {
                "Something in this request looked unusual to our firewall, so your browser is doing a small calculation to show it is not a bot."
            }
            Why::StoreRule => "This shop asks browsers to do a small calculation first, to show they are not bots.",
        }
    }
}

/// Whether a request can be answered with the challenge page: a browser navigation can (it comes back to the
/// same address once solved); an API call or a form post cannot, as the solved page would lose the body.
#[must_use]
pub fn can_challenge(method: &axum::http::Method, path: &str) -> bool {
    (method == axum::http::Method::GET || method == axum::http::Method::HEAD) && !is_resource(path)
}

pub(crate) fn challenge_page(state: &AppState, ip: &str, now: i64, next_url: &str, why: Why) -> Response {
    metrics::counter!("palisade_challenges_served_total", "reason" => why.label()).increment(1);
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let exp = now + CHALLENGE_FOR.as_millis() as i64;
    let tag = state.identity.links().sign("challenge", &format!("{nonce}|{exp}|{ip}"));
    let challenge = format!("{nonce}.{exp}.{tag}");
    let esc = |s: &str| html_escape::encode_double_quoted_attribute(s).into_owned();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Checking your browser · Palisade</title><link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body><main class=\"narrow\">\
         <h1>One moment…</h1><p>{} It takes about a second.</p><p id=\"challenge-status\" class=\"lede\">Working…</p>\
         <noscript><p class=\"flash\">Please enable JavaScript to continue; it is needed only for this check.</p></noscript>\
         <form id=\"challenge-form\" method=\"post\" action=\"/_challenge\" data-bits=\"{BITS}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"c\" value=\"{}\"><input type=\"hidden\" name=\"n\" value=\"\">\
         <input type=\"hidden\" name=\"next\" value=\"{}\"></form></main>\
         <script src=\"/assets/challenge.js\"></script></body></html>",
        why.explanation(),
        esc(&crate::http::csrf::token()),
        esc(&challenge),
        esc(next_url)
    );
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    let _ = state;
    res
}

#[derive(Debug, Deserialize)]
pub(crate) struct Solution {
    c: String,
    n: String,
    #[serde(default)]
    next: String,
}

/// `POST /_challenge`: checks the solution and hands out the pass.
pub(crate) async fn solve(
    State(state): State<AppState>,
    req: axum::http::request::Parts,
    Form(s): Form<Solution>,
) -> Response {
    let now = state.db.now().0;
    let ip = crate::edge::limits::request_ip(&state, &req.extensions, &req.headers)
        .map(|i| i.to_string())
        .unwrap_or_default();
    let mut parts = s.c.splitn(3, '.');
    let (Some(nonce), Some(exp), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return refused();
    };
    let fresh = exp.parse::<i64>().is_ok_and(|e| e > now);
    let genuine = state.identity.links().verify("challenge", &format!("{nonce}|{exp}|{ip}"), tag);
    if !(fresh && genuine && s.n.len() <= 20 && solves(&s.c, &s.n, BITS)) {
        return refused();
    }
    let pass_exp = now + PASS_FOR.as_millis() as i64;
    let value = format!("{pass_exp}.{}", state.identity.links().sign("pass", &format!("{ip}|{pass_exp}")));
    // Only a path on this site: never an open redirect.
    let next = if crate::http::is_local_path(&s.next) { s.next.as_str() } else { "/" };
    let mut res = Redirect::to(next).into_response();
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{PASS_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        PASS_FOR.as_secs()
    )) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html(crate::http::error::error_page(
            StatusCode::FORBIDDEN,
            "That check did not work out. Reload the page to try again.",
        )),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_of_work_counts_leading_zero_bits() {
        assert_eq!(leading_zero_bits(&[0, 0, 0b0001_0000]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        let c = "abc";
        let n = (0u64..).find(|n| solves(c, &n.to_string(), 8)).unwrap_or(0);
        assert!(solves(c, &n.to_string(), 8));
    }

    #[test]
    fn the_challenge_and_its_assets_are_never_challenged() {
        assert!(exempt("/_challenge") && exempt("/assets/challenge.js") && exempt("/admin/stores/x"));
        assert!(!exempt("/s/tea") && !exempt("/") && !exempt("/search"));
        assert_eq!(store_slug("/s/tea/p/oolong"), Some("tea"));
    }

    #[test]
    fn only_page_views_can_be_sent_round_a_challenge() {
        use axum::http::Method;
        assert!(can_challenge(&Method::GET, "/s/tea") && can_challenge(&Method::HEAD, "/search"));
        for resource in ["/media/tea/1.jpg", "/s/tea/theme.css", "/theme/default/theme.css", "/metrics", "/api/v1/x"] {
            assert!(!can_challenge(&Method::GET, resource), "{resource}");
            assert!(exempt(resource), "{resource}");
        }
        assert!(!can_challenge(&Method::POST, "/s/tea"), "a form post would lose its body");
    }

    #[test]
    fn made_up_store_slugs_cannot_grow_the_counts_or_make_each_request_sweep() {
        let watch = RateWatch::default();
        for i in 0..STORES_TRACKED {
            watch.count_store(&format!("s{i}"), 7);
        }
        assert_eq!(watch.count_store("late", 7), 1);
        assert_eq!(watch.count_store("late", 7), 1, "not tracked while the map is full of this window's slugs");
        assert_eq!(watch.count_store("s1", 7), 2, "the ones tracked go on counting");
        // The next window sweeps once and makes room again.
        assert_eq!(watch.count_store("late", 8), 1);
        assert_eq!(watch.count_store("late", 8), 2);
        assert_eq!(watch.stores.lock().map(|c| c.by_slug.len()).unwrap_or_default(), 1);
    }
}
