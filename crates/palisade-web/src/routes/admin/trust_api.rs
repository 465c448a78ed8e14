//! The JSON API of a store's transaction-safety work (issue #20): its seller verification (read; submitting
//! identity and documents stays on the Verification page, which asks for the password again) and its buyer
//! messages (list, read, reply). The same permissions as the pages: payouts for verification, orders for
//! messages; a reply passes the same classifier, limits and suspension check as the page's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_commerce::{messages, verification};
use palisade_core::ThreadId;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::http::id_path::IdPath;
use crate::http::json::Body;
use crate::routes::api::commerce::ApiErr;
use crate::state::AppState;

pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_verification))
        .routes(routes!(list_threads))
        .routes(routes!(get_thread, reply))
}

type ApiResult = Result<Response, ApiErr>;

fn need(access: &StaffAccess, p: Permission) -> Result<(), ApiErr> {
    access.require(p).map_err(ApiErr::Access)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/verification",
    tag = "store admin",
    summary = "The seller's verification: state, masked identifier, payout account (masked), operator's reason",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Payouts.key())))
)]
async fn get_verification(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Payouts)?;
    let v = verification::get(&state.db, &access.membership.scope).await.map_err(ApiError::from)?;
    Ok(Json(v).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/messages",
    tag = "store admin",
    summary = "Conversations with buyers, most recent first (the buyer's display name, never their email)",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn list_threads(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access, Permission::Orders)?;
    let threads = messages::store_threads(&state.db, &access.membership.scope).await.map_err(ApiError::from)?;
    Ok(Json(json!({ "threads": threads })).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/messages/{thread}",
    tag = "store admin",
    summary = "One conversation with its messages (a withheld message shows only that it was withheld, and why)",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn get_thread(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ThreadId)>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    let (thread, msgs) =
        messages::store_thread(&state.db, &access.membership.scope, id).await.map_err(ApiError::from)?;
    Ok(Json(json!({ "thread": thread, "messages": msgs })).into_response())
}

#[derive(Deserialize, ToSchema)]
struct ReplyIn {
    /// Plain text, at most 2,000 characters.
    body: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/messages/{thread}",
    tag = "store admin",
    summary = "Answer a buyer (checked like the page's reply: classifier, 60 an hour per conversation)",
    request_body = ReplyIn,
    responses((status = 201, description = "the message as stored", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::Orders.key())))
)]
async fn reply(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ThreadId)>,
    body: Result<Body<ReplyIn>, ApiError>,
) -> ApiResult {
    need(&access, Permission::Orders)?;
    let Body(b) = body?;
    let m = messages::store_send(&state.db, &access.membership.scope, id, &b.body).await.map_err(ApiError::from)?;
    Ok((StatusCode::CREATED, Json(m)).into_response())
}
