//! Features computed the way production will compute them: from the stream of earlier attempts only (velocity
//! windows counted over what already happened, the store's median over its recent paid orders, the account's
//! paid-order count), never from the ground truth.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::features::{EmailDomain, Familiarity, OrderFeatures, Velocity};

use super::generate::Attempt;
use super::rng::Rng;
use super::world::{DAY, World};

const HOUR: u32 = 3_600;
/// Paid orders a store's median is taken over.
const MEDIAN_WINDOW: usize = 101;
/// Paid orders a store needs before it has a median.
const MEDIAN_MIN: usize = 20;

/// Timestamps per identifier, pruned to the last 24 hours.
#[derive(Debug, Default)]
struct Window(HashMap<u64, VecDeque<u32>>);

impl Window {
    /// Records `t` for `key` and returns the counts in the last hour and the last 24 hours, `t` included.
    fn push(&mut self, key: u64, t: u32) -> (u32, u32) {
        let q = self.0.entry(key).or_default();
        while q.front().is_some_and(|&old| old + DAY <= t) {
            q.pop_front();
        }
        q.push_back(t);
        let hour = q.iter().rev().take_while(|&&x| x + HOUR > t).count();
        (u32::try_from(hour).unwrap_or(u32::MAX), u32::try_from(q.len()).unwrap_or(u32::MAX))
    }

    /// Events for `key` in the last hour before `t`, without recording anything.
    fn hour_before(&self, key: u64, t: u32) -> u32 {
        self.0
            .get(&key)
            .map_or(0, |q| u32::try_from(q.iter().rev().take_while(|&&x| x + HOUR > t).count()).unwrap_or(u32::MAX))
    }

    fn record(&mut self, key: u64, t: u32) {
        self.push(key, t);
    }
}

/// How old a paid order must be before its device and address count as the account's own: an intruder's first
/// order must not vouch for their second one the same afternoon.
const SETTLED: u32 = 3 * DAY;

/// What the platform knows about an account: paid orders, and when each device and address was first used in one.
#[derive(Debug, Default)]
struct Account {
    paid_orders: u32,
    devices: HashMap<u64, u32>,
    addresses: HashMap<u64, u32>,
}

/// Known when first used in a paid order at least [`SETTLED`] ago.
fn familiarity(seen: &HashMap<u64, u32>, key: u64, t: u32) -> Familiarity {
    match seen.get(&key) {
        Some(&first) if first + SETTLED <= t => Familiarity::Known,
        _ => Familiarity::New,
    }
}

/// The platform's running state while the attempts are replayed in time order.
#[derive(Debug, Default)]
pub(super) struct Stream {
    card: Window,
    email: Window,
    device: Window,
    address: Window,
    failed_card: Window,
    failed_email: Window,
    failed_device: Window,
    failed_store: Window,
    /// Per address: (time, card) of orders paid with a card from outside the shipping country, last 7 days.
    foreign_cards: HashMap<u64, VecDeque<(u32, u64)>>,
    accounts: HashMap<u32, Account>,
    store_paid: HashMap<u32, VecDeque<i64>>,
}

impl Stream {
    /// The state at the start of the run: established customers' history and established stores' recent orders.
    pub fn new(w: &World, rng: &mut Rng) -> Stream {
        let mut s = Stream::default();
        for c in w.customers.iter().filter(|c| c.created_day < 0 && !c.guest) {
            let a = s.accounts.entry(c.id).or_default();
            a.paid_orders = c.prior_orders;
            a.devices.extend(c.devices.map(|d| (d, 0)));
            a.addresses.insert(c.home_address, 0);
            a.addresses.extend(c.office_address.map(|x| (x, 0)));
        }
        for (i, st) in w.stores.iter().enumerate().filter(|(_, st)| st.established) {
            let q = (0..MEDIAN_WINDOW).map(|_| (st.median_cents * rng.lognormal(1.0, 0.6)) as i64).collect();
            s.store_paid.insert(u32::try_from(i).unwrap_or(0), q);
        }
        s
    }

    fn median(&self, store: u32) -> Option<i64> {
        let q = self.store_paid.get(&store)?;
        if q.len() < MEDIAN_MIN {
            return None;
        }
        let mut v: Vec<i64> = q.iter().copied().collect();
        let mid = v.len() / 2;
        v.select_nth_unstable(mid);
        v.get(mid).copied()
    }

    /// The features of `a`, from what happened before it (velocities include `a` itself, as in production).
    pub fn features(&mut self, a: &Attempt) -> OrderFeatures {
        let (card_1h, card_24h) = self.card.push(a.card, a.t);
        let (_, email_24h) = self.email.push(a.email, a.t);
        let (_, device_24h) = self.device.push(a.device, a.t);
        let address_24h = a.address.map_or(0, |x| self.address.push(x, a.t).1);
        let failed = self
            .failed_card
            .hour_before(a.card, a.t)
            .max(self.failed_email.hour_before(a.email, a.t))
            .max(self.failed_device.hour_before(a.device, a.t));
        let address_foreign_cards_7d = self.foreign_cards_7d(a);
        let store_failed_1h = self.failed_store.hour_before(u64::from(a.store), a.t);
        let day = i64::from(a.t / DAY);
        let account = a.account.and_then(|id| self.accounts.get(&id));
        let mut f = OrderFeatures::baseline(a.amount_minor, a.currency);
        f.store_median_minor = self.median(a.store);
        f.card_country = a.card_country;
        f.billing_country = a.billing_country;
        f.ship_country = a.ship_country;
        f.ip_country = a.ip_country;
        f.email_domain = if a.disposable_email { EmailDomain::Disposable } else { EmailDomain::Ordinary };
        f.account_age_days = match a.account {
            Some(_) => u32::try_from((day - a.account_created_day).max(0)).unwrap_or(0),
            None => 0,
        };
        f.customer_orders = account.map_or(0, |x| x.paid_orders);
        f.velocity = Velocity { card_1h, card_24h, email_24h, device_24h, address_24h, address_foreign_cards_7d };
        f.failed_attempts_1h = failed;
        f.store_failed_1h = store_failed_1h;
        // Only settled history can call a device new: a week-old account's second order is not a takeover.
        let settled = |x: &&Account| x.devices.values().any(|&first| first + SETTLED <= a.t);
        if let Some(acc) = account.filter(settled) {
            f.account_device = familiarity(&acc.devices, a.device, a.t);
            f.account_address = a.address.map_or(Familiarity::NoHistory, |x| familiarity(&acc.addresses, x, a.t));
        }
        f.category_risk = a.category;
        f
    }

    /// Records a foreign-card order to the address and counts the distinct foreign cards there in 7 days.
    fn foreign_cards_7d(&mut self, a: &Attempt) -> u32 {
        let Some(address) = a.address else { return 0 };
        let q = self.foreign_cards.entry(address).or_default();
        while q.front().is_some_and(|&(old, _)| old + 7 * DAY <= a.t) {
            q.pop_front();
        }
        let foreign = matches!((a.card_country, a.ship_country), (Some(c), Some(s)) if c != s);
        if foreign {
            q.push_back((a.t, a.card));
        }
        let cards: HashSet<u64> = q.iter().map(|&(_, card)| card).collect();
        u32::try_from(cards.len()).unwrap_or(u32::MAX)
    }

    /// Records the payment's outcome (after scoring, as in production).
    pub fn settle(&mut self, a: &Attempt) {
        if a.declined {
            self.failed_card.record(a.card, a.t);
            self.failed_email.record(a.email, a.t);
            self.failed_device.record(a.device, a.t);
            self.failed_store.record(u64::from(a.store), a.t);
            return;
        }
        let q = self.store_paid.entry(a.store).or_default();
        q.push_back(a.amount_minor);
        if q.len() > MEDIAN_WINDOW {
            q.pop_front();
        }
        if let Some(id) = a.account {
            let acc = self.accounts.entry(id).or_default();
            acc.paid_orders += 1;
            acc.devices.entry(a.device).or_insert(a.t);
            if let Some(x) = a.address {
                acc.addresses.entry(x).or_insert(a.t);
            }
        }
    }
}
