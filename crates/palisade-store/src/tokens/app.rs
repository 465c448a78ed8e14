//! Installed apps' API tokens (issue #19, the app form).
//!
//! Installing an app issues it one store token in the install's own transaction: the release's scopes (which the
//! installer had to hold), the release's protected customer data level, and a short life ([`APP_TOKEN_DAYS`]), so
//! a token copied out of a compromised app stops working on its own. The app renews its token before it expires
//! with the token itself ([`renew`]: a new secret, the old one revoked at once); staff can issue a fresh one from
//! the Security Center when the app lost it. Removing the app revokes its tokens in the removal's transaction.
//! Like every store token it acts for the person who installed the app (their current rights, their MFA), so an
//! app never outlives or outranks its installer's access.

use std::time::Duration;

use palisade_core::{AccountId, StoreId, TokenId};
use secrecy::SecretString;

use super::{AppGrant, IssueToken, TokenInfo, TokenKind, insert_new};
use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::permissions::Permission;
use crate::scope::{StaffScope, StoreScope};

/// How long an app token lives before the app must renew it.
pub const APP_TOKEN_DAYS: u64 = 30;

/// What an app's token is made of.
#[derive(Debug, Clone)]
pub struct NewAppToken<'a> {
    pub extension_id: &'a str,
    /// The app's name as the catalog shows it (the token's name in the Security Center).
    pub name: &'a str,
    pub scopes: &'a [Permission],
    pub data_level: u8,
    /// Who the token acts for: the person installing, or staff issuing a fresh one.
    pub acts_for: AccountId,
}

/// Whether the app is installed in the store and not disabled by the platform: its token works, and is renewed
/// or reissued, only then (an app disabled over a critical advisory loses its API access with its storefront code).
pub(crate) async fn running<'c, E>(conn: E, store_id: &str, extension_id: &str) -> Result<bool>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT disabled_at FROM store_extensions WHERE store_id = $1 AND extension_id = $2")
            .bind(store_id)
            .bind(extension_id)
            .fetch_optional(conn)
            .await?;
    Ok(matches!(row, Some((None,))))
}

fn lifetime() -> Duration {
    Duration::from_secs(APP_TOKEN_DAYS * 24 * 3600)
}

/// Revokes the app's live tokens inside the caller's transaction (no audit of its own: the caller's event says
/// why). Returns how many were revoked.
async fn revoke_on(conn: &mut sqlx::AnyConnection, db: &Db, scope: &StoreScope, extension_id: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE store_id = $2 AND extension_id = $3 AND revoked_at IS NULL",
    )
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(extension_id)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// After an update to `version` (inside the update's transaction): the app's live tokens keep no more than the new
/// release asks for — scopes it dropped are taken away, a lower customer data level applies at once, and a
/// release that is no longer an app leaves no token alive. A release asking for more changes nothing here (staff
/// issue new credentials to grant it, holding the permissions themselves). Audited when a token changed.
pub async fn narrow_to_release_on(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    version: &str,
) -> Result<()> {
    let release: Option<(String, i64, String)> = sqlx::query_as(
        "SELECT scopes, data_level, kinds FROM extension_releases WHERE extension_id = $1 AND version = $2",
    )
    .bind(extension_id)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((scopes, level, kinds)) = release else { return Err(StoreError::NotFound("release")) };
    let target = format!("extension:{extension_id}");
    if !kinds.split(',').any(|k| k == "app") {
        let revoked = revoke_on(conn, db, scope, extension_id).await?;
        if revoked > 0 {
            let details = serde_json::json!({"revoked": revoked, "why": "the release is no longer an app"});
            audit::record_store(conn, db, scope, NewEvent::new("app_token.revoked", &target).details(details)).await?;
        }
        return Ok(());
    }
    let allowed: Vec<&str> = scopes.split(',').filter(|s| !s.is_empty()).collect();
    let live: Vec<(String, String, Option<i64>)> = sqlx::query_as(
        "SELECT id, scopes, data_level FROM api_tokens WHERE store_id = $1 AND extension_id = $2 AND revoked_at IS NULL",
    )
    .bind(scope.store_key())
    .bind(extension_id)
    .fetch_all(&mut *conn)
    .await?;
    for (id, held, held_level) in live {
        let held: Vec<String> =
            serde_json::from_str(&held).map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?;
        let kept: Vec<&String> = held.iter().filter(|s| allowed.contains(&s.as_str())).collect();
        let kept_level = held_level.unwrap_or(0).min(level);
        if kept.len() == held.len() && Some(kept_level) == held_level {
            continue;
        }
        let json = serde_json::to_string(&kept).map_err(|e| StoreError::Invalid(e.to_string()))?;
        sqlx::query("UPDATE api_tokens SET scopes = $1, data_level = $2 WHERE id = $3 AND store_id = $4")
            .bind(&json)
            .bind(kept_level)
            .bind(&id)
            .bind(scope.store_key())
            .execute(&mut *conn)
            .await?;
        let details = serde_json::json!({"token": id, "scopes": kept, "data_level": kept_level, "version": version});
        audit::record_store(conn, db, scope, NewEvent::new("app_token.narrowed", &target).details(details)).await?;
    }
    Ok(())
}

/// Issues the app's token inside the caller's transaction (the install's, or [`reissue`]'s), revoking any live one
/// it had. Audited (`app_token.issued`, never the secret). The secret is returned once.
pub async fn issue_on(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    app: &NewAppToken<'_>,
) -> Result<(TokenInfo, SecretString)> {
    if app.data_level > 2 {
        return Err(StoreError::Invalid("the customer data level is 0, 1 or 2".into()));
    }
    let mut scopes: Vec<Permission> = app.scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let replaced = revoke_on(conn, db, scope, app.extension_id).await?;
    let req = IssueToken {
        kind: TokenKind::Store,
        account_id: app.acts_for,
        store_id: Some(scope.store_id()),
        name: format!("App: {}", app.name),
        scopes: scopes.iter().map(|p| p.key().to_owned()).collect(),
        expires_at: Some(db.now().plus(lifetime())),
    };
    let grant = AppGrant { extension_id: app.extension_id.to_owned(), data_level: app.data_level };
    let (info, secret) = insert_new(conn, db, req, Some(&grant)).await?;
    let target = format!("token:{}", info.id);
    let details = serde_json::json!({"extension": app.extension_id, "scopes": info.scopes,
        "data_level": app.data_level, "expires_at": info.expires_at.map(|t| t.0), "replaced": replaced});
    audit::record_store(conn, db, scope, NewEvent::new("app_token.issued", &target).details(details)).await?;
    Ok((info, secret))
}

/// Staff issue the installed app a fresh token (it lost the last one) inside the caller's transaction: the old one
/// stops working now. The store is locked first, as a removal locks it, so a removal running at the same time
/// cannot miss the new token; an app removed or disabled gets none.
pub async fn reissue_on(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    app: &NewAppToken<'_>,
) -> Result<(TokenInfo, SecretString)> {
    crate::extensions::advisories::lock_store(conn, db, scope).await?;
    if !running(&mut *conn, &scope.store_key(), app.extension_id).await? {
        return Err(StoreError::NotFound("installed and running app"));
    }
    issue_on(conn, db, scope, app).await
}

/// Revokes the app's tokens inside its removal's transaction, audited (`app_token.revoked`) when there were any.
pub async fn revoke_for_removal(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
) -> Result<u64> {
    let revoked = revoke_on(conn, db, scope, extension_id).await?;
    if revoked > 0 {
        let target = format!("extension:{extension_id}");
        let details = serde_json::json!({"revoked": revoked, "why": "removed"});
        audit::record_store(conn, db, scope, NewEvent::new("app_token.revoked", &target).details(details)).await?;
    }
    Ok(revoked)
}

/// The authenticated token an app renews.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    pub id: TokenId,
    pub store_id: StoreId,
    pub acts_for: AccountId,
    /// `None`: a staff token, which is refused.
    pub app: Option<&'a AppGrant>,
}

/// The app renews its own token with it: a new secret with the same grant and a fresh [`APP_TOKEN_DAYS`], the
/// presented one revoked in the same transaction. Refused for a token that is not an app's, or one already
/// revoked or replaced (a stolen token used after the app renewed is dead, and so is a second renewal with the
/// same old secret). Audited (`app_token.renewed`).
pub async fn renew(db: &Db, token: Presented<'_>) -> Result<(TokenInfo, SecretString)> {
    let Some(app) = token.app else {
        return Err(StoreError::Forbidden(
            "only an app's token renews itself; staff tokens are made in the Security Center",
        ));
    };
    // The audit event is the installer's, as every use of the token is.
    let scope = StaffScope::member(token.store_id, token.acts_for);
    let mut tx = db.begin_write().await?;
    // As a removal: the store's lock first, then the install must still run (a token renewed while the app is
    // being removed would outlive it).
    crate::extensions::advisories::lock_store(&mut tx, db, &scope).await?;
    if !running(&mut *tx, &scope.store_key(), &app.extension_id).await? {
        return Err(StoreError::Conflict("the app is no longer installed and running".into()));
    }
    let row: Option<(String, String)> = sqlx::query_as(
        "SELECT name, scopes FROM api_tokens WHERE id = $1 AND store_id = $2 AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(token.id.to_string())
    .bind(scope.store_key())
    .bind(db.now().0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((name, scopes)) = row else {
        return Err(StoreError::Conflict("this token was already renewed or revoked".into()));
    };
    let revoked = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(db.now().0)
        .bind(token.id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if revoked != 1 {
        return Err(StoreError::Conflict("this token was already renewed or revoked".into()));
    }
    let req = IssueToken {
        kind: TokenKind::Store,
        account_id: token.acts_for,
        store_id: Some(token.store_id),
        name,
        scopes: serde_json::from_str(&scopes).map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?,
        expires_at: Some(db.now().plus(lifetime())),
    };
    let (info, secret) = insert_new(&mut tx, db, req, Some(app)).await?;
    let target = format!("token:{}", info.id);
    let details = serde_json::json!({"extension": app.extension_id, "replaces": token.id.to_string(),
        "expires_at": info.expires_at.map(|t| t.0)});
    audit::record_store(&mut tx, db, &scope, NewEvent::new("app_token.renewed", &target).details(details)).await?;
    tx.commit().await?;
    Ok((info, secret))
}
