//! The backup area's controls in the responsibility matrix, evaluated from recorded runs and exports as time
//! passes (a manual clock): each turns met when its duty is done and unmet again when it ages out or fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Duration;

use palisade_backup::Target;
use palisade_backup::runs::{self, NewRun, RunKind};
use palisade_backup::store_exports::{self, Schedule, Trigger};
use palisade_core::matrix::ControlStatus;
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug};
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::{PlatformScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, Objects};
use secrecy::SecretString;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn registry() -> Registry {
    let mut reg = Registry::default();
    palisade_backup::controls::register(&mut reg).unwrap();
    reg
}

async fn status(db: &Db, facts: &Arc<NodeFacts>, scope: Option<&StoreScope>, id: &str) -> ControlStatus {
    let reg = registry();
    let report = match scope {
        Some(s) => reg.evaluate_store(db, facts, s).await.unwrap(),
        None => reg.evaluate_platform(db, facts).await.unwrap(),
    };
    report
        .areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|r| r.control.id == id)
        .unwrap_or_else(|| panic!("no control {id}"))
        .status
        .clone()
}

fn met(s: &ControlStatus) -> bool {
    matches!(s, ControlStatus::Met { .. })
}

async fn run(db: &Db, kind: RunKind, target: &Target, snapshot: &str, ok: bool) {
    let started_at = db.now().millis();
    let detail = if ok { format!("{snapshot} ok") } else { "disk full".to_owned() };
    runs::record(db, NewRun { kind, target, snapshot_id: Some(snapshot), started_at, ok, detail, bytes: 1 })
        .await
        .unwrap();
}

#[tokio::test]
async fn platform_backup_controls_follow_the_runs() {
    let (db, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_owned(), master_key_path: dir.path().join("master.key") });
    let local = Target::parse(dir.path().join("repo").to_str().unwrap()).unwrap();
    let s3 = Target::parse("s3://bucket/palisade").unwrap();

    for id in ["platform.backup-verified", "platform.backup-off-machine", "platform.restore-drill"] {
        assert!(!met(&status(&db, &facts, None, id).await), "{id} starts unmet");
    }
    // A snapshot alone is not enough: it must have been verified.
    run(&db, RunKind::Snapshot, &local, "snap-1", true).await;
    let s = status(&db, &facts, None, "platform.backup-verified").await;
    assert!(!met(&s) && format!("{s:?}").contains("has not been verified"), "{s:?}");
    run(&db, RunKind::Verify, &local, "snap-1", true).await;
    assert!(met(&status(&db, &facts, None, "platform.backup-verified").await));
    // Off the machine needs a snapshot on S3 and the restore identity gone from the data directory.
    assert!(
        !met(&status(&db, &facts, None, "platform.backup-off-machine").await),
        "a local directory is not off-machine"
    );
    run(&db, RunKind::Snapshot, &s3, "snap-2", true).await;
    std::fs::create_dir_all(dir.path().join("backups")).unwrap();
    std::fs::write(dir.path().join("backups").join(palisade_backup::keys::IDENTITY_FILE), "AGE-SECRET-KEY-1…").unwrap();
    let s = status(&db, &facts, None, "platform.backup-off-machine").await;
    assert!(!met(&s) && format!("{s:?}").contains("restore identity"), "{s:?}");
    std::fs::remove_file(dir.path().join("backups").join(palisade_backup::keys::IDENTITY_FILE)).unwrap();
    assert!(met(&status(&db, &facts, None, "platform.backup-off-machine").await));
    run(&db, RunKind::Drill, &local, "snap-1", true).await;
    assert!(met(&status(&db, &facts, None, "platform.restore-drill").await));

    // A day later the snapshots are stale; a failed one says why.
    clock.advance(DAY + HOUR);
    assert!(!met(&status(&db, &facts, None, "platform.backup-verified").await));
    assert!(!met(&status(&db, &facts, None, "platform.backup-off-machine").await));
    run(&db, RunKind::Snapshot, &local, "snap-3", false).await;
    let s = status(&db, &facts, None, "platform.backup-verified").await;
    assert!(format!("{s:?}").contains("the last snapshot failed: disk full"), "{s:?}");
    assert!(met(&status(&db, &facts, None, "platform.restore-drill").await), "a drill counts for 30 days");
    clock.advance(30 * DAY);
    assert!(!met(&status(&db, &facts, None, "platform.restore-drill").await));
}

#[tokio::test]
async fn merchant_backup_controls_follow_schedule_exports_and_restore_tests() {
    let (db, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_owned(), master_key_path: dir.path().join("master.key") });
    let objects = Objects::local(&dir.path().join("objects")).unwrap();
    let owner = tenancy::create_account(
        &db,
        NewAccount {
            email: Email::parse("owner@tea.example").unwrap(),
            display_name: "Owner".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    let (_, scope) = tenancy::create_store(
        &db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse("tea").unwrap(),
            name: "Tea".into(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    let pass = || SecretString::from("a long merchant passphrase".to_owned());
    let (scheduled, tested) = ("store.exports-scheduled", "store.restore-tested");
    assert!(format!("{:?}", status(&db, &facts, Some(&scope), scheduled).await).contains("no export schedule"));
    assert!(!met(&status(&db, &facts, Some(&scope), tested).await));

    // An export on demand is not a schedule.
    let export = store_exports::run_export(&db, &scope, &objects, pass(), Trigger::Manual, 10, None).await.unwrap();
    assert!(!met(&status(&db, &facts, Some(&scope), scheduled).await));
    let sealer = store_exports::passphrase_sealer(&[7; 32]);
    store_exports::set_schedule(&db, &scope, &sealer, Schedule::Weekly, Some(pass())).await.unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), scheduled).await));
    store_exports::run_restore_test(&db, &scope, &objects, &export.id, pass()).await.unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), tested).await));

    // Eight days on, the export is too old; a fresh one puts it right. The restore test lasts 90 days.
    clock.advance(8 * DAY);
    let s = status(&db, &facts, Some(&scope), scheduled).await;
    assert!(format!("{s:?}").contains("more than 7 days old"), "{s:?}");
    store_exports::run_export(&db, &scope, &objects, pass(), Trigger::Schedule, 10, Some(&sealer)).await.unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), scheduled).await));
    assert!(met(&status(&db, &facts, Some(&scope), tested).await));
    clock.advance(90 * DAY);
    assert!(!met(&status(&db, &facts, Some(&scope), tested).await));
}
