//! Catalog, inventory and ledger against a real database (SQLite, or PostgreSQL in CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::{CommerceError, inventory, ledger};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::scope::{PlatformScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

async fn store(db: &Db, slug: &str) -> StoreScope {
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
    assert!(matches!(catalog::get_product(&t, &b, &p.id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    assert!(catalog::list_products(&t, &b, 50, 0).await.unwrap().is_empty());
    assert!(matches!(catalog::set_stock(&t, &b, v, 99).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    assert!(matches!(
        catalog::set_status(&t, &b, &p.id, ProductStatus::Archived).await,
        Err(CommerceError::Store(StoreError::NotFound(_)))
    ));
    assert!(matches!(inventory::reserve(&t, &b, v, 1).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
    let same = catalog::get_product(&t, &a, &p.id).await.unwrap();
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
    let variant = p.variants[0].id.clone();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (db, scope, variant) = (t.db.clone(), a.clone(), variant.clone());
        tasks.push(tokio::spawn(async move { inventory::reserve(&db, &scope, &variant, 1).await }));
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
    assert_eq!(catalog::get_product(&t, &a, &p.id).await.unwrap().variants[0].stock, 0);
    assert!(matches!(inventory::reserve(&t, &a, &variant, 0).await, Err(CommerceError::Invalid(_))));
}

#[tokio::test]
async fn escrow_flows_capture_release_refund_and_payout() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    ledger::capture(&t, &a, "order-1", sgd(10_000)).await.unwrap();
    assert_eq!(ledger::escrow_balance(&t, &a, "order-1").await.unwrap(), 10_000);
    ledger::refund(&t, &a, "order-1", sgd(2_000)).await.unwrap();
    assert!(matches!(
        ledger::refund(&t, &a, "order-1", sgd(9_000)).await,
        Err(CommerceError::InsufficientFunds { .. })
    ));
    assert_eq!(ledger::escrow_balance(&t, &a, "order-1").await.unwrap(), 8_000, "a refused refund changes nothing");
    ledger::release(&t, &a, "order-1", Currency::SGD, 400).await.unwrap();
    assert_eq!(ledger::escrow_balance(&t, &a, "order-1").await.unwrap(), 0);
    assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 7_600);
    assert!(matches!(ledger::payout(&t, &a, sgd(7_601)).await, Err(CommerceError::InsufficientFunds { .. })));
    ledger::payout(&t, &a, sgd(7_600)).await.unwrap();
    assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 0);
    assert!(matches!(ledger::capture(&t, &a, "order-2", sgd(0)).await, Err(CommerceError::Invalid(_))));
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
                for op in ops {
                    let _ = match op {
                        Op::Capture(o, amt) => ledger::capture(&t, &a, &format!("o{o}"), sgd(amt)).await,
                        Op::Refund(o, amt) => ledger::refund(&t, &a, &format!("o{o}"), sgd(amt)).await,
                        Op::Release(o, fee) => ledger::release(&t, &a, &format!("o{o}"), Currency::SGD, fee).await,
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
    use palisade_commerce::orders::{self, Checkout, Line, Status};
    use palisade_commerce::payments::{TestGateway, card};

    use super::*;

    fn checkout(variant: &str, qty: i64, key: &str, number: &str) -> Checkout {
        Checkout {
            buyer: None,
            email: Email::parse("buyer@example.com").unwrap(),
            address: serde_json::json!({"line1": "1 Marina Blvd", "postcode": "018989"}),
            lines: vec![Line { variant_id: variant.into(), quantity: qty }],
            idempotency_key: key.into(),
            card: card(number, "12/30", "123"),
        }
    }

    #[tokio::test]
    async fn checkout_totals_come_from_the_catalog_and_retries_do_not_duplicate() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        orders::set_flat_shipping(&t, &a, 500).await.unwrap();
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let v = &p.variants[0].id;
        let order = orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-1", "4242 4242 4242 4242")).await.unwrap();
        assert_eq!(order.status, Status::Paid);
        assert_eq!(order.total, sgd(2 * 1850 + 500));
        assert_eq!(order.card_last4.as_deref(), Some("4242"));
        assert_eq!(ledger::escrow_balance(&t, &a, &order.id).await.unwrap(), 4200, "the payment is held in escrow");
        let again = orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-1", "4242 4242 4242 4242")).await.unwrap();
        assert_eq!(again.id, order.id, "a retried request returns the first order");
        assert_eq!(catalog::get_product(&t, &a, &p.id).await.unwrap().variants[0].stock, 8);
        // The card number is nowhere in the database.
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM orders WHERE address LIKE '%4242424242%' OR payment_ref LIKE '%4242424242%'",
        )
        .fetch_one(t.pool())
        .await
        .unwrap();
        assert_eq!(n, 0);
    }

    #[tokio::test]
    async fn a_declined_card_cancels_and_restocks() {
        let t = TestDb::new().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 3)).await.unwrap();
        let v = &p.variants[0].id;
        let order = orders::checkout(&t, &TestGateway, &a, checkout(v, 3, "k-2", "4000 0000 0000 9995")).await.unwrap();
        assert_eq!(order.status, Status::Cancelled);
        assert_eq!(catalog::get_product(&t, &a, &p.id).await.unwrap().variants[0].stock, 3);
        assert_eq!(ledger::escrow_balance(&t, &a, &order.id).await.unwrap(), 0);
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
        let o = orders::checkout(&t, &TestGateway, &a, checkout(v, 1, "k-6", "4242424242424242")).await.unwrap();
        assert!(
            matches!(
                orders::transition(&t, &a, &o.id, Status::Completed, None, 0).await,
                Err(CommerceError::Invalid(_))
            ),
            "paid → completed skips shipping"
        );
        assert!(
            matches!(orders::transition(&t, &a, &o.id, Status::Shipped, None, 0).await, Err(CommerceError::Invalid(_))),
            "shipping needs tracking"
        );
        orders::transition(&t, &a, &o.id, Status::Shipped, Some("SG123"), 0).await.unwrap();
        orders::transition(&t, &a, &o.id, Status::Delivered, None, 0).await.unwrap();
        let done = orders::transition(&t, &a, &o.id, Status::Completed, None, 100).await.unwrap();
        assert_eq!(done.status, Status::Completed);
        assert_eq!(done.tracking_no.as_deref(), Some("SG123"));
        assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 1750, "released less the fee");
        assert!(matches!(
            orders::transition(&t, &a, &o.id, Status::Refunded, None, 0).await,
            Err(CommerceError::Invalid(_))
        ));

        let r = orders::checkout(&t, &TestGateway, &a, checkout(v, 2, "k-7", "5555555555554444")).await.unwrap();
        let refunded = orders::transition(&t, &a, &r.id, Status::Refunded, None, 0).await.unwrap();
        assert_eq!(refunded.refunded_minor, 3700);
        assert_eq!(ledger::escrow_balance(&t, &a, &r.id).await.unwrap(), 0);
        let b = store(&t, "bravo").await;
        assert!(matches!(orders::get(&t, &b, &r.id).await, Err(CommerceError::Store(StoreError::NotFound(_)))));
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

    use palisade_commerce::orders::{self, Checkout, Line, Status};
    use palisade_commerce::payments::{TestGateway, card};

    use super::*;

    #[tokio::test]
    async fn delivered_orders_complete_after_the_protection_window() {
        let (t, clock) = TestDb::manual().await;
        let a = store(&t, "alpha").await;
        let p = catalog::create_product(&t, &a, tea("OOL-100", 10)).await.unwrap();
        let mut ids = Vec::new();
        for key in ["k1", "k2"] {
            let o = orders::checkout(
                &t,
                &TestGateway,
                &a,
                Checkout {
                    buyer: None,
                    email: Email::parse("b@example.com").unwrap(),
                    address: serde_json::json!({}),
                    lines: vec![Line { variant_id: p.variants[0].id.clone(), quantity: 1 }],
                    idempotency_key: key.into(),
                    card: card("4242424242424242", "12/30", "123"),
                },
            )
            .await
            .unwrap();
            orders::transition(&t, &a, &o.id, Status::Shipped, Some("T1"), 0).await.unwrap();
            ids.push(o.id);
        }
        orders::transition(&t, &a, &ids[0], Status::Delivered, None, 0).await.unwrap();
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(orders::auto_release(&t, week, 0).await.unwrap(), 0, "still inside the window");
        clock.advance(week + Duration::from_secs(1));
        assert_eq!(orders::auto_release(&t, week, 0).await.unwrap(), 1);
        assert_eq!(orders::get(&t, &a, &ids[0]).await.unwrap().status, Status::Completed);
        assert_eq!(orders::get(&t, &a, &ids[1]).await.unwrap().status, Status::Shipped, "undelivered orders wait");
        assert_eq!(ledger::store_balance(&t, &a, Currency::SGD).await.unwrap(), 1850);
        assert_eq!(orders::auto_release(&t, week, 0).await.unwrap(), 0, "released once");
    }
}
