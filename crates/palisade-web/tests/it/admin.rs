use palisade_store::permissions::Permission;
use palisade_store::tenancy::{self, Role};
use palisade_web::routes::admin::backups::ROUTES as BACKUP_ROUTES;
use palisade_web::routes::admin::data_requests::ROUTES as DATA_REQUEST_ROUTES;
use palisade_web::routes::admin::fraud::ROUTES as FRAUD_ROUTES;
use palisade_web::routes::admin::home::ROUTES as HOME_ROUTES;
use palisade_web::routes::admin::merchant::ROUTES as MERCHANT_ROUTES;
use palisade_web::routes::admin::orders::ROUTES as ORDER_ROUTES;
use palisade_web::routes::admin::security_center::ROUTES;
use palisade_web::routes::admin::verification::ROUTES as VERIFICATION_ROUTES;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, VISITOR};
use crate::support::{
    PW, TestApp, forget_recent_passwords, invitation_path, login, owner_of, staff, store_token_from_page,
};

async fn call(app: &TestApp, method: &str, path: &str, cookie: &str) -> reqwest::Response {
    let req = match method {
        "GET" => app.client.get(app.url(path)),
        "DELETE" => app.client.delete(app.url(path)),
        _ if path.starts_with("/api/") => app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("content-type", "application/json")
            .body("{}"),
        _ => app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("role=owner&require=on&email=x%40y.example"),
    };
    req.csrf(app, cookie).send().await.unwrap()
}

/// A route to walk: method, path template, the permission it needs (`None`: any member of the store).
type Route = (String, String, Option<Permission>);

/// The JSON admin routes as the served OpenAPI document declares them (`x-permission`): the same declarations
/// the `/api` router is built from, so a route cannot escape the walk.
async fn json_admin_routes(app: &TestApp) -> Vec<Route> {
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/admin/") {
            continue;
        }
        assert!(path.starts_with("/api/v1/admin/stores/{store}"), "{path}: admin routes belong to a store");
        for (method, op) in item.as_object().unwrap() {
            let declared = op["x-permission"].as_str().unwrap_or_else(|| panic!("{method} {path} has x-permission"));
            if declared == "app" {
                continue; // an installed app's own route (its token renewal): walked in `apps`
            }
            let permission = match declared {
                "member" => None,
                key => {
                    Some(Permission::parse(key).unwrap_or_else(|| panic!("{method} {path}: `{key}` is a permission")))
                }
            };
            routes.push((method.to_uppercase(), path.clone(), permission));
        }
    }
    assert!(routes.len() >= 30, "the JSON admin routes are found in the document ({})", routes.len());
    routes
}

/// The HTML admin routes (their lists) and the JSON admin routes (their declarations).
async fn admin_routes(app: &TestApp) -> Vec<Route> {
    let html = ROUTES
        .iter()
        .chain(MERCHANT_ROUTES)
        .chain(ORDER_ROUTES)
        .chain(HOME_ROUTES)
        .chain(BACKUP_ROUTES)
        .chain(FRAUD_ROUTES)
        .chain(DATA_REQUEST_ROUTES)
        .chain(VERIFICATION_ROUTES);
    let mut all: Vec<Route> = html.map(|(m, p, perm)| ((*m).to_owned(), (*p).to_owned(), *perm)).collect();
    all.extend(json_admin_routes(app).await);
    all
}

/// Fills a route template's segments: the store, a staff account, and a made-up id for everything else.
fn fill(template: &str, store: &str, account: &str, other: &str) -> String {
    let mut path = template.replace("{store}", store).replace("{account}", account);
    for p in [
        "{token}",
        "{invitation}",
        "{product}",
        "{image}",
        "{variant}",
        "{order}",
        "{dispute}",
        "{rule}",
        "{export}",
        "{name}",
        "{module}",
        "{request}",
        "{scan}",
        "{file}",
        "{finding}",
        "{thread}",
    ] {
        path = path.replace(p, other);
    }
    path
}

/// Every admin route, called by a staff member who lacks its permission, is refused with 403.
#[tokio::test]
async fn every_admin_route_checks_its_permission() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let clerk = staff("clerk@alpha.example").member_of(&app, &scope, Role::Staff).await;
    let target = staff("target@alpha.example").member_of(&app, &scope, Role::Staff).await;
    let clerk_cookie = login(&app, &clerk.email).await;
    let mut checked = 0;
    for (method, template, permission) in &admin_routes(&app).await {
        let method = method.as_str();
        let nil = "0190a0a0-0000-7000-8000-000000000000";
        let path = fill(template, &s.id.to_string(), &target.id.to_string(), nil);
        let res = call(&app, method, &path, &clerk_cookie).await;
        match permission {
            Some(p) if !palisade_store::permissions::Permission::defaults(Role::Staff).contains(p) => {
                assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path} must need {p:?}");
                checked += 1;
            }
            _ => assert_ne!(res.status(), StatusCode::FORBIDDEN, "{method} {path} is open to every member"),
        }
        // Pages about one record (a made-up id here) answer 404 even to the owner.
        if method == "GET" && !path.contains(nil) {
            let res = call(&app, method, &path, &owner_cookie).await;
            assert_eq!(res.status(), StatusCode::OK, "owner may {method} {path}");
        }
    }
    assert!(checked >= 25, "{checked} refusals checked");
    // Nothing changed behind the refusals.
    let members = tenancy::list_members(&app.db, &scope).await.unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.iter().all(|m| m.role != Role::Owner || m.email.starts_with("owner@")));
}

#[tokio::test]
async fn members_of_one_store_cannot_reach_another() {
    let app = TestApp::start().await;
    let (_a, _sa, a_cookie) = owner_of(&app, "alpha").await;
    let (b, sb, _) = owner_of(&app, "bravo").await;
    let before = tenancy::get_store(&app.db, &sb).await.unwrap();
    for (method, template, _) in &admin_routes(&app).await {
        let path = fill(template, &b.id.to_string(), &before.id.to_string(), "x");
        let res = call(&app, method, &path, &a_cookie).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path} from another store's owner");
    }
    let by_slug = call(&app, "GET", "/admin/stores/bravo/security", &a_cookie).await;
    assert_eq!(by_slug.status(), StatusCode::NOT_FOUND);
    assert_eq!(tenancy::get_store(&app.db, &sb).await.unwrap().updated_at, before.updated_at);
}

/// The JSON admin routes from their declarations: a store token holding one permission gets 403 on every route
/// needing another (and not on its own or on member routes); an account that is no member gets 404 (membership is
/// not revealed); no credentials get 401.
#[tokio::test]
async fn every_json_admin_route_enforces_its_declared_permission_for_tokens_outsiders_and_strangers() {
    let app = TestApp::start().await;
    let (s, _scope, owner_cookie) = owner_of(&app, "alpha").await;
    let (_b, b_scope, _) = owner_of(&app, "bravo").await;
    let (_, outsider_cookie) = staff("outsider@bravo.example").signed_in_member(&app, &b_scope, Role::Staff).await;
    let token =
        store_token_from_page(&app, s.id, &owner_cookie, "name=Theme+sync&permission=theme&expires_days=30").await;
    let mut refused = 0;
    for (method, template, permission) in json_admin_routes(&app).await {
        // Account ids are typed in paths like every other id: a well-formed one of nobody reaches the permission check.
        let nil = "0190a0a0-0000-7000-8000-000000000000";
        let path = fill(&template, &s.id.to_string(), nil, nil);
        let body = if method == "GET" || method == "DELETE" { "" } else { "{}" };
        let send = |req: reqwest::RequestBuilder| req.header("content-type", "application/json").body(body).send();
        let url = app.url(&path);
        let m: reqwest::Method = method.parse().unwrap();

        let by_token = send(app.client.request(m.clone(), &url).bearer_auth(&token)).await.unwrap();
        if permission.is_none_or(|p| p == Permission::Theme) {
            assert_ne!(by_token.status(), StatusCode::FORBIDDEN, "{method} {path} is open to a theme token");
        } else {
            assert_eq!(by_token.status(), StatusCode::FORBIDDEN, "{method} {path} needs {permission:?}");
            assert_eq!(by_token.json::<Value>().await.unwrap()["error"]["code"], "forbidden");
            refused += 1;
        }
        let by_outsider = call(&app, &method, &path, &outsider_cookie).await;
        assert_eq!(by_outsider.status(), StatusCode::NOT_FOUND, "{method} {path} from a member of another store");
        let anonymous = send(app.client.request(m, &url)).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED, "{method} {path} without credentials");
    }
    assert!(refused >= 20, "{refused} refusals");
}

#[tokio::test]
async fn required_mfa_shuts_out_members_without_it_after_the_grace_period() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let (_, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let page = format!("/admin/stores/{}/security", s.id);
    let res = app
        .client
        .post(app.url(&format!("{page}/mfa-policy")))
        .csrf(&app, &owner_cookie)
        .form(&[("require", "on"), ("grace_days", "3")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let during = call(&app, "GET", &page, &clerk_cookie).await;
    assert_eq!(during.status(), 200);
    assert!(during.text().await.unwrap().contains("requires two-step verification"), "grace banner");
    palisade_identity::policy::set(
        &app.db,
        &scope,
        palisade_identity::policy::StaffMfa::Required,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    let after = call(&app, "GET", &page, &clerk_cookie).await;
    assert_eq!(after.status(), 303);
    assert!(after.headers()["location"].to_str().unwrap().starts_with("/account"));
    let api = call(&app, "GET", &format!("/api/v1/admin/stores/{}/security/controls", s.id), &clerk_cookie).await;
    assert_eq!(api.status(), 403);
    assert_eq!(api.json::<Value>().await.unwrap()["error"]["code"], "mfa_required");
    let controls: Value = call(&app, "GET", &format!("/api/v1/admin/stores/{}/security/controls", s.id), &owner_cookie)
        .await
        .json()
        .await
        .ok()
        .unwrap_or(Value::Null);
    let _ = controls;
}

#[tokio::test]
async fn changing_the_policy_needs_a_recent_password() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    forget_recent_passwords(&app).await;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/mfa-policy", s.id)))
        .csrf(&app, &owner_cookie)
        .form(&[("require", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/account/reauth"));
    assert!(!palisade_identity::policy::get(&app.db, &scope).await.unwrap().require_staff_mfa);
}

#[tokio::test]
async fn removing_a_member_ends_their_sessions() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let (clerk, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    assert_eq!(call(&app, "GET", "/account", &clerk_cookie).await.status(), 200);
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/staff/{}/remove", s.id, clerk.id)))
        .csrf(&app, &owner_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(call(&app, "GET", "/account", &clerk_cookie).await.status(), 303, "signed out");
    let events = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    assert!(events.iter().any(|e| e.action == "member.removed"));
}

#[tokio::test]
async fn an_invitation_link_creates_the_member_once() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/staff/invite", s.id)))
        .csrf(&app, &owner_cookie)
        .form(&[("email", "newbie@alpha.example"), ("role", "admin")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let path = &invitation_path(&app, "newbie@alpha.example").await;
    let page = app.get(path).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Join Store alpha"));
    let weak = app
        .client
        .post(app.url(path))
        .csrf(&app, VISITOR)
        .form(&[("name", "New Bie"), ("password", "password1234")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422, "password policy applies");
    let ok = app
        .client
        .post(app.url(path))
        .csrf(&app, VISITOR)
        .form(&[("name", "New Bie"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 303);
    let members = tenancy::list_members(&app.db, &scope).await.unwrap();
    assert!(members.iter().any(|m| m.email == "newbie@alpha.example" && m.role == Role::Admin));
    let again = app
        .client
        .post(app.url(path))
        .csrf(&app, VISITOR)
        .form(&[("name", "Evil"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 403, "single use");
    assert_eq!(app.get(path).await.status(), 404);
    login(&app, "newbie@alpha.example").await;
}

#[tokio::test]
async fn store_api_tokens_are_scoped_audited_and_revocable() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let (b, _, _) = owner_of(&app, "bravo").await;
    let token = store_token_from_page(
        &app,
        s.id,
        &owner_cookie,
        "name=Accounting+sync&permission=orders&permission=products&expires_days=30",
    )
    .await;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(&token)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0, "only the hash is kept");

    let get = |path: String| app.client.get(app.url(&path)).bearer_auth(&token).send();
    let ok = get(format!("/api/v1/admin/stores/{}/security/controls", s.id)).await.unwrap();
    assert_eq!(ok.status(), 200);
    let staff = get(format!("/api/v1/admin/stores/{}/staff", s.id)).await.unwrap();
    assert_eq!(staff.status(), 403, "the token was not given staff management");
    let other = get(format!("/api/v1/admin/stores/{}/security/controls", b.id)).await.unwrap();
    assert_eq!(other.status(), 404, "another store is out of reach");
    let events = palisade_store::audit::list_store(&app.db, &scope, 100).await.unwrap();
    assert!(events.iter().filter(|e| e.action == "api_token.used").count() >= 2, "every use is audited");
    let listed = palisade_store::tokens::list_store(&app.db, &scope).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());
    assert!(listed[0].expires_at.is_some());

    let revoke = app
        .client
        .post(app.url(&format!("/admin/stores/{}/tokens/{}/revoke", s.id, listed[0].id)))
        .csrf(&app, &owner_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 303);
    let dead = get(format!("/api/v1/admin/stores/{}/security/controls", s.id)).await.unwrap();
    assert_eq!(dead.status(), 401);
    assert_eq!(dead.json::<Value>().await.unwrap()["error"]["code"], "unauthenticated");
}

/// The payouts page and the payouts API share one rule: a person (not a token) who entered their password in the
/// last few minutes. The page sends a stale session to re-enter it; the API answers 403 with a code saying which.
#[tokio::test]
async fn payouts_need_a_person_with_a_recent_password_on_the_page_and_the_api_alike() {
    let app = TestApp::start().await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let api = format!("/api/v1/admin/stores/{}/payouts", s.id);
    let page = format!("/admin/stores/{}/payouts", s.id);
    let api_payout = |req: reqwest::RequestBuilder| {
        req.header("content-type", "application/json").body(r#"{"amount_minor": 100}"#).send()
    };
    let page_payout = || {
        app.client
            .post(app.url(&page))
            .csrf(&app, &owner_cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("amount=1.00")
            .send()
    };

    // Fresh password: both get past the rule to the ledger, which has nothing to pay out.
    let fresh = api_payout(app.client.post(app.url(&api)).csrf(&app, &owner_cookie)).await.unwrap();
    let body: Value = fresh.json().await.unwrap();
    assert!(!["step_up_required", "interactive_only"].contains(&body["error"]["code"].as_str().unwrap()), "{body}");
    let res = page_payout().await.unwrap();
    assert!(res.status().is_client_error(), "{}", res.status());

    // A store token with the payouts permission is not a person.
    let token = store_token_from_page(&app, s.id, &owner_cookie, "name=Books&permission=payouts&expires_days=30").await;
    let by_token = api_payout(app.client.post(app.url(&api)).bearer_auth(&token)).await.unwrap();
    assert_eq!(by_token.status(), StatusCode::FORBIDDEN);
    assert_eq!(by_token.json::<Value>().await.unwrap()["error"]["code"], "interactive_only");

    // A stale password: the API says so, the page sends the person to re-enter it.
    forget_recent_passwords(&app).await;
    let stale = api_payout(app.client.post(app.url(&api)).csrf(&app, &owner_cookie)).await.unwrap();
    assert_eq!(stale.status(), StatusCode::FORBIDDEN);
    assert_eq!(stale.json::<Value>().await.unwrap()["error"]["code"], "step_up_required");
    let res = page_payout().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"].to_str().unwrap(), format!("/account/reauth?next={page}"));
    assert!(palisade_commerce::payouts::list(&app.db, &scope).await.unwrap().is_empty());
}

/// Every route with a raised body limit is gated before its body by exactly the permission its declaration names
/// (admin route tables and the API's `x-permission`), and nothing else is: the upload gate's list and the routes'
/// declarations cannot drift apart.
#[test]
fn the_upload_gate_asks_each_upload_route_for_its_declared_permission() {
    use palisade_web::http::access::upload_permission;
    use palisade_web::http::layers::body_limit;
    let concrete = |pattern: &str| {
        pattern.split('/').map(|s| if s.starts_with('{') { "x1" } else { s }).collect::<Vec<_>>().join("/")
    };
    const DEFAULT: usize = 64 * 1024;
    let mut uploads = 0;
    let tables = [MERCHANT_ROUTES, BACKUP_ROUTES, ROUTES, ORDER_ROUTES, FRAUD_ROUTES, HOME_ROUTES, DATA_REQUEST_ROUTES];
    for (method, pattern, permission) in tables.iter().flat_map(|t| t.iter()) {
        let method: axum::http::Method = method.parse().unwrap();
        let path = concrete(pattern);
        let gated = upload_permission(&method, &path);
        if body_limit(&method, &path, DEFAULT) > DEFAULT {
            uploads += 1;
            assert!(permission.is_some(), "{method} {pattern}: an upload route must need a permission");
            assert_eq!(gated, *permission, "{method} {pattern}");
        } else {
            assert_eq!(gated, None, "{method} {pattern}: gated but not an upload route");
        }
    }
    let doc = palisade_web::routes::api::declarations::document();
    for (pattern, item) in &doc.paths.paths {
        for (method, op) in [("POST", &item.post), ("PUT", &item.put), ("PATCH", &item.patch)] {
            let Some(op) = op else { continue };
            let method: axum::http::Method = method.parse().unwrap();
            let path = concrete(pattern);
            let gated = upload_permission(&method, &path);
            if body_limit(&method, &path, DEFAULT) > DEFAULT {
                uploads += 1;
                let declared = palisade_web::routes::api::declarations::permission_of(op);
                assert_eq!(gated.map(Permission::key), declared, "{method} {pattern}");
            } else {
                assert_eq!(gated, None, "{method} {pattern}");
            }
        }
    }
    assert!(uploads >= 4, "archive, CSV import, admin and API image uploads: {uploads}");
}
