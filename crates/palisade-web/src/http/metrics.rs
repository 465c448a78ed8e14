//! Prometheus metrics: request counts and latency histograms by route template (never by raw path, which
//! would let clients create unbounded label values).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle for `/metrics`.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            // Histograms of the recorder keep every sample until a scrape: none may be registered through it (the
            // request durations are this module's own tallies).
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// Upper bounds (seconds) of the request-duration histogram's buckets.
const BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// One thread's tallies for one route, method and status. Only the thread that owns it writes it (relaxed adds
/// on a cache line no other core touches); `/metrics` reads and sums every thread's. The recorder's own
/// histogram was a shared lock-free list: every request appended its sample to it, both cores bounced its cache
/// lines, and the samples piled up in memory until something scraped `/metrics` (without a scraper, forever).
struct Tally {
    route: Box<str>,
    method: &'static str,
    status: u16,
    /// Requests whose duration fell in each bucket (not cumulative); past the last bound counts only in `count`.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Tally {
    fn add(&self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b)
            && let Some(cell) = self.buckets.get(i)
        {
            cell.fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        // Saturating: a duration of centuries is not a real request, and must not wrap the sum.
        let nanos = (seconds * 1e9).min(u64::MAX as f64) as u64;
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

/// Label sets kept at most; routes are templates and methods and statuses few, so this is never reached by real
/// traffic (past it, requests are not counted under a new label set rather than grow without bound).
const MAX_SETS: usize = 4096;

/// Every thread's tallies, for `/metrics`, and the label sets admitted so far (which caps their number).
#[derive(Default)]
struct Registry {
    tallies: Vec<Arc<Tally>>,
    sets: HashSet<(Box<str>, &'static str, u16)>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

thread_local! {
    /// This thread's tallies by route: a request costs a map lookup and three uncontended adds.
    static LOCAL: RefCell<HashMap<Box<str>, Vec<Arc<Tally>>>> = RefCell::new(HashMap::new());
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
        map.get(route).and_then(|v| v.iter().find(|t| t.method == method && t.status == status)).map(|t| t.add(seconds))
    });
    if hit.is_some() {
        return;
    }
    let Ok(mut reg) = REGISTRY.lock() else { return };
    let key = (Box::<str>::from(route), method, status);
    if !reg.sets.contains(&key) {
        if reg.sets.len() >= MAX_SETS {
            return;
        }
        reg.sets.insert(key);
    }
    let tally = Arc::new(Tally {
        route: route.into(),
        method,
        status,
        buckets: Default::default(),
        count: AtomicU64::new(0),
        sum_nanos: AtomicU64::new(0),
    });
    tally.add(seconds);
    reg.tallies.push(tally.clone());
    drop(reg);
    LOCAL.with_borrow_mut(|map| map.entry(route.into()).or_default().push(tally));
}

/// A label value in the exposition format (backslash, quote and newline escaped).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `http_requests_total` and `http_request_duration_seconds` in the Prometheus text format, summed over threads.
#[must_use]
pub fn render_requests() -> String {
    type Sums = ([u64; BUCKETS.len()], u64, u64);
    let mut by_set: BTreeMap<(&str, &'static str, u16), Sums> = BTreeMap::new();
    let reg = match REGISTRY.lock() {
        Ok(reg) => reg,
        Err(poisoned) => poisoned.into_inner(),
    };
    for t in &reg.tallies {
        let e = by_set.entry((&t.route, t.method, t.status)).or_insert(([0; BUCKETS.len()], 0, 0));
        for (sum, cell) in e.0.iter_mut().zip(&t.buckets) {
            *sum += cell.load(Ordering::Relaxed);
        }
        e.1 += t.count.load(Ordering::Relaxed);
        e.2 += t.sum_nanos.load(Ordering::Relaxed);
    }
    let mut out = String::from(
        "# HELP http_requests_total Requests answered, by route template, method and status.\n\
         # TYPE http_requests_total counter\n",
    );
    for ((route, method, status), (_, count, _)) in &by_set {
        let _ = writeln!(
            out,
            "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
            label(route)
        );
    }
    // The histogram is by route and method (statuses summed).
    let mut by_route: BTreeMap<(&str, &'static str), Sums> = BTreeMap::new();
    for ((route, method, _), (buckets, count, nanos)) in &by_set {
        let e = by_route.entry((route, method)).or_insert(([0; BUCKETS.len()], 0, 0));
        for (sum, n) in e.0.iter_mut().zip(buckets) {
            *sum += n;
        }
        e.1 += count;
        e.2 += nanos;
    }
    out.push_str(
        "# HELP http_request_duration_seconds Time to answer a request, by route template and method.\n\
         # TYPE http_request_duration_seconds histogram\n",
    );
    for ((route, method), (buckets, count, nanos)) in &by_route {
        let labels = format!("method=\"{method}\",route=\"{}\"", label(route));
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(buckets) {
            cumulative += n;
            let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {}", *nanos as f64 / 1e9);
        let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {count}");
    }
    out
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

    #[test]
    fn durations_are_summed_over_threads_into_cumulative_buckets() {
        let route = "/test-only/{tally}";
        record(route, "GET", 200, 0.002);
        std::thread::spawn(move || record(route, "GET", 200, 0.02)).join().unwrap();
        record(route, "GET", 404, 20.0);
        let text = render_requests();
        let labels = r#"method="GET",route="/test-only/{tally}""#;
        assert!(text.contains(&format!(r#"http_requests_total{{{labels},status="200"}} 2"#)), "{text}");
        assert!(text.contains(&format!(r#"http_requests_total{{{labels},status="404"}} 1"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.001"}} 0"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.0025"}} 1"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.025"}} 2"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_bucket{{{labels},le="10"}} 2"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_bucket{{{labels},le="+Inf"}} 3"#)), "{text}");
        assert!(text.contains(&format!(r#"http_request_duration_seconds_count{{{labels}}} 3"#)), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
