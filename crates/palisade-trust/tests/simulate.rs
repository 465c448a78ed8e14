//! The simulator's committed figures (issue #20 item 3). The run is deterministic, so a change to the scorer, the
//! features or the platform rules that makes any figure worse than committed fails here. The thresholds sit just
//! under the figures measured when they were committed (see the crate README); raise them when you improve things.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_trust::RuleSet;
use palisade_trust::rules::PLATFORM_RULES;
use palisade_trust::simulate::{
    OperatingPoint, Report, Scenario, SimConfig, average_precision, evaluate, simulate, top_share_per_day,
};

fn committed() -> Report {
    let platform = RuleSet::parse(PLATFORM_RULES).unwrap();
    evaluate(&simulate(SimConfig::COMMITTED), &[&platform], 0.005)
}

fn recall_of(r: &Report, s: Scenario) -> f64 {
    let x = r.scenarios.iter().find(|x| x.scenario == s).unwrap();
    x.flagged as f64 / x.total as f64
}

#[test]
fn the_committed_run_meets_the_committed_thresholds() {
    let r = committed();
    println!("{r}");
    // The goal: precision ≥ 30 % at recall ≥ 50 % with ≤ 0.5 % of orders sent to review.
    assert!(r.rules.precision() >= 0.30 && r.rules.recall() >= 0.50 && r.rules.review_share() <= 0.005, "{r}");
    // Committed figures (measured: precision 79.9 %, recall 80.1 %, review 0.45 %, AUPRC 0.818).
    assert!(r.rules.precision() >= 0.78, "precision {}", r.rules.precision());
    assert!(r.rules.recall() >= 0.79, "recall {}", r.rules.recall());
    assert!(r.rules.review_share() <= 0.0046, "review share {}", r.rules.review_share());
    assert!(r.auprc >= 0.81, "AUPRC {}", r.auprc);
    assert!(r.budget.precision() >= 0.54, "precision at budget {}", r.budget.precision());
    // Without card testing (measured: precision 32.8 %, recall 42.2 %).
    let w = &r.rules_without_card_testing;
    assert!(w.precision() >= 0.32 && w.recall() >= 0.42, "{w:?}");
    // Per scenario (measured: 91.6 %, 57.1 %, 88.3 %); the other two are out of this scorer's reach.
    assert!(recall_of(&r, Scenario::CardTesting) >= 0.91);
    assert!(recall_of(&r, Scenario::AccountTakeover) >= 0.57);
    assert!(recall_of(&r, Scenario::Reshipping) >= 0.88);
    // Sanity of the world: fraud is rare, every scenario happens.
    assert!(r.prevalence > 0.002 && r.prevalence < 0.02, "prevalence {}", r.prevalence);
    assert!(r.scenarios.iter().all(|s| s.total > 0), "{r}");
}

#[test]
fn the_simulation_is_deterministic_in_its_seed() {
    let small = SimConfig { seed: 7, customers: 3_000, days: 6 };
    let a = simulate(small);
    let b = simulate(small);
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| x.features == y.features && x.truth == y.truth && x.day == y.day));
    let c = simulate(SimConfig { seed: 8, ..small });
    assert!(a.len() != c.len() || a.iter().zip(&c).any(|(x, y)| x.features != y.features));
}

#[test]
fn the_legitimate_traffic_has_the_awkward_cases() {
    // The problem must not be trivially separable: legitimate orders include foreign cards, travellers, gifts
    // abroad, large orders, declines and retries, disposable emails and bursts on one card.
    let orders = simulate(SimConfig { seed: 11, customers: 8_000, days: 10 });
    let legit: Vec<_> = orders.iter().filter(|o| o.truth.is_none()).map(|o| &o.features).collect();
    let share = |p: &dyn Fn(&&palisade_trust::OrderFeatures) -> bool| {
        legit.iter().filter(|f| p(f)).count() as f64 / legit.len() as f64
    };
    let differ = |a: Option<palisade_trust::Country>, b: Option<palisade_trust::Country>| matches!((a, b), (Some(x), Some(y)) if x != y);
    assert!(share(&|f| differ(f.card_country, f.ship_country)) > 0.05);
    assert!(share(&|f| differ(f.ip_country, f.ship_country)) > 0.03);
    assert!(share(&|f| f.store_median_minor.is_some_and(|m| f.amount_minor >= 3 * m)) > 0.02);
    assert!(share(&|f| f.failed_attempts_1h > 0) > 0.01);
    assert!(share(&|f| f.email_domain == palisade_trust::EmailDomain::Disposable) > 0.005);
    assert!(share(&|f| f.velocity.card_1h >= 3) > 0.0005);
    assert!(share(&|f| f.velocity.address_24h >= 2) > 0.005, "office addresses");
}

#[test]
fn average_precision_by_hand() {
    assert_eq!(average_precision(&[(90, true), (80, true), (10, false)]), 1.0);
    // Positive ranked second: precision 1/2 at its recall step.
    assert_eq!(average_precision(&[(90, false), (80, true), (10, false)]), 0.5);
    // Ties count together: a tie of one positive and one negative is precision 1/2, however they are ordered.
    assert_eq!(average_precision(&[(50, false), (50, true)]), 0.5);
    assert_eq!(average_precision(&[(50, true), (50, false)]), 0.5);
    assert_eq!(average_precision(&[(50, false)]), 0.0);
    assert_eq!(average_precision(&[]), 0.0);
}

#[test]
fn the_daily_budget_is_per_day() {
    // Day 0 has 400 orders (budget 2), day 1 has 200 (budget 1); the highest scores are all on day 0.
    let mut items: Vec<(u32, u8, bool)> = (0..400).map(|i| (0, if i < 5 { 99 } else { 1 }, i < 5)).collect();
    items.extend((0..200).map(|i| (1, 10, i == 0)));
    let p: OperatingPoint = top_share_per_day(&items, 0.005);
    assert_eq!((p.flagged, p.true_positives, p.fraud, p.orders), (3, 3, 6, 600));
    assert_eq!(p.precision(), 1.0);
    assert_eq!(p.recall(), 0.5);
}
