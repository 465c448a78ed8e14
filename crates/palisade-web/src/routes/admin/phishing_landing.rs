//! The public landing page of a phishing simulation (`/learn/{token}`), for the store's staff who clicked a
//! simulation mail; outside `/s/` and `/admin`, with no session needed (the token is the capability).
//!
//! The link hit only *opens* a visit (recorded with its method, bounded user agent, `Sec-Fetch-*` and purpose
//! headers and a truncated address) and serves the page that teaches, with a per-visit nonce. A `HEAD` is served
//! exactly like a `GET` (axum answers it with the same handler, without the body) and recorded as `HEAD`, which
//! never counts. The page's script (`/assets/learn.js`, allowed by the CSP's `script-src 'self'`) or its no-script
//! "Continue" button posts `POST /learn/{token}/confirm` with the nonce and the page's CSRF token; whether the
//! visit was a person's is decided when results are read (`palisade_awareness::phish::classify`). Bodies are
//! capped at [`crate::http::layers::LEARN_LIMIT`] by the body-cap layer; each token records at most
//! [`phishing::MAX_HITS_PER_HOUR`] hits an hour.

use std::net::{IpAddr, Ipv4Addr};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use palisade_awareness::phish::classify::{ConfirmKind, FetchHeaders};
use palisade_awareness::phish::{ClickEvent, Confirmation, HitMethod};
use palisade_store::phishing::{self, Hit, LinkAccess};
use serde_json::json;

use crate::http::client::ClientAddr;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

/// What is kept of a header value (characters).
const MAX_HEADER: usize = 256;

fn not_found() -> PageError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "There is no page at this address.").into()
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.chars().take(MAX_HEADER).collect())
}

async fn link_of(state: &AppState, token: &str) -> Result<LinkAccess, PageError> {
    phishing::resolve(&state.db, token).await?.ok_or_else(not_found)
}

/// The hit as the engine sees it.
fn click_event(state: &AppState, link: &LinkAccess, method: &Method, ip: Option<IpAddr>, h: &HeaderMap) -> ClickEvent {
    let method = match *method {
        Method::GET => HitMethod::Get,
        Method::HEAD => HitMethod::Head,
        Method::POST => HitMethod::Post,
        _ => HitMethod::Other,
    };
    let purpose = ["purpose", "sec-purpose", "x-purpose", "x-moz"].iter().find_map(|n| header_text(h, n));
    ClickEvent {
        link: 0,
        delivered_at: phishing::instant(link.delivered_at),
        at: phishing::instant(state.db.now()),
        method,
        user_agent: header_text(h, "user-agent"),
        ip: ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        // Only a country database is configured; the network is unknown (the filter then relies on the rest).
        asn: None,
        headers: FetchHeaders {
            sec_fetch_mode: header_text(h, "sec-fetch-mode"),
            sec_fetch_dest: header_text(h, "sec-fetch-dest"),
            sec_fetch_site: header_text(h, "sec-fetch-site"),
            sec_fetch_user: header_text(h, "sec-fetch-user"),
            accept_language: header_text(h, "accept-language"),
            purpose,
        },
    }
}

fn page(state: &AppState, link: &LinkAccess, token: &str, nonce: Option<&str>) -> Result<Response, PageError> {
    let ctx = json!({
        "store_name": link.store_name, "template": link.template, "token": token, "nonce": nonce,
        "done": nonce.is_none(),
    });
    let mut res = Html(state.templates.render("phishing_landing.html", ctx)?).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex, nofollow"));
    Ok(res)
}

/// `GET`/`HEAD /learn/{token}`: records the hit and serves the page that teaches.
pub(crate) async fn landing(
    State(state): State<AppState>,
    method: Method,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    let link = link_of(&state, &token).await?;
    let hit = click_event(&state, &link, &method, ip, &headers);
    match phishing::record_hit(&state.db, &link, &hit).await? {
        Hit::Recorded { nonce } => page(&state, &link, &token, Some(&nonce)),
        Hit::Limited => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many visits of this link; try later.",
        )
        .into()),
    }
}

fn flag(fields: &[(String, String)], name: &str) -> bool {
    fields.iter().any(|(k, v)| k == name && v == "1")
}

/// `POST /learn/{token}/confirm`: the beacon (`kind=beacon`, answered 204) or the "Continue" button (answered
/// with the page, without its form). Bound to the visit's nonce; a wrong or used nonce records nothing.
pub(crate) async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: String,
) -> Result<Response, PageError> {
    let link = link_of(&state, &token).await?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body)
        .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "unreadable form"))?;
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let nonce = get("nonce").unwrap_or_default();
    let beacon = get("kind") == Some("beacon");
    let kind = if beacon {
        ConfirmKind::Beacon {
            trusted_interaction: flag(&fields, "trusted"),
            visible: flag(&fields, "visible"),
            focused: flag(&fields, "focused"),
            dwell_ms: get("dwell").and_then(|d| d.parse().ok()).unwrap_or(0),
            webdriver: flag(&fields, "webdriver"),
        }
    } else {
        ConfirmKind::Button
    };
    let confirmation = Confirmation {
        at: phishing::instant(state.db.now()),
        kind,
        user_agent: header_text(&headers, "user-agent"),
        asn: None,
    };
    let recorded = phishing::confirm(&state.db, &link, nonce, &confirmation).await?;
    if !recorded {
        tracing::debug!(store.id = %link.store_id(), "phishing confirmation with an unknown or used nonce ignored");
    }
    if beacon { Ok(StatusCode::NO_CONTENT.into_response()) } else { page(&state, &link, &token, None) }
}
