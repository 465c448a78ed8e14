use palisade_store::tenancy::{self, AccountKind};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, VISITOR};
use crate::support::{PW, Person, TestApp, forget_recent_passwords};

async fn person(app: &TestApp, email: &str, kind: AccountKind) -> tenancy::Account {
    Person::new(email, kind).named("Pat Lee").create(app).await
}

/// The `palisade_session` value set by a response, if any.
fn session_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("palisade_session=") && !c.starts_with("palisade_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

async fn sign_in(app: &TestApp, email: &str) -> (reqwest::Response, Option<String>) {
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(app, VISITOR)
        .form(&[("email", email), ("password", PW)])
        .send()
        .await
        .unwrap();
    let c = session_of(&res);
    (res, c)
}

fn secret_from_page(html: &str) -> Vec<u8> {
    let key = html.split("Key: <code>").nth(1).unwrap().split("</code>").next().unwrap();
    totp_rs::Secret::Encoded(key.to_owned()).to_bytes().unwrap()
}

#[tokio::test]
async fn password_sign_in_sets_a_strict_session_cookie() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    let bad = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "pat@shop.example"), ("password", "not the password")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(session_of(&bad).is_none());
    let (res, cookie) = sign_in(&app, "pat@shop.example").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/account");
    let raw = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Path=/"), "{raw}");
    let page = app.client.get(app.url("/account")).header("cookie", cookie.unwrap()).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("pat@shop.example"));
    assert_eq!(app.get("/account").await.status(), 303, "no cookie, no account page");
}

#[tokio::test]
async fn enrolling_totp_then_signing_in_needs_the_code_and_rotates_the_session() {
    let app = TestApp::start().await;
    let a = person(&app, "pat@shop.example", AccountKind::Staff).await;
    let (_, cookie) = sign_in(&app, "pat@shop.example").await;
    let cookie = cookie.unwrap();
    let setup = app.client.post(app.url("/account/security/totp")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(setup.status(), 200);
    let html = setup.text().await.unwrap();
    assert!(html.contains("<svg"), "QR code drawn");
    let secret = secret_from_page(&html);
    let code = palisade_identity::totp::code_at(&secret, app.db.now()).unwrap();
    let done = app
        .client
        .post(app.url("/account/security/totp/confirm"))
        .csrf(&app, &cookie)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let rotated = session_of(&done).expect("session id rotated after enabling MFA");
    assert_ne!(rotated, cookie);
    assert!(done.text().await.unwrap().contains("Save your recovery codes"));
    assert!(app.identity().has_mfa(a.id).await.unwrap());
    let old = app.client.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(old.status(), 303, "the pre-rotation id no longer works");

    let (res, half) = sign_in(&app, "pat@shop.example").await;
    assert_eq!(res.headers()["location"], "/login/verify");
    let half = half.unwrap();
    let blocked = app.client.get(app.url("/account")).header("cookie", &half).send().await.unwrap();
    assert_eq!(blocked.headers()["location"], "/login/verify", "password alone does not reach the account");
    let wrong =
        app.client.post(app.url("/login/verify")).csrf(&app, &half).form(&[("code", "000000")]).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let code = next_code(&app, &secret).await;
    let ok = app
        .client
        .post(app.url("/login/verify"))
        .csrf(&app, &half)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let full = session_of(&ok).unwrap();
    assert_ne!(full, half, "session id rotated after the second factor");
    assert_eq!(app.client.get(app.url("/account")).header("cookie", &full).send().await.unwrap().status(), 200);
}

/// A code for a step the account has not used yet (the enrolment used the current one).
async fn next_code(app: &TestApp, secret: &[u8]) -> String {
    let now = app.db.now();
    palisade_identity::totp::code_at(secret, palisade_core::Timestamp(now.0 + 30_000)).unwrap()
}

#[tokio::test]
async fn operators_without_mfa_are_sent_to_enrol_before_the_console() {
    let app = TestApp::start().await;
    person(&app, "root@platform.example", AccountKind::Operator).await;
    let (res, cookie) = sign_in(&app, "root@platform.example").await;
    assert_eq!(res.headers()["location"], "/console");
    let console = app.client.get(app.url("/console")).header("cookie", cookie.unwrap()).send().await.unwrap();
    assert_eq!(console.status(), 303);
    assert_eq!(console.headers()["location"], "/account/security");
}

#[tokio::test]
async fn turning_mfa_off_needs_a_fresh_password() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    let (_, cookie) = sign_in(&app, "pat@shop.example").await;
    let cookie = cookie.unwrap();
    // Fresh right after sign-in: allowed.
    let res = app.client.post(app.url("/account/security/totp/disable")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // Make the sign-in old.
    forget_recent_passwords(&app).await;
    let res = app.client.post(app.url("/account/security/totp/disable")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/account/reauth"));
    let re = app
        .client
        .post(app.url("/account/reauth"))
        .csrf(&app, &cookie)
        .form(&[("password", PW), ("next", "/account")])
        .send()
        .await
        .unwrap();
    assert_eq!(re.status(), 303);
    let res = app.client.post(app.url("/account/security/totp/disable")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn redirects_after_sign_in_stay_on_this_site() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    for (next, expect) in
        [("//evil.example/x", "/account"), ("https://evil.example", "/account"), ("/account", "/account")]
    {
        let res = app
            .client
            .post(app.url("/login"))
            .csrf(&app, VISITOR)
            .form(&[("email", "pat@shop.example"), ("password", PW), ("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], expect, "{next}");
    }
}

#[tokio::test]
async fn the_json_api_signs_in_throttles_and_reports_the_account() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Buyer).await;
    let ok = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let cookie = session_of(&ok).unwrap();
    let me: Value =
        app.client.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["account"]["email"], "pat@shop.example");
    assert_eq!(me["mfa"], false);
    let anon = app.get("/api/v1/me").await;
    assert_eq!(anon.status(), 401);
    assert_eq!(anon.json::<Value>().await.unwrap()["error"]["code"], "unauthenticated");

    let mut last = StatusCode::OK;
    let mut retry_after = None;
    for _ in 0..6 {
        let r = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "pat@shop.example", "password": "wrong password!"}))
            .send()
            .await
            .unwrap();
        last = r.status();
        retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
        if last == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "too_many_attempts");
            break;
        }
        assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_credentials");
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    let out = app
        .client
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .header("x-csrf-token", app.csrf(&cookie))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(app.client.get(app.url("/api/v1/me")).header("cookie", &cookie).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn signing_out_everywhere_else_ends_other_sessions_only() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    let (_, a) = sign_in(&app, "pat@shop.example").await;
    let (_, b) = sign_in(&app, "pat@shop.example").await;
    let (a, b) = (a.unwrap(), b.unwrap());
    let res = app.client.post(app.url("/account/sessions/revoke-others")).csrf(&app, &a).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(app.client.get(app.url("/account")).header("cookie", &a).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(app.url("/account")).header("cookie", &b).send().await.unwrap().status(), 303);
}

#[tokio::test]
async fn a_passkey_registered_over_http_becomes_the_second_step() {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    let (_, cookie) = sign_in(&app, "pat@shop.example").await;
    let cookie = cookie.unwrap();
    let origin = url::Url::parse(crate::support::PASSKEY_ORIGIN).unwrap();
    let mut authenticator = SoftPasskey::new(true);

    let start: Value = app
        .client
        .post(app.url("/api/v1/auth/passkeys/register/start"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let options = serde_json::from_value(start["options"].clone()).unwrap();
    let credential = authenticator.do_registration(origin.clone(), options).unwrap();
    let done = app
        .client
        .post(app.url("/api/v1/auth/passkeys/register/finish"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"challenge": start["challenge"], "name": "Test key", "credential": credential}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let cookie = session_of(&done).expect("rotated");
    let page =
        app.client.get(app.url("/account")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Test key"));

    let (res, half) = sign_in(&app, "pat@shop.example").await;
    assert_eq!(res.headers()["location"], "/login/verify");
    let half = half.unwrap();
    let verify =
        app.client.get(app.url("/login/verify")).header("cookie", &half).send().await.unwrap().text().await.unwrap();
    assert_eq!(verify.matches("data-passkey-signin").count(), 1, "one passkey button");
    assert_eq!(verify.matches("passkeys.js").count(), 1);
    let title = verify.split("<title>").nth(1).and_then(|t| t.split("</title>").next()).unwrap();
    assert_eq!(title, "Two-step verification · Palisade", "no markup in the tab title");
    assert!(!verify.contains("class=\"narrow\"<p>"), "no markup spilled into attributes");
    let start: Value = app
        .client
        .post(app.url("/api/v1/auth/passkeys/login/start"))
        .header("cookie", &half)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let options = serde_json::from_value(start["options"].clone()).unwrap();
    let assertion = authenticator.do_authentication(origin, options).unwrap();
    let ok = app
        .client
        .post(app.url("/api/v1/auth/passkeys/login/finish"))
        .header("cookie", &half)
        .json(&serde_json::json!({"challenge": start["challenge"], "credential": assertion}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let full = session_of(&ok).unwrap();
    assert_ne!(full, half);
    assert_eq!(app.client.get(app.url("/account")).header("cookie", &full).send().await.unwrap().status(), 200);
    assert_eq!(
        app.client.get(app.url("/account")).header("cookie", &half).send().await.unwrap().status(),
        303,
        "the pre-MFA id is dead"
    );
}

#[tokio::test]
async fn buyers_can_register_with_the_buyer_policy() {
    let app = TestApp::start().await;
    let weak = app
        .client
        .post(app.url("/register"))
        .csrf(&app, VISITOR)
        .form(&[("name", "Bea"), ("email", "bea@example.com"), ("password", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let ok = app
        .client
        .post(app.url("/register"))
        .csrf(&app, VISITOR)
        .form(&[("name", "Bea"), ("email", "bea@example.com"), ("password", "tulip kettle")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    assert_eq!(ok.headers()["location"], "/login?registered=1");
    assert!(session_of(&ok).is_none(), "signing up does not sign in (an existing address could not)");
    let (_, cookie) = sign_in_with(&app, "bea@example.com", "tulip kettle").await;
    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .header("cookie", cookie.unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["kind"], "buyer");
    // The same address again: the same answer, nothing changed, and its owner is told by mail.
    let dup = app
        .client
        .post(app.url("/register"))
        .csrf(&app, VISITOR)
        .form(&[("name", "Mallory"), ("email", "BEA@example.com"), ("password", "other tulip kettle")])
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), ok.status());
    assert_eq!(dup.headers()["location"], ok.headers()["location"]);
    assert!(session_of(&dup).is_none());
    let mails = palisade_store::outbox::to_address(&app.db, "bea@example.com").await.unwrap();
    assert_eq!(mails.len(), 2, "a welcome, then the note about the second attempt");
    assert!(mails.iter().all(|m| m.subject == mails[0].subject), "the subjects say nothing either");
    assert!(mails.iter().any(|m| m.body.contains("already have an account")));
    let (_, still) = sign_in_with(&app, "bea@example.com", "tulip kettle").await;
    assert!(still.is_some(), "the first password still works");
    let notice = app.get("/login?registered=1").await.text().await.unwrap();
    assert!(notice.contains("We have sent you an email"));
}

async fn sign_in_with(app: &TestApp, email: &str, password: &str) -> (reqwest::Response, Option<String>) {
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(app, VISITOR)
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .unwrap();
    let c = session_of(&res);
    (res, c)
}

#[tokio::test]
async fn the_strength_endpoint_mirrors_the_policy() {
    let app = TestApp::start().await;
    let check = |pw: &'static str, staff: bool| {
        app.client
            .post(app.url("/api/v1/auth/password-strength"))
            .json(&serde_json::json!({"password": pw, "staff": staff}))
            .send()
    };
    let common: Value = check("password1234", true).await.unwrap().json().await.unwrap();
    assert_eq!(common["acceptable"], false);
    let short: Value = check("tulip kettl", true).await.unwrap().json().await.unwrap();
    assert_eq!(short["acceptable"], false, "12 characters for staff");
    let ok: Value = check("tulip kettle", false).await.unwrap().json().await.unwrap();
    assert_eq!(ok["acceptable"], true);
    assert!(ok["score"].as_u64().is_some());
}

/// An attacker hammering an account locks out strangers, not the owner's own recognised browser.
#[tokio::test]
async fn a_recognised_device_still_signs_in_while_the_account_is_under_attack() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Staff).await;
    let ok = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}))
        .send()
        .await
        .unwrap();
    let device = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("palisade_device="))
        .expect("device cookie issued")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for _ in 0..12 {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "pat@shop.example", "password": "attacker guess!"}))
            .send()
            .await
            .unwrap();
        sqlx::query("UPDATE login_throttle SET blocked_until = 0 WHERE key LIKE 'ip:%'")
            .execute(app.db.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE login_throttle SET blocked_until = 0 WHERE key LIKE 'account:%' AND failures < 10")
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    let stranger = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), 429, "the account is locked for browsers it does not know");
    let owner = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", &device)
        .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200, "the owner's recognised browser gets in");
    let forged = device.replace("palisade_device=", "palisade_device=x");
    let fake = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("cookie", &forged)
        .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(fake.status(), 429, "a forged device cookie counts for nothing");
}

#[tokio::test]
async fn totp_can_be_enrolled_and_used_through_the_json_api() {
    let app = TestApp::start().await;
    person(&app, "pat@shop.example", AccountKind::Buyer).await;
    let login = |cookie: Option<String>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"email": "pat@shop.example", "password": PW}));
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let first = login(None).await.unwrap();
    let cookie = session_of(&first).unwrap();
    let start: Value = app
        .client
        .post(app.url("/api/v1/auth/totp/start"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp_rs::Secret::Encoded(start["secret"].as_str().unwrap().to_owned()).to_bytes().unwrap();
    let code = palisade_identity::totp::code_at(&secret, app.db.now()).unwrap();
    let done = app
        .client
        .post(app.url("/api/v1/auth/totp/confirm"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let body: Value = done.json().await.unwrap();
    assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);

    let again = login(None).await.unwrap();
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "second_factor_required");
}

#[tokio::test]
async fn an_idle_staff_session_ends_even_though_the_rate_limiter_reads_it_first() {
    let app = TestApp::start().await;
    person(&app, "staff@shop.example", AccountKind::Staff).await;
    person(&app, "buyer@shop.example", AccountKind::Buyer).await;
    let (_, staff) = sign_in(&app, "staff@shop.example").await;
    let (_, buyer) = sign_in(&app, "buyer@shop.example").await;
    // Both last seen 31 minutes ago: past a staff session's 30 idle minutes, well within a buyer's 7 days.
    let ago = app.db.now().0 - 31 * 60_000;
    sqlx::query("UPDATE sessions SET last_seen_at = $1").bind(ago).execute(app.db.pool()).await.unwrap();
    let account = |cookie: String| {
        let app = &app;
        async move { app.client.get(app.url("/account")).header("cookie", cookie).send().await.unwrap() }
    };
    for _ in 0..2 {
        let res = account(staff.clone().unwrap()).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "the staff session stays ended");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/login"));
    }
    assert_eq!(account(buyer.unwrap()).await.status(), StatusCode::OK, "the buyer's goes on");
}

/// Signing in with a passkey as the second step does what the code form does (issue #18 item 8): the browser's
/// guest cart joins the account's cart and its cookie is dropped, and the sign-in page's return path is honoured
/// when it is local (anything else goes home).
#[tokio::test]
async fn a_passkey_second_step_merges_the_guest_cart_and_returns_to_a_local_path_only() {
    use webauthn_authenticator_rs::WebauthnAuthenticator;
    use webauthn_authenticator_rs::softpasskey::SoftPasskey;
    let app = TestApp::start().await;
    let (_, tea, _) = crate::support::owner_of(&app, "tea").await;
    let oolong = crate::support::listing("oolong").stock(5).create(&app, &tea).await.variants[0].id;
    let mei = crate::support::buyer("mei@buyer.example").create(&app).await;
    let (_, cookie) = sign_in(&app, "mei@buyer.example").await;
    let cookie = cookie.unwrap();
    let origin = url::Url::parse(crate::support::PASSKEY_ORIGIN).unwrap();
    let mut authenticator = SoftPasskey::new(true);
    let post = |path: &str, cookie: &str, body: Value| {
        app.client.post(app.url(path)).header("cookie", cookie.to_owned()).json(&body).send()
    };
    let start: Value = post("/api/v1/auth/passkeys/register/start", &cookie, serde_json::json!({}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = authenticator
        .do_registration(origin.clone(), serde_json::from_value(start["options"].clone()).unwrap())
        .unwrap();
    let body = serde_json::json!({"challenge": start["challenge"], "name": "Phone", "credential": credential});
    assert_eq!(post("/api/v1/auth/passkeys/register/finish", &cookie, body).await.unwrap().status(), 200);

    for (next, lands) in [("/cart", "/cart"), ("//evil.example/x", "/"), ("/%2F%2Fevil.example", "/")] {
        // A guest on a new browser fills a cart, then signs in from the cart.
        let guest = crate::support::cart_cookie(&crate::support::add_to_cart(&app, None, oolong, "1").await).unwrap();
        let res = app
            .client
            .post(app.url("/login"))
            .csrf(&app, &guest)
            .form(&[("email", "mei@buyer.example"), ("password", PW), ("next", next)])
            .send()
            .await
            .unwrap();
        let half = session_of(&res).unwrap();
        let browser = format!("{half}; {guest}");
        let verify = res.headers()["location"].to_str().unwrap().to_owned();
        let page =
            app.client.get(app.url(&verify)).header("cookie", &browser).send().await.unwrap().text().await.unwrap();
        assert_eq!(page.contains("data-next=\"&#x2f;cart\""), next == "/cart", "{verify}: {page}");

        let start: Value = post("/api/v1/auth/passkeys/login/start", &browser, serde_json::json!({}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let assertion =
            authenticator.do_authentication(origin.clone(), serde_json::from_value(start["options"].clone()).unwrap());
        let body = serde_json::json!({"challenge": start["challenge"], "credential": assertion.unwrap(), "next": next});
        let ok = post("/api/v1/auth/passkeys/login/finish", &browser, body).await.unwrap();
        assert_eq!(ok.status(), 200);
        let cookies: Vec<String> =
            ok.headers().get_all("set-cookie").iter().map(|c| c.to_str().unwrap().to_owned()).collect();
        assert!(cookies.iter().any(|c| c.starts_with("palisade_cart=;")), "the guest cart's cookie is dropped");
        assert!(cookies.iter().any(|c| c.starts_with("palisade_device=")), "the device is remembered");
        let full = session_of(&ok).unwrap();
        let done: Value = ok.json().await.unwrap();
        assert_eq!(done["next"], lands, "{next}");
        assert!(
            palisade_commerce::cart::find(&app.db, guest.trim_start_matches("palisade_cart=")).await.unwrap().is_none(),
            "the guest cart is gone"
        );
        let cart = app.client.get(app.url("/cart")).header("cookie", &full).send().await.unwrap().text().await.unwrap();
        assert!(cart.contains("oolong") || cart.contains("Item oolong"), "{cart}");
    }
    let account_cart = palisade_commerce::cart::open_for_buyer(&app.db, mei.id).await.unwrap();
    assert_eq!(palisade_commerce::cart::count(&app.db, &account_cart).await.unwrap(), 3, "one unit per sign-in");
}
