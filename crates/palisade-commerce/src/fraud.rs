//! Fraud scoring at checkout, the stores' own rules and the merchant's review queue (issue #20 items 2 and 9).
//!
//! Every order placed is scored (0–100, with its top three reasons) by `palisade_trust::score` from features
//! counted here, in the checkout's own transaction (after the store's row lock, so one store's checkouts are
//! scored one at a time), with two indexed queries: velocity per card fingerprint, normalised email key and
//! shipping address key at this store (one and 24 hours), declined attempts in the last hour (per card or
//! email, and the store's), the buyer's account age and paid orders at this store, whether the address is new
//! to the account, and the store's median order (its last 101 paid orders). Disposable email domains come from a
//! built-in list. Unknown here (left empty, so no rule on them ever fires): the card's country (no BIN data),
//! the device, and the product category's risk; the IP country when GeoIP is not configured.
//!
//! Rules: the platform's (`palisade_trust::rules::PLATFORM_RULES`, parsed once) and the store's own (parsed when
//! saved, and cached per store by the time they were saved), evaluated allow → block → review with the strictest
//! verdict winning (a store can tighten, never loosen). `block` refuses the order before the gateway is asked
//! and writes nothing but an audit event; `review` places it on hold: it is charged (into escrow) but cannot ship,
//! be delivered or complete until the merchant approves it; cancelling refunds it in full from escrow.
//!
//! Velocity is per store (every query on a store-owned table is scoped by store): a card tried at many stores
//! shows only through the card-testing guard (palisade-web), which counts across stores.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use palisade_core::OrderId;
use palisade_core::money::Currency;
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::{Actor, PlatformScope};
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use palisade_trust::rules::{PLATFORM_RULES, RuleSet};
use palisade_trust::{Action, Country, EmailDomain, Familiarity, OrderFeatures, Velocity};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CommerceError, Result};
use crate::orders::{self, Order, Status};
use crate::policy::Policy;

/// Keyed hashes the caller makes (the web layer: an HMAC under a key derived from the master key), so velocity
/// can be counted without the card number or the address ever reaching the database.
#[derive(Debug, Clone, Default)]
pub struct Fingerprints {
    /// The card's.
    pub card: Option<String>,
    /// The normalised shipping address's (see [`address_text`]).
    pub address: Option<String>,
    /// The normalised email's (see [`email_text`]): the email velocity and the declines' email key. Without it
    /// the email velocity falls back to the address exactly as typed, and a decline records no email.
    pub email: Option<String>,
    /// The buyer's connection's country, from GeoIP when configured (two letters).
    pub ip_country: Option<String>,
}

/// The shipping address as one normalised line (the fields that locate it; lower case, punctuation read as a
/// space, single spaces), for the caller to hash into [`Fingerprints::address`]: `#05-01, 1 Marina Blvd.` and
/// `05 01 1 marina blvd` are one address, so a reshipper cannot vary the key with commas and capitals.
#[must_use]
pub fn address_text(address: &crate::address::ShippingAddress) -> String {
    let v = address.to_json();
    ["line1", "line2", "postcode", "country"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(serde_json::Value::as_str))
        .map(normalise_words)
        .collect::<Vec<_>>()
        .join("|")
}

/// Lower case, every character that is not a letter or digit read as a space, runs of spaces as one.
fn normalise_words(text: &str) -> String {
    let spaced: String = text.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The email as one mailbox, for the caller to hash into [`Fingerprints::email`]: lower case, a `+tag` dropped
/// from the local part, and for Gmail (which ignores dots and answers `googlemail.com` too) the dots dropped and
/// the domain `gmail.com`. So `Bob+1@X.com` and `bob@x.com`, or `b.o.b@googlemail.com` and `bob@gmail.com`,
/// count as one buyer in the email velocity. Other providers' dots are kept: for them they are significant.
#[must_use]
pub fn email_text(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else { return email };
    let local = local.split_once('+').map_or(local, |(base, _)| base);
    let domain = domain.trim_end_matches('.');
    if domain == "gmail.com" || domain == "googlemail.com" {
        format!("{}@gmail.com", local.replace('.', ""))
    } else {
        format!("{local}@{domain}")
    }
}

/// Largest store rule text accepted (bytes). Below the trust crate's own cap: a merchant needs a few dozen lines.
pub const MAX_STORE_RULES_BYTES: usize = 8 * 1024;

/// Where an order stands with the merchant's review.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// No rule asked for a review.
    None,
    /// Waiting for the merchant: cannot ship.
    Held,
    /// The merchant approved it: ships as any order.
    Approved,
    /// The merchant cancelled it: refunded.
    Cancelled,
    /// Refunded in full, cancelled, or lost in a dispute while held: nothing is left to review.
    Closed,
}

impl ReviewState {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::None => "none",
            ReviewState::Held => "held",
            ReviewState::Approved => "approved",
            ReviewState::Cancelled => "cancelled",
            ReviewState::Closed => "closed",
        }
    }

    /// A stored state; an unknown one means the row is corrupt.
    pub fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "none" => ReviewState::None,
            "held" => ReviewState::Held,
            "approved" => ReviewState::Approved,
            "cancelled" => ReviewState::Cancelled,
            "closed" => ReviewState::Closed,
            other => return Err(CommerceError::Store(StoreError::Corrupt(format!("review state `{other}`")))),
        })
    }
}

/// One stored reason of an order's score.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReason {
    /// Stable code (`card_velocity`, `disposable_email`, …).
    pub code: String,
    pub points: u8,
    /// In plain English, for the merchant.
    pub text: String,
}

/// What the rules and the score said about an order about to be placed.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub score: u8,
    pub reasons: Vec<StoredReason>,
    pub action: Action,
    /// `platform:N` or `store:N` (the rule's index as written), when a rule decided.
    pub rule: Option<String>,
}

impl Assessment {
    pub(crate) fn reasons_json(&self) -> String {
        serde_json::to_string(&self.reasons).unwrap_or_else(|_| "[]".into())
    }
}

/// The platform's rules, parsed once. A parse failure is a defect caught by this crate's tests; it is logged
/// and leaves the platform layer empty rather than refusing every checkout.
static PLATFORM: LazyLock<RuleSet> = LazyLock::new(|| {
    RuleSet::parse(PLATFORM_RULES).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the platform fraud rules do not parse");
        RuleSet::default()
    })
});

/// A short, stable fingerprint of the platform rules as compiled in (what "scoring rules reviewed" records).
#[must_use]
pub fn platform_rules_version() -> String {
    hex::encode(Sha256::digest(PLATFORM_RULES.as_bytes())).chars().take(16).collect()
}

/// Stores' parsed rules by store, with the `updated_at` they were parsed from.
type RuleCache = Mutex<HashMap<String, (i64, Arc<RuleSet>)>>;
static STORE_RULES: LazyLock<RuleCache> = LazyLock::new(|| Mutex::new(HashMap::new()));
/// Stores' rule sets kept parsed at once; when full the cache starts again (a parse is cheap, only not free).
const RULE_CACHE_CAP: usize = 10_000;

/// A built-in list of disposable-mail domains (and their subdomains).
const DISPOSABLE: &[&str] = &[
    "10minutemail.com",
    "33mail.com",
    "burnermail.io",
    "dispostable.com",
    "emailondeck.com",
    "fakeinbox.com",
    "getairmail.com",
    "getnada.com",
    "guerrillamail.com",
    "guerrillamail.net",
    "guerrillamailblock.com",
    "harakirimail.com",
    "maildrop.cc",
    "mailinator.com",
    "mailnesia.com",
    "mintemail.com",
    "mohmal.com",
    "mytemp.email",
    "sharklasers.com",
    "spamgourmet.com",
    "temp-mail.org",
    "tempail.com",
    "tempmail.com",
    "tempmailo.com",
    "throwawaymail.com",
    "trashmail.com",
    "yopmail.com",
];

/// Whether an email's domain is a known disposable-mail service (or a subdomain of one).
#[must_use]
pub fn disposable(email: &str) -> bool {
    let Some((_, domain)) = email.rsplit_once('@') else { return false };
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    DISPOSABLE.iter().any(|d| domain == *d || domain.strip_suffix(d).is_some_and(|rest| rest.ends_with('.')))
}

/// A shipping country as typed (`SG`, `Singapore`, a few common names), as a code.
fn country_of(typed: &str) -> Option<Country> {
    let t = typed.trim().to_ascii_lowercase();
    let code = match t.as_str() {
        "singapore" | "republic of singapore" => "SG",
        "malaysia" => "MY",
        "indonesia" => "ID",
        "thailand" => "TH",
        "philippines" | "the philippines" => "PH",
        "vietnam" | "viet nam" => "VN",
        "united states" | "usa" | "united states of america" => "US",
        "united kingdom" | "uk" => "GB",
        "australia" => "AU",
        "china" => "CN",
        "hong kong" => "HK",
        "india" => "IN",
        "japan" => "JP",
        _ => return Country::parse(&t),
    };
    Country::parse(code)
}

const PAID: &str = "('paid', 'shipped', 'delivered', 'completed')";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// How long declined attempts are kept (the features look back an hour).
pub const DECLINES_KEPT_MS: i64 = DAY_MS;
/// Paid orders a store needs before its median is used.
const MEDIAN_MIN_ORDERS: usize = 20;

/// One row of the features query.
#[derive(sqlx::FromRow)]
struct Counts {
    card_1h: i64,
    card_24h: i64,
    email_24h: i64,
    address_24h: i64,
    card_declines_1h: i64,
    email_declines_1h: i64,
    store_declines_1h: i64,
    buyer_orders: i64,
    buyer_address_orders: i64,
    buyer_since: Option<i64>,
    rules_at: Option<i64>,
}

fn count(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

/// What is being ordered, for [`assess_on`].
pub(crate) struct Attempt<'a> {
    pub email: &'a str,
    pub address: &'a crate::address::ShippingAddress,
    pub fingerprints: &'a Fingerprints,
    pub total_minor: i64,
    pub currency: Currency,
}

/// The counts behind the velocity, history and account features: one round trip of indexed subqueries.
async fn counts_on(tx: &mut sqlx::AnyConnection, scope: &StoreScope, a: &Attempt<'_>, now: i64) -> Result<Counts> {
    let buyer = match scope.actor() {
        Actor::Shopper(Some(b)) => Some(b.to_string()),
        _ => None,
    };
    // The email velocity by the keyed, normalised email when the caller made one; else (a caller without keys:
    // the CLI's demo shop, tests) by the address as typed. Both columns are indexed with the store and the time.
    let (email_column, email_value) = match a.fingerprints.email.as_deref() {
        Some(key) => ("email_key", key),
        None => ("buyer_email", a.email),
    };
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND card_fingerprint = $2 AND created_at >= $3) AS card_1h, \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND card_fingerprint = $2 AND created_at >= $4) AS card_24h, \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND {email_column} = $5 AND created_at >= $4) AS email_24h, \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND ship_key = $6 AND created_at >= $4) AS address_24h, \
         (SELECT COUNT(*) FROM payment_declines WHERE store_id = $1 AND card_fingerprint = $2 AND at >= $3) AS card_declines_1h, \
         (SELECT COUNT(*) FROM payment_declines WHERE store_id = $1 AND email_hash = $7 AND at >= $3) AS email_declines_1h, \
         (SELECT COUNT(*) FROM payment_declines WHERE store_id = $1 AND at >= $3) AS store_declines_1h, \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND buyer_id = $8 AND status IN {PAID}) AS buyer_orders, \
         (SELECT COUNT(*) FROM orders WHERE store_id = $1 AND buyer_id = $8 AND ship_key = $6 AND status IN {PAID}) AS buyer_address_orders, \
         (SELECT created_at FROM accounts WHERE id = $8) AS buyer_since, \
         (SELECT updated_at FROM store_fraud_rules WHERE store_id = $1) AS rules_at"
    )))
    .bind(scope.store_key())
    .bind(a.fingerprints.card.as_deref())
    .bind(now - HOUR_MS)
    .bind(now - DAY_MS)
    .bind(email_value)
    .bind(a.fingerprints.address.as_deref())
    .bind(a.fingerprints.email.as_deref())
    .bind(buyer.as_deref())
    .fetch_one(&mut *tx)
    .await?)
}

/// Whether the signed-in shopper of `scope` has paid for an order at this store before: the card-testing guard
/// challenges such a buyer in a lockdown instead of refusing them. Orders at other stores (or unpaid ones, which
/// cost a tester nothing to create) say nothing about this store. A guest is never known.
pub async fn known_buyer(db: &Db, scope: &StoreScope) -> Result<bool> {
    let Actor::Shopper(Some(buyer)) = scope.actor() else { return Ok(false) };
    let row: Option<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM orders WHERE store_id = $1 AND buyer_id = $2 AND status IN {PAID} LIMIT 1"
    )))
    .bind(scope.store_key())
    .bind(buyer.to_string())
    .fetch_optional(db.pool())
    .await?;
    Ok(row.is_some())
}

/// The store's median paid order over its last 101, once it has [`MEDIAN_MIN_ORDERS`].
async fn median_on(tx: &mut sqlx::AnyConnection, scope: &StoreScope) -> Result<Option<i64>> {
    let recent: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT total_minor FROM orders WHERE store_id = $1 AND status IN {PAID} ORDER BY created_at DESC LIMIT 101"
    )))
    .bind(scope.store_key())
    .fetch_all(&mut *tx)
    .await?;
    Ok((recent.len() >= MEDIAN_MIN_ORDERS).then(|| {
        let mut v: Vec<i64> = recent.into_iter().map(|(t,)| t).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }))
}

/// The features the scorer and the rules read, from the counts.
fn features_of(a: &Attempt<'_>, counts: &Counts, store_median_minor: Option<i64>, now: i64) -> OrderFeatures {
    let familiar = |used_before: i64| match (counts.buyer_orders, used_before) {
        (0, _) => Familiarity::NoHistory,
        (_, 0) => Familiarity::New,
        _ => Familiarity::Known,
    };
    let address = a.address.to_json();
    let ship_country = address.get("country").and_then(serde_json::Value::as_str).and_then(country_of);
    OrderFeatures {
        amount_minor: a.total_minor,
        currency: a.currency,
        store_median_minor,
        card_country: None,
        billing_country: None,
        ship_country,
        ip_country: a.fingerprints.ip_country.as_deref().and_then(Country::parse),
        email_domain: if disposable(a.email) { EmailDomain::Disposable } else { EmailDomain::Ordinary },
        account_age_days: counts.buyer_since.map_or(0, |since| count((now - since) / DAY_MS)),
        customer_orders: count(counts.buyer_orders),
        velocity: Velocity {
            // Counting this order.
            card_1h: if a.fingerprints.card.is_some() { count(counts.card_1h) + 1 } else { 0 },
            card_24h: if a.fingerprints.card.is_some() { count(counts.card_24h) + 1 } else { 0 },
            email_24h: count(counts.email_24h) + 1,
            device_24h: 0,
            address_24h: if a.fingerprints.address.is_some() { count(counts.address_24h) + 1 } else { 0 },
            address_foreign_cards_7d: 0,
        },
        failed_attempts_1h: count(counts.card_declines_1h.max(counts.email_declines_1h)),
        store_failed_1h: count(counts.store_declines_1h),
        account_device: Familiarity::NoHistory,
        account_address: if a.fingerprints.address.is_some() {
            familiar(counts.buyer_address_orders)
        } else {
            Familiarity::NoHistory
        },
        category_risk: palisade_trust::CategoryRisk::Low,
    }
}

/// Gathers the features, scores the order and runs the rules, inside the checkout's transaction.
pub(crate) async fn assess_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    a: &Attempt<'_>,
) -> Result<Assessment> {
    let now = db.now().0;
    let counts = counts_on(tx, scope, a, now).await?;
    let median = median_on(tx, scope).await?;
    let features = features_of(a, &counts, median, now);
    let score = palisade_trust::score(&features);
    let store_rules = match counts.rules_at {
        None => None,
        Some(at) => Some(store_rules_on(tx, scope, at).await?),
    };
    let empty = RuleSet::default();
    let layers = [&*PLATFORM, store_rules.as_deref().unwrap_or(&empty)];
    let facts = palisade_trust::rules::Facts { features: &features, score: score.value() };
    let verdict = palisade_trust::decide(&layers, &facts);
    Ok(Assessment {
        score: score.value(),
        reasons: score
            .reasons()
            .iter()
            .map(|r| StoredReason { code: r.code.code().into(), points: r.points, text: r.code.text().into() })
            .collect(),
        action: verdict.action,
        rule: verdict.rule.map(|r| format!("{}:{}", if r.layer == 0 { "platform" } else { "store" }, r.index)),
    })
}

/// The store's rules, from the cache when they were parsed at `at`, else read and parsed (and cached).
async fn store_rules_on(tx: &mut sqlx::AnyConnection, scope: &StoreScope, at: i64) -> Result<Arc<RuleSet>> {
    let key = scope.store_key();
    if let Ok(cache) = STORE_RULES.lock()
        && let Some((cached_at, set)) = cache.get(&key)
        && *cached_at == at
    {
        return Ok(Arc::clone(set));
    }
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT rules, updated_at FROM store_fraud_rules WHERE store_id = $1")
            .bind(&key)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((text, at)) = row else { return Ok(Arc::new(RuleSet::default())) };
    // Saved rules parsed when saved; one that no longer parses (a newer release is stricter) is ignored, logged:
    // the platform's rules still apply.
    let set = Arc::new(RuleSet::parse(&text).unwrap_or_else(|e| {
        tracing::error!(store.id = %key, error = %e, "a store's saved fraud rules no longer parse; ignored");
        RuleSet::default()
    }));
    if let Ok(mut cache) = STORE_RULES.lock() {
        if cache.len() >= RULE_CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, (at, Arc::clone(&set)));
    }
    Ok(set)
}

/// A store's own rules as saved (empty when none).
pub async fn rules(db: &Db, scope: &StaffScope) -> Result<String> {
    let row: Option<(String,)> = sqlx::query_as("SELECT rules FROM store_fraud_rules WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(r,)| r).unwrap_or_default())
}

/// Why a store's rules were refused: where and what (nothing was saved).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulesRefused {
    TooLong { max: usize },
    Parse(palisade_trust::ParseError),
}

impl std::fmt::Display for RulesRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RulesRefused::TooLong { max } => write!(f, "the rules are at most {} KiB", max / 1024),
            RulesRefused::Parse(e) => write!(f, "{e}"),
        }
    }
}

/// What a store's rules text must pass to be saved (here, and by a store import, whose archive is the merchant's
/// to edit): at most [`MAX_STORE_RULES_BYTES`], and the whole text parses. The number of rules.
pub fn check_rules(text: &str) -> std::result::Result<usize, RulesRefused> {
    if text.len() > MAX_STORE_RULES_BYTES {
        return Err(RulesRefused::TooLong { max: MAX_STORE_RULES_BYTES });
    }
    RuleSet::parse(text).map(|set| set.rules().len()).map_err(RulesRefused::Parse)
}

/// Saves a store's own rules after parsing the whole text; refused with where and why, saving nothing, when any
/// line does not parse. Audited (the old and new text's sizes and the number of rules; the text itself is in
/// the table).
pub async fn set_rules(db: &Db, scope: &StaffScope, text: &str) -> Result<std::result::Result<usize, RulesRefused>> {
    let n = match check_rules(text) {
        Ok(n) => n,
        Err(e) => return Ok(Err(e)),
    };
    let by = scope.actor().as_audit_text();
    let mut tx = db.begin_write().await?;
    // Strictly increasing, so the per-store cache never keeps a set saved in the same millisecond as another.
    let (prev,): (Option<i64>,) = sqlx::query_as("SELECT MAX(updated_at) FROM store_fraud_rules WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_one(&mut *tx)
        .await?;
    let at = db.now().0.max(prev.map_or(i64::MIN, |p| p.saturating_add(1)));
    sqlx::query(
        "INSERT INTO store_fraud_rules (store_id, rules, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (store_id) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(scope.store_key())
    .bind(text)
    .bind(at)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    let details = serde_json::json!({"rules": n, "bytes": text.len()});
    audit::record_store(&mut tx, db, scope, NewEvent::new("fraud.rules_saved", "fraud_rules").details(details)).await?;
    tx.commit().await?;
    Ok(Ok(n))
}

/// The store's orders held for review, oldest first (the queue's order).
pub async fn held(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<Order>> {
    orders::held_in(db, scope, limit.clamp(1, 200)).await
}

/// Approves a held order: it can ship. Refused (409) when the order is not held; another store's order is 404.
pub async fn approve(db: &Db, scope: &StaffScope, id: OrderId, note: &str) -> Result<Order> {
    let mut tx = db.begin_write().await?;
    let order = orders::get_on(&mut tx, scope, id).await?;
    not_held_refusal(&order)?;
    let done = sqlx::query(
        "UPDATE orders SET review_state = 'approved', reviewed_at = $1, updated_at = $1 \
         WHERE store_id = $2 AND id = $3 AND review_state = 'held'",
    )
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the order"));
    }
    let details = serde_json::json!({"score": order.risk_score, "note": note.chars().take(500).collect::<String>()});
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("order.review_approved", &format!("order:{id}")).details(details),
    )
    .await?;
    tx.commit().await?;
    orders::get(db, scope, id).await
}

/// Cancels a held order and refunds what escrow holds for it, in one transaction (the order becomes refunded).
pub async fn cancel(db: &Db, scope: &StaffScope, id: OrderId, note: &str) -> Result<Order> {
    let mut tx = db.begin_write().await?;
    let order = orders::get_on(&mut tx, scope, id).await?;
    not_held_refusal(&order)?;
    if order.status != Status::Paid {
        return Err(CommerceError::InvalidTransition(format!(
            "an order that is {} cannot be cancelled and refunded (its payment is not settled)",
            order.status.as_str()
        )));
    }
    let done = sqlx::query(
        "UPDATE orders SET review_state = 'cancelled', reviewed_at = $1 \
         WHERE store_id = $2 AND id = $3 AND review_state = 'held'",
    )
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the order"));
    }
    // The existing refund path: escrow back to the buyer, the order refunded, the buyer mailed.
    orders::transition_on(&mut tx, db, scope, id, Status::Refunded, None, &Policy::default()).await?;
    let details = serde_json::json!({"score": order.risk_score, "note": note.chars().take(500).collect::<String>()});
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("order.review_cancelled", &format!("order:{id}")).details(details),
    )
    .await?;
    tx.commit().await?;
    orders::get(db, scope, id).await
}

fn not_held_refusal(order: &Order) -> Result<()> {
    if order.review_state == ReviewState::Held {
        Ok(())
    } else {
        Err(CommerceError::InvalidTransition(format!(
            "order {} is not waiting for review (it is {})",
            order.number,
            order.review_state.as_str()
        )))
    }
}

/// Records a blocked attempt in the store's audit log (the checkout's own transaction was rolled back: no order,
/// no stock held, no number used).
pub(crate) async fn record_block(db: &Db, scope: &StoreScope, a: &Assessment, total_minor: i64) -> Result<()> {
    let codes: Vec<&str> = a.reasons.iter().map(|r| r.code.as_str()).collect();
    let details = serde_json::json!({"score": a.score, "reasons": codes, "rule": a.rule, "total_minor": total_minor});
    audit::record_store_now(db, scope, NewEvent::new("order.blocked_by_rules", "checkout").details(details)).await?;
    Ok(())
}

/// Records that the operator reviewed the platform's scoring rules as compiled into this release (the
/// "scoring rules reviewed" control compares the recorded version with the running one).
pub async fn record_platform_review(db: &Db, platform: &PlatformScope, reviewer: &str) -> Result<()> {
    let value = serde_json::json!({"version": platform_rules_version(), "at": db.now().0, "by": reviewer});
    palisade_store::settings::put(db, REVIEW_SETTING, &value).await?;
    audit::record_platform_now(
        db,
        platform,
        NewEvent::new("fraud.platform_rules_reviewed", "fraud_rules").details(value),
    )
    .await?;
    Ok(())
}

/// The platform setting holding the last review of the platform rules.
pub const REVIEW_SETTING: &str = "fraud.platform_rules_reviewed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_rules_parse() {
        assert!(RuleSet::parse(PLATFORM_RULES).is_ok());
        assert!(!PLATFORM.rules().is_empty());
    }

    #[test]
    fn disposable_domains_and_their_subdomains() {
        assert!(disposable("x@mailinator.com") && disposable("x@Foo.YOPMAIL.com") && disposable("a@trashmail.com."));
        assert!(!disposable("x@gmail.com") && !disposable("x@notmailinator.com") && !disposable("nobody"));
    }

    #[test]
    fn an_email_is_one_mailbox_however_it_is_spelled() {
        for e in ["Bob+1@x.com", "bob@X.com", " BOB+a+b@x.com. "] {
            assert_eq!(email_text(e), "bob@x.com", "{e}");
        }
        for e in ["b.o.b@gmail.com", "Bob+shop@googlemail.com", "B.O.B+1@GMAIL.COM", "bob@gmail.com"] {
            assert_eq!(email_text(e), "bob@gmail.com", "{e}");
        }
        // Outside Gmail dots are significant; another domain is another mailbox.
        assert_eq!(email_text("b.o.b@x.com"), "b.o.b@x.com");
        assert_ne!(email_text("bob@gmail.co"), email_text("bob@gmail.com"));
        assert_eq!(email_text("nobody"), "nobody");
    }

    fn address(line1: &str, line2: &str, postcode: &str) -> crate::address::ShippingAddress {
        crate::address::ShippingAddress::parse(crate::address::AddressFields {
            name: "Mei",
            line1,
            line2,
            city: "Singapore",
            postcode,
            country: "Singapore",
        })
        .unwrap()
    }

    #[test]
    fn an_address_is_one_place_whatever_its_punctuation_case_and_spacing() {
        let plain = address_text(&address("1 marina blvd", "05 01", "018989"));
        assert_eq!(address_text(&address("1, Marina  Blvd.", "#05-01", "018989")), plain);
        assert_eq!(
            address_text(&address("1 MARINA BLVD", "  05/01 ", "018 989")),
            address_text(&address("1 marina blvd", "05 01", "018 989"))
        );
        assert_ne!(address_text(&address("2 Marina Blvd", "#05-01", "018989")), plain, "another number is elsewhere");
    }

    #[test]
    fn countries_as_typed() {
        assert_eq!(country_of("Singapore").map(|c| c.code().to_owned()).as_deref(), Some("SG"));
        assert_eq!(country_of(" sg ").map(|c| c.code().to_owned()).as_deref(), Some("SG"));
        assert!(country_of("Narnia").is_none());
    }
}
