//! The commerce changes that are webhook events, and what each delivery says.
//!
//! Payloads are thin: ids, status, amounts, never a buyer's name, email, address or phone. A delivery then holds
//! nothing the app's protected customer data level would hide, and nothing personal sits in the outbox for
//! days of retries; the app reads the rest through the API with its token, where that level is applied. Each
//! function runs inside the change's own transaction, so an event is queued exactly when its change commits.

use palisade_core::money::Money;
use palisade_core::{OrderId, ProductId, VariantId};
use palisade_registry::names::WebhookTopic;
use palisade_store::{Db, StoreScope};
use sqlx::AnyConnection;

use super::deliveries::emit_on;
use crate::error::Result;

/// An order event's facts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OrderFacts<'a> {
    pub id: OrderId,
    pub number: i64,
    /// The status after the change.
    pub status: &'a str,
    pub total: Money,
    /// Refunded so far (order.refunded), in minor units.
    pub refunded_minor: i64,
}

/// `order.created`, `order.paid`, `order.fulfilled` or `order.refunded`.
pub(crate) async fn order(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    topic: WebhookTopic,
    o: OrderFacts<'_>,
) -> Result<()> {
    let data = serde_json::json!({
        "order_id": o.id.to_string(), "number": o.number, "status": o.status,
        "total_minor": o.total.minor, "currency": o.total.currency.code(), "refunded_minor": o.refunded_minor,
    });
    emit_on(conn, db, scope, topic, &data).await?;
    Ok(())
}

/// `product.created` or `product.updated` (its details, status or a variant's price changed).
pub(crate) async fn product(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    topic: WebhookTopic,
    id: ProductId,
) -> Result<()> {
    emit_on(conn, db, scope, topic, &serde_json::json!({"product_id": id.to_string()})).await?;
    Ok(())
}

/// `stock.changed` for these variants (a stock take). Orders taking stock are `order.paid` events; an app keeping
/// stock elsewhere reads the order's items.
pub(crate) async fn stock(conn: &mut AnyConnection, db: &Db, scope: &StoreScope, variants: &[VariantId]) -> Result<()> {
    let ids: Vec<String> = variants.iter().map(ToString::to_string).collect();
    emit_on(conn, db, scope, WebhookTopic::StockChanged, &serde_json::json!({"variant_ids": ids})).await?;
    Ok(())
}
