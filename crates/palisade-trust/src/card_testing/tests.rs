use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Duration;

use palisade_core::StoreId;
use palisade_core::time::{ManualClock, Timestamp};

use super::*;

fn guard() -> (DeclineGuard, ManualClock) {
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    (DeclineGuard::new(Thresholds::DEFAULT, Arc::new(clock.clone())), clock)
}

fn card(n: u32) -> CardFingerprint {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&n.to_be_bytes());
    CardFingerprint(b)
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn attempt(store: StoreId, c: u32, address: IpAddr, session: &str) -> Attempt<'_> {
    Attempt { store, card: card(c), address, session, buyer: Buyer::Guest, proof: Proof::None }
}

#[test]
fn five_declines_challenge_a_solved_challenge_lets_one_through_then_refuse() {
    let clock = ManualClock::new(Timestamp(1_800_000_000_000));
    let store = StoreId::new();
    // One address, a new card and session each time (the store signal stays out of it: floor raised).
    let g = DeclineGuard::new(Thresholds { store_alert_floor: 1_000, ..Thresholds::DEFAULT }, Arc::new(clock.clone()));
    let addr = v4(203, 0, 113, 7);
    let sessions: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    for i in 0..5u32 {
        let a = attempt(store, i, addr, &sessions[i as usize]);
        assert_eq!(g.check(&a), Gate::Allow, "attempt {i}");
        g.record(&a, Outcome::Declined);
        clock.advance(Duration::from_secs(2));
    }
    let a = attempt(store, 5, addr, &sessions[5]);
    assert_eq!(g.check(&a), Gate::Challenge(Trigger::Address));
    let solved = Attempt { proof: Proof::Solved, ..a };
    assert_eq!(g.check(&solved), Gate::Allow);
    g.record(&solved, Outcome::Declined);
    let a = attempt(store, 6, addr, &sessions[6]);
    assert_eq!(g.check(&a), Gate::Refuse(Trigger::Address));
    assert_eq!(
        g.check(&Attempt { proof: Proof::Solved, ..a }),
        Gate::Refuse(Trigger::Address),
        "a proof does not lift a refusal"
    );
    // Hammering keeps it refused past the first window ...
    for _ in 0..400 {
        clock.advance(Duration::from_secs(2));
        assert_eq!(g.check(&a), Gate::Refuse(Trigger::Address));
    }
    // ... and a quiet window lifts it.
    clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(g.check(&a), Gate::Allow);
}

#[test]
fn counts_are_per_key_and_expire() {
    let (g, clock) = guard();
    let store = StoreId::new();
    let a = attempt(store, 1, v4(198, 51, 100, 1), "s");
    for _ in 0..5 {
        g.record(&a, Outcome::Declined);
    }
    assert_eq!(g.check(&a), Gate::Challenge(Trigger::Card));
    // Another buyer elsewhere is untouched by this card's declines (the store floor is 6, not reached).
    let other = attempt(store, 2, v4(192, 0, 2, 1), "t");
    assert_eq!(g.check(&other), Gate::Allow);
    clock.advance(Duration::from_secs(10 * 60));
    assert_eq!(g.check(&a), Gate::Allow, "ten minutes later the declines have left the window");
}

#[test]
fn ipv4_mapped_ipv6_is_the_same_client_and_v6_networks_are_slash_64() {
    let (g, _clock) = guard();
    let store = StoreId::new();
    let th = Thresholds { store_alert_floor: 1_000, ..Thresholds::DEFAULT };
    let g2 = DeclineGuard::new(th, Arc::new(ManualClock::new(Timestamp(0))));
    let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 9).to_ipv6_mapped());
    for i in 0..5 {
        g2.record(&attempt(store, i, mapped, &format!("m{i}")), Outcome::Declined);
    }
    assert_eq!(g2.check(&attempt(store, 99, v4(203, 0, 113, 9), "x")), Gate::Challenge(Trigger::Address));
    // Twenty addresses in one /64, one decline each: the network is refused, a different /64 is not.
    for i in 0..20u16 {
        let addr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, i));
        g2.record(&attempt(store, 100 + u32::from(i), addr, &format!("n{i}")), Outcome::Declined);
    }
    let same_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 9, 9, 9, 9));
    assert_eq!(g2.check(&attempt(store, 500, same_net, "y")), Gate::Refuse(Trigger::Network));
    let other_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 2, 0, 0, 0, 1));
    assert_eq!(g2.check(&attempt(store, 501, other_net, "z")), Gate::Allow);
    assert_eq!(g.check(&attempt(store, 1, same_net, "y")), Gate::Allow, "guards share nothing");
}

#[test]
fn a_store_under_distributed_attack_challenges_new_cards_then_refuses_guests() {
    let (g, clock) = guard();
    let store = StoreId::new();
    let other_store = StoreId::new();
    // A returning buyer's card, approved before the attack.
    let regular = attempt(store, 7, v4(10, 0, 0, 1), "regular");
    assert_eq!(g.check(&regular), Gate::Allow);
    g.record(&regular, Outcome::Approved);
    // Six declines from six networks with six cards: no key is over its threshold, the store is.
    for i in 0..6u8 {
        let a = attempt(store, 1000 + u32::from(i), v4(100, i, 0, 1), "bot");
        let a = Attempt { session: ["a", "b", "c", "d", "e", "f"][usize::from(i)], ..a };
        assert_eq!(g.check(&a), Gate::Allow);
        g.record(&a, Outcome::Declined);
        clock.advance(Duration::from_secs(20));
    }
    let fresh = attempt(store, 2000, v4(100, 50, 0, 1), "new");
    assert_eq!(g.check(&fresh), Gate::Challenge(Trigger::Store));
    assert_eq!(g.check(&regular), Gate::Allow, "a card the store has approved is not challenged");
    assert_eq!(g.check(&attempt(other_store, 2000, v4(100, 50, 0, 1), "new")), Gate::Allow, "other stores are calm");
    // Bots that solve: three solved attempts decline → lockdown.
    for i in 0..3u8 {
        let a = attempt(store, 3000 + u32::from(i), v4(101, i, 0, 1), ["p", "q", "r"][usize::from(i)]);
        let solved = Attempt { proof: Proof::Solved, ..a };
        assert_eq!(g.check(&solved), Gate::Allow);
        g.record(&solved, Outcome::Declined);
    }
    // Lockdown. A bot address that already tried here is refused, proof or not.
    let back = attempt(store, 4001, v4(101, 0, 0, 1), "p2");
    assert_eq!(g.check(&back), Gate::Refuse(Trigger::Store));
    assert_eq!(g.check(&Attempt { proof: Proof::Solved, ..back }), Gate::Refuse(Trigger::Store));
    // New guests get a challenge while the budget lasts (burst of 2), then are refused; a refused one cannot
    // come back with a proof.
    let fresh = |i: u8, s: &'static str| attempt(store, 5000 + u32::from(i), v4(102, i, 0, 1), s);
    assert_eq!(g.check(&fresh(0, "g0")), Gate::Challenge(Trigger::Store));
    assert_eq!(g.check(&Attempt { proof: Proof::Solved, ..fresh(0, "g0") }), Gate::Allow, "its proof lets it through");
    assert_eq!(g.check(&fresh(1, "g1")), Gate::Challenge(Trigger::Store));
    assert_eq!(g.check(&fresh(2, "g2")), Gate::Refuse(Trigger::Store));
    assert_eq!(g.check(&Attempt { proof: Proof::Solved, ..fresh(2, "g2") }), Gate::Refuse(Trigger::Store));
    let member = Attempt { buyer: Buyer::Known, ..fresh(3, "m") };
    assert_eq!(g.check(&member), Gate::Challenge(Trigger::Store), "signed-in buyers are challenged, not refused");
    assert_eq!(g.check(&regular), Gate::Allow);
    // While bots keep coming (refusals over the alert threshold) the lockdown holds ...
    for i in 0..30u32 {
        clock.advance(Duration::from_secs(60));
        let a = attempt(store, 6000 + i, v4(101, 0, 0, 1), "p3");
        assert_eq!(g.check(&a), Gate::Refuse(Trigger::Store), "minute {i}");
    }
    // ... and once they stop, the store calms down (lockdown, then alert, run out).
    clock.advance(Duration::from_secs(2 * 3600));
    assert_eq!(g.check(&fresh(9, "late")), Gate::Allow);
}

#[test]
fn legitimate_solved_challenges_that_mostly_succeed_do_not_lock_a_store_down() {
    let (g, clock) = guard();
    let store = StoreId::new();
    for i in 0..6u8 {
        let a = attempt(store, u32::from(i), v4(100, i, 0, 1), ["a", "b", "c", "d", "e", "f"][usize::from(i)]);
        g.record(&a, Outcome::Declined);
    }
    // On alert; 60 buyers solve the challenge, 3 of them decline (5 %).
    for i in 0..60u32 {
        let s = format!("buyer{i}");
        let a = attempt(store, 100 + i, v4(150, (i % 250) as u8, 1, 1), &s);
        assert_eq!(g.check(&a), Gate::Challenge(Trigger::Store));
        let solved = Attempt { proof: Proof::Solved, ..a };
        assert_eq!(g.check(&solved), Gate::Allow, "buyer {i}");
        g.record(&solved, if i.is_multiple_of(20) { Outcome::Declined } else { Outcome::Approved });
        clock.advance(Duration::from_secs(5));
    }
}

#[test]
fn memory_stays_bounded_under_a_flood_of_distinct_keys() {
    let clock = ManualClock::new(Timestamp(0));
    let th = Thresholds { max_keys: 1_000, max_stores: 50, max_known_cards: 500, ..Thresholds::DEFAULT };
    let g = DeclineGuard::new(th, Arc::new(clock.clone()));
    let mut peak = Footprint { keys: 0, stores: 0, known_cards: 0 };
    for i in 0..60_000u32 {
        let store: StoreId = format!("00000000-0000-7000-8000-{:012x}", i % 400).parse().unwrap();
        let s = format!("session-{i}-{}", "x".repeat((i % 50) as usize));
        let addr = IpAddr::V6(Ipv6Addr::from(u128::from(i) << 64 | 1));
        let a = attempt(store, i, addr, &s);
        let _ = g.check(&a);
        g.record(&a, if i.is_multiple_of(3) { Outcome::Approved } else { Outcome::Declined });
        clock.advance(Duration::from_millis(7));
        let f = g.footprint();
        peak = Footprint {
            keys: peak.keys.max(f.keys),
            stores: peak.stores.max(f.stores),
            known_cards: peak.known_cards.max(f.known_cards),
        };
    }
    assert!(peak.keys <= 5 * 1_000, "{peak:?}");
    assert!(peak.stores <= 50, "{peak:?}");
    assert!(peak.known_cards <= 500, "{peak:?}");
}

#[test]
fn no_panic_on_odd_input() {
    // Extreme clocks, empty and huge sessions, zeroed thresholds: answers, never a panic.
    for start in [i64::MIN, -1, 0, i64::MAX - 1_000, i64::MAX] {
        let clock = ManualClock::new(Timestamp(start));
        for th in [
            Thresholds::DEFAULT,
            Thresholds {
                window: Duration::ZERO,
                challenge_after: 0,
                refuse_after: 0,
                store_alert_floor: 0,
                store_alert_multiple: u32::MAX,
                max_keys: 0,
                max_stores: 0,
                max_known_cards: 0,
                alert_hold: Duration::MAX,
                lockdown_hold: Duration::MAX,
                known_card_for: Duration::MAX,
                ..Thresholds::DEFAULT
            },
        ] {
            let g = DeclineGuard::new(th, Arc::new(clock.clone()));
            let big = "é".repeat(20_000);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for i in 0..500u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let store: StoreId = format!("00000000-0000-7000-8000-{:012x}", x % 7).parse().unwrap();
                let addr = if x.is_multiple_of(2) {
                    IpAddr::V4(Ipv4Addr::from(x as u32))
                } else {
                    IpAddr::V6(Ipv6Addr::from(u128::from(x)))
                };
                let session = if i.is_multiple_of(3) { "" } else { &big };
                let proof = if x.is_multiple_of(5) { Proof::Solved } else { Proof::None };
                let buyer = if x.is_multiple_of(7) { Buyer::Known } else { Buyer::Guest };
                let a = Attempt { store, card: card((x % 13) as u32), address: addr, session, buyer, proof };
                let _ = g.check(&a);
                g.record(&a, if x.is_multiple_of(4) { Outcome::Approved } else { Outcome::Declined });
                clock.set(Timestamp(start.saturating_add((x % 1_000_000) as i64 - 500_000)));
            }
        }
    }
}

#[test]
fn debug_output_leaves_the_session_out() {
    let a = attempt(StoreId::new(), 1, v4(192, 0, 2, 1), "sess-SECRET-abc");
    let shown = format!("{a:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("192.0.2.1"));
}

proptest::proptest! {
    /// Any sequence of attempts, outcomes and clock moves: no panic, and with the clock stopped a key-level
    /// refusal never turns into an allow by asking again.
    #[test]
    fn arbitrary_sequences_never_panic(ops in proptest::collection::vec((0u8..6, 0u32..8, 0u8..4, -5_000i64..700_000), 1..200)) {
        let clock = ManualClock::new(Timestamp(1_000_000));
        let th = Thresholds { max_keys: 8, max_stores: 4, max_known_cards: 8, ..Thresholds::DEFAULT };
        let g = DeclineGuard::new(th, Arc::new(clock.clone()));
        let stores: Vec<StoreId> = (0..6).map(|i| format!("00000000-0000-7000-8000-{i:012x}").parse().unwrap()).collect();
        let sessions = ["a", "b", "c", "d"];
        for (op, c, who, dt) in ops {
            let a = Attempt {
                store: stores[usize::from(op % 6)],
                card: card(c),
                address: v4(10, 0, who, 1),
                session: sessions[usize::from(who)],
                buyer: if who == 0 { Buyer::Known } else { Buyer::Guest },
                proof: if op % 2 == 0 { Proof::Solved } else { Proof::None },
            };
            let first = g.check(&a);
            if let Gate::Refuse(t) = first
                && t != Trigger::Store
            {
                proptest::prop_assert_eq!(g.check(&a), Gate::Refuse(t));
            }
            if first == Gate::Allow {
                g.record(&a, if op % 3 == 0 { Outcome::Approved } else { Outcome::Declined });
            }
            clock.set(Timestamp(clock_now(&clock).saturating_add(dt)));
        }
    }
}

fn clock_now(c: &ManualClock) -> i64 {
    use palisade_core::time::Clock;
    c.now().millis()
}

#[test]
fn concurrent_attempts_count_before_their_answers_come_back() {
    let (g, _) = guard();
    let store = StoreId::new();
    let addr = v4(203, 0, 113, 9);
    let sessions: Vec<String> = (0..12).map(|i| format!("burst{i}")).collect();
    // Twelve attempts from one address arrive before the gateway has answered any: without the in-flight count
    // all twelve would see zero declines and reach the gateway.
    let mut flights = Vec::new();
    let mut gates = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let a = attempt(store, 100 + u32::try_from(i).unwrap(), addr, s);
        let (gate, flight) = g.begin(&a);
        gates.push(gate);
        if let Some(f) = flight {
            flights.push((f, a));
        }
    }
    assert_eq!(gates.iter().filter(|g| **g == Gate::Allow).count(), 5, "{gates:?}");
    assert!(gates[5..].iter().all(|g| *g == Gate::Challenge(Trigger::Address)), "{gates:?}");
    // All five decline: five real declines now stand against the address (challenged, as after five in a row).
    for (f, a) in flights {
        g.settle(f, &a, Some(Outcome::Declined));
    }
    let next = attempt(store, 200, addr, "after");
    assert_eq!(g.begin(&next).0, Gate::Challenge(Trigger::Address));
}

#[test]
fn a_settled_attempt_without_an_answer_stops_counting() {
    let (g, _) = guard();
    let store = StoreId::new();
    let a = attempt(store, 7, v4(198, 51, 100, 1), "s");
    for _ in 0..20 {
        let (gate, flight) = g.begin(&a);
        assert_eq!(gate, Gate::Allow);
        // The checkout failed before the gateway (out of stock, say): nothing to record, nothing left pending.
        g.settle(flight.unwrap(), &a, None);
    }
}

#[test]
fn attempts_in_flight_challenge_but_never_refuse_and_unknown_addresses_share_no_key() {
    let (g, _) = guard();
    let store = StoreId::new();
    // Twenty buyers behind one address checking out at once: five go through, the rest are challenged (solvable),
    // none is refused — nothing has declined.
    let sessions: Vec<String> = (0..20).map(|i| format!("nat{i}")).collect();
    let addr = v4(198, 51, 100, 200);
    let mut flights = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        let a = attempt(store, 400 + u32::try_from(i).unwrap(), addr, s);
        let (gate, flight) = g.begin(&a);
        assert_ne!(gate, Gate::Refuse(Trigger::Address), "attempt {i}");
        flights.extend(flight.map(|f| (f, a)));
    }
    assert_eq!(flights.len(), 5);
    for (f, a) in flights {
        g.settle(f, &a, Some(Outcome::Approved));
    }
    // Buyers whose address is unknown do not share an address key: ten declines from ten of them, each with its
    // own card and session, refuse none of the others.
    let unknown = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let other = StoreId::new();
    // (The store-wide signal kept out of it: it would rightly challenge new cards at a store with ten declines.)
    let g = DeclineGuard::new(
        Thresholds { store_alert_floor: 1_000, ..Thresholds::DEFAULT },
        Arc::new(ManualClock::new(Timestamp(0))),
    );
    let names: Vec<String> = (0..11).map(|i| format!("u{i}")).collect();
    for i in 0..10u32 {
        g.record(&attempt(other, 600 + i, unknown, &names[i as usize]), Outcome::Declined);
    }
    assert_eq!(g.check(&attempt(other, 699, unknown, &names[10])), Gate::Allow);
}
