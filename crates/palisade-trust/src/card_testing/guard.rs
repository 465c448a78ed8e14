//! `DeclineGuard`'s methods.

use super::*;

/// A per-key decision level, ordered (worst wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Pass,
    Challenge,
    Refuse,
}

impl DeclineGuard {
    /// A guard with the given thresholds, reading time from `clock`.
    pub fn new(th: Thresholds, clock: SharedClock) -> Self {
        let state = State {
            cards: Table::new(th.max_keys),
            addresses: Table::new(th.max_keys),
            networks: Table::new(th.max_keys),
            sessions: Table::new(th.max_keys),
            seen: Table::new(th.max_keys),
            stores: HashMap::new(),
            known: HashMap::new(),
            pending: HashMap::new(),
        };
        Self { th, clock, hasher: RandomState::new(), state: Mutex::new(state) }
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> &Thresholds {
        &self.th
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves counters, not broken invariants: keep going.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The hashed key of one kind for an attempt; none for the address and network of an attempt whose client
    /// address is unknown (`0.0.0.0` / `::`): every such buyer would share one key and lock each other out.
    fn key(&self, kind: Kind, a: &Attempt<'_>) -> Option<u64> {
        let unknown = a.address.is_unspecified();
        match kind {
            Kind::Card => Some(hash_with(&self.hasher, (1u8, a.card.0))),
            Kind::Address if unknown => None,
            Kind::Network if unknown => None,
            Kind::Address => Some(hash_with(&self.hasher, (2u8, canonical(a.address)))),
            Kind::Network => Some(hash_with(&self.hasher, (3u8, network_of(a.address)))),
            Kind::Session => Some(hash_with(&self.hasher, (4u8, a.session))),
        }
    }

    /// The (store, card) key of the approved-cards memory.
    fn known_key(&self, a: &Attempt<'_>) -> u64 {
        hash_with(&self.hasher, (5u8, a.store, a.card.0))
    }

    /// The thresholds (challenge, refuse) for a kind.
    fn limits(&self, kind: Kind) -> (u32, u32) {
        match kind {
            Kind::Network => (self.th.network_challenge_after, self.th.network_refuse_after),
            Kind::Card | Kind::Address | Kind::Session => (self.th.challenge_after, self.th.refuse_after),
        }
    }

    /// Decides, before the gateway, whether this attempt may go to it. Call again with [`Proof::Solved`] after a
    /// [`Gate::Challenge`] is solved; that lets one attempt through unless something says refuse.
    pub fn check(&self, a: &Attempt<'_>) -> Gate {
        let mut st = self.lock();
        self.decide(&mut st, a)
    }

    /// As [`check`](Self::check), for callers that may run attempts concurrently: an attempt let through counts
    /// against its keys as a decline until [`settle`](Self::settle) is given the gateway's answer (or none), so
    /// five concurrent attempts on one card, address or session are the five the challenge threshold allows, not
    /// any number that arrive before the first answer.
    pub fn begin(&self, a: &Attempt<'_>) -> (Gate, Option<InFlight>) {
        let mut st = self.lock();
        let gate = self.decide(&mut st, a);
        if gate != Gate::Allow {
            return (gate, None);
        }
        let keys = KINDS.map(|kind| self.key(kind, a));
        for key in keys.into_iter().flatten() {
            *st.pending.entry(key).or_default() += 1;
        }
        (gate, Some(InFlight { keys }))
    }

    /// Ends an attempt [`begin`](Self::begin) let through: its keys stop counting it as pending, and the gateway's
    /// answer, when there is one, is recorded as by [`record`](Self::record).
    pub fn settle(&self, flight: InFlight, a: &Attempt<'_>, outcome: Option<Outcome>) {
        {
            let mut st = self.lock();
            for key in flight.keys.into_iter().flatten() {
                if let std::collections::hash_map::Entry::Occupied(mut e) = st.pending.entry(key) {
                    *e.get_mut() = e.get().saturating_sub(1);
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
        }
        if let Some(outcome) = outcome {
            self.record(a, outcome);
        }
    }

    fn decide(&self, st: &mut State, a: &Attempt<'_>) -> Gate {
        let now = self.clock.now().millis();
        let bucket = bucket_of(now, &self.th);
        let mut worst = (Level::Pass, Trigger::Card);
        let mut marked: [Option<(Kind, Level)>; 4] = [None; 4];
        for (slot, kind) in marked.iter_mut().zip(KINDS) {
            let Some(key) = self.key(kind, a) else { continue };
            let declines = table(st, kind).count(key, bucket);
            // Attempts still waiting for the gateway count toward a challenge, never a refusal.
            let pending = st.pending.get(&key).copied().unwrap_or(0);
            let (challenge, refuse) = self.limits(kind);
            let level = if declines >= refuse {
                *slot = Some((kind, Level::Refuse));
                Level::Refuse
            } else if declines.saturating_add(pending) >= challenge || table(st, kind).challenged(key, bucket) > 0 {
                *slot = Some((kind, Level::Challenge));
                Level::Challenge
            } else {
                Level::Pass
            };
            if level > worst.0 {
                worst = (level, kind.trigger());
            }
        }
        // Already refused by a key: the store signal has nothing to add (and must not spend its lockdown budget).
        let store_level = if worst.0 == Level::Refuse { Level::Pass } else { self.store_level(st, a, now) };
        if store_level > worst.0 {
            worst = (store_level, Trigger::Store);
        }
        let (gate, event) = match worst {
            (Level::Pass, _) => (Gate::Allow, StoreEvent::Passed),
            // The store counts its own challenges (unsolved ones are pressure); a key's are that key's business.
            (Level::Challenge, t) if a.proof == Proof::Solved => (Gate::Allow, store_event(t, StoreEvent::Solved)),
            (Level::Challenge, t) => (Gate::Challenge(t), store_event(t, StoreEvent::Challenged)),
            (Level::Refuse, t) => (Gate::Refuse(t), StoreEvent::Refused),
        };
        // A refused key that keeps trying stays refused: each refused attempt is one more strike against it; a
        // challenged one that keeps coming back without a proof stays challenged.
        for (kind, level) in marked.into_iter().flatten() {
            let Some(key) = self.key(kind, a) else { continue };
            let keep = self.limits(kind).0;
            match (level, gate) {
                (Level::Refuse, Gate::Refuse(_)) => table_mut(st, kind).strike(key, bucket, keep),
                (Level::Challenge, Gate::Challenge(_)) => table_mut(st, kind).challenge(key, bucket),
                _ => {}
            }
        }
        if event != StoreEvent::Passed {
            self.touch_store(st, a.store, now).on_check(now, bucket, &self.th, event);
        }
        gate
    }

    /// What the store-wide signal says about this attempt.
    ///
    /// In lockdown a guest with a card the store has not approved is refused when their address or session has
    /// already tried at this store in the window (bots come back; a new buyer arrives once); a new guest is
    /// challenged while the store's lockdown budget lasts (a share of its usual approvals) and refused after.
    fn store_level(&self, st: &mut State, a: &Attempt<'_>, now: i64) -> Level {
        let level = st.stores.get(&a.store).map_or(StoreLevel::Calm, |s| s.level(now));
        if level == StoreLevel::Calm || self.is_known(st, a, now) {
            return Level::Pass;
        }
        let bucket = bucket_of(now, &self.th);
        let by_address = hash_with(&self.hasher, (6u8, a.store, canonical(a.address)));
        let by_session = hash_with(&self.hasher, (7u8, a.store, a.session));
        // An attempt is counted when first seen; coming back with a solved proof, its own count is not a repeat.
        let own = u32::from(a.proof == Proof::Solved);
        let (n_address, n_session) = (st.seen.count(by_address, bucket), st.seen.count(by_session, bucket));
        let repeat = n_address > own || n_session > own;
        let first_look = a.proof == Proof::None || n_address == 0;
        for (key, n) in [(by_address, n_address), (by_session, n_session)] {
            if a.proof == Proof::None || n == 0 {
                st.seen.strike(key, bucket, 2);
            }
        }
        if (level, a.buyer) != (StoreLevel::Lockdown, Buyer::Guest) {
            return Level::Challenge;
        }
        let admitted = !repeat && (!first_look || st.stores.get_mut(&a.store).is_some_and(|s| s.admit(now, &self.th)));
        if admitted {
            return Level::Challenge;
        }
        // Refused: one more mark, so coming back with a proof anyway counts as a repeat.
        st.seen.strike(by_address, bucket, 2);
        st.seen.strike(by_session, bucket, 2);
        Level::Refuse
    }

    /// Whether this store has seen this card approved (recently enough).
    fn is_known(&self, st: &State, a: &Attempt<'_>, now: i64) -> bool {
        let horizon = now.saturating_sub(ms(self.th.known_card_for));
        st.known.get(&self.known_key(a)).is_some_and(|at| *at >= horizon)
    }

    /// Tells the guard what the gateway said about an attempt it let through.
    pub fn record(&self, a: &Attempt<'_>, outcome: Outcome) {
        let now = self.clock.now().millis();
        let bucket = bucket_of(now, &self.th);
        let mut st = self.lock();
        let solved = if a.proof == Proof::Solved { Solved::Yes } else { Solved::No };
        match outcome {
            Outcome::Declined => {
                for kind in KINDS {
                    let Some(key) = self.key(kind, a) else { continue };
                    let keep = self.limits(kind).0;
                    table_mut(&mut st, kind).strike(key, bucket, keep);
                }
                self.touch_store(&mut st, a.store, now).on_outcome(now, bucket, &self.th, Declined::Yes, solved);
            }
            Outcome::Approved => {
                let key = self.known_key(a);
                self.remember(&mut st, key, now);
                self.touch_store(&mut st, a.store, now).on_outcome(now, bucket, &self.th, Declined::No, solved);
            }
        }
    }

    /// Remembers an approved (store, card), keeping the memory under its cap.
    fn remember(&self, st: &mut State, key: u64, now: i64) {
        let cap = self.th.max_known_cards.max(4);
        if !st.known.contains_key(&key) && st.known.len() >= cap {
            let horizon = now.saturating_sub(ms(self.th.known_card_for));
            st.known.retain(|_, at| *at >= horizon);
            if st.known.len() > cap - cap / 4 {
                let mut ats: Vec<i64> = st.known.values().copied().collect();
                let drop = st.known.len() - (cap - cap / 4);
                let (_, cut, _) = ats.select_nth_unstable(drop.saturating_sub(1));
                let cut = *cut;
                st.known.retain(|_, at| *at > cut);
            }
        }
        st.known.insert(key, now);
    }

    /// The store's counters, making room for them if the table is full.
    fn touch_store<'s>(&self, st: &'s mut State, store: StoreId, now: i64) -> &'s mut StoreState {
        let cap = self.th.max_stores.max(4);
        if !st.stores.contains_key(&store) && st.stores.len() >= cap {
            let bucket = bucket_of(now, &self.th);
            st.stores.retain(|_, s| !s.idle(now, bucket));
            if st.stores.len() >= cap {
                let mut lasts: Vec<i64> = st.stores.values().map(|s| s.last).collect();
                let drop = st.stores.len() - (cap - cap / 4);
                let (_, cut, _) = lasts.select_nth_unstable(drop.saturating_sub(1));
                let cut = *cut;
                st.stores.retain(|_, s| s.last > cut);
            }
        }
        st.stores.entry(store).or_default()
    }

    /// How much the guard holds now.
    pub fn footprint(&self) -> Footprint {
        let st = self.lock();
        let keys = KINDS.iter().map(|k| table(&st, *k).len()).sum::<usize>() + st.seen.len();
        Footprint { keys, stores: st.stores.len(), known_cards: st.known.len() }
    }
}

/// `event` when the store signal made the decision, otherwise nothing for the store to count.
fn store_event(t: Trigger, event: StoreEvent) -> StoreEvent {
    if t == Trigger::Store { event } else { StoreEvent::Passed }
}

fn table(st: &State, kind: Kind) -> &Table {
    match kind {
        Kind::Card => &st.cards,
        Kind::Address => &st.addresses,
        Kind::Network => &st.networks,
        Kind::Session => &st.sessions,
    }
}

fn table_mut(st: &mut State, kind: Kind) -> &mut Table {
    match kind {
        Kind::Card => &mut st.cards,
        Kind::Address => &mut st.addresses,
        Kind::Network => &mut st.networks,
        Kind::Session => &mut st.sessions,
    }
}
