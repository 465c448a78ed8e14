//! Checkout and the order lifecycle.
//!
//! placed → paid (money held in escrow) → shipped (tracking number) → delivered → completed (escrow released to
//! the store); paid/shipped/delivered → refunded; paid/shipped/delivered → disputed → completed | refunded; placed → cancelled (payment
//! failed). Totals are computed here from the catalog: the client sends variant ids and quantities, never prices.

use palisade_core::AccountId;
use palisade_core::money::{Currency, Money};
use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::{Db, StoreError, StoreScope};
use serde::Serialize;

use crate::error::{CommerceError, Result};
use crate::payments::{Card, Charge, PaymentGateway};
use crate::{inventory, ledger};

/// An order's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Placed,
    Paid,
    Shipped,
    Delivered,
    Completed,
    Refunded,
    Disputed,
    Cancelled,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Placed => "placed",
            Status::Paid => "paid",
            Status::Shipped => "shipped",
            Status::Delivered => "delivered",
            Status::Completed => "completed",
            Status::Refunded => "refunded",
            Status::Disputed => "disputed",
            Status::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or requested status name.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "placed" => Status::Placed,
            "paid" => Status::Paid,
            "shipped" => Status::Shipped,
            "delivered" => Status::Delivered,
            "completed" => Status::Completed,
            "refunded" => Status::Refunded,
            "disputed" => Status::Disputed,
            "cancelled" => Status::Cancelled,
            other => return Err(CommerceError::Store(StoreError::Corrupt(format!("order status `{other}`")))),
        })
    }

    /// Whether the lifecycle allows `self → to`.
    #[must_use]
    pub fn can_become(self, to: Status) -> bool {
        use Status::{Cancelled, Completed, Delivered, Disputed, Paid, Placed, Refunded, Shipped};
        matches!(
            (self, to),
            (Placed, Paid | Cancelled)
                | (Paid, Shipped | Refunded | Disputed)
                | (Shipped, Delivered | Refunded | Disputed)
                | (Delivered, Completed | Refunded | Disputed)
                | (Disputed, Completed | Refunded)
        )
    }
}

/// One line of a checkout: what and how many (never a price).
#[derive(Debug, Clone)]
pub struct Line {
    pub variant_id: String,
    pub quantity: i64,
}

/// A checkout request.
#[derive(Debug)]
pub struct Checkout {
    pub buyer: Option<AccountId>,
    pub email: Email,
    pub address: serde_json::Value,
    pub lines: Vec<Line>,
    /// A retried request with the same key returns the first order instead of creating another.
    pub idempotency_key: String,
    pub card: Card,
}

/// A stored order.
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: String,
    pub store_id: String,
    pub status: Status,
    pub total: Money,
    pub subtotal: Money,
    pub shipping: Money,
    pub refunded_minor: i64,
    pub tracking_no: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub buyer_id: Option<String>,
    pub buyer_email: String,
    pub address: serde_json::Value,
}

type OrderRow = (
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<String>,
    String,
    String,
);
const ORDER_COLUMNS: &str = "id, store_id, status, currency, subtotal_minor, shipping_minor, total_minor, refunded_minor, tracking_no, card_brand, card_last4, created_at, updated_at, buyer_id, buyer_email, address";

fn order_from(r: OrderRow) -> Result<Order> {
    let c = Currency::parse(&r.3).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Order {
        id: r.0,
        store_id: r.1,
        status: Status::parse(&r.2)?,
        subtotal: Money::new(r.4, c),
        shipping: Money::new(r.5, c),
        total: Money::new(r.6, c),
        refunded_minor: r.7,
        tracking_no: r.8,
        card_brand: r.9,
        card_last4: r.10,
        created_at: Timestamp(r.11),
        updated_at: Timestamp(r.12),
        buyer_id: r.13,
        buyer_email: r.14,
        address: serde_json::from_str(&r.15).unwrap_or(serde_json::Value::Null),
    })
}

/// One of the scoped store's orders.
pub async fn get(db: &Db, scope: &StoreScope, id: &str) -> Result<Order> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND id = $2"
    )))
    .bind(scope.store_key())
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    order_from(row.ok_or(CommerceError::Store(StoreError::NotFound("order")))?)
}

async fn by_idempotency(db: &Db, scope: &StoreScope, key: &str) -> Result<Option<Order>> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND idempotency_key = $2"
    )))
    .bind(scope.store_key())
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    row.map(order_from).transpose()
}

/// The store's flat shipping rate (0 until set).
pub async fn flat_shipping(db: &Db, scope: &StoreScope) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT flat_shipping_minor FROM store_commerce WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or(0, |(v,)| v))
}

/// Sets the store's flat shipping rate.
pub async fn set_flat_shipping(db: &Db, scope: &StoreScope, minor: i64) -> Result<()> {
    scope.require_staff()?;
    if minor < 0 {
        return Err(CommerceError::Invalid("shipping must not be negative".into()));
    }
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (store_id) DO UPDATE SET flat_shipping_minor = excluded.flat_shipping_minor, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(minor)
    .bind(db.now().0)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Saves the store's settings page (flat shipping and tagline) together: both are checked before either is
/// written, and they are written in one statement, so a bad tagline can no longer leave a new shipping price
/// saved behind an error.
pub async fn set_settings(db: &Db, scope: &StoreScope, shipping_minor: i64, tagline: &str) -> Result<()> {
    scope.require_staff()?;
    if shipping_minor < 0 {
        return Err(CommerceError::Invalid("shipping must not be negative".into()));
    }
    let tagline = check_tagline(tagline)?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, tagline, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id) DO UPDATE SET flat_shipping_minor = excluded.flat_shipping_minor, \
         tagline = excluded.tagline, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(shipping_minor)
    .bind(tagline)
    .bind(db.now().0)
    .execute(db.pool())
    .await?;
    Ok(())
}

fn check_tagline(tagline: &str) -> Result<&str> {
    let tagline = tagline.trim();
    if tagline.chars().count() > 140 || tagline.chars().any(char::is_control) {
        return Err(CommerceError::Invalid("a tagline is one line of at most 140 characters".into()));
    }
    Ok(tagline)
}

/// Sets the one-line description shown under the store's name.
pub async fn set_tagline(db: &Db, scope: &StoreScope, tagline: &str) -> Result<()> {
    scope.require_staff()?;
    let tagline = check_tagline(tagline)?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, tagline, updated_at) VALUES ($1, 0, $2, $3) \
         ON CONFLICT (store_id) DO UPDATE SET tagline = excluded.tagline, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(tagline)
    .bind(db.now().0)
    .execute(db.pool())
    .await?;
    Ok(())
}

async fn record(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: &str,
    from: Option<Status>,
    to: Status,
    note: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO order_events (id, order_id, store_id, from_status, to_status, note, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(palisade_core::JobId::new().to_string())
        .bind(order)
        .bind(scope.store_key())
        .bind(from.map(Status::as_str))
        .bind(to.as_str())
        .bind(note)
        .bind(db.now().0)
        .execute(&mut *conn)
        .await?;
    let target = format!("order:{order}");
    let details = serde_json::json!({"from": from.map(Status::as_str), "to": to.as_str(), "note": note});
    audit::record_store(conn, db, scope, NewEvent::new("order.status_changed", &target).details(details)).await?;
    Ok(())
}

/// Places an order, reserves stock, charges the card and holds the money in escrow. Idempotent per key.
pub async fn checkout(db: &Db, gateway: &dyn PaymentGateway, scope: &StoreScope, req: Checkout) -> Result<Order> {
    let key = req.idempotency_key.trim();
    if key.is_empty() || key.len() > 100 {
        return Err(CommerceError::Invalid("an idempotency key of 1–100 characters is required".into()));
    }
    if let Some(existing) = by_idempotency(db, scope, key).await? {
        return Ok(existing);
    }
    if req.lines.is_empty() || req.lines.len() > 50 {
        return Err(CommerceError::Invalid("an order has 1 to 50 lines".into()));
    }
    let store = palisade_store::tenancy::get_store(db, scope).await?;
    let currency = Currency::parse(&store.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let shipping = flat_shipping(db, scope).await?;
    let id = palisade_core::JobId::new().to_string();
    let now = db.now().0;

    let mut tx = db.begin_write().await?;
    let mut subtotal: i64 = 0;
    let mut items = Vec::with_capacity(req.lines.len());
    for line in &req.lines {
        let row: Option<(String, i64, String, String)> = sqlx::query_as(
            "SELECT v.sku, v.price_minor, v.currency, p.title FROM variants v JOIN products p ON p.id = v.product_id \
             WHERE v.store_id = $1 AND v.id = $2 AND p.status = 'published'",
        )
        .bind(scope.store_key())
        .bind(&line.variant_id)
        .fetch_optional(&mut *tx)
        .await?;
        let (sku, price, vcur, title) = row.ok_or(CommerceError::Store(StoreError::NotFound("product variant")))?;
        if vcur != currency.code() {
            return Err(CommerceError::CurrencyMismatch(format!("{sku} is priced in {vcur}")));
        }
        inventory::reserve_on(&mut tx, scope, &line.variant_id, line.quantity).await?;
        let line_total =
            price.checked_mul(line.quantity).ok_or_else(|| CommerceError::Invalid("order total too large".into()))?;
        subtotal =
            subtotal.checked_add(line_total).ok_or_else(|| CommerceError::Invalid("order total too large".into()))?;
        items.push((sku, title, price, line.quantity, line.variant_id.clone()));
    }
    let total = subtotal.checked_add(shipping).ok_or_else(|| CommerceError::Invalid("order total too large".into()))?;
    let inserted = sqlx::query(
        "INSERT INTO orders (id, store_id, buyer_id, buyer_email, status, currency, subtotal_minor, shipping_minor, total_minor, \
         address, idempotency_key, created_at, updated_at) VALUES ($1, $2, $3, $4, 'placed', $5, $6, $7, $8, $9, $10, $11, $11)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(req.buyer.map(|b| b.to_string()))
    .bind(req.email.as_str())
    .bind(currency.code())
    .bind(subtotal)
    .bind(shipping)
    .bind(total)
    .bind(req.address.to_string())
    .bind(key)
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(d)) = &inserted
        && d.is_unique_violation()
    {
        // A concurrent retry with the same key won the race: give back its order (our reservations roll back).
        drop(tx);
        return by_idempotency(db, scope, key).await?.ok_or(CommerceError::Store(StoreError::NotFound("order")));
    }
    inserted?;
    for (sku, title, price, qty, variant) in &items {
        sqlx::query(
            "INSERT INTO order_items (id, order_id, store_id, variant_id, sku, title, unit_price_minor, quantity) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(palisade_core::JobId::new().to_string())
        .bind(&id)
        .bind(scope.store_key())
        .bind(variant)
        .bind(sku)
        .bind(title)
        .bind(price)
        .bind(qty)
        .execute(&mut *tx)
        .await?;
    }
    record(&mut tx, db, scope, &id, None, Status::Placed, "order placed").await?;
    tx.commit().await?;

    let charge = gateway.charge(Money::new(total, currency), &req.card, &format!("{}:{key}", scope.store_key())).await;
    let mut tx = db.begin_write().await?;
    match charge {
        Ok(Charge::Approved { reference, brand, last4 }) => {
            sqlx::query("UPDATE orders SET status = 'paid', card_brand = $1, card_last4 = $2, payment_ref = $3, updated_at = $4 WHERE id = $5")
                .bind(&brand)
                .bind(&last4)
                .bind(&reference)
                .bind(db.now().0)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            record(
                &mut tx,
                db,
                scope,
                &id,
                Some(Status::Placed),
                Status::Paid,
                &format!("paid by {brand} ending {last4}"),
            )
            .await?;
            ledger::capture_on(&mut tx, db, scope, &id, Money::new(total, currency)).await?;
            tx.commit().await?;
        }
        Ok(Charge::Declined { reason }) => {
            for (_, _, _, qty, variant) in &items {
                inventory::restock_on(&mut tx, scope, variant, *qty).await?;
            }
            sqlx::query("UPDATE orders SET status = 'cancelled', updated_at = $1 WHERE id = $2")
                .bind(db.now().0)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            record(
                &mut tx,
                db,
                scope,
                &id,
                Some(Status::Placed),
                Status::Cancelled,
                &format!("payment declined: {reason}"),
            )
            .await?;
            tx.commit().await?;
        }
        Err(e) => {
            tracing::error!(order.id = %id, error = %e, "payment gateway failed; order stays placed");
            return Err(CommerceError::Invalid(
                "the payment could not be processed; nothing was charged, try again".into(),
            ));
        }
    }
    get(db, scope, &id).await
}

/// Moves an order along its lifecycle, checking the transition; money moves with it (release, refund).
pub async fn transition(
    db: &Db,
    scope: &StoreScope,
    id: &str,
    to: Status,
    tracking_no: Option<&str>,
    fee_minor: i64,
) -> Result<Order> {
    scope.require_staff()?;
    let mut tx = db.begin_write().await?;
    transition_on(&mut tx, db, scope, id, to, tracking_no, fee_minor).await?;
    tx.commit().await?;
    get(db, scope, id).await
}

async fn get_on(conn: &mut sqlx::AnyConnection, scope: &StoreScope, id: &str) -> Result<Order> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND id = $2"
    )))
    .bind(scope.store_key())
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    order_from(row.ok_or(CommerceError::Store(StoreError::NotFound("order")))?)
}

/// [`transition`] inside the caller's transaction (disputes decide and move the order together).
pub async fn transition_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    id: &str,
    to: Status,
    tracking_no: Option<&str>,
    fee_minor: i64,
) -> Result<()> {
    let order = get_on(tx, scope, id).await?;
    if !order.status.can_become(to) {
        return Err(CommerceError::Invalid(format!(
            "an order that is {} cannot become {}",
            order.status.as_str(),
            to.as_str()
        )));
    }
    if to == Status::Shipped && tracking_no.is_none_or(|t| t.trim().is_empty() || t.len() > 64) {
        return Err(CommerceError::Invalid("shipping needs a tracking number (1–64 characters)".into()));
    }
    // Compare-and-set on the status, so two concurrent transitions cannot both apply.
    let done = sqlx::query("UPDATE orders SET status = $1, tracking_no = COALESCE($2, tracking_no), updated_at = $3 WHERE store_id = $4 AND id = $5 AND status = $6")
        .bind(to.as_str())
        .bind(tracking_no.map(str::trim))
        .bind(db.now().0)
        .bind(scope.store_key())
        .bind(id)
        .bind(order.status.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::Invalid("the order changed meanwhile; reload and try again".into()));
    }
    record(tx, db, scope, id, Some(order.status), to, tracking_no.unwrap_or("")).await?;
    // Money moves in the same transaction as the status: both happen or neither.
    match to {
        Status::Completed => {
            ledger::release_on(tx, db, scope, id, order.total.currency, fee_minor).await?;
        }
        Status::Refunded => {
            let held = ledger::held_on(tx, scope, id).await?;
            if held > 0 {
                ledger::refund_on(tx, db, scope, id, Money::new(held, order.total.currency)).await?;
                sqlx::query("UPDATE orders SET refunded_minor = refunded_minor + $1 WHERE id = $2")
                    .bind(held)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A partial refund from escrow while the order is still held (paid, shipped, delivered or disputed). Refunding
/// everything still held makes the order `refunded`.
pub async fn refund(db: &Db, scope: &StoreScope, id: &str, amount_minor: i64, note: &str) -> Result<Order> {
    scope.require_staff()?;
    if amount_minor <= 0 {
        return Err(CommerceError::Invalid("a refund must be a positive amount".into()));
    }
    let mut tx = db.begin_write().await?;
    let order = get_on(&mut tx, scope, id).await?;
    if !order.status.can_become(Status::Refunded) {
        return Err(CommerceError::Invalid(format!("an order that is {} cannot be refunded", order.status.as_str())));
    }
    let held = ledger::held_on(&mut tx, scope, id).await?;
    if amount_minor > held {
        return Err(CommerceError::Invalid(format!(
            "only {} is still held for this order",
            Money::new(held, order.total.currency)
        )));
    }
    if amount_minor == held {
        transition_on(&mut tx, db, scope, id, Status::Refunded, None, 0).await?;
    } else {
        ledger::refund_on(&mut tx, db, scope, id, Money::new(amount_minor, order.total.currency)).await?;
        sqlx::query(
            "UPDATE orders SET refunded_minor = refunded_minor + $1, updated_at = $2 WHERE store_id = $3 AND id = $4",
        )
        .bind(amount_minor)
        .bind(db.now().0)
        .bind(scope.store_key())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let target = format!("order:{id}");
        let details = serde_json::json!({"amount_minor": amount_minor, "note": note});
        audit::record_store(&mut tx, db, scope, NewEvent::new("order.partially_refunded", &target).details(details))
            .await?;
    }
    tx.commit().await?;
    get(db, scope, id).await
}

/// One line of a stored order.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub variant_id: String,
    pub sku: String,
    pub title: String,
    pub unit_price_minor: i64,
    pub quantity: i64,
}

/// The order's lines.
pub async fn items(db: &Db, scope: &StoreScope, id: &str) -> Result<Vec<Item>> {
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT variant_id, sku, title, unit_price_minor, quantity FROM order_items WHERE store_id = $1 AND order_id = $2 ORDER BY sku",
    )
    .bind(scope.store_key())
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(variant_id, sku, title, unit_price_minor, quantity)| Item {
            variant_id,
            sku,
            title,
            unit_price_minor,
            quantity,
        })
        .collect())
}

/// One step of an order's history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub from: Option<String>,
    pub to: String,
    pub note: String,
    pub at: Timestamp,
}

/// The order's history, oldest first.
pub async fn events(db: &Db, scope: &StoreScope, id: &str) -> Result<Vec<Event>> {
    let rows: Vec<(Option<String>, String, String, i64)> = sqlx::query_as(
        "SELECT from_status, to_status, note, at FROM order_events WHERE store_id = $1 AND order_id = $2 ORDER BY at, id",
    )
    .bind(scope.store_key())
    .bind(id)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(from, to, note, at)| Event { from, to, note, at: Timestamp(at) }).collect())
}

/// The store's orders, newest first, optionally of one status.
pub async fn list(db: &Db, scope: &StoreScope, status: Option<Status>, limit: i64, offset: i64) -> Result<Vec<Order>> {
    scope.require_staff()?;
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND ($2 IS NULL OR status = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(scope.store_key())
    .bind(status.map(Status::as_str))
    .bind(limit.clamp(1, 200))
    .bind(offset.max(0))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(order_from).collect()
}

/// Counts of the store's orders by status (for the admin dashboard).
pub async fn counts(db: &Db, scope: &StoreScope) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as("SELECT status, COUNT(*) FROM orders WHERE store_id = $1 GROUP BY status ORDER BY status")
        .bind(scope.store_key())
        .fetch_all(db.pool())
        .await?)
}

/// A buyer's orders in every store, newest first. Buyers are platform accounts, so this is keyed by the
/// account rather than by a store scope; each order then opens in its own store's scope.
pub async fn for_buyer(db: &Db, buyer: AccountId, limit: i64) -> Result<Vec<Order>> {
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE buyer_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
    )))
    .bind(buyer.to_string())
    .bind(limit.clamp(1, 200))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(order_from).collect()
}

/// The store an order belongs to (for opening a buyer's order link in the right scope).
pub async fn store_of(db: &Db, id: &str) -> Result<Option<palisade_core::StoreId>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT store_id FROM orders WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
    row.map(|(s,)| s.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()).into()))
        .transpose()
}

/// Buyer protection ends: delivered orders nobody disputed within `after` are completed and their escrow
/// released (the `escrow.auto_release` job). Returns how many were completed.
pub async fn auto_release(db: &Db, after: std::time::Duration, fee_minor: i64) -> Result<usize> {
    let cutoff = db.now().minus(after).0;
    let due: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.id, o.store_id FROM orders o WHERE o.status = 'delivered' AND \
         (SELECT MAX(e.at) FROM order_events e WHERE e.order_id = o.id AND e.to_status = 'delivered') <= $1 \
         ORDER BY o.id LIMIT 500",
    )
    .bind(cutoff)
    .fetch_all(db.pool())
    .await?;
    let mut done = 0;
    for (order, store) in due {
        let store_id = store.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()))?;
        let scope = StoreScope::system(store_id, "job:escrow.auto_release");
        match transition(db, &scope, &order, Status::Completed, None, fee_minor).await {
            Ok(_) => done += 1,
            // Another node, or the buyer, got there first: nothing to do.
            Err(CommerceError::Invalid(reason)) => tracing::info!(order.id = %order, %reason, "auto-release skipped"),
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Checks that a shopper's scope may act on `order`: a signed-in buyer only on their own orders. A guest scope
/// is made by the storefront only after it has checked the order's signed link.
fn check_buyer(scope: &StoreScope, order: &Order) -> Result<()> {
    match scope.actor() {
        palisade_store::scope::Actor::Shopper(Some(buyer)) if order.buyer_id.as_deref() != Some(&buyer.to_string()) => {
            Err(CommerceError::Store(StoreError::NotFound("order")))
        }
        _ => Ok(()),
    }
}

/// An order as its buyer may see it (signed in as the buyer, or holding the order's link).
pub async fn get_for_buyer(db: &Db, scope: &StoreScope, id: &str) -> Result<Order> {
    let order = get(db, scope, id).await?;
    check_buyer(scope, &order)?;
    Ok(order)
}

/// The buyer confirms the parcel arrived: the order completes and the escrow is released to the store at once
/// (a shipped order passes through delivered in the same transaction).
pub async fn confirm_received(db: &Db, scope: &StoreScope, id: &str, fee_minor: i64) -> Result<Order> {
    let order = get_for_buyer(db, scope, id).await?;
    let mut tx = db.begin_write().await?;
    if order.status == Status::Shipped {
        transition_on(&mut tx, db, scope, id, Status::Delivered, None, 0).await?;
    }
    transition_on(&mut tx, db, scope, id, Status::Completed, None, fee_minor).await?;
    tx.commit().await?;
    get(db, scope, id).await
}
