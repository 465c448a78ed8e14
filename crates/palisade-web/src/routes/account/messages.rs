//! The buyer's side of messaging and scam reports, in the shop's look (`palisade_commerce::messages`,
//! `palisade_commerce::scam_reports`): the Messages tab (threads and the buyer's reports with their outcomes), one
//! thread, sending, starting a thread from a product or order page, and the report form. Every read and write
//! binds the signed-in account: another buyer's thread or message is 404, as if it did not exist.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::scam_reports::{self, Subject};
use palisade_commerce::{CommerceError, messages};
use palisade_core::{MessageId, OrderId, ProductId, StoreId, ThreadId};
use palisade_store::StoreScope;
use serde::Deserialize;
use serde_json::json;

use crate::http::form::Form;
use crate::http::id_path::IdPath;
use crate::http::session::SignedIn;
use crate::http::{ApiError, PageError};
use crate::routes::storefront::catalog::shop_page;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/messages", get(threads_page))
        .route("/account/messages/new", get(contact_page))
        .route("/account/messages/start", post(start))
        .route("/account/messages/{thread}", get(thread_page).post(send))
        .route("/account/reports/new", get(report_form))
        .route("/account/reports", post(file_report))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    #[serde(default)]
    reported: Option<String>,
}

async fn threads_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let threads = messages::buyer_threads(&state.db, s.account.id).await?;
    let reports = scam_reports::for_reporter(&state.db, s.account.id).await?;
    let ctx = json!({"tab": "messages", "threads": threads, "reports": reports, "reported": q.reported.is_some()});
    shop_page(&state, &headers, Some(&s), "account_messages.html", ctx, StatusCode::OK).await
}

async fn thread_answer(
    state: &AppState,
    headers: &HeaderMap,
    s: &SignedIn,
    id: ThreadId,
    typed: &str,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let (thread, list) = messages::buyer_thread(&state.db, s.account.id, id).await?;
    let ctx = json!({"tab": "messages", "thread": thread, "messages": list, "typed": typed, "error": error,
                     "max_chars": messages::MAX_BODY_CHARS, "categories": categories()});
    shop_page(state, headers, Some(s), "account_thread.html", ctx, status).await
}

fn categories() -> Vec<(&'static str, &'static str)> {
    scam_reports::CATEGORIES.iter().map(|(code, label, _)| (*code, *label)).collect()
}

async fn thread_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    IdPath(id): IdPath<ThreadId>,
) -> Result<Response, PageError> {
    thread_answer(&state, &headers, &s, id, "", None, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct SendForm {
    #[serde(default)]
    body: String,
}

async fn send(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    IdPath(id): IdPath<ThreadId>,
    Form(form): Form<SendForm>,
) -> Result<Response, PageError> {
    send_in(&state, &headers, &s, id, &form.body).await
}

async fn send_in(
    state: &AppState,
    headers: &HeaderMap,
    s: &SignedIn,
    id: ThreadId,
    body: &str,
) -> Result<Response, PageError> {
    match messages::buyer_send(&state.db, s.account.id, id, body).await {
        Ok(_) => Ok(Redirect::to(&format!("/account/messages/{id}#latest")).into_response()),
        // Refused whole: the page again with what was typed (at most the limit's worth echoed back).
        Err(e @ (CommerceError::Invalid(_) | CommerceError::TooLong { .. } | CommerceError::RateLimited(_))) => {
            let refusal = ApiError::from(e);
            let typed: String = body.chars().take(messages::MAX_BODY_CHARS).collect();
            thread_answer(state, headers, s, id, &typed, Some(refusal.message), refusal.status).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Ids typed into a form or a query: blank is absent, anything else must parse (a bad one names nothing: 404).
fn optional_id<T: std::str::FromStr>(v: Option<&str>) -> Result<Option<T>, PageError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| PageError(ApiError::not_found("nothing with this id was"))),
    }
}

#[derive(Debug, Default, Deserialize)]
struct StartForm {
    #[serde(default)]
    store: String,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    product: Option<String>,
    #[serde(default)]
    body: String,
}

impl StartForm {
    async fn parse(&self, state: &AppState) -> Result<(StoreId, messages::About), PageError> {
        let store = crate::routes::resolve_store(state, self.store.trim()).await?;
        let about = messages::About {
            order: optional_id::<OrderId>(self.order.as_deref())?,
            product: optional_id::<ProductId>(self.product.as_deref())?,
        };
        Ok((store, about))
    }
}

/// "Contact seller" (from a product or order page): the first message's form.
async fn contact_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Query(q): Query<StartForm>,
) -> Result<Response, PageError> {
    let (store, about) = q.parse(&state).await?;
    let shop = palisade_commerce::listing::storefront(&state.db, &StoreScope::shopper(store, Some(s.account.id)))
        .await?
        .ok_or_else(|| ApiError::not_found("store"))?;
    let (about_text, back) = match (about.order, about.product) {
        (Some(_), _) => ("About your order", "/account/orders".to_owned()),
        (None, Some(_)) => ("About a listing", format!("/s/{}", shop.slug)),
        (None, None) => ("A general question", format!("/s/{}", shop.slug)),
    };
    let ctx = json!({"tab": "messages", "store": store, "store_name": shop.name, "order": about.order,
                     "product": about.product, "about": about_text, "back": back, "max_chars": messages::MAX_BODY_CHARS});
    shop_page(&state, &headers, Some(&s), "account_contact.html", ctx, StatusCode::OK).await
}

/// Opens (or finds) the thread and sends the first message; a refused message shows the thread with the reason.
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Form(form): Form<StartForm>,
) -> Result<Response, PageError> {
    let (store, about) = form.parse(&state).await?;
    let thread = messages::open(&state.db, s.account.id, store, about).await?;
    send_in(&state, &headers, &s, thread, &form.body).await
}

#[derive(Debug, Default, Deserialize)]
struct ReportQuery {
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    listing: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// What a report form names, parsed: a message, else a listing of a store, else a store.
fn subject_of(q: &ReportQuery) -> Result<Subject, PageError> {
    if let Some(message) = optional_id::<MessageId>(q.message.as_deref())? {
        return Ok(Subject::Message(message));
    }
    let store = optional_id::<StoreId>(q.store.as_deref())?
        .ok_or_else(|| PageError(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "say what you report")))?;
    Ok(match optional_id::<ProductId>(q.listing.as_deref())? {
        Some(product) => Subject::Listing(store, product),
        None => Subject::Store(store),
    })
}

async fn report_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Query(q): Query<ReportQuery>,
) -> Result<Response, PageError> {
    let subject = subject_of(&q)?;
    let what = match subject {
        Subject::Store(_) => "this store",
        Subject::Listing(..) => "this listing",
        Subject::Message(_) => "this message",
    };
    let ctx = json!({"tab": "messages", "what": what, "store": q.store, "listing": q.listing, "message": q.message,
                     "categories": categories(), "max_chars": scam_reports::MAX_DETAILS_CHARS});
    shop_page(&state, &headers, Some(&s), "account_report.html", ctx, StatusCode::OK).await
}

#[derive(Debug, Deserialize)]
struct ReportForm {
    #[serde(default)]
    store: Option<String>,
    #[serde(default)]
    listing: Option<String>,
    #[serde(default)]
    message: Option<String>,
    category: String,
    #[serde(default)]
    details: String,
}

async fn file_report(
    State(state): State<AppState>,
    s: SignedIn,
    Form(form): Form<ReportForm>,
) -> Result<Response, PageError> {
    let q = ReportQuery { store: form.store, listing: form.listing, message: form.message };
    let subject = subject_of(&q)?;
    scam_reports::file(&state.db, s.account.id, subject, &form.category, &form.details).await?;
    Ok(Redirect::to("/account/messages?reported=1").into_response())
}
