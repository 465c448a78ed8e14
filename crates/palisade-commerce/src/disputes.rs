//! Buyer protection's last resort: the buyer opens a dispute on a held order, the merchant answers, and a
//! platform operator decides: refund the buyer or release the money to the store. The order's status and the
//! ledger move in the same transaction as the decision.
//!
//! Authority: the buyer opens a dispute through an [`OrderAccess`] (their signed link or account); the store's
//! side (reading, answering) takes a [`StaffScope`]; the decision takes an operator.

use palisade_core::time::Timestamp;
use palisade_core::{DisputeId, OrderId};
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::OperatorPrincipal;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use serde::Serialize;

use crate::access::OrderAccess;
use crate::error::{CommerceError, Result};
use crate::orders::{self, Status};
use crate::policy::Policy;

/// Why buyers open disputes.
pub const REASONS: &[(&str, &str)] = &[
    ("not_received", "The parcel never arrived"),
    ("not_as_described", "The item is not as described"),
    ("damaged", "The item arrived damaged"),
    ("counterfeit", "The item is counterfeit"),
    ("other", "Something else"),
];

/// A stored dispute.
#[derive(Debug, Clone, Serialize)]
pub struct Dispute {
    pub id: DisputeId,
    pub store_id: String,
    pub order_id: OrderId,
    /// The order's number in its store (`#1001`).
    pub order_number: Option<crate::orders::OrderNumber>,
    pub reason: String,
    pub buyer_statement: String,
    pub merchant_response: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub decision_note: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);
const COLUMNS: &str = "id, store_id, order_id, reason, buyer_statement, merchant_response, status, outcome, decision_note, created_at, updated_at";
/// [`COLUMNS`] and the disputed order's number, which is what people quote.
const SELECTED: &str = "id, store_id, order_id, reason, buyer_statement, merchant_response, status, outcome, decision_note, created_at, updated_at, \
     (SELECT o.number FROM orders o WHERE o.store_id = disputes.store_id AND o.id = disputes.order_id) AS order_number";

fn from_row(r: Row) -> Result<Dispute> {
    Ok(Dispute {
        id: r.0.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("dispute id: {e}")))?,
        store_id: r.1,
        order_id: r
            .2
            .parse()
            .map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?,
        order_number: r.11.map(crate::orders::OrderNumber),
        reason: r.3,
        buyer_statement: r.4,
        merchant_response: r.5,
        status: r.6,
        outcome: r.7,
        decision_note: r.8,
        created_at: Timestamp(r.9),
        updated_at: Timestamp(r.10),
    })
}

fn text(what: &str, s: &str, max: usize) -> Result<String> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(CommerceError::Invalid(format!("{what} must be 1 to {max} characters")));
    }
    Ok(s.to_owned())
}

/// The buyer opens a dispute on an order whose money is still held.
pub async fn open(db: &Db, access: &OrderAccess, reason: &str, statement: &str) -> Result<Dispute> {
    if !REASONS.iter().any(|(r, _)| *r == reason) {
        return Err(CommerceError::Invalid(format!("unknown reason `{reason}`")));
    }
    let statement = text("the statement", statement, 4000)?;
    let (scope, order_id) = (access.scope(), access.order_id());
    let id = DisputeId::new();
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    // Opening a dispute releases nothing: no fee applies, whatever the policy.
    orders::move_on(&mut tx, db, scope, order_id, Status::Disputed, None, &Policy::default()).await?;
    let inserted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO disputes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, 'open', NULL, NULL, $6, $6)"
    )))
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(order_id.to_string())
    .bind(reason)
    .bind(&statement)
    .bind(now)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(CommerceError::Store(StoreError::Conflict("this order already had a dispute".into())));
        }
        other => {
            other?;
        }
    }
    let target = format!("dispute:{id}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("dispute.opened", &target).details(serde_json::json!({"order": order_id, "reason": reason})),
    )
    .await?;
    crate::notify::queue_on(&mut tx, db, scope, order_id, crate::notify::OrderMail::DisputeOpened, 0).await?;
    tx.commit().await?;
    get_in(db, scope, id).await
}

/// One of the store's disputes, for its staff.
pub async fn get(db: &Db, scope: &StaffScope, id: DisputeId) -> Result<Dispute> {
    get_in(db, scope, id).await
}

async fn get_in(db: &Db, scope: &StoreScope, id: DisputeId) -> Result<Dispute> {
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {SELECTED} FROM disputes WHERE store_id = $1 AND id = $2")))
            .bind(scope.store_key())
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    from_row(row.ok_or(CommerceError::Store(StoreError::NotFound("dispute")))?)
}

/// The dispute on an order, if any, for the store's staff.
pub async fn for_order(db: &Db, scope: &StaffScope, order_id: OrderId) -> Result<Option<Dispute>> {
    for_order_in(db, scope, order_id).await
}

/// The dispute on the buyer's order, if any.
pub async fn for_buyer(db: &Db, access: &OrderAccess) -> Result<Option<Dispute>> {
    for_order_in(db, access.scope(), access.order_id()).await
}

pub(crate) async fn for_order_in(db: &Db, scope: &StoreScope, order_id: OrderId) -> Result<Option<Dispute>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECTED} FROM disputes WHERE store_id = $1 AND order_id = $2"
    )))
    .bind(scope.store_key())
    .bind(order_id.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(from_row).transpose()
}

/// The store's disputes, undecided first.
pub async fn list(db: &Db, scope: &StaffScope) -> Result<Vec<Dispute>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECTED} FROM disputes WHERE store_id = $1 ORDER BY status = 'decided', created_at DESC LIMIT 200"
    )))
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// Every undecided dispute on the platform (the operator's queue).
pub async fn undecided(db: &Db, _operator: &OperatorPrincipal) -> Result<Vec<Dispute>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SELECTED} FROM disputes WHERE status <> 'decided' ORDER BY created_at LIMIT 500"
    )))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// A dispute in the operator's queue with what a person needs to read it: the store's name and the order's total.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    #[serde(flatten)]
    pub dispute: Dispute,
    pub store_name: String,
    pub store_slug: String,
    /// The disputed order's total, in its currency (`None` if the order row is missing).
    pub total: Option<palisade_core::money::Money>,
    /// What the order says about delivery and risk, so the operator decides on the facts: its status, the fraud
    /// review state (`held` orders were never shippable, so a dispute about one cannot go to the merchant), the
    /// risk score, and the carrier and tracking number the merchant gave.
    pub order_status: Option<String>,
    pub review_state: Option<String>,
    pub risk_score: Option<i64>,
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
}

/// Every undecided dispute on the platform, oldest first, with its store and order total (the operator's queue).
pub async fn undecided_cases(db: &Db, operator: &OperatorPrincipal) -> Result<Vec<Case>> {
    type Extra = (
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let extra: Vec<Extra> = sqlx::query_as(
        "SELECT d.id, s.name, s.slug, o.currency, o.total_minor, o.status, o.review_state, o.risk_score, o.carrier, \
         o.tracking_no FROM disputes d \
         JOIN stores s ON s.id = d.store_id \
         LEFT JOIN orders o ON o.store_id = d.store_id AND o.id = d.order_id \
         WHERE d.status <> 'decided' ORDER BY d.created_at LIMIT 500",
    )
    .fetch_all(db.pool())
    .await?;
    let mut cases = Vec::new();
    for dispute in undecided(db, operator).await? {
        let id = dispute.id.to_string();
        let Some((
            _,
            store_name,
            store_slug,
            currency,
            total,
            order_status,
            review_state,
            risk_score,
            carrier,
            tracking_no,
        )) = extra.iter().find(|e| e.0 == id).cloned()
        else {
            continue; // decided between the two reads
        };
        let total = match (currency, total) {
            (Some(c), Some(m)) => Some(palisade_core::money::Money::new(
                m,
                palisade_core::money::Currency::parse(&c)
                    .map_err(|e| StoreError::Corrupt(format!("order currency: {e}")))?,
            )),
            _ => None,
        };
        cases.push(Case {
            dispute,
            store_name,
            store_slug,
            total,
            order_status,
            review_state,
            risk_score,
            carrier,
            tracking_no,
        });
    }
    Ok(cases)
}

/// The merchant answers (once; the answer can be revised until the operator decides).
pub async fn respond(db: &Db, scope: &StaffScope, id: DisputeId, response: &str) -> Result<Dispute> {
    let response = text("the response", response, 4000)?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE disputes SET merchant_response = $1, status = 'answered', updated_at = $2 WHERE store_id = $3 AND id = $4 AND status <> 'decided'",
    )
    .bind(&response)
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        drop(tx);
        // Nothing matched: a dispute of another store (or none) is not found; one of ours is already decided.
        get(db, scope, id).await?;
        return Err(CommerceError::InvalidTransition("this dispute has already been decided".into()));
    }
    let target = format!("dispute:{id}");
    audit::record_store(&mut tx, db, scope, NewEvent::new("dispute.answered", &target)).await?;
    tx.commit().await?;
    get(db, scope, id).await
}

/// Who wins a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Refund everything still held to the buyer.
    Buyer,
    /// Release the money to the store.
    Merchant,
}

/// An operator decides; the order and the money follow in the same transaction.
pub async fn decide(
    db: &Db,
    operator: &OperatorPrincipal,
    store: palisade_core::StoreId,
    id: DisputeId,
    outcome: Outcome,
    note: &str,
    policy: &Policy,
) -> Result<Dispute> {
    let scope = operator.store_scope(store);
    let note = text("the decision note", note, 4000)?;
    let dispute = get(db, &scope, id).await?;
    if dispute.status == "decided" {
        return Err(CommerceError::InvalidTransition("this dispute has already been decided".into()));
    }
    let (to, word) = match outcome {
        Outcome::Buyer => (Status::Refunded, "buyer"),
        Outcome::Merchant => (Status::Completed, "merchant"),
    };
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE disputes SET status = 'decided', outcome = $1, decision_note = $2, decided_by = $3, updated_at = $4 \
         WHERE store_id = $5 AND id = $6 AND status <> 'decided'",
    )
    .bind(word)
    .bind(&note)
    .bind(operator.account_id().to_string())
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::InvalidTransition("this dispute has already been decided".into()));
    }
    if outcome == Outcome::Merchant
        && orders::get_on(&mut tx, &scope, dispute.order_id).await?.review_state == crate::fraud::ReviewState::Held
    {
        // Held for fraud review, so never shipped: deciding for the merchant would release the payment for goods
        // that were not sent (and a merchant could steer a self-bought, stolen-card order there). The buyer's
        // side (a refund) is the decision that stays open.
        return Err(CommerceError::InvalidTransition(
            "this order is held for fraud review and was never shipped: it can only be decided for the buyer".into(),
        ));
    }
    orders::transition_on(&mut tx, db, &scope, dispute.order_id, to, None, policy).await?;
    let target = format!("dispute:{id}");
    audit::record_store(
        &mut tx,
        db,
        &scope,
        NewEvent::new("dispute.decided", &target).details(serde_json::json!({"outcome": word})),
    )
    .await?;
    crate::notify::queue_on(&mut tx, db, &scope, dispute.order_id, crate::notify::OrderMail::DisputeDecided, 0).await?;
    tx.commit().await?;
    get(db, &scope, id).await
}
