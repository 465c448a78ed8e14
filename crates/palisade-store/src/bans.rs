//! Temporary bans of client addresses, shared by every node through the database.
//!
//! A node counts an address's blocked requests itself (that happens on the hot path); when the count earns a ban,
//! the ban is written here so that every node refuses the address, and operators can see and lift it. Nodes read
//! the active bans every few seconds instead of per request.

use crate::db::ExecuteWrite;
use palisade_core::time::Timestamp;

use crate::Db;
use crate::audit::{self, NewEvent};
use crate::error::Result;
use crate::scope::PlatformScope;

/// One ban as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Ban {
    pub ip: String,
    pub banned_until: Timestamp,
    pub reason: String,
    pub created_at: Timestamp,
}

/// Bans `ip` until `until` (a longer ban already in place is kept).
pub async fn put(db: &Db, ip: &str, until: Timestamp, reason: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO shield_bans (ip, banned_until, reason, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ip) DO UPDATE SET \
           reason = CASE WHEN shield_bans.banned_until < excluded.banned_until THEN excluded.reason \
                    ELSE shield_bans.reason END, \
           created_at = CASE WHEN shield_bans.banned_until < excluded.created_at THEN excluded.created_at \
                        ELSE shield_bans.created_at END, \
           banned_until = CASE WHEN shield_bans.banned_until < excluded.banned_until THEN excluded.banned_until \
                          ELSE shield_bans.banned_until END",
    )
    .bind(ip)
    .bind(until.0)
    .bind(reason)
    .bind(db.now().0)
    .execute_write(db)
    .await?;
    Ok(())
}

/// The bans in force at `now`, newest first (at most `limit`).
pub async fn active(db: &Db, now: Timestamp, limit: i64) -> Result<Vec<Ban>> {
    let rows: Vec<(String, i64, String, i64)> = sqlx::query_as(
        "SELECT ip, banned_until, reason, created_at FROM shield_bans WHERE banned_until > $1 \
         ORDER BY created_at DESC, ip LIMIT $2",
    )
    .bind(now.0)
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(ip, until, reason, created)| Ban {
            ip,
            banned_until: Timestamp(until),
            reason,
            created_at: Timestamp(created),
        })
        .collect())
}

/// Lifts the ban on `ip` (an operator's decision, recorded in the platform's audit chain). Returns whether
/// there was one.
pub async fn lift(db: &Db, scope: &PlatformScope, ip: &str) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let lifted = sqlx::query("DELETE FROM shield_bans WHERE ip = $1").bind(ip).execute(&mut *tx).await?.rows_affected();
    if lifted > 0 {
        audit::record_platform(
            &mut tx,
            db,
            scope,
            NewEvent::new("firewall.ban_lifted", "platform").details(serde_json::json!({"ip": ip})),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(lifted > 0)
}

/// Deletes bans that ended before `before`; returns how many.
pub async fn purge(db: &Db, before: Timestamp) -> Result<u64> {
    let n = sqlx::query("DELETE FROM shield_bans WHERE banned_until <= $1").bind(before.0).execute_write(db).await?;
    Ok(n.rows_affected())
}
