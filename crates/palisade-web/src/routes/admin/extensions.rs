//! Security Center → Extensions: the store's installed extensions (version, what the catalog has newer, advisories
//! affecting the installed version, update policy, the last failed automatic update) and the platform's catalog to
//! install from. Everything here needs the security settings permission, and installing or updating also every
//! permission the release asks for; every change is checked ([`services::extensions::check_release`]) before it
//! goes live and audited in the store's chain.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect};
use palisade_commerce::webhooks::deliveries;
use palisade_core::time::Timestamp;
use palisade_store::extensions::advisories::{self, State as FindingState};
use palisade_store::extensions::{self, Candidate, Policy, Release, compare_versions};
use palisade_store::permissions::Permission;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::notice;
use crate::routes::admin::scans::AcceptForm;
use crate::routes::admin::security_center::step_up;
use crate::routes::admin::security_tabs::{PageResult, render};
use crate::services::apps;
use crate::services::extensions as service;
use crate::state::AppState;

fn back(access: &StaffAccess, code: &'static str) -> String {
    notice::saved(&format!("/admin/stores/{}/security/extensions", access.membership.scope.store_id()), code)
}

/// The Extensions tab.
pub(crate) async fn tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let scope = &access.membership.scope;
    let catalog = extensions::releases(&state.db).await?;
    let installs = extensions::installs(&state.db, scope).await?;
    let findings = advisories::findings(&state.db, scope).await?;
    let matches = advisories::matches(&state.db).await?;
    let synced = palisade_store::settings::get(&state.db, advisories::SYNC_SETTING).await?.map(|(_, at)| at);
    let checked = advisories::last_checked(&state.db).await?;
    let apps = AppViews::load(&state, scope).await?;
    // Why a release cannot be installed now (a serious advisory, or published after the last check), if it cannot.
    let blocked = |r: &Release| -> Option<String> {
        let serious = matches.iter().find(|m| {
            m.extension_id == r.extension_id
                && m.version == r.version
                && matches!(m.severity.as_str(), "critical" | "high")
        });
        match (serious, checked) {
            (Some(m), _) => Some(format!("{} ({})", m.advisory_id, m.severity)),
            (None, Some(c)) if r.published_at.0 > c.0 => Some("awaiting the next advisory check".to_owned()),
            _ => None,
        }
    };
    let now = state.db.now();
    let installed: Vec<Value> = installs
        .iter()
        .map(|i| {
            let mine: Vec<&Release> = catalog.iter().filter(|r| r.extension_id == i.extension_id).collect();
            let name = mine.first().map_or(i.extension_id.as_str(), |r| r.name.as_str());
            let (newer, held): (Vec<&&Release>, Vec<&&Release>) = mine
                .iter()
                .filter(|r| compare_versions(&r.version, &i.version).is_gt())
                .partition(|r| blocked(r).is_none());
            let newer: Vec<&str> = newer.iter().map(|r| r.version.as_str()).collect();
            let held: Vec<String> =
                held.iter().map(|r| format!("{}: {}", r.version, blocked(r).unwrap_or_default())).collect();
            // Every newer release may be installed by hand (a new major version included); "behind" is the
            // control's reading: a compatible, non-pre-release one out for more than the allowed days.
            let candidates: Vec<Candidate<'_>> = mine
                .iter()
                .map(|r| Candidate { version: &r.version, published_at: r.published_at, affected: false })
                .collect();
            let cutoff = Timestamp(now.0 - extensions::UPDATE_WITHIN_DAYS * 24 * 3600 * 1000);
            let behind = extensions::behind(&i.version, &candidates, cutoff).is_some();
            let mine: Vec<Value> = findings
                .iter()
                .filter(|f| f.extension_id == i.extension_id && f.state != FindingState::Fixed)
                .map(|f| {
                    json!({"finding": f, "disable_at": f.disable_at(), "overdue": f.overdue(now),
                           "acceptable": !f.unfixable_critical()})
                })
                .collect();
            let is_app = mine_is_app(&catalog, i);
            json!({"install": i, "name": name, "newer": newer, "held": held, "behind": behind, "advisories": mine,
                   "app": is_app.then(|| apps.of(&i.extension_id))})
        })
        .collect();
    let mut offered: Vec<&Release> = Vec::new();
    for r in &catalog {
        let first_of_its_id = offered.last().is_none_or(|l| l.extension_id != r.extension_id);
        if first_of_its_id && !installs.iter().any(|i| i.extension_id == r.extension_id) {
            offered.push(r);
        }
    }
    let catalog: Vec<Value> = offered
        .iter()
        .map(|r| {
            let against: Vec<&advisories::ReleaseAdvisory> =
                matches.iter().filter(|m| m.extension_id == r.extension_id && m.version == r.version).collect();
            json!({"release": r, "advisories": against, "blocked": blocked(r)})
        })
        .collect();
    let history: Vec<&advisories::Finding> =
        findings.iter().filter(|f| f.state == FindingState::Fixed).take(20).collect();
    let ctx = json!({"installed": installed, "catalog": catalog, "max_delay": extensions::MAX_DELAY_DAYS,
                     "within_days": extensions::UPDATE_WITHIN_DAYS, "synced": synced, "history": history,
                     "max_accept": advisories::MAX_ACCEPT_DAYS, "disable_after": advisories::DISABLE_AFTER_DAYS});
    render(&state, &access, "extensions", "security_extensions.html", ctx).await
}

/// Whether the installed release is an app (it has a token and may have webhooks to show).
fn mine_is_app(catalog: &[Release], i: &extensions::Install) -> bool {
    catalog
        .iter()
        .any(|r| r.extension_id == i.extension_id && r.version == i.version && r.kinds.iter().any(|k| k == "app"))
}

/// The store's app tokens, webhook subscriptions and latest deliveries, for each installed app's panel.
struct AppViews {
    tokens: Vec<palisade_store::tokens::StoreTokenListing>,
    subscriptions: Vec<palisade_commerce::webhooks::subscriptions::Subscription>,
    deliveries: Vec<deliveries::Delivery>,
}

impl AppViews {
    async fn load(state: &AppState, scope: &palisade_store::StaffScope) -> Result<Self, ApiError> {
        Ok(AppViews {
            tokens: palisade_store::tokens::list_store(&state.db, scope).await?,
            subscriptions: palisade_commerce::webhooks::subscriptions::list(&state.db, scope).await?,
            deliveries: deliveries::list(&state.db, scope, 200).await?,
        })
    }

    fn of(&self, extension: &str) -> Value {
        let tokens: Vec<_> = self.tokens.iter().filter(|t| t.extension_id.as_deref() == Some(extension)).collect();
        let subs: Vec<_> =
            self.subscriptions.iter().filter(|s| s.extension_id == extension && s.removed_at.is_none()).collect();
        let ids: Vec<_> = self.subscriptions.iter().filter(|s| s.extension_id == extension).map(|s| s.id).collect();
        let recent: Vec<&deliveries::Delivery> =
            self.deliveries.iter().filter(|d| ids.contains(&d.subscription_id)).take(10).collect();
        let recent: Vec<Value> = recent
            .iter()
            .map(|d| {
                let status = match d.status {
                    deliveries::DeliveryStatus::Pending => "pending",
                    deliveries::DeliveryStatus::Delivered => "delivered",
                    deliveries::DeliveryStatus::Failed => "failed",
                };
                json!({"id": d.id.to_string(), "topic": d.topic, "status": status, "attempts": d.attempts,
                       "last_error": d.last_error, "created_at": d.created_at, "next_attempt_at": d.next_attempt_at})
            })
            .collect();
        // The host only: the app's URL may carry a token in its path or query.
        let host = subs.first().map(|s| palisade_commerce::webhooks::subscriptions::url_host(&s.url).to_owned());
        let topics: Vec<&str> = subs.iter().map(|s| s.topic.as_str()).collect();
        json!({"tokens": tokens, "subscriptions": topics, "host": host, "deliveries": recent})
    }
}

#[derive(Deserialize)]
pub(crate) struct InstallForm {
    extension: String,
    version: String,
    policy: String,
    #[serde(default)]
    delay_days: String,
}

fn delay(text: &str) -> Result<i64, ApiError> {
    if text.trim().is_empty() {
        return Ok(3);
    }
    text.trim().parse::<i64>().ok().filter(|d| (0..=extensions::MAX_DELAY_DAYS).contains(d)).ok_or_else(|| {
        crate::services::invalid(format!(
            "the delay is a whole number of days from 0 to {}",
            extensions::MAX_DELAY_DAYS
        ))
    })
}

/// Installs a catalog release (checked first; the member must hold every permission it asks for).
pub(crate) async fn install(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<InstallForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    // Installing grants code access to the store: a signed-in person who entered their password recently.
    if let Some(r) = step_up(&state, &access, "security/extensions#catalog") {
        return Ok(r);
    }
    let Form(form) = form.map_err(ApiError::from)?;
    let policy = Policy::parse(&form.policy).map_err(ApiError::from)?;
    let delay_days = delay(&form.delay_days)?;
    let holds = |p: Permission| access.membership.can(p);
    let scope = &access.membership.scope;
    match service::install(&state, scope, &holds, &form.extension, &form.version, policy, delay_days).await? {
        None => Ok(Redirect::to(&back(&access, "extension-installed")).into_response()),
        Some(credentials) => credentials_page(&state, &access, &credentials, Occasion::Install).await,
    }
}

/// Why an app's credentials are shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Occasion {
    Install,
    NewToken,
}

/// The page that shows an app's token and webhook secrets, once (never a redirect: nothing to reload later).
async fn credentials_page(
    state: &AppState,
    access: &StaffAccess,
    c: &apps::AppCredentials,
    occasion: Occasion,
) -> PageResult {
    let installed = occasion == Occasion::Install;
    let store = palisade_store::tenancy::get_store(&state.db, &access.membership.scope).await?;
    let (info, secret) = &c.token;
    let webhooks: Vec<Value> = c
        .webhooks
        .iter()
        .map(|w| json!({"topic": w.topic.as_str(), "id": w.id.to_string(), "secret": w.secret.expose_secret()}))
        .collect();
    let html = state.templates.render(
        "app_credentials.html",
        json!({"operator": access.account.email, "store": store, "name": c.name, "installed": installed,
               "token": secret.expose_secret(), "info": info, "webhooks": webhooks, "data_level": c.data_level}),
    )?;
    let mut response = Html(html).into_response();
    // A page holding secrets is never kept by a browser or a proxy.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Issues an installed app a fresh token (it lost the last one, or it expired); the old one stops working now.
pub(crate) async fn reissue_token(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, extension)): Path<(String, String)>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    if let Some(r) = step_up(&state, &access, "security/extensions#installed") {
        return Ok(r);
    }
    let holds = |p: Permission| access.membership.can(p);
    let credentials = apps::reissue_token(&state, &access.membership.scope, &holds, &extension).await?;
    credentials_page(&state, &access, &credentials, Occasion::NewToken).await
}

/// Staff send a failed webhook delivery again.
pub(crate) async fn redeliver(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, delivery)): Path<(String, String)>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let id = delivery.parse().map_err(|_| ApiError::not_found("failed webhook delivery"))?;
    deliveries::redeliver(&state.db, &access.membership.scope, id).await?;
    Ok(Redirect::to(&back(&access, "webhook-redelivered")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct UpdateForm {
    version: String,
}

/// Updates an installed extension to a newer catalog release, by hand (any major version; checked first).
pub(crate) async fn update(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, extension)): Path<(String, String)>,
    form: Result<Form<UpdateForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    if let Some(r) = step_up(&state, &access, "security/extensions#installed") {
        return Ok(r);
    }
    let Form(form) = form.map_err(ApiError::from)?;
    let holds = |p: Permission| access.membership.can(p);
    service::update_by_hand(&state, &access.membership.scope, &holds, &extension, &form.version).await?;
    Ok(Redirect::to(&back(&access, "extension-updated")).into_response())
}

#[derive(Deserialize)]
pub(crate) struct PolicyForm {
    policy: String,
    #[serde(default)]
    delay_days: String,
}

/// Sets an installed extension's update policy.
pub(crate) async fn set_policy(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, extension)): Path<(String, String)>,
    form: Result<Form<PolicyForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let policy = Policy::parse(&form.policy).map_err(ApiError::from)?;
    let delay_days = delay(&form.delay_days)?;
    extensions::set_policy(&state.db, &access.membership.scope, &extension, policy, delay_days).await?;
    Ok(Redirect::to(&back(&access, "extension-policy")).into_response())
}

/// Accepts an advisory affecting an installed extension for a number of days, with a reason (never a critical one
/// without a fix: the platform disables those).
pub(crate) async fn accept(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, extension, advisory)): Path<(String, String, String)>,
    form: Result<Form<AcceptForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    // Accepting a known flaw is a security decision like installing: a recent password.
    if let Some(r) = step_up(&state, &access, "security/extensions#installed") {
        return Ok(r);
    }
    let Form(form) = form.map_err(ApiError::from)?;
    let until = form.until(state.db.now())?;
    advisories::accept(&state.db, &access.membership.scope, &extension, &advisory, &form.reason, until).await?;
    Ok(Redirect::to(&back(&access, "extension-advisory-accepted")).into_response())
}

/// Removes an installed extension.
pub(crate) async fn remove(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, extension)): Path<(String, String)>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    apps::uninstall(&state, &access.membership.scope, &extension).await?;
    Ok(Redirect::to(&back(&access, "extension-removed")).into_response())
}
