//! A store's public safety rating (issue #20 item 7): what a buyer can check before paying, each factor in plain
//! words with the figure behind it, and an overall level.
//!
//! Factors, from live data of this store only (every aggregate is filtered by the store's id):
//! - **verified**: whether an operator verified the seller's identity ([`crate::verification`]: UEN or NRIC/FIN,
//!   checked against government records and reviewed documents); the factor never raises the level;
//! - **tenure**: how long the store has been open (`stores.created_at`);
//! - **disputes**: buyer disputes opened on the store's paid orders of the last [`WINDOW_DAYS`] days, as a share;
//! - **shipping on time**: of the paid orders of the window whose shipping deadline has passed (the platform's
//!   stated window, [`crate::controls::SHIP_WITHIN`], counted from the order), the share shipped by then (an
//!   order still waiting after its deadline counts as late);
//! - **reviews**: the average rating and how many (all time);
//! - **scam reports upheld**: buyers' reports about the store that the platform's safety team upheld in the window
//!   (a report only filed counts for nothing: anyone can file one).
//!
//! Level: **Caution** whenever a scam report was upheld in the window, new seller or not; otherwise **New seller**
//! while the store has fewer than [`MIN_ORDERS`] paid orders in the window (too little to judge); otherwise
//! **Caution** if any factor is poor, **Good** if disputes and shipping are good and nothing is poor, else **Fair**.
//!
//! Cost: one query of indexed aggregates (orders by `(store_id, created_at)`, disputes by their unique order,
//! order events by `(order_id, at)`, reviews by `(store_id, created_at)`), and [`rating`] keeps each store's
//! result for [`CACHE_MS`], so a busy store page reads it at most once a minute per node.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use palisade_store::{Db, StoreScope};
use serde::Serialize;

use crate::error::Result;

/// The window disputes and shipping are judged over.
pub const WINDOW_DAYS: i64 = 90;
/// Fewer paid orders than this in the window: a new seller, not judged.
pub const MIN_ORDERS: i64 = 5;
/// How long a computed rating is reused.
pub const CACHE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
const CACHE_CAP: usize = 10_000;

/// The overall level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Good,
    Fair,
    Caution,
    NewSeller,
}

impl Level {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Level::Good => "Good",
            Level::Fair => "Fair",
            Level::Caution => "Caution",
            Level::NewSeller => "New seller",
        }
    }
}

/// How one factor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Good,
    Fair,
    Poor,
    /// Not enough data, or nothing checked: neither raises nor lowers the level.
    Unknown,
}

impl Judgement {
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Judgement::Good => "good",
            Judgement::Fair => "fair",
            Judgement::Poor => "poor",
            Judgement::Unknown => "not rated",
        }
    }
}

/// One factor: its name, what was found (plain words, with the figure) and how it reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Factor {
    /// Stable key: `verified`, `tenure`, `disputes`, `shipping`, `reviews`, `reports`.
    pub key: &'static str,
    pub name: &'static str,
    pub detail: String,
    pub judgement: Judgement,
    pub judgement_label: &'static str,
}

/// The figures a rating is made from (exposed for tests and the operator).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Figures {
    pub verified: bool,
    pub age_days: i64,
    pub paid_orders: i64,
    pub disputes: i64,
    pub due: i64,
    pub on_time: i64,
    pub review_sum: i64,
    pub review_count: i64,
    /// Scam reports about the store upheld by the platform in the window.
    pub upheld_reports: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafetyRating {
    pub level: Level,
    pub level_label: &'static str,
    /// One sentence saying why the level is what it is.
    pub summary: String,
    pub factors: Vec<Factor>,
    pub figures: Figures,
    /// [`WINDOW_DAYS`] and [`MIN_ORDERS`], for the page's explanation.
    pub window_days: i64,
    pub min_orders: i64,
    /// When it was computed (ms).
    pub at: i64,
}

static CACHE: LazyLock<Mutex<HashMap<String, SafetyRating>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The store's rating, reused for [`CACHE_MS`] after it was computed.
pub async fn rating(db: &Db, scope: &StoreScope) -> Result<SafetyRating> {
    let now = db.now().0;
    let key = scope.store_key();
    if let Ok(cache) = CACHE.lock()
        && let Some(r) = cache.get(&key)
        && now >= r.at
        && now - r.at < CACHE_MS
    {
        return Ok(r.clone());
    }
    let r = compute(db, scope).await?;
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, r.clone());
    }
    Ok(r)
}

/// Drops this node's cached rating of a store whose verification changed, so its pages say so on the next
/// request (other nodes within [`CACHE_MS`]).
pub(crate) fn forget(store_key: &str) {
    if let Ok(mut cache) = CACHE.lock() {
        cache.remove(store_key);
    }
}

/// The store's rating from the data as it is now (one query; see the module comment).
pub async fn compute(db: &Db, scope: &StoreScope) -> Result<SafetyRating> {
    let now = db.now().0;
    let since = now.saturating_sub(WINDOW_DAYS * DAY_MS);
    let ship_ms = i64::try_from(crate::controls::SHIP_WITHIN.as_millis()).unwrap_or(i64::MAX);
    let deadline_passed = now.saturating_sub(ship_ms);
    // Paid orders: every status an order reaches once paid (placed and cancelled orders were never paid).
    // created, verified, paid orders, disputes, due, on time, review sum, review count.
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let row: Option<Row> = sqlx::query_as(
        "SELECT s.created_at, \
         (SELECT COUNT(*) FROM store_verifications v WHERE v.store_id = s.id AND v.state = 'verified'), \
         (SELECT COUNT(*) FROM orders o WHERE o.store_id = s.id AND o.created_at >= $2 \
            AND o.status NOT IN ('placed', 'cancelled')), \
         (SELECT COUNT(*) FROM orders o JOIN disputes d ON d.order_id = o.id AND d.store_id = o.store_id \
            WHERE o.store_id = s.id AND o.created_at >= $2), \
         (SELECT COUNT(*) FROM orders o WHERE o.store_id = s.id AND o.created_at >= $2 AND o.created_at <= $3 \
            AND (o.status = 'paid' OR EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id \
              AND e.store_id = o.store_id AND e.to_status = 'shipped'))), \
         (SELECT COUNT(*) FROM orders o WHERE o.store_id = s.id AND o.created_at >= $2 AND o.created_at <= $3 \
            AND EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.store_id = o.store_id \
              AND e.to_status = 'shipped' AND e.at <= o.created_at + $4)), \
         (SELECT CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) FROM reviews r WHERE r.store_id = s.id), \
         (SELECT COUNT(*) FROM reviews r WHERE r.store_id = s.id), \
         (SELECT COUNT(*) FROM scam_reports x WHERE x.store_id = s.id AND x.status = 'upheld' AND x.decided_at >= $2) \
         FROM stores s WHERE s.id = $1",
    )
    .bind(scope.store_key())
    .bind(since)
    .bind(deadline_passed)
    .bind(ship_ms)
    .fetch_optional(db.pool())
    .await?;
    let Some((created, verified, paid_orders, disputes, due, on_time, review_sum, review_count, upheld_reports)) = row
    else {
        return Err(palisade_store::StoreError::NotFound("store").into());
    };
    let figures = Figures {
        verified: verified > 0,
        age_days: now.saturating_sub(created).max(0) / DAY_MS,
        paid_orders,
        disputes,
        due,
        on_time,
        review_sum,
        review_count,
        upheld_reports,
    };
    Ok(judge(figures, now))
}

fn factor(key: &'static str, name: &'static str, detail: String, judgement: Judgement) -> Factor {
    Factor { key, name, detail, judgement, judgement_label: judgement.label() }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Percentage with one decimal, of `part` in `whole` (> 0).
fn percent(part: i64, whole: i64) -> String {
    let tenths = (part.saturating_mul(1000) + whole / 2) / whole;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

fn verified(f: &Figures) -> Factor {
    if f.verified {
        factor("verified", "Seller identity", "verified by Palisade".into(), Judgement::Good)
    } else {
        factor("verified", "Seller identity", "not yet verified by Palisade".into(), Judgement::Unknown)
    }
}

fn tenure(f: &Figures) -> Factor {
    let (open_for, j) = match f.age_days {
        d if d >= 365 => (plural(d / 365, "year", "years"), Judgement::Good),
        d if d >= 90 => (plural(d / 30, "month", "months"), Judgement::Fair),
        d => (plural(d, "day", "days"), Judgement::Unknown),
    };
    factor("tenure", "Time on Palisade", format!("open for {open_for}"), j)
}

fn disputes(f: &Figures, window: &str) -> Factor {
    if f.paid_orders == 0 {
        factor("disputes", "Buyer disputes", format!("no paid orders {window}"), Judgement::Unknown)
    } else {
        // Good at most 1 in 100 orders, fair at most 3 in 100.
        let j = if f.disputes * 100 <= f.paid_orders {
            Judgement::Good
        } else if f.disputes * 100 <= 3 * f.paid_orders {
            Judgement::Fair
        } else {
            Judgement::Poor
        };
        let detail = format!(
            "{} on {} {window} ({})",
            plural(f.disputes, "dispute", "disputes"),
            plural(f.paid_orders, "order", "orders"),
            percent(f.disputes, f.paid_orders)
        );
        factor("disputes", "Buyer disputes", detail, if f.paid_orders < MIN_ORDERS { Judgement::Unknown } else { j })
    }
}

fn shipping(f: &Figures, window: &str) -> Factor {
    let ship_days = crate::controls::SHIP_WITHIN.as_secs() / 86_400;
    if f.due == 0 {
        factor(
            "shipping",
            "Ships on time",
            format!("no orders due to ship {window} (the platform's window is {ship_days} days)"),
            Judgement::Unknown,
        )
    } else {
        // Good: at least 95 in 100 shipped within the window; fair: at least 85 in 100.
        let j = if f.on_time * 100 >= 95 * f.due {
            Judgement::Good
        } else if f.on_time * 100 >= 85 * f.due {
            Judgement::Fair
        } else {
            Judgement::Poor
        };
        let detail = format!(
            "{} of {} shipped within {ship_days} days {window} ({})",
            f.on_time,
            plural(f.due, "order", "orders"),
            percent(f.on_time, f.due)
        );
        factor("shipping", "Ships on time", detail, j)
    }
}

fn reviews(f: &Figures) -> Factor {
    if f.review_count == 0 {
        factor("reviews", "Buyer reviews", "no reviews yet".into(), Judgement::Unknown)
    } else {
        let tenths = (f.review_sum * 10 + f.review_count / 2) / f.review_count;
        let j = if f.review_count < 3 {
            Judgement::Unknown
        } else if tenths >= 40 {
            Judgement::Good
        } else if tenths >= 30 {
            Judgement::Fair
        } else {
            Judgement::Poor
        };
        let detail =
            format!("{}.{} out of 5 from {}", tenths / 10, tenths % 10, plural(f.review_count, "review", "reviews"));
        factor("reviews", "Buyer reviews", detail, j)
    }
}

fn reports(f: &Figures, window: &str) -> Factor {
    if f.upheld_reports == 0 {
        factor("reports", "Scam reports upheld", format!("none {window}"), Judgement::Good)
    } else {
        let detail = format!(
            "{} upheld by Palisade's safety team {window}",
            plural(f.upheld_reports, "buyer's report", "buyers' reports")
        );
        factor("reports", "Scam reports upheld", detail, Judgement::Poor)
    }
}

/// The level and the words, from the figures (pure, so every threshold is tested without a database).
#[must_use]
pub fn judge(f: Figures, at: i64) -> SafetyRating {
    let window = format!("in the last {WINDOW_DAYS} days");
    let factors =
        vec![verified(&f), tenure(&f), disputes(&f, &window), shipping(&f, &window), reviews(&f), reports(&f, &window)];
    let is = |key: &str, j: Judgement| factors.iter().any(|x| x.key == key && x.judgement == j);
    let (level, summary) = if f.upheld_reports > 0 {
        (Level::Caution, format!("Take care: Palisade upheld a buyer's scam report about this store {window}."))
    } else if f.paid_orders < MIN_ORDERS {
        (
            Level::NewSeller,
            format!("Fewer than {MIN_ORDERS} paid orders {window}: too little history to rate this store yet."),
        )
    } else if factors.iter().any(|x| x.judgement == Judgement::Poor) {
        let poor: Vec<&str> = factors.iter().filter(|x| x.judgement == Judgement::Poor).map(|x| x.name).collect();
        (Level::Caution, format!("Take care: {} fall short of what buyers should expect.", poor.join(", ")))
    } else if is("disputes", Judgement::Good) && is("shipping", Judgement::Good) {
        (Level::Good, "Few disputes and orders shipped on time.".into())
    } else {
        (Level::Fair, "No serious problems, but disputes or late shipping are above the best stores'.".into())
    };
    SafetyRating {
        level,
        level_label: level.label(),
        summary,
        factors,
        figures: f,
        window_days: WINDOW_DAYS,
        min_orders: MIN_ORDERS,
        at,
    }
}
