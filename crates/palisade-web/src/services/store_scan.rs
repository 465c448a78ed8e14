//! A store's security scan, end to end: crawl the store's own storefront through the application's real router in
//! process ([`RouterFetcher`]: the shield, headers and routing are exercised, and no socket is ever opened, so a
//! scan cannot be pointed at another host), probe for exposed files under the store's prefix, read the store's
//! theme templates, add configuration checks from the store's own controls, run `palisade_scan::scan::run` and
//! keep the result (`palisade_store::scans`).

use axum::Router;
use axum::body::Body;
use axum::http::{Request, header};
use palisade_core::ScanId;
use palisade_core::matrix::ControlStatus;
use palisade_scan::checks::{EXPOSED_FILE_PROBES, PageCheckConfig};
use palisade_scan::crawl::{self, CrawlLimits, CrawlPlanner, Fetcher};
use palisade_scan::finding::Rule;
use palisade_scan::report::Report;
use palisade_scan::{Fetched, Finding, Location, RedirectProbe, Severity};
use palisade_store::StaffScope;
use palisade_store::scans::{self, Finished, Refused, SeenFinding, Trigger};
use palisade_store::tenancy;
use tower::ServiceExt as _;
use url::Url;

use crate::routes::admin::security_tabs::fix_href;
use crate::state::AppState;

/// The crawl's bounds for one store scan: small enough for a scan under two seconds.
pub const LIMITS: CrawlLimits = CrawlLimits { max_pages: 30, max_depth: 2, max_links_per_page: 100 };
/// The largest body read from one page.
pub const MAX_BODY: usize = 2 * 1024 * 1024;
/// The scanner's user agent (it shows in the store's firewall events).
pub const USER_AGENT: &str = "Palisade-StoreScan/1";

/// Fetches pages of one store from the application's own router, as an anonymous visitor. Only URLs on the
/// public origin whose path is the store's own (`/s/{slug}` or below) are fetched; anything else is refused
/// without a request.
pub struct RouterFetcher {
    app: Router,
    origin: url::Origin,
    host: String,
    prefix: String,
}

impl RouterFetcher {
    /// A fetcher for the store `slug` of the site at `public_url`, over `app` (the router as served).
    pub fn new(app: Router, public_url: &Url, slug: &str) -> Self {
        Self {
            app,
            origin: public_url.origin(),
            host: public_url.host_str().unwrap_or_default().to_owned()
                + &public_url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            prefix: format!("/s/{slug}"),
        }
    }

    /// Whether `url` is one of this store's own pages.
    #[must_use]
    pub fn admits(&self, url: &Url) -> bool {
        let path = url.path();
        url.origin() == self.origin
            && (path == self.prefix || path.strip_prefix(&self.prefix).is_some_and(|rest| rest.starts_with('/')))
    }
}

impl Fetcher for RouterFetcher {
    async fn fetch(&mut self, url: &Url) -> Result<Fetched, String> {
        if !self.admits(url) {
            return Err("outside the store's own pages: not fetched".to_owned());
        }
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let req = Request::get(target)
            .header(header::HOST, &self.host)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::ACCEPT, "text/html,*/*;q=0.5")
            .header(header::ORIGIN, palisade_scan::observatory::SCANNER_PROBE_ORIGIN)
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let res = self.app.clone().oneshot(req).await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let bytes = axum::body::to_bytes(res.into_body(), MAX_BODY).await.map_err(|e| e.to_string())?;
        Ok(Fetched { url: url.to_string(), status, headers, body: String::from_utf8_lossy(&bytes).into_owned() })
    }
}

/// What starting a scan came to.
#[derive(Debug)]
pub enum Outcome {
    /// Claimed; the scan runs in the background (the Scans tab shows it running, then its report).
    Started(ScanId),
    /// Claimed and finished with a report.
    Done(ScanId),
    /// Claimed and failed; the reason is in the store's audit log (`scan.failed`).
    Failed(ScanId),
    Refused(Refused),
    /// Every scan slot of this node is in use: try again in a minute.
    Busy,
    /// A scheduled scan not needed any more (the store was scanned since it was queued).
    Skipped,
}

/// Scans running at once on this node. One scan sends ~40 requests through the whole router; without a bound,
/// merchants pressing "Run a scan now" together (each within their own hourly budget) would take the cores the
/// storefronts need. A scan that finds no free slot is not started (the merchant is told to try again; the job is
/// retried later).
pub const SLOTS: usize = 2;
static SLOT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(SLOTS);
/// Longest one scan may take once it has a slot before it is abandoned (the claim would lapse by itself after
/// `scans::RUNNING_TIMEOUT_MS`; this frees the slot sooner).
pub const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Claims a scan of the store and runs it in the background: the request that asked answers at once (a scan of a
/// large store could outlast the request timeout). The slot is taken before the claim, so a claim never waits (and
/// never lapses while waiting): when both slots are busy the answer is [`Outcome::Busy`]. Refused while another
/// scan of the store runs or past the hourly budget.
pub async fn start(state: &AppState, scope: &StaffScope, trigger: Trigger) -> Result<Outcome, crate::http::PageError> {
    let Ok(slot) = SLOT.try_acquire() else { return Ok(Outcome::Busy) };
    let id = match scans::begin(&state.db, scope, trigger).await? {
        Ok(id) => id,
        Err(r) => return Ok(Outcome::Refused(r)),
    };
    let (state, scope) = (state.clone(), scope.clone());
    tokio::spawn(async move {
        execute(&state, &scope, id, slot).await;
    });
    Ok(Outcome::Started(id))
}

/// Claims a scan of the store and runs it to the end (the scheduled job's path); [`Outcome::Busy`] without waiting
/// when both slots are taken (the job is retried later rather than holding the job runner).
pub async fn run(state: &AppState, scope: &StaffScope, trigger: Trigger) -> Result<Outcome, crate::http::PageError> {
    let Ok(slot) = SLOT.try_acquire() else { return Ok(Outcome::Busy) };
    let id = match scans::begin(&state.db, scope, trigger).await? {
        Ok(id) => id,
        Err(r) => return Ok(Outcome::Refused(r)),
    };
    Ok(if execute(state, scope, id, slot).await { Outcome::Done(id) } else { Outcome::Failed(id) })
}

/// Runs the claimed scan `id` in its slot and records its end: the report, or the reason it failed. True when a
/// report was kept.
async fn execute(
    state: &AppState,
    scope: &StaffScope,
    id: ScanId,
    _slot: tokio::sync::SemaphorePermit<'static>,
) -> bool {
    let reason = match tokio::time::timeout(TIMEOUT, scan(state, scope)).await {
        Ok(Ok(Ok(done))) => match scans::finish(&state.db, scope, id, &done).await {
            Ok(()) => {
                tracing::info!(store.id = %scope.store_id(), scan.id = %id, scan.score = ?done.score, "store scanned");
                return true;
            }
            Err(e) => {
                tracing::error!(error = %e, scan.id = %id, "recording a store scan failed");
                "the scan's results could not be recorded".to_owned()
            }
        },
        Ok(Ok(Err(refused))) => refused,
        Ok(Err(_)) => "an internal error stopped the scan".to_owned(),
        Err(_) => format!("the scan took longer than {} s and was stopped", TIMEOUT.as_secs()),
    };
    tracing::warn!(store.id = %scope.store_id(), scan.id = %id, reason = %reason, "store scan failed");
    if let Err(e) = scans::abandon(&state.db, scope, id, &reason).await {
        tracing::error!(error = %e, scan.id = %id, "closing a failed store scan failed");
    }
    false
}

/// Whether a response is something the scan read: a page refused to the scanner (401/403/407/429, which a store's
/// own firewall rule or challenge can produce for the scanner alone) or a server error says nothing about the
/// page, so findings there are neither seen nor fixed.
fn was_read(status: u16) -> bool {
    !matches!(status, 401 | 403 | 407 | 429) && status < 500
}

/// The scan itself. The outer error is the platform's (storage); the inner one is why the store could not be
/// scanned, in words for the merchant.
async fn scan(state: &AppState, scope: &StaffScope) -> Result<Result<Finished, String>, crate::http::PageError> {
    let store = tenancy::get_store(&state.db, scope).await?;
    let public = Url::parse(&state.config.public_url).map_err(|_| internal("the public URL does not parse"))?;
    let prefix = format!("/s/{}", store.slug);
    let start = public.join(&prefix).map_err(|_| internal("the store URL does not parse"))?;
    let mut fetcher = RouterFetcher::new(crate::routes::router(state.clone()), &public, &store.slug);
    let planner = CrawlPlanner::new(start.as_str(), LIMITS).map_err(|e| internal(&e.to_string()))?.within(&prefix);
    let outcome = crawl::crawl(planner, &mut fetcher).await;
    let start_page = match outcome.pages.iter().find(|p| p.url == start.as_str()) {
        Some(p) => p.clone(),
        None => match fetcher.fetch(&start).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(format!("the store's page could not be fetched: {e}"))),
        },
    };
    if !(200..300).contains(&start_page.status) {
        return Ok(Err(format!(
            "the store's page answered {} to the scanner (a firewall rule of the store may block the user agent \
             {USER_AGENT}, or the store is not open)",
            start_page.status
        )));
    }
    let mut probes = Vec::new();
    for probe in EXPOSED_FILE_PROBES {
        let path = format!("{prefix}{probe}");
        // A probe refused to the scanner (a store rule can refuse it alone) says nothing about the file: it is not
        // judged, and a finding there stays as it was.
        if let Ok(url) = public.join(&path)
            && let Ok(res) = fetcher.fetch(&url).await
            && was_read(res.status)
        {
            probes.push((path, res));
        }
    }
    let mut coverage = scans::Coverage {
        places: outcome
            .pages
            .iter()
            .chain(probes.iter().map(|(_, r)| r))
            .filter(|p| was_read(p.status))
            .map(|p| p.url.clone())
            .collect(),
        // Every template and every configuration check is read on each scan; a truncated summary stands for its rule.
        prefixes: vec!["theme/".into(), "config:".into(), "truncated:".into()],
        partial_rules: std::collections::HashSet::new(),
    };
    coverage.places.insert(start_page.url.clone());
    let templates = templates(state, scope).await?;
    let input = palisade_scan::scan::ScanInput {
        start: &start_page,
        // In process there is no plain-HTTP listener to probe: the redirection test is reported as not probed.
        redirect: RedirectProbe::NotProbed,
        pages: &outcome.pages,
        probes: &probes,
        templates: &templates,
        config: PageCheckConfig::default(),
        generated_at: state.db.now().to_datetime().map(|d| d.to_rfc3339()).unwrap_or_default(),
    };
    let engine = palisade_scan::scan::run(&input);
    let palisade_scan::finding::Capped { kept: mut findings, truncated } =
        palisade_scan::finding::cap_findings(engine.findings, MAX_PER_RULE, MAX_FINDINGS);
    // A rule whose findings were cut by the cap was not listed in full: none of its findings counts as fixed.
    coverage.partial_rules = truncated;
    findings.extend(config_findings(state, scope).await?);
    let mut report = Report::new(&engine.target, &engine.generated_at, engine.score, findings);
    report.page_title = engine.page_title;
    let mut json = serde_json::to_value(&report).map_err(|_| internal("report serialisation failed"))?;
    if let Some(o) = json.as_object_mut() {
        // What the crawl fetched and refused, for the audit trail (a link off the store's pages shows here).
        let short = |t: &str| t.chars().take(MAX_LISTED_CHARS).collect::<String>();
        let crawled = outcome.pages.iter().take(MAX_LISTED).map(|p| short(&p.url));
        o.insert("crawled".into(), crawled.collect());
        let refused = outcome.errors.iter().take(MAX_LISTED).map(|(u, e)| serde_json::json!([short(u), short(e)]));
        o.insert("refused".into(), refused.collect());
    }
    let report_json = serde_json::to_string_pretty(&json).map_err(|_| internal("report serialisation failed"))?;
    Ok(Ok(Finished {
        score: report.score.as_ref().map(|s| i64::from(s.score)),
        grade: report.score.as_ref().map(|s| s.grade.clone()),
        report_json,
        findings: report.findings.iter().map(seen).collect(),
        coverage,
    }))
}

/// Findings kept per rule and per scan: a merchant's theme can put any number of flagged elements on a page (and
/// any number of query-string variants of a page in the crawl), and each would be a row, a report entry and
/// memory. Past the cap, one finding per rule says how many more there were.
const MAX_PER_RULE: usize = 25;
const MAX_FINDINGS: usize = 400;
/// URLs and errors listed in a report (crawled, refused), and their length.
const MAX_LISTED: usize = 100;
const MAX_LISTED_CHARS: usize = 300;

fn seen(f: &Finding) -> SeenFinding {
    let location = match &f.location.selector {
        Some(s) => format!("{}{}{s}", f.location.url, scans::LOCATION_SEPARATOR),
        None => f.location.url.clone(),
    };
    SeenFinding {
        fingerprint: f.fingerprint.clone(),
        rule_id: f.rule_id.clone(),
        severity: f.severity.as_str().to_owned(),
        title: f.title.clone(),
        evidence: f.evidence.clone(),
        fix_link: f.fix_link.clone(),
        location,
    }
}

fn internal(what: &str) -> crate::http::PageError {
    tracing::error!(error = %what, "store scan failed");
    crate::http::PageError::from(crate::http::ApiError::internal())
}

/// The store's theme templates as the storefront renders them now (read after the crawl, which may have found the
/// newest version broken and fallen back to an older one).
async fn templates(state: &AppState, scope: &StaffScope) -> Result<Vec<(String, String)>, crate::http::PageError> {
    let in_use = palisade_commerce::themes::in_use(&state.db, scope).await?;
    Ok(in_use.into_iter().map(|v| (format!("theme/{}", v.name), v.source)).collect())
}

/// Configuration checks: each of these store controls, when unmet, is a finding with a Fix link to the setting.
const CONFIG_CHECKS: &[(&str, Severity)] = &[
    ("store.staff-mfa-enforced", Severity::High),
    ("store.no-dormant-staff", Severity::Medium),
    ("store.api-tokens-expire", Severity::Medium),
    ("store.admin-protected", Severity::Low),
];

/// A store with no successful export of its own data for this long has no recent copy to recover from.
const EXPORT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

const CONFIG_RULE: Rule = Rule { id: "config/control", severity: Severity::Medium, summary: "", fix_link: "" };
const EXPORT_RULE: Rule = Rule {
    id: "config/no-recent-export",
    severity: Severity::Medium,
    summary: "No export of the store's data in the last 30 days",
    fix_link: "",
};
const FIREWALL_RULE: Rule = Rule {
    id: "config/firewall-not-blocking",
    severity: Severity::Medium,
    summary: "The store's firewall does not block attacks",
    fix_link: "",
};

async fn config_findings(state: &AppState, scope: &StaffScope) -> Result<Vec<Finding>, crate::http::PageError> {
    let base = format!("/admin/stores/{}", scope.store_id());
    let report = state.registry.evaluate_store(&state.db, &state.facts, scope).await?;
    let mut out = Vec::new();
    for (id, severity) in CONFIG_CHECKS {
        let Some(r) = report.areas.iter().flat_map(|a| a.merchant.iter()).find(|r| r.control.id == *id) else {
            continue;
        };
        // The control's own reason can name people (dormant staff by email) or internal errors: a report is kept
        // and downloaded, so its evidence says only what to look at.
        let reason = match &r.status {
            ControlStatus::Unmet { .. } => "not met: the Security Center's control says what and who".to_owned(),
            ControlStatus::Unknown { .. } => "could not be checked during the scan".to_owned(),
            _ => continue,
        };
        let rule = Rule { id: "config/control", ..CONFIG_RULE };
        let mut f = Finding::new(&rule, r.control.title, reason, Location::page(&format!("config:{id}")))
            .with_severity(*severity);
        f.rule_id = format!("config/{}", id.trim_start_matches("store."));
        f.fingerprint = palisade_scan::finding::fingerprint(&f.rule_id, &f.location);
        f.fix_link = fix_href(&base, id).unwrap_or_else(|| format!("{base}/security"));
        out.push(f);
    }
    let last_export = palisade_backup::store_exports::last_ok(&state.db, scope, "export")
        .await
        .map_err(|e| internal(&e.to_string()))?;
    let now = state.db.now();
    let evidence = match last_export {
        None => Some("no export of the store's data has succeeded".to_owned()),
        Some(e) if palisade_core::Timestamp(e.created_at).plus(EXPORT_MAX_AGE) < now => {
            Some("the last successful export is more than 30 days old".to_owned())
        }
        Some(_) => None,
    };
    if let Some(evidence) = evidence {
        let mut f = Finding::new(&EXPORT_RULE, EXPORT_RULE.summary, evidence, Location::page("config:store-export"));
        f.fix_link = fix_href(&base, "store.exports-scheduled").unwrap_or_else(|| format!("{base}/backups"));
        out.push(f);
    }
    out.extend(extension_findings(state, scope, &base).await?);
    let firewall = palisade_store::firewall::get(&state.db, scope).await?;
    let mode = firewall.waf_mode.clone().unwrap_or_else(|| state.shield.config.policy.mode.as_str().to_owned());
    if mode != "block" {
        let mut f = Finding::new(
            &FIREWALL_RULE,
            FIREWALL_RULE.summary,
            format!("web application firewall mode: {mode}"),
            Location::page("config:firewall-mode"),
        );
        f.fix_link = format!("{base}/security/firewall#waf");
        out.push(f);
    }
    Ok(out)
}

const EXTENSION_RULE: Rule = Rule {
    id: "extension/advisory",
    severity: Severity::Medium,
    summary: "An installed extension is affected by a security advisory",
    fix_link: "",
};

/// Installed extensions with an advisory not fixed (open, or accepted on the Extensions tab — it is still there):
/// one finding each, at the advisory's severity, located at `config:extension/{id}/{advisory}` so the next scan
/// marks it fixed once the extension is updated or removed. They are accepted on the Extensions tab, not here.
async fn extension_findings(
    state: &AppState,
    scope: &StaffScope,
    base: &str,
) -> Result<Vec<Finding>, crate::http::PageError> {
    let findings = palisade_store::extensions::advisories::findings(&state.db, scope).await?;
    let mut out = Vec::new();
    for f in findings.iter().filter(|f| f.state != palisade_store::extensions::advisories::State::Fixed) {
        let severity = match f.severity.as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "low" => Severity::Low,
            _ => Severity::Medium,
        };
        let fix = match (&f.fixed_in, f.state) {
            (_, palisade_store::extensions::advisories::State::Accepted) => {
                let until = f.accepted_until.and_then(|t| t.to_datetime()).map(|d| d.format("%Y-%m-%d").to_string());
                format!("risk accepted on the Extensions tab until {}", until.unwrap_or_default())
            }
            (Some(v), _) => format!("fixed in {v}: update it"),
            (None, _) => "no fixed release yet: remove it, or accept the risk on the Extensions tab".to_owned(),
        };
        let summary: String = f.summary.chars().take(200).collect();
        let evidence = format!("{} {} — {}: {summary} ({fix})", f.extension_id, f.version, f.advisory_id);
        let place = format!("config:extension/{}/{}", f.extension_id, f.advisory_id);
        let title = format!("{} is affected by {}", f.extension_id, f.advisory_id);
        let mut finding =
            Finding::new(&EXTENSION_RULE, title, evidence, Location::page(&place)).with_severity(severity);
        finding.fix_link = format!("{base}/security/extensions#ext-{}", f.extension_id);
        out.push(finding);
    }
    Ok(out)
}

/// Most stores one run of the scheduled job enqueues; the rest are enqueued by the next run (longest unscanned first,
/// so every store is reached in turn).
pub const MAX_STORES_PER_RUN: usize = 500;
/// Seconds between two queued store scans (500 stores spread over under three hours).
pub const JOB_SPACING_SECS: u64 = 20;

/// The scheduled job: enqueues one scan job ([`scans::SCAN_STORE_JOB`]) for each active store not scanned in the
/// last 6 days. Each store's scan is its own job, so hundreds of scans neither hold one job runner (and the mail and
/// reminders behind it) for hours nor start again from the first store when a node stops. Returns how many were
/// enqueued (a store already queued today is not queued twice).
pub async fn enqueue_due_scans(state: &AppState) -> Result<usize, palisade_store::StoreError> {
    let now = state.db.now();
    let since = now.minus(std::time::Duration::from_secs(6 * 24 * 3600));
    let platform = palisade_store::scope::PlatformScope::system("job:store.scan");
    let due = scans::stores_not_scanned_since(&state.db, &platform, since).await?;
    let day = now.0 / (24 * 3600 * 1000);
    let mut queued = 0;
    for (i, id) in due.into_iter().take(MAX_STORES_PER_RUN).enumerate() {
        // Spread over the night, so the scans leave room for the mail and reminders queued behind them.
        let offset = std::time::Duration::from_secs(JOB_SPACING_SECS * u64::try_from(i).unwrap_or(u64::MAX));
        let job = palisade_store::jobs::NewJob {
            store_id: Some(id.clone()),
            run_at: Some(now.plus(offset)),
            max_attempts: 6,
            dedupe_key: Some(format!("{}:{id}:{day}", scans::SCAN_STORE_JOB)),
            ..palisade_store::jobs::NewJob::new(scans::SCAN_STORE_JOB)
        };
        if palisade_store::jobs::enqueue(&state.db, job).await?.is_some() {
            queued += 1;
        }
    }
    Ok(queued)
}

/// One store's scheduled scan (the job [`scans::SCAN_STORE_JOB`]). A scan refused (one already running) or failed
/// (the reason is in the store's audit log) is an outcome, not an error; only the platform's own failures are errors,
/// so that the job is retried.
pub async fn scan_store(state: &AppState, store_id: &str) -> Result<Outcome, String> {
    let store_id = store_id.parse().map_err(|_| format!("`{store_id}` is not a store id"))?;
    let scope = StaffScope::system(store_id, "job:store.scan");
    // Queued a while ago: a scan since (the merchant's own) makes this one unnecessary.
    let since = state.db.now().minus(std::time::Duration::from_secs(6 * 24 * 3600));
    let last = scans::last_finished(&state.db, &scope).await.map_err(|e| e.to_string())?;
    if last.is_some_and(|t| t >= since) {
        return Ok(Outcome::Skipped);
    }
    match run(state, &scope, Trigger::Scheduled).await {
        Ok(Outcome::Busy) => Err("every scan slot of this node is busy; retried later".to_owned()),
        Ok(outcome) => Ok(outcome),
        Err(_) => Err("the store scan could not start".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_stores_own_paths_on_the_public_origin_are_admitted() {
        let public = Url::parse("https://shop.example").unwrap_or_else(|_| unreachable!());
        let f = RouterFetcher::new(Router::new(), &public, "alpha");
        let ok = |u: &str| f.admits(&Url::parse(u).unwrap_or_else(|_| unreachable!()));
        assert!(ok("https://shop.example/s/alpha"));
        assert!(ok("https://shop.example/s/alpha/p/mug?x=1"));
        assert!(!ok("https://shop.example/s/alphabet"), "a longer slug is another store");
        assert!(!ok("https://shop.example/s/beta"));
        assert!(!ok("https://shop.example/s/alpha/../beta"), "resolved before the check");
        assert!(!ok("https://shop.example/s/alpha/%2e%2e/beta"), "encoded dots resolve too");
        assert!(!ok("https://shop.example/admin"));
        assert!(!ok("http://shop.example/s/alpha"), "another scheme is another origin");
        assert!(!ok("https://shop.example:8443/s/alpha"));
        assert!(!ok("https://evil.example/s/alpha"));
        assert!(!ok("https://127.0.0.1/s/alpha"));
    }
}
