//! Mail in the store's name about what happens to an order and the store's money: the buyer's confirmation (a
//! guest's only way back to the order page is the signed link in it), the merchant's new-order notice, shipped
//! with tracking, delivered (please confirm receipt), refunds, a dispute opened and decided (to both sides), and
//! a payout sent (to the owners). Each is plain text with an HTML alternative ([`letter`]), from the platform's
//! address under the store's name.
//!
//! A change that should be told queues an [`ORDER_MAIL_JOB`] in its own transaction ([`queue_on`],
//! [`queue_payout_on`]): the mail goes out if and only if the change committed, once (the job's dedupe key), and
//! composing it — which needs the link signer and the public address, which the domain does not hold — happens in
//! the job ([`send`]).

mod letter;

use palisade_core::OrderId;
use palisade_core::money::Money;
use palisade_identity::links::LinkSigner;
use palisade_store::jobs::{self, NewJob};
use palisade_store::tenancy::{self, Role, Store};
use palisade_store::{Db, StoreError, StoreScope, outbox};
use serde::{Deserialize, Serialize};

use crate::access::OrderAccess;
use crate::error::{CommerceError, Result};
use crate::orders::{self, Order};
use letter::Letter;

/// The job that composes and queues one store mail (the name predates payouts' mail; kept for queued jobs).
pub const ORDER_MAIL_JOB: &str = "order.mail";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderMail {
    /// Paid: the buyer's confirmation and the merchant's new-order notice.
    Paid,
    Shipped,
    Delivered,
    /// Money went back to the buyer (a part or all of it); `refunded_minor` on the order says how much in all.
    Refunded,
    /// The buyer opened a dispute: told to the buyer (what happens next) and the owners (answer it).
    DisputeOpened,
    /// An operator decided the dispute: told to both sides.
    DisputeDecided,
    /// Money left the store's balance for its bank: told to the owners.
    PayoutSent,
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
    let payload = serde_json::json!({"store": scope.store_key(), "order": order, "mail": mail});
    enqueue(tx, db, scope, payload, format!("order-mail:{order}:{mail:?}:{nth}")).await
}

/// Queues the owners' notice of a payout inside the payout's transaction.
pub(crate) async fn queue_payout_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    payout: &str,
) -> Result<()> {
    let payload = serde_json::json!({"store": scope.store_key(), "payout": payout, "mail": OrderMail::PayoutSent});
    enqueue(tx, db, scope, payload, format!("payout-mail:{payout}")).await
}

async fn enqueue(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    payload: serde_json::Value,
    dedupe: String,
) -> Result<()> {
    let job = NewJob {
        store_id: Some(scope.store_key()),
        payload,
        max_attempts: 5,
        dedupe_key: Some(dedupe),
        ..NewJob::new(ORDER_MAIL_JOB)
    };
    jobs::enqueue_on(tx, db, job).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Payload {
    store: palisade_core::StoreId,
    #[serde(default)]
    order: Option<OrderId>,
    #[serde(default)]
    payout: Option<String>,
    mail: OrderMail,
}

/// Who gets a message.
enum To<'a> {
    Buyer(&'a Order),
    Owners,
}

/// Composes and queues the mail a job's payload asks for. `public_url` is the address people use.
pub async fn send(db: &Db, links: &LinkSigner, public_url: &str, payload: &serde_json::Value) -> Result<()> {
    let p: Payload = serde_json::from_value(payload.clone()).map_err(|e| corrupt(&format!("mail payload: {e}")))?;
    let scope = StoreScope::system(p.store, "job:order.mail");
    let store = tenancy::get_store(db, &scope).await?;
    let base = public_url.trim_end_matches('/');
    let letters = match (p.mail, p.order, p.payout) {
        (OrderMail::PayoutSent, _, Some(payout)) => {
            let payout = crate::payouts::get_in(db, &scope, &payout).await?;
            vec![(To::Owners, payout_sent(&store, base, payout.amount))]
        }
        (mail, Some(order), _) => {
            let order = orders::get_in(db, &scope, order).await?;
            return send_about_order(db, &scope, &store, links, base, &order, mail).await;
        }
        _ => return Err(corrupt("mail payload names neither an order nor a payout")),
    };
    deliver(db, &scope, &store, letters).await
}

async fn send_about_order(
    db: &Db,
    scope: &StoreScope,
    store: &Store,
    links: &LinkSigner,
    base: &str,
    order: &Order,
    mail: OrderMail,
) -> Result<()> {
    let link = if order.buyer_id.is_some() {
        format!("{base}/orders/{}", order.id)
    } else {
        format!("{base}/orders/{}?k={}", order.id, OrderAccess::link_tag(links, order.id))
    };
    let admin = format!("{base}/admin/stores/{}/orders/{}", order.store_id, order.id);
    let name = store.name.as_str();
    let letters = match mail {
        OrderMail::Paid => {
            let items = orders::items_in(db, scope, order.id).await?;
            let lines: Vec<String> = items
                .iter()
                .map(|i| {
                    format!("{} × {} ({})", i.quantity, i.title, Money::new(i.unit_price_minor, order.total.currency))
                })
                .collect();
            let mut buyer = paid(name, order, &link);
            buyer.lines.clone_from(&lines);
            let mut owners = new_order(name, order, &admin);
            owners.lines = lines;
            vec![(To::Buyer(order), buyer), (To::Owners, owners)]
        }
        OrderMail::Shipped => vec![(To::Buyer(order), shipped(name, order, &link))],
        OrderMail::Delivered => vec![(To::Buyer(order), delivered(name, order, &link))],
        OrderMail::Refunded => vec![(To::Buyer(order), refunded(name, order, &link))],
        OrderMail::DisputeOpened | OrderMail::DisputeDecided => {
            let dispute = crate::disputes::for_order_in(db, scope, order.id)
                .await?
                .ok_or(CommerceError::Store(StoreError::NotFound("dispute")))?;
            let admin = format!("{base}/admin/stores/{}/disputes", order.store_id);
            if mail == OrderMail::DisputeOpened {
                vec![
                    (To::Buyer(order), dispute_opened_buyer(name, order, &link)),
                    (To::Owners, dispute_opened_owners(name, order, &dispute, &admin)),
                ]
            } else {
                vec![
                    (To::Buyer(order), dispute_decided(name, order, &dispute, &link, Side::Buyer)),
                    (To::Owners, dispute_decided(name, order, &dispute, &admin, Side::Store)),
                ]
            }
        }
        OrderMail::PayoutSent => return Err(corrupt("a payout mail names no payout")),
    };
    deliver(db, scope, store, letters).await
}

async fn deliver(db: &Db, scope: &StoreScope, store: &Store, letters: Vec<(To<'_>, Letter)>) -> Result<()> {
    let mut owners: Option<Vec<String>> = None;
    for (to, letter) in letters {
        let addresses = match to {
            To::Buyer(order) => vec![order.buyer_email.clone()],
            To::Owners => match &owners {
                Some(o) => o.clone(),
                None => {
                    let o: Vec<String> = tenancy::list_members(db, scope)
                        .await?
                        .into_iter()
                        .filter(|m| m.role == Role::Owner && !m.disabled)
                        .map(|m| m.email)
                        .collect();
                    owners = Some(o.clone());
                    o
                }
            },
        };
        let (text, html) = (letter.text(), letter.html(&store.name));
        for address in &addresses {
            let mail = outbox::NewMail {
                store_id: Some(store.id.to_string()),
                to: address,
                subject: &letter.subject,
                body: text.clone(),
            };
            let dressing = outbox::Dressing { html: Some(&html), from_name: Some(&store.name) };
            outbox::enqueue_dressed(db, mail, dressing).await?;
        }
    }
    Ok(())
}

fn corrupt(what: &str) -> CommerceError {
    CommerceError::Store(StoreError::Corrupt(what.to_owned()))
}

fn paid(name: &str, order: &Order, link: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("Order {n} confirmed — {name}"))
        .say(format!("Thank you for your order from {name}. This is order {n}."))
        .fact("Shipping", order.shipping.to_string())
        .fact("Total paid", order.total.to_string())
        .fact("Ship to", crate::address::ShippingAddress::display_json(&order.address))
        .action("Follow your order", link.to_owned())
        .then("Keep this message: its link is your way back to the order. Your payment is held by the marketplace until you confirm the order arrived.")
}

fn new_order(name: &str, order: &Order, admin: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("New order {n} — {name}"))
        .say(format!("New order {n} in {name}, paid: {}.", order.total))
        .fact("Ship to", crate::address::ShippingAddress::display_json(&order.address))
        .action("Open it to ship", admin.to_owned())
}

fn shipped(name: &str, order: &Order, link: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("Order {n} has shipped — {name}"))
        .say(format!("Good news: {name} has shipped order {n}."))
        .fact("Carrier", order.carrier.as_deref().unwrap_or("-"))
        .fact("Tracking number", order.tracking_no.as_deref().unwrap_or("-"))
        .action("Follow your order", link.to_owned())
}

fn delivered(name: &str, order: &Order, link: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("Order {n} was delivered — please confirm — {name}"))
        .say(format!("{name} marked order {n} as delivered."))
        .say("If it arrived as it should, please confirm receipt: that releases your payment to the store. If something is wrong, open a dispute from the same page.")
        .action("Confirm receipt or report a problem", link.to_owned())
}

fn refunded(name: &str, order: &Order, link: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("Refund for order {n} — {name}"))
        .say(format!(
            "{name} has refunded {} of order {n}. It goes back to the card you paid with.",
            Money::new(order.refunded_minor, order.total.currency)
        ))
        .fact("Order total", order.total.to_string())
        .action("See the order", link.to_owned())
}

fn dispute_opened_buyer(name: &str, order: &Order, link: &str) -> Letter {
    let n = order.number;
    Letter::new(format!("We received your dispute on order {n} — {name}"))
        .say(format!("Your dispute on order {n} is open. Your payment stays held while it is looked at: {name} can answer, and then the marketplace decides whether the money goes back to you or to the store."))
        .action("See the dispute", link.to_owned())
}

fn dispute_opened_owners(name: &str, order: &Order, dispute: &crate::disputes::Dispute, admin: &str) -> Letter {
    let n = order.number;
    let reason =
        crate::disputes::REASONS.iter().find(|(r, _)| *r == dispute.reason).map_or("Something else", |(_, t)| *t);
    Letter::new(format!("Order {n} is disputed — {name}"))
        .say(format!("The buyer of order {n} ({}) opened a dispute. The payment stays held until the marketplace decides; your answer is part of what it reads.", order.total))
        .fact("Reason", reason)
        .fact("The buyer says", dispute.buyer_statement.clone())
        .action("Answer the dispute", admin.to_owned())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Buyer,
    Store,
}

fn dispute_decided(name: &str, order: &Order, dispute: &crate::disputes::Dispute, link: &str, side: Side) -> Letter {
    let n = order.number;
    let for_buyer = dispute.outcome.as_deref() == Some("buyer");
    let outcome = match (for_buyer, side) {
        (true, Side::Buyer) => "in your favour: the payment goes back to the card you paid with".to_owned(),
        (false, Side::Buyer) => format!("in favour of {name}: the payment is released to the store"),
        (true, Side::Store) => "in the buyer's favour: the payment goes back to the buyer".to_owned(),
        (false, Side::Store) => "in your favour: the payment is released to your balance".to_owned(),
    };
    Letter::new(format!("Dispute on order {n} decided — {name}"))
        .say(format!("The marketplace has decided the dispute on order {n} {outcome}."))
        .fact("Decision note", dispute.decision_note.clone().unwrap_or_default())
        .action("See the order", link.to_owned())
}

fn payout_sent(store: &Store, base: &str, amount: Money) -> Letter {
    Letter::new(format!("Payout of {amount} sent — {}", store.name))
        .say(format!("{amount} left the balance of {} for your bank account. Banks usually show it within one to three working days.", store.name))
        .action("See your payouts", format!("{base}/admin/stores/{}/payouts", store.id))
        .then("If you did not ask for this payout, sign in, change your password and contact the marketplace at once.")
}
