//! Evaluating rules against an order: allow → block → review within a set, strictest verdict across sets.

use serde::Serialize;

use super::{Action, Condition, CountryField, CountryOperand, Decimal, Expr, NumField, NumOperand, RuleSet, flag};
use crate::features::{Country, OrderFeatures};

/// What the rules see: the order's features and its score.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub features: &'a OrderFeatures,
    pub score: u8,
}

/// Which rule decided: its layer (index in the slice given to [`decide`]; 0 for [`RuleSet::evaluate`]) and its
/// index in that set's rules as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub layer: usize,
    pub index: usize,
}

/// The outcome: an action and the rule that chose it (`None` when no rule matched and the order is allowed by
/// default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub action: Action,
    pub rule: Option<RuleRef>,
}

/// 10^(4 − minor digits): minor units to the evaluator's fixed point (value × 10^4).
fn minor_to_fixed(minor: i64, digits: u32) -> i128 {
    let shift = u32::from(Decimal::MAX_SCALE).saturating_sub(digits);
    i128::from(minor.max(0)) * 10i128.pow(shift)
}

fn number(field: NumField, facts: &Facts<'_>) -> Option<i128> {
    let f = facts.features;
    let count = |n: u32| Some(i128::from(n) * 10_000);
    let digits = f.currency.minor_digits();
    match field {
        NumField::Score => count(u32::from(facts.score)),
        NumField::Amount => Some(minor_to_fixed(f.amount_minor, digits)),
        NumField::StoreMedianAmount => f.store_median_minor.map(|m| minor_to_fixed(m, digits)),
        NumField::AccountAgeDays => count(f.account_age_days),
        NumField::CustomerOrders => count(f.customer_orders),
        NumField::VelocityCard1h => count(f.velocity.card_1h),
        NumField::VelocityCard24h => count(f.velocity.card_24h),
        NumField::VelocityEmail24h => count(f.velocity.email_24h),
        NumField::VelocityDevice24h => count(f.velocity.device_24h),
        NumField::VelocityAddress24h => count(f.velocity.address_24h),
        NumField::VelocityAddressForeignCards7d => count(f.velocity.address_foreign_cards_7d),
        NumField::StoreFailed1h => count(f.store_failed_1h),
        NumField::FailedAttempts => count(f.failed_attempts_1h),
    }
}

fn country(field: CountryField, f: &OrderFeatures) -> Option<Country> {
    match field {
        CountryField::Card => f.card_country,
        CountryField::Billing => f.billing_country,
        CountryField::Ship => f.ship_country,
        CountryField::Ip => f.ip_country,
    }
}

impl Condition {
    /// Whether the condition holds. Unknown values make it false.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        let f = facts.features;
        match *self {
            Condition::Number { left, op, right } => {
                let r = match right {
                    NumOperand::Field(x) => number(x, facts),
                    NumOperand::Literal(d) => Some(d.fixed()),
                };
                matches!((number(left, facts), r), (Some(a), Some(b)) if op.holds(a, b))
            }
            Condition::Country { left, op, right } => {
                let r = match right {
                    CountryOperand::Field(x) => country(x, f),
                    CountryOperand::Literal(c) => Some(c),
                };
                matches!((country(left, f), r), (Some(a), Some(b)) if op.holds(a.code(), b.code()))
            }
            Condition::Currency { op, right } => op.holds(f.currency.code(), right.code()),
            Condition::Category { op, right } => op.holds(f.category_risk, right),
            Condition::Flag(x) => flag(f, x),
        }
    }
}

impl Expr {
    /// Whether the expression holds for the order.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        match self {
            Expr::Cond(c) => c.holds(facts),
            Expr::Not(e) => !e.holds(facts),
            Expr::And(items) => items.iter().all(|e| e.holds(facts)),
            Expr::Or(items) => items.iter().any(|e| e.holds(facts)),
        }
    }
}

impl RuleSet {
    /// The first matching rule in the order allow → block → review; allowed by default when none matches.
    pub fn evaluate(&self, facts: &Facts<'_>) -> Verdict {
        for action in [Action::Allow, Action::Block, Action::Review] {
            let hit = self.rules.iter().position(|r| r.action == action && r.condition.holds(facts));
            if let Some(index) = hit {
                return Verdict { action, rule: Some(RuleRef { layer: 0, index }) };
            }
        }
        Verdict { action: Action::Allow, rule: None }
    }
}

/// Evaluates each layer (the platform's set first, then the store's) and keeps the strictest verdict
/// (block > review > allow); on a tie the earlier layer's explanation is kept.
pub fn decide(layers: &[&RuleSet], facts: &Facts<'_>) -> Verdict {
    let mut best = Verdict { action: Action::Allow, rule: None };
    for (layer, set) in layers.iter().enumerate() {
        let mut v = set.evaluate(facts);
        if let Some(r) = v.rule.as_mut() {
            r.layer = layer;
        }
        if v.action > best.action || (best.rule.is_none() && v.action == best.action) {
            best = v;
        }
    }
    best
}
