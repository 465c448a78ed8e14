//! The audit log: append-only, one SHA-256 hash chain per store plus one for the platform.
//!
//! Each event's hash covers its content and the previous event's hash, and `audit_heads` keeps the newest
//! link of each chain in the same transaction. Editing, deleting or re-ordering any event (even the newest)
//! breaks the chain, and [`verify_all`] names the first broken link. Database triggers refuse UPDATE and
//! DELETE on `audit_events` as a first wall; the chain catches whoever gets past them.

use palisade_core::time::Timestamp;
use palisade_core::{AuditEventId, StoreId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::{Backend, Db};
use crate::error::{Result, StoreError};
use crate::scope::{Actor, PlatformScope, StoreScope};

/// The chain name of platform-wide events.
pub const PLATFORM_CHAIN: &str = "platform";
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An event to append. `details` is free-form JSON; never put secrets in it.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub action: &'a str,
    pub target: &'a str,
    pub details: serde_json::Value,
    pub ip: Option<&'a str>,
}

impl<'a> NewEvent<'a> {
    #[must_use]
    pub fn new(action: &'a str, target: &'a str) -> Self {
        Self { action, target, details: serde_json::Value::Null, ip: None }
    }

    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }
}

/// A stored event.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEvent {
    pub id: String,
    pub chain: String,
    pub seq: i64,
    pub store_id: Option<String>,
    pub at: Timestamp,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub details: String,
    pub ip: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

type EventRow =
    (String, String, i64, Option<String>, i64, String, String, String, String, Option<String>, String, String);

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            id: r.0,
            chain: r.1,
            seq: r.2,
            store_id: r.3,
            at: Timestamp(r.4),
            actor: r.5,
            action: r.6,
            target: r.7,
            details: r.8,
            ip: r.9,
            prev_hash: r.10,
            hash: r.11,
        }
    }
}

const EVENT_COLUMNS: &str = "id, chain, seq, store_id, at, actor, action, target, details, ip, prev_hash, hash";

/// The hash of an event: SHA-256 over a versioned, length-prefixed encoding of every field and the previous hash.
fn event_hash(e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    h.update(b"palisade-audit-v1");
    let seq = e.seq.to_string();
    let at = e.at.0.to_string();
    let fields: [&str; 11] = [
        &e.id,
        &e.chain,
        &seq,
        e.store_id.as_deref().unwrap_or(""),
        &at,
        &e.actor,
        &e.action,
        &e.target,
        &e.details,
        e.ip.as_deref().unwrap_or(""),
        &e.prev_hash,
    ];
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an event to a store's chain inside the caller's transaction, so the event and the change it records
/// commit together.
pub async fn record_store(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    event: NewEvent<'_>,
) -> Result<AuditEvent> {
    let store = scope.store_key();
    append(conn, db, &store, Some(store.clone()), scope.actor(), event).await
}

/// Appends an event to the platform chain inside the caller's transaction.
pub async fn record_platform(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &PlatformScope,
    event: NewEvent<'_>,
) -> Result<AuditEvent> {
    append(conn, db, PLATFORM_CHAIN, None, scope.actor(), event).await
}

/// Appends an event about an account's own credentials (sign-in, MFA changes) to the platform chain, attributed
/// to that account. Needs no scope: it grants nothing, it only records.
pub async fn record_account_now(db: &Db, account: palisade_core::AccountId, event: NewEvent<'_>) -> Result<AuditEvent> {
    let mut tx = db.begin_write().await?;
    let e = record_account(&mut tx, db, account, event).await?;
    tx.commit().await?;
    Ok(e)
}

/// [`record_account_now`] inside the caller's transaction (a password reset records itself with the change).
pub async fn record_account(
    conn: &mut AnyConnection,
    db: &Db,
    account: palisade_core::AccountId,
    event: NewEvent<'_>,
) -> Result<AuditEvent> {
    append(conn, db, PLATFORM_CHAIN, None, Actor::Account(account), event).await
}

/// Appends one event in its own transaction (for actions that change nothing else, such as a login).
pub async fn record_store_now(db: &Db, scope: &StoreScope, event: NewEvent<'_>) -> Result<AuditEvent> {
    let mut tx = db.begin_write().await?;
    let e = record_store(&mut tx, db, scope, event).await?;
    tx.commit().await?;
    Ok(e)
}

/// Appends one platform event in its own transaction.
pub async fn record_platform_now(db: &Db, scope: &PlatformScope, event: NewEvent<'_>) -> Result<AuditEvent> {
    let mut tx = db.begin_write().await?;
    let e = record_platform(&mut tx, db, scope, event).await?;
    tx.commit().await?;
    Ok(e)
}

async fn append(
    conn: &mut AnyConnection,
    db: &Db,
    chain: &str,
    store_id: Option<String>,
    actor: Actor,
    event: NewEvent<'_>,
) -> Result<AuditEvent> {
    let now = db.now();
    // Make sure the head row exists, then lock it: appenders to one chain queue here instead of colliding.
    sqlx::query(
        "INSERT INTO audit_heads (chain, seq, hash, updated_at) VALUES ($1, 0, $2, $3) ON CONFLICT (chain) DO NOTHING",
    )
    .bind(chain)
    .bind(GENESIS)
    .bind(now.0)
    .execute(&mut *conn)
    .await?;
    let lock_sql = match db.backend() {
        Backend::Postgres => "SELECT seq, hash FROM audit_heads WHERE chain = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT seq, hash FROM audit_heads WHERE chain = $1",
    };
    let (head_seq, head_hash): (i64, String) = sqlx::query_as(lock_sql).bind(chain).fetch_one(&mut *conn).await?;
    // Audit details and targets are kept for years and exported: a card number that reached them by mistake
    // (a merchant's note, a field echoed into an event) is redacted here, once, for every caller.
    let details = if event.details.is_null() {
        "{}".to_owned()
    } else {
        palisade_core::redact::card_numbers(&event.details.to_string()).into_owned()
    };
    let mut e = AuditEvent {
        id: AuditEventId::new().to_string(),
        chain: chain.to_owned(),
        seq: head_seq + 1,
        store_id,
        at: now,
        actor: actor.as_audit_text(),
        action: event.action.to_owned(),
        target: palisade_core::redact::card_numbers(event.target).into_owned(),
        details,
        ip: event.ip.map(str::to_owned),
        prev_hash: head_hash,
        hash: String::new(),
    };
    e.hash = event_hash(&e);
    sqlx::query(
        "INSERT INTO audit_events (id, chain, seq, store_id, at, actor, action, target, details, ip, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&e.id)
    .bind(&e.chain)
    .bind(e.seq)
    .bind(&e.store_id)
    .bind(e.at.0)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.details)
    .bind(&e.ip)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET seq = $1, hash = $2, updated_at = $3 WHERE chain = $4")
        .bind(e.seq)
        .bind(&e.hash)
        .bind(now.0)
        .bind(chain)
        .execute(&mut *conn)
        .await?;
    Ok(e)
}

/// The newest events of one store, newest first.
pub async fn list_store(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<AuditEvent>> {
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT $2"
    )))
    .bind(scope.store_key())
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

/// The newest event of a store's chain with this action and target, if any (e.g. a recorded report hash).
pub async fn find_store(db: &Db, scope: &StoreScope, action: &str, target: &str) -> Result<Option<AuditEvent>> {
    find(db, &scope.store_key(), action, target).await
}

/// The newest platform event with this action and target, if any.
pub async fn find_platform(db: &Db, _scope: &PlatformScope, action: &str, target: &str) -> Result<Option<AuditEvent>> {
    find(db, PLATFORM_CHAIN, action, target).await
}

async fn find(db: &Db, chain: &str, action: &str, target: &str) -> Result<Option<AuditEvent>> {
    let row: Option<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE chain = $1 AND action = $2 AND target = $3 ORDER BY seq DESC LIMIT 1"
    )))
    .bind(chain)
    .bind(action)
    .bind(target)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(AuditEvent::from))
}

/// The newest platform events, newest first.
pub async fn list_platform(db: &Db, _scope: &PlatformScope, limit: i64) -> Result<Vec<AuditEvent>> {
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE chain = $1 ORDER BY seq DESC LIMIT $2"
    )))
    .bind(PLATFORM_CHAIN)
    .bind(limit.clamp(1, 1000))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

/// What is wrong at the first broken link of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BreakKind {
    /// The event's content no longer matches its hash: it was edited.
    ContentChanged,
    /// The event does not point at the previous event's hash: an event before it was replaced.
    LinkBroken,
    /// Sequence numbers jump: events were deleted.
    Missing { expected_seq: i64 },
    /// The chain ends before its recorded head: the newest events were deleted.
    Truncated { head_seq: i64 },
    /// The recorded head is missing or disagrees with the last event.
    HeadMismatch,
}

/// The first broken link found in a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    pub chain: String,
    /// The first event that fails to verify (for truncation: the last intact one, if any).
    pub event_id: Option<String>,
    pub seq: i64,
    #[serde(flatten)]
    pub kind: BreakKind,
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.event_id.as_deref().unwrap_or("-");
        match &self.kind {
            BreakKind::ContentChanged => {
                write!(f, "chain {}: event {id} (seq {}) was modified after it was written", self.chain, self.seq)
            }
            BreakKind::LinkBroken => {
                write!(f, "chain {}: event {id} (seq {}) does not link to the event before it", self.chain, self.seq)
            }
            BreakKind::Missing { expected_seq } => {
                write!(
                    f,
                    "chain {}: event(s) from seq {expected_seq} are missing; next present is {id} (seq {})",
                    self.chain, self.seq
                )
            }
            BreakKind::Truncated { head_seq } => {
                write!(
                    f,
                    "chain {}: events after seq {} (last intact {id}) are missing; the head says {head_seq}",
                    self.chain, self.seq
                )
            }
            BreakKind::HeadMismatch => write!(
                f,
                "chain {}: the recorded head disagrees with the last event {id} (seq {})",
                self.chain, self.seq
            ),
        }
    }
}

/// The outcome of verifying one chain.
#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub chain: String,
    pub events: i64,
    pub broken: Option<ChainBreak>,
}

/// Verifies one chain from its first event to its head.
pub async fn verify_chain(db: &Db, chain: &str) -> Result<ChainReport> {
    const PAGE: i64 = 2000;
    let mut expected_seq = 1;
    let mut prev_hash = GENESIS.to_owned();
    let mut last_id: Option<String> = None;
    let mut events = 0;
    loop {
        let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
        )))
        .bind(chain)
        .bind(expected_seq)
        .bind(PAGE)
        .fetch_all(db.pool())
        .await?;
        let n = rows.len();
        for row in rows {
            let e = AuditEvent::from(row);
            let fail = |kind| ChainReport {
                chain: chain.to_owned(),
                events,
                broken: Some(ChainBreak { chain: chain.to_owned(), event_id: Some(e.id.clone()), seq: e.seq, kind }),
            };
            if e.seq != expected_seq {
                return Ok(fail(BreakKind::Missing { expected_seq }));
            }
            if e.prev_hash != prev_hash {
                return Ok(fail(BreakKind::LinkBroken));
            }
            if event_hash(&e) != e.hash {
                return Ok(fail(BreakKind::ContentChanged));
            }
            events += 1;
            expected_seq += 1;
            prev_hash = e.hash;
            last_id = Some(e.id);
        }
        if i64::try_from(n).unwrap_or(0) < PAGE {
            break;
        }
    }
    let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_heads WHERE chain = $1")
        .bind(chain)
        .fetch_optional(db.pool())
        .await?;
    let last_seq = expected_seq - 1;
    let broken = match head {
        Some((head_seq, _)) if head_seq > last_seq => Some(ChainBreak {
            chain: chain.to_owned(),
            event_id: last_id,
            seq: last_seq,
            kind: BreakKind::Truncated { head_seq },
        }),
        Some((head_seq, head_hash)) if head_seq == last_seq && head_hash == prev_hash => None,
        _ => Some(ChainBreak {
            chain: chain.to_owned(),
            event_id: last_id,
            seq: last_seq,
            kind: BreakKind::HeadMismatch,
        }),
    };
    Ok(ChainReport { chain: chain.to_owned(), events, broken })
}

/// Verifies every chain (platform first, then stores in id order).
pub async fn verify_all(db: &Db) -> Result<Vec<ChainReport>> {
    let chains: Vec<(String,)> =
        sqlx::query_as("SELECT chain FROM audit_heads UNION SELECT DISTINCT chain FROM audit_events ORDER BY 1")
            .fetch_all(db.pool())
            .await?;
    let mut reports = Vec::with_capacity(chains.len());
    let mut ordered: Vec<String> = chains.into_iter().map(|(c,)| c).collect();
    ordered.sort_by_key(|c| c != PLATFORM_CHAIN);
    for chain in ordered {
        reports.push(verify_chain(db, &chain).await?);
    }
    Ok(reports)
}

/// Verifies one store's chain (used by the store's matrix control).
pub async fn verify_store(db: &Db, scope: &StoreScope) -> Result<ChainReport> {
    verify_chain(db, &scope.store_key()).await
}

/// Checks that a chain id names the platform or a store id, for CLI input.
pub fn parse_chain(s: &str) -> Result<String> {
    if s == PLATFORM_CHAIN {
        return Ok(s.to_owned());
    }
    s.parse::<StoreId>().map(|id| id.to_string()).map_err(|e| StoreError::Invalid(e.to_string()))
}
