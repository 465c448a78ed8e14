//! The malicious-merchant suite for themes and product HTML: whatever a merchant writes into a template or a
//! product description, the page served from the platform's origin holds none of the constructs that would let
//! it act as the platform (forms, refreshes, scripts, embeds, styles, links, handlers, script URLs). Also the
//! synchronizer tokens that back the header CSRF check, and the render-size cap.

use palisade_commerce::catalog;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Csrf as _, Listing, TestApp, VISITOR, listing, owner_of};

/// One abuse per construct, each with a marker that must not reach the page.
const ABUSES: &[(&str, &str)] = &[
    ("<form method=post action=/account/sessions/revoke-others><button>Win</button></form>", "revoke-others"),
    ("<button formaction=/logout form=f1>Go</button>", "formaction"),
    ("<input form=buyform name=quantity value=99 data-x=evilfield>", "evilfield"),
    ("<meta http-equiv=refresh content='0;url=https://evil.example/'>", "http-equiv"),
    ("<base href='https://evil.example/'>", "<base"),
    ("<iframe src='https://evil.example/'></iframe>", "<iframe"),
    ("<object data='https://evil.example/x.swf'></object>", "<object"),
    ("<embed src='https://evil.example/x.swf'>", "<embed"),
    ("<script>alert('pwned')</script>", "pwned"),
    (
        "<style>@import url('https://evil.example/x.css'); body{background:url(https://evil.example/t.png)}</style>",
        "@import",
    ),
    ("<p style=\"background:url(https://evil.example/s.png)\">x</p>", "s.png"),
    ("<link rel=stylesheet href='https://evil.example/l.css'>", "l.css"),
    ("<img src=/x onerror=alert(1)><a onclick=steal() href=/>x</a><div onmouseover=steal()>y</div>", "steal("),
    ("<img src=/y onerror=alert(1)>", "onerror"),
    ("<a href='javascript:alert(document.cookie)'>js</a>", "javascript:"),
    ("<a href='data:text/html;base64,PHNjcmlwdD4='>data</a><img src='data:image/svg+xml;base64,PHN2Zz4='>", "data:"),
    ("<svg><script>alert('svg')</script></svg>", "<svg"),
    ("<textarea name=x>note</textarea><select name=s><option>1</option></select>", "<textarea"),
];

/// The kettle (one "M" variant, SGD 42.00) whose description a test fills with markup.
fn kettle(description: &str) -> Listing {
    listing("kettle").title("Kettle").description(description).options(json!({"size": "M"})).price(4200).stock(3)
}

async fn save(app: &TestApp, store: &str, cookie: &str, name: &str, source: &str) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/api/v1/admin/stores/{store}/theme/{name}")))
        .header("cookie", cookie)
        .json(&json!({"source": source}))
        .send()
        .await
        .unwrap()
}

/// The `csrf` hidden fields of a page.
fn tokens_in(html: &str) -> Vec<String> {
    html.match_indices("name=\"csrf\" value=\"")
        .map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().to_owned())
        .collect()
}

fn assert_clean(html: &str, marker: &str, abuse: &str) {
    assert!(!html.to_lowercase().contains(&marker.to_lowercase()), "`{marker}` of {abuse} reached the page:\n{html}");
}

#[tokio::test]
async fn merchant_templates_cannot_put_forms_refreshes_scripts_or_handlers_on_the_platform_origin() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    kettle("A kettle.").create(&app, &sa).await;
    let store = a.id.to_string();
    for (abuse, marker) in ABUSES {
        // In the product page and in the layout (which wraps every store page).
        let page = format!("<h1>{{{{ product.title }}}}</h1>{abuse}{{{{ slot(\"buy\") }}}}");
        assert_eq!(save(&app, &store, &cookie, "product.html", &page).await.status(), 201, "{abuse}");
        let html = app.get("/s/alpha/p/kettle").await.text().await.unwrap();
        assert!(html.contains("<h1>Kettle</h1>"), "{html}");
        assert_clean(&html, marker, abuse);
        let layout = format!(
            "<!doctype html><html><head><title>{{% block title %}}{{% endblock %}}</title>{abuse}</head>\
             <body>{abuse}{{% block content %}}{{% endblock %}}</body></html>"
        );
        assert_eq!(save(&app, &store, &cookie, "layout.html", &layout).await.status(), 201, "{abuse}");
        let html = app.get("/s/alpha").await.text().await.unwrap();
        assert_clean(&html, marker, abuse);
    }
    // The platform's own parts still work: the buy form is there, with the request's token, exactly once,
    // and only where the theme put the slot.
    let res = app.client.get(app.url("/s/alpha/p/kettle")).header("cookie", VISITOR).send().await.unwrap();
    let html = res.text().await.unwrap();
    assert_eq!(html.matches("action=\"/cart/add\"").count(), 1, "{html}");
    assert_eq!(tokens_in(&html), vec![app.csrf(VISITOR)]);
    // The merchant's templates never see the token.
    assert_eq!(
        save(&app, &store, &cookie, "product.html", "<p>[{{ csrf }}]</p>{{ slot(\"buy\") }}").await.status(),
        201
    );
    let html = app.client.get(app.url("/s/alpha/p/kettle")).header("cookie", VISITOR).send().await.unwrap();
    let html = html.text().await.unwrap();
    assert!(html.contains("<p>[]</p>"), "{html}");
    // Without the slot there is no form at all on the page (the search box is a slot of the default layout).
    assert_eq!(save(&app, &store, &cookie, "product.html", "<p>no buying here</p>").await.status(), 201);
    let html = app.get("/s/alpha/p/kettle").await.text().await.unwrap();
    assert!(!html.contains("<form"), "{html}");
    // An unknown slot is refused when saved.
    assert_eq!(save(&app, &store, &cookie, "product.html", "{{ slot(\"admin\") }}").await.status(), 422);
}

#[tokio::test]
async fn product_html_holds_none_of_the_dangerous_constructs() {
    let app = TestApp::start().await;
    let (_, sa, _) = owner_of(&app, "alpha").await;
    let description: String = ABUSES.iter().map(|(a, _)| *a).collect::<Vec<_>>().join("\n") + "<p><b>Fine</b> tea</p>";
    kettle(&description).create(&app, &sa).await;
    let stored = catalog::get_by_slug(&app.db, &sa, "kettle").await.unwrap().description;
    let html = app.get("/s/alpha/p/kettle").await.text().await.unwrap();
    assert!(html.contains("<b>Fine</b> tea"), "{html}");
    // The page holds one form of its own (add to cart) and the search box; none from the description.
    assert_eq!(html.matches("<form").count(), 2, "{html}");
    for (abuse, marker) in ABUSES {
        assert_clean(&stored, marker, abuse);
        assert_clean(&html, marker, abuse);
    }
}

#[tokio::test]
async fn a_tiny_template_cannot_make_every_page_megabytes() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    kettle("A kettle.").create(&app, &sa).await;
    let store = a.id.to_string();
    let huge = "{{ \"ab\" * 3000000 }}";
    let refused = save(&app, &store, &cookie, "product.html", huge).await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("larger than 2 MiB"), "{text}");
    // One that blows up only on real data passes the trial; the shop falls back to the default template.
    let sneaky = "{% if product.title == 'Kettle' %}{{ \"ab\" * 3000000 }}{% endif %}";
    assert_eq!(save(&app, &store, &cookie, "product.html", sneaky).await.status(), 201);
    let res = app.get("/s/alpha/p/kettle").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.len() < 100_000 && html.contains("Add to cart"), "{} bytes", html.len());
}

#[tokio::test]
async fn every_platform_form_post_needs_the_synchronizer_token_of_its_own_browser() {
    let app = TestApp::start().await;
    let (a, _, cookie) = owner_of(&app, "alpha").await;
    let settings = format!("/admin/stores/{}/settings", a.id);
    let post = |cookie: &str, fields: Vec<(&str, String)>| {
        app.client.post(app.url(&settings)).header("cookie", cookie.to_owned()).form(&fields).send()
    };
    // No token: refused with a page that says why, nothing saved.
    let res = post(&cookie, vec![("shipping", "5.00".into()), ("tagline", "Hi".into())]).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("CSRF protection"));
    // Another browser's token (a visitor's, or another session's): refused.
    let theirs = app.csrf(VISITOR);
    let res = post(&cookie, vec![("shipping", "5.00".into()), ("tagline", "Hi".into()), ("csrf", theirs)]).await;
    assert_eq!(res.unwrap().status(), StatusCode::FORBIDDEN);
    // The token the settings page carries, in the form field: accepted.
    let page = app.client.get(app.url(&settings)).header("cookie", &cookie).send().await.unwrap();
    let token = tokens_in(&page.text().await.unwrap()).remove(0);
    assert_eq!(token, app.csrf(&cookie));
    let res = post(&cookie, vec![("shipping", "5.00".into()), ("tagline", "Hi".into()), ("csrf", token.clone())]);
    assert_eq!(res.await.unwrap().status(), StatusCode::SEE_OTHER);
    // A text/plain body cannot carry the field and a handler without a body would not notice: refused too.
    let res = app
        .client
        .post(app.url(&settings))
        .header("cookie", &cookie)
        .header("content-type", "text/plain")
        .body(format!("csrf={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Multipart forms (image and archive uploads) carry it as a part.
    let upload = format!("/admin/stores/{}/products/nope/images", a.id);
    let multipart = |token: &str| {
        let body = format!(
            "--XyZ\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{token}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx\r\n--XyZ--\r\n"
        );
        app.client
            .post(app.url(&upload))
            .header("cookie", &cookie)
            .header("content-type", "multipart/form-data; boundary=XyZ")
            .body(body)
            .send()
    };
    assert_eq!(multipart("0000").await.unwrap().status(), StatusCode::FORBIDDEN);
    let res = multipart(&token).await.unwrap();
    assert_ne!(res.status(), StatusCode::FORBIDDEN, "{}", res.text().await.unwrap());
    // A visitor gets a pre-session cookie with the first form, and that form's token works with it.
    let login = app.get("/login").await;
    let visitor = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("palisade_visitor="))
        .expect("a pre-session cookie");
    let token = tokens_in(&login.text().await.unwrap()).remove(0);
    let res = app
        .client
        .post(app.url("/login"))
        .header("cookie", &visitor)
        .form(&[("email", "nobody@example.com"), ("password", "wrong horse"), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .post(app.url("/login"))
        .form(&[("email", "nobody@example.com"), ("password", "wrong horse"), ("csrf", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "the token without its cookie is worthless");
    // The API is not affected (bearer tokens and JSON; its own check).
    let res = app.get_authed("/api/v1/platform/security/controls").await;
    assert_ne!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn nul_characters_are_refused_with_a_400_before_any_handler_and_settings_save_whole() {
    // The firewall may refuse some of these itself; in detect mode (or off) the handlers must still be safe.
    let policy = palisade_shield::Policy { mode: palisade_shield::Mode::Detect, ..palisade_shield::Policy::default() };
    let mut config = palisade_web::WebConfig::default();
    config.shield.policy = policy;
    let app = TestApp::start_with(config, |r, _| r).await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    // Forms: sign-in, a merchant's product.
    let res = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "pat\0@example.com"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("NUL"));
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/products", a.id)))
        .csrf(&app, &cookie)
        .form(&[
            ("slug", "nul"),
            ("title", "Bad\0title"),
            ("description", ""),
            ("price", "1"),
            ("stock", "1"),
            ("sku", "N-1"),
            ("category", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(catalog::get_by_slug(&app.db, &sa, "nul").await.is_err(), "nothing was created");
    // JSON: the API sign-in and a theme.
    let res =
        app.client.post(app.url("/api/v1/auth/login")).json(&json!({"email": "a\u{0}@b.example", "password": "x"}));
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_text");
    let res = save(&app, &a.id.to_string(), &cookie, "product.html", "<p>\0</p>").await;
    let status = res.status();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", res.text().await.unwrap());
    // A control character in the tagline used to fail after the shipping price was saved: now both or neither.
    let settings = format!("/admin/stores/{}/settings", a.id);
    let res = app
        .client
        .post(app.url(&settings))
        .csrf(&app, &cookie)
        .form(&[("shipping", "7.00"), ("tagline", "bell\u{7}")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(palisade_commerce::orders::flat_shipping(&app.db, &sa).await.unwrap(), 0, "shipping unchanged");
    // The API likewise: a bad tagline leaves the shipping price alone, and a field left out keeps its value.
    let api = app.url(&format!("/api/v1/admin/stores/{}/settings", a.id));
    let put = |body: serde_json::Value| app.client.put(&api).header("cookie", &cookie).json(&body).send();
    let res = put(json!({"flat_shipping_minor": 700, "tagline": "bell\u{7}"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(palisade_commerce::orders::flat_shipping(&app.db, &sa).await.unwrap(), 0, "shipping unchanged");
    let res = put(json!({"tagline": "Fine tea"})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = put(json!({"flat_shipping_minor": 500})).await.unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!((body["flat_shipping_minor"].as_i64(), body["tagline"].as_str()), (Some(500), Some("Fine tea")));
}

/// The count of `needle` in `html`.
fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// The platform's word on the seller (verified or not, safety rating, contact, report) is not the theme's: a
/// merchant's templates cannot print the platform's badge, drop the report link or hide the bar with their
/// stylesheet, on the store page and on product pages.
#[tokio::test]
async fn a_theme_cannot_forge_the_verified_badge_or_drop_the_report_link() {
    let app = TestApp::start().await;
    let (a, sa, cookie) = owner_of(&app, "alpha").await;
    let kettle = kettle("A kettle.").create(&app, &sa).await;
    let store = a.id.to_string();
    let forged =
        r#"<span class="badge platform-badge platform-verified" id="verified-seller">✓ Verified seller</span>"#;
    let page = format!("<h1>{{{{ store.name }}}} {forged}</h1><div class=\"store-theme platform-trust\">Trusted</div>");
    assert_eq!(save(&app, &store, &cookie, "store.html", &page).await.status(), 201);
    let product = format!("<h1>{{{{ product.title }}}}</h1>{forged}{{{{ slot(\"buy\") }}}}");
    assert_eq!(save(&app, &store, &cookie, "product.html", &product).await.status(), 201);
    for (path, report) in [
        ("/s/alpha".to_owned(), format!("/account/reports/new?store={store}\"")),
        (
            format!("/s/alpha/p/{}", kettle.slug),
            format!("/account/reports/new?store={store}&amp;listing={}", kettle.id),
        ),
    ] {
        let html = app.get(&path).await.text().await.unwrap();
        // One bar, the platform's, saying the truth; the theme's copy lost every platform name.
        assert_eq!(count(&html, "class=\"platform-trust\""), 1, "{path}: {html}");
        assert_eq!(count(&html, "id=\"unverified-seller\""), 1, "{path}: {html}");
        assert!(html.contains("Identity not verified") && html.contains(&report), "{path}: {html}");
        assert_eq!(count(&html, "platform-verified"), 0, "{path}: a theme's element dressed as the badge: {html}");
        assert_eq!(count(&html, "id=\"verified-seller\""), 0, "{path}: {html}");
        assert_eq!(count(&html, "class=\"store-theme\""), 1, "{path}: only the platform's box: {html}");
        // The bar comes before the theme's page (nothing of the theme is drawn above it).
        let bar = html.find("class=\"platform-trust\"").unwrap();
        assert!(bar < html.find("class=\"store-theme\"").unwrap() && bar < html.find("<h1>").unwrap(), "{html}");
    }

    // The stylesheet cannot reach the bar: no layers, no platform names.
    for css in [
        ".platform-trust { display: none !important }",
        "@layer platform { aside { display: none !important } }",
        "#unverified-seller { visibility: hidden }",
        ".store-theme { contain: none !important }",
    ] {
        let res = save(&app, &store, &cookie, "theme.css", css).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{css}");
    }
    // Once verified, the bar says so, and the theme still cannot add a second badge.
    let uen = palisade_trust::uen::Uen::parse("53143018M", 2026).unwrap();
    let demo = palisade_store::StaffScope::system(a.id, "demo");
    palisade_commerce::verification::verify_for_demo(&app.db, &demo, &uen, "Alpha Pte Ltd").await.unwrap();
    let html = app.get("/s/alpha?fresh=1").await.text().await.unwrap();
    assert_eq!(count(&html, "id=\"verified-seller\""), 1, "{html}");
    assert_eq!(count(&html, "id=\"unverified-seller\""), 0, "{html}");
}
