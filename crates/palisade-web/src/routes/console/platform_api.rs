//! The operator's JSON API (`/api/v1/platform…`, `/api/v1/stores…`): the responsibility matrix, stores and audit
//! logs, for a platform operator's token. Routed from the declarations below (see [`crate::routes::api::declarations`]).

use axum::Json;
use axum::extract::{Path, Query, State};
use palisade_store::matrix::Report;
use palisade_store::{audit, tenancy};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::auth::ApiOperator;
use crate::routes::api::declarations::access;
use crate::state::AppState;

/// The operator endpoints, from their declarations.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(platform_controls))
        .routes(routes!(platform_audit))
        .routes(routes!(list_stores))
        .routes(routes!(store_controls))
        .routes(routes!(store_audit))
}

/// The platform's controls with live status.
#[utoipa::path(
    get,
    path = "/api/v1/platform/security/controls",
    tag = "operator",
    summary = "The platform's controls with live status",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::OPERATOR)))
)]
async fn platform_controls(
    State(state): State<AppState>,
    ApiOperator(_op): ApiOperator,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(state.registry.evaluate_platform(&state.db, &state.facts).await?))
}

/// One store's view of the matrix: the platform's controls and the store's own.
#[utoipa::path(
    get,
    path = "/api/v1/stores/{store}/security/controls",
    tag = "operator",
    summary = "One store's view of the responsibility matrix",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::OPERATOR)))
)]
async fn store_controls(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Path(store): Path<String>,
) -> Result<Json<Report>, ApiError> {
    let scope = op.store_scope(crate::routes::resolve_store(&state, &store).await?);
    tenancy::get_store(&state.db, &scope).await?;
    Ok(Json(state.registry.evaluate_store(&state.db, &state.facts, &scope).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/stores",
    tag = "operator",
    summary = "Every store",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::OPERATOR)))
)]
async fn list_stores(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
) -> Result<Json<Vec<tenancy::Store>>, ApiError> {
    Ok(Json(tenancy::list_stores(&state.db, &op.platform_scope()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct Limit {
    /// How many events (100 by default).
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/platform/audit",
    tag = "operator",
    summary = "The platform's audit log, newest first",
    params(Limit),
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::OPERATOR)))
)]
async fn platform_audit(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<audit::AuditEvent>>, ApiError> {
    Ok(Json(audit::list_platform(&state.db, &op.platform_scope(), q.limit.unwrap_or(100)).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/stores/{store}/audit",
    tag = "operator",
    summary = "One store's audit log, newest first",
    params(Limit),
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::OPERATOR)))
)]
async fn store_audit(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Path(store): Path<String>,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<audit::AuditEvent>>, ApiError> {
    let scope = op.store_scope(crate::routes::resolve_store(&state, &store).await?);
    tenancy::get_store(&state.db, &scope).await?;
    Ok(Json(audit::list_store(&state.db, &scope, q.limit.unwrap_or(100)).await?))
}
