//! Erasure across every store (issue #21 item 4) on a real database (SQLite, or PostgreSQL with
//! PALISADE_TEST_DATABASE_URL): orders kept with the buyer's fields replaced by the marker, everything else of
//! theirs deleted, and a full-database scan for the buyer's values finds nothing — mail, firewall events, job
//! payloads and stored access-request exports included. Refusals: open orders, open disputes, staff accounts,
//! twice. Tombstones hold no plain email; re-applying them erases a restored copy again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::erasure::{self, Tombstone};
use palisade_commerce::fraud::Fingerprints;
use palisade_commerce::orders::{self, Checkout, Line, Status};
use palisade_commerce::payments::{TestGateway, card};
use palisade_commerce::policy::Policy;
use palisade_commerce::{CommerceError, address_book, data_requests, disputes, messages, residue, scam_reports};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, OrderId, VariantId};
use palisade_privacy::request::RequestKind;
use palisade_store::outbox::{self, NewMail};
use palisade_store::scope::{OperatorPrincipal, PlatformScope, StaffScope, StoreScope};
use palisade_store::shield_events::{self, NewShieldEvent};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

const MEI_EMAIL: &str = "mei.lim@example.com";
const MEI_NAME: &str = "Mei Lim Hwee";
const MEI_STREET: &str = "17 Orchid Terrace";
const MEI_PHONE: &str = "+65 9123 4567";

async fn store(db: &Db, slug: &str) -> StaffScope {
    let owner = account(db, &format!("owner@{slug}.example"), "Owner", AccountKind::Staff).await;
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse(slug).unwrap(),
            name: slug.into(),
            currency: Currency::SGD,
            owner,
            security_contact: None,
        },
    )
    .await
    .unwrap()
    .1
    .to_staff()
    .unwrap()
}

async fn account(db: &Db, email: &str, name: &str, kind: AccountKind) -> AccountId {
    tenancy::create_account(db, NewAccount { email: Email::parse(email).unwrap(), display_name: name.into(), kind })
        .await
        .unwrap()
        .id
}

async fn product(db: &Db, scope: &StaffScope) -> VariantId {
    let p = catalog::create_product(
        db,
        scope,
        NewProduct {
            slug: Slug::parse("tea").unwrap(),
            title: "Oolong".into(),
            description: "Leaves.".into(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: "SKU-1".into(),
                options: serde_json::json!({}),
                price: Money::new(1850, Currency::SGD),
                stock: 100,
            }],
        },
    )
    .await
    .unwrap();
    p.variants[0].id
}

fn address(name: &str, street: &str, phone: &str) -> ShippingAddress {
    ShippingAddress::parse(AddressFields {
        name,
        line1: street,
        line2: phone,
        city: "Singapore",
        postcode: "018989",
        country: "Singapore",
    })
    .unwrap()
}

/// A paid order by `buyer`.
async fn order(
    db: &Db,
    store: &StaffScope,
    buyer: AccountId,
    email: &str,
    v: VariantId,
    key: &str,
    street: &str,
) -> OrderId {
    let scope = StoreScope::shopper(store.store_id(), Some(buyer));
    let req = Checkout {
        guest_proof: None,
        email: Email::parse(email).unwrap(),
        address: if email == MEI_EMAIL {
            address(MEI_NAME, street, MEI_PHONE)
        } else {
            address("Tan Ah Kow", street, "+65 8000 0000")
        },
        lines: vec![Line { variant_id: v, quantity: 1 }],
        idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
        card: card("4242424242424242", "12/30", "123"),
        fingerprints: Fingerprints::default(),
    };
    orders::checkout(db, &TestGateway, &scope, req).await.unwrap().order.id
}

async fn complete(db: &Db, store: &StaffScope, id: OrderId) {
    let policy = Policy::default();
    orders::transition(db, store, id, Status::Shipped, Some("TRK-MEI-0001"), &policy).await.unwrap();
    orders::transition(db, store, id, Status::Delivered, None, &policy).await.unwrap();
    orders::transition(db, store, id, Status::Completed, None, &policy).await.unwrap();
}

struct World {
    db: TestDb,
    a: StaffScope,
    b: StaffScope,
    mei: AccountId,
    tan: AccountId,
    va: VariantId,
}

/// A thread with the seller (her words and the seller's reply quoting them) and a scam report in her words, about
/// the reply; the report's id.
async fn talk_and_report(db: &Db, a: &StaffScope, mei: AccountId) -> palisade_core::ReportId {
    let thread = messages::open(db, mei, a.store_id(), messages::About::default()).await.unwrap();
    messages::buyer_send(db, mei, thread, &format!("Please deliver to {MEI_STREET}")).await.unwrap();
    let reply = messages::store_send(db, a, thread, &format!("Noted: {MEI_STREET}")).await.unwrap();
    scam_reports::file(
        db,
        mei,
        scam_reports::Subject::Message(reply.id),
        "off_platform_payment",
        &format!("They wanted me to pay by transfer, call me on {MEI_PHONE}"),
    )
    .await
    .unwrap()
    .id
}

async fn operator(db: &Db) -> OperatorPrincipal {
    let op = NewAccount {
        email: Email::parse("op@platform.example").unwrap(),
        display_name: "Op".into(),
        kind: AccountKind::Operator,
    };
    OperatorPrincipal::from_verified_operator(&tenancy::create_account(db, op).await.unwrap()).unwrap()
}

/// Two stores; Mei bought at both (orders completed), saved an address, asked one store for her data (answered
/// with an export), got mail, and her email reached a firewall event and a job payload. Tan bought at store A.
async fn world() -> World {
    let (db, _clock) = TestDb::manual().await;
    let (a, b) = (store(&db, "alpha").await, store(&db, "bravo").await);
    let mei = account(&db, MEI_EMAIL, MEI_NAME, AccountKind::Buyer).await;
    let tan = account(&db, "tan@example.com", "Tan Ah Kow", AccountKind::Buyer).await;
    let (va, vb) = (product(&db, &a).await, product(&db, &b).await);
    let o1 = order(&db, &a, mei, MEI_EMAIL, va, "k1", MEI_STREET).await;
    let o2 = order(&db, &b, mei, MEI_EMAIL, vb, "k2", MEI_STREET).await;
    let o3 = order(&db, &a, tan, "tan@example.com", va, "k3", "9 Tan Road").await;
    for (s, o) in [(&a, o1), (&b, o2), (&a, o3)] {
        complete(&db, s, o).await;
    }
    address_book::add(&db, mei, &address(MEI_NAME, MEI_STREET, MEI_PHONE)).await.unwrap();
    let report = talk_and_report(&db, &a, mei).await;
    // Decided: an open report would (rightly) refuse her erasure.
    let op = operator(&db).await;
    scam_reports::decide(&db, &op, report, scam_reports::Action::Warn, "checked").await.unwrap();
    let batch = data_requests::request_in_account(&db, mei, RequestKind::Access, "All my data please").await.unwrap();
    for id in &batch.requests {
        for s in [&a, &b] {
            let _ = data_requests::answer_with_export(&db, s, *id).await;
        }
    }
    outbox::enqueue(
        &db,
        NewMail { store_id: None, to: MEI_EMAIL, subject: "Your order", body: format!("Hi {MEI_NAME}") },
    )
    .await
    .unwrap();
    outbox::enqueue(
        &db,
        NewMail {
            store_id: Some(a.store_id().to_string()),
            to: "owner@alpha.example",
            subject: "New order",
            body: format!("Ship to {MEI_STREET}, {MEI_EMAIL}"),
        },
    )
    .await
    .unwrap();
    outbox::enqueue(
        &db,
        NewMail { store_id: None, to: "tan@example.com", subject: "Yours", body: "Hi Tan Ah Kow".into() },
    )
    .await
    .unwrap();
    let findings = serde_json::json!([{"rule": "sqli", "matched": MEI_EMAIL}]);
    shield_events::record(
        &db,
        &NewShieldEvent {
            id: "ev1",
            at: Timestamp(1_767_225_600_000),
            store: None,
            client_ip: Some("203.0.113.9"),
            method: "GET",
            path: &format!("/s/alpha?email={MEI_EMAIL}"),
            action: "log",
            score: 3,
            rules: &["sqli"],
            findings: &findings,
        },
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
         VALUES ('j1', 'mail.test', $1, 'succeeded', 1, 3, 0, 0, 0)",
    )
    .bind(serde_json::json!({"to": MEI_EMAIL}).to_string())
    .execute(db.pool())
    .await
    .unwrap();
    World { db, a, b, mei, tan, va }
}

fn mei_values() -> [&'static str; 4] {
    [MEI_EMAIL, MEI_NAME, MEI_STREET, MEI_PHONE]
}

#[tokio::test]
async fn erasure_keeps_the_books_and_a_full_scan_finds_no_residue() {
    let w = world().await;
    let before = residue::scan(&w.db, &mei_values()).await.unwrap();
    for table in [
        "accounts",
        "orders",
        "outbox",
        "shield_events",
        "jobs",
        "buyer_addresses",
        "data_requests",
        "messages",
        "scam_reports",
    ] {
        assert!(before.iter().any(|r| r.table == table), "the world must put Mei's data in {table}: {before:?}");
    }
    assert!(
        before.iter().any(|r| r.table == "data_requests" && r.column == "export_json"),
        "an answered access request's export must hold Mei's data before: {before:?}"
    );
    let ledger_before: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM ledger_entries").fetch_one(w.db.pool()).await.unwrap();

    let erased = erasure::erase_buyer(&w.db, w.mei, "keyed-hash-of-mei").await.unwrap();
    assert_eq!(erased.stores, 2);

    let found = residue::scan(&w.db, &mei_values()).await.unwrap();
    assert!(found.is_empty(), "residue after erasure: {found:?}");

    // The books stay: both orders, with the marker where the buyer was; the ledger is untouched.
    let m = erasure::marker(w.mei);
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT buyer_email, address, tracking_no FROM orders WHERE buyer_id = $1")
            .bind(w.mei.to_string())
            .fetch_all(w.db.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for (email, address, tracking) in rows {
        assert_eq!(email, erasure::marker_email(w.mei));
        assert!(address.contains(&m));
        assert_eq!(tracking, None);
    }
    let ledger_after: (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM ledger_entries").fetch_one(w.db.pool()).await.unwrap();
    assert_eq!(ledger_before, ledger_after);

    // The account is closed: disabled, no password, no sessions.
    let (disabled, hash): (i64, Option<String>) =
        sqlx::query_as("SELECT disabled, password_hash FROM accounts WHERE id = $1")
            .bind(w.mei.to_string())
            .fetch_one(w.db.pool())
            .await
            .unwrap();
    assert_eq!((disabled, hash), (1, None));

    // Tan's data is untouched.
    let tan = residue::scan(&w.db, &["tan@example.com", "Tan Ah Kow", "9 Tan Road"]).await.unwrap();
    for table in ["accounts", "orders", "outbox"] {
        assert!(tan.iter().any(|r| r.table == table), "Tan's {table} rows must stay: {tan:?}");
    }
    let _ = w.tan;

    // Every store chain Mei touched records the erasure, and no event repeats her values.
    let events: Vec<(String,)> = sqlx::query_as("SELECT chain FROM audit_events WHERE action = 'buyer.erased'")
        .fetch_all(w.db.pool())
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
}

#[tokio::test]
async fn tombstones_hold_no_plain_email_and_a_second_erasure_is_refused() {
    let w = world().await;
    erasure::erase_buyer(&w.db, w.mei, "keyed-hash-of-mei").await.unwrap();
    let stones = erasure::tombstones(&w.db).await.unwrap();
    assert_eq!(stones.len(), 1);
    assert_eq!(stones[0].account_id, w.mei.to_string());
    assert_eq!(stones[0].email_key, "keyed-hash-of-mei");
    let in_tombstones: Vec<_> = residue::scan(&w.db, &[MEI_EMAIL, "mei.lim", "example.com"])
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.table == "erasure_tombstones")
        .collect();
    assert!(in_tombstones.is_empty());
    let again = erasure::erase_buyer(&w.db, w.mei, "x").await;
    assert!(matches!(again, Err(CommerceError::ErasureRefused(_))), "{again:?}");
}

#[tokio::test]
async fn an_open_order_or_dispute_refuses_erasure_and_changes_nothing() {
    let w = world().await;
    // A paid order still in escrow.
    let open = order(&w.db, &w.a, w.mei, MEI_EMAIL, w.va, "k9", MEI_STREET).await;
    let refused = erasure::erase_buyer(&w.db, w.mei, "k").await;
    match refused {
        Err(CommerceError::ErasureRefused(m)) => assert!(m.contains("still open"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!erasure::is_erased(&w.db, w.mei).await.unwrap());
    let still: Vec<_> = residue::scan(&w.db, &[MEI_EMAIL]).await.unwrap();
    assert!(still.iter().any(|r| r.table == "accounts"));

    // The same order under dispute.
    let policy = Policy::default();
    orders::transition(&w.db, &w.a, open, Status::Shipped, Some("T"), &policy).await.unwrap();
    let access = palisade_commerce::access::OrderAccess::for_buyer(&w.db, w.mei, open).await.unwrap();
    disputes::open(&w.db, &access, "not_received", "It never came").await.unwrap();
    let refused = erasure::erase_buyer(&w.db, w.mei, "k").await;
    assert!(matches!(refused, Err(CommerceError::ErasureRefused(_))), "{refused:?}");
    let _ = &w.b;
}

#[tokio::test]
async fn staff_accounts_and_unknown_accounts_are_not_erased_here() {
    let w = world().await;
    let owner =
        tenancy::find_account_by_email(&w.db, &Email::parse("owner@alpha.example").unwrap()).await.unwrap().unwrap();
    let r = erasure::erase_buyer(&w.db, owner.id, "k").await;
    assert!(matches!(r, Err(CommerceError::ErasureRefused(_))), "{r:?}");
    let r = erasure::erase_buyer(&w.db, AccountId::new(), "k").await;
    assert!(matches!(r, Err(CommerceError::Store(StoreError::NotFound(_)))), "{r:?}");
}

#[tokio::test]
async fn reapplying_a_tombstone_erases_a_restored_copy_again() {
    let w = world().await;
    // What a restore of an older snapshot looks like: the account and its rows as before, no tombstone.
    let carried = vec![Tombstone { account_id: w.mei.to_string(), email_key: "keyed".into(), erased_at: 1 }];
    let report = erasure::reapply(&w.db, &carried).await.unwrap();
    assert_eq!((report.tombstones, report.erased_again, report.absent), (1, 1, 0));
    let found = residue::scan(&w.db, &mei_values()).await.unwrap();
    assert!(found.is_empty(), "residue after re-applying: {found:?}");
    // Idempotent: a second run finds nothing left to erase.
    let again = erasure::reapply(&w.db, &[]).await.unwrap();
    assert_eq!((again.tombstones, again.erased_again), (1, 0));
    // A tombstone of an account this database never had is counted, not an error.
    let ghost = vec![Tombstone { account_id: AccountId::new().to_string(), email_key: "k".into(), erased_at: 1 }];
    assert_eq!(erasure::reapply(&w.db, &ghost).await.unwrap().absent, 1);
}

/// A firewall event recorded now.
async fn firewall_event(db: &Db, id: &str) {
    let findings = serde_json::json!([]);
    let e = NewShieldEvent {
        id,
        at: db.now(),
        store: None,
        client_ip: None,
        method: "GET",
        path: "/",
        action: "log",
        score: 1,
        rules: &[],
        findings: &findings,
    };
    shield_events::record(db, &e).await.unwrap();
}

/// Tan's cart, a firewall event and an emailed access request refused (its content kept 30 Singapore days).
async fn due_for_retention(db: &Db, a: &StaffScope, tan: AccountId) {
    sqlx::query("INSERT INTO carts (id, token_hash, buyer_id, created_at, updated_at) VALUES ('c1', 'h1', $1, $2, $2)")
        .bind(tan.to_string())
        .bind(db.now().0)
        .execute(db.pool())
        .await
        .unwrap();
    firewall_event(db, "old").await;
    let walkin = Email::parse("walkin@example.com").unwrap();
    data_requests::log_email_request(db, a, &walkin, RequestKind::Access, "about me").await.unwrap();
    let id = data_requests::queue(db, a, 10).await.unwrap()[0].id;
    data_requests::refuse(db, a, id, "cannot verify who you are").await.unwrap();
}

/// Retention (issue #21 item 6): a dry run counts and changes nothing; the run deletes abandoned carts and old
/// firewall events, anonymises a refused request past its `keep_until`, notices inactive buyers and erases them
/// after the grace period unless they signed in; counts are recorded per class.
#[tokio::test]
async fn retention_counts_then_acts_per_class_and_erases_inactive_buyers_after_a_notice() {
    use palisade_commerce::retention::{self, Mode, Schedule};
    use std::time::Duration;
    let day = Duration::from_secs(24 * 3600);
    let (db, clock) = TestDb::manual().await;
    let a = store(&db, "alpha").await;
    let mei = account(&db, MEI_EMAIL, MEI_NAME, AccountKind::Buyer).await;
    let tan = account(&db, "tan@example.com", "Tan Ah Kow", AccountKind::Buyer).await;
    let va = product(&db, &a).await;
    let o = order(&db, &a, mei, MEI_EMAIL, va, "k1", MEI_STREET).await;
    complete(&db, &a, o).await;
    due_for_retention(&db, &a, tan).await;

    let schedule = Schedule::default();
    let key = |e: &str| format!("keyed:{}", e.len());
    let run = |dry: bool| {
        let (db, schedule) = (&db, &schedule);
        async move {
            retention::run(
                db,
                schedule,
                if dry { Mode::DryRun } else { Mode::Apply },
                "https://shop.example/login",
                &key,
            )
            .await
            .unwrap()
        }
    };

    // Day 91: carts, firewall events and the refused request are due; nobody is inactive yet.
    clock.advance(91 * day);
    firewall_event(&db, "new").await;
    let dry = run(true).await;
    assert!(dry.dry_run);
    assert_eq!(dry.counts["abandoned_carts"], 1);
    assert_eq!(dry.counts["firewall_events"], 1);
    assert_eq!(dry.counts["refused_requests_past_keep_until"], 1);
    assert_eq!(dry.counts["inactive_buyers_notified"], 0);
    let (carts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM carts").fetch_one(db.pool()).await.unwrap();
    assert_eq!(carts, 1, "a dry run changes nothing");
    let done = run(false).await;
    assert_eq!(done.counts, dry.counts, "the run does what the dry run counted");
    let (carts,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM carts").fetch_one(db.pool()).await.unwrap();
    let (events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM shield_events").fetch_one(db.pool()).await.unwrap();
    assert_eq!((carts, events), (0, 1));
    assert!(
        residue::scan(&db, &["walkin@example.com", "about me", "cannot verify"])
            .await
            .unwrap()
            .iter()
            .all(|r| r.table == "audit_events" || r.table == "outbox"),
        "the refused request's content is gone once kept past keep_until"
    );
    let again = run(false).await;
    assert_eq!(again.counts["refused_requests_past_keep_until"], 0, "anonymised once");

    // Three years on: both buyers are told; Tan signs in during the grace period, Mei does not.
    clock.advance(3 * 365 * day);
    let noticed = run(false).await;
    assert_eq!(noticed.counts["inactive_buyers_notified"], 2);
    let (mails,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE subject = 'Your account will be erased'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(mails, 2);
    assert_eq!(run(false).await.counts["inactive_buyers_notified"], 0, "one notice each");
    clock.advance(10 * day);
    sqlx::query("UPDATE accounts SET last_active_at = $1 WHERE id = $2")
        .bind(db.now().0)
        .bind(tan.to_string())
        .execute(db.pool())
        .await
        .unwrap();
    clock.advance(21 * day);
    let erased = run(false).await;
    assert_eq!(erased.counts["inactive_buyers_erased"], 1);
    assert!(erasure::is_erased(&db, mei).await.unwrap());
    assert!(!erasure::is_erased(&db, tan).await.unwrap());
    assert!(residue::scan(&db, &mei_values()).await.unwrap().is_empty());

    // Every run is recorded with its counts, newest first.
    let runs = retention::recent(&db, &PlatformScope::system("test"), 10).await.unwrap();
    assert_eq!(runs.len(), 6);
    assert_eq!(runs[0].counts["inactive_buyers_erased"], 1);
    assert!(runs.iter().any(|r| r.dry_run));
}

fn control<'a>(r: &'a palisade_store::matrix::Report, id: &str) -> &'a palisade_core::matrix::ControlStatus {
    r.areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|c| c.control.id == id)
        .map(|c| &c.status)
        .unwrap()
}

#[tokio::test]
async fn the_retention_control_is_met_only_after_a_real_run_in_the_last_two_days() {
    use palisade_commerce::retention::{self, Mode, Schedule};
    use palisade_store::matrix::{NodeFacts, Registry};
    let (db, clock) = TestDb::manual().await;
    let a = store(&db, "alpha").await;
    let mut reg = Registry::default();
    palisade_commerce::controls::register(&mut reg).unwrap();
    let facts = std::sync::Arc::new(NodeFacts {
        data_dir: std::env::temp_dir(),
        master_key_path: std::env::temp_dir().join("k"),
    });
    let scope = &a;
    let id = "platform.retention-runs";
    assert!(!control(&reg.evaluate_store(&db, &facts, scope).await.unwrap(), id).is_met());
    let key = |e: &str| e.len().to_string();
    retention::run(&db, &Schedule::default(), Mode::DryRun, "u", &key).await.unwrap();
    assert!(!control(&reg.evaluate_store(&db, &facts, scope).await.unwrap(), id).is_met(), "a dry run does not count");
    retention::run(&db, &Schedule::default(), Mode::Apply, "u", &key).await.unwrap();
    assert!(control(&reg.evaluate_store(&db, &facts, scope).await.unwrap(), id).is_met());
    clock.advance(std::time::Duration::from_secs(3 * 24 * 3600));
    assert!(!control(&reg.evaluate_store(&db, &facts, scope).await.unwrap(), id).is_met());
}

/// Review finding (critical): erasure must never reach other people's rows. A buyer whose email is the tail of
/// another's (`an@example.com` in `tan@example.com`), who typed another person's email at checkout and saved an
/// address line like `account:` that other rows happen to contain, is erased: Tan's mail, firewall event and
/// sign-in throttle rows all stay.
#[tokio::test]
async fn erasing_one_buyer_never_deletes_rows_that_only_resemble_them() {
    let w = world().await;
    let eve = account(&w.db, "an@example.com", "Eve", AccountKind::Buyer).await;
    let o = order(&w.db, &w.a, eve, "tan@example.com", w.va, "k-eve", "account:").await;
    complete(&w.db, &w.a, o).await;
    for key in ["account:tan@example.com", "email:tan@example.com"] {
        sqlx::query("INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) VALUES ($1, 3, 0, 0)")
            .bind(key)
            .execute(w.db.pool())
            .await
            .unwrap();
    }
    let tan_rows = |db: Db| async move {
        residue::scan(&db, &["tan@example.com"])
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.table, r.column))
            .collect::<Vec<_>>()
    };
    let before = tan_rows((*w.db).clone()).await;
    assert!(before.iter().any(|(t, _)| t == "outbox") && before.iter().any(|(t, _)| t == "login_throttle"));
    erasure::erase_buyer(&w.db, eve, "keyed-hash-of-eve").await.unwrap();
    let after = tan_rows((*w.db).clone()).await;
    for (table, column) in &before {
        if table == "orders" && column == "buyer_email" {
            continue; // Eve's own order held Tan's address as typed: anonymised with Eve.
        }
        assert!(after.contains(&(table.clone(), column.clone())), "Tan's {table}.{column} went with Eve: {after:?}");
    }
    let (throttles,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM login_throttle").fetch_one(w.db.pool()).await.unwrap();
    assert_eq!(throttles, 2, "sign-in throttles of others stay");
    let _ = (&w.b, w.mei, w.tan);
}

/// Review finding: erasure destroyed the evidence of an open scam report (the buyer's thread with the seller). While
/// a report she filed is open, erasure is refused and nothing changes; once an operator decides it, she is erased.
#[tokio::test]
async fn an_open_scam_report_refuses_erasure_until_it_is_decided() {
    let w = world().await;
    let thread = messages::open(&w.db, w.mei, w.a.store_id(), messages::About::default()).await.unwrap();
    messages::buyer_send(&w.db, w.mei, thread, "Is this genuine?").await.unwrap();
    let reply = messages::store_send(&w.db, &w.a, thread, "Pay me on PayNow instead").await.unwrap();
    let report = scam_reports::file(
        &w.db,
        w.mei,
        scam_reports::Subject::Message(reply.id),
        "off_platform_payment",
        "They asked for PayNow",
    )
    .await
    .unwrap()
    .id;
    let count = |db: Db| async move {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE thread_id = $1")
            .bind(thread.to_string())
            .fetch_one(db.pool())
            .await
            .unwrap();
        n
    };
    let before = count((*w.db).clone()).await;
    assert!(before >= 2);
    let refused = erasure::erase_buyer(&w.db, w.mei, "k").await;
    match refused {
        Err(CommerceError::ErasureRefused(m)) => assert!(m.contains("scam report") && m.contains("still open"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!erasure::is_erased(&w.db, w.mei).await.unwrap());
    assert_eq!(count((*w.db).clone()).await, before, "the evidence stays");
    let (details,): (String,) = sqlx::query_as("SELECT details FROM scam_reports WHERE id = $1")
        .bind(report.to_string())
        .fetch_one(w.db.pool())
        .await
        .unwrap();
    assert_eq!(details, "They asked for PayNow");

    // Dismissed (or upheld): no longer open, so the erasure goes ahead and the thread goes with it.
    let op = tenancy::find_account_by_email(&w.db, &Email::parse("op@platform.example").unwrap())
        .await
        .unwrap()
        .and_then(|a| OperatorPrincipal::from_verified_operator(&a))
        .unwrap();
    scam_reports::decide(&w.db, &op, report, scam_reports::Action::Dismiss, "nothing found").await.unwrap();
    erasure::erase_buyer(&w.db, w.mei, "k").await.unwrap();
    assert_eq!(count((*w.db).clone()).await, 0);
    assert!(residue::scan(&w.db, &mei_values()).await.unwrap().is_empty());
}

const GUEST_EMAIL: &str = "mei@buyer.example";

/// A guest order (no account) at `store` with `email`, paid and still open.
async fn guest_order(db: &Db, store: &StaffScope, email: &str, v: VariantId, key: &str) -> OrderId {
    let scope = StoreScope::shopper(store.store_id(), None);
    let req = Checkout {
        guest_proof: Some(format!("proof-{key}")),
        email: Email::parse(email).unwrap(),
        address: address(MEI_NAME, MEI_STREET, MEI_PHONE),
        lines: vec![Line { variant_id: v, quantity: 1 }],
        idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
        card: card("4242424242424242", "12/30", "123"),
        fingerprints: Fingerprints::default(),
    };
    orders::checkout(db, &TestGateway, &scope, req).await.unwrap().order.id
}

async fn order_row(db: &Db, id: OrderId) -> (Option<String>, String, String, Option<String>) {
    sqlx::query_as("SELECT buyer_id, buyer_email, address, tracking_no FROM orders WHERE id = $1")
        .bind(id.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap()
}

/// Review finding (second review): a sign-in email is never confirmed, so guest orders placed with it are not
/// the account holder's to erase — anyone could register another person's address. Erasure leaves every guest
/// order as it was, and an open guest order in the address does not block the account's erasure.
#[tokio::test]
async fn guest_orders_are_left_alone_while_sign_in_emails_are_unconfirmed() {
    let (db, _clock) = TestDb::manual().await;
    let a = store(&db, "alpha").await;
    let v = product(&db, &a).await;
    let done = guest_order(&db, &a, "Mei@Buyer.Example", v, "g1").await;
    complete(&db, &a, done).await;
    let open = guest_order(&db, &a, GUEST_EMAIL, v, "g3").await;
    let claimant = account(&db, GUEST_EMAIL, MEI_NAME, AccountKind::Buyer).await;
    let before = (order_row(&db, done).await, order_row(&db, open).await);
    erasure::erase_buyer(&db, claimant, "k").await.unwrap();
    assert_eq!((order_row(&db, done).await, order_row(&db, open).await), before, "guest orders untouched");
}
