//! Audit events as people read them: who (a name and address instead of `account:<id>`) did what to whom.
//!
//! A store's staff see the names of their own team only: anyone else who appears in their log (a platform operator
//! acting on the store, someone who has left the team) is described by role, never by name or address. The operator
//! sees everyone's address and the stores' names.

use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::db::Db;
use crate::error::Result;
use crate::scope::{PlatformScope, StaffScope};

/// One audit event, with people and stores named.
#[derive(Debug, Clone, Serialize)]
pub struct NamedEvent {
    pub seq: i64,
    pub at: Timestamp,
    /// Who acted: "Ann Lee <ann@shop.example>", "Platform operator", "Palisade (automatic)", "A shopper" …
    pub who: String,
    pub action: String,
    /// What it was done to: a person or store by name where the reader may know it, else the kind of record.
    pub what: String,
}

const ACCOUNT: &str = "account:";

/// Someone who is not (or no longer) on the store's team, described without naming them.
fn outsider(kind: Option<&str>) -> String {
    match kind {
        Some("operator") => "Platform operator".to_owned(),
        Some("buyer") => "A shopper".to_owned(),
        _ => "A former team member".to_owned(),
    }
}

/// Actors that are not accounts.
fn non_account(actor: &str) -> Option<String> {
    if actor.starts_with("system:") {
        Some("Palisade (automatic)".to_owned())
    } else if actor.starts_with("buyer:") {
        Some("A shopper".to_owned())
    } else if actor == "guest" {
        Some("A guest shopper".to_owned())
    } else {
        None
    }
}

fn person(name: &str, email: &str) -> String {
    if name.trim().is_empty() { email.to_owned() } else { format!("{name} <{email}>") }
}

/// A target that names no person: its kind, with the record's id when it has one.
fn record(target: &str) -> String {
    match target.split_once(':') {
        Some((kind, id)) => format!("{} {id}", kind.replace('_', " ")),
        None if target == "store" => "store settings".to_owned(),
        None => target.to_owned(),
    }
}

type StoreRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The newest events of the store's own log, newest first, with its team's names.
pub async fn store_named(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<NamedEvent>> {
    // `SUBSTR(x, 9)` strips `account:` so the joins are primary-key lookups on both backends.
    let rows: Vec<StoreRow> = sqlx::query_as(
        "SELECT e.seq, e.at, e.actor, e.action, e.target, aa.display_name, aa.email, ak.kind, ta.display_name, ta.email, tk.kind \
         FROM audit_events e \
         LEFT JOIN store_members am ON e.actor LIKE 'account:%' AND am.store_id = $1 AND am.account_id = SUBSTR(e.actor, 9) \
         LEFT JOIN accounts aa ON aa.id = am.account_id \
         LEFT JOIN accounts ak ON e.actor LIKE 'account:%' AND ak.id = SUBSTR(e.actor, 9) \
         LEFT JOIN store_members tm ON e.target LIKE 'account:%' AND tm.store_id = $1 AND tm.account_id = SUBSTR(e.target, 9) \
         LEFT JOIN accounts ta ON ta.id = tm.account_id \
         LEFT JOIN accounts tk ON e.target LIKE 'account:%' AND tk.id = SUBSTR(e.target, 9) \
         WHERE e.chain = $1 ORDER BY e.seq DESC LIMIT $2",
    )
    .bind(scope.store_key())
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let who = match (&r.5, &r.6) {
                (Some(name), Some(email)) => person(name, email),
                _ => non_account(&r.2).unwrap_or_else(|| outsider(r.7.as_deref())),
            };
            let what = match (&r.8, &r.9) {
                (Some(name), Some(email)) => person(name, email),
                _ if r.4.starts_with(ACCOUNT) => outsider(r.10.as_deref()).to_lowercase(),
                _ => record(&r.4),
            };
            NamedEvent { seq: r.0, at: Timestamp(r.1), who, action: r.3, what }
        })
        .collect())
}

type PlatformRow = (i64, i64, String, String, String, Option<String>, Option<String>, Option<String>);

/// The newest platform events, newest first, with accounts' addresses and stores' names.
pub async fn platform_named(db: &Db, _scope: &PlatformScope, limit: i64) -> Result<Vec<NamedEvent>> {
    let rows: Vec<PlatformRow> = sqlx::query_as(
        "SELECT e.seq, e.at, e.actor, e.action, e.target, aa.email, ta.email, ts.name \
         FROM audit_events e \
         LEFT JOIN accounts aa ON e.actor LIKE 'account:%' AND aa.id = SUBSTR(e.actor, 9) \
         LEFT JOIN accounts ta ON e.target LIKE 'account:%' AND ta.id = SUBSTR(e.target, 9) \
         LEFT JOIN stores ts ON e.target LIKE 'store:%' AND ts.id = SUBSTR(e.target, 7) \
         WHERE e.chain = 'platform' ORDER BY e.seq DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let who = r.5.clone().or_else(|| non_account(&r.2)).unwrap_or_else(|| r.2.clone());
            let what = match (&r.6, &r.7) {
                (Some(email), _) => email.clone(),
                (None, Some(store)) => format!("store “{store}”"),
                (None, None) => record(&r.4),
            };
            NamedEvent { seq: r.0, at: Timestamp(r.1), who, action: r.3, what }
        })
        .collect())
}
