//! The signed-in person's own sessions as JSON (`/api/v1/account/sessions…`): the account page's list, "sign out"
//! and "sign out everywhere else", through the same functions ([`crate::services::sessions`]). Only the caller's
//! own sessions can be named: another account's session id is `not_found`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::session::SignedIn;
use crate::routes::api::declarations::access;
use crate::services::sessions::{self, SessionInfo};
use crate::state::AppState;

/// The session endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_sessions)).routes(routes!(revoke_session)).routes(routes!(revoke_others))
}

#[utoipa::path(
    get,
    path = "/api/v1/account/sessions",
    tag = "account",
    summary = "The account's live sessions, most recent first (`current` marks this one)",
    responses((status = 200, description = "the sessions", body = [SessionInfo])),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn list_sessions(State(state): State<AppState>, s: SignedIn) -> Result<Json<Vec<SessionInfo>>, ApiError> {
    Ok(Json(sessions::list(&state, &s).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/account/sessions/{session}",
    tag = "account",
    summary = "Sign out one of the account's sessions (another account's id is not found)",
    responses((status = 204, description = "signed out")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn revoke_session(
    State(state): State<AppState>,
    s: SignedIn,
    Path(session): Path<String>,
) -> Result<StatusCode, ApiError> {
    sessions::revoke(&state, &s, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
struct Revoked {
    revoked: u64,
}

#[utoipa::path(
    post,
    path = "/api/v1/account/sessions/revoke-others",
    tag = "account",
    summary = "Sign out every other session of the account",
    responses((status = 200, description = "how many sessions ended", body = Revoked)),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn revoke_others(State(state): State<AppState>, s: SignedIn) -> Result<Json<Revoked>, ApiError> {
    Ok(Json(Revoked { revoked: sessions::revoke_others(&state, &s).await? }))
}
