//! Precision, recall, AUPRC and precision at a daily review budget, over a simulated run.

use std::fmt;

use crate::rules::{Action, Facts, RuleSet, decide};
use crate::score::score;

use super::{Scenario, SimOrder};

/// How many orders a policy flags, and how many of them are fraud.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct OperatingPoint {
    /// Orders flagged (blocked or sent to review).
    pub flagged: usize,
    /// Of which sent to review.
    pub reviewed: usize,
    /// Of which blocked.
    pub blocked: usize,
    /// Flagged orders that are fraud.
    pub true_positives: usize,
    /// All fraud in the run.
    pub fraud: usize,
    /// All orders in the run.
    pub orders: usize,
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

impl OperatingPoint {
    /// Adds one order's decision.
    fn count(&mut self, action: Action, truth: Option<Scenario>) {
        let fraud = truth.is_some();
        let flagged = action != Action::Allow;
        self.orders += 1;
        self.flagged += usize::from(flagged);
        self.reviewed += usize::from(action == Action::Review);
        self.blocked += usize::from(action == Action::Block);
        self.fraud += usize::from(fraud);
        self.true_positives += usize::from(fraud && flagged);
    }

    /// Flagged orders that are fraud (0 when nothing is flagged).
    pub fn precision(&self) -> f64 {
        ratio(self.true_positives, self.flagged)
    }

    /// Fraud that is flagged.
    pub fn recall(&self) -> f64 {
        ratio(self.true_positives, self.fraud)
    }

    /// Share of all orders sent to a human.
    pub fn review_share(&self) -> f64 {
        ratio(self.reviewed, self.orders)
    }

    /// Share of all orders flagged (review or block).
    pub fn flagged_share(&self) -> f64 {
        ratio(self.flagged, self.orders)
    }
}

/// One scenario's fraud and how much of it the rules flagged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScenarioRecall {
    pub scenario: Scenario,
    pub total: usize,
    pub flagged: usize,
}

/// Everything the simulator reports about a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub days: u32,
    /// The rule set's decisions (block or review counts as flagged).
    pub rules: OperatingPoint,
    /// The same, with card-testing attempts left out of the run: card testing is most of the fraud by count and
    /// the easiest to see, so this is the harder figure (orders that would ship).
    pub rules_without_card_testing: OperatingPoint,
    /// The score alone, flagging each day's highest-scoring [`Report::budget_share`] of orders.
    pub budget: OperatingPoint,
    pub budget_share: f64,
    /// Area under the precision–recall curve of the score alone (average precision).
    pub auprc: f64,
    /// Fraud in the run if nothing were flagged, as a share of orders.
    pub prevalence: f64,
    pub scenarios: Vec<ScenarioRecall>,
}

/// Average precision of a ranking by score: Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct thresholds, highest first, so
/// tied scores count together (no tie-breaking luck). 0 when there is no positive.
pub fn average_precision(items: &[(u8, bool)]) -> f64 {
    let positives = items.iter().filter(|(_, p)| *p).count();
    let mut by_score = [(0usize, 0usize); 256];
    for (s, p) in items {
        if let Some(slot) = by_score.get_mut(usize::from(*s)) {
            slot.0 += 1;
            slot.1 += usize::from(*p);
        }
    }
    let (mut seen, mut hits, mut ap) = (0usize, 0usize, 0.0);
    for (n, tp) in by_score.iter().rev() {
        if *n == 0 {
            continue;
        }
        seen += n;
        hits += tp;
        ap += ratio(*tp, positives) * ratio(hits, seen);
    }
    ap
}

/// Flags each day's highest-scoring `share` of orders (rounded down, ties broken by time order, earlier first)
/// and counts what that catches.
pub fn top_share_per_day(items: &[(u32, u8, bool)], share: f64) -> OperatingPoint {
    let mut point = OperatingPoint {
        orders: items.len(),
        fraud: items.iter().filter(|(_, _, p)| *p).count(),
        ..OperatingPoint::default()
    };
    let last = items.iter().map(|(d, _, _)| *d).max().unwrap_or(0);
    for day in 0..=last {
        let mut today: Vec<(u8, bool)> = items.iter().filter(|(d, _, _)| *d == day).map(|(_, s, p)| (*s, *p)).collect();
        let k = (today.len() as f64 * share).floor() as usize;
        today.sort_by_key(|x| std::cmp::Reverse(x.0));
        let picked = today.get(..k).unwrap_or(&[]);
        point.flagged += picked.len();
        point.reviewed += picked.len();
        point.true_positives += picked.iter().filter(|(_, p)| *p).count();
    }
    point
}

/// Scores every attempt, applies `layers` (the platform's rules first), and computes the report.
pub fn evaluate(orders: &[SimOrder], layers: &[&RuleSet], budget_share: f64) -> Report {
    let mut rules = OperatingPoint::default();
    let mut shipped = OperatingPoint::default();
    let mut scenarios: Vec<ScenarioRecall> =
        Scenario::ALL.iter().map(|&scenario| ScenarioRecall { scenario, total: 0, flagged: 0 }).collect();
    let mut ranked = Vec::with_capacity(orders.len());
    for o in orders {
        let s = score(&o.features).value();
        let verdict = decide(layers, &Facts { features: &o.features, score: s });
        let flagged = verdict.action != Action::Allow;
        rules.count(verdict.action, o.truth);
        if o.truth != Some(Scenario::CardTesting) {
            shipped.count(verdict.action, o.truth);
        }
        if let Some(sc) = scenarios.iter_mut().find(|x| Some(x.scenario) == o.truth) {
            sc.total += 1;
            sc.flagged += usize::from(flagged);
        }
        ranked.push((o.day, s, o.truth.is_some()));
    }
    let pairs: Vec<(u8, bool)> = ranked.iter().map(|(_, s, p)| (*s, *p)).collect();
    Report {
        days: orders.iter().map(|o| o.day + 1).max().unwrap_or(0),
        budget: top_share_per_day(&ranked, budget_share),
        budget_share,
        auprc: average_precision(&pairs),
        prevalence: ratio(rules.fraud, rules.orders),
        rules,
        rules_without_card_testing: shipped,
        scenarios,
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| x * 100.0;
        let r = &self.rules;
        writeln!(
            f,
            "{} attempts over {} days; {} fraud ({:.2} %)",
            r.orders,
            self.days,
            r.fraud,
            pct(self.prevalence)
        )?;
        writeln!(f, "score alone: AUPRC {:.3}", self.auprc)?;
        let b = &self.budget;
        writeln!(
            f,
            "score, top {:.1} % per day to review: precision {:.1} %, recall {:.1} % ({} flagged)",
            pct(self.budget_share),
            pct(b.precision()),
            pct(b.recall()),
            b.flagged
        )?;
        writeln!(
            f,
            "platform rules: precision {:.1} %, recall {:.1} %; review {:.2} % of orders ({}), block {:.2} % ({})",
            pct(r.precision()),
            pct(r.recall()),
            pct(r.review_share()),
            r.reviewed,
            pct(ratio(r.blocked, r.orders)),
            r.blocked
        )?;
        let w = &self.rules_without_card_testing;
        writeln!(
            f,
            "  without card testing ({} fraud): precision {:.1} %, recall {:.1} %, review {:.2} %",
            w.fraud,
            pct(w.precision()),
            pct(w.recall()),
            pct(w.review_share())
        )?;
        for s in &self.scenarios {
            writeln!(
                f,
                "  {:<18} {:>5} fraud, {:>5} flagged ({:.1} %)",
                s.scenario.name(),
                s.total,
                s.flagged,
                pct(ratio(s.flagged, s.total))
            )?;
        }
        Ok(())
    }
}
