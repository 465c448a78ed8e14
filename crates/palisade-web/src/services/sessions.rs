//! The signed-in person's own sessions: the account page and the account API list them and sign them out
//! through these functions. A session id names a session of the caller's account only: another account's id is
//! not found, whoever asks.

use palisade_core::time::Timestamp;
use palisade_identity::sessions;
use palisade_store::audit::{self, NewEvent};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::ApiError;
use crate::http::session::SignedIn;
use crate::state::AppState;

/// One of the account's live sessions.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionInfo {
    /// The id to sign it out with (a hash of the cookie, not the cookie).
    pub id: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the second factor was passed in it.
    pub mfa: bool,
    /// The session making this request.
    pub current: bool,
}

/// The account's live sessions, most recent first.
pub async fn list(state: &AppState, s: &SignedIn) -> Result<Vec<SessionInfo>, ApiError> {
    Ok(sessions::list(&state.db, s.account.id)
        .await?
        .into_iter()
        .map(|x| SessionInfo {
            current: x.id == s.session.id,
            mfa: x.mfa_at.is_some(),
            id: x.id,
            created_at: x.created_at,
            last_seen_at: x.last_seen_at,
            expires_at: x.expires_at,
            ip: x.ip,
            user_agent: x.user_agent,
        })
        .collect())
}

/// Signs out one session of the caller's account. An id that is not a live session of theirs (another account's
/// included) is `not_found`, and nothing changes.
pub async fn revoke(state: &AppState, s: &SignedIn, id: &str) -> Result<(), ApiError> {
    if !sessions::revoke(&state.db, s.account.id, id).await? {
        return Err(ApiError::not_found("session"));
    }
    let target = format!("account:{}", s.account.id);
    audit::record_account_now(&state.db, s.account.id, NewEvent::new("session.revoked", &target)).await?;
    Ok(())
}

/// Signs out every other session of the caller's account ("everywhere else"), audited; returns how many ended.
pub async fn revoke_others(state: &AppState, s: &SignedIn) -> Result<u64, ApiError> {
    let n = sessions::revoke_all(&state.db, s.account.id, Some(&s.session.id)).await?;
    let target = format!("account:{}", s.account.id);
    audit::record_account_now(
        &state.db,
        s.account.id,
        NewEvent::new("sessions.revoked_others", &target).details(serde_json::json!({"count": n})),
    )
    .await?;
    Ok(n)
}
