//! Installed apps (issue #19, the app form): what an install of a release with an `[app]` section grants, and
//! its webhooks.
//!
//! An app's install writes, in the install's one transaction, a scoped and expiring API token (the release's
//! scopes and customer data level, acting for the installer; `palisade_store::tokens::app`) and one webhook
//! subscription per topic its manifest lists (`palisade_commerce::webhooks`). Their secrets are answered once, on
//! the page that follows the install, for the merchant to paste into the app's settings. Removing the app queues
//! its `app.uninstalled` event, ends its subscriptions and revokes its tokens with the removal. The
//! [`DELIVER_JOB`](palisade_commerce::webhooks::deliveries::DELIVER_JOB) sends what is due every minute through
//! the outbound guard.

use palisade_commerce::webhooks::deliveries::{self, RunReport, Sender};
use palisade_commerce::webhooks::subscriptions::{self, AppWebhooks, NewSubscription};
use palisade_core::AccountId;
use palisade_registry::VerifiedRelease;
use palisade_store::extensions::{self, Policy};
use palisade_store::outbound::OutboundPolicy;
use palisade_store::permissions::Permission;
use palisade_store::scope::{Actor, PlatformScope, StaffScope};
use palisade_store::tokens::TokenInfo;
use palisade_store::tokens::app::{self as app_tokens, NewAppToken};
use secrecy::SecretString;

use crate::http::ApiError;
use crate::state::AppState;

/// Deliveries sent per run of the job at most (the rest wait for the next minute).
const BATCH: i64 = 200;

/// What an app's install (or a fresh token) hands the merchant once: never stored, never logged. No `Debug`.
pub struct AppCredentials {
    pub extension_id: String,
    pub name: String,
    pub token: (TokenInfo, SecretString),
    /// The protected customer data level the token is held to (0, 1, 2).
    pub data_level: u8,
    pub webhooks: Vec<NewSubscription>,
}

/// Where this node's webhooks may go: public addresses over HTTPS only, unless the operator's flag widens it.
#[must_use]
pub fn outbound(state: &AppState) -> OutboundPolicy {
    if state.config.webhooks_allow_private {
        OutboundPolicy::allow_private_networks()
    } else {
        OutboundPolicy::public_only()
    }
}

/// The person a token acts for: an app is installed by a signed-in member, never by a system task.
fn person(scope: &StaffScope) -> Result<AccountId, ApiError> {
    match scope.actor() {
        Actor::Account(id) => Ok(id),
        _ => Err(crate::services::invalid("an app is installed by a person, who its token acts for")),
    }
}

/// The release's scopes as store permissions (the manifest's names are the permissions' keys).
fn permissions(verified: &VerifiedRelease) -> Vec<Permission> {
    verified.package().manifest.scopes.iter().filter_map(|s| Permission::parse(s.as_str())).collect()
}

/// Installs a checked release; when it is an app, issues its token and subscribes its webhooks in the same
/// transaction and returns their secrets (once). Nothing is written if any part is refused.
pub(crate) async fn install(
    state: &AppState,
    scope: &StaffScope,
    verified: &VerifiedRelease,
    policy: Policy,
    delay_days: i64,
) -> Result<Option<AppCredentials>, ApiError> {
    let manifest = &verified.package().manifest;
    let (id, version) = (manifest.id.as_str(), manifest.version.to_string());
    let Some(app) = &manifest.content.app else {
        extensions::install(&state.db, scope, id, &version, policy, delay_days).await?;
        return Ok(None);
    };
    let acts_for = person(scope)?;
    let scopes = permissions(verified);
    let topics: Vec<_> = manifest.webhooks.iter().copied().collect();
    let keys = match (&app.webhook_url, topics.is_empty()) {
        (Some(_), false) => Some(state.webhook_keys.as_deref().ok_or_else(|| {
            crate::services::invalid(
                "this node has no master key to seal webhook secrets with; apps with webhooks cannot be installed",
            )
        })?),
        _ => None,
    };
    let db = &state.db;
    let mut tx = db.begin_write().await?;
    extensions::install_on(&mut tx, db, scope, id, &version, policy, delay_days).await?;
    let token = NewAppToken {
        extension_id: id,
        name: &manifest.name,
        scopes: &scopes,
        data_level: manifest.customer_data.number(),
        acts_for,
    };
    let token = app_tokens::issue_on(&mut tx, db, scope, &token).await?;
    let mut webhooks = Vec::new();
    if let (Some(url), Some(keys)) = (&app.webhook_url, keys) {
        let granted: Vec<_> = manifest.scopes.iter().copied().collect();
        let hooks = AppWebhooks { extension: &manifest.id, url: url.as_str(), topics: &topics, granted: &granted };
        webhooks = subscriptions::subscribe_on(&mut tx, db, scope, hooks, keys, &outbound(state)).await?;
    }
    tx.commit().await.map_err(palisade_store::StoreError::from)?;
    let data_level = manifest.customer_data.number();
    Ok(Some(AppCredentials { extension_id: id.to_owned(), name: manifest.name.clone(), token, data_level, webhooks }))
}

/// Removes an installed extension; for an app, queues its `app.uninstalled` event, ends its webhook
/// subscriptions and revokes its tokens, all in the removal's transaction.
pub(crate) async fn uninstall(state: &AppState, scope: &StaffScope, extension_id: &str) -> Result<(), ApiError> {
    let Ok(id) = palisade_registry::ExtensionId::parse(extension_id) else {
        return Err(ApiError::not_found("installed extension"));
    };
    let db = &state.db;
    let mut tx = db.begin_write().await?;
    deliveries::emit_uninstalled_on(&mut tx, db, scope, &id).await?;
    subscriptions::remove_for_extension_on(&mut tx, db, scope, &id).await?;
    extensions::uninstall_on(&mut tx, db, scope, extension_id).await?;
    tx.commit().await.map_err(palisade_store::StoreError::from)?;
    Ok(())
}

/// Issues an installed app new credentials: a fresh token (the old one stops working) acting for the member who
/// asks, who must hold every permission the installed release asks for, and a new secret for each webhook
/// subscription (a leaked one stops verifying). One transaction.
pub(crate) async fn reissue_token(
    state: &AppState,
    scope: &StaffScope,
    holds: &(dyn Fn(Permission) -> bool + Sync),
    extension_id: &str,
) -> Result<AppCredentials, ApiError> {
    let install = extensions::installed(&state.db, scope, extension_id)
        .await?
        .ok_or_else(|| ApiError::not_found("installed extension"))?;
    let release = extensions::release(&state.db, extension_id, &install.version)
        .await?
        .ok_or_else(|| ApiError::not_found("release"))?;
    crate::services::extensions::require_held(&release, holds)?;
    let verified = crate::services::extensions::check_release(state, &release).await?;
    let manifest = &verified.package().manifest;
    if manifest.content.app.is_none() {
        return Err(crate::services::invalid("this extension is not an app; it has no token"));
    }
    let scopes = permissions(&verified);
    let token = NewAppToken {
        extension_id,
        name: &manifest.name,
        scopes: &scopes,
        data_level: manifest.customer_data.number(),
        acts_for: person(scope)?,
    };
    let db = &state.db;
    let mut tx = db.begin_write().await?;
    let token = app_tokens::reissue_on(&mut tx, db, scope, &token).await?;
    let webhooks = match state.webhook_keys.as_deref() {
        Some(keys) => subscriptions::rotate_secrets_on(&mut tx, db, scope, &manifest.id, keys).await?,
        None => Vec::new(),
    };
    tx.commit().await.map_err(palisade_store::StoreError::from)?;
    let data_level = manifest.customer_data.number();
    let name = manifest.name.clone();
    Ok(AppCredentials { extension_id: extension_id.to_owned(), name, token, data_level, webhooks })
}

/// Where a release's webhooks go and which events they carry (empty for a release without any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    pub extension_id: String,
    pub url: Option<String>,
    pub topics: Vec<String>,
}

impl Hooks {
    /// The verified release's webhooks, as its manifest declares them.
    #[must_use]
    pub fn of(verified: &VerifiedRelease) -> Hooks {
        let m = &verified.package().manifest;
        let url = m.content.app.as_ref().and_then(|a| a.webhook_url.as_ref()).map(|u| u.as_str().to_owned());
        let mut topics: Vec<String> =
            if url.is_some() { m.webhooks.iter().map(|t| t.as_str().to_owned()).collect() } else { Vec::new() };
        topics.sort();
        Hooks { extension_id: m.id.as_str().to_owned(), url, topics }
    }
}

/// Whether the store's live subscriptions for the app are exactly `hooks` (same URL, same events): an update
/// that changes them is not made without a person, since new secrets would have to reach the app.
pub(crate) async fn webhooks_unchanged(
    db: &palisade_store::Db,
    scope: &StaffScope,
    hooks: &Hooks,
) -> Result<bool, palisade_store::StoreError> {
    let live = subscriptions::list(db, scope).await.map_err(|e| match e {
        palisade_commerce::error::CommerceError::Store(e) => e,
        other => palisade_store::StoreError::Corrupt(format!("webhook subscriptions: {other}")),
    })?;
    let mine: Vec<_> = live.iter().filter(|s| s.extension_id == hooks.extension_id && s.removed_at.is_none()).collect();
    let mut topics: Vec<String> = mine.iter().map(|s| s.topic.clone()).collect();
    topics.sort();
    let urls_match = match &hooks.url {
        Some(url) => mine.iter().all(|s| &s.url == url),
        None => mine.is_empty(),
    };
    Ok(urls_match && topics == hooks.topics)
}

/// Sends every store's due webhook deliveries (the job). Without a master key there is nothing that can sign.
pub async fn deliver_due(state: &AppState) -> Result<RunReport, palisade_commerce::error::CommerceError> {
    let Some(keys) = state.webhook_keys.as_deref() else { return Ok(RunReport::default()) };
    let policy = outbound(state);
    let sender = Sender { keys, policy: &policy, limits: Sender::DEFAULT_LIMITS, batch: BATCH };
    let platform = PlatformScope::system("job:webhooks.deliver_due");
    deliveries::deliver_due(&state.db, &platform, &sender).await
}
