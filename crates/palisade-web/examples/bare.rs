//! The benchmarks' bare baseline: a minimal axum server on the same tokio, hyper and axum as Palisade, answering
//! every GET with one page's bytes held in memory. No middleware, no database, no templates: what this machine
//! can serve at all, so that every storefront figure can be printed as a fraction of it (`bench/storefront.sh`).
//!
//! Usage: `bare LISTEN_ADDR PAGE_FILE`.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(file)) = (args.next(), args.next()) else {
        eprintln!("usage: bare LISTEN_ADDR PAGE_FILE");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().map_err(std::io::Error::other)?;
    let page = Bytes::from(std::fs::read(&file)?);
    let app = Router::new().fallback(get(move || {
        let page = page.clone();
        async move { ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response() }
    }));
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await
}
