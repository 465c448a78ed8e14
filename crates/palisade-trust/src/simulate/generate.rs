//! The checkout attempts of a simulated run: legitimate behaviour and five fraud scenarios, each attempt carrying
//! only what production would see (identifiers, countries, amount, payment outcome) plus the ground truth.
//! Features are not computed here: [`super::stream`] derives them from the attempts in time order.

use palisade_core::money::Currency;

use crate::features::{CategoryRisk, Country};

use super::Scenario;
use super::rng::Rng;
use super::world::{Customer, DAY, GIFT_ABROAD, TRAVEL, World, cc};

/// One checkout attempt as the platform sees it.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    /// Seconds since the start of the run.
    pub t: u32,
    pub store: u32,
    /// The buyer's account (`None` for a guest checkout).
    pub account: Option<u32>,
    /// The day the account was created, when there is one.
    pub account_created_day: i64,
    pub card: u64,
    pub device: u64,
    pub email: u64,
    /// `None` for digital goods (nothing shipped).
    pub address: Option<u64>,
    pub card_country: Option<Country>,
    pub billing_country: Option<Country>,
    pub ship_country: Option<Country>,
    pub ip_country: Option<Country>,
    pub amount_minor: i64,
    pub currency: Currency,
    pub disposable_email: bool,
    pub category: CategoryRisk,
    /// The payment was declined.
    pub declined: bool,
    pub truth: Option<Scenario>,
}

fn cents(x: f64) -> i64 {
    x.clamp(50.0, 5_000_000.0) as i64
}

fn country_of(rng: &mut Rng, list: &[&str]) -> Option<Country> {
    rng.pick(list).and_then(|c| cc(c))
}

/// Where a legitimate customer's order goes: home, office, a friend, or a friend abroad.
fn legit_destination(rng: &mut Rng, w: &mut World, c: &Customer) -> (Option<u64>, Option<Country>) {
    let roll = rng.unit();
    match c.office_address {
        Some(office) if roll < 0.15 => (Some(office), cc("SG")),
        _ if roll < 0.21 => (Some(w.ids.fresh()), c.home),
        _ if roll < 0.22 => (Some(w.ids.fresh()), country_of(rng, GIFT_ABROAD)),
        _ => (Some(c.home_address), c.home),
    }
}

fn pick_store(rng: &mut Rng, w: &World, c: &Customer, day: u32, weights: &[f64]) -> u32 {
    if rng.chance(0.7)
        && let Some(s) = rng.pick(&c.favourites)
    {
        return *s;
    }
    let open: Vec<f64> =
        w.stores.iter().zip(weights).map(|(s, p)| if s.opened_day <= day { *p } else { 0.0 }).collect();
    u32::try_from(rng.weighted(&open)).unwrap_or(0)
}

/// A legitimate attempt (and, 4 % of the time, a declined one first and its retry).
fn legit_order(rng: &mut Rng, w: &mut World, c: &Customer, t: u32, store: u32, out: &mut Vec<Attempt>) {
    let Some(s) = w.stores.get(store as usize).cloned() else { return };
    let mut amount = s.median_cents * rng.lognormal(1.0, 0.6);
    if rng.chance(0.03) {
        amount *= f64::from(rng.range(3, 15));
    }
    let digital = s.category == CategoryRisk::High && rng.chance(0.3);
    let (address, ship) = if digital { (None, None) } else { legit_destination(rng, w, c) };
    let ip = if c.vpn.is_some() {
        c.vpn
    } else if rng.chance(0.04) {
        country_of(rng, TRAVEL)
    } else if rng.chance(0.08) {
        None
    } else {
        c.home
    };
    let device = match rng.weighted(&[0.85, 0.12, 0.03]) {
        0 => c.devices[0],
        1 => c.devices[1],
        _ => w.ids.fresh(),
    };
    let card = if rng.chance(0.9) { c.cards[0] } else { c.cards[1] };
    let base = Attempt {
        t,
        store,
        account: (!c.guest).then_some(c.id),
        account_created_day: c.created_day,
        card,
        device,
        email: c.email,
        address,
        card_country: c.card_country,
        billing_country: if c.bills_abroad { c.card_country } else { c.home },
        ship_country: ship,
        ip_country: ip,
        amount_minor: cents(amount),
        currency: Currency::SGD,
        disposable_email: c.disposable_email,
        category: s.category,
        declined: false,
        truth: None,
    };
    if rng.chance(0.04) {
        out.push(Attempt { declined: true, ..base.clone() });
        let other = if rng.chance(0.7) { card } else { c.cards[1] };
        out.push(Attempt { t: t + rng.range(30, 300), card: other, ..base.clone() });
    } else {
        let mut risk = if s.category == CategoryRisk::High { 3.0 } else { 1.0 };
        if amount > 3.0 * s.median_cents {
            risk *= 2.0;
        }
        let truth = rng.chance(0.0008 * risk).then_some(Scenario::FriendlyFraud);
        out.push(Attempt { truth, ..base });
    }
}

/// One day of legitimate traffic (friendly fraud is a legitimate-looking order later disputed).
pub(super) fn legit_day(rng: &mut Rng, w: &mut World, day: u32, out: &mut Vec<Attempt>) {
    let weights: Vec<f64> = w.stores.iter().map(|s| s.popularity).collect();
    let customers = std::mem::take(&mut w.customers);
    for c in &customers {
        if c.created_day > i64::from(day) {
            continue;
        }
        let n = rng.poisson(c.rate);
        for _ in 0..n {
            let second = if rng.chance(0.95) { rng.range(8 * 3600, DAY - 1) } else { rng.range(0, 8 * 3600) };
            let t = day * DAY + second;
            let store = pick_store(rng, w, c, day, &weights);
            if c.bulk_buyer && rng.chance(0.3) {
                for k in 0..rng.range(3, 8) {
                    let gap = rng.range(60, 600);
                    legit_order(rng, w, c, t + k * gap, store, out);
                }
            } else {
                legit_order(rng, w, c, t, store, out);
            }
        }
    }
    w.customers = customers;
}

/// A fraudster's view of an order, before the scenario sets its particulars.
pub(super) fn fraud_base(t: u32, store: u32, category: CategoryRisk, truth: Scenario) -> Attempt {
    Attempt {
        t,
        store,
        account: None,
        account_created_day: 0,
        card: 0,
        device: 0,
        email: 0,
        address: None,
        card_country: None,
        billing_country: None,
        ship_country: None,
        ip_country: None,
        amount_minor: 0,
        currency: Currency::SGD,
        disposable_email: false,
        category,
        declined: false,
        truth: Some(truth),
    }
}

pub(super) fn store_info(w: &World, store: u32) -> (f64, CategoryRisk) {
    w.stores.get(store as usize).map_or((5_000.0, CategoryRisk::Low), |s| (s.median_cents, s.category))
}

pub(super) fn open_store(rng: &mut Rng, w: &World, day: u32, high_risk_share: f64) -> u32 {
    let high = rng.chance(high_risk_share);
    let ok: Vec<f64> = w
        .stores
        .iter()
        .map(|s| {
            let fits = s.popularity > 0.0 && s.opened_day <= day && (!high || s.category == CategoryRisk::High);
            if fits { 1.0 } else { 0.0 }
        })
        .collect();
    u32::try_from(rng.weighted(&ok)).unwrap_or(0)
}
