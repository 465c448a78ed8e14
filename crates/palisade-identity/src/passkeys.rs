//! Passkeys (WebAuthn) with webauthn-rs: register several, name them, remove them, and use one as the second
//! step of sign-in. Ceremony state is kept server-side in the database (single use, five minutes), so any node
//! can finish a ceremony another node started.

use palisade_store::db::ExecuteWrite;
use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::tenancy::Account;
use palisade_store::{Db, StoreError};
use serde::Serialize;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url, Webauthn, WebauthnBuilder,
};

use crate::error::{IdentityError, Result};
use crate::sessions::{self, Session};

const CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);

/// The relying party: who passkeys are registered with.
pub fn relying_party(public_url: &str, name: &str) -> std::result::Result<Webauthn, String> {
    let origin = Url::parse(public_url).map_err(|e| format!("`{public_url}` is not a URL: {e}"))?;
    let host = origin.host_str().ok_or_else(|| format!("`{public_url}` has no host"))?.to_owned();
    WebauthnBuilder::new(&host, &origin)
        .map_err(|e| format!("passkeys need a domain name (not an IP address) in the public URL: {e}"))?
        .rp_name(name)
        .build()
        .map_err(|e| e.to_string())
}

/// A passkey as listed on the account page.
#[derive(Debug, Clone, Serialize)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

fn store_err(e: sqlx::Error) -> IdentityError {
    IdentityError::Store(StoreError::from(e))
}

fn webauthn_err(e: impl std::fmt::Display) -> IdentityError {
    tracing::info!(error = %e, "webauthn ceremony refused");
    IdentityError::InvalidCode
}

async fn stored(db: &Db, account: AccountId) -> Result<Vec<(String, Passkey)>> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, passkey FROM passkeys WHERE account_id = $1")
        .bind(account.to_string())
        .fetch_all(db.pool())
        .await
        .map_err(store_err)?;
    rows.into_iter()
        .map(|(id, json)| {
            serde_json::from_str(&json)
                .map(|p| (id, p))
                .map_err(|e| IdentityError::Store(StoreError::Corrupt(format!("stored passkey: {e}"))))
        })
        .collect()
}

async fn save_challenge(db: &Db, account: AccountId, purpose: &str, state: &impl Serialize) -> Result<String> {
    let id = palisade_core::TokenId::new().to_string();
    let json = serde_json::to_string(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query("DELETE FROM webauthn_challenges WHERE expires_at < $1")
        .bind(db.now().0)
        .execute_write(db)
        .await
        .map_err(IdentityError::Store)?;
    sqlx::query(
        "INSERT INTO webauthn_challenges (id, account_id, purpose, state, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(account.to_string())
    .bind(purpose)
    .bind(json)
    .bind(db.now().plus(CHALLENGE_TTL).0)
    .execute_write(db)
    .await
    .map_err(IdentityError::Store)?;
    Ok(id)
}

/// Takes a challenge out (single use) if it belongs to `account`, has `purpose` and has not expired.
async fn take_challenge<T: serde::de::DeserializeOwned>(
    db: &Db,
    account: AccountId,
    purpose: &str,
    id: &str,
) -> Result<T> {
    let row: Option<(String, i64)> = sqlx::query_as(
        "DELETE FROM webauthn_challenges WHERE id = $1 AND account_id = $2 AND purpose = $3 RETURNING state, expires_at",
    )
    .bind(id)
    .bind(account.to_string())
    .bind(purpose)
    .fetch_optional(db.pool())
    .await
    .map_err(store_err)?;
    let (state, expires_at) = row.ok_or(IdentityError::InvalidCode)?;
    if expires_at <= db.now().0 {
        return Err(IdentityError::InvalidCode);
    }
    serde_json::from_str(&state).map_err(|e| IdentityError::Store(StoreError::Corrupt(format!("ceremony state: {e}"))))
}

/// Starts registering a new passkey for a signed-in account.
pub async fn start_registration(
    rp: &Webauthn,
    db: &Db,
    account: &Account,
) -> Result<(String, CreationChallengeResponse)> {
    let existing: Vec<_> = stored(db, account.id).await?.into_iter().map(|(_, p)| p.cred_id().clone()).collect();
    let (options, state) = rp
        .start_passkey_registration(account.id.as_uuid(), &account.email, &account.display_name, Some(existing))
        .map_err(webauthn_err)?;
    let id = save_challenge(db, account.id, "register", &state).await?;
    Ok((id, options))
}

/// Finishes registration; the passkey is stored under the given name.
pub async fn finish_registration(
    rp: &Webauthn,
    db: &Db,
    account: &Account,
    challenge: &str,
    name: &str,
    credential: &RegisterPublicKeyCredential,
) -> Result<PasskeyInfo> {
    let state: PasskeyRegistration = take_challenge(db, account.id, "register", challenge).await?;
    let passkey = rp.finish_passkey_registration(credential, &state).map_err(webauthn_err)?;
    let name = palisade_core::text::display_name("name", name).unwrap_or_else(|_| "Passkey".to_owned());
    let id = palisade_core::TokenId::new().to_string();
    let now = db.now();
    let cred_id = serde_json::to_string(passkey.cred_id()).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let json = serde_json::to_string(&passkey).map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query("INSERT INTO passkeys (id, account_id, name, credential_id, passkey, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(&id)
        .bind(account.id.to_string())
        .bind(&name)
        .bind(cred_id)
        .bind(json)
        .bind(now.0)
        .execute_write(db)
        .await
        .map_err(IdentityError::Store)?;
    let target = format!("account:{}", account.id);
    audit::record_account_now(
        db,
        account.id,
        NewEvent::new("mfa.passkey_added", &target).details(serde_json::json!({"name": name})),
    )
    .await?;
    Ok(PasskeyInfo { id, name, created_at: now, last_used_at: None })
}

/// Starts a passkey sign-in step for the session's account.
pub async fn start_authentication(
    rp: &Webauthn,
    db: &Db,
    account: AccountId,
) -> Result<(String, RequestChallengeResponse)> {
    let keys: Vec<Passkey> = stored(db, account).await?.into_iter().map(|(_, p)| p).collect();
    if keys.is_empty() {
        return Err(IdentityError::NotAllowed("this account has no passkey"));
    }
    let (options, state) = rp.start_passkey_authentication(&keys).map_err(webauthn_err)?;
    let id = save_challenge(db, account, "authenticate", &state).await?;
    Ok((id, options))
}

/// Finishes the passkey step: the session's second factor is passed.
pub async fn finish_authentication(
    rp: &Webauthn,
    db: &Db,
    session: &Session,
    challenge: &str,
    credential: &PublicKeyCredential,
) -> Result<()> {
    let state: PasskeyAuthentication = take_challenge(db, session.account_id, "authenticate", challenge).await?;
    let result = rp.finish_passkey_authentication(credential, &state).map_err(webauthn_err)?;
    // Keep the signature counter current (a cloned authenticator shows up as a counter going backwards).
    for (id, mut key) in stored(db, session.account_id).await? {
        if key.update_credential(&result).is_some() {
            let json = serde_json::to_string(&key).map_err(|e| StoreError::Invalid(e.to_string()))?;
            sqlx::query("UPDATE passkeys SET passkey = $1, last_used_at = $2 WHERE id = $3")
                .bind(json)
                .bind(db.now().0)
                .bind(&id)
                .execute_write(db)
                .await
                .map_err(IdentityError::Store)?;
        }
    }
    sessions::mark_mfa(db, session).await?;
    let target = format!("account:{}", session.account_id);
    audit::record_account_now(
        db,
        session.account_id,
        NewEvent::new("login.second_factor_passed", &target).details(serde_json::json!({"method": "passkey"})),
    )
    .await?;
    Ok(())
}

/// The account's passkeys.
pub async fn list(db: &Db, account: AccountId) -> Result<Vec<PasskeyInfo>> {
    let rows: Vec<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE account_id = $1 ORDER BY created_at",
    )
    .bind(account.to_string())
    .fetch_all(db.pool())
    .await
    .map_err(store_err)?;
    Ok(rows
        .into_iter()
        .map(|r| PasskeyInfo { id: r.0, name: r.1, created_at: Timestamp(r.2), last_used_at: r.3.map(Timestamp) })
        .collect())
}

/// Removes one of the account's passkeys, audited.
pub async fn remove(db: &Db, account: &Account, id: &str) -> Result<()> {
    let done = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND account_id = $2")
        .bind(id)
        .bind(account.id.to_string())
        .execute_write(db)
        .await
        .map_err(IdentityError::Store)?;
    if done.rows_affected() == 0 {
        return Err(IdentityError::Store(StoreError::NotFound("passkey")));
    }
    let target = format!("account:{}", account.id);
    audit::record_account_now(db, account.id, NewEvent::new("mfa.passkey_removed", &target)).await?;
    Ok(())
}

/// Re-exported protocol types for the web layer.
pub mod proto {
    pub use webauthn_rs::prelude::{
        CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential, RequestChallengeResponse,
    };
}
