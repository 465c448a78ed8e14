//! Fraud rules: one line each, `ACTION if CONDITION`, in the style of the shield's rules and Stripe Radar's.
//!
//! ```text
//! review if score > 65
//! block  if card_country != ship_country and amount > 500
//! allow  if customer.orders >= 3
//! block  if velocity.card_1h >= 5 or (failed_attempts >= 3 and email.disposable)
//! review if category_risk >= medium and not ship_country = "SG"
//! ```
//!
//! **Actions** `allow`, `block`, `review`. Within a rule set every `allow` rule is tried first, then `block`, then
//! `review` (as Stripe Radar does), whatever their order in the text: the first matching rule in that order
//! decides. Across layers ([`decide`]: the platform's rules, then a store's) the strictest verdict wins, so a
//! store can tighten the platform's policy but never loosen it (a merchant cannot `allow` past a platform `block`).
//!
//! **Conditions** `and`, `or`, `not` and parentheses; `not` binds tightest, then `and`, then `or`.
//! **Fields** (see [`NumField`], [`CountryField`], [`FlagField`]): numbers compare with `= != < <= > >=` against
//! a number or a field of the same kind; `amount` and `store.median_amount` are in major units of the order's
//! currency (`amount > 500` is 500.00 in a dollar store, 500 in a yen store), exactly (fixed point, no floats).
//! Countries compare with `=`/`!=` against another country field or a quoted code (`"SG"`); `currency` against a
//! quoted ISO code; `category_risk` against `low`, `medium`, `high` (ordered). `email.disposable` is a flag.
//! A comparison involving an unknown value (no GeoIP country, no store history) is false, whatever the operator;
//! `not` then makes it true, so `not ship_country = "SG"` holds for an order with no shipping address while
//! `ship_country != "SG"` does not.
//!
//! **Limits** (a rule set is merchant input): [`MAX_RULE_CHARS`] per rule, [`MAX_RULES`] per set,
//! [`MAX_CONDITIONS`] comparisons per rule, [`MAX_DEPTH`] nested `not`/parentheses, [`MAX_SET_BYTES`] of text.

mod parse;

use std::fmt;

use palisade_core::money::Currency;
use serde::Serialize;

use crate::features::{CategoryRisk, Country, EmailDomain, Familiarity, OrderFeatures};

pub use parse::{ParseError, parse_rule};

/// Longest rule accepted, in characters.
pub const MAX_RULE_CHARS: usize = 500;
/// Most rules in one set (one store's, or the platform's).
pub const MAX_RULES: usize = 100;
/// Most comparisons in one rule.
pub const MAX_CONDITIONS: usize = 20;
/// Deepest nesting of `not` and parentheses.
pub const MAX_DEPTH: usize = 8;
/// Largest rule-set text accepted, comments included (bytes): refused before any line is looked at.
pub const MAX_SET_BYTES: usize = 64 * 1024;

/// The platform's default rule set (layer 0 of [`decide`]), in the rule language; the simulator evaluates it.
pub const PLATFORM_RULES: &str = include_str!("platform.rules");

/// What a matching rule does to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept without review (the order still goes through payment and the shield).
    Allow,
    /// Hold the order for the merchant's review; it cannot ship until approved.
    Review,
    /// Refuse the order.
    Block,
}

impl Action {
    /// The word used in rules.
    pub fn word(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Review => "review",
            Action::Block => "block",
        }
    }
}

macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in rules.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            /// Looks a name up.
            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }
    };
}

named_enum! {
    /// A numeric field of the order.
    NumField {
        /// The order's score (0–100) from [`crate::score`].
        Score => "score",
        /// The order total, in major units.
        Amount => "amount",
        /// The store's median order total, in major units.
        StoreMedianAmount => "store.median_amount",
        AccountAgeDays => "account.age_days",
        CustomerOrders => "customer.orders",
        VelocityCard1h => "velocity.card_1h",
        VelocityCard24h => "velocity.card_24h",
        VelocityEmail24h => "velocity.email_24h",
        VelocityDevice24h => "velocity.device_24h",
        VelocityAddress24h => "velocity.address_24h",
        VelocityAddressForeignCards7d => "velocity.address_foreign_cards_7d",
        /// Declined payments at the store in the last hour.
        StoreFailed1h => "store.failed_1h",
        /// Failed payment attempts in the last hour.
        FailedAttempts => "failed_attempts",
    }
}

named_enum! {
    /// A country field of the order.
    CountryField {
        Card => "card_country",
        Billing => "billing_country",
        Ship => "ship_country",
        Ip => "ip_country",
    }
}

named_enum! {
    /// A yes/no field of the order, used bare (`block if email.disposable`).
    FlagField {
        EmailDisposable => "email.disposable",
        /// The account has paid history but never from this device.
        DeviceNew => "device.new",
        /// The account has paid history but never shipped to this address.
        AddressNew => "address.new",
    }
}

named_enum! {
    /// A comparison operator.
    CmpOp {
        Eq => "=",
        Ne => "!=",
        Lt => "<",
        Le => "<=",
        Gt => ">",
        Ge => ">=",
    }
}

impl NumField {
    /// Whether the field is money (compared only with money or a plain number in major units).
    pub fn is_money(self) -> bool {
        matches!(self, NumField::Amount | NumField::StoreMedianAmount)
    }
}

impl CmpOp {
    fn holds<T: Ord>(self, a: T, b: T) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }

    /// Whether the operator only tests equality (the only ones allowed on countries and currencies).
    pub fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// A non-negative decimal literal as written: `mantissa / 10^scale`, at most [`Decimal::MAX_SCALE`] decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decimal {
    mantissa: u64,
    scale: u8,
}

impl Decimal {
    /// Most digits after the point.
    pub const MAX_SCALE: u8 = 4;
    /// Most digits before the point.
    pub const MAX_INTEGER_DIGITS: usize = 15;

    /// A decimal from its parts; `None` when the scale is over [`Self::MAX_SCALE`] or the value over 10^15.
    pub fn new(mantissa: u64, scale: u8) -> Option<Self> {
        let limit = 10u64.checked_pow(15 + u32::from(scale))?;
        (scale <= Self::MAX_SCALE && mantissa < limit).then_some(Decimal { mantissa, scale })
    }

    /// The value × 10^4 (the evaluator's fixed point).
    fn fixed(self) -> i128 {
        i128::from(self.mantissa) * 10i128.pow(u32::from(Self::MAX_SCALE - self.scale))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let div = 10u64.pow(u32::from(self.scale));
        if self.scale == 0 {
            write!(f, "{}", self.mantissa)
        } else {
            let width = usize::from(self.scale);
            write!(f, "{}.{:0width$}", self.mantissa / div, self.mantissa % div)
        }
    }
}

/// The right-hand side of a numeric comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NumOperand {
    Field(NumField),
    Literal(Decimal),
}

/// The right-hand side of a country comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountryOperand {
    Field(CountryField),
    Literal(Country),
}

/// One comparison, typed: the parser has checked that both sides are of the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    Number {
        left: NumField,
        op: CmpOp,
        right: NumOperand,
    },
    /// `op` is `=` or `!=`.
    Country {
        left: CountryField,
        op: CmpOp,
        right: CountryOperand,
    },
    /// `op` is `=` or `!=`.
    Currency {
        op: CmpOp,
        right: Currency,
    },
    Category {
        op: CmpOp,
        right: CategoryRisk,
    },
    Flag(FlagField),
}

/// A rule's condition. `And` and `Or` have at least two members (the parser never builds shorter ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Cond(Condition),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    pub action: Action,
    pub condition: Expr,
}

mod eval;
mod print;

pub use eval::{Facts, RuleRef, Verdict, decide};

/// An ordered list of rules (one store's, or the platform's), within the limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Parses one rule per line; blank lines and lines starting with `#` are skipped. Errors carry the line.
    pub fn parse(text: &str) -> Result<RuleSet, ParseError> {
        if text.len() > MAX_SET_BYTES {
            return Err(ParseError::at(1, format!("a rule set is at most {} KiB", MAX_SET_BYTES / 1024)));
        }
        let mut rules = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if rules.len() == MAX_RULES {
                return Err(ParseError::at(1, format!("a rule set has at most {MAX_RULES} rules")).on_line(i + 1));
            }
            rules.push(parse_rule(line).map_err(|e| e.on_line(i + 1))?);
        }
        Ok(RuleSet { rules })
    }

    /// The rules, in the order written.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl fmt::Display for RuleSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.rules {
            writeln!(f, "{r}")?;
        }
        Ok(())
    }
}

/// A yes/no fact about the order, as the flag the rules see.
fn flag(f: &OrderFeatures, field: FlagField) -> bool {
    match field {
        FlagField::EmailDisposable => f.email_domain == EmailDomain::Disposable,
        FlagField::DeviceNew => f.account_device == Familiarity::New,
        FlagField::AddressNew => f.account_address == Familiarity::New,
    }
}

#[cfg(test)]
mod tests;
