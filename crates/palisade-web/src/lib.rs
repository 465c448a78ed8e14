#![doc = include_str!("../README.md")]

pub mod http;
pub mod payment_page;
pub mod routes;
mod state;
mod templates;

pub use routes::router;
pub use state::{AppState, WebConfig};

use std::future::Future;
use std::net::SocketAddr;

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
