//! Card-testing defence (issue #20 item 4): a gate in front of the payment gateway.
//!
//! Card testers run lists of stolen cards through a checkout to learn which ones work; what gives them away is the
//! declines. [`DeclineGuard::check`] is asked *before* the gateway and answers allow, challenge (the shield's proof
//! of work) or refuse; [`DeclineGuard::record`] is told the gateway's answer afterwards. It counts declines in a
//! ten-minute window (ten one-minute buckets) per card fingerprint, client address, client network (/24 or /64)
//! and session: from 5 declines a key is challenged, and a solved challenge lets one more attempt through; from 6
//! it is refused, and each refused attempt counts against it, so a key that keeps trying stays refused until it
//! has been quiet for a window.
//!
//! Per-key counters cannot see a distributed attack (many addresses, a new card and session each time), so each
//! store also has a decline signal measured against its own baseline (see `store`): on *alert* every card the
//! store has not seen approved is challenged; in *lockdown* (on alert, and attempts that solved a challenge still
//! mostly decline) guests with such a card are refused when their address or session already tried there in the
//! window, and new guests are challenged within a budget (the store's usual approval rate) and refused beyond it;
//! signed-in buyers with history are challenged, never refused, by the store signal.
//!
//! In memory, one node, bounded: every table has a cap and a flood of made-up keys evicts the least useful
//! entries first. Keys are hashed with a per-process random key, so neither the fingerprints nor the addresses
//! are kept. The clock is injected.

mod store;
mod window;

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use palisade_core::StoreId;
use palisade_core::time::SharedClock;

use store::{Declined, Solved, StoreEvent, StoreLevel, StoreState, ms};
use window::{BUCKETS, Table};

/// The guard's settings. [`Thresholds::DEFAULT`] holds the numbers and the committed calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The sliding window (ten buckets of a tenth each).
    pub window: Duration,
    /// Declines per card, address or session in the window from which its attempts are challenged.
    pub challenge_after: u32,
    /// Declines (and refused attempts) per card, address or session from which its attempts are refused.
    pub refuse_after: u32,
    /// The same two for a client network (/24 or /64): higher, since one network holds many people.
    pub network_challenge_after: u32,
    /// See `network_challenge_after`.
    pub network_refuse_after: u32,
    /// A store's declines + unsolved challenges + refusals in the window that always put it on alert.
    pub store_alert_floor: u32,
    /// ... or this multiple of its baseline declines per window, whichever is higher.
    pub store_alert_multiple: u32,
    /// How long an alert lasts after the last time the store was over its threshold.
    pub alert_hold: Duration,
    /// Declines after solved challenges at a store on alert from which it goes into lockdown ...
    pub lockdown_after: u32,
    /// ... provided at least this percentage of the attempts let through on a solved challenge declined.
    pub lockdown_decline_percent: u32,
    /// How long a lockdown lasts after it was last triggered (it is re-armed while refusals stay over the alert
    /// threshold, so it ends about this long after the attack does).
    pub lockdown_hold: Duration,
    /// During lockdown, new guests (address and session not seen at the store in the window) still get a
    /// challenge at this share of the store's usual approval rate ...
    pub lockdown_admit_percent: u32,
    /// ... or at least this many an hour ...
    pub lockdown_admit_per_hour: u32,
    /// ... with bursts of up to this many; the rest are refused.
    pub lockdown_admit_burst: u32,
    /// Keys held per kind (cards, addresses, networks, sessions).
    pub max_keys: usize,
    /// Stores held.
    pub max_stores: usize,
    /// (store, card) pairs remembered as approved.
    pub max_known_cards: usize,
    /// How long an approved card stays known to a store.
    pub known_card_for: Duration,
}

impl Thresholds {
    /// The defaults (5 declines in 10 minutes) and the calibration the simulation test commits.
    pub const DEFAULT: Thresholds = Thresholds {
        window: Duration::from_secs(600),
        challenge_after: 5,
        refuse_after: 6,
        network_challenge_after: 10,
        network_refuse_after: 20,
        store_alert_floor: 6,
        store_alert_multiple: 4,
        alert_hold: Duration::from_secs(30 * 60),
        lockdown_after: 3,
        lockdown_decline_percent: 50,
        lockdown_hold: Duration::from_secs(10 * 60),
        lockdown_admit_percent: 100,
        lockdown_admit_per_hour: 4,
        lockdown_admit_burst: 2,
        max_keys: 100_000,
        max_stores: 20_000,
        max_known_cards: 500_000,
        known_card_for: Duration::from_secs(180 * 24 * 3600),
    };
}

impl Default for Thresholds {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A card's fingerprint: a keyed hash the caller computes (never the card number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardFingerprint(pub [u8; 32]);

/// Whether the buyer is signed in with paid orders behind them (a store in lockdown challenges them instead of
/// refusing them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buyer {
    Known,
    Guest,
}

/// Whether the attempt carries a proof of work the caller has verified (fresh, single use, for this checkout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    None,
    Solved,
}

/// One checkout attempt, as the guard sees it. `Debug` leaves the session out (it is a credential).
#[derive(Clone, Copy)]
pub struct Attempt<'a> {
    pub store: StoreId,
    pub card: CardFingerprint,
    pub address: IpAddr,
    /// The session id (or its hash); only a hash of it is kept.
    pub session: &'a str,
    pub buyer: Buyer,
    pub proof: Proof,
}

impl std::fmt::Debug for Attempt<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt")
            .field("store", &self.store)
            .field("card", &self.card)
            .field("address", &self.address)
            .field("session", &"[redacted]")
            .field("buyer", &self.buyer)
            .field("proof", &self.proof)
            .finish()
    }
}

/// What the gateway said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Approved,
    Declined,
}

/// Which counter made the decision (for the log and the buyer-facing message; stable codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    Card,
    Address,
    Network,
    Session,
    Store,
}

impl Trigger {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            Trigger::Card => "card_declines",
            Trigger::Address => "address_declines",
            Trigger::Network => "network_declines",
            Trigger::Session => "session_declines",
            Trigger::Store => "store_under_attack",
        }
    }
}

/// The guard's answer before the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Send it to the gateway.
    Allow,
    /// Ask for a proof of work, then call `check` again with [`Proof::Solved`].
    Challenge(Trigger),
    /// Do not send it to the gateway (HTTP 429 with a stable code).
    Refuse(Trigger),
}

/// How much the guard holds, to check that memory stays bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub keys: usize,
    pub stores: usize,
    pub known_cards: usize,
}

/// The key kinds with per-key tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Card,
    Address,
    Network,
    Session,
}

const KINDS: [Kind; 4] = [Kind::Card, Kind::Address, Kind::Network, Kind::Session];

impl Kind {
    fn trigger(self) -> Trigger {
        match self {
            Kind::Card => Trigger::Card,
            Kind::Address => Trigger::Address,
            Kind::Network => Trigger::Network,
            Kind::Session => Trigger::Session,
        }
    }
}

/// Everything behind the lock.
#[derive(Debug)]
struct State {
    cards: Table,
    addresses: Table,
    networks: Table,
    sessions: Table,
    /// (store, address) and (store, session) pairs that tried at a store on alert, for the lockdown rule.
    seen: Table,
    stores: HashMap<StoreId, StoreState>,
    known: HashMap<u64, i64>,
    /// Attempts let through by [`DeclineGuard::begin`] whose gateway answer has not come yet, per hashed key:
    /// until settled each counts toward a challenge (never a refusal: it may yet be approved), so a burst of
    /// concurrent attempts cannot all pass on the same count of zero.
    pending: HashMap<u64, u32>,
}

/// An attempt [`DeclineGuard::begin`] let through, counted against its keys until [`DeclineGuard::settle`].
#[derive(Debug)]
#[must_use = "settle it, or its keys stay counted"]
pub struct InFlight {
    keys: [Option<u64>; 4],
}

/// The card-testing gate. Share one per process (`Arc<DeclineGuard>`); all methods take `&self`.
#[derive(Debug)]
pub struct DeclineGuard {
    th: Thresholds,
    clock: SharedClock,
    hasher: RandomState,
    state: Mutex<State>,
}

mod guard;

/// The network an address belongs to: its /24 (IPv4) or /64 (IPv6); IPv4-mapped IPv6 counts as IPv4.
fn network_of(addr: IpAddr) -> (u8, u128) {
    match addr {
        IpAddr::V4(v4) => (4, u128::from(u32::from(v4) >> 8)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (4, u128::from(u32::from(v4) >> 8)),
            None => (6, u128::from(v6) >> 64),
        },
    }
}

/// The canonical address (IPv4-mapped IPv6 as IPv4), so one client is one key. An IPv6 client rotating within
/// its /64 is caught by the network key (10 / 20): a /64 is often a whole campus or office LAN, so it is not held
/// to one address's 5 / 6.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// A bucket index for `now`.
fn bucket_of(now: i64, th: &Thresholds) -> i64 {
    let width = (ms(th.window) / BUCKETS as i64).max(1);
    now.div_euclid(width)
}

/// Hashes a value with the guard's key.
fn hash_with(h: &RandomState, v: impl Hash) -> u64 {
    h.hash_one(v)
}

#[cfg(test)]
mod tests;
