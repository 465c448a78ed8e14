//! The store's side of buyer–seller messaging (`palisade_commerce::messages`): the thread list, one thread, and the
//! reply form. Needs the orders permission (answering buyers is order work). Messages are plain text, escaped by
//! the template and never linked; what the classifier flagged is shown to the store too, and a message it blocked
//! is shown to the store only as "withheld". Reports about the store are listed without who filed them.

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use palisade_commerce::{messages, scam_reports};
use palisade_core::ThreadId;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::routes::admin::merchant::{PageResult, back, bad_form, base, page, scope};
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/messages", get(thread_list))
        .route("/admin/stores/{store}/messages/{thread}", get(thread_page).post(reply))
}

async fn thread_list(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::Orders)?;
    let threads = messages::store_threads(&state.db, scope(&access)).await?;
    let reports = scam_reports::for_store(&state.db, scope(&access)).await?;
    let held = scam_reports::payouts_held(&state.db, scope(&access)).await?;
    let ctx = json!({"threads": threads, "reports": reports, "payouts_held": held});
    page(&state, &access, "merchant_messages.html", "messages", ctx).await
}

async fn thread_page(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ThreadId)>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let (thread, list) = messages::store_thread(&state.db, scope(&access), id).await?;
    let ctx = json!({"thread": thread, "messages": list, "max_chars": messages::MAX_BODY_CHARS});
    page(&state, &access, "merchant_thread.html", "messages", ctx).await
}

#[derive(Debug, Deserialize)]
struct ReplyForm {
    body: String,
}

async fn reply(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, ThreadId)>,
    form: Result<Form<ReplyForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let Form(f) = form.map_err(bad_form)?;
    messages::store_send(&state.db, scope(&access), id, &f.body).await?;
    back(format!("{}/messages/{id}#latest", base(&access)))
}
