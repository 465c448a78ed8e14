//! The public safety rating of a store (issue #20 item 7), on a real database (SQLite, or PostgreSQL with
//! PALISADE_TEST_DATABASE_URL): disputes and late shipments lower it, a store without history is a new seller,
//! and another store's data never counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Duration;

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::fraud::Fingerprints;
use palisade_commerce::fulfilment::{self, Notify, Shipment};
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{TestGateway, card};
use palisade_commerce::safety::{self, Judgement, Level, SafetyRating};
use palisade_core::OrderId;
use palisade_core::VariantId;
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::Db;
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;

const DAY: Duration = Duration::from_secs(24 * 3600);

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

async fn product(db: &Db, scope: &StaffScope) -> VariantId {
    let p = catalog::create_product(
        db,
        scope,
        NewProduct {
            slug: Slug::parse("kaya").unwrap(),
            title: "Kaya".into(),
            description: "Pandan.".into(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: "KAYA-1".into(),
                options: serde_json::json!({}),
                price: Money::new(1200, Currency::SGD),
                stock: 100,
            }],
        },
    )
    .await
    .unwrap();
    p.variants[0].id
}

/// `n` paid orders from different buyers, cards and addresses.
async fn orders_of(db: &Db, scope: &StaffScope, v: VariantId, tag: &str, n: usize) -> Vec<OrderId> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("{tag}-{i}");
        let placed = orders::checkout(
            db,
            &TestGateway,
            &StoreScope::shopper(scope.store_id(), None),
            Checkout {
                guest_proof: Some(format!("proof-{key}")),
                email: Email::parse(&format!("buyer{i}@{tag}.example")).unwrap(),
                address: palisade_commerce::address::ShippingAddress::parse(
                    palisade_commerce::address::AddressFields {
                        name: "Mei",
                        line1: &format!("{i} Marina Blvd"),
                        line2: "",
                        city: "Singapore",
                        postcode: "018989",
                        country: "Singapore",
                    },
                )
                .unwrap(),
                lines: vec![Line { variant_id: v, quantity: 1 }],
                idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(&key).unwrap(),
                card: card("4242424242424242", "12/30", "123"),
                fingerprints: Fingerprints {
                    card: Some(format!("card-{key}")),
                    address: Some(format!("addr-{key}")),
                    email: None,
                    ip_country: None,
                },
            },
        )
        .await
        .unwrap();
        assert_eq!(placed.order.status, orders::Status::Paid, "{key}");
        out.push(placed.order.id);
    }
    out
}

async fn ship(db: &Db, scope: &StaffScope, ids: &[OrderId]) {
    for id in ids {
        fulfilment::ship(db, scope, *id, &Shipment::new("SingPost", "RR1", Notify::Quiet).unwrap()).await.unwrap();
    }
}

/// A buyer dispute on the order (as `disputes::open` writes it).
async fn dispute(db: &Db, store: &StaffScope, order: OrderId) {
    sqlx::query(
        "INSERT INTO disputes (id, store_id, order_id, reason, buyer_statement, status, created_at, updated_at) \
         VALUES ($1, $2, $3, 'not_received', 'never came', 'open', 0, 0)",
    )
    .bind(format!("dispute-{order}"))
    .bind(store.store_key())
    .bind(order.to_string())
    .execute(db.pool())
    .await
    .unwrap();
}

fn judgement(r: &SafetyRating, key: &str) -> Judgement {
    r.factors.iter().find(|f| f.key == key).unwrap().judgement
}

#[tokio::test]
async fn a_store_without_history_is_a_new_seller_and_says_it_is_not_verified() {
    let (t, _clock) = TestDb::manual().await;
    let a = store(&t, "fresh-kaya").await;
    let r = safety::compute(&t, &a).await.unwrap();
    assert_eq!(r.level, Level::NewSeller);
    assert_eq!(r.level_label, "New seller");
    let keys: Vec<&str> = r.factors.iter().map(|f| f.key).collect();
    assert_eq!(keys, ["verified", "tenure", "disputes", "shipping", "reviews", "reports"]);
    let verified = &r.factors[0];
    assert!(verified.detail.starts_with("not yet verified"), "{verified:?}");
    assert_eq!(verified.judgement, Judgement::Unknown);
    assert_eq!(r.factors[1].detail, "open for 0 days");
    assert_eq!(r.factors[4].detail, "no reviews yet");
    assert!(r.factors.iter().all(|f| !f.judgement_label.is_empty()), "every factor says how it reads in words");
}

#[tokio::test]
async fn disputes_and_late_shipments_lower_the_rating_and_other_stores_never_count() {
    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "good-kaya").await;
    let b = store(&t, "bad-kaya").await;
    let (va, vb) = (product(&t, &a).await, product(&t, &b).await);

    // A: ten orders shipped the same day. B: ten orders, none shipped yet.
    let a_orders = orders_of(&t, &a, va, "a", 10).await;
    ship(&t, &a, &a_orders).await;
    let b_orders = orders_of(&t, &b, vb, "b", 10).await;
    // Before any deadline passes, nothing is due.
    let r = safety::compute(&t, &b).await.unwrap();
    assert_eq!((r.figures.paid_orders, r.figures.due), (10, 0));
    assert_eq!(judgement(&r, "shipping"), Judgement::Unknown);

    clock.advance(6 * DAY);
    // B ships four orders, late; six are still waiting past the 5-day window.
    ship(&t, &b, &b_orders[..4]).await;
    let ra = safety::compute(&t, &a).await.unwrap();
    assert_eq!((ra.figures.due, ra.figures.on_time, ra.figures.disputes), (10, 10, 0), "{ra:?}");
    assert_eq!(ra.level, Level::Good, "{ra:?}");
    assert_eq!(judgement(&ra, "shipping"), Judgement::Good);
    let rb = safety::compute(&t, &b).await.unwrap();
    assert_eq!((rb.figures.due, rb.figures.on_time), (10, 0), "{rb:?}");
    assert_eq!(judgement(&rb, "shipping"), Judgement::Poor);
    assert_eq!(rb.level, Level::Caution);
    assert!(rb.summary.contains("Ships on time"), "{}", rb.summary);
    assert!(rb.factors[3].detail.starts_with("0 of 10 orders shipped within 5 days"), "{:?}", rb.factors[3]);

    // B's disputes, even one forged to name A's order, never count for A.
    dispute(&t, &b, b_orders[0]).await;
    dispute(&t, &b, a_orders[1]).await;
    let again = safety::compute(&t, &a).await.unwrap();
    assert_eq!(again.figures, ra.figures, "another store's data changed A's rating");
    assert_eq!(safety::compute(&t, &b).await.unwrap().figures.disputes, 1);

    // A dispute on one of A's ten orders (10 %): poor, Caution; the figure is in the words.
    dispute(&t, &a, a_orders[2]).await;
    let r = safety::compute(&t, &a).await.unwrap();
    assert_eq!(r.figures.disputes, 1);
    assert_eq!(judgement(&r, "disputes"), Judgement::Poor);
    assert_eq!(r.level, Level::Caution);
    assert_eq!(r.factors[2].detail, "1 dispute on 10 orders in the last 90 days (10.0%)");

    // The cached rating is reused for a minute, then recomputed.
    let first = safety::rating(&t, &a).await.unwrap();
    dispute(&t, &a, a_orders[3]).await;
    assert_eq!(safety::rating(&t, &a).await.unwrap().figures.disputes, first.figures.disputes);
    clock.advance(Duration::from_secs(61));
    assert_eq!(safety::rating(&t, &a).await.unwrap().figures.disputes, 2);

    // Orders older than the window no longer count: A is a new seller again.
    clock.advance(91 * DAY);
    assert_eq!(safety::compute(&t, &a).await.unwrap().level, Level::NewSeller);
}

#[test]
fn thresholds_read_in_words() {
    use safety::Figures;
    let base = Figures { age_days: 400, paid_orders: 200, due: 200, on_time: 200, ..Figures::default() };
    let r = safety::judge(base, 0);
    assert_eq!(r.level, Level::Good);
    assert_eq!(r.factors[1].detail, "open for 1 year");
    // 2 disputes in 200 orders (1 %) is still good; 6 (3 %) fair; 7 poor.
    assert_eq!(safety::judge(Figures { disputes: 2, ..base }, 0).level, Level::Good);
    assert_eq!(safety::judge(Figures { disputes: 6, ..base }, 0).level, Level::Fair);
    assert_eq!(safety::judge(Figures { disputes: 7, ..base }, 0).level, Level::Caution);
    // 95 % on time good, 85 % fair, below poor.
    assert_eq!(safety::judge(Figures { on_time: 190, ..base }, 0).level, Level::Good);
    assert_eq!(safety::judge(Figures { on_time: 170, ..base }, 0).level, Level::Fair);
    assert_eq!(safety::judge(Figures { on_time: 169, ..base }, 0).level, Level::Caution);
    // Reviews: three or more with an average under 3 are poor.
    let r = safety::judge(Figures { review_sum: 7, review_count: 3, ..base }, 0);
    assert_eq!(r.level, Level::Caution);
    assert_eq!(r.factors[4].detail, "2.3 out of 5 from 3 reviews");
    // Too few orders: new seller, whatever else.
    assert_eq!(safety::judge(Figures { paid_orders: 4, ..base }, 0).level, Level::NewSeller);
    // An upheld scam report: caution, for an established store and for a new one alike.
    let r = safety::judge(Figures { upheld_reports: 1, ..base }, 0);
    assert_eq!(r.level, Level::Caution);
    assert_eq!(judgement(&r, "reports"), Judgement::Poor);
    assert!(r.summary.contains("scam report"), "{}", r.summary);
    assert_eq!(safety::judge(Figures { upheld_reports: 2, paid_orders: 0, ..base }, 0).level, Level::Caution);
    assert_eq!(judgement(&safety::judge(base, 0), "reports"), Judgement::Good);
}

/// Only upheld reports count, only in the window, and only the store's own.
#[tokio::test]
async fn an_upheld_scam_report_puts_the_store_on_caution() {
    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let reporter = palisade_store::tenancy::create_account(
        &t,
        palisade_store::tenancy::NewAccount {
            email: palisade_core::text::Email::parse("mei@buyer.example").unwrap(),
            display_name: "Mei".into(),
            kind: palisade_store::tenancy::AccountKind::Buyer,
        },
    )
    .await
    .unwrap();
    let now = t.now().0;
    for (store, status) in [(&a, "open"), (&a, "dismissed"), (&b, "upheld")] {
        sqlx::query(
            "INSERT INTO scam_reports (id, store_id, reporter_id, subject_kind, subject_id, category, severity, details, \
             status, created_at, due_at, decided_at) VALUES ($1, $2, $3, 'store', $2, 'fake_goods', 'normal', 'x', $4, $5, $5, $5)",
        )
        .bind(palisade_core::JobId::new().to_string())
        .bind(store.store_id().to_string())
        .bind(reporter.id.to_string())
        .bind(status)
        .bind(now)
        .execute(t.pool())
        .await
        .unwrap();
    }
    let r = safety::compute(&t, &a).await.unwrap();
    assert_eq!(
        (r.figures.upheld_reports, r.level),
        (0, Level::NewSeller),
        "filed or dismissed reports count for nothing"
    );
    let r = safety::compute(&t, &b).await.unwrap();
    assert_eq!((r.figures.upheld_reports, r.level), (1, Level::Caution));
    clock.advance(91 * DAY);
    assert_eq!(safety::compute(&t, &b).await.unwrap().figures.upheld_reports, 0, "past the window");
}
