use palisade_core::text::Email;
use palisade_store::audit;
use palisade_store::scope::StoreScope;
use palisade_store::tenancy::{self, Membership, Role, StoreSettings};
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

use crate::support::{staff, store};

/// Everything store B has, as seen with B's own scope.
async fn snapshot(db: &Db, scope: &StoreScope) -> String {
    let store = tenancy::get_store(db, scope).await.unwrap();
    let members = tenancy::list_members(db, scope).await.unwrap();
    let events = audit::list_store(db, scope, 1000).await.unwrap();
    format!(
        "{}|{}|{:?}|{:?}|{}",
        store.name,
        store.security_contact_email.unwrap_or_default(),
        members.iter().map(|m| (m.email.clone(), m.role)).collect::<Vec<_>>(),
        events.iter().map(|e| e.hash.clone()).collect::<Vec<_>>(),
        store.updated_at.0
    )
}

/// Every store-owned repository function, called with store A's scope, neither returns nor changes B's rows.
#[tokio::test]
async fn store_a_scope_never_reaches_store_b() {
    let t = TestDb::new().await;
    let (a, scope_a) = store(&t, "alpha").await;
    let (b, scope_b) = store(&t, "bravo").await;
    let b_staff = staff(&t, "clerk@bravo.example").await;
    tenancy::add_member(&t, &scope_b, b_staff.id, Role::Staff).await.unwrap();
    let before = snapshot(&t, &scope_b).await;
    let by_a = Membership::system(a.id, "test");

    // Reads return only A.
    assert_eq!(tenancy::get_store(&t, &scope_a).await.unwrap().id, a.id);
    let members = tenancy::list_members(&t, &scope_a).await.unwrap();
    assert!(members.iter().all(|m| m.email.ends_with("@alpha.example")), "{members:?}");
    let events = audit::list_store(&t, &scope_a, 1000).await.unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e.store_id.as_deref() == Some(&a.id.to_string()[..])));
    let verified = audit::verify_store(&t, &scope_a).await.unwrap();
    assert_eq!(verified.chain, a.id.to_string());
    assert!(
        palisade_store::matrix::history_store(&t, &scope_a, 100)
            .await
            .unwrap()
            .iter()
            .all(|h| !h.reason.contains(&b.id.to_string()))
    );

    // Writes with A's scope aimed at B's member are refused as not found, not applied.
    assert!(matches!(tenancy::set_role(&t, &by_a, b_staff.id, Role::Owner).await, Err(StoreError::NotFound(_))));
    assert!(matches!(tenancy::remove_member(&t, &by_a, b_staff.id).await, Err(StoreError::NotFound(_))));
    let b_owner =
        tenancy::list_members(&t, &scope_b).await.unwrap().into_iter().find(|m| m.role == Role::Owner).unwrap();
    assert!(matches!(tenancy::remove_member(&t, &by_a, b_owner.account_id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        tenancy::set_grants(&t, &by_a, b_staff.id, &[palisade_store::permissions::Permission::Payouts]).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(tenancy::membership(&t, b_staff.id, a.id).await.unwrap().is_none(), "no membership in A for B's clerk");

    // Writes that succeed land in A only.
    tenancy::update_settings(
        &t,
        &scope_a,
        StoreSettings {
            name: Some("Alpha Teas".into()),
            security_contact: Some(Some(Email::parse("dpo@alpha.example").unwrap())),
        },
    )
    .await
    .unwrap();
    tenancy::add_member(&t, &scope_a, b_staff.id, Role::Admin).await.unwrap();
    tenancy::set_role(&t, &by_a, b_staff.id, Role::Staff).await.unwrap();
    tenancy::remove_member(&t, &by_a, b_staff.id).await.unwrap();
    audit::record_store_now(&t, &scope_a, audit::NewEvent::new("test.event", "x")).await.unwrap();

    assert_eq!(snapshot(&t, &scope_b).await, before, "store B changed through store A's scope");
    assert_eq!(tenancy::get_store(&t, &scope_a).await.unwrap().name, "Alpha Teas");
}

#[tokio::test]
async fn memberships_yield_scopes_for_own_stores_only() {
    let t = TestDb::new().await;
    let (a, scope_a) = store(&t, "alpha").await;
    let (_b, _) = store(&t, "bravo").await;
    let person = staff(&t, "pat@example.com").await;
    tenancy::add_member(&t, &scope_a, person.id, Role::Admin).await.unwrap();
    let ms = tenancy::memberships(&t, person.id).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].0.store_id(), a.id);
    assert_eq!(ms[0].1, Role::Admin);
}

#[tokio::test]
async fn the_last_owner_cannot_be_removed_or_demoted() {
    let t = TestDb::new().await;
    let (alpha, scope) = store(&t, "alpha").await;
    let by = Membership::system(alpha.id, "test");
    let owner = tenancy::list_members(&t, &scope).await.unwrap().remove(0);
    assert!(matches!(tenancy::remove_member(&t, &by, owner.account_id).await, Err(StoreError::Conflict(_))));
    assert!(matches!(tenancy::set_role(&t, &by, owner.account_id, Role::Admin).await, Err(StoreError::Conflict(_))));
    let second = staff(&t, "second@alpha.example").await;
    tenancy::add_member(&t, &scope, second.id, Role::Owner).await.unwrap();
    tenancy::set_role(&t, &by, owner.account_id, Role::Admin).await.unwrap();
}

#[tokio::test]
async fn duplicates_are_conflicts_not_crashes() {
    let t = TestDb::new().await;
    let (_, scope) = store(&t, "alpha").await;
    let err = tenancy::create_account(
        &t,
        tenancy::NewAccount {
            email: Email::parse("OWNER@ALPHA.example").unwrap(),
            display_name: "x".into(),
            kind: tenancy::AccountKind::Staff,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    let person = staff(&t, "p@alpha.example").await;
    tenancy::add_member(&t, &scope, person.id, Role::Staff).await.unwrap();
    assert!(matches!(tenancy::add_member(&t, &scope, person.id, Role::Staff).await, Err(StoreError::Conflict(_))));
    let owner = staff(&t, "o2@x.example").await;
    let err = tenancy::create_store(
        &t,
        &palisade_store::scope::PlatformScope::system("test"),
        tenancy::NewStore {
            slug: palisade_core::text::Slug::parse("alpha").unwrap(),
            name: "dup".into(),
            currency: palisade_core::money::Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
}

/// The permission algebra in the store layer, whoever calls it: an admin's membership cannot grant payouts or
/// staff management, touch an owner, or make an admin; and a membership read before its holder was demoted acts
/// with what they hold now.
#[tokio::test]
async fn members_change_others_only_within_their_own_rights() {
    use palisade_store::permissions::Permission;
    let t = TestDb::new().await;
    let (alpha, scope) = store(&t, "alpha").await;
    let system = Membership::system(alpha.id, "test");
    let owner = tenancy::list_members(&t, &scope).await.unwrap().remove(0).account_id;
    let admin = staff(&t, "admin@alpha.example").await;
    let clerk = staff(&t, "clerk@alpha.example").await;
    tenancy::add_member(&t, &scope, admin.id, Role::Admin).await.unwrap();
    tenancy::add_member(&t, &scope, clerk.id, Role::Staff).await.unwrap();
    let by_admin = tenancy::membership(&t, admin.id, alpha.id).await.unwrap().unwrap();
    let forbidden = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Forbidden(_)));

    assert!(forbidden(tenancy::set_grants(&t, &by_admin, clerk.id, &[Permission::Payouts]).await));
    assert!(forbidden(tenancy::set_grants(&t, &by_admin, clerk.id, &[Permission::StaffManagement]).await));
    assert!(forbidden(tenancy::set_grants(&t, &by_admin, admin.id, &[Permission::Payouts]).await), "not to itself");
    assert!(forbidden(tenancy::set_role(&t, &by_admin, clerk.id, Role::Admin).await));
    assert!(forbidden(tenancy::set_role(&t, &by_admin, owner, Role::Staff).await));
    assert!(forbidden(tenancy::remove_member(&t, &by_admin, owner).await));
    tenancy::set_grants(&t, &by_admin, clerk.id, &[Permission::Refunds]).await.unwrap();
    // Demoted meanwhile: the membership read earlier no longer carries staff management.
    tenancy::set_role(&t, &system, admin.id, Role::Staff).await.unwrap();
    assert!(forbidden(tenancy::set_grants(&t, &by_admin, clerk.id, &[]).await));
    let members = tenancy::list_members(&t, &scope).await.unwrap();
    let clerk_now = members.iter().find(|m| m.account_id == clerk.id).unwrap();
    assert!(clerk_now.permissions.contains(&Permission::Refunds));
    assert!(!clerk_now.permissions.contains(&Permission::Payouts));
    let audit = audit::list_store(&t, &scope, 100).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "member.permissions_changed").count(), 1, "refusals write nothing");
}

/// Two owners demoting each other at the same moment leave one owner, on both backends.
#[tokio::test]
async fn concurrent_demotions_never_leave_a_store_without_an_owner() {
    let t = TestDb::new().await;
    for round in 0..5 {
        let (s, scope) = store(&t, &format!("race{round}")).await;
        let first = tenancy::list_members(&t, &scope).await.unwrap().remove(0).account_id;
        let second = staff(&t, &format!("second@race{round}.example")).await.id;
        tenancy::add_member(&t, &scope, second, Role::Owner).await.unwrap();
        let by_first = tenancy::membership(&t, first, s.id).await.unwrap().unwrap();
        let by_second = tenancy::membership(&t, second, s.id).await.unwrap().unwrap();
        let (a, b) = tokio::join!(
            tenancy::set_role(&t, &by_first, second, Role::Admin),
            tenancy::set_role(&t, &by_second, first, Role::Admin),
        );
        let owners = tenancy::list_members(&t, &scope).await.unwrap().iter().filter(|m| m.role == Role::Owner).count();
        assert_eq!(owners, 1, "round {round}: {a:?} {b:?}");
        assert!(a.is_ok() != b.is_ok(), "round {round}: exactly one wins: {a:?} {b:?}");
    }
}

/// A store's currency is parsed when read: a stored code that is not ISO 4217 is a corrupt record (an error the
/// caller reports), never a panic nor a silent default.
#[tokio::test]
async fn a_stored_unknown_currency_is_a_corrupt_record() {
    let t = TestDb::new().await;
    let (a, scope_a) = store(&t, "alpha").await;
    let read = tenancy::get_store(&t, &scope_a).await.unwrap();
    assert_eq!(read.currency, palisade_core::money::Currency::SGD);
    sqlx::query("UPDATE stores SET currency = 'ZZZ' WHERE id = $1")
        .bind(a.id.to_string())
        .execute(t.pool())
        .await
        .unwrap();
    match tenancy::get_store(&t, &scope_a).await {
        Err(StoreError::Corrupt(m)) => assert!(m.contains("ZZZ"), "{m}"),
        other => panic!("expected a corrupt-record error, got {other:?}"),
    }
}

/// The storefront resolves only active stores, by id or by slug: a store suspended after its pages were cached is
/// not served from the cache (the cache is consulted only after this lookup).
#[tokio::test]
async fn a_suspended_store_no_longer_resolves_for_the_storefront() {
    let t = TestDb::new().await;
    let (a, _) = store(&t, "alpha").await;
    let (b, _) = store(&t, "bravo").await;
    assert_eq!(palisade_store::storefront::resolve(&t, "alpha").await.unwrap().map(|r| r.0), Some(a.id));
    assert_eq!(palisade_store::storefront::resolve(&t, &a.id.to_string()).await.unwrap().map(|r| r.0), Some(a.id));
    sqlx::query("UPDATE stores SET status = 'suspended' WHERE id = $1")
        .bind(a.id.to_string())
        .execute(t.pool())
        .await
        .unwrap();
    assert_eq!(palisade_store::storefront::resolve(&t, "alpha").await.unwrap(), None);
    assert_eq!(palisade_store::storefront::resolve(&t, &a.id.to_string()).await.unwrap(), None);
    assert_eq!(palisade_store::storefront::resolve(&t, "bravo").await.unwrap().map(|r| r.0), Some(b.id));
}

/// Versions read once are remembered only while nothing is committed: a write by another process (here a second
/// pool on the same database, as the CLI or a second node) shows on the very next lookup, store and marketplace.
#[tokio::test]
async fn another_process_write_shows_in_the_next_storefront_version_read() {
    use palisade_store::storefront;
    let t = TestDb::new().await;
    let (a, scope_a) = store(&t, "alpha").await;
    let before = storefront::resolve(&t, "alpha").await.unwrap().unwrap();
    let market = storefront::marketplace(&t).await.unwrap();
    // Asked again with nothing committed: the same answer (from memory on SQLite).
    assert_eq!(storefront::resolve(&t, "alpha").await.unwrap(), Some(before));
    assert_eq!(storefront::resolve(&t, "nobody").await.unwrap(), None);
    assert_eq!(storefront::resolve(&t, "nobody").await.unwrap(), None);
    let other = Db::connect(&t.process_url(), palisade_store::db::DbOptions::default()).await.unwrap();
    let mut tx = other.begin_write().await.unwrap();
    storefront::touch(&mut tx, &scope_a).await.unwrap();
    tx.commit().await.unwrap();
    let after = storefront::resolve(&t, "alpha").await.unwrap().unwrap();
    assert_eq!(after.0, a.id);
    assert!(after.1 > before.1, "{before:?} then {after:?}");
    assert!(storefront::marketplace(&t).await.unwrap() > market);
    // A key that is neither an id nor a slug names no store, however long (and is not remembered).
    assert_eq!(storefront::resolve(&t, &"x".repeat(60_000)).await.unwrap(), None);
    assert_eq!(storefront::resolve(&t, "Alpha").await.unwrap(), None);
    // A store created elsewhere after its slug was looked up in vain resolves at once.
    let (n, _) = store(&t, "nobody").await;
    assert_eq!(storefront::resolve(&t, "nobody").await.unwrap().map(|r| r.0), Some(n.id));
    other.close().await;
}
