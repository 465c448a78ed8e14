//! "Sell on Palisade" (#18 item 10): an application whose address is confirmed by a mailed link, reviewed by an
//! operator (or opened at once when the platform allows it), and the abuse a would-be merchant could try.

use palisade_store::outbox;
use reqwest::StatusCode;

use crate::support::{Csrf as _, PW, TestApp, VISITOR, buyer, login, owner_of};

fn form<'a>(email: &'a str, slug: &'a str, store: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", "Siew Ling"),
        ("email", email),
        ("store_name", store),
        ("slug", slug),
        ("currency", "SGD"),
        ("terms", "yes"),
    ]
}

async fn apply(app: &TestApp, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url("/sell")).csrf(app, VISITOR).form(fields).send().await.unwrap()
}

/// The confirmation link mailed to `email`, as a path.
async fn confirmation(app: &TestApp, email: &str) -> Option<String> {
    let mails = outbox::to_address(&app.db, email).await.unwrap();
    let body = &mails.iter().find(|m| m.subject == "Confirm your application to sell")?.body;
    let start = body.find("/sell/confirm?token=")?;
    Some(body[start..].split_whitespace().next()?.to_owned())
}

/// Opens the link as its owner would: the page (which changes nothing), then its button with `password`.
async fn confirm(app: &TestApp, link: &str, password: &str) -> reqwest::Response {
    let page = app.get(link).await;
    assert_eq!(page.status(), StatusCode::OK, "the link's page");
    assert!(page.text().await.unwrap().contains("Confirm my application"));
    let token = link.split("token=").nth(1).unwrap();
    app.client
        .post(app.url("/sell/confirm"))
        .csrf(app, VISITOR)
        .form(&[("token", token), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn decide(app: &TestApp, cookie: &str, id: &str, decision: &str, note: &str) -> reqwest::Response {
    app.client
        .post(app.url("/console/applications/decide"))
        .csrf(app, cookie)
        .form(&[("id", id), ("decision", decision), ("note", note)])
        .send()
        .await
        .unwrap()
}

async fn pending_id(app: &TestApp) -> String {
    let (id,): (String,) = sqlx::query_as("SELECT id FROM merchant_applications WHERE status = 'pending'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    id
}

#[tokio::test]
async fn an_application_is_confirmed_reviewed_and_opens_a_store_its_owner_signs_in_to() {
    let app = TestApp::start().await;
    let page = app.get("/sell").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("seller terms"));
    let sent = apply(&app, &form("siew@shop.example", "kopi-corner", "Kopi <b>Corner</b>")).await;
    assert_eq!(sent.status(), StatusCode::OK);
    assert!(sent.text().await.unwrap().contains("We have sent a link"));
    let console = app.console_cookie().await;
    let queue = app.client.get(app.url("/console/applications")).header("cookie", &console).send().await.unwrap();
    assert!(!queue.text().await.unwrap().contains("kopi-corner"), "nothing to review before the address is confirmed");

    let link = confirmation(&app, "siew@shop.example").await.expect("a confirmation link");
    let mail = outbox::to_address(&app.db, "siew@shop.example").await.unwrap();
    assert!(!mail[0].body.contains("Kopi"), "the applicant's words stay out of the platform's mail");
    // A mail scanner fetching the link confirms nothing.
    for _ in 0..2 {
        assert_eq!(app.get(&link).await.status(), StatusCode::OK);
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM merchant_applications WHERE status = 'unconfirmed'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 1, "still unconfirmed after the link was only opened");
    assert_eq!(confirm(&app, &link, "short").await.status(), StatusCode::UNPROCESSABLE_ENTITY, "staff password policy");
    let confirmed = confirm(&app, &link, PW).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    assert!(confirmed.text().await.unwrap().contains("with the marketplace's team"));
    assert_eq!(app.get(&link).await.status(), StatusCode::GONE, "a link confirms once");

    let queue = app.client.get(app.url("/console/applications")).header("cookie", &console).send().await.unwrap();
    let html = queue.text().await.unwrap();
    assert!(html.contains("kopi-corner") && html.contains("Kopi &lt;b&gt;Corner"), "escaped: {html}");
    assert_eq!(app.get("/s/kopi-corner").await.status(), StatusCode::NOT_FOUND, "no store before approval");
    let id = pending_id(&app).await;
    assert_eq!(decide(&app, &console, &id, "approve", "").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(decide(&app, &console, &id, "approve", "").await.status(), StatusCode::NOT_FOUND, "decided once");
    assert_eq!(app.get("/s/kopi-corner").await.status(), StatusCode::OK, "the store is open");
    let cookie = login(&app, "siew@shop.example").await;
    assert!(cookie.starts_with("palisade_session="), "the owner signs in with the password chosen at application");
    let open = outbox::to_address(&app.db, "siew@shop.example").await.unwrap();
    assert!(open.iter().any(|m| m.subject == "Your store is open"));
}

#[tokio::test]
async fn a_would_be_merchant_cannot_take_an_address_a_store_or_a_buyers_account() {
    let app = TestApp::start().await;
    owner_of(&app, "taken").await;
    let taken = apply(&app, &form("new@shop.example", "taken", "Mine")).await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY, "a store's address is not up for grabs");
    let mut no_terms = form("new@shop.example", "fresh", "Mine");
    no_terms.retain(|(k, _)| *k != "terms");
    assert_eq!(apply(&app, &no_terms).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    for (field, bad) in [("slug", "not a slug"), ("slug", "Caps"), ("currency", "XXX"), ("email", "nope")] {
        let mut f = form("new@shop.example", "fresh", "Mine");
        f.retain(|(k, _)| *k != field);
        f.push((field, bad));
        assert_eq!(apply(&app, &f).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{field}={bad}");
    }
    // Someone else's address: the page is the same, the buyer gets a note, no application exists.
    buyer("mei@buyer.example").create(&app).await;
    let res = apply(&app, &form("mei@buyer.example", "mei-shop", "Mei")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(confirmation(&app, "mei@buyer.example").await.is_none(), "no link for a buyer's address");
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM merchant_applications").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(n, 0);
    // Made-up and malformed links do nothing.
    for path in ["/sell/confirm?token=00", "/sell/confirm", &format!("/sell/confirm?token={}", "a".repeat(64))] {
        assert_eq!(app.get(path).await.status(), StatusCode::GONE, "{path}");
    }
    let forged = app
        .client
        .post(app.url("/sell/confirm"))
        .csrf(&app, VISITOR)
        .form(&[("token", "a".repeat(64).as_str()), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::GONE);
    // Only an operator decides.
    apply(&app, &form("siew@shop.example", "kopi", "Kopi")).await;
    confirm(&app, &confirmation(&app, "siew@shop.example").await.unwrap(), PW).await;
    let id = pending_id(&app).await;
    let (_, _, merchant) = owner_of(&app, "other").await;
    let refused = decide(&app, &merchant, &id, "approve", "").await;
    let to = refused.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    assert_ne!(to.as_deref(), Some("/console/applications"), "a merchant is sent to sign in, not served");
    assert_eq!(app.get("/s/kopi").await.status(), StatusCode::NOT_FOUND);
    let console = app.console_cookie().await;
    assert_eq!(decide(&app, &console, &id, "decline", "").await.status(), StatusCode::FORBIDDEN, "a reason is needed");
    assert_eq!(decide(&app, &console, &id, "decline", "We only take tea shops.").await.status(), StatusCode::SEE_OTHER);
    let mails = outbox::to_address(&app.db, "siew@shop.example").await.unwrap();
    assert!(mails.iter().any(|m| m.body.contains("We only take tea shops.")));
}

#[tokio::test]
async fn the_operator_chooses_whether_stores_open_at_once_or_not_at_all() {
    let app = TestApp::start().await;
    let console = app.console_cookie().await;
    let set = |mode: &'static str| {
        let (app, console) = (&app, console.clone());
        async move {
            let res = app
                .client
                .post(app.url("/console/applications/mode"))
                .csrf(app, &console)
                .form(&[("mode", mode)])
                .send()
                .await
                .unwrap();
            res.status()
        }
    };
    assert_eq!(set("whatever").await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(set("open").await, StatusCode::SEE_OTHER);
    apply(&app, &form("siew@shop.example", "kopi", "Kopi")).await;
    let opened = confirm(&app, &confirmation(&app, "siew@shop.example").await.unwrap(), PW).await;
    assert!(opened.text().await.unwrap().contains("Your store is open"));
    assert_eq!(app.get("/s/kopi").await.status(), StatusCode::OK);
    assert_eq!(set("closed").await, StatusCode::SEE_OTHER);
    let closed = apply(&app, &form("tan@shop.example", "tan", "Tan")).await;
    assert!(closed.text().await.unwrap().contains("not taking new stores"));
    assert!(confirmation(&app, "tan@shop.example").await.is_none());
}
