//! Shipping the store's orders: one at a time from the order page, or many from the orders queue.
//!
//! A shipment names a carrier, a tracking number, or both, and whether the buyer is told (the `order.mail` job).
//! In a batch every order is shipped in **its own transaction**: its status, history, audit event and mail job
//! commit together (no order is ever half-shipped), while a refusal of one — refunded meanwhile, already shipped,
//! not this store's — neither undoes the parcels that are really going out nor stops the rest; each order's outcome
//! is reported. One transaction per order also keeps SQLite's single writer free between orders.

use std::collections::HashSet;

use palisade_core::OrderId;
use palisade_store::{Db, StaffScope, StoreError};
use serde::Serialize;

use crate::error::{CommerceError, Result};
use crate::orders::{self, Order, OrderNumber, Status};

/// Most orders one batch may ship (a page of the queue holds 50).
pub const BATCH_LIMIT: usize = 100;
/// Longest carrier name kept.
pub const CARRIER_MAX: usize = 40;
/// Longest tracking number kept.
pub const TRACKING_MAX: usize = 64;

/// Whether the buyer gets the "your order has shipped" mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Buyer,
    Quiet,
}

/// How an order goes out: a carrier, a tracking number, or both (checked when made).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    carrier: Option<String>,
    tracking: Option<String>,
    notify: Notify,
}

fn field(text: &str, what: &str, max: usize) -> Result<Option<String>> {
    let t = text.trim();
    if t.chars().count() > max || t.chars().any(char::is_control) {
        return Err(CommerceError::Invalid(format!("a {what} is one line of at most {max} characters")));
    }
    Ok((!t.is_empty()).then(|| t.to_owned()))
}

impl Shipment {
    /// A shipment from what the merchant typed (trimmed; empty means not given).
    pub fn new(carrier: &str, tracking: &str, notify: Notify) -> Result<Shipment> {
        let carrier = field(carrier, "carrier", CARRIER_MAX)?;
        let tracking = field(tracking, "tracking number", TRACKING_MAX)?;
        if carrier.is_none() && tracking.is_none() {
            return Err(CommerceError::Invalid("shipping needs a carrier or a tracking number".into()));
        }
        Ok(Shipment { carrier, tracking, notify })
    }

    #[must_use]
    pub fn carrier(&self) -> Option<&str> {
        self.carrier.as_deref()
    }

    #[must_use]
    pub fn tracking(&self) -> Option<&str> {
        self.tracking.as_deref()
    }

    #[must_use]
    pub fn notify(&self) -> Notify {
        self.notify
    }
}

/// Ships one order of the store.
pub async fn ship(db: &Db, scope: &StaffScope, id: OrderId, shipment: &Shipment) -> Result<Order> {
    let mut tx = db.begin_write().await?;
    ship_on(&mut tx, db, scope, id, shipment).await?;
    tx.commit().await?;
    orders::get(db, scope, id).await
}

async fn ship_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    id: OrderId,
    shipment: &Shipment,
) -> Result<()> {
    let order = orders::get_on(tx, scope, id).await?;
    if order.review_state == crate::fraud::ReviewState::Held {
        return Err(CommerceError::HeldForReview);
    }
    if !order.status.can_become(Status::Shipped) {
        return Err(CommerceError::InvalidTransition(format!(
            "an order that is {} cannot be shipped",
            order.status.as_str()
        )));
    }
    // Compare-and-set on the status, as every transition: two clerks shipping at once ship it once.
    let done = sqlx::query(
        "UPDATE orders SET status = 'shipped', carrier = $1, tracking_no = $2, updated_at = $3 \
         WHERE store_id = $4 AND id = $5 AND status = $6",
    )
    .bind(shipment.carrier())
    .bind(shipment.tracking())
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .bind(order.status.as_str())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the order"));
    }
    let note = [shipment.carrier(), shipment.tracking()].into_iter().flatten().collect::<Vec<_>>().join(" ");
    orders::record(tx, db, scope, id, Some(order.status), Status::Shipped, &note).await?;
    if shipment.notify() == Notify::Buyer {
        crate::notify::queue_on(tx, db, scope, id, crate::notify::OrderMail::Shipped, 0).await?;
    }
    let facts = crate::webhooks::events::OrderFacts {
        id,
        number: order.number.0,
        status: Status::Shipped.as_str(),
        total: order.total,
        refunded_minor: order.refunded_minor,
    };
    let topic = palisade_registry::names::WebhookTopic::OrderFulfilled;
    crate::webhooks::events::order(tx, db, scope, topic, facts).await?;
    Ok(())
}

/// One selected order of a batch and how it should go out (or why the merchant's input for it was refused).
#[derive(Debug)]
pub struct BatchLine {
    pub order: OrderId,
    pub shipment: Result<Shipment>,
}

/// What happened to one order of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome", content = "reason")]
pub enum Outcome {
    Shipped,
    Skipped(String),
}

/// One line of a batch's report: the order (its number when it is the store's) and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct Reported {
    pub order: OrderId,
    pub number: Option<OrderNumber>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Ships each order of `lines` that belongs to the store and may ship, each in its own transaction, and reports
/// every line: shipped, or skipped and why. More than [`BATCH_LIMIT`] lines are refused before anything is read.
pub async fn ship_batch(db: &Db, scope: &StaffScope, lines: Vec<BatchLine>) -> Result<Vec<Reported>> {
    if lines.len() > BATCH_LIMIT {
        return Err(CommerceError::Invalid(format!("ship at most {BATCH_LIMIT} orders at a time")));
    }
    let found = statuses(db, scope, &lines).await?;
    let mut seen = HashSet::new();
    let mut report = Vec::with_capacity(lines.len());
    for line in lines {
        let current = found.iter().find(|(id, _, _)| *id == line.order);
        let number = current.map(|(_, n, _)| *n);
        let skip = |why: String| Reported { order: line.order, number, outcome: Outcome::Skipped(why) };
        let Some((_, _, status)) = current else {
            // Another store's order reads exactly as one that does not exist.
            report.push(skip("no such order in this store".into()));
            continue;
        };
        if !seen.insert(line.order) {
            report.push(skip("selected twice; shipped once at most".into()));
            continue;
        }
        if !status.can_become(Status::Shipped) {
            report.push(skip(format!("it is {}", status.as_str())));
            continue;
        }
        let outcome = match line.shipment {
            Err(e) => Outcome::Skipped(e.to_string()),
            Ok(shipment) => match ship(db, scope, line.order, &shipment).await {
                Ok(_) => Outcome::Shipped,
                Err(
                    e @ (CommerceError::InvalidTransition(_)
                    | CommerceError::ChangedMeanwhile(_)
                    | CommerceError::HeldForReview),
                ) => Outcome::Skipped(e.to_string()),
                Err(e) => {
                    tracing::error!(store.id = %scope.store_id(), order.id = %line.order, error = %e, "shipping an order of a batch failed");
                    Outcome::Skipped("it could not be saved; try it again".into())
                }
            },
        };
        report.push(Reported { order: line.order, number, outcome });
    }
    Ok(report)
}

/// The number and status of each of the store's orders among `lines` (one query; others are not returned).
async fn statuses(db: &Db, scope: &StaffScope, lines: &[BatchLine]) -> Result<Vec<(OrderId, OrderNumber, Status)>> {
    if lines.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..lines.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!("SELECT id, number, status FROM orders WHERE store_id = $1 AND id IN ({})", marks.join(", "));
    let mut q = sqlx::query_as::<_, (String, i64, String)>(sqlx::AssertSqlSafe(sql)).bind(scope.store_key());
    for line in lines {
        q = q.bind(line.order.to_string());
    }
    q.fetch_all(db.pool())
        .await?
        .into_iter()
        .map(|(id, number, status)| {
            let id =
                id.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?;
            Ok((id, OrderNumber(number), Status::parse(&status)?))
        })
        .collect()
}
