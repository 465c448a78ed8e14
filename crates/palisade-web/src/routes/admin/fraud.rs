//! The merchant's fraud tools (issue #20 items 2–3): the review queue (orders a rule held, with their score and
//! top three reasons; approve, or cancel and refund in full) and the store's own fraud rules (a text area in the
//! trust crate's rule language; a line that does not parse is shown with its line and column and nothing is
//! saved). Decisions are audited in the store's chain (see `palisade_commerce::fraud`).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use palisade_commerce::fraud::{self, RulesRefused};
use palisade_core::OrderId;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use super::merchant::{PageResult, back, bad_form, base, page, scope};
use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

/// Every fraud route with the permission it needs; the permission test walks this list.
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/orders/review", Some(Permission::Orders)),
    // Releasing a held order is the riskier decision: it needs the refunds permission (not every staff member's),
    // like cancelling does.
    ("POST", "/admin/stores/{store}/orders/{order}/approve", Some(Permission::Refunds)),
    ("POST", "/admin/stores/{store}/orders/{order}/cancel-review", Some(Permission::Refunds)),
    ("GET", "/admin/stores/{store}/fraud-rules", Some(Permission::SecuritySettings)),
    ("POST", "/admin/stores/{store}/fraud-rules", Some(Permission::SecuritySettings)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/orders/review", get(queue))
        .route("/admin/stores/{store}/orders/{order}/approve", post(approve))
        .route("/admin/stores/{store}/orders/{order}/cancel-review", post(cancel))
        .route("/admin/stores/{store}/fraud-rules", get(rules_page).post(save_rules))
}

/// Most orders the queue shows at once (oldest first).
const QUEUE_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "approved" => "Approved: the order can now be shipped.",
        "cancelled" => "Cancelled and refunded in full: the held money goes back to the buyer's card.",
        "saved" => "Your fraud rules are saved and apply to the next order.",
        _ => return None,
    })
}

async fn queue(State(state): State<AppState>, access: StaffAccess, Query(q): Query<DoneQuery>) -> PageResult {
    access.require(Permission::Orders)?;
    queue_page(&state, &access, q.done.as_deref().and_then(done_message).map(|m| json!({"kind": "ok", "text": m})))
        .await
}

async fn queue_page(state: &AppState, access: &StaffAccess, flash: Option<serde_json::Value>) -> PageResult {
    let held = fraud::held(&state.db, scope(access), QUEUE_LIMIT).await?;
    let day_ms = 24 * 3600 * 1000;
    let now = state.db.now().0;
    let rows: Vec<_> = held
        .iter()
        .map(|o| json!({"order": o, "risk": o.risk(), "name": o.address.get("name"), "late": now - o.created_at.0 > day_ms}))
        .collect();
    page(state, access, "merchant_review.html", "orders", json!({"rows": rows, "flash": flash, "limit": QUEUE_LIMIT}))
        .await
}

#[derive(Debug, Deserialize)]
struct DecisionForm {
    #[serde(default)]
    note: String,
    /// Cancel-and-refund needs the box ticked.
    #[serde(default)]
    confirm: Option<String>,
}

/// A refused decision, answered on the queue with its reason and status; a missing order (or another store's)
/// keeps its 404.
async fn refused(state: &AppState, access: &StaffAccess, e: palisade_commerce::CommerceError) -> PageResult {
    let e = ApiError::from(e);
    if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() {
        return Err(PageError(e).into());
    }
    let mut res = queue_page(state, access, Some(json!({"kind": "error", "text": e.message}))).await?;
    *res.status_mut() = e.status;
    Ok(res)
}

async fn approve(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Refunds)?;
    let Form(f) = form.map_err(bad_form)?;
    match fraud::approve(&state.db, scope(&access), id, &f.note).await {
        Ok(_) => back(format!("{}/orders/review?done=approved", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

async fn cancel(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    form: Result<Form<DecisionForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Refunds)?;
    let Form(f) = form.map_err(bad_form)?;
    if f.confirm.as_deref() != Some("yes") {
        let e = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "confirmation_required",
            "tick the box to confirm: cancelling refunds the whole order and cannot be undone",
        );
        let mut res = queue_page(&state, &access, Some(json!({"kind": "error", "text": e.message}))).await?;
        *res.status_mut() = e.status;
        return Ok(res);
    }
    match fraud::cancel(&state.db, scope(&access), id, &f.note).await {
        Ok(_) => back(format!("{}/orders/review?done=cancelled", base(&access))),
        Err(e) => refused(&state, &access, e).await,
    }
}

async fn rules_page(State(state): State<AppState>, access: StaffAccess, Query(q): Query<DoneQuery>) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let text = fraud::rules(&state.db, scope(&access)).await?;
    let flash = q.done.as_deref().and_then(done_message).map(|m| json!({"kind": "ok", "text": m}));
    rules_view(&state, &access, &text, flash, None).await
}

async fn rules_view(
    state: &AppState,
    access: &StaffAccess,
    text: &str,
    flash: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
) -> PageResult {
    let ctx = json!({
        "rules": text, "flash": flash, "error": error, "platform_rules": palisade_trust::rules::PLATFORM_RULES,
        "max_bytes": fraud::MAX_STORE_RULES_BYTES,
    });
    page(state, access, "merchant_fraud_rules.html", "settings", ctx).await
}

#[derive(Debug, Deserialize)]
struct RulesForm {
    #[serde(default)]
    rules: String,
}

async fn save_rules(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<RulesForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(f) = form.map_err(bad_form)?;
    // Browsers send CRLF from a text area; the rules are kept with plain newlines.
    let text = f.rules.replace("\r\n", "\n");
    match fraud::set_rules(&state.db, scope(&access), &text).await? {
        Ok(_) => back(format!("{}/fraud-rules?done=saved", base(&access))),
        Err(refusal) => {
            let error = match &refusal {
                RulesRefused::Parse(e) => {
                    json!({"line": e.line, "column": e.column, "message": e.message, "text": refusal.to_string()})
                }
                RulesRefused::TooLong { .. } => json!({"text": refusal.to_string()}),
            };
            // The text as typed comes back for correction; nothing was saved.
            let mut res = rules_view(&state, &access, &text, None, Some(error)).await?;
            *res.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
    }
}
