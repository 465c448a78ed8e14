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
        e @ StoreError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited", Some(e.to_string())),
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

tokio::task_local! {
    /// The path of the page being answered, so that an error page deep inside (a handler, the shield, a limit)
    /// wears the look of where the visitor is and leads back there (see [`error_pages_for`]).
    static PAGE_PATH: axum::http::Uri;
}

/// Runs `fut` (the answer to a request for `uri`) so that any error page made inside it fits that page's
/// audience: buyers get the shop's look and a way back to the shop, staff and operators the console's.
pub async fn error_pages_for<F: std::future::Future>(uri: axum::http::Uri, fut: F) -> F::Output {
    PAGE_PATH.scope(uri, fut).await
}

/// The address of the page being answered, inside a request.
pub(crate) fn page_uri() -> Option<axum::http::Uri> {
    PAGE_PATH.try_with(Clone::clone).ok()
}

/// The path (no query) of the page being answered, when inside [`error_pages_for`].
#[must_use]
pub fn page_path() -> Option<String> {
    PAGE_PATH.try_with(|uri| uri.path().to_owned()).ok()
}

/// Where an error page leads back to, and in whose look.
#[derive(Debug, PartialEq, Eq)]
struct WayBack {
    shop: bool,
    href: String,
    label: &'static str,
}

/// Buyers' pages (the marketplace, a store, cart, checkout, order links, and any unknown address, which buyers are
/// the likeliest to mistype) and the pages of people who run stores or the platform.
fn way_back(path: &str) -> WayBack {
    let back = |shop, href: &str, label| WayBack { shop, href: href.to_owned(), label };
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'));
    if under("/console") {
        return back(false, "/console", "Back to the console");
    }
    if under("/admin") {
        return back(false, "/admin", "Back to your stores");
    }
    if under("/account/orders") {
        return back(true, "/account/orders", "Back to your orders");
    }
    if under("/account") || under("/login") || under("/register") || under("/logout") || under("/invitations") {
        return back(false, "/", "Back to the marketplace");
    }
    if under("/checkout") || under("/cart") {
        return back(true, "/cart", "Back to your cart");
    }
    if let Some(rest) = path.strip_prefix("/s/") {
        let slug = rest.split('/').next().unwrap_or_default();
        if palisade_core::text::Slug::parse(slug).is_ok() {
            return WayBack { shop: true, href: format!("/s/{slug}"), label: "Back to the shop" };
        }
    }
    back(true, "/", "Back to the marketplace")
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
    let back = PAGE_PATH.try_with(|uri| way_back(uri.path())).unwrap_or_else(|_| way_back("/console"));
    error_page_at(&back, status, message, reference)
}

fn error_page_at(back: &WayBack, status: StatusCode, message: &str, reference: Option<&str>) -> String {
    let reason = escape(status.canonical_reason().unwrap_or("Error"));
    let code = status.as_u16();
    let msg = escape(&palisade_core::redact::card_numbers(message));
    let reference = reference.map_or(String::new(), |r| format!("<p>Reference: <code>{}</code></p>", escape(r)));
    let (href, label) = (escape(&back.href), back.label);
    if back.shop {
        let heading = match status {
            StatusCode::NOT_FOUND => "We could not find that page",
            StatusCode::FORBIDDEN => "This request was blocked",
            StatusCode::TOO_MANY_REQUESTS => "Too many requests",
            StatusCode::SERVICE_UNAVAILABLE => "The shop is busy right now",
            s if s.is_server_error() => "Something went wrong on our side",
            _ => "That did not work",
        };
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{heading}</title>\
             <link rel=\"stylesheet\" href=\"/theme/default/theme.css\"></head><body>\
             <header class=\"site\"><a class=\"logo\" href=\"/\">Palisade</a>\
             <nav class=\"account\" aria-label=\"Your account\"><a href=\"/cart\">Cart</a></nav></header>\
             <main class=\"error-page\"><h1>{heading}</h1><p>{msg}</p>{reference}\
             <p class=\"muted\">Error {code} · {reason}</p><p><a class=\"button\" href=\"{href}\">{label}</a></p>\
             </main></body></html>"
        )
    } else {
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{code} {reason} · Palisade</title><link rel=\"stylesheet\" href=\"/assets/console.css\"></head>\
             <body><main class=\"narrow\"><h1>{code} · {reason}</h1><p>{msg}</p>{reference}\
             <p><a href=\"{href}\">{label}</a></p></main></body></html>"
        )
    }
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
            e @ E::TooLong { .. } => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "too_long", e.to_string()),
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
            E::PaymentDeclined { reason } => card_declined(&reason),
            // Which rule or signal refused it is not told: it would teach a fraudster what to change.
            E::RefusedAsRisky => ApiError::new(
                StatusCode::FORBIDDEN,
                "order_refused",
                "we could not accept this order and nothing was charged; if you think this is a mistake, contact the shop",
            ),
            e @ E::HeldForReview => ApiError::new(StatusCode::CONFLICT, "held_for_review", e.to_string()),
            E::InvalidTransition(m) => ApiError::new(StatusCode::CONFLICT, "invalid_transition", m),
            E::ErasureRefused(m) => ApiError::new(StatusCode::CONFLICT, "erasure_refused", m),
            e @ E::ChangedMeanwhile(_) => ApiError::new(StatusCode::CONFLICT, "changed_meanwhile", e.to_string()),
            e @ E::TotalTooLarge(_) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_too_large", e.to_string())
            }
            e @ E::RateLimited(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string()),
            e @ E::PayoutsOnHold => ApiError::new(StatusCode::CONFLICT, "payouts_on_hold", e.to_string()),
            e @ E::HiddenByOperator => ApiError::new(StatusCode::CONFLICT, "hidden_by_operator", e.to_string()),
            e @ E::RefundExceedsHeld { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_held", e.to_string())
            }
            e @ E::SellerUnverified => ApiError::new(StatusCode::FORBIDDEN, "seller_unverified", e.to_string()),
            e @ E::NoPayoutAccount => ApiError::new(StatusCode::CONFLICT, "no_payout_account", e.to_string()),
            E::Registry(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "registry_refused", m),
        }
    }
}

/// A card the gateway declined: no order is kept and the buyer may try another card. Both
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
    fn error_pages_wear_the_look_of_where_the_visitor_is() {
        assert_eq!(
            way_back("/s/tea/p/oolong"),
            WayBack { shop: true, href: "/s/tea".into(), label: "Back to the shop" }
        );
        assert_eq!(way_back("/checkout/tea").href, "/cart");
        assert!(way_back("/no/such/page").shop, "unknown addresses are most likely a buyer's");
        assert!(way_back("/account/orders").shop);
        assert!(!way_back("/account/security").shop);
        assert_eq!(way_back("/admin/stores/x/orders").href, "/admin");
        assert_eq!(way_back("/console/shield").href, "/console");
        assert_eq!(way_back("/consoled").href, "/", "a prefix is a whole segment");
        // A path segment that is not a slug is not echoed into the link.
        assert_eq!(way_back("/s/%22%3E%3Cscript%3E/p/x").href, "/");
        let page = error_page_at(&way_back("/s/tea/p/gone"), StatusCode::NOT_FOUND, "no such product", None);
        assert!(page.contains("/theme/default/theme.css") && page.contains("href=\"/s/tea\""), "{page}");
        assert!(!page.contains("console"), "{page}");
        let page = error_page_at(&way_back("/admin"), StatusCode::FORBIDDEN, "no", None);
        assert!(page.contains("/assets/console.css") && page.contains("Back to your stores"), "{page}");
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
