//! The urlencoded form extractor every page handler uses. It refuses text the database cannot hold (a NUL byte:
//! PostgreSQL's `text` type has no room for it, so it would otherwise surface as a 500 — possibly after part of
//! a change was written) with a clear 400 before any handler runs, in this one place rather than per handler.

use axum::extract::rejection::FormRejection as AxumFormRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::error::is_api_path;
use crate::http::{ApiError, PageError};

/// A form body (`application/x-www-form-urlencoded`, or the query string of a GET) parsed into `T`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Form<T>(pub T);

/// Why a form was refused.
#[derive(Debug)]
pub struct FormRejection {
    status: StatusCode,
    code: &'static str,
    message: String,
    api: bool,
}

impl FormRejection {
    /// The explanation, safe to show to whoever sent the form.
    #[must_use]
    pub fn body_text(&self) -> String {
        self.message.clone()
    }

    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for FormRejection {
    fn into_response(self) -> Response {
        let e = ApiError::new(self.status, self.code, self.message);
        if self.api { e.into_response() } else { PageError(e).into_response() }
    }
}

/// The message for text holding a NUL byte (shared with the JSON extractor).
pub const NUL_MESSAGE: &str = "text must not contain NUL characters (\\0)";

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = FormRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let api = is_api_path(req.uri().path());
        let reject = |status, code, message: String| FormRejection { status, code, message, api };
        // Read the pairs first (any NUL in a name or a value refuses the form), then give them to serde.
        let axum::Form(pairs) =
            axum::Form::<Vec<(String, String)>>::from_request(req, state).await.map_err(|e: AxumFormRejection| {
                let code = if e.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    "unsupported_media_type"
                } else {
                    "bad_request"
                };
                reject(e.status(), code, e.body_text())
            })?;
        if pairs.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
            return Err(reject(StatusCode::BAD_REQUEST, "invalid_text", NUL_MESSAGE.to_owned()));
        }
        let encoded = form_urlencoded::Serializer::new(String::new()).extend_pairs(&pairs).finish();
        serde_urlencoded::from_str::<T>(&encoded).map(Form).map_err(|e| {
            reject(StatusCode::UNPROCESSABLE_ENTITY, "invalid", format!("the form could not be read: {e}"))
        })
    }
}

impl From<FormRejection> for ApiError {
    fn from(e: FormRejection) -> Self {
        ApiError::new(e.status, e.code, e.message)
    }
}
