//! The merchant's orders as a work queue (HTML): counts of what waits on the store, the list filtered by status
//! and searched by number or email, shipping many orders at once (each reported), packing slips, and the order
//! page (ship with carrier and tracking, deliver, refund after a confirmation). Every action ends on a page that
//! says what happened (`?done=` names one of a fixed set of messages, so nothing typed is echoed from the URL).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use palisade_commerce::CommerceError;
use palisade_commerce::fulfilment::{self, BATCH_LIMIT, BatchLine, Notify, Outcome, Shipment};
use palisade_commerce::orders::{self, Status};
use palisade_commerce::{disputes, figures, ledger};
use palisade_core::OrderId;
use palisade_core::money::Money;
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;

use super::merchant::{PageResult, back, bad_form, base, page, parse_amount, scope, store_currency};
use crate::http::access::StaffAccess;
use crate::http::form::{Form, FormRejection};
use crate::http::id_path::IdPath;
use crate::http::{ApiError, PageError};
use crate::routes::admin::security_center::AdminError;
use crate::state::AppState;

/// Every order route with the permission it needs; the permission test walks this list.
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/orders", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/orders/ship", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/orders/slips", Some(Permission::Orders)),
    ("GET", "/admin/stores/{store}/orders/{order}", Some(Permission::Orders)),
    ("GET", "/admin/stores/{store}/orders/{order}/slip", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/orders/{order}/ship", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/orders/{order}/deliver", Some(Permission::Orders)),
    ("POST", "/admin/stores/{store}/orders/{order}/refund", Some(Permission::Refunds)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/orders", get(order_list))
        .route("/admin/stores/{store}/orders/ship", post(ship_selected))
        .route("/admin/stores/{store}/orders/slips", post(slips_selected))
        .route("/admin/stores/{store}/orders/{order}", get(order_detail))
        .route("/admin/stores/{store}/orders/{order}/slip", get(slip))
        .route("/admin/stores/{store}/orders/{order}/ship", post(ship))
        .route("/admin/stores/{store}/orders/{order}/deliver", post(deliver))
        .route("/admin/stores/{store}/orders/{order}/refund", post(refund))
}

/// Most fields a batch form may carry: a page of the queue sends three a row and a few more.
const FIELD_LIMIT: usize = 4 * BATCH_LIMIT + 16;

/// Carriers offered as suggestions (any other name may be typed).
const CARRIERS: &[&str] = &["SingPost", "Ninja Van", "J&T Express", "DHL", "FedEx", "UPS", "Qxpress", "Lalamove"];

#[derive(Debug, Deserialize)]
struct ListQuery {
    #[serde(default)]
    page: Option<i64>,
    #[serde(default)]
    status: Option<String>,
    /// A number (`#1001`) or part of the buyer's email.
    #[serde(default)]
    q: Option<String>,
}

fn queue_label(s: Status) -> &'static str {
    match s {
        Status::Paid => "To ship",
        Status::Shipped => "Shipped, awaiting delivery",
        Status::Disputed => "Disputed",
        Status::Refunded => "Refunded",
        _ => s.as_str(),
    }
}

async fn order_list(State(state): State<AppState>, access: StaffAccess, Query(q): Query<ListQuery>) -> PageResult {
    access.require(Permission::Orders)?;
    let status = crate::routes::query::order_status(q.status.as_deref())?;
    let (pg, offset) = crate::routes::query::page(q.page, 50)?;
    let query = orders::OrderQuery { status, text: q.q.clone() };
    let list = orders::search(&state.db, scope(&access), &query, 50, offset).await?;
    let counts = figures::queue_counts(&state.db, scope(&access)).await?;
    let queue: Vec<_> = counts
        .filters()
        .iter()
        .map(|(s, n)| json!({"status": s.as_str(), "label": queue_label(*s), "count": n}))
        .collect();
    let rows: Vec<_> =
        list.iter().map(|o| json!({"order": o, "name": o.address.get("name"), "shippable": shippable(o)})).collect();
    let statuses: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
    let ctx = json!({
        "rows": rows, "queue": queue, "statuses": statuses, "carriers": CARRIERS, "batch_limit": BATCH_LIMIT,
        "status": status.map(Status::as_str).unwrap_or_default(), "q": q.q.unwrap_or_default(),
        "page": pg, "has_next": list.len() == 50,
    });
    page(&state, &access, "merchant_orders.html", "orders", ctx).await
}

fn held_for_review(o: &orders::Order) -> bool {
    o.review_state == palisade_commerce::fraud::ReviewState::Held
}

/// Whether the ship form is offered: the lifecycle allows it and no fraud review holds it.
fn shippable(o: &orders::Order) -> bool {
    o.status.can_become(Status::Shipped) && !held_for_review(o)
}

/// A message shown at the top of the order page after an action.
fn done_message(done: &str) -> Option<&'static str> {
    Some(match done {
        "shipped" => "Marked shipped. The buyer has been emailed the carrier and tracking number.",
        "shipped_quiet" => "Marked shipped. The buyer was not emailed.",
        "delivered" => "Marked delivered. The buyer has been asked to confirm receipt.",
        "refunded" => "Refunded in full: the held money goes back to the buyer's card and the order is closed.",
        "partly_refunded" => "Partial refund made: that amount goes back to the buyer's card; the rest stays held.",
        _ => return None,
    })
}

#[derive(Debug, Deserialize)]
struct DetailQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn order_detail(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    Query(q): Query<DetailQuery>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let flash = q.done.as_deref().and_then(done_message).map(|m| json!({"kind": "ok", "text": m}));
    detail(&state, &access, id, flash).await
}

async fn detail(state: &AppState, access: &StaffAccess, id: OrderId, flash: Option<serde_json::Value>) -> PageResult {
    let o = orders::get(&state.db, scope(access), id).await?;
    let items = orders::items(&state.db, scope(access), id).await?;
    let events = orders::events(&state.db, scope(access), id).await?;
    let held = ledger::escrow_balance(&state.db, scope(access), id).await?;
    let dispute = disputes::for_order(&state.db, scope(access), id).await?;
    page(state, access, "merchant_order.html", "orders", json!({
        "order": o, "risk": o.risk(), "items": items, "events": events, "held": Money::new(held, o.total.currency), "dispute": dispute,
        "refunded": Money::new(o.refunded_minor, o.total.currency), "carriers": CARRIERS, "flash": flash,
        "can_ship": shippable(&o), "can_deliver": o.status.can_become(Status::Delivered) && !held_for_review(&o),
        "held_for_review": held_for_review(&o),
        "can_refund": o.status.can_become(Status::Refunded) && held > 0,
    })).await
}

/// A refused order action, answered on the order's own page: the reason as its message, with the refusal's
/// status. A missing order and failures on our side keep their usual error pages.
async fn refused(state: &AppState, access: &StaffAccess, id: OrderId, e: CommerceError) -> PageResult {
    let e = ApiError::from(e);
    if e.status == StatusCode::NOT_FOUND || e.status.is_server_error() {
        return Err(PageError(e).into());
    }
    let mut res = detail(state, access, id, Some(json!({"kind": "error", "text": e.message}))).await?;
    *res.status_mut() = e.status;
    Ok(res)
}

fn notify_choice(raw: Option<&str>) -> Result<Notify, AdminError> {
    match raw.map(str::trim) {
        None | Some("" | "buyer") => Ok(Notify::Buyer),
        Some("quiet") => Ok(Notify::Quiet),
        Some(_) => Err(super::merchant::invalid("notify is `buyer` or `quiet`")),
    }
}

#[derive(Debug, Deserialize)]
struct ShipForm {
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_no: String,
    /// `buyer` (the default) emails the buyer; `quiet` does not.
    #[serde(default)]
    notify: Option<String>,
}

async fn ship(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    form: Result<Form<ShipForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let Form(f) = form.map_err(bad_form)?;
    let notify = notify_choice(f.notify.as_deref())?;
    let shipped = match Shipment::new(&f.carrier, &f.tracking_no, notify) {
        Ok(s) => fulfilment::ship(&state.db, scope(&access), id, &s).await,
        Err(e) => Err(e),
    };
    match shipped {
        Ok(_) => {
            let done = if notify == Notify::Buyer { "shipped" } else { "shipped_quiet" };
            back(format!("{}/orders/{id}?done={done}", base(&access)))
        }
        Err(e) => refused(&state, &access, id, e).await,
    }
}

async fn deliver(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
) -> PageResult {
    access.require(Permission::Orders)?;
    match orders::transition(&state.db, scope(&access), id, Status::Delivered, None, &state.config.commerce).await {
        Ok(_) => back(format!("{}/orders/{id}?done=delivered", base(&access))),
        Err(e) => refused(&state, &access, id, e).await,
    }
}

#[derive(Debug, Deserialize)]
struct RefundForm {
    amount: String,
    #[serde(default)]
    note: String,
    /// Ticked on the order page or on the confirmation page; without it nothing is refunded.
    #[serde(default)]
    confirm: Option<String>,
}

/// A refund is made only once confirmed: a form without the confirmation gets a page restating what will happen
/// (amount, currency, whether it closes the order) with the box to tick.
async fn refund(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
    form: Result<Form<RefundForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Refunds)?;
    let Form(f) = form.map_err(bad_form)?;
    let currency = store_currency(&state, &access).await?;
    let amount = parse_amount(&f.amount, currency).map_err(PageError)?;
    if f.confirm.as_deref() != Some("yes") {
        let o = orders::get(&state.db, scope(&access), id).await?;
        let held = ledger::escrow_balance(&state.db, scope(&access), id).await?;
        let ctx = json!({
            "order": o, "amount": amount, "amount_text": amount.plain(), "note": f.note,
            "held": Money::new(held, currency), "full": amount.minor == held,
        });
        return page(&state, &access, "merchant_refund_confirm.html", "orders", ctx).await;
    }
    match orders::refund(&state.db, scope(&access), id, amount.minor, &f.note).await {
        Ok(o) => {
            let done = if o.status == Status::Refunded { "refunded" } else { "partly_refunded" };
            back(format!("{}/orders/{id}?done={done}", base(&access)))
        }
        Err(e) => refused(&state, &access, id, e).await,
    }
}

/// The orders a batch form selected (`order`, repeated), and its other fields by name. Refused with a 4xx before
/// anything is read: more than [`BATCH_LIMIT`] orders (`too_many_orders`), more fields than a page sends, none
/// selected, or a selection that is not an order id.
fn selection(pairs: Vec<(String, String)>) -> Result<(Vec<OrderId>, HashMap<String, String>), AdminError> {
    let selected = pairs.iter().filter(|(k, _)| k == "order").count();
    if selected > BATCH_LIMIT || pairs.len() > FIELD_LIMIT {
        return Err(AdminError::Page(PageError(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_orders",
            format!("select at most {BATCH_LIMIT} orders at a time ({selected} were sent)"),
        ))));
    }
    let mut ids = Vec::with_capacity(selected);
    let mut fields = HashMap::new();
    for (k, v) in pairs {
        if k == "order" {
            let id = v
                .trim()
                .parse::<OrderId>()
                .map_err(|_| super::merchant::invalid("a selected order is not an order id"))?;
            ids.push(id);
        } else {
            fields.insert(k, v);
        }
    }
    if ids.is_empty() {
        return Err(super::merchant::invalid("select at least one order (tick the box on its row)"));
    }
    Ok((ids, fields))
}

/// Ships the selected orders: each row's carrier and tracking number, or the ones given for all.
async fn ship_selected(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let Form(pairs) = form.map_err(bad_form)?;
    let (ids, fields) = selection(pairs)?;
    let notify = notify_choice(fields.get("notify").map(String::as_str))?;
    let field = |name: String, all: &str| {
        fields.get(&name).map(|v| v.trim()).filter(|v| !v.is_empty()).or_else(|| fields.get(all).map(String::as_str))
    };
    let lines: Vec<BatchLine> = ids
        .iter()
        .map(|id| {
            let carrier = field(format!("carrier_{id}"), "carrier_all").unwrap_or_default();
            let tracking = field(format!("tracking_{id}"), "tracking_all").unwrap_or_default();
            BatchLine { order: *id, shipment: Shipment::new(carrier, tracking, notify) }
        })
        .collect();
    let report = fulfilment::ship_batch(&state.db, scope(&access), lines).await?;
    let shipped = report.iter().filter(|r| r.outcome == Outcome::Shipped).count();
    let ctx = json!({"report": report, "shipped": shipped, "skipped": report.len() - shipped,
                     "notified": notify == Notify::Buyer});
    page(&state, &access, "merchant_ship_results.html", "orders", ctx).await
}

/// One order's packing slip: what to pack and where it goes, without prices.
async fn slip(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, id)): IdPath<(String, OrderId)>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let slips = slips_for(&state, &access, &[id]).await?;
    let back_to = format!("{}/orders/{id}", base(&access));
    page(&state, &access, "merchant_slips.html", "orders", json!({"slips": slips, "back_to": back_to})).await
}

/// The packing slips of the selected orders (sent by POST with the queue's form, so its token stays out of URLs).
/// An order of another store is 404, as it is everywhere.
async fn slips_selected(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> PageResult {
    access.require(Permission::Orders)?;
    let Form(pairs) = form.map_err(bad_form)?;
    let (mut ids, _) = selection(pairs)?;
    let mut seen = std::collections::HashSet::new();
    ids.retain(|id| seen.insert(*id));
    let slips = slips_for(&state, &access, &ids).await?;
    let back_to = format!("{}/orders", base(&access));
    page(&state, &access, "merchant_slips.html", "orders", json!({"slips": slips, "back_to": back_to})).await
}

async fn slips_for(
    state: &AppState,
    access: &StaffAccess,
    ids: &[OrderId],
) -> Result<Vec<serde_json::Value>, AdminError> {
    let mut slips = Vec::with_capacity(ids.len());
    for id in ids {
        let order = orders::get(&state.db, scope(access), *id).await?;
        let items = orders::items(&state.db, scope(access), *id).await?;
        slips.push(json!({"order": order, "items": items}));
    }
    Ok(slips)
}
