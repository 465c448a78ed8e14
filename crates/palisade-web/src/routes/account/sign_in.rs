//! Sign-in, two-step verification and the account's own security page (HTML), plus the JSON auth API.

use std::time::Duration;

use crate::http::form::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use palisade_identity::sessions::{self, Client};
use palisade_identity::{IdentityError, LoginOutcome, StepUp};
use palisade_store::tenancy::Account;
use qrcode::QrCode;
use qrcode::render::svg;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::auth::CONSOLE_COOKIE;
use crate::http::session::{
    AnySession, SessionRejection, SignedIn, client_of, home_of, session_cookie, with_device_cookie,
};
use crate::http::{ApiError, PageError};
use crate::routes::api::declarations::{ErrorEnvelope, access};
use crate::state::AppState;

/// Sensitive actions need the password re-entered within this window.
pub const STEP_UP_WINDOW: Duration = Duration::from_secs(10 * 60);

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/login/verify", get(verify_form).post(verify))
        .route("/register", get(register_form).post(register))
        .route("/logout", post(logout))
        .route("/account", get(account_page))
        .route("/account/security", get(security_page))
        .route("/account/reauth", get(reauth_form).post(reauth))
        .route("/account/security/totp", post(totp_start))
        .route("/account/security/totp/confirm", post(totp_confirm))
        .route("/account/security/totp/disable", post(totp_disable))
        .route("/account/security/recovery-codes", post(recovery_codes))
        .route("/account/sessions/revoke", post(revoke_session))
        .route("/account/sessions/revoke-others", post(revoke_others))
}

/// The JSON auth endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(password_strength))
        .routes(routes!(api_login))
        .routes(routes!(api_verify))
        .routes(routes!(api_logout))
        .routes(routes!(api_me))
        .routes(routes!(api_totp_start))
        .routes(routes!(api_totp_confirm))
}

/// The client (IP, browser) of the current request.
pub(crate) struct ClientInfo(pub(crate) Client);

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo(client_of(state, parts)))
    }
}

/// Only same-site paths may be redirect targets (no open redirects; see [`crate::http::is_local_path`]).
fn safe_next(next: Option<&str>) -> Option<String> {
    next.filter(|n| crate::http::is_local_path(n)).map(str::to_owned)
}

/// `path`, with `?next=` added when there is a place to return to.
fn with_next(path: &str, next: Option<&str>) -> String {
    match safe_next(next) {
        Some(n) => format!("{path}?next={}", crate::routes::storefront::catalog::urlencode(&n)),
        None => path.to_owned(),
    }
}

/// Where an account lands after signing in when it came from nowhere in particular: buyers in the shop.
fn landing(account: &Account) -> String {
    home_of(account).to_owned()
}

/// Where the account's security settings are: the shop's account area for buyers, the platform's account page
/// for staff and operators.
pub(crate) fn security_home(account: &Account) -> &'static str {
    if account.kind == palisade_store::tenancy::AccountKind::Buyer { "/account/security" } else { "/account" }
}

/// The sign-in page, in the shop's look.
async fn login_page(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ctx: serde_json::Value,
    status: StatusCode,
) -> Result<Response, PageError> {
    let next = ctx.get("next").and_then(serde_json::Value::as_str).map(str::to_owned);
    let mut ctx = ctx;
    if let Some(o) = ctx.as_object_mut() {
        o.insert("register_url".into(), json!(with_next("/register", next.as_deref())));
    }
    crate::routes::storefront::catalog::shop_page(state, headers, None, "login.html", ctx, status).await
}

fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

fn page(state: &AppState, name: &str, ctx: serde_json::Value) -> Result<Html<String>, PageError> {
    Ok(Html(state.templates.render(name, ctx)?))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
    /// Set after a sign-up (the same whether or not the address was new).
    registered: Option<String>,
    /// Set after a password was reset with a mailed link.
    reset: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let notice = if q.registered.is_some() {
        Some(
            "Thank you. We have sent you an email about your account: once it is ready, sign in here with your password.",
        )
    } else if q.reset.is_some() {
        Some("Your password is changed and every device was signed out. Sign in with the new password.")
    } else {
        None
    };
    let ctx = json!({"next": safe_next(q.next.as_deref()).unwrap_or_default(), "notice": notice});
    login_page(&state, &headers, ctx, StatusCode::OK).await
}

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm").field("email", &self.email).finish_non_exhaustive()
    }
}

/// A page's answer while password attempts are throttled (sign-in, re-entering the password).
fn throttled_page(state: &AppState, until: palisade_core::Timestamp) -> Response {
    let (error, secs) = throttled(state, until);
    with_retry_after(PageError(error).into_response(), &secs)
}

/// The JSON API's answer while password attempts are throttled.
fn throttled_api(state: &AppState, until: palisade_core::Timestamp) -> Response {
    let (error, secs) = throttled(state, until);
    with_retry_after(error.into_response(), &secs)
}

/// The error and the whole seconds (at least one) until the next attempt is allowed.
fn throttled(state: &AppState, until: palisade_core::Timestamp) -> (ApiError, String) {
    let secs = ((until.0 - state.db.now().0).max(1000) / 1000).to_string();
    let message = format!("too many failed attempts; try again in {secs} s");
    (ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", message), secs)
}

fn with_retry_after(mut res: Response, secs: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(secs) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ClientInfo(client): ClientInfo,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    let outcome = state.identity.login(&form.email, SecretString::from(form.password), &client).await?;
    Ok(match outcome {
        LoginOutcome::SignedIn { token, session } => {
            let account = palisade_store::tenancy::get_account(&state.db, session.account_id).await?;
            let to = next.unwrap_or_else(|| landing(&account));
            let dropped = crate::routes::storefront::catalog::merge_guest_cart(&state, &headers, account.id).await?;
            let res = with_cookie(
                with_cookie(Redirect::to(&to).into_response(), dropped),
                session_cookie(&state, token.expose_secret(), 12 * 3600),
            );
            with_device_cookie(&state, res, account.id)
        }
        LoginOutcome::SecondFactor { token, .. } => with_cookie(
            Redirect::to(&with_next("/login/verify", next.as_deref())).into_response(),
            session_cookie(&state, token.expose_secret(), 12 * 3600),
        ),
        LoginOutcome::Refused => {
            let ctx = json!({"error": "That email and password do not match an account.", "email": form.email, "next": next.unwrap_or_default()});
            login_page(&state, &headers, ctx, StatusCode::UNAUTHORIZED).await?
        }
        LoginOutcome::Throttled { until } => throttled_page(&state, until),
    })
}

async fn register_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    let ctx = json!({"next": next.clone().unwrap_or_default(), "login_url": with_next("/login", next.as_deref())});
    crate::routes::storefront::catalog::shop_page(&state, &headers, None, "register.html", ctx, StatusCode::OK).await
}

#[derive(Deserialize)]
struct RegisterForm {
    name: String,
    email: String,
    password: String,
    next: Option<String>,
}

/// Buyer sign-up. Throttled per client address (account creation is a spam and enumeration target), and it
/// answers the same whether or not the address already has an account.
async fn register(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ClientInfo(client): ClientInfo,
    Form(form): Form<RegisterForm>,
) -> Result<Response, PageError> {
    use palisade_identity::throttle;
    let key = format!("signup-{}", throttle::ip_key(client.ip.as_deref().unwrap_or("unknown")));
    if let Some(until) = throttle::blocked_until(&state.db, &key).await? {
        return Ok(throttled_page(&state, until));
    }
    throttle::record_failure(&state.db, &key, &SIGNUP_POLICY).await?;
    let next = safe_next(form.next.as_deref());
    let checked = palisade_core::text::Email::parse(&form.email).map_err(|e| e.to_string()).and_then(|email| {
        palisade_core::text::display_name("name", &form.name).map(|name| (email, name)).map_err(|e| e.to_string())
    });
    let (email, name) = match checked {
        Ok(v) => v,
        Err(error) => return register_retry(&state, &headers, &form, next.as_deref(), error).await,
    };
    let password = SecretString::from(form.password.clone());
    if let Err(v) = palisade_identity::password::check_policy(
        &password,
        palisade_identity::password::Audience::Buyer,
        &[email.as_str(), &name],
    ) {
        return register_retry(&state, &headers, &form, next.as_deref(), v.to_string()).await;
    }
    // New or already registered, the answer is the same (and so is the work): the address's owner learns which
    // from the mail only they can read.
    state.identity.register_buyer(email, name, password, &state.config.public_url).await?;
    let to = match next {
        Some(n) => format!("/login?registered=1&next={}", crate::routes::storefront::catalog::urlencode(&n)),
        None => "/login?registered=1".to_owned(),
    };
    Ok(Redirect::to(&to).into_response())
}

/// The registration page again with what was typed (never the password) and why it was refused.
async fn register_retry(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    form: &RegisterForm,
    next: Option<&str>,
    error: String,
) -> Result<Response, PageError> {
    let ctx = json!({"error": error, "name": form.name, "email": form.email, "next": next.unwrap_or_default(),
                     "login_url": with_next("/login", next)});
    crate::routes::storefront::catalog::shop_page(
        state,
        headers,
        None,
        "register.html",
        ctx,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Sign-ups per IP: 5 free per 15 minutes, then growing delays.
const SIGNUP_POLICY: palisade_identity::throttle::Policy = palisade_identity::throttle::Policy {
    window: Duration::from_secs(15 * 60),
    free_failures: 5,
    lock_after: 30,
    lock_for: Duration::from_secs(3600),
    max_delay: Duration::from_secs(300),
};

#[derive(Deserialize, ToSchema)]
struct StrengthQuery {
    password: String,
    #[serde(default)]
    hints: Vec<String>,
    #[serde(default)]
    staff: bool,
}

/// Strength feedback for password fields (zxcvbn), plus whether the policy would accept it.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-strength",
    tag = "auth",
    summary = "Strength feedback for a password field, and whether the policy would accept it",
    request_body = StrengthQuery,
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn password_strength(
    crate::http::json::Body(q): crate::http::json::Body<StrengthQuery>,
) -> Json<serde_json::Value> {
    use palisade_identity::password::{self, Audience};
    let pw: String = q.password.chars().take(password::MAX_LEN + 1).collect();
    let hints: Vec<&str> = q.hints.iter().take(4).map(String::as_str).collect();
    let audience = if q.staff { Audience::Staff } else { Audience::Buyer };
    let secret = SecretString::from(pw.clone());
    let verdict = password::check_policy(&secret, audience, &hints);
    let strength = password::strength(&pw, &hints);
    Json(json!({
        "acceptable": verdict.is_ok(),
        "problem": verdict.err().map(|v| v.to_string()),
        "score": strength.score,
        "warning": strength.warning,
        "suggestions": strength.suggestions,
    }))
}

async fn verify_form(
    State(state): State<AppState>,
    s: AnySession,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref());
    if s.session.mfa_at.is_some() {
        return Ok(Redirect::to(&next.unwrap_or_else(|| landing(&s.account))).into_response());
    }
    let has_passkeys = !palisade_identity::passkeys::list(&state.db, s.account.id).await?.is_empty();
    let ctx = json!({"has_passkeys": has_passkeys, "next": next.unwrap_or_default(), "is_buyer": is_buyer(&s.account)});
    Ok(page(&state, "verify.html", ctx)?.into_response())
}

fn is_buyer(account: &Account) -> bool {
    account.kind == palisade_store::tenancy::AccountKind::Buyer
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

#[derive(Deserialize)]
struct VerifyForm {
    code: String,
    next: Option<String>,
}

/// Passes the second factor and rotates the session id (privilege changed).
async fn pass_second_factor(state: &AppState, s: &AnySession, code: &str) -> Result<SecretString, IdentityError> {
    state.identity.second_factor(&s.session, code).await?;
    Ok(sessions::rotate(&state.db, &s.session).await?)
}

async fn verify(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: AnySession,
    Form(form): Form<VerifyForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref());
    match pass_second_factor(&state, &s, &form.code).await {
        Ok(token) => {
            let dropped = crate::routes::storefront::catalog::merge_guest_cart(&state, &headers, s.account.id).await?;
            let to = next.unwrap_or_else(|| landing(&s.account));
            Ok(with_device_cookie(
                &state,
                with_cookie(
                    with_cookie(Redirect::to(&to).into_response(), dropped),
                    session_cookie(&state, token.expose_secret(), 12 * 3600),
                ),
                s.account.id,
            ))
        }
        Err(IdentityError::InvalidCode) => {
            let html = state.templates.render(
                "verify.html",
                json!({"error": "That code is not valid. Check the time on your phone, or use a recovery code.",
                       "next": next.unwrap_or_default(), "is_buyer": is_buyer(&s.account)}),
            )?;
            Ok((StatusCode::UNAUTHORIZED, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn logout(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: Result<AnySession, SessionRejection>,
) -> Result<Response, PageError> {
    if let Ok(s) = s {
        sessions::revoke(&state.db, s.account.id, &s.session.id).await?;
    }
    crate::routes::console::pages::close_console_session(&state, &headers).await?;
    let mut res = Redirect::to("/login").into_response();
    if let Some(c) = session_cookie(&state, "", 0) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    let secure = if state.config.behind_tls { "; Secure" } else { "" };
    if let Ok(c) = HeaderValue::from_str(&format!(
        "{CONSOLE_COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    )) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(res)
}

async fn account_context(state: &AppState, s: &SignedIn, notice: Option<&str>) -> Result<serde_json::Value, PageError> {
    let list = crate::services::sessions::list(state, s).await?;
    Ok(json!({
        "operator": s.account.email,
        "is_operator": s.account.kind == palisade_store::tenancy::AccountKind::Operator,
        "account": s.account,
        "has_mfa": state.identity.has_mfa(s.account.id).await?,
        "recovery_left": state.identity.recovery_codes_left(s.account.id).await?,
        "sessions": list,
        "passkeys": palisade_identity::passkeys::list(&state.db, s.account.id).await?,
        "passkeys_enabled": state.identity.webauthn().is_some(),
        "current": s.session.id,
        "notice": notice,
    }))
}

/// The account page: a buyer's profile in the shop's account area, or the platform's account page for staff and
/// operators.
async fn account_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
) -> Result<Response, PageError> {
    if is_buyer(&s.account) {
        return crate::routes::account::buyer::profile_page(&state, &headers, &s, None, StatusCode::OK).await;
    }
    let ctx = account_context(&state, &s, None).await?;
    Ok(page(&state, "account.html", ctx)?.into_response())
}

/// The security settings (two-step verification, passkeys, sessions): a tab of the buyer's account area, the
/// platform's account page for everyone else. Both render [`account_context`] through the same panel.
async fn security_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
) -> Result<Response, PageError> {
    if !is_buyer(&s.account) {
        return Ok(Redirect::to("/account").into_response());
    }
    security_answer(&state, &headers, &s, None).await
}

/// The page that shows the security settings, with a notice, for whoever is signed in.
async fn security_answer(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    s: &SignedIn,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let ctx = account_context(state, s, notice).await?;
    if is_buyer(&s.account) {
        let ctx = merge_json(ctx, json!({"tab": "security"}));
        return crate::routes::storefront::catalog::shop_page(
            state,
            headers,
            Some(s),
            "account_security.html",
            ctx,
            StatusCode::OK,
        )
        .await;
    }
    Ok(page(state, "account.html", ctx)?.into_response())
}

fn merge_json(mut base: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(b), serde_json::Value::Object(m)) = (base.as_object_mut(), more) {
        b.extend(m);
    }
    base
}

/// The two templates of a security step: the shop's (a buyer's account area) and the platform's.
struct StepPages {
    shop: &'static str,
    console: &'static str,
}

const REAUTH: StepPages = StepPages { shop: "account_reauth.html", console: "reauth.html" };
const TOTP_SETUP: StepPages = StepPages { shop: "account_totp_setup.html", console: "totp_setup.html" };
const RECOVERY_CODES: StepPages = StepPages { shop: "account_recovery_codes.html", console: "recovery_codes.html" };

/// Renders a step of the security settings (re-entering the password, authenticator set-up, recovery codes) in
/// the look the person came from: a buyer stays in the shop's account area, with its tabs and a way back to
/// `/account`; staff and operators keep the platform's look.
async fn security_step(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    s: &SignedIn,
    pages: &StepPages,
    ctx: serde_json::Value,
    status: StatusCode,
) -> Result<Response, PageError> {
    let mut res = if is_buyer(&s.account) {
        let ctx = merge_json(ctx, json!({"tab": "security"}));
        crate::routes::storefront::catalog::shop_page(state, headers, Some(s), pages.shop, ctx, status).await?
    } else {
        let ctx = merge_json(ctx, json!({"operator": s.account.email, "is_buyer": false}));
        (status, Html(state.templates.render(pages.console, ctx)?)).into_response()
    };
    // Secrets (the authenticator key, recovery codes) must not come back from a cache or the back button.
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn reauth_form(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
    Query(q): Query<NextQuery>,
) -> Result<Response, PageError> {
    let next = safe_next(q.next.as_deref()).unwrap_or_else(|| security_home(&s.account).into());
    security_step(&state, &headers, &s, &REAUTH, json!({"next": next}), StatusCode::OK).await
}

#[derive(Deserialize)]
struct ReauthForm {
    password: String,
    next: Option<String>,
}

async fn reauth(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
    ClientInfo(client): ClientInfo,
    Form(form): Form<ReauthForm>,
) -> Result<Response, PageError> {
    let next = safe_next(form.next.as_deref()).unwrap_or_else(|| security_home(&s.account).into());
    match state.identity.step_up(&s.session, SecretString::from(form.password), &client).await? {
        StepUp::Passed => return Ok(Redirect::to(&next).into_response()),
        StepUp::Throttled { until } => return Ok(throttled_page(&state, until)),
        StepUp::Refused => {}
    }
    let ctx = json!({"error": "That password is not right.", "next": next});
    security_step(&state, &headers, &s, &REAUTH, ctx, StatusCode::UNAUTHORIZED).await
}

/// Sends the person to re-enter their password unless they did so recently.
fn require_fresh(state: &AppState, s: &SignedIn) -> Option<Response> {
    (!sessions::is_fresh(&s.session, state.db.now(), STEP_UP_WINDOW))
        .then(|| Redirect::to(&format!("/account/reauth?next={}", security_home(&s.account))).into_response())
}

/// The API's answer when a session signed in too long ago asks to change its second factors.
fn require_fresh_api(state: &AppState, s: &SignedIn) -> Result<(), ApiError> {
    if sessions::is_fresh(&s.session, state.db.now(), STEP_UP_WINDOW) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "reauth_required",
        "sign in again with your password (within the last 10 minutes) to change two-step verification",
    ))
}

fn qr_svg(url: &str) -> String {
    QrCode::new(url.as_bytes()).map(|c| c.render::<svg::Color>().min_dimensions(200, 200).build()).unwrap_or_default()
}

/// The QR code as base64 of its SVG, for an `<img src="data:…">`: the shop's templates have no `safe` filter (a
/// merchant's environment must not have one either), so markup cannot be passed to them.
fn qr_data(url: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(qr_svg(url))
}

async fn totp_start(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
) -> Result<Response, PageError> {
    // Adding a second factor locks the account to whoever holds it: a stolen session cookie alone must not do it.
    if let Some(r) = require_fresh(&state, &s) {
        return Ok(r);
    }
    let enrol = state.identity.begin_totp(&s.account).await?;
    let ctx = json!({"qr_svg": qr_svg(&enrol.url), "qr_data": qr_data(&enrol.url), "secret": enrol.secret_base32});
    security_step(&state, &headers, &s, &TOTP_SETUP, ctx, StatusCode::OK).await
}

async fn totp_confirm(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
    Form(form): Form<CodeForm>,
) -> Result<Response, PageError> {
    if let Some(r) = require_fresh(&state, &s) {
        return Ok(r);
    }
    match state.identity.confirm_totp(&s.account, &form.code).await {
        Ok(codes) => {
            // Privilege changed: new session id, and the second factor counts as passed in this session.
            sessions::mark_mfa(&state.db, &s.session).await?;
            let token = sessions::rotate(&state.db, &s.session).await?;
            let ctx = json!({"codes": codes});
            let page = security_step(&state, &headers, &s, &RECOVERY_CODES, ctx, StatusCode::OK).await?;
            Ok(with_cookie(page, session_cookie(&state, token.expose_secret(), 12 * 3600)))
        }
        Err(IdentityError::InvalidCode) => {
            let enrol = state.identity.begin_totp(&s.account).await?;
            let ctx = json!({"qr_svg": qr_svg(&enrol.url), "qr_data": qr_data(&enrol.url), "secret": enrol.secret_base32,
                "error": "That code did not match. The key changed: scan the new code and try again."});
            security_step(&state, &headers, &s, &TOTP_SETUP, ctx, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn totp_disable(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
) -> Result<Response, PageError> {
    if let Some(r) = require_fresh(&state, &s) {
        return Ok(r);
    }
    state.identity.disable_totp(&s.account).await?;
    security_answer(&state, &headers, &s, Some("Two-step verification is off.")).await
}

async fn recovery_codes(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    s: SignedIn,
) -> Result<Response, PageError> {
    if let Some(r) = require_fresh(&state, &s) {
        return Ok(r);
    }
    let codes = state.identity.new_recovery_codes(&s.account).await?;
    security_step(&state, &headers, &s, &RECOVERY_CODES, json!({"codes": codes}), StatusCode::OK).await
}

#[derive(Deserialize)]
struct IdForm {
    id: String,
}

async fn revoke_session(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<IdForm>,
) -> Result<Response, PageError> {
    crate::services::sessions::revoke(&state, &s, &form.id).await?;
    Ok(Redirect::to(security_home(&s.account)).into_response())
}

async fn revoke_others(State(state): State<AppState>, s: SignedIn) -> Result<Response, PageError> {
    crate::services::sessions::revoke_others(&state, &s).await?;
    Ok(Redirect::to(security_home(&s.account)).into_response())
}

// ---- JSON API ----

#[derive(Deserialize, ToSchema)]
struct ApiLogin {
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    summary = "Sign in with email and password (sets the session cookie)",
    request_body = ApiLogin,
    responses((status = 200, description = "signed_in, or second_factor_required with a half session", content_type = "application/json"), (status = 429, description = "too many failed attempts (Retry-After)", body = ErrorEnvelope)),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn api_login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    crate::http::json::Body(body): crate::http::json::Body<ApiLogin>,
) -> Result<Response, ApiError> {
    let outcome = state.identity.login(&body.email, SecretString::from(body.password), &client).await?;
    Ok(match outcome {
        LoginOutcome::SignedIn { token, session } => with_device_cookie(
            &state,
            with_cookie(
                Json(json!({"status": "signed_in"})).into_response(),
                session_cookie(&state, token.expose_secret(), 12 * 3600),
            ),
            session.account_id,
        ),
        LoginOutcome::SecondFactor { token, .. } => with_cookie(
            Json(json!({"status": "second_factor_required"})).into_response(),
            session_cookie(&state, token.expose_secret(), 12 * 3600),
        ),
        LoginOutcome::Refused => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "that email and password do not match an account",
        )
        .into_response(),
        LoginOutcome::Throttled { until } => throttled_api(&state, until),
    })
}

#[derive(Deserialize, ToSchema)]
struct ApiCode {
    code: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/verify",
    tag = "auth",
    summary = "Pass the second factor (TOTP or recovery code)",
    request_body = ApiCode,
    responses((status = 200, description = "signed_in", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SESSION)))
)]
async fn api_verify(
    State(state): State<AppState>,
    s: AnySession,
    crate::http::json::Body(body): crate::http::json::Body<ApiCode>,
) -> Result<Response, ApiError> {
    let token = pass_second_factor(&state, &s, &body.code).await?;
    let res = with_cookie(
        Json(json!({"status": "signed_in"})).into_response(),
        session_cookie(&state, token.expose_secret(), 12 * 3600),
    );
    Ok(with_device_cookie(&state, res, s.account.id))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    summary = "End this session",
    responses((status = 204, description = "signed out")),
    extensions(("x-permission" = json!(access::SESSION)))
)]
async fn api_logout(State(state): State<AppState>, s: AnySession) -> Result<Response, ApiError> {
    sessions::revoke(&state.db, s.account.id, &s.session.id).await?;
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), session_cookie(&state, "", 0)))
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    summary = "The signed-in account, its MFA state and session",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn api_me(State(state): State<AppState>, s: SignedIn) -> Result<Json<serde_json::Value>, ApiError> {
    let account: &Account = &s.account;
    Ok(Json(json!({
        "account": account,
        "mfa": state.identity.has_mfa(account.id).await?,
        "session": {"created_at": s.session.created_at, "expires_at": s.session.expires_at},
    })))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/totp/start",
    tag = "auth",
    summary = "Begin authenticator-app enrolment (secret and otpauth URL)",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn api_totp_start(State(state): State<AppState>, s: SignedIn) -> Result<Json<serde_json::Value>, ApiError> {
    require_fresh_api(&state, &s)?;
    let enrol = state.identity.begin_totp(&s.account).await?;
    Ok(Json(json!({"secret": enrol.secret_base32, "otpauth_url": enrol.url})))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/totp/confirm",
    tag = "auth",
    summary = "Confirm enrolment with a first code; answers the recovery codes once",
    request_body = ApiCode,
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::SIGNED_IN)))
)]
async fn api_totp_confirm(
    State(state): State<AppState>,
    s: SignedIn,
    crate::http::json::Body(body): crate::http::json::Body<ApiCode>,
) -> Result<Response, ApiError> {
    require_fresh_api(&state, &s)?;
    let codes = state.identity.confirm_totp(&s.account, &body.code).await?;
    sessions::mark_mfa(&state.db, &s.session).await?;
    let token = sessions::rotate(&state.db, &s.session).await?;
    Ok(with_cookie(
        Json(json!({"recovery_codes": codes})).into_response(),
        session_cookie(&state, token.expose_secret(), 12 * 3600),
    ))
}
