//! The operator console (HTML).

use crate::http::form::Form;
use crate::http::id_path::IdPath;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_store::{audit, matrix, tenancy, tokens};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::http::PageError;
use crate::http::auth::{CONSOLE_COOKIE, ConsoleOperator};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", post(logout))
        .route("/console/stores/{store}/security", get(store_matrix))
        .route("/console/outbox", get(outbox_page))
        .route("/console/retention", get(retention_page))
        .route("/console/disputes", get(disputes_page))
        .route("/console/disputes/{store}/{dispute}/decide", post(decide))
        .route("/console/payment-page", get(payment_page))
        .route("/console/shield", get(shield_page))
        .route("/console/shield/attack-mode", post(set_attack_mode))
        .route("/console/shield/bans/lift", post(lift_ban))
}

/// The firewall's recent decisions across the platform.
async fn shield_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let events = crate::edge::shield::shown(
        palisade_store::shield_events::recent_platform(&state.db, &op.platform_scope(), 200).await?,
    );
    let policy = &state.shield.config.policy;
    let until = palisade_store::settings::get(&state.db, "shield.attack_mode_until")
        .await?
        .and_then(|(v, _)| v.as_i64())
        .filter(|u| *u > state.db.now().0);
    let bans = palisade_store::bans::active(&state.db, state.db.now(), 500).await?;
    let own_modes = palisade_store::firewall::waf_overrides(&state.db, &op.platform_scope()).await?;
    use crate::edge::shield::{BAN_MS, STRIKE_WINDOW_MS, STRIKES_TO_BAN};
    let page = state.templates.render(
        "console_shield.html",
        json!({"operator": op.email(), "is_operator": true, "events": events,
               "mode": policy.mode.as_str(), "paranoia": policy.paranoia, "threshold": policy.threshold,
               "challenge_from": policy.challenge_from, "auto_attack_rps": state.config.auto_attack_rps,
               "exceptions": policy.exceptions,
               "attack_mode_until": until, "bans": bans, "own_modes": own_modes, "ban_minutes": BAN_MS / 60_000,
               "strikes_to_ban": STRIKES_TO_BAN, "strike_window_minutes": STRIKE_WINDOW_MS / 60_000}),
    )?;
    Ok(Html(page))
}

/// Buyer protection's queue: every undecided dispute, oldest first.
async fn disputes_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let list = palisade_commerce::disputes::undecided_cases(&state.db, &op).await?;
    let page = state
        .templates
        .render("console_disputes.html", json!({"operator": op.email(), "is_operator": true, "disputes": list}))?;
    Ok(Html(page))
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    outcome: String,
    note: String,
}

async fn decide(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    IdPath((store, dispute)): IdPath<(String, palisade_core::DisputeId)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, PageError> {
    use palisade_commerce::disputes::{self, Outcome};
    let outcome = match form.outcome.as_str() {
        "buyer" => Outcome::Buyer,
        "merchant" => Outcome::Merchant,
        _ => {
            return Err(crate::http::ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "outcome is buyer or merchant",
            )
            .into());
        }
    };
    let store = crate::routes::resolve_store(&state, &store).await?;
    disputes::decide(&state.db, &op, store, dispute, outcome, &form.note, &state.config.commerce).await?;
    Ok(Redirect::to(&crate::http::notice::saved("/console/disputes", "decided")).into_response())
}

/// The payment page's script inventory and the integrity monitor's recent checks (PCI DSS 6.4.3, 11.6.1).
async fn payment_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let checks = palisade_commerce::payment_page::recent(&state.db, &op.platform_scope(), 20).await?;
    let page = state.templates.render(
        "console_payment_page.html",
        json!({
            "operator": op.email(), "is_operator": true,
            "scripts": &*crate::routes::storefront::checkout::PAYMENT_SCRIPTS,
            "headers": crate::routes::storefront::checkout::PAYMENT_HEADERS,
            "checks": checks,
        }),
    )?;
    Ok(Html(page))
}

async fn home(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    let platform = op.platform_scope();
    let report = state.registry.evaluate_platform(&state.db, &state.facts).await?;
    let stores = tenancy::list_stores(&state.db, &platform).await?;
    let rollup = palisade_store::posture::rollup(&state.db, &platform, &state.registry.merchant_controls()).await?;
    let events = palisade_store::audit_view::platform_named(&state.db, &platform, 20).await?;
    let page = state.templates.render(
        "console.html",
        json!({"operator": op.email(), "is_operator": true, "report": report, "stores": stores, "rollup": rollup,
               "events": events, "core_version": state.config.core_version}),
    )?;
    Ok(Html(page))
}

async fn store_matrix(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Path(store): Path<String>,
) -> Result<Html<String>, PageError> {
    let scope = op.store_scope(crate::routes::resolve_store(&state, &store).await?);
    let store = tenancy::get_store(&state.db, &scope).await?;
    let report = state.registry.evaluate_store(&state.db, &state.facts, &scope).await?;
    let history = matrix::history_store(&state.db, &scope, 20).await?;
    let page = state.templates.render(
        "matrix.html",
        json!({"operator": op.email(), "is_operator": true, "store": store, "report": report, "history": history}),
    )?;
    Ok(Html(page))
}

/// The development mailbox: every message the platform queued, sent or not.
async fn outbox_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let mails = palisade_store::outbox::recent(&state.db, &op.platform_scope(), 100).await?;
    let page =
        state.templates.render("outbox.html", json!({"operator": op.email(), "is_operator": true, "mails": mails}))?;
    Ok(Html(page))
}

/// Personal-data retention: the recent runs and their counts per class (issue #21 item 6).
async fn retention_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let runs = palisade_commerce::retention::recent(&state.db, &op.platform_scope(), 30).await?;
    let page =
        state.templates.render("retention.html", json!({"operator": op.email(), "is_operator": true, "runs": runs}))?;
    Ok(Html(page))
}

async fn login_form(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    Ok(Html(state.templates.render("token_login.html", json!({}))?))
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginForm([redacted])")
    }
}

fn console_cookie(state: &AppState, value: &str, max_age: u64) -> Option<HeaderValue> {
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{CONSOLE_COOKIE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

async fn login(
    State(state): State<AppState>,
    client: crate::http::client::ClientAddr,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let ip = client.text();
    match tokens::open_console_session(&state.db, form.token.trim(), ip.as_deref()).await? {
        Ok((op, session)) => {
            tracing::info!(account.id = %op.account_id(), "operator signed in to the console");
            let mut res = Redirect::to("/console").into_response();
            let max_age = tokens::CONSOLE_SESSION.as_secs();
            if let Some(c) = console_cookie(&state, session.expose_secret(), max_age) {
                res.headers_mut().insert(header::SET_COOKIE, c);
            }
            Ok(res)
        }
        Err(reason) => {
            tracing::info!(?reason, "console sign-in refused");
            let page = state
                .templates
                .render("token_login.html", json!({"error": "That token is not valid (wrong, expired or revoked)."}))?;
            Ok((axum::http::StatusCode::UNAUTHORIZED, Html(page)).into_response())
        }
    }
}

/// Ends the console session behind the request's cookie (the token it was opened with stays valid).
pub(crate) async fn close_console_session(state: &AppState, headers: &axum::http::HeaderMap) -> Result<(), PageError> {
    if let Some(secret) = crate::http::auth::cookie(headers, CONSOLE_COOKIE) {
        tokens::close_console_session(&state.db, secret).await?;
    }
    Ok(())
}

/// Signs the operator out of the console: the console session behind the cookie (which only `/console` paths
/// receive, hence this route) and the account session, if they signed in with a password.
async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: Result<crate::http::session::AnySession, crate::http::session::SessionRejection>,
) -> Result<Response, PageError> {
    close_console_session(&state, &headers).await?;
    if let Ok(s) = s {
        palisade_identity::sessions::revoke(&state.db, s.account.id, &s.session.id).await?;
    }
    let mut res = Redirect::to("/console/login").into_response();
    if let Some(c) = console_cookie(&state, "", 0) {
        res.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(res)
}

#[derive(Debug, Deserialize)]
struct AttackModeForm {
    hours: String,
}

#[derive(Debug, Deserialize)]
struct LiftForm {
    ip: String,
}

/// Lifts a ban on every node: deleted from the shared table (the others drop it at their next read) and from this
/// node's memory at once.
async fn lift_ban(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Form(form): Form<LiftForm>,
) -> Result<Response, PageError> {
    let ip: std::net::IpAddr = form.ip.trim().parse().map_err(|_| {
        PageError(crate::http::ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_ip",
            "That is not an IP address.",
        ))
    })?;
    // Bans are kept by client as limits count them (an IPv6 address by its /64): lifting any address of it lifts it.
    let ip = crate::edge::limits::network_of(ip);
    palisade_store::bans::lift(&state.db, &op.platform_scope(), &ip.to_string()).await?;
    state.shield.bans.lift(ip);
    Ok(Redirect::to(&crate::http::notice::saved("/console/shield", "ban-lifted")).into_response())
}

/// Platform-wide "under attack" mode: every storefront asks for the proof-of-work check.
async fn set_attack_mode(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Form(form): Form<AttackModeForm>,
) -> Result<Response, PageError> {
    let hours: i64 = form.hours.trim().parse().unwrap_or(0).clamp(0, 72);
    let until = if hours > 0 { state.db.now().0 + hours * 3_600_000 } else { 0 };
    palisade_store::settings::put(&state.db, "shield.attack_mode_until", &json!(until)).await?;
    state.rate_watch.forget_switch();
    audit::record_platform_now(
        &state.db,
        &op.platform_scope(),
        audit::NewEvent::new("firewall.attack_mode_set", "platform").details(json!({"hours": hours})),
    )
    .await?;
    Ok(Redirect::to("/console/shield").into_response())
}
