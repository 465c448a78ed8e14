use crate::support::{Csrf as _, VISITOR};
use crate::support::{TestApp, store};

#[tokio::test]
async fn the_console_requires_sign_in() {
    let app = TestApp::start().await;
    let res = app.get("/console").await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/login?next=/console");
    let bad = app
        .client
        .post(app.url("/console/login"))
        .csrf(&app, VISITOR)
        .form(&[("token", "pal_op_wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers().get("set-cookie").is_none());
    assert!(bad.text().await.unwrap().contains("not valid"));
}

#[tokio::test]
async fn an_operator_sees_both_columns_with_live_status() {
    let app = TestApp::start().await;
    let s = store(&app.db, "alpha", None).await;
    let login = app
        .client
        .post(app.url("/console/login"))
        .csrf(&app, VISITOR)
        .form(&[("token", app.token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap().to_owned();

    let home = app.client.get(app.url("/console")).header("cookie", &pair).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let html = home.text().await.unwrap();
    assert!(html.contains("Platform responsibility matrix"));
    assert!(html.contains("Store alpha"));
    assert!(html.contains("<svg"), "the score chart is drawn");

    let page = app
        .client
        .get(app.url(&format!("/console/stores/{}/security", s.id)))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Platform does") && html.contains("Merchant does"));
    assert!(html.contains("The store names a security and data-protection contact"));
    assert!(html.contains("badge unmet"));
    assert!(html.contains("badge met"));
    for area in ["Updates &amp; patches", "Backup &amp; recovery", "Transaction safety &amp; anti-scam"] {
        assert!(html.contains(area), "{area}");
    }
}

#[tokio::test]
async fn store_names_are_escaped_on_pages() {
    let app = TestApp::start().await;
    let s = store(&app.db, "alpha", None).await;
    let scope = palisade_store::scope::StoreScope::system(s.id, "test");
    palisade_store::tenancy::update_settings(
        &app.db,
        &scope,
        palisade_store::tenancy::StoreSettings { name: Some("<script>alert(1)</script>".into()), ..Default::default() },
    )
    .await
    .unwrap();
    let page = app
        .client
        .get(app.url(&format!("/console/stores/{}/security", s.id)))
        .header("cookie", app.console_cookie().await)
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;"));
}

/// The console cookie holds a server-side session's secret, never the operator token: the token itself is refused
/// as a cookie, signing out ends that session at once (a copied cookie is dead), and revoking the token ends every
/// session opened with it.
#[tokio::test]
async fn console_cookies_are_sessions_that_end_with_sign_out_and_with_their_token() {
    let app = TestApp::start().await;
    let open = |cookie: String| {
        let app = &app;
        async move { app.client.get(app.url("/console")).header("cookie", cookie).send().await.unwrap().status() }
    };
    let first = app.console_cookie().await;
    assert!(!first.contains(&app.token), "the cookie does not carry the token");
    assert_eq!(open(first.clone()).await, 200);
    assert_eq!(open(format!("palisade_console={}", app.token)).await, 303, "the raw token is no session");
    assert_eq!(open("palisade_console=pal_cs_0000".into()).await, 303);

    // No link of the console leads a token-signed operator to a sign-in page.
    for page in ["/console", "/console/shield", "/console/disputes", "/console/outbox", "/console/payment-page"] {
        let html = app.client.get(app.url(page)).header("cookie", &first).send().await.unwrap().text().await.unwrap();
        for link in html.split("href=\"").skip(1).filter_map(|rest| rest.split('"').next()) {
            if !link.starts_with('/') || link.starts_with("/assets/") {
                continue;
            }
            let res = app.client.get(app.url(link)).header("cookie", &first).send().await.unwrap();
            let to = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
            assert!(res.status() == 200 && !to.contains("login"), "{page} links to {link}: {} {to}", res.status());
        }
    }

    let home = app.client.get(app.url("/console")).header("cookie", &first).send().await.unwrap().text().await.unwrap();
    assert!(
        home.contains("action=\"/console/logout\""),
        "the console's Sign out posts where the console cookie is sent (its path is /console)"
    );

    let second = app.console_cookie().await;
    assert_ne!(first, second, "each sign-in opens its own session");
    let out = app.client.post(app.url("/console/logout")).csrf(&app, &first).send().await.unwrap();
    assert_eq!(out.status(), 303);
    assert_eq!(open(first.clone()).await, 303, "a signed-out session's cookie is dead even if copied");
    assert_eq!(open(second.clone()).await, 200, "other sessions go on");
    assert_eq!(app.get_authed("/api/v1/stores").await.status(), 200, "the token itself is untouched");

    let (id, _) = palisade_store::tokens::active_operator_tokens(&app.db).await.unwrap().pop().unwrap();
    palisade_store::tokens::revoke(&app.db, &palisade_store::scope::PlatformScope::system("test"), id).await.unwrap();
    assert_eq!(open(second).await, 303, "revoking the token ends its sessions");
}
