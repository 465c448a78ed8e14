//! PDPA access and correction requests (issue #21 item 3), stored and answered.
//!
//! A buyer asks in their account: one batch reaches every store they have an order with (the platform is those
//! stores' data intermediary), one row per store, all written in one transaction. A merchant logs a request that
//! came by email. Each row keeps its own 30-day clock, the pure [`palisade_privacy::request::RequestClock`]: the
//! merchant answers an access request with a generated export of that buyer's data in that store only
//! ([`crate::data_export`]), marks a correction done with a note, or refuses with a reason (the data concerned is
//! then kept for 30 days). Every request and answer is appended to the store's audit chain in the transaction
//! that writes it. Reminders on days 7, 21 and 28 go to the store's owners and security contact through the
//! outbox ([`send_reminders`]), once per stage.
//!
//! Tenancy: staff functions take a [`StaffScope`] and bind its store into every query, so another store's request
//! is `NotFound`; buyer functions take the signed-in account's id and match only rows made from that account.

use std::collections::BTreeSet;

use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, DataRequestId, StoreId};
use palisade_privacy::calendar::Deadline;
use palisade_privacy::request::{Event, Reminder, RequestClock, RequestKind, State, Status};
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::PlatformScope;
use palisade_store::{Db, StaffScope, StoreError, StoreScope};
use serde::Serialize;
use serde_json::json;

use crate::data_export::{self, Requester};
use crate::error::{CommerceError, Result, stored_id};

/// Longest description of a request, in characters (what the person wants, or what to correct).
pub const MAX_DETAILS_CHARS: usize = 2000;
/// Longest correction note or refusal reason, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;
/// The job kind that sends the day-7/21/28 reminders (daily).
pub const REMINDER_JOB: &str = "privacy.data_request_reminders";

/// How the request reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Made by the buyer in their account (routed by the platform).
    Account,
    /// Received by email at the store's contact and logged by the merchant.
    Email,
}

impl Channel {
    fn key(self) -> &'static str {
        match self {
            Channel::Account => "account",
            Channel::Email => "email",
        }
    }
}

/// `access` or `correction`, as a form sends it.
pub fn parse_kind(s: &str) -> Result<RequestKind> {
    match s {
        "access" => Ok(RequestKind::Access),
        "correction" => Ok(RequestKind::Correction),
        _ => Err(CommerceError::Invalid("a request is for access or for correction".into())),
    }
}

fn kind_key(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Access => "access",
        RequestKind::Correction => "correction",
    }
}

fn reminder_key(r: Reminder) -> &'static str {
    match r {
        Reminder::Day7 => "day7",
        Reminder::Day21 => "day21",
        Reminder::Day28 => "day28",
    }
}

/// A request as one store holds it, with its clock read at the database's time.
#[derive(Debug, Clone, Serialize)]
pub struct DataRequest {
    pub id: DataRequestId,
    pub store_id: StoreId,
    pub store_name: String,
    pub channel: Channel,
    #[serde(skip)]
    pub buyer_id: Option<AccountId>,
    pub buyer_email: String,
    pub kind: RequestKind,
    pub details: String,
    pub received_at: Timestamp,
    /// The last day of the 30 (Singapore calendar).
    pub due: Deadline,
    /// Open (with its day), overdue, answered (late or not) or refused (with the keep-until day).
    pub status: Status,
    /// `export` or `correction` once answered.
    pub answer: Option<String>,
    /// The correction note or the refusal reason.
    pub answer_note: Option<String>,
    pub closed_at: Option<Timestamp>,
    /// Whether an export is there to download.
    pub has_export: bool,
    #[serde(skip)]
    pub clock: RequestClock,
}

impl DataRequest {
    /// Whether it still waits for an answer.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.clock.state == State::Open
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    store_id: String,
    store_name: String,
    channel: String,
    buyer_id: Option<String>,
    buyer_email: String,
    kind: String,
    details: String,
    received_at: i64,
    status: String,
    closed_at: Option<i64>,
    answer: Option<String>,
    answer_note: Option<String>,
    reminders_done: String,
    overdue_raised: i64,
    has_export: i64,
}

const COLUMNS: &str = "r.id, r.store_id, s.name AS store_name, r.channel, r.buyer_id, r.buyer_email, r.kind, r.details, \
     r.received_at, r.status, r.closed_at, r.answer, r.answer_note, r.reminders_done, r.overdue_raised, \
     CASE WHEN r.export_json IS NULL THEN 0 ELSE 1 END AS has_export \
     FROM data_requests r JOIN stores s ON s.id = r.store_id";

fn corrupt(what: &str) -> CommerceError {
    CommerceError::Store(StoreError::Corrupt(format!("data request {what}")))
}

impl Row {
    fn into_request(self, db: &Db) -> Result<DataRequest> {
        let kind = parse_kind(&self.kind).map_err(|_| corrupt("kind"))?;
        let received_at = Timestamp(self.received_at);
        let state = match (self.status.as_str(), self.closed_at) {
            ("open", None) => State::Open,
            ("answered", Some(at)) => State::Answered { at: Timestamp(at) },
            ("refused", Some(at)) => State::Refused {
                at: Timestamp(at),
                keep_until: Deadline::days_after(Timestamp(at), palisade_privacy::request::KEEP_AFTER_REFUSAL_DAYS),
            },
            _ => return Err(corrupt("status")),
        };
        let reminders_done: BTreeSet<Reminder> = Reminder::ALL
            .into_iter()
            .filter(|r| self.reminders_done.split(',').any(|k| k == reminder_key(*r)))
            .collect();
        let clock = RequestClock { kind, received_at, state, reminders_done, overdue_raised: self.overdue_raised != 0 };
        let channel = match self.channel.as_str() {
            "account" => Channel::Account,
            "email" => Channel::Email,
            _ => return Err(corrupt("channel")),
        };
        Ok(DataRequest {
            id: stored_id("data request", &self.id)?,
            store_id: stored_id("store", &self.store_id)?,
            store_name: self.store_name,
            channel,
            buyer_id: self.buyer_id.as_deref().map(|b| stored_id("account", b)).transpose()?,
            buyer_email: self.buyer_email,
            kind,
            details: self.details,
            received_at,
            due: clock.due(),
            status: clock.status(db.clock().as_ref()),
            answer: self.answer,
            answer_note: self.answer_note,
            closed_at: self.closed_at.map(Timestamp),
            has_export: self.has_export != 0,
            clock,
        })
    }
}

/// Trims and bounds a free-text field; over the bound is [`CommerceError::TooLong`] (422 `too_long`).
fn bounded(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = text.trim();
    if text.chars().count() > max {
        return Err(CommerceError::TooLong { field, max });
    }
    Ok(text.to_owned())
}

/// [`bounded`], and not empty (a correction note, a refusal's reason).
fn required(field: &'static str, text: &str, max: usize) -> Result<String> {
    let text = bounded(field, text, max)?;
    if text.is_empty() {
        return Err(CommerceError::Invalid(format!("the {field} is required")));
    }
    Ok(text)
}

/// What a buyer's request in their account created: the batch and the stores it reached.
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub id: String,
    pub requests: Vec<DataRequestId>,
}

/// A buyer's request in their account: one row for every store the buyer has an order with (that has no open
/// request of this kind from them yet), with the batch and an audit event in each store's chain, in one
/// transaction. Refused (409) when every such store already has one open (so a page reload or a script cannot
/// flood merchants, and a store that never answers blocks no other store), and 422 when the buyer has no orders
/// (no store holds data about them). Each store is given the email the buyer used at *that* store (their latest
/// order there), never the account's sign-in address, which the store may never have been told.
pub async fn request_in_account(db: &Db, buyer: AccountId, kind: RequestKind, details: &str) -> Result<Batch> {
    let details = bounded("details", details, MAX_DETAILS_CHARS)?;
    let orders: Vec<(String, String)> = sqlx::query_as(
        "SELECT o.store_id, o.buyer_email FROM orders o JOIN stores s ON s.id = o.store_id WHERE o.buyer_id = $1 \
         ORDER BY o.created_at, o.id",
    )
    .bind(buyer.to_string())
    .fetch_all(db.pool())
    .await?;
    // The latest order's email per store (later rows overwrite earlier ones).
    let stores: std::collections::BTreeMap<String, String> = orders.into_iter().collect();
    if stores.is_empty() {
        return Err(CommerceError::Invalid(
            "you have no orders with any store yet, so no store holds data about you".into(),
        ));
    }
    let now = db.now();
    let batch = palisade_core::JobId::new().to_string();
    let mut tx = db.begin_write().await?;
    // One request at a time per buyer, so two sent at once cannot both pass the open-request check: SQLite's
    // write transaction already runs alone; PostgreSQL locks the account's row.
    if db.backend() == palisade_store::Backend::Postgres {
        sqlx::query("SELECT id FROM accounts WHERE id = $1 FOR UPDATE")
            .bind(buyer.to_string())
            .fetch_optional(&mut *tx)
            .await?;
    }
    let open: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT store_id FROM data_requests \
         WHERE buyer_id = $1 AND channel = 'account' AND kind = $2 AND status = 'open'",
    )
    .bind(buyer.to_string())
    .bind(kind_key(kind))
    .fetch_all(&mut *tx)
    .await?;
    let open: std::collections::BTreeSet<String> = open.into_iter().map(|(s,)| s).collect();
    let reach: Vec<(&String, &String)> = stores.iter().filter(|(store, _)| !open.contains(*store)).collect();
    if reach.is_empty() {
        return Err(CommerceError::Store(StoreError::Conflict(format!(
            "you already have an open {} request with every store you bought from; each answers within 30 days",
            kind_key(kind)
        ))));
    }
    sqlx::query(
        "INSERT INTO data_request_batches (id, buyer_id, kind, details, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&batch)
    .bind(buyer.to_string())
    .bind(kind_key(kind))
    .bind(&details)
    .bind(now.0)
    .execute(&mut *tx)
    .await?;
    let mut requests = Vec::with_capacity(reach.len());
    for (store, email) in reach {
        let store_id: StoreId = stored_id("store", store)?;
        let scope = StoreScope::shopper(store_id, Some(buyer));
        let id =
            insert(&mut tx, &scope, Some(&batch), Some(buyer), email, kind, Channel::Account, &details, now).await?;
        let target = format!("data_request:{id}");
        let event = NewEvent::new("data_request.received", &target)
            .details(json!({"kind": kind_key(kind), "channel": "account", "batch": batch}));
        audit::record_store(&mut tx, db, &scope, event).await?;
        requested_event(&mut tx, db, &scope, id, kind).await?;
        requests.push(id);
    }
    tx.commit().await?;
    Ok(Batch { id: batch, requests })
}

#[allow(clippy::too_many_arguments, reason = "one row's columns, named at the two call sites")]
async fn insert(
    conn: &mut sqlx::AnyConnection,
    scope: &StoreScope,
    batch: Option<&str>,
    buyer: Option<AccountId>,
    email: &str,
    kind: RequestKind,
    channel: Channel,
    details: &str,
    now: Timestamp,
) -> Result<DataRequestId> {
    let id = DataRequestId::new();
    sqlx::query(
        "INSERT INTO data_requests (id, store_id, batch_id, buyer_id, buyer_email, kind, channel, details, \
         received_at, due_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open')",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(batch)
    .bind(buyer.map(|b| b.to_string()))
    .bind(email)
    .bind(kind_key(kind))
    .bind(channel.key())
    .bind(details)
    .bind(now.0)
    .bind(Deadline::days_after(now, palisade_privacy::request::ANSWER_DAYS).at.0)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The merchant logs a request received by email at the store's contact; its clock starts now.
pub async fn log_email_request(
    db: &Db,
    scope: &StaffScope,
    email: &Email,
    kind: RequestKind,
    details: &str,
) -> Result<DataRequest> {
    let details = bounded("details", details, MAX_DETAILS_CHARS)?;
    let mut tx = db.begin_write().await?;
    let id = insert(&mut tx, scope, None, None, email.as_str(), kind, Channel::Email, &details, db.now()).await?;
    let target = format!("data_request:{id}");
    let event =
        NewEvent::new("data_request.received", &target).details(json!({"kind": kind_key(kind), "channel": "email"}));
    audit::record_store(&mut tx, db, scope, event).await?;
    requested_event(&mut tx, db, scope, id, kind).await?;
    tx.commit().await?;
    get(db, scope, id).await
}

/// `customer.data_requested` for the store's apps that hold customer data (they must answer from what they keep
/// too): the request's id, kind and deadline only, never who asked.
async fn requested_event(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    id: DataRequestId,
    kind: RequestKind,
) -> Result<()> {
    let due = Deadline::days_after(db.now(), palisade_privacy::request::ANSWER_DAYS).at.0;
    let data = json!({"request_id": id.to_string(), "kind": kind_key(kind), "due_at": due});
    crate::webhooks::deliveries::emit_on(
        conn,
        db,
        scope,
        palisade_registry::names::WebhookTopic::CustomerDataRequested,
        &data,
    )
    .await?;
    Ok(())
}

/// One of the store's requests; another store's is `NotFound`.
pub async fn get(db: &Db, scope: &StaffScope, id: DataRequestId) -> Result<DataRequest> {
    let row: Option<Row> =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} WHERE r.store_id = $1 AND r.id = $2")))
            .bind(scope.store_key())
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await?;
    row.ok_or(CommerceError::Store(StoreError::NotFound("data request")))?.into_request(db)
}

/// The store's queue: open requests first (oldest first), then the most recently closed.
pub async fn queue(db: &Db, scope: &StaffScope, limit: i64) -> Result<Vec<DataRequest>> {
    store_requests(db, scope, limit).await
}

async fn store_requests(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<DataRequest>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} WHERE r.store_id = $1 ORDER BY CASE WHEN r.status = 'open' THEN 0 ELSE 1 END, \
         CASE WHEN r.status = 'open' THEN r.received_at ELSE -r.closed_at END, r.id LIMIT $2"
    )))
    .bind(scope.store_key())
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(|r| r.into_request(db)).collect()
}

/// Every request made from this account, newest first, across the stores it reached.
pub async fn for_buyer(db: &Db, buyer: AccountId) -> Result<Vec<DataRequest>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} WHERE r.buyer_id = $1 AND r.channel = 'account' ORDER BY r.received_at DESC, s.name, r.id \
         LIMIT 500"
    )))
    .bind(buyer.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(|r| r.into_request(db)).collect()
}

/// The export the store answered with, for the buyer who asked; any other account's request (or one without an
/// export) is `NotFound`.
pub async fn buyer_export(db: &Db, buyer: AccountId, id: DataRequestId) -> Result<serde_json::Value> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT export_json FROM data_requests WHERE id = $1 AND buyer_id = $2 AND channel = 'account' \
         AND export_json IS NOT NULL",
    )
    .bind(id.to_string())
    .bind(buyer.to_string())
    .fetch_optional(db.pool())
    .await?;
    let (text,) = row.ok_or(CommerceError::Store(StoreError::NotFound("data export")))?;
    serde_json::from_str(&text).map_err(|_| corrupt("export"))
}

/// The export stored with one of the store's requests (the merchant downloads what the buyer received).
pub async fn stored_export(db: &Db, scope: &StaffScope, id: DataRequestId) -> Result<serde_json::Value> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT export_json FROM data_requests WHERE store_id = $1 AND id = $2 AND export_json IS NOT NULL",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .fetch_optional(db.pool())
    .await?;
    let (text,) = row.ok_or(CommerceError::Store(StoreError::NotFound("data export")))?;
    serde_json::from_str(&text).map_err(|_| corrupt("export"))
}

/// Closes an open request with a compare-and-set on its status (a second answer, or one racing it, is refused)
/// and audits it in the same transaction.
async fn close(db: &Db, scope: &StaffScope, request: &DataRequest, closing: Closing<'_>) -> Result<DataRequest> {
    let mut clock = request.clock.clone();
    let now = db.now();
    let (status, answer, note, keep_until, export, action) = match closing {
        Closing::Export(export) => {
            clock.answer(db.clock().as_ref()).map_err(already_closed)?;
            ("answered", Some("export"), None, None, Some(export), "data_request.answered")
        }
        Closing::Correction(note) => {
            clock.answer(db.clock().as_ref()).map_err(already_closed)?;
            ("answered", Some("correction"), Some(note), None, None, "data_request.corrected")
        }
        Closing::Refusal(reason) => {
            let keep = clock.refuse(db.clock().as_ref()).map_err(already_closed)?;
            ("refused", None, Some(reason), Some(keep.at.0), None, "data_request.refused")
        }
    };
    let export_text =
        export.map(|e| serde_json::to_string(&e)).transpose().map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE data_requests SET status = $1, closed_at = $2, answer = $3, answer_note = $4, keep_until = $5, \
         export_json = $6 WHERE store_id = $7 AND id = $8 AND status = 'open'",
    )
    .bind(status)
    .bind(now.0)
    .bind(answer)
    .bind(note)
    .bind(keep_until)
    .bind(export_text)
    .bind(scope.store_key())
    .bind(request.id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the request"));
    }
    let target = format!("data_request:{}", request.id);
    let late = request.due.missed_at(now);
    let mut details = json!({"kind": kind_key(request.kind), "late": late});
    if let (Some(k), serde_json::Value::Object(m)) = (keep_until, &mut details) {
        m.insert("keep_until".into(), json!(k));
    }
    audit::record_store(&mut tx, db, scope, NewEvent::new(action, &target).details(details)).await?;
    tx.commit().await?;
    get(db, scope, request.id).await
}

enum Closing<'a> {
    Export(serde_json::Value),
    Correction(&'a str),
    Refusal(&'a str),
}

fn already_closed(_: palisade_privacy::request::AlreadyClosed) -> CommerceError {
    CommerceError::InvalidTransition("this request is already answered or refused".into())
}

fn requester(r: &DataRequest) -> Requester {
    match (r.channel, r.buyer_id) {
        (Channel::Account, Some(id)) => Requester::Account(id),
        _ => Requester::Email(r.buyer_email.clone()),
    }
}

/// Answers an access request with a generated export of the requester's data in this store only, stored with the
/// request for the buyer (and the merchant) to download.
pub async fn answer_with_export(db: &Db, scope: &StaffScope, id: DataRequestId) -> Result<DataRequest> {
    let request = get(db, scope, id).await?;
    if request.kind != RequestKind::Access {
        return Err(CommerceError::InvalidTransition(
            "a correction request is answered with the correction made".into(),
        ));
    }
    if !request.is_open() {
        return Err(already_closed(palisade_privacy::request::AlreadyClosed));
    }
    let export = data_export::build(db, scope, &requester(&request), &request).await?;
    close(db, scope, &request, Closing::Export(export)).await
}

/// Marks a correction request done, saying what was corrected.
pub async fn mark_corrected(db: &Db, scope: &StaffScope, id: DataRequestId, note: &str) -> Result<DataRequest> {
    let note = required("note", note, MAX_NOTE_CHARS)?;
    let request = get(db, scope, id).await?;
    if request.kind != RequestKind::Correction {
        return Err(CommerceError::InvalidTransition("an access request is answered with an export".into()));
    }
    close(db, scope, &request, Closing::Correction(&note)).await
}

/// Refuses a request with a reason; the data concerned is kept 30 days from today.
pub async fn refuse(db: &Db, scope: &StaffScope, id: DataRequestId, reason: &str) -> Result<DataRequest> {
    let reason = required("reason", reason, MAX_NOTE_CHARS)?;
    let request = get(db, scope, id).await?;
    close(db, scope, &request, Closing::Refusal(&reason)).await
}

/// Counts for the matrix: open in time, overdue, answered (and how many late).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub open: i64,
    pub overdue: i64,
    pub answered: i64,
    pub answered_late: i64,
}

/// The value a count's filter binds as `$2`.
enum Bound {
    Text(String),
    Int(i64),
}

/// The counts over `data_requests` rows matching `filter` (a fixed condition; `$1` is now, `$2` the filter's value).
async fn count_where(db: &Db, filter: &str, value: Bound) -> Result<Counts> {
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT \
         CAST(COALESCE(SUM(CASE WHEN status = 'open' AND due_at >= $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN status = 'open' AND due_at < $1 THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN status <> 'open' THEN 1 ELSE 0 END), 0) AS BIGINT), \
         CAST(COALESCE(SUM(CASE WHEN status <> 'open' AND closed_at > due_at THEN 1 ELSE 0 END), 0) AS BIGINT) \
         FROM data_requests WHERE {filter}"
    )))
    .bind(db.now().0);
    let query = match value {
        Bound::Text(t) => query.bind(t),
        Bound::Int(i) => query.bind(i),
    };
    let (open, overdue, answered, answered_late): (i64, i64, i64, i64) = query.fetch_one(db.pool()).await?;
    Ok(Counts { open, overdue, answered, answered_late })
}

/// The store's counts (all its requests).
pub async fn counts(db: &Db, scope: &StoreScope) -> Result<Counts> {
    count_where(db, "store_id = $2", Bound::Text(scope.store_key())).await
}

/// The counts of every request the platform routed (made in buyers' accounts), across stores; closed ones of the
/// last year.
pub async fn routed_counts(db: &Db, _platform: &PlatformScope) -> Result<Counts> {
    let year_ago = db.now().minus(std::time::Duration::from_secs(365 * 24 * 3600)).0;
    count_where(db, "channel = 'account' AND (status = 'open' OR closed_at >= $2)", Bound::Int(year_ago)).await
}

/// Ticks every open request's clock: mails the store's owners and security contact on days 7, 21 and 28 and when
/// a request becomes overdue, each at most once (the new reminder state is claimed with a compare-and-set before
/// the mail is queued, so two runs or two nodes send one). Returns the mails queued.
pub async fn send_reminders(db: &Db, base_url: &str) -> Result<usize> {
    let platform = PlatformScope::system("job:privacy.data_request_reminders");
    let mut sent = 0;
    for store in palisade_store::tenancy::list_stores(db, &platform).await? {
        let scope = StaffScope::system(store.id, "job:privacy.data_request_reminders");
        for request in store_requests(db, &scope, 500).await?.into_iter().filter(DataRequest::is_open) {
            let before = request.clock.clone();
            let mut clock = before.clone();
            let events = clock.tick(db.clock().as_ref());
            if clock == before {
                continue;
            }
            if !claim(db, &scope, &request, &before, &clock).await? {
                continue;
            }
            for event in events {
                sent += notify(db, &scope, &store, &request, event, base_url).await?;
            }
        }
    }
    Ok(sent)
}

fn reminders_text(clock: &RequestClock) -> String {
    clock.reminders_done.iter().map(|r| reminder_key(*r)).collect::<Vec<_>>().join(",")
}

async fn claim(
    db: &Db,
    scope: &StoreScope,
    r: &DataRequest,
    before: &RequestClock,
    after: &RequestClock,
) -> Result<bool> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE data_requests SET reminders_done = $1, overdue_raised = $2 WHERE store_id = $3 AND id = $4 \
         AND status = 'open' AND reminders_done = $5 AND overdue_raised = $6",
    )
    .bind(reminders_text(after))
    .bind(i64::from(after.overdue_raised))
    .bind(scope.store_key())
    .bind(r.id.to_string())
    .bind(reminders_text(before))
    .bind(i64::from(before.overdue_raised))
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Queues one mail per recipient (owners and the security contact) for a reminder or the overdue notice.
async fn notify(
    db: &Db,
    scope: &StoreScope,
    store: &palisade_store::tenancy::Store,
    r: &DataRequest,
    event: Event,
    base_url: &str,
) -> Result<usize> {
    let (subject, lead) = match event {
        Event::Remind { reminder } => (
            "A personal data request is waiting",
            format!("A {} request received on day 0 is now on day {} of 30.", kind_key(r.kind), reminder.day()),
        ),
        Event::Overdue { day } => (
            "A personal data request is overdue",
            format!("A {} request is overdue: day {day}, past the 30 days the PDPA allows.", kind_key(r.kind)),
        ),
    };
    let body = format!(
        "{lead}\n\nStore: {}\nDue by the end of {} (Singapore)\n\nAnswer it in the admin: {}/admin/stores/{}/data-requests\n",
        store.name,
        r.due.date,
        base_url.trim_end_matches('/'),
        store.id
    );
    let mut to: Vec<String> = sqlx::query_as::<_, (String,)>(
        "SELECT a.email FROM store_members m JOIN accounts a ON a.id = m.account_id \
         WHERE m.store_id = $1 AND m.role = 'owner' AND a.disabled = 0 ORDER BY a.email",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?
    .into_iter()
    .map(|(e,)| e)
    .collect();
    if let Some(contact) = &store.security_contact_email
        && !to.iter().any(|e| e.eq_ignore_ascii_case(contact))
    {
        to.push(contact.clone());
    }
    for addr in &to {
        palisade_store::outbox::enqueue(
            db,
            palisade_store::outbox::NewMail {
                store_id: Some(store.id.to_string()),
                to: addr,
                subject,
                body: body.clone(),
            },
        )
        .await?;
    }
    Ok(to.len())
}
