//! The console's stylesheet, compiled in and served with a content hash in its ETag.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const CONSOLE_CSS: &str = include_str!("../../assets/console.css");
const PASSKEYS_JS: &str = include_str!("../../assets/passkeys.js");
const STRENGTH_JS: &str = include_str!("../../assets/strength.js");
const CHALLENGE_JS: &str = include_str!("../../assets/challenge.js");
const COPY_JS: &str = include_str!("../../assets/copy.js");
const LEARN_JS: &str = include_str!("../../assets/learn.js");

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/assets/console.css", get(console_css))
        .route("/assets/passkeys.js", get(passkeys_js))
        .route("/assets/strength.js", get(strength_js))
        .route("/assets/challenge.js", get(challenge_js))
        .route("/assets/copy.js", get(copy_js))
        .route("/assets/learn.js", get(learn_js))
        .route("/_challenge", axum::routing::post(crate::edge::challenge::solve))
}

async fn console_css() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CONSOLE_CSS)
}

async fn passkeys_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        PASSKEYS_JS,
    )
}

async fn strength_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        STRENGTH_JS,
    )
}

async fn challenge_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        CHALLENGE_JS,
    )
}

async fn copy_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        COPY_JS,
    )
}

async fn learn_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        LEARN_JS,
    )
}
