//! Advisories against installed extensions (issue #19 item 4): the operator's feed matched against the catalog
//! (`extension_release_advisories`, kept in step by [`replace_matches`]) and each store's findings with their life
//! (`extension_findings`).
//!
//! The match lives in the database so that every node reads one answer: a node with the feed configured syncs it,
//! the others (storefront, automatic updates, controls) read the rows. A sync that cannot read the whole feed
//! changes nothing ([`record_failure`]): a feed that went missing is not "every advisory withdrawn" (OSV's
//! `withdrawn` field is how an advisory goes). A release published after the last sync is **unchecked**: it is
//! neither installed nor counted as a fix until a sync has looked at it.
//!
//! A store's findings are re-derived from its installs and the matches by `rematch_on` (module `rematch`), which
//! runs inside every install, update and removal and after each sync, so a finding is never out of step with what
//! is installed:
//! - an installed version the feed affects → **open** (`opened_at` is when it was first found, and never moves);
//! - no longer affected (updated, removed, advisory withdrawn) → **fixed**, verified by the rematch itself;
//! - **accepted** by staff with a reason until an expiry at most [`MAX_ACCEPT_DAYS`] ahead; past it, open again.
//!   A critical advisory without a fixed release cannot be accepted: it is the platform's to act on.
//!
//! A finding critical with no fixed release (a checked newer release no critical or high advisory affects) for
//! [`DISABLE_AFTER_DAYS`] (counted from `critical_since`, when it became so) gets the install **disabled** by the
//! platform (its plugin stops on the storefront), audited and told to the store by email and in the Security
//! Center. It stays disabled while any critical advisory affects the installed version (a fix being published does
//! not make the installed bytes safe); updating to a fixed release or removing it ends it.

use std::collections::{BTreeSet, HashMap};

use palisade_core::time::Timestamp;
use serde::Serialize;

use super::DAY_MS;
use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::scope::{PlatformScope, StaffScope};

mod rematch;

pub(crate) use rematch::{lock_store, rematch_on};

/// A critical advisory without a fixed release disables the install this long after it became so.
pub const DISABLE_AFTER_DAYS: i64 = 3;
/// An open high advisory must be dealt with (updated, removed or accepted) within this many days
/// (`store.extension-advisories`); a critical one within [`DISABLE_AFTER_DAYS`].
pub const HIGH_WITHIN_DAYS: i64 = 7;
/// The longest an advisory finding may be accepted for (as any accepted risk).
pub const MAX_ACCEPT_DAYS: i64 = crate::scans::MAX_ACCEPT_DAYS;
/// The platform setting recording the last sync of the feed into the catalog (`checked_at`: releases published
/// before it were matched; advisories, matches), read by `platform.extension-advisories`.
pub const SYNC_SETTING: &str = "extensions.advisories.synced";
/// The platform setting recording the last sync that failed (`reason`), which changed nothing.
pub const FAILED_SETTING: &str = "extensions.advisories.failed";
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
    /// The oldest checked newer release that neither this advisory nor any critical or high one affects (`None`:
    /// none a store could update to).
    pub fixed_in: Option<String>,
    /// Since when it has been critical without a fixed release.
    pub critical_since: Option<Timestamp>,
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
        let since = self.critical_since.unwrap_or(self.opened_at);
        (self.state != State::Fixed && self.unfixable_critical())
            .then(|| Timestamp(since.0 + DISABLE_AFTER_DAYS * DAY_MS))
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
    /// Findings that became critical without a fixed release now (the disabling clock starts).
    pub escalated: Vec<(String, String)>,
    /// Findings the rematch found fixed.
    pub fixed: Vec<(String, String)>,
    /// Installs the platform disabled now.
    pub disabled: Vec<String>,
    /// Installs enabled again (no critical advisory affects them any more).
    pub enabled: Vec<String>,
    /// Acceptances that ran out now (their findings are open again; the store is told).
    pub acceptance_ended: Vec<(String, String)>,
}

/// Brings the catalog's matches to `matches` (the whole feed against every release published before
/// `checked_at`), writing only what changed, and records the sync (`record` plus `checked_at`) for
/// `platform.extension-advisories` and the unchecked-release rule. Stores' findings change when each is rematched
/// ([`rematch`]). Syncs take turns on PostgreSQL (two nodes syncing at once must not leave the union of both feeds).
pub async fn replace_matches(
    db: &Db,
    _platform: &PlatformScope,
    matches: &[ReleaseAdvisory],
    checked_at: Timestamp,
    record: &serde_json::Value,
) -> Result<()> {
    let wanted: HashMap<(String, String, String), (String, String)> = matches
        .iter()
        .map(|m| {
            if SEVERITIES.contains(&m.severity.as_str()) {
                let key = (m.extension_id.clone(), m.version.clone(), m.advisory_id.clone());
                Ok((key, (m.severity.clone(), one_line(&m.summary))))
            } else {
                Err(StoreError::Invalid(format!("unknown severity `{}`", m.severity)))
            }
        })
        .collect::<Result<_>>()?;
    let mut tx = db.begin_write().await?;
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("LOCK TABLE extension_release_advisories IN EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    let stored: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT extension_id, version, advisory_id, severity, summary FROM extension_release_advisories",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut have = HashMap::new();
    for (e, v, a, severity, summary) in stored {
        have.insert((e, v, a), (severity, summary));
    }
    for key in have.keys().filter(|k| !wanted.contains_key(*k)) {
        sqlx::query(
            "DELETE FROM extension_release_advisories WHERE extension_id = $1 AND version = $2 AND advisory_id = $3",
        )
        .bind(&key.0)
        .bind(&key.1)
        .bind(&key.2)
        .execute(&mut *tx)
        .await?;
    }
    for (key, value) in wanted.iter().filter(|(k, v)| have.get(*k) != Some(*v)) {
        sqlx::query(
            "INSERT INTO extension_release_advisories (extension_id, version, advisory_id, severity, summary) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (extension_id, version, advisory_id) \
             DO UPDATE SET severity = excluded.severity, summary = excluded.summary",
        )
        .bind(&key.0)
        .bind(&key.1)
        .bind(&key.2)
        .bind(&value.0)
        .bind(&value.1)
        .execute(&mut *tx)
        .await?;
    }
    let mut record = record.clone();
    if let Some(o) = record.as_object_mut() {
        o.insert("checked_at".into(), checked_at.0.into());
    }
    crate::settings::put_on(&mut tx, db, SYNC_SETTING, &record).await?;
    tx.commit().await?;
    Ok(())
}

/// Records a sync that could not read the whole feed and so changed nothing: `platform.extension-advisories` is
/// unmet until a sync succeeds again.
pub async fn record_failure(db: &Db, _platform: &PlatformScope, reason: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let reason: String = reason.chars().take(MAX_SUMMARY).collect();
    crate::settings::put_on(&mut tx, db, FAILED_SETTING, &serde_json::json!({"reason": reason})).await?;
    tx.commit().await?;
    Ok(())
}

/// Releases published up to this instant were matched by the last sync (`None`: no sync yet).
pub(crate) async fn checked_at(conn: &mut sqlx::AnyConnection) -> Result<Option<Timestamp>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM platform_settings WHERE key = $1")
        .bind(SYNC_SETTING)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row
        .and_then(|(v,)| serde_json::from_str::<serde_json::Value>(&v).ok()?.get("checked_at")?.as_i64())
        .map(Timestamp))
}

/// Releases published up to this instant were matched by the last sync (`None`: no sync yet): a later one is not
/// installed until the next sync has looked at it.
pub async fn last_checked(db: &Db) -> Result<Option<Timestamp>> {
    let mut conn = db.pool().acquire().await?;
    checked_at(&mut conn).await
}

/// An advisory summary as pages and mails show it: one line of printable text, at most [`MAX_SUMMARY`] characters.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_SUMMARY)
        .collect()
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

/// Refuses a release that a critical or high advisory affects, or that no sync has checked yet (published after
/// the last one), for installing or updating to it: read inside the install's transaction, so a sync landing
/// meanwhile is seen.
pub(crate) async fn refuse_affected(conn: &mut sqlx::AnyConnection, extension_id: &str, version: &str) -> Result<()> {
    if let Some(checked) = checked_at(conn).await? {
        let published: Option<(i64,)> =
            sqlx::query_as("SELECT published_at FROM extension_releases WHERE extension_id = $1 AND version = $2")
                .bind(extension_id)
                .bind(version)
                .fetch_optional(&mut *conn)
                .await?;
        if published.is_some_and(|(at,)| at > checked.0) {
            return Err(StoreError::Conflict(format!(
                "{extension_id} {version} was published after the last advisory check; it can be installed once \
                 the next check (within the hour) has looked at it"
            )));
        }
    }
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
    Option<i64>,
    String,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn finding_from(r: FindingRow, now: Timestamp) -> Finding {
    let state = match r.7.as_str() {
        "fixed" => State::Fixed,
        "accepted" if r.11.is_some_and(|u| u > now.0) => State::Accepted,
        _ => State::Open,
    };
    Finding {
        extension_id: r.0,
        advisory_id: r.1,
        version: r.2,
        severity: r.3,
        summary: r.4,
        fixed_in: r.5,
        critical_since: r.6.map(Timestamp),
        state,
        opened_at: Timestamp(r.8),
        closed_at: r.9.map(Timestamp),
        accepted_reason: r.10,
        accepted_until: r.11.map(Timestamp),
        accepted_by: r.12,
    }
}

pub(crate) async fn findings_on(
    conn: &mut sqlx::AnyConnection,
    scope: &StaffScope,
    now: Timestamp,
) -> Result<Vec<Finding>> {
    let rows: Vec<FindingRow> = sqlx::query_as(
        "SELECT extension_id, advisory_id, version, severity, summary, fixed_in, critical_since, state, opened_at, \
         closed_at, accepted_reason, accepted_until, accepted_by FROM extension_findings WHERE store_id = $1",
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

/// Accepts an open finding with a reason until `until` (after now, at most [`MAX_ACCEPT_DAYS`] ahead); audited.
/// A critical advisory without a fixed release is refused (the platform disables such an install), and so is one
/// already accepted (renewed only after its acceptance ends).
pub async fn accept(
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    advisory_id: &str,
    reason: &str,
    until: Timestamp,
) -> Result<()> {
    let now = db.now();
    let (reason, by) = crate::scans::acceptance(scope, reason, until, now)?;
    let mut tx = db.begin_write().await?;
    lock_store(&mut tx, db, scope).await?;
    let finding = findings_on(&mut tx, scope, now)
        .await?
        .into_iter()
        .find(|f| f.extension_id == extension_id && f.advisory_id == advisory_id && f.state != State::Fixed)
        .ok_or(StoreError::NotFound("advisory finding"))?;
    if finding.state == State::Accepted {
        // Renewed only once it has run out: an acceptance is a dated decision, not one that slides forever.
        return Err(StoreError::Conflict(format!(
            "{advisory_id} is already accepted; it can be reviewed again when the acceptance ends"
        )));
    }
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

/// The active stores with findings not fixed, installs affected now or installs disabled (the sync rematches these,
/// so a withdrawn advisory closes its findings). Suspended and closed stores are left as they are.
pub async fn stores_to_rematch(db: &Db, _platform: &PlatformScope) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT s.id FROM stores s WHERE s.status = 'active' AND (\
         EXISTS (SELECT 1 FROM extension_findings f WHERE f.store_id = s.id AND f.state <> 'fixed') \
         OR EXISTS (SELECT 1 FROM store_extensions e JOIN extension_release_advisories a \
                    ON a.extension_id = e.extension_id AND a.version = e.version WHERE e.store_id = s.id) \
         OR EXISTS (SELECT 1 FROM store_extensions e WHERE e.store_id = s.id AND e.disabled_at IS NOT NULL)) \
         ORDER BY s.id",
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
            critical_since: None,
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
        let mut f = finding("critical", None, State::Open, 30);
        f.critical_since = Some(Timestamp(f.opened_at.0 + 20 * DAY_MS));
        assert_eq!(
            f.disable_at(),
            Some(Timestamp(f.opened_at.0 + (20 + DISABLE_AFTER_DAYS) * DAY_MS)),
            "counted from when it became critical without a fix, not from when it was found"
        );
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
