//! A buyer's saved shipping addresses. They belong to the account, not to a store, so every function takes the
//! signed-in buyer's id and binds it in the WHERE clause: another account's address id is "not found", never
//! read, changed or removed. Addresses are the same [`ShippingAddress`] checkout parses.

use palisade_core::time::Timestamp;
use palisade_core::{AccountId, AddressId};
use palisade_store::db::ExecuteWrite;
use palisade_store::{Db, StoreError};
use serde::Serialize;

use crate::address::{AddressFields, ShippingAddress};
use crate::error::{CommerceError, Result, stored_id};

/// Most addresses one account keeps.
pub const MAX_ADDRESSES: i64 = 10;

/// A saved address.
#[derive(Debug, Clone, Serialize)]
pub struct SavedAddress {
    pub id: AddressId,
    #[serde(flatten)]
    pub address: ShippingAddress,
    pub created_at: Timestamp,
}

type Row = (String, String, String, String, String, String, String, i64);
const COLUMNS: &str = "id, name, line1, line2, city, postcode, country, created_at";

fn from_row(r: Row) -> Result<SavedAddress> {
    let address = ShippingAddress::parse(AddressFields {
        name: &r.1,
        line1: &r.2,
        line2: &r.3,
        city: &r.4,
        postcode: &r.5,
        country: &r.6,
    })
    .map_err(|e| StoreError::Corrupt(format!("saved address: {e}")))?;
    Ok(SavedAddress { id: stored_id("address", &r.0)?, address, created_at: Timestamp(r.7) })
}

fn fields(a: &ShippingAddress) -> [String; 6] {
    let v = a.to_json();
    ["name", "line1", "line2", "city", "postcode", "country"]
        .map(|k| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned())
}

/// The buyer's addresses, oldest first (the first is the one checkout offers).
pub async fn list(db: &Db, buyer: AccountId) -> Result<Vec<SavedAddress>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM buyer_addresses WHERE account_id = $1 ORDER BY created_at, id LIMIT $2"
    )))
    .bind(buyer.to_string())
    .bind(MAX_ADDRESSES)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// One of the buyer's addresses; another account's is not found.
pub async fn get(db: &Db, buyer: AccountId, id: AddressId) -> Result<SavedAddress> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM buyer_addresses WHERE id = $1 AND account_id = $2"
    )))
    .bind(id.to_string())
    .bind(buyer.to_string())
    .fetch_optional(db.pool())
    .await?;
    row.map(from_row).transpose()?.ok_or(CommerceError::Store(StoreError::NotFound("address")))
}

/// Saves a new address for the buyer (at most [`MAX_ADDRESSES`]; the count is checked in the writing
/// transaction, so two tabs cannot both add the eleventh).
pub async fn add(db: &Db, buyer: AccountId, address: &ShippingAddress) -> Result<SavedAddress> {
    let id = AddressId::new();
    let now = db.now();
    let [name, line1, line2, city, postcode, country] = fields(address);
    let mut tx = db.begin_write().await?;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM buyer_addresses WHERE account_id = $1")
        .bind(buyer.to_string())
        .fetch_one(&mut *tx)
        .await?;
    if n >= MAX_ADDRESSES {
        return Err(CommerceError::Invalid(format!("an account keeps at most {MAX_ADDRESSES} addresses")));
    }
    sqlx::query(
        "INSERT INTO buyer_addresses (id, account_id, name, line1, line2, city, postcode, country, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
    )
    .bind(id.to_string())
    .bind(buyer.to_string())
    .bind(name)
    .bind(line1)
    .bind(line2)
    .bind(city)
    .bind(postcode)
    .bind(country)
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SavedAddress { id, address: address.clone(), created_at: now })
}

/// Replaces one of the buyer's addresses; another account's is not found (and not changed).
pub async fn update(db: &Db, buyer: AccountId, id: AddressId, address: &ShippingAddress) -> Result<()> {
    let [name, line1, line2, city, postcode, country] = fields(address);
    let done = sqlx::query(
        "UPDATE buyer_addresses SET name = $1, line1 = $2, line2 = $3, city = $4, postcode = $5, country = $6, \
         updated_at = $7 WHERE id = $8 AND account_id = $9",
    )
    .bind(name)
    .bind(line1)
    .bind(line2)
    .bind(city)
    .bind(postcode)
    .bind(country)
    .bind(db.now().0)
    .bind(id.to_string())
    .bind(buyer.to_string())
    .execute_write(db)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("address")));
    }
    Ok(())
}

/// Removes one of the buyer's addresses; another account's is not found (and stays).
pub async fn remove(db: &Db, buyer: AccountId, id: AddressId) -> Result<()> {
    let done = sqlx::query("DELETE FROM buyer_addresses WHERE id = $1 AND account_id = $2")
        .bind(id.to_string())
        .bind(buyer.to_string())
        .execute_write(db)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("address")));
    }
    Ok(())
}
