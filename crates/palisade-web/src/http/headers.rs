//! Security headers on every response.
//!
//! The Content-Security-Policy is one constant: the platform's pages load their scripts and stylesheets from
//! `/assets` and `/theme` (`'self'`) and carry no inline `<script>` or `<style>` (merchant templates are cleaned of
//! them), so no per-request nonce is needed — and none is built: this runs on every request, `/healthz` and the
//! API included, where a fresh random value, two string copies and a header allocation were pure cost.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header;
use axum::response::Response;

use crate::state::AppState;

/// The policy: nothing by default, the platform's own scripts, styles, images, fonts and fetches, forms posted
/// back to it, never framed, no `<base>`.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// Adds the security headers a response did not set itself.
pub async fn security_headers(state: &AppState, req: Request, next: impl AsyncFnOnce(Request) -> Response) -> Response {
    let mut res = next(req).await;
    let h = res.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    h.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    h.entry(header::X_FRAME_OPTIONS).or_insert(HeaderValue::from_static("DENY"));
    h.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("same-origin"));
    h.entry("cross-origin-opener-policy").or_insert(HeaderValue::from_static("same-origin"));
    h.entry("permissions-policy")
        .or_insert(HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"));
    if state.config.behind_tls {
        h.entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static("max-age=63072000; includeSubDomains"));
    }
    res
}
