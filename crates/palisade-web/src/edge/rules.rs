//! Merchants' own layers in front of their store: custom rules, the store's WAF mode and its under-attack
//! switch, compiled once per store
//! (refreshed every few seconds, or at once after a change on this node). Rules are evaluated first-match-wins
//! before the WAF, and a sample of the store's recent requests is kept so a rule can be test-run before it is
//! enabled.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use palisade_core::StoreId;
use palisade_shield::normalise::Plus;
use palisade_shield::rules::{self, Rule, RuleAction, Subjects};
use palisade_shield::{Mode, Policy};
use palisade_store::{Db, StoreScope, firewall};
use serde::Serialize;

/// How long compiled rules are reused before they are read again.
const TTL_MS: i64 = 5_000;
/// Store layers cached at once.
const CACHED: usize = 10_000;
/// Recent requests kept per store for test-runs.
pub const SAMPLE: usize = 500;

/// Once a store has [`SAMPLE`] samples, at most one new one per this many milliseconds: 500 samples then span at
/// least the last 10 s of its traffic instead of its last fraction of a second under load, and a busy storefront
/// does not copy every request under a lock (it cost a third of a product page's throughput).
const SAMPLE_SPACING_MS: i64 = 20;

/// One remembered request.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub at: i64,
    pub method: String,
    pub path: String,
    pub query: String,
    pub ip: Option<IpAddr>,
    pub country: Option<String>,
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
    #[serde(skip)]
    pub args: Vec<(String, String)>,
}

/// Bytes of each value a kept sample holds (the live match sees the whole allowed value).
const KEPT_VALUE: usize = 1024;
/// Headers and arguments a kept sample holds.
const KEPT_FIELDS: usize = 32;
/// Headers whose values custom rules may read (with anything else, only the name): what a merchant needs to tell
/// clients apart, and nothing that carries a credential or a person's data.
const HEADER_VALUES: [&str; 17] = [
    "accept",
    "accept-encoding",
    "accept-language",
    "content-length",
    "content-type",
    "host",
    "origin",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "user-agent",
    "x-forwarded-proto",
    "x-requested-with",
];

/// Headers custom rules never see, not even by name: a rule's hit count over them would let staff guess a
/// session or a token.
const UNKEPT_HEADERS: [&str; 3] = ["cookie", "authorization", "proxy-authorization"];

/// Whether the values of a store path's query and body fields may be read by custom rules at all: only the
/// storefront's own pages and media. Checkout, orders, the admin and every API but the public catalogue carry
/// card data, addresses, credentials or staff's work: rules there see field names and sizes only.
#[must_use]
pub fn values_readable(method: &str, path: &str) -> bool {
    let mut segs = path.split('/').filter(|s| !s.is_empty());
    match (segs.next(), segs.next(), segs.next(), segs.next(), segs.next()) {
        (Some("s" | "media"), Some(_), ..) => true,
        (Some("api"), Some("v1"), Some("stores"), Some(_), Some("products")) => method == "GET" || method == "HEAD",
        _ => false,
    }
}

/// A value as custom rules may see it: empty when it holds a card number or an email address, whatever the
/// field is called (a card typed into a search box is still a card).
fn allowed_value(value: &str) -> bool {
    !palisade_core::redact::has_card_number(value) && !palisade_core::redact::looks_like_email(value)
}

/// The path as rules see it: as requested, unless it carries a card number or an email address, plain or
/// percent-encoded (a merchant's page can make a shopper's browser fetch any path of the store); then the decoded
/// path with those redacted.
#[must_use]
pub fn kept_path(path: &str) -> String {
    let decoded = palisade_shield::normalise::normalise(path, Plus::Literal).decoded;
    let sensitive = |p: &str| {
        palisade_core::redact::has_card_number(p) || p.split('/').any(palisade_core::redact::looks_like_email)
    };
    if !sensitive(path) && !sensitive(&decoded) {
        return path.to_owned();
    }
    let carded = palisade_core::redact::card_numbers(&decoded);
    carded
        .split('/')
        .map(|seg| if palisade_core::redact::looks_like_email(seg) { "[email redacted]" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

impl Sample {
    /// The request as custom rules see it, built from an allow-list: method, path, client address and country;
    /// header names (values only of [`HEADER_VALUES`], never cookies or credentials); query and body field names,
    /// with values only where [`values_readable`] says so, only for fields whose name is not sensitive
    /// ([`palisade_core::redact::sensitive_field_name`]) and only when the value is neither card- nor email-shaped.
    /// A value that is not kept reads as empty. The raw query is kept only when nothing in it was held back.
    #[must_use]
    pub fn of(
        req: &palisade_shield::Request<'_>,
        at: i64,
        path: &str,
        query: &str,
        ip: Option<IpAddr>,
        country: Option<String>,
    ) -> Sample {
        use palisade_shield::Location;
        let readable = values_readable(&req.method, path);
        let mut withheld = !readable && !query.is_empty();
        let args = req
            .fields()
            .into_iter()
            .filter(|f| matches!(f.location, Location::Query | Location::Body))
            .map(|f| {
                let value = if readable && !palisade_core::redact::sensitive_field_name(&f.name) {
                    // As far as the firewall reads it (a longer field is flagged there).
                    let v = palisade_shield::normalise::normalise(
                        palisade_shield::request::prefix(&f.value, palisade_shield::request::MAX_FIELD),
                        if f.encoded { Plus::Space } else { Plus::Literal },
                    )
                    .decoded;
                    if allowed_value(&v) { v.into_owned() } else { String::new() }
                } else {
                    String::new()
                };
                if value.is_empty() && !f.value.is_empty() && f.location == Location::Query {
                    withheld = true;
                }
                // A name is kept as typed, unless it is itself a card number or an address (`?4242…`).
                let name = if allowed_value(&f.name) {
                    f.name.into_owned()
                } else {
                    withheld = true;
                    String::new()
                };
                (name, value)
            })
            .collect();
        let headers = req
            .headers
            .iter()
            .filter(|(n, _)| !UNKEPT_HEADERS.contains(&n.as_ref()))
            .map(|(n, v)| {
                // The length of a body that is not readable would tell its size to the byte (a card's length).
                let keep =
                    HEADER_VALUES.contains(&n.as_ref()) && (readable || n != "content-length") && allowed_value(v);
                (n.to_string(), if keep { v.to_string() } else { String::new() })
            })
            .collect();
        Sample {
            at,
            method: req.method.to_string(),
            path: kept_path(path),
            query: if withheld { String::new() } else { query.to_owned() },
            ip,
            country,
            headers,
            args,
        }
    }

    /// The sample as kept for test-runs, made from the one the live rules just matched (no second copy):
    /// bounded in size, so 500 of them per store stay small whatever the traffic.
    #[must_use]
    pub fn kept(mut self) -> Sample {
        fn cut(v: &mut String) {
            let len = palisade_shield::request::prefix(v, KEPT_VALUE).len();
            v.truncate(len);
        }
        for v in [&mut self.method, &mut self.path, &mut self.query] {
            cut(v);
        }
        self.headers.truncate(KEPT_FIELDS);
        self.args.truncate(KEPT_FIELDS);
        for (n, v) in self.headers.iter_mut().chain(self.args.iter_mut()) {
            cut(n);
            cut(v);
        }
        self
    }

    fn subjects(&self) -> Subjects<'_> {
        Subjects {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            ip: self.ip,
            country: self.country.as_deref(),
            headers: &self.headers,
            args: &self.args,
        }
    }
}

/// What the shield applies to one store's paths, compiled once per refresh and shared by its requests.
#[derive(Debug, Default)]
pub struct StoreLayer {
    pub store: Option<StoreId>,
    /// Enabled rules, in order.
    pub rules: Vec<Rule>,
    /// The platform's policy with the store's own mode and paranoia, when the store chose them.
    pub policy: Option<Policy>,
    /// The store's "under attack" mode, until this time (ms), read with the rest so the storefront does not
    /// query it per request.
    pub attack_mode_until: Option<i64>,
    /// Some of the store's firewall (its settings or an enabled rule) could not be read: its requests are refused
    /// rather than let through with less protection than the store chose (fail closed).
    pub unreadable: bool,
}

#[derive(Debug)]
struct Entry {
    fetched: i64,
    layer: Arc<StoreLayer>,
}

/// Per-node rule cache and traffic samples.
#[derive(Debug, Default)]
pub struct StoreRules {
    cache: Mutex<HashMap<String, Entry>>,
    samples: Mutex<HashMap<StoreId, Samples>>,
}

/// One store's recent requests, spread in time (see [`SAMPLE_SPACING_MS`]).
#[derive(Debug, Default)]
struct Samples {
    kept: VecDeque<Sample>,
    /// When the next request may be kept, once `kept` is full.
    next_at: i64,
}

impl StoreRules {
    /// Forgets compiled rules (after a change on this node).
    pub fn invalidate(&self) {
        if let Ok(mut c) = self.cache.lock() {
            c.clear();
        }
    }

    /// The store named by `key` (slug or id), its enabled rules and its WAF policy (over `platform`'s).
    pub async fn for_store(&self, db: &Db, key: &str, now: i64, platform: &Policy) -> Arc<StoreLayer> {
        if let Ok(c) = self.cache.lock()
            && let Some(e) = c.get(key)
            && e.fetched + TTL_MS > now
        {
            return Arc::clone(&e.layer);
        }
        // Fail closed: a store's firewall that cannot be read — the database failing, a stored setting or an
        // enabled rule that no longer parses — marks the layer unreadable, and the shield refuses the store's
        // requests (503, visibly) instead of serving them with less protection than the store chose. A database
        // failure is not cached, so the next request retries; corrupt data is (it will not mend itself in 5 s,
        // and the error is logged once per refresh instead of once per request).
        let mut failed = false;
        let mut unreadable = false;
        let mut note = |e: &dyn std::fmt::Display, transient: bool| {
            failed |= transient;
            unreadable = true;
            metrics::counter!("palisade_shield_store_layer_errors_total").increment(1);
            tracing::error!(store = %key, error = %e, "store firewall layer could not be read; its requests are refused");
        };
        let transient = |e: &palisade_store::StoreError| !matches!(e, palisade_store::StoreError::Corrupt(_));
        let store = match palisade_store::tenancy::store_id_by_key(db, key).await {
            Ok(found) => found,
            Err(e) => {
                note(&e, transient(&e));
                None
            }
        };
        let mut layer = StoreLayer { store, ..StoreLayer::default() };
        if let Some(id) = store {
            let scope = StoreScope::shopper(id, None);
            let stored = firewall::rules(db, &scope).await.unwrap_or_else(|e| {
                note(&e, transient(&e));
                Vec::new()
            });
            for r in stored.into_iter().filter(|r| r.enabled) {
                match rules::parse(&r.source) {
                    Ok(rule) => layer.rules.push(rule),
                    // Skipping it could drop a `block` rule: the store chose it, so it is not ours to ignore.
                    Err(e) => note(&format!("enabled rule {} no longer parses: {e}", r.id), false),
                }
            }
            let fw = firewall::get(db, &scope).await.unwrap_or_else(|e| {
                note(&e, transient(&e));
                firewall::StoreFirewall::default()
            });
            layer.attack_mode_until = fw.attack_mode_until.map(|t| t.0);
            let mode = fw.waf_mode.as_deref().and_then(Mode::parse);
            if mode.is_some() || fw.waf_paranoia.is_some() {
                let mut policy = platform.clone();
                policy.mode = mode.unwrap_or(platform.mode);
                policy.paranoia = fw.waf_paranoia.unwrap_or(platform.paranoia);
                layer.policy = Some(policy);
            }
        }
        layer.unreadable = unreadable;
        let layer = Arc::new(layer);
        if !failed && let Ok(mut c) = self.cache.lock() {
            // Keys come from request paths: made-up ones must neither grow the cache nor flush real stores'.
            // A full cache is swept only to make room for a real store.
            if c.len() >= CACHED && layer.store.is_some() {
                c.retain(|_, e| e.fetched + TTL_MS > now);
            }
            if c.len() < CACHED || layer.store.is_some() {
                c.insert(key.to_owned(), Entry { fetched: now, layer: Arc::clone(&layer) });
            }
        }
        layer
    }

    /// Whether a request of `store` arriving `now` would be kept for test-runs: every one until [`SAMPLE`] are
    /// kept, then one per [`SAMPLE_SPACING_MS`]. Asked first, so an unkept request is not copied at all.
    #[must_use]
    pub fn wants_sample(&self, store: StoreId, now: i64) -> bool {
        let Ok(s) = self.samples.lock() else { return false };
        match s.get(&store) {
            Some(x) => x.kept.len() < SAMPLE || now >= x.next_at,
            None => s.len() < CACHED,
        }
    }

    /// Remembers a request of `store` for test-runs.
    pub fn remember(&self, store: StoreId, sample: Sample, now: i64) {
        if let Ok(mut s) = self.samples.lock() {
            if s.len() >= CACHED && !s.contains_key(&store) {
                return;
            }
            let x = s.entry(store).or_default();
            if x.kept.len() >= SAMPLE {
                x.kept.pop_front();
                x.next_at = now + SAMPLE_SPACING_MS;
            }
            x.kept.push_back(sample);
        }
    }

    /// Runs `rule` over the store's recent requests: how many it would have matched, and a few of them.
    #[must_use]
    pub fn test_run(&self, store: StoreId, rule: &Rule) -> (usize, usize, Vec<Sample>) {
        let Ok(s) = self.samples.lock() else { return (0, 0, Vec::new()) };
        let Some(q) = s.get(&store).map(|x| &x.kept) else { return (0, 0, Vec::new()) };
        let hits: Vec<&Sample> = q.iter().filter(|x| rule.matches(&x.subjects())).collect();
        (hits.len(), q.len(), hits.into_iter().rev().take(10).cloned().collect())
    }
}

/// The first enabled rule that matches, if any.
#[must_use]
pub fn first_match<'a>(rules: &'a [Rule], sample: &Sample) -> Option<&'a Rule> {
    rules.iter().find(|r| r.matches(&sample.subjects()))
}

/// Whether a rule is an `allow`.
#[must_use]
pub fn is_allow(r: &Rule) -> bool {
    r.action == RuleAction::Allow
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(method: &str, target: &str, ctype: &str, body: &str) -> Sample {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let req = palisade_shield::Request::new(method, target)
            .header("cookie", "palisade_session=s3cret")
            .header("authorization", "Bearer pal_st_x")
            .header("user-agent", &"x".repeat(5000))
            .header("referer", "https://shop.example/orders/1?token=abc")
            .header("content-type", ctype)
            .header("content-length", &body.len().to_string())
            .body(body.to_owned());
        Sample::of(&req, 1, path, query, None, None)
    }

    fn value<'a>(s: &'a Sample, name: &str) -> Option<&'a str> {
        s.args.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_full_store_keeps_samples_spread_in_time() {
        let kept = StoreRules::default();
        let store = StoreId::new();
        for i in 0..SAMPLE {
            assert!(kept.wants_sample(store, 1_000), "sample {i}: every request until the store has {SAMPLE}");
            kept.remember(store, sample("GET", "/s/tea", "", ""), 1_000);
        }
        // Full: the next one is kept, then none until the spacing has passed.
        assert!(kept.wants_sample(store, 1_000));
        kept.remember(store, sample("GET", "/s/tea?newest=1", "", ""), 1_000);
        assert!(!kept.wants_sample(store, 1_000 + SAMPLE_SPACING_MS - 1));
        assert!(kept.wants_sample(store, 1_000 + SAMPLE_SPACING_MS));
        let rule = rules::parse(r#"block if query contains "newest""#).unwrap();
        assert_eq!(kept.test_run(store, &rule).0, 1, "the newest sample replaced the oldest");
        assert_eq!(kept.test_run(store, &rule).1, SAMPLE);
        assert!(kept.wants_sample(StoreId::new(), 1_000), "another store starts with every request");
    }

    #[test]
    fn samples_hold_no_credentials_and_are_bounded() {
        let kept = sample("GET", "/s/tea?q=tea&api_token=abc", "text/plain", "").kept();
        assert_eq!(kept.query, "", "a query with a withheld value is not kept raw");
        assert_eq!(value(&kept, "q"), Some("tea"));
        assert_eq!(value(&kept, "api_token"), Some(""), "a secret's name is kept, not its value");
        assert!(!kept.headers.iter().any(|(n, _)| n == "cookie" || n == "authorization"));
        assert_eq!(kept.headers.iter().find(|(n, _)| n == "referer").map(|(_, v)| v.as_str()), Some(""));
        assert_eq!(kept.headers.iter().find(|(n, _)| n == "user-agent").map(|(_, v)| v.len()), Some(KEPT_VALUE));
        let many: String = (0..40).map(|i| format!("a{i}=v&")).collect();
        let kept = sample("POST", "/s/tea/contact", "application/x-www-form-urlencoded", &many).kept();
        assert_eq!(kept.args.len(), KEPT_FIELDS);
        assert_eq!(kept.path, "/s/tea/contact");
    }

    #[test]
    fn payment_checkout_admin_and_order_bodies_are_never_read() {
        let card = "card_number=4242+4242+4242+4242&cvc=123&expiry=12%2F30&email=pat%40buyer.example&note=hi";
        for path in ["/checkout/tea", "/admin/stores/tea/settings", "/api/v1/stores/tea/orders"] {
            let s = sample("POST", path, "application/x-www-form-urlencoded", card);
            assert!(s.args.iter().all(|(_, v)| v.is_empty()), "{path}: {:?}", s.args);
            assert!(s.args.iter().any(|(n, _)| n == "card_number"), "names stay for rules");
        }
        let json = r#"{"card":{"number":"4242424242424242","cvc":"123","exp_month":12},"email":"pat@buyer.example"}"#;
        let s = sample("POST", "/api/v1/stores/tea/orders", "application/json", json);
        assert!(s.args.iter().all(|(_, v)| v.is_empty()), "{:?}", s.args);
    }

    #[test]
    fn card_and_email_values_are_withheld_even_where_values_are_read() {
        let s = sample("POST", "/s/tea/contact", "application/x-www-form-urlencoded", "cvc=123&note=hello&box=");
        assert_eq!(value(&s, "cvc"), Some(""), "a sensitive name");
        assert_eq!(value(&s, "note"), Some("hello"), "an ordinary field is read");
        for q in ["q=4242-4242-4242-4242", "q=pat%40buyer.example", "q=5555555555554444"] {
            let s = sample("GET", &format!("/s/tea?{q}"), "text/plain", "");
            assert_eq!(value(&s, "q"), Some(""), "{q}");
            assert_eq!(s.query, "", "{q}: the raw query is not kept");
        }
        for path in [
            "/s/tea/p/4242424242424242",
            "/s/tea/p/4242%204242%204242%204242",
            "/s/tea/x/4242%2D4242%2D4242%2D4242",
            "/s/tea/leak/pat@buyer.example",
            "/s/tea/leak/pat%40buyer.example",
        ] {
            let s = sample("GET", path, "text/plain", "");
            assert!(!s.path.contains("4242") && !s.path.contains("buyer"), "{path}: {}", s.path);
            assert!(s.path.starts_with("/s/tea/"), "{}", s.path);
        }
        let s = sample("GET", "/s/tea?4242424242424242", "text/plain", "");
        assert!(s.query.is_empty() && s.args.iter().all(|(n, _)| n.is_empty()), "{s:?}");
        let s = sample("POST", "/checkout/tea", "application/x-www-form-urlencoded", "cvc=123");
        assert!(s.headers.iter().any(|(n, v)| n == "content-length" && v.is_empty()), "{:?}", s.headers);
        let s = sample("POST", "/s/tea/contact", "application/x-www-form-urlencoded", "note=hi");
        assert!(s.headers.iter().any(|(n, v)| n == "content-length" && v == "7"), "readable where values are");
    }
}
