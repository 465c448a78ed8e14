//! The accept loop: HTTP/1.1 and HTTP/2 over hyper with the connection-level defences a WAF cannot give —
//! a deadline for the request headers (slowloris; for HTTP/2, a deadline for the first complete request plus
//! stream, header-size and reset caps), a cap on open connections per client address, and a graceful shutdown
//! that lets in-flight requests finish.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

/// Connection-level limits.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// A client must send its request headers within this time (slowloris defence).
    pub header_read_timeout: Duration,
    /// Open connections one address may hold; more are closed on accept.
    pub per_ip_connections: usize,
    /// Addresses not held to `per_ip_connections`: trusted proxies, whose connections carry many clients (each
    /// client is still limited by the request layers, which read it from `X-Forwarded-For`).
    pub uncapped: Vec<ipnet::IpNet>,
    /// How long shutdown waits for in-flight requests.
    pub drain: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            per_ip_connections: 128,
            uncapped: Vec::new(),
            drain: Duration::from_secs(30),
        }
    }
}

/// Open connections per address; a guard gives its slot back when the connection ends.
#[derive(Debug, Default, Clone)]
struct Conns(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct Slot(Conns, IpAddr);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut m) = self.0.0.lock()
            && let Some(n) = m.get_mut(&self.1)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

impl Conns {
    fn take(&self, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().ok()?;
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

/// Streams one HTTP/2 connection may have open at once.
const H2_MAX_STREAMS: u32 = 128;
/// Bytes of headers (decoded, 32 bytes counted per header) one HTTP/2 request may carry: nginx's usual total
/// (4 × 8 KiB buffers), room for four headers at the shield's 8 KiB limit for one.
const H2_MAX_HEADER_LIST: u32 = 32 * 1024;
/// Streams a client may open and reset before they are accepted (the "rapid reset" flood, CVE-2023-44487). This
/// is hyper's own default, written down so that an upgrade cannot loosen it unseen.
const H2_MAX_PENDING_RESETS: usize = 20;
/// How often an idle HTTP/2 connection is pinged; one that does not answer within the header deadline is closed.
const H2_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// Resolves when `deadline` passes before the connection delivered its first complete request (a request reaches
/// the service only once its headers are in); never resolves otherwise. HTTP/1 has its own per-request header
/// deadline as well; for HTTP/2 this is the slowloris defence: a preface and then silence, or a HEADERS frame
/// whose CONTINUATION never ends.
async fn first_request_missed(deadline: Duration, started: &AtomicBool) {
    tokio::time::sleep(deadline).await;
    if started.load(Ordering::Relaxed) {
        std::future::pending::<()>().await;
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish (up to
/// `limits.drain`).
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    // HTTP/2 has no per-request header deadline in hyper: the first-request deadline below covers a connection
    // that never completes a request, and these cap what one connection may hold open or churn through.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(Some(H2_MAX_PENDING_RESETS))
        .keep_alive_interval(Some(H2_KEEP_ALIVE))
        .keep_alive_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let conns = Conns::default();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                // `::ffff:a.b.c.d` (IPv4 on a dual-stack listener) is that IPv4 address to every layer.
                let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
                let cap = if limits.uncapped.iter().any(|n| n.contains(&addr.ip())) {
                    usize::MAX
                } else {
                    limits.per_ip_connections
                };
                let Some(slot) = conns.take(crate::edge::limits::network_of(addr.ip()), cap) else {
                    metrics::counter!("palisade_connections_refused_total").increment(1);
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let started = Arc::new(AtomicBool::new(false));
                let seen = started.clone();
                let svc = app.clone().map_request(move |mut req: hyper::Request<Incoming>| {
                    seen.store(true, Ordering::Relaxed);
                    req.extensions_mut().insert(ConnectInfo::<SocketAddr>(addr));
                    req
                });
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(svc)).into_owned();
                let watched = graceful.watch(conn);
                let deadline = limits.header_read_timeout;
                tokio::spawn(async move {
                    let _slot = slot;
                    tokio::select! {
                        ended = watched => {
                            if let Err(e) = ended {
                                tracing::debug!(client = %addr, error = %e, "connection ended with an error");
                            }
                        }
                        () = first_request_missed(deadline, &started) => {
                            metrics::counter!("palisade_connections_timed_out_total").increment(1);
                            tracing::debug!(client = %addr, "no complete request within the header deadline: closed");
                        }
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown()).await.is_err() {
        tracing::warn!("shutdown: some connections were still open after the drain period");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_slots_are_counted_per_address_and_given_back() {
        let c = Conns::default();
        let ip: IpAddr = [192, 0, 2, 1].into();
        let a = c.take(ip, 2);
        let b = c.take(ip, 2);
        assert!(a.is_some() && b.is_some());
        assert!(c.take(ip, 2).is_none());
        assert!(c.take([192, 0, 2, 2].into(), 2).is_some(), "other addresses are not affected");
        drop(a);
        assert!(c.take(ip, 2).is_some());
    }
}
