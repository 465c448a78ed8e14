//! "Sell on Palisade" (`/sell`): the application for a store, and the page its mailed link opens, where the
//! address's owner confirms it (a POST) and chooses the account's password. The rules (confirmation first, one
//! answer for every address, throttling, operator review or opening at once) live in
//! `palisade_identity::applications`; these pages carry them.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use palisade_core::money::Currency;
use palisade_core::text::{Email, Slug, display_name};
use palisade_identity::IdentityError;
use palisade_identity::applications::{self, Confirmed, NewApplication, SignupMode, Submitted};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::http::client::ClientAddr;
use crate::http::form::Form;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/sell", get(sell_form).post(apply)).route("/sell/confirm", get(confirm_form).post(confirm))
}

/// The currencies a new store may choose on this page (any ISO 4217 code works from the console and the CLI).
const CURRENCIES: [&str; 8] = ["SGD", "MYR", "THB", "IDR", "PHP", "VND", "USD", "JPY"];

/// The same words whatever became of the application, so the page tells no one whether an address has an account.
const SENT: &str = "Thank you. We have sent a link to the address you gave: open it within 24 hours to confirm the \
                    application. Nothing arrived? Check the spam folder.";

async fn sell_form(State(state): State<AppState>) -> Result<Response, PageError> {
    let mode = SignupMode::current(&state.db).await.map_err(ApiError::from)?;
    render(&state, StatusCode::OK, json!({"mode": mode, "currencies": CURRENCIES, "currency": "SGD"}))
}

fn render(state: &AppState, status: StatusCode, ctx: serde_json::Value) -> Result<Response, PageError> {
    let mut res = (status, Html(state.templates.render("sell.html", ctx)?)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[derive(Deserialize)]
struct ApplyForm {
    name: String,
    email: String,
    store_name: String,
    slug: String,
    currency: String,
    terms: Option<String>,
}

impl std::fmt::Debug for ApplyForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyForm").field("email", &self.email).field("slug", &self.slug).finish_non_exhaustive()
    }
}

/// Each field parsed into its type, or the first refusal in words for the applicant.
fn parse(f: &ApplyForm) -> Result<NewApplication, String> {
    let email = Email::parse(f.email.trim()).map_err(|e| e.to_string())?;
    let name = display_name("your name", &f.name).map_err(|e| e.to_string())?;
    let store_name = display_name("the store's name", &f.store_name).map_err(|e| e.to_string())?;
    let slug = Slug::parse(f.slug.trim()).map_err(|e| format!("the store's address: {e}"))?;
    let currency = CURRENCIES
        .iter()
        .find(|c| **c == f.currency)
        .and_then(|c| Currency::parse(c).ok())
        .ok_or_else(|| "choose the store's currency from the list".to_owned())?;
    if f.terms.as_deref() != Some("yes") {
        return Err("to sell here, accept the platform's terms".into());
    }
    Ok(NewApplication { email, name, store_name, slug, currency })
}

async fn apply(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(f): Form<ApplyForm>,
) -> Result<Response, PageError> {
    let retry = |error: &str| {
        let ctx = json!({"mode": "review", "currencies": CURRENCIES, "error": error, "name": f.name, "email": f.email,
                         "store_name": f.store_name, "slug": f.slug, "currency": f.currency});
        render(&state, StatusCode::UNPROCESSABLE_ENTITY, ctx)
    };
    let app = match parse(&f) {
        Ok(app) => app,
        Err(e) => return retry(&e),
    };
    let ip = client.text();
    match applications::submit(&state.identity, app, ip.as_deref(), &state.config.public_url).await {
        Ok(Submitted::Mailed | Submitted::Throttled) => render(&state, StatusCode::OK, json!({"sent": SENT})),
        Ok(Submitted::Closed) => render(&state, StatusCode::OK, json!({"mode": "closed"})),
        Err(IdentityError::NotAllowed(why)) => retry(why),
        Err(e) => Err(PageError(ApiError::from(e))),
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// A page that carries a live token: no referrer leaves it, no cache keeps it.
fn private(mut res: Response) -> Response {
    res.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

/// The link's page: the application and a button (and, for a new account, its password). Opening it changes
/// nothing, so a mail scanner that fetches the link confirms nothing.
async fn confirm_form(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    let res = match applications::unconfirmed(&state.db, &token).await.map_err(ApiError::from)? {
        Some(app) => render(&state, StatusCode::OK, json!({"confirming": app, "token": token}))?,
        None => render(&state, StatusCode::GONE, json!({"confirmed": "dead"}))?,
    };
    Ok(private(res))
}

#[derive(Deserialize)]
struct ConfirmForm {
    token: String,
    #[serde(default)]
    password: String,
}

impl std::fmt::Debug for ConfirmForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfirmForm([redacted])")
    }
}

async fn confirm(State(state): State<AppState>, Form(f): Form<ConfirmForm>) -> Result<Response, PageError> {
    let password = SecretString::from(f.password.clone());
    let outcome = applications::confirm(&state.identity, &f.token, password, &state.config.public_url).await;
    let (status, ctx) = match outcome {
        Ok(Confirmed::Pending) => (StatusCode::OK, json!({"confirmed": "pending"})),
        Ok(Confirmed::Opened { slug }) => (StatusCode::OK, json!({"confirmed": "open", "slug": slug})),
        Ok(Confirmed::Invalid) => (StatusCode::GONE, json!({"confirmed": "dead"})),
        Err(IdentityError::Policy(why)) => {
            let app = applications::unconfirmed(&state.db, &f.token).await.map_err(ApiError::from)?;
            let ctx = json!({"confirming": app, "token": f.token, "error": why.to_string()});
            (StatusCode::UNPROCESSABLE_ENTITY, ctx)
        }
        Err(e) => return Err(PageError(ApiError::from(e))),
    };
    Ok(private(render(&state, status, ctx)?))
}
