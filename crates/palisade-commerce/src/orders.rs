//! Checkout and the order lifecycle.
//!
//! placed → paid (money held in escrow) → shipped (tracking number) → delivered → completed (escrow released to
//! the store); paid/shipped/delivered → refunded; paid/shipped/delivered → disputed → completed | refunded; placed → cancelled (payment
//! failed). Totals are computed here from the catalog: the client sends variant ids and quantities, never prices.
//!
//! Authority: the store's side (reading orders, transitions, refunds, settings) takes a [`StaffScope`]; the
//! buyer's side (their order page, confirming receipt) takes an [`OrderAccess`], which only a verified signed link
//! or the buyer's own account can produce. Checkout takes any scope: placing an order is open to every shopper.

use palisade_core::money::{Currency, Money};
use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, OrderId, VariantId};
use palisade_registry::names::WebhookTopic;
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::Actor;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::access::OrderAccess;
use crate::error::{CommerceError, Result, stored_id};
use crate::payments::{Card, Charge, PaymentGateway};
use crate::policy::Policy;
use crate::webhooks::events::{self, OrderFacts};
use crate::{inventory, ledger};

/// An order's state.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = OrderStatus))]
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

    /// Every status, in lifecycle order (for filters and their error messages).
    pub const ALL: [Status; 8] = [
        Status::Placed,
        Status::Paid,
        Status::Shipped,
        Status::Delivered,
        Status::Completed,
        Status::Refunded,
        Status::Disputed,
        Status::Cancelled,
    ];

    /// The status with this name, if there is one. Use this for what a client sends (a `?status=` filter): an
    /// unknown name is the client's mistake, to be answered 400, not corrupt data.
    #[must_use]
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Parses a *stored* status name; an unknown one means the row is corrupt.
    pub fn parse(s: &str) -> Result<Self> {
        Self::from_name(s).ok_or_else(|| CommerceError::Store(StoreError::Corrupt(format!("order status `{s}`"))))
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
    pub variant_id: VariantId,
    pub quantity: i64,
}

/// A checkout request. The buyer is the scope's: a shopper scope with an account places that account's order.
#[derive(Debug)]
pub struct Checkout {
    /// For a guest (a shopper scope without an account): something only this sender holds, as a keyed hash made
    /// by the caller (the web layer uses an HMAC of the card under a key derived from the master key). It binds
    /// the idempotency key to the sender, so another client replaying the key gets nothing. Required for guests,
    /// ignored otherwise.
    pub guest_proof: Option<String>,
    pub email: Email,
    pub address: crate::address::ShippingAddress,
    pub lines: Vec<Line>,
    /// A retried request with the same key, from the same sender with the same content, returns the first order
    /// instead of creating another; any other reuse is refused with [`CommerceError::IdempotencyKeyReused`].
    pub idempotency_key: crate::idempotency::IdempotencyKey,
    pub card: Card,
    /// Keyed hashes of the card and address (and the GeoIP country) for fraud scoring; empty ones only weaken
    /// the velocity signals.
    pub fingerprints: crate::fraud::Fingerprints,
}

/// A stored order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize)]
pub struct Order {
    pub id: OrderId,
    pub store_id: String,
    /// The store's own number for the order, which people quote.
    pub number: OrderNumber,
    pub status: Status,
    pub total: Money,
    pub subtotal: Money,
    pub shipping: Money,
    pub refunded_minor: i64,
    /// Who carries the parcel ("SingPost", "J&T"), when the merchant said so on shipping.
    pub carrier: Option<String>,
    pub tracking_no: Option<String>,
    pub card_brand: Option<String>,
    pub card_last4: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub buyer_id: Option<String>,
    pub buyer_email: String,
    pub address: serde_json::Value,
    /// The fraud score given at checkout (0–100); none for orders placed before scoring existed. Never serialised
    /// with the order (buyers see orders: a score and its reasons would teach a fraudster what to change); staff
    /// pages take it from [`Order::risk`].
    #[serde(skip_serializing)]
    pub risk_score: Option<i64>,
    /// The score's top reasons (at most three), highest first. Not serialised: see `risk_score`.
    #[serde(skip_serializing)]
    pub risk_reasons: Vec<crate::fraud::StoredReason>,
    /// Whether the order waits for the merchant's review (a held order cannot ship). Not serialised: see
    /// `risk_score`.
    #[serde(skip_serializing)]
    pub review_state: crate::fraud::ReviewState,
}

impl Order {
    /// The fraud check's result, for the store's staff only (score, reasons, review state).
    #[must_use]
    pub fn risk(&self) -> serde_json::Value {
        serde_json::json!({"score": self.risk_score, "reasons": self.risk_reasons, "review_state": self.review_state})
    }
}

/// An `orders` row as [`ORDER_COLUMNS`] selects it (read by column name, so a query may add columns after them).
#[derive(sqlx::FromRow)]
struct OrderRow {
    id: String,
    store_id: String,
    number: i64,
    status: String,
    currency: String,
    subtotal_minor: i64,
    shipping_minor: i64,
    total_minor: i64,
    refunded_minor: i64,
    carrier: Option<String>,
    tracking_no: Option<String>,
    card_brand: Option<String>,
    card_last4: Option<String>,
    created_at: i64,
    updated_at: i64,
    buyer_id: Option<String>,
    buyer_email: String,
    address: String,
    risk_score: Option<i64>,
    risk_reasons: Option<String>,
    review_state: String,
}

const ORDER_COLUMNS: &str = "id, store_id, number, status, currency, subtotal_minor, shipping_minor, total_minor, refunded_minor, carrier, tracking_no, card_brand, card_last4, created_at, updated_at, buyer_id, buyer_email, address, risk_score, risk_reasons, review_state";

fn order_from(r: OrderRow) -> Result<Order> {
    let c = Currency::parse(&r.currency).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(Order {
        id: r.id.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?,
        store_id: r.store_id,
        number: OrderNumber(r.number),
        status: Status::parse(&r.status)?,
        subtotal: Money::new(r.subtotal_minor, c),
        shipping: Money::new(r.shipping_minor, c),
        total: Money::new(r.total_minor, c),
        refunded_minor: r.refunded_minor,
        carrier: r.carrier,
        tracking_no: r.tracking_no,
        card_brand: r.card_brand,
        card_last4: r.card_last4,
        created_at: Timestamp(r.created_at),
        updated_at: Timestamp(r.updated_at),
        buyer_id: r.buyer_id,
        buyer_email: r.buyer_email,
        address: serde_json::from_str(&r.address).unwrap_or(serde_json::Value::Null),
        risk_score: r.risk_score,
        risk_reasons: r.risk_reasons.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default(),
        review_state: crate::fraud::ReviewState::parse(&r.review_state)?,
    })
}

/// An order's number within its store (`#1001`, `#1002`, …): what buyers quote and merchants search by. Serialized
/// as the plain number; shown with its `#`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = i64, example = 1001))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct OrderNumber(pub i64);

impl std::fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl OrderNumber {
    /// What a person types for an order: `#1001`, `1001` (spaces around are ignored). `None` for anything else.
    #[must_use]
    pub fn parse(text: &str) -> Option<OrderNumber> {
        let digits = text.trim().trim_start_matches('#');
        (!digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok().map(OrderNumber))
            .flatten()
    }
}

/// One of the store's orders, for its staff.
pub async fn get(db: &Db, scope: &StaffScope, id: OrderId) -> Result<Order> {
    get_in(db, scope, id).await
}

/// An order of the scoped store, for callers that have checked the authority ([`OrderAccess`], [`get`]).
pub(crate) async fn get_in(db: &Db, scope: &StoreScope, id: OrderId) -> Result<Order> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND id = $2"
    )))
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    order_from(row.ok_or(CommerceError::Store(StoreError::NotFound("order")))?)
}

/// The order a key was used for, with the fingerprint it was bound to (none for orders placed before binding).
async fn by_idempotency(db: &Db, scope: &StoreScope, key: &str) -> Result<Option<(Order, Option<String>)>> {
    Ok(with_card(db, scope, key).await?.map(|(order, fingerprint, _)| (order, fingerprint)))
}

/// Whether the store already has an order under this idempotency key: a retry, which [`checkout`] answers with
/// that order (so nothing before it, such as an extension's checkout validation, should judge it again).
pub async fn key_used(db: &Db, scope: &StoreScope, key: &crate::idempotency::IdempotencyKey) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT id FROM orders WHERE store_id = $1 AND idempotency_key = $2")
        .bind(scope.store_key())
        .bind(key.as_str())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

/// As [`by_idempotency`], with the keyed fingerprint of the card the order was first tried with.
async fn with_card(db: &Db, scope: &StoreScope, key: &str) -> Result<Option<(Order, Option<String>, Option<String>)>> {
    let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT id, idempotency_fingerprint, card_fingerprint FROM orders WHERE store_id = $1 AND idempotency_key = $2",
    )
    .bind(scope.store_key())
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, fingerprint, card)) = row else { return Ok(None) };
    let id = id.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?;
    Ok(Some((get_in(db, scope, id).await?, fingerprint, card)))
}

/// Who sends a checkout, as bound into the idempotency fingerprint.
fn sender(scope: &StoreScope, req: &Checkout) -> Result<String> {
    match scope.actor() {
        Actor::Shopper(Some(buyer)) => Ok(format!("buyer:{buyer}")),
        Actor::Shopper(None) => match req.guest_proof.as_deref().map(str::trim) {
            Some(proof) if !proof.is_empty() => Ok(format!("guest:{proof}")),
            _ => Err(CommerceError::Invalid("a guest checkout needs proof of its sender".into())),
        },
        other => Ok(other.as_audit_text()),
    }
}

/// JSON with object keys sorted, so the same address always hashes the same whatever order it was sent in.
fn canonical(v: &serde_json::Value, out: &mut String) {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(child) = m.get(k) {
                    canonical(child, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(a) => {
            out.push('[');
            for (i, child) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(child, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// What an idempotency key is bound to: SHA-256 over a length-prefixed encoding of the sender and the request
/// (email, address, lines). The card is left out: card data are never stored, not even hashed (a guest's proof
/// is already a keyed hash made by the caller).
fn fingerprint(sender: &str, req: &Checkout) -> String {
    let mut address = String::new();
    canonical(&req.address.to_json(), &mut address);
    let mut h = Sha256::new();
    let mut field = |b: &[u8]| {
        h.update((b.len() as u64).to_be_bytes());
        h.update(b);
    };
    field(b"palisade checkout v1");
    field(sender.as_bytes());
    field(req.email.as_str().as_bytes());
    field(address.as_bytes());
    for line in &req.lines {
        // The id's text as it has always been hashed (lower-case, hyphenated), so stored fingerprints still match.
        field(line.variant_id.to_string().as_bytes());
        field(&line.quantity.to_be_bytes());
    }
    hex::encode(h.finalize())
}

/// Answers a reused key: the first order, to the same sender of the same request only.
fn replay(scope: &StoreScope, order: Order, stored: Option<&str>, fingerprint: &str) -> Result<Placed> {
    if stored != Some(fingerprint) {
        tracing::warn!(store.id = %scope.store_id(), order.id = %order.id, "idempotency key reused by another sender or with another request");
        return Err(CommerceError::IdempotencyKeyReused);
    }
    Ok(Placed { access: OrderAccess::placed(scope, order.id), order })
}

/// The store's flat shipping rate (0 until set).
pub async fn flat_shipping(db: &Db, scope: &StoreScope) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT flat_shipping_minor FROM store_commerce WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or(0, |(v,)| v))
}

/// A store's commerce settings, as its staff edit them and its storefront shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settings {
    /// Flat shipping per order, in the store's currency's minor unit (0 until set).
    pub flat_shipping_minor: i64,
    /// One line shown under the store's name ("" until set).
    pub tagline: String,
}

/// The scoped store's settings (public: the storefront shows both), in one query.
pub async fn settings(db: &Db, scope: &StoreScope) -> Result<Settings> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT flat_shipping_minor, COALESCE(tagline, '') FROM store_commerce WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    let (flat_shipping_minor, tagline) = row.unwrap_or_default();
    Ok(Settings { flat_shipping_minor, tagline })
}

/// Sets the store's flat shipping rate.
pub async fn set_flat_shipping(db: &Db, scope: &StaffScope, minor: i64) -> Result<()> {
    if minor < 0 {
        return Err(CommerceError::Invalid("shipping must not be negative".into()));
    }
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (store_id) DO UPDATE SET flat_shipping_minor = excluded.flat_shipping_minor, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(minor)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// Saves the store's settings page (flat shipping and tagline) together: both are checked before either is
/// written, and they are written in one statement, so a bad tagline can no longer leave a new shipping price
/// saved behind an error.
pub async fn set_settings(db: &Db, scope: &StaffScope, shipping_minor: i64, tagline: &str) -> Result<()> {
    if shipping_minor < 0 {
        return Err(CommerceError::Invalid("shipping must not be negative".into()));
    }
    let tagline = check_tagline(tagline)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, tagline, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id) DO UPDATE SET flat_shipping_minor = excluded.flat_shipping_minor, \
         tagline = excluded.tagline, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(shipping_minor)
    .bind(tagline)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// The store's time zone (Asia/Singapore until its staff choose one): the store's times are shown in it.
pub async fn time_zone(db: &Db, scope: &StoreScope) -> Result<palisade_core::zone::StoreZone> {
    let row: Option<(String,)> = sqlx::query_as("SELECT time_zone FROM store_commerce WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map_or_else(palisade_core::zone::StoreZone::default, |(z,)| palisade_core::zone::StoreZone::from_stored(&z)))
}

/// Sets the store's time zone (a name already checked by [`palisade_core::zone::StoreZone::parse`]).
pub async fn set_time_zone(db: &Db, scope: &StaffScope, zone: &palisade_core::zone::StoreZone) -> Result<()> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, time_zone, updated_at) VALUES ($1, 0, $2, $3) \
         ON CONFLICT (store_id) DO UPDATE SET time_zone = excluded.time_zone, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(zone.name())
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// A tagline as stored (trimmed; one line of at most 140 characters): every path that stores one calls this.
pub fn check_tagline(tagline: &str) -> Result<&str> {
    let tagline = tagline.trim();
    if tagline.chars().count() > 140 || tagline.chars().any(char::is_control) {
        return Err(CommerceError::Invalid("a tagline is one line of at most 140 characters".into()));
    }
    Ok(tagline)
}

/// Sets the one-line description shown under the store's name.
pub async fn set_tagline(db: &Db, scope: &StaffScope, tagline: &str) -> Result<()> {
    let tagline = check_tagline(tagline)?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, tagline, updated_at) VALUES ($1, 0, $2, $3) \
         ON CONFLICT (store_id) DO UPDATE SET tagline = excluded.tagline, updated_at = excluded.updated_at",
    )
    .bind(scope.store_key())
    .bind(tagline)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn record(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: OrderId,
    from: Option<Status>,
    to: Status,
    note: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO order_events (id, order_id, store_id, from_status, to_status, note, at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(palisade_core::JobId::new().to_string())
        .bind(order.to_string())
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

/// A placed order and its sender's access to it (the sender may see and act on what they just bought).
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub access: OrderAccess,
}

/// A shipping rate the buyer chose, as the platform computed it for this cart and address just now (an installed
/// extension's `shipping_rates` answer): never an amount the buyer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingChoice {
    /// Who offers it and what it is ("Express (Parcel rates)"), kept in the order's history.
    pub label: String,
    pub amount: Money,
}

/// Places an order, reserves stock, charges the card and holds the money in escrow. Idempotent per key, for the
/// same sender and request only. Shipping is the store's flat rate.
pub async fn checkout(db: &Db, gateway: &dyn PaymentGateway, scope: &StoreScope, req: Checkout) -> Result<Placed> {
    checkout_shipped(db, gateway, scope, req, None).await
}

/// [`checkout`] with the shipping the buyer chose among the rates offered now (`None`: the flat rate).
#[allow(
    clippy::too_many_lines,
    reason = "checkout reads as one sequence in one transaction: price, score and judge, number, write, then charge"
)]
pub async fn checkout_shipped(
    db: &Db,
    gateway: &dyn PaymentGateway,
    scope: &StoreScope,
    req: Checkout,
    shipping: Option<&ShippingChoice>,
) -> Result<Placed> {
    let key = req.idempotency_key.as_str();
    let sender = sender(scope, &req)?;
    let fingerprint = fingerprint(&sender, &req);
    if let Some((existing, stored, first_card)) = with_card(db, scope, key).await? {
        let placed = replay(scope, existing, stored.as_deref(), &fingerprint)?;
        return match placed.order.status {
            // The order was scored with the card it was first tried with: a retry may not pay with another one
            // (it would be charged unscored, and its velocity never counted).
            Status::Placed if first_card.is_some() && first_card != req.fingerprints.card => {
                tracing::warn!(store.id = %scope.store_id(), order.id = %placed.order.id, "idempotency key retried with another card");
                Err(CommerceError::IdempotencyKeyReused)
            }
            // A retry of a checkout whose payment was never recorded (the gateway failed or timed out): the charge is
            // asked again under the attempt's own key, which a gateway answers with the first charge if there was
            // one, so nothing is charged twice and the order does not stay unpaid with its stock held.
            Status::Placed => {
                let declined = DeclineKeys::of(&req);
                let o = &placed.order;
                settle(db, gateway, scope, (o.id, o.number.0, o.total), &req.card, key, &declined).await
            }
            // Written by a release that kept declined attempts as cancelled orders.
            Status::Cancelled => {
                Err(CommerceError::PaymentDeclined { reason: "an earlier payment with this key was declined".into() })
            }
            _ => Ok(placed),
        };
    }
    let buyer = match scope.actor() {
        Actor::Shopper(Some(buyer)) => Some(buyer),
        _ => None,
    };
    if req.lines.is_empty() || req.lines.len() > 50 {
        return Err(CommerceError::Invalid("an order has 1 to 50 lines".into()));
    }
    let store = palisade_store::tenancy::get_store(db, scope).await?;
    let currency = store.currency;
    let (shipping, shipping_note) = match shipping {
        None => (flat_shipping(db, scope).await?, String::new()),
        Some(c) if c.amount.currency != currency || c.amount.minor < 0 => {
            return Err(CommerceError::Invalid("the shipping rate is not in the store's currency".into()));
        }
        Some(c) => (c.amount.minor, format!(" · shipping: {}", c.label.chars().take(120).collect::<String>())),
    };
    let id = OrderId::new();
    let now = db.now().0;

    let mut tx = db.begin_write().await?;
    let (subtotal, items) = reserve_lines(&mut tx, scope, &req.lines, currency).await?;
    let total = subtotal.checked_add(shipping).ok_or_else(|| CommerceError::TotalTooLarge("order"))?;
    // The store's next number, in this transaction: a rollback gives it back, so refused checkouts leave no gap
    // (a declined attempt's number stays unused). Taken BEFORE scoring: the update locks the store's row until
    // this transaction ends, so the checkouts of one store are scored one after another and each counts the
    // orders committed before it. Without it, on PostgreSQL (READ COMMITTED) a burst of concurrent checkouts
    // with one card would each count the others as absent and all score a velocity of one. (SQLite's write
    // transaction already serialises them.) Taken after the stock rows, the order every checkout locks in.
    let (number,): (i64,) = sqlx::query_as(
        "UPDATE stores SET last_order_number = last_order_number + 1 WHERE id = $1 RETURNING last_order_number",
    )
    .bind(scope.store_key())
    .fetch_one(&mut *tx)
    .await?;
    // Scored and judged by the rules before anything is written or charged (issue #20).
    let attempt = crate::fraud::Attempt {
        email: req.email.as_str(),
        address: &req.address,
        fingerprints: &req.fingerprints,
        total_minor: total,
        currency,
    };
    let risk = crate::fraud::assess_on(&mut tx, db, scope, &attempt).await?;
    if risk.action == palisade_trust::Action::Block {
        // Nothing of the attempt stays: the reservations roll back, the gateway is never asked.
        drop(tx);
        crate::fraud::record_block(db, scope, &risk, total).await?;
        return Err(CommerceError::RefusedAsRisky);
    }
    let held = risk.action == palisade_trust::Action::Review;
    let inserted = sqlx::query(
        "INSERT INTO orders (id, store_id, number, buyer_id, buyer_email, status, currency, subtotal_minor, shipping_minor, \
         total_minor, address, idempotency_key, idempotency_fingerprint, created_at, updated_at, risk_score, risk_reasons, \
         risk_rule, review_state, card_fingerprint, ship_key, email_key) \
         VALUES ($1, $2, $13, $3, $4, 'placed', $5, $6, $7, $8, $9, $10, $11, $12, $12, $14, $15, $16, $17, $18, $19, $20)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(buyer.map(|b| b.to_string()))
    .bind(req.email.as_str())
    .bind(currency.code())
    .bind(subtotal)
    .bind(shipping)
    .bind(total)
    .bind(req.address.to_json().to_string())
    .bind(key)
    .bind(&fingerprint)
    .bind(now)
    .bind(number)
    .bind(i64::from(risk.score))
    .bind(risk.reasons_json())
    .bind(risk.rule.as_deref())
    .bind(if held { "held" } else { "none" })
    .bind(req.fingerprints.card.as_deref())
    .bind(req.fingerprints.address.as_deref())
    .bind(req.fingerprints.email.as_deref())
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(d)) = &inserted
        && d.is_unique_violation()
    {
        // A concurrent request with the same key won the race: give back its order if it is a retry of ours (our
        // reservations roll back either way).
        drop(tx);
        let (existing, stored) =
            by_idempotency(db, scope, key).await?.ok_or(CommerceError::Store(StoreError::NotFound("order")))?;
        return replay(scope, existing, stored.as_deref(), &fingerprint);
    }
    inserted?;
    insert_items(&mut tx, scope, id, &items).await?;
    record(&mut tx, db, scope, id, None, Status::Placed, &format!("order placed{shipping_note}")).await?;
    if held {
        let target = format!("order:{id}");
        let codes: Vec<&str> = risk.reasons.iter().map(|r| r.code.as_str()).collect();
        let details = serde_json::json!({"score": risk.score, "reasons": codes, "rule": risk.rule});
        audit::record_store(&mut tx, db, scope, NewEvent::new("order.held_for_review", &target).details(details))
            .await?;
    }
    // Stock went down: the store's pages show it (last, after the row locks above; see palisade_store::storefront).
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;

    let declined = DeclineKeys::of(&req);
    settle(db, gateway, scope, (id, number, Money::new(total, currency)), &req.card, key, &declined).await
}

/// What a declined attempt leaves for the `failed_attempts` feature: the caller's keyed hashes only (an unkeyed
/// hash of an email could be reversed by guessing addresses), none when the caller made none.
struct DeclineKeys {
    card: Option<String>,
    email: Option<String>,
}

impl DeclineKeys {
    fn of(req: &Checkout) -> Self {
        DeclineKeys { card: req.fingerprints.card.clone(), email: req.fingerprints.email.clone() }
    }
}

/// One line of an order being placed, priced from the catalog.
struct PricedLine {
    sku: String,
    /// The variant's options (JSON text) as bought.
    options: String,
    title: String,
    unit_price: i64,
    quantity: i64,
    variant: VariantId,
}

/// Prices each line from the catalog (published products of this store, in its currency) and reserves its stock,
/// inside the checkout's transaction. Returns the subtotal and the priced lines.
async fn reserve_lines(
    tx: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    lines: &[Line],
    currency: Currency,
) -> Result<(i64, Vec<PricedLine>)> {
    let mut subtotal: i64 = 0;
    let mut items = Vec::with_capacity(lines.len());
    for line in lines {
        let row: Option<(String, i64, String, String, String)> = sqlx::query_as(
            "SELECT v.sku, v.price_minor, v.currency, p.title, v.options FROM variants v JOIN products p ON p.id = v.product_id \
             WHERE v.store_id = $1 AND v.id = $2 AND p.status = 'published'",
        )
        .bind(scope.store_key())
        .bind(line.variant_id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let (sku, price, vcur, title, options) =
            row.ok_or(CommerceError::Store(StoreError::NotFound("product variant")))?;
        if vcur != currency.code() {
            return Err(CommerceError::CurrencyMismatch(format!("{sku} is priced in {vcur}")));
        }
        inventory::reserve_on(tx, scope, line.variant_id, line.quantity).await?;
        let line_total = price.checked_mul(line.quantity).ok_or_else(|| CommerceError::TotalTooLarge("order"))?;
        subtotal = subtotal.checked_add(line_total).ok_or_else(|| CommerceError::TotalTooLarge("order"))?;
        items.push(PricedLine {
            sku,
            options,
            title,
            unit_price: price,
            quantity: line.quantity,
            variant: line.variant_id,
        });
    }
    Ok((subtotal, items))
}

/// Writes the order's lines inside the checkout's transaction.
async fn insert_items(
    tx: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    order: OrderId,
    items: &[PricedLine],
) -> Result<()> {
    for item in items {
        sqlx::query(
            "INSERT INTO order_items (id, order_id, store_id, variant_id, sku, title, unit_price_minor, quantity, options) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(palisade_core::JobId::new().to_string())
        .bind(order.to_string())
        .bind(scope.store_key())
        .bind(item.variant.to_string())
        .bind(&item.sku)
        .bind(&item.title)
        .bind(item.unit_price)
        .bind(item.quantity)
        .bind(&item.options)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Charges a placed order and records the outcome: paid (escrow captured, mail queued), or — declined — no order
/// at all (see [`undo_declined`]). Each attempt has its own order id, so the gateway's key is per attempt: a retry
/// of the same request never charges twice, and a new card after a decline is not answered with the decline.
async fn settle(
    db: &Db,
    gateway: &dyn PaymentGateway,
    scope: &StoreScope,
    (id, number, total): (OrderId, i64, Money),
    card: &Card,
    key: &str,
    declined: &DeclineKeys,
) -> Result<Placed> {
    let attempt = format!("{}:{key}:{id}", scope.store_key());
    let charge = gateway.charge(total, card, &attempt).await;
    let mut tx = db.begin_write().await?;
    match charge {
        Ok(Charge::Approved { reference, brand, last4 }) => {
            let paid = sqlx::query(
                "UPDATE orders SET status = 'paid', card_brand = $1, card_last4 = $2, payment_ref = $3, updated_at = $4 \
                 WHERE store_id = $5 AND id = $6 AND status = 'placed'",
            )
            .bind(&brand)
            .bind(&last4)
            .bind(&reference)
            .bind(db.now().0)
            .bind(scope.store_key())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            if paid.rows_affected() == 1 {
                let note = format!("paid by {brand} ending {last4}");
                record(&mut tx, db, scope, id, Some(Status::Placed), Status::Paid, &note).await?;
                ledger::capture_on(&mut tx, db, scope, id, total).await?;
                crate::notify::queue_on(&mut tx, db, scope, id, crate::notify::OrderMail::Paid, 0).await?;
                // An order exists for apps once it is paid (a declined attempt leaves no order behind).
                let facts = OrderFacts { id, number, status: Status::Paid.as_str(), total, refunded_minor: 0 };
                events::order(&mut tx, db, scope, WebhookTopic::OrderCreated, facts).await?;
                events::order(&mut tx, db, scope, WebhookTopic::OrderPaid, facts).await?;
                tx.commit().await?;
            } else {
                // A concurrent retry recorded the same charge first.
                drop(tx);
            }
        }
        Ok(Charge::Declined { reason }) => {
            undo_declined(&mut tx, db, scope, (id, total), &reason, declined).await?;
            tx.commit().await?;
            return Err(CommerceError::PaymentDeclined { reason });
        }
        Err(e) => {
            tracing::error!(order.id = %id, error = %e, "payment gateway failed; order stays placed");
            return Err(CommerceError::PaymentGatewayUnavailable(e));
        }
    }
    let order = get_in(db, scope, id).await?;
    if order.status == Status::Placed {
        return Err(CommerceError::ChangedMeanwhile("the order"));
    }
    Ok(Placed { order, access: OrderAccess::placed(scope, id) })
}

/// No order for a declined card: the attempt is undone (stock back on sale, the order and its lines gone, so no
/// cancelled order sits in the buyer's or the merchant's list) and recorded in the store's audit log for its fraud
/// review. The order number it took stays unused. Only an order still `placed` is removed; anything else (a
/// concurrent retry already decided it) is left as it is.
async fn undo_declined(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    (order, total): (OrderId, Money),
    reason: &str,
    declined: &DeclineKeys,
) -> Result<()> {
    let id = order.to_string();
    let lines: Vec<(String, i64)> =
        sqlx::query_as("SELECT variant_id, quantity FROM order_items WHERE store_id = $1 AND order_id = $2")
            .bind(scope.store_key())
            .bind(&id)
            .fetch_all(&mut *tx)
            .await?;
    for table in ["order_events", "order_items"] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE store_id = $1 AND order_id = $2 \
             AND EXISTS (SELECT 1 FROM orders o WHERE o.store_id = $1 AND o.id = $2 AND o.status = 'placed')"
        )))
        .bind(scope.store_key())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    let gone = sqlx::query("DELETE FROM orders WHERE store_id = $1 AND id = $2 AND status = 'placed'")
        .bind(scope.store_key())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() != 1 {
        return Ok(());
    }
    for (variant, qty) in lines {
        inventory::restock_on(tx, scope, crate::error::stored_id("variant", &variant)?, qty).await?;
    }
    let target = format!("order:{id}");
    let details = serde_json::json!({"reason": reason, "total_minor": total.minor, "currency": total.currency.code()});
    audit::record_store(tx, db, scope, NewEvent::new("order.payment_declined", &target).details(details)).await?;
    // Counted by the next attempts' `failed_attempts` and `store.failed_1h`; kept a day (the features look back
    // an hour), pruned here so the table stays small without a job.
    let now = db.now().0;
    sqlx::query("DELETE FROM payment_declines WHERE store_id = $1 AND at < $2")
        .bind(scope.store_key())
        .bind(now - crate::fraud::DECLINES_KEPT_MS)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO payment_declines (id, store_id, card_fingerprint, email_hash, at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(scope.store_key())
    .bind(declined.card.as_deref())
    .bind(declined.email.as_deref())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    palisade_store::storefront::touch(tx, scope).await?;
    Ok(())
}

/// Moves an order along its lifecycle, checking the transition; money moves with it (release, refund).
pub async fn transition(
    db: &Db,
    scope: &StaffScope,
    id: OrderId,
    to: Status,
    tracking_no: Option<&str>,
    policy: &Policy,
) -> Result<Order> {
    let mut tx = db.begin_write().await?;
    transition_on(&mut tx, db, scope, id, to, tracking_no, policy).await?;
    tx.commit().await?;
    get(db, scope, id).await
}

pub(crate) async fn get_on(conn: &mut sqlx::AnyConnection, scope: &StoreScope, id: OrderId) -> Result<Order> {
    let row: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND id = $2"
    )))
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    order_from(row.ok_or(CommerceError::Store(StoreError::NotFound("order")))?)
}

/// [`transition`] inside the caller's transaction (disputes decide and move the order together).
pub async fn transition_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    id: OrderId,
    to: Status,
    tracking_no: Option<&str>,
    policy: &Policy,
) -> Result<()> {
    move_on(tx, db, scope, id, to, tracking_no, policy).await
}

/// The transition itself, for any caller whose authority over the order has been checked: the staff's
/// [`transition_on`], and the buyer's own moves through an [`OrderAccess`] (confirming receipt, opening a
/// dispute). `policy` sets the platform fee when the move completes the order (releasing its escrow).
pub(crate) async fn move_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    id: OrderId,
    to: Status,
    tracking_no: Option<&str>,
    policy: &Policy,
) -> Result<()> {
    let order = get_on(tx, scope, id).await?;
    if order.review_state == crate::fraud::ReviewState::Held
        && matches!(to, Status::Shipped | Status::Delivered | Status::Completed)
    {
        return Err(CommerceError::HeldForReview);
    }
    if !order.status.can_become(to) {
        return Err(CommerceError::InvalidTransition(format!(
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
        .bind(id.to_string())
        .bind(order.status.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the order"));
    }
    record(tx, db, scope, id, Some(order.status), to, tracking_no.unwrap_or("")).await?;
    let topic = match to {
        Status::Shipped => Some(WebhookTopic::OrderFulfilled),
        Status::Refunded => Some(WebhookTopic::OrderRefunded),
        _ => None,
    };
    if let Some(topic) = topic {
        // Refunded: everything still held goes back, so the whole total is refunded by now.
        let refunded_minor = if to == Status::Refunded { order.total.minor } else { order.refunded_minor };
        let facts = OrderFacts { id, number: order.number.0, status: to.as_str(), total: order.total, refunded_minor };
        events::order(tx, db, scope, topic, facts).await?;
    }
    if matches!(to, Status::Refunded | Status::Cancelled) {
        close_review_on(tx, db, scope, id).await?;
    }
    let mail = match to {
        Status::Shipped => Some(crate::notify::OrderMail::Shipped),
        Status::Delivered => Some(crate::notify::OrderMail::Delivered),
        Status::Refunded => Some(crate::notify::OrderMail::Refunded),
        _ => None,
    };
    if let Some(mail) = mail {
        crate::notify::queue_on(tx, db, scope, id, mail, 0).await?;
    }
    // Money moves in the same transaction as the status: both happen or neither.
    match to {
        Status::Completed => {
            // The fee is the policy's share of what the escrow releases (less any partial refunds).
            let fee = policy.fee_on(ledger::held_on(tx, scope, id).await?);
            ledger::release_on(tx, db, scope, id, order.total.currency, fee).await?;
        }
        Status::Refunded => {
            let held = ledger::held_on(tx, scope, id).await?;
            if held > 0 {
                ledger::refund_on(tx, db, scope, id, Money::new(held, order.total.currency)).await?;
                sqlx::query("UPDATE orders SET refunded_minor = refunded_minor + $1 WHERE store_id = $2 AND id = $3")
                    .bind(held)
                    .bind(scope.store_key())
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// A held order refunded in full, cancelled or lost in a dispute is no longer waiting for the merchant: its
/// review is closed (with the time), so neither the review queue nor the risky-orders control counts it. Every
/// path that refunds or cancels goes through [`move_on`], which calls this; the review queue's own cancel marks
/// the order `cancelled` first, which this leaves as it is.
async fn close_review_on(tx: &mut sqlx::AnyConnection, db: &Db, scope: &StoreScope, id: OrderId) -> Result<()> {
    let closed = sqlx::query(
        "UPDATE orders SET review_state = 'closed', reviewed_at = $1 \
         WHERE store_id = $2 AND id = $3 AND review_state = 'held'",
    )
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if closed.rows_affected() == 1 {
        audit::record_store(tx, db, scope, NewEvent::new("order.review_closed", &format!("order:{id}"))).await?;
    }
    Ok(())
}

/// A partial refund from escrow while the order is still held (paid, shipped, delivered or disputed). Refunding
/// everything still held makes the order `refunded`.
pub async fn refund(db: &Db, scope: &StaffScope, id: OrderId, amount_minor: i64, note: &str) -> Result<Order> {
    if amount_minor <= 0 {
        return Err(CommerceError::Invalid("a refund must be a positive amount".into()));
    }
    let mut tx = db.begin_write().await?;
    let order = get_on(&mut tx, scope, id).await?;
    if !order.status.can_become(Status::Refunded) {
        return Err(CommerceError::InvalidTransition(format!(
            "an order that is {} cannot be refunded",
            order.status.as_str()
        )));
    }
    let held = ledger::held_on(&mut tx, scope, id).await?;
    if amount_minor > held {
        return Err(CommerceError::RefundExceedsHeld { held: Money::new(held, order.total.currency) });
    }
    if amount_minor == held {
        // A refund releases nothing to the store: no fee applies, whatever the policy.
        transition_on(&mut tx, db, scope, id, Status::Refunded, None, &Policy::default()).await?;
    } else {
        ledger::refund_on(&mut tx, db, scope, id, Money::new(amount_minor, order.total.currency)).await?;
        sqlx::query(
            "UPDATE orders SET refunded_minor = refunded_minor + $1, updated_at = $2 WHERE store_id = $3 AND id = $4",
        )
        .bind(amount_minor)
        .bind(db.now().0)
        .bind(scope.store_key())
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
        let target = format!("order:{id}");
        let details = serde_json::json!({"amount_minor": amount_minor, "note": note});
        audit::record_store(&mut tx, db, scope, NewEvent::new("order.partially_refunded", &target).details(details))
            .await?;
        // One mail per partial refund: the amount refunded so far tells them apart.
        let so_far = order.refunded_minor.saturating_add(amount_minor);
        crate::notify::queue_on(&mut tx, db, scope, id, crate::notify::OrderMail::Refunded, so_far).await?;
        let facts = OrderFacts {
            id,
            number: order.number.0,
            status: order.status.as_str(),
            total: order.total,
            refunded_minor: so_far,
        };
        events::order(&mut tx, db, scope, WebhookTopic::OrderRefunded, facts).await?;
    }
    tx.commit().await?;
    get(db, scope, id).await
}

/// One line of a stored order.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub variant_id: VariantId,
    pub sku: String,
    pub title: String,
    /// The variant's options as bought (`{"size": "M", "colour": "red"}`; `{}` for a product without any).
    pub options: serde_json::Map<String, serde_json::Value>,
    pub unit_price_minor: i64,
    pub quantity: i64,
}

/// The order's lines, for the store's staff.
pub async fn items(db: &Db, scope: &StaffScope, id: OrderId) -> Result<Vec<Item>> {
    items_in(db, scope, id).await
}

pub(crate) async fn items_in(db: &Db, scope: &StoreScope, id: OrderId) -> Result<Vec<Item>> {
    let rows: Vec<(String, String, String, i64, i64, String)> = sqlx::query_as(
        "SELECT variant_id, sku, title, unit_price_minor, quantity, options FROM order_items WHERE store_id = $1 AND order_id = $2 ORDER BY sku",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|(variant_id, sku, title, unit_price_minor, quantity, options)| {
            // Options are an object of names to values; anything else (never written so) shows as none.
            let options = match serde_json::from_str(&options) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => serde_json::Map::new(),
            };
            Ok(Item { variant_id: stored_id("variant", &variant_id)?, sku, title, options, unit_price_minor, quantity })
        })
        .collect()
}

/// One step of an order's history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub from: Option<String>,
    pub to: String,
    pub note: String,
    pub at: Timestamp,
}

/// The order's history, oldest first, for the store's staff.
pub async fn events(db: &Db, scope: &StaffScope, id: OrderId) -> Result<Vec<Event>> {
    events_in(db, scope, id).await
}

pub(crate) async fn events_in(db: &Db, scope: &StoreScope, id: OrderId) -> Result<Vec<Event>> {
    let rows: Vec<(Option<String>, String, String, i64)> = sqlx::query_as(
        "SELECT from_status, to_status, note, at FROM order_events WHERE store_id = $1 AND order_id = $2 ORDER BY at, id",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(from, to, note, at)| Event { from, to, note, at: Timestamp(at) }).collect())
}

/// The store's orders, newest first, optionally of one status.
pub async fn list(db: &Db, scope: &StaffScope, status: Option<Status>, limit: i64, offset: i64) -> Result<Vec<Order>> {
    search(db, scope, &OrderQuery { status, text: None }, limit, offset).await
}

/// What a merchant looks for in the orders list.
#[derive(Debug, Clone, Default)]
pub struct OrderQuery {
    pub status: Option<Status>,
    /// An order number (`#1001` or `1001`) or part of the buyer's email address.
    pub text: Option<String>,
}

/// The store's orders matching `query`, newest first.
pub async fn search(db: &Db, scope: &StaffScope, query: &OrderQuery, limit: i64, offset: i64) -> Result<Vec<Order>> {
    let text = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let number = text.and_then(OrderNumber::parse).map(|n| n.0);
    // A fragment of an email address, matched literally (LIKE's wildcards escaped), case-insensitively.
    let email = text.filter(|_| number.is_none()).map(|t| {
        let escaped: String = t
            .to_lowercase()
            .chars()
            .take(100)
            .flat_map(|c| match c {
                '%' | '_' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        format!("%{escaped}%")
    });
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($5 IS NULL OR number = $5) AND ($6 IS NULL OR LOWER(buyer_email) LIKE $6 ESCAPE '\\') \
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    )))
    .bind(scope.store_key())
    .bind(query.status.map(Status::as_str))
    .bind(limit.clamp(1, 200))
    .bind(offset.max(0))
    .bind(number)
    .bind(email)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(order_from).collect()
}

/// The store's orders held for review, oldest first: only those still paid (a held order in dispute is the
/// dispute's to decide; one refunded or cancelled is closed).
pub(crate) async fn held_in(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<Order>> {
    let rows: Vec<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE store_id = $1 AND review_state = 'held' AND status = 'paid' \
         ORDER BY created_at, id LIMIT $2"
    )))
    .bind(scope.store_key())
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(order_from).collect()
}

/// Counts of the store's orders by status (for the admin dashboard).
pub async fn counts(db: &Db, scope: &StaffScope) -> Result<Vec<(String, i64)>> {
    Ok(sqlx::query_as("SELECT status, COUNT(*) FROM orders WHERE store_id = $1 GROUP BY status ORDER BY status")
        .bind(scope.store_key())
        .fetch_all(db.pool())
        .await?)
}

/// One of a buyer's orders, with the name of the store it was placed in (the buyer's order list).
#[derive(Debug, Clone, Serialize)]
pub struct BuyerOrder {
    #[serde(flatten)]
    pub order: Order,
    pub store_name: String,
    /// The store's time zone, in which the buyer sees the order's times.
    pub time_zone: palisade_core::zone::StoreZone,
}

/// A buyer's orders in every store, newest first, each with its store's name (one query). Buyers are platform
/// accounts, so this is keyed by the account rather than by a store scope; each order then opens in its own
/// store's scope.
pub async fn for_buyer(db: &Db, buyer: AccountId, limit: i64) -> Result<Vec<BuyerOrder>> {
    use sqlx::{FromRow as _, Row as _};
    let columns: Vec<String> = ORDER_COLUMNS.split(", ").map(|c| format!("o.{c}")).collect();
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {}, s.name AS store_name, c.time_zone AS time_zone FROM orders o JOIN stores s ON s.id = o.store_id \
         LEFT JOIN store_commerce c ON c.store_id = o.store_id WHERE o.buyer_id = $1 \
         ORDER BY o.created_at DESC, o.id DESC LIMIT $2",
        columns.join(", ")
    )))
    .bind(buyer.to_string())
    .bind(limit.clamp(1, 200))
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            let order = order_from(OrderRow::from_row(row)?)?;
            let store_name: String = row.try_get("store_name")?;
            let zone: Option<String> = row.try_get("time_zone")?;
            let time_zone = zone.map_or_else(palisade_core::zone::StoreZone::default, |z| {
                palisade_core::zone::StoreZone::from_stored(&z)
            });
            Ok(BuyerOrder { order, store_name, time_zone })
        })
        .collect()
}

/// The store an order belongs to (for opening a buyer's order link in the right scope).
pub(crate) async fn store_of(db: &Db, id: OrderId) -> Result<Option<palisade_core::StoreId>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT store_id FROM orders WHERE id = $1")
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    row.map(|(s,)| s.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()).into()))
        .transpose()
}

/// Buyer protection ends: delivered orders nobody disputed within the policy's protection window are completed
/// and their escrow released, less the policy's fee (the `escrow.auto_release` job). Returns how many were
/// completed.
pub async fn auto_release(db: &Db, policy: &Policy) -> Result<usize> {
    let cutoff = db.now().minus(policy.protection_window()).0;
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
        let order: OrderId =
            order.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(format!("order id: {e}")))?;
        let store_id = store.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()))?;
        let scope = StaffScope::system(store_id, "job:escrow.auto_release");
        match transition(db, &scope, order, Status::Completed, None, policy).await {
            Ok(_) => done += 1,
            // Another node, or the buyer, got there first: nothing to do.
            Err(e @ (CommerceError::InvalidTransition(_) | CommerceError::ChangedMeanwhile(_))) => {
                tracing::info!(order.id = %order, reason = %e, "auto-release skipped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The buyer confirms the parcel arrived: the order completes and the escrow is released to the store at once
/// (a shipped order passes through delivered in the same transaction), less the policy's fee.
pub async fn confirm_received(db: &Db, access: &OrderAccess, policy: &Policy) -> Result<Order> {
    let (scope, id) = (access.scope(), access.order_id());
    let order = access.order(db).await?;
    // Only a parcel on its way or delivered can be confirmed: a disputed order waits for the operator's decision.
    if !matches!(order.status, Status::Shipped | Status::Delivered) {
        return Err(CommerceError::InvalidTransition(format!(
            "an order that is {} cannot be confirmed",
            order.status.as_str()
        )));
    }
    let mut tx = db.begin_write().await?;
    if order.status == Status::Shipped {
        move_on(&mut tx, db, scope, id, Status::Delivered, None, policy).await?;
    }
    move_on(&mut tx, db, scope, id, Status::Completed, None, policy).await?;
    tx.commit().await?;
    access.order(db).await
}
