//! "Your data" in the buyer's account (issue #21 item 3): make a PDPA access or correction request, which reaches
//! every store the buyer has an order with (the platform routes it as the stores' data intermediary); see each
//! store's status and due date; download an export a store answered with. Only the signed-in account's own
//! requests are listed or downloadable: another account's request id is 404, as if it did not exist.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use palisade_commerce::data_requests::{self, MAX_DETAILS_CHARS};
use palisade_commerce::{CommerceError, data_export};
use palisade_core::DataRequestId;
use serde::Deserialize;
use serde_json::json;

use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::http::session::SignedIn;
use crate::http::{ApiError, PageError};
use crate::routes::admin::data_requests::download;
use crate::routes::storefront::catalog::shop_page;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/data", get(data_page).post(make_request))
        .route("/account/data/{id}/export.json", get(export_json))
        .route("/account/data/{id}/export.csv", get(export_csv))
}

/// What the page says above the form.
enum Notice {
    None,
    /// The request just went out.
    Sent,
    /// The request was refused (shown with its status and stable code).
    Refused(ApiError),
}

async fn answer(state: &AppState, headers: &HeaderMap, s: &SignedIn, notice: Notice) -> Result<Response, PageError> {
    let requests = data_requests::for_buyer(&state.db, s.account.id).await?;
    let sent = matches!(notice, Notice::Sent);
    let (status, error) = match notice {
        Notice::Refused(e) => (e.status, Some(json!({"code": e.code, "message": e.message}))),
        Notice::None | Notice::Sent => (StatusCode::OK, None),
    };
    let ctx = json!({
        "tab": "data", "requests": requests, "error": error, "sent": sent, "max_details": MAX_DETAILS_CHARS,
    });
    shop_page(state, headers, Some(s), "account_data.html", ctx, status).await
}

#[derive(Debug, Deserialize)]
struct SentQuery {
    #[serde(default)]
    sent: Option<String>,
}

async fn data_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    axum::extract::Query(q): axum::extract::Query<SentQuery>,
) -> Result<Response, PageError> {
    answer(&state, &headers, &s, if q.sent.is_some() { Notice::Sent } else { Notice::None }).await
}

#[derive(Debug, Deserialize)]
struct RequestForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    details: String,
}

async fn make_request(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    form: Result<Form<RequestForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(f) = form.map_err(|e| PageError(ApiError::from(e)))?;
    let made = match data_requests::parse_kind(&f.kind) {
        Ok(kind) => data_requests::request_in_account(&state.db, s.account.id, kind, &f.details).await,
        Err(e) => Err(e),
    };
    match made {
        Ok(_) => Ok(Redirect::to("/account/data?sent=1").into_response()),
        Err(
            e @ (CommerceError::Invalid(_)
            | CommerceError::TooLong { .. }
            | CommerceError::Store(palisade_store::StoreError::Conflict(_))),
        ) => answer(&state, &headers, &s, Notice::Refused(ApiError::from(e))).await,
        Err(e) => Err(e.into()),
    }
}

async fn export_json(
    s: SignedIn,
    State(state): State<AppState>,
    IdPath(id): IdPath<DataRequestId>,
) -> Result<Response, PageError> {
    let export = data_requests::buyer_export(&state.db, s.account.id, id).await?;
    let bytes = serde_json::to_vec_pretty(&export).map_err(|_| ApiError::internal())?;
    Ok(download(bytes, "application/json", &format!("personal-data-{id}.json")))
}

async fn export_csv(
    s: SignedIn,
    State(state): State<AppState>,
    IdPath(id): IdPath<DataRequestId>,
) -> Result<Response, PageError> {
    let export = data_requests::buyer_export(&state.db, s.account.id, id).await?;
    Ok(download(data_export::csv(&export).into_bytes(), "text/csv; charset=utf-8", &format!("personal-data-{id}.csv")))
}
