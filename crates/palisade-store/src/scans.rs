//! Store security scans (issue #19 item 5): the runs (`store_scans`) and the findings' life across runs
//! (`scan_findings`). The scan itself (crawl, checks, report) is `palisade_scan`'s, driven by the web crate; this
//! module keeps what it found, scoped to one store in every query.
//!
//! A finding is keyed by its stable fingerprint: seen again → still open (its `last_seen` moves), no longer seen
//! → fixed, accepted by staff → left accepted until its expiry (at most [`MAX_ACCEPT_DAYS`] ahead), after which it
//! counts as open again. A scan's row and its findings' changes are written in one transaction with its audit
//! event, so a report never exists without its findings, nor findings without their report.

use palisade_core::time::Timestamp;
use palisade_core::{AccountId, ScanId};
use serde::Serialize;

use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::scope::{Actor, PlatformScope, StaffScope, StoreScope};

/// The job kind of the weekly scan of every active store.
pub const SCAN_JOB: &str = "store.scan";
/// The job that scans one store (the job's store id names it); the scheduled [`SCAN_JOB`] enqueues one per due store.
pub const SCAN_STORE_JOB: &str = "store.scan.one";
/// The longest a finding may be accepted for.
pub const MAX_ACCEPT_DAYS: i64 = 90;
/// At most this many scans per store in an hour (manual and scheduled together).
pub const MAX_PER_HOUR: i64 = 6;
/// A scan still unfinished after this long is taken as dead (its node stopped) and no longer blocks a new one.
pub const RUNNING_TIMEOUT_MS: i64 = 5 * 60 * 1000;
/// A finding open this long without being accepted is untriaged (`store.findings-triaged`).
pub const TRIAGE_DAYS: i64 = 14;
/// A store's last scan must be this recent (`store.scanned-recently`).
pub const RECENT_SCAN_DAYS: i64 = 30;
/// Every active store must have been scanned this recently (`platform.stores-scanned`).
pub const PLATFORM_SCAN_DAYS: i64 = 7;
/// The longest accepted-reason kept.
pub const MAX_REASON: usize = 500;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// What started a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    Manual,
    Scheduled,
}

impl Trigger {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
        }
    }
}

/// Why a scan may not start now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Another scan of this store is running.
    Running,
    /// [`MAX_PER_HOUR`] scans were started in the last hour.
    TooMany,
}

/// One finding as a scan reports it (the engine's finding, flattened; severity in lower case).
#[derive(Debug, Clone)]
pub struct SeenFinding {
    pub fingerprint: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub evidence: String,
    pub fix_link: String,
    pub location: String,
}

/// A finished scan's summary, with its report (JSON) to keep.
#[derive(Debug, Clone)]
pub struct Finished {
    pub score: Option<i64>,
    pub grade: Option<String>,
    pub report_json: String,
    pub findings: Vec<SeenFinding>,
    /// What the scan actually looked at: a finding it did not see again is fixed only where it looked.
    pub coverage: Coverage,
}

/// The places one scan looked at. A finding whose page the scan could not read (the store's own firewall rule
/// refused the scanner, the page failed, the crawl budget ran out before it) is not evidence of a fix: it stays as
/// it was. A place is a finding location's URL or path (the part before ` — `).
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Exact places read (pages and probes that answered).
    pub places: std::collections::HashSet<String>,
    /// Place prefixes checked in full (`config:` when the configuration checks ran, `theme/` when every template was
    /// read).
    pub prefixes: Vec<String>,
    /// Rules whose findings the scan did not list in full (past its cap): a finding of these rules that was not
    /// listed may still be there, so none is fixed.
    pub partial_rules: std::collections::HashSet<String>,
}

impl Coverage {
    /// Whether a stored finding at `location` was looked at by this scan.
    #[must_use]
    pub fn covers(&self, location: &str) -> bool {
        let place = location.split(LOCATION_SEPARATOR).next().unwrap_or(location);
        self.places.contains(place) || self.prefixes.iter().any(|p| place.starts_with(p.as_str()))
    }
}

/// Between a finding's place and what at that place, in its stored location.
pub const LOCATION_SEPARATOR: &str = " — ";

/// One scan run as listed.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    pub id: ScanId,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub trigger: String,
    pub score: Option<i64>,
    pub grade: Option<String>,
    pub critical: i64,
    pub high: i64,
    pub medium: i64,
    pub low: i64,
    pub info: i64,
}

/// A finding's current state.
#[derive(Debug, Clone, Serialize)]
pub struct StoredFinding {
    pub fingerprint: String,
    pub rule_id: String,
    pub severity: String,
    pub title: String,
    pub evidence: String,
    pub fix_link: String,
    pub location: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// `open`, `fixed` or `accepted` (an acceptance past its expiry reads as `open`).
    pub state: String,
    pub accepted_reason: Option<String>,
    pub accepted_until: Option<Timestamp>,
    pub accepted_by: Option<String>,
}

const SEVERITIES: &[&str] = &["critical", "high", "medium", "low", "info"];

/// Starts a scan: refused while another runs or past the hourly budget; otherwise its row is inserted (the claim).
pub async fn begin(db: &Db, scope: &StaffScope, trigger: Trigger) -> Result<std::result::Result<ScanId, Refused>> {
    let now = db.now();
    let mut tx = db.begin_write().await?;
    // One claim at a time per store: SQLite's write transaction already runs alone; on PostgreSQL (READ
    // COMMITTED) concurrent requests would all count no running scan, so the store's row is locked first.
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("SELECT id FROM stores WHERE id = $1 FOR UPDATE")
            .bind(scope.store_key())
            .fetch_optional(&mut *tx)
            .await?;
    }
    let (running,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM store_scans WHERE store_id = $1 AND finished_at IS NULL AND started_at > $2",
    )
    .bind(scope.store_key())
    .bind(now.0 - RUNNING_TIMEOUT_MS)
    .fetch_one(&mut *tx)
    .await?;
    if running > 0 {
        return Ok(Err(Refused::Running));
    }
    let (recent,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM store_scans WHERE store_id = $1 AND started_at > $2")
        .bind(scope.store_key())
        .bind(now.0 - 3600 * 1000)
        .fetch_one(&mut *tx)
        .await?;
    if recent >= MAX_PER_HOUR {
        return Ok(Err(Refused::TooMany));
    }
    let id = ScanId::new();
    sqlx::query(
        "INSERT INTO store_scans (id, store_id, started_at, trigger_kind, started_by) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(now.0)
    .bind(trigger.as_str())
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(id))
}

/// Records a finished scan: its summary and report, its findings (new → open, seen again → open unless accepted,
/// not seen → fixed) and the audit event, in one transaction.
pub async fn finish(db: &Db, scope: &StaffScope, id: ScanId, done: &Finished) -> Result<()> {
    let now = db.now();
    let mut counts = [0i64; 5];
    for f in &done.findings {
        let i = SEVERITIES
            .iter()
            .position(|s| *s == f.severity)
            .ok_or_else(|| StoreError::Invalid(format!("unknown severity `{}`", f.severity)))?;
        if let Some(c) = counts.get_mut(i) {
            *c += 1;
        }
    }
    let [critical, high, medium, low, info] = counts;
    let mut tx = db.begin_write().await?;
    let updated = sqlx::query(
        "UPDATE store_scans SET finished_at = $1, score = $2, grade = $3, critical = $4, high = $5, medium = $6, \
         low = $7, info = $8, report = $9 WHERE store_id = $10 AND id = $11 AND finished_at IS NULL",
    )
    .bind(now.0)
    .bind(done.score)
    .bind(&done.grade)
    .bind(critical)
    .bind(high)
    .bind(medium)
    .bind(low)
    .bind(info)
    .bind(&done.report_json)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(StoreError::NotFound("running scan"));
    }
    for f in &done.findings {
        // Seen: insert as open, or refresh it; a fixed finding seen again is open again, an accepted one stays
        // accepted (its expiry decides), an expired acceptance is open again.
        sqlx::query(
            "INSERT INTO scan_findings (store_id, fingerprint, rule_id, severity, title, evidence, fix_link, location, \
             first_seen, last_seen, last_scan, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, 'open') \
             ON CONFLICT (store_id, fingerprint) DO UPDATE SET rule_id = excluded.rule_id, \
             severity = excluded.severity, title = excluded.title, evidence = excluded.evidence, \
             fix_link = excluded.fix_link, location = excluded.location, last_seen = excluded.last_seen, \
             last_scan = excluded.last_scan, \
             state = CASE WHEN scan_findings.state = 'accepted' AND scan_findings.accepted_until > excluded.last_seen \
                     THEN 'accepted' ELSE 'open' END",
        )
        .bind(scope.store_key())
        .bind(&f.fingerprint)
        .bind(&f.rule_id)
        .bind(&f.severity)
        .bind(&f.title)
        .bind(&f.evidence)
        .bind(&f.fix_link)
        .bind(&f.location)
        .bind(now.0)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    }
    let (fixed, unchecked) = mark_fixed(&mut tx, scope, id, &done.coverage).await?;
    let target = format!("scan:{id}");
    let details = serde_json::json!({
        "score": done.score, "grade": done.grade, "findings": done.findings.len(), "fixed": fixed,
        "not_rechecked": unchecked,
        "critical": critical, "high": high,
    });
    audit::record_store(&mut tx, db, scope, NewEvent::new("scan.finished", &target).details(details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Marks fixed the store's findings this scan did not see again where it looked (the rescan verified them); those
/// at places it could not read stay as they were. Returns (fixed, not rechecked).
async fn mark_fixed(
    conn: &mut sqlx::AnyConnection,
    scope: &StaffScope,
    id: ScanId,
    coverage: &Coverage,
) -> Result<(u64, u64)> {
    // Not seen by this scan where it looked: fixed (the rescan verified it). Not looked at: left as it was.
    let unseen: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT fingerprint, location, rule_id FROM scan_findings \
         WHERE store_id = $1 AND state <> 'fixed' AND last_scan <> $2",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    let (mut fixed, mut unchecked) = (0u64, 0u64);
    for (fingerprint, location, rule) in unseen {
        if !coverage.covers(&location) || coverage.partial_rules.contains(&rule) {
            unchecked += 1;
            continue;
        }
        fixed += sqlx::query("UPDATE scan_findings SET state = 'fixed' WHERE store_id = $1 AND fingerprint = $2")
            .bind(scope.store_key())
            .bind(&fingerprint)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    }
    Ok((fixed, unchecked))
}

/// Marks a scan that failed as finished without a report (so it stops blocking the next one), and records why in the
/// store's audit log (`scan.failed`): the merchant sees a failed scan and the reason, never a silent gap.
pub async fn abandon(db: &Db, scope: &StaffScope, id: ScanId, reason: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done =
        sqlx::query("UPDATE store_scans SET finished_at = $1 WHERE store_id = $2 AND id = $3 AND finished_at IS NULL")
            .bind(db.now().0)
            .bind(scope.store_key())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 1 {
        let reason: String = reason.chars().take(MAX_REASON).collect();
        let target = format!("scan:{id}");
        let event = NewEvent::new("scan.failed", &target).details(serde_json::json!({ "reason": reason }));
        audit::record_store(&mut tx, db, scope, event).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Why the store's newest scan failed, when it did (no report, finished): the reason recorded by [`abandon`].
pub async fn last_failure(db: &Db, scope: &StaffScope) -> Result<Option<String>> {
    let newest: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT id, finished_at, report FROM store_scans WHERE store_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(scope.store_key())
    .fetch_optional(db.pool())
    .await?;
    let Some((id, Some(_), None)) = newest else { return Ok(None) };
    let details: Option<(String,)> = sqlx::query_as(
        "SELECT details FROM audit_events WHERE store_id = $1 AND action = 'scan.failed' AND target = $2 LIMIT 1",
    )
    .bind(scope.store_key())
    .bind(format!("scan:{id}"))
    .fetch_optional(db.pool())
    .await?;
    let reason = details
        .and_then(|(d,)| serde_json::from_str::<serde_json::Value>(&d).ok())
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned));
    Ok(Some(reason.unwrap_or_else(|| "it stopped before its report was kept".to_owned())))
}

type ScanRow = (String, i64, Option<i64>, String, Option<i64>, Option<String>, i64, i64, i64, i64, i64);
const SCAN_COLUMNS: &str = "id, started_at, finished_at, trigger_kind, score, grade, critical, high, medium, low, info";

fn scan_from_row(r: ScanRow) -> Result<Scan> {
    Ok(Scan {
        id: r.0.parse().map_err(|e| StoreError::Corrupt(format!("scan id: {e}")))?,
        started_at: Timestamp(r.1),
        finished_at: r.2.map(Timestamp),
        trigger: r.3,
        score: r.4,
        grade: r.5,
        critical: r.6,
        high: r.7,
        medium: r.8,
        low: r.9,
        info: r.10,
    })
}

/// The store's latest scans, newest first.
pub async fn recent(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<Scan>> {
    let rows: Vec<ScanRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCAN_COLUMNS} FROM store_scans WHERE store_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
    )))
    .bind(scope.store_key())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(scan_from_row).collect()
}

/// The stored JSON report of one finished scan of this store (`NotFound` for another store's scan).
pub async fn report(db: &Db, scope: &StaffScope, id: ScanId) -> Result<String> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT report FROM store_scans WHERE store_id = $1 AND id = $2")
            .bind(scope.store_key())
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.and_then(|(r,)| r).ok_or(StoreError::NotFound("scan report"))
}

type FindingRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// The store's findings that are not fixed, most severe first (an expired acceptance reads as open).
pub async fn findings(db: &Db, scope: &StaffScope) -> Result<Vec<StoredFinding>> {
    let now = db.now();
    let rows: Vec<FindingRow> = sqlx::query_as(
        "SELECT fingerprint, rule_id, severity, title, evidence, fix_link, location, first_seen, last_seen, state, \
         accepted_reason, accepted_until, accepted_by FROM scan_findings WHERE store_id = $1 \
         ORDER BY first_seen, fingerprint",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<StoredFinding> = rows
        .into_iter()
        .map(|r| {
            let expired = r.9 == "accepted" && r.11.is_none_or(|u| u <= now.0);
            StoredFinding {
                fingerprint: r.0,
                rule_id: r.1,
                severity: r.2,
                title: r.3,
                evidence: r.4,
                fix_link: r.5,
                location: r.6,
                first_seen: Timestamp(r.7),
                last_seen: Timestamp(r.8),
                state: if expired { "open".to_owned() } else { r.9 },
                accepted_reason: r.10,
                accepted_until: r.11.map(Timestamp),
                accepted_by: r.12,
            }
        })
        .filter(|f| f.state != "fixed")
        .collect();
    let rank = |s: &str| SEVERITIES.iter().position(|x| *x == s).unwrap_or(SEVERITIES.len());
    out.sort_by_key(|f| rank(&f.severity));
    Ok(out)
}

/// Accepts an open finding with a reason until `until` (after now, at most [`MAX_ACCEPT_DAYS`] ahead): audited.
/// An extension's advisory (rule `extension/…`) is accepted on the Extensions tab only, where its own rules apply
/// (a critical one without a fix cannot be): here it is "not found".
pub async fn accept(db: &Db, scope: &StaffScope, fingerprint: &str, reason: &str, until: Timestamp) -> Result<()> {
    let (reason, by) = acceptance(scope, reason, until, db.now())?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE scan_findings SET state = 'accepted', accepted_reason = $1, accepted_until = $2, accepted_by = $3 \
         WHERE store_id = $4 AND fingerprint = $5 AND state <> 'fixed' AND rule_id NOT LIKE 'extension/%'",
    )
    .bind(reason)
    .bind(until.0)
    .bind(&by)
    .bind(scope.store_key())
    .bind(fingerprint)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("finding"));
    }
    let target = format!("scan_finding:{fingerprint}");
    let details = serde_json::json!({"reason": reason, "until": until.0});
    audit::record_store(&mut tx, db, scope, NewEvent::new("scan.finding_accepted", &target).details(details)).await?;
    tx.commit().await?;
    Ok(())
}

/// The rules every accepted risk follows (scan findings, extension advisories): a member (not a system task)
/// gives a reason of at most [`MAX_REASON`] characters and an end after `now`, at most [`MAX_ACCEPT_DAYS`] ahead.
/// Returns the trimmed reason and who accepted (the account id text kept in `accepted_by`).
pub(crate) fn acceptance<'r>(
    scope: &StaffScope,
    reason: &'r str,
    until: Timestamp,
    now: Timestamp,
) -> Result<(&'r str, String)> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid("say why the risk is accepted".into()));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(StoreError::Invalid(format!("a reason is at most {MAX_REASON} characters")));
    }
    if until.0 <= now.0 {
        return Err(StoreError::Invalid("the acceptance must end in the future".into()));
    }
    if until.0 > now.0 + MAX_ACCEPT_DAYS * DAY_MS {
        return Err(StoreError::Invalid(format!("a risk may be accepted for at most {MAX_ACCEPT_DAYS} days")));
    }
    match scope.actor() {
        Actor::Account(a) => Ok((reason, a.to_string())),
        Actor::System(_) | Actor::Shopper(_) => Err(StoreError::Forbidden("a member accepts risks")),
    }
}

/// Who accepted: the account id text stored in `accepted_by`.
#[must_use]
pub fn accepted_by_account(f: &StoredFinding) -> Option<AccountId> {
    f.accepted_by.as_deref().and_then(|s| s.parse().ok())
}

/// When the store's last finished scan ended, if any.
pub async fn last_finished(db: &Db, scope: &StoreScope) -> Result<Option<Timestamp>> {
    let (at,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(finished_at) FROM store_scans WHERE store_id = $1 AND report IS NOT NULL")
            .bind(scope.store_key())
            .fetch_one(db.pool())
            .await?;
    Ok(at.map(Timestamp))
}

/// Active stores with no finished scan since `since` (ids as text), for the platform control and the job: never
/// scanned first, then the longest unscanned, so a bounded run reaches every store in turn.
pub async fn stores_not_scanned_since(db: &Db, _scope: &PlatformScope, since: Timestamp) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT s.id FROM stores s LEFT JOIN (SELECT store_id, MAX(finished_at) AS last FROM store_scans \
         WHERE report IS NOT NULL GROUP BY store_id) c ON c.store_id = s.id \
         WHERE s.status = 'active' AND (c.last IS NULL OR c.last < $1) ORDER BY COALESCE(c.last, 0), s.id",
    )
    .bind(since.0)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub mod controls;
pub use controls::register;

/// One store's line in the platform's assessment (issue #19 item 6): its last scan and what is still open.
#[derive(Debug, Clone, Serialize)]
pub struct StoreAssessment {
    pub store_id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
    /// When its last scan with a report finished, and that scan's score and grade.
    pub last_scan: Option<Timestamp>,
    pub score: Option<i64>,
    pub grade: Option<String>,
    /// Open findings (an expired acceptance counts as open), by severity: critical, high, medium, low, info.
    pub open: [i64; 5],
    /// Findings accepted and not yet expired.
    pub accepted: i64,
    /// Findings fixed so far, and the mean days from first seen to last seen before the fix (a lower bound of the
    /// time to remediate: the fix landed between the last sighting and the scan that no longer saw it).
    pub fixed: i64,
    pub mean_days_to_fix: Option<i64>,
}

/// A store and its last scan with a report: id, slug, name, status, finished at, score, grade.
type AssessmentRow = (String, String, String, String, Option<i64>, Option<i64>, Option<String>);

/// Every store's scan standing, those with the gravest open findings first, for the operator's console.
pub async fn platform_assessment(db: &Db, _scope: &PlatformScope) -> Result<Vec<StoreAssessment>> {
    let now = db.now().0;
    let stores: Vec<AssessmentRow> = sqlx::query_as(
        "SELECT s.id, s.slug, s.name, s.status, c.finished_at, c.score, c.grade FROM stores s \
         LEFT JOIN store_scans c ON c.id = (SELECT l.id FROM store_scans l WHERE l.store_id = s.id \
           AND l.report IS NOT NULL ORDER BY l.finished_at DESC, l.id DESC LIMIT 1) \
         WHERE s.status <> 'closed' ORDER BY s.slug",
    )
    .fetch_all(db.pool())
    .await?;
    let counts: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT store_id, CASE WHEN state = 'accepted' AND accepted_until <= $1 THEN 'open' ELSE state END AS st, \
         severity, COUNT(*) FROM scan_findings GROUP BY store_id, st, severity",
    )
    .bind(now)
    .fetch_all(db.pool())
    .await?;
    let fix_times: Vec<(String, i64)> = sqlx::query_as(
        "SELECT store_id, CAST(AVG(last_seen - first_seen) AS BIGINT) FROM scan_findings WHERE state = 'fixed' \
         GROUP BY store_id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut out: Vec<StoreAssessment> = stores
        .into_iter()
        .map(|(store_id, slug, name, status, last, score, grade)| StoreAssessment {
            store_id,
            slug,
            name,
            status,
            last_scan: last.map(Timestamp),
            score,
            grade,
            open: [0; 5],
            accepted: 0,
            fixed: 0,
            mean_days_to_fix: None,
        })
        .collect();
    let index: std::collections::HashMap<String, usize> =
        out.iter().enumerate().map(|(i, a)| (a.store_id.clone(), i)).collect();
    for (store, state, severity, n) in counts {
        let Some(a) = index.get(&store).and_then(|i| out.get_mut(*i)) else { continue };
        match state.as_str() {
            "open" => {
                if let Some(i) = SEVERITIES.iter().position(|s| *s == severity)
                    && let Some(c) = a.open.get_mut(i)
                {
                    *c += n;
                }
            }
            "accepted" => a.accepted += n,
            _ => a.fixed += n,
        }
    }
    for (store, mean_ms) in fix_times {
        if let Some(a) = index.get(&store).and_then(|i| out.get_mut(*i)) {
            a.mean_days_to_fix = Some(mean_ms / (24 * 3600 * 1000));
        }
    }
    // Gravest first: open critical, then high, …; never scanned before scanned; then by name.
    out.sort_by(|a, b| b.open.cmp(&a.open).then(a.last_scan.is_some().cmp(&b.last_scan.is_some())));
    Ok(out)
}
