//! Rate limits (GCRA) per client IP and route class, per signed-in account (or API token) and class, and per store: in-process by default, shared by every node
//! through Redis when `--redis-url` is set (one atomic script per check, Redis's own clock). Refusals are 429
//! with `Retry-After`. The client IP is the socket's, or the nearest `X-Forwarded-For` hop that is not one of the
//! configured trusted proxies — never a header a client could simply set.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use ipnet::IpNet;
use palisade_shield::gcra::{Decision, Local, Rate};

use crate::http::error::{ApiError, error_page, is_api_path};
use crate::state::AppState;

/// What a request is, for its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Login,
    Checkout,
    Search,
    Api,
    Static,
    Page,
}

impl Class {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Login => "login",
            Class::Checkout => "checkout",
            Class::Search => "search",
            Class::Api => "api",
            Class::Static => "static",
            Class::Page => "page",
        }
    }

    /// The class of a request.
    #[must_use]
    pub fn of(method: &str, path: &str) -> Class {
        let post = method == "POST";
        if post
            && (path == "/login"
                || path == "/login/verify"
                || path == "/login/forgot"
                || path == "/login/reset"
                || path == "/register"
                || path == "/sell"
                || path == "/sell/confirm"
                || path == "/console/login"
                || path.starts_with("/api/v1/auth/"))
        {
            Class::Login
        } else if post
            && (path.starts_with("/checkout/")
                || (path.starts_with("/api/v1/stores/")
                    && (path.ends_with("/orders") || path.ends_with("/shipping-rates"))))
        {
            Class::Checkout
        } else if path == "/search" || path == "/api/v1/search" {
            Class::Search
        } else if path.starts_with("/assets/")
            || path.starts_with("/theme/")
            || path.starts_with("/media/")
            || path.ends_with("/theme.css")
        {
            Class::Static
        } else if path.starts_with("/api/") {
            Class::Api
        } else {
            Class::Page
        }
    }
}

/// Limits per class and per store.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    pub enabled: bool,
    pub login: Rate,
    pub checkout: Rate,
    pub search: Rate,
    pub api: Rate,
    pub static_files: Rate,
    pub page: Rate,
    /// All requests to one store's pages and APIs together, from everyone.
    pub per_store: Rate,
    /// `redis://host:port` to share the limits between nodes.
    pub redis_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Prefix of the Redis keys, so several installations can share one Redis.
    pub key_prefix: String,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            login: Rate { per_minute: 30, burst: 20 },
            checkout: Rate { per_minute: 30, burst: 15 },
            search: Rate { per_minute: 120, burst: 60 },
            api: Rate { per_minute: 600, burst: 200 },
            static_files: Rate { per_minute: 3000, burst: 600 },
            page: Rate { per_minute: 600, burst: 200 },
            per_store: Rate { per_minute: 30_000, burst: 5000 },
            redis_url: None,
            trusted_proxies: Vec::new(),
            key_prefix: "palisade".to_owned(),
        }
    }
}

impl LimitsConfig {
    fn rate(&self, class: Class) -> Rate {
        match class {
            Class::Login => self.login,
            Class::Checkout => self.checkout,
            Class::Search => self.search,
            Class::Api => self.api,
            Class::Static => self.static_files,
            Class::Page => self.page,
        }
    }
}

/// GCRA in one Lua script: reads the key, decides with Redis's clock, writes the new TAT with an expiry.
/// Returns 0 when allowed, else the milliseconds to wait.
const SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - tolerance > now then return tat - tolerance - now end
local new = tat + interval
redis.call('SET', KEYS[1], new, 'PX', math.max(1, new - now + tolerance))
return 0
";

/// Which account a session cookie belongs to, remembered for a minute so the limiter reads the database once
/// per session and minute at most.
#[derive(Debug, Default)]
struct Accounts(std::sync::Mutex<std::collections::HashMap<String, (i64, Option<palisade_core::AccountId>)>>);

const ACCOUNT_TTL_MS: i64 = 60_000;

/// The limiter shared by all requests of a node.
#[derive(Clone)]
pub struct Limiter {
    pub config: Arc<LimitsConfig>,
    local: Arc<Local>,
    accounts: Arc<Accounts>,
    redis: Option<redis::aio::ConnectionManager>,
    script: Arc<redis::Script>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("shared", &self.redis.is_some()).finish_non_exhaustive()
    }
}

impl Limiter {
    /// Connects to Redis if configured (an unreachable Redis is an error here, at start, not per request).
    pub async fn new(config: LimitsConfig) -> Result<Self, String> {
        let redis = match &config.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).map_err(|e| format!("bad Redis URL: {e}"))?;
                Some(
                    redis::aio::ConnectionManager::new(client)
                        .await
                        .map_err(|e| format!("cannot reach Redis at {}: {e}", palisade_store::db::redact_url(url)))?,
                )
            }
            None => None,
        };
        Ok(Self {
            config: Arc::new(config),
            local: Arc::new(Local::default()),
            accounts: Arc::new(Accounts::default()),
            redis,
            script: Arc::new(redis::Script::new(SCRIPT)),
        })
    }

    /// An in-process limiter (no Redis), for nodes that are alone.
    #[must_use]
    pub fn local(config: LimitsConfig) -> Self {
        Self {
            config: Arc::new(config),
            local: Arc::new(Local::default()),
            accounts: Arc::new(Accounts::default()),
            redis: None,
            script: Arc::new(redis::Script::new(SCRIPT)),
        }
    }

    /// Checks and counts one request against `key` at `rate`. If Redis fails the node falls back to its own
    /// limits (and says so in `/metrics`) rather than refusing or waving everything through.
    pub async fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Decision {
        if let Some(conn) = &self.redis {
            let mut conn = conn.clone();
            let res: Result<i64, redis::RedisError> = self
                .script
                .key(format!("{}:rl:{key}", self.config.key_prefix))
                .arg(rate.interval_ms())
                .arg(rate.tolerance_ms())
                .invoke_async(&mut conn)
                .await;
            match res {
                Ok(0) => return Decision::Allow,
                Ok(wait) => return Decision::Wait { retry_after_ms: wait },
                Err(e) => {
                    metrics::counter!("palisade_ratelimit_redis_errors_total").increment(1);
                    tracing::warn!(error = %e, "rate limit: Redis failed; using this node's own limits");
                }
            }
        }
        self.local.check(key, now_ms, rate)
    }
}

/// The account behind a request's session cookie, or a key for its API token: limits follow the account
/// whichever addresses it comes from.
async fn principal(state: &AppState, headers: &HeaderMap, now: i64) -> Option<String> {
    use sha2::{Digest, Sha256};
    if let Some(token) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(format!("token:{}", hex::encode(Sha256::digest(token.trim().as_bytes())).get(..32)?));
    }
    let token = crate::http::auth::cookie(headers, crate::http::session::SESSION_COOKIE)?;
    let key = hex::encode(Sha256::digest(token.as_bytes()));
    let accounts = &state.limiter.accounts;
    if let Ok(m) = accounts.0.lock()
        && let Some((at, id)) = m.get(&key)
        && at + ACCOUNT_TTL_MS > now
    {
        return id.map(|id| format!("acct:{id}"));
    }
    // Whose session it is, without counting the request as the session's activity.
    let id = palisade_identity::sessions::find(&state.db, token, palisade_identity::sessions::BUYER)
        .await
        .ok()
        .flatten()
        .map(|s| s.account_id);
    if let Ok(mut m) = accounts.0.lock() {
        if m.len() > 50_000 {
            m.retain(|_, (at, _)| *at + ACCOUNT_TTL_MS > now);
        }
        m.insert(key, (now, id));
    }
    id.map(|id| format!("acct:{id}"))
}

/// The client's address: the socket's, unless that is a trusted proxy, in which case the nearest untrusted hop
/// of `X-Forwarded-For` (read right to left).
#[must_use]
pub fn client_ip(socket: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    // An IPv4 client on a dual-stack listener arrives as `::ffff:a.b.c.d`: compared with IPv4 ranges as itself.
    let socket = socket?.to_canonical();
    if !trusted.iter().any(|n| n.contains(&socket)) {
        return Some(socket);
    }
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect();
    Some(hops.into_iter().rev().find(|ip| !trusted.iter().any(|n| n.contains(ip))).unwrap_or(socket))
}

/// One client, as far as per-address limits can tell: an IPv4 address, or the /64 network of an IPv6 one (a
/// provider gives each line a whole /64, so one host can rotate through its addresses at will). Rate limits,
/// in-flight and connection caps and bans all count by it.
#[must_use]
pub fn network_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

/// The client address of a request under this node's trusted-proxy setting.
#[must_use]
pub fn request_ip(state: &AppState, ext: &axum::http::Extensions, headers: &HeaderMap) -> Option<IpAddr> {
    let socket = ext.get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    client_ip(socket, headers, &state.limiter.config.trusted_proxies)
}

/// The store a path belongs to, for the per-store limit.
fn store_of(path: &str) -> Option<&str> {
    let mut s = path.split('/').filter(|s| !s.is_empty());
    match (s.next(), s.next(), s.next(), s.next(), s.next()) {
        (Some("s" | "checkout"), Some(slug), ..) => Some(slug),
        (Some("api"), Some("v1"), Some("stores"), Some(key), _) => Some(key),
        _ => None,
    }
}

/// The middleware.
pub async fn enforce(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let limiter = &state.limiter;
    if !limiter.config.enabled {
        return next(req).await;
    }
    let Some(ip) = request_ip(state, req.extensions(), req.headers()) else {
        return next(req).await;
    };
    let path = req.uri().path().to_owned();
    let class = Class::of(req.method().as_str(), &path);
    let now = state.db.now().0;
    let client = network_of(ip);
    let mut decision = limiter.check(&format!("ip:{client}:{}", class.as_str()), limiter.config.rate(class), now).await;
    if decision == Decision::Allow
        && let Some(who) = principal(state, req.headers(), now).await
    {
        decision = limiter.check(&format!("{who}:{}", class.as_str()), limiter.config.rate(class), now).await;
    }
    if decision == Decision::Allow
        && let Some(store) = store_of(&path)
    {
        decision = limiter.check(&format!("store:{store}"), limiter.config.per_store, now).await;
    }
    match decision {
        Decision::Allow => next(req).await,
        Decision::Wait { retry_after_ms } => {
            metrics::counter!("palisade_ratelimit_refused_total", "class" => class.as_str()).increment(1);
            too_many(&path, retry_after_ms)
        }
    }
}

fn too_many(path: &str, retry_after_ms: i64) -> Response {
    let secs = (retry_after_ms + 999) / 1000;
    let message = format!("Too many requests. Try again in {secs} s.");
    let mut res = if is_api_path(path) {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).into_response()
    } else {
        (StatusCode::TOO_MANY_REQUESTS, Html(error_page(StatusCode::TOO_MANY_REQUESTS, &message))).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_redis_is_named_without_its_password() {
        // Port 1 on loopback: refused at once.
        let config =
            LimitsConfig { redis_url: Some("redis://:hunter2-secret@127.0.0.1:1/0".into()), ..LimitsConfig::default() };
        let Err(e) = Limiter::new(config).await else { panic!("Redis on port 1 cannot be reached") };
        assert!(e.contains("cannot reach Redis at redis://:***@127.0.0.1:1/0"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 203.0.113.9, 10.1.1.1"));
        let direct: IpAddr = "198.51.100.7".parse().unwrap_or_else(|_| unreachable!());
        let proxy: IpAddr = "10.0.0.2".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(client_ip(Some(direct), &h, &trusted), Some(direct), "a client cannot claim another address");
        assert_eq!(client_ip(Some(proxy), &h, &trusted), "203.0.113.9".parse().ok(), "nearest untrusted hop");
    }

    #[test]
    fn ipv4_on_a_dual_stack_listener_is_read_as_ipv4_and_ipv6_counts_by_its_64() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|_| unreachable!());
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("::ffff:203.0.113.9"));
        // The proxy's mapped address is trusted, and the client it names is plain IPv4.
        assert_eq!(client_ip(Some(ip("::ffff:10.0.0.2")), &h, &trusted), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(Some(ip("::ffff:198.51.100.7")), &h, &trusted), Some(ip("198.51.100.7")));
        assert_eq!(network_of(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_eq!(network_of(ip("2001:db8:1:2::9")), network_of(ip("2001:db8:1:2:ffff::1")));
        assert_ne!(network_of(ip("2001:db8:1:2::9")), network_of(ip("2001:db8:1:3::9")));
        assert_eq!(network_of(ip("198.51.100.7")), ip("198.51.100.7"));
    }

    #[test]
    fn requests_fall_into_their_classes() {
        assert_eq!(Class::of("POST", "/login"), Class::Login);
        assert_eq!(Class::of("POST", "/login/forgot"), Class::Login, "reset mail requests are held like sign-ins");
        assert_eq!(Class::of("POST", "/login/reset"), Class::Login);
        assert_eq!(Class::of("POST", "/sell"), Class::Login, "store applications are held like sign-ups");
        assert_eq!(Class::of("POST", "/api/v1/stores/tea/orders"), Class::Checkout);
        assert_eq!(Class::of("POST", "/api/v1/stores/tea/shipping-rates"), Class::Checkout, "runs plugins");
        assert_eq!(Class::of("GET", "/search"), Class::Search);
        assert_eq!(Class::of("GET", "/media/tea/1"), Class::Static);
        assert_eq!(Class::of("GET", "/api/v1/admin/stores/x/orders"), Class::Api);
        assert_eq!(Class::of("GET", "/s/tea"), Class::Page);
    }
}
