//! The JSON staff, invitation, API token and session routes: the same rules as the Security Center and the
//! account page (they call the same services), on both backends.

use palisade_store::tenancy::{self, Role};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Csrf as _, TestApp, forget_recent_passwords, invitation_path, login, owner_of, staff};

/// A JSON call with a session cookie (the `x-csrf-token` header too, as a script may send; JSON alone passes).
async fn call(app: &TestApp, method: &str, path: &str, cookie: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path)).csrf(app, cookie);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

#[tokio::test]
async fn an_owner_lists_changes_and_removes_staff() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let (clerk, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let base = format!("/api/v1/admin/stores/{}/staff", s.id);

    let list = call(&app, "GET", &base, &owner, None).await;
    assert_eq!(list.status(), StatusCode::OK);
    let list = json_of(list).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let row = list.as_array().unwrap().iter().find(|m| m["email"] == "clerk@alpha.example").unwrap();
    assert_eq!(row["role"], "staff");
    assert_eq!(row["account_id"], clerk.id.to_string());

    let res = call(&app, "PUT", &format!("{base}/{}/role", clerk.id), &owner, Some(json!({"role": "admin"}))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let changed = json_of(res).await;
    assert_eq!(changed["role"], "admin");
    assert!(changed["permissions"].as_array().unwrap().contains(&json!("staff_management")));

    let res = call(&app, "PUT", &format!("{base}/{}/role", clerk.id), &owner, Some(json!({"role": "boss"}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "an unknown role is invalid input");

    let res = call(&app, "PUT", &format!("{base}/{}/role", clerk.id), &owner, Some(json!({"role": "staff"}))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = call(
        &app,
        "PUT",
        &format!("{base}/{}/permissions", clerk.id),
        &owner,
        Some(json!({"permissions": ["refunds"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json_of(res).await["permissions"].as_array().unwrap().contains(&json!("refunds")));
    let res =
        call(&app, "PUT", &format!("{base}/{}/permissions", clerk.id), &owner, Some(json!({"permissions": ["root"]})))
            .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "an unknown permission is refused, not dropped");

    assert_eq!(call(&app, "GET", "/api/v1/me", &clerk_cookie, None).await.status(), StatusCode::OK);
    let res = call(&app, "DELETE", &format!("{base}/{}", clerk.id), &owner, None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(json_of(call(&app, "GET", &base, &owner, None).await).await.as_array().unwrap().len(), 1);
    assert_eq!(
        call(&app, "GET", "/api/v1/me", &clerk_cookie, None).await.status(),
        StatusCode::UNAUTHORIZED,
        "a removed member is signed out"
    );
    let res = call(&app, "DELETE", &format!("{base}/{}", clerk.id), &owner, None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "no longer a member");

    let actions: Vec<String> =
        palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.iter().any(|a| a == "member.role_changed"));
    assert!(actions.iter().any(|a| a == "member.removed"));
}

#[tokio::test]
async fn the_last_owner_stays_and_nobody_raises_themselves() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let owner_id = tenancy::list_members(&app.db, &scope).await.unwrap()[0].account_id;
    let (admin, admin_cookie) = staff("admin@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let base = format!("/api/v1/admin/stores/{}/staff", s.id);

    let res =
        call(&app, "PUT", &format!("{base}/{}/role", admin.id), &admin_cookie, Some(json!({"role": "owner"}))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "an admin cannot make themselves owner");
    let res = call(&app, "DELETE", &format!("{base}/{owner_id}"), &admin_cookie, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "only owners remove owners");
    let res =
        call(&app, "PUT", &format!("{base}/{owner_id}/role"), &admin_cookie, Some(json!({"role": "staff"}))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "only owners demote owners");
    let res = call(&app, "DELETE", &format!("{base}/{owner_id}"), &owner, None).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "the last owner cannot leave");
    let res = call(&app, "PUT", &format!("{base}/{owner_id}/role"), &owner, Some(json!({"role": "admin"}))).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "the last owner cannot step down");
    let members = tenancy::list_members(&app.db, &scope).await.unwrap();
    assert_eq!(members.iter().filter(|m| m.role == Role::Owner).count(), 1);
    assert_eq!(members.iter().find(|m| m.account_id == admin.id).unwrap().role, Role::Admin);
}

#[tokio::test]
async fn a_member_without_staff_management_cannot_manage_staff() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let clerk = staff("clerk@alpha.example").member_of(&app, &scope, Role::Staff).await;
    let other = staff("other@alpha.example").member_of(&app, &scope, Role::Staff).await;
    let clerk_cookie = login(&app, &clerk.email).await;
    let store = format!("/api/v1/admin/stores/{}", s.id);
    for (method, path, body) in [
        ("GET", format!("{store}/staff"), None),
        ("PUT", format!("{store}/staff/{}/role", other.id), Some(json!({"role": "staff"}))),
        ("PUT", format!("{store}/staff/{}/role", clerk.id), Some(json!({"role": "owner"}))),
        ("PUT", format!("{store}/staff/{}/permissions", clerk.id), Some(json!({"permissions": ["payouts"]}))),
        ("DELETE", format!("{store}/staff/{}", other.id), None),
        ("GET", format!("{store}/invitations"), None),
        ("POST", format!("{store}/invitations"), Some(json!({"email": "x@alpha.example", "role": "owner"}))),
        ("GET", format!("{store}/tokens"), None),
        ("POST", format!("{store}/tokens"), Some(json!({"name": "x", "scopes": ["orders"]}))),
    ] {
        let res = call(&app, method, &path, &clerk_cookie, body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(json_of(res).await["error"]["code"], "forbidden", "{method} {path}");
    }
    let members = tenancy::list_members(&app.db, &scope).await.unwrap();
    assert!(members.iter().all(|m| m.account_id == members[0].account_id || m.role == Role::Staff));
    assert!(palisade_identity::invitations::list_pending(&app.db, &scope).await.unwrap().is_empty());
    assert!(palisade_store::tokens::list_store(&app.db, &scope).await.unwrap().is_empty());
}

#[tokio::test]
async fn staff_of_one_store_cannot_reach_another_stores_staff_invitations_or_tokens() {
    let app = TestApp::start().await;
    let (_, _, a_owner) = owner_of(&app, "alpha").await;
    let (b, sb, b_owner) = owner_of(&app, "bravo").await;
    let b_clerk = staff("clerk@bravo.example").member_of(&app, &sb, Role::Staff).await;
    // Bravo has an invitation and a token that alpha's owner will try to see and withdraw.
    let res = call(
        &app,
        "POST",
        &format!("/api/v1/admin/stores/{}/invitations", b.id),
        &b_owner,
        Some(json!({"email": "new@bravo.example", "role": "staff"})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let inv = json_of(res).await["id"].as_str().unwrap().to_owned();
    let res = call(
        &app,
        "POST",
        &format!("/api/v1/admin/stores/{}/tokens", b.id),
        &b_owner,
        Some(json!({"name": "Sync", "scopes": ["orders"]})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let tok = json_of(res).await["token"]["id"].as_str().unwrap().to_owned();

    for key in [b.id.to_string(), "bravo".to_owned()] {
        let store = format!("/api/v1/admin/stores/{key}");
        for (method, path, body) in [
            ("GET", format!("{store}/staff"), None),
            ("PUT", format!("{store}/staff/{}/role", b_clerk.id), Some(json!({"role": "admin"}))),
            ("PUT", format!("{store}/staff/{}/permissions", b_clerk.id), Some(json!({"permissions": []}))),
            ("DELETE", format!("{store}/staff/{}", b_clerk.id), None),
            ("GET", format!("{store}/invitations"), None),
            ("POST", format!("{store}/invitations"), Some(json!({"email": "spy@alpha.example", "role": "owner"}))),
            ("DELETE", format!("{store}/invitations/{inv}"), None),
            ("GET", format!("{store}/tokens"), None),
            ("POST", format!("{store}/tokens"), Some(json!({"name": "Spy", "scopes": ["orders"]}))),
            ("DELETE", format!("{store}/tokens/{tok}"), None),
        ] {
            let res = call(&app, method, &path, &a_owner, body).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path} from another store's owner");
        }
    }
    // Alpha's own routes do not reach bravo's records by id either.
    let a = tenancy::store_id_by_slug(&app.db, "alpha").await.unwrap().unwrap();
    for path in [
        format!("/api/v1/admin/stores/{a}/invitations/{inv}"),
        format!("/api/v1/admin/stores/{a}/tokens/{tok}"),
        format!("/api/v1/admin/stores/{a}/staff/{}", b_clerk.id),
    ] {
        assert_eq!(call(&app, "DELETE", &path, &a_owner, None).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(palisade_identity::invitations::list_pending(&app.db, &sb).await.unwrap().len(), 1);
    assert_eq!(palisade_store::tokens::list_store(&app.db, &sb).await.unwrap().len(), 1);
    assert_eq!(tenancy::list_members(&app.db, &sb).await.unwrap().len(), 2);
}

#[tokio::test]
async fn invitations_are_sent_listed_and_withdrawn() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let base = format!("/api/v1/admin/stores/{}/invitations", s.id);
    let res = call(&app, "POST", &base, &owner, Some(json!({"email": "sam@alpha.example", "role": "staff"}))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let sent = json_of(res).await;
    assert_eq!(sent["email"], "sam@alpha.example");
    assert_eq!(sent["role"], "staff");
    let path = invitation_path(&app, "sam@alpha.example").await;
    let secret = path.trim_start_matches("/invitations/");
    assert!(!sent.to_string().contains(secret), "the link is only in the invitee's mail");
    assert_eq!(app.get(&path).await.status(), StatusCode::OK);

    let res = call(&app, "POST", &base, &owner, Some(json!({"email": "not an email", "role": "staff"}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = call(&app, "POST", &base, &owner, Some(json!({"email": "x@alpha.example"}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "a missing role is invalid input");

    let listed = json_of(call(&app, "GET", &base, &owner, None).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], sent["id"]);
    assert!(!listed.to_string().contains(secret));

    let id = sent["id"].as_str().unwrap();
    assert_eq!(call(&app, "DELETE", &format!("{base}/{id}"), &owner, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "DELETE", &format!("{base}/{id}"), &owner, None).await.status(), StatusCode::NOT_FOUND);
    assert!(json_of(call(&app, "GET", &base, &owner, None).await).await.as_array().unwrap().is_empty());
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND, "a withdrawn link no longer works");
    let events = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    assert!(events.iter().any(|e| e.action == "invitation.revoked"));
    assert!(events.iter().all(|e| !e.details.contains(secret)));
}

/// An admin may invite staff but not owners, and may not withdraw an owner's invitation of an owner.
#[tokio::test]
async fn invitations_are_held_to_the_grant_rules() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let (_, admin_cookie) = staff("admin@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let base = format!("/api/v1/admin/stores/{}/invitations", s.id);
    let res =
        call(&app, "POST", &base, &admin_cookie, Some(json!({"email": "o@alpha.example", "role": "owner"}))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = call(&app, "POST", &base, &owner, Some(json!({"email": "o@alpha.example", "role": "owner"}))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = json_of(res).await["id"].as_str().unwrap().to_owned();
    let res = call(&app, "DELETE", &format!("{base}/{id}"), &admin_cookie, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(palisade_identity::invitations::list_pending(&app.db, &scope).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_created_token_is_shown_once_works_and_is_revocable() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let base = format!("/api/v1/admin/stores/{}/tokens", s.id);
    let res = call(
        &app,
        "POST",
        &base,
        &owner,
        Some(json!({"name": "Ops script", "scopes": ["security_settings", "orders"], "expires_days": 30})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let created = json_of(res).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pal_st_"));
    assert_eq!(created["token"]["name"], "Ops script");
    assert!(created["token"]["expires_at"].is_number());
    let id = created["token"]["id"].as_str().unwrap().to_owned();

    // The secret works, as a bearer token with the scopes it was given.
    let bearer = |method: &str, path: &str| {
        app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(&secret).send()
    };
    let listed = bearer("GET", &base).await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = listed.text().await.unwrap();
    assert!(listed.contains(&id));
    assert!(!listed.contains(&secret), "a listing never holds a secret");
    let by_owner = call(&app, "GET", &base, &owner, None).await.text().await.unwrap();
    assert!(!by_owner.contains(&secret) && !by_owner.contains("\"secret\""));
    assert_eq!(bearer("GET", &format!("/api/v1/admin/stores/{}/staff", s.id)).await.unwrap().status(), 403);

    // A token cannot mint tokens (nor manage staff): that takes a person who entered their password.
    let res = app
        .client
        .post(app.url(&base))
        .bearer_auth(&secret)
        .json(&json!({"name": "Child", "scopes": ["orders"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(res).await["error"]["code"], "interactive_only");

    // Nobody is given more than they hold, and an unknown scope is refused.
    let res = call(&app, "POST", &base, &owner, Some(json!({"name": "Bad", "scopes": ["everything"]}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = call(&app, "POST", &base, &owner, Some(json!({"name": "", "scopes": ["orders"]}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The secret is in no audit event (nor any stored column).
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE details LIKE $1 OR target LIKE $1")
        .bind(format!("%{}%", &secret[7..]))
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0);
    let events = palisade_store::audit::list_store(&app.db, &scope, 50).await.unwrap();
    assert!(events.iter().any(|e| e.action == "api_token.issued"));

    assert_eq!(call(&app, "DELETE", &format!("{base}/{id}"), &owner, None).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(bearer("GET", &base).await.unwrap().status(), StatusCode::UNAUTHORIZED, "revoked");
    assert_eq!(call(&app, "DELETE", &format!("{base}/{id}"), &owner, None).await.status(), StatusCode::NOT_FOUND);
    assert!(json_of(call(&app, "GET", &base, &owner, None).await).await.as_array().unwrap().is_empty());
}

/// A token never holds more than its creator: an admin's token cannot carry payouts.
#[tokio::test]
async fn a_token_holds_no_more_than_its_creator() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let (_, admin_cookie) = staff("admin@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let base = format!("/api/v1/admin/stores/{}/tokens", s.id);
    let res = call(&app, "POST", &base, &admin_cookie, Some(json!({"name": "Books", "scopes": ["payouts"]}))).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res =
        call(&app, "POST", &base, &admin_cookie, Some(json!({"name": "Books", "scopes": ["payouts", "orders"]}))).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(json_of(res).await["token"]["scopes"], json!(["orders"]));
}

/// Changes need a password entered within the last 10 minutes, as on the page.
#[tokio::test]
async fn staff_changes_need_a_recent_password() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let clerk = staff("clerk@alpha.example").member_of(&app, &scope, Role::Staff).await;
    forget_recent_passwords(&app).await;
    let store = format!("/api/v1/admin/stores/{}", s.id);
    let res =
        call(&app, "PUT", &format!("{store}/staff/{}/role", clerk.id), &owner, Some(json!({"role": "admin"}))).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(res).await["error"]["code"], "step_up_required");
    let res =
        call(&app, "POST", &format!("{store}/tokens"), &owner, Some(json!({"name": "x", "scopes": ["orders"]}))).await;
    assert_eq!(json_of(res).await["error"]["code"], "step_up_required");
    assert_eq!(
        call(&app, "GET", &format!("{store}/staff"), &owner, None).await.status(),
        StatusCode::OK,
        "reading is fine"
    );
    assert_eq!(
        tenancy::list_members(&app.db, &scope).await.unwrap().iter().filter(|m| m.role == Role::Admin).count(),
        0
    );
}

#[tokio::test]
async fn a_person_lists_and_ends_only_their_own_sessions() {
    let app = TestApp::start().await;
    let (_, scope, owner) = owner_of(&app, "alpha").await;
    let laptop = login(&app, "owner@alpha.example").await;
    let phone = login(&app, "owner@alpha.example").await;
    let (_, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;

    let res = call(&app, "GET", "/api/v1/account/sessions", &owner, None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let mine = json_of(res).await;
    let mine = mine.as_array().unwrap();
    assert_eq!(mine.len(), 3);
    assert_eq!(mine.iter().filter(|s| s["current"] == true).count(), 1);
    let clerk_sessions = json_of(call(&app, "GET", "/api/v1/account/sessions", &clerk_cookie, None).await).await;
    let clerk_session = clerk_sessions[0]["id"].as_str().unwrap().to_owned();
    assert!(mine.iter().all(|s| s["id"] != clerk_session.as_str()));

    // Another account's session id is not found, and that session goes on working.
    let res = call(&app, "DELETE", &format!("/api/v1/account/sessions/{clerk_session}"), &owner, None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "GET", "/api/v1/me", &clerk_cookie, None).await.status(), StatusCode::OK);

    // One of my own: the laptop's (listed as not current from the phone).
    let from_phone = json_of(call(&app, "GET", "/api/v1/account/sessions", &phone, None).await).await;
    let laptop_id = {
        let laptop_list = json_of(call(&app, "GET", "/api/v1/account/sessions", &laptop, None).await).await;
        laptop_list.as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(from_phone.as_array().unwrap().iter().any(|s| s["id"] == laptop_id.as_str() && s["current"] == false));
    let res = call(&app, "DELETE", &format!("/api/v1/account/sessions/{laptop_id}"), &phone, None).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "GET", "/api/v1/me", &laptop, None).await.status(), StatusCode::UNAUTHORIZED);

    let res = call(&app, "POST", "/api/v1/account/sessions/revoke-others", &phone, Some(json!({}))).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json_of(res).await["revoked"], 1);
    assert_eq!(call(&app, "GET", "/api/v1/me", &owner, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(call(&app, "GET", "/api/v1/me", &phone, None).await.status(), StatusCode::OK);
    assert_eq!(call(&app, "GET", "/api/v1/me", &clerk_cookie, None).await.status(), StatusCode::OK, "not the clerk's");
    assert_eq!(
        call(&app, "GET", "/api/v1/account/sessions", "", None).await.status(),
        StatusCode::UNAUTHORIZED,
        "signed in only"
    );
}

#[tokio::test]
async fn the_document_lists_the_new_routes_with_their_permission() {
    let app = TestApp::start().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    for (method, path, permission) in [
        ("get", "/api/v1/admin/stores/{store}/staff", "staff_management"),
        ("put", "/api/v1/admin/stores/{store}/staff/{account}/role", "staff_management"),
        ("put", "/api/v1/admin/stores/{store}/staff/{account}/permissions", "staff_management"),
        ("delete", "/api/v1/admin/stores/{store}/staff/{account}", "staff_management"),
        ("get", "/api/v1/admin/stores/{store}/invitations", "staff_management"),
        ("post", "/api/v1/admin/stores/{store}/invitations", "staff_management"),
        ("delete", "/api/v1/admin/stores/{store}/invitations/{invitation}", "staff_management"),
        ("get", "/api/v1/admin/stores/{store}/tokens", "security_settings"),
        ("post", "/api/v1/admin/stores/{store}/tokens", "security_settings"),
        ("delete", "/api/v1/admin/stores/{store}/tokens/{token}", "security_settings"),
        ("get", "/api/v1/account/sessions", "signed-in"),
        ("delete", "/api/v1/account/sessions/{session}", "signed-in"),
        ("post", "/api/v1/account/sessions/revoke-others", "signed-in"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["x-permission"], permission, "{method} {path}");
    }
    let schemas = &doc["components"]["schemas"];
    for name in ["StaffMember", "Invitation", "ApiToken", "CreatedToken", "SessionInfo"] {
        assert!(schemas[name].is_object(), "schema {name}");
    }
    assert!(schemas["ApiToken"]["properties"].get("secret").is_none(), "a listed token has no secret");
    let create = &doc["paths"]["/api/v1/admin/stores/{store}/tokens"]["post"];
    assert_eq!(
        create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/CreatedToken"
    );
}

/// The Security Center lists pending invitations and withdraws them through the same function as the API.
#[tokio::test]
async fn the_page_lists_and_withdraws_invitations() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let res = call(
        &app,
        "POST",
        &format!("/api/v1/admin/stores/{}/invitations", s.id),
        &owner,
        Some(json!({"email": "pat@alpha.example", "role": "staff"})),
    )
    .await;
    let id = json_of(res).await["id"].as_str().unwrap().to_owned();
    let page = app
        .client
        .get(app.url(&format!("/admin/stores/{}/security/staff", s.id)))
        .header("cookie", &owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("pat@alpha.example") && page.contains(&format!("/staff/invitations/{id}/revoke")));
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/staff/invitations/{id}/revoke", s.id)))
        .csrf(&app, &owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(palisade_identity::invitations::list_pending(&app.db, &scope).await.unwrap().is_empty());
}
