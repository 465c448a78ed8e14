use palisade_store::audit::{self, BreakKind, NewEvent};
use palisade_store::scope::PlatformScope;
use palisade_store::testing::TestDb;
use palisade_store::{Backend, Db};

use crate::support::store;

/// Removes the append-only triggers, as an attacker with database owner rights could.
async fn drop_guards(db: &Db) {
    match db.backend() {
        Backend::Sqlite => {
            sqlx::query("DROP TRIGGER audit_events_no_update").execute(db.pool()).await.unwrap();
            sqlx::query("DROP TRIGGER audit_events_no_delete").execute(db.pool()).await.unwrap();
        }
        Backend::Postgres => {
            sqlx::query("DROP TRIGGER audit_events_no_update_or_delete ON audit_events")
                .execute(db.pool())
                .await
                .unwrap();
        }
    }
}

async fn platform_events(db: &Db, n: usize) -> Vec<audit::AuditEvent> {
    let scope = PlatformScope::system("test");
    let mut out = Vec::new();
    for i in 0..n {
        let target = format!("thing:{i}");
        out.push(audit::record_platform_now(db, &scope, NewEvent::new("test.happened", &target)).await.unwrap());
    }
    out
}

#[tokio::test]
async fn an_untouched_log_verifies() {
    let t = TestDb::new().await;
    store(&t, "alpha").await;
    platform_events(&t, 5).await;
    let reports = audit::verify_all(&t).await.unwrap();
    assert_eq!(reports[0].chain, "platform");
    assert!(reports.len() >= 2);
    assert!(reports.iter().all(|r| r.broken.is_none()), "{reports:?}");
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes() {
    let t = TestDb::new().await;
    platform_events(&t, 2).await;
    assert!(sqlx::query("UPDATE audit_events SET action = 'x'").execute(t.pool()).await.is_err());
    assert!(sqlx::query("DELETE FROM audit_events").execute(t.pool()).await.is_err());
}

#[tokio::test]
async fn an_edited_event_is_named() {
    let t = TestDb::new().await;
    let events = platform_events(&t, 5).await;
    drop_guards(&t).await;
    sqlx::query("UPDATE audit_events SET target = 'thing:evil' WHERE id = $1")
        .bind(&events[2].id)
        .execute(t.pool())
        .await
        .unwrap();
    let report = audit::verify_chain(&t, "platform").await.unwrap();
    let broken = report.broken.expect("tampering detected");
    assert_eq!(broken.event_id.as_deref(), Some(&events[2].id[..]));
    assert_eq!(broken.kind, BreakKind::ContentChanged);
}

#[tokio::test]
async fn a_rehashed_edit_breaks_the_next_link() {
    let t = TestDb::new().await;
    let events = platform_events(&t, 4).await;
    drop_guards(&t).await;
    // A forger who recomputes the edited event's hash still breaks the link from the next event.
    sqlx::query("UPDATE audit_events SET hash = $1 WHERE id = $2")
        .bind("f".repeat(64))
        .bind(&events[1].id)
        .execute(t.pool())
        .await
        .unwrap();
    let broken = audit::verify_chain(&t, "platform").await.unwrap().broken.unwrap();
    assert_eq!(broken.event_id.as_deref(), Some(&events[1].id[..]));
}

#[tokio::test]
async fn deleted_events_are_found_in_the_middle_and_at_the_end() {
    let t = TestDb::new().await;
    let events = platform_events(&t, 5).await;
    drop_guards(&t).await;
    sqlx::query("DELETE FROM audit_events WHERE id = $1").bind(&events[1].id).execute(t.pool()).await.unwrap();
    let broken = audit::verify_chain(&t, "platform").await.unwrap().broken.unwrap();
    assert_eq!(broken.kind, BreakKind::Missing { expected_seq: 2 });
    assert_eq!(broken.event_id.as_deref(), Some(&events[2].id[..]));

    let t = TestDb::new().await;
    let events = platform_events(&t, 3).await;
    drop_guards(&t).await;
    sqlx::query("DELETE FROM audit_events WHERE id = $1").bind(&events[2].id).execute(t.pool()).await.unwrap();
    let broken = audit::verify_chain(&t, "platform").await.unwrap().broken.unwrap();
    assert_eq!(broken.kind, BreakKind::Truncated { head_seq: 3 });
    assert_eq!(broken.event_id.as_deref(), Some(&events[1].id[..]));
}

#[tokio::test]
async fn concurrent_appends_keep_one_unbroken_chain() {
    let t = TestDb::new().await;
    let (_, scope) = store(&t, "alpha").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let db = t.db.clone();
        let scope = scope.clone();
        tasks.push(tokio::spawn(async move {
            let target = format!("n:{i}");
            audit::record_store_now(&db, &scope, NewEvent::new("test.concurrent", &target)).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let report = audit::verify_store(&t, &scope).await.unwrap();
    assert!(report.broken.is_none(), "{report:?}");
    assert_eq!(report.events, 22); // store.created + member.added + 20
}
