//! Buyers stay in the shop (issue #18): sign-in in the shop's look that returns only to local paths, the account
//! area (addresses, profile, security tab), carts that follow the account, store time zones, reviewers by name.

use palisade_commerce::cart;
use palisade_store::tenancy::AccountKind;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{
    Csrf as _, PW, TestApp, VISITOR, add_to_cart, buyer, cart_cookie, listing, order_request, owner_of, place_order,
};

async fn post_login(app: &TestApp, cookie: &str, email: &str, next: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login"))
        .csrf(app, cookie)
        .form(&[("email", email), ("password", PW), ("next", next)])
        .send()
        .await
        .unwrap()
}

fn session(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("palisade_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn sign_in_wears_the_shop_look_and_returns_only_to_local_paths() {
    let app = TestApp::start().await;
    buyer("mei@buyer.example").create(&app).await;
    let page = app.get("/login?next=/s/tea/p/oolong").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("/theme/default/theme.css"), "the shop's stylesheet");
    assert!(!html.contains("/console"), "no console link for buyers");
    assert!(html.contains("value=\"&#x2f;s&#x2f;tea&#x2f;p&#x2f;oolong\""), "the return path rides along: {html}");
    assert!(html.contains("register?next=%2Fs%2Ftea%2Fp%2Foolong"), "and to registration");
    let register = app.get("/register?next=//evil.example").await.text().await.unwrap();
    assert!(!register.contains("evil.example"), "a foreign return path is not even echoed");

    let attempts = [
        "//evil.example/x",
        "https://evil.example",
        "https:evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%2F%2Fevil.example",
        "/%2fevil.example",
        "/%5Cevil.example",
        "/%252F%252Fevil.example",
        "/\tevil.example",
        "javascript:alert(1)",
        "／／evil.example",
    ];
    for next in attempts {
        let res = post_login(&app, VISITOR, "mei@buyer.example", next).await;
        if res.status() == StatusCode::FORBIDDEN {
            continue; // the firewall stopped it before sign-in: no redirect either
        }
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(res.headers()["location"], "/", "{next:?} falls back to the shop");
    }
    let res = post_login(&app, VISITOR, "mei@buyer.example", "/s/tea/p/oolong?v=2").await;
    assert_eq!(res.headers()["location"], "/s/tea/p/oolong?v=2", "a local path is where the buyer goes back to");

    // Signed in, the buyer's pages never offer the console or the admin.
    let cookie = session(&res);
    for path in ["/account", "/account/security", "/account/addresses", "/account/orders", "/"] {
        let html = app.client.get(app.url(path)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(!html.contains("href=\"/console") && !html.contains("href=\"/admin"), "{path}");
    }
    let security = app
        .client
        .get(app.url("/account/security"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(security.contains("Two-step verification") && security.contains("Passkeys"), "the shared panel");
    assert!(security.contains("/theme/default/theme.css"), "in the shop's look");
}

#[tokio::test]
async fn a_guest_cart_merges_into_the_account_cart_at_sign_in_capped_by_stock() {
    let app = TestApp::start().await;
    let (_, tea, _) = owner_of(&app, "tea").await;
    let (_, books, _) = owner_of(&app, "books").await;
    let oolong = listing("oolong").stock(5).create(&app, &tea).await.variants[0].id;
    let atlas = listing("atlas").stock(9).create(&app, &books).await.variants[0].id;
    let mei = buyer("mei@buyer.example").create(&app).await;
    let other = buyer("ana@buyer.example").create(&app).await;

    // Mei's account cart already holds 3 oolong (from another device).
    let acct = cart::open_for_buyer(&app.db, mei.id).await.unwrap();
    cart::add(&app.db, &acct, oolong, 3).await.unwrap();
    // Another account's cart, which no merge may touch.
    let theirs = cart::open_for_buyer(&app.db, other.id).await.unwrap();
    cart::add(&app.db, &theirs, atlas, 2).await.unwrap();

    // As a guest on this browser: 4 oolong and 1 atlas.
    let res = add_to_cart(&app, None, oolong, "4").await;
    let guest = cart_cookie(&res).unwrap();
    add_to_cart(&app, Some(&guest), atlas, "1").await;

    let res = post_login(&app, &guest, "mei@buyer.example", "/cart").await;
    assert_eq!(res.headers()["location"], "/cart");
    let dropped =
        res.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("palisade_cart=;"));
    assert!(dropped, "the guest cart's cookie is dropped");
    let view = cart::view(&app.db, &acct).await.unwrap();
    let qty = |store: &str| {
        view.groups.iter().find(|g| g.store_slug == store).map(|g| g.lines[0].quantity).unwrap_or_default()
    };
    assert_eq!(qty("tea"), 5, "3 + 4 capped by the 5 in stock");
    assert_eq!(qty("books"), 1, "the other store's line keeps its own store");
    assert_eq!(view.groups.iter().find(|g| g.store_slug == "books").unwrap().store_id, books.store_key());
    assert!(
        cart::find(&app.db, guest.trim_start_matches("palisade_cart=")).await.unwrap().is_none(),
        "guest cart gone"
    );
    let theirs_view = cart::view(&app.db, &theirs).await.unwrap();
    assert_eq!(theirs_view.items, 2, "another account's cart is untouched");

    // The cart page shows the account's cart to the signed-in buyer, without any cart cookie.
    let cookie = session(&res);
    let page = app.client.get(app.url("/cart")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Cart (6)"), "{page}");

    // Signed out, the old cookie opens nothing of the account.
    let anon = app.client.get(app.url("/cart")).header("cookie", &guest).send().await.unwrap().text().await.unwrap();
    assert!(anon.contains("Your cart is empty"));
    assert!(cart::find(&app.db, "x".repeat(64).as_str()).await.unwrap().is_none());
}

#[tokio::test]
async fn addresses_are_the_buyers_own_and_refuse_bad_input() {
    let app = TestApp::start().await;
    let (_, mei) = buyer("mei@buyer.example").signed_in(&app).await;
    let (_, ana) = buyer("ana@buyer.example").signed_in(&app).await;
    let form = |name: &str| {
        vec![
            ("name", name.to_owned()),
            ("line1", "1 Harbour Road".to_owned()),
            ("city", "Singapore".to_owned()),
            ("postcode", "018956".to_owned()),
            ("country", "Singapore".to_owned()),
        ]
    };
    let add = app.client.post(app.url("/account/addresses")).csrf(&app, &mei).form(&form("<b>x</b> \"Mei\"")).send();
    assert_eq!(add.await.unwrap().status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url("/account/addresses"))
        .header("cookie", &mei)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("&lt;b&gt;x&lt;&#x2f;b&gt; &quot;Mei&quot;") && !page.contains("<b>x"), "escaped: {page}");
    let id = page.split("/account/addresses/").nth(1).unwrap().split(['"', '/']).next().unwrap().to_owned();

    // Checkout offers it.
    let pay = app.client.get(app.url("/checkout/nowhere")).header("cookie", &mei).send().await.unwrap();
    assert_eq!(pay.status(), 404, "an unknown store");

    // Another buyer: 404 for reading, changing and removing, and nothing changes.
    let edit = format!("/account/addresses/{id}");
    assert_eq!(app.client.get(app.url(&edit)).header("cookie", &ana).send().await.unwrap().status(), 404);
    let change = app.client.post(app.url(&edit)).csrf(&app, &ana).form(&form("Ana")).send().await.unwrap();
    assert_eq!(change.status(), 404);
    let remove = app.client.post(app.url(&format!("{edit}/remove"))).csrf(&app, &ana).send().await.unwrap();
    assert_eq!(remove.status(), 404);
    let bad_id = app.client.get(app.url("/account/addresses/not-an-id")).header("cookie", &mei).send().await.unwrap();
    assert_eq!(bad_id.status(), 404);

    // Oversized and malformed input: 422 with the reason, nothing saved.
    let long = app.client.post(app.url(&edit)).csrf(&app, &mei).form(&form(&"x".repeat(201))).send().await.unwrap();
    assert_eq!(long.status(), 422);
    let mut missing = form("Mei");
    missing.retain(|(k, _)| *k != "city");
    let res = app.client.post(app.url("/account/addresses")).csrf(&app, &mei).form(&missing).send().await.unwrap();
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("needs city"));

    // The owner edits and removes it.
    let ok = app.client.post(app.url(&edit)).csrf(&app, &mei).form(&form("Mei Tan")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url("/account/addresses"))
        .header("cookie", &mei)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Mei Tan"));
    let gone = app.client.post(app.url(&format!("{edit}/remove"))).csrf(&app, &mei).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::SEE_OTHER);
    let page = app
        .client
        .get(app.url("/account/addresses"))
        .header("cookie", &mei)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No saved addresses yet"));
}

#[tokio::test]
async fn store_time_zone_is_a_real_zone_and_reviews_show_first_names_escaped() {
    let app = TestApp::start().await;
    let (store, tea, owner) = owner_of(&app, "tea").await;
    let v = listing("oolong").stock(5).create(&app, &tea).await.variants[0].id;
    let settings = format!("/admin/stores/{}/settings", store.id);
    for bad in ["Mars/Olympus", "+08:00", "Asia/Singapore/x", "Etc/Nowhere", &"A".repeat(300)] {
        let res = app
            .client
            .post(app.url(&settings))
            .csrf(&app, &owner)
            .form(&[("shipping", "1.00"), ("tagline", "Tea"), ("time_zone", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{bad:?}");
    }
    assert_eq!(palisade_commerce::orders::time_zone(&app.db, &tea).await.unwrap().name(), "Asia/Singapore", "default");
    let ok = app
        .client
        .post(app.url(&settings))
        .csrf(&app, &owner)
        .form(&[("shipping", "1.00"), ("tagline", "Tea"), ("time_zone", "Europe/Berlin")])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(palisade_commerce::orders::time_zone(&app.db, &tea).await.unwrap().name(), "Europe/Berlin");

    // A signed-in buyer whose profile name carries markup orders and reviews.
    let (mei, cookie) = buyer("mei@buyer.example").signed_in(&app).await;
    let rename = app
        .client
        .post(app.url("/account/profile"))
        .csrf(&app, &cookie)
        .form(&[("name", "<b>Mei</b> Tan")])
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), StatusCode::SEE_OTHER);
    let empty =
        app.client.post(app.url("/account/profile")).csrf(&app, &cookie).form(&[("name", "  ")]).send().await.unwrap();
    assert_eq!(empty.status(), 422, "a name is needed");
    let account = palisade_store::tenancy::get_account(&app.db, mei.id).await.unwrap();
    assert_eq!(account.display_name, "<b>Mei</b> Tan");
    // The firewall keeps script tags out of forms; a name set another way (an import, the API) is escaped too.
    palisade_commerce::profile::set_name(&app.db, mei.id, "<b>Mei</b><script>alert(1)</script> Tan").await.unwrap();
    let res = place_order(&app, "tea", "k-1", &order_request(v).json(), Some(&cookie)).await;
    assert_eq!(res.status(), 201);
    let order: serde_json::Value = res.json().await.unwrap();
    let order_id = order["order"]["id"].as_str().or(order["id"].as_str()).unwrap().to_owned();
    sqlx::query("INSERT INTO reviews (id, store_id, order_id, buyer_email, rating, body, created_at) VALUES ($1, $2, $3, $4, 5, 'Lovely', $5)")
        .bind(palisade_core::JobId::new().to_string())
        .bind(tea.store_key())
        .bind(&order_id)
        .bind(&mei.email)
        .bind(app.db.now().0)
        .execute(app.db.pool())
        .await
        .unwrap();
    let page = app.get("/s/tea").await.text().await.unwrap();
    assert!(
        page.contains("&lt;b&gt;Mei&lt;&#x2f;b&gt;&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "first word, escaped: {page}"
    );
    assert!(!page.contains(" Tan"), "the first name only");
    assert!(!page.contains("<script>alert(1)") && !page.contains("m***@"), "never markup, never a masked email");
    assert!(page.contains("today"), "relative time");

    // The order page shows the store's zone (Berlin: CET or CEST), and My orders in the account area.
    let order_page =
        app.client.get(app.url(&format!("/orders/{order_id}"))).header("cookie", &cookie).send().await.unwrap();
    let html = order_page.text().await.unwrap();
    assert!(html.contains(" CET") || html.contains(" CEST"), "{html}");
    let mine = app
        .client
        .get(app.url("/account/orders"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(mine.contains("today") && mine.contains("aria-current=\"page\""));
    let _ = (AccountKind::Buyer, json!({}));
}

#[tokio::test]
async fn a_guest_order_link_is_a_link_with_a_copy_button() {
    let app = TestApp::start().await;
    let (_, tea, _) = owner_of(&app, "tea").await;
    let v = listing("oolong").stock(5).create(&app, &tea).await.variants[0].id;
    let res = add_to_cart(&app, None, v, "1").await;
    let guest = cart_cookie(&res).unwrap();
    let paid = app
        .client
        .post(app.url("/checkout/tea"))
        .csrf(&app, &guest)
        .form(&crate::support::guest_payment("k-link", "4242424242424242"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    let html = app.get(&location).await.text().await.unwrap();
    assert!(html.contains("<a id=\"order-link\" href=\"http"), "the link is a link: {html}");
    assert!(html.contains("data-copy=\"order-link\" hidden"), "the copy button waits for its script");
    assert_eq!(app.get("/assets/copy.js").await.status(), 200);
}

/// Staff names appear in stores' audit views and the console: the buyer's profile form does not change them.
#[tokio::test]
async fn staff_cannot_rename_themselves_through_the_buyers_profile_form() {
    let app = TestApp::start().await;
    let (_, scope, cookie) = crate::support::owner_of(&app, "alpha").await;
    let res = app
        .client
        .post(app.url("/account/profile"))
        .csrf(&app, &cookie)
        .form(&[("name", "Palisade (automatic)")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let members = palisade_store::tenancy::list_members(&app.db, &scope).await.unwrap();
    assert!(members.iter().all(|m| m.display_name != "Palisade (automatic)"), "unchanged");
}

/// A buyer's security steps (re-entering the password, setting up an authenticator app, recovery codes) stay in
/// the shop's look, under the account tabs with a way back to `/account`; staff on the same routes keep the
/// platform's look. Hostile return paths are neither followed nor echoed raw.
#[tokio::test]
async fn a_buyers_security_steps_wear_the_shop_look_and_staff_keep_the_console() {
    let app = TestApp::start().await;
    buyer("mei@buyer.example").create(&app).await;
    let cookie = session(&post_login(&app, VISITOR, "mei@buyer.example", "/").await);
    let shop_look = |html: &str, what: &str| {
        assert!(html.contains("/theme/default/theme.css"), "{what}: the shop's stylesheet: {html}");
        assert!(!html.contains("/assets/console.css"), "{what}: not the console's");
        assert!(html.contains("href=\"/account/security\" aria-current=\"page\""), "{what}: the security tab");
        assert!(html.contains("<a href=\"/account\">"), "{what}: a way back to the account");
        assert!(!html.contains("href=\"/console") && !html.contains("href=\"/admin"), "{what}");
    };
    let get = |path: &str| app.client.get(app.url(path)).header("cookie", &cookie).send();

    let res = get("/account/reauth?next=/account/security").await.unwrap();
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    shop_look(&html, "re-authentication");
    assert!(html.contains("Confirm it") && html.contains("name=\"password\""), "{html}");
    for hostile in ["//evil.example/x", "/account%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        let res = get(&format!("/account/reauth?next={hostile}")).await.unwrap();
        if res.status() == StatusCode::FORBIDDEN {
            continue; // the firewall stopped it first
        }
        let html = res.text().await.unwrap();
        assert!(!html.contains("evil.example") && !html.contains("<script>alert"), "{hostile}: {html}");
    }
    let wrong = app
        .client
        .post(app.url("/account/reauth"))
        .csrf(&app, &cookie)
        .form(&[("password", "not the password"), ("next", "/account/security")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let html = wrong.text().await.unwrap();
    shop_look(&html, "refused password");
    assert!(html.contains("That password is not right."));

    let setup = app.client.post(app.url("/account/security/totp")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(setup.status(), 200);
    assert_eq!(setup.headers()["cache-control"], "no-store", "the key must not come back from a cache");
    let html = setup.text().await.unwrap();
    shop_look(&html, "authenticator set-up");
    assert!(html.contains("src=\"data:image/svg+xml;base64,") && html.contains("Key: <code>"), "QR code and key");
    let bad = app
        .client
        .post(app.url("/account/security/totp/confirm"))
        .csrf(&app, &cookie)
        .form(&[("code", "<b>1</b>")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text().await.unwrap();
    shop_look(&html, "wrong code");
    assert!(!html.contains("<b>1</b>"), "what was typed is not echoed raw");
    let key = html.split("Key: <code>").nth(1).unwrap().split("</code>").next().unwrap();
    let secret = totp_rs::Secret::Encoded(key.to_owned()).to_bytes().unwrap();
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
    let rotated = session(&done);
    let html = done.text().await.unwrap();
    shop_look(&html, "recovery codes after set-up");
    assert!(html.contains("Save your recovery codes") && html.contains("class=\"codes\""));
    let again = app.client.post(app.url("/account/security/recovery-codes")).csrf(&app, &rotated).send().await.unwrap();
    assert_eq!(again.status(), 200);
    shop_look(&again.text().await.unwrap(), "new recovery codes");
}

/// Staff on the same routes keep the platform's look, never the shop's.
#[tokio::test]
async fn staff_security_steps_keep_the_console_look() {
    let app = TestApp::start().await;
    let (_, _, staff) = owner_of(&app, "alpha").await;
    for res in [
        app.client.get(app.url("/account/reauth")).header("cookie", &staff).send().await.unwrap(),
        app.client.post(app.url("/account/security/totp")).csrf(&app, &staff).send().await.unwrap(),
    ] {
        assert_eq!(res.status(), 200);
        let html = res.text().await.unwrap();
        assert!(html.contains("/assets/console.css") && !html.contains("/theme/default/theme.css"), "{html}");
    }
}

/// Adding a second factor locks the account to whoever holds it: a session whose password was entered more than
/// ten minutes ago (a stolen cookie) is sent to re-enter it, on the page and in the API, and nothing is enrolled.
#[tokio::test]
async fn enrolling_an_authenticator_needs_a_recent_password() {
    let app = TestApp::start().await;
    buyer("kai@buyer.example").create(&app).await;
    let cookie = session(&post_login(&app, VISITOR, "kai@buyer.example", "/").await);
    crate::support::forget_recent_passwords(&app).await;
    for path in ["/account/security/totp", "/account/security/totp/confirm"] {
        let res = app.client.post(app.url(path)).csrf(&app, &cookie).form(&[("code", "123456")]).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/account/reauth"), "{path}");
    }
    for path in ["/api/v1/auth/totp/start", "/api/v1/auth/totp/confirm"] {
        let res = app
            .client
            .post(app.url(path))
            .header("cookie", &cookie)
            .header("origin", app.url(""))
            .json(&json!({"code": "123456"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "reauth_required", "{path}: {body}");
    }
}
