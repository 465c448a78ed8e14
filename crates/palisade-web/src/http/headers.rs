//! Security headers, with a fresh CSP nonce per request for the platform's own inline styles and scripts.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header;
use axum::response::Response;
use rand::RngCore;

use crate::state::AppState;

/// The nonce for this request's inline `<style>`/`<script>` tags; templates receive it as `nonce`.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String);

const CSP_HEAD: &str = "default-src 'none'; script-src 'self' 'nonce-";
const CSP_MID: &str = "'; style-src 'self' 'nonce-";
const CSP_TAIL: &str = "'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; \
                        frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers a response did not set itself.
pub async fn security_headers(
    state: &AppState,
    mut req: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = hex::encode(bytes);
    // Built once into its final buffer, which the header value then shares instead of copying.
    let mut csp = String::with_capacity(CSP_HEAD.len() + CSP_MID.len() + CSP_TAIL.len() + 2 * nonce.len());
    csp.push_str(CSP_HEAD);
    csp.push_str(&nonce);
    csp.push_str(CSP_MID);
    csp.push_str(&nonce);
    csp.push_str(CSP_TAIL);
    req.extensions_mut().insert(CspNonce(nonce));
    let mut res = next(req).await;
    let h = res.headers_mut();
    if let header::Entry::Vacant(slot) = h.entry(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(csp))
    {
        slot.insert(v);
    }
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
