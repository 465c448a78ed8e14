//! Session cookies and the extractors that turn them into a signed-in account.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use palisade_identity::service::lifetime;
use palisade_identity::sessions::{self, Client, Session};
use palisade_store::tenancy::{self, Account, AccountKind};

use crate::http::auth::cookie;
use crate::http::client::ClientAddr;
use crate::http::error::{ApiError, PageError, is_api_path};
use crate::state::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "palisade_session";

/// `Set-Cookie` for a session value (`max_age` 0 clears it).
#[must_use]
pub fn session_cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// The client's (proxy-aware) address and browser, as recorded on sessions and used by sign-in throttling.
#[must_use]
pub fn client_of(state: &AppState, parts: &Parts) -> Client {
    Client {
        ip: ClientAddr::of(state, parts).text(),
        user_agent: parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_owned),
        device: cookie(&parts.headers, palisade_identity::devices::COOKIE).map(str::to_owned),
    }
}

/// Any live session, including one still waiting for its second factor.
#[derive(Debug, Clone)]
pub struct AnySession {
    pub session: Session,
    pub account: Account,
}

/// A fully signed-in account: password and (if set up) second factor passed.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
    pub account: Account,
}

/// Why a request has no usable session.
#[derive(Debug)]
pub enum SessionRejection {
    SignIn { api: bool },
    SecondFactor { api: bool },
    Error(ApiError, bool),
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self {
            SessionRejection::SignIn { api: true } => {
                ApiError::new(axum::http::StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first").into_response()
            }
            SessionRejection::SignIn { api: false } => Redirect::to("/login").into_response(),
            SessionRejection::SecondFactor { api: true } => ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "second_factor_required",
                "complete two-step verification at POST /api/v1/auth/verify",
            )
            .into_response(),
            SessionRejection::SecondFactor { api: false } => Redirect::to("/login/verify").into_response(),
            SessionRejection::Error(e, true) => e.into_response(),
            SessionRejection::Error(e, false) => PageError(e).into_response(),
        }
    }
}

async fn load(parts: &Parts, state: &AppState) -> Result<Option<AnySession>, SessionRejection> {
    let api = is_api_path(parts.uri.path());
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else { return Ok(None) };
    // Sessions of every kind share one table; the account's kind decides the lifetime, so look up with the
    // longest and check the kind's own limits after.
    let found =
        sessions::find(&state.db, token, sessions::BUYER).await.map_err(|e| SessionRejection::Error(e.into(), api))?;
    let Some(session) = found else { return Ok(None) };
    let account = tenancy::get_account(&state.db, session.account_id)
        .await
        .map_err(|e| SessionRejection::Error(e.into(), api))?;
    let life = lifetime(account.kind);
    let now = state.db.now();
    if account.disabled || session.created_at.plus(life.absolute) <= now || session.last_seen_at.plus(life.idle) <= now
    {
        return Ok(None);
    }
    // Activity counts only once the account kind's own limits are met.
    sessions::touch(&state.db, &session).await.map_err(|e| SessionRejection::Error(e.into(), api))?;
    Ok(Some(AnySession { session, account }))
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = is_api_path(parts.uri.path());
        load(parts, state).await?.ok_or(SessionRejection::SignIn { api })
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = is_api_path(parts.uri.path());
        let s = load(parts, state).await?.ok_or(SessionRejection::SignIn { api })?;
        if s.session.mfa_at.is_none() {
            return Err(SessionRejection::SecondFactor { api });
        }
        Ok(SignedIn { session: s.session, account: s.account })
    }
}

/// Where an account lands after signing in.
#[must_use]
pub fn home_of(account: &Account) -> &'static str {
    match account.kind {
        AccountKind::Operator => "/console",
        AccountKind::Staff => "/account",
        // Buyers stay in the shop.
        AccountKind::Buyer => "/",
    }
}

/// Adds the device cookie for `account` (see `palisade_identity::devices`): a year, HttpOnly, this site only.
pub fn with_device_cookie(state: &AppState, mut res: Response, account: palisade_core::AccountId) -> Response {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    let value = state.identity.device_cookie(account);
    let cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000{secure}",
        palisade_identity::devices::COOKIE
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}
