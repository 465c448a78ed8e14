//! The firewall's recorded decisions (`shield_events`): written off the request path by the web layer's event
//! writer, read by the operator's console (every store) and by a store's staff (their store only), pruned daily.
//!
//! `palisade-shield` is a pure engine without I/O, so its storage lives here with the other shared firewall
//! tables (`bans`, `firewall`).

use crate::db::ExecuteWrite;
use palisade_core::StoreId;
use palisade_core::time::Timestamp;

use crate::Db;
use crate::error::Result;
use crate::scope::{PlatformScope, StaffScope, StoreScope};

/// Longest path kept with an event (longer ones are cut, on a character boundary).
pub const PATH_KEPT: usize = 512;

/// An event to record. `findings` is the engine's findings as JSON (what matched, where).
#[derive(Debug, Clone)]
pub struct NewShieldEvent<'a> {
    pub id: &'a str,
    pub at: Timestamp,
    /// The store the request's path names, resolved by the caller (`tenancy::store_id_by_key`); `None` for
    /// platform pages and paths that name no existing store.
    pub store: Option<StoreId>,
    pub client_ip: Option<&'a str>,
    pub method: &'a str,
    pub path: &'a str,
    pub action: &'a str,
    pub score: u32,
    pub rules: &'a [&'a str],
    pub findings: &'a serde_json::Value,
}

/// A recorded event as read back.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ShieldEventRow {
    pub id: String,
    pub at: Timestamp,
    pub client_ip: Option<String>,
    pub method: String,
    pub path: String,
    pub action: String,
    pub score: i64,
    /// Rule names (empty if the stored list does not parse).
    pub rules: Vec<String>,
    /// The stored findings (JSON array; `Null` if it does not parse).
    pub findings: serde_json::Value,
}

/// Records one event. A platform-level write: the writer task records every node's decisions, whichever store
/// the request was for.
pub async fn record(db: &Db, e: &NewShieldEvent<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO shield_events (id, at, store_id, client_ip, method, path, action, score, rules, findings) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.id)
    .bind(e.at.0)
    .bind(e.store.map(|s| s.to_string()))
    .bind(e.client_ip)
    .bind(e.method)
    .bind(e.path.chars().take(PATH_KEPT).collect::<String>())
    .bind(e.action)
    .bind(i64::from(e.score))
    .bind(serde_json::to_string(e.rules).unwrap_or_else(|_| "[]".to_owned()))
    .bind(e.findings.to_string())
    .execute_write(db)
    .await?;
    Ok(())
}

/// Deletes events recorded before `before`; returns how many went (the daily `shield.events_prune` job).
pub async fn prune(db: &Db, before: Timestamp) -> Result<u64> {
    let done = sqlx::query("DELETE FROM shield_events WHERE at < $1").bind(before.0).execute_write(db).await?;
    Ok(done.rows_affected())
}

type Row = (String, i64, Option<String>, String, String, String, i64, String, String);

const COLUMNS: &str = "id, at, client_ip, method, path, action, score, rules, findings";

fn row_from((id, at, client_ip, method, path, action, score, rules, findings): Row) -> ShieldEventRow {
    ShieldEventRow {
        id,
        at: Timestamp(at),
        client_ip,
        method,
        path,
        action,
        score,
        rules: serde_json::from_str(&rules).unwrap_or_default(),
        findings: serde_json::from_str(&findings).unwrap_or_default(),
    }
}

/// The newest events across the platform (every store and the platform's own pages), newest first: the
/// operator's console.
pub async fn recent_platform(db: &Db, _scope: &PlatformScope, limit: i64) -> Result<Vec<ShieldEventRow>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shield_events ORDER BY at DESC, id DESC LIMIT $1"
    )))
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(row_from).collect())
}

/// The newest events for one store's paths, newest first. Staff only: events carry client addresses.
pub async fn recent_for_store(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<ShieldEventRow>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM shield_events WHERE store_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
    )))
    .bind(scope.store_key())
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(row_from).collect())
}

/// How many firewall decisions of each action (e.g. `block`, `challenge`) were recorded on one store's paths
/// since `since`, most frequent first. Counts only: no addresses or paths (the weekly digest reads it).
pub async fn actions_for_store_since(db: &Db, scope: &StoreScope, since: Timestamp) -> Result<Vec<(String, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT action, COUNT(*) FROM shield_events WHERE store_id = $1 AND at >= $2 \
         GROUP BY action ORDER BY COUNT(*) DESC, action",
    )
    .bind(scope.store_key())
    .bind(since.0)
    .fetch_all(db.pool())
    .await?;
    Ok(rows)
}
