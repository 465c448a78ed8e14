//! The JSON API (`/api/v1`). Operator-only for now; merchant and buyer access arrives with identity.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use palisade_store::matrix::Report;
use palisade_store::{audit, tenancy};
use serde::Deserialize;

use crate::http::ApiError;
use crate::http::auth::ApiOperator;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/platform/security/controls", get(platform_controls))
        .route("/api/v1/platform/audit", get(platform_audit))
        .route("/api/v1/stores", get(list_stores))
        .route("/api/v1/stores/{store}/security/controls", get(store_controls))
        .route("/api/v1/stores/{store}/audit", get(store_audit))
}

/// The platform's controls with live status.
async fn platform_controls(
    State(state): State<AppState>,
    ApiOperator(_op): ApiOperator,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(state.registry.evaluate_platform(&state.db, &state.facts).await?))
}

/// One store's view of the matrix: the platform's controls and the store's own.
async fn store_controls(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Path(store): Path<String>,
) -> Result<Json<Report>, ApiError> {
    let scope = op.store_scope(super::resolve_store(&state, &store).await?);
    tenancy::get_store(&state.db, &scope).await?;
    Ok(Json(state.registry.evaluate_store(&state.db, &state.facts, &scope).await?))
}

async fn list_stores(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
) -> Result<Json<Vec<tenancy::Store>>, ApiError> {
    Ok(Json(tenancy::list_stores(&state.db, &op.platform_scope()).await?))
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<i64>,
}

async fn platform_audit(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<audit::AuditEvent>>, ApiError> {
    Ok(Json(audit::list_platform(&state.db, &op.platform_scope(), q.limit.unwrap_or(100)).await?))
}

async fn store_audit(
    State(state): State<AppState>,
    ApiOperator(op): ApiOperator,
    Path(store): Path<String>,
    Query(q): Query<Limit>,
) -> Result<Json<Vec<audit::AuditEvent>>, ApiError> {
    let scope = op.store_scope(super::resolve_store(&state, &store).await?);
    tenancy::get_store(&state.db, &scope).await?;
    Ok(Json(audit::list_store(&state.db, &scope, q.limit.unwrap_or(100)).await?))
}
