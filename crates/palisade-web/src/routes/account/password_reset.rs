//! "Forgot your password?": asking for a link (`/login/forgot`) and choosing a new password with it
//! (`/login/reset`). The rules (one answer for everyone, throttling, single use, sessions ended) live in
//! `palisade_identity::resets`; these pages only carry them.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use palisade_identity::IdentityError;
use palisade_identity::resets::{self, Requested};
use palisade_store::tenancy::{Account, AccountKind};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::http::client::ClientAddr;
use crate::http::form::Form;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login/forgot", get(forgot_form).post(forgot))
        .route("/login/reset", get(reset_form).post(reset))
}

/// The same words whatever became of the request, so the page tells no one whether an address has an account.
const SENT: &str = "If that address belongs to an account, we have sent it a link to choose a new password. It works \
                    once, for 30 minutes. Nothing arrived? Check the spam folder, or ask again in a few minutes.";

/// A reset page carries a live token: no referrer leaves it, and no cache keeps it.
fn private(html: String, status: StatusCode) -> Response {
    let mut res = (status, Html(html)).into_response();
    let headers = res.headers_mut();
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[derive(Debug, Deserialize)]
struct EmailQuery {
    email: Option<String>,
}

async fn forgot_form(State(state): State<AppState>, Query(q): Query<EmailQuery>) -> Result<Html<String>, PageError> {
    let email = q.email.unwrap_or_default();
    Ok(Html(state.templates.render("forgot.html", json!({"email": email.chars().take(254).collect::<String>()}))?))
}

#[derive(Debug, Deserialize)]
struct ForgotForm {
    email: String,
}

async fn forgot(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(f): Form<ForgotForm>,
) -> Result<Response, PageError> {
    let ip = client.text();
    let outcome = resets::request(&state.identity, &f.email, ip.as_deref(), &state.config.public_url)
        .await
        .map_err(ApiError::from)?;
    let (status, ctx) = match outcome {
        Requested::NotAnAddress => (
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"email": f.email.chars().take(254).collect::<String>(), "error": "Enter the email address you sign in with."}),
        ),
        Requested::LinkSent | Requested::NoAccountNoted | Requested::Throttled => {
            tracing::info!(outcome = ?outcome, "password reset requested");
            (StatusCode::OK, json!({"sent": SENT}))
        }
    };
    Ok((status, Html(state.templates.render("forgot.html", ctx)?)).into_response())
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The page a link that no longer works leads to.
fn dead_link(state: &AppState) -> Result<Response, PageError> {
    let html = state.templates.render(
        "reset.html",
        json!({"dead": "This link no longer works: it was used already, it is older than 30 minutes, or it was copied \
                        incompletely. Ask for a new one below."}),
    )?;
    Ok(private(html, StatusCode::GONE))
}

async fn reset_form(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    match resets::find(&state.db, &token).await.map_err(ApiError::from)? {
        Some(account) => {
            let html = state.templates.render("reset.html", form_context(&account, &token, None))?;
            Ok(private(html, StatusCode::OK))
        }
        None => dead_link(&state),
    }
}

/// The new-password form for `account`, held to the policy of its kind (staff passwords are longer).
fn form_context(account: &Account, token: &str, error: Option<&str>) -> serde_json::Value {
    let staff = account.kind != AccountKind::Buyer;
    json!({
        "token": token, "email": account.email, "error": error,
        "audience": if staff { "staff" } else { "buyer" }, "min_length": if staff { 12 } else { 8 },
    })
}

#[derive(Deserialize)]
struct ResetForm {
    token: String,
    password: String,
    password_repeat: String,
}

impl std::fmt::Debug for ResetForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResetForm([redacted])")
    }
}

async fn reset(State(state): State<AppState>, Form(f): Form<ResetForm>) -> Result<Response, PageError> {
    let again = |state: &AppState, error: &str, account: &Account| -> Result<Response, PageError> {
        let html = state.templates.render("reset.html", form_context(account, &f.token, Some(error)))?;
        Ok(private(html, StatusCode::UNPROCESSABLE_ENTITY))
    };
    let Some(account) = resets::find(&state.db, &f.token).await.map_err(ApiError::from)? else {
        return dead_link(&state);
    };
    if f.password != f.password_repeat {
        return again(&state, "The two passwords are not the same.", &account);
    }
    match resets::complete(&state.identity, &f.token, SecretString::from(f.password.clone())).await {
        Ok(_) => Ok(Redirect::to("/login?reset=1").into_response()),
        Err(IdentityError::InvalidCode) => dead_link(&state),
        Err(e @ (IdentityError::Policy(_) | IdentityError::Password(_))) => again(&state, &e.to_string(), &account),
        Err(e) => Err(PageError(ApiError::from(e))),
    }
}
