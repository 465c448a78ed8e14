//! Synchronizer tokens: the second line of CSRF defence, behind tower-http's `Sec-Fetch-Site`/`Origin` check.
//!
//! The header check stops other sites; it cannot stop a form that reaches the browser from our own origin (a
//! merchant theme is served from it). So every state-changing request outside the JSON API must also carry the
//! token of the browser it comes from, which only the platform's own templates receive: in the form field
//! [`FIELD`] (urlencoded or multipart bodies) or, for scripts, the [`HEADER`] header. The token is an HMAC of the
//! session cookie, or for a visitor without a session of a random pre-session cookie ([`VISITOR_COOKIE`], set
//! the first time a page with a form is rendered for them); see `palisade_identity::csrf`.
//!
//! One middleware ([`synchronize`]) checks every such request, whatever its content type (a `text/plain` form
//! or an empty body is refused too), and makes the request's token available to the templates rendering its
//! response ([`token`]). Exempt: requests that authenticate with a bearer token and send no cookie at all
//! (nothing ambient to abuse).
//!
//! The API under `/api/` takes no synchronizer token in a body, but it does accept the session cookie, and several
//! of its state-changing calls have no body at all (sign-out, shipping an order, removing a firewall rule), which
//! a plain same-origin `<form>` could send. So a state-changing API call that carries cookies and no
//! `Authorization` header must prove it is not a form ([`api_call_allowed`]): `Content-Type: application/json`
//! (no form can send it, and a page of another origin cannot without a CORS preflight, which the API never grants)
//! or the [`HEADER`] token. A call that sends an `Authorization` header is exempt, and its cookies are dropped
//! before any handler sees them ([`bearer_or_cookies`]): it is answered with its own credentials or not at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use palisade_identity::csrf::Binding;
use rand::RngCore;

use crate::http::auth::cookie;
use crate::http::error::{error_page, is_api_path};
use crate::http::session::SESSION_COOKIE;
use crate::state::AppState;

/// The form field that carries the token.
pub const FIELD: &str = "csrf";
/// The header that may carry the token instead (for scripts; forms cannot set headers).
pub const HEADER: &str = "x-csrf-token";
/// The pre-session cookie a visitor's token is bound to until they sign in.
pub const VISITOR_COOKIE: &str = "palisade_visitor";

/// The request's binding, and its token once a template asked for it. Most requests (assets, health checks,
/// JSON, pages without forms) never do, so neither the HMAC nor a fresh visitor id is computed up front.
struct Current {
    state: AppState,
    /// The session cookie's value, or the visitor cookie's; `None` for a visitor without one yet.
    value: Option<String>,
    is_session: bool,
    /// A new visitor id, made when the first token is asked for (the response then sets it as a cookie).
    fresh: std::sync::OnceLock<String>,
    token: std::sync::OnceLock<String>,
    used: AtomicBool,
}

impl Current {
    fn token(&self) -> &str {
        self.token.get_or_init(|| {
            let value = match &self.value {
                Some(v) => v.as_str(),
                None => self.fresh.get_or_init(new_visitor).as_str(),
            };
            let binding = if self.is_session { Binding::Session(value) } else { Binding::Visitor(value) };
            self.state.identity.csrf().token(binding)
        })
    }
}

tokio::task_local! {
    static CURRENT: Arc<Current>;
}

/// The synchronizer token of the request being answered, for a template to put in its forms; empty outside a
/// request (a form rendered there would be refused, which fails closed).
#[must_use]
pub fn token() -> String {
    CURRENT
        .try_with(|c| {
            c.used.store(true, Ordering::Relaxed);
            c.token().to_owned()
        })
        .unwrap_or_default()
}

/// Whether the request being answered carries a session cookie (signed in with an account, as opposed to a visitor
/// or a console session opened with a token): pages use it to offer account links only to those who can open them.
#[must_use]
pub fn has_session() -> bool {
    CURRENT.try_with(|c| c.is_session).unwrap_or(false)
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// A pre-session cookie value: 32 hex digits (anything else is replaced).
fn valid_visitor(v: &str) -> bool {
    v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

fn new_visitor() -> String {
    let mut raw = [0u8; 16];
    rand::rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn refusal() -> Response {
    let msg = "This form has expired or did not come from this site, so it was not sent (CSRF protection). \
               Go back, reload the page and try again.";
    let mut res = (StatusCode::FORBIDDEN, Html(error_page(StatusCode::FORBIDDEN, msg))).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn media_type(req: &Request) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The token a form body carries, if any.
async fn token_in_body(content_type: &str, media: &str, body: &Bytes) -> Option<String> {
    match media {
        "application/x-www-form-urlencoded" => {
            form_urlencoded::parse(body).find(|(k, _)| k == FIELD).map(|(_, v)| v.into_owned())
        }
        "multipart/form-data" => {
            let req =
                Request::builder().header(header::CONTENT_TYPE, content_type).body(Body::from(body.clone())).ok()?;
            let mut form = axum::extract::Multipart::from_request(req, &()).await.ok()?;
            while let Ok(Some(field)) = form.next_field().await {
                if field.name() == Some(FIELD) {
                    return field.text().await.ok();
                }
            }
            None
        }
        _ => None,
    }
}

/// Whether a request to the JSON API may go on: safe methods, calls without cookies or with an `Authorization`
/// header (neither is ambient: a form cannot set the header), and cookie-carrying calls that a form could not
/// have sent — a JSON body, or the browser's own token in the [`HEADER`] header.
fn api_call_allowed(req: &Request, signer: &palisade_identity::csrf::CsrfSigner) -> bool {
    let headers = req.headers();
    if is_safe(req.method()) || !headers.contains_key(header::COOKIE) || headers.contains_key(header::AUTHORIZATION) {
        return true;
    }
    if media_type(req) == "application/json" {
        return true;
    }
    let Some(token) = headers.get(HEADER).and_then(|v| v.to_str().ok()) else { return false };
    match (cookie(headers, SESSION_COOKIE), cookie(headers, VISITOR_COOKIE).filter(|v| valid_visitor(v))) {
        (Some(s), _) => signer.verify(Binding::Session(s), token),
        (None, Some(v)) => signer.verify(Binding::Visitor(v), token),
        (None, None) => false,
    }
}

/// An API call that sends an `Authorization` header is exempt from the checks above because no form can send one,
/// so it must not be answered with the authority of the cookies it also carries: they are dropped, and the call
/// stands or falls with its credentials alone (an unknown bearer is a 401, never a fall-back to the session).
fn bearer_or_cookies(mut req: Request) -> Request {
    if req.headers().contains_key(header::AUTHORIZATION) {
        req.headers_mut().remove(header::COOKIE);
    }
    req
}

fn api_refusal() -> Response {
    crate::http::ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "a state-changing API call that carries cookies must send a JSON body (Content-Type: application/json) \
         or the x-csrf-token header",
    )
    .into_response()
}

/// Checks the token of every state-changing non-API request and lends the request's token to its templates;
/// holds cookie-carrying API calls to [`api_call_allowed`].
pub async fn synchronize(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let signer = state.identity.csrf();
    if is_api_path(req.uri().path()) {
        if api_call_allowed(&req, signer) {
            return next(bearer_or_cookies(req)).await;
        }
        tracing::info!(http.path = %req.uri().path(), "API call refused: cookies without a JSON body or token");
        return api_refusal();
    }
    let headers = req.headers();
    let session = cookie(headers, SESSION_COOKIE).map(str::to_owned);
    let visitor = cookie(headers, VISITOR_COOKIE).filter(|v| valid_visitor(v)).map(str::to_owned);
    let (value, is_session) = match (session, visitor) {
        (Some(s), _) => (Some(s), true),
        (None, Some(v)) => (Some(v), false),
        (None, None) => (None, false),
    };

    let req = if is_safe(req.method()) {
        req
    } else {
        let bearer_only = !headers.contains_key(header::COOKIE)
            && headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.len() > 7 && v.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")));
        if bearer_only {
            return next(req).await;
        }
        let in_header = headers.get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let content_type =
            headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let media = media_type(&req);
        let (parts, body) = req.into_parts();
        // The body is already held to the route's limit (`layers::cap_body`, outside this layer).
        let bytes = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(b) => b,
            Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        };
        let submitted = match in_header {
            Some(t) => Some(t),
            None => token_in_body(&content_type, &media, &bytes).await,
        };
        // A visitor without a cookie has no token yet: nothing they submit can be right.
        let verified = value.as_deref().is_some_and(|v| {
            let binding = if is_session { Binding::Session(v) } else { Binding::Visitor(v) };
            submitted.is_some_and(|t| signer.verify(binding, &t))
        });
        if !verified {
            tracing::info!(http.path = %parts.uri.path(), "form refused: missing or wrong synchronizer token");
            return refusal();
        }
        Request::from_parts(parts, Body::from(bytes))
    };

    let current = Arc::new(Current {
        state: state.clone(),
        value,
        is_session,
        fresh: std::sync::OnceLock::new(),
        token: std::sync::OnceLock::new(),
        used: AtomicBool::new(false),
    });
    let mut res = CURRENT.scope(current.clone(), next(req)).await;
    if let Some(fresh) = current.fresh.get()
        && current.used.load(Ordering::Relaxed)
    {
        let secure = if state.config.behind_tls { "; Secure" } else { "" };
        let c = format!("{VISITOR_COOKIE}={fresh}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}");
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visitor_cookies_must_look_like_ours() {
        assert!(valid_visitor(&new_visitor()));
        assert!(!valid_visitor("short"));
        assert!(!valid_visitor(&"g".repeat(32)));
    }
}
