//! The outbox of webhook deliveries: written with the change that is the event, sent by a job through the
//! outbound guard, retried with capped exponential backoff and jitter, and marked failed after the last attempt.

use std::time::Duration;

use palisade_core::{StoreId, Timestamp, WebhookDeliveryId, WebhookSubscriptionId};
use palisade_registry::names::WebhookTopic;
use palisade_store::outbound::{OutboundError, OutboundPolicy, PostLimits, RequestError};
use palisade_store::scope::PlatformScope;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use rand::Rng;
use secrecy::SecretString;
use sqlx::AnyConnection;

use super::subscriptions::topic_allowed;
use super::{WebhookKeys, seal_context, signature};
use crate::error::{CommerceError, Result, stored_id};

/// The job kind that runs [`deliver_due`].
pub const DELIVER_JOB: &str = "webhooks.deliver_due";
/// Attempts before a delivery is marked failed (about 8.5 hours of retries with [`backoff`]).
pub const MAX_ATTEMPTS: i64 = 10;
/// The first retry waits about this long; each later one twice as long, up to [`BACKOFF_CAP`].
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);
/// The longest wait between two attempts.
pub const BACKOFF_CAP: Duration = Duration::from_secs(6 * 3600);
/// Largest event payload accepted (the `data` object, serialised).
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// How long to wait after failed attempt number `attempt` (1-based): `min(cap, base · 2^(attempt-1))`, of which a
/// random half is taken off ("equal jitter"), so receivers that failed together are not retried together.
#[must_use]
pub fn backoff(attempt: i64) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = BACKOFF_BASE.saturating_mul(2u32.saturating_pow(exp)).min(BACKOFF_CAP);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
    half + Duration::from_millis(jitter_ms)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryStatus {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "delivered" => Ok(Self::Delivered),
            "failed" => Ok(Self::Failed),
            other => Err(CommerceError::Store(StoreError::Corrupt(format!("webhook delivery status {other}")))),
        }
    }
}

/// A delivery as the store's staff see it: where it stands, never the secret or the receiver's answer body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub subscription_id: WebhookSubscriptionId,
    pub topic: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

type SubRow = (String, String);

/// Queues `topic` with `data` for every live subscription of this store to it whose granted scopes cover it (an app
/// the platform disabled over an advisory is left out; its queued deliveries wait, unsent, until it runs again),
/// inside the caller's transaction (the event commits or rolls back with its change). Returns how many
/// deliveries were queued. The body each subscriber receives is
/// `{"id", "topic", "store_id", "created_at", "data"}`, fixed now and signed at each attempt.
pub async fn emit_on(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    topic: WebhookTopic,
    data: &serde_json::Value,
) -> Result<usize> {
    let subs: Vec<SubRow> = sqlx::query_as(
        "SELECT id, scopes FROM webhook_subscriptions w WHERE store_id = $1 AND topic = $2 AND removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM store_extensions e WHERE e.store_id = w.store_id AND e.extension_id = w.extension_id AND e.disabled_at IS NOT NULL) ORDER BY id",
    )
    .bind(scope.store_key())
    .bind(topic.as_str())
    .fetch_all(&mut *conn)
    .await?;
    queue(conn, db, scope, topic, data, &subs).await
}

/// Queues `app.uninstalled` for the removed app only (another app subscribed to the topic is not told of it),
/// inside the removal's transaction and before its subscriptions end.
pub async fn emit_uninstalled_on(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    extension: &palisade_registry::names::ExtensionId,
) -> Result<usize> {
    let topic = WebhookTopic::AppUninstalled;
    let subs: Vec<SubRow> = sqlx::query_as(
        "SELECT id, scopes FROM webhook_subscriptions WHERE store_id = $1 AND topic = $2 AND extension_id = $3 AND removed_at IS NULL ORDER BY id",
    )
    .bind(scope.store_key())
    .bind(topic.as_str())
    .bind(extension.as_str())
    .fetch_all(&mut *conn)
    .await?;
    let data = serde_json::json!({"extension_id": extension.as_str()});
    queue(conn, db, scope, topic, &data, &subs).await
}

/// Writes one delivery of `data` per subscription in `subs` whose scopes cover `topic`.
async fn queue(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StoreScope,
    topic: WebhookTopic,
    data: &serde_json::Value,
    subs: &[SubRow],
) -> Result<usize> {
    let data_len = serde_json::to_vec(data).map_err(|e| CommerceError::Invalid(e.to_string()))?.len();
    if data_len > MAX_DATA_BYTES {
        return Err(CommerceError::Invalid(format!("webhook data larger than {MAX_DATA_BYTES} bytes")));
    }
    let store = scope.store_id().to_string();
    let now = db.now();
    let mut queued = 0;
    for (sub, _) in subs.iter().filter(|(_, scopes)| topic_allowed(topic, scopes)) {
        let id = WebhookDeliveryId::new();
        let body = serde_json::json!({
            "id": id.to_string(), "topic": topic.as_str(), "store_id": store, "created_at": now.0, "data": data,
        });
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, store_id, subscription_id, topic, body, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)",
        )
        .bind(id.to_string())
        .bind(&store)
        .bind(sub)
        .bind(topic.as_str())
        .bind(body.to_string())
        .bind(now.0)
        .execute(&mut *conn)
        .await?;
        queued += 1;
    }
    Ok(queued)
}

/// [`emit_on`] in a transaction of its own, for events that are not part of another write.
pub async fn emit(db: &Db, scope: &StoreScope, topic: WebhookTopic, data: &serde_json::Value) -> Result<usize> {
    let mut tx = db.begin_write().await?;
    let queued = emit_on(&mut tx, db, scope, topic, data).await?;
    tx.commit().await?;
    Ok(queued)
}

/// What sending needs: the secrets' key, the outbound policy and the limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    pub keys: &'a WebhookKeys,
    pub policy: &'a OutboundPolicy,
    pub limits: PostLimits,
    /// Deliveries sent per run at most.
    pub batch: i64,
}

impl Sender<'_> {
    /// A short timeout (10 s for the whole exchange) and 16 KiB of the answer read at most.
    pub const DEFAULT_LIMITS: PostLimits =
        PostLimits { timeout: Duration::from_secs(10), max_response_bytes: 16 * 1024 };
}

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RunReport {
    pub delivered: usize,
    pub retrying: usize,
    pub gave_up: usize,
}

/// Sends every due delivery of every store (the job; `scope` says only the platform may call it).
pub async fn deliver_due(db: &Db, _scope: &PlatformScope, sender: &Sender<'_>) -> Result<RunReport> {
    run(db, None, sender).await
}

/// Sends this store's due deliveries only (a "send now" for one store); another store's are not touched.
pub async fn deliver_due_for_store(db: &Db, scope: &StoreScope, sender: &Sender<'_>) -> Result<RunReport> {
    run(db, Some(scope.store_id()), sender).await
}

/// A due delivery with what sending it needs.
struct Due {
    id: String,
    store: String,
    subscription: String,
    topic: String,
    body: String,
    attempts: i64,
    next_attempt_at: i64,
    url: String,
    sealed: String,
    /// The subscription ended (the app was removed); only its `app.uninstalled` event is still sent.
    removed: bool,
}

type DueRow = (String, String, String, String, String, i64, i64, String, String, Option<i64>);

/// The due-deliveries query (a macro so each variant is one literal string).
macro_rules! due_select {
    () => {
        "SELECT d.id, d.store_id, d.subscription_id, d.topic, d.body, d.attempts, d.next_attempt_at, s.url, s.secret_sealed, s.removed_at FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id AND s.store_id = d.store_id WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND NOT EXISTS (SELECT 1 FROM store_extensions e WHERE e.store_id = s.store_id AND e.extension_id = s.extension_id AND e.disabled_at IS NOT NULL)"
    };
}

async fn due(db: &Db, store: Option<StoreId>, limit: i64) -> Result<Vec<Due>> {
    let now = db.now().0;
    let rows: Vec<DueRow> = match store {
        None => {
            sqlx::query_as(concat!(due_select!(), " ORDER BY d.next_attempt_at, d.id LIMIT $2"))
                .bind(now)
                .bind(limit.clamp(1, 1000))
                .fetch_all(db.pool())
                .await?
        }
        Some(store) => {
            sqlx::query_as(concat!(due_select!(), " AND d.store_id = $3 ORDER BY d.next_attempt_at, d.id LIMIT $2"))
                .bind(now)
                .bind(limit.clamp(1, 1000))
                .bind(store.to_string())
                .fetch_all(db.pool())
                .await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|r| Due {
            removed: r.9.is_some() && r.3 != WebhookTopic::AppUninstalled.as_str(),
            id: r.0,
            store: r.1,
            subscription: r.2,
            topic: r.3,
            body: r.4,
            attempts: r.5,
            next_attempt_at: r.6,
            url: r.7,
            sealed: r.8,
        })
        .collect())
}

async fn run(db: &Db, store: Option<StoreId>, sender: &Sender<'_>) -> Result<RunReport> {
    let client =
        sender.policy.client_without_redirects().map_err(|e| CommerceError::Invalid(format!("webhook client: {e}")))?;
    let mut report = RunReport::default();
    for d in due(db, store, sender.batch).await? {
        if !claim(db, &d, sender.limits.timeout).await? {
            continue; // another node took it
        }
        let outcome = attempt(&client, db, &d, sender).await;
        match record(db, &d, &outcome).await? {
            Recorded::Delivered => report.delivered += 1,
            Recorded::Retrying => report.retrying += 1,
            Recorded::GaveUp => report.gave_up += 1,
        }
    }
    Ok(report)
}

/// Takes a due delivery by moving its time forward past the request's timeout (a lease: if this node dies
/// mid-send, the delivery is due again after it). Only the node whose update matched sends it.
async fn claim(db: &Db, d: &Due, timeout: Duration) -> Result<bool> {
    let lease = db.now().plus(timeout).plus(Duration::from_secs(60));
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND attempts = $3 AND next_attempt_at = $4",
    )
    .bind(lease.0)
    .bind(&d.id)
    .bind(d.attempts)
    .bind(d.next_attempt_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n == 1)
}

/// How one attempt ended.
enum Outcome {
    /// The receiver answered with this status.
    Answered(u16),
    /// No answer: a short classification (never the URL's query, the body or the secret).
    NoAnswer(String),
}

/// What store staff read when the guard refused the receiver's address. The guard's own words name the resolved
/// host and address, which would let a merchant map the platform's internal network by pointing an app at
/// internal names: they go to the server log only.
const GUARD_REFUSED: &str = "refused by the outbound guard: the receiver's address is not a public internet address";

/// Why a request failed, in words safe to store and show: the guard's refusal without its address; reqwest's
/// errors are reduced to their kind (their text can carry the URL, and a URL can carry a token).
fn classify(e: &RequestError) -> String {
    match e {
        RequestError::Refused(refused) => {
            tracing::warn!(%refused, "webhook delivery refused by the outbound guard");
            GUARD_REFUSED.into()
        }
        RequestError::TimedOut => "timed out".into(),
        RequestError::Http(http) => {
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(http);
            while let Some(s) = source {
                if let Some(refused) = s.downcast_ref::<OutboundError>() {
                    tracing::warn!(%refused, "webhook delivery refused by the outbound guard");
                    return GUARD_REFUSED.into();
                }
                source = s.source();
            }
            if http.is_timeout() {
                "timed out".into()
            } else if http.is_connect() {
                "could not connect".into()
            } else {
                "the request failed".into()
            }
        }
    }
}

/// One signed POST of a claimed delivery, timestamped now.
async fn attempt(client: &palisade_store::outbound::GuardedClient, db: &Db, d: &Due, sender: &Sender<'_>) -> Outcome {
    if d.removed {
        return Outcome::NoAnswer("subscription removed".into());
    }
    let (Ok(store), Ok(sub)) = (d.store.parse::<StoreId>(), d.subscription.parse::<WebhookSubscriptionId>()) else {
        return Outcome::NoAnswer("stored ids are corrupt".into());
    };
    let secret = match sender.keys.sealer().open(&d.sealed, &seal_context(store, sub)) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => SecretString::from(s),
            Err(_) => return Outcome::NoAnswer("the subscription secret does not open".into()),
        },
        Err(_) => return Outcome::NoAnswer("the subscription secret does not open".into()),
    };
    let now_secs = db.now().0.div_euclid(1000);
    let headers = [
        ("content-type", "application/json".to_owned()),
        ("palisade-delivery", d.id.clone()),
        ("palisade-topic", d.topic.clone()),
        ("palisade-subscription", d.subscription.clone()),
        (signature::SIGNATURE_HEADER, signature::sign(&secret, now_secs, d.body.as_bytes())),
    ];
    match client.post_for_status(&d.url, &headers, d.body.clone().into_bytes(), sender.limits).await {
        Ok(status) => Outcome::Answered(status),
        Err(e) => Outcome::NoAnswer(classify(&e)),
    }
}

/// What recording an attempt decided.
enum Recorded {
    Delivered,
    Retrying,
    GaveUp,
}

/// Records an attempt: a 2xx answer delivers; anything else counts an attempt and schedules the next one with
/// [`backoff`], or marks the delivery failed after [`MAX_ATTEMPTS`] (or at once when the subscription is gone).
/// Logged once, with ids, status and the classification only.
async fn record(db: &Db, d: &Due, outcome: &Outcome) -> Result<Recorded> {
    let now = db.now();
    let attempts = d.attempts.saturating_add(1);
    let (code, error) = match outcome {
        Outcome::Answered(code) if (200..300).contains(code) => (Some(i64::from(*code)), None),
        Outcome::Answered(code) => (Some(i64::from(*code)), Some(format!("HTTP {code}"))),
        Outcome::NoAnswer(why) => (None, Some(why.clone())),
    };
    let decided = match &error {
        None => Recorded::Delivered,
        Some(_) if d.removed || attempts >= MAX_ATTEMPTS => Recorded::GaveUp,
        Some(_) => Recorded::Retrying,
    };
    let (status, next, finished) = match decided {
        Recorded::Delivered => ("delivered", now, Some(now.0)),
        Recorded::GaveUp => ("failed", now, Some(now.0)),
        Recorded::Retrying => ("pending", now.plus(backoff(attempts)), None),
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_status_code = $4, last_error = $5, finished_at = $6 WHERE id = $7 AND store_id = $8 AND attempts = $9",
    )
    .bind(status)
    .bind(attempts)
    .bind(next.0)
    .bind(code)
    .bind(error.as_deref())
    .bind(finished)
    .bind(&d.id)
    .bind(&d.store)
    .bind(d.attempts)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    match &error {
        None => tracing::info!(webhook.delivery = %d.id, store.id = %d.store, attempts, "webhook delivered"),
        Some(why) => tracing::warn!(
            webhook.delivery = %d.id, store.id = %d.store, attempts, http.status = ?code, error = %why, final = status == "failed",
            "webhook delivery attempt failed"
        ),
    }
    Ok(decided)
}

type DeliveryRow = (String, String, String, String, i64, i64, Option<i64>, Option<String>, i64, Option<i64>);

/// The delivery columns staff see (a macro so each query is one literal string).
macro_rules! delivery_select {
    () => {
        "SELECT id, subscription_id, topic, status, attempts, next_attempt_at, last_status_code, last_error, created_at, finished_at FROM webhook_deliveries"
    };
}

fn delivery_from_row(r: DeliveryRow) -> Result<Delivery> {
    Ok(Delivery {
        id: stored_id("webhook delivery", &r.0)?,
        subscription_id: stored_id("webhook subscription", &r.1)?,
        topic: r.2,
        status: DeliveryStatus::parse(&r.3)?,
        attempts: r.4,
        next_attempt_at: Timestamp(r.5),
        last_status_code: r.6,
        last_error: r.7,
        created_at: Timestamp(r.8),
        finished_at: r.9.map(Timestamp),
    })
}

/// The store's deliveries, newest first: failed ones stay listed with their last status and error.
pub async fn list(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<Delivery>> {
    let rows: Vec<DeliveryRow> =
        sqlx::query_as(concat!(delivery_select!(), " WHERE store_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"))
            .bind(scope.store_id().to_string())
            .bind(limit.clamp(1, 500))
            .fetch_all(db.pool())
            .await?;
    rows.into_iter().map(delivery_from_row).collect()
}

/// One of the store's deliveries; another store's id is "not found".
pub async fn get(db: &Db, scope: &StoreScope, id: WebhookDeliveryId) -> Result<Delivery> {
    let row: Option<DeliveryRow> = sqlx::query_as(concat!(delivery_select!(), " WHERE id = $1 AND store_id = $2"))
        .bind(id.to_string())
        .bind(scope.store_id().to_string())
        .fetch_optional(db.pool())
        .await?;
    delivery_from_row(row.ok_or(CommerceError::Store(StoreError::NotFound("webhook delivery")))?)
}

/// Staff send a failed delivery again: it is pending now with a fresh attempt count (its subscription must still
/// exist). Another store's delivery, or one not failed, is "not found" and left alone.
pub async fn redeliver(db: &Db, scope: &StaffScope, id: WebhookDeliveryId) -> Result<()> {
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, finished_at = NULL WHERE id = $2 AND store_id = $3 AND status = 'failed' AND subscription_id IN (SELECT id FROM webhook_subscriptions WHERE store_id = $3 AND removed_at IS NULL)",
    )
    .bind(now)
    .bind(id.to_string())
    .bind(scope.scope().store_id().to_string())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Err(CommerceError::Store(StoreError::NotFound("failed webhook delivery")));
    }
    let target = format!("webhook_delivery:{id}");
    palisade_store::audit::record_store(
        &mut tx,
        db,
        scope.scope(),
        palisade_store::audit::NewEvent::new("webhooks.redeliver", &target),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
