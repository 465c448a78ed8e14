//! Typed identifiers.
//!
//! Every entity gets its own id type so that a store id can never be passed where an account id is expected.
//! Ids are UUIDv7 (time-ordered, so B-tree inserts stay local) and are stored as TEXT on both backends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A string that was supposed to be an id but is not a UUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a valid id")]
pub struct InvalidId(pub String);

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"))]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[must_use]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id as the database stores it.
            #[must_use]
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId(s.chars().take(64).collect()))
            }
        }
    };
}

typed_id!(
    /// A store (tenant) on the marketplace.
    StoreId
);
typed_id!(
    /// A person's account: operator, merchant staff or buyer.
    AccountId
);
typed_id!(
    /// One entry of the audit log.
    AuditEventId
);
typed_id!(
    /// One durable background job.
    JobId
);
typed_id!(
    /// An API token (the secret part is never stored, only its hash).
    TokenId
);
typed_id!(
    /// A product of a store's catalog.
    ProductId
);
typed_id!(
    /// One variant (SKU, options, price, stock) of a product.
    VariantId
);
typed_id!(
    /// An order placed with a store.
    OrderId
);
typed_id!(
    /// A buyer's dispute about an order.
    DisputeId
);
typed_id!(
    /// A product image (its bytes are stored by content hash).
    ImageId
);
typed_id!(
    /// An installed app's webhook subscription: one (store, extension, topic, URL).
    WebhookSubscriptionId
);
typed_id!(
    /// One event sent (or to be sent) to one webhook subscription.
    WebhookDeliveryId
);
typed_id!(
    /// A shipping address a buyer saved in their account.
    AddressId
);
typed_id!(
    /// A PDPA access or correction request, as it reached one store.
    DataRequestId
);
typed_id!(
    /// A security-awareness quiz drawn for one member (single use; see `palisade_store::training`).
    TrainingAttemptId
);
typed_id!(
    /// One run of a store's security scan (see `palisade_store::scans`).
    ScanId
);
typed_id!(
    /// One buyer's conversation with one store (see `palisade_commerce::messages`).
    ThreadId
);
typed_id!(
    /// One message in a buyer–seller thread.
    MessageId
);
typed_id!(
    /// A buyer's scam report about a store, listing or message (see `palisade_commerce::scam_reports`).
    ReportId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = StoreId::new();
        let parsed: StoreId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn garbage_is_rejected_with_the_input_in_the_message() {
        let err = "not-a-uuid".parse::<AccountId>().unwrap_err();
        assert!(err.to_string().contains("not-a-uuid"));
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = JobId::new();
        let b = JobId::new();
        assert!(a.to_string() < b.to_string() || a.as_uuid().get_timestamp() == b.as_uuid().get_timestamp());
    }
}
