use std::time::Duration;

use palisade_core::StoreId;
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::shield_events::{self, NewShieldEvent, PATH_KEPT};
use palisade_store::testing::TestDb;

use crate::support::store;

async fn event(db: &palisade_store::Db, id: &str, store: Option<StoreId>, path: &str) {
    let findings = serde_json::json!([{"rule": "sqli.union", "location": "query", "field": "q"}]);
    shield_events::record(
        db,
        &NewShieldEvent {
            id,
            at: db.now(),
            store,
            client_ip: Some("203.0.113.9"),
            method: "GET",
            path,
            action: "block",
            score: 9,
            rules: &["sqli.union", "sqli.comment"],
            findings: &findings,
        },
    )
    .await
    .unwrap();
}

/// A store's staff see their store's events only; the operator sees every store's and the platform's own.
#[tokio::test]
async fn a_store_reads_its_own_events_and_the_platform_reads_all() {
    let (t, clock) = TestDb::manual().await;
    let (a, _) = store(&t, "alpha").await;
    let (b, _) = store(&t, "bravo").await;
    event(&t, "e1", Some(a.id), "/s/alpha").await;
    clock.advance(Duration::from_millis(5));
    event(&t, "e2", Some(b.id), "/s/bravo").await;
    clock.advance(Duration::from_millis(5));
    event(&t, "e3", None, "/login").await;

    let staff_a = StaffScope::system(a.id, "test");
    let mine = shield_events::recent_for_store(&t, &staff_a, 50).await.unwrap();
    assert_eq!(mine.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e1"], "A sees only A's events");
    let e = &mine[0];
    assert_eq!((e.method.as_str(), e.path.as_str(), e.action.as_str(), e.score), ("GET", "/s/alpha", "block", 9));
    assert_eq!(e.client_ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(e.rules, ["sqli.union", "sqli.comment"]);
    assert_eq!(e.findings[0]["field"], "q");
    let theirs = shield_events::recent_for_store(&t, &StaffScope::system(b.id, "test"), 50).await.unwrap();
    assert_eq!(theirs.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e2"]);

    let all = shield_events::recent_platform(&t, &PlatformScope::system("test"), 50).await.unwrap();
    assert_eq!(all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["e3", "e2", "e1"], "newest first");
    let one = shield_events::recent_platform(&t, &PlatformScope::system("test"), 1).await.unwrap();
    assert_eq!(one.len(), 1, "the limit holds");
}

#[tokio::test]
async fn long_paths_are_cut_and_old_events_pruned() {
    let (t, clock) = TestDb::manual().await;
    let (a, _) = store(&t, "alpha").await;
    let long = format!("/s/alpha/{}", "é".repeat(600));
    event(&t, "old", Some(a.id), &long).await;
    clock.advance(Duration::from_secs(3600));
    event(&t, "new", Some(a.id), "/s/alpha").await;

    let platform = PlatformScope::system("test");
    let all = shield_events::recent_platform(&t, &platform, 50).await.unwrap();
    let old = all.iter().find(|e| e.id == "old").unwrap();
    assert_eq!(old.path.chars().count(), PATH_KEPT, "cut on a character boundary");

    assert_eq!(shield_events::prune(&t, t.now().minus(Duration::from_secs(60))).await.unwrap(), 1);
    let left = shield_events::recent_platform(&t, &platform, 50).await.unwrap();
    assert_eq!(left.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["new"]);
}
