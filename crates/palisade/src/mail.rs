//! Email delivery from the outbox over SMTP (lettre, rustls). Without an SMTP URL, messages stay in the
//! outbox, which operators read in the console as the development mailbox.

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use palisade_store::jobs::{JobError, JobResult};
use palisade_store::{Db, outbox};

/// Sends outbox messages.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// `url`: `smtp://host:port` (STARTTLS when offered… see lettre), `smtps://user:pass@host:465`, or none.
    pub fn new(url: Option<&str>, from: &str) -> anyhow::Result<Self> {
        let transport = url
            .map(|u| AsyncSmtpTransport::<Tokio1Executor>::from_url(u).map(|b| b.build()))
            .transpose()
            .context("the SMTP URL is not valid (smtp://host:port or smtps://user:password@host:465)")?;
        let from: Mailbox = from.parse().with_context(|| format!("`{from}` is not a sender address"))?;
        Ok(Self { transport, from })
    }

    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Delivers one queued message (the `mail.deliver` job).
    pub async fn deliver(&self, db: &Db, id: &str) -> JobResult {
        let Some(mail) = outbox::get(db, id).await? else {
            return Ok(());
        };
        if mail.sent_at.is_some() {
            return Ok(());
        }
        let Some(transport) = &self.transport else {
            tracing::debug!(mail.id = %id, "no SMTP configured; message kept in the development outbox");
            return Ok(());
        };
        let to: Mailbox = match mail.to.parse() {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("bad recipient: {e}");
                outbox::record_attempt(db, id, Some(&msg)).await?;
                // Retrying cannot fix the address.
                return Ok(());
            }
        };
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .body(mail.body.clone())
            .map_err(JobError::failed)?;
        match transport.send(message).await {
            Ok(_) => {
                outbox::record_attempt(db, id, None).await?;
                tracing::info!(mail.id = %id, "email delivered");
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                outbox::record_attempt(db, id, Some(&msg)).await?;
                Err(JobError::Failed(format!("SMTP delivery failed: {msg}")))
            }
        }
    }
}
