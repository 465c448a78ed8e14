#![doc = include_str!("../README.md")]

pub mod ids;
pub mod matrix;
pub mod money;
pub mod redact;
pub mod text;
pub mod time;
pub mod zone;

pub use ids::{
    AccountId, AddressId, AuditEventId, DataRequestId, DisputeId, ImageId, JobId, MessageId, OrderId, ProductId,
    ReportId, ScanId, StoreId, ThreadId, TokenId, TrainingAttemptId, VariantId, WebhookDeliveryId,
    WebhookSubscriptionId,
};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
