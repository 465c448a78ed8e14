//! Stock that is never oversold: a reservation is one conditional UPDATE (`stock >= qty`), so of any number of
//! concurrent checkouts for the last units, exactly as many succeed as there are units — on SQLite (one writer)
//! and on PostgreSQL (the row lock taken by the UPDATE) alike.

use palisade_core::VariantId;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};

use crate::error::{CommerceError, Result};

/// Takes `qty` units of a variant inside the caller's transaction (the order that needs them commits with it).
pub(crate) async fn reserve_on(
    conn: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    variant: VariantId,
    qty: i64,
) -> Result<()> {
    if qty <= 0 || qty > 10_000 {
        return Err(CommerceError::Invalid("quantity must be between 1 and 10 000".into()));
    }
    let done = sqlx::query("UPDATE variants SET stock = stock - $1 WHERE store_id = $2 AND id = $3 AND stock >= $1")
        .bind(qty)
        .bind(scope.store_key())
        .bind(variant.to_string())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        return Ok(());
    }
    let left: Option<(i64,)> = sqlx::query_as("SELECT stock FROM variants WHERE store_id = $1 AND id = $2")
        .bind(scope.store_key())
        .bind(variant.to_string())
        .fetch_optional(&mut *conn)
        .await?;
    match left {
        Some((available,)) => Err(CommerceError::OutOfStock { available }),
        None => Err(CommerceError::Store(StoreError::NotFound("variant"))),
    }
}

/// Reserves in its own transaction.
pub async fn reserve(db: &Db, scope: &StaffScope, variant: VariantId, qty: i64) -> Result<()> {
    let mut tx = db.begin_write().await?;
    reserve_on(&mut tx, scope, variant, qty).await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// Puts units back (a cancelled or refunded order).
pub(crate) async fn restock_on(
    conn: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    variant: VariantId,
    qty: i64,
) -> Result<()> {
    if qty <= 0 {
        return Err(CommerceError::Invalid("quantity must be positive".into()));
    }
    let done = sqlx::query("UPDATE variants SET stock = stock + $1 WHERE store_id = $2 AND id = $3")
        .bind(qty)
        .bind(scope.store_key())
        .bind(variant.to_string())
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("variant")));
    }
    Ok(())
}
