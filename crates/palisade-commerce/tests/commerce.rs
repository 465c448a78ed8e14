//! Catalog, inventory and ledger against a real database (SQLite, or PostgreSQL in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::orders::{Checkout, Line};
use palisade_commerce::payments::card;
use palisade_commerce::policy::Policy;
use palisade_commerce::{CommerceError, inventory, ledger};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_core::{AccountId, OrderId, VariantId};
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

#[path = "commerce/product_import.rs"]
mod product_import;

/// A complete delivery address, as both checkouts parse it.
fn address() -> palisade_commerce::address::ShippingAddress {
    palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
        name: "Mei",
        line1: "1 Marina Blvd",
        line2: "",
        city: "Singapore",
        postcode: "018989",
        country: "SG",
    })
    .unwrap()
}

fn idem(key: &str) -> palisade_commerce::idempotency::IdempotencyKey {
    palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap()
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

/// Runs the queued store-mail jobs as the job runner would; answers how many ran.
async fn run_mail_jobs(t: &Db, links: &palisade_identity::links::LinkSigner) -> usize {
    let jobs: Vec<(String, String)> =
        sqlx::query_as("SELECT id, payload FROM jobs WHERE kind = 'order.mail' AND status = 'queued'")
            .fetch_all(t.pool())
            .await
            .unwrap();
    for (id, payload) in &jobs {
        let payload: serde_json::Value = serde_json::from_str(payload).unwrap();
        palisade_commerce::notify::send(t, links, "https://shop.example/", &payload).await.unwrap();
        sqlx::query("UPDATE jobs SET status = 'succeeded' WHERE id = $1").bind(id).execute(t.pool()).await.unwrap();
    }
    jobs.len()
}

/// A buyer's account (no password: the tests act for it through a shopper scope).
async fn buyer(db: &Db, email: &str) -> AccountId {
    tenancy::create_account(
        db,
        NewAccount { email: Email::parse(email).unwrap(), display_name: "B".into(), kind: AccountKind::Buyer },
    )
    .await
    .unwrap()
    .id
}

/// A checkout of `quantity` units of `variant` by b@example.com, signed in or not (no guest proof), paying with
/// the test card that pays. Tests that need another buyer, proof or card override those fields.
fn order_request(variant: &VariantId, quantity: i64, key: &str) -> Checkout {
    Checkout {
        guest_proof: None,
        email: Email::parse("b@example.com").unwrap(),
        address: address(),
        lines: vec![Line { variant_id: *variant, quantity }],
        idempotency_key: idem(key),
        card: card("4242424242424242", "12/30", "123"),
        fingerprints: Default::default(),
    }
}

fn sgd(minor: i64) -> Money {
    Money::new(minor, Currency::SGD)
}

fn tea(sku: &str, stock: i64) -> NewProduct {
    NewProduct {
        slug: Slug::parse("oolong").unwrap(),
        title: "Oolong".into(),
        description: "Roasted.".into(),
        status: ProductStatus::Published,
        category: None,
        variants: vec![NewVariant {
            sku: sku.into(),
            options: serde_json::json!({"size": "100g"}),
            price: sgd(1850),
            stock,
        }],
    }
}

#[tokio::test]
async fn products_are_reachable_only_through_their_store() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let p = catalog::create_product(&t, &a, tea("OOL-100", 7)).await.unwrap();
    let v = &p.variants[0].id;
    assert!(matches!(catalog::get_product(&t, &b, p.id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    assert!(catalog::list_products(&t, &b, 50, 0).await.unwrap().is_empty());
    assert!(matches!(catalog::set_stock(&t, &b, *v, 99).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    assert!(matches!(
        catalog::set_status(&t, &b, p.id, ProductStatus::Archived).await,
        Err(CommerceError::Store(StoreError::NotFound(_)))
    ));
    assert!(matches!(inventory::reserve(&t, &b, *v, 1).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    let same = catalog::get_product(&t, &a, p.id).await.unwrap();
    assert_eq!(same.variants[0].stock, 7);
    assert_eq!(same.status, ProductStatus::Published);
    // The same slug and SKU are fine in another store.
    catalog::create_product(&t, &b, tea("OOL-100", 1)).await.unwrap();
}

#[tokio::test]
async fn bad_products_are_refused_whole() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let mut usd = tea("OOL-1", 1);
    usd.variants[0].price = Money::new(100, Currency::parse("USD").unwrap());
    assert!(matches!(catalog::create_product(&t, &a, usd).await, Err(CommerceError::CurrencyMismatch(_))));
    assert!(matches!(catalog::create_product(&t, &a, tea("OOL-1", -3)).await, Err(CommerceError::Invalid(_))));
    assert!(matches!(catalog::create_product(&t, &a, tea("bad sku!", 1)).await, Err(CommerceError::Invalid(_))));
    let mut dup = tea("OOL-1", 1);
    dup.variants.push(NewVariant { sku: "OOL-1".into(), options: serde_json::json!({}), price: sgd(1), stock: 1 });
    assert!(matches!(catalog::create_product(&t, &a, dup).await, Err(CommerceError::Store(StoreError::Conflict(_)))));
    assert!(catalog::list_products(&t, &a, 50, 0).await.unwrap().is_empty(), "no half-written product");
    catalog::create_product(&t, &a, tea("OOL-1", 1)).await.unwrap();
    assert!(
        matches!(
            catalog::create_product(&t, &a, tea("OOL-2", 1)).await,
            Err(CommerceError::Store(StoreError::Conflict(_)))
        ),
        "slug taken"
    );
}

/// 50 concurrent checkouts for the last 5 units: exactly 5 succeed.
#[tokio::test]
async fn the_last_units_are_never_oversold() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let p = catalog::create_product(&t, &a, tea("OOL-100", 5)).await.unwrap();
    let variant = p.variants[0].id;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (db, scope, variant) = (t.db.clone(), a.clone(), variant);
        tasks.push(tokio::spawn(async move { inventory::reserve(&db, &scope, variant, 1).await }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(CommerceError::OutOfStock { available: 0 }) => {}
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(catalog::get_product(&t, &a, p.id).await.unwrap().variants[0].stock, 0);
    assert!(matches!(inventory::reserve(&t, &a, variant, 0).await, Err(CommerceError::Invalid(_))));
}

#[tokio::test]
async fn escrow_flows_capture_release_refund_and_payout() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let (order_1, order_2) = (OrderId::new(), OrderId::new());
    ledger::capture(&t, &a, order_1, sgd(10_000)).await.unwrap();
    assert_eq!(ledger::escrow_balance(&t, &a, order_1).await.unwrap(), 10_000);
    ledger::refund(&t, &a, order_1, sgd(2_000)).await.unwrap();
    assert!(matches!(ledger::refund(&t, &a, order_1, sgd(9_000)).await, Err(CommerceError::InsufficientFunds { .. })));
    assert_eq!(ledger::escrow_balance(&t, &a, order_1).await.unwrap(), 8_000, "a refused refund changes nothing");
    ledger::release(&t, &a, order_1, Currency::SGD, 400).await.unwrap();
    assert_eq!(ledger::escrow_balance(&t, &a, order_1).await.unwrap(), 0);
    assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 7_600);
    assert!(matches!(ledger::payout(&t, &a, sgd(7_601)).await, Err(CommerceError::InsufficientFunds { .. })));
    ledger::payout(&t, &a, sgd(7_600)).await.unwrap();
    assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 0);
    assert!(matches!(ledger::capture(&t, &a, order_2, sgd(0)).await, Err(CommerceError::Invalid(_))));
    let audit = ledger::audit(&t).await.unwrap();
    assert_eq!(
        audit,
        ledger::Audit { total: 0, negative_internal: vec![], drifted: vec![], unbalanced_transfers: vec![] }
    );
}

mod property {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Capture(u8, i64),
        Refund(u8, i64),
        Release(u8, i64),
        Payout(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..4, 1i64..50_000).prop_map(|(o, a)| Op::Capture(o, a)),
            (0u8..4, 1i64..50_000).prop_map(|(o, a)| Op::Refund(o, a)),
            (0u8..4, 0i64..2_000).prop_map(|(o, f)| Op::Release(o, f)),
            (1i64..80_000).prop_map(Op::Payout),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        /// Any sequence of operations (allowed or refused) keeps the ledger's sum at zero, no internal account
        /// negative, balances equal to their entries and every transfer balanced.
        #[test]
        fn any_sequence_keeps_the_books_balanced(ops in proptest::collection::vec(op(), 1..25)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let t = TestDb::new().await;
                let a = store(&t, "alpha").await;
                let ids = [OrderId::new(), OrderId::new(), OrderId::new(), OrderId::new()];
                for op in ops {
                    let _ = match op {
                        Op::Capture(o, amt) => ledger::capture(&t, &a, ids[usize::from(o)], sgd(amt)).await,
                        Op::Refund(o, amt) => ledger::refund(&t, &a, ids[usize::from(o)], sgd(amt)).await,
                        Op::Release(o, fee) => ledger::release(&t, &a, ids[usize::from(o)], Currency::SGD, fee).await,
                        Op::Payout(amt) => ledger::payout(&t, &a, sgd(amt)).await,
                    };
                    let audit = ledger::audit(&t).await.unwrap();
                    assert_eq!(audit.total, 0, "{audit:?}");
                    assert!(audit.negative_internal.is_empty(), "{audit:?}");
                    assert!(audit.drifted.is_empty(), "{audit:?}");
                    assert!(audit.unbalanced_transfers.is_empty(), "{audit:?}");
                }
            });
        }
    }
}

mod orders {
    use palisade_commerce::orders::{self, Checkout, Status};
    use palisade_commerce::payments::{TestGateway, card};

    use super::*;

    fn checkout(variant: &VariantId, qty: i64, key: &str, number: &str) -> Checkout {
        Checkout {
            email: Email::parse("buyer@example.com").unwrap(),
            card: card(number, "12/30", "123"),
            fingerprints: Default::default(),
            ..order_request(variant, qty, key)
        }
    }

    #[tokio::test]
    async fn checkout_totals_come_from_the_catalog_and_retries_do_not_duplicate() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        orders::set_flat_shipping(&t, &a, 500).await.unwrap();
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let order =
            orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-1", "4242 4242 4242 4242")).await.unwrap().order;
        assert_eq!(order.status, Status::Paid);
        assert_eq!(order.total, sgd(2 * 1850 + 500));
        assert_eq!(order.card_last4.as_deref(), Some("4242"));
        assert_eq!(ledger::escrow_balance(&t, &a, order.id).await.unwrap(), 4200, "the payment is held in escrow");
        let again =
            orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-1", "4242 4242 4242 4242")).await.unwrap().order;
        assert_eq!(again.id, order.id, "a retried request returns the first order");
        assert_eq!(catalog::get_product(&t, &a, p.id).await.unwrap().variants[0].stock, 8);
        // The card number is nowhere in the database.
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM orders WHERE address LIKE '%4242424242%' OR payment_ref LIKE '%4242424242%'",
        )
        .fetch_one(t.pool())
        .await
        .unwrap();
        assert_eq!(n, 0);
    }

    /// Each store numbers its own orders from #1001, a retried request keeps its number, and merchants find orders
    /// by number or by part of the buyer's email (wildcards typed in the box are plain characters).
    #[tokio::test]
    async fn orders_are_numbered_per_store_and_found_by_number_or_email() {
        use palisade_commerce::orders::{OrderNumber, OrderQuery};
        let t = TestDb::new().await;
        let (a, b) = (store(&t, "alpha").await, store(&t, "bravo").await);
        let pa = catalog::create_product(&t, &a, tea("A-1", 10)).await.unwrap();
        let pb = catalog::create_product(&t, &b, tea("B-1", 10)).await.unwrap();
        let card = "4242 4242 4242 4242";
        let buy = |scope: &StaffScope, v: &VariantId, key: &str| {
            let (scope, v, key) = (scope.clone(), *v, key.to_owned());
            let t = &t;
            async move { orders::checkout(t, &TestGateway, &scope, checkout(&v, 1, &key, card)).await.unwrap().order }
        };
        let a1 = buy(&a, &pa.variants[0].id, "a-1").await;
        let b1 = buy(&b, &pb.variants[0].id, "b-1").await;
        let a2 = buy(&a, &pa.variants[0].id, "a-2").await;
        assert_eq!((a1.number, a2.number, b1.number), (OrderNumber(1001), OrderNumber(1002), OrderNumber(1001)));
        assert_eq!(a2.number.to_string(), "#1002");
        assert_eq!(buy(&a, &pa.variants[0].id, "a-2").await.number, OrderNumber(1002), "a retry keeps its number");
        let declined =
            orders::checkout(&t, &TestGateway, &a, checkout(&pa.variants[0].id, 1, "a-3", "4000 0000 0000 0002"));
        assert!(declined.await.is_err(), "declined: no order, its number stays unused");
        let a3 = buy(&a, &pa.variants[0].id, "a-4").await;
        assert_eq!(a3.number, OrderNumber(1004));

        let find = |text: &str| {
            let q = OrderQuery { status: None, text: Some(text.to_owned()) };
            let (t, a) = (&t, &a);
            async move { orders::search(t, a, &q, 50, 0).await.unwrap().iter().map(|o| o.number.0).collect::<Vec<_>>() }
        };
        assert_eq!(find("#1002").await, vec![1002]);
        assert_eq!(find(" 1001 ").await, vec![1001]);
        assert_eq!(find("BUYER@example").await, vec![1004, 1002, 1001], "email, any case, newest first");
        assert!(find("%").await.is_empty(), "a typed % is a percent sign, not a wildcard");
        assert!(find("_uyer").await.is_empty());
        assert!(find("#9999").await.is_empty());
        let paid = OrderQuery { status: Some(Status::Paid), text: Some("buyer".into()) };
        assert_eq!(orders::search(&t, &a, &paid, 50, 0).await.unwrap().len(), 3);
        let cancelled = OrderQuery { status: Some(Status::Cancelled), text: None };
        assert!(orders::search(&t, &a, &cancelled, 50, 0).await.unwrap().is_empty());
        assert_eq!(OrderNumber::parse("#12a"), None);
        assert_eq!(OrderNumber::parse("99999999999999999999"), None);
    }

    /// Mail in the store's name follows the order: its confirmation to the buyer (a guest's with the signed link,
    /// the only way back), the new-order notice to the owners, shipped with tracking, delivered and refunded; each
    /// queued in the transaction of its change, once, and a declined card sends nothing.
    #[tokio::test]
    async fn order_mail_follows_the_order_and_carries_a_guests_link() {
        use palisade_identity::links::LinkSigner;
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let links = LinkSigner::new(&[7u8; 32]);
        let guest = StoreScope::shopper(a.store_id(), None);
        let mut req = checkout(v, 1, "mail-1", "4242424242424242");
        req.guest_proof = Some("proof".into());
        let order = orders::checkout(&t, &TestGateway, &guest, req).await.unwrap().order;
        let declined = orders::checkout(&t, &TestGateway, &a, checkout(v, 1, "mail-2", "4000000000000002")).await;
        assert!(declined.is_err());
        // Run the queued mail jobs as the job runner would, then read the outbox.
        assert_eq!(run_mail_jobs(&t, &links).await, 1, "one job for the paid order, none for the declined card");
        let to_buyer = palisade_store::outbox::to_address(&t, "buyer@example.com").await.unwrap();
        assert_eq!(to_buyer.len(), 1);
        assert!(to_buyer[0].subject.contains("Order #1001 confirmed"), "{}", to_buyer[0].subject);
        let tag = palisade_commerce::access::OrderAccess::link_tag(&links, order.id);
        assert!(to_buyer[0].body.contains(&format!("https://shop.example/orders/{}?k={tag}", order.id)));
        assert!(!to_buyer[0].body.contains("4242"), "no card digits in mail");
        let to_owner = palisade_store::outbox::to_address(&t, "o@alpha.example").await.unwrap();
        assert!(to_owner[0].subject.contains("New order #1001") && to_owner[0].body.contains("1 Marina Blvd"));

        orders::transition(&t, &a, order.id, Status::Shipped, Some("SG123"), &Policy::default()).await.unwrap();
        orders::refund(&t, &a, order.id, 100, "dent").await.unwrap();
        orders::transition(&t, &a, order.id, Status::Delivered, None, &Policy::default()).await.unwrap();
        assert_eq!(run_mail_jobs(&t, &links).await, 3);
        let to_buyer = palisade_store::outbox::to_address(&t, "buyer@example.com").await.unwrap();
        let subjects: Vec<&str> = to_buyer.iter().map(|m| m.subject.as_str()).collect();
        assert!(subjects.iter().any(|s| s.contains("has shipped")), "{subjects:?}");
        assert!(to_buyer.iter().any(|m| m.body.contains("SG123")), "tracking number");
        assert!(subjects.iter().any(|s| s.contains("Refund for order #1001")), "{subjects:?}");
        assert!(subjects.iter().any(|s| s.contains("please confirm")), "{subjects:?}");
        assert_eq!(run_mail_jobs(&t, &links).await, 0, "each mail once");
    }

    #[tokio::test]
    async fn a_declined_card_leaves_no_order_and_the_stock_on_sale() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 3)).await.unwrap();
        let v = &p.variants[0].id;
        let declined = orders::checkout(&t, &TestGateway, &a, checkout(v, 3, "k-2", "4000 0000 0000 9995")).await;
        assert!(
            matches!(&declined, Err(CommerceError::PaymentDeclined { reason }) if reason.contains("insufficient funds")),
            "{declined:?}"
        );
        assert_eq!(catalog::get_product(&t, &a, p.id).await.unwrap().variants[0].stock, 3);
        assert!(orders::list(&t, &a, None, 50, 0).await.unwrap().is_empty(), "no cancelled order in the list");
        for table in ["orders", "order_items", "order_events", "ledger_transfers"] {
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(t.pool())
                .await
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        let audit = palisade_store::audit::list_store(&t, &a, 20).await.unwrap();
        assert!(audit.iter().any(|e| e.action == "order.payment_declined"), "the attempt is in the store's audit log");
        // The same key with another card is a new attempt, not the decline replayed.
        let paid = orders::checkout(&t, &TestGateway, &a, checkout(v, 3, "k-2", "4242 4242 4242 4242")).await.unwrap();
        assert_eq!(paid.order.status, Status::Paid);
        let restock = |n| catalog::set_stock(&t, &a, *v, n);
        restock(3).await.unwrap();
        assert!(matches!(
            orders::checkout(&t, &TestGateway, &a, checkout(v, 4, "k-3", "4242424242424242")).await,
            Err(CommerceError::OutOfStock { available: 3 })
        ));
        assert!(matches!(
            orders::checkout(&t, &TestGateway, &a, checkout(v, -1, "k-4", "4242424242424242")).await,
            Err(CommerceError::Invalid(_))
        ));
        let other = store(&t, "bravo").await;
        assert!(
            matches!(
                orders::checkout(&t, &TestGateway, &other, checkout(v, 1, "k-5", "4242424242424242")).await,
                Err(CommerceError::Store(StoreError::NotFound(_)))
            ),
            "another store's variant cannot be bought through this store"
        );
    }

    #[tokio::test]
    async fn the_lifecycle_is_checked_and_moves_money() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let o = orders::checkout(&t, &TestGateway, &a, checkout(v, 1, "k-6", "4242424242424242")).await.unwrap().order;
        assert!(
            matches!(
                orders::transition(&t, &a, o.id, Status::Completed, None, &Policy::default()).await,
                Err(CommerceError::InvalidTransition(_))
            ),
            "paid → completed skips shipping"
        );
        assert!(
            matches!(
                orders::transition(&t, &a, o.id, Status::Shipped, None, &Policy::default()).await,
                Err(CommerceError::Invalid(_))
            ),
            "shipping needs tracking"
        );
        orders::transition(&t, &a, o.id, Status::Shipped, Some("SG123"), &Policy::default()).await.unwrap();
        orders::transition(&t, &a, o.id, Status::Delivered, None, &Policy::default()).await.unwrap();
        let five_percent = Policy::new(500, std::time::Duration::from_secs(24 * 3600)).unwrap();
        let done = orders::transition(&t, &a, o.id, Status::Completed, None, &five_percent).await.unwrap();
        assert_eq!(done.status, Status::Completed);
        assert_eq!(done.tracking_no.as_deref(), Some("SG123"));
        // 5% of 18.50 is 0.925: the platform takes 0.92 (rounded down), the store gets the rest.
        assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 1758, "released less the fee");
        assert!(matches!(
            orders::transition(&t, &a, o.id, Status::Refunded, None, &Policy::default()).await,
            Err(CommerceError::InvalidTransition(_))
        ));

        let r = orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-7", "5555555555554444")).await.unwrap().order;
        let refunded = orders::transition(&t, &a, r.id, Status::Refunded, None, &Policy::default()).await.unwrap();
        assert_eq!(refunded.refunded_minor, 3700);
        assert_eq!(ledger::escrow_balance(&t, &a, r.id).await.unwrap(), 0);
        let b = store(&t, "bravo").await;
        assert!(matches!(orders::get(&t, &b, r.id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
        let audit = ledger::audit(&t).await.unwrap();
        assert_eq!(audit.total, 0);
        let events = palisade_store::audit::list_store(&t, &a, 100).await.unwrap();
        assert!(
            events.iter().filter(|e| e.action == "order.status_changed").count() >= 6,
            "every transition is audited"
        );
    }
}

mod auto_release {
    use std::time::Duration;

    use palisade_commerce::orders::{self, Status};
    use palisade_commerce::payments::TestGateway;

    use super::*;

    #[tokio::test]
    async fn delivered_orders_complete_after_the_protection_window() {
        let (t, clock) = TestDb::manual().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let mut ids = Vec::new();
        for key in ["k1", "k2"] {
            let o =
                orders::checkout(&t, &TestGateway, &a, order_request(&p.variants[0].id, 1, key)).await.unwrap().order;
            orders::transition(&t, &a, o.id, Status::Shipped, Some("T1"), &Policy::default()).await.unwrap();
            ids.push(o.id);
        }
        orders::transition(&t, &a, ids[0], Status::Delivered, None, &Policy::default()).await.unwrap();
        // The window and the fee both come from the policy: 3 days and 10% here.
        let window = Duration::from_secs(3 * 24 * 3600);
        let policy = Policy::new(1_000, window).unwrap();
        clock.advance(window - Duration::from_secs(1));
        assert_eq!(orders::auto_release(&t, &policy).await.unwrap(), 0, "still inside the window");
        clock.advance(Duration::from_secs(2));
        assert_eq!(orders::auto_release(&t, &policy).await.unwrap(), 1);
        assert_eq!(orders::get(&t, &a, ids[0]).await.unwrap().status, Status::Completed);
        assert_eq!(orders::get(&t, &a, ids[1]).await.unwrap().status, Status::Shipped, "undelivered orders wait");
        assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 1665, "18.50 less 10%");
        assert_eq!(ledger::audit(&t).await.unwrap().total, 0, "the fee went to the platform's account");
        assert_eq!(orders::auto_release(&t, &policy).await.unwrap(), 0, "released once");
    }
}

/// Issue #16 item 5: an Idempotency-Key is bound to its sender and its request.
mod idempotency {
    use palisade_commerce::orders::{self, Checkout, Status};
    use palisade_commerce::payments::TestGateway;

    use super::*;

    fn req(variant: &VariantId, qty: i64, key: &str, proof: Option<&str>, email: &str) -> Checkout {
        Checkout {
            guest_proof: proof.map(str::to_owned),
            email: Email::parse(email).unwrap(),
            ..order_request(variant, qty, key)
        }
    }

    fn reused<T: std::fmt::Debug>(r: Result<T, CommerceError>) -> bool {
        matches!(r, Err(CommerceError::IdempotencyKeyReused))
    }

    #[tokio::test]
    async fn a_key_replays_only_for_its_sender_and_request() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let guest = StoreScope::shopper(a.store_id(), None);
        let first = orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k", Some("proof-1"), "mei@example.com"))
            .await
            .unwrap();
        assert_eq!(first.order.status, Status::Paid);

        // The same guest retrying the same request gets the same order (and access to it).
        let again = orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k", Some("proof-1"), "mei@example.com"))
            .await
            .unwrap();
        assert_eq!(again.order.id, first.order.id);
        assert_eq!(again.access.order_id(), first.order.id);

        // Another guest (another proof) with the very same body, or the same guest with another body: refused.
        assert!(reused(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k", Some("proof-2"), "mei@example.com")).await
        ));
        assert!(reused(
            orders::checkout(&t, &TestGateway, &guest, req(v, 2, "k", Some("proof-1"), "mei@example.com")).await
        ));
        assert!(reused(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k", Some("proof-1"), "eve@example.com")).await
        ));
        // A signed-in buyer replaying a guest's key: refused.
        let eve = buyer(&t, "eve@example.com").await;
        let as_eve = StoreScope::shopper(a.store_id(), Some(eve));
        assert!(reused(orders::checkout(&t, &TestGateway, &as_eve, req(v, 1, "k", None, "mei@example.com")).await));
        // Nothing was reserved or charged by the refused replays.
        assert_eq!(catalog::get_product(&t, &a, p.id).await.unwrap().variants[0].stock, 9);
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(t.pool()).await.unwrap();
        assert_eq!(n, 1);

        // A buyer's key is theirs: another buyer (or a guest) with the same key and body is refused.
        let mei = buyer(&t, "mei@example.com").await;
        let as_mei = StoreScope::shopper(a.store_id(), Some(mei));
        let mine =
            orders::checkout(&t, &TestGateway, &as_mei, req(v, 1, "k-mei", None, "mei@example.com")).await.unwrap();
        assert_eq!(mine.order.buyer_id, Some(mei.to_string()));
        assert_eq!(
            orders::checkout(&t, &TestGateway, &as_mei, req(v, 1, "k-mei", None, "mei@example.com"))
                .await
                .unwrap()
                .order
                .id,
            mine.order.id
        );
        assert!(reused(orders::checkout(&t, &TestGateway, &as_eve, req(v, 1, "k-mei", None, "mei@example.com")).await));
        assert!(reused(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k-mei", Some("x"), "mei@example.com")).await
        ));
    }

    #[tokio::test]
    async fn the_fingerprint_ignores_key_order_and_guests_need_a_proof() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let guest = StoreScope::shopper(a.store_id(), None);
        let first =
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k", Some("p"), "mei@example.com")).await.unwrap();
        let mut same = req(v, 1, "k", Some("p"), "mei@example.com");
        same.address = palisade_commerce::address::ShippingAddress::from_json(&serde_json::json!(
            {"postcode": "018989", "country": "SG", "line1": " 1 Marina Blvd", "city": "Singapore", "name": "Mei"}
        ))
        .unwrap();
        assert_eq!(orders::checkout(&t, &TestGateway, &guest, same).await.unwrap().order.id, first.order.id);
        assert!(matches!(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k2", None, "mei@example.com")).await,
            Err(CommerceError::Invalid(_))
        ));
        assert!(matches!(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "k3", Some("  "), "mei@example.com")).await,
            Err(CommerceError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn an_order_placed_before_binding_is_never_replayed() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let guest = StoreScope::shopper(a.store_id(), None);
        orders::checkout(&t, &TestGateway, &guest, req(v, 1, "old", Some("p"), "mei@example.com")).await.unwrap();
        sqlx::query("UPDATE orders SET idempotency_fingerprint = NULL").execute(t.pool()).await.unwrap();
        assert!(reused(
            orders::checkout(&t, &TestGateway, &guest, req(v, 1, "old", Some("p"), "mei@example.com")).await
        ));
    }
}

/// Issue #16 item 12: a buyer's access to an order is a value only a verified link or the buyer's account makes;
/// staff-only functions take a staff-only scope.
mod order_access {
    use palisade_commerce::access::OrderAccess;
    use palisade_commerce::orders::{self, Checkout, Line, Status};
    use palisade_commerce::payments::{TestGateway, card};
    use palisade_commerce::{disputes, reviews};
    use palisade_identity::links::LinkSigner;

    use super::*;

    async fn guest_order(t: &Db, a: &StaffScope, variant: &VariantId, key: &str) -> orders::Order {
        let guest = StoreScope::shopper(a.store_id(), None);
        let req = Checkout {
            guest_proof: Some(format!("proof-{key}")),
            email: Email::parse("mei@example.com").unwrap(),
            ..order_request(variant, 1, key)
        };
        orders::checkout(t, &TestGateway, &guest, req).await.unwrap().order
    }

    #[tokio::test]
    async fn a_guest_reaches_an_order_only_through_its_own_signed_link() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let links = LinkSigner::new(&[7u8; 32]);
        let mine = guest_order(&t, &a, v, "k1").await;
        let theirs = guest_order(&t, &a, v, "k2").await;
        let tag = OrderAccess::link_tag(&links, mine.id);

        let access = OrderAccess::by_link(&t, &links, mine.id, &tag).await.unwrap();
        assert_eq!(access.order(&t).await.unwrap().id, mine.id);
        assert_eq!(access.items(&t).await.unwrap().len(), 1);
        for (id, tag) in [(theirs.id, tag.as_str()), (mine.id, "00"), (mine.id, ""), (OrderId::new(), tag.as_str())] {
            assert!(
                matches!(
                    OrderAccess::by_link(&t, &links, id, tag).await,
                    Err(CommerceError::Store(StoreError::NotFound(_)))
                ),
                "{id} with tag {tag:?}"
            );
        }
        // A signed-in account reaches only the orders it placed: not a guest's order, not another buyer's.
        let eve = tenancy::create_account(
            &t,
            NewAccount {
                email: Email::parse("eve@example.com").unwrap(),
                display_name: "Eve".into(),
                kind: AccountKind::Buyer,
            },
        )
        .await
        .unwrap();
        assert!(matches!(
            OrderAccess::for_buyer(&t, eve.id, mine.id).await,
            Err(CommerceError::Store(StoreError::NotFound(_)))
        ));
        let scope = StoreScope::shopper(a.store_id(), Some(eve.id));
        let req = Checkout {
            guest_proof: None,
            email: Email::parse("eve@example.com").unwrap(),
            address: address(),
            lines: vec![Line { variant_id: *v, quantity: 1 }],
            idempotency_key: idem("k3"),
            card: card("4242424242424242", "12/30", "123"),
            fingerprints: Default::default(),
        };
        let eves = orders::checkout(&t, &TestGateway, &scope, req).await.unwrap().order;
        assert_eq!(OrderAccess::for_buyer(&t, eve.id, eves.id).await.unwrap().order_id(), eves.id);
    }

    #[tokio::test]
    async fn buyer_actions_go_through_the_access_and_respect_the_lifecycle() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let links = LinkSigner::new(&[7u8; 32]);
        let o = guest_order(&t, &a, v, "k1").await;
        let access = OrderAccess::by_link(&t, &links, o.id, &OrderAccess::link_tag(&links, o.id)).await.unwrap();
        assert!(
            matches!(
                orders::confirm_received(&t, &access, &Policy::default()).await,
                Err(CommerceError::InvalidTransition(_))
            ),
            "a paid order has not been shipped"
        );
        orders::transition(&t, &a, o.id, Status::Shipped, Some("T1"), &Policy::default()).await.unwrap();
        let d = disputes::open(&t, &access, "not_received", "Nothing came.").await.unwrap();
        assert_eq!(disputes::for_buyer(&t, &access).await.unwrap().unwrap().id, d.id);
        assert!(
            matches!(
                orders::confirm_received(&t, &access, &Policy::default()).await,
                Err(CommerceError::InvalidTransition(_))
            ),
            "a disputed order waits for the operator, the buyer cannot close it"
        );
        assert_eq!(ledger::escrow_balance(&t, &a, o.id).await.unwrap(), 1850, "the money is still held");

        let o2 = guest_order(&t, &a, v, "k2").await;
        let access2 = OrderAccess::by_link(&t, &links, o2.id, &OrderAccess::link_tag(&links, o2.id)).await.unwrap();
        orders::transition(&t, &a, o2.id, Status::Shipped, Some("T2"), &Policy::default()).await.unwrap();
        let done = orders::confirm_received(&t, &access2, &Policy::default()).await.unwrap();
        assert_eq!(done.status, Status::Completed);
        assert!(!reviews::exists_for(&t, &access2).await.unwrap());
        reviews::add(&t, &access2, 5, "Lovely").await.unwrap();
        assert!(reviews::exists_for(&t, &access2).await.unwrap());
        let events = palisade_store::audit::list_store(&t, &a, 100).await.unwrap();
        assert!(
            events.iter().any(|e| e.action == "review.added" && e.actor == "guest"),
            "the buyer's actions are the guest's"
        );
    }

    /// Disputes (opened, decided) reach both sides and payouts the owners, in the store's name with an HTML part
    /// that escapes the buyer's own words; nothing is sent for a change that did not commit.
    /// The seller verified by an operator, then (no payout without an account) a bank account added and
    /// approved as the operator was shown it.
    async fn verify_with_bank_account(
        t: &TestDb,
        a: &StaffScope,
        op: &palisade_store::scope::OperatorPrincipal,
        balance: i64,
    ) {
        let uen = palisade_trust::uen::Uen::parse("53143018M", 2026).unwrap();
        let who = palisade_commerce::verification::Identity::Business { uen };
        let registry = palisade_commerce::verification::TestRegistry;
        palisade_commerce::verification::submit(t, a, &registry, who, "Alpha Pte Ltd").await.unwrap();
        let approve = palisade_commerce::verification::Decision::Approve;
        palisade_commerce::verification::decide(t, op, a.store_id(), approve).await.unwrap();
        assert!(
            matches!(
                palisade_commerce::payouts::request(t, a, sgd(balance)).await,
                Err(CommerceError::NoPayoutAccount)
            ),
            "no payout without a bank account on file"
        );
        let account = palisade_commerce::verification::BankAccount {
            bank_name: "DBS".into(),
            holder_name: "Alpha Pte Ltd".into(),
            account_hash: "test-hash-1".into(),
            account_masked: "****6789".into(),
        };
        palisade_commerce::verification::set_payout_account(t, a, account).await.unwrap();
        let resubmit = palisade_commerce::verification::request_reverification(t, a).await.unwrap();
        assert_eq!(resubmit.state, palisade_commerce::verification::State::Submitted);
        let seen = palisade_commerce::verification::Decision::ApproveAsShown { payout_account_version: None };
        assert!(
            palisade_commerce::verification::decide(t, op, a.store_id(), seen).await.is_err(),
            "an approval of a page that showed no account does not approve the one added since"
        );
        let version = resubmit.payout_account_version;
        assert!(version.is_some());
        let seen = palisade_commerce::verification::Decision::ApproveAsShown { payout_account_version: version };
        palisade_commerce::verification::decide(t, op, a.store_id(), seen).await.unwrap();
    }

    #[tokio::test]
    async fn dispute_and_payout_mail_reach_both_sides_in_the_stores_name() {
        use palisade_commerce::payouts;
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let links = LinkSigner::new(&[7u8; 32]);
        let o = guest_order(&t, &a, &p.variants[0].id, "k1").await;
        let access = OrderAccess::by_link(&t, &links, o.id, &OrderAccess::link_tag(&links, o.id)).await.unwrap();
        orders::transition(&t, &a, o.id, Status::Shipped, Some("T1"), &Policy::default()).await.unwrap();
        disputes::open(&t, &access, "not_received", "Nothing came <script>x</script>").await.unwrap();
        assert!(disputes::open(&t, &access, "not_received", "again").await.is_err(), "one dispute per order");
        run_mail_jobs(&t, &links).await;
        let subjects = |mails: &[palisade_store::outbox::Mail]| -> Vec<String> {
            mails.iter().map(|m| m.subject.clone()).collect()
        };
        let owner = palisade_store::outbox::to_address(&t, "o@alpha.example").await.unwrap();
        let disputed = owner.iter().find(|m| m.subject.contains("#1001 is disputed")).expect("owner told");
        assert!(disputed.body.contains("Nothing came <script>"), "the text part carries the buyer's words");
        let html = disputed.html.as_deref().unwrap();
        assert!(html.contains("Nothing came &lt;script&gt;") && !html.contains("<script>"), "{html}");
        assert_eq!(disputed.from_name.as_deref(), Some("alpha"), "sent in the store's name");
        let buyer = palisade_store::outbox::to_address(&t, "mei@example.com").await.unwrap();
        assert!(
            subjects(&buyer).iter().any(|s| s.contains("received your dispute on order #1001")),
            "{:?}",
            subjects(&buyer)
        );

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
        let d = disputes::for_buyer(&t, &access).await.unwrap().unwrap();
        disputes::decide(
            &t,
            &op,
            a.store_id(),
            d.id,
            disputes::Outcome::Merchant,
            "Tracking shows delivery.",
            &Policy::default(),
        )
        .await
        .unwrap();
        run_mail_jobs(&t, &links).await;
        let buyer = palisade_store::outbox::to_address(&t, "mei@example.com").await.unwrap();
        let decided = buyer.iter().find(|m| m.subject.contains("Dispute on order #1001 decided")).expect("buyer told");
        assert!(decided.body.contains("in favour of alpha") && decided.body.contains("Tracking shows delivery."));
        let owner = palisade_store::outbox::to_address(&t, "o@alpha.example").await.unwrap();
        assert!(owner.iter().any(|m| m.subject.contains("decided") && m.body.contains("in your favour")));

        let balance = ledger::store_balance(&t, &a, Currency::SGD).await.unwrap();
        assert!(
            matches!(payouts::request(&t, &a, sgd(balance)).await, Err(CommerceError::SellerUnverified)),
            "no payout before the seller is verified"
        );
        verify_with_bank_account(&t, &a, &op, balance).await;
        assert!(payouts::request(&t, &a, sgd(balance + 1)).await.is_err(), "an overdraw is refused");
        payouts::request(&t, &a, sgd(balance)).await.unwrap();
        run_mail_jobs(&t, &links).await;
        let owner = palisade_store::outbox::to_address(&t, "o@alpha.example").await.unwrap();
        let payout_mails: Vec<_> = owner.iter().filter(|m| m.subject.starts_with("Payout of")).collect();
        assert_eq!(
            payout_mails.len(),
            1,
            "one mail for the payout made, none for the refused one: {:?}",
            subjects(&owner)
        );
        assert!(payout_mails[0].body.contains("https://shop.example/admin/stores/"), "{}", payout_mails[0].body);
    }

    #[test]
    fn a_shopper_scope_is_never_a_staff_scope() {
        let id = palisade_core::StoreId::new();
        assert!(matches!(StoreScope::shopper(id, None).to_staff(), Err(StoreError::Forbidden(_))));
        assert!(matches!(
            StoreScope::shopper(id, Some(palisade_core::AccountId::new())).to_staff(),
            Err(StoreError::Forbidden(_))
        ));
        assert!(StoreScope::system(id, "test").to_staff().is_ok());
    }

    #[test]
    fn stored_and_requested_statuses_are_parsed_apart() {
        assert_eq!(Status::from_name("paid"), Some(Status::Paid));
        assert_eq!(Status::from_name("PAID"), None);
        assert_eq!(Status::from_name("x' OR 1=1"), None);
        assert!(matches!(Status::parse("bogus"), Err(CommerceError::Store(StoreError::Corrupt(_)))));
        for s in Status::ALL {
            assert_eq!(Status::from_name(s.as_str()), Some(s));
        }
    }
}

/// Issue #16 item 9: a product without variants (an import can make one) cannot be published and does not break
/// the listings.
mod variantless {
    use palisade_commerce::listing;

    use super::*;

    #[tokio::test]
    async fn a_product_without_variants_is_not_published_nor_listed() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let mut draft = tea("OOL-200", 1);
        draft.slug = Slug::parse("green").unwrap();
        draft.status = ProductStatus::Draft;
        let d = catalog::create_product(&t, &a, draft).await.unwrap();
        sqlx::query("DELETE FROM variants WHERE product_id = $1 OR product_id = $2")
            .bind(p.id.to_string())
            .bind(d.id.to_string())
            .execute(t.pool())
            .await
            .unwrap();
        assert!(matches!(
            catalog::set_status(&t, &a, d.id, ProductStatus::Published).await,
            Err(CommerceError::Invalid(_))
        ));
        let shopper = StoreScope::shopper(a.store_id(), None);
        assert!(listing::search(&t, "", 1).await.unwrap().cards.is_empty());
        assert!(listing::search(&t, "oolong", 1).await.unwrap().cards.is_empty());
        assert!(listing::store_page(&t, &shopper, None, 1).await.unwrap().cards.is_empty());
        assert_eq!(listing::stores(&t).await.unwrap()[0].products, 0);
        // A draft's id does not open it for a shopper (only its staff), whichever way it is asked for.
        assert!(matches!(
            catalog::get_product(&t, &shopper, d.id).await,
            Err(CommerceError::Store(StoreError::NotFound(_)))
        ));
        assert!(catalog::get_product(&t, &a, d.id).await.is_ok());
        // The product itself still reads (its page says it is not available).
        assert!(catalog::get_by_slug(&t, &shopper, "oolong").await.unwrap().variants.is_empty());
    }
}

#[tokio::test]
async fn a_stored_stylesheet_that_fails_todays_check_is_not_served() {
    let t = TestDb::new().await;
    let scope = store(&t, "alpha").await;
    let shopper = StoreScope::shopper(scope.store_id(), None);
    // Written before the check existed (or by any road that skipped it): an attribute selector over the page's
    // form tokens in a namespace spelling.
    sqlx::query(
        "INSERT INTO theme_templates (id, store_id, name, version, source, good, created_by, created_at) \
         VALUES ('t1', $1, 'theme.css', 1, 'form:has(input[*|value^=\"a\"]) { background: url(/s/alpha/a) }', 1, 'test', 0)",
    )
    .bind(scope.store_key())
    .execute(t.pool())
    .await
    .unwrap();
    assert_eq!(palisade_commerce::themes::stylesheet(&t, &shopper).await.unwrap(), None);
    sqlx::query(
        "INSERT INTO theme_templates (id, store_id, name, version, source, good, created_by, created_at) \
         VALUES ('t2', $1, 'theme.css', 2, 'body { color: #333 }', 1, 'test', 0)",
    )
    .bind(scope.store_key())
    .execute(t.pool())
    .await
    .unwrap();
    let served = palisade_commerce::themes::stylesheet(&t, &shopper).await.unwrap();
    assert_eq!(served, Some((2, "body { color: #333 }".to_owned())), "a stylesheet that passes is served");
}

/// Reads the web layer used to make with its own SQL (issue #17), now scoped functions here.
mod web_reads {
    use palisade_commerce::orders;
    use palisade_commerce::payments::TestGateway;
    use palisade_commerce::{catalog, payment_page};
    use palisade_core::AccountId;

    use super::*;

    async fn buy(db: &Db, store: &StaffScope, buyer: AccountId, variant: &VariantId, key: &str) -> orders::Order {
        let shopper = StoreScope::shopper(store.store_id(), Some(buyer));
        orders::checkout(db, &TestGateway, &shopper, order_request(variant, 1, key)).await.unwrap().order
    }

    #[tokio::test]
    async fn settings_categories_and_held_money_are_read_in_their_own_store_only() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let b = store(&t, "bravo").await;
        assert_eq!(
            orders::settings(&t, &a).await.unwrap(),
            orders::Settings { flat_shipping_minor: 0, tagline: String::new() },
            "nothing saved yet"
        );
        orders::set_settings(&t, &a, 450, "  Teas from the hills  ").await.unwrap();
        let shopper_a = StoreScope::shopper(a.store_id(), None);
        let mine = orders::settings(&t, &shopper_a).await.unwrap();
        assert_eq!((mine.flat_shipping_minor, mine.tagline.as_str()), (450, "Teas from the hills"));
        assert_eq!(orders::settings(&t, &b).await.unwrap().flat_shipping_minor, 0, "B's are not A's");

        let cat = catalog::create_category(&t, &a, &Slug::parse("green").unwrap(), "Green").await.unwrap();
        let mut new = tea("OOL-1", 5);
        new.category = Some(cat.id.clone());
        let p = catalog::create_product(&t, &a, new).await.unwrap();
        let plain =
            catalog::create_product(&t, &a, NewProduct { slug: Slug::parse("plain").unwrap(), ..tea("OOL-2", 5) })
                .await
                .unwrap();
        assert_eq!(catalog::product_category(&t, &a, p.id).await.unwrap(), Some(cat.id));
        assert_eq!(catalog::product_category(&t, &a, plain.id).await.unwrap(), None);
        assert!(matches!(
            catalog::product_category(&t, &b, p.id).await,
            Err(CommerceError::Store(StoreError::NotFound(_)))
        ));

        let buyer = buyer(&t, "mei@example.com").await;
        buy(&t, &a, buyer, &p.variants[0].id, "k1").await;
        assert_eq!(ledger::escrow_total(&t, &a).await.unwrap(), 1850 + 450, "price and shipping held");
        assert_eq!(ledger::escrow_total(&t, &b).await.unwrap(), 0, "A's escrow is not B's");
    }

    #[tokio::test]
    async fn a_buyers_orders_come_with_their_store_names_and_no_one_elses() {
        let (t, clock) = TestDb::manual().await;
        let a = store(&t, "alpha").await;
        let b = store(&t, "bravo").await;
        let pa = catalog::create_product(&t, &a, tea("OOL-A", 5)).await.unwrap();
        let pb = catalog::create_product(&t, &b, tea("OOL-B", 5)).await.unwrap();
        let mei = buyer(&t, "mei@example.com").await;
        let raj = buyer(&t, "raj@example.com").await;
        let first = buy(&t, &a, mei, &pa.variants[0].id, "m1").await;
        clock.advance(std::time::Duration::from_secs(1));
        let second = buy(&t, &b, mei, &pb.variants[0].id, "m2").await;
        buy(&t, &a, raj, &pa.variants[0].id, "r1").await;

        let list = orders::for_buyer(&t, mei, 100).await.unwrap();
        let seen: Vec<(OrderId, &str)> = list.iter().map(|o| (o.order.id, o.store_name.as_str())).collect();
        assert_eq!(seen, [(second.id, "bravo"), (first.id, "alpha")], "newest first, named");
        assert_eq!(list[1].order.total, first.total);
        let json = serde_json::to_value(&list[0]).unwrap();
        assert_eq!(
            (json["id"].as_str(), json["store_name"].as_str()),
            (Some(second.id.to_string().as_str()), Some("bravo"))
        );
        assert_eq!(orders::for_buyer(&t, raj, 100).await.unwrap().len(), 1, "Raj sees only his own");
    }

    async fn audited(t: &Db) -> usize {
        let events = palisade_store::audit::list_platform(t, &PlatformScope::system("test"), 100).await.unwrap();
        events.iter().filter(|e| e.action == "payment_page.changed").count()
    }

    #[tokio::test]
    async fn a_changed_payment_page_is_recorded_audited_and_mailed_to_every_operator() {
        let (t, clock) = TestDb::manual().await;
        for email in ["op1@platform.example", "op2@platform.example"] {
            let new = NewAccount {
                email: Email::parse(email).unwrap(),
                display_name: "Op".into(),
                kind: AccountKind::Operator,
            };
            tenancy::create_account(&t, new).await.unwrap();
        }
        let platform = PlatformScope::system("test");
        assert!(payment_page::recent(&t, &platform, 5).await.unwrap().is_empty());
        let observed = serde_json::json!({"scripts": [], "headers": []});
        let check = |outcome, detail| payment_page::NewCheck {
            url: "https://market.example/checkout",
            outcome,
            fingerprint: "f",
            observed: &observed,
            detail,
        };
        payment_page::record(&t, &platform, &check(payment_page::Outcome::Match, "as inventoried")).await.unwrap();
        assert_eq!(audited(&t).await, 0, "a match is not an incident");
        assert!(palisade_store::outbox::to_address(&t, "op1@platform.example").await.unwrap().is_empty());

        clock.advance(std::time::Duration::from_secs(900));
        payment_page::record(&t, &platform, &check(payment_page::Outcome::Changed, "unexpected script /x.js|"))
            .await
            .unwrap();
        let last = payment_page::recent(&t, &platform, 5).await.unwrap();
        assert_eq!(last.iter().map(|c| c.outcome.as_str()).collect::<Vec<_>>(), ["changed", "match"]);
        assert_eq!(last[0].detail, "unexpected script /x.js|");
        assert_eq!(audited(&t).await, 1, "audited with the check");
        for op in ["op1@platform.example", "op2@platform.example"] {
            let mails = palisade_store::outbox::to_address(&t, op).await.unwrap();
            assert_eq!(mails.len(), 1, "{op} is alerted once");
            assert!(mails[0].body.contains("unexpected script /x.js|"));
        }
    }
}
mod webhooks;
