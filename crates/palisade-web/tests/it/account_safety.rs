//! Password re-entry is throttled like sign-in; API tokens pass the same gates as their creator's sessions;
//! malformed invitation links are a clear 404.

use palisade_store::permissions::Permission;
use palisade_store::scope::StoreScope;
use palisade_store::tenancy::{self, Role};
use serde_json::Value;

use crate::support::{Csrf, TestApp, VISITOR, owner_of, staff};

#[tokio::test]
async fn password_re_entry_is_throttled_and_counted_like_sign_in() {
    let app = TestApp::start().await;
    let (_, scope, cookie) = owner_of(&app, "alpha").await;
    let owner = tenancy::list_members(&app.db, &scope).await.unwrap().remove(0);
    let reauth = |password: &'static str| {
        app.client
            .post(app.url("/account/reauth"))
            .csrf(&app, &cookie)
            .form(&[("password", password), ("next", "/account")])
            .send()
    };
    for _ in 0..4 {
        assert_eq!(reauth("not my password").await.unwrap().status(), 401);
    }
    // The 4th failure blocks for a second: the right password is refused unchecked, as at sign-in.
    let res = reauth(crate::support::PW).await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers().contains_key("retry-after"));
    let signin = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", owner.email.as_str()), ("password", crate::support::PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(signin.status(), 429, "the failures count toward the same account lock");
    let key = palisade_identity::throttle::account_key(app.identity().links(), &owner.email);
    let (failures,): (i64,) = sqlx::query_as("SELECT failures FROM login_throttle WHERE key = $1")
        .bind(key)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(failures, 4);
    // The throttle holds a keyed hash, never the address.
    let (plain,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM login_throttle WHERE key LIKE '%@%'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(plain, 0);
}

#[tokio::test]
async fn tokens_pass_the_same_gates_as_their_creators_sessions() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    // Only ever acts through the token below: no password.
    let admin =
        staff("admin@alpha.example").named("Admin").without_password().member_of(&app, &scope, Role::Admin).await;
    let (_, secret) = palisade_store::tokens::issue_store(
        &app.db,
        &StoreScope::system(s.id, "test"),
        admin.id,
        "sync",
        &[Permission::SecuritySettings],
        None,
    )
    .await
    .unwrap();
    let call = || {
        app.client
            .get(app.url(&format!("/api/v1/admin/stores/{}/security/controls", s.id)))
            .bearer_auth(palisade_store::tokens::reveal(&secret))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    // The store requires MFA and the grace period is over: the admin's sessions are shut out, so are their tokens.
    palisade_identity::policy::set(
        &app.db,
        &scope,
        palisade_identity::policy::StaffMfa::Required,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    let res = call().await.unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "mfa_required");
    palisade_identity::policy::set(
        &app.db,
        &scope,
        palisade_identity::policy::StaffMfa::Optional,
        std::time::Duration::ZERO,
    )
    .await
    .unwrap();
    assert_eq!(call().await.unwrap().status(), 200);
    // A disabled account's tokens die with it.
    sqlx::query("UPDATE accounts SET disabled = 1 WHERE id = $1")
        .bind(admin.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(call().await.unwrap().status(), 401);
}

#[tokio::test]
async fn a_malformed_invitation_link_is_a_clear_404() {
    let app = TestApp::start().await;
    for token in ["%01", "%0a", "abc%7F", &"g".repeat(64)] {
        let path = format!("/invitations/{token}");
        assert_eq!(app.get(&path).await.status(), 404, "GET {path}");
        let res = app.client.post(app.url(&path)).csrf(&app, VISITOR).form(&[("name", "X")]).send().await.unwrap();
        assert_eq!(res.status(), 404, "POST {path}");
    }
}
