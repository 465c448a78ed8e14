//! The permission algebra, through the real routes: for every role (and an admin or clerk given extra grants),
//! every target role (and the actor itself), every permission and every way of handing out rights — grants,
//! role changes, removal, invitations and API tokens — nobody gives anyone (themselves included) more than they
//! hold, payouts and staff management are the owners' to give, and only owners touch owners.

use palisade_core::AccountId;
use palisade_store::permissions::{Permission, Whom};
use palisade_store::scope::StoreScope;
use palisade_store::tenancy::{self, Role};
use palisade_web::WebConfig;

use crate::support::{Csrf, PW, TestApp, VISITOR, grant_exactly, invitation_path, login, owner_of, staff};

/// Someone acting in the store: a role plus explicit grants.
struct Actor {
    name: &'static str,
    role: Role,
    grants: Vec<Permission>,
    id: AccountId,
    cookie: String,
}

impl Actor {
    fn holds(&self) -> Vec<Permission> {
        palisade_store::permissions::effective(self.role, &self.grants)
    }
}

/// What the rules say, stated from the outside: may `actor` change a member from `before` to `after` (role and
/// permissions; `None`: not a member)?
fn allowed(
    actor: &Actor,
    whom: Whom,
    before: Option<(Role, &[Permission])>,
    after: Option<(Role, &[Permission])>,
) -> bool {
    let held = actor.holds();
    if actor.role == Role::Owner {
        return true;
    }
    if !held.contains(&Permission::StaffManagement) || [before, after].iter().flatten().any(|s| s.0 == Role::Owner) {
        return false;
    }
    let old = before.map_or(&[][..], |s| s.1);
    let new = after.map_or(&[][..], |s| s.1);
    let grantable = |p: &Permission| held.contains(p) && *p != Permission::Payouts && *p != Permission::StaffManagement;
    new.iter().filter(|p| !old.contains(p)).all(grantable)
        && (whom == Whom::Oneself || old.iter().filter(|p| !new.contains(p)).all(grantable))
}

/// Puts `account` back into the store with exactly `role` and `grants`.
async fn reset(app: &TestApp, scope: &StoreScope, account: AccountId, role: Role, grants: &[Permission]) {
    sqlx::query("DELETE FROM store_members WHERE store_id = $1 AND account_id = $2")
        .bind(scope.store_key())
        .bind(account.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    tenancy::add_member(&app.db, scope, account, role).await.unwrap();
    let keys: Vec<&str> = grants.iter().map(|p| p.key()).collect();
    grant_exactly(app, scope, account, &keys).await;
}

/// Every member's (role, permissions), by account.
async fn standings(app: &TestApp, scope: &StoreScope) -> Vec<(AccountId, Role, Vec<Permission>)> {
    let mut v: Vec<_> = tenancy::list_members(&app.db, scope)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.account_id, m.role, m.permissions))
        .collect();
    v.sort_by_key(|m| m.0.to_string());
    v
}

async fn post(app: &TestApp, path: &str, cookie: &str, body: String) -> reqwest::StatusCode {
    app.client
        .post(app.url(path))
        .csrf(app, cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
}

/// Checks that nothing changed beyond what the actor may do: no owner touched by a non-owner, nobody gained a
/// permission the actor could not grant, and the actor itself gained nothing.
fn within_rights(
    actor: &Actor,
    before: &[(AccountId, Role, Vec<Permission>)],
    after: &[(AccountId, Role, Vec<Permission>)],
) {
    for (id, role, perms) in after {
        let old = before.iter().find(|b| b.0 == *id);
        let old_perms: &[Permission] = old.map_or(&[], |o| o.2.as_slice());
        let was_owner = old.is_some_and(|o| o.1 == Role::Owner);
        if actor.role != Role::Owner {
            assert!(*role != Role::Owner || was_owner, "{} made an owner", actor.name);
            if was_owner {
                assert_eq!(old.map(|o| (o.1, &o.2)), Some((*role, perms)), "{} changed an owner", actor.name);
            }
            for p in perms.iter().filter(|p| !old_perms.contains(p)) {
                assert!(*id != actor.id, "{} gave itself {p:?}", actor.name);
                assert!(actor.holds().contains(p), "{} gave {p:?} without holding it", actor.name);
                assert!(!Permission::OWNER_ONLY.contains(p), "{} gave the owner-only {p:?}", actor.name);
            }
        }
    }
    if actor.role != Role::Owner {
        for (id, role, _) in before.iter().filter(|b| b.1 == Role::Owner) {
            assert!(after.iter().any(|a| a.0 == *id && a.1 == *role), "{} removed an owner", actor.name);
        }
    }
}

/// The owner and four staff members with different rights, each signed in.
async fn actors(app: &TestApp, scope: &StoreScope, owner_cookie: String) -> Vec<Actor> {
    let owner_id = tenancy::list_members(&app.db, scope).await.unwrap()[0].account_id;
    let mut actors =
        vec![Actor { name: "owner", role: Role::Owner, grants: vec![], id: owner_id, cookie: owner_cookie }];
    let kinds: [(&str, Role, Vec<Permission>); 4] = [
        ("admin", Role::Admin, vec![]),
        ("admin+payouts", Role::Admin, vec![Permission::Payouts]),
        ("clerk+staff-management", Role::Staff, vec![Permission::StaffManagement, Permission::Refunds]),
        ("clerk", Role::Staff, vec![]),
    ];
    for (name, role, grants) in kinds {
        let a = staff(&format!("{}@alpha.example", name.replace('+', "."))).create(app).await;
        reset(app, scope, a.id, role, &grants).await;
        let cookie = login(app, &a.email).await;
        actors.push(Actor { name, role, grants, id: a.id, cookie });
    }
    actors
}

/// Members whose rights the actors try to change: a second owner, an admin and a clerk (each actor also tries
/// itself).
async fn targets(app: &TestApp, scope: &StoreScope) -> Vec<(AccountId, Role)> {
    let mut targets = Vec::new();
    for (email, role) in [
        ("owner2@alpha.example", Role::Owner),
        ("admin2@alpha.example", Role::Admin),
        ("clerk2@alpha.example", Role::Staff),
    ] {
        let a = staff(email).create(app).await;
        reset(app, scope, a.id, role, &[]).await;
        targets.push((a.id, role));
    }
    targets
}

/// Invitations give the invited role's permissions: the same rule.
async fn invitations_follow_the_rule(app: &TestApp, store_path: &str, actor: &Actor) {
    for (i, role) in [Role::Owner, Role::Admin, Role::Staff].into_iter().enumerate() {
        let email = format!("invitee{i}.{}@alpha.example", actor.name.replace('+', "."));
        let status = post(
            app,
            &format!("{store_path}/staff/invite"),
            &actor.cookie,
            format!("email={}&role={}", email.replace('@', "%40"), role.as_str()),
        )
        .await;
        let new = Permission::defaults(role);
        let ok = allowed(actor, Whom::Another, None, Some((role, new)));
        assert_eq!(status == 303, ok, "{} invites a {role:?}: {status}", actor.name);
        let mails = palisade_store::outbox::to_address(&app.db, &email).await.unwrap();
        assert_eq!(mails.is_empty(), !ok, "{} invites a {role:?}: mail sent only when allowed", actor.name);
    }
}

/// API tokens hold at most their creator's rights.
async fn tokens_within_rights(app: &TestApp, scope: &StoreScope, store_path: &str, actor: &Actor, actors: &[Actor]) {
    for p in Permission::ALL {
        let res = app
            .client
            .post(app.url(&format!("{store_path}/tokens")))
            .csrf(app, &actor.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("name=t&permission={}&permission=products", p.key()))
            .send()
            .await
            .unwrap();
        if !actor.holds().contains(&Permission::SecuritySettings) {
            assert_eq!(res.status(), 403, "{} creates a token", actor.name);
        }
    }
    for t in palisade_store::tokens::list_store(&app.db, scope).await.unwrap() {
        let scopes: Vec<Permission> = t.scopes.iter().filter_map(|k| Permission::parse(k)).collect();
        assert_eq!(scopes.len(), t.scopes.len());
        let (creator,): (String,) = sqlx::query_as("SELECT account_id FROM api_tokens WHERE id = $1")
            .bind(&t.id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let creator = actors.iter().find(|a| a.id.to_string() == creator).unwrap();
        assert!(scopes.iter().all(|p| creator.holds().contains(p)), "{}'s token: {scopes:?}", creator.name);
    }
}

#[tokio::test]
async fn nobody_gives_rights_they_do_not_hold() {
    let mut config = WebConfig::default();
    config.limits.enabled = false;
    let app = TestApp::start_with(config, |r, _| r).await;
    let (s, scope, owner_cookie) = owner_of(&app, "alpha").await;
    let store_path = format!("/admin/stores/{}", s.id);

    let actors = actors(&app, &scope, owner_cookie).await;
    let targets = targets(&app, &scope).await;

    let mut allowed_seen = 0;
    let mut refused_seen = 0;
    for actor in &actors {
        let mut cases: Vec<(AccountId, Role, Vec<Permission>)> =
            targets.iter().map(|(id, role)| (*id, *role, vec![])).collect();
        cases.push((actor.id, actor.role, actor.grants.clone()));
        for (target, role, grants) in &cases {
            let is_self = *target == actor.id;
            let whom = if is_self { Whom::Oneself } else { Whom::Another };
            let old = palisade_store::permissions::effective(*role, grants);
            // Grants: each permission alone, on top of what the target has.
            for p in Permission::ALL {
                reset(&app, &scope, *target, *role, grants).await;
                let mut new_grants = grants.clone();
                new_grants.push(p);
                let new = palisade_store::permissions::effective(*role, &new_grants);
                let body = new_grants.iter().map(|g| format!("permission={}", g.key())).collect::<Vec<_>>().join("&");
                let before = standings(&app, &scope).await;
                let status = post(&app, &format!("{store_path}/staff/{target}/grants"), &actor.cookie, body).await;
                let after = standings(&app, &scope).await;
                within_rights(actor, &before, &after);
                if allowed(actor, whom, Some((*role, &old)), Some((*role, &new))) {
                    assert_eq!(status, 303, "{} grants {p:?} to a {role:?} (self: {is_self})", actor.name);
                    allowed_seen += 1;
                } else {
                    assert_eq!(status, 403, "{} grants {p:?} to a {role:?} (self: {is_self})", actor.name);
                    assert_eq!(before, after, "a refusal changes nothing");
                    refused_seen += 1;
                }
            }
            // Role changes.
            for new_role in [Role::Owner, Role::Admin, Role::Staff] {
                reset(&app, &scope, *target, *role, grants).await;
                let new = palisade_store::permissions::effective(new_role, grants);
                let before = standings(&app, &scope).await;
                let status = post(
                    &app,
                    &format!("{store_path}/staff/{target}/role"),
                    &actor.cookie,
                    format!("role={}", new_role.as_str()),
                )
                .await;
                let after = standings(&app, &scope).await;
                within_rights(actor, &before, &after);
                let ok = allowed(actor, whom, Some((*role, &old)), Some((new_role, &new)));
                assert_eq!(
                    status == 303,
                    ok,
                    "{} makes a {role:?} {new_role:?} (self: {is_self}): {status}",
                    actor.name
                );
                if !ok {
                    assert_eq!(before, after);
                }
            }
            // Removal (not of oneself: that would end the actor's sessions mid-table).
            if !is_self {
                reset(&app, &scope, *target, *role, grants).await;
                let before = standings(&app, &scope).await;
                let status =
                    post(&app, &format!("{store_path}/staff/{target}/remove"), &actor.cookie, String::new()).await;
                let after = standings(&app, &scope).await;
                within_rights(actor, &before, &after);
                let ok = allowed(actor, Whom::Another, Some((*role, &old)), None);
                assert_eq!(status == 303, ok, "{} removes a {role:?}: {status}", actor.name);
                reset(&app, &scope, *target, *role, grants).await;
            }
        }
        reset(&app, &scope, actor.id, actor.role, &actor.grants).await;

        invitations_follow_the_rule(&app, &store_path, actor).await;
        tokens_within_rights(&app, &scope, &store_path, actor, &actors).await;
    }
    assert!(
        allowed_seen > 40 && refused_seen > 40,
        "both sides exercised: {allowed_seen} allowed, {refused_seen} refused"
    );
}

/// An invitation sent by an admin who has since been removed (or demoted) no longer admits anyone.
#[tokio::test]
async fn an_invitation_dies_with_its_senders_rights() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let admin = staff("admin@alpha.example").create(&app).await;
    reset(&app, &scope, admin.id, Role::Admin, &[]).await;
    let cookie = login(&app, &admin.email).await;
    let status = post(
        &app,
        &format!("/admin/stores/{}/staff/invite", s.id),
        &cookie,
        "email=helper%40alpha.example&role=staff".into(),
    )
    .await;
    assert_eq!(status, 303);
    let path = &invitation_path(&app, "helper@alpha.example").await;
    tenancy::set_role(&app.db, &tenancy::Membership::system(s.id, "test"), admin.id, Role::Staff).await.unwrap();
    let res = app
        .client
        .post(app.url(path))
        .csrf(&app, VISITOR)
        .form(&[("name", "Helper"), ("password", PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(tenancy::list_members(&app.db, &scope).await.unwrap().iter().all(|m| m.email != "helper@alpha.example"));
}
