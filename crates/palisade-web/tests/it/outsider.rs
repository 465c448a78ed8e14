//! Helper F: a malicious buyer, guest or outsider against the fixes of issue #16.

use reqwest::StatusCode;

use crate::support::{Csrf, TestApp, VISITOR, owner_of};

/// Every GET page and API route, with `{store}` etc. filled in.
const GETS: &[&str] = &[
    "/",
    "/search",
    "/s/alpha",
    "/s/alpha/p/kettle",
    "/s/alpha/theme.css",
    "/media/alpha/img",
    "/theme/default/theme.css",
    "/cart",
    "/orders/ord",
    "/account/orders",
    "/login",
    "/login/verify",
    "/register",
    "/account",
    "/account/reauth",
    "/invitations/tok",
    "/checkout",
    "/checkout/alpha",
    "/admin",
    "/admin/stores/alpha/security",
    "/admin/stores/alpha/backups",
    "/admin/stores/alpha/backups/exp/download",
    "/admin/stores/alpha/products",
    "/admin/stores/alpha/products/prod",
    "/admin/stores/alpha/orders",
    "/admin/stores/alpha/orders/ord",
    "/admin/stores/alpha/disputes",
    "/admin/stores/alpha/payouts",
    "/admin/stores/alpha/theme",
    "/admin/stores/alpha/settings",
    "/console",
    "/console/login",
    "/console/stores/alpha/security",
    "/console/assessment",
    "/healthz",
    "/readyz",
    "/api/openapi.json",
    "/api/v1/search",
    "/api/v1/stores/alpha/products/kettle",
    "/api/v1/me",
    "/api/v1/stores",
    "/api/v1/platform/audit",
    "/api/v1/admin/stores/alpha/products",
    "/api/v1/admin/stores/alpha/products/prod",
    "/api/v1/admin/stores/alpha/orders",
    "/api/v1/admin/stores/alpha/orders/ord",
    "/api/v1/admin/stores/alpha/disputes",
    "/api/v1/admin/stores/alpha/balance",
    "/api/v1/admin/stores/alpha/payouts",
    "/api/v1/admin/stores/alpha/theme",
    "/api/v1/admin/stores/alpha/settings",
    "/api/v1/admin/stores/alpha/firewall",
    "/api/v1/admin/stores/alpha/firewall/events",
    "/api/v1/admin/stores/alpha/security/controls",
    "/api/v1/admin/stores/alpha/staff",
];

const QUERIES: &[&str] = &[
    "q=%00",
    "q=a%00b&page=1",
    "page=%00",
    "k=%00",
    "next=%00",
    "status=%00",
    "name=%00",
    "limit=%00",
    "q=%FF%FE",
    "q=%C0%80",
    "page=99999999999999999999999",
    "page=-9223372036854775808",
    "q=%01%1b%7f",
    "q[]=1&q[]=2",
    "q",
    "=&&=",
    "%",
    "q=%zz",
];

#[tokio::test]
async fn no_get_route_answers_500_to_odd_query_strings_or_path_segments() {
    let app = TestApp::start().await;
    let (_, _, owner) = owner_of(&app, "alpha").await;
    let mut failures = Vec::new();
    for cookie in [None, Some(owner.as_str())] {
        for path in GETS {
            let mut urls: Vec<String> = QUERIES.iter().map(|q| format!("{path}?{q}")).collect();
            // Each path segment in turn replaced by odd bytes.
            let segs: Vec<&str> = path.split('/').collect();
            for i in 1..segs.len() {
                for odd in ["%00", "a%00", "%FF", "%C0%80", "%2e%2e", "%2F", &"x".repeat(5000)] {
                    let mut s = segs.clone();
                    s[i] = odd;
                    urls.push(s.join("/"));
                }
            }
            for url in urls {
                let mut req = app.client.get(app.url(&url));
                if let Some(c) = cookie {
                    req = req.header("cookie", c);
                }
                let res = req.send().await.unwrap();
                let status = res.status();
                let body = res.text().await.unwrap_or_default();
                // The bot challenge answers odd guest requests with 503 and its own page: not a failure.
                let challenge = status == StatusCode::SERVICE_UNAVAILABLE && body.contains("Checking your browser");
                if status.is_server_error() && !challenge {
                    failures.push(format!(
                        "{status} {url} signed_in={} {}",
                        cookie.is_some(),
                        &body[..body.len().min(200)]
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} server errors:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn no_form_or_json_route_answers_500_to_odd_input() {
    let app = TestApp::start().await;
    let _ = owner_of(&app, "alpha").await;
    let c = &app.client;
    let mut failures = Vec::new();
    let posts: &[(&str, &str)] = &[
        ("/cart/add", "variant_id=%00&quantity=1"),
        ("/cart/add", "variant_id=v&quantity=99999999999999999999"),
        ("/cart/add", "variant_id=v&quantity=-1"),
        ("/cart/update", "variant_id=%00&quantity=0"),
        ("/login", "email=%00&password=x"),
        ("/login?next=%00", "email=a%40b.c&password=x"),
        ("/register", "email=a%40b.c&password=x&display_name=%01"),
        ("/orders/%00/confirm", ""),
        ("/orders/ord/confirm?k=%00", ""),
        ("/orders/ord/dispute?k=x", "reason=%00&statement=x"),
        ("/checkout/alpha", "email=x"),
        ("/checkout/%00", "email=x"),
        ("/invitations/%00", "password=x"),
        ("/_challenge", "nonce=%00"),
    ];
    for (path, body) in posts {
        let res = c
            .post(app.url(path))
            .csrf(&app, VISITOR)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(*body)
            .send()
            .await
            .unwrap();
        if res.status().is_server_error() {
            failures.push(format!("{} POST {path} {body}", res.status()));
        }
    }
    let json_posts: &[(&str, &str)] = &[
        ("/api/v1/auth/login", r#"{"email":"a@b.c","password":"x","email":"b@c.d"}"#),
        ("/api/v1/auth/login", r#"{"email":1e999999,"password":"x"}"#),
        ("/api/v1/stores/alpha/orders", r#"{"lines":[{"variant_id":"v","quantity":1e30}]}"#),
        ("/api/v1/stores/%00/orders", r#"{}"#),
        ("/api/v1/auth/passkeys/login/finish", r#"{"id":"\u0000"}"#),
        ("/api/v1/auth/passkeys/login/start", r#"{"email":"a@b.c"}"#),
        ("/api/v1/auth/password-strength", r#"{"password":"\ud800"}"#),
    ];
    for (path, body) in json_posts {
        let res = c
            .post(app.url(path))
            .header("content-type", "application/json")
            .header("idempotency-key", "k1")
            .body(*body)
            .send()
            .await
            .unwrap();
        if res.status().is_server_error() {
            failures.push(format!("{} POST {path} {body}", res.status()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Whether the session behind `cookie` is still signed in.
async fn signed_in(app: &TestApp, cookie: &str) -> bool {
    app.client.get(app.url("/api/v1/me")).header("cookie", cookie).send().await.unwrap().status() == StatusCode::OK
}

#[tokio::test]
async fn a_form_cannot_make_a_cookie_authenticated_api_call() {
    let app = TestApp::start().await;
    let (_, _, owner) = owner_of(&app, "alpha").await;
    let c = &app.client;
    // A plain same-origin form (urlencoded, multipart, text/plain or no body) posting to a body-less API call: the
    // header check lets it through (same origin), so the API itself must refuse it.
    let forms: [(&str, &str); 4] = [
        ("application/x-www-form-urlencoded", ""),
        ("text/plain", "x=1"),
        ("multipart/form-data; boundary=x", "--x--\r\n"),
        ("text/plain; charset=application/json", "{}"),
    ];
    for (ctype, body) in forms {
        let res = c
            .post(app.url("/api/v1/auth/logout"))
            .header("cookie", &owner)
            .header("sec-fetch-site", "same-origin")
            .header("content-type", ctype)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ctype}");
        let v: serde_json::Value = res.json().await.unwrap();
        assert_eq!(v["error"]["code"], "csrf", "{ctype}");
    }
    let bare = c.post(app.url("/api/v1/auth/logout")).header("cookie", &owner).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN, "no content type at all");
    let deleted = c
        .delete(app.url("/api/v1/admin/stores/alpha/firewall/rules/any"))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::FORBIDDEN, "other methods too");
    // A token of another browser does not help.
    let other = c
        .post(app.url("/api/v1/auth/logout"))
        .header("cookie", &owner)
        .header("x-csrf-token", app.csrf(VISITOR))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    assert!(signed_in(&app, &owner).await, "none of them signed the owner out");
    // An Authorization header exempts a call from these checks only because a form cannot send one; the call is then
    // answered with that credential alone, never with the cookies beside it.
    for auth in ["Bearer nonsense", "Bearer pal_st_nonsense", "Basic b3duZXI6cHc="] {
        let res = c
            .post(app.url("/api/v1/auth/logout"))
            .header("cookie", &owner)
            .header("authorization", auth)
            .header("content-type", "text/plain")
            .body("x=1")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth}");
        let res = c
            .delete(app.url("/api/v1/admin/stores/alpha/firewall/rules/any"))
            .header("cookie", &owner)
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{auth}");
        let me = c.get(app.url("/api/v1/me")).header("cookie", &owner).header("authorization", auth).send();
        assert_eq!(me.await.unwrap().status(), StatusCode::UNAUTHORIZED, "{auth}: reads too");
    }
    assert!(signed_in(&app, &owner).await, "none of them signed the owner out");

    // What the platform's own scripts send (JSON), or the browser's own token, goes through.
    let json = c.post(app.url("/api/v1/auth/logout")).header("cookie", &owner).json(&serde_json::json!({})).send();
    assert_eq!(json.await.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(!signed_in(&app, &owner).await);
    let again = crate::support::login(&app, "owner@alpha.example").await;
    let res = c.post(app.url("/api/v1/auth/logout")).csrf(&app, &again).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Bearer clients and cookie-less calls are not ambient and are not affected.
    let res = c.post(app.url("/api/v1/auth/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn synchronizer_tokens_are_not_taken_from_the_query_string_other_methods_or_text_bodies() {
    let app = TestApp::start().await;
    let (_, _, owner) = owner_of(&app, "alpha").await;
    let c = &app.client;
    let token = app.csrf(&owner);
    let tries = [
        c.post(app.url(&format!("/logout?csrf={token}"))).header("cookie", &owner),
        c.post(app.url("/logout"))
            .header("cookie", &owner)
            .header("content-type", "text/plain")
            .body(format!("csrf={token}")),
        c.post(app.url("/logout?_method=GET")).header("cookie", &owner).header("x-http-method-override", "GET"),
        c.post(app.url("/logout"))
            .header("cookie", &owner)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={}", app.csrf(VISITOR))),
    ];
    for req in tries {
        assert_eq!(req.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    for m in ["TRACE", "PUT", "PATCH", "DELETE"] {
        let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap();
        let res = c.request(method, app.url("/logout")).header("cookie", &owner).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{m}");
    }
    assert!(signed_in(&app, &owner).await, "still signed in");
}

#[tokio::test]
async fn readiness_tells_an_outsider_neither_the_backend_nor_the_cause() {
    let app = TestApp::start().await;
    let ready = app.get("/readyz").await.text().await.unwrap();
    assert!(!ready.contains("sqlite") && !ready.contains("postgres") && !ready.contains("database"), "{ready}");
    app.db.db.close().await;
    let res = app.get("/readyz").await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(body["error"]["message"], "the database is not ready", "no driver error text");
}
