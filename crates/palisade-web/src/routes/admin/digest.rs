//! The weekly security digest's settings: a member's own opt-in/out on the Training page of the Security Center,
//! and the mail's unsubscribe link, which works without a session.
//!
//! The link (`/security-digest/unsubscribe?store=…&member=…&k=…`) carries an HMAC tag of `store:member` under the
//! digest's own purpose (`palisade_identity::links`, key from the master key). It is checked before anything is
//! read, so a forged or altered link learns nothing (404, like a link that never existed); a valid one can only
//! turn this digest off for the member it names. Opening it shows one button (a POST, with the page's CSRF token):
//! mail scanners and link previews follow links, and must not unsubscribe anyone by fetching the page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use palisade_core::{AccountId, StoreId};
use palisade_store::digest::{self, Subscription};
use palisade_store::scope::StoreScope;
use palisade_store::tenancy;
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::form::Form;
use crate::http::{ApiError, PageError, notice};
use crate::routes::admin::security_tabs::PageResult;
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct ChoiceForm {
    /// The checkbox: present ("on") to receive the digest, absent to stop it.
    #[serde(default)]
    digest: Option<String>,
}

/// Saves the signed-in member's own choice for this store (any member may; only owners and staff managers are
/// sent the digest).
pub(crate) async fn set_choice(
    State(state): State<AppState>,
    access: StaffAccess,
    Form(form): Form<ChoiceForm>,
) -> PageResult {
    let choice = match form.digest.as_deref() {
        Some("on" | "1" | "yes") => Subscription::Subscribed,
        None => Subscription::OptedOut,
        Some(_) => {
            return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "digest is a checkbox").into());
        }
    };
    digest::set_subscription(&state.db, &access.membership.scope, choice).await?;
    let to = format!("/admin/stores/{}/security/training#digest", access.membership.scope.store_id());
    Ok(Redirect::to(&notice::saved(&to, "digest")).into_response())
}

/// The link's fields, from the query (GET) or the confirmation form (POST).
#[derive(Deserialize)]
pub(crate) struct Link {
    #[serde(default)]
    store: String,
    #[serde(default)]
    member: String,
    #[serde(default)]
    k: String,
}

fn invalid_link() -> PageError {
    ApiError::new(StatusCode::NOT_FOUND, "invalid_link", "This unsubscribe link is not valid.").into()
}

/// The store and member a link names, only when its tag holds for them.
fn verified(state: &AppState, link: &Link) -> Result<(StoreId, AccountId), PageError> {
    let (Ok(store), Ok(member)) = (link.store.parse::<StoreId>(), link.member.parse::<AccountId>()) else {
        return Err(invalid_link());
    };
    if !state.identity.links().verify(digest::UNSUBSCRIBE_PURPOSE, &digest::link_subject(store, member), &link.k) {
        return Err(invalid_link());
    }
    Ok((store, member))
}

/// Which step of the unsubscribe page to show.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Confirm,
    Done,
}

async fn page(state: &AppState, store: StoreId, link: &Link, step: Step) -> Result<Response, PageError> {
    let s = tenancy::get_store(&state.db, &StoreScope::system(store, "web:digest-unsubscribe"))
        .await
        .map_err(|_| invalid_link())?;
    let ctx = json!({"store_name": s.name, "store": link.store, "member": link.member, "k": link.k, "done": step == Step::Done});
    Ok(Html(state.templates.render("digest_unsubscribe.html", ctx)?).into_response())
}

/// The unsubscribe page: what the link does and one button.
pub(crate) async fn unsubscribe_page(
    State(state): State<AppState>,
    Query(link): Query<Link>,
) -> Result<Response, PageError> {
    let (store, _) = verified(&state, &link)?;
    page(&state, store, &link, Step::Confirm).await
}

/// Turns the digest off for the member the link names.
pub(crate) async fn unsubscribe(State(state): State<AppState>, Form(link): Form<Link>) -> Result<Response, PageError> {
    let (store, member) = verified(&state, &link)?;
    digest::unsubscribe(&state.db, store, member).await.map_err(|e| match e {
        palisade_store::StoreError::NotFound(_) => invalid_link(),
        other => other.into(),
    })?;
    page(&state, store, &link, Step::Done).await
}
