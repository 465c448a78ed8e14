//! Operator authentication: a signed-in operator session, a console session opened with a token, or the token.
//!
//! API clients send `Authorization: Bearer pal_op_…`. The console's sign-in form takes the same token and opens a
//! server-side console session (`palisade_store::tokens::open_console_session`); the `HttpOnly; SameSite=Strict`
//! cookie scoped to `/console` holds that session's secret, never the token. Every refusal looks the same to the
//! client; the reason goes to the log.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use palisade_store::scope::OperatorPrincipal;
use palisade_store::tokens;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The console's cookie name.
pub const CONSOLE_COOKIE: &str = "palisade_console";

/// An authenticated operator on the JSON API.
#[derive(Debug, Clone)]
pub struct ApiOperator(pub OperatorPrincipal);

/// An authenticated operator in the HTML console (unauthenticated visitors are sent to the sign-in page).
#[derive(Debug, Clone)]
pub struct ConsoleOperator(pub OperatorPrincipal);

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Reads one cookie's value from the `Cookie` headers.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn authenticate(
    parts: &Parts,
    state: &AppState,
    token: Option<&str>,
) -> Result<Option<OperatorPrincipal>, ApiError> {
    let Some(token) = token else { return Ok(None) };
    let ip = crate::http::client::ClientAddr::of(state, parts).text();
    match tokens::authenticate_operator(&state.db, token, ip.as_deref()).await? {
        Ok(p) => Ok(Some(p)),
        Err(refusal) => {
            tracing::info!(reason = ?refusal, client.ip = ip.as_deref().unwrap_or("-"), "operator token refused");
            Ok(None)
        }
    }
}

impl FromRequestParts<AppState> for ApiOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers);
        authenticate(parts, state, token).await?.map(ApiOperator).ok_or_else(ApiError::unauthenticated)
    }
}

/// Where an unauthenticated console visitor goes.
#[derive(Debug)]
pub enum ConsoleRejection {
    SignIn,
    EnrolMfa,
    Error(ApiError),
}

impl IntoResponse for ConsoleRejection {
    fn into_response(self) -> Response {
        match self {
            ConsoleRejection::SignIn => Redirect::to("/login?next=/console").into_response(),
            ConsoleRejection::EnrolMfa => Redirect::to("/account/security").into_response(),
            ConsoleRejection::Error(e) => crate::http::PageError(e).into_response(),
        }
    }
}

impl FromRequestParts<AppState> for ConsoleOperator {
    type Rejection = ConsoleRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // A signed-in operator session (password + second factor) …
        if let Ok(s) = crate::http::session::SignedIn::from_request_parts(parts, state).await
            && let Some(p) = OperatorPrincipal::from_verified_operator(&s.account)
        {
            return match state.identity.has_mfa(s.account.id).await {
                Ok(true) => Ok(ConsoleOperator(p)),
                // Operators must have MFA: without it they can only reach the enrolment page.
                Ok(false) => Err(ConsoleRejection::EnrolMfa),
                Err(e) => Err(ConsoleRejection::Error(ApiError::from(e))),
            };
        }
        // … or a console session opened with an operator token (the cookie holds the session's secret) …
        if let Some(secret) = cookie(&parts.headers, CONSOLE_COOKIE) {
            match tokens::console_session(&state.db, secret).await {
                Ok(Some(p)) => return Ok(ConsoleOperator(p)),
                Ok(None) => {}
                Err(e) => return Err(ConsoleRejection::Error(e.into())),
            }
        }
        // … or an operator API token itself (256 random bits, issued on the server, shown once), for scripts.
        match authenticate(parts, state, bearer(&parts.headers)).await {
            Ok(Some(p)) => Ok(ConsoleOperator(p)),
            Ok(None) => Err(ConsoleRejection::SignIn),
            Err(e) => Err(ConsoleRejection::Error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn reads_bearer_and_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer pal_op_abc"));
        h.append(header::COOKIE, HeaderValue::from_static("a=1; palisade_console=pal_op_x"));
        assert_eq!(bearer(&h), Some("pal_op_abc"));
        assert_eq!(cookie(&h, CONSOLE_COOKIE), Some("pal_op_x"));
        assert_eq!(cookie(&h, "missing"), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
