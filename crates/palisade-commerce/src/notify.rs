//! Mail about orders, in the store's name: the buyer's confirmation (a guest's only way back to the order page is
//! the signed link in it), the merchant's new-order notice, shipped with tracking, delivered (please confirm
//! receipt) and refunds.
//!
//! A change that should be told queues an [`ORDER_MAIL_JOB`] in its own transaction ([`queue_on`]): the mail goes
//! out if and only if the change committed, once (the job's dedupe key), and composing it — which needs the link
//! signer and the public address, which the domain does not hold — happens in the job ([`send`]).

use palisade_core::OrderId;
use palisade_identity::links::LinkSigner;
use palisade_store::jobs::{self, NewJob};
use palisade_store::tenancy::{self, Role};
use palisade_store::{Db, StoreError, StoreScope, outbox};
use serde::{Deserialize, Serialize};

use crate::access::OrderAccess;
use crate::error::{CommerceError, Result};
use crate::orders::{self, Order};

/// The job that composes and queues one order mail.
pub const ORDER_MAIL_JOB: &str = "order.mail";

/// What happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderMail {
    /// Paid: the buyer's confirmation and the merchant's new-order notice.
    Paid,
    Shipped,
    Delivered,
    /// Money went back to the buyer (a part or all of it); `refunded_minor` on the order says how much in all.
    Refunded,
}

/// Queues the mail about `order` inside the caller's transaction.
pub(crate) async fn queue_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    order: OrderId,
    mail: OrderMail,
    nth: i64,
) -> Result<()> {
    let job = NewJob {
        store_id: Some(scope.store_key()),
        payload: serde_json::json!({"store": scope.store_key(), "order": order, "mail": mail}),
        max_attempts: 5,
        dedupe_key: Some(format!("order-mail:{order}:{mail:?}:{nth}")),
        ..NewJob::new(ORDER_MAIL_JOB)
    };
    jobs::enqueue_on(tx, db, job).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Payload {
    store: palisade_core::StoreId,
    order: OrderId,
    mail: OrderMail,
}

/// Composes and queues the mail a job's payload asks for. `public_url` is the address people use.
pub async fn send(db: &Db, links: &LinkSigner, public_url: &str, payload: &serde_json::Value) -> Result<()> {
    let p: Payload = serde_json::from_value(payload.clone())
        .map_err(|e| CommerceError::Store(StoreError::Corrupt(format!("order mail payload: {e}"))))?;
    let scope = StoreScope::system(p.store, "job:order.mail");
    let store = tenancy::get_store(db, &scope).await?;
    let order = orders::get_in(db, &scope, p.order).await?;
    let items = orders::items_in(db, &scope, p.order).await?;
    let base = public_url.trim_end_matches('/');
    let link = if order.buyer_id.is_some() {
        format!("{base}/orders/{}", order.id)
    } else {
        format!("{base}/orders/{}?k={}", order.id, OrderAccess::link_tag(links, order.id))
    };
    let lines: String = items
        .iter()
        .map(|i| {
            format!(
                "  {} × {} ({})\n",
                i.quantity,
                i.title,
                palisade_core::money::Money::new(i.unit_price_minor, order.total.currency)
            )
        })
        .collect();
    let (n, name) = (order.number, store.name.as_str());
    let (subject, body) = match p.mail {
        OrderMail::Paid => (
            format!("Order {n} confirmed — {name}"),
            format!(
                "Thank you for your order from {name}.\n\nOrder {n}\n{lines}Shipping: {}\nTotal paid: {}\n\n\
                 Your payment is held by the marketplace until you confirm the order arrived.\n\
                 Follow your order here (keep this link: it is your way back to the order):\n{link}\n",
                order.shipping, order.total
            ),
        ),
        OrderMail::Shipped => (
            format!("Order {n} has shipped — {name}"),
            format!(
                "Good news: {name} has shipped order {n}.\nCarrier: {}\nTracking number: {}\n\nFollow it here:\n{link}\n",
                order.carrier.as_deref().unwrap_or("-"),
                order.tracking_no.as_deref().unwrap_or("-")
            ),
        ),
        OrderMail::Delivered => (
            format!("Order {n} was delivered — please confirm — {name}"),
            format!(
                "{name} marked order {n} as delivered.\n\nIf it arrived as it should, please confirm receipt: that \
                 releases your payment to the store. If something is wrong, open a dispute from the same page:\n{link}\n"
            ),
        ),
        OrderMail::Refunded => (
            format!("Refund for order {n} — {name}"),
            format!(
                "{name} has refunded {} of order {n} (total {}). It goes back to the card you paid with.\n\n{link}\n",
                palisade_core::money::Money::new(order.refunded_minor, order.total.currency),
                order.total
            ),
        ),
    };
    queue(db, &order, &order.buyer_email, &subject, body).await?;
    if p.mail == OrderMail::Paid {
        let admin = format!("{base}/admin/stores/{}/orders/{}", order.store_id, order.id);
        let body = format!(
            "New order {n} in {name}, paid: {}.\n{lines}Ship to: {}\n\nOpen it to ship:\n{admin}\n",
            order.total,
            crate::address::ShippingAddress::display_json(&order.address)
        );
        for owner in tenancy::list_members(db, &scope).await?.iter().filter(|m| m.role == Role::Owner && !m.disabled) {
            queue(db, &order, &owner.email, &format!("New order {n} — {name}"), body.clone()).await?;
        }
    }
    Ok(())
}

async fn queue(db: &Db, order: &Order, to: &str, subject: &str, body: String) -> Result<()> {
    outbox::enqueue(db, outbox::NewMail { store_id: Some(order.store_id.clone()), to, subject, body }).await?;
    Ok(())
}
