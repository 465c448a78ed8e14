//! A shopper's access to one order, as a value.
//!
//! A storefront scope ([`StoreScope::shopper`]) is open to anyone who can name a store, so it must not be what
//! lets someone see an order or act on it (confirm receipt and release escrow, open a dispute, review). That
//! right is an [`OrderAccess`]: it has no public constructor taking an id, and is made only by
//! [`OrderAccess::by_link`], which verifies the order's signed link, or [`OrderAccess::for_buyer`], which checks
//! that the order was placed by that (signed-in) account. The buyer-side functions of `orders`, `disputes` and
//! `reviews` take it; the staff side takes a [`palisade_store::StaffScope`].

use palisade_core::{AccountId, OrderId};
use palisade_identity::links::LinkSigner;
use palisade_store::{Db, StoreError, StoreScope};

use crate::error::{CommerceError, Result};
use crate::orders::{self, Event, Item, Order};

/// The purpose order links are signed under (see [`LinkSigner`]).
pub const LINK_PURPOSE: &str = "order";

fn not_found() -> CommerceError {
    CommerceError::Store(StoreError::NotFound("order"))
}

/// The right to see one order and act on it as its buyer. Its fields are private: outside this crate it cannot be
/// written down, only obtained from [`OrderAccess::by_link`], [`OrderAccess::for_buyer`] or checkout.
///
/// ```compile_fail
/// use palisade_commerce::access::OrderAccess;
/// let scope = palisade_store::StoreScope::shopper(palisade_core::StoreId::new(), None);
/// let forged = OrderAccess { scope, order_id: palisade_core::OrderId::new() };
/// ```
#[derive(Debug, Clone)]
pub struct OrderAccess {
    scope: StoreScope,
    order_id: OrderId,
}

impl OrderAccess {
    /// Access for whoever holds the order's signed link (a guest's order page). A wrong tag, or an order that
    /// does not exist, is `NotFound`: the answer does not tell which.
    pub async fn by_link(db: &Db, links: &LinkSigner, order_id: OrderId, tag: &str) -> Result<Self> {
        if !links.verify(LINK_PURPOSE, &order_id.to_string(), tag) {
            return Err(not_found());
        }
        let store = orders::store_of(db, order_id).await?.ok_or_else(not_found)?;
        Ok(Self { scope: StoreScope::shopper(store, None), order_id })
    }

    /// Access for the account that placed the order; `buyer` must come from a verified session. Anyone else's
    /// order, a guest order, or no order at all is `NotFound`.
    pub async fn for_buyer(db: &Db, buyer: AccountId, order_id: OrderId) -> Result<Self> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT store_id, buyer_id FROM orders WHERE id = $1")
                .bind(order_id.to_string())
                .fetch_optional(db.pool())
                .await?;
        let Some((store, Some(owner))) = row else { return Err(not_found()) };
        if owner != buyer.to_string() {
            return Err(not_found());
        }
        let store = store.parse().map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()))?;
        Ok(Self { scope: StoreScope::shopper(store, Some(buyer)), order_id })
    }

    /// The access checkout hands the sender of the order it has just placed (or, on a retry with the same key,
    /// the same sender of the same request).
    pub(crate) fn placed(scope: &StoreScope, order_id: OrderId) -> Self {
        Self { scope: scope.clone(), order_id }
    }

    /// The tag of an order's signed link (what [`OrderAccess::by_link`] verifies).
    #[must_use]
    pub fn link_tag(links: &LinkSigner, order_id: OrderId) -> String {
        links.sign(LINK_PURPOSE, &order_id.to_string())
    }

    /// The shopper's scope in the order's store (actor: the buyer, or `guest`).
    #[must_use]
    pub fn scope(&self) -> &StoreScope {
        &self.scope
    }

    #[must_use]
    pub fn order_id(&self) -> OrderId {
        self.order_id
    }

    /// The order.
    pub async fn order(&self, db: &Db) -> Result<Order> {
        orders::get_in(db, &self.scope, self.order_id).await
    }

    /// The order's lines.
    pub async fn items(&self, db: &Db) -> Result<Vec<Item>> {
        orders::items_in(db, &self.scope, self.order_id).await
    }

    /// The order's history, oldest first.
    pub async fn events(&self, db: &Db) -> Result<Vec<Event>> {
        orders::events_in(db, &self.scope, self.order_id).await
    }
}
