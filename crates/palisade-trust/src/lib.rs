#![doc = include_str!("../README.md")]

pub mod card_testing;
pub mod features;
pub mod messages;
pub mod nric;
pub mod rules;
pub mod score;
pub mod simulate;
pub mod uen;

pub use card_testing::{
    Attempt, Buyer, CardFingerprint, DeclineGuard, Gate, InFlight, Outcome, Proof, Thresholds, Trigger,
};
pub use features::{CategoryRisk, Country, EmailDomain, Familiarity, OrderFeatures, Velocity};
pub use nric::{MaskedNric, Nric, NricError, NricHash, NricKey, NricPrefix, NricRecord};
pub use rules::{Action, ParseError, Rule, RuleSet, Verdict, decide, parse_rule};
pub use score::{Reason, ReasonCode, Score, score};
pub use uen::{EntityType, Uen, UenError, UenKind};
