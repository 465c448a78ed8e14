//! The middleware stack every router passes through, outermost first:
//! request id → trace span → compression → error pages → panic guard → timeout → CSRF (headers), then one
//! middleware, [`edge`], that runs Palisade's own steps in order: path canonicalisation → body cap → metrics →
//! security headers → shedding → rate limits → CSRF (synchronizer tokens) → challenge → shield.
//!
//! The edge steps are plain async functions, each handed the rest of the chain as a continuation, rather than one
//! axum `from_fn` layer each: every such layer boxes its future, boxes and clones the service below it and clones
//! the state on every request, and ten of them cost more than the work they did (`bench/storefront.sh`).

use std::any::Any;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::edge::{canonical, challenge, limits, shedding, shield};
use crate::http::error::{ApiError, error_page, is_api_path};
use crate::http::{csrf, headers, metrics};
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A random UUID per request (a client's own `X-Request-Id` is kept), written straight into the header's bytes:
/// `tower_http`'s `MakeRequestUuid` formats a `String` and parses it back into a header on every request.
#[derive(Debug, Clone, Copy)]
struct RequestUuid;

impl MakeRequestId for RequestUuid {
    fn make_request_id<B>(&mut self, _req: &axum::http::Request<B>) -> Option<RequestId> {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut buf);
        axum::http::HeaderValue::from_str(text).ok().map(RequestId::new)
    }
}

/// Marks a response produced by the panic guard, so the error-page layer can render it for browsers.
#[derive(Debug, Clone, Copy)]
struct Panicked;

fn panic_response(_payload: Box<dyn Any + Send + 'static>) -> Response {
    // The payload may contain data; it is never sent to the client. CatchPanic has already logged it.
    let mut res = ApiError::internal().into_response();
    res.extensions_mut().insert(Panicked);
    res
}

/// Renders JSON-shaped platform failures as HTML pages outside the API, and answers the CSRF refusal clearly.
async fn error_pages(req: Request, next: Next) -> Response {
    let api = is_api_path(req.uri().path());
    // Probes and the API never render a page: their path is not copied (`/healthz` is the hot path of probes).
    let page_uri = (!api).then(|| req.uri().clone());
    let res = match &page_uri {
        Some(uri) => crate::http::error::error_pages_for(uri.clone(), next.run(req)).await,
        None => next.run(req).await,
    };
    let status = res.status();
    let panicked = res.extensions().get::<Panicked>().is_some();
    let csrf = status == StatusCode::FORBIDDEN && res.extensions().get::<tower_http::csrf::ProtectionError>().is_some();
    let timeout = status == StatusCode::REQUEST_TIMEOUT;
    let too_large = status == StatusCode::PAYLOAD_TOO_LARGE;
    if !(panicked || csrf || timeout || too_large) {
        if api && !status.is_success() && !is_json(&res) {
            return envelope(res).await;
        }
        return res;
    }
    let (code, message) = if csrf {
        ("cross_site_request", "this request came from another site and was refused (CSRF protection)")
    } else if timeout {
        ("timeout", "the request took too long and was stopped")
    } else if too_large {
        ("payload_too_large", "the request body is larger than this endpoint accepts")
    } else {
        ("internal", "something went wrong on our side; it has been logged")
    };
    match page_uri {
        None => ApiError::new(status, code, message).into_response(),
        Some(uri) => {
            let page = crate::http::error::error_pages_for(uri, async { error_page(status, message) }).await;
            (status, axum::response::Html(page)).into_response()
        }
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/problem+json"))
}

/// Every `/api` answer that is not a success carries the JSON error envelope, whoever produced it: axum's
/// extractor rejections (query strings, JSON, paths), 404 and 405 from the router, refusals of the layers. The
/// plain-text reason of a 4xx is kept as the message (it says which field was wrong); a 5xx stays generic.
async fn envelope(res: Response) -> Response {
    let status = res.status();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::CONFLICT => "conflict",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_input",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        s if s.is_redirection() => "redirect",
        _ => "request_refused",
    };
    let (parts, body) = res.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if status.is_client_error() => String::from_utf8_lossy(&b).trim().to_owned(),
        _ => String::new(),
    };
    let message = if text.is_empty() || text.starts_with('<') {
        status.canonical_reason().unwrap_or("the request was refused").to_lowercase()
    } else {
        text
    };
    let mut out = ApiError::new(status, code, message).into_response();
    // Headers the refusal carried (Allow on a 405, Retry-After on a 429, request ids) are kept.
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The largest request body of an image upload (5 MiB image plus multipart framing).
pub const UPLOAD_LIMIT: usize = palisade_commerce::images::MAX_BYTES + 512 * 1024;

/// The largest request body of a store archive upload (the archive plus multipart framing).
pub const ARCHIVE_UPLOAD_LIMIT: usize = palisade_backup::store_exports::UPLOAD_MAX_BYTES + 512 * 1024;

/// Whether a route takes image uploads (and so the larger body limit).
#[must_use]
pub fn is_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && path.starts_with("/")
        && path.ends_with("/images")
        && path.contains("/stores/")
}

/// The body limit of the public phishing-simulation landing routes (`/learn/…`).
pub const LEARN_LIMIT: usize = 2048;

/// Whether a route takes a products CSV (the import check): up to 2 MiB of text.
#[must_use]
pub fn is_product_import(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && path.starts_with("/admin/stores/") && path.ends_with("/products/import")
}

/// Whether a route takes a store archive upload.
#[must_use]
pub fn is_archive_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST && path.starts_with("/admin/stores/") && path.ends_with("/backups/upload")
}

/// Whether a route takes a seller's verification document.
#[must_use]
pub fn is_verification_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && path.starts_with("/admin/stores/")
        && path.ends_with(crate::routes::admin::verification::DOCUMENTS_SUFFIX)
}

/// The body limit of a route: `default` unless it takes uploads.
#[must_use]
pub fn body_limit(method: &axum::http::Method, path: &str, default: usize) -> usize {
    if is_product_import(method, path) {
        crate::services::product_csv::MAX_FILE + 64 * 1024
    } else if is_archive_upload(method, path) {
        ARCHIVE_UPLOAD_LIMIT
    } else if is_verification_upload(method, path) {
        crate::routes::admin::verification::DOCUMENT_UPLOAD_LIMIT
    } else if is_upload(method, path) {
        UPLOAD_LIMIT
    } else if path.starts_with(palisade_store::phishing::LANDING_PATH) {
        // The phishing-simulation landing page and its confirmation: a nonce and a few flags, never more.
        LEARN_LIMIT.min(default)
    } else {
        default
    }
}

/// Holds every request body to its route's limit ([`body_limit`]) however the handler reads it: 413 at once
/// when the declared length is over, and the body stops at the limit when it is not declared.
fn cap_body(state: &AppState, req: Request) -> Result<Request, Box<Response>> {
    let limit = body_limit(req.method(), req.uri().path(), state.config.max_body_bytes);
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Box::new(StatusCode::PAYLOAD_TOO_LARGE.into_response()));
    }
    Ok(req.map(|body| Body::new(http_body_util::Limited::new(body, limit))))
}

/// Palisade's own request steps, in order (see the module docs); each may answer itself instead of passing on.
async fn edge(axum::extract::State(state): axum::extract::State<AppState>, mut req: Request, next: Next) -> Response {
    // From here in, every step reads the path as the router's parameters do.
    canonical::canonical_path(&mut req);
    // Every body is capped at its route's limit here; extractors apply the same limit (DefaultBodyLimit for
    // ordinary routes, raised on the upload routes), and so does the shield, which buffers bodies.
    let req = match cap_body(&state, req) {
        Ok(req) => req,
        Err(refused) => return *refused,
    };
    let state = &state;
    metrics::track(req, async move |req| {
        headers::security_headers(state, req, async move |req| {
            shedding::shed(state, req, async move |req| {
                limits::enforce(state, req, async move |req| {
                    // An upload's large body is read only for a member of the store (after the rate limits).
                    let req = match crate::http::access::admit_upload(state, req).await {
                        Ok(req) => req,
                        Err(refused) => return *refused,
                    };
                    // Synchronizer tokens: after rate limits and shedding (so a flood is refused before its body
                    // is read), around the challenge page and the handlers (which put the token in their forms).
                    csrf::synchronize(state, req, async move |req| {
                        challenge::gate(state, req, async move |req| {
                            shield::inspect(state, req, async move |req| next.run(req).await).await
                        })
                        .await
                    })
                    .await
                })
                .await
            })
            .await
        })
        .await
    })
    .await
}

/// Wraps `router` in the HTTP baseline.
pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let cfg = &state.config;
    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request<Body>| {
            let id = req.extensions().get::<RequestId>().and_then(|r| r.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", request.id = %id, http.method = %req.method(), http.path = %req.uri().path())
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros));
    // One composite layer: `Router::layer` boxes whatever it is given once per route, and every box is cloned on
    // every request, so the stack is built as one `ServiceBuilder` (first listed = outermost) and boxed once.
    let stack = tower::ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestUuid))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(trace)
        .layer(CompressionLayer::new())
        .layer(middleware::from_fn(error_pages))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(crate::http::timeout::LazyTimeoutLayer::new(cfg.request_timeout))
        .layer(CsrfLayer::new())
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), edge));
    router.layer(stack)
}
