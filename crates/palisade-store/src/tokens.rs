//! API tokens: prefixed, random, shown once, stored only as a SHA-256 hash.
//!
//! The prefix (`pal_op_` for operator tokens) lets secret scanners recognise a leaked token. The secret has
//! 256 bits of entropy, so a fast hash is enough (nothing to brute-force) and lookup is by hash; the final
//! comparison is constant-time anyway.

use crate::db::ExecuteWrite;
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, StoreId, TokenId};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub mod app;

use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::scope::{OperatorPrincipal, PlatformScope};
use crate::tenancy::{self, AccountKind};

/// What a token is for; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Platform operator (console and platform API).
    Operator,
    /// A store's integration or third-party app, limited to chosen permissions.
    Store,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Operator => "pal_op_",
            TokenKind::Store => "pal_st_",
        }
    }
}

/// A token's public description (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub account_id: AccountId,
    pub store_id: Option<StoreId>,
    pub name: String,
    /// The first characters, so a person can tell tokens apart.
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

/// A token to issue.
#[derive(Debug, Clone)]
pub struct IssueToken {
    pub kind: TokenKind,
    pub account_id: AccountId,
    pub store_id: Option<StoreId>,
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<Timestamp>,
}

fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn generate(kind: TokenKind) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{}{}", kind.prefix(), hex::encode(bytes))
}

/// What an installed app's token carries besides its scopes: which install it belongs to (its removal revokes it)
/// and the protected customer data level the store granted (what the API shows it of buyers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppGrant {
    pub extension_id: String,
    /// 0: no personal data; 1: without name, address, phone or email; 2: with them.
    pub data_level: u8,
}

/// Generates a token and stores its hash inside the caller's transaction; returns it with its description.
pub(crate) async fn insert_new(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    req: IssueToken,
    app: Option<&AppGrant>,
) -> Result<(TokenInfo, SecretString)> {
    let secret = generate(req.kind);
    let id = TokenId::new();
    let now = db.now();
    let shown_prefix: String = secret.chars().take(req.kind.prefix().len() + 6).collect();
    let scopes_json = serde_json::to_string(&req.scopes).map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO api_tokens (id, account_id, store_id, name, prefix, token_hash, scopes, created_at, expires_at, \
         extension_id, data_level) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(id.to_string())
    .bind(req.account_id.to_string())
    .bind(req.store_id.map(|s| s.to_string()))
    .bind(&req.name)
    .bind(&shown_prefix)
    .bind(hash_token(&secret))
    .bind(&scopes_json)
    .bind(now.0)
    .bind(req.expires_at.map(|t| t.0))
    .bind(app.map(|a| a.extension_id.as_str()))
    .bind(app.map(|a| i64::from(a.data_level)))
    .execute(&mut *tx)
    .await?;
    let info = TokenInfo {
        id,
        account_id: req.account_id,
        store_id: req.store_id,
        name: req.name,
        prefix: shown_prefix,
        scopes: req.scopes,
        created_at: now,
        expires_at: req.expires_at,
        last_used_at: None,
    };
    Ok((info, SecretString::from(secret)))
}

/// Issues a token, audited on the platform chain. The secret is returned once and never stored.
pub async fn issue(db: &Db, platform: &PlatformScope, req: IssueToken) -> Result<(TokenInfo, SecretString)> {
    let mut tx = db.begin_write().await?;
    let (info, secret) = insert_new(&mut tx, db, req, None).await?;
    let target = format!("token:{}", info.id);
    let details = serde_json::json!({"account": info.account_id.to_string(), "name": info.name, "expires_at": info.expires_at.map(|t| t.0)});
    audit::record_platform(&mut tx, db, platform, NewEvent::new("token.issued", &target).details(details)).await?;
    tx.commit().await?;
    Ok((info, secret))
}

/// Why a presented token was refused. Callers answer all of them with the same 401: the distinction is for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    Revoked,
    Expired,
    AccountDisabled,
    NotAnOperator,
    /// An app's token whose install is gone or disabled by the platform.
    AppNotRunning,
}

/// A presented token that exists, matches, and is neither revoked nor expired.
struct Checked {
    id: String,
    account_id: String,
    store_id: Option<String>,
    scopes: String,
    app: Option<AppGrant>,
}

type TokenRow = (String, String, Option<String>, String, Option<i64>, Option<i64>, String, Option<String>, Option<i64>);

/// The checks every token kind shares; records last use (time and IP) on success.
async fn check_presented(
    db: &Db,
    presented: &str,
    kind: TokenKind,
    ip: Option<&str>,
) -> Result<Result<Checked, Refusal>> {
    if !presented.starts_with(kind.prefix()) || presented.len() > 200 {
        return Ok(Err(Refusal::Malformed));
    }
    let hash = hash_token(presented);
    let row: Option<TokenRow> = sqlx::query_as(
        "SELECT id, account_id, store_id, token_hash, expires_at, revoked_at, scopes, extension_id, data_level \
         FROM api_tokens WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(db.pool())
    .await?;
    let Some((id, account_id, store_id, stored_hash, expires_at, revoked_at, scopes, extension_id, data_level)) = row
    else {
        return Ok(Err(Refusal::Unknown));
    };
    if !bool::from(stored_hash.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(Err(Refusal::Unknown));
    }
    let now = db.now();
    if revoked_at.is_some() {
        return Ok(Err(Refusal::Revoked));
    }
    if expires_at.is_some_and(|e| e <= now.0) {
        return Ok(Err(Refusal::Expired));
    }
    sqlx::query("UPDATE api_tokens SET last_used_at = $1, last_used_ip = $2 WHERE id = $3")
        .bind(now.0)
        .bind(ip)
        .bind(&id)
        .execute_write(db)
        .await?;
    // An app token whose level does not read as 0–1–2 is held to 0 (no personal data): fail closed.
    let app = extension_id.map(|extension_id| AppGrant {
        extension_id,
        data_level: data_level.and_then(|l| u8::try_from(l).ok()).filter(|l| *l <= 2).unwrap_or(0),
    });
    Ok(Ok(Checked { id, account_id, store_id, scopes, app }))
}

/// Checks an operator token and yields the operator's principal. Records last use (time and IP).
pub async fn authenticate_operator(
    db: &Db,
    presented: &str,
    ip: Option<&str>,
) -> Result<Result<OperatorPrincipal, Refusal>> {
    Ok(operator_token(db, presented, ip).await?.map(|(_, principal)| principal))
}

/// [`authenticate_operator`], with the token's id (console sessions remember which token opened them).
async fn operator_token(
    db: &Db,
    presented: &str,
    ip: Option<&str>,
) -> Result<Result<(TokenId, OperatorPrincipal), Refusal>> {
    let checked = match check_presented(db, presented, TokenKind::Operator, ip).await? {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let token_id: TokenId = checked.id.parse().map_err(|e| StoreError::Corrupt(format!("token id: {e}")))?;
    let account_id: AccountId =
        checked.account_id.parse().map_err(|e| StoreError::Corrupt(format!("token account: {e}")))?;
    Ok(operator_account(db, account_id).await?.map(|principal| (token_id, principal)))
}

/// The operator behind an account, if it is still one and still enabled.
async fn operator_account(db: &Db, account_id: AccountId) -> Result<Result<OperatorPrincipal, Refusal>> {
    let account = tenancy::get_account(db, account_id).await?;
    if account.disabled {
        return Ok(Err(Refusal::AccountDisabled));
    }
    if account.kind != AccountKind::Operator {
        return Ok(Err(Refusal::NotAnOperator));
    }
    Ok(Ok(OperatorPrincipal::new(account.id, account.email)))
}

/// How long a console session lasts at most (less if its token expires sooner).
pub const CONSOLE_SESSION: std::time::Duration = std::time::Duration::from_secs(8 * 3600);

const CONSOLE_SESSION_PREFIX: &str = "pal_cs_";

/// Signs an operator in to the console with a token: checks it as [`authenticate_operator`] does and opens a
/// server-side session, whose secret (not the token) goes in the console's cookie. The token stays with the
/// operator; signing out, the session's end, or the token's revocation or expiry closes the session.
pub async fn open_console_session(
    db: &Db,
    presented: &str,
    ip: Option<&str>,
) -> Result<Result<(OperatorPrincipal, SecretString), Refusal>> {
    let (token_id, principal) = match operator_token(db, presented, ip).await? {
        Ok(found) => found,
        Err(r) => return Ok(Err(r)),
    };
    let token_expiry: Option<(Option<i64>,)> = sqlx::query_as("SELECT expires_at FROM api_tokens WHERE id = $1")
        .bind(token_id.to_string())
        .fetch_optional(db.pool())
        .await?;
    let now = db.now().0;
    let longest = now.saturating_add(i64::try_from(CONSOLE_SESSION.as_millis()).unwrap_or(i64::MAX));
    let expires_at = token_expiry.and_then(|(e,)| e).map_or(longest, |e| e.min(longest));
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{CONSOLE_SESSION_PREFIX}{}", hex::encode(bytes));
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO console_sessions (id_hash, token_id, account_id, created_at, expires_at, ip) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash_token(&secret))
    .bind(token_id.to_string())
    .bind(principal.account_id().to_string())
    .bind(now)
    .bind(expires_at)
    .bind(ip)
    .execute(&mut *tx)
    .await?;
    let target = format!("token:{token_id}");
    let event = NewEvent::new("console.signed_in", &target).details(serde_json::json!({"ip": ip}));
    audit::record_platform(&mut tx, db, &principal.platform_scope(), event).await?;
    tx.commit().await?;
    Ok(Ok((principal, SecretString::from(secret))))
}

/// The operator of a live console session: not signed out, not past its end, its token neither revoked nor
/// expired, its account still an enabled operator. `None` for anything else, malformed values included.
pub async fn console_session(db: &Db, secret: &str) -> Result<Option<OperatorPrincipal>> {
    if !secret.starts_with(CONSOLE_SESSION_PREFIX) || secret.len() > 200 {
        return Ok(None);
    }
    let hash = hash_token(secret);
    let now = db.now().0;
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT s.id_hash, s.account_id FROM console_sessions s JOIN api_tokens t ON t.id = s.token_id \
         WHERE s.id_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 \
         AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
    )
    .bind(&hash)
    .bind(now)
    .fetch_optional(db.pool())
    .await?;
    let Some((stored, account)) = row else { return Ok(None) };
    if !bool::from(stored.as_bytes().ct_eq(hash.as_bytes())) {
        return Ok(None);
    }
    let account: AccountId =
        account.parse().map_err(|e| StoreError::Corrupt(format!("console session account: {e}")))?;
    Ok(operator_account(db, account).await?.ok())
}

/// Ends a console session (signing out). Unknown or already closed sessions are not an error.
pub async fn close_console_session(db: &Db, secret: &str) -> Result<()> {
    if !secret.starts_with(CONSOLE_SESSION_PREFIX) || secret.len() > 200 {
        return Ok(());
    }
    sqlx::query("UPDATE console_sessions SET revoked_at = $1 WHERE id_hash = $2 AND revoked_at IS NULL")
        .bind(db.now().0)
        .bind(hash_token(secret))
        .execute_write(db)
        .await?;
    Ok(())
}

/// Revokes a token, audited.
pub async fn revoke(db: &Db, platform: &PlatformScope, id: TokenId) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(db.now().0)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("active token"));
    }
    let target = format!("token:{id}");
    audit::record_platform(&mut tx, db, platform, NewEvent::new("token.revoked", &target)).await?;
    tx.commit().await?;
    Ok(())
}

/// Active (unrevoked, unexpired) operator tokens, with their expiry, for the matrix.
pub async fn active_operator_tokens(db: &Db) -> Result<Vec<(TokenId, Option<Timestamp>)>> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT t.id, t.expires_at FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
         WHERE a.kind = 'operator' AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $1)",
    )
    .bind(db.now().0)
    .fetch_all(db.pool())
    .await?;
    expiring_ids(rows)
}

/// One account's active (unrevoked, unexpired) platform tokens with their expiry: lets
/// `palisade serve --demo` keep the demo operator's token across restarts instead of minting one each time.
pub async fn active_tokens_of(db: &Db, account: AccountId) -> Result<Vec<(TokenId, Option<Timestamp>)>> {
    let rows: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT id, expires_at FROM api_tokens WHERE account_id = $1 AND store_id IS NULL AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(account.to_string())
    .bind(db.now().0)
    .fetch_all(db.pool())
    .await?;
    expiring_ids(rows)
}

/// (id, expiry) rows as typed values; an id that does not parse is corruption, not a missing token.
fn expiring_ids(rows: Vec<(String, Option<i64>)>) -> Result<Vec<(TokenId, Option<Timestamp>)>> {
    rows.into_iter()
        .map(|(id, exp)| {
            Ok((id.parse().map_err(|e| StoreError::Corrupt(format!("token id: {e}")))?, exp.map(Timestamp)))
        })
        .collect()
}

/// Helper for tests and the CLI: the secret's text.
#[must_use]
pub fn reveal(secret: &SecretString) -> &str {
    secret.expose_secret()
}

/// An authenticated store token: acts for its creator, limited to its scopes and the creator's current rights.
#[derive(Debug, Clone)]
pub struct StoreToken {
    pub id: TokenId,
    pub store_id: StoreId,
    pub created_by: AccountId,
    pub scopes: Vec<crate::permissions::Permission>,
    /// Set when the token is an installed app's (see [`app`]).
    pub app: Option<AppGrant>,
}

/// Checks a store token (`pal_st_…`). Records last use; the caller audits the use.
pub async fn authenticate_store(db: &Db, presented: &str, ip: Option<&str>) -> Result<Result<StoreToken, Refusal>> {
    let checked = match check_presented(db, presented, TokenKind::Store, ip).await? {
        Ok(c) => c,
        Err(r) => return Ok(Err(r)),
    };
    let Some(store_id) = checked.store_id else { return Ok(Err(Refusal::Unknown)) };
    if let Some(app) = &checked.app
        && !app::running(db.pool(), &store_id, &app.extension_id).await?
    {
        return Ok(Err(Refusal::AppNotRunning));
    }
    let corrupt = |e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string());
    Ok(Ok(StoreToken {
        id: checked.id.parse().map_err(corrupt)?,
        store_id: store_id.parse().map_err(corrupt)?,
        created_by: checked.account_id.parse().map_err(corrupt)?,
        scopes: crate::permissions::parse_stored(&checked.scopes),
        app: checked.app,
    }))
}

/// Issues a token for the scoped store, audited on the store's chain. The secret is returned once.
pub async fn issue_store(
    db: &Db,
    scope: &crate::scope::StoreScope,
    created_by: AccountId,
    name: &str,
    scopes: &[crate::permissions::Permission],
    expires_at: Option<Timestamp>,
) -> Result<(TokenInfo, SecretString)> {
    let req = IssueToken {
        kind: TokenKind::Store,
        account_id: created_by,
        store_id: Some(scope.store_id()),
        name: name.to_owned(),
        scopes: scopes.iter().map(|p| p.key().to_owned()).collect(),
        expires_at,
    };
    let mut tx = db.begin_write().await?;
    let (info, secret) = insert_new(&mut tx, db, req, None).await?;
    let target = format!("token:{}", info.id);
    let details = serde_json::json!({"name": info.name, "scopes": info.scopes, "expires_at": expires_at.map(|t| t.0)});
    audit::record_store(&mut tx, db, scope, NewEvent::new("api_token.issued", &target).details(details)).await?;
    tx.commit().await?;
    Ok((info, secret))
}

/// A store token as listed in the Security Center.
#[derive(Debug, Clone, Serialize)]
pub struct StoreTokenListing {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    /// The installed app the token belongs to; `None` for a token staff created.
    pub extension_id: Option<String>,
}

type ListingRow = (String, String, String, String, i64, Option<i64>, Option<i64>, Option<String>, Option<String>);

/// The scoped store's active tokens.
pub async fn list_store(db: &Db, scope: &crate::scope::StoreScope) -> Result<Vec<StoreTokenListing>> {
    let rows: Vec<ListingRow> = sqlx::query_as(
        "SELECT id, name, prefix, scopes, created_at, expires_at, last_used_at, last_used_ip, extension_id FROM api_tokens \
         WHERE store_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2) ORDER BY created_at DESC",
    )
    .bind(scope.store_key())
    .bind(db.now().0)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoreTokenListing {
            id: r.0,
            name: r.1,
            prefix: r.2,
            scopes: serde_json::from_str(&r.3).unwrap_or_default(),
            created_at: Timestamp(r.4),
            expires_at: r.5.map(Timestamp),
            last_used_at: r.6.map(Timestamp),
            last_used_ip: r.7,
            extension_id: r.8,
        })
        .collect())
}

/// Revokes one of the scoped store's tokens, audited.
pub async fn revoke_store(db: &Db, scope: &crate::scope::StoreScope, id: TokenId) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let done =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND store_id = $3 AND revoked_at IS NULL")
            .bind(db.now().0)
            .bind(id.to_string())
            .bind(scope.store_key())
            .execute(&mut *tx)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("active token"));
    }
    let target = format!("token:{id}");
    audit::record_store(&mut tx, db, scope, NewEvent::new("api_token.revoked", &target)).await?;
    tx.commit().await?;
    Ok(())
}
