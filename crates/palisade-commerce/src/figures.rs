//! What the merchant's orders queue and store dashboard count: orders waiting on the store, and sales by day.
//! Staff-only figures ([`StaffScope`]); every query is bound to the store.

use palisade_core::money::{Currency, Money};
use palisade_core::time::Timestamp;
use palisade_store::{Db, StaffScope};
use serde::Serialize;

use crate::error::Result;
use crate::orders::Status;

/// A day in milliseconds (days are UTC days).
pub const DAY_MS: i64 = 86_400_000;

/// The queue's counts: what is waiting on the store and what is out of its hands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// Paid and not shipped yet.
    pub to_ship: i64,
    /// Shipped, awaiting delivery.
    pub shipped: i64,
    pub disputed: i64,
    pub refunded: i64,
}

impl QueueCounts {
    /// The status each count filters the list by, with its count (in the queue's order).
    #[must_use]
    pub fn filters(&self) -> [(Status, i64); 4] {
        [
            (Status::Paid, self.to_ship),
            (Status::Shipped, self.shipped),
            (Status::Disputed, self.disputed),
            (Status::Refunded, self.refunded),
        ]
    }
}

/// The store's queue counts, in one query.
pub async fn queue_counts(db: &Db, scope: &StaffScope) -> Result<QueueCounts> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM orders WHERE store_id = $1 \
         AND status IN ('paid', 'shipped', 'disputed', 'refunded') GROUP BY status",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    let mut c = QueueCounts::default();
    for (status, n) in rows {
        match Status::parse(&status)? {
            Status::Paid => c.to_ship = n,
            Status::Shipped => c.shipped = n,
            Status::Disputed => c.disputed = n,
            Status::Refunded => c.refunded = n,
            _ => {}
        }
    }
    Ok(c)
}

/// One day's sales.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaySales {
    /// Midnight (UTC) starting the day.
    pub day: Timestamp,
    /// The day as people read it: "Mon 3 Nov".
    pub label: String,
    /// Paid orders placed that day.
    pub orders: i64,
    /// Their totals, before any refund.
    pub total: Money,
}

/// The start (UTC midnight) of the day holding `t`.
#[must_use]
pub fn day_start(t: Timestamp) -> Timestamp {
    Timestamp(t.0 - t.0.rem_euclid(DAY_MS))
}

/// Sales of the `days` UTC days ending with today (oldest first, a zero for a day without any): orders placed
/// those days that were paid — whatever happened to them since (shipped, refunded, disputed …) — and their totals
/// in the store's `currency`, before refunds. Orders never paid (placed, cancelled) are not sales.
pub async fn sales_by_day(db: &Db, scope: &StaffScope, currency: Currency, days: u32) -> Result<Vec<DaySales>> {
    let days = i64::from(days.clamp(1, 90));
    let from = day_start(db.now()).0 - (days - 1) * DAY_MS;
    let to = from + days * DAY_MS;
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (created_at - $2) / 86400000, COUNT(*), CAST(SUM(total_minor) AS BIGINT) FROM orders \
         WHERE store_id = $1 AND created_at >= $2 AND created_at < $3 AND currency = $4 \
         AND status NOT IN ('placed', 'cancelled') GROUP BY 1",
    )
    .bind(scope.store_key())
    .bind(from)
    .bind(to)
    .bind(currency.code())
    .fetch_all(db.pool())
    .await?;
    Ok((0..days)
        .map(|d| {
            let (orders, total) = rows.iter().find(|r| r.0 == d).map_or((0, 0), |r| (r.1, r.2));
            let day = Timestamp(from + d * DAY_MS);
            let label = day.to_datetime().map(|t| t.format("%a %-d %b").to_string()).unwrap_or_default();
            DaySales { day, label, orders, total: Money::new(total, currency) }
        })
        .collect())
}
