//! A store's API tokens: the Security Center's form and the tokens API list, create and revoke them through
//! these functions. A token is created by a person who re-entered their password, never holds more than its
//! creator, and its secret is answered once, at creation: listings, logs and audit events carry only its id, name
//! and prefix.

use std::time::Duration;

use palisade_core::time::Timestamp;
use palisade_store::StoreScope;
use palisade_store::permissions::Permission;
use palisade_store::tokens::{self, StoreTokenListing, TokenInfo};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Refusal, invalid, permitted, permitted_person};
use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::state::AppState;

/// How long a token lives when the request does not say (days).
pub const DEFAULT_DAYS: u64 = 90;
/// The longest a token may live (days).
pub const MAX_DAYS: u64 = 365;

/// A store API token as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The secret's first characters, to tell tokens apart.
    #[schema(example = "pal_st_3f9a")]
    pub prefix: String,
    /// The permission keys it was given (it never holds more than its creator holds now).
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
    /// The installed app the token belongs to (made at its install, revoked at its removal); `None`: made by staff.
    pub app: Option<String>,
}

impl From<StoreTokenListing> for ApiToken {
    fn from(t: StoreTokenListing) -> Self {
        ApiToken {
            id: t.id,
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: t.last_used_ip,
            app: t.extension_id,
        }
    }
}

impl From<TokenInfo> for ApiToken {
    fn from(t: TokenInfo) -> Self {
        ApiToken {
            id: t.id.to_string(),
            name: t.name,
            prefix: t.prefix,
            scopes: t.scopes,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            last_used_ip: None,
            app: None,
        }
    }
}

/// A token just created, with its secret: the only answer that ever holds it. No `Debug`, so it cannot reach
/// a log line by accident.
#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// The secret to send as `Authorization: Bearer …`. Shown once: it is stored only as a hash.
    #[schema(example = "pal_st_…")]
    pub secret: String,
}

/// What to create, as parsed from a form or a JSON body.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Permission>,
    /// Lifetime in days, at most [`MAX_DAYS`]; `Some(0)`: never expires (the page offers it, "not
    /// recommended"); `None`: [`DEFAULT_DAYS`].
    pub expires_days: Option<u64>,
}

/// The store's active tokens; needs security settings.
pub async fn list(state: &AppState, access: &StaffAccess) -> Result<Vec<ApiToken>, Refusal> {
    permitted(access, Permission::SecuritySettings)?;
    Ok(rows(state, &access.membership.scope).await?)
}

/// The active tokens, for a caller that has checked security settings.
pub async fn rows(state: &AppState, scope: &StoreScope) -> Result<Vec<ApiToken>, ApiError> {
    Ok(tokens::list_store(&state.db, scope).await?.into_iter().map(ApiToken::from).collect())
}

/// Creates a token. Returns its description and its secret (to show once).
pub async fn create(
    state: &AppState,
    access: &StaffAccess,
    new: NewToken,
) -> Result<(ApiToken, SecretString), Refusal> {
    permitted_person(state, access, Permission::SecuritySettings)?;
    let name = palisade_core::text::display_name("name", &new.name).map_err(|e| invalid(e.to_string()))?;
    // A token never holds more than its creator.
    let mut scopes = new.scopes;
    scopes.retain(|p| access.membership.can(*p));
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(invalid("choose at least one permission you hold").into());
    }
    let expires_at = match new.expires_days.unwrap_or(DEFAULT_DAYS) {
        0 => None,
        days => Some(state.db.now().plus(Duration::from_secs(days.min(MAX_DAYS) * 24 * 3600))),
    };
    let (info, secret) =
        tokens::issue_store(&state.db, &access.membership.scope, access.account.id, &name, &scopes, expires_at).await?;
    Ok((info.into(), secret))
}

/// The JSON answer to a creation: the description and the secret, once.
#[must_use]
pub fn created(token: ApiToken, secret: &SecretString) -> CreatedToken {
    CreatedToken { token, secret: secret.expose_secret().to_owned() }
}

/// Revokes one of the store's tokens (audited); needs security settings, and no fresh password: taking access
/// back is never made harder than giving it.
pub async fn revoke(state: &AppState, access: &StaffAccess, id: palisade_core::TokenId) -> Result<(), Refusal> {
    permitted(access, Permission::SecuritySettings)?;
    tokens::revoke_store(&state.db, &access.membership.scope, id).await?;
    Ok(())
}
