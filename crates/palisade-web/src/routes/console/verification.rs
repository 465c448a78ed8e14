//! The operator's seller-verification queue (`/console/verifications`, issue #20 item 1): submitted
//! verifications with their documents; approve, or reject with a reason (both audited in the store's chain as the
//! operator, through `palisade_commerce::verification::decide`, which only an operator's principal can call).
//! Documents download as attachments (`Content-Disposition: attachment`, `nosniff`, no-store), opened from their
//! sealed form here; each download is audited.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::verification::{self, Decision};
use palisade_core::StoreId;
use serde::Deserialize;
use serde_json::json;

use crate::http::auth::ConsoleOperator;
use crate::http::form::Form;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/verifications", get(queue))
        .route("/console/verifications/{store}/decide", post(decide))
        .route("/console/verifications/{store}/documents/{document}", get(download))
}

fn store_id(raw: &str) -> Result<StoreId, ApiError> {
    raw.parse().map_err(|_| ApiError::not_found("store"))
}

async fn queue(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    let waiting = verification::queue(&state.db, &op).await.map_err(ApiError::from)?;
    let mut items = Vec::with_capacity(waiting.len());
    for v in waiting {
        let docs = match v.store_id.parse::<StoreId>() {
            Ok(id) => verification::documents_for_review(&state.db, &op, id).await.map_err(ApiError::from)?,
            Err(_) => Vec::new(),
        };
        items.push(json!({"v": v, "documents": docs}));
    }
    let page = state
        .templates
        .render("console_verifications.html", json!({"operator": op.email(), "is_operator": true, "items": items}))?;
    Ok(Html(page))
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    decision: String,
    #[serde(default)]
    reason: String,
    /// The payout account version the page showed ("" when none was on file).
    #[serde(default)]
    account_version: String,
}

async fn decide(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Path(store): Path<String>,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    let store = store_id(&store)?;
    let decision = match f.decision.as_str() {
        "approve" => Decision::ApproveAsShown {
            payout_account_version: match f.account_version.trim() {
                "" => None,
                v => Some(v.parse().map_err(|_| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_account_version",
                        "account_version is a number",
                    )
                })?),
            },
        },
        "reject" => Decision::Reject { reason: f.reason },
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_decision",
                "decision is approve or reject",
            )
            .into());
        }
    };
    verification::decide(&state.db, &op, store, decision).await.map_err(ApiError::from)?;
    Ok(Redirect::to("/console/verifications").into_response())
}

async fn download(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Path((store, document)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let store = store_id(&store)?;
    let sealer = state.document_sealer.clone().ok_or_else(|| ApiError::not_found("document"))?;
    let (doc, sealed) =
        verification::document_for_review(&state.db, &op, store, &document).await.map_err(ApiError::from)?;
    let body = sealer.open(&sealed, &verification::document_context(store, &doc.id)).map_err(|_| {
        tracing::error!(store.id = %store, document.id = %doc.id, "a verification document did not open");
        ApiError::internal()
    })?;
    let ext = match doc.content_type.as_str() {
        "application/pdf" => "pdf",
        "image/png" => "png",
        _ => "jpg",
    };
    Ok((
        [
            (header::CONTENT_TYPE, doc.content_type.clone()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"document-{}.{ext}\"", doc.id)),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}
