//! The simulator's one-screen report for the committed run (or another seed):
//! `cargo run --release -p palisade-trust --example simulate [SEED]`.
//! Prints the metrics of the score and the platform's default rules, then the scoring latency per attempt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::disallowed_methods)]

use std::time::Instant;

use palisade_trust::rules::{Facts, PLATFORM_RULES};
use palisade_trust::simulate::{SimConfig, evaluate, simulate};
use palisade_trust::{RuleSet, decide, score};

fn main() {
    let mut cfg = SimConfig::COMMITTED;
    if let Some(seed) = std::env::args().nth(1).and_then(|a| a.parse().ok()) {
        cfg.seed = seed;
    }
    let t = Instant::now();
    let orders = simulate(cfg);
    let generated = t.elapsed();
    let platform = RuleSet::parse(PLATFORM_RULES).unwrap();
    println!(
        "seed {} ({} customers, {} days, simulated in {:.1?}) — synthetic data",
        cfg.seed, cfg.customers, cfg.days, generated
    );
    print!("{}", evaluate(&orders, &[&platform], 0.005));
    let mut times: Vec<u128> = orders
        .iter()
        .map(|o| {
            let t = Instant::now();
            let s = score(&o.features);
            let v = decide(&[&platform], &Facts { features: &o.features, score: s.value() });
            std::hint::black_box((s, v));
            t.elapsed().as_nanos()
        })
        .collect();
    times.sort_unstable();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!(
        "score + rules per attempt: p50 {:.2} µs, p99 {:.2} µs, max {:.1} µs (shared machine)",
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
