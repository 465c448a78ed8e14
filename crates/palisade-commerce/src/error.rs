//! The commerce error type: each variant is a clear, stable refusal.

use palisade_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CommerceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
    /// A free-text field longer than its bound: refused whole (nothing truncated, nothing written).
    #[error("the {field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("only {available} left in stock")]
    OutOfStock { available: i64 },
    #[error("not enough funds in {account}")]
    InsufficientFunds { account: String },
    #[error("currency mismatch: {0}")]
    CurrencyMismatch(String),
    /// An idempotency key sent again by another sender or with another request: refused, and nothing about the
    /// order it was first used for is given back.
    #[error("this idempotency key was already used for another request")]
    IdempotencyKeyReused,
    /// The payment gateway failed or did not answer: nothing was charged and the order stays placed, so the
    /// buyer can retry. Not the buyer's fault, so never a 4xx.
    #[error("the payment gateway is unavailable: {0}")]
    PaymentGatewayUnavailable(#[source] crate::payments::GatewayError),
    /// The card was declined. No order remains (its stock is back on sale): the buyer may try another card.
    #[error("the card was declined: {reason}")]
    PaymentDeclined { reason: String },
    /// The order's (or dispute's) current status does not allow this step.
    #[error("{0}")]
    InvalidTransition(String),
    /// A concurrent change got there first (a compare-and-set matched nothing); reloading shows the new state.
    #[error("{0} changed meanwhile; reload and try again")]
    ChangedMeanwhile(&'static str),
    /// A sum of prices beyond what is stored (an order or cart total).
    #[error("{0} total too large")]
    TotalTooLarge(&'static str),
    /// The fraud rules refused the order before the card was charged: nothing was written or charged.
    #[error("this order cannot be accepted")]
    RefusedAsRisky,
    /// The order waits for the merchant's fraud review: it cannot ship (or be delivered, or complete) until it is
    /// approved.
    #[error("this order is held for review: approve it in the review queue before shipping")]
    HeldForReview,
    /// Too many messages or reports in a short time from one sender: nothing was written; try again later.
    #[error("too many {0} in a short time; try again later")]
    RateLimited(&'static str),
    /// The store's payouts are on hold (a high-severity scam report or an operator's decision): nothing was paid.
    #[error("this store's payouts are on hold while Palisade reviews a report; contact support")]
    PayoutsOnHold,
    /// The listing was hidden by Palisade after a scam report: only an operator can list it again.
    #[error("this listing was hidden by Palisade after a report and cannot be published; contact support")]
    HiddenByOperator,
    /// An erasure the platform cannot do now, and why (an open order or dispute, an account that is not a
    /// buyer's, an account already erased).
    #[error("{0}")]
    ErasureRefused(String),
    /// A refund larger than what escrow still holds for the order.
    #[error("only {held} is still held for this order")]
    RefundExceedsHeld { held: palisade_core::money::Money },
    /// The store's seller is not verified (or must re-verify after a bank-account change): no payout, and no
    /// listing when the operator requires verification first.
    #[error("the seller is not verified: complete verification on the store's Verification page first")]
    SellerUnverified,
    /// A payout needs a bank account on file (and approved with the seller).
    #[error("add a payout bank account on the store's Verification page first")]
    NoPayoutAccount,
    /// The government records refused the identifier given for verification.
    #[error("{0}")]
    Registry(&'static str),
}

impl From<sqlx::Error> for CommerceError {
    fn from(e: sqlx::Error) -> Self {
        CommerceError::Store(StoreError::from(e))
    }
}

pub type Result<T, E = CommerceError> = std::result::Result<T, E>;

/// An id read back from a row. Ids are parsed when they come in, so one that does not parse here means the row
/// is corrupt (a 500 with the cause logged), not that a client sent something wrong.
pub(crate) fn stored_id<T>(what: &str, s: &str) -> Result<T>
where
    T: std::str::FromStr<Err = palisade_core::ids::InvalidId>,
{
    s.parse().map_err(|e: palisade_core::ids::InvalidId| {
        CommerceError::Store(StoreError::Corrupt(format!("{what} id: {e}")))
    })
}
