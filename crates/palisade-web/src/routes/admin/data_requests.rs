//! The merchant's data requests (issue #21 item 3): the queue of PDPA access and correction requests with each
//! one's day and due date, logging a request received by email, and the three answers — a generated export of
//! that buyer's data in this store (JSON and CSV downloads), a correction marked done with a note, or a refusal
//! with a reason. Everything needs the customer-data permission and is audited in the store's chain by
//! `palisade_commerce::data_requests`; another store's request is 404.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use palisade_commerce::data_requests::{self, MAX_DETAILS_CHARS, MAX_NOTE_CHARS};
use palisade_commerce::{CommerceError, data_export};
use palisade_core::DataRequestId;
use palisade_core::text::Email;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use super::merchant::{PageResult, back, bad_form, base, page, scope};
use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

/// Every data-request route with the permission it needs; the permission test walks this list.
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/data-requests", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/data-requests", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/data-requests/{request}/export", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/data-requests/{request}/correct", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/data-requests/{request}/refuse", Some(Permission::CustomerData)),
    ("GET", "/admin/stores/{store}/data-requests/{request}/export.json", Some(Permission::CustomerData)),
    ("GET", "/admin/stores/{store}/data-requests/{request}/export.csv", Some(Permission::CustomerData)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/data-requests", get(queue).post(log_email))
        .route("/admin/stores/{store}/data-requests/{request}/export", post(answer_export))
        .route("/admin/stores/{store}/data-requests/{request}/correct", post(correct))
        .route("/admin/stores/{store}/data-requests/{request}/refuse", post(refuse))
        .route("/admin/stores/{store}/data-requests/{request}/export.json", get(download_json))
        .route("/admin/stores/{store}/data-requests/{request}/export.csv", get(download_csv))
}

/// Most requests the queue shows at once (open ones first).
const QUEUE_LIMIT: i64 = 200;

#[derive(Debug, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "logged" => "Logged: the 30-day clock started today.",
        "exported" => {
            "Answered with the export. The buyer can download it from their account; send it yourself for an emailed request."
        }
        "corrected" => "Marked as corrected.",
        "refused" => "Refused. The data concerned is kept for 30 days.",
        _ => return None,
    })
}

async fn queue(State(state): State<AppState>, access: StaffAccess, Query(q): Query<DoneQuery>) -> PageResult {
    access.require(Permission::CustomerData)?;
    let flash = q.done.as_deref().and_then(done_message).map(|m| json!({"kind": "ok", "text": m}));
    queue_page(&state, &access, flash, StatusCode::OK).await
}

async fn queue_page(
    state: &AppState,
    access: &StaffAccess,
    flash: Option<serde_json::Value>,
    status: StatusCode,
) -> PageResult {
    let rows = data_requests::queue(&state.db, scope(access), QUEUE_LIMIT).await?;
    let ctx = json!({
        "rows": rows, "flash": flash, "limit": QUEUE_LIMIT,
        "max_details": MAX_DETAILS_CHARS, "max_note": MAX_NOTE_CHARS,
    });
    let mut res = page(state, access, "merchant_data_requests.html", "data_requests", ctx).await?;
    *res.status_mut() = status;
    Ok(res)
}

/// A refusal answered on the queue with its reason and status; a missing request (or another store's) keeps its
/// 404 and a server error its generic page.
async fn refused(state: &AppState, access: &StaffAccess, e: CommerceError) -> PageResult {
    let e = ApiError::from(e);
    if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() {
        return Err(PageError(e).into());
    }
    queue_page(state, access, Some(json!({"kind": "error", "text": e.message, "code": e.code})), e.status).await
}

#[derive(Debug, Deserialize)]
struct LogForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    details: String,
}

async fn log_email(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<LogForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(f) = form.map_err(bad_form)?;
    let email = match Email::parse(f.email.trim()) {
        Ok(e) => e,
        Err(_) => {
            return refused(&state, &access, CommerceError::Invalid("enter the email the request came from".into()))
                .await;
        }
    };
    let kind = match data_requests::parse_kind(&f.kind) {
        Ok(k) => k,
        Err(e) => return refused(&state, &access, e).await,
    };
    match data_requests::log_email_request(&state.db, scope(&access), &email, kind, &f.details).await {
        Ok(_) => back(format!("{}/data-requests?done=logged", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

async fn answer_export(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, DataRequestId)>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    match data_requests::answer_with_export(&state.db, scope(&access), id).await {
        Ok(_) => back(format!("{}/data-requests?done=exported", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

#[derive(Debug, Deserialize)]
struct NoteForm {
    #[serde(default)]
    note: String,
}

async fn correct(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, DataRequestId)>,
    form: Result<Form<NoteForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(f) = form.map_err(bad_form)?;
    match data_requests::mark_corrected(&state.db, scope(&access), id, &f.note).await {
        Ok(_) => back(format!("{}/data-requests?done=corrected", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

async fn refuse(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, DataRequestId)>,
    form: Result<Form<NoteForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(f) = form.map_err(bad_form)?;
    match data_requests::refuse(&state.db, scope(&access), id, &f.note).await {
        Ok(_) => back(format!("{}/data-requests?done=refused", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

async fn download_json(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, DataRequestId)>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let export = data_requests::stored_export(&state.db, scope(&access), id).await.map_err(PageError::from)?;
    let bytes = serde_json::to_vec_pretty(&export).map_err(|_| ApiError::internal())?;
    Ok(download(bytes, "application/json", &format!("personal-data-{id}.json")))
}

async fn download_csv(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, DataRequestId)>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let export = data_requests::stored_export(&state.db, scope(&access), id).await.map_err(PageError::from)?;
    Ok(download(data_export::csv(&export).into_bytes(), "text/csv; charset=utf-8", &format!("personal-data-{id}.csv")))
}

/// An attachment that no cache keeps (it is a person's data).
pub(crate) fn download(bytes: Vec<u8>, content_type: &str, name: &str) -> axum::response::Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response()
}
