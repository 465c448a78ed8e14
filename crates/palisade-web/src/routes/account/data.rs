//! "Your data" in the buyer's account (issue #21 item 3): make a PDPA access or correction request, which reaches
//! every store the buyer has an order with (the platform routes it as the stores' data intermediary); see each
//! store's status and due date; download an export a store answered with. Only the signed-in account's own
//! requests are listed or downloadable: another account's request id is 404, as if it did not exist.
//!
//! Erasure (issue #21 item 4): `POST /account/data/erase` with the password re-entered (the step-up check, with
//! its throttle) and the confirmation box ticked erases the signed-in buyer across every store
//! (`palisade_commerce::erasure`); the account is closed and the session with it. It acts only on the signed-in
//! account: there is no account id to send, and no merchant or operator route erases a buyer.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use palisade_commerce::data_requests::{self, MAX_DETAILS_CHARS};
use palisade_commerce::{CommerceError, data_export, erasure};
use palisade_core::DataRequestId;
use palisade_identity::StepUp;
use serde::Deserialize;
use serde_json::json;

use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::http::session::{SignedIn, session_cookie};
use crate::http::{ApiError, PageError};
use crate::routes::account::sign_in::ClientInfo;
use crate::routes::admin::data_requests::download;
use crate::routes::storefront::catalog::shop_page;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/data", get(data_page).post(make_request))
        .route("/account/data/erase", axum::routing::post(erase))
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

#[derive(Debug, Deserialize)]
struct EraseForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Longest password accepted on the erasure form (anything longer is refused before hashing).
const MAX_PASSWORD_BYTES: usize = 1024;

/// The tombstone's keyed hash of an email: HMAC under a key derived from the master key (the link signer's), over
/// the normalised address, so the tombstone never holds the email and a guessed address cannot be checked
/// against it without the key.
pub(crate) fn tombstone_email_key(state: &AppState, email: &str) -> String {
    // The lookup form of `palisade_privacy::lookup::NormalisedEmail`: trimmed and lower-cased.
    let normalised = email.trim().to_lowercase();
    state.identity.links().sign(erasure::TOMBSTONE_EMAIL_PURPOSE, &normalised)
}

async fn erase(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    ClientInfo(client): ClientInfo,
    form: Result<Form<EraseForm>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(f) = form.map_err(|e| PageError(ApiError::from(e)))?;
    let refuse =
        |status: StatusCode, code: &'static str, message: &str| Notice::Refused(ApiError::new(status, code, message));
    if f.confirm != "erase" {
        let n = refuse(StatusCode::UNPROCESSABLE_ENTITY, "confirm_required", "Tick the box to confirm the erasure.");
        return answer(&state, &headers, &s, n).await;
    }
    if f.password.is_empty() || f.password.len() > MAX_PASSWORD_BYTES {
        let n = refuse(StatusCode::UNPROCESSABLE_ENTITY, "password_required", "Enter your password to confirm.");
        return answer(&state, &headers, &s, n).await;
    }
    match state.identity.step_up(&s.session, secrecy::SecretString::from(f.password), &client).await? {
        StepUp::Passed => {}
        StepUp::Throttled { .. } => {
            let n = refuse(StatusCode::TOO_MANY_REQUESTS, "throttled", "Too many wrong passwords; try again later.");
            return answer(&state, &headers, &s, n).await;
        }
        StepUp::Refused => {
            let n =
                refuse(StatusCode::UNAUTHORIZED, "wrong_password", "That password is not right. Nothing was erased.");
            return answer(&state, &headers, &s, n).await;
        }
    }
    let key = tombstone_email_key(&state, &s.account.email);
    match erasure::erase_buyer(&state.db, s.account.id, &key).await {
        Ok(_) => {
            // The tombstone into the backup repositories too, so a restore into a new directory cannot bring the
            // buyer back. Already committed: a failure is logged by the journal and the next snapshot retries.
            if let Some(journal) = &state.tombstone_journal {
                journal.record(&state.db).await;
            }
            let mut res = shop_page(&state, &headers, None, "message.html", json!({
                "title": "Your account has been erased",
                "message": "Your account is closed and you are signed out. Your name, email, addresses, saved details \
                            and sign-in methods are gone from every shop you bought from; the shops keep the records \
                            of your orders their books need, with your details replaced by an anonymous marker. The \
                            erasure is applied again if the marketplace ever restores an older backup.",
            }), StatusCode::OK).await?;
            if let Some(c) = session_cookie(&state, "", 0) {
                res.headers_mut().append(axum::http::header::SET_COOKIE, c);
            }
            Ok(res)
        }
        Err(e @ CommerceError::ErasureRefused(_)) => {
            answer(&state, &headers, &s, Notice::Refused(ApiError::from(e))).await
        }
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
