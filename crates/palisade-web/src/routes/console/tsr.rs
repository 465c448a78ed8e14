//! The operator's Transaction Safety Ratings self-assessment (issue #20 item 8): MHA's five features with the
//! platform's live controls and figures, a printable report whose SHA-256 goes into the platform chain, and a
//! check of a copy against that chain. Operators only.

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::response::{Html, Response};
use axum::routing::{get, post};
use palisade_store::audit::{self, NewEvent};
use serde_json::{Value, json};

use crate::http::PageError;
use crate::http::auth::ConsoleOperator;
use crate::routes::admin::compliance::{copy_from, counts, download, utc, verdict};
use crate::services::compliance::{self, Assessed, EXPORT_ACTION};
use crate::state::AppState;

const TITLE: &str = "Transaction Safety Ratings self-assessment";
const INTRO: &str = "MHA's E-commerce Marketplace Transaction Safety Ratings: verifying seller authenticity, \
                     monitoring fraudulent seller behaviour, secure payment, keeping transaction records and user \
                     data, and reporting and dispute resolution — each with the platform's live controls and figures.";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/tsr", get(page))
        .route("/console/tsr/export", post(export))
        .route("/console/tsr/verify", post(verify))
}

async fn assessed(
    state: &AppState,
    op: &palisade_store::scope::OperatorPrincipal,
) -> Result<(Vec<Assessed>, palisade_core::time::Timestamp), PageError> {
    let report = state.registry.evaluate_platform(&state.db, &state.facts).await?;
    let figures = palisade_commerce::tsr::figures(&state.db, op).await?;
    Ok((compliance::evaluate_tsr(&report, &figures), report.evaluated_at))
}

async fn show(
    state: &AppState,
    op: &palisade_store::scope::OperatorPrincipal,
    verify: Option<Value>,
) -> Result<Html<String>, PageError> {
    let (items, _) = assessed(state, op).await?;
    let page = state.templates.render(
        "console_tsr.html",
        json!({"operator": op.email(), "is_operator": true, "items": items, "counts": counts(&items),
               "window_days": palisade_commerce::tsr::WINDOW_DAYS, "verify": verify}),
    )?;
    Ok(Html(page))
}

async fn page(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    show(&state, &op, None).await
}

async fn export(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Response, PageError> {
    let (items, at) = assessed(&state, &op).await?;
    let html = state.templates.render(
        "compliance_report.html",
        json!({
            "title": TITLE, "intro": INTRO, "items": items, "counts": counts(&items),
            "subject": "Platform: Palisade marketplace", "generated": utc(at), "chain": "platform",
            "verify_at": "/console/tsr#verify",
        }),
    )?;
    let bytes = html.into_bytes();
    let hash = compliance::sha256_hex(&bytes);
    audit::record_platform_now(
        &state.db,
        &op.platform_scope(),
        NewEvent::new(EXPORT_ACTION, &compliance::hash_target(&hash))
            .details(json!({"view": "tsr", "title": TITLE, "bytes": bytes.len()})),
    )
    .await?;
    Ok(download(bytes, &format!("tsr-{}.html", at.0)))
}

async fn verify(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Html<String>, PageError> {
    let bytes = copy_from(form).await?;
    let hashes = compliance::candidate_hashes(&bytes);
    let mut found = None;
    for h in &hashes {
        found =
            audit::find_platform(&state.db, &op.platform_scope(), EXPORT_ACTION, &compliance::hash_target(h)).await?;
        if found.is_some() {
            break;
        }
    }
    show(&state, &op, Some(verdict(&hashes, found.as_ref()))).await
}
