//! Buyer–seller messaging with scam warnings (issue #20 item 5).
//!
//! A thread is one buyer's conversation with one store, either general (asked from a product or store page, before
//! any purchase) or about one of the buyer's own orders. Every message is judged by the classifier in
//! `palisade_trust::messages` when it is sent, and the verdict and finding codes are stored with it:
//!
//! - `ok`: delivered as is;
//! - `warn`: delivered, and shown to the buyer with each reason in plain words;
//! - `block`: not delivered. The sender sees their text marked "not delivered" with the reason; the other side sees
//!   only that Palisade withheld a message, and why.
//!
//! Messages are plain text: pages escape them and never turn links into anchors, so a link in a message is inert.
//! Warnings are the platform's and cannot be turned off by a store.
//!
//! Authority: the buyer side takes the signed-in account's id (from a verified session) and binds it in every
//! query, so another buyer's thread is `NotFound`; the store side takes a [`StaffScope`] and binds its store.

use palisade_core::time::Timestamp;
use palisade_core::{AccountId, MessageId, OrderId, ProductId, StoreId, ThreadId};
use palisade_store::{Db, StaffScope, StoreError};
use palisade_trust::messages::{Context, FindingCode, Verdict, assess};
use serde::Serialize;

use crate::error::{CommerceError, Result, stored_id};

/// Longest message, in characters (a longer one is refused whole: 422 `too_long`).
pub const MAX_BODY_CHARS: usize = 2_000;
/// Most messages one buyer may send to one store in [`RATE_WINDOW_MS`].
pub const BUYER_RATE_LIMIT: i64 = 20;
/// Most messages one buyer may send to all stores together in [`RATE_WINDOW_MS`]: the per-store limit alone
/// would let one account write to every store of the marketplace.
pub const BUYER_TOTAL_RATE_LIMIT: i64 = 60;
/// Most new threads one buyer may open in [`RATE_WINDOW_MS`] (an empty thread still lands in a store's inbox).
pub const BUYER_NEW_THREADS_LIMIT: i64 = 30;
/// Most messages one store may send in one thread in [`RATE_WINDOW_MS`].
pub const STORE_RATE_LIMIT: i64 = 60;
/// The window the rate limits count in (one hour).
pub const RATE_WINDOW_MS: i64 = 60 * 60 * 1000;
/// The platform's own domains: links to them are not warned about, imitations of them are blocked.
pub const OWN_DOMAINS: &[&str] = &["palisade.sg"];

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sender {
    Buyer,
    Store,
}

impl Sender {
    fn as_str(self) -> &'static str {
        match self {
            Sender::Buyer => "buyer",
            Sender::Store => "store",
        }
    }
}

/// One warning shown with a message.
#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub reason: &'static str,
}

/// A message as one side sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: MessageId,
    pub sender: Sender,
    /// Whether the viewer's side wrote it.
    pub mine: bool,
    /// The text, or `None` when it was withheld from the viewer (blocked, written by the other side).
    pub body: Option<String>,
    /// `ok`, `warn` or `block`.
    pub verdict: &'static str,
    /// Why it was warned or blocked, in plain words (deduplicated by code).
    pub warnings: Vec<Warning>,
    pub created_at: Timestamp,
}

/// A thread in a list or at the top of its page.
#[derive(Debug, Clone, Serialize)]
pub struct Thread {
    pub id: ThreadId,
    pub store_id: StoreId,
    pub store_name: String,
    pub store_slug: String,
    /// The buyer's display name (shown to the store; the buyer's email is not).
    pub buyer_name: String,
    pub order_id: Option<OrderId>,
    pub order_number: Option<i64>,
    pub product_id: Option<ProductId>,
    pub product_title: Option<String>,
    pub messages: i64,
    pub updated_at: Timestamp,
}

fn not_found() -> CommerceError {
    CommerceError::Store(StoreError::NotFound("thread"))
}

type ThreadRow =
    (String, String, String, String, String, String, Option<String>, Option<i64>, Option<String>, i64, i64);

const THREAD_SELECT: &str = "SELECT t.id, t.store_id, s.name, s.slug, a.display_name, t.order_key, t.product_id, \
     (SELECT o.number FROM orders o WHERE o.store_id = t.store_id AND o.id = t.order_key), \
     (SELECT p.title FROM products p WHERE p.store_id = t.store_id AND p.id = t.product_id), \
     (SELECT COUNT(*) FROM messages m WHERE m.thread_id = t.id), t.updated_at \
     FROM message_threads t JOIN stores s ON s.id = t.store_id JOIN accounts a ON a.id = t.buyer_id";

fn thread_from(r: ThreadRow) -> Result<Thread> {
    Ok(Thread {
        id: stored_id("thread", &r.0)?,
        store_id: stored_id("store", &r.1)?,
        store_name: r.2,
        store_slug: r.3,
        buyer_name: r.4,
        order_id: if r.5.is_empty() { None } else { Some(stored_id("order", &r.5)?) },
        order_number: r.7,
        product_id: r.6.as_deref().map(|p| stored_id("product", p)).transpose()?,
        product_title: r.8,
        messages: r.9,
        updated_at: Timestamp(r.10),
    })
}

/// The text a person typed, checked: not blank, at most [`MAX_BODY_CHARS`] characters.
fn body_of(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(CommerceError::Invalid("write a message first".into()));
    }
    if text.chars().count() > MAX_BODY_CHARS {
        return Err(CommerceError::TooLong { field: "message", max: MAX_BODY_CHARS });
    }
    Ok(text.to_owned())
}

/// What the buyer is asking about when opening a thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct About {
    /// One of the buyer's own orders in the store.
    pub order: Option<OrderId>,
    /// A published listing of the store (remembered on a new general thread).
    pub product: Option<ProductId>,
}

/// Opens (or finds) the buyer's thread with `store`: about one of the buyer's orders in that store, else the
/// general one. Someone else's order, an order of another store, a listing that is not the store's published one
/// or a store that is not active is `NotFound`.
pub async fn open(db: &Db, buyer: AccountId, store: StoreId, about: About) -> Result<ThreadId> {
    let active: Option<(String,)> = sqlx::query_as("SELECT id FROM stores WHERE id = $1 AND status = 'active'")
        .bind(store.to_string())
        .fetch_optional(db.pool())
        .await?;
    if active.is_none() {
        return Err(CommerceError::Store(StoreError::NotFound("store")));
    }
    if let Some(order) = about.order {
        let mine: Option<(String,)> =
            sqlx::query_as("SELECT id FROM orders WHERE id = $1 AND store_id = $2 AND buyer_id = $3")
                .bind(order.to_string())
                .bind(store.to_string())
                .bind(buyer.to_string())
                .fetch_optional(db.pool())
                .await?;
        if mine.is_none() {
            return Err(CommerceError::Store(StoreError::NotFound("order")));
        }
    }
    if let Some(product) = about.product {
        let listed: Option<(String,)> =
            sqlx::query_as("SELECT id FROM products WHERE id = $1 AND store_id = $2 AND status = 'published'")
                .bind(product.to_string())
                .bind(store.to_string())
                .fetch_optional(db.pool())
                .await?;
        if listed.is_none() {
            return Err(CommerceError::Store(StoreError::NotFound("product")));
        }
    }
    let order_key = about.order.map(|o| o.to_string()).unwrap_or_default();
    let now = db.now().0;
    let id = ThreadId::new();
    let mut tx = db.begin_write().await?;
    lock_buyer(&mut tx, buyer).await?;
    let existing: Option<(String,)> =
        sqlx::query_as("SELECT id FROM message_threads WHERE store_id = $1 AND buyer_id = $2 AND order_key = $3")
            .bind(store.to_string())
            .bind(buyer.to_string())
            .bind(&order_key)
            .fetch_optional(&mut *tx)
            .await?;
    if existing.is_none() {
        let (opened,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM message_threads WHERE buyer_id = $1 AND created_at > $2")
                .bind(buyer.to_string())
                .bind(now - RATE_WINDOW_MS)
                .fetch_one(&mut *tx)
                .await?;
        if opened >= BUYER_NEW_THREADS_LIMIT {
            return Err(CommerceError::RateLimited("new conversations"));
        }
    }
    sqlx::query(
        "INSERT INTO message_threads (id, store_id, buyer_id, order_key, product_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (store_id, buyer_id, order_key) DO NOTHING",
    )
    .bind(id.to_string())
    .bind(store.to_string())
    .bind(buyer.to_string())
    .bind(&order_key)
    .bind(about.product.map(|p| p.to_string()))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let (found,): (String,) =
        sqlx::query_as("SELECT id FROM message_threads WHERE store_id = $1 AND buyer_id = $2 AND order_key = $3")
            .bind(store.to_string())
            .bind(buyer.to_string())
            .bind(&order_key)
            .fetch_one(&mut *tx)
            .await?;
    tx.commit().await?;
    stored_id("thread", &found)
}

/// The buyer's threads, most recent first.
pub async fn buyer_threads(db: &Db, buyer: AccountId) -> Result<Vec<Thread>> {
    let rows: Vec<ThreadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{THREAD_SELECT} WHERE t.buyer_id = $1 ORDER BY t.updated_at DESC, t.id DESC LIMIT 200"
    )))
    .bind(buyer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(thread_from).collect()
}

/// One of the buyer's threads with its messages; anyone else's is `NotFound`.
pub async fn buyer_thread(db: &Db, buyer: AccountId, id: ThreadId) -> Result<(Thread, Vec<Message>)> {
    let thread = buyer_thread_head(db, buyer, id).await?;
    let messages = messages_of(db, id, Sender::Buyer).await?;
    Ok((thread, messages))
}

async fn buyer_thread_head(db: &Db, buyer: AccountId, id: ThreadId) -> Result<Thread> {
    let row: Option<ThreadRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{THREAD_SELECT} WHERE t.id = $1 AND t.buyer_id = $2")))
            .bind(id.to_string())
            .bind(buyer.to_string())
            .fetch_optional(db.pool())
            .await?;
    thread_from(row.ok_or_else(not_found)?)
}

/// The store's threads, most recent first.
pub async fn store_threads(db: &Db, scope: &StaffScope) -> Result<Vec<Thread>> {
    let rows: Vec<ThreadRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{THREAD_SELECT} WHERE t.store_id = $1 ORDER BY t.updated_at DESC, t.id DESC LIMIT 200"
    )))
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(thread_from).collect()
}

/// One of the store's threads with its messages; another store's is `NotFound`.
pub async fn store_thread(db: &Db, scope: &StaffScope, id: ThreadId) -> Result<(Thread, Vec<Message>)> {
    let thread = store_thread_head(db, scope, id).await?;
    let messages = messages_of(db, id, Sender::Store).await?;
    Ok((thread, messages))
}

async fn store_thread_head(db: &Db, scope: &StaffScope, id: ThreadId) -> Result<Thread> {
    let row: Option<ThreadRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{THREAD_SELECT} WHERE t.id = $1 AND t.store_id = $2")))
            .bind(id.to_string())
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    thread_from(row.ok_or_else(not_found)?)
}

type MessageRow = (String, String, String, String, String, i64);

/// The thread's messages as `viewer` sees them, oldest first (the newest 500).
async fn messages_of(db: &Db, thread: ThreadId, viewer: Sender) -> Result<Vec<Message>> {
    let mut rows: Vec<MessageRow> = sqlx::query_as(
        "SELECT id, sender, body, verdict, findings, created_at FROM messages WHERE thread_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT 500",
    )
    .bind(thread.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.reverse();
    rows.into_iter().map(|r| message_from(r, viewer)).collect()
}

fn message_from(r: MessageRow, viewer: Sender) -> Result<Message> {
    let sender = match r.1.as_str() {
        "buyer" => Sender::Buyer,
        "store" => Sender::Store,
        other => return Err(CommerceError::Store(StoreError::Corrupt(format!("message sender `{other}`")))),
    };
    let verdict = match r.3.as_str() {
        "ok" => "ok",
        "warn" => "warn",
        "block" => "block",
        other => return Err(CommerceError::Store(StoreError::Corrupt(format!("message verdict `{other}`")))),
    };
    let codes: Vec<String> = serde_json::from_str(&r.4).unwrap_or_default();
    let mut warnings: Vec<Warning> = Vec::new();
    for code in codes.iter().filter_map(|c| FindingCode::from_code(c)) {
        if !warnings.iter().any(|w| w.code == code.code()) {
            warnings.push(Warning { code: code.code(), reason: code.reason() });
        }
    }
    let mine = sender == viewer;
    // A blocked message never reaches the other side: they learn only that one was withheld, and why.
    let body = if verdict == "block" && !mine { None } else { Some(r.2) };
    Ok(Message { id: stored_id("message", &r.0)?, sender, mine, body, verdict, warnings, created_at: Timestamp(r.5) })
}

/// The buyer sends a message in their own thread.
pub async fn buyer_send(db: &Db, buyer: AccountId, thread: ThreadId, text: &str) -> Result<Message> {
    let head = buyer_thread_head(db, buyer, thread).await?;
    let body = body_of(text)?;
    send(db, &head, Sender::Buyer, &buyer.to_string(), &body, BUYER_RATE_LIMIT).await
}

/// A member of the store answers in one of the store's threads.
pub async fn store_send(db: &Db, scope: &StaffScope, thread: ThreadId, text: &str) -> Result<Message> {
    let head = store_thread_head(db, scope, thread).await?;
    // A store suspended (after a scam report, say) no longer writes to buyers.
    let (status,): (String,) =
        sqlx::query_as("SELECT status FROM stores WHERE id = $1").bind(scope.store_key()).fetch_one(db.pool()).await?;
    if status != "active" {
        return Err(StoreError::Forbidden("the store is not open: it cannot send messages").into());
    }
    let body = body_of(text)?;
    send(db, &head, Sender::Store, &scope.actor().as_audit_text(), &body, STORE_RATE_LIMIT).await
}

async fn send(db: &Db, head: &Thread, sender: Sender, author: &str, body: &str, limit: i64) -> Result<Message> {
    let assessment = assess(body, &Context { own_domains: OWN_DOMAINS });
    let verdict = match assessment.verdict {
        Verdict::Ok => "ok",
        Verdict::Warn => "warn",
        Verdict::Block => "block",
    };
    let codes: Vec<&str> = assessment.findings.iter().map(|f| f.code.code()).collect();
    let findings = serde_json::to_string(&codes).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let now = db.now().0;
    let id = MessageId::new();
    let mut tx = db.begin_write().await?;
    // The limit counts in the same transaction as the insert (SQLite's write lock, or the thread row's lock on
    // PostgreSQL below), so parallel sends cannot all pass it.
    sqlx::query("UPDATE message_threads SET updated_at = $1 WHERE id = $2 AND store_id = $3")
        .bind(now)
        .bind(head.id.to_string())
        .bind(head.store_id.to_string())
        .execute(&mut *tx)
        .await?;
    let (recent,): (i64,) = match sender {
        // Per buyer per store, across the buyer's threads with it; and per buyer across every store.
        Sender::Buyer => {
            let buyer: AccountId = stored_id("account", author)?;
            lock_buyer(&mut tx, buyer).await?;
            let (everywhere,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM messages WHERE sender = 'buyer' AND created_at > $2 AND thread_id IN \
                 (SELECT id FROM message_threads WHERE buyer_id = $1)",
            )
            .bind(author)
            .bind(now - RATE_WINDOW_MS)
            .fetch_one(&mut *tx)
            .await?;
            if everywhere >= BUYER_TOTAL_RATE_LIMIT {
                return Err(CommerceError::RateLimited("messages"));
            }
            sqlx::query_as(
                "SELECT COUNT(*) FROM messages WHERE store_id = $1 AND author_id = $2 AND sender = 'buyer' AND created_at > $3",
            )
            .bind(head.store_id.to_string())
            .bind(author)
            .bind(now - RATE_WINDOW_MS)
            .fetch_one(&mut *tx)
            .await?
        }
        Sender::Store => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM messages WHERE thread_id = $1 AND sender = 'store' AND created_at > $2",
            )
            .bind(head.id.to_string())
            .bind(now - RATE_WINDOW_MS)
            .fetch_one(&mut *tx)
            .await?
        }
    };
    if recent >= limit {
        return Err(CommerceError::RateLimited("messages"));
    }
    sqlx::query(
        "INSERT INTO messages (id, thread_id, store_id, sender, author_id, body, verdict, findings, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(id.to_string())
    .bind(head.id.to_string())
    .bind(head.store_id.to_string())
    .bind(sender.as_str())
    .bind(author)
    .bind(body)
    .bind(verdict)
    .bind(&findings)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(store.id = %head.store_id, thread.id = %head.id, message.id = %id, message.verdict = verdict, "message sent");
    message_from(
        (id.to_string(), sender.as_str().to_owned(), body.to_owned(), verdict.to_owned(), findings, now),
        sender,
    )
}

/// Serialises one buyer's sends and thread openings across stores (a row lock on PostgreSQL; SQLite's write
/// lock already does), so parallel requests cannot all pass the cross-store limits.
async fn lock_buyer(tx: &mut sqlx::AnyConnection, buyer: AccountId) -> Result<()> {
    sqlx::query("UPDATE accounts SET id = id WHERE id = $1").bind(buyer.to_string()).execute(&mut *tx).await?;
    Ok(())
}

/// A message the store sent into one of `buyer`'s threads (what a buyer may report): its store. A message of
/// another buyer's thread, the buyer's own message or no message at all is `NotFound`.
pub async fn reportable_by(db: &Db, buyer: AccountId, message: MessageId) -> Result<StoreId> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT m.store_id FROM messages m JOIN message_threads t ON t.id = m.thread_id \
         WHERE m.id = $1 AND t.buyer_id = $2 AND m.sender = 'store'",
    )
    .bind(message.to_string())
    .bind(buyer.to_string())
    .fetch_optional(db.pool())
    .await?;
    let (store,) = row.ok_or(CommerceError::Store(StoreError::NotFound("message")))?;
    stored_id("store", &store)
}
