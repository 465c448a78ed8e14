//! The authentication controls follow live data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use palisade_core::matrix::ControlStatus;
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_identity::{Identity, policy};
use palisade_store::matrix::{NodeFacts, Registry, Report};
use palisade_store::scope::PlatformScope;
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use secrecy::SecretString;

fn status<'a>(r: &'a Report, id: &str) -> &'a ControlStatus {
    r.areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|c| c.control.id == id)
        .map(|c| &c.status)
        .unwrap()
}

/// The store's owner (with a password) and the store.
async fn owner_with_store(db: &palisade_store::Db, id: &Identity) -> (tenancy::Account, palisade_store::StoreScope) {
    let owner = tenancy::create_account(
        db,
        NewAccount { email: Email::parse("o@a.example").unwrap(), display_name: "O".into(), kind: AccountKind::Staff },
    )
    .await
    .unwrap();
    id.set_password(&owner, SecretString::from("granite pelican umbrella".to_owned())).await.unwrap();
    let (_, scope) = tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse("alpha").unwrap(),
            name: "A".into(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    (owner, scope)
}

#[tokio::test]
async fn authentication_controls_track_policy_enrolment_dormancy_and_tokens() {
    let (t, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("k");
    let (key, _) = palisade_store::secrets::load_or_create(&key_path).unwrap();
    let id = Identity::new(t.db.clone(), &key, "test");
    let mut reg = Registry::default();
    palisade_store::controls::register(&mut reg).unwrap();
    palisade_identity::controls::register(&mut reg).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: key_path });

    let (owner, scope) = owner_with_store(&t, &id).await;

    let r = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(
        matches!(status(&r, "store.staff-mfa-enforced"), ControlStatus::Unmet { reason, .. } if reason.contains("not required"))
    );
    assert!(matches!(status(&r, "store.owner-can-recover"), ControlStatus::Unmet { .. }));
    assert!(status(&r, "store.no-dormant-staff").is_met());
    assert!(matches!(status(&r, "store.api-tokens-expire"), ControlStatus::NotApplicable { .. }));

    policy::set(&t, &scope, policy::StaffMfa::Required, Duration::from_secs(7 * 24 * 3600)).await.unwrap();
    let r = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(
        matches!(status(&r, "store.staff-mfa-enforced"), ControlStatus::Unmet { reason, .. } if reason.contains("1 member"))
    );

    let enrol = id.begin_totp(&owner).await.unwrap();
    let b32 = enrol.url.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let secret = totp_rs::Secret::Encoded(b32).to_bytes().unwrap();
    let code = palisade_identity::totp::code_at(&secret, t.now()).unwrap();
    id.confirm_totp(&owner, &code).await.unwrap();
    let r = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(status(&r, "store.staff-mfa-enforced").is_met());
    assert!(status(&r, "store.owner-can-recover").is_met());

    palisade_store::tokens::issue_store(
        &t,
        &scope,
        owner.id,
        "forever",
        &[palisade_store::permissions::Permission::Orders],
        None,
    )
    .await
    .unwrap();
    let r = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(matches!(status(&r, "store.api-tokens-expire"), ControlStatus::Unmet { .. }));

    clock.advance(Duration::from_secs(91 * 24 * 3600));
    let r = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(
        matches!(status(&r, "store.no-dormant-staff"), ControlStatus::Unmet { reason, .. } if reason.contains("o@a.example"))
    );

    let op = tenancy::create_account(
        &t,
        NewAccount {
            email: Email::parse("op@p.example").unwrap(),
            display_name: "Op".into(),
            kind: AccountKind::Operator,
        },
    )
    .await
    .unwrap();
    let r = reg.evaluate_platform(&t, &facts).await.unwrap();
    assert!(
        matches!(status(&r, "platform.operators-mfa"), ControlStatus::Unmet { reason, .. } if reason.contains("op@p.example"))
    );
    let _ = op;
}
