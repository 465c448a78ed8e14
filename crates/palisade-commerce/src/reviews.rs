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
    /// The buyer's address with the local part shortened (`m***@example.com`), never the whole address.
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

fn masked(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
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
    Ok(Review { id, order_id, reviewer: masked(&order.buyer_email), rating, body: body.to_owned(), created_at: now })
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
    let rows: Vec<(String, String, String, i64, String, i64)> = sqlx::query_as(
        "SELECT id, order_id, buyer_email, rating, body, created_at FROM reviews WHERE store_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(scope.store_key())
    .bind(limit.clamp(1, 100))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(id, order_id, email, rating, body, at)| {
            Ok(Review {
                id,
                order_id: order_id
                    .parse()
                    .map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?,
                reviewer: masked(&email),
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
