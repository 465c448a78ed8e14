//! Fraud scoring at checkout, store rules and the review queue (issue #20 items 2 and 9), on a real database
//! (SQLite, or PostgreSQL with PALISADE_TEST_DATABASE_URL).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::fraud::{self, Fingerprints, ReviewState, RulesRefused};
use palisade_commerce::fulfilment::{self, BatchLine, Notify, Outcome, Shipment};
use palisade_commerce::orders::{self, Checkout, Line, Status};
use palisade_commerce::payments::{Card, Charge, GatewayError, PaymentGateway, TestGateway, card};
use palisade_commerce::policy::Policy;
use palisade_commerce::{CommerceError, ledger};
use palisade_core::VariantId;
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::audit;
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

/// The test gateway, counting the charges it is asked for.
#[derive(Debug, Default)]
struct Counting(AtomicUsize);

impl PaymentGateway for Counting {
    fn charge<'a>(
        &'a self,
        amount: Money,
        card: &'a Card,
        idempotency: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Charge, GatewayError>> + Send + 'a>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        TestGateway.charge(amount, card, idempotency)
    }
}

async fn store(db: &Db, slug: &str) -> StaffScope {
    let owner = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse(&format!("o@{slug}.example")).unwrap(),
            display_name: "O".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse(slug).unwrap(),
            name: slug.into(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap()
    .1
    .to_staff()
    .unwrap()
}

async fn product(db: &Db, scope: &StaffScope, stock: i64) -> VariantId {
    let p = catalog::create_product(
        db,
        scope,
        NewProduct {
            slug: Slug::parse("oolong").unwrap(),
            title: "Oolong".into(),
            description: "Roasted.".into(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: "OOL-1".into(),
                options: serde_json::json!({}),
                price: Money::new(1850, Currency::SGD),
                stock,
            }],
        },
    )
    .await
    .unwrap();
    p.variants[0].id
}

fn request(variant: VariantId, key: &str, email: &str, number: &str, card_fp: &str) -> Checkout {
    Checkout {
        guest_proof: Some(format!("proof-{key}")),
        email: Email::parse(email).unwrap(),
        address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
            name: "Mei",
            line1: "1 Marina Blvd",
            line2: "",
            city: "Singapore",
            postcode: "018989",
            country: "Singapore",
        })
        .unwrap(),
        lines: vec![Line { variant_id: variant, quantity: 1 }],
        idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
        card: card(number, "12/30", "123"),
        fingerprints: Fingerprints {
            card: Some(card_fp.into()),
            address: Some("addr-1".into()),
            email: None,
            ip_country: None,
        },
    }
}

fn guest(scope: &StaffScope) -> StoreScope {
    StoreScope::shopper(scope.store_id(), None)
}

const PAYS: &str = "4242424242424242";
const DECLINED: &str = "4000000000000002";

async fn stock(db: &Db, scope: &StaffScope, v: VariantId) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT stock FROM variants WHERE store_id = $1 AND id = $2")
        .bind(scope.store_key())
        .bind(v.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    n
}

async fn order_count(db: &Db, scope: &StaffScope) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_one(db.pool())
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn every_order_is_stored_with_its_score_and_reasons() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    let quiet = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    assert_eq!(quiet.risk_score, Some(0));
    assert!(quiet.risk_reasons.is_empty());
    assert_eq!(quiet.review_state, ReviewState::None);
    // A disposable address, and the same card three times in the hour.
    orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k2", "x@mailinator.com", PAYS, "c1")).await.unwrap();
    let risky = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k3", "x@mailinator.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    let codes: Vec<&str> = risky.risk_reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["disposable_email", "card_velocity"], "highest points first");
    assert_eq!(risky.risk_score, Some(15 + 12));
    assert!(risky.risk_reasons[0].text.contains("disposable"));
    // Read back the same way by the merchant.
    let again = orders::get(&t, &a, risky.id).await.unwrap();
    assert_eq!(again.risk_reasons, risky.risk_reasons);
}

#[tokio::test]
async fn a_block_rule_refuses_before_the_gateway_and_writes_nothing() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let v = product(&t, &a, 3).await;
    let vb = product(&t, &b, 3).await;
    assert_eq!(fraud::set_rules(&t, &a, "# big orders\nblock if amount > 10\n").await.unwrap(), Ok(1));
    let gateway = Counting::default();
    let r = orders::checkout(&t, &gateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1")).await;
    assert!(matches!(r, Err(CommerceError::RefusedAsRisky)), "{r:?}");
    assert_eq!(gateway.0.load(Ordering::SeqCst), 0, "the card was never charged");
    assert_eq!(order_count(&t, &a).await, 0, "no order");
    assert_eq!(stock(&t, &a, v).await, 3, "no stock held");
    let events = audit::list_store(&t, &a, 20).await.unwrap();
    assert!(events.iter().any(|e| e.action == "order.blocked_by_rules"), "audited");
    // Store A's rules never apply to store B.
    let placed = orders::checkout(&t, &gateway, &guest(&b), request(vb, "k1", "mei@example.com", PAYS, "c1")).await;
    assert_eq!(placed.unwrap().order.status, Status::Paid);
    // The next number is not used up by the refusal.
    fraud::set_rules(&t, &a, "").await.unwrap().unwrap();
    let first = orders::checkout(&t, &gateway, &guest(&a), request(v, "k2", "mei@example.com", PAYS, "c2")).await;
    assert_eq!(first.unwrap().order.number.0, 1001);
}

#[tokio::test]
async fn a_review_rule_holds_the_order_and_no_path_ships_it_until_approved() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    fraud::set_rules(&t, &a, "review if amount > 10").await.unwrap().unwrap();
    let held = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    assert_eq!((held.status, held.review_state), (Status::Paid, ReviewState::Held), "charged into escrow, held");
    assert!(ledger::escrow_balance(&t, &a, held.id).await.unwrap() > 0);
    let queue = fraud::held(&t, &a, 50).await.unwrap();
    assert_eq!(queue.iter().map(|o| o.id).collect::<Vec<_>>(), [held.id]);

    let shipment = Shipment::new("SingPost", "RR123", Notify::Quiet).unwrap();
    let shipped = fulfilment::ship(&t, &a, held.id, &shipment).await;
    assert!(matches!(shipped, Err(CommerceError::HeldForReview)), "{shipped:?}");
    let moved = orders::transition(&t, &a, held.id, Status::Shipped, Some("RR123"), &Policy::default()).await;
    assert!(matches!(moved, Err(CommerceError::HeldForReview)), "{moved:?}");
    let batch = fulfilment::ship_batch(
        &t,
        &a,
        vec![BatchLine { order: held.id, shipment: Shipment::new("SingPost", "RR123", Notify::Quiet) }],
    )
    .await
    .unwrap();
    assert!(matches!(&batch[0].outcome, Outcome::Skipped(why) if why.contains("held for review")), "{batch:?}");
    assert_eq!(orders::get(&t, &a, held.id).await.unwrap().status, Status::Paid, "still not shipped");

    let approved = fraud::approve(&t, &a, held.id, "called the buyer").await.unwrap();
    assert_eq!(approved.review_state, ReviewState::Approved);
    assert!(fraud::held(&t, &a, 50).await.unwrap().is_empty());
    assert!(matches!(fraud::approve(&t, &a, held.id, "").await, Err(CommerceError::InvalidTransition(_))));
    let shipped = fulfilment::ship(&t, &a, held.id, &shipment).await.unwrap();
    assert_eq!(shipped.status, Status::Shipped);
    let events = audit::list_store(&t, &a, 50).await.unwrap();
    assert!(events.iter().any(|e| e.action == "order.held_for_review"));
    assert!(events.iter().any(|e| e.action == "order.review_approved"));
}

#[tokio::test]
async fn cancelling_a_held_order_refunds_it_from_escrow() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    fraud::set_rules(&t, &a, "review if score >= 0").await.unwrap().unwrap();
    let held = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    let cancelled = fraud::cancel(&t, &a, held.id, "card testing").await.unwrap();
    assert_eq!((cancelled.status, cancelled.review_state), (Status::Refunded, ReviewState::Cancelled));
    assert_eq!(cancelled.refunded_minor, held.total.minor);
    assert_eq!(ledger::escrow_balance(&t, &a, held.id).await.unwrap(), 0);
    assert!(matches!(fraud::cancel(&t, &a, held.id, "").await, Err(CommerceError::InvalidTransition(_))));
    let events = audit::list_store(&t, &a, 50).await.unwrap();
    assert!(events.iter().any(|e| e.action == "order.review_cancelled"));
}

#[tokio::test]
async fn another_stores_staff_can_neither_see_nor_decide_held_orders() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let v = product(&t, &a, 10).await;
    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let held = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    assert!(fraud::held(&t, &b, 50).await.unwrap().is_empty());
    let not_found =
        |r: Result<orders::Order, CommerceError>| matches!(r, Err(CommerceError::Store(StoreError::NotFound(_))));
    assert!(not_found(fraud::approve(&t, &b, held.id, "").await));
    assert!(not_found(fraud::cancel(&t, &b, held.id, "").await));
    assert_eq!(orders::get(&t, &a, held.id).await.unwrap().review_state, ReviewState::Held, "unchanged");
    // B's (empty) rules are B's: A's stay as saved.
    assert_eq!(fraud::rules(&t, &b).await.unwrap(), "");
    assert_eq!(fraud::rules(&t, &a).await.unwrap(), "review if amount > 1");
}

#[tokio::test]
async fn rules_that_do_not_parse_are_refused_with_their_position_and_nothing_is_saved() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    fraud::set_rules(&t, &a, "review if score > 50").await.unwrap().unwrap();
    let refused = fraud::set_rules(&t, &a, "review if score > 60\nblock if scor > 90\n").await.unwrap();
    match refused {
        Err(RulesRefused::Parse(e)) => assert_eq!((e.line, e.column), (2, 10), "{e}"),
        other => panic!("{other:?}"),
    }
    let too_long = "# x\n".repeat(fraud::MAX_STORE_RULES_BYTES / 4 + 1);
    assert!(matches!(fraud::set_rules(&t, &a, &too_long).await.unwrap(), Err(RulesRefused::TooLong { .. })));
    assert_eq!(fraud::rules(&t, &a).await.unwrap(), "review if score > 50", "the saved rules are untouched");
}

#[tokio::test]
async fn declined_attempts_feed_the_next_score_and_the_platform_block() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    for i in 0..5 {
        let r = orders::checkout(
            &t,
            &TestGateway,
            &guest(&a),
            request(v, &format!("d{i}"), "m@example.com", DECLINED, "c9"),
        )
        .await;
        assert!(matches!(r, Err(CommerceError::PaymentDeclined { .. })), "{r:?}");
    }
    // The platform rule `block if ... failed_attempts >= 5`: the same card, now with a number that would pay.
    let gateway = Counting::default();
    let r = orders::checkout(&t, &gateway, &guest(&a), request(v, "p1", "other@example.com", PAYS, "c9")).await;
    assert!(matches!(r, Err(CommerceError::RefusedAsRisky)), "{r:?}");
    assert_eq!(gateway.0.load(Ordering::SeqCst), 0);
    // Another card and email are not affected by those declines (only the store's count, below its thresholds).
    let ok = orders::checkout(&t, &gateway, &guest(&a), request(v, "p2", "other@example.com", PAYS, "c1")).await;
    let ok = ok.unwrap().order;
    assert_eq!(ok.status, Status::Paid);
    assert!(ok.risk_reasons.iter().any(|r| r.code == "store_failures"), "{:?}", ok.risk_reasons);
}

#[tokio::test]
async fn the_review_and_rules_controls_follow_the_queue_and_the_recorded_review() {
    use std::sync::Arc;

    use palisade_core::matrix::ControlStatus;
    use palisade_store::matrix::{NodeFacts, Registry, Report};

    fn status<'a>(r: &'a Report, id: &str) -> &'a ControlStatus {
        r.areas
            .iter()
            .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
            .find(|c| c.control.id == id)
            .map(|c| &c.status)
            .unwrap()
    }
    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    let mut reg = Registry::default();
    palisade_commerce::controls::register(&mut reg).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: std::env::temp_dir(), master_key_path: std::env::temp_dir().join("k") });
    let evaluate = || reg.evaluate_store(&t, &facts, &a);

    let r = evaluate().await.unwrap();
    assert!(status(&r, "store.risky-orders-reviewed").is_met());
    assert!(
        matches!(status(&r, "platform.fraud-rules-reviewed"), ControlStatus::Unmet { reason, .. } if reason.contains("never been reviewed"))
    );

    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let held = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1"))
        .await
        .unwrap()
        .order;
    assert!(status(&evaluate().await.unwrap(), "store.risky-orders-reviewed").is_met(), "within 24 hours");
    clock.advance(std::time::Duration::from_secs(25 * 3600));
    let r = evaluate().await.unwrap();
    assert!(
        matches!(status(&r, "store.risky-orders-reviewed"), ControlStatus::Unmet { reason, .. } if reason.contains("more than 24 hours"))
    );
    fraud::approve(&t, &a, held.id, "").await.unwrap();
    assert!(status(&evaluate().await.unwrap(), "store.risky-orders-reviewed").is_met());

    fraud::record_platform_review(&t, &PlatformScope::system("test"), "ops@example.com").await.unwrap();
    let r = evaluate().await.unwrap();
    assert!(status(&r, "platform.fraud-rules-reviewed").is_met(), "{:?}", status(&r, "platform.fraud-rules-reviewed"));
    // A review of other rules (an older release) does not count.
    palisade_store::settings::put(&t, fraud::REVIEW_SETTING, &serde_json::json!({"version": "0000", "by": "x"}))
        .await
        .unwrap();
    assert!(!status(&evaluate().await.unwrap(), "platform.fraud-rules-reviewed").is_met());
}

/// `n` published products of one variant each (a burst on one variant would queue on its stock row anyway).
async fn products(db: &Db, scope: &StaffScope, n: usize) -> Vec<VariantId> {
    let mut out = Vec::new();
    for i in 0..n {
        let p = catalog::create_product(
            db,
            scope,
            NewProduct {
                slug: Slug::parse(&format!("tea-{i}")).unwrap(),
                title: format!("Tea {i}"),
                description: "Leaves.".into(),
                status: ProductStatus::Published,
                category: None,
                variants: vec![NewVariant {
                    sku: format!("TEA-{i}"),
                    options: serde_json::json!({}),
                    price: Money::new(1850, Currency::SGD),
                    stock: 5,
                }],
            },
        )
        .await
        .unwrap();
        out.push(p.variants[0].id);
    }
    out
}

/// Review finding 1: on PostgreSQL (READ COMMITTED) concurrent checkouts each counted the velocity before any of
/// them committed, so a burst on one card all scored "first use". Scoring now waits for the store's row lock, so
/// each checkout counts the ones before it: the card's velocity reaches every count from 1 to N.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_checkouts_with_one_card_is_scored_one_after_another() {
    const N: usize = 6;
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let variants = products(&t, &a, N).await;
    let db: Db = (*t).clone();
    let mut tasks = Vec::new();
    for (i, v) in variants.into_iter().enumerate() {
        let db = db.clone();
        let scope = guest(&a);
        tasks.push(tokio::spawn(async move {
            let req = request(v, &format!("burst-{i}"), &format!("b{i}@example.com"), PAYS, "same-card");
            orders::checkout(&db, &TestGateway, &scope, req).await
        }));
    }
    let mut flagged = 0;
    for task in tasks {
        let order = task.await.unwrap().unwrap().order;
        assert_eq!(order.status, Status::Paid);
        if order.risk_reasons.iter().any(|r| r.code == "card_velocity") {
            flagged += 1;
        }
    }
    // The card-velocity reason starts at the third use in the hour: orders 3..=N of the burst carry it.
    assert_eq!(flagged, N - 2, "each checkout counted the ones committed before it");
}

/// Places an order the store's rules hold for review (paid, into escrow).
async fn held_order(t: &Db, a: &StaffScope, v: VariantId, key: &str) -> orders::Placed {
    let placed =
        orders::checkout(t, &TestGateway, &guest(a), request(v, key, "mei@example.com", PAYS, key)).await.unwrap();
    assert_eq!((placed.order.status, placed.order.review_state), (Status::Paid, ReviewState::Held));
    placed
}

async fn reviewed_at(t: &Db, a: &StaffScope, id: palisade_core::OrderId) -> Option<i64> {
    let (at,): (Option<i64>,) = sqlx::query_as("SELECT reviewed_at FROM orders WHERE store_id = $1 AND id = $2")
        .bind(a.store_key())
        .bind(id.to_string())
        .fetch_one(t.pool())
        .await
        .unwrap();
    at
}

/// Review finding 2: a held order that is refunded in full (by the refund action or the refunded transition),
/// or that the buyer wins in a dispute, is no longer waiting for review; a partial refund leaves it waiting.
#[tokio::test]
async fn a_held_order_refunded_or_lost_in_a_dispute_leaves_the_review_queue() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 20).await;
    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let queue = |t: Db, a: StaffScope| async move {
        fraud::held(&t, &a, 50).await.unwrap().into_iter().map(|o| o.id).collect::<Vec<_>>()
    };

    // A partial refund: still held, still in the queue.
    let partly = held_order(&t, &a, v, "p1").await.order;
    let after = orders::refund(&t, &a, partly.id, 100, "one broken").await.unwrap();
    assert_eq!(after.review_state, ReviewState::Held);
    assert_eq!(queue((*t).clone(), a.clone()).await, [partly.id]);
    // The rest refunded: closed.
    let rest = partly.total.minor - 100;
    let refunded = orders::refund(&t, &a, partly.id, rest, "all of it").await.unwrap();
    assert_eq!((refunded.status, refunded.review_state), (Status::Refunded, ReviewState::Closed));
    assert!(reviewed_at(&t, &a, partly.id).await.is_some());
    assert!(queue((*t).clone(), a.clone()).await.is_empty());

    // The refunded transition.
    let moved = held_order(&t, &a, v, "p2").await.order;
    let after = orders::transition(&t, &a, moved.id, Status::Refunded, None, &Policy::default()).await.unwrap();
    assert_eq!(after.review_state, ReviewState::Closed);

    // A dispute: out of the queue while disputed, closed when the buyer wins.
    let disputed = held_order(&t, &a, v, "p3").await;
    let d = palisade_commerce::disputes::open(&t, &disputed.access, "not_received", "Nothing came.").await.unwrap();
    assert!(queue((*t).clone(), a.clone()).await.is_empty(), "a disputed order is the dispute's to decide");
    let op_account = tenancy::create_account(
        &t,
        NewAccount {
            email: Email::parse("op@platform.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let op = palisade_store::scope::OperatorPrincipal::from_verified_operator(&op_account).unwrap();
    palisade_commerce::disputes::decide(
        &t,
        &op,
        a.store_id(),
        d.id,
        palisade_commerce::disputes::Outcome::Buyer,
        "No tracking.",
        &Policy::default(),
    )
    .await
    .unwrap();
    let after = orders::get(&t, &a, disputed.order.id).await.unwrap();
    assert_eq!((after.status, after.review_state), (Status::Refunded, ReviewState::Closed));
    assert!(reviewed_at(&t, &a, disputed.order.id).await.is_some());

    // The queue's own cancel keeps its own state.
    let cancelled = held_order(&t, &a, v, "p4").await.order;
    let after = fraud::cancel(&t, &a, cancelled.id, "card testing").await.unwrap();
    assert_eq!(after.review_state, ReviewState::Cancelled);
    assert!(queue((*t).clone(), a.clone()).await.is_empty());
    let events = audit::list_store(&t, &a, 200).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "order.review_closed").count(), 3, "audited once per close");
}

/// A held order is never shipped, so a dispute about it cannot be decided for the merchant (that would release the
/// payment for goods not sent — a merchant could steer a self-bought, stolen-card order there); the decision is
/// refused, nothing changes, and the decision for the buyer still works.
#[tokio::test]
async fn a_dispute_about_a_held_order_cannot_be_decided_for_the_merchant() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 20).await;
    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let disputed = held_order(&t, &a, v, "p1").await;
    let d = palisade_commerce::disputes::open(&t, &disputed.access, "not_received", "Nothing came.").await.unwrap();
    let op_account = tenancy::create_account(
        &t,
        NewAccount {
            email: Email::parse("op@platform.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let op = palisade_store::scope::OperatorPrincipal::from_verified_operator(&op_account).unwrap();
    // The operator's queue shows the order's review state and score beside the dispute.
    let queue = palisade_commerce::disputes::undecided_cases(&t, &op).await.unwrap();
    let case = queue.iter().find(|c| c.dispute.id == d.id).unwrap();
    assert_eq!(case.review_state.as_deref(), Some("held"));
    assert!(case.risk_score.is_some() && case.tracking_no.is_none(), "{case:?}");
    let policy = Policy::default();
    let decide =
        |outcome| palisade_commerce::disputes::decide(&t, &op, a.store_id(), d.id, outcome, "Decided.", &policy);
    let refused = decide(palisade_commerce::disputes::Outcome::Merchant).await.unwrap_err();
    assert!(refused.to_string().contains("never shipped"), "{refused}");
    let after = orders::get(&t, &a, disputed.order.id).await.unwrap();
    assert_eq!((after.status, after.review_state), (Status::Disputed, ReviewState::Held), "nothing changed");
    let dispute = palisade_commerce::disputes::get(&t, &a, d.id).await.unwrap();
    assert_ne!(dispute.status, "decided");
    decide(palisade_commerce::disputes::Outcome::Buyer).await.unwrap();
    let after = orders::get(&t, &a, disputed.order.id).await.unwrap();
    assert_eq!((after.status, after.review_state), (Status::Refunded, ReviewState::Closed));
}

/// Review finding 2: the risky-orders control does not count a held order that was refunded as waiting (here
/// one refunded more than 24 hours ago would otherwise make it unmet).
#[tokio::test]
async fn the_review_control_does_not_count_refunded_held_orders_as_waiting() {
    use std::sync::Arc;

    use palisade_core::matrix::ControlStatus;
    use palisade_store::matrix::{NodeFacts, Registry};

    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let mut reg = Registry::default();
    palisade_commerce::controls::register(&mut reg).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: std::env::temp_dir(), master_key_path: std::env::temp_dir().join("k") });
    let status = || async {
        let r = reg.evaluate_store(&t, &facts, &a).await.unwrap();
        r.areas
            .iter()
            .flat_map(|x| x.platform.iter().chain(x.merchant.iter()))
            .find(|c| c.control.id == "store.risky-orders-reviewed")
            .map(|c| c.status.clone())
            .unwrap()
    };
    let held = held_order(&t, &a, v, "k1").await.order;
    orders::refund(&t, &a, held.id, held.total.minor, "refunded").await.unwrap();
    // Even a row left `held` by an older release is not waiting once it is refunded.
    sqlx::query("UPDATE orders SET review_state = 'held' WHERE store_id = $1 AND id = $2")
        .bind(a.store_key())
        .bind(held.id.to_string())
        .execute(t.pool())
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(25 * 3600));
    let s = status().await;
    assert!(matches!(&s, ControlStatus::Met { detail } if detail.contains("no order waiting")), "{s:?}");
    assert!(fraud::held(&t, &a, 50).await.unwrap().is_empty());
}

/// A gateway that is down: the order stays placed, unpaid.
#[derive(Debug, Default)]
struct Down;

impl PaymentGateway for Down {
    fn charge<'a>(
        &'a self,
        _amount: Money,
        _card: &'a Card,
        _idempotency: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Charge, GatewayError>> + Send + 'a>> {
        Box::pin(async { Err(GatewayError::Unavailable("down".into())) })
    }
}

/// Review finding 2, the cancelled path: a held order whose payment never went through is not in the queue (it
/// is not paid), and cancelling it closes its review.
#[tokio::test]
async fn a_held_order_cancelled_before_payment_has_its_review_closed() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    fraud::set_rules(&t, &a, "review if amount > 1").await.unwrap().unwrap();
    let r = orders::checkout(&t, &Down, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1")).await;
    assert!(matches!(r, Err(CommerceError::PaymentGatewayUnavailable(_))), "{r:?}");
    let placed = orders::list(&t, &a, None, 10, 0).await.unwrap().pop().unwrap();
    assert_eq!((placed.status, placed.review_state), (Status::Placed, ReviewState::Held));
    assert!(fraud::held(&t, &a, 50).await.unwrap().is_empty(), "not paid: nothing to review yet");
    let cancelled = orders::transition(&t, &a, placed.id, Status::Cancelled, None, &Policy::default()).await.unwrap();
    assert_eq!((cancelled.status, cancelled.review_state), (Status::Cancelled, ReviewState::Closed));
    assert!(reviewed_at(&t, &a, placed.id).await.is_some());
}

/// A checkout whose charge never got an answer may be retried under its key — with the card it was scored with
/// only: another card would be charged unscored and never counted in the card velocity.
#[tokio::test]
async fn a_retry_of_an_unpaid_order_cannot_switch_cards() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let v = product(&t, &a, 10).await;
    let r = orders::checkout(&t, &Down, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1")).await;
    assert!(matches!(r, Err(CommerceError::PaymentGatewayUnavailable(_))), "{r:?}");
    let other =
        orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", "5555555555554444", "c2"))
            .await;
    assert!(matches!(other, Err(CommerceError::IdempotencyKeyReused)), "{other:?}");
    let same = orders::checkout(&t, &TestGateway, &guest(&a), request(v, "k1", "mei@example.com", PAYS, "c1")).await;
    assert_eq!(same.unwrap().order.status, Status::Paid);
}
