//! Outgoing email, stored first and delivered by a job. With no SMTP configured the outbox is the
//! development mailbox operators read in the console.

use crate::db::ExecuteWrite;
use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::db::Db;
use crate::error::Result;

/// A message to send.
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub store_id: Option<String>,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: String,
}

/// How a message presents itself beyond its plain text. Both parts are optional: account notices stay plain text
/// from the platform.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dressing<'a> {
    /// An HTML alternative of the same content (already escaped by whoever composed it).
    pub html: Option<&'a str>,
    /// The sender's display name, e.g. the store's name; the address stays the platform's.
    pub from_name: Option<&'a str>,
}

/// A stored message.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    pub html: Option<String>,
    pub from_name: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// The job kind that delivers one message.
pub const DELIVER_JOB: &str = "mail.deliver";

/// Queues a message and, in the same transaction, the job that delivers it.
pub async fn enqueue(db: &Db, mail: NewMail<'_>) -> Result<String> {
    enqueue_dressed(db, mail, Dressing::default()).await
}

/// [`enqueue`] with an HTML alternative and a sender's display name.
pub async fn enqueue_dressed(db: &Db, mail: NewMail<'_>, dressing: Dressing<'_>) -> Result<String> {
    let mut tx = db.begin_write().await?;
    let id = enqueue_on(&mut tx, db, mail, dressing).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`enqueue_dressed`] inside the caller's transaction, so the message is queued only if the change it reports
/// commits.
pub async fn enqueue_on(
    conn: &mut sqlx::AnyConnection,
    db: &Db,
    mail: NewMail<'_>,
    dressing: Dressing<'_>,
) -> Result<String> {
    let id = palisade_core::JobId::new().to_string();
    sqlx::query("INSERT INTO outbox (id, store_id, to_addr, subject, body, html, from_name, created_at, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)")
        .bind(&id)
        .bind(&mail.store_id)
        .bind(mail.to)
        .bind(mail.subject)
        .bind(&mail.body)
        .bind(dressing.html)
        .bind(dressing.from_name)
        .bind(db.now().0)
        .execute(&mut *conn)
        .await?;
    let job = crate::jobs::NewJob {
        payload: serde_json::json!({"mail": id}),
        max_attempts: 8,
        dedupe_key: Some(format!("mail:{id}")),
        ..crate::jobs::NewJob::new(DELIVER_JOB)
    };
    crate::jobs::enqueue_on(conn, db, job).await?;
    Ok(id)
}

/// One message by id.
pub async fn get(db: &Db, id: &str) -> Result<Option<Mail>> {
    let row: Option<MailRow> = sqlx::query_as(
        "SELECT id, to_addr, subject, body, html, from_name, created_at, sent_at, last_error FROM outbox WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(mail_from_row))
}

/// Records a delivery attempt's outcome.
pub async fn record_attempt(db: &Db, id: &str, error: Option<&str>) -> Result<()> {
    let now = db.now().0;
    match error {
        None => sqlx::query("UPDATE outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id),
        Some(e) => sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2")
            .bind(e.to_owned())
            .bind(id),
    }
    .execute_write(db)
    .await?;
    Ok(())
}

type MailRow = (String, String, String, String, Option<String>, Option<String>, i64, Option<i64>, Option<String>);

fn mail_from_row(r: MailRow) -> Mail {
    Mail {
        id: r.0,
        to: r.1,
        subject: r.2,
        body: r.3,
        html: r.4,
        from_name: r.5,
        created_at: Timestamp(r.6),
        sent_at: r.7.map(Timestamp),
        last_error: r.8,
    }
}

/// The newest messages (the development mailbox), newest first.
pub async fn recent(db: &Db, _scope: &crate::scope::PlatformScope, limit: i64) -> Result<Vec<Mail>> {
    let rows: Vec<MailRow> = sqlx::query_as(
        "SELECT id, to_addr, subject, body, html, from_name, created_at, sent_at, last_error FROM outbox ORDER BY created_at DESC, id DESC LIMIT $1",
    )
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(mail_from_row).collect())
}

/// Messages to a given address, newest first (tests and the account's own notices).
pub async fn to_address(db: &Db, to: &str) -> Result<Vec<Mail>> {
    let rows: Vec<MailRow> = sqlx::query_as(
        "SELECT id, to_addr, subject, body, html, from_name, created_at, sent_at, last_error FROM outbox WHERE to_addr = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(to)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(mail_from_row).collect())
}
