//! PDPA access and correction requests (issue #21 item 3) end to end on a real database (SQLite, or PostgreSQL
//! with PALISADE_TEST_DATABASE_URL): a buyer's request reaches every store they bought from; each store answers
//! with an export of that buyer's data there only; the 30-day clock shows overdue on day 31 and the matrix says so;
//! reminders go out once per stage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::data_requests::{self, Channel, MAX_DETAILS_CHARS};
use palisade_commerce::fraud::Fingerprints;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{TestGateway, card};
use palisade_commerce::{CommerceError, data_export};
use palisade_core::matrix::ControlStatus;
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_core::{AccountId, VariantId};
use palisade_privacy::request::{RequestKind, Status};
use palisade_store::matrix::{NodeFacts, Registry, Report};
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError, audit};

const DAY: Duration = Duration::from_secs(24 * 3600);

async fn store(db: &Db, slug: &str) -> StaffScope {
    let owner = account(db, &format!("owner@{slug}.example"), AccountKind::Staff).await;
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse(slug).unwrap(),
            name: slug.into(),
            currency: Currency::SGD,
            owner,
            security_contact: Some(Email::parse(&format!("dpo@{slug}.example")).unwrap()),
        },
    )
    .await
    .unwrap()
    .1
    .to_staff()
    .unwrap()
}

async fn account(db: &Db, email: &str, kind: AccountKind) -> AccountId {
    tenancy::create_account(db, NewAccount { email: Email::parse(email).unwrap(), display_name: "Mei".into(), kind })
        .await
        .unwrap()
        .id
}

async fn product(db: &Db, scope: &StaffScope, title: &str) -> VariantId {
    let p = catalog::create_product(
        db,
        scope,
        NewProduct {
            slug: Slug::parse("tea").unwrap(),
            title: title.into(),
            description: "Leaves.".into(),
            status: ProductStatus::Published,
            category: None,
            variants: vec![NewVariant {
                sku: format!("SKU-{title}"),
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

/// An order by `buyer` (an account) or a guest, shipped to `street`.
async fn order(
    db: &Db,
    store: &StaffScope,
    buyer: Option<AccountId>,
    email: &str,
    v: VariantId,
    key: &str,
    street: &str,
) {
    let scope = StoreScope::shopper(store.store_id(), buyer);
    let req = Checkout {
        guest_proof: buyer.is_none().then(|| format!("proof-{key}")),
        email: Email::parse(email).unwrap(),
        address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
            name: "Mei",
            line1: street,
            line2: "",
            city: "Singapore",
            postcode: "018989",
            country: "Singapore",
        })
        .unwrap(),
        lines: vec![Line { variant_id: v, quantity: 1 }],
        idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
        card: card("4242424242424242", "12/30", "123"),
        fingerprints: Fingerprints::default(),
    };
    orders::checkout(db, &TestGateway, &scope, req).await.unwrap();
}

fn status<'a>(r: &'a Report, id: &str) -> &'a ControlStatus {
    r.areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|c| c.control.id == id)
        .map(|c| &c.status)
        .unwrap()
}

/// Two stores, a buyer with orders at both, another buyer and a guest at store A.
struct World {
    db: TestDb,
    clock: palisade_core::ManualClock,
    a: StaffScope,
    b: StaffScope,
    c: StaffScope,
    mei: AccountId,
    other: AccountId,
}

async fn world() -> World {
    let (db, clock) = TestDb::manual().await;
    let (a, b, c) = (store(&db, "alpha").await, store(&db, "bravo").await, store(&db, "charlie").await);
    let mei = account(&db, "mei@example.com", AccountKind::Buyer).await;
    let other = account(&db, "tan@example.com", AccountKind::Buyer).await;
    let (va, vb) = (product(&db, &a, "Oolong").await, product(&db, &b, "Sencha").await);
    order(&db, &a, Some(mei), "mei@example.com", va, "k1", "1 Mei Street A").await;
    order(&db, &b, Some(mei), "mei@example.com", vb, "k2", "1 Mei Street B").await;
    order(&db, &a, Some(other), "tan@example.com", va, "k3", "9 Tan Road").await;
    order(&db, &a, None, "guest@example.com", va, "k4", "5 Guest Lane").await;
    World { db, clock, a, b, c, mei, other }
}

#[tokio::test]
async fn a_buyer_request_reaches_every_store_they_bought_from_in_one_go() {
    let w = world().await;
    let batch = data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "all of it").await.unwrap();
    assert_eq!(batch.requests.len(), 2, "alpha and bravo, not charlie");
    assert_eq!(data_requests::queue(&w.db, &w.a, 50).await.unwrap().len(), 1);
    assert_eq!(data_requests::queue(&w.db, &w.b, 50).await.unwrap().len(), 1);
    assert!(data_requests::queue(&w.db, &w.c, 50).await.unwrap().is_empty());
    let mine = data_requests::for_buyer(&w.db, w.mei).await.unwrap();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| matches!(r.status, Status::Open { day: 0, days_left: 31 })), "{mine:?}");
    assert!(data_requests::for_buyer(&w.db, w.other).await.unwrap().is_empty());
    // Each store's chain records the request it received.
    for s in [&w.a, &w.b] {
        let events = audit::list_store(&w.db, s, 10).await.unwrap();
        assert!(events.iter().any(|e| e.action == "data_request.received"), "{events:?}");
    }
    // The same kind again while open: refused, nothing written.
    let again = data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "again").await;
    assert!(matches!(again, Err(CommerceError::Store(StoreError::Conflict(_)))), "{again:?}");
    assert_eq!(data_requests::for_buyer(&w.db, w.mei).await.unwrap().len(), 2);
    // A buyer with no orders reaches nobody.
    let nobody = account(&w.db, "new@example.com", AccountKind::Buyer).await;
    let r = data_requests::request_in_account(&w.db, nobody, RequestKind::Access, "").await;
    assert!(matches!(r, Err(CommerceError::Invalid(_))), "{r:?}");
}

#[tokio::test]
async fn two_requests_sent_at_once_make_one() {
    let w = world().await;
    let send = || data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "");
    let (x, y) = tokio::join!(send(), send());
    assert_eq!(u8::from(x.is_ok()) + u8::from(y.is_ok()), 1, "{x:?} {y:?}");
    assert_eq!(data_requests::for_buyer(&w.db, w.mei).await.unwrap().len(), 2, "one per store, once");
}

#[tokio::test]
async fn details_are_bounded_and_nothing_is_written_when_too_long() {
    let w = world().await;
    let long = "x".repeat(MAX_DETAILS_CHARS + 1);
    let r = data_requests::request_in_account(&w.db, w.mei, RequestKind::Correction, &long).await;
    assert!(matches!(r, Err(CommerceError::TooLong { field: "details", .. })), "{r:?}");
    let email = Email::parse("walkin@example.com").unwrap();
    let r = data_requests::log_email_request(&w.db, &w.a, &email, RequestKind::Access, &long).await;
    assert!(matches!(r, Err(CommerceError::TooLong { .. })), "{r:?}");
    assert!(data_requests::queue(&w.db, &w.a, 50).await.unwrap().is_empty());
    let ok = "é".repeat(MAX_DETAILS_CHARS);
    data_requests::log_email_request(&w.db, &w.a, &email, RequestKind::Access, &ok).await.unwrap();
}

#[tokio::test]
async fn the_export_holds_this_buyers_data_in_this_store_and_nothing_else() {
    let w = world().await;
    data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "").await.unwrap();
    let id = data_requests::queue(&w.db, &w.a, 50).await.unwrap()[0].id;
    let answered = data_requests::answer_with_export(&w.db, &w.a, id).await.unwrap();
    assert!(matches!(answered.status, Status::Answered { late: false }));
    assert!(answered.has_export);
    let export = data_requests::buyer_export(&w.db, w.mei, id).await.unwrap();
    let text = export.to_string();
    assert!(text.contains("1 Mei Street A"), "{text}");
    assert!(text.contains("SKU-Oolong"), "{text}");
    assert!(!text.contains("Mei Street B") && !text.contains("Sencha"), "another store's data: {text}");
    assert!(!text.contains("Tan Road") && !text.contains("tan@example.com"), "another buyer's data: {text}");
    assert!(!text.contains("Guest Lane"), "a guest's data: {text}");
    assert!(!text.contains("risk"), "the fraud score is not exported: {text}");
    assert_eq!(export["orders"].as_array().unwrap().len(), 1);
    let csv = data_export::csv(&export);
    assert!(csv.starts_with("section,reference,field,value\r\n"));
    assert!(csv.contains("1 Mei Street A") && !csv.contains("Mei Street B"), "{csv}");
    // The answer is audited; answering twice is refused.
    let events = audit::list_store(&w.db, &w.a, 10).await.unwrap();
    assert!(events.iter().any(|e| e.action == "data_request.answered"));
    let twice = data_requests::answer_with_export(&w.db, &w.a, id).await;
    assert!(matches!(twice, Err(CommerceError::InvalidTransition(_))), "{twice:?}");
    // Store B's request is still open, and has no export.
    let b = data_requests::queue(&w.db, &w.b, 50).await.unwrap();
    assert!(b[0].is_open() && !b[0].has_export);
    assert!(data_requests::buyer_export(&w.db, w.mei, b[0].id).await.is_err());
}

#[tokio::test]
async fn an_email_request_exports_the_orders_placed_with_that_email() {
    let w = world().await;
    let email = Email::parse("GUEST@example.com").unwrap();
    let r = data_requests::log_email_request(&w.db, &w.a, &email, RequestKind::Access, "by mail").await.unwrap();
    assert_eq!(r.channel, Channel::Email);
    data_requests::answer_with_export(&w.db, &w.a, r.id).await.unwrap();
    let export = data_requests::stored_export(&w.db, &w.a, r.id).await.unwrap().to_string();
    assert!(export.contains("5 Guest Lane"), "{export}");
    assert!(!export.contains("Mei Street") && !export.contains("Tan Road"), "{export}");
}

#[tokio::test]
async fn another_store_cannot_see_or_answer_a_request_and_another_buyer_cannot_read_it() {
    let w = world().await;
    data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "").await.unwrap();
    let id = data_requests::queue(&w.db, &w.a, 50).await.unwrap()[0].id;
    let not_found = |r: Result<_, CommerceError>| matches!(r, Err(CommerceError::Store(StoreError::NotFound(_))));
    assert!(not_found(data_requests::get(&w.db, &w.c, id).await.map(|_| ())));
    assert!(not_found(data_requests::answer_with_export(&w.db, &w.c, id).await.map(|_| ())));
    assert!(not_found(data_requests::refuse(&w.db, &w.c, id, "no").await.map(|_| ())));
    assert!(not_found(data_requests::get(&w.db, &w.b, id).await.map(|_| ())), "store B has its own row, not A's");
    assert!(data_requests::get(&w.db, &w.a, id).await.unwrap().is_open(), "untouched");
    data_requests::answer_with_export(&w.db, &w.a, id).await.unwrap();
    assert!(not_found(data_requests::buyer_export(&w.db, w.other, id).await.map(|_| ())));
    assert!(not_found(data_requests::stored_export(&w.db, &w.c, id).await.map(|_| ())));
}

#[tokio::test]
async fn corrections_and_refusals_close_the_request_with_their_note() {
    let w = world().await;
    data_requests::request_in_account(&w.db, w.mei, RequestKind::Correction, "my street is 2").await.unwrap();
    let a = data_requests::queue(&w.db, &w.a, 50).await.unwrap()[0].id;
    let b = data_requests::queue(&w.db, &w.b, 50).await.unwrap()[0].id;
    let r = data_requests::answer_with_export(&w.db, &w.a, a).await;
    assert!(matches!(r, Err(CommerceError::InvalidTransition(_))), "a correction is not answered with an export");
    assert!(matches!(data_requests::mark_corrected(&w.db, &w.a, a, " ").await, Err(CommerceError::Invalid(_))));
    let done = data_requests::mark_corrected(&w.db, &w.a, a, "address corrected").await.unwrap();
    assert_eq!(done.answer.as_deref(), Some("correction"));
    assert_eq!(done.answer_note.as_deref(), Some("address corrected"));
    let refused = data_requests::refuse(&w.db, &w.b, b, "the order is under police investigation").await.unwrap();
    let Status::Refused { keep_until, may_delete } = refused.status else { panic!("{:?}", refused.status) };
    assert!(!may_delete);
    assert_eq!(keep_until.date, jiff::civil::date(2026, 1, 31), "30 days from 1 January (Singapore)");
    let events = audit::list_store(&w.db, &w.b, 10).await.unwrap();
    assert!(events.iter().any(|e| e.action == "data_request.refused"));
}

#[tokio::test]
async fn a_request_made_on_day_0_is_overdue_on_day_31_and_the_matrix_says_so() {
    let w = world().await;
    let mut reg = Registry::default();
    palisade_commerce::controls::register(&mut reg).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: std::env::temp_dir(), master_key_path: std::env::temp_dir().join("k") });

    data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "").await.unwrap();
    let r = reg.evaluate_store(&w.db, &facts, &w.a).await.unwrap();
    assert!(status(&r, "store.data-requests-answered").is_met(), "{:?}", status(&r, "store.data-requests-answered"));
    assert!(status(&r, "platform.data-requests-routed").is_met());

    w.clock.advance(30 * DAY);
    let id = data_requests::queue(&w.db, &w.a, 50).await.unwrap()[0].id;
    let day30 = data_requests::get(&w.db, &w.a, id).await.unwrap();
    assert!(matches!(day30.status, Status::Open { day: 30, days_left: 1 }), "{:?}", day30.status);
    assert!(status(&reg.evaluate_store(&w.db, &facts, &w.a).await.unwrap(), "store.data-requests-answered").is_met());

    w.clock.advance(DAY);
    let day31 = data_requests::get(&w.db, &w.a, id).await.unwrap();
    assert!(matches!(day31.status, Status::Overdue { day: 31, days_late: 1 }), "{:?}", day31.status);
    let mine = data_requests::for_buyer(&w.db, w.mei).await.unwrap();
    assert!(mine.iter().all(|r| matches!(r.status, Status::Overdue { .. })), "the buyer sees it too");
    let r = reg.evaluate_store(&w.db, &facts, &w.a).await.unwrap();
    assert!(
        matches!(status(&r, "store.data-requests-answered"), ControlStatus::Unmet { reason, .. } if reason.contains("1 request(s) open past")),
        "{:?}",
        status(&r, "store.data-requests-answered")
    );
    assert!(matches!(status(&r, "platform.data-requests-routed"), ControlStatus::Unmet { .. }));
    // Store C received nothing: its column stays met.
    let r = reg.evaluate_store(&w.db, &facts, &w.c).await.unwrap();
    assert!(status(&r, "store.data-requests-answered").is_met());

    // Answering late closes it: met again, counted as late.
    data_requests::answer_with_export(&w.db, &w.a, id).await.unwrap();
    let b = data_requests::queue(&w.db, &w.b, 50).await.unwrap()[0].id;
    data_requests::refuse(&w.db, &w.b, b, "duplicate of an earlier request").await.unwrap();
    let r = reg.evaluate_store(&w.db, &facts, &w.a).await.unwrap();
    assert!(
        matches!(status(&r, "store.data-requests-answered"), ControlStatus::Met { detail, .. } if detail.contains("1 answered (1 late)")),
        "{:?}",
        status(&r, "store.data-requests-answered")
    );
    assert!(status(&r, "platform.data-requests-routed").is_met());
}

async fn mails_to(db: &Db, to: &str) -> Vec<String> {
    palisade_store::outbox::to_address(db, to).await.unwrap().into_iter().map(|m| m.subject).collect()
}

#[tokio::test]
async fn reminders_go_to_owners_and_the_contact_on_days_7_21_28_once_each() {
    let w = world().await;
    let email = Email::parse("walkin@example.com").unwrap();
    data_requests::log_email_request(&w.db, &w.c, &email, RequestKind::Access, "").await.unwrap();
    let send = || data_requests::send_reminders(&w.db, "https://p.example");
    assert_eq!(send().await.unwrap(), 0, "day 0");
    w.clock.advance(7 * DAY);
    assert_eq!(send().await.unwrap(), 2, "the owner and the security contact");
    assert_eq!(send().await.unwrap(), 0, "once per stage");
    assert_eq!(mails_to(&w.db, "owner@charlie.example").await.len(), 1);
    assert_eq!(mails_to(&w.db, "dpo@charlie.example").await.len(), 1);
    assert!(mails_to(&w.db, "owner@alpha.example").await.is_empty(), "another store's owner hears nothing");
    w.clock.advance(14 * DAY);
    assert_eq!(send().await.unwrap(), 2, "day 21");
    w.clock.advance(7 * DAY);
    assert_eq!(send().await.unwrap(), 2, "day 28");
    assert_eq!(send().await.unwrap(), 0);
    w.clock.advance(3 * DAY);
    assert_eq!(send().await.unwrap(), 2, "day 31: the overdue notice");
    assert_eq!(send().await.unwrap(), 0);
    let subjects = mails_to(&w.db, "owner@charlie.example").await;
    assert_eq!(subjects.len(), 4);
    assert!(subjects.iter().any(|s| s.contains("overdue")), "{subjects:?}");
}

/// Review findings: each store is told the email the buyer gave *it*, never the account's sign-in address; and
/// a store that has not answered yet keeps only its own request open — the buyer can still ask the stores that
/// answered (and new ones).
#[tokio::test]
async fn each_store_gets_its_own_email_and_an_unanswered_store_blocks_no_other() {
    let w = world().await;
    let vc = product(&w.db, &w.c, "Pu-erh").await;
    order(&w.db, &w.c, Some(w.mei), "mei+charlie@alias.example", vc, "k9", "1 Mei Street C").await;
    let first = data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "").await.unwrap();
    assert_eq!(first.requests.len(), 3);
    let at_c = data_requests::queue(&w.db, &w.c, 50).await.unwrap();
    assert_eq!(at_c[0].buyer_email, "mei+charlie@alias.example", "charlie never learns the sign-in address");
    // Alpha answers; bravo and charlie do not. A new request reaches alpha only.
    let id = data_requests::queue(&w.db, &w.a, 50).await.unwrap()[0].id;
    data_requests::answer_with_export(&w.db, &w.a, id).await.unwrap();
    let second = data_requests::request_in_account(&w.db, w.mei, RequestKind::Access, "again").await.unwrap();
    assert_eq!(second.requests.len(), 1, "only the store without an open request");
    assert_eq!(data_requests::queue(&w.db, &w.b, 50).await.unwrap().len(), 1, "bravo keeps its one request");
}
