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
        .header("cookie", format!("palisade_console={}", app.token))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("&lt;script&gt;"));
}
