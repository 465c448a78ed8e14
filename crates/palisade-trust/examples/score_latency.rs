//! Scoring plus rule evaluation latency per order, on a deterministic mix of quiet and risky orders.
//! `cargo run --release -p palisade-trust --example score_latency [ORDERS]` — prints p50/p99/max in µs.
//! The goal (issue #20) is p99 < 1 ms; measure on a quiet machine for numbers worth quoting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::disallowed_methods)]

use std::time::Instant;

use palisade_core::money::Currency;
use palisade_trust::rules::{Facts, PLATFORM_RULES};
use palisade_trust::{CategoryRisk, Country, EmailDomain, OrderFeatures, RuleSet, decide, score};

const STORE: &str = "\
review if amount > 3000 and not ship_country = \"SG\"
block if currency != \"SGD\"
";

fn order(i: u64) -> OrderFeatures {
    // A small xorshift so every run scores the same orders.
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let countries = ["SG", "MY", "US", "NG", "ID"];
    let pick = |k: u64| Country::parse(countries[k as usize]);
    let mut f = OrderFeatures::baseline(next(200_000) as i64, Currency::SGD);
    f.store_median_minor = Some(4_500);
    f.card_country = pick(next(5));
    f.ship_country = pick(next(2));
    f.ip_country = pick(next(5));
    f.email_domain = if next(20) == 0 { EmailDomain::Disposable } else { EmailDomain::Ordinary };
    f.account_age_days = next(800) as u32;
    f.customer_orders = next(15) as u32;
    f.velocity.card_1h = next(12) as u32;
    f.velocity.email_24h = next(8) as u32;
    f.failed_attempts_1h = next(6) as u32;
    f.category_risk = [CategoryRisk::Low, CategoryRisk::Medium, CategoryRisk::High][next(3) as usize];
    f
}

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let platform = RuleSet::parse(PLATFORM_RULES).unwrap();
    let store = RuleSet::parse(STORE).unwrap();
    let orders: Vec<OrderFeatures> = (0..n).map(order).collect();
    let mut times = Vec::with_capacity(orders.len());
    let mut blocked = 0u64;
    for f in &orders {
        let t = Instant::now();
        let s = score(f);
        let v = decide(&[&platform, &store], &Facts { features: f, score: s.value() });
        times.push(t.elapsed().as_nanos());
        blocked += u64::from(v.action == palisade_trust::Action::Block);
        std::hint::black_box((s, v));
    }
    times.sort_unstable();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!("{n} orders: p50 {:.2} µs, p99 {:.2} µs, max {:.2} µs ({blocked} blocked)", at(0.50), at(0.99), at(1.0));
}
