//! The operator's queue of store applications (`/console/applications`) and the choice of how new stores open
//! (review, at once, or not at all). Deciding goes through `palisade_identity::applications`.

use axum::Router;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_identity::applications::{self, Decision, SignupMode};
use serde::Deserialize;
use serde_json::json;

use crate::http::auth::ConsoleOperator;
use crate::http::form::Form;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/applications", get(queue))
        .route("/console/applications/mode", post(set_mode))
        .route("/console/applications/decide", post(decide))
}

async fn queue(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    let platform = op.platform_scope();
    let pending = applications::pending(&state.db, &platform).await.map_err(ApiError::from)?;
    let mode = SignupMode::current(&state.db).await.map_err(ApiError::from)?;
    let page = state.templates.render(
        "console_applications.html",
        json!({"operator": op.email(), "is_operator": true, "applications": pending, "mode": mode}),
    )?;
    Ok(Html(page))
}

#[derive(Debug, Deserialize)]
struct ModeForm {
    mode: String,
}

async fn set_mode(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Form(f): Form<ModeForm>,
) -> Result<Response, PageError> {
    let mode = SignupMode::parse(&f.mode).ok_or_else(|| {
        ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid_mode", "mode is review, open or closed")
    })?;
    SignupMode::set(&state.db, &op.platform_scope(), mode).await.map_err(ApiError::from)?;
    Ok(Redirect::to("/console/applications").into_response())
}

#[derive(Debug, Deserialize)]
struct DecideForm {
    id: String,
    decision: String,
    #[serde(default)]
    note: String,
}

async fn decide(
    State(state): State<AppState>,
    ConsoleOperator(op): ConsoleOperator,
    Form(f): Form<DecideForm>,
) -> Result<Response, PageError> {
    let decision = match f.decision.as_str() {
        "approve" => Decision::Approve,
        "decline" => Decision::Decline,
        _ => {
            return Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_decision",
                "decision is approve or decline",
            )
            .into());
        }
    };
    applications::decide(&state.db, &op, &f.id, decision, &f.note, &state.config.public_url)
        .await
        .map_err(ApiError::from)?;
    Ok(Redirect::to("/console/applications").into_response())
}
