//! The merchant's Verification page (`/admin/stores/{store}/verification`, issue #20 item 1): submit who the
//! seller is (a business by UEN, an individual by NRIC/FIN), upload documents for the operator's review, set the
//! payout bank account, and see the status with the reason of a rejection. Everything here needs the payouts
//! permission (verification is what payouts wait for); the bank account and submissions also need a person who
//! entered their password recently. The operator's side is `routes::console::verification`.

use crate::http::form::FormRejection;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::routing::{get, post};
use palisade_commerce::verification;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::form::Form;
use crate::http::{ApiError, PageError};
use crate::routes::admin::merchant::{PageResult, back, bad_form, base, invalid, page, saved_to, scope};
use crate::routes::admin::security_center::AdminError;
use crate::services::{self, Refusal};
use crate::state::AppState;

/// The routes with the permission each needs (walked by the permission test with the other admin lists).
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/verification", Some(Permission::Payouts)),
    ("POST", "/admin/stores/{store}/verification", Some(Permission::Payouts)),
    ("POST", "/admin/stores/{store}/verification/bank-account", Some(Permission::Payouts)),
    ("POST", "/admin/stores/{store}/verification/reverify", Some(Permission::Payouts)),
    ("POST", "/admin/stores/{store}/verification/documents", Some(Permission::Payouts)),
];

/// The document upload's path suffix (the body-limit layer and the upload gate know it by this).
pub const DOCUMENTS_SUFFIX: &str = "/verification/documents";

/// The largest request body of a document upload (the document plus multipart framing).
pub const DOCUMENT_UPLOAD_LIMIT: usize = verification::MAX_DOCUMENT_BYTES + 64 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/verification", get(status).post(submit))
        .route("/admin/stores/{store}/verification/bank-account", post(set_bank_account))
        .route("/admin/stores/{store}/verification/reverify", post(reverify))
        .route(
            "/admin/stores/{store}/verification/documents",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(DOCUMENT_UPLOAD_LIMIT)),
        )
}

fn to_page(access: &StaffAccess) -> String {
    format!("{}/verification", base(access))
}

/// `Some(answer)` unless the request is a person who entered their password recently: a stale password goes to
/// re-enter it and comes back here; an API token is refused (these changes are made by a person).
fn not_a_person(state: &AppState, access: &StaffAccess) -> Option<PageResult> {
    match services::permitted_person(state, access, Permission::Payouts) {
        Ok(()) => None,
        Err(Refusal::Access(a)) => Some(Err(AdminError::Access(a))),
        Err(Refusal::StepUpRequired) => Some(back(format!("/account/reauth?next={}", to_page(access)))),
        Err(other) => Some(Err(match other.into_api() {
            Ok(a) => AdminError::Access(a),
            Err(e) => AdminError::Page(PageError(e)),
        })),
    }
}

async fn status(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Payouts)?;
    let v = verification::get(&state.db, scope(&access)).await?;
    let docs = verification::documents(&state.db, scope(&access)).await?;
    let ctx = json!({"verification": v, "documents": docs, "uploads": state.document_sealer.is_some(),
                     "max_document_mib": verification::MAX_DOCUMENT_BYTES / 1024 / 1024});
    page(&state, &access, "merchant_verification.html", "verification", ctx).await
}

#[derive(Debug, Deserialize)]
struct SubmitForm {
    kind: String,
    number: String,
    name: String,
}

async fn submit(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<SubmitForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Payouts)?;
    let Form(f) = form.map_err(bad_form)?;
    if let Some(answer) = not_a_person(&state, &access) {
        return answer;
    }
    let identity = services::verification::identity(&state, f.kind.trim(), &f.number)?;
    verification::submit(&state.db, scope(&access), state.gov_records.as_ref(), identity, &f.name).await?;
    saved_to("verification-submitted", to_page(&access))
}

#[derive(Debug, Deserialize)]
struct BankForm {
    bank: String,
    holder: String,
    number: String,
}

async fn set_bank_account(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<BankForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Payouts)?;
    let Form(f) = form.map_err(bad_form)?;
    if let Some(answer) = not_a_person(&state, &access) {
        return answer;
    }
    let account = services::verification::bank_account(&state, &f.bank, &f.holder, &f.number)?;
    verification::set_payout_account(&state.db, scope(&access), account).await?;
    saved_to("bank-account", to_page(&access))
}

async fn reverify(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Payouts)?;
    if let Some(answer) = not_a_person(&state, &access) {
        return answer;
    }
    verification::request_reverification(&state.db, scope(&access)).await?;
    saved_to("verification-submitted", to_page(&access))
}

/// Uploads one document (PDF, PNG or JPEG by its bytes, at most 4 MiB), sealed before it is stored. The upload
/// gate (`http::access::admit_upload`) checked the member and the payouts permission before the body was read.
async fn upload(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Multipart, MultipartRejection>,
) -> PageResult {
    access.require(Permission::Payouts)?;
    let Some(sealer) = state.document_sealer.clone() else {
        return Err(PageError(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "uploads_unavailable",
            "document uploads are not available on this installation",
        ))
        .into());
    };
    let mut form = form.map_err(|e| invalid(format!("send the document as multipart/form-data: {}", e.body_text())))?;
    let mut file = None;
    while let Some(field) =
        form.next_field().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?
    {
        if field.name() == Some("document") {
            let name = field.file_name().unwrap_or("document").to_owned();
            let bytes = field.bytes().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?;
            file = Some((name, bytes));
        }
    }
    let (name, bytes) = file.ok_or_else(|| invalid("choose a document"))?;
    let seal = |plain: &[u8], context: &str| sealer.seal(plain, context);
    verification::add_document(&state.db, scope(&access), &name, &bytes, &seal).await?;
    saved_to("document-added", to_page(&access))
}
