//! Passkey ceremonies over JSON (the browser side is `assets/passkeys.js`), and removal from the account page.

use crate::http::form::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};
use palisade_identity::passkeys::{self, proto};
use palisade_identity::sessions;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::session::{AnySession, SignedIn, session_cookie};
use crate::http::{ApiError, PageError};
use crate::routes::account::sign_in::STEP_UP_WINDOW;
use crate::routes::api::declarations::access;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/account/passkeys/remove", post(remove))
}

/// The passkey ceremonies, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
}

fn rp(state: &AppState) -> Result<&webauthn_rs::Webauthn, ApiError> {
    state.identity.webauthn().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "passkeys_unavailable",
            "passkeys need --public-url with a domain name (e.g. http://localhost:8080)",
        )
    })
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/passkeys/register/start",
    tag = "auth",
    summary = "Begin registering a passkey (WebAuthn creation options)",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn register_start(State(state): State<AppState>, s: SignedIn) -> Result<Json<serde_json::Value>, ApiError> {
    let (challenge, options) = passkeys::start_registration(rp(&state)?, &state.db, &s.account).await?;
    Ok(Json(json!({"challenge": challenge, "options": options})))
}

#[derive(Deserialize, ToSchema)]
struct RegisterFinish {
    challenge: String,
    name: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.create`, as WebAuthn JSON.
    #[schema(value_type = Object)]
    credential: proto::RegisterPublicKeyCredential,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/passkeys/register/finish",
    tag = "auth",
    summary = "Finish registering a passkey (rotates the session)",
    request_body = RegisterFinish,
    responses((status = 200, description = "the passkey", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn register_finish(
    State(state): State<AppState>,
    s: SignedIn,
    crate::http::json::Body(body): crate::http::json::Body<RegisterFinish>,
) -> Result<Response, ApiError> {
    let info = passkeys::finish_registration(
        rp(&state)?,
        &state.db,
        &s.account,
        &body.challenge,
        &body.name,
        &body.credential,
    )
    .await?;
    // The account's protection changed: new session id.
    let token = sessions::rotate(&state.db, &s.session).await?;
    let mut res = Json(json!({"passkey": info})).into_response();
    if let Some(c) = session_cookie(&state, token.expose_secret(), 12 * 3600) {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    Ok(res)
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/passkeys/login/start",
    tag = "auth",
    summary = "Begin a passkey second factor (WebAuthn request options)",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SESSION)))
)]
async fn login_start(State(state): State<AppState>, s: AnySession) -> Result<Json<serde_json::Value>, ApiError> {
    let (challenge, options) = passkeys::start_authentication(rp(&state)?, &state.db, s.account.id).await?;
    Ok(Json(json!({"challenge": challenge, "options": options})))
}

#[derive(Deserialize, ToSchema)]
struct LoginFinish {
    challenge: String,
    /// The browser's `PublicKeyCredential` from `navigator.credentials.get`, as WebAuthn JSON.
    #[schema(value_type = Object)]
    credential: proto::PublicKeyCredential,
    /// Where to go afterwards (the sign-in page's return path); only a local path is honoured, anything else
    /// answers the account's home as `next`.
    #[serde(default)]
    next: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/passkeys/login/finish",
    tag = "auth",
    summary = "Finish a passkey second factor (rotates the session)",
    request_body = LoginFinish,
    responses((status = 200, description = "signed_in, with where to go next", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SESSION)))
)]
/// As the code form of the second step does: the guest cart of this browser joins the account's, the return
/// path is honoured when it is local, and the browser is remembered as a known device.
async fn login_finish(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: AnySession,
    crate::http::json::Body(body): crate::http::json::Body<LoginFinish>,
) -> Result<Response, ApiError> {
    passkeys::finish_authentication(rp(&state)?, &state.db, &s.session, &body.challenge, &body.credential).await?;
    let token = sessions::rotate(&state.db, &s.session).await?;
    let dropped =
        crate::routes::storefront::catalog::merge_guest_cart(&state, &headers, s.account.id).await.map_err(|e| e.0)?;
    let next = body
        .next
        .filter(|n| crate::http::is_local_path(n))
        .unwrap_or_else(|| crate::http::session::home_of(&s.account).to_owned());
    let mut res = Json(json!({"status": "signed_in", "next": next})).into_response();
    for c in [dropped, session_cookie(&state, token.expose_secret(), 12 * 3600)].into_iter().flatten() {
        res.headers_mut().append(axum::http::header::SET_COOKIE, c);
    }
    Ok(crate::http::session::with_device_cookie(&state, res, s.account.id))
}

#[derive(Deserialize)]
struct RemoveForm {
    id: String,
}

async fn remove(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<RemoveForm>,
) -> Result<Response, PageError> {
    if !sessions::is_fresh(&s.session, state.db.now(), STEP_UP_WINDOW) {
        return Ok(Redirect::to("/account/reauth?next=/account").into_response());
    }
    // Operators keep at least one second factor.
    let remaining = passkeys::list(&state.db, s.account.id).await?.len();
    if s.account.kind == palisade_store::tenancy::AccountKind::Operator
        && remaining <= 1
        && !state.identity.has_totp(s.account.id).await?
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_allowed",
            "platform operators must keep a second factor",
        )
        .into());
    }
    passkeys::remove(&state.db, &s.account, &form.id).await?;
    Ok(Redirect::to("/account").into_response())
}
