//! The shopper's cart: found by the hash of a random cookie token (guests and buyers alike), holding variants
//! from any number of stores. Prices are never stored here: every view reads them from the catalog, and
//! checkout makes one order per store.

use palisade_core::money::{Currency, Money};
use palisade_core::{AccountId, ImageId, VariantId};
use palisade_store::db::ExecuteWrite;
use palisade_store::{Db, StoreError};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{CommerceError, Result, stored_id};

/// Most of one variant in a cart.
pub const MAX_QUANTITY: i64 = 99;
/// Most distinct variants in a cart.
pub const MAX_LINES: i64 = 50;

/// A cart the request holds the cookie of. Made only by [`create`] and [`find`] (which looks the cookie's token up
/// by its hash), so the cart functions cannot be pointed at someone else's cart by a bare id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartId(String);

impl CartId {
    /// The cart's id (not a secret: it opens nothing without the cookie's token).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new, empty cart: its id and the token for the shopper's cookie (only its hash is stored).
pub async fn create(db: &Db) -> Result<(CartId, String)> {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let id = palisade_core::JobId::new().to_string();
    let now = db.now().0;
    sqlx::query("INSERT INTO carts (id, token_hash, buyer_id, created_at, updated_at) VALUES ($1, $2, NULL, $3, $3)")
        .bind(&id)
        .bind(hash(&token))
        .bind(now)
        .execute_write(db)
        .await?;
    Ok((CartId(id), token))
}

/// The guest cart a cookie token opens, if it exists. An account's cart is never opened by a cookie (after
/// signing out, the browser's cookie opens nothing of the account): see [`of_buyer`].
pub async fn find(db: &Db, token: &str) -> Result<Option<CartId>> {
    if token.len() != 64 {
        return Ok(None);
    }
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM carts WHERE token_hash = $1 AND buyer_id IS NULL")
        .bind(hash(token))
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(id,)| CartId(id)))
}

/// The signed-in buyer's cart, if they have one (the cart follows the account from device to device).
pub async fn of_buyer(db: &Db, buyer: AccountId) -> Result<Option<CartId>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM carts WHERE buyer_id = $1")
        .bind(buyer.to_string())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(id,)| CartId(id)))
}

/// The signed-in buyer's cart, made if they have none yet (one per account: a unique index, so two first adds
/// at once share one cart). Its token is random and never handed out: only the account opens it.
pub async fn open_for_buyer(db: &Db, buyer: AccountId) -> Result<CartId> {
    let mut tx = db.begin_write().await?;
    let id = buyer_cart_on(&mut tx, db, buyer).await?;
    tx.commit().await?;
    Ok(id)
}

async fn buyer_cart_on(tx: &mut palisade_store::db::WriteTx, db: &Db, buyer: AccountId) -> Result<CartId> {
    let existing: Option<(String,)> = sqlx::query_as("SELECT id FROM carts WHERE buyer_id = $1")
        .bind(buyer.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    if let Some((id,)) = existing {
        return Ok(CartId(id));
    }
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let id = palisade_core::JobId::new().to_string();
    let now = db.now().0;
    sqlx::query("INSERT INTO carts (id, token_hash, buyer_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)")
        .bind(&id)
        .bind(hash(&hex::encode(raw)))
        .bind(buyer.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(CartId(id))
}

/// What a merge did, for the page that follows sign-in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Lines of the guest cart added to the account's cart.
    pub lines: usize,
    /// Lines whose quantity was cut to the stock left (or to [`MAX_QUANTITY`]), or left out for lack of room.
    pub capped: usize,
}

type GuestLine = (String, String, i64, i64);

/// At sign-in: moves the lines of the browser's guest cart into the buyer's own cart, in one transaction.
/// Quantities of the same variant are added, capped by the stock left and [`MAX_QUANTITY`] (what the account's
/// cart already held is never reduced); lines of products no longer on sale are dropped; the store of each line
/// is read from the catalog, not from the guest cart. The guest cart is deleted. A cart that already belongs to
/// an account (this one or another) is never merged from.
pub async fn merge_into_buyer(db: &Db, guest: &CartId, buyer: AccountId) -> Result<(CartId, Merged)> {
    let mut tx = db.begin_write().await?;
    let target = buyer_cart_on(&mut tx, db, buyer).await?;
    let is_guest: Option<(String,)> = sqlx::query_as("SELECT id FROM carts WHERE id = $1 AND buyer_id IS NULL")
        .bind(guest.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if is_guest.is_none() || guest == &target {
        tx.commit().await?;
        return Ok((target, Merged::default()));
    }
    let lines: Vec<GuestLine> = sqlx::query_as(
        "SELECT v.id, v.store_id, ci.quantity, v.stock FROM cart_items ci JOIN variants v ON v.id = ci.variant_id \
         JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = v.store_id \
         WHERE ci.cart_id = $1 AND p.status = 'published' AND s.status = 'active' ORDER BY ci.added_at, v.id",
    )
    .bind(guest.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut merged = Merged::default();
    for (variant, store, quantity, stock) in lines {
        if merge_line(&mut tx, db, &target, (&variant, &store), quantity, stock).await? {
            merged.lines += 1;
        } else {
            merged.capped += 1;
        }
    }
    sqlx::query("DELETE FROM carts WHERE id = $1 AND buyer_id IS NULL").bind(guest.as_str()).execute(&mut *tx).await?;
    sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2")
        .bind(db.now().0)
        .bind(target.as_str())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((target, merged))
}

/// Adds one guest line to the account's cart; whether it went in whole (false: cut or left out).
async fn merge_line(
    tx: &mut palisade_store::db::WriteTx,
    db: &Db,
    target: &CartId,
    (variant, store): (&str, &str),
    quantity: i64,
    stock: i64,
) -> Result<bool> {
    let held: Option<(i64,)> = sqlx::query_as("SELECT quantity FROM cart_items WHERE cart_id = $1 AND variant_id = $2")
        .bind(target.as_str())
        .bind(variant)
        .fetch_optional(&mut **tx)
        .await?;
    let had = held.map_or(0, |(q,)| q);
    let wanted = had.saturating_add(quantity);
    let total = wanted.min(MAX_QUANTITY).min(stock.max(had));
    if held.is_none() {
        let (lines,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cart_items WHERE cart_id = $1")
            .bind(target.as_str())
            .fetch_one(&mut **tx)
            .await?;
        if total < 1 || lines >= MAX_LINES {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO cart_items (cart_id, store_id, variant_id, quantity, added_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(target.as_str())
        .bind(store)
        .bind(variant)
        .bind(total)
        .bind(db.now().0)
        .execute(&mut **tx)
        .await?;
    } else if total != had {
        sqlx::query("UPDATE cart_items SET quantity = $1 WHERE cart_id = $2 AND variant_id = $3")
            .bind(total)
            .bind(target.as_str())
            .bind(variant)
            .execute(&mut **tx)
            .await?;
    }
    Ok(total == wanted)
}

/// Adds `quantity` of a published variant (summing with what is already there, up to the maximum).
pub async fn add(db: &Db, cart: &CartId, variant: VariantId, quantity: i64) -> Result<()> {
    let variant = variant.to_string();
    let cart = cart.as_str();
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(CommerceError::Invalid(format!("quantity must be 1 to {MAX_QUANTITY}")));
    }
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT v.store_id FROM variants v JOIN products p ON p.id = v.product_id JOIN stores s ON s.id = v.store_id \
         WHERE v.id = $1 AND p.status = 'published' AND s.status = 'active'",
    )
    .bind(&variant)
    .fetch_optional(db.pool())
    .await?;
    let (store,) = row.ok_or(CommerceError::Store(StoreError::NotFound("product variant")))?;
    let mut tx = db.begin_write().await?;
    let (lines,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM cart_items WHERE cart_id = $1 AND variant_id <> $2")
        .bind(cart)
        .bind(&variant)
        .fetch_one(&mut *tx)
        .await?;
    if lines >= MAX_LINES {
        return Err(CommerceError::Invalid(format!("a cart holds at most {MAX_LINES} different items")));
    }
    let now = db.now().0;
    sqlx::query(
        "INSERT INTO cart_items (cart_id, store_id, variant_id, quantity, added_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (cart_id, variant_id) DO UPDATE SET quantity = CASE WHEN cart_items.quantity + excluded.quantity > $6 \
         THEN $6 ELSE cart_items.quantity + excluded.quantity END",
    )
    .bind(cart)
    .bind(&store)
    .bind(&variant)
    .bind(quantity)
    .bind(now)
    .bind(MAX_QUANTITY)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    touch(db, cart).await
}

async fn touch(db: &Db, cart: &str) -> Result<()> {
    sqlx::query("UPDATE carts SET updated_at = $1 WHERE id = $2").bind(db.now().0).bind(cart).execute_write(db).await?;
    Ok(())
}

/// Sets a line's quantity; 0 removes it.
pub async fn set_quantity(db: &Db, cart: &CartId, variant: VariantId, quantity: i64) -> Result<()> {
    let variant = variant.to_string();
    let cart = cart.as_str();
    if !(0..=MAX_QUANTITY).contains(&quantity) {
        return Err(CommerceError::Invalid(format!("quantity must be 0 to {MAX_QUANTITY}")));
    }
    if quantity == 0 {
        sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND variant_id = $2")
            .bind(cart)
            .bind(&variant)
            .execute_write(db)
            .await?;
    } else {
        let done = sqlx::query("UPDATE cart_items SET quantity = $1 WHERE cart_id = $2 AND variant_id = $3")
            .bind(quantity)
            .bind(cart)
            .bind(&variant)
            .execute_write(db)
            .await?;
        if done.rows_affected() != 1 {
            return Err(CommerceError::Store(StoreError::NotFound("cart line")));
        }
    }
    touch(db, cart).await
}

/// Empties the lines of one store (after its order was placed).
pub async fn clear_store(db: &Db, cart: &CartId, store: &str) -> Result<()> {
    let cart = cart.as_str();
    sqlx::query("DELETE FROM cart_items WHERE cart_id = $1 AND store_id = $2")
        .bind(cart)
        .bind(store)
        .execute_write(db)
        .await?;
    Ok(())
}

/// One line with today's price.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub variant_id: VariantId,
    pub product_slug: String,
    pub title: String,
    pub sku: String,
    pub options: serde_json::Value,
    pub unit_price: Money,
    pub quantity: i64,
    pub line_total: Money,
    pub available: i64,
    pub image_id: Option<ImageId>,
}

/// The lines of one store, with its shipping and total.
#[derive(Debug, Clone, Serialize)]
pub struct StoreGroup {
    pub store_id: String,
    pub store_slug: String,
    pub store_name: String,
    pub lines: Vec<Line>,
    pub subtotal: Money,
    pub shipping: Money,
    pub total: Money,
}

/// The whole cart, grouped by store.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub groups: Vec<StoreGroup>,
    pub items: i64,
}

type LineRow =
    (String, String, String, String, String, String, String, String, i64, String, i64, i64, Option<String>, i64);

/// The cart as it stands, priced from the catalog now. Lines whose product was unpublished drop out.
pub async fn view(db: &Db, cart: &CartId) -> Result<View> {
    let cart = cart.as_str();
    let rows: Vec<LineRow> = sqlx::query_as(
        "SELECT s.id, s.slug, s.name, v.id, p.slug, p.title, v.sku, v.options, v.price_minor, v.currency, ci.quantity, v.stock, \
         (SELECT i.id FROM product_images i WHERE i.product_id = p.id ORDER BY i.position, i.id LIMIT 1), \
         COALESCE((SELECT c.flat_shipping_minor FROM store_commerce c WHERE c.store_id = s.id), 0) \
         FROM cart_items ci JOIN variants v ON v.id = ci.variant_id JOIN products p ON p.id = v.product_id \
         JOIN stores s ON s.id = ci.store_id \
         WHERE ci.cart_id = $1 AND p.status = 'published' AND s.status = 'active' ORDER BY s.name, ci.added_at, v.id",
    )
    .bind(cart)
    .fetch_all(db.pool())
    .await?;
    let mut groups: Vec<StoreGroup> = Vec::new();
    let mut items = 0;
    for r in rows {
        let currency = Currency::parse(&r.9).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let line_total = r.8.checked_mul(r.10).ok_or_else(|| CommerceError::TotalTooLarge("cart"))?;
        let line = Line {
            variant_id: stored_id("variant", &r.3)?,
            product_slug: r.4,
            title: r.5,
            sku: r.6,
            options: serde_json::from_str(&r.7).unwrap_or(serde_json::Value::Null),
            unit_price: Money::new(r.8, currency),
            quantity: r.10,
            line_total: Money::new(line_total, currency),
            available: r.11,
            image_id: r.12.as_deref().map(|i| stored_id("image", i)).transpose()?,
        };
        items += line.quantity;
        let fresh = groups.last().is_none_or(|g| g.store_id != r.0);
        if fresh {
            groups.push(StoreGroup {
                store_id: r.0,
                store_slug: r.1,
                store_name: r.2,
                lines: Vec::new(),
                subtotal: Money::new(0, currency),
                shipping: Money::new(r.13, currency),
                total: Money::new(0, currency),
            });
        }
        if let Some(g) = groups.last_mut() {
            g.subtotal.minor = g
                .subtotal
                .minor
                .checked_add(line.line_total.minor)
                .ok_or_else(|| CommerceError::TotalTooLarge("cart"))?;
            g.total.minor = g.subtotal.minor.saturating_add(g.shipping.minor);
            g.lines.push(line);
        }
    }
    Ok(View { groups, items })
}

/// How many items the cart holds (for the header badge).
pub async fn count(db: &Db, cart: &CartId) -> Result<i64> {
    let cart = cart.as_str();
    let (n,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) FROM cart_items WHERE cart_id = $1")
            .bind(cart)
            .fetch_one(db.pool())
            .await?;
    Ok(n)
}
