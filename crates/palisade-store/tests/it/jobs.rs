use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use palisade_store::jobs::{self, Handlers, NewJob, RunnerConfig};
use palisade_store::testing::TestDb;

const LEASE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_job_is_claimed_once_and_completed() {
    let (t, _clock) = TestDb::manual().await;
    jobs::enqueue(&t, NewJob::new("test.work")).await.unwrap().unwrap();
    let job = jobs::claim(&t, "node-a", LEASE).await.unwrap().unwrap();
    assert_eq!(job.attempts, 1);
    assert!(jobs::claim(&t, "node-b", LEASE).await.unwrap().is_none(), "a leased job must not be claimed twice");
    assert!(jobs::complete(&t, &job, "node-a").await.unwrap());
    assert!(jobs::claim(&t, "node-b", LEASE).await.unwrap().is_none());
    assert_eq!(jobs::recent(&t, 10).await.unwrap()[0].status, "succeeded");
}

#[tokio::test]
async fn dedupe_keys_enqueue_once() {
    let (t, _clock) = TestDb::manual().await;
    let job = NewJob { dedupe_key: Some("k1".into()), ..NewJob::new("test.work") };
    assert!(jobs::enqueue(&t, job.clone()).await.unwrap().is_some());
    assert!(jobs::enqueue(&t, job).await.unwrap().is_none());
    assert_eq!(jobs::recent(&t, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn failures_retry_with_backoff_then_fail_for_good() {
    let (t, clock) = TestDb::manual().await;
    jobs::enqueue(&t, NewJob { max_attempts: 2, ..NewJob::new("test.flaky") }).await.unwrap();
    let job = jobs::claim(&t, "n", LEASE).await.unwrap().unwrap();
    assert!(jobs::fail(&t, &job, "n", "boom").await.unwrap());
    assert!(jobs::claim(&t, "n", LEASE).await.unwrap().is_none(), "retry waits for its backoff");
    clock.advance(Duration::from_secs(11));
    let job = jobs::claim(&t, "n", LEASE).await.unwrap().unwrap();
    assert_eq!(job.attempts, 2);
    assert!(jobs::fail(&t, &job, "n", "boom again").await.unwrap());
    clock.advance(Duration::from_secs(3600));
    assert!(jobs::claim(&t, "n", LEASE).await.unwrap().is_none());
    let rec = &jobs::recent(&t, 1).await.unwrap()[0];
    assert_eq!(rec.status, "failed");
    assert_eq!(rec.last_error.as_deref(), Some("boom again"));
}

#[tokio::test]
async fn an_expired_lease_lets_another_node_take_over() {
    let (t, clock) = TestDb::manual().await;
    jobs::enqueue(&t, NewJob::new("test.work")).await.unwrap();
    let first = jobs::claim(&t, "dead-node", LEASE).await.unwrap().unwrap();
    clock.advance(LEASE + Duration::from_secs(1));
    let second = jobs::claim(&t, "live-node", LEASE).await.unwrap().unwrap();
    assert_eq!(first.id, second.id);
    assert!(!jobs::complete(&t, &first, "dead-node").await.unwrap(), "the old holder lost its lease");
    assert!(jobs::complete(&t, &second, "live-node").await.unwrap());
}

#[tokio::test]
async fn a_renewed_lease_keeps_a_long_job_with_its_node() {
    let (t, clock) = TestDb::manual().await;
    jobs::enqueue(&t, NewJob::new("test.long")).await.unwrap();
    let job = jobs::claim(&t, "worker", LEASE).await.unwrap().unwrap();
    clock.advance(LEASE / 2);
    assert!(jobs::renew(&t, &job, "worker", LEASE).await.unwrap());
    assert!(!jobs::renew(&t, &job, "intruder", LEASE).await.unwrap(), "only the holder renews");
    clock.advance(LEASE * 3 / 4);
    assert!(jobs::claim(&t, "other", LEASE).await.unwrap().is_none(), "past the first lease, but renewed");
    clock.advance(LEASE / 2);
    let taken = jobs::claim(&t, "other", LEASE).await.unwrap().unwrap();
    assert_eq!(taken.id, job.id, "without renewal the lease runs out");
    assert!(!jobs::renew(&t, &job, "worker", LEASE).await.unwrap(), "the old holder cannot renew any more");
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let t = TestDb::new().await;
    for _ in 0..30 {
        jobs::enqueue(&t, NewJob::new("test.work")).await.unwrap();
    }
    let mut tasks = Vec::new();
    for n in 0..4 {
        let db = t.db.clone();
        tasks.push(tokio::spawn(async move {
            let node = format!("node-{n}");
            let mut got = Vec::new();
            while let Some(job) = jobs::claim(&db, &node, LEASE).await.unwrap() {
                got.push(job.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(all.len(), 30);
    assert_eq!(unique.len(), 30);
}

#[tokio::test]
async fn a_schedule_fires_once_per_slot_across_racing_nodes() {
    let (t, clock) = TestDb::manual().await;
    jobs::upsert_schedule(&t, "every-minute", "0 * * * * *", "test.tick", serde_json::json!({})).await.unwrap();
    for _round in 0..3 {
        clock.advance(Duration::from_secs(60));
        let mut tasks = Vec::new();
        for n in 0..4 {
            let db = t.db.clone();
            tasks.push(tokio::spawn(async move { jobs::fire_due_schedules(&db, &format!("node-{n}")).await.unwrap() }));
        }
        let mut fired = 0;
        for task in tasks {
            fired += task.await.unwrap();
        }
        assert_eq!(fired, 1, "exactly one node fires each slot");
    }
    let recent = jobs::recent(&t, 100).await.unwrap();
    assert_eq!(recent.len(), 3);
    assert!(
        recent.iter().all(|j| {
            j.kind == "test.tick" && j.dedupe_key.as_deref().unwrap().starts_with("schedule:every-minute:")
        })
    );
}

#[tokio::test]
async fn bad_cron_expressions_are_refused() {
    let t = TestDb::new().await;
    let err = jobs::upsert_schedule(&t, "x", "every tuesday", "k", serde_json::Value::Null).await.unwrap_err();
    assert!(err.to_string().contains("not a cron expression"), "{err}");
    jobs::upsert_schedule(&t, "y", "*/5 * * * *", "k", serde_json::Value::Null).await.unwrap();
}

#[tokio::test]
async fn the_runner_executes_handlers_and_records_failures() {
    let t = TestDb::new().await;
    let ran = Arc::new(AtomicUsize::new(0));
    let mut handlers = Handlers::default();
    let counter = ran.clone();
    handlers.register("test.count", move |_ctx| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    });
    handlers.register("test.fail", |_ctx| async { Err(jobs::JobError::Failed("deliberate".into())) });
    for _ in 0..3 {
        jobs::enqueue(&t, NewJob::new("test.count")).await.unwrap();
    }
    jobs::enqueue(&t, NewJob { max_attempts: 1, ..NewJob::new("test.fail") }).await.unwrap();
    jobs::enqueue(&t, NewJob { max_attempts: 1, ..NewJob::new("test.unknown") }).await.unwrap();
    let cfg = RunnerConfig {
        node: "n1".into(),
        hostname: "h".into(),
        version: "v".into(),
        poll: Duration::from_millis(20),
        lease: LEASE,
    };
    let stop = tokio::time::sleep(Duration::from_millis(500));
    jobs::run(t.db.clone(), handlers, cfg, stop).await;
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    let recent = jobs::recent(&t, 10).await.unwrap();
    let failed: Vec<_> = recent.iter().filter(|j| j.status == "failed").collect();
    assert_eq!(failed.len(), 2);
    assert!(failed.iter().any(|j| j.last_error.as_deref() == Some("deliberate")));
    assert!(failed.iter().any(|j| j.last_error.as_deref().unwrap().contains("no handler")));
}

#[tokio::test]
async fn pruning_removes_only_old_finished_jobs() {
    let (t, clock) = TestDb::manual().await;
    jobs::enqueue(&t, NewJob::new("a")).await.unwrap();
    let job = jobs::claim(&t, "n", LEASE).await.unwrap().unwrap();
    jobs::complete(&t, &job, "n").await.unwrap();
    jobs::enqueue(&t, NewJob::new("b")).await.unwrap();
    clock.advance(Duration::from_secs(15 * 24 * 3600));
    assert_eq!(jobs::prune_finished(&t, Duration::from_secs(14 * 24 * 3600)).await.unwrap(), 1);
    let left = jobs::recent(&t, 10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, "b", "queued jobs are kept");
}
