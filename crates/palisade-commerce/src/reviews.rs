//! Buyers rate completed orders (1–5 and a few words); the store's rating is the average, shown on store and
//! product pages. One review per order, so a rating always stands for a real, finished purchase.

use palisade_core::OrderId;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StoreError, StoreScope};

use crate::access::OrderAccess;
use serde::Serialize;

use crate::error::{CommerceError, Result};
use crate::orders::Status;

/// A stored review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub id: String,
    pub order_id: OrderId,
    /// The reviewer's first name (see [`reviewer_name`]).
    pub reviewer: String,
    pub rating: i64,
    pub body: String,
    pub created_at: Timestamp,
}

/// The store's rating: average and count.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub average: Option<f64>,
    pub count: i64,
}

/// The average of `count` ratings summing to `sum`, to one decimal place.
#[must_use]
pub fn average(sum: i64, count: i64) -> Option<f64> {
    (count > 0).then(|| ((sum as f64 / count as f64) * 10.0).round() / 10.0)
}

/// How a reviewer is shown: the first word of their profile name (at most 40 characters), or "A buyer" for a
/// guest, an account without a name, or a name that looks like an address. Never any part of an email.
#[must_use]
pub fn reviewer_name(display_name: Option<&str>) -> String {
    display_name
        .and_then(|n| n.split_whitespace().next())
        .filter(|first| !first.contains('@') && !first.chars().any(char::is_control))
        .map(|first| first.chars().take(40).collect())
        .unwrap_or_else(|| "A buyer".to_owned())
}

/// The profile name of the account that placed an order (none for a guest's order).
async fn buyer_name<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    e: E,
    scope: &StoreScope,
    order: OrderId,
) -> Result<Option<String>> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "SELECT a.display_name FROM orders o LEFT JOIN accounts a ON a.id = o.buyer_id WHERE o.id = $1 AND o.store_id = $2",
    )
    .bind(order.to_string())
    .bind(scope.store_key())
    .fetch_optional(e)
    .await?;
    Ok(row.and_then(|(n,)| n))
}

/// The buyer reviews a completed order of theirs (through their signed link or account).
pub async fn add(db: &Db, access: &OrderAccess, rating: i64, body: &str) -> Result<Review> {
    let (scope, order_id) = (access.scope(), access.order_id());
    if !(1..=5).contains(&rating) {
        return Err(CommerceError::Invalid("a rating is 1 to 5 stars".into()));
    }
    let body = body.trim();
    if body.chars().count() > 2000 {
        return Err(CommerceError::Invalid("a review is at most 2000 characters".into()));
    }
    let order = access.order(db).await?;
    if order.status != Status::Completed {
        return Err(CommerceError::InvalidTransition("only a completed order can be reviewed".into()));
    }
    let id = palisade_core::JobId::new().to_string();
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let inserted = sqlx::query(
        "INSERT INTO reviews (id, store_id, order_id, buyer_email, rating, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(order_id.to_string())
    .bind(&order.buyer_email)
    .bind(rating)
    .bind(body)
    .bind(now.0)
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
            return Err(CommerceError::Store(StoreError::Conflict("this order has already been reviewed".into())));
        }
        other => {
            other?;
        }
    }
    let target = format!("order:{order_id}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("review.added", &target).details(serde_json::json!({"rating": rating})),
    )
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    let reviewer = reviewer_name(buyer_name(db.pool(), scope, order_id).await?.as_deref());
    Ok(Review { id, order_id, reviewer, rating, body: body.to_owned(), created_at: now })
}

/// The store's rating.
pub async fn summary(db: &Db, scope: &StoreScope) -> Result<Summary> {
    let (sum, count): (i64, i64) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(rating), 0) AS BIGINT), COUNT(*) FROM reviews WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_one(db.pool())
            .await?;
    Ok(Summary { average: average(sum, count), count })
}

/// The store's latest reviews.
pub async fn latest(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<Review>> {
    let rows: Vec<(String, String, Option<String>, i64, String, i64)> = sqlx::query_as(
        "SELECT r.id, r.order_id, a.display_name, r.rating, r.body, r.created_at FROM reviews r \
         LEFT JOIN orders o ON o.id = r.order_id AND o.store_id = r.store_id LEFT JOIN accounts a ON a.id = o.buyer_id \
         WHERE r.store_id = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
    )
    .bind(scope.store_key())
    .bind(limit.clamp(1, 100))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, order_id, name, rating, body, at)| {
            Ok(Review {
                id,
                order_id: order_id
                    .parse()
                    .map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?,
                reviewer: reviewer_name(name.as_deref()),
                rating,
                body,
                created_at: Timestamp(at),
            })
        })
        .collect()
}

/// Whether the buyer's order already has a review.
pub async fn exists_for(db: &Db, access: &OrderAccess) -> Result<bool> {
    let (scope, order_id) = (access.scope(), access.order_id());
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM reviews WHERE store_id = $1 AND order_id = $2")
        .bind(scope.store_key())
        .bind(order_id.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}
