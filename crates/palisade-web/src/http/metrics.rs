//! Prometheus metrics: request counts and latency histograms by route template (never by raw path, which
//! would let clients create unbounded label values).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle for `/metrics`.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("http_request_duration_seconds".into()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// One route's handles for one method and status.
struct Handles {
    method: &'static str,
    status: u16,
    requests: Counter,
    duration: Histogram,
}

/// Label sets kept at most; routes are templates and methods and statuses few, so this is never reached by real
/// traffic (past it, requests are counted under no new label set rather than grow the registry).
const MAX_SETS: usize = 4096;

/// Handles by route template, shared: where a label set is registered first, and what caps their number.
static HANDLES: LazyLock<RwLock<HashMap<Box<str>, Vec<Handles>>>> = LazyLock::new(RwLock::default);

thread_local! {
    /// Each worker thread's copy of the handles it has used: a request costs a map lookup and two updates of the
    /// recorder's own atomics, and no write to a lock shared by every core (a read lock's reader count is one,
    /// and on a two-core machine that cache line moved between the cores on every request).
    static LOCAL: RefCell<HashMap<Box<str>, Vec<Handles>>> = RefCell::new(HashMap::new());
}

/// The method as a label: the standard ones by name, anything else as "other" (any token is a valid method, and
/// label values must not be the client's choice).
fn method_label(m: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN.iter().find(|(k, _)| k == m).map_or("other", |(_, name)| name)
}

fn record(route: &str, method: &'static str, status: u16, seconds: f64) {
    let hit = LOCAL.with_borrow(|map| {
        map.get(route).and_then(|v| v.iter().find(|h| h.method == method && h.status == status)).map(|h| {
            h.requests.increment(1);
            h.duration.record(seconds);
        })
    });
    if hit.is_some() {
        return;
    }
    if let Ok(map) = HANDLES.read()
        && let Some(h) = map.get(route).and_then(|v| v.iter().find(|h| h.method == method && h.status == status))
    {
        h.requests.increment(1);
        h.duration.record(seconds);
        remember(route, h);
        return;
    }
    let labels = [("method", method.to_owned()), ("route", route.to_owned()), ("status", status.to_string())];
    let requests = metrics::counter!("http_requests_total", &labels);
    let duration = metrics::histogram!("http_request_duration_seconds", &labels[..2]);
    requests.increment(1);
    duration.record(seconds);
    if let Ok(mut map) = HANDLES.write()
        && map.values().map(Vec::len).sum::<usize>() < MAX_SETS
    {
        let sets = map.entry(route.into()).or_default();
        if !sets.iter().any(|h| h.method == method && h.status == status) {
            let h = Handles { method, status, requests, duration };
            remember(route, &h);
            sets.push(h);
        }
    }
}

/// Keeps a copy of a registered label set's handles in this thread's map (only sets the shared map admitted, so
/// each thread's map is bounded by the same [`MAX_SETS`]).
fn remember(route: &str, h: &Handles) {
    LOCAL.with_borrow_mut(|map| {
        let sets = map.entry(route.into()).or_default();
        if !sets.iter().any(|l| l.method == h.method && l.status == h.status) {
            sets.push(Handles {
                method: h.method,
                status: h.status,
                requests: h.requests.clone(),
                duration: h.duration.clone(),
            });
        }
    });
}

/// Counts and times every request.
pub async fn track(req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let start = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let res = next(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    record(route, method, res.status().as_u16(), start.elapsed().as_secs_f64());
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(method_label(&Method::from_bytes(b"X-RANDOM-123").unwrap()), "other");
    }
}
