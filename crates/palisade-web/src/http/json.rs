//! A JSON body extractor whose refusals use the API's error envelope (axum's own answer is plain text). Like the
//! form extractor it refuses text holding a NUL byte (`\u0000`) with a 400 before any handler runs: PostgreSQL's
//! `text` cannot store it.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::http::ApiError;

/// A request body parsed as JSON into `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => {
                if has_nul(&v) {
                    return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_text", crate::http::form::NUL_MESSAGE));
                }
                // Typed by axum's own `Json`, whose refusal names the field that failed (`lines[0].variant_id: …`);
                // `serde_json::from_value` would say what was wrong but not where. Bodies are small (the body
                // limit), so writing the value out again costs little.
                let bytes = serde_json::to_vec(&v).map_err(|e| {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("invalid body: {e}"))
                })?;
                axum::Json::<T>::from_bytes(&bytes)
                    .map(|axum::Json(t)| Body(t))
                    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text()))
            }
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            )),
            Err(JsonRejection::JsonDataError(e)) => {
                Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", e.body_text()))
            }
            Err(JsonRejection::JsonSyntaxError(e)) => {
                Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.body_text()))
            }
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", "the request body is too large"))
            }
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())),
        }
    }
}

/// Whether any string (value or key) in `v` holds a NUL character.
fn has_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(has_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
