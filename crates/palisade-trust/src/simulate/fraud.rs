//! The five fraud scenarios. Rates and shapes are written from public descriptions of each pattern (Stripe's and
//! the Singapore Police Force's scam bulletins), not fitted to the scorer.

use crate::features::CategoryRisk;

use super::Scenario;
use super::generate::{Attempt, fraud_base};
use super::rng::Rng;
use super::world::{DAY, World, cc};

const STOLEN_CARDS: &[&str] = &["US", "GB", "BR", "CA", "FR", "DE", "MX", "AU"];
const PROXIES: &[&str] = &["US", "BR", "NG", "VN", "ID", "RU", "NL"];

/// Card testing: a bot tries many stolen cards with small amounts at one store in a few hours; most are declined.
pub(super) fn card_testing(rng: &mut Rng, w: &mut World, day: u32, out: &mut Vec<Attempt>) {
    let store = super::generate::open_store(rng, w, day, 0.3);
    let (median, category) = super::generate::store_info(w, store);
    let start = day * DAY + rng.range(0, DAY - 1);
    let span = rng.range(3_600, 4 * 3_600);
    let bot_devices: Vec<u64> = (0..rng.range(1, 3)).map(|_| w.ids.fresh()).collect();
    let rotate_device = rng.chance(0.5);
    let email_style = rng.weighted(&[0.5, 0.3, 0.2]);
    let one_email = w.ids.fresh();
    let ip = if rng.chance(0.4) { cc("SG") } else { rng.pick(PROXIES).and_then(|c| cc(c)) };
    let drop = rng.chance(0.5).then(|| w.ids.fresh());
    for _ in 0..rng.range(10, 80) {
        let card = w.ids.fresh();
        let card_country = rng.pick(STOLEN_CARDS).and_then(|c| cc(c));
        for _ in 0..rng.range(1, 2) {
            let mut a = fraud_base(start + rng.range(0, span), store, category, Scenario::CardTesting);
            a.card = card;
            a.card_country = card_country;
            a.billing_country = card_country;
            a.device = if rotate_device { w.ids.fresh() } else { rng.pick(&bot_devices).copied().unwrap_or(0) };
            a.email = if email_style == 0 { one_email } else { w.ids.fresh() };
            a.disposable_email = email_style != 1;
            a.address = drop;
            a.ship_country = drop.and_then(|_| cc("SG"));
            a.ip_country = ip;
            a.amount_minor = if rng.chance(0.5) { i64::from(rng.range(100, 500)) } else { (median * 0.3) as i64 };
            a.declined = rng.chance(0.75);
            out.push(a);
        }
    }
}

/// Account takeover: a stolen login on an established account, a new device, a new address, expensive goods.
pub(super) fn account_takeover(rng: &mut Rng, w: &mut World, day: u32, out: &mut Vec<Attempt>) {
    let candidates: Vec<usize> = w
        .customers
        .iter()
        .enumerate()
        .filter(|(_, c)| c.prior_orders >= 2 && !c.guest && c.created_day < 0)
        .map(|(i, _)| i)
        .collect();
    let Some(victim) = rng.pick(&candidates).and_then(|i| w.customers.get(*i)).cloned() else { return };
    let device = w.ids.fresh();
    let ip = if rng.chance(0.6) {
        rng.pick(&["NG", "VN", "RU", "ID", "MY", "US", "NL"]).and_then(|c| cc(c))
    } else {
        cc("SG")
    };
    let (address, ship) = match rng.weighted(&[0.6, 0.25, 0.15]) {
        0 => (Some(w.ids.fresh()), cc("SG")),
        1 => (Some(w.ids.fresh()), rng.pick(&["MY", "ID", "NG", "US"]).and_then(|c| cc(c))),
        _ => (None, None),
    };
    let start = day * DAY + rng.range(0, DAY - 1);
    for k in 0..rng.range(1, 3) {
        let store = super::generate::open_store(rng, w, day, 0.7);
        let (median, category) = super::generate::store_info(w, store);
        let mut a = fraud_base(start + k * rng.range(300, 3_600), store, category, Scenario::AccountTakeover);
        a.account = Some(victim.id);
        a.account_created_day = victim.created_day;
        a.card = victim.cards[0];
        a.card_country = victim.card_country;
        a.billing_country = victim.home;
        a.device = device;
        a.email = victim.email;
        a.disposable_email = victim.disposable_email;
        a.address = address;
        a.ship_country = ship;
        a.ip_country = ip;
        a.amount_minor = (median * rng.lognormal(3.0, 0.5)) as i64;
        a.declined = rng.chance(0.1);
        out.push(a);
    }
}

/// A reshipping mule: an address in Singapore receiving goods bought with stolen foreign cards.
#[derive(Debug, Clone)]
pub(super) struct Mule {
    address: u64,
    until_day: u32,
    devices: [u64; 3],
    ring_account: u32,
}

/// Opens new mule addresses and places the day's reshipping orders.
pub(super) fn reshipping(rng: &mut Rng, w: &mut World, day: u32, mules: &mut Vec<Mule>, out: &mut Vec<Attempt>) {
    for _ in 0..rng.poisson(0.5) {
        let ring_account = u32::MAX - u32::try_from(w.ids.fresh() % 1_000_000).unwrap_or(0);
        mules.push(Mule {
            address: w.ids.fresh(),
            until_day: day + rng.range(3, 10),
            devices: [w.ids.fresh(), w.ids.fresh(), w.ids.fresh()],
            ring_account,
        });
    }
    mules.retain(|m| m.until_day > day);
    for m in mules.iter() {
        for _ in 0..rng.poisson(1.2) {
            let store = super::generate::open_store(rng, w, day, 0.6);
            let (median, category) = super::generate::store_info(w, store);
            let mut a = fraud_base(day * DAY + rng.range(0, DAY - 1), store, category, Scenario::Reshipping);
            let card_country = rng.pick(&["US", "GB", "AU", "CA", "DE", "FR"]).and_then(|c| cc(c));
            a.card = w.ids.fresh();
            a.card_country = card_country;
            a.billing_country = card_country;
            a.account = if rng.chance(0.3) { Some(m.ring_account) } else { None };
            a.account_created_day = i64::from(day);
            a.email = w.ids.fresh();
            a.disposable_email = rng.chance(0.25);
            a.device = if rng.chance(0.6) { rng.pick(&m.devices).copied().unwrap_or(0) } else { w.ids.fresh() };
            a.address = Some(m.address);
            a.ship_country = cc("SG");
            a.ip_country = match rng.weighted(&[0.4, 0.4, 0.2]) {
                0 => card_country,
                1 => cc("SG"),
                _ => rng.pick(PROXIES).and_then(|c| cc(c)),
            };
            a.amount_minor = (median * rng.lognormal(2.0, 0.6)) as i64;
            a.declined = rng.chance(0.15);
            out.push(a);
        }
    }
}

/// Off-platform scam: a new "store" selling phones or tickets cheaply; its buyers are ordinary customers talked
/// into paying (part) through the platform and the rest by transfer, and never receive anything. On the order
/// itself nothing is unusual: the signal is in the messages (item 5), which this simulator does not generate.
pub(super) fn off_platform_scam(rng: &mut Rng, w: &mut World, day: u32, out: &mut Vec<Attempt>) {
    let store = u32::try_from(w.stores.len()).unwrap_or(0);
    w.stores.push(super::world::Store {
        median_cents: rng.lognormal(60_000.0, 0.5),
        category: CategoryRisk::High,
        opened_day: day,
        popularity: 0.0,
        established: false,
    });
    let (median, _) = super::generate::store_info(w, store);
    let life = rng.range(3, 7);
    for d in day..(day + life).min(w.days) {
        for _ in 0..rng.poisson(1.5) {
            let idx = rng.range(0, u32::try_from(w.customers.len()).unwrap_or(1).saturating_sub(1));
            let Some(c) = w.customers.get(idx as usize).cloned() else { continue };
            let mut a = fraud_base(
                d * DAY + rng.range(8 * 3_600, DAY - 1),
                store,
                CategoryRisk::High,
                Scenario::OffPlatformScam,
            );
            a.account = (!c.guest).then_some(c.id);
            a.account_created_day = c.created_day.min(i64::from(d));
            a.card = c.cards[0];
            a.card_country = c.card_country;
            a.billing_country = c.home;
            a.device = c.devices[0];
            a.email = c.email;
            a.disposable_email = c.disposable_email;
            a.address = Some(c.home_address);
            a.ship_country = c.home;
            a.ip_country = c.home;
            a.amount_minor = (median * rng.lognormal(1.0, 0.3)) as i64;
            out.push(a);
        }
    }
}
