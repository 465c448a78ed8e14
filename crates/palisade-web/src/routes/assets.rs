//! The console's stylesheet, compiled in and served with a content hash in its ETag.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const CONSOLE_CSS: &str = include_str!("../../assets/console.css");

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/assets/console.css", get(console_css))
}

async fn console_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CONSOLE_CSS)
}
