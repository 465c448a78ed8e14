//! Advisories against installed extensions (issue #19 item 4): the operator's feed matched against the catalog
//! (`extension_release_advisories`, replaced whole by [`replace_matches`]) and each store's findings with their life
//! (`extension_findings`).
//!
//! The match lives in the database so that every node reads one answer: a node with the feed configured syncs it,
//! the others (storefront, automatic updates, controls) read the rows. A store's findings are re-derived from its
//! installs and the matches by [`rematch_on`], which runs inside every install, update and removal and after each
//! sync, so a finding is never out of step with what is installed:
//! - an installed version the feed affects → **open** (a fixed finding seen again is open again, from now);
//! - no longer affected (updated, removed, advisory withdrawn) → **fixed**, verified by the rematch itself;
//! - **accepted** by staff with a reason until an expiry at most [`MAX_ACCEPT_DAYS`] ahead; past it, open again.
//!   A critical advisory without a fixed release cannot be accepted: it is the platform's to act on.
//!
//! A critical advisory with no fixed release, open for [`DISABLE_AFTER_DAYS`], gets the install **disabled** by
//! the platform (its plugin and theme stop on the storefront), audited and told to the store by email and in the
//! Security Center. It stays disabled while any critical advisory affects the installed version (a fix being
//! published does not make the installed bytes safe); updating to a fixed release or removing it ends it.

use std::collections::{BTreeSet, HashMap};

use palisade_core::time::Timestamp;
use serde::Serialize;

use super::{DAY_MS, compare_versions};
use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::outbox;
use crate::scope::{Actor, PlatformScope, StaffScope};

/// A critical advisory without a fixed release disables the install this long after it was first found.
pub const DISABLE_AFTER_DAYS: i64 = 3;
/// An open high advisory must be dealt with (updated, removed or accepted) within this many days
/// (`store.extension-advisories`); a critical one within [`DISABLE_AFTER_DAYS`].
pub const HIGH_WITHIN_DAYS: i64 = 7;
/// The longest an advisory finding may be accepted for.
pub const MAX_ACCEPT_DAYS: i64 = 90;
/// The longest accepted-reason kept.
pub const MAX_REASON: usize = 500;
/// The platform setting recording the last sync of the feed into the catalog (when, how many advisories, files
/// refused), read by `platform.extension-advisories`.
pub const SYNC_SETTING: &str = "extensions.advisories.synced";
/// The longest advisory summary kept.
const MAX_SUMMARY: usize = 300;

/// Severities in the order the pages sort them.
pub const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "unknown"];

/// One advisory affecting one release of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseAdvisory {
    pub extension_id: String,
    pub version: String,
    pub advisory_id: String,
    /// One of [`SEVERITIES`].
    pub severity: String,
    pub summary: String,
}

/// A finding's state as it reads now (an acceptance past its expiry reads as `Open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Open,
    Fixed,
    Accepted,
}

/// One advisory affecting (or having affected) one of the store's installs.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub extension_id: String,
    pub advisory_id: String,
    /// The installed version the advisory matched when last seen.
    pub version: String,
    pub severity: String,
    pub summary: String,
    /// The oldest newer release the advisory does not affect (`None`: no fix published).
    pub fixed_in: Option<String>,
    pub state: State,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    pub accepted_reason: Option<String>,
    pub accepted_until: Option<Timestamp>,
    pub accepted_by: Option<String>,
}

impl Finding {
    /// Critical with no fixed release: the platform disables the install at [`Finding::disable_at`].
    #[must_use]
    pub fn unfixable_critical(&self) -> bool {
        self.severity == "critical" && self.fixed_in.is_none()
    }

    /// When the platform disables the install for this finding (`None`: it never does).
    #[must_use]
    pub fn disable_at(&self) -> Option<Timestamp> {
        (self.state != State::Fixed && self.unfixable_critical())
            .then(|| Timestamp(self.opened_at.0 + DISABLE_AFTER_DAYS * DAY_MS))
    }

    /// Whether the store is past the time it had to deal with this finding: open (not accepted) and critical for
    /// [`DISABLE_AFTER_DAYS`] or high for [`HIGH_WITHIN_DAYS`].
    #[must_use]
    pub fn overdue(&self, now: Timestamp) -> bool {
        let days = match self.severity.as_str() {
            "critical" => DISABLE_AFTER_DAYS,
            "high" => HIGH_WITHIN_DAYS,
            _ => return false,
        };
        self.state == State::Open && now.0 >= self.opened_at.0 + days * DAY_MS
    }
}

/// What a rematch changed in one store.
#[derive(Debug, Default, Clone)]
pub struct Rematched {
    /// Findings opened (new, or fixed before and seen again).
    pub opened: Vec<(String, String)>,
    /// Findings the rematch found fixed.
    pub fixed: Vec<(String, String)>,
    /// Installs the platform disabled now.
    pub disabled: Vec<String>,
    /// Installs enabled again (no critical advisory affects them any more).
    pub enabled: Vec<String>,
}

/// Replaces the catalog's matches with `matches` (the whole feed against every release), in one transaction, and
/// records the sync (`sync`, JSON: when, advisories, refused files) for `platform.extension-advisories`. Stores'
/// findings change only when each is rematched ([`rematch`]).
pub async fn replace_matches(
    db: &Db,
    _platform: &PlatformScope,
    matches: &[ReleaseAdvisory],
    sync: &serde_json::Value,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM extension_release_advisories").execute(&mut *tx).await?;
    for m in matches {
        if !SEVERITIES.contains(&m.severity.as_str()) {
            return Err(StoreError::Invalid(format!("unknown severity `{}`", m.severity)));
        }
        sqlx::query(
            "INSERT INTO extension_release_advisories (extension_id, version, advisory_id, severity, summary) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (extension_id, version, advisory_id) DO NOTHING",
        )
        .bind(&m.extension_id)
        .bind(&m.version)
        .bind(&m.advisory_id)
        .bind(&m.severity)
        .bind(m.summary.chars().take(MAX_SUMMARY).collect::<String>())
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(SYNC_SETTING)
    .bind(sync.to_string())
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Every match of the catalog (small: releases × advisories affecting them).
pub async fn matches(db: &Db) -> Result<Vec<ReleaseAdvisory>> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT extension_id, version, advisory_id, severity, summary FROM extension_release_advisories \
         ORDER BY extension_id, version, advisory_id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(release_advisory).collect())
}

/// The advisories affecting one release.
pub async fn affecting(db: &Db, extension_id: &str, version: &str) -> Result<Vec<ReleaseAdvisory>> {
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT extension_id, version, advisory_id, severity, summary FROM extension_release_advisories \
         WHERE extension_id = $1 AND version = $2 ORDER BY advisory_id",
    )
    .bind(extension_id)
    .bind(version)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(release_advisory).collect())
}

fn release_advisory(r: (String, String, String, String, String)) -> ReleaseAdvisory {
    ReleaseAdvisory { extension_id: r.0, version: r.1, advisory_id: r.2, severity: r.3, summary: r.4 }
}

/// Refuses a release that a critical or high advisory affects (installing or updating to it): checked inside the
/// install's transaction, so a sync landing meanwhile is seen.
pub(crate) async fn refuse_affected(conn: &mut sqlx::AnyConnection, extension_id: &str, version: &str) -> Result<()> {
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT advisory_id, severity FROM extension_release_advisories WHERE extension_id = $1 AND version = $2 \
         AND severity IN ('critical', 'high') ORDER BY severity, advisory_id LIMIT 1",
    )
    .bind(extension_id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some((advisory, severity)) => Err(StoreError::Conflict(format!(
            "{extension_id} {version} is affected by {advisory} ({severity}); choose a release it does not affect"
        ))),
        None => Ok(()),
    }
}

type FindingRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn finding_from(r: FindingRow, now: Timestamp) -> Finding {
    let state = match r.6.as_str() {
        "fixed" => State::Fixed,
        "accepted" if r.10.is_some_and(|u| u > now.0) => State::Accepted,
        _ => State::Open,
    };
    Finding {
        extension_id: r.0,
        advisory_id: r.1,
        version: r.2,
        severity: r.3,
        summary: r.4,
        fixed_in: r.5,
        state,
        opened_at: Timestamp(r.7),
        closed_at: r.8.map(Timestamp),
        accepted_reason: r.9,
        accepted_until: r.10.map(Timestamp),
        accepted_by: r.11,
    }
}

async fn findings_on(conn: &mut sqlx::AnyConnection, scope: &StaffScope, now: Timestamp) -> Result<Vec<Finding>> {
    let rows: Vec<FindingRow> = sqlx::query_as(
        "SELECT extension_id, advisory_id, version, severity, summary, fixed_in, state, opened_at, closed_at, \
         accepted_reason, accepted_until, accepted_by FROM extension_findings WHERE store_id = $1",
    )
    .bind(scope.store_key())
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<Finding> = rows.into_iter().map(|r| finding_from(r, now)).collect();
    let rank = |s: &str| SEVERITIES.iter().position(|x| *x == s).unwrap_or(SEVERITIES.len());
    out.sort_by(|a, b| {
        (a.state == State::Fixed)
            .cmp(&(b.state == State::Fixed))
            .then(rank(&a.severity).cmp(&rank(&b.severity)))
            .then(b.opened_at.0.cmp(&a.opened_at.0))
            .then(a.advisory_id.cmp(&b.advisory_id))
    });
    Ok(out)
}

/// The store's findings: not fixed first (most severe first), then fixed ones, newest first.
pub async fn findings(db: &Db, scope: &StaffScope) -> Result<Vec<Finding>> {
    let mut conn = db.pool().acquire().await?;
    findings_on(&mut conn, scope, db.now()).await
}

/// Re-derives the store's findings from its installs and the catalog's matches, then disables or enables installs
/// as the critical advisories say, in one transaction (see the module's rules).
pub async fn rematch(db: &Db, scope: &StaffScope) -> Result<Rematched> {
    let mut tx = db.begin_write().await?;
    let done = rematch_on(&mut tx, db, scope).await?;
    tx.commit().await?;
    Ok(done)
}

/// [`rematch`] inside the caller's transaction (install, update and removal call it, so findings always follow
/// what is installed).
pub(crate) async fn rematch_on(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope) -> Result<Rematched> {
    let now = db.now();
    let store = scope.store_key();
    // What affects the installed versions now.
    let current: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT e.extension_id, e.version, a.advisory_id, a.severity, a.summary FROM store_extensions e \
         JOIN extension_release_advisories a ON a.extension_id = e.extension_id AND a.version = e.version \
         WHERE e.store_id = $1",
    )
    .bind(&store)
    .fetch_all(&mut *conn)
    .await?;
    let known: HashMap<(String, String), Finding> = findings_on(conn, scope, now)
        .await?
        .into_iter()
        .map(|f| ((f.extension_id.clone(), f.advisory_id.clone()), f))
        .collect();
    let mut done = Rematched::default();
    let mut seen = BTreeSet::new();
    for (extension_id, version, advisory_id, severity, summary) in current {
        let fixed_in = first_fixed(conn, &extension_id, &version, &advisory_id).await?;
        let reopened = known.get(&(extension_id.clone(), advisory_id.clone())).is_none_or(|f| f.state == State::Fixed);
        // New, or fixed and seen again: open from now. Still seen: refreshed; an unexpired acceptance stays.
        sqlx::query(
            "INSERT INTO extension_findings (store_id, extension_id, advisory_id, version, severity, summary, fixed_in, \
             state, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) \
             ON CONFLICT (store_id, extension_id, advisory_id) DO UPDATE SET version = excluded.version, \
             severity = excluded.severity, summary = excluded.summary, fixed_in = excluded.fixed_in, \
             opened_at = CASE WHEN extension_findings.state = 'fixed' THEN excluded.opened_at \
                         ELSE extension_findings.opened_at END, \
             closed_at = NULL, \
             state = CASE WHEN extension_findings.state = 'accepted' AND extension_findings.accepted_until > $8 \
                     THEN 'accepted' ELSE 'open' END",
        )
        .bind(&store)
        .bind(&extension_id)
        .bind(&advisory_id)
        .bind(&version)
        .bind(&severity)
        .bind(&summary)
        .bind(&fixed_in)
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
        if reopened {
            let target = format!("extension:{extension_id}");
            let details = serde_json::json!({"advisory": advisory_id, "severity": severity, "version": version,
                                             "fixed_in": fixed_in});
            audit::record_store(conn, db, scope, NewEvent::new("extension.advisory_found", &target).details(details))
                .await?;
            done.opened.push((extension_id.clone(), advisory_id.clone()));
        }
        seen.insert((extension_id, advisory_id));
    }
    for (key, f) in &known {
        if f.state == State::Fixed || seen.contains(key) {
            continue;
        }
        sqlx::query(
            "UPDATE extension_findings SET state = 'fixed', closed_at = $1 \
             WHERE store_id = $2 AND extension_id = $3 AND advisory_id = $4",
        )
        .bind(now.0)
        .bind(&store)
        .bind(&f.extension_id)
        .bind(&f.advisory_id)
        .execute(&mut *conn)
        .await?;
        let target = format!("extension:{}", f.extension_id);
        let details = serde_json::json!({"advisory": f.advisory_id, "version": f.version});
        audit::record_store(conn, db, scope, NewEvent::new("extension.advisory_fixed", &target).details(details))
            .await?;
        done.fixed.push(key.clone());
    }
    switch_installs(conn, db, scope, now, &mut done).await?;
    notify(conn, db, scope, &done).await?;
    Ok(done)
}

/// The oldest release newer than `version` that `advisory_id` does not affect.
async fn first_fixed(
    conn: &mut sqlx::AnyConnection,
    extension_id: &str,
    version: &str,
    advisory_id: &str,
) -> Result<Option<String>> {
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT r.version, a.advisory_id FROM extension_releases r LEFT JOIN extension_release_advisories a \
         ON a.extension_id = r.extension_id AND a.version = r.version AND a.advisory_id = $2 \
         WHERE r.extension_id = $1",
    )
    .bind(extension_id)
    .bind(advisory_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(v, affected)| affected.is_none() && compare_versions(v, version).is_gt())
        .map(|(v, _)| v)
        .min_by(|a, b| compare_versions(a, b)))
}

/// Disables the installs a critical advisory without a fix has affected for [`DISABLE_AFTER_DAYS`], and enables
/// those no critical advisory affects any more.
async fn switch_installs(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    now: Timestamp,
    done: &mut Rematched,
) -> Result<()> {
    let store = scope.store_key();
    let findings = findings_on(conn, scope, now).await?;
    let installs: Vec<(String, Option<i64>)> =
        sqlx::query_as("SELECT extension_id, disabled_at FROM store_extensions WHERE store_id = $1")
            .bind(&store)
            .fetch_all(&mut *conn)
            .await?;
    for (extension_id, disabled_at) in installs {
        let live: Vec<&Finding> = findings
            .iter()
            .filter(|f| f.extension_id == extension_id && f.state != State::Fixed && f.severity == "critical")
            .collect();
        let due = live.iter().find(|f| f.disable_at().is_some_and(|at| at.0 <= now.0));
        let target = format!("extension:{extension_id}");
        match (disabled_at, due) {
            (None, Some(f)) => {
                let reason = format!("{} (critical, no fixed release)", f.advisory_id);
                sqlx::query(
                    "UPDATE store_extensions SET disabled_at = $1, disabled_reason = $2 \
                     WHERE store_id = $3 AND extension_id = $4",
                )
                .bind(now.0)
                .bind(&reason)
                .bind(&store)
                .bind(&extension_id)
                .execute(&mut *conn)
                .await?;
                let details = serde_json::json!({"advisory": f.advisory_id, "version": f.version});
                // The platform acts here, not the person whose update happened to trigger the rematch.
                let platform = StaffScope::system(scope.store_id(), "platform:extension-advisories");
                audit::record_store(conn, db, &platform, NewEvent::new("extension.disabled", &target).details(details))
                    .await?;
                crate::storefront::touch(conn, scope).await?;
                done.disabled.push(extension_id);
            }
            (Some(_), _) if live.is_empty() => {
                sqlx::query(
                    "UPDATE store_extensions SET disabled_at = NULL, disabled_reason = NULL \
                     WHERE store_id = $1 AND extension_id = $2",
                )
                .bind(&store)
                .bind(&extension_id)
                .execute(&mut *conn)
                .await?;
                audit::record_store(conn, db, scope, NewEvent::new("extension.enabled", &target)).await?;
                crate::storefront::touch(conn, scope).await?;
                done.enabled.push(extension_id);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Tells the store (its security contact and owners) about critical and high findings opened now and installs
/// disabled now, queued in the same transaction.
async fn notify(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope, done: &Rematched) -> Result<()> {
    if done.opened.is_empty() && done.disabled.is_empty() {
        return Ok(());
    }
    let now = db.now();
    let findings = findings_on(conn, scope, now).await?;
    let serious: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            done.opened.iter().any(|(e, a)| *e == f.extension_id && *a == f.advisory_id)
                && (f.severity == "critical" || f.severity == "high")
        })
        .collect();
    if serious.is_empty() && done.disabled.is_empty() {
        return Ok(());
    }
    let mut body = String::from("A security advisory affects an extension installed in your store.\n\n");
    for f in &serious {
        body.push_str(&format!(
            "- {} {}: {} ({}) — {}\n  {}\n",
            f.extension_id,
            f.version,
            f.advisory_id,
            f.severity,
            f.summary,
            match (&f.fixed_in, f.disable_at()) {
                (Some(v), _) => format!("Fixed in {v}: update it now (Security Center → Extensions)."),
                (None, Some(at)) => format!(
                    "No fixed release yet. Remove it, or the platform disables it on {} (UTC).",
                    at.to_datetime().map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M").to_string())
                ),
                (None, None) => "No fixed release yet: consider removing it.".to_owned(),
            }
        ));
    }
    for e in &done.disabled {
        body.push_str(&format!(
            "- {e} has been disabled by the platform: a critical advisory affects it and no fixed release exists. \
             Its storefront blocks and checks are off until you update it to a fixed release or remove it.\n"
        ));
    }
    body.push_str("\nOpen Security Center → Extensions in your store's admin for the details.\n");
    let subject = if done.disabled.is_empty() { "Security advisory for an extension" } else { "Extension disabled" };
    for to in recipients(conn, scope).await? {
        let mail = outbox::NewMail { store_id: Some(scope.store_key()), to: &to, subject, body: body.clone() };
        outbox::enqueue_on(conn, db, mail, outbox::Dressing::default()).await?;
    }
    Ok(())
}

/// The store's security contact and its active owners, once each.
async fn recipients(conn: &mut sqlx::AnyConnection, scope: &StaffScope) -> Result<BTreeSet<String>> {
    let contact: Option<(Option<String>,)> = sqlx::query_as("SELECT security_contact_email FROM stores WHERE id = $1")
        .bind(scope.store_key())
        .fetch_optional(&mut *conn)
        .await?;
    let owners: Vec<(String,)> = sqlx::query_as(
        "SELECT a.email FROM store_members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.store_id = $1 AND m.role = 'owner' AND a.disabled = 0",
    )
    .bind(scope.store_key())
    .fetch_all(&mut *conn)
    .await?;
    Ok(contact.and_then(|(c,)| c).into_iter().chain(owners.into_iter().map(|(e,)| e)).collect())
}

/// Accepts an open finding with a reason until `until` (after now, at most [`MAX_ACCEPT_DAYS`] ahead); audited.
/// A critical advisory without a fixed release is refused: the platform disables such an install.
pub async fn accept(
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    advisory_id: &str,
    reason: &str,
    until: Timestamp,
) -> Result<()> {
    let now = db.now();
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(StoreError::Invalid("say why the advisory is accepted".into()));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(StoreError::Invalid(format!("a reason is at most {MAX_REASON} characters")));
    }
    if until.0 <= now.0 {
        return Err(StoreError::Invalid("the acceptance must end in the future".into()));
    }
    if until.0 > now.0 + MAX_ACCEPT_DAYS * DAY_MS {
        return Err(StoreError::Invalid(format!("an advisory may be accepted for at most {MAX_ACCEPT_DAYS} days")));
    }
    let by = match scope.actor() {
        Actor::Account(a) => a.to_string(),
        Actor::System(_) | Actor::Shopper(_) => return Err(StoreError::Forbidden("a member accepts advisories")),
    };
    let mut tx = db.begin_write().await?;
    let finding = findings_on(&mut tx, scope, now)
        .await?
        .into_iter()
        .find(|f| f.extension_id == extension_id && f.advisory_id == advisory_id && f.state != State::Fixed)
        .ok_or(StoreError::NotFound("advisory finding"))?;
    if finding.unfixable_critical() {
        return Err(StoreError::Conflict(format!(
            "{advisory_id} is critical and has no fixed release: it cannot be accepted; remove {extension_id}"
        )));
    }
    sqlx::query(
        "UPDATE extension_findings SET state = 'accepted', accepted_reason = $1, accepted_until = $2, \
         accepted_by = $3 WHERE store_id = $4 AND extension_id = $5 AND advisory_id = $6",
    )
    .bind(reason)
    .bind(until.0)
    .bind(&by)
    .bind(scope.store_key())
    .bind(extension_id)
    .bind(advisory_id)
    .execute(&mut *tx)
    .await?;
    let target = format!("extension:{extension_id}");
    let details = serde_json::json!({"advisory": advisory_id, "reason": reason, "until": until.0});
    audit::record_store(&mut tx, db, scope, NewEvent::new("extension.advisory_accepted", &target).details(details))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// One advisory's reach across the platform, for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct Exposure {
    pub extension_id: String,
    pub advisory_id: String,
    pub severity: String,
    pub summary: String,
    /// Stores where it is open (not accepted).
    pub open: i64,
    pub accepted: i64,
    /// Installs the platform disabled for it.
    pub disabled: i64,
    /// Whether any affected store has a fixed release to update to.
    pub fix_published: bool,
    /// The oldest open finding's age start, for time to remediate.
    pub oldest_open: Option<Timestamp>,
}

/// A finding joined with its install: extension, advisory, severity, summary, state, opened, accepted until, fixed
/// in, disabled (0/1).
type ExposureRow = (String, String, String, String, String, i64, Option<i64>, Option<String>, i64);

/// Every advisory with findings not fixed, across stores, most severe first (the operator's platform view).
pub async fn exposures(db: &Db, _platform: &PlatformScope) -> Result<Vec<Exposure>> {
    let now = db.now();
    let rows: Vec<ExposureRow> = sqlx::query_as(
        "SELECT f.extension_id, f.advisory_id, f.severity, f.summary, f.state, f.opened_at, f.accepted_until, \
             f.fixed_in, CASE WHEN e.disabled_at IS NULL THEN 0 ELSE 1 END FROM extension_findings f \
             JOIN store_extensions e ON e.store_id = f.store_id AND e.extension_id = f.extension_id \
             WHERE f.state <> 'fixed'",
    )
    .fetch_all(db.pool())
    .await?;
    let mut by: HashMap<(String, String), Exposure> = HashMap::new();
    for (extension_id, advisory_id, severity, summary, state, opened_at, until, fixed_in, disabled) in rows {
        let accepted = state == "accepted" && until.is_some_and(|u| u > now.0);
        let e = by.entry((extension_id.clone(), advisory_id.clone())).or_insert_with(|| Exposure {
            extension_id,
            advisory_id,
            severity,
            summary,
            open: 0,
            accepted: 0,
            disabled: 0,
            fix_published: false,
            oldest_open: None,
        });
        if accepted {
            e.accepted += 1;
        } else {
            e.open += 1;
            e.oldest_open = Some(Timestamp(e.oldest_open.map_or(opened_at, |o| o.0.min(opened_at))));
        }
        e.disabled += disabled;
        e.fix_published |= fixed_in.is_some();
    }
    let rank = |s: &str| SEVERITIES.iter().position(|x| *x == s).unwrap_or(SEVERITIES.len());
    let mut out: Vec<Exposure> = by.into_values().collect();
    out.sort_by(|a, b| {
        rank(&a.severity)
            .cmp(&rank(&b.severity))
            .then(b.open.cmp(&a.open))
            .then(a.extension_id.cmp(&b.extension_id))
            .then(a.advisory_id.cmp(&b.advisory_id))
    });
    Ok(out)
}

/// The stores with findings not fixed or installs disabled (the sync rematches these besides stores with installs
/// affected now, so a withdrawn advisory closes its findings).
pub async fn stores_to_rematch(db: &Db, _platform: &PlatformScope) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT store_id FROM extension_findings WHERE state <> 'fixed' \
         UNION SELECT e.store_id FROM store_extensions e JOIN extension_release_advisories a \
         ON a.extension_id = e.extension_id AND a.version = e.version \
         UNION SELECT store_id FROM store_extensions WHERE disabled_at IS NOT NULL",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect::<BTreeSet<_>>().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(severity: &str, fixed_in: Option<&str>, state: State, opened_days_ago: i64) -> Finding {
        let now = 100 * DAY_MS;
        Finding {
            extension_id: "acme.x".into(),
            advisory_id: "PAL-1".into(),
            version: "1.0.0".into(),
            severity: severity.into(),
            summary: String::new(),
            fixed_in: fixed_in.map(str::to_owned),
            state,
            opened_at: Timestamp(now - opened_days_ago * DAY_MS),
            closed_at: None,
            accepted_reason: None,
            accepted_until: None,
            accepted_by: None,
        }
    }

    #[test]
    fn only_an_unfixed_critical_is_disabled_and_only_after_the_grace() {
        let f = finding("critical", None, State::Open, 0);
        assert_eq!(f.disable_at(), Some(Timestamp(f.opened_at.0 + DISABLE_AFTER_DAYS * DAY_MS)));
        // Accepting is refused for these, but a row accepted before the fix was withdrawn still disables.
        assert!(finding("critical", None, State::Accepted, 0).disable_at().is_some());
        assert_eq!(finding("critical", Some("1.0.1"), State::Open, 9).disable_at(), None);
        assert_eq!(finding("high", None, State::Open, 9).disable_at(), None);
        assert_eq!(finding("critical", None, State::Fixed, 9).disable_at(), None);
    }

    #[test]
    fn overdue_counts_open_serious_findings_past_their_days() {
        let now = Timestamp(100 * DAY_MS);
        assert!(!finding("critical", Some("1.0.1"), State::Open, DISABLE_AFTER_DAYS - 1).overdue(now));
        assert!(finding("critical", Some("1.0.1"), State::Open, DISABLE_AFTER_DAYS).overdue(now));
        assert!(!finding("high", None, State::Open, HIGH_WITHIN_DAYS - 1).overdue(now));
        assert!(finding("high", None, State::Open, HIGH_WITHIN_DAYS).overdue(now));
        assert!(!finding("high", None, State::Accepted, 30).overdue(now));
        assert!(!finding("medium", None, State::Open, 60).overdue(now));
        assert!(!finding("critical", None, State::Fixed, 60).overdue(now));
    }
}
