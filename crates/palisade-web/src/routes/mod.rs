//! The routers, grouped by audience: [`storefront`] (buyers), [`account`] (everyone who signs in), [`admin`]
//! (a store's staff), [`console`] (the platform operator) and [`api`] (the JSON API's declarations and the
//! commerce API); beside them health and metrics, static assets and the query-string parsers all share.

pub mod account;
pub mod admin;
pub mod api;
mod assets;
pub mod console;
mod health;
pub use health::{metrics_router, serve_metrics};
mod query;
pub mod storefront;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use palisade_core::StoreId;
use palisade_store::tenancy;

use crate::http::error::{ApiError, error_page, is_api_path};
use crate::http::layers;
use crate::state::AppState;

/// The whole application with its HTTP baseline. `/api` is answered only by the router built from the API's
/// declarations ([`api::declarations::api_router`]); the pages' routers refuse `/api` paths, so an endpoint cannot be added
/// there without appearing in `/api/openapi.json` and in the permission walk.
pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .merge(health::routes())
        .merge(account::sign_in::routes())
        .merge(account::buyer::routes())
        .merge(account::data::routes())
        .merge(account::messages::routes())
        .merge(account::password_reset::routes())
        .merge(account::passkeys::routes())
        .merge(admin::security_center::routes())
        .merge(admin::merchant::routes())
        .merge(admin::messages::routes())
        .merge(admin::fraud::routes())
        .merge(admin::verification::routes())
        .merge(admin::data_requests::routes())
        .merge(admin::orders::routes())
        .merge(admin::home::routes())
        .merge(admin::backups::routes())
        .merge(admin::sell::routes())
        .merge(console::pages::routes())
        .merge(console::reports::routes())
        .merge(console::applications::routes())
        .merge(console::verification::routes())
        .merge(console::updates::routes())
        .merge(console::assessment::routes())
        .merge(console::tsr::routes())
        .merge(assets::routes())
        .merge(storefront::catalog::routes())
        .merge(storefront::checkout::routes())
        .route_layer(axum::middleware::from_fn(api::declarations::refuse_api_paths));
    let (api, _) = api::declarations::api_router().split_for_parts();
    let app = pages.merge(api).fallback(not_found);
    layers::apply(app, &state).with_state(state)
}

async fn not_found(uri: Uri) -> Response {
    if is_api_path(uri.path()) {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response()
    } else {
        (StatusCode::NOT_FOUND, Html(error_page(StatusCode::NOT_FOUND, "There is no page at this address.")))
            .into_response()
    }
}

/// Resolves a `{store}` path segment given as an id or as the store's slug.
pub(crate) async fn resolve_store(state: &AppState, key: &str) -> Result<StoreId, ApiError> {
    if let Ok(id) = key.parse::<StoreId>() {
        return Ok(id);
    }
    tenancy::store_id_by_slug(&state.db, key).await?.ok_or_else(|| ApiError::not_found("store"))
}
