//! The card-testing guard on every checkout path (issue #20 item 4): the payment page and `POST
//! /api/v1/stores/{store}/orders` both ask [`gate`] before the order is placed and tell the [`Pass`] it gave
//! what the gateway said.
//!
//! It wraps `palisade_trust::DeclineGuard` (per card fingerprint, client address, client network, session and
//! store: from 5 declines in 10 minutes a proof of work, from 6 a refusal, 429 `card_testing_refused`). The
//! challenge is the shield's proof of work (`edge::challenge::solves`, same difficulty), carried in the form (the
//! payment page's own script solves it) or in the API's `X-Checkout-Challenge` / `X-Checkout-Proof` headers; a
//! challenge is signed, bound to the client address and store, expires in 5 minutes, and is accepted once.
//!
//! **State is in process**: one node counts what it sees. Behind a load balancer spreading one attacker over N
//! nodes, each node needs its own 5 declines (so up to 5·N reach the gateway before every node refuses). The
//! rate limiter's Redis backend (`edge::limits`) is the pattern for sharing it; not done yet.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use palisade_core::StoreId;
use palisade_trust::{Attempt, Buyer, CardFingerprint, DeclineGuard, Gate, InFlight, Outcome, Proof, Thresholds};
use rand::RngCore;

use crate::edge::challenge::{BITS, solves};
use crate::state::AppState;

/// How long a checkout challenge may take to solve.
const CHALLENGE_MS: i64 = 5 * 60 * 1000;
/// Solved challenges remembered (until they expire) so each is accepted once.
const USED_CAP: usize = 100_000;

/// Checkouts challenged and refused since start (for the matrix control and metrics).
#[derive(Debug, Default)]
pub struct GuardFigures {
    pub challenged: AtomicU64,
    pub refused: AtomicU64,
}

/// The guard, the challenges already used, and its figures. One per process.
#[derive(Debug)]
pub struct CardGuard {
    guard: DeclineGuard,
    used: Mutex<HashMap<String, i64>>,
    pub figures: GuardFigures,
}

impl CardGuard {
    #[must_use]
    pub fn new(clock: palisade_core::time::SharedClock) -> Self {
        CardGuard {
            guard: DeclineGuard::new(Thresholds::DEFAULT, clock),
            used: Mutex::default(),
            figures: GuardFigures::default(),
        }
    }

    /// Marks a challenge (by its nonce) used; false when it already was.
    fn first_use(&self, nonce: &str, exp: i64, now: i64) -> bool {
        let Ok(mut used) = self.used.lock() else { return false };
        if used.len() >= USED_CAP {
            used.retain(|_, e| *e > now);
            if used.len() >= USED_CAP {
                // Full of live challenges: refuse rather than forget one (a flood of solved proofs).
                return false;
            }
        }
        used.insert(nonce.to_owned(), exp).is_none()
    }
}

/// One checkout attempt as the web sees it.
pub struct CheckoutAttempt<'a> {
    pub store: StoreId,
    /// The keyed card fingerprint (hex), from [`card_fingerprint`].
    pub card: &'a str,
    pub address: Option<IpAddr>,
    /// The cart (payment page), the account, or the client address (an API guest has no session).
    pub session: &'a str,
    pub known_buyer: bool,
    /// `(challenge, nonce)` the client sent back.
    pub proof: Option<(&'a str, &'a str)>,
}

/// What the checkout does next.
#[derive(Debug)]
pub enum Decision {
    /// Place the order; then tell the pass what the gateway said ([`Pass::outcome`]).
    Allow(Pass),
    /// Ask for this proof of work (the challenge string), then try again.
    Challenge(String),
    /// 429 `card_testing_refused`.
    Refuse,
}

/// The card's keyed fingerprint: an HMAC of its digits under a key derived from the master key. Never the card.
#[must_use]
pub fn card_fingerprint(state: &AppState, number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    state.identity.links().sign("card-fingerprint", &digits)
}

/// The keyed fingerprint of a normalised shipping address.
#[must_use]
pub fn address_fingerprint(state: &AppState, address: &palisade_commerce::address::ShippingAddress) -> String {
    state.identity.links().sign("address-fingerprint", &palisade_commerce::fraud::address_text(address))
}

/// The keyed fingerprint of a normalised email (`Bob+1@x.com` and `bob@x.com` are one): the email velocity's key,
/// and what a declined attempt keeps of the email. Keyed, because a plain hash of an email is reversed by hashing
/// guessed addresses.
#[must_use]
pub fn email_fingerprint(state: &AppState, email: &str) -> String {
    state.identity.links().sign("email-fingerprint", &palisade_commerce::fraud::email_text(email))
}

/// The fingerprints the commerce scorer counts velocity by, and the GeoIP country when configured.
#[must_use]
pub fn fingerprints(
    state: &AppState,
    card_number: &str,
    email: &str,
    address: &palisade_commerce::address::ShippingAddress,
    ip: Option<IpAddr>,
) -> palisade_commerce::fraud::Fingerprints {
    palisade_commerce::fraud::Fingerprints {
        card: Some(card_fingerprint(state, card_number)),
        address: Some(address_fingerprint(state, address)),
        email: Some(email_fingerprint(state, email)),
        ip_country: ip.and_then(|ip| state.geoip.country(ip)),
    }
}

fn fingerprint_bytes(hex_fp: &str) -> CardFingerprint {
    let mut b = [0u8; 32];
    if let Ok(raw) = hex::decode(hex_fp) {
        for (slot, v) in b.iter_mut().zip(raw) {
            *slot = v;
        }
    }
    CardFingerprint(b)
}

fn subject(store: StoreId, ip: &str, nonce: &str, exp: i64) -> String {
    format!("{store}|{ip}|{nonce}|{exp}")
}

/// A fresh challenge for this client at this store.
fn new_challenge(state: &AppState, store: StoreId, ip: &str, now: i64) -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    let nonce = hex::encode(raw);
    let exp = now + CHALLENGE_MS;
    let tag = state.identity.links().sign("checkout-challenge", &subject(store, ip, &nonce, exp));
    format!("{nonce}.{exp}.{tag}")
}

/// Whether `(challenge, n)` is a genuine, fresh, unused challenge for this client and store, solved.
fn proof_ok(state: &AppState, store: StoreId, ip: &str, (challenge, n): (&str, &str), now: i64) -> bool {
    let mut parts = challenge.splitn(3, '.');
    let (Some(nonce), Some(exp), Some(tag)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let Ok(exp_n) = exp.parse::<i64>() else { return false };
    // Only the form this server issues (lower-case hex nonce and tag, the expiry as printed): the signature check
    // alone accepts other spellings of one challenge (`+exp`, `0exp`, an upper-case tag), and the used-set is keyed
    // by the nonce, so no spelling makes a used challenge new again.
    let canonical = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    canonical(nonce)
        && canonical(tag)
        && exp_n.to_string() == exp
        && exp_n > now
        && n.len() <= 20
        && state.identity.links().verify("checkout-challenge", &subject(store, ip, nonce, exp_n), tag)
        && solves(challenge, n, BITS)
        && state.card_guard.first_use(nonce, exp_n, now)
}

fn attempt<'a>(a: &'a CheckoutAttempt<'a>, proof: Proof) -> Attempt<'a> {
    Attempt {
        store: a.store,
        card: fingerprint_bytes(a.card),
        address: a.address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        session: a.session,
        buyer: if a.known_buyer { Buyer::Known } else { Buyer::Guest },
        proof,
    }
}

/// An attempt the guard let through. Until it is settled it counts against its card, address, network and
/// session as a decline (so a burst of concurrent attempts cannot all pass on one count); [`Pass::outcome`]
/// settles it with the gateway's answer, and dropping it (the checkout ended before or without one) settles it
/// with none.
pub struct Pass {
    guard: std::sync::Arc<CardGuard>,
    flight: Option<InFlight>,
    store: StoreId,
    card: CardFingerprint,
    address: IpAddr,
    session: String,
    buyer: Buyer,
    proof: Proof,
}

impl std::fmt::Debug for Pass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session is a credential: never printed.
        f.debug_struct("Pass").field("store", &self.store).field("proof", &self.proof).finish_non_exhaustive()
    }
}

impl Pass {
    /// Tells the guard what the checkout came to: a decline counts, an approval makes the card known to the
    /// store. Anything else (refused by stock, rules, a gateway outage) tells it nothing.
    pub fn outcome(mut self, result: Result<(), &palisade_commerce::CommerceError>) {
        let outcome = match result {
            Ok(()) => Some(Outcome::Approved),
            Err(palisade_commerce::CommerceError::PaymentDeclined { .. }) => Some(Outcome::Declined),
            Err(_) => None,
        };
        self.settle(outcome);
    }

    fn settle(&mut self, outcome: Option<Outcome>) {
        let Some(flight) = self.flight.take() else { return };
        let a = Attempt {
            store: self.store,
            card: self.card,
            address: self.address,
            session: &self.session,
            buyer: self.buyer,
            proof: self.proof,
        };
        self.guard.guard.settle(flight, &a, outcome);
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.settle(None);
    }
}

/// Asks the guard before the order is placed (and the gateway asked).
pub fn gate(state: &AppState, a: &CheckoutAttempt<'_>) -> Decision {
    let now = state.db.now().0;
    let ip = a.address.map(|i| i.to_string()).unwrap_or_default();
    let solved = a.proof.is_some_and(|p| proof_ok(state, a.store, &ip, p, now));
    let proof = if solved { Proof::Solved } else { Proof::None };
    let figures = &state.card_guard.figures;
    let seen = attempt(a, proof);
    let (gate, flight) = state.card_guard.guard.begin(&seen);
    match gate {
        Gate::Allow => Decision::Allow(Pass {
            guard: state.card_guard.clone(),
            flight,
            store: seen.store,
            card: seen.card,
            address: seen.address,
            session: a.session.to_owned(),
            buyer: seen.buyer,
            proof,
        }),
        Gate::Challenge(trigger) => {
            figures.challenged.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("palisade_checkout_challenged_total", "trigger" => trigger.code()).increment(1);
            Decision::Challenge(new_challenge(state, a.store, &ip, now))
        }
        Gate::Refuse(trigger) => {
            figures.refused.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("palisade_checkout_refused_total", "trigger" => trigger.code()).increment(1);
            tracing::warn!(store.id = %a.store, trigger = trigger.code(), "checkout refused by the card-testing guard");
            Decision::Refuse
        }
    }
}

/// The 429 answer's code and words (both checkouts).
pub const REFUSED_CODE: &str = "card_testing_refused";
pub const REFUSED_MESSAGE: &str = "Too many declined payments came from this card, connection or session. \
     Nothing was charged. Wait ten minutes, or contact your bank if your card is being declined.";
/// The challenge answer's code (428) and words.
pub const CHALLENGE_CODE: &str = "checkout_challenge";
pub const CHALLENGE_MESSAGE: &str = "Several payments were declined here recently, so your browser needs to do a \
     small check before this payment is tried. It takes about a second.";
/// The proof of work's difficulty (leading zero bits of SHA-256("{challenge}:{n}")), as the shield's.
pub const CHALLENGE_BITS: u32 = BITS;

/// What this node reports about its guard (under the shield's node report): always on, in process, and its
/// thresholds.
#[must_use]
pub fn node_report() -> serde_json::Value {
    let th = Thresholds::DEFAULT;
    serde_json::json!({"on": true, "state": "in_process", "challenge_after": th.challenge_after,
        "refuse_after": th.refuse_after, "window_secs": th.window.as_secs()})
}

/// The platform control "card-testing protection on" (issue #20 item 9), judged from the running nodes' reports.
pub fn register(reg: &mut palisade_store::matrix::Registry) -> palisade_store::error::Result<()> {
    use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
    use palisade_store::matrix::EvalContext;
    const TSR_PAYMENT: Reference =
        Reference { framework: "MHA E-commerce Transaction Safety Ratings", clause: "Secure payment" };
    const PCI_ABUSE: Reference = Reference {
        framework: "PCI DSS 4.0",
        clause: "6.4.2 / 12.10 Automated attacks on payment pages detected and stopped",
    };
    reg.register(
        Control {
            id: "platform.card-testing-protection",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Card-testing protection is on for every checkout (challenge after 5 declines in 10 minutes, then refuse)",
            why: "Card testers run stolen cards through a checkout to find the live ones; the declines can get a \
                  merchant's payment account shut down.",
            remediation: "Run `palisade serve` (the guard is built in on both checkouts). Each node counts on its own: \
                          with several nodes, an attacker spread over them gets up to 5 declines per node.",
            references: &[TSR_PAYMENT, PCI_ABUSE],
        },
        |ctx: EvalContext| async move {
            let nodes = match crate::edge::shield::node_reports(&ctx.db).await {
                Ok(n) => n,
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            if nodes.is_empty() {
                return ControlStatus::unmet("no running node has reported (start `palisade serve`)");
            }
            let off: Vec<&str> = nodes
                .iter()
                .filter(|(_, v)| v.pointer("/card_testing/on").and_then(serde_json::Value::as_bool) != Some(true))
                .map(|(n, _)| n.as_str())
                .collect();
            if !off.is_empty() {
                return ControlStatus::unmet(format!("no card-testing guard on: {}", off.join(", ")));
            }
            let shared = if nodes.len() > 1 { " (counted per node: not shared)" } else { "" };
            ControlStatus::met(format!("on at {} node(s), in process{shared}", nodes.len()))
        },
    )
}
