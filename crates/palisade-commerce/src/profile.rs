//! The buyer's profile as the shop uses it: the name reviews show (its first word; see
//! [`crate::reviews::reviewer_name`]).

use palisade_core::AccountId;
use palisade_store::{Db, StoreError, StoreScope};

use crate::error::{CommerceError, Result};

/// Sets the signed-in account's name (trimmed, 1 to 120 characters, control characters dropped). Store pages
/// showing the account's reviews are cached under their store's content version, so each such store is touched in
/// the same transaction: the new name shows at once, on every node.
pub async fn set_name(db: &Db, buyer: AccountId, name: &str) -> Result<String> {
    let name = palisade_core::text::display_name("name", name).map_err(|e| CommerceError::Invalid(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE accounts SET display_name = $1 WHERE id = $2")
        .bind(&name)
        .bind(buyer.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("account")));
    }
    let stores: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT r.store_id FROM reviews r JOIN orders o ON o.id = r.order_id AND o.store_id = r.store_id \
         WHERE o.buyer_id = $1 ORDER BY r.store_id",
    )
    .bind(buyer.to_string())
    .fetch_all(&mut *tx)
    .await?;
    for (store,) in stores {
        let store = crate::error::stored_id("store", &store)?;
        palisade_store::storefront::touch(&mut tx, &StoreScope::shopper(store, Some(buyer))).await?;
    }
    tx.commit().await?;
    Ok(name)
}
