//! Erasure through the real router (issue #21 item 4): a buyer erases their own account from "Your data" with
//! their password re-entered; afterwards they cannot sign in and a full-database scan finds none of their values.
//! Abuse: no CSRF token, a wrong or oversized password, another buyer's id in the form, a merchant (staff) account,
//! an open order — each refused with a status and a stable code, and nothing erased.

use palisade_commerce::fraud::Fingerprints;
use palisade_commerce::orders::{self, Checkout, Line, Status};
use palisade_commerce::payments::{TestGateway, card};
use palisade_commerce::policy::Policy;
use palisade_commerce::{erasure, residue};
use palisade_core::text::Email;
use palisade_core::{AccountId, OrderId, VariantId};
use palisade_store::scope::{StaffScope, StoreScope};
use reqwest::StatusCode;

use crate::support::{Csrf as _, PW, TestApp, buyer, listing, owner_of};

async fn order(app: &TestApp, scope: &StaffScope, buyer: AccountId, email: &str, v: VariantId, key: &str) -> OrderId {
    let req = Checkout {
        guest_proof: None,
        email: Email::parse(email).unwrap(),
        address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
            name: "Erin Quartermain",
            line1: "44 Quartermain Close",
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
    let shopper = StoreScope::shopper(scope.store_id(), Some(buyer));
    orders::checkout(&app.db, &TestGateway, &shopper, req).await.unwrap().order.id
}

async fn complete(app: &TestApp, scope: &StaffScope, id: OrderId) {
    let p = Policy::default();
    for (to, t) in [(Status::Shipped, Some("TRK-1")), (Status::Delivered, None), (Status::Completed, None)] {
        orders::transition(&app.db, scope, id, to, t, &p).await.unwrap();
    }
}

async fn erase(app: &TestApp, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/account/data/erase")).csrf(app, cookie).form(form).send().await.unwrap()
}

async fn signs_in(app: &TestApp, email: &str) -> bool {
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(app, crate::support::VISITOR)
        .form(&[("email", email), ("password", PW)])
        .send()
        .await
        .unwrap();
    res.status() == StatusCode::SEE_OTHER
}

fn code_of(html: &str) -> Option<String> {
    let at = html.find("data-code=\"")? + "data-code=\"".len();
    Some(html.get(at..)?.split('"').next()?.to_owned())
}

#[tokio::test]
async fn a_buyer_erases_their_account_and_nothing_of_them_is_left() {
    let app = TestApp::start().await;
    let (_a, a_scope, _owner) = owner_of(&app, "alpha").await;
    let (erin, cookie) = buyer("erin.q@buyer.example").named("Erin Quartermain").signed_in(&app).await;
    let (tan, _tan_cookie) = buyer("tan@buyer.example").signed_in(&app).await;
    let v = listing("oolong").sku("OOL-1").create(&app, &a_scope).await.variants[0].id;
    let o = order(&app, &a_scope, erin.id, "erin.q@buyer.example", v, "k1").await;
    complete(&app, &a_scope, o).await;
    let values = ["erin.q@buyer.example", "Erin Quartermain", "44 Quartermain Close"];
    assert!(!residue::scan(&app.db, &values).await.unwrap().is_empty());

    // Without the form's CSRF token: refused, nothing erased.
    let forged = app
        .client
        .post(app.url("/account/data/erase"))
        .header("cookie", &cookie)
        .form(&[("password", PW), ("confirm", "erase")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    // A wrong password, no confirmation, an oversized password: refused with their codes.
    let res = erase(&app, &cookie, &[("password", "not my password"), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code_of(&res.text().await.unwrap()).as_deref(), Some("wrong_password"));
    let res = erase(&app, &cookie, &[("password", PW)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code_of(&res.text().await.unwrap()).as_deref(), Some("confirm_required"));
    let long = "p".repeat(5000);
    let res = erase(&app, &cookie, &[("password", &long), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!erasure::is_erased(&app.db, erin.id).await.unwrap());

    // Another buyer's id in the form changes nothing: the signed-in account is the only one erased.
    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase"), ("account", &tan.id.to_string())]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("Your account has been erased"));
    assert!(erasure::is_erased(&app.db, erin.id).await.unwrap());
    assert!(!erasure::is_erased(&app.db, tan.id).await.unwrap());
    assert!(signs_in(&app, "tan@buyer.example").await, "the other buyer is untouched");

    // Erin is signed out, cannot sign in again, and no value of hers is left anywhere in the database.
    let page = app.client.get(app.url("/account/data")).header("cookie", &cookie).send().await.unwrap();
    assert_ne!(page.status(), StatusCode::OK);
    let found = residue::scan(&app.db, &values).await.unwrap();
    assert!(found.is_empty(), "residue: {found:?}");
    // (Scanned first: a failed sign-in with the old address writes a throttle row keyed by it, which expires.)
    assert!(!signs_in(&app, "erin.q@buyer.example").await);
    // The tombstone holds a keyed hash, not the address.
    let stones = erasure::tombstones(&app.db).await.unwrap();
    assert_eq!(stones.len(), 1);
    assert!(!stones[0].email_key.contains("erin") && stones[0].email_key.len() >= 32);
}

#[tokio::test]
async fn an_open_order_refuses_erasure_and_a_merchant_cannot_erase_anyone() {
    let app = TestApp::start().await;
    let (a, a_scope, owner) = owner_of(&app, "alpha").await;
    let (erin, cookie) = buyer("erin.q@buyer.example").signed_in(&app).await;
    let v = listing("oolong").sku("OOL-1").create(&app, &a_scope).await.variants[0].id;
    order(&app, &a_scope, erin.id, "erin.q@buyer.example", v, "k1").await;

    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert_eq!(code_of(&html).as_deref(), Some("erasure_refused"));
    assert!(html.contains("still open"), "{html}");
    assert!(!erasure::is_erased(&app.db, erin.id).await.unwrap());
    assert!(signs_in(&app, "erin.q@buyer.example").await);

    // The store's owner, on the same form with their own password: a staff account is not erased here.
    let res = erase(&app, &owner, &[("password", PW), ("confirm", "erase"), ("account", &erin.id.to_string())]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(erasure::tombstones(&app.db).await.unwrap().is_empty());
    // And no store-admin route erases a buyer.
    for path in [
        format!("/admin/stores/{}/data-requests/erase", a.id),
        format!("/admin/stores/{}/customers/{}/erase", a.id, erin.id),
        format!("/api/v1/admin/stores/{}/customers/{}/erase", a.id, erin.id),
    ] {
        let res =
            app.client.post(app.url(&path)).csrf(&app, &owner).form(&[("confirm", "erase")]).send().await.unwrap();
        assert!(
            matches!(res.status(), StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED),
            "{path}: {}",
            res.status()
        );
    }
    assert!(!erasure::is_erased(&app.db, erin.id).await.unwrap());
}

#[tokio::test]
async fn the_operator_sees_retention_runs_and_nobody_else_does() {
    use palisade_commerce::retention::{self, Mode, Schedule};
    let app = TestApp::start().await;
    let key = |e: &str| e.len().to_string();
    retention::run(&app.db, &Schedule::default(), Mode::DryRun, "u", &key).await.unwrap();
    let console = app.console_cookie().await;
    let res = app.client.get(app.url("/console/retention")).header("cookie", &console).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("abandoned_carts") && html.contains("dry run") && html.contains("href=\"/console\""),
        "{html}"
    );
    // A merchant or a buyer is not an operator.
    let (_a, _scope, owner) = owner_of(&app, "alpha").await;
    let (_b, buyer_cookie) = buyer("erin.q@buyer.example").signed_in(&app).await;
    for cookie in [owner, buyer_cookie, String::new()] {
        let res = app.client.get(app.url("/console/retention")).header("cookie", &cookie).send().await.unwrap();
        assert_ne!(res.status(), StatusCode::OK);
        assert!(!res.text().await.unwrap().contains("abandoned_carts"));
    }
}

/// Review finding: while a scam report the buyer filed is open, the erasure form refuses (409 `erasure_refused`,
/// saying why) and the report's evidence — the thread with the seller — stays; once the operator decides the
/// report in the console, the same form erases the buyer.
#[tokio::test]
async fn an_open_scam_report_refuses_erasure_through_the_form_until_the_operator_decides() {
    let app = TestApp::start().await;
    let (a, a_scope, _owner) = owner_of(&app, "alpha").await;
    let (erin, cookie) = buyer("erin.q@buyer.example").signed_in(&app).await;
    let thread = palisade_commerce::messages::open(&app.db, erin.id, a.id, Default::default()).await.unwrap();
    palisade_commerce::messages::buyer_send(&app.db, erin.id, thread, "Is it genuine?").await.unwrap();
    let reply =
        palisade_commerce::messages::store_send(&app.db, &a_scope, thread, "Pay me by PayNow instead").await.unwrap();
    let res = app
        .client
        .post(app.url("/account/reports"))
        .csrf(&app, &cookie)
        .form(&[("message", reply.id.to_string().as_str()), ("category", "off_platform_payment")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let messages = |app: &TestApp| {
        let db = app.db.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages WHERE thread_id = $1")
                .bind(thread.to_string())
                .fetch_one(db.pool())
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(messages(&app).await, 2);

    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let html = res.text().await.unwrap();
    assert_eq!(code_of(&html).as_deref(), Some("erasure_refused"));
    assert!(html.contains("scam report") && html.contains("still open"), "{html}");
    assert!(!erasure::is_erased(&app.db, erin.id).await.unwrap());
    assert_eq!(messages(&app).await, 2, "the evidence stays");

    let (report,): (String,) = sqlx::query_as("SELECT id FROM scam_reports").fetch_one(app.db.pool()).await.unwrap();
    let console = app.console_cookie().await;
    let res = app
        .client
        .post(app.url(&format!("/console/reports/{report}/decide")))
        .csrf(&app, &console)
        .form(&[("action", "dismiss")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(erasure::is_erased(&app.db, erin.id).await.unwrap());
    assert_eq!(messages(&app).await, 0);
}

/// Second review: sign-in emails are never confirmed, so the form's erasure leaves guest orders placed with the
/// same address as they were (whoever registered the address need not be who ordered), and a lookalike's too.
#[tokio::test]
async fn the_form_leaves_guest_orders_with_the_sign_in_email_alone() {
    let app = TestApp::start().await;
    let (_a, a_scope, _owner) = owner_of(&app, "alpha").await;
    let v = listing("oolong").sku("OOL-1").create(&app, &a_scope).await.variants[0].id;
    let guest = |email: &'static str, key: &'static str| {
        let (app, scope) = (&app, &a_scope);
        async move {
            let req = Checkout {
                guest_proof: Some(format!("proof-{key}")),
                email: Email::parse(email).unwrap(),
                address: palisade_commerce::address::ShippingAddress::parse(
                    palisade_commerce::address::AddressFields {
                        name: "Erin Quartermain",
                        line1: "44 Quartermain Close",
                        line2: "",
                        city: "Singapore",
                        postcode: "018989",
                        country: "Singapore",
                    },
                )
                .unwrap(),
                lines: vec![Line { variant_id: v, quantity: 1 }],
                idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
                card: card("4242424242424242", "12/30", "123"),
                fingerprints: Fingerprints::default(),
            };
            let shopper = StoreScope::shopper(scope.store_id(), None);
            let id = orders::checkout(&app.db, &TestGateway, &shopper, req).await.unwrap().order.id;
            complete(app, scope, id).await;
            id
        }
    };
    let mine = guest("erin.q@buyer.example", "g1").await;
    let other = guest("xerin.q@buyer.example", "g2").await;
    let (erin, cookie) = buyer("erin.q@buyer.example").signed_in(&app).await;
    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let email_of = |id: OrderId| {
        let db = app.db.clone();
        async move {
            let (e,): (String,) = sqlx::query_as("SELECT buyer_email FROM orders WHERE id = $1")
                .bind(id.to_string())
                .fetch_one(db.pool())
                .await
                .unwrap();
            e
        }
    };
    assert_ne!(email_of(mine).await, erasure::marker_email(erin.id));
    assert_eq!(email_of(mine).await, "erin.q@buyer.example");
    assert_eq!(email_of(other).await, "xerin.q@buyer.example");
}

/// Review finding: a restore into a new directory brought erased people back. With backup repositories
/// configured (as `palisade serve` does), the erasure form writes the tombstone into each one at once — sealed,
/// named by a keyed hash — so a restore can re-apply it even after the live database is lost.
#[tokio::test]
async fn the_form_writes_the_tombstone_into_the_backup_repository() {
    use palisade_backup::keys::{ChunkKey, Identity, Recipients, ensure_key_pair};
    use palisade_backup::tombstones::{self, Journal};
    use palisade_backup::{Repository, Target};
    let dir = tempfile::tempdir().unwrap();
    let keys = ensure_key_pair(&dir.path().join("keys")).unwrap();
    let recipients = std::sync::Arc::new(Recipients::load(&keys.recipients).unwrap());
    let target = Target::Dir(dir.path().join("repo"));
    let master = [7u8; 32];
    let journal = Journal::new(vec![target.clone()], recipients, ChunkKey::derive(&master));
    let journal = std::sync::Arc::new(journal);
    let app = TestApp::start_adjusted(
        palisade_web::WebConfig::default(),
        move |s| s.with_tombstone_journal(journal),
        |r, _| r,
    )
    .await;
    let (erin, cookie) = buyer("erin.q@buyer.example").signed_in(&app).await;
    let res = erase(&app, &cookie, &[("password", PW), ("confirm", "erase")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let repo = Repository::open(&target).await.unwrap();
    let identity = Identity::load(&keys.identity).unwrap();
    let stored = tombstones::read(&repo, &identity, &ChunkKey::derive(&master)).await.unwrap();
    assert_eq!(stored, erasure::tombstones(&app.db).await.unwrap());
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].account_id, erin.id.to_string());
    assert!(!stored[0].email_key.contains("erin"));
}
