//! Load shedding: when the node is saturated it answers 503 at once rather than queueing, and it sheds by
//! priority — checkout, sign-in and the admin keep the whole capacity, browsing gets most of it, static files and
//! bots the rest. One client address may not hold more than a share of the node either.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::edge::limits::Class;
use crate::http::error::{ApiError, error_page, is_api_path};
use crate::state::AppState;

/// How much of the capacity each tier may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// Money and access: checkout, sign-in, the store admin, the console.
    Critical,
    /// Shopping pages, search, the API.
    Normal,
    /// Static files, and clients that say they are bots.
    Low,
}

impl Tier {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Critical => "critical",
            Tier::Normal => "normal",
            Tier::Low => "low",
        }
    }

    /// Percent of the capacity this tier may fill.
    fn share(self) -> usize {
        match self {
            Tier::Critical => 100,
            Tier::Normal => 85,
            Tier::Low => 60,
        }
    }

    /// The tier of a request.
    #[must_use]
    pub fn of(method: &str, path: &str, user_agent: Option<&str>) -> Tier {
        let ua = user_agent.unwrap_or("").to_ascii_lowercase();
        if ua.is_empty()
            || ["bot", "crawler", "spider", "slurp", "curl/", "python-requests", "wget/", "go-http-client"]
                .iter()
                .any(|b| ua.contains(b))
        {
            return Tier::Low;
        }
        match Class::of(method, path) {
            Class::Login | Class::Checkout => Tier::Critical,
            _ if path.starts_with("/admin") || path.starts_with("/api/v1/admin") || path.starts_with("/console") => {
                Tier::Critical
            }
            Class::Static => Tier::Low,
            _ => Tier::Normal,
        }
    }
}

/// Shedding settings.
#[derive(Debug, Clone, Copy)]
pub struct SheddingConfig {
    pub enabled: bool,
    /// Requests in flight on this node at most.
    pub capacity: usize,
    /// Requests in flight from one address at most.
    pub per_ip: usize,
}

impl Default for SheddingConfig {
    fn default() -> Self {
        Self { enabled: true, capacity: 512, per_ip: 64 }
    }
}

/// In-flight counters.
#[derive(Debug, Default)]
pub struct Inflight {
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Borrows the counters (the request's future holds the state): no reference count shared by both cores is
/// touched per request.
struct Guard<'a> {
    inflight: &'a Inflight,
    ip: Option<IpAddr>,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        self.inflight.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip
            && let Ok(mut m) = self.inflight.per_ip.lock()
            && let Some(n) = m.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Why a request was shed.
enum Shed {
    Saturated(Tier),
    PerIp,
}

impl Inflight {
    fn enter(&self, cfg: &SheddingConfig, tier: Tier, ip: Option<IpAddr>) -> Result<Guard<'_>, Shed> {
        let limit = cfg.capacity * tier.share() / 100;
        let now = self.total.fetch_add(1, Ordering::AcqRel);
        let guard = Guard { inflight: self, ip: None };
        if now >= limit {
            return Err(Shed::Saturated(tier));
        }
        if let Some(ip) = ip {
            let Ok(mut m) = self.per_ip.lock() else { return Ok(guard) };
            let n = m.entry(ip).or_insert(0);
            if *n >= cfg.per_ip {
                return Err(Shed::PerIp);
            }
            *n += 1;
            drop(m);
            let mut guard = guard;
            guard.ip = Some(ip);
            return Ok(guard);
        }
        Ok(guard)
    }

    /// Requests in flight now.
    #[must_use]
    pub fn current(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }
}

/// The middleware.
pub async fn shed(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let cfg = state.config.shedding;
    if !cfg.enabled {
        return next(req).await;
    }
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    let tier = Tier::of(req.method().as_str(), req.uri().path(), ua);
    // The client, not a trusted proxy in front of it: behind a proxy every client would share one budget.
    let ip =
        crate::edge::limits::request_ip(state, req.extensions(), req.headers()).map(crate::edge::limits::network_of);
    match state.inflight.enter(&cfg, tier, ip) {
        Ok(guard) => {
            // The handle is looked up once (after `AppState::new` installed the recorder), not per request.
            static INFLIGHT: std::sync::OnceLock<metrics::Gauge> = std::sync::OnceLock::new();
            INFLIGHT.get_or_init(|| metrics::gauge!("palisade_inflight_requests")).set(state.inflight.current() as f64);
            let res = next(req).await;
            drop(guard);
            res
        }
        Err(why) => {
            let (label, message) = match why {
                Shed::Saturated(t) => (t.as_str(), "The shop is very busy right now. Please try again in a moment."),
                Shed::PerIp => ("per_ip", "Too many requests at once from your address. Please try again in a moment."),
            };
            metrics::counter!("palisade_shed_total", "reason" => label).increment(1);
            let path = req.uri().path();
            let mut res = if is_api_path(path) {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message).into_response()
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, Html(error_page(StatusCode::SERVICE_UNAVAILABLE, message)))
                    .into_response()
            };
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tiers_follow_what_the_request_is_for() {
        let chrome = Some("Mozilla/5.0 Chrome/131");
        assert_eq!(Tier::of("POST", "/checkout/tea", chrome), Tier::Critical);
        assert_eq!(Tier::of("GET", "/admin/stores/x/orders", chrome), Tier::Critical);
        assert_eq!(Tier::of("GET", "/s/tea", chrome), Tier::Normal);
        assert_eq!(Tier::of("GET", "/assets/console.css", chrome), Tier::Low);
        assert_eq!(Tier::of("GET", "/s/tea", Some("Googlebot/2.1")), Tier::Low);
        assert_eq!(Tier::of("GET", "/s/tea", None), Tier::Low);
    }

    #[test]
    fn lower_tiers_are_shed_first_and_slots_come_back() {
        let cfg = SheddingConfig { enabled: true, capacity: 10, per_ip: 100 };
        let inflight = Arc::new(Inflight::default());
        let held: Vec<Guard> = (0..6).filter_map(|_| inflight.enter(&cfg, Tier::Low, None).ok()).collect();
        assert_eq!(held.len(), 6, "low may fill 60%");
        assert!(inflight.enter(&cfg, Tier::Low, None).is_err());
        let normal: Vec<Guard> = (0..3).filter_map(|_| inflight.enter(&cfg, Tier::Normal, None).ok()).collect();
        assert_eq!(normal.len(), 2, "normal may fill 85%: 8 of 10");
        assert!(inflight.enter(&cfg, Tier::Critical, None).is_ok(), "critical still gets in");
        drop(held);
        assert!(inflight.enter(&cfg, Tier::Low, None).is_ok());
    }

    #[test]
    fn one_address_cannot_take_the_node() {
        let cfg = SheddingConfig { enabled: true, capacity: 100, per_ip: 2 };
        let inflight = Arc::new(Inflight::default());
        let ip: IpAddr = [203, 0, 113, 5].into();
        let a = inflight.enter(&cfg, Tier::Normal, Some(ip));
        let b = inflight.enter(&cfg, Tier::Normal, Some(ip));
        assert!(a.is_ok() && b.is_ok());
        assert!(inflight.enter(&cfg, Tier::Normal, Some(ip)).is_err());
        assert!(inflight.enter(&cfg, Tier::Normal, Some([203, 0, 113, 6].into())).is_ok());
    }
}
