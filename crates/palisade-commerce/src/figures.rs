//! What the merchant's orders queue and store dashboard count: orders waiting on the store, and sales by day.
//! Staff-only figures ([`StaffScope`]); every query is bound to the store.

use palisade_core::money::{Currency, Money};
use palisade_core::time::Timestamp;
use palisade_core::zone::StoreZone;
use palisade_store::{Db, StaffScope};
use serde::Serialize;

use crate::error::Result;
use crate::orders::Status;

/// A day in milliseconds (a local day is this long unless the clocks change that day).
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
    /// The local midnight (in the store's time zone) starting the day.
    pub day: Timestamp,
    /// The day as people read it: "Mon 3 Nov".
    pub label: String,
    /// Paid orders placed that day.
    pub orders: i64,
    /// Their totals, before any refund.
    pub total: Money,
}

/// Rows are grouped by quarter hour before they are given to days: every time zone's midnight has fallen on a
/// quarter hour since 1986, so a bucket never straddles two local days.
const BUCKET_MS: i64 = 900_000;

/// Sales of the `days` days ending with today in the store's time zone `zone` (oldest first, a zero for a day
/// without any): orders placed those days that were paid — whatever happened to them since (shipped, refunded,
/// disputed …) — and their totals in the store's `currency`, before refunds. Orders never paid (placed,
/// cancelled) are not sales. Days are local days: 23 or 25 hours long where the clocks change.
pub async fn sales_by_day(
    db: &Db,
    scope: &StaffScope,
    currency: Currency,
    zone: &StoreZone,
    days: u32,
) -> Result<Vec<DaySales>> {
    let bounds = zone.day_bounds(db.now(), days.clamp(1, 90));
    let (Some(from), Some(to)) = (bounds.first().copied(), bounds.last().copied()) else { return Ok(Vec::new()) };
    let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (created_at - $2) / 900000, COUNT(*), CAST(SUM(total_minor) AS BIGINT) FROM orders \
         WHERE store_id = $1 AND created_at >= $2 AND created_at < $3 AND currency = $4 \
         AND status NOT IN ('placed', 'cancelled') GROUP BY 1",
    )
    .bind(scope.store_key())
    .bind(from.0)
    .bind(to.0)
    .bind(currency.code())
    .fetch_all(db.pool())
    .await?;
    Ok(bounds
        .windows(2)
        .filter_map(|w| Some((*w.first()?, *w.get(1)?)))
        .map(|(start, end)| {
            let (orders, total) = rows
                .iter()
                .filter(|r| (start.0..end.0).contains(&(from.0 + r.0 * BUCKET_MS)))
                .fold((0, 0i64), |(n, t), r| (n + r.1, t.saturating_add(r.2)));
            DaySales { day: start, label: zone.day_label(start), orders, total: Money::new(total, currency) }
        })
        .collect())
}
