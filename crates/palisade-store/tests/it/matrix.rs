use std::sync::Arc;
use std::time::Duration;

use palisade_core::matrix::{Area, ControlStatus};
use palisade_core::text::Email;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::tenancy::{self, StoreSettings};
use palisade_store::testing::TestDb;
use palisade_store::{controls, secrets};

use crate::support::store;

fn registry() -> Registry {
    let mut reg = Registry::default();
    controls::register(&mut reg).unwrap();
    reg
}

fn facts(dir: &std::path::Path) -> Arc<NodeFacts> {
    let key = dir.join("master.key");
    secrets::load_or_create(&key).unwrap();
    Arc::new(NodeFacts { data_dir: dir.to_path_buf(), master_key_path: key })
}

fn status<'a>(report: &'a palisade_store::matrix::Report, id: &str) -> &'a ControlStatus {
    report
        .areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|r| r.control.id == id)
        .map(|r| &r.status)
        .unwrap()
}

#[tokio::test]
async fn registering_a_control_twice_is_an_error() {
    let mut reg = registry();
    assert!(controls::register(&mut reg).is_err());
}

#[tokio::test]
async fn store_controls_follow_live_data_and_remember_since_when() {
    let (t, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let facts = facts(dir.path());
    let reg = registry();
    let (_, scope) = store(&t, "alpha").await;

    let first = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(status(&first, "store.has-owner").is_met());
    assert!(status(&first, "store.audit-chain-intact").is_met());
    let ControlStatus::Unmet { since: Some(since), .. } = status(&first, "store.security-contact") else {
        panic!("contact should be unmet")
    };
    let since = *since;
    assert_eq!(first.areas.len(), 8);
    let data = first.areas.iter().find(|a| a.area == Area::DataProtection).unwrap();
    assert!(data.merchant.iter().any(|r| r.control.id == "store.security-contact"));
    assert!(data.platform.iter().any(|r| r.control.id == "platform.master-key-private"));

    clock.advance(Duration::from_secs(60));
    let again = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(
        matches!(status(&again, "store.security-contact"), ControlStatus::Unmet { since: Some(s), .. } if *s == since)
    );

    tenancy::update_settings(
        &t,
        &scope,
        StoreSettings {
            security_contact: Some(Some(Email::parse("dpo@alpha.example").unwrap())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let fixed = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(status(&fixed, "store.security-contact").is_met());
    let history = palisade_store::matrix::history_store(&t, &scope, 10).await.unwrap();
    assert_eq!(history[0].control_id, "store.security-contact");
    assert_eq!(history[0].to_state, "met");
    assert_eq!(history[0].from_state.as_deref(), Some("unmet"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_readable_master_key_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let facts = facts(dir.path());
    let reg = registry();
    assert!(status(&reg.evaluate_platform(&t, &facts).await.unwrap(), "platform.master-key-private").is_met());
    std::fs::set_permissions(&facts.master_key_path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = reg.evaluate_platform(&t, &facts).await.unwrap();
    assert!(
        matches!(status(&report, "platform.master-key-private"), ControlStatus::Unmet { reason, .. } if reason.contains("644"))
    );
    assert!(report.unmet >= 1);
}
