//! Re-deriving one store's advisory findings from its installs and the catalog's matches, and acting on them:
//! installs disabled and enabled, the store told. Runs inside every install, update and removal and after each
//! sync, holding the store's row (PostgreSQL) so a sync and a merchant's change never interleave.

use std::collections::{BTreeSet, HashMap};

use palisade_core::time::Timestamp;

use super::{Finding, Rematched, State, checked_at, findings_on};
use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::Result;
use crate::extensions::compare_versions;
use crate::outbox;
use crate::scope::StaffScope;

/// The actor the platform's own decisions (disabling, enabling) are audited under, whoever's change triggered the
/// rematch.
const PLATFORM_TASK: &str = "platform:extension-advisories";

/// Takes the store's row for the rest of the transaction on PostgreSQL (SQLite's write transaction already runs
/// alone), so rematches of one store and the installs they follow take turns. Taken first by every transaction
/// that rematches, so the order of locks is always the same.
pub(crate) async fn lock_store(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope) -> Result<()> {
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("SELECT id FROM stores WHERE id = $1 FOR UPDATE")
            .bind(scope.store_key())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A release of one extension as the fix search reads it: version, published at, and the advisories (id, severity)
/// affecting it.
struct Known {
    releases: Vec<(String, i64)>,
    matched: Vec<(String, String, String)>,
}

impl Known {
    async fn load(conn: &mut sqlx::AnyConnection, extension_id: &str) -> Result<Known> {
        let releases: Vec<(String, i64)> =
            sqlx::query_as("SELECT version, published_at FROM extension_releases WHERE extension_id = $1")
                .bind(extension_id)
                .fetch_all(&mut *conn)
                .await?;
        let matched: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT version, advisory_id, severity FROM extension_release_advisories WHERE extension_id = $1",
        )
        .bind(extension_id)
        .fetch_all(&mut *conn)
        .await?;
        Ok(Known { releases, matched })
    }

    /// The oldest release newer than `version` that a sync has checked (published before `checked`) and that no
    /// critical or high advisory affects, nor `advisory_id` at all: one a store can actually update to.
    fn first_fixed(&self, version: &str, advisory_id: &str, checked: Option<Timestamp>) -> Option<String> {
        self.releases
            .iter()
            .filter(|(v, published)| {
                compare_versions(v, version).is_gt()
                    && checked.is_some_and(|c| *published <= c.0)
                    && !self
                        .matched
                        .iter()
                        .any(|(mv, a, sev)| mv == v && (a == advisory_id || sev == "critical" || sev == "high"))
            })
            .map(|(v, _)| v.clone())
            .min_by(|a, b| compare_versions(a, b))
    }
}

/// [`super::rematch`] inside the caller's transaction (install, update and removal call it, so findings always
/// follow what is installed).
pub(crate) async fn rematch_on(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope) -> Result<Rematched> {
    lock_store(conn, db, scope).await?;
    let now = db.now();
    let store = scope.store_key();
    let checked = checked_at(conn).await?;
    let mut done = Rematched::default();
    end_acceptances(conn, db, scope, &mut done).await?;
    let current = affecting_installs(conn, &store).await?;
    let known: HashMap<(String, String), Finding> = findings_on(conn, scope, now)
        .await?
        .into_iter()
        .map(|f| ((f.extension_id.clone(), f.advisory_id.clone()), f))
        .collect();
    let mut catalog: HashMap<String, Known> = HashMap::new();
    let mut seen = BTreeSet::new();
    for (extension_id, version, advisory_id, severity, summary) in current {
        if !catalog.contains_key(&extension_id) {
            catalog.insert(extension_id.clone(), Known::load(conn, &extension_id).await?);
        }
        let fixed_in = catalog.get(&extension_id).and_then(|k| k.first_fixed(&version, &advisory_id, checked));
        let key = (extension_id.clone(), advisory_id.clone());
        let before = known.get(&key);
        seen.insert(key.clone());
        let unfixable = severity == "critical" && fixed_in.is_none();
        // Since when it has been critical without a fix: kept while it stays so, cleared by a fix.
        let critical_since = unfixable.then(|| before.and_then(|f| f.critical_since).unwrap_or(now));
        let unchanged = before.is_some_and(|f| {
            f.state != State::Fixed
                && f.version == version
                && f.severity == severity
                && f.summary == summary
                && f.fixed_in == fixed_in
                && f.critical_since == critical_since
        });
        if unchanged {
            continue;
        }
        // New, or fixed and seen again: open (first found stays when it was). Still seen: refreshed; an unexpired
        // acceptance stays.
        sqlx::query(
            "INSERT INTO extension_findings (store_id, extension_id, advisory_id, version, severity, summary, fixed_in, \
             critical_since, state, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) \
             ON CONFLICT (store_id, extension_id, advisory_id) DO UPDATE SET version = excluded.version, \
             severity = excluded.severity, summary = excluded.summary, fixed_in = excluded.fixed_in, \
             critical_since = excluded.critical_since, closed_at = NULL, \
             state = CASE WHEN extension_findings.state = 'accepted' AND extension_findings.accepted_until > $9 \
                     THEN 'accepted' ELSE 'open' END",
        )
        .bind(&store)
        .bind(&extension_id)
        .bind(&advisory_id)
        .bind(&version)
        .bind(&severity)
        .bind(&summary)
        .bind(&fixed_in)
        .bind(critical_since.map(|t| t.0))
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
        let reopened = before.is_none_or(|f| f.state == State::Fixed);
        let escalated = critical_since.is_some() && before.is_none_or(|f| f.critical_since.is_none());
        if reopened {
            let target = format!("extension:{extension_id}");
            let details = serde_json::json!({"advisory": advisory_id, "severity": severity, "version": version,
                                             "fixed_in": fixed_in});
            audit::record_store(conn, db, scope, NewEvent::new("extension.advisory_found", &target).details(details))
                .await?;
            done.opened.push(key.clone());
        }
        if escalated {
            done.escalated.push(key);
        }
    }
    close_unseen(conn, db, scope, &known, &seen, &mut done).await?;
    switch_installs(conn, db, scope, now, &mut done).await?;
    notify(conn, db, scope, &done).await?;
    Ok(done)
}

/// Acceptances past their date end here: the finding is open again (its reason and date stay for the record),
/// audited (`extension.advisory_acceptance_ended`) and the store told by [`notify`].
async fn end_acceptances(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    done: &mut Rematched,
) -> Result<()> {
    let now = db.now();
    let ended: Vec<(String, String)> = sqlx::query_as(
        "SELECT extension_id, advisory_id FROM extension_findings \
         WHERE store_id = $1 AND state = 'accepted' AND accepted_until <= $2 ORDER BY extension_id, advisory_id",
    )
    .bind(scope.store_key())
    .bind(now.0)
    .fetch_all(&mut *conn)
    .await?;
    for (extension_id, advisory_id) in ended {
        sqlx::query(
            "UPDATE extension_findings SET state = 'open' \
             WHERE store_id = $1 AND extension_id = $2 AND advisory_id = $3 AND state = 'accepted'",
        )
        .bind(scope.store_key())
        .bind(&extension_id)
        .bind(&advisory_id)
        .execute(&mut *conn)
        .await?;
        let target = format!("extension:{extension_id}");
        let details = serde_json::json!({"advisory": advisory_id});
        audit::record_store(
            conn,
            db,
            scope,
            NewEvent::new("extension.advisory_acceptance_ended", &target).details(details),
        )
        .await?;
        done.acceptance_ended.push((extension_id, advisory_id));
    }
    Ok(())
}

/// What affects the store's installed versions now: (extension, version, advisory, severity, summary).
async fn affecting_installs(
    conn: &mut sqlx::AnyConnection,
    store: &str,
) -> Result<Vec<(String, String, String, String, String)>> {
    Ok(sqlx::query_as(
        "SELECT e.extension_id, e.version, a.advisory_id, a.severity, a.summary FROM store_extensions e \
         JOIN extension_release_advisories a ON a.extension_id = e.extension_id AND a.version = e.version \
         WHERE e.store_id = $1",
    )
    .bind(store)
    .fetch_all(&mut *conn)
    .await?)
}

/// Marks fixed the findings the rematch no longer sees (updated, removed, advisory withdrawn): verified by the
/// rematch itself.
async fn close_unseen(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    known: &HashMap<(String, String), Finding>,
    seen: &BTreeSet<(String, String)>,
    done: &mut Rematched,
) -> Result<()> {
    let now = db.now();
    let store = scope.store_key();
    for (key, f) in known {
        if f.state == State::Fixed || seen.contains(key) {
            continue;
        }
        sqlx::query(
            "UPDATE extension_findings SET state = 'fixed', closed_at = $1, critical_since = NULL \
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
    Ok(())
}

/// Disables the installs a critical advisory without a fix has affected for the grace period, and enables those
/// no critical advisory affects any more (a fix published is not enough: the installed bytes are the same).
async fn switch_installs(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    now: Timestamp,
    done: &mut Rematched,
) -> Result<()> {
    let store = scope.store_key();
    let findings = findings_on(conn, scope, now).await?;
    let installs: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT extension_id, version, disabled_at FROM store_extensions WHERE store_id = $1")
            .bind(&store)
            .fetch_all(&mut *conn)
            .await?;
    let platform = StaffScope::system(scope.store_id(), PLATFORM_TASK);
    for (extension_id, version, disabled_at) in installs {
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
                     WHERE store_id = $3 AND extension_id = $4 AND version = $5",
                )
                .bind(now.0)
                .bind(&reason)
                .bind(&store)
                .bind(&extension_id)
                .bind(&version)
                .execute(&mut *conn)
                .await?;
                let details = serde_json::json!({"advisory": f.advisory_id, "version": version});
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
                let details = serde_json::json!({"version": version});
                audit::record_store(conn, db, &platform, NewEvent::new("extension.enabled", &target).details(details))
                    .await?;
                crate::storefront::touch(conn, scope).await?;
                done.enabled.push(extension_id);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Advisory text as an email may carry it: one line, links left out (the feed is the operator's, but it may mirror
/// upstream records, and a platform-branded mail must not become a way to send people elsewhere).
fn mail_text(summary: &str) -> String {
    summary
        .split_whitespace()
        .map(|w| if w.contains("://") || w.to_ascii_lowercase().starts_with("www.") { "[link]" } else { w })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Tells the store (its security contact and owners) about critical and high findings opened now, findings that
/// became critical without a fix (the disabling date), and installs disabled now; queued in the same transaction.
async fn notify(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope, done: &Rematched) -> Result<()> {
    if done.opened.is_empty()
        && done.escalated.is_empty()
        && done.disabled.is_empty()
        && done.acceptance_ended.is_empty()
    {
        return Ok(());
    }
    let findings = findings_on(conn, scope, db.now()).await?;
    let named = |f: &Finding| {
        let key = (f.extension_id.clone(), f.advisory_id.clone());
        done.escalated.contains(&key)
            || (done.opened.contains(&key) && (f.severity == "critical" || f.severity == "high"))
    };
    let serious: Vec<&Finding> = findings.iter().filter(|f| f.state != State::Fixed && named(f)).collect();
    let ended: Vec<&Finding> = findings
        .iter()
        .filter(|f| {
            f.state != State::Fixed && done.acceptance_ended.contains(&(f.extension_id.clone(), f.advisory_id.clone()))
        })
        .collect();
    if serious.is_empty() && done.disabled.is_empty() && ended.is_empty() {
        return Ok(());
    }
    let mut body = String::from("A security advisory affects an extension installed in your store.\n\n");
    for f in &serious {
        let action = match (&f.fixed_in, f.disable_at()) {
            (Some(v), _) => format!("Fixed in {v}: update it now (Security Center → Extensions)."),
            (None, Some(at)) => format!(
                "No fixed release yet. Remove it, or the platform disables it on {} (UTC).",
                at.to_datetime().map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M").to_string())
            ),
            (None, None) => "No fixed release yet: consider removing it.".to_owned(),
        };
        body.push_str(&format!(
            "- {} {}: {} ({}) — {}\n  {action}\n",
            f.extension_id,
            f.version,
            f.advisory_id,
            f.severity,
            mail_text(&f.summary)
        ));
    }
    for e in &done.disabled {
        body.push_str(&format!(
            "- {e} has been disabled by the platform: a critical advisory affects it and no fixed release exists. \
             Its storefront blocks and checks are off until you update it to a fixed release or remove it.\n"
        ));
    }
    for f in &ended {
        body.push_str(&format!(
            "- {} {}: your acceptance of {} ({}) has ended; it counts against your store again. Update or remove \
             the extension, or accept the risk again with a new reason.\n",
            f.extension_id, f.version, f.advisory_id, f.severity
        ));
    }
    body.push_str("\nOpen Security Center → Extensions in your store's admin for the details.\n");
    let subject = match (done.disabled.is_empty(), serious.is_empty()) {
        (false, _) => "Extension disabled",
        (true, false) => "Security advisory for an extension",
        (true, true) => "An accepted extension advisory is open again",
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_text_is_one_line_without_links() {
        assert_eq!(
            mail_text("Update now at\nhttps://evil.example/fix or www.evil.example\t today"),
            "Update now at [link] or [link] today"
        );
    }

    #[test]
    fn the_fix_is_a_checked_release_without_a_serious_advisory() {
        let known = Known {
            releases: vec![("1.0.0".into(), 10), ("1.1.0".into(), 10), ("1.2.0".into(), 10), ("1.3.0".into(), 50)],
            matched: vec![
                ("1.0.0".into(), "A".into(), "critical".into()),
                // 1.1.0 is not affected by A but carries another high advisory: it cannot be installed.
                ("1.1.0".into(), "B".into(), "high".into()),
            ],
        };
        assert_eq!(known.first_fixed("1.0.0", "A", Some(Timestamp(20))).as_deref(), Some("1.2.0"));
        // 1.3.0 was published after the last check: not a fix until a sync has looked at it.
        let only_new = Known { releases: vec![("1.3.0".into(), 50)], matched: vec![] };
        assert_eq!(only_new.first_fixed("1.0.0", "A", Some(Timestamp(20))), None);
        assert_eq!(only_new.first_fixed("1.0.0", "A", Some(Timestamp(60))).as_deref(), Some("1.3.0"));
        assert_eq!(only_new.first_fixed("1.0.0", "A", None), None, "never checked: nothing is a known fix");
    }
}
