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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
}

async fn run(db: &Db, kind: RunKind, target: &Target, snapshot: &str, outcome: Outcome) {
    let ok = outcome == Outcome::Ok;
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
    run(&db, RunKind::Snapshot, &local, "snap-1", Outcome::Ok).await;
    let s = status(&db, &facts, None, "platform.backup-verified").await;
    assert!(!met(&s) && format!("{s:?}").contains("has not been verified"), "{s:?}");
    run(&db, RunKind::Verify, &local, "snap-1", Outcome::Ok).await;
    assert!(met(&status(&db, &facts, None, "platform.backup-verified").await));
    // Off the machine needs a snapshot on S3 and the restore identity gone from the data directory.
    assert!(
        !met(&status(&db, &facts, None, "platform.backup-off-machine").await),
        "a local directory is not off-machine"
    );
    run(&db, RunKind::Snapshot, &s3, "snap-2", Outcome::Ok).await;
    std::fs::create_dir_all(dir.path().join("backups")).unwrap();
    std::fs::write(dir.path().join("backups").join(palisade_backup::keys::IDENTITY_FILE), "AGE-SECRET-KEY-1…").unwrap();
    let s = status(&db, &facts, None, "platform.backup-off-machine").await;
    assert!(!met(&s) && format!("{s:?}").contains("restore identity"), "{s:?}");
    std::fs::remove_file(dir.path().join("backups").join(palisade_backup::keys::IDENTITY_FILE)).unwrap();
    assert!(met(&status(&db, &facts, None, "platform.backup-off-machine").await));
    run(&db, RunKind::Drill, &local, "snap-1", Outcome::Ok).await;
    assert!(met(&status(&db, &facts, None, "platform.restore-drill").await));

    // A day later the snapshots are stale; a failed one says why.
    clock.advance(DAY + HOUR);
    assert!(!met(&status(&db, &facts, None, "platform.backup-verified").await));
    assert!(!met(&status(&db, &facts, None, "platform.backup-off-machine").await));
    run(&db, RunKind::Snapshot, &local, "snap-3", Outcome::Failed).await;
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
    let staff = scope.to_staff().unwrap();
    let pass = || SecretString::from("a long merchant passphrase".to_owned());
    let (scheduled, tested) = ("store.exports-scheduled", "store.restore-tested");
    assert!(format!("{:?}", status(&db, &facts, Some(&scope), scheduled).await).contains("no export schedule"));
    assert!(!met(&status(&db, &facts, Some(&scope), tested).await));

    // An export on demand is not a schedule.
    let export = store_exports::run_export(&db, &staff, &objects, pass(), Trigger::Manual, 10, None).await.unwrap();
    assert!(!met(&status(&db, &facts, Some(&scope), scheduled).await));
    let sealer = store_exports::passphrase_sealer(&[7; 32]);
    store_exports::set_schedule(&db, &staff, &sealer, Schedule::Weekly, Some(pass())).await.unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), scheduled).await));
    store_exports::run_restore_test(&db, &staff, &objects, &export.id, pass(), &Default::default()).await.unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), tested).await));

    // Eight days on, the export is too old; a fresh one puts it right. The restore test lasts 90 days.
    clock.advance(8 * DAY);
    let s = status(&db, &facts, Some(&scope), scheduled).await;
    assert!(format!("{s:?}").contains("more than 7 days old"), "{s:?}");
    store_exports::run_export(
        &db,
        &staff,
        &objects,
        pass(),
        Trigger::Schedule,
        10,
        Some(store_exports::Delivery { sealer: &sealer, outbound: &Default::default() }),
    )
    .await
    .unwrap();
    assert!(met(&status(&db, &facts, Some(&scope), scheduled).await));
    assert!(met(&status(&db, &facts, Some(&scope), tested).await));
    clock.advance(90 * DAY);
    assert!(!met(&status(&db, &facts, Some(&scope), tested).await));
}

/// Fixed DNS answers, like a record the merchant controls.
#[derive(Debug)]
struct MerchantDns(std::net::IpAddr);

impl palisade_store::outbound::NameLookup for MerchantDns {
    fn lookup(&self, _host: &str) -> palisade_store::outbound::LookupFuture {
        let ip = self.0;
        Box::pin(async move { Ok(vec![ip]) })
    }
}

/// Malicious merchant: a bucket whose name resolves to the platform's own network, or a URL set while the operator
/// allowed private endpoints, is refused when the export job connects — and nothing reaches the address.
#[tokio::test]
async fn scheduled_delivery_checks_the_address_it_connects_to() {
    use palisade_store::outbound::OutboundPolicy;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let (db, _clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(&dir.path().join("objects")).unwrap();
    let owner = tenancy::create_account(
        &db,
        NewAccount {
            email: Email::parse("o@evil.example").unwrap(),
            display_name: "O".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    let (_, scope) = tenancy::create_store(
        &db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse("evil").unwrap(),
            name: "Evil".into(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    let staff = scope.to_staff().unwrap();
    let pass = || SecretString::from("a long merchant passphrase".to_owned());
    let sealer = store_exports::passphrase_sealer(&[7; 32]);
    let loopback = Arc::new(MerchantDns(std::net::IpAddr::from([127, 0, 0, 1])));
    let public_only = OutboundPolicy::public_only().with_lookup(loopback.clone());
    for endpoint in [
        format!("https://bucket.merchant-owned.example:{port}"),
        format!("https://127.1:{port}"),
        format!("https://2130706433:{port}"),
        format!("https://0x7f000001:{port}"),
        format!("https://[::ffff:127.0.0.1]:{port}"),
    ] {
        let url = format!("s3://bucket/exports?endpoint={endpoint}");
        let creds = Some((url.as_str(), "key", SecretString::from("secret".to_owned())));
        // A literal is refused when it is set; a name passes there (it may resolve anywhere later)...
        let set = store_exports::set_delivery(&db, &staff, &sealer, creds.clone(), &public_only).await;
        if endpoint.contains("example") {
            set.unwrap();
        } else {
            assert!(set.is_err(), "{endpoint} was accepted");
            // ... and a literal stored while the operator allowed private endpoints is refused on connect.
            let open = OutboundPolicy::allow_private_networks();
            store_exports::set_delivery(&db, &staff, &sealer, creds, &open).await.unwrap();
        }
        let delivery = store_exports::Delivery { sealer: &sealer, outbound: &public_only };
        let run = store_exports::run_export(&db, &staff, &objects, pass(), Trigger::Schedule, 10, Some(delivery))
            .await
            .unwrap();
        assert_eq!(run.outcome, "failed", "{endpoint}: {}", run.detail);
        assert!(run.detail.contains("not a public address"), "{endpoint}: {}", run.detail);
    }
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "nothing connected to the platform's network");
}
