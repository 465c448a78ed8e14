#![doc = include_str!("../README.md")]

pub mod edge;
pub mod http;
pub mod page_cache;
pub mod payment_page;
pub mod routes;
mod services;
mod state;
mod templates;

pub use routes::{metrics_router, router, serve_metrics};
/// Store security scans (the Security Center's Scans tab and the weekly job).
pub use services::apps;
/// The platform control "card-testing protection on" (issue #20 item 9), for the runtime to register.
pub use services::card_testing::register as register_card_testing_control;
pub use services::compliance;
pub use services::extensions;
pub use services::store_scan;
pub use state::{AppState, WebConfig};

use std::future::Future;

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    edge::server::serve_with(listener, app, edge::server::ConnLimits::default(), shutdown).await
}
