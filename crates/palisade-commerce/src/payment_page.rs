//! The payment page's integrity record (PCI DSS 11.6.1): each check of the live checkout page, the alert when it
//! changed, and the latest result for the `platform.payment-page-integrity` control.
//!
//! The web layer fetches the page and compares it with the inventory compiled into the binary (it owns the
//! page); what a check found, and what follows from it (audit event, mail to every operator), is decided here.

use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::outbox::{self, NewMail};
use palisade_store::scope::PlatformScope;
use palisade_store::{Db, tenancy};
use serde::Serialize;

use crate::error::Result;

/// What a check concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The page served exactly its inventoried scripts and headers.
    Match,
    /// It served something else (or answered with an error status): alerted.
    Changed,
    /// It could not be fetched.
    Unreachable,
}

impl Outcome {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Changed => "changed",
            Outcome::Unreachable => "unreachable",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check to record. `observed` is what the page served (scripts and headers, as JSON) and `fingerprint` a
/// digest of it, kept so a later investigation can tell when exactly the page changed.
#[derive(Debug, Clone)]
pub struct NewCheck<'a> {
    pub url: &'a str,
    pub outcome: Outcome,
    pub fingerprint: &'a str,
    pub observed: &'a serde_json::Value,
    pub detail: &'a str,
}

/// One recorded check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub checked_at: Timestamp,
    pub outcome: String,
    pub detail: String,
}

/// Records a check. A change is written to the platform's audit chain in the same transaction, then mailed to
/// every operator (through the outbox, so a mail server outage delays the alert but does not lose it).
pub async fn record(db: &Db, platform: &PlatformScope, check: &NewCheck<'_>) -> Result<()> {
    let now = db.now();
    let changed = check.outcome == Outcome::Changed;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO payment_page_checks (id, checked_at, url, outcome, fingerprint, observed, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(now.0)
    .bind(check.url)
    .bind(check.outcome.as_str())
    .bind(check.fingerprint)
    .bind(check.observed.to_string())
    .bind(check.detail)
    .execute(&mut *tx)
    .await?;
    if changed {
        audit::record_platform(
            &mut tx,
            db,
            platform,
            NewEvent::new("payment_page.changed", "page:/checkout")
                .details(serde_json::json!({"detail": check.detail})),
        )
        .await?;
    }
    tx.commit().await?;
    if changed {
        let (url, detail) = (check.url, check.detail);
        for op in tenancy::list_operators(db, platform).await? {
            outbox::enqueue(
                db,
                NewMail {
                    store_id: None,
                    to: &op.email,
                    subject: "ALERT: the payment page changed",
                    body: format!(
                        "The payment page at {url} no longer matches its inventory (PCI DSS 11.6.1):\n\n{detail}\n\n\
                         If this was not a release you made, treat it as a possible card-skimming attack: \
                         take checkout offline and investigate."
                    ),
                },
            )
            .await?;
        }
    }
    Ok(())
}

/// The latest checks, newest first (the operator's console).
pub async fn recent(db: &Db, _platform: &PlatformScope, limit: i64) -> Result<Vec<Check>> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT checked_at, outcome, detail FROM payment_page_checks ORDER BY checked_at DESC, id DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(at, outcome, detail)| Check { checked_at: Timestamp(at), outcome, detail }).collect())
}
