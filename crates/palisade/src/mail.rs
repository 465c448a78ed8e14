//! Email delivery from the outbox over SMTP (lettre, rustls). Without an SMTP URL, messages stay in the
//! outbox, which operators read in the console as the development mailbox.

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
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
        let message = compose(&self.from, to, &mail).map_err(JobError::failed)?;
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

/// The message for one outbox entry: plain text, or plain text with its HTML alternative; from the platform's
/// address under the display name the entry asks for (a store's name). The name is cut to one line of 70
/// characters: it is the merchant's text, and a header must not carry its line breaks.
fn compose(from: &Mailbox, to: Mailbox, mail: &outbox::Mail) -> Result<Message, lettre::error::Error> {
    let name = mail.from_name.as_deref().map(|n| n.chars().filter(|c| !c.is_control()).take(70).collect::<String>());
    let from = match name {
        Some(n) if !n.trim().is_empty() => Mailbox::new(Some(n.trim().to_owned()), from.email.clone()),
        _ => from.clone(),
    };
    let builder = Message::builder().from(from).to(to).subject(mail.subject.clone());
    match &mail.html {
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(mail.body.clone(), html.clone())),
        None => builder.body(mail.body.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(html: Option<&str>, from_name: Option<&str>) -> outbox::Mail {
        outbox::Mail {
            id: "m1".into(),
            to: "buyer@example.com".into(),
            subject: "Order #1001 confirmed".into(),
            body: "Thank you".into(),
            html: html.map(str::to_owned),
            from_name: from_name.map(str::to_owned),
            created_at: palisade_core::time::Timestamp(0),
            sent_at: None,
            last_error: None,
        }
    }

    fn formatted(m: &outbox::Mail) -> String {
        let from: Mailbox = "Palisade <no-reply@palisade.example>".parse().unwrap();
        let to: Mailbox = m.to.parse().unwrap();
        String::from_utf8(compose(&from, to, m).unwrap().formatted()).unwrap()
    }

    #[test]
    fn store_mail_carries_the_store_name_and_an_html_alternative() {
        let text = formatted(&mail(Some("<p>Thank you</p>"), Some("Lion City Tea")));
        assert!(text.contains("From: \"Lion City Tea\" <no-reply@palisade.example>"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("text/plain") && text.contains("text/html"), "{text}");
    }

    #[test]
    fn a_store_name_cannot_add_headers() {
        let text = formatted(&mail(None, Some("Evil\r\nBcc: victim@example.com")));
        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("no-reply@palisade.example"), "the address stays the platform's: {text}");
    }

    #[test]
    fn platform_mail_stays_plain_text_from_the_platform() {
        let text = formatted(&mail(None, None));
        assert!(text.contains("From: Palisade <no-reply@palisade.example>"), "{text}");
        assert!(!text.contains("multipart"), "{text}");
    }
}
