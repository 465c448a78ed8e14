//! Server-side sessions. The cookie holds 256 random bits; the database holds only their SHA-256.
//!
//! A session has an absolute lifetime and an idle timeout; it records when the second factor was passed
//! (`mfa_at`) and when the password was last re-entered (`reauth_at`, for step-up on sensitive actions).

use palisade_store::db::ExecuteWrite;
use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use palisade_store::{Db, StoreError};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Lifetimes for one kind of account.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    pub absolute: Duration,
    pub idle: Duration,
}

/// Staff and operators: a working day, 30 minutes idle.
pub const STAFF: Lifetime = Lifetime { absolute: Duration::from_secs(12 * 3600), idle: Duration::from_secs(30 * 60) };
/// Buyers: 30 days, a week idle.
pub const BUYER: Lifetime =
    Lifetime { absolute: Duration::from_secs(30 * 24 * 3600), idle: Duration::from_secs(7 * 24 * 3600) };

/// Only write `last_seen_at` when it is at least this old, to keep reads cheap.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> SecretString {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    SecretString::from(hex::encode(b))
}

/// A live session.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// The stored hash; safe to show and to use as the id in "revoke this session".
    pub id: String,
    pub account_id: AccountId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub mfa_at: Option<Timestamp>,
    pub reauth_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

type Row = (String, String, i64, i64, i64, Option<i64>, i64, Option<String>, Option<String>, Option<i64>);
const COLUMNS: &str =
    "id_hash, account_id, created_at, last_seen_at, expires_at, mfa_at, reauth_at, ip, user_agent, revoked_at";

fn from_row(r: Row) -> Result<Session, StoreError> {
    Ok(Session {
        id: r.0,
        account_id: r.1.parse().map_err(|e| StoreError::Corrupt(format!("session account: {e}")))?,
        created_at: Timestamp(r.2),
        last_seen_at: Timestamp(r.3),
        expires_at: Timestamp(r.4),
        mfa_at: r.5.map(Timestamp),
        reauth_at: Timestamp(r.6),
        ip: r.7,
        user_agent: r.8,
    })
}

/// Where a session comes from.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The device cookie the browser presented, if any (see `devices`).
    pub device: Option<String>,
}

/// Where a new session stands on the second factor: passed (or none is needed), or still to be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Passed,
    Pending,
}

/// Starts a session right after the password was checked.
pub async fn create(
    db: &Db,
    account: AccountId,
    life: Lifetime,
    client: &Client,
    second: SecondFactor,
) -> Result<(SecretString, Session), StoreError> {
    let token = new_token();
    let now = db.now();
    let ua: Option<String> = client.user_agent.as_ref().map(|u| u.chars().take(300).collect());
    let s = Session {
        id: hash(token.expose_secret()),
        account_id: account,
        created_at: now,
        last_seen_at: now,
        expires_at: now.plus(life.absolute),
        mfa_at: (second == SecondFactor::Passed).then_some(now),
        reauth_at: now,
        ip: client.ip.clone(),
        user_agent: ua,
    };
    sqlx::query(
        "INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, expires_at, mfa_at, reauth_at, ip, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $3, $6, $7)",
    )
    .bind(&s.id)
    .bind(account.to_string())
    .bind(now.0)
    .bind(s.expires_at.0)
    .bind(s.mfa_at.map(|t| t.0))
    .bind(&s.ip)
    .bind(&s.user_agent)
    .execute_write(db)
    .await?;
    Ok((token, s))
}

/// The live session for a cookie value, if any (not revoked, not expired, not idle too long), counted as activity.
pub async fn lookup(db: &Db, token: &str, life: Lifetime) -> Result<Option<Session>, StoreError> {
    let Some(s) = find(db, token, life).await? else { return Ok(None) };
    touch(db, &s).await?;
    Ok(Some(s))
}

/// The live session for a cookie value under `life`, without counting it as activity: for readers that only
/// need to know whose it is (the rate limiter), and for callers that check a stricter lifetime before they
/// [`touch`] it — a lookup that refreshed it first would keep an idle staff session alive.
pub async fn find(db: &Db, token: &str, life: Lifetime) -> Result<Option<Session>, StoreError> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let id = hash(token);
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM sessions WHERE id_hash = $1")))
            .bind(&id)
            .fetch_optional(db.pool())
            .await?;
    let Some(row) = row else { return Ok(None) };
    let revoked = row.9.is_some();
    let s = from_row(row)?;
    let now = db.now();
    if revoked || s.expires_at <= now || s.last_seen_at.plus(life.idle) <= now {
        return Ok(None);
    }
    Ok(Some(s))
}

/// Records activity on a session found live (at most once a minute, to spare the database).
pub async fn touch(db: &Db, s: &Session) -> Result<(), StoreError> {
    let now = db.now();
    if s.last_seen_at.plus(TOUCH_EVERY) <= now {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
            .bind(now.0)
            .bind(&s.id)
            .execute_write(db)
            .await?;
    }
    Ok(())
}

/// Replaces the session's id (after sign-in steps and privilege changes) so a fixed or leaked earlier id is
/// useless. Returns the new cookie value.
pub async fn rotate(db: &Db, session: &Session) -> Result<SecretString, StoreError> {
    let token = new_token();
    let done = sqlx::query("UPDATE sessions SET id_hash = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
        .bind(hash(token.expose_secret()))
        .bind(&session.id)
        .execute_write(db)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("session"));
    }
    Ok(token)
}

/// Records that the second factor was passed in this session.
pub async fn mark_mfa(db: &Db, session: &Session) -> Result<(), StoreError> {
    let now = db.now().0;
    sqlx::query("UPDATE sessions SET mfa_at = $1, reauth_at = $1 WHERE id_hash = $2")
        .bind(now)
        .bind(&session.id)
        .execute_write(db)
        .await?;
    Ok(())
}

/// Records a fresh re-authentication (step-up).
pub async fn mark_reauth(db: &Db, session: &Session) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET reauth_at = $1 WHERE id_hash = $2")
        .bind(db.now().0)
        .bind(&session.id)
        .execute_write(db)
        .await?;
    Ok(())
}

/// True when the password was entered within `window` (sensitive actions ask again otherwise).
#[must_use]
pub fn is_fresh(session: &Session, now: Timestamp, window: Duration) -> bool {
    session.reauth_at.plus(window) > now
}

/// Ends one session of `account` (its id as listed).
pub async fn revoke(db: &Db, account: AccountId, id: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id_hash = $2 AND account_id = $3 AND revoked_at IS NULL",
    )
    .bind(db.now().0)
    .bind(id)
    .bind(account.to_string())
    .execute_write(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends every session of `account` except `keep` ("sign out everywhere else"); returns how many ended.
pub async fn revoke_all(db: &Db, account: AccountId, keep: Option<&str>) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL AND id_hash <> $3 AND expires_at > $1",
    )
    .bind(db.now().0)
    .bind(account.to_string())
    .bind(keep.unwrap_or(""))
    .execute_write(db)
    .await?;
    Ok(done.rows_affected())
}

/// The account's live sessions, most recent first.
pub async fn list(db: &Db, account: AccountId) -> Result<Vec<Session>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM sessions WHERE account_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_seen_at DESC"
    )))
    .bind(account.to_string())
    .bind(db.now().0)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}
