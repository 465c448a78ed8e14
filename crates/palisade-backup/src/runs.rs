//! The record of platform backup work (`backup_runs`): every snapshot, verify, drill and prune, whoever ran it
//! (the job runner or an operator at the CLI). The matrix and the console read it.

use palisade_store::Db;
use palisade_store::db::ExecuteWrite;
use serde::Serialize;

use crate::error::Result;

/// The kinds of run recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    Snapshot,
    Verify,
    Drill,
    Prune,
}

impl RunKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Snapshot => "snapshot",
            RunKind::Verify => "verify",
            RunKind::Drill => "drill",
            RunKind::Prune => "prune",
        }
    }
}

/// A finished run, to record.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub kind: RunKind,
    pub target: &'a crate::Target,
    pub snapshot_id: Option<&'a str>,
    pub started_at: i64,
    pub ok: bool,
    pub detail: String,
    pub bytes: u64,
}

pub async fn record(db: &Db, run: NewRun<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO backup_runs (id, kind, target, off_machine, snapshot_id, started_at, finished_at, outcome, detail, bytes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(run.kind.as_str())
    .bind(run.target.to_string())
    .bind(i64::from(run.target.off_machine()))
    .bind(run.snapshot_id.map(str::to_owned))
    .bind(run.started_at)
    .bind(db.now().millis())
    .bind(if run.ok { "ok" } else { "failed" })
    .bind(run.detail)
    .bind(i64::try_from(run.bytes).unwrap_or(i64::MAX))
    .execute_write(db)
    .await?;
    Ok(())
}

/// A recorded run.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Run {
    pub kind: String,
    pub target: String,
    pub off_machine: i64,
    pub snapshot_id: Option<String>,
    pub started_at: i64,
    pub finished_at: i64,
    pub outcome: String,
    pub detail: String,
    pub bytes: i64,
}

const RUN_COLUMNS: &str = "kind, target, off_machine, snapshot_id, started_at, finished_at, outcome, detail, bytes";

/// The newest runs, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Run>> {
    let sql = format!("SELECT {RUN_COLUMNS} FROM backup_runs ORDER BY finished_at DESC, id DESC LIMIT $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(limit).fetch_all(db.pool()).await?)
}

/// Which targets a run may have gone to, for controls that ask whether a copy left the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Targets {
    Any,
    OffMachineOnly,
}

/// The newest successful run of `kind` finished after `since`, to the given targets.
pub async fn last_ok(db: &Db, kind: RunKind, since: i64, targets: Targets) -> Result<Option<Run>> {
    let off_machine_only = targets == Targets::OffMachineOnly;
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM backup_runs WHERE kind = $1 AND outcome = 'ok' AND finished_at >= $2 \
         AND off_machine >= $3 ORDER BY finished_at DESC, id DESC LIMIT 1"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(kind.as_str())
        .bind(since)
        .bind(i64::from(off_machine_only))
        .fetch_optional(db.pool())
        .await?)
}

/// The newest run of `kind`, whatever its outcome.
pub async fn last(db: &Db, kind: RunKind) -> Result<Option<Run>> {
    let sql =
        format!("SELECT {RUN_COLUMNS} FROM backup_runs WHERE kind = $1 ORDER BY finished_at DESC, id DESC LIMIT 1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(kind.as_str()).fetch_optional(db.pool()).await?)
}

/// Whether a successful verify run covered `snapshot_id`.
pub async fn verified(db: &Db, snapshot_id: &str) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM backup_runs WHERE kind = 'verify' AND outcome = 'ok' AND snapshot_id = $1",
    )
    .bind(snapshot_id)
    .fetch_one(db.pool())
    .await?;
    Ok(n > 0)
}
