//! Liveness, readiness and metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::http::ApiError;
use crate::http::auth::ApiOperator;
use crate::state::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).route("/metrics", get(metrics))
}

/// The process is up (says nothing about the database, so an orchestrator does not restart us for its outage).
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// Ready to serve: the database answers and has the schema this release expects.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let checks = async {
        state.db.ping().await?;
        palisade_store::migrate::check_current(&state.db).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), checks).await {
        // Anyone may ask (load balancers do, unauthenticated), so the answer names neither the database backend
        // nor why it is not ready (a driver error can carry host names, schema versions, paths): the cause is
        // logged for the operator.
        Ok(Ok(())) => Ok(axum::Json(json!({"status": "ready"}))),
        Ok(Err(e)) => {
            tracing::warn!(database = state.db.backend().name(), error = %e, "not ready");
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "the database is not ready"))
        }
        Err(_) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", "database did not answer within 3 s"))
        }
    }
}

/// Prometheus text exposition on the public listener: operators only (the figures describe attacks, stores'
/// traffic and the firewall's state). Prometheus itself scrapes the separate listener of [`metrics_router`].
async fn metrics(_operator: ApiOperator) -> impl IntoResponse {
    exposition().await
}

async fn exposition() -> impl IntoResponse {
    let mut body = crate::http::metrics::handle().map(|h| h.render()).unwrap_or_default();
    body.push_str(&crate::http::metrics::render_requests());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

/// `/metrics` without authentication, for a listener of its own (`serve --metrics-listen`) on an address only
/// the monitoring network reaches, as Prometheus deployments expect. Nothing else is served there.
pub fn metrics_router() -> Router {
    Router::new().route("/metrics", get(exposition))
}

/// Serves [`metrics_router`] on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router()).with_graceful_shutdown(shutdown).await
}
