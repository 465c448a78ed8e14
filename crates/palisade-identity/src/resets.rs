//! Forgotten passwords: a single-use link, mailed to the account's address, valid for [`VALID_FOR`].
//!
//! Asking says nothing about who has an account: the answer is the same, a mail goes to the address either way
//! (a link to the owner of an account, a note that there is none otherwise) and requests are throttled per
//! address and per client before any mail is queued. The link's token is kept only as a hash. Using it sets the
//! password (the same policy as everywhere), voids the account's other links, signs every session out and revokes
//! the store API tokens the account made, in one transaction; it does not sign anyone in, so two-step verification is still asked for at the next sign-in.

use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::text::Email;
use palisade_store::audit::{self, NewEvent};
use palisade_store::tenancy::{self, Account};
use palisade_store::{Db, StoreError, outbox};
use rand::RngCore;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{IdentityError, Result};
use crate::service::Identity;
use crate::throttle::{self, Policy};

/// How long a reset link works.
pub const VALID_FOR: Duration = Duration::from_secs(30 * 60);

/// Reset requests per address: three mails an hour at most (a reset mail is not a way to flood someone's inbox).
pub const PER_ADDRESS: Policy = Policy {
    window: Duration::from_secs(3600),
    free_failures: 3,
    lock_after: 10,
    lock_for: Duration::from_secs(3600),
    max_delay: Duration::from_secs(15 * 60),
};

/// Reset requests per client address: ten mails an hour, generous for shared addresses, but one source cannot mail
/// the world.
pub const PER_CLIENT: Policy = Policy {
    window: Duration::from_secs(3600),
    free_failures: 10,
    lock_after: 30,
    lock_for: Duration::from_secs(3600),
    max_delay: Duration::from_secs(15 * 60),
};

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("palisade-reset-v1:{token}").as_bytes()))
}

/// What became of a request; the visitor is told the same thing in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// A link went to the account's address.
    LinkSent,
    /// The address has no usable account: a note saying so went to it instead.
    NoAccountNoted,
    /// Too many requests for this address or from this client: nothing was sent.
    Throttled,
    /// Not an email address: nothing to send.
    NotAnAddress,
}

/// Handles "I forgot my password" for `email`. `link_base` is the site's public address; `client` the requester's.
pub async fn request(identity: &Identity, email: &str, client: Option<&str>, link_base: &str) -> Result<Requested> {
    let db = identity.db();
    let Ok(email) = Email::parse(email.trim()) else { return Ok(Requested::NotAnAddress) };
    let keys = [
        Some((throttle::email_key(identity.links(), "reset", email.as_str()), PER_ADDRESS)),
        client.map(|c| (format!("reset-{}", throttle::ip_key(c)), PER_CLIENT)),
    ];
    // Every request counts, answered or not, and the decision comes from the count the increment returned, so
    // requests sent all at once cannot each see "not yet over the limit".
    let mut over = false;
    for (key, policy) in keys.iter().flatten() {
        let counted = throttle::record_failure(db, key, policy).await?;
        over |= counted.failures > policy.free_failures;
    }
    if over {
        return Ok(Requested::Throttled);
    }
    let account = tenancy::find_account_by_email(db, &email).await?.filter(|a| !a.disabled);
    let base = link_base.trim_end_matches('/');
    let Some(account) = account else {
        let body = format!(
            "Someone (perhaps you) asked to reset the password of a Palisade account with this address, but there \
             is no account with it.\n\nIf it was you, you may have signed up with another address; you can also \
             create an account at {base}/register.\n\nIf it was not you, you can ignore this message."
        );
        let mail = outbox::NewMail { store_id: None, to: email.as_str(), subject: "Password reset", body };
        outbox::enqueue(db, mail).await?;
        return Ok(Requested::NoAccountNoted);
    };
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = hex::encode(raw);
    let now = db.now();
    let minutes = VALID_FOR.as_secs() / 60;
    let body = format!(
        "Someone (we hope you) asked to reset the password of your Palisade account.\n\nChoose a new password here \
         within {minutes} minutes:\n{base}/login/reset?token={token}\n\nThe link works once. Every device signed in \
         to your account will be signed out and the store API tokens you made revoked, and if you use two-step verification you will still be asked for it.\n\n\
         If you did not ask for this, ignore this message: your password stays as it is."
    );
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO password_resets (id_hash, account_id, created_at, expires_at, ip) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(hash(&token))
    .bind(account.id.to_string())
    .bind(now.0)
    .bind(now.plus(VALID_FOR).0)
    .bind(client)
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    let target = format!("account:{}", account.id);
    audit::record_account(&mut tx, db, account.id, NewEvent::new("password.reset_requested", &target)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    let mail = outbox::NewMail { store_id: None, to: email.as_str(), subject: "Reset your password", body };
    outbox::enqueue(db, mail).await?;
    Ok(Requested::LinkSent)
}

/// The account a reset link is for, while it still works (unused, unexpired). `None` for anything else.
pub async fn find(db: &Db, token: &str) -> Result<Option<Account>> {
    let Some(account) = live(db, token).await? else { return Ok(None) };
    Ok(Some(tenancy::get_account(db, account).await?).filter(|a| !a.disabled))
}

async fn live(db: &Db, token: &str) -> Result<Option<AccountId>> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hashed = hash(token);
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT id_hash, account_id FROM password_resets WHERE id_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(&hashed)
    .bind(db.now().0)
    .fetch_optional(db.pool())
    .await
    .map_err(StoreError::from)?;
    let Some((stored, account)) = row else { return Ok(None) };
    if !bool::from(stored.as_bytes().ct_eq(hashed.as_bytes())) {
        return Ok(None);
    }
    Ok(Some(account.parse().map_err(|e| StoreError::Corrupt(format!("reset account: {e}")))?))
}

/// Sets `new` as the password of the link's account: the link is used up, the account's other links are void and
/// every session is signed out, together. A link that no longer works is [`IdentityError::InvalidCode`].
pub async fn complete(identity: &Identity, token: &str, new: SecretString) -> Result<Account> {
    let db = identity.db();
    let account = find(db, token).await?.ok_or(IdentityError::InvalidCode)?;
    let password_hash = identity.checked_hash(&account, new).await?;
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    // Compare-and-set: of two uses of one link, only the first changes anything.
    let used = sqlx::query(
        "UPDATE password_resets SET used_at = $1 WHERE id_hash = $2 AND account_id = $3 AND used_at IS NULL \
         AND expires_at > $1",
    )
    .bind(now)
    .bind(hash(token))
    .bind(account.id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::from)?;
    if used.rows_affected() != 1 {
        return Err(IdentityError::InvalidCode);
    }
    let id = account.id.to_string();
    sqlx::query("UPDATE accounts SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
        .bind(&password_hash)
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE account_id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    // Every way in that someone holding the account could have left behind: its sessions, and the store API
    // tokens it made (they act for it). Operator tokens are made on the server's command line, not here.
    for sql in [
        "UPDATE sessions SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        "UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND store_id IS NOT NULL AND revoked_at IS NULL",
    ] {
        sqlx::query(sql).bind(now).bind(&id).execute(&mut *tx).await.map_err(StoreError::from)?;
    }
    let target = format!("account:{}", account.id);
    audit::record_account(&mut tx, db, account.id, NewEvent::new("password.reset", &target)).await?;
    tx.commit().await.map_err(StoreError::from)?;
    throttle::clear(db, &throttle::account_key(identity.links(), &account.email)).await?;
    Ok(account)
}
