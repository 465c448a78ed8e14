//! Security-awareness training in the Security Center: each member's own modules and quizzes, the team view and
//! its exports for owners and managers (staff management), and the platform's security guidelines.
//!
//! Quizzes are drawn and scored on the server (`palisade_store::training`); the page only carries the attempt id
//! and the chosen choice ids. A pass counts only in an MFA-verified session: otherwise the page says how to get
//! one and nothing is recorded.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use palisade_core::TrainingAttemptId;
use palisade_store::permissions::Permission;
use palisade_store::training;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::routes::admin::security_center::AdminError;
use crate::routes::admin::security_tabs::{PageResult, render};
use crate::services::markdown;
use crate::state::AppState;

/// At most this many answer fields in one submission (a quiz has a handful; anything far beyond is not a quiz).
const MAX_FIELDS: usize = 64;

/// When the member's session passed its second factor, if it did (an API token is never a session).
async fn mfa_at(state: &AppState, access: &StaffAccess) -> Result<Option<palisade_core::Timestamp>, AdminError> {
    match &access.session {
        Some(s) => Ok(state.identity.mfa_verified(s).await?),
        None => Ok(None),
    }
}

/// What the page says when the session is not MFA-verified: set MFA up, or sign in again with it.
async fn mfa_help(state: &AppState, access: &StaffAccess) -> Result<Value, AdminError> {
    let has_mfa = state.identity.has_mfa(access.account.id).await?;
    Ok(json!({"has_mfa": has_mfa}))
}

/// My training: every module with where I stand on it.
pub(crate) async fn mine(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let me = training::mine(&state.db, &access.membership.scope).await?;
    let verified = mfa_at(&state, &access).await?.is_some();
    let scope = &access.membership.scope;
    let digest = palisade_store::digest::subscription(&state.db, scope).await?;
    let ctx = json!({
        "mine": me, "verified": verified, "mfa": mfa_help(&state, &access).await?,
        "can_team": access.membership.can(Permission::StaffManagement),
        // The weekly digest goes to owners and staff managers; others are not offered the choice.
        "digest": {
            "offered": access.membership.role == palisade_store::tenancy::Role::Owner
                || access.membership.can(Permission::StaffManagement),
            "on": digest == palisade_store::digest::Subscription::Subscribed,
        },
    });
    render(&state, &access, "training", "security_training.html", ctx).await
}

/// One module: its lesson, and (in an MFA-verified session) the member's quiz on it.
pub(crate) async fn module_page(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, module)): Path<(String, String)>,
) -> PageResult {
    let m = training::module(&module)?;
    let mfa = mfa_at(&state, &access).await?;
    module_view(&state, &access, m, mfa, StatusCode::OK).await
}

async fn module_view(
    state: &AppState,
    access: &StaffAccess,
    m: &palisade_awareness::Module,
    mfa: Option<palisade_core::Timestamp>,
    status: StatusCode,
) -> PageResult {
    let verified = mfa.is_some();
    let scope = &access.membership.scope;
    let mine = training::mine(&state.db, scope).await?;
    let standing = mine.modules.iter().find(|s| s.module == m.id.0);
    let quiz = if verified && status == StatusCode::OK {
        let attempt = training::open_attempt(&state.db, scope, &m.id.0).await?;
        Some(quiz_view(m, &attempt))
    } else {
        None
    };
    let ctx = json!({
        "module": {"id": m.id.0, "title": m.title, "version": m.version, "minutes": m.minutes,
                   "lesson": markdown::to_html(&m.lesson)},
        "standing": standing, "quiz": quiz, "verified": verified, "mfa": mfa_help(state, access).await?,
        "refused": status != StatusCode::OK,
    });
    let mut res = render(state, access, "training", "security_training_module.html", ctx).await?;
    *res.status_mut() = status;
    Ok(res)
}

/// The paper as shown: prompts and choice texts from the module, in the drawn order.
fn quiz_view(m: &palisade_awareness::Module, attempt: &training::Attempt) -> Value {
    let questions: Vec<Value> = attempt
        .paper
        .questions
        .iter()
        .filter_map(|pq| {
            let q = m.question(&pq.question)?;
            let choices: Vec<Value> = pq
                .choices
                .iter()
                .filter_map(|id| q.choices.iter().find(|c| &c.id == id))
                .zip(1..)
                .map(|(c, place)| json!({"id": place.to_string(), "text": c.text}))
                .collect();
            Some(json!({"id": q.id, "prompt": q.prompt, "choices": choices}))
        })
        .collect();
    json!({"attempt": attempt.id, "expires_at": attempt.expires_at, "questions": questions})
}

/// Scores a submitted quiz. Fields: `attempt` (the server-side attempt) and `q.<question id>` = the chosen answer's
/// place in the paper's shuffled order (1, 2, …).
pub(crate) async fn submit(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, module)): Path<(String, String)>,
    body: String,
) -> PageResult {
    let m = training::module(&module)?;
    let Some(mfa_at) = mfa_at(&state, &access).await? else {
        // Not MFA-verified: nothing is scored or recorded, and the attempt stays open for a verified session.
        return module_view(&state, &access, m, None, StatusCode::FORBIDDEN).await;
    };
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(&body).map_err(|_| invalid("unreadable form"))?;
    if fields.len() > MAX_FIELDS {
        return Err(invalid("too many answers for one quiz").into());
    }
    let mut attempt = None;
    let mut answers = Vec::new();
    for (k, v) in fields {
        if k == "attempt" {
            let id: TrainingAttemptId = v.parse().map_err(|_| ApiError::not_found("quiz attempt"))?;
            attempt = Some(id);
        } else if let Some(q) = k.strip_prefix("q.") {
            answers.push((q.to_owned(), v));
        }
    }
    let attempt = attempt.ok_or_else(|| invalid("the form names no quiz attempt"))?;
    let scope = &access.membership.scope;
    let done = training::submit(&state.db, scope, &module, attempt, &answers, mfa_at).await?;
    let mine = training::mine(&state.db, scope).await?;
    let standing = mine.modules.iter().find(|s| s.module == m.id.0);
    let ctx = json!({
        "module": {"id": m.id.0, "title": m.title, "version": m.version},
        "result": done.completion, "recorded": done.recorded, "review": done.review, "standing": standing,
        "pass_mark": palisade_awareness::content::PASS_MARK_PERCENT,
    });
    render(&state, &access, "training", "security_training_result.html", ctx).await
}

fn invalid(m: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
}

/// The team view: every active member × module, for members with staff management.
pub(crate) async fn team(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let scope = &access.membership.scope;
    let roster = training::roster(&state.db, scope).await?;
    let coverage = training::coverage(&state.db, scope).await?;
    let modules: Vec<Value> = training::catalogue()?
        .modules
        .iter()
        .map(|m| json!({"id": m.id.0, "title": m.title, "version": m.version}))
        .collect();
    let ctx = json!({"roster": roster, "modules": modules, "coverage": coverage});
    render(&state, &access, "training", "security_training_team.html", ctx).await
}

/// Every passed quiz of the store as CSV (member ids, never names or addresses).
pub(crate) async fn export_csv(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let scope = &access.membership.scope;
    let records = training::completions(&state.db, scope).await?;
    let bytes = palisade_awareness::export::csv(&records).map_err(|e| {
        tracing::error!(store.id = %scope.store_id(), error = %e, "writing the training CSV failed");
        ApiError::internal()
    })?;
    Ok(download(bytes, "text/csv; charset=utf-8", &format!("training-{}.csv", scope.store_id())))
}

/// The same records as xAPI statements.
pub(crate) async fn export_xapi(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::StaffManagement)?;
    let scope = &access.membership.scope;
    let records = training::completions(&state.db, scope).await?;
    let statements = palisade_awareness::export::xapi(&records, training::catalogue()?, &state.config.public_url);
    let bytes = serde_json::to_vec_pretty(&statements).map_err(|_| ApiError::internal())?;
    Ok(download(bytes, "application/json", &format!("training-{}.xapi.json", scope.store_id())))
}

fn download(bytes: Vec<u8>, content_type: &str, name: &str) -> axum::response::Response {
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

/// The platform's security guidelines for merchants: what each control means and how to meet it.
pub(crate) async fn guidelines(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let g = &training::catalogue()?.guidelines;
    let controls: Vec<Value> = g
        .controls
        .iter()
        .map(|c| {
            json!({"id": c.id, "title": c.title, "means": markdown::to_html(&c.means),
                   "how": c.how.iter().map(|h| markdown::to_html(h)).collect::<Vec<_>>()})
        })
        .collect();
    let ctx = json!({"guidelines": {"version": g.version, "intro": markdown::to_html(&g.intro), "controls": controls}});
    render(&state, &access, "guidelines", "security_guidelines.html", ctx).await
}
