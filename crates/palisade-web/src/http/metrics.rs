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
/// on a cache line no other core touches: hence the alignment); `/metrics` reads and sums every thread's. The
/// recorder's own histogram was a shared lock-free list: every request appended its sample to it, both cores
/// bounced its cache lines, and the samples piled up in memory until something scraped `/metrics` (without a
/// scraper, forever).
#[repr(align(64))]
struct Tally {
    key: SetKey,
    /// Requests whose duration fell in each bucket (not cumulative); past the last bound counts only in `count`.
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

/// A label set: route template, method label, status.
type SetKey = (Box<str>, &'static str, u16);

/// Bucket counts, count and sum (nanoseconds), summed.
type Sums = ([u64; BUCKETS.len()], u64, u64);

impl Tally {
    fn new(key: SetKey) -> Self {
        Tally { key, buckets: Default::default(), count: AtomicU64::new(0), sum_nanos: AtomicU64::new(0) }
    }

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

    fn add_to(&self, sums: &mut Sums) {
        for (sum, cell) in sums.0.iter_mut().zip(&self.buckets) {
            *sum += cell.load(Ordering::Relaxed);
        }
        sums.1 += self.count.load(Ordering::Relaxed);
        sums.2 += self.sum_nanos.load(Ordering::Relaxed);
    }
}

/// Label sets kept at most. Routes are templates and methods and statuses few, but a client choosing methods and
/// paths can reach a few thousand sets; past the cap, a request is counted under its status class in the
/// overflow set (route `(other)`, method `other`), so nothing goes uncounted and the number of sets stays bounded.
const MAX_SETS: usize = 4096;

/// The route label of the overflow sets.
const OVERFLOW_ROUTE: &str = "(other)";

/// Every live thread's tallies, what exited threads had counted, and the label sets admitted so far.
#[derive(Default)]
struct Registry {
    tallies: Vec<Arc<Tally>>,
    /// Sums of tallies whose thread has exited (runtimes come and go in tests, blocking threads in production):
    /// folded here so the list of tallies is bounded by the live threads.
    retired: HashMap<SetKey, Sums>,
    sets: HashSet<SetKey>,
}

static REGISTRY: LazyLock<Mutex<Registry>> = LazyLock::new(Mutex::default);

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    // Nothing panics while the lock is held; if something ever did, the counts are still the best there are.
    REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One thread's tallies: by route, then (method, status) → the tally it counts under (its own set's, or an
/// overflow set's once the cap is reached). Bounded by route templates × methods × statuses.
#[derive(Default)]
struct Local(HashMap<Box<str>, Vec<Counted>>);

/// A method label and status, and the tally they count under.
type Counted = (&'static str, u16, Arc<Tally>);

impl Drop for Local {
    /// The thread is exiting: its counts move to the registry's retired sums and its tallies are let go.
    fn drop(&mut self) {
        // Every entry has a tally of its own (`record_capped` makes one per miss), so none is counted twice.
        let mine: Vec<Arc<Tally>> = self.0.drain().flat_map(|(_, v)| v).map(|(_, _, t)| t).collect();
        let gone: HashSet<*const Tally> = mine.iter().map(Arc::as_ptr).collect();
        let mut reg = registry();
        reg.tallies.retain(|t| !gone.contains(&Arc::as_ptr(t)));
        for t in &mine {
            t.add_to(reg.retired.entry(t.key.clone()).or_insert(([0; BUCKETS.len()], 0, 0)));
        }
    }
}

thread_local! {
    /// This thread's tallies: a request costs a map lookup and three uncontended adds.
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
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
    record_capped(route, method, status, seconds, MAX_SETS);
}

fn record_capped(route: &str, method: &'static str, status: u16, seconds: f64, cap: usize) {
    // `try_with`: a request finishing while its thread is being torn down is not counted (rather than panic).
    let hit = LOCAL.try_with(|local| {
        local.borrow().0.get(route).and_then(|v| v.iter().find(|(m, s, _)| *m == method && *s == status)).map(
            |(_, _, t)| {
                t.add(seconds);
            },
        )
    });
    match hit {
        Ok(Some(())) | Err(_) => return,
        Ok(None) => {}
    }
    let tally = {
        let mut reg = registry();
        let mut key: SetKey = (route.into(), method, status);
        if !reg.sets.contains(&key) && reg.sets.len() >= cap {
            key = (OVERFLOW_ROUTE.into(), "other", status / 100 * 100);
        }
        reg.sets.insert(key.clone());
        let tally = Arc::new(Tally::new(key));
        reg.tallies.push(tally.clone());
        tally
    };
    tally.add(seconds);
    let _ = LOCAL.try_with(|local| local.borrow_mut().0.entry(route.into()).or_default().push((method, status, tally)));
}

/// A label value in the exposition format (backslash, quote and newline escaped).
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `http_requests_total` and `http_request_duration_seconds` in the Prometheus text format, summed over threads.
#[must_use]
pub fn render_requests() -> String {
    // The lock is held only to copy the list; the sums and the text are made after.
    let (tallies, retired) = {
        let reg = registry();
        (reg.tallies.clone(), reg.retired.clone())
    };
    let mut by_set: BTreeMap<SetKey, Sums> = retired.into_iter().collect();
    for t in &tallies {
        t.add_to(by_set.entry(t.key.clone()).or_insert(([0; BUCKETS.len()], 0, 0)));
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
        let e = by_route.entry((route, *method)).or_insert(([0; BUCKETS.len()], 0, 0));
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
        // A request being counted has its bucket added before its count: a read in between must not show +Inf
        // below the last bucket.
        let total = (*count).max(cumulative);
        let _ = writeln!(out, "http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "http_request_duration_seconds_sum{{{labels}}} {}", *nanos as f64 / 1e9);
        let _ = writeln!(out, "http_request_duration_seconds_count{{{labels}}} {total}");
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

    fn line(text: &str, want: &str) -> bool {
        text.lines().any(|l| l == want)
    }

    #[test]
    fn durations_are_summed_over_threads_into_cumulative_buckets() {
        let route = "/test-only/{tally}";
        record(route, "GET", 200, 0.002);
        // A thread that counts and exits: its counts stay (retired into the registry), its tally is let go.
        std::thread::spawn(move || record(route, "GET", 200, 0.02)).join().unwrap();
        record(route, "GET", 404, 20.0);
        let live = registry().tallies.iter().filter(|t| &*t.key.0 == route).count();
        assert_eq!(live, 2, "the exited thread's tally was let go (this thread's two remain)");
        let text = render_requests();
        let labels = r#"method="GET",route="/test-only/{tally}""#;
        for want in [
            format!(r#"http_requests_total{{{labels},status="200"}} 2"#),
            format!(r#"http_requests_total{{{labels},status="404"}} 1"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.001"}} 0"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.0025"}} 1"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.025"}} 2"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="10"}} 2"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="+Inf"}} 3"#),
            format!(r#"http_request_duration_seconds_sum{{{labels}}} 20.022"#),
            format!(r#"http_request_duration_seconds_count{{{labels}}} 3"#),
        ] {
            assert!(line(&text, &want), "missing {want} in\n{text}");
        }
        assert_eq!(text.matches("# TYPE http_requests_total").count(), 1);
        assert_eq!(text.matches("# TYPE http_request_duration_seconds").count(), 1);
    }

    #[test]
    fn past_the_cap_requests_are_counted_under_their_status_class() {
        let route = "/test-only/{overflow}";
        record_capped(route, "other", 404, 0.001, 0);
        record_capped(route, "other", 418, 0.001, 0);
        let text = render_requests();
        assert!(!text.contains(route), "{text}");
        assert!(line(&text, r#"http_requests_total{method="other",route="(other)",status="400"} 2"#), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
