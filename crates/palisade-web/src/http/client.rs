//! The client's address, decided once for every use.
//!
//! Behind a load balancer the socket's address is the balancer's: sign-in and sign-up throttling, new-device
//! alerts, the address recorded on sessions, token-use audits, rate limits and the admin allow-list must all see
//! the same client, or every user shares one counter. [`ClientAddr`] is that one value: the socket's address,
//! or — when the socket is one of the configured trusted proxies — the nearest `X-Forwarded-For` hop that is
//! not ([`crate::edge::limits::client_ip`]). A header from anyone else is ignored.

use std::convert::Infallible;
use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::state::AppState;

/// The proxy-aware client address of a request (`None` only when the request did not come over a socket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address of the request whose head is `parts`, under this node's trusted-proxy setting.
    #[must_use]
    pub fn of(state: &AppState, parts: &Parts) -> ClientAddr {
        ClientAddr(crate::edge::limits::request_ip(state, &parts.extensions, &parts.headers))
    }

    /// The address as text, as stored on sessions, throttle keys and audit events.
    #[must_use]
    pub fn text(self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(state, parts))
    }
}
