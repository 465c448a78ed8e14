//! Path parameters parsed into typed ids (`ProductId`, `DisputeId`, …) at the edge.
//!
//! A segment that is not an id cannot name anything, so it is answered like an id of another store: 404
//! `not_found`, as the JSON envelope under `/api` and as the error page elsewhere (axum's own `Path` rejection
//! would be a plain-text 400 that leaks the parser's wording).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::http::error::{ApiError, PageError, is_api_path};

/// `axum::extract::Path<T>` whose rejection is a 404 in the site's own error format.
#[derive(Debug)]
pub struct IdPath<T>(pub T);

impl<S, T> FromRequestParts<S> for IdPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(IdPath(v)),
            Err(rejection) => {
                tracing::debug!(error = %rejection, "path parameter is not an id");
                let e = ApiError::not_found("nothing with this id was");
                Err(if is_api_path(parts.uri.path()) { e.into_response() } else { PageError(e).into_response() })
            }
        }
    }
}
