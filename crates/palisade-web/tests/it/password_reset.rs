//! Forgotten passwords (#18 item 9): one answer for every address, a single-use link that ends every session,
//! throttled requests, and two-step verification still asked for afterwards.

use palisade_store::outbox;
use reqwest::StatusCode;

use crate::support::{Csrf as _, PW, TestApp, VISITOR, buyer, login, staff};

const NEW_PW: &str = "juniper lantern orbit";

async fn ask(app: &TestApp, email: &str) -> reqwest::Response {
    app.client.post(app.url("/login/forgot")).csrf(app, VISITOR).form(&[("email", email)]).send().await.unwrap()
}

/// The reset link mailed to `email` last, as a path.
async fn link_in_mail(app: &TestApp, email: &str) -> String {
    let mails = outbox::to_address(&app.db, email).await.unwrap();
    // Newest first.
    let body = &mails.iter().find(|m| m.subject == "Reset your password").expect("a reset mail").body;
    let start = body.find("/login/reset?token=").unwrap();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn choose(app: &TestApp, path: &str, password: &str, repeat: &str) -> reqwest::Response {
    let token = path.split("token=").nth(1).unwrap();
    app.client
        .post(app.url("/login/reset"))
        .csrf(app, VISITOR)
        .form(&[("token", token), ("password", password), ("password_repeat", repeat)])
        .send()
        .await
        .unwrap()
}

async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    app.client.get(app.url("/api/v1/me")).header("cookie", cookie).send().await.unwrap().status() == StatusCode::OK
}

#[tokio::test]
async fn the_answer_is_the_same_whether_or_not_the_address_has_an_account() {
    let app = TestApp::start().await;
    buyer("mei@buyer.example").create(&app).await;
    let known = ask(&app, "mei@buyer.example").await;
    let unknown = ask(&app, "nobody@buyer.example").await;
    assert_eq!((known.status(), unknown.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap(), "the same page, word for word");
    // The owner gets a link; an address without an account gets a note (so the page cannot tell them apart by
    // whether mail arrives either).
    assert!(link_in_mail(&app, "mei@buyer.example").await.starts_with("/login/reset?token="));
    let note = outbox::to_address(&app.db, "nobody@buyer.example").await.unwrap();
    assert_eq!(note.len(), 1);
    assert!(!note[0].body.contains("token="), "no link for an address without an account");
    assert_eq!(ask(&app, "not an address").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_link_sets_the_password_once_and_signs_every_device_out() {
    let app = TestApp::start().await;
    let (_, old_session) = buyer("mei@buyer.example").signed_in(&app).await;
    ask(&app, "mei@buyer.example").await;
    let first = link_in_mail(&app, "mei@buyer.example").await;
    ask(&app, "mei@buyer.example").await;
    let link = link_in_mail(&app, "mei@buyer.example").await;
    assert_ne!(first, link, "each request mails a new link");

    let form = app.get(&link).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert_eq!(form.headers()["referrer-policy"], "no-referrer", "the token does not leak to other sites");
    assert_eq!(form.headers()["cache-control"], "no-store");
    assert!(form.text().await.unwrap().contains("mei@buyer.example"));

    assert_eq!(choose(&app, &link, NEW_PW, "something else").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(choose(&app, &link, "short", "short").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(signed_in(&app, &old_session).await, "refused attempts change nothing");

    let done = choose(&app, &link, NEW_PW, NEW_PW).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()["location"], "/login?reset=1");
    assert!(!signed_in(&app, &old_session).await, "every session ended");
    assert_eq!(choose(&app, &link, NEW_PW, NEW_PW).await.status(), StatusCode::GONE, "used once only");
    assert_eq!(app.get(&first).await.status(), StatusCode::GONE, "the account's other links are void");

    let old = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "mei@buyer.example"), ("password", PW)]);
    assert_ne!(old.send().await.unwrap().headers().get("location").map(|l| l.to_str().unwrap()), Some("/account"));
    let new = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "mei@buyer.example"), ("password", NEW_PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), StatusCode::SEE_OTHER, "the new password signs in");
    assert!(new.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("palisade_session=")));
}

#[tokio::test]
async fn links_expire_and_made_up_tokens_open_nothing() {
    let app = TestApp::start().await;
    buyer("mei@buyer.example").create(&app).await;
    ask(&app, "mei@buyer.example").await;
    let link = link_in_mail(&app, "mei@buyer.example").await;
    for bad in ["/login/reset", "/login/reset?token=abc", &format!("/login/reset?token={}", "0".repeat(64))] {
        assert_eq!(app.get(bad).await.status(), StatusCode::GONE, "{bad}");
    }
    sqlx::query("UPDATE password_resets SET expires_at = 0").execute(app.db.pool()).await.unwrap();
    assert_eq!(app.get(&link).await.status(), StatusCode::GONE, "older than 30 minutes");
    assert_eq!(choose(&app, &link, NEW_PW, NEW_PW).await.status(), StatusCode::GONE);
    login(&app, "mei@buyer.example").await;
}

#[tokio::test]
async fn requests_are_throttled_per_address() {
    let app = TestApp::start().await;
    buyer("mei@buyer.example").create(&app).await;
    for _ in 0..8 {
        assert_eq!(ask(&app, "mei@buyer.example").await.status(), StatusCode::OK, "the answer never changes");
    }
    let sent = outbox::to_address(&app.db, "mei@buyer.example").await.unwrap().len();
    assert!((3..8).contains(&sent), "{sent} mails for 8 requests: a reset is no way to flood an inbox");
}

#[tokio::test]
async fn two_step_verification_is_still_asked_for_after_a_reset() {
    let app = TestApp::start().await;
    let (account, _) = staff("pat@shop.example").signed_in(&app).await;
    let identity = app.identity();
    let enrolment = identity.begin_totp(&account).await.unwrap();
    let secret = totp_rs::Secret::Encoded(enrolment.secret_base32).to_bytes().unwrap();
    let code = palisade_identity::totp::code_at(&secret, app.db.now()).unwrap();
    identity.confirm_totp(&account, &code).await.unwrap();
    ask(&app, "pat@shop.example").await;
    let link = link_in_mail(&app, "pat@shop.example").await;
    let staff_pw = "juniper lantern orbit kestrel";
    assert_eq!(choose(&app, &link, staff_pw, staff_pw).await.status(), StatusCode::SEE_OTHER);
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "pat@shop.example"), ("password", staff_pw)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/login/verify", "the second step is still asked for");
}
