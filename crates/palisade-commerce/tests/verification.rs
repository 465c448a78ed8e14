//! Seller verification (issue #20 item 1) on a real database (SQLite, or PostgreSQL with
//! PALISADE_TEST_DATABASE_URL): payouts are refused until an operator verifies the seller, a bank-account change
//! blocks them again, the registry's "not found"/"deregistered" numbers are refused, NRICs are kept only as a keyed
//! hash and a masked form, and one store's verification never touches another's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_commerce::verification::{
    self, BankAccount, Decision, GovernmentRecords, Identity, RegistryAnswer, State, TestRegistry,
};
use std::time::Duration;

use palisade_commerce::{CommerceError, payouts, safety};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::Db;
use palisade_store::scope::{OperatorPrincipal, PlatformScope, StaffScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_trust::nric::{Nric, NricKey};
use palisade_trust::uen::Uen;

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

async fn operator(db: &Db) -> OperatorPrincipal {
    let a = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse("op@platform.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    OperatorPrincipal::from_verified_operator(&a).unwrap()
}

/// A valid business UEN with these 8 digits (the check letter found by trying each).
fn business(digits: &str) -> Uen {
    ('A'..='Z').find_map(|c| Uen::parse(&format!("{digits}{c}"), 2026).ok()).unwrap()
}

fn key() -> NricKey {
    NricKey::new(vec![9; 32]).unwrap()
}

fn account(number: &str) -> BankAccount {
    let digits = verification::account_digits(number).unwrap();
    BankAccount {
        bank_name: "DBS".into(),
        holder_name: "Kaya Pte Ltd".into(),
        // Tests stand in for the web layer's keyed hash.
        account_hash: format!("h:{digits}"),
        account_masked: verification::mask_account(&digits),
    }
}

fn sgd(minor: i64) -> Money {
    Money::new(minor, Currency::SGD)
}

fn unverified(r: Result<payouts::Payout, CommerceError>) -> bool {
    matches!(r, Err(CommerceError::SellerUnverified))
}

#[tokio::test]
async fn payouts_wait_for_an_operator_and_a_bank_account_change_blocks_them_again() {
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    let op = operator(&t).await;
    assert_eq!(verification::get(&t, &a).await.unwrap().state, State::Unverified);
    assert!(unverified(payouts::request(&t, &a, sgd(100)).await), "no row: unverified");

    let v =
        verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Kaya Pte Ltd")
            .await
            .unwrap();
    assert_eq!(v.state, State::Submitted);
    assert_eq!(v.identifier.as_deref(), Some("53143018M"));
    assert!(unverified(payouts::request(&t, &a, sgd(100)).await), "submitted is not verified");
    let again =
        verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Kaya").await;
    assert!(matches!(again, Err(CommerceError::InvalidTransition(_))), "no second submission while waiting");

    let v = verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    assert_eq!(v.state, State::Verified);
    assert!(verification::is_verified(&t, &a).await.unwrap());
    // Verified, but no bank account on file: still no payout.
    assert!(matches!(payouts::request(&t, &a, sgd(100)).await, Err(CommerceError::NoPayoutAccount)));
    assert!(
        matches!(
            verification::decide(&t, &op, a.store_id(), Decision::Approve).await,
            Err(CommerceError::InvalidTransition(_))
        ),
        "a decision is taken once"
    );

    // The first bank account after approval needs a review too (the operator approved the seller, not an account
    // added afterwards, possibly by someone who took over a member); entering the same one again changes nothing.
    let v = verification::set_payout_account(&t, &a, account("123-456-789")).await.unwrap();
    assert_eq!(v.state, State::ReverifyNeeded);
    assert_eq!(v.payout_account.as_deref(), Some("DBS ****6789"));
    assert!(unverified(payouts::request(&t, &a, sgd(100)).await), "a new account waits for review");
    verification::request_reverification(&t, &a).await.unwrap();
    verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    // Verified with an account: the payout now gets as far as the ledger (this store has no balance).
    assert!(matches!(payouts::request(&t, &a, sgd(100)).await, Err(CommerceError::InsufficientFunds { .. })));
    let v = verification::set_payout_account(&t, &a, account("123456789")).await.unwrap();
    assert_eq!(v.state, State::Verified, "the same account typed again");

    // A different account: re-verification needed, payouts blocked.
    let v = verification::set_payout_account(&t, &a, account("987654321")).await.unwrap();
    assert_eq!(v.state, State::ReverifyNeeded);
    assert!(unverified(payouts::request(&t, &a, sgd(100)).await), "bank account changed: blocked");
    verification::request_reverification(&t, &a).await.unwrap();
    assert!(unverified(payouts::request(&t, &a, sgd(100)).await));
    verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    assert!(matches!(payouts::request(&t, &a, sgd(100)).await, Err(CommerceError::InsufficientFunds { .. })));

    // Every step is in the store's audit chain, the account only masked.
    let events = palisade_store::audit::list_store(&t, &a, 100).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    for want in
        ["verification.submitted", "verification.approved", "payout_account.changed", "verification.resubmitted"]
    {
        assert!(actions.contains(&want), "{want} in {actions:?}");
    }
    let approved = events.iter().find(|e| e.action == "verification.approved").unwrap();
    assert_eq!(approved.actor, format!("account:{}", op.account_id()), "approved as the operator");
    let all = serde_json::to_string(&events.iter().map(|e| e.details.clone()).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("987654321") && !all.contains("123456789"), "{all}");
}

#[tokio::test]
async fn rejection_keeps_the_reason_and_allows_a_new_submission() {
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    let op = operator(&t).await;
    let reject = |reason: &str| Decision::Reject { reason: reason.into() };
    assert!(
        matches!(
            verification::decide(&t, &op, a.store_id(), reject("x")).await,
            Err(CommerceError::InvalidTransition(_))
        ),
        "nothing submitted yet"
    );
    verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Kaya")
        .await
        .unwrap();
    assert!(matches!(verification::decide(&t, &op, a.store_id(), reject("   ")).await, Err(CommerceError::Invalid(_))));
    assert!(matches!(
        verification::decide(&t, &op, a.store_id(), reject(&"x".repeat(1001))).await,
        Err(CommerceError::TooLong { .. })
    ));
    let v = verification::decide(&t, &op, a.store_id(), reject("The name does not match the UEN.")).await.unwrap();
    assert_eq!(v.state, State::Rejected);
    assert_eq!(v.reason.as_deref(), Some("The name does not match the UEN."));
    assert!(unverified(payouts::request(&t, &a, sgd(1)).await));
    let v =
        verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Kaya Pte Ltd")
            .await
            .unwrap();
    assert_eq!((v.state, v.reason), (State::Submitted, None), "a new submission clears the reason");
}

#[tokio::test]
async fn the_registry_refuses_unknown_and_deregistered_numbers_before_anything_is_written() {
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    let unknown = business("12345000");
    let gone = business("12345999");
    assert_eq!(
        TestRegistry.check(&Identity::Business { uen: unknown.clone() }).await.unwrap(),
        RegistryAnswer::NotFound
    );
    for uen in [unknown, gone] {
        let r = verification::submit(&t, &a, &TestRegistry, Identity::Business { uen }, "Kaya").await;
        assert!(matches!(r, Err(CommerceError::Registry(_))), "{r:?}");
    }
    for name in ["", "  ", "a\u{0}b"] {
        let r =
            verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, name).await;
        assert!(matches!(r, Err(CommerceError::Invalid(_))), "{name:?}: {r:?}");
    }
    let r = verification::submit(
        &t,
        &a,
        &TestRegistry,
        Identity::Business { uen: business("53143018") },
        &"n".repeat(verification::MAX_NAME + 1),
    )
    .await;
    assert!(matches!(r, Err(CommerceError::TooLong { .. })));
    assert_eq!(verification::get(&t, &a).await.unwrap().state, State::Unverified, "nothing written");
    assert!(
        palisade_store::audit::list_store(&t, &a, 10)
            .await
            .unwrap()
            .iter()
            .all(|e| !e.action.starts_with("verification"))
    );
}

#[tokio::test]
async fn an_nric_is_kept_only_as_a_keyed_hash_and_a_masked_form() {
    let t = TestDb::new().await;
    let a = store(&t, "mei").await;
    let nric = Nric::parse("S1234567D").unwrap();
    let v =
        verification::submit(&t, &a, &TestRegistry, Identity::Individual { nric: nric.to_record(&key()) }, "Tan Mei")
            .await
            .unwrap();
    assert_eq!(v.identifier.as_deref(), Some("S****567D"));
    assert_eq!(v.kind.as_deref(), Some("individual"));
    assert!(!serde_json::to_string(&v).unwrap().contains("1234567"));
    let (hash, masked, uen): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT nric_hash, nric_masked, uen FROM store_verifications WHERE store_id = $1")
            .bind(a.store_key())
            .fetch_one(t.pool())
            .await
            .unwrap();
    assert_eq!(hash.as_deref(), Some(nric.keyed_hash(&key()).as_str()));
    assert_eq!(masked.as_deref(), Some("S****567D"));
    assert_eq!(uen, None);
    let audit: Vec<String> = palisade_store::audit::list_store(&t, &a, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {} {}", e.action, e.target, e.details))
        .collect();
    assert!(audit.iter().all(|e| !e.contains("1234567") && !e.contains("Tan Mei")), "{audit:?}");
}

#[tokio::test]
async fn one_store_verification_never_touches_another() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "beta").await;
    let op = operator(&t).await;
    verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Alpha")
        .await
        .unwrap();
    verification::submit(&t, &b, &TestRegistry, Identity::Business { uen: business("00192200") }, "Beta")
        .await
        .unwrap();
    let queue = verification::queue(&t, &op).await.unwrap();
    assert_eq!(queue.len(), 2);
    // A's account, given while its review is pending, is the one approved with it.
    verification::set_payout_account(&t, &a, account("11112222")).await.unwrap();
    verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    assert!(verification::is_verified(&t, &a).await.unwrap());
    assert!(!verification::is_verified(&t, &b).await.unwrap(), "approving A leaves B waiting");
    assert!(unverified(payouts::request(&t, &b, sgd(1)).await));
    // B's bank account change leaves A verified.
    verification::set_payout_account(&t, &b, account("33334444")).await.unwrap();
    verification::set_payout_account(&t, &b, account("55556666")).await.unwrap();
    assert_eq!(verification::get(&t, &a).await.unwrap().state, State::Verified);
    assert_eq!(verification::get(&t, &a).await.unwrap().payout_account.as_deref(), Some("DBS ****2222"));
    assert_eq!(
        verification::queue(&t, &op).await.unwrap().iter().map(|v| v.store_id.clone()).collect::<Vec<_>>(),
        [b.store_key()]
    );
}

#[tokio::test]
async fn only_the_demo_data_may_skip_the_review_and_the_rating_shows_the_real_state() {
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    let uen = business("53143018");
    assert!(verification::verify_for_demo(&t, &a, &uen, "Kaya").await.is_err(), "a merchant's scope cannot");
    assert!(!verification::is_verified(&t, &a).await.unwrap());
    let r = safety::compute(&t, &a).await.unwrap();
    assert!(!r.figures.verified);
    let demo = StaffScope::system(a.store_id(), "demo");
    verification::verify_for_demo(&t, &demo, &uen, "Kaya").await.unwrap();
    let r = safety::compute(&t, &a).await.unwrap();
    assert!(r.figures.verified);
    let f = r.factors.iter().find(|f| f.key == "verified").unwrap();
    assert_eq!(f.detail, "verified by Palisade");
}

#[tokio::test]
async fn the_listing_gate_follows_the_operator_setting_and_fails_closed() {
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    verification::require_listing_allowed(&t, &a).await.unwrap();
    let key = verification::REQUIRED_BEFORE_LISTING;
    palisade_store::settings::put(&t, key, &serde_json::json!(true)).await.unwrap();
    assert!(matches!(verification::require_listing_allowed(&t, &a).await, Err(CommerceError::SellerUnverified)));
    palisade_store::settings::put(&t, key, &serde_json::json!("yes?")).await.unwrap();
    assert!(
        matches!(verification::require_listing_allowed(&t, &a).await, Err(CommerceError::SellerUnverified)),
        "an unreadable setting requires verification"
    );
    // Publishing is refused (new or existing product); a draft is fine.
    use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
    let product = |status| NewProduct {
        slug: Slug::parse("kaya-jam").unwrap(),
        title: "Kaya".into(),
        description: String::new(),
        status,
        category: None,
        variants: vec![NewVariant { sku: "KAYA-1".into(), options: serde_json::json!({}), price: sgd(1200), stock: 5 }],
    };
    palisade_store::settings::put(&t, key, &serde_json::json!(true)).await.unwrap();
    let r = catalog::create_product(&t, &a, product(ProductStatus::Published)).await;
    assert!(matches!(r, Err(CommerceError::SellerUnverified)), "{r:?}");
    let draft = catalog::create_product(&t, &a, product(ProductStatus::Draft)).await.unwrap();
    let r = catalog::set_status(&t, &a, draft.id, ProductStatus::Published).await;
    assert!(matches!(r, Err(CommerceError::SellerUnverified)), "{r:?}");
    verification::verify_for_demo(&t, &StaffScope::system(a.store_id(), "demo"), &business("53143018"), "Kaya")
        .await
        .unwrap();
    verification::require_listing_allowed(&t, &a).await.unwrap();
    catalog::set_status(&t, &a, draft.id, ProductStatus::Published).await.unwrap();
    palisade_store::settings::put(&t, key, &serde_json::json!(false)).await.unwrap();
    verification::require_listing_allowed(&t, &a).await.unwrap();
}

#[tokio::test]
async fn the_verification_controls_follow_the_state() {
    use palisade_core::matrix::ControlStatus;
    use palisade_store::matrix::{NodeFacts, Registry};
    use std::sync::Arc;
    fn status<'a>(r: &'a palisade_store::matrix::Report, id: &str) -> &'a ControlStatus {
        r.areas
            .iter()
            .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
            .find(|c| c.control.id == id)
            .map(|c| &c.status)
            .unwrap()
    }
    let t = TestDb::new().await;
    let a = store(&t, "kaya").await;
    let op = operator(&t).await;
    let mut reg = Registry::default();
    palisade_commerce::controls::register(&mut reg).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: std::env::temp_dir(), master_key_path: std::env::temp_dir().join("k") });
    let r = reg.evaluate_store(&t, &facts, &a).await.unwrap();
    assert!(!status(&r, "store.verification-current").is_met());
    assert!(status(&r, "platform.sellers-with-payouts-verified").is_met(), "no payouts yet");
    // A payout recorded before verification existed (an older release) makes the platform control unmet.
    sqlx::query(
        "INSERT INTO ledger_transfers (id, kind, store_id, reference, currency, amount, created_at) \
         VALUES ('t', 'payout', $1, 'legacy', 'SGD', 100, 0)",
    )
    .bind(a.store_key())
    .execute(t.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO payouts (id, store_id, currency, amount_minor, transfer_id, requested_by, created_at) \
         VALUES ('legacy', $1, 'SGD', 100, 't', 'system:test', 0)",
    )
    .bind(a.store_key())
    .execute(t.pool())
    .await
    .unwrap();
    let r = reg.evaluate_store(&t, &facts, &a).await.unwrap();
    assert!(!status(&r, "platform.sellers-with-payouts-verified").is_met());
    verification::submit(&t, &a, &TestRegistry, Identity::Business { uen: business("53143018") }, "Kaya")
        .await
        .unwrap();
    verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    let r = reg.evaluate_store(&t, &facts, &a).await.unwrap();
    assert!(status(&r, "store.verification-current").is_met());
    assert!(status(&r, "platform.sellers-with-payouts-verified").is_met());
    verification::set_payout_account(&t, &a, account("11112222")).await.unwrap();
    verification::set_payout_account(&t, &a, account("33334444")).await.unwrap();
    let r = reg.evaluate_store(&t, &facts, &a).await.unwrap();
    assert!(!status(&r, "store.verification-current").is_met());
    assert!(!status(&r, "platform.sellers-with-payouts-verified").is_met());
}

#[test]
fn documents_are_recognised_by_their_bytes_not_their_names() {
    assert_eq!(verification::sniff(b"%PDF-1.7\n"), Some("application/pdf"));
    assert_eq!(verification::sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
    assert_eq!(verification::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
    for fake in [&b"<!doctype html><html>"[..], b"<html><script>", b" %PDF-1.7", b"GIF89a", b"", b"\x89PNG"] {
        assert_eq!(verification::sniff(fake), None, "{fake:?}");
    }
}

/// A seller's identity documents are deleted 90 days after the operator decided; a store still waiting for a
/// decision keeps its documents whatever their age.
#[tokio::test]
async fn identity_documents_go_90_days_after_the_decision() {
    use palisade_commerce::retention::{self, Mode, Schedule};
    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let op = operator(&t).await;
    let seal = |bytes: &[u8], _: &str| hex::encode(bytes);
    for (scope, uen) in [(&a, "53143018"), (&b, "53143019")] {
        verification::add_document(&t, scope, "acra.pdf", b"%PDF-1.7 business profile", &seal).await.unwrap();
        verification::submit(&t, scope, &TestRegistry, Identity::Business { uen: business(uen) }, "Kaya")
            .await
            .unwrap();
    }
    verification::decide(&t, &op, a.store_id(), Decision::Approve).await.unwrap();
    let key = |e: &str| format!("keyed:{}", e.len());
    let schedule = Schedule::default();
    let run = || retention::run(&t, &schedule, Mode::Apply, "https://shop.example/login", &key);
    clock.advance(Duration::from_secs(89 * 86_400));
    assert_eq!(run().await.unwrap().counts["decided_verification_documents"], 0, "not yet");
    clock.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(run().await.unwrap().counts["decided_verification_documents"], 1, "A's, decided 91 days ago");
    assert!(verification::documents(&t, &a).await.unwrap().is_empty());
    assert_eq!(verification::documents(&t, &b).await.unwrap().len(), 1, "B is still waiting for a decision");
    assert_eq!(verification::get(&t, &a).await.unwrap().state, State::Verified, "the decision stays");
}
