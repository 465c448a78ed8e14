//! The operator's scam-report queue (`palisade_commerce::scam_reports`): open reports by due time with overdue ones
//! marked, the reporter (visible here only), and the actions — dismiss, warn, hold payouts, hide the listing,
//! suspend the store — plus lifting a store's payout hold. Every action is audited in the store's chain.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::scam_reports::{self, Action};
use palisade_core::ReportId;
use serde::Deserialize;
use serde_json::json;

use crate::http::auth::ConsoleOperator;
use crate::http::form::Form;
use crate::http::id_path::IdPath;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/reports", get(queue_page))
        .route("/console/reports/{report}/decide", post(decide))
        .route("/console/stores/{store}/payout-hold/release", post(release))
}

async fn queue_page(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
) -> Result<Html<String>, PageError> {
    let cases = scam_reports::queue(&state.db, &op).await?;
    let open = cases.iter().filter(|c| c.report.status == "open").count();
    let overdue = cases.iter().filter(|c| c.overdue).count();
    let page = state.templates.render(
        "console_reports.html",
        json!({"operator": op.email(), "is_operator": true, "cases": cases, "open": open, "overdue": overdue,
               "now": state.db.now().0,
               "high_minutes": scam_reports::HIGH_TARGET_MS / 60_000, "normal_hours": scam_reports::NORMAL_TARGET_MS / 3_600_000}),
    )?;
    Ok(Html(page))
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    action: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    IdPath(id): IdPath<ReportId>,
    Form(form): Form<DecideForm>,
) -> Result<Response, PageError> {
    let Some(action) = Action::parse(&form.action) else {
        let refusal = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "action is dismiss, warn, hold_payouts, hide_listing or suspend_store",
        );
        return Err(refusal.into());
    };
    scam_reports::decide(&state.db, &op, id, action, &form.note).await?;
    Ok(Redirect::to(&crate::http::notice::saved("/console/reports", "decided")).into_response())
}

async fn release(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    IdPath(store): IdPath<String>,
) -> Result<Response, PageError> {
    let store = crate::routes::resolve_store(&state, &store).await?;
    scam_reports::release_hold(&state.db, &op, store).await?;
    Ok(Redirect::to("/console/reports").into_response())
}
