//! One place where failures become HTTP responses.
//!
//! The API answers `{"error": {"code", "message"}}` with a stable, machine-readable code; browsers get a plain
//! HTML page. A 5xx never shows its cause: the cause is logged once here, with the request's span.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use palisade_store::StoreError;
use serde_json::json;

/// An error answered as JSON (the API).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        let message = message.into();
        // Messages may echo input back; a card number typed in the wrong place is not repeated (nor logged).
        let message = match palisade_core::redact::card_numbers(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(redacted) => redacted,
        };
        Self { status, code, message }
    }

    #[must_use]
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid operator token is required (Authorization: Bearer pal_op_…)",
        )
    }

    #[must_use]
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    #[must_use]
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side; it has been logged")
    }
}

/// How a storage error is classified for the outside world.
fn classify(e: &StoreError) -> (StatusCode, &'static str, Option<String>) {
    match e {
        StoreError::NotFound(what) => (StatusCode::NOT_FOUND, "not_found", Some(format!("{what} not found"))),
        StoreError::Conflict(m) => (StatusCode::CONFLICT, "conflict", Some(m.clone())),
        StoreError::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", Some(m.clone())),
        StoreError::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", Some((*m).to_owned())),
        e if e.is_unavailable() => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            Some("the database is not answering; try again shortly".into()),
        ),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal", None),
    }
}

impl From<palisade_identity::IdentityError> for ApiError {
    fn from(e: palisade_identity::IdentityError) -> Self {
        use palisade_identity::IdentityError as E;
        match e {
            E::Store(s) => ApiError::from(s),
            E::Policy(p) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", p.to_string()),
            E::InvalidCode => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_code", e.to_string()),
            E::NotAllowed(m) => ApiError::new(StatusCode::FORBIDDEN, "not_allowed", m),
            E::Busy => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string()),
            E::Password(p) => {
                tracing::error!(error = %p, "password hashing failed");
                ApiError::internal()
            }
        }
    }
}

impl From<palisade_core::money::AmountError> for ApiError {
    fn from(e: palisade_core::money::AmountError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }
}

impl From<palisade_commerce::address::AddressError> for ApiError {
    fn from(e: palisade_commerce::address::AddressError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_address", e.to_string())
    }
}

impl From<palisade_commerce::idempotency::IdempotencyKeyError> for ApiError {
    fn from(e: palisade_commerce::idempotency::IdempotencyKeyError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", e.to_string())
    }
}

impl From<palisade_identity::IdentityError> for PageError {
    fn from(e: palisade_identity::IdentityError) -> Self {
        PageError(ApiError::from(e))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code, public) = classify(&e);
        if status.is_server_error() {
            tracing::error!(error = %e, "request failed");
        }
        match public {
            Some(message) if !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE => {
                Self::new(status, code, message)
            }
            _ => ApiError::internal(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

/// An error answered as an HTML page (the console, and later the storefront and admin).
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError(ApiError::from(e))
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let e = self.0;
        (e.status, Html(error_page(e.status, &e.message))).into_response()
    }
}

/// A self-contained error page (no template engine involved, so it renders even when templates cannot).
#[must_use]
pub fn error_page(status: StatusCode, message: &str) -> String {
    error_page_quoting(status, message, None)
}

/// An error page that also shows a reference Palisade made itself (a firewall event id) for the visitor to quote.
/// The message may echo input and is redacted; the reference is not input, and redacting it would garble it
/// (a UUID whose hex happens to be all digits can look like a card number).
#[must_use]
pub fn error_page_quoting(status: StatusCode, message: &str, reference: Option<&str>) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    let reference = reference.map_or(String::new(), |r| format!("<p>Reference: <code>{}</code></p>", escape(r)));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{code} {title} · Palisade</title>\
         <link rel=\"stylesheet\" href=\"/assets/console.css\"></head><body><main class=\"narrow\">\
         <h1>{code} · {title}</h1><p>{msg}</p>{reference}<p><a href=\"/console\">Back to the console</a></p></main></body></html>",
        code = status.as_u16(),
        title = escape(title),
        msg = escape(&palisade_core::redact::card_numbers(message)),
    )
}

/// Minimal HTML escaping for the few strings the error page interpolates.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether a path belongs to the JSON API (errors there are JSON).
#[must_use]
pub fn is_api_path(path: &str) -> bool {
    path.starts_with("/api/") || path == "/readyz" || path == "/healthz"
}

impl From<palisade_commerce::CommerceError> for ApiError {
    fn from(e: palisade_commerce::CommerceError) -> Self {
        use palisade_commerce::CommerceError as E;
        match e {
            E::Store(s) => ApiError::from(s),
            E::Invalid(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m),
            E::OutOfStock { available } => {
                ApiError::new(StatusCode::CONFLICT, "out_of_stock", format!("only {available} left in stock"))
            }
            E::InsufficientFunds { .. } => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_funds", "the balance does not cover this amount")
            }
            E::CurrencyMismatch(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "currency_mismatch", m),
            E::IdempotencyKeyReused => ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_key_reused",
                "this Idempotency-Key was already used for another request; send a new key",
            ),
            E::PaymentGatewayUnavailable(cause) => {
                // The gateway's own words stay in the log; the buyer learns only that they may retry.
                tracing::error!(error = %cause, "payment gateway unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "payment_gateway_unavailable",
                    "the payment could not be processed; nothing was charged, try again shortly",
                )
            }
            E::InvalidTransition(m) => ApiError::new(StatusCode::CONFLICT, "invalid_transition", m),
            e @ E::ChangedMeanwhile(_) => ApiError::new(StatusCode::CONFLICT, "changed_meanwhile", e.to_string()),
            e @ E::TotalTooLarge(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large", e.to_string())
            }
            e @ E::RefundExceedsHeld { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_held", e.to_string())
            }
        }
    }
}

/// A card the gateway declined: the order is recorded as cancelled and the buyer may try another card. Both
/// checkouts answer with this (the API in its envelope, the payment page as its message and status).
#[must_use]
pub fn card_declined(reason: &str) -> ApiError {
    ApiError::new(StatusCode::PAYMENT_REQUIRED, "card_declined", reason)
}

impl From<palisade_commerce::CommerceError> for PageError {
    fn from(e: palisade_commerce::CommerceError) -> Self {
        PageError(ApiError::from(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_pages_escape_their_message() {
        let page = error_page(StatusCode::NOT_FOUND, "<script>alert(1)</script>");
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;"));
    }

    #[test]
    fn a_reference_is_quoted_whole_while_the_message_is_redacted() {
        // All-digit hex groups: shaped like a card to the redactor, but Palisade's own id.
        let id = "01931234-5678-7123-8123-456789abcdef";
        let page = error_page_quoting(StatusCode::FORBIDDEN, "card 4111 1111 1111 1111 typed", Some(id));
        assert!(page.contains(id), "{page}");
        assert!(!page.contains("4111 1111 1111 1111"), "{page}");
        assert!(!error_page(StatusCode::FORBIDDEN, id).contains(id), "the plain page still redacts its message");
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let e = ApiError::from(StoreError::Corrupt("secret detail".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret detail"));
        let e = ApiError::from(StoreError::Conflict("slug taken".into()));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "conflict"));
    }
}
