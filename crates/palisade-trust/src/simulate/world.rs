//! The simulated platform: stores and customers, drawn once from the seed before any order is made.
//!
//! Parameters are rough guesses about a Singapore marketplace, fixed before the scorer was run against them (see
//! the crate README): they are not fitted to anything and not tuned to make the scorer look good.

use crate::features::{CategoryRisk, Country};

use super::rng::Rng;

/// Seconds in a day.
pub(super) const DAY: u32 = 86_400;

/// A two-letter code known to be valid (the lists below are literals).
pub(super) fn cc(code: &str) -> Option<Country> {
    Country::parse(code)
}

/// Where foreign cards held by Singapore residents come from (expatriates, students, frequent travellers).
pub(super) const EXPAT_CARDS: &[&str] = &["GB", "US", "AU", "IN", "CN", "MY", "FR", "JP", "PH", "DE"];
/// Where travelling buyers connect from.
pub(super) const TRAVEL: &[&str] = &["TH", "JP", "ID", "MY", "KR", "AU", "GB", "US", "VN", "TW"];
/// Where gifts abroad are shipped.
pub(super) const GIFT_ABROAD: &[&str] = &["MY", "AU", "GB", "US", "ID", "PH", "IN", "CN", "HK"];

/// A store on the platform.
#[derive(Debug, Clone)]
pub(super) struct Store {
    /// The usual order total, in cents.
    pub median_cents: f64,
    pub category: CategoryRisk,
    /// The first day it takes orders (0 for stores already trading when the simulation starts).
    pub opened_day: u32,
    /// Relative share of casual (non-favourite) traffic.
    pub popularity: f64,
    /// Whether it trades before the simulation starts (then it has order history).
    pub established: bool,
}

/// A legitimate customer and their habits.
#[derive(Debug, Clone)]
pub(super) struct Customer {
    /// The account id (also an index into the customer list).
    pub id: u32,
    pub home: Option<Country>,
    /// The country that issued their cards (differs from home for expatriates).
    pub card_country: Option<Country>,
    /// Whether their billing address is the card's country rather than home.
    pub bills_abroad: bool,
    pub cards: [u64; 2],
    pub devices: [u64; 2],
    pub email: u64,
    pub disposable_email: bool,
    pub home_address: u64,
    pub office_address: Option<u64>,
    /// Day the account was created (negative: before the simulation).
    pub created_day: i64,
    /// Paid orders before the simulation started.
    pub prior_orders: u32,
    /// Orders per day, on average.
    pub rate: f64,
    pub favourites: Vec<u32>,
    /// A fixed VPN exit country, for the few who always use one.
    pub vpn: Option<Country>,
    /// Buys for an office: sometimes several orders in an hour on one card.
    pub bulk_buyer: bool,
    /// Checks out as a guest (no account history is ever linked).
    pub guest: bool,
}

/// Fresh identifiers for cards, devices, emails and addresses; never reused.
#[derive(Debug, Clone, Default)]
pub(super) struct Ids(u64);

impl Ids {
    pub fn fresh(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

/// Stores, customers, shared office addresses and the id source.
#[derive(Debug, Clone)]
pub(super) struct World {
    pub stores: Vec<Store>,
    pub customers: Vec<Customer>,
    pub ids: Ids,
    pub days: u32,
}

fn category(rng: &mut Rng) -> CategoryRisk {
    match rng.weighted(&[0.55, 0.30, 0.15]) {
        0 => CategoryRisk::Low,
        1 => CategoryRisk::Medium,
        _ => CategoryRisk::High,
    }
}

fn make_store(rng: &mut Rng, opened_day: u32) -> Store {
    let category = category(rng);
    let base = match category {
        CategoryRisk::Low => 3_500.0,
        CategoryRisk::Medium => 6_000.0,
        CategoryRisk::High => 12_000.0,
    };
    Store {
        median_cents: rng.lognormal(base, 0.7).clamp(300.0, 300_000.0),
        category,
        opened_day,
        popularity: rng.lognormal(1.0, 1.2),
        established: opened_day == 0,
    }
}

fn home_country(rng: &mut Rng) -> Option<Country> {
    let homes = ["SG", "MY", "ID", "US", "GB", "AU", "IN", "PH"];
    let i = rng.weighted(&[0.86, 0.06, 0.03, 0.01, 0.01, 0.01, 0.01, 0.01]);
    homes.get(i).and_then(|c| cc(c))
}

fn make_customer(rng: &mut Rng, ids: &mut Ids, id: u32, world_days: u32, offices: &[u64]) -> Customer {
    let home = home_country(rng);
    let expat = home == cc("SG") && rng.chance(0.10);
    let card_country = if expat { rng.pick(EXPAT_CARDS).and_then(|c| cc(c)) } else { home };
    let established = rng.chance(0.65);
    let created_day = if established {
        -i64::from(rng.range(20, 1_500))
    } else {
        i64::from(rng.range(0, world_days.saturating_sub(1)))
    };
    let prior_orders = if established { rng.lognormal(6.0, 1.0).min(300.0) as u32 } else { 0 };
    let office_address = if rng.chance(0.15) { rng.pick(offices).copied() } else { None };
    let store_count = 300u32;
    let favourites = (0..rng.range(1, 3)).map(|_| rng.range(0, store_count - 1)).collect();
    Customer {
        id,
        home,
        card_country,
        bills_abroad: expat && rng.chance(0.3),
        cards: [ids.fresh(), ids.fresh()],
        devices: [ids.fresh(), ids.fresh()],
        email: ids.fresh(),
        disposable_email: rng.chance(0.015),
        home_address: ids.fresh(),
        office_address,
        created_day,
        prior_orders,
        rate: rng.lognormal(0.06, 0.9).min(3.0),
        favourites,
        vpn: if rng.chance(0.02) { rng.pick(&["US", "NL", "JP", "GB"]).and_then(|c| cc(c)) } else { None },
        bulk_buyer: rng.chance(0.004),
        guest: !established && rng.chance(0.2),
    }
}

impl World {
    /// 300 stores trading from the start, 40 legitimate stores opening during the run, and the customers.
    pub fn new(rng: &mut Rng, customers: u32, days: u32) -> World {
        let mut ids = Ids::default();
        let mut stores: Vec<Store> = (0..300).map(|_| make_store(rng, 0)).collect();
        stores.extend((0..40).map(|_| {
            let day = rng.range(1, days.saturating_sub(1).max(1));
            make_store(rng, day)
        }));
        // Office towers and condominiums: one address many buyers ship to.
        let offices: Vec<u64> = (0..200).map(|_| ids.fresh()).collect();
        let customers = (0..customers).map(|id| make_customer(rng, &mut ids, id, days, &offices)).collect();
        World { stores, customers, ids, days }
    }
}
