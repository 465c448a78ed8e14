//! Durable jobs with leases and retries, and cron schedules that fire on exactly one node.
//!
//! A job is claimed by one atomic `UPDATE … RETURNING` that sets a lease (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL so concurrent claimers never wait on each other; SQLite serialises writers anyway). A node
//! that dies loses its lease and the job runs again elsewhere; a failing job is retried with exponential
//! backoff until `max_attempts`.
//!
//! A schedule fires by compare-and-swap on its `next_run_at`: of several nodes that see the same due
//! schedule, only the one whose UPDATE matched enqueues the job, in the same transaction, with a dedupe key
//! naming the slot. No advisory locks, so the same code works on both backends and across processes.

use crate::db::ExecuteWrite;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use palisade_core::JobId;
use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::db::{Backend, Db};
use crate::error::{Result, StoreError};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub store_id: Option<String>,
    pub payload: serde_json::Value,
    pub run_at: Option<Timestamp>,
    pub max_attempts: i64,
    /// Jobs with the same key are enqueued once.
    pub dedupe_key: Option<String>,
}

impl NewJob {
    #[must_use]
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            store_id: None,
            payload: serde_json::Value::Null,
            run_at: None,
            max_attempts: 5,
            dedupe_key: None,
        }
    }
}

/// Enqueues a job; returns `None` when a job with the same dedupe key already exists.
pub async fn enqueue(db: &Db, job: NewJob) -> Result<Option<JobId>> {
    let mut conn = db.pool().acquire().await?;
    enqueue_on(&mut conn, db, job).await
}

/// Enqueues a job inside the caller's transaction, so it exists exactly when the change that needs it commits.
pub async fn enqueue_on(conn: &mut sqlx::AnyConnection, db: &Db, job: NewJob) -> Result<Option<JobId>> {
    let id = JobId::new();
    let now = db.now();
    let done = sqlx::query(
        "INSERT INTO jobs (id, kind, store_id, payload, status, attempts, max_attempts, run_at, dedupe_key, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, $7, $8, $8) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(&job.kind)
    .bind(&job.store_id)
    .bind(job.payload.to_string())
    .bind(job.max_attempts.max(1))
    .bind(job.run_at.unwrap_or(now).0)
    .bind(&job.dedupe_key)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    Ok((done.rows_affected() == 1).then_some(id))
}

/// A job this node holds a lease on.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub store_id: Option<String>,
    pub payload: serde_json::Value,
    pub attempts: i64,
    pub max_attempts: i64,
}

/// Claims the oldest due job (or one whose lease expired) for `node`.
pub async fn claim(db: &Db, node: &str, lease: Duration) -> Result<Option<ClaimedJob>> {
    let now = db.now();
    let sql = match db.backend() {
        Backend::Postgres => {
            "UPDATE jobs SET status = 'running', locked_by = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND lease_until < $3) \
                         ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, kind, store_id, payload, attempts, max_attempts"
        }
        Backend::Sqlite => {
            "UPDATE jobs SET status = 'running', locked_by = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= $3) OR (status = 'running' AND lease_until < $3) \
                         ORDER BY run_at LIMIT 1) \
             RETURNING id, kind, store_id, payload, attempts, max_attempts"
        }
    };
    let row: Option<(String, String, Option<String>, String, i64, i64)> =
        sqlx::query_as(sql).bind(node).bind(now.plus(lease).0).bind(now.0).fetch_optional(db.pool()).await?;
    Ok(row.map(|(id, kind, store_id, payload, attempts, max_attempts)| ClaimedJob {
        id,
        kind,
        store_id,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        attempts,
        max_attempts,
    }))
}

/// Extends the lease of a job still being worked on, so a long job (a backup of a large installation) is not
/// taken over by another node while it runs. Only the holder can; returns false if the lease was lost meanwhile.
pub async fn renew(db: &Db, job: &ClaimedJob, node: &str, lease: Duration) -> Result<bool> {
    let now = db.now();
    let renewed = sqlx::query(
        "UPDATE jobs SET lease_until = $1, updated_at = $2 WHERE id = $3 AND locked_by = $4 AND status = 'running'",
    )
    .bind(now.plus(lease).0)
    .bind(now.0)
    .bind(&job.id)
    .bind(node)
    .execute_write(db)
    .await?;
    Ok(renewed.rows_affected() == 1)
}

/// Marks a job done. Only the lease holder can; returns false if the lease was lost meanwhile.
pub async fn complete(db: &Db, job: &ClaimedJob, node: &str) -> Result<bool> {
    let now = db.now();
    let done = sqlx::query(
        "UPDATE jobs SET status = 'succeeded', finished_at = $1, updated_at = $1, lease_until = NULL, last_error = NULL \
         WHERE id = $2 AND locked_by = $3 AND status = 'running'",
    )
    .bind(now.0)
    .bind(&job.id)
    .bind(node)
    .execute_write(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failure: retried later with exponential backoff, or failed for good after `max_attempts`.
pub async fn fail(db: &Db, job: &ClaimedJob, node: &str, error: &str) -> Result<bool> {
    let now = db.now();
    let error: String = error.chars().take(2000).collect();
    let done = if job.attempts >= job.max_attempts {
        sqlx::query(
            "UPDATE jobs SET status = 'failed', last_error = $1, finished_at = $2, updated_at = $2, lease_until = NULL \
             WHERE id = $3 AND locked_by = $4 AND status = 'running'",
        )
        .bind(&error)
        .bind(now.0)
        .bind(&job.id)
        .bind(node)
        .execute_write(db)
        .await?
    } else {
        let shift = u32::try_from(job.attempts.clamp(0, 12)).unwrap_or(12);
        let backoff = Duration::from_secs(5u64 << shift);
        sqlx::query(
            "UPDATE jobs SET status = 'queued', last_error = $1, run_at = $2, updated_at = $3, lease_until = NULL, locked_by = NULL \
             WHERE id = $4 AND locked_by = $5 AND status = 'running'",
        )
        .bind(&error)
        .bind(now.plus(backoff).0)
        .bind(now.0)
        .bind(&job.id)
        .bind(node)
        .execute_write(db)
        .await?
    };
    Ok(done.rows_affected() == 1)
}

/// Deletes finished jobs (succeeded or failed) older than `age`; returns how many.
pub async fn prune_finished(db: &Db, age: Duration) -> Result<u64> {
    let cutoff = db.now().minus(age).0;
    let done = sqlx::query("DELETE FROM jobs WHERE status IN ('succeeded', 'failed') AND finished_at < $1")
        .bind(cutoff)
        .execute_write(db)
        .await?;
    Ok(done.rows_affected())
}

/// A job's state, for the console and tests.
#[derive(Debug, Clone, Serialize)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub dedupe_key: Option<String>,
    pub run_at: Timestamp,
}

/// The most recent jobs, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<JobRecord>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: String,
        kind: String,
        status: String,
        attempts: i64,
        locked_by: Option<String>,
        last_error: Option<String>,
        dedupe_key: Option<String>,
        run_at: i64,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, kind, status, attempts, locked_by, last_error, dedupe_key, run_at FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 10_000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| JobRecord {
            id: r.id,
            kind: r.kind,
            status: r.status,
            attempts: r.attempts,
            locked_by: r.locked_by,
            last_error: r.last_error,
            dedupe_key: r.dedupe_key,
            run_at: Timestamp(r.run_at),
        })
        .collect())
}

/// A parsed cron expression: six fields with seconds, or the classic five (seconds = 0).
#[derive(Debug, Clone)]
pub struct CronExpr(cron::Schedule);

impl FromStr for CronExpr {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let fields = s.split_whitespace().count();
        let text = if fields == 5 { format!("0 {s}") } else { s.to_owned() };
        cron::Schedule::from_str(&text)
            .map(CronExpr)
            .map_err(|e| StoreError::Invalid(format!("`{s}` is not a cron expression: {e}")))
    }
}

impl CronExpr {
    /// The first slot strictly after `t`.
    #[must_use]
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let dt = t.to_datetime()?;
        self.0.after(&dt).next().map(Timestamp::from_datetime)
    }
}

/// Creates or updates a schedule. Its next slot is kept when the expression is unchanged.
pub async fn upsert_schedule(
    db: &Db,
    name: &str,
    cron_expr: &str,
    job_kind: &str,
    payload: serde_json::Value,
) -> Result<()> {
    let expr: CronExpr = cron_expr.parse()?;
    let next = expr.next_after(db.now()).ok_or_else(|| StoreError::Invalid(format!("`{cron_expr}` never fires")))?;
    sqlx::query(
        "INSERT INTO schedules (name, cron, job_kind, payload, enabled, next_run_at) VALUES ($1, $2, $3, $4, 1, $5) \
         ON CONFLICT (name) DO UPDATE SET job_kind = excluded.job_kind, payload = excluded.payload, \
           next_run_at = CASE WHEN schedules.cron = excluded.cron THEN schedules.next_run_at ELSE excluded.next_run_at END, \
           cron = excluded.cron",
    )
    .bind(name)
    .bind(cron_expr)
    .bind(job_kind)
    .bind(payload.to_string())
    .bind(next.0)
    .execute_write(db)
    .await?;
    Ok(())
}

/// Removes a schedule (a built-in one renamed or retired); nothing happens when there is none.
pub async fn delete_schedule(db: &Db, name: &str) -> Result<()> {
    sqlx::query("DELETE FROM schedules WHERE name = $1").bind(name).execute_write(db).await?;
    Ok(())
}

/// Fires every due schedule that this node wins; returns how many jobs it enqueued.
///
/// Missed slots (all nodes were down) are not replayed: the schedule fires once and moves to the next
/// future slot, the usual cron behaviour for maintenance work.
pub async fn fire_due_schedules(db: &Db, node: &str) -> Result<usize> {
    let now = db.now();
    let due: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT name, cron, job_kind, payload, next_run_at FROM schedules WHERE enabled = 1 AND next_run_at <= $1",
    )
    .bind(now.0)
    .fetch_all(db.pool())
    .await?;
    let mut fired = 0;
    for (name, cron_text, kind, payload, slot) in due {
        let Ok(expr) = cron_text.parse::<CronExpr>() else {
            tracing::error!(schedule.name = %name, "stored cron expression no longer parses; schedule skipped");
            continue;
        };
        let Some(next) = expr.next_after(now) else {
            continue;
        };
        let mut tx = db.begin_write().await?;
        let won = sqlx::query("UPDATE schedules SET next_run_at = $1, last_run_at = $2, last_fired_by = $3 WHERE name = $4 AND next_run_at = $5")
            .bind(next.0)
            .bind(now.0)
            .bind(node)
            .bind(&name)
            .bind(slot)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if won {
            let job = NewJob {
                kind: kind.clone(),
                store_id: None,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                run_at: Some(now),
                max_attempts: 3,
                dedupe_key: Some(format!("schedule:{name}:{slot}")),
            };
            enqueue_on(&mut tx, db, job).await?;
            fired += 1;
        }
        tx.commit().await?;
    }
    Ok(fired)
}

/// A node's registration, refreshed by its runner.
pub async fn heartbeat(db: &Db, node: &str, hostname: &str, version: &str, started_at: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO nodes (id, hostname, version, started_at, last_seen_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at",
    )
    .bind(node)
    .bind(hostname)
    .bind(version)
    .bind(started_at.0)
    .bind(db.now().0)
    .execute_write(db)
    .await?;
    Ok(())
}

/// What a job handler gets.
#[derive(Debug, Clone)]
pub struct JobContext {
    pub db: Db,
    pub job: ClaimedJob,
    pub node: String,
}

/// Why a job failed. Its text is stored on the job (and retried with backoff); the variants let the runner and
/// tests tell a storage failure from a handler's own refusal.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The database failed under the handler.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No handler for this kind is registered on the node that claimed it.
    #[error("no handler for job kind `{0}` on this node")]
    NoHandler(String),
    /// The handler's own failure, described for the operator (never holding secrets).
    #[error("{0}")]
    Failed(String),
}

impl JobError {
    /// A handler failure from any error, with its full chain (`{:#}` for anyhow errors is the caller's choice).
    pub fn failed(e: impl std::fmt::Display) -> Self {
        JobError::Failed(e.to_string())
    }
}

/// A job handler's result; the error text is stored on the job.
pub type JobResult = std::result::Result<(), JobError>;
type HandlerFuture = Pin<Box<dyn Future<Output = JobResult> + Send>>;
type Handler = Arc<dyn Fn(JobContext) -> HandlerFuture + Send + Sync>;

/// Handlers by job kind. Domain crates register theirs at start-up.
#[derive(Clone, Default)]
pub struct Handlers(HashMap<String, Handler>);

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Handlers {
    /// Registers the handler for `kind` (replacing any earlier one).
    pub fn register<F, Fut>(&mut self, kind: &str, f: F)
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = JobResult> + Send + 'static,
    {
        self.0.insert(kind.to_owned(), Arc::new(move |ctx| Box::pin(f(ctx))));
    }

    #[must_use]
    pub fn kinds(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Runner settings.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub node: String,
    pub hostname: String,
    pub version: String,
    pub poll: Duration,
    pub lease: Duration,
}

/// Claims and runs jobs and fires schedules until `shutdown` resolves. Finishes the job in hand first.
pub async fn run(db: Db, handlers: Handlers, cfg: RunnerConfig, shutdown: impl Future<Output = ()>) {
    let started = db.now();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if let Err(e) = heartbeat(&db, &cfg.node, &cfg.hostname, &cfg.version, started).await {
            tracing::warn!(error = %e, "node heartbeat failed");
        }
        if let Err(e) = fire_due_schedules(&db, &cfg.node).await {
            tracing::warn!(error = %e, "firing schedules failed");
        }
        let mut worked = false;
        loop {
            // A node told to stop finishes the job in hand, not the whole backlog (a first start can find hundreds
            // of due jobs, e.g. the demo's six weeks of order mails); the other nodes or the next start take the rest.
            let stopping = tokio::select! {
                biased;
                () = &mut shutdown => true,
                () = std::future::ready(()) => false,
            };
            if stopping {
                return;
            }
            match claim(&db, &cfg.node, cfg.lease).await {
                Ok(Some(job)) => {
                    worked = true;
                    run_one(&db, &handlers, &cfg.node, cfg.lease, job).await;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming a job failed");
                    break;
                }
            }
        }
        let pause = if worked { Duration::from_millis(10) } else { cfg.poll };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

async fn run_one(db: &Db, handlers: &Handlers, node: &str, lease: Duration, job: ClaimedJob) {
    use tracing::Instrument;
    let span = tracing::info_span!("job", job.id = %job.id, job.kind = %job.kind, job.attempt = job.attempts);
    async move {
        let outcome = match handlers.0.get(&job.kind) {
            Some(h) => {
                // The lease is renewed at a third of its length while the handler runs.
                let mut work = h(JobContext { db: db.clone(), job: job.clone(), node: node.to_owned() });
                let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + lease / 3, lease / 3);
                loop {
                    tokio::select! {
                        outcome = &mut work => break outcome,
                        _ = renewal.tick() => match renew(db, &job, node, lease).await {
                            Ok(true) => {}
                            Ok(false) => tracing::warn!("job lease was lost while the job ran"),
                            Err(e) => tracing::warn!(error = %e, "renewing the job lease failed"),
                        },
                    }
                }
            }
            None => Err(JobError::NoHandler(job.kind.clone())),
        };
        let recorded = match &outcome {
            Ok(()) => complete(db, &job, node).await,
            Err(e) => {
                tracing::warn!(error = %e, "job failed");
                fail(db, &job, node, &e.to_string()).await
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!("job lease was lost before the result was recorded"),
            Err(e) => tracing::error!(error = %e, "recording the job result failed"),
        }
    }
    .instrument(span)
    .await;
}
