//! The merchant's Security Center: the store's side of the responsibility matrix, with the tools to act on it
//! (MFA policy, security contact, staff and their permissions). Every route checks its permission on the server.

use std::time::Duration;

use crate::http::form::Form;
use crate::http::id_path::IdPath;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use palisade_core::text::Email;
use palisade_core::{AccountId, TokenId};
use palisade_identity::{invitations, policy, sessions};
use palisade_store::matrix;
use palisade_store::permissions::Permission;
use palisade_store::tenancy::{self, StoreSettings};
use palisade_store::tokens;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::access::{AccessRejection, StaffAccess};
use crate::http::client::ClientAddr;
use crate::http::notice;
use crate::http::session::SignedIn;
use crate::http::{ApiError, PageError};
use crate::routes::account::sign_in::STEP_UP_WINDOW;
use crate::routes::admin::{
    compliance, digest, extensions, phishing, phishing_landing, scans, security_tabs, training,
};
use crate::routes::api::declarations::access;
use crate::services::api_tokens::{self, NewToken};
use crate::services::firewall_rules::{self, Change};
use crate::services::{Refusal, staff};
use crate::state::AppState;

/// Every HTML admin route with the permission it needs (`None`: any member). The permission test walks this list
/// and, for the JSON admin routes, the `x-permission` of their declarations (`/api/openapi.json`).
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/security", None),
    ("GET", "/admin/stores/{store}/security/staff", None),
    ("GET", "/admin/stores/{store}/security/firewall", None),
    ("GET", "/admin/stores/{store}/security/updates", None),
    ("GET", "/admin/stores/{store}/security/awareness", None),
    ("GET", "/admin/stores/{store}/security/training", None),
    ("GET", "/admin/stores/{store}/security/training/team", Some(Permission::StaffManagement)),
    ("GET", "/admin/stores/{store}/security/training/export.csv", Some(Permission::StaffManagement)),
    ("GET", "/admin/stores/{store}/security/training/export.json", Some(Permission::StaffManagement)),
    ("GET", "/admin/stores/{store}/security/training/{module}", None),
    ("POST", "/admin/stores/{store}/security/training/{module}", None),
    ("GET", "/admin/stores/{store}/security/guidelines", None),
    // Compliance views read the matrix like the overview; an export records its hash in the store's chain.
    ("GET", "/admin/stores/{store}/security/compliance", None),
    ("GET", "/admin/stores/{store}/security/compliance/cyber-essentials", None),
    ("GET", "/admin/stores/{store}/security/compliance/pci-saq-a", None),
    ("GET", "/admin/stores/{store}/security/compliance/pdpa", None),
    ("POST", "/admin/stores/{store}/security/compliance/cyber-essentials/export", None),
    ("POST", "/admin/stores/{store}/security/compliance/pci-saq-a/export", None),
    ("POST", "/admin/stores/{store}/security/compliance/pdpa/export", None),
    ("POST", "/admin/stores/{store}/security/compliance/verify", None),
    ("GET", "/admin/stores/{store}/security/phishing", None),
    ("POST", "/admin/stores/{store}/security/phishing/report", None),
    // Staff management is checked first; then only the owner (`palisade_store::phishing` re-reads the role, which is
    // not a permission, in the write transaction): an admin holding staff management is refused too.
    ("POST", "/admin/stores/{store}/security/phishing/settings", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/security/phishing/campaigns", Some(Permission::StaffManagement)),
    ("GET", "/admin/stores/{store}/security/scans", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/scans", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/scans/findings/{finding}/accept", Some(Permission::SecuritySettings)),
    ("GET", "/admin/stores/{store}/security/scans/{scan}/{file}", Some(Permission::SecuritySettings)),
    // Installing and updating also need every permission the release asks for (services::extensions).
    ("GET", "/admin/stores/{store}/security/extensions", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/extensions/install", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/extensions/{extension}/update", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/extensions/{extension}/policy", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/extensions/{extension}/remove", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/extensions/{extension}/app-token", Some(Permission::SecuritySettings)),
    (
        "POST",
        "/admin/stores/{store}/security/extensions/webhooks/{delivery}/redeliver",
        Some(Permission::SecuritySettings),
    ),
    (
        "POST",
        "/admin/stores/{store}/security/extensions/{extension}/advisories/{advisory}/accept",
        Some(Permission::SecuritySettings),
    ),
    ("POST", "/admin/stores/{store}/security/digest", None),
    ("POST", "/admin/stores/{store}/security/mfa-policy", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/contact", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/allowlist", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/attack-mode", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/waf", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/rules", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/rules/test", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/rules/{rule}/enable", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/rules/{rule}/disable", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/security/rules/{rule}/delete", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/staff/{account}/role", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/staff/{account}/grants", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/staff/{account}/remove", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/staff/invite", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/staff/invitations/{invitation}/revoke", Some(Permission::StaffManagement)),
    ("POST", "/admin/stores/{store}/tokens", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/tokens/{token}/revoke", Some(Permission::SecuritySettings)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(admin_home))
        .route("/admin/stores/{store}/security", get(security_tabs::overview))
        .route("/admin/stores/{store}/security/staff", get(security_tabs::staff_tab))
        .route("/admin/stores/{store}/security/firewall", get(security_tabs::firewall_tab))
        .route("/admin/stores/{store}/security/updates", get(security_tabs::updates_tab))
        .route("/admin/stores/{store}/security/awareness", get(security_tabs::awareness_tab))
        .route("/admin/stores/{store}/security/training", get(training::mine))
        .route("/admin/stores/{store}/security/training/team", get(training::team))
        .route("/admin/stores/{store}/security/training/export.csv", get(training::export_csv))
        .route("/admin/stores/{store}/security/training/export.json", get(training::export_xapi))
        .route("/admin/stores/{store}/security/training/{module}", get(training::module_page).post(training::submit))
        .route("/admin/stores/{store}/security/guidelines", get(training::guidelines))
        .route("/admin/stores/{store}/security/compliance", get(compliance::index))
        .route("/admin/stores/{store}/security/compliance/verify", post(compliance::verify))
        .route("/admin/stores/{store}/security/compliance/{view}", get(compliance::view_page))
        .route("/admin/stores/{store}/security/compliance/{view}/export", post(compliance::export))
        .route("/admin/stores/{store}/security/phishing", get(phishing::tab))
        .route("/admin/stores/{store}/security/phishing/report", post(phishing::report))
        .route("/admin/stores/{store}/security/phishing/settings", post(phishing::set_enabled))
        .route("/admin/stores/{store}/security/phishing/campaigns", post(phishing::launch))
        .route("/learn/{token}", get(phishing_landing::landing))
        .route("/learn/{token}/confirm", post(phishing_landing::confirm))
        .route("/admin/stores/{store}/security/scans", get(scans::tab).post(scans::run))
        .route("/admin/stores/{store}/security/scans/findings/{finding}/accept", post(scans::accept))
        .route("/admin/stores/{store}/security/scans/{scan}/{file}", get(scans::download))
        .route("/admin/stores/{store}/security/extensions", get(extensions::tab))
        .route("/admin/stores/{store}/security/extensions/install", post(extensions::install))
        .route("/admin/stores/{store}/security/extensions/{extension}/update", post(extensions::update))
        .route("/admin/stores/{store}/security/extensions/{extension}/policy", post(extensions::set_policy))
        .route("/admin/stores/{store}/security/extensions/{extension}/remove", post(extensions::remove))
        .route("/admin/stores/{store}/security/extensions/{extension}/app-token", post(extensions::reissue_token))
        .route("/admin/stores/{store}/security/extensions/webhooks/{delivery}/redeliver", post(extensions::redeliver))
        .route(
            "/admin/stores/{store}/security/extensions/{extension}/advisories/{advisory}/accept",
            post(extensions::accept),
        )
        .route("/admin/stores/{store}/security/digest", post(digest::set_choice))
        .route("/security-digest/unsubscribe", get(digest::unsubscribe_page).post(digest::unsubscribe))
        .route("/admin/stores/{store}/security/mfa-policy", post(set_mfa_policy))
        .route("/admin/stores/{store}/security/contact", post(set_contact))
        .route("/admin/stores/{store}/security/allowlist", post(set_allowlist))
        .route("/admin/stores/{store}/security/attack-mode", post(set_attack_mode))
        .route("/admin/stores/{store}/security/waf", post(set_waf))
        .route("/admin/stores/{store}/security/rules", post(add_rule))
        .route("/admin/stores/{store}/security/rules/test", post(test_rule))
        .route("/admin/stores/{store}/security/rules/{rule}/{op}", post(change_rule))
        .route("/admin/stores/{store}/staff/{account}/role", post(set_role))
        .route("/admin/stores/{store}/staff/{account}/grants", post(set_grants))
        .route("/admin/stores/{store}/staff/{account}/remove", post(remove_member))
        .route("/admin/stores/{store}/staff/invite", post(invite))
        .route("/admin/stores/{store}/staff/invitations/{invitation}/revoke", post(revoke_invitation))
        .route("/admin/stores/{store}/tokens", post(create_token))
        .route("/admin/stores/{store}/tokens/{token}/revoke", post(revoke_token))
        .route("/invitations/{token}", get(invitation_page).post(accept_invitation))
}

/// The JSON Security Center endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(api_controls))
}

/// Handler result for admin pages.
type PageResult = Result<Response, AdminError>;

/// Either an access refusal or a failure while handling.
#[derive(Debug)]
pub enum AdminError {
    Access(AccessRejection),
    Page(PageError),
}

impl From<AccessRejection> for AdminError {
    fn from(e: AccessRejection) -> Self {
        AdminError::Access(e)
    }
}

impl<E: Into<PageError>> From<E> for AdminError {
    fn from(e: E) -> Self {
        AdminError::Page(e.into())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::Access(a) => a.into_response(),
            AdminError::Page(p) => p.into_response(),
        }
    }
}

/// Back to the setting just saved (`tab`: a path under the store, with the setting's anchor), saying it was saved.
fn saved(access: &StaffAccess, tab: &str, code: &'static str) -> PageResult {
    let to = format!("/admin/stores/{}/{tab}", access.membership.scope.store_id());
    Ok(Redirect::to(&notice::saved(&to, code)).into_response())
}

/// The password prompt, coming back to `tab` (a path under the store) afterwards.
fn reauth_then(access: &StaffAccess, tab: &str) -> Response {
    let tab = tab.split('#').next().unwrap_or_default();
    Redirect::to(&format!("/account/reauth?next=/admin/stores/{}/{tab}", access.membership.scope.store_id()))
        .into_response()
}

/// Sensitive changes need a recent password entry (and so a person: API tokens cannot make them).
pub(crate) fn step_up(state: &AppState, access: &StaffAccess, tab: &str) -> Option<Response> {
    let Some(session) = &access.session else {
        return Some(
            ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "interactive_only",
                "this change must be made by a signed-in person",
            )
            .into_response(),
        );
    };
    (!sessions::is_fresh(session, state.db.now(), STEP_UP_WINDOW)).then(|| reauth_then(access, tab))
}

/// Where staff land: their store's home dashboard, or the list of their stores when they belong to several.
async fn admin_home(State(state): State<AppState>, s: SignedIn) -> Result<Response, PageError> {
    let memberships = tenancy::memberships(&state.db, s.account.id).await?;
    match memberships.as_slice() {
        [] => Ok(Redirect::to("/account").into_response()),
        [(scope, _)] => Ok(Redirect::to(&format!("/admin/stores/{}", scope.store_id())).into_response()),
        many => {
            let mut stores = Vec::new();
            for (scope, role) in many {
                let store = tenancy::get_store(&state.db, scope).await?;
                stores.push(json!({"id": store.id, "name": store.name, "role": role}));
            }
            let html =
                state.templates.render("admin_home.html", json!({"operator": s.account.email, "stores": stores}))?;
            Ok(Html(html).into_response())
        }
    }
}

#[derive(Deserialize)]
struct PolicyForm {
    require: Option<String>,
    grace_days: Option<u32>,
}

async fn set_mfa_policy(
    State(state): State<AppState>,
    access: StaffAccess,
    Form(form): Form<PolicyForm>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    if let Some(r) = step_up(&state, &access, "security/staff#mfa-policy") {
        return Ok(r);
    }
    let staff_mfa = if form.require.is_some() { policy::StaffMfa::Required } else { policy::StaffMfa::Optional };
    let grace = Duration::from_secs(u64::from(form.grace_days.unwrap_or(7).min(30)) * 24 * 3600);
    policy::set(&state.db, &access.membership.scope, staff_mfa, grace).await?;
    saved(&access, "security/staff#mfa-policy", "mfa-policy")
}

#[derive(Deserialize)]
struct ContactForm {
    email: String,
}

async fn set_contact(State(state): State<AppState>, access: StaffAccess, Form(form): Form<ContactForm>) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let contact = if form.email.trim().is_empty() {
        None
    } else {
        Some(
            Email::parse(&form.email)
                .map_err(|e| ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.to_string()))?,
        )
    };
    tenancy::update_settings(
        &state.db,
        &access.membership.scope,
        StoreSettings { security_contact: Some(contact), ..Default::default() },
    )
    .await?;
    saved(&access, "security#contact", "contact")
}

#[derive(Deserialize)]
struct AllowlistForm {
    #[serde(default)]
    cidrs: String,
}

fn invalid(m: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
}

/// Sets the admin IP allow-list (one address or CIDR per line; empty clears it). A list that would shut out the
/// person saving it is refused, so nobody locks themselves out by a typo.
async fn set_allowlist(
    State(state): State<AppState>,
    access: StaffAccess,
    ClientAddr(me): ClientAddr,
    form: Result<Form<AllowlistForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = step_up(&state, &access, "security/firewall#allowlist") {
        return Ok(r);
    }
    let nets = palisade_store::firewall::parse_allowlist(form.cidrs.lines()).map_err(|e| invalid(e.to_string()))?;
    palisade_store::firewall::check_admits(&nets, me).map_err(|e| invalid(e.to_string()))?;
    palisade_store::firewall::set_allowlist(
        &state.db,
        &access.membership.scope,
        nets.iter().map(ToString::to_string).collect(),
    )
    .await?;
    saved(&access, "security/firewall#allowlist", "allowlist")
}

#[derive(Deserialize)]
struct AttackForm {
    #[serde(default)]
    hours: String,
}

/// Turns "under attack" mode on for some hours (0 turns it off).
async fn set_attack_mode(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<AttackForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let hours: u64 = form.hours.trim().parse().map_err(|_| invalid("hours must be a whole number"))?;
    if hours > palisade_store::firewall::MAX_ATTACK_HOURS {
        return Err(invalid("at most 72 hours at a time").into());
    }
    let until = (hours > 0).then(|| state.db.now().plus(Duration::from_secs(hours * 3600)));
    palisade_store::firewall::set_attack_mode(&state.db, &access.membership.scope, until).await?;
    state.store_rules.invalidate();
    saved(&access, "security/firewall#attack-mode", "attack-mode")
}

#[derive(Deserialize)]
struct WafForm {
    #[serde(default)]
    mode: String,
    #[serde(default)]
    paranoia: String,
}

/// Sets the store's own WAF mode and paranoia level ("platform" follows the operator's). Weakening the
/// firewall for a store is a security decision: it needs a recent password, is audited, and shows in the matrix.
async fn set_waf(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<WafForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = step_up(&state, &access, "security/firewall#waf") {
        return Ok(r);
    }
    let mode = match form.mode.trim() {
        "" | "platform" => None,
        m if palisade_store::firewall::WAF_MODES.contains(&m) => Some(m),
        m => return Err(invalid(format!("firewall mode `{m}` is not platform, off, detect or block")).into()),
    };
    let paranoia = match form.paranoia.trim() {
        "" | "platform" => None,
        p => Some(
            p.parse::<u8>()
                .ok()
                .filter(|p| (1..=4).contains(p))
                .ok_or_else(|| invalid(format!("paranoia level `{p}` is not 1, 2, 3 or 4")))?,
        ),
    };
    palisade_store::firewall::set_waf(&state.db, &access.membership.scope, mode, paranoia).await?;
    state.store_rules.invalidate();
    saved(&access, "security/firewall#waf", "waf")
}

#[derive(Deserialize)]
struct RuleForm {
    #[serde(default)]
    source: String,
}

/// Adds a custom firewall rule, disabled until the merchant has test-run and enabled it.
async fn add_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<RuleForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    firewall_rules::add(&state, &access.membership.scope, &form.source).await?;
    saved(&access, "security/firewall#rules", "rule-added")
}

/// Runs a rule over the store's recent requests (kept in memory on this node) without enabling it.
async fn test_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<RuleForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let rule = firewall_rules::parse(&state, &form.source)?;
    let (hits, total, examples) = state.store_rules.test_run(access.membership.scope.store_id(), &rule);
    let store = tenancy::get_store(&state.db, &access.membership.scope).await?;
    let (zone, now) = super::merchant::clock(&state, &access).await?;
    let html = state.templates.render(
        "rule_test.html",
        json!({
            "operator": access.account.email, "store": {"id": store.id.to_string(), "slug": store.slug, "name": store.name},
            "time_zone": zone, "now": now,
            "base": format!("/admin/stores/{}", store.id), "section": "security",
            "can": Permission::ALL.iter().filter(|p| access.membership.can(**p)).map(|p| p.key()).collect::<Vec<_>>(),
            "source": rule.source(), "action": rule.action, "hits": hits, "total": total, "examples": examples,
        }),
    )?;
    Ok(Html(html).into_response())
}

async fn change_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, rule, op)): Path<(String, String, String)>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let (change, code) = match op.as_str() {
        "enable" => (Change::Enable, "rule-enabled"),
        "disable" => (Change::Disable, "rule-disabled"),
        "delete" => (Change::Delete, "rule-deleted"),
        _ => return Err(ApiError::not_found("action").into()),
    };
    firewall_rules::change(&state, &access.membership.scope, &rule, change).await?;
    saved(&access, "security/firewall#rules", code)
}

/// The page's answer to a change: back to the setting on its tab saying it was saved, or the reason it was not
/// made (a person who must re-enter their password is sent to do so first).
fn after<T>(access: &StaffAccess, tab: &str, code: &'static str, outcome: Result<T, Refusal>) -> PageResult {
    match outcome {
        Ok(_) => saved(access, tab, code),
        Err(Refusal::StepUpRequired) => Ok(reauth_then(access, tab)),
        Err(r) => match r.into_api() {
            Ok(denied) => Err(denied.into()),
            Err(e) => Err(e.into()),
        },
    }
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

async fn set_role(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
    Form(form): Form<RoleForm>,
) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let outcome = async { staff::set_role(&state, &access, account, staff::parse_role(&form.role)?).await }.await;
    after(&access, "security/staff#staff", "role", outcome)
}

async fn set_grants(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
    body: String,
) -> PageResult {
    access.require(Permission::StaffManagement)?;
    // Repeated `permission=` fields (checkboxes): parse by hand, serde_urlencoded does not collect repeats.
    let grants: Vec<Permission> = body
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == "permission")
        .filter_map(|(_, v)| Permission::parse(v))
        .collect();
    let outcome = staff::set_grants(&state, &access, account, &grants).await;
    after(&access, "security/staff#staff", "grants", outcome)
}

async fn remove_member(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let outcome = staff::remove(&state, &access, account).await;
    after(&access, "security/staff#staff", "member-removed", outcome)
}

async fn create_token(State(state): State<AppState>, access: StaffAccess, body: String) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let mut new = NewToken { name: String::new(), scopes: Vec::new(), expires_days: None };
    for (k, v) in body.split('&').filter_map(|p| p.split_once('=')) {
        let v = v.replace('+', " ");
        let v = percent_decode(&v);
        match k {
            "name" => new.name = v,
            "permission" => new.scopes.extend(Permission::parse(&v)),
            // "0" is the form's "never"; anything else that is not a number of days is refused.
            "expires_days" => new.expires_days = Some(v.trim().parse::<u64>().map_err(|_| invalid("expiry in days"))?),
            _ => {}
        }
    }
    let (info, secret) = match api_tokens::create(&state, &access, new).await {
        Ok(created) => created,
        Err(r) => return after(&access, "security/staff#api-tokens", "token-revoked", Err::<(), _>(r)),
    };
    let store = tenancy::get_store(&state.db, &access.membership.scope).await?;
    let (zone, now) = super::merchant::clock(&state, &access).await?;
    let html = state.templates.render(
        "token_created.html",
        json!({"operator": access.account.email, "store": store, "token": tokens::reveal(&secret), "info": info,
            "time_zone": zone, "now": now}),
    )?;
    Ok(Html(html).into_response())
}

/// Decodes `%XX` escapes of a form value.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn revoke_token(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, token)): IdPath<(String, TokenId)>,
) -> PageResult {
    let outcome = api_tokens::revoke(&state, &access, token).await;
    after(&access, "security/staff#api-tokens", "token-revoked", outcome)
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    role: String,
}

async fn invite(State(state): State<AppState>, access: StaffAccess, Form(form): Form<InviteForm>) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let outcome = staff::invite(&state, &access, &form.email, &form.role).await;
    after(&access, "security/staff#invite", "invited", outcome)
}

async fn revoke_invitation(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, invitation)): Path<(String, String)>,
) -> PageResult {
    let outcome = staff::revoke_invitation(&state, &access, &invitation).await;
    after(&access, "security/staff#invitations", "invitation-withdrawn", outcome)
}

fn no_invitation() -> PageError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "This invitation link is invalid, already used or expired.",
    )
    .into()
}

async fn invitation_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    signed: Result<SignedIn, crate::http::session::SessionRejection>,
) -> Result<Response, PageError> {
    let Some(inv) = invitations::find(&state.db, &token).await? else {
        return Err(no_invitation());
    };
    let existing = match &email_of(&inv.email) {
        Some(e) => tenancy::find_account_by_email(&state.db, e).await?.is_some(),
        None => false,
    };
    let signed_as = signed.ok().map(|s| s.account.email);
    let html = state
        .templates
        .render("invitation.html", json!({"inv": inv, "token": token, "existing": existing, "signed_as": signed_as}))?;
    Ok(Html(html).into_response())
}

fn email_of(s: &str) -> Option<Email> {
    Email::parse(s).ok()
}

#[derive(Deserialize)]
struct AcceptForm {
    name: Option<String>,
    password: Option<String>,
}

async fn accept_invitation(
    State(state): State<AppState>,
    Path(token): Path<String>,
    signed: Result<SignedIn, crate::http::session::SessionRejection>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, PageError> {
    // The token goes into a redirect below: one that is not even shaped like a token is a 404, not a 500.
    if !invitations::is_well_formed(&token) {
        return Err(no_invitation());
    }
    let who = match (signed, form.password) {
        (Ok(s), _) => invitations::Acceptor::Existing(s.account),
        (Err(_), Some(pw)) => invitations::Acceptor::New {
            display_name: form.name.unwrap_or_default(),
            password: secrecy::SecretString::from(pw),
        },
        (Err(_), None) => return Ok(Redirect::to(&format!("/login?next=/invitations/{token}")).into_response()),
    };
    match invitations::accept(&state.identity, &token, who).await {
        Ok(_) => Ok(Redirect::to("/admin").into_response()),
        Err(palisade_identity::IdentityError::Policy(p)) => {
            let inv = invitations::find(&state.db, &token).await?;
            let html = state.templates.render(
                "invitation.html",
                json!({"inv": inv, "token": token, "existing": false, "error": p.to_string()}),
            )?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, Html(html)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/security/controls",
    tag = "store admin",
    summary = "The store's side of the responsibility matrix, with live status",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(access::MEMBER)))
)]
async fn api_controls(State(state): State<AppState>, access: StaffAccess) -> Result<Json<matrix::Report>, ApiError> {
    // Staff see the platform's column without its internals, as on the page.
    Ok(Json(state.registry.evaluate_store(&state.db, &state.facts, &access.membership.scope).await?.for_merchant()))
}

/// JSON-flavoured admin error.
#[derive(Debug)]
pub enum AdminApiError {
    Access(AccessRejection),
    Api(ApiError),
}

impl From<AccessRejection> for AdminApiError {
    fn from(e: AccessRejection) -> Self {
        AdminApiError::Access(e)
    }
}

impl IntoResponse for AdminApiError {
    fn into_response(self) -> Response {
        match self {
            AdminApiError::Access(a) => a.into_response(),
            AdminApiError::Api(e) => e.into_response(),
        }
    }
}
