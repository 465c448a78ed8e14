//! Webhook subscriptions: created at an app's install, one per (store, extension, topic, URL), each with its own
//! secret shown once.

use palisade_core::{Timestamp, WebhookSubscriptionId};
use palisade_registry::names::{ExtensionId, Scope, WebhookTopic};
use palisade_store::audit::{self, NewEvent};
use palisade_store::outbound::OutboundPolicy;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

use super::{WebhookKeys, seal_context};
use crate::error::{CommerceError, Result, stored_id};

/// Longest subscriber URL accepted (as the manifest's own limit).
pub const MAX_URL_LEN: usize = 2048;
/// The prefix of every subscription secret, so a leaked one can be recognised.
pub const SECRET_PREFIX: &str = "pal_whsec_";

/// What an install asks for: the app's webhook URL, its topics and the scopes the store granted it.
#[derive(Debug, Clone, Copy)]
pub struct AppWebhooks<'a> {
    pub extension: &'a ExtensionId,
    pub url: &'a str,
    pub topics: &'a [WebhookTopic],
    pub granted: &'a [Scope],
}

/// A subscription just made, with its secret: the only time the secret leaves the server.
#[derive(Debug)]
pub struct NewSubscription {
    pub id: WebhookSubscriptionId,
    pub topic: WebhookTopic,
    pub secret: SecretString,
}

/// A stored subscription, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: WebhookSubscriptionId,
    pub extension_id: String,
    pub topic: String,
    pub url: String,
    pub created_at: Timestamp,
    pub removed_at: Option<Timestamp>,
}

fn new_secret() -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    SecretString::from(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// The scopes as stored: space-separated names.
pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
}

/// Whether `topic` may be delivered to a subscription granted `scopes_text`: a topic needing a scope goes only
/// to a subscription that holds it (a webhook is not a side door around the scopes).
pub(crate) fn topic_allowed(topic: WebhookTopic, scopes_text: &str) -> bool {
    match topic.required_scope() {
        None => true,
        Some(needed) => scopes_text.split(' ').any(|s| Scope::parse(s) == Some(needed)),
    }
}

fn check(app: &AppWebhooks<'_>, policy: &OutboundPolicy) -> Result<()> {
    if app.url.len() > MAX_URL_LEN {
        return Err(CommerceError::Invalid(format!("the webhook URL is longer than {MAX_URL_LEN} characters")));
    }
    policy.check_url(app.url).map_err(|e| CommerceError::Invalid(format!("webhook URL refused: {e}")))?;
    if app.topics.is_empty() {
        return Err(CommerceError::Invalid("no webhook topics to subscribe to".into()));
    }
    for topic in app.topics {
        if !topic_allowed(*topic, &scopes_text(app.granted)) {
            return Err(CommerceError::Invalid(format!(
                "the topic {topic} needs a scope the store did not grant ({})",
                topic.required_scope().map_or("", |s| s.as_str())
            )));
        }
    }
    Ok(())
}

/// The host part of an already checked URL (`scheme://host[:port]/…`), without credentials, path or query.
#[must_use]
pub fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority.rsplit('@').next().unwrap_or_default()
}

/// Subscribes an installed app to its topics in one transaction, with an audit event, and returns each new
/// subscription's secret (shown once; only its sealed form is kept). A topic the granted scopes do not cover, a
/// URL the outbound guard refuses, or a subscription that already exists is refused and nothing is written.
pub async fn subscribe(
    db: &Db,
    scope: &StaffScope,
    app: AppWebhooks<'_>,
    keys: &WebhookKeys,
    policy: &OutboundPolicy,
) -> Result<Vec<NewSubscription>> {
    let mut tx = db.begin_write().await?;
    let made = subscribe_on(&mut tx, db, scope, app, keys, policy).await?;
    tx.commit().await?;
    Ok(made)
}

/// [`subscribe`] inside the caller's transaction (the app's install).
pub async fn subscribe_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    app: AppWebhooks<'_>,
    keys: &WebhookKeys,
    policy: &OutboundPolicy,
) -> Result<Vec<NewSubscription>> {
    check(&app, policy)?;
    let store = scope.scope().store_id();
    let now = db.now();
    let mut made = Vec::new();
    let mut topics = app.topics.to_vec();
    topics.sort_by_key(|t| t.as_str());
    topics.dedup();
    for topic in topics {
        // An app installed again gets the row its last removal ended back, with a new secret (the old deliveries
        // keep pointing at it; its old secret opens nothing any more).
        let ended: Option<(String,)> = sqlx::query_as(
            "SELECT id FROM webhook_subscriptions WHERE store_id = $1 AND extension_id = $2 AND topic = $3 AND url = $4 AND removed_at IS NOT NULL",
        )
        .bind(store.to_string())
        .bind(app.extension.as_str())
        .bind(topic.as_str())
        .bind(app.url)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((ended,)) = ended {
            let id: WebhookSubscriptionId = stored_id("webhook subscription", &ended)?;
            let secret = new_secret();
            let sealed = keys.sealer().seal(secret.expose_secret().as_bytes(), &seal_context(store, id));
            sqlx::query(
                "UPDATE webhook_subscriptions SET scopes = $1, secret_sealed = $2, created_at = $3, removed_at = NULL WHERE id = $4 AND store_id = $5",
            )
            .bind(scopes_text(app.granted))
            .bind(sealed)
            .bind(now.0)
            .bind(id.to_string())
            .bind(store.to_string())
            .execute(&mut *tx)
            .await?;
            made.push(NewSubscription { id, topic, secret });
            continue;
        }
        let id = WebhookSubscriptionId::new();
        let secret = new_secret();
        let sealed = keys.sealer().seal(secret.expose_secret().as_bytes(), &seal_context(store, id));
        let inserted = sqlx::query(
            "INSERT INTO webhook_subscriptions (id, store_id, extension_id, topic, url, scopes, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.to_string())
        .bind(store.to_string())
        .bind(app.extension.as_str())
        .bind(topic.as_str())
        .bind(app.url)
        .bind(scopes_text(app.granted))
        .bind(sealed)
        .bind(now.0)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(CommerceError::Store(StoreError::Conflict(format!(
                    "{} is already subscribed to {topic} at this URL",
                    app.extension
                ))));
            }
            other => {
                other?;
            }
        }
        made.push(NewSubscription { id, topic, secret });
    }
    let target = format!("extension:{}", app.extension);
    let topics: Vec<&str> = made.iter().map(|m| m.topic.as_str()).collect();
    // The host only: an app's URL may carry a token in its path or query, and the audit log is widely read.
    let host = url_host(app.url);
    let details = serde_json::json!({"topics": topics, "host": host});
    audit::record_store(tx, db, scope.scope(), NewEvent::new("webhooks.subscribed", &target).details(details)).await?;
    Ok(made)
}

/// Gives every live subscription of the app a new secret inside the caller's transaction (staff issuing the app
/// new credentials: a leaked secret stops verifying at once). Audited (`webhooks.secrets_rotated`). Returns the
/// new secrets, to show once.
pub async fn rotate_secrets_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    extension: &ExtensionId,
    keys: &WebhookKeys,
) -> Result<Vec<NewSubscription>> {
    let store = scope.scope().store_id();
    let live: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, topic FROM webhook_subscriptions WHERE store_id = $1 AND extension_id = $2 AND removed_at IS NULL ORDER BY topic",
    )
    .bind(store.to_string())
    .bind(extension.as_str())
    .fetch_all(&mut *tx)
    .await?;
    let mut made = Vec::with_capacity(live.len());
    for (id, topic) in live {
        let id: WebhookSubscriptionId = stored_id("webhook subscription", &id)?;
        let Some(topic) = WebhookTopic::parse(&topic) else { continue };
        let secret = new_secret();
        let sealed = keys.sealer().seal(secret.expose_secret().as_bytes(), &seal_context(store, id));
        sqlx::query("UPDATE webhook_subscriptions SET secret_sealed = $1 WHERE id = $2 AND store_id = $3")
            .bind(sealed)
            .bind(id.to_string())
            .bind(store.to_string())
            .execute(&mut *tx)
            .await?;
        made.push(NewSubscription { id, topic, secret });
    }
    if !made.is_empty() {
        let target = format!("extension:{extension}");
        let details = serde_json::json!({"subscriptions": made.len()});
        audit::record_store(tx, db, scope.scope(), NewEvent::new("webhooks.secrets_rotated", &target).details(details))
            .await?;
    }
    Ok(made)
}

/// Ends an app's subscriptions in this store (at uninstall) and fails its deliveries still pending, in one
/// transaction. Returns how many subscriptions ended.
pub async fn remove_for_extension(db: &Db, scope: &StaffScope, extension: &ExtensionId) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    let ended = remove_for_extension_on(&mut tx, db, scope, extension).await?;
    tx.commit().await?;
    Ok(ended)
}

/// [`remove_for_extension`] inside the caller's transaction (the app's removal). The `app.uninstalled` delivery
/// queued in the same transaction is kept: it is the one event a removed app still receives.
pub async fn remove_for_extension_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    extension: &ExtensionId,
) -> Result<u64> {
    let store = scope.scope().store_id().to_string();
    let now = db.now().0;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'subscription removed', finished_at = $1 WHERE store_id = $2 AND status = 'pending' AND topic <> 'app.uninstalled' AND subscription_id IN (SELECT id FROM webhook_subscriptions WHERE store_id = $2 AND extension_id = $3)",
    )
    .bind(now)
    .bind(&store)
    .bind(extension.as_str())
    .execute(&mut *tx)
    .await?;
    let ended = sqlx::query(
        "UPDATE webhook_subscriptions SET removed_at = $1 WHERE store_id = $2 AND extension_id = $3 AND removed_at IS NULL",
    )
    .bind(now)
    .bind(&store)
    .bind(extension.as_str())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let target = format!("extension:{extension}");
    audit::record_store(tx, db, scope.scope(), NewEvent::new("webhooks.removed", &target)).await?;
    Ok(ended)
}

type SubscriptionRow = (String, String, String, String, i64, Option<i64>);

/// The store's subscriptions, newest first (secrets are never read back out).
pub async fn list(db: &Db, scope: &StoreScope) -> Result<Vec<Subscription>> {
    let rows: Vec<SubscriptionRow> = sqlx::query_as(
        "SELECT id, extension_id, topic, url, created_at, removed_at FROM webhook_subscriptions WHERE store_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(scope.store_id().to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Subscription {
                id: stored_id("webhook subscription", &r.0)?,
                extension_id: r.1,
                topic: r.2,
                url: r.3,
                created_at: Timestamp(r.4),
                removed_at: r.5.map(Timestamp),
            })
        })
        .collect()
}
