//! Per-request inspection latency on typical storefront traffic (the benign corpus, cycled), against a baseline
//! measured in the same run: only splitting the request into fields, which any inspection must do.
//! `cargo run --release -p palisade-shield --example inspect_latency [ROUNDS]` — see bench/shield.sh.
//! `PALISADE_ONLY=<path part>` keeps only matching requests, e.g. to profile checkouts with perf.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::Instant;

use palisade_shield::{Policy, Request, Shield};

fn requests() -> Vec<Request<'static>> {
    include_str!("../tests/benign.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let (method, uri) = (parts.next().unwrap(), parts.next().unwrap());
            let mut r = Request::new(method, uri)
                .header("host", "market.example")
                .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36")
                .header("accept", "text/html,application/xhtml+xml")
                .header("accept-language", "en-SG,en;q=0.9")
                .header(
                    "cookie",
                    "palisade_session=3f2a9c0d8e7b6a5f4e3d2c1b0a998877; palisade_cart=00998877665544332211",
                )
                .header("referer", "https://market.example/s/lion-city-tea");
            if let (Some(ct), Some(body)) = (parts.next(), parts.next()) {
                r = r.header("content-type", ct).body(body.as_bytes().to_vec());
            }
            r
        })
        .collect()
}

fn percentile(sorted: &[u128], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    // `PALISADE_ONLY=/checkout` keeps only requests whose path contains it (for profiling one kind).
    let only = std::env::var("PALISADE_ONLY").unwrap_or_default();
    let reqs: Vec<Request<'static>> = requests().into_iter().filter(|r| r.path.contains(&only)).collect();
    let shield = Shield::default();
    let policy = Policy::default();
    // Warm up (lazy pattern compilation happens once per process).
    for r in &reqs {
        std::hint::black_box(shield.inspect(r, &policy));
    }
    let mut base = Vec::with_capacity(rounds * reqs.len());
    let mut full = Vec::with_capacity(rounds * reqs.len());
    // Buyers' requests (the storefront, cart, checkout, account), without merchants' admin and API calls.
    let mut storefront = Vec::with_capacity(rounds * reqs.len());
    let mut per_request: Vec<Vec<u128>> = vec![Vec::with_capacity(rounds); reqs.len()];
    for _ in 0..rounds {
        for (k, r) in reqs.iter().enumerate() {
            let t = Instant::now();
            std::hint::black_box(r.fields());
            base.push(t.elapsed().as_nanos());
            let t = Instant::now();
            std::hint::black_box(shield.inspect(r, &policy));
            let took = t.elapsed().as_nanos();
            full.push(took);
            per_request[k].push(took);
            if !r.path.starts_with("/admin") && !r.path.starts_with("/api/v1/admin") {
                storefront.push(took);
            }
        }
    }
    base.sort_unstable();
    full.sort_unstable();
    storefront.sort_unstable();
    println!("{} inspections of {} typical storefront/admin requests", full.len(), reqs.len());
    println!("{:28} {:>10} {:>10} {:>10}", "", "p50 µs", "p99 µs", "max µs");
    for (label, v) in
        [("fields only (baseline)", &base), ("full inspection", &full), ("  buyers' requests only", &storefront)]
    {
        println!("{label:28} {:>10.1} {:>10.1} {:>10.1}", percentile(v, 0.5), percentile(v, 0.99), percentile(v, 1.0));
    }
    // Where the tail comes from: the requests with the highest median.
    let mut medians: Vec<(f64, &Request<'static>)> = per_request
        .iter_mut()
        .zip(&reqs)
        .map(|(v, r)| {
            v.sort_unstable();
            (percentile(v, 0.5), r)
        })
        .collect();
    medians.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("slowest requests (median µs, fields):");
    for (median, r) in medians.iter().take(5) {
        let target: String = format!("{} {}", r.method, r.path).chars().take(60).collect();
        println!("  {median:8.1}  {:3}  {target}", r.fields().len());
    }
    let p99 = percentile(&full, 0.99);
    println!("ratio p99 inspection / p99 baseline: {:.1}x", p99 / percentile(&base, 0.99).max(0.001));
    let buyers = percentile(&storefront, 0.99);
    println!("goal p99 < 50 µs for typical storefront requests: {}", if buyers < 50.0 { "PASS" } else { "FAIL" });
}
