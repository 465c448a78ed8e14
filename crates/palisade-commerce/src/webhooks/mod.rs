//! Signed webhook deliveries to installed apps (issue #19, item 1, the app form).
//!
//! An app's install subscribes it to the topics its manifest lists ([`subscriptions::subscribe`]); each
//! subscription gets its own signing secret, shown once and kept sealed with the master-key sealer (the server
//! must read it back to sign). A change that is an event calls [`deliveries::emit_on`] inside its own
//! transaction, which writes one delivery per matching subscription whose granted scopes cover the topic. The
//! [`deliveries::deliver_due`] job sends what is due through the outbound-connection guard, signs each attempt
//! with its own timestamp, and retries failures with capped exponential backoff and jitter until it gives up
//! and marks the delivery failed (visible in [`deliveries::list`], redeliverable by staff).
//!
//! The format a receiver checks is documented in the crate README ("Webhooks"); [`signature::verify`] is the
//! platform's own verifier of it. Deliveries live here rather than in `palisade-store` because the events are
//! commerce changes (an order paid, a product updated) and must be written in the same transaction as them.

pub mod deliveries;
pub(crate) mod events;
pub mod signature;
pub mod subscriptions;

use palisade_store::seal::Sealer;

/// The sealer for subscription secrets: its own purpose, so a secret sealed here opens nowhere else.
#[derive(Debug)]
pub struct WebhookKeys(Sealer);

impl WebhookKeys {
    /// Derives the webhook-secret key from the master key.
    #[must_use]
    pub fn new(master_key: &[u8; 32]) -> Self {
        WebhookKeys(Sealer::new(master_key, b"palisade webhook secret v1"))
    }

    fn sealer(&self) -> &Sealer {
        &self.0
    }
}

/// The sealed secret's associated data: a secret copied to another store's or subscription's row does not open.
fn seal_context(store: palisade_core::StoreId, subscription: palisade_core::WebhookSubscriptionId) -> String {
    format!("webhook:{store}:{subscription}")
}
