//! A seeded synthetic transaction simulator (issue #20 item 3): customers, cards, devices, stores and days,
//! legitimate behaviour with its awkward cases, and five fraud scenarios, replayed in time order so that every
//! feature is computed from earlier events the way production computes it. [`evaluate`] then scores every
//! attempt, applies a rule set and reports precision, recall, AUPRC and precision at a daily review budget.
//!
//! The data is synthetic: the figures say how the scorer does on *this model* of fraud, not on real traffic. The
//! crate README says what the model contains and what it cannot show.

mod fraud;
mod generate;
mod metrics;
mod rng;
mod stream;
mod world;

use serde::Serialize;

use crate::features::OrderFeatures;

pub use metrics::{OperatingPoint, Report, ScenarioRecall, average_precision, evaluate, top_share_per_day};
pub use rng::Rng;

/// The kind of fraud behind an attempt (the ground truth; `None` on a legitimate one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Many stolen cards tried with small amounts in a short time.
    CardTesting,
    /// A stolen login used on an established account.
    AccountTakeover,
    /// Goods bought with stolen foreign cards, shipped to a local forwarding address.
    Reshipping,
    /// A fake store whose buyers are steered into paying off-platform.
    OffPlatformScam,
    /// A genuine customer's order disputed as "not received" or "not authorised".
    FriendlyFraud,
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 5] = [
        Scenario::CardTesting,
        Scenario::AccountTakeover,
        Scenario::Reshipping,
        Scenario::OffPlatformScam,
        Scenario::FriendlyFraud,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::CardTesting => "card testing",
            Scenario::AccountTakeover => "account takeover",
            Scenario::Reshipping => "reshipping",
            Scenario::OffPlatformScam => "off-platform scam",
            Scenario::FriendlyFraud => "friendly fraud",
        }
    }
}

/// The size and seed of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimConfig {
    pub seed: u64,
    pub customers: u32,
    pub days: u32,
}

impl SimConfig {
    /// The run whose figures are committed (the README and the regression test quote them).
    pub const COMMITTED: SimConfig = SimConfig { seed: 20_261_206, customers: 40_000, days: 30 };
}

/// One scored checkout attempt of a run: its features and the truth.
#[derive(Debug, Clone)]
pub struct SimOrder {
    /// Day of the run (0-based).
    pub day: u32,
    pub features: OrderFeatures,
    /// The payment was declined (after scoring).
    pub declined: bool,
    pub truth: Option<Scenario>,
}

/// Runs the simulation: draws the world, generates each day's attempts, then replays them in time order through
/// the feature stream. Deterministic in `cfg`.
pub fn simulate(cfg: SimConfig) -> Vec<SimOrder> {
    let mut rng = Rng::new(cfg.seed);
    let mut world = world::World::new(&mut rng, cfg.customers, cfg.days);
    let mut attempts = Vec::new();
    let mut mules = Vec::new();
    for day in 0..cfg.days {
        generate::legit_day(&mut rng, &mut world, day, &mut attempts);
        for _ in 0..rng.poisson(0.3) {
            fraud::card_testing(&mut rng, &mut world, day, &mut attempts);
        }
        for _ in 0..rng.poisson(0.8) {
            fraud::account_takeover(&mut rng, &mut world, day, &mut attempts);
        }
        fraud::reshipping(&mut rng, &mut world, day, &mut mules, &mut attempts);
        for _ in 0..rng.poisson(0.1) {
            fraud::off_platform_scam(&mut rng, &mut world, day, &mut attempts);
        }
    }
    let horizon = cfg.days * world::DAY;
    attempts.retain(|a| a.t < horizon);
    attempts.sort_by_key(|a| a.t);
    let mut stream = stream::Stream::new(&world, &mut rng);
    attempts
        .iter()
        .map(|a| {
            let features = stream.features(a);
            stream.settle(a);
            SimOrder { day: a.t / world::DAY, features, declined: a.declined, truth: a.truth }
        })
        .collect()
}
