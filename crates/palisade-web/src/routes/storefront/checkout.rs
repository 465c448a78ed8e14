//! The payment page: the platform's own, never themed (PCI DSS 6.4.3). Its scripts are an explicit inventory,
//! each served from this site with Subresource Integrity, under a CSP that allows nothing else; the
//! `payments.page_check` job fetches the page and alerts when its scripts or security headers change (11.6.1).

use std::sync::LazyLock;

use crate::http::form::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use base64::Engine;
use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::{CommerceError, cart, payments};
use palisade_core::text::Email;
use palisade_store::StoreScope;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha384};

use crate::http::PageError;
use crate::http::session::{SessionRejection, SignedIn};
use crate::routes::resolve_store;
use crate::routes::storefront::catalog::{cart_of, order_link, shopper_of};
use crate::state::AppState;

/// The payment page's Content-Security-Policy: scripts and styles from this site only, no inline code at all,
/// no connections out, forms post here only.
pub const PAYMENT_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// One script the payment page is allowed to load.
#[derive(Debug, Clone, Serialize)]
pub struct Script {
    pub path: &'static str,
    pub purpose: &'static str,
    /// `sha384-…`, computed from the bytes compiled into this binary.
    pub integrity: String,
    #[serde(skip)]
    pub body: &'static str,
}

const PAY_JS: &str = include_str!("../../../assets/pay.js");

/// The inventory of the payment page's scripts (PCI DSS 6.4.3): every script, why it is there, its hash.
pub static PAYMENT_SCRIPTS: LazyLock<Vec<Script>> = LazyLock::new(|| {
    vec![Script {
        path: "/assets/pay.js",
        purpose: "formats the card number as typed; prevents double submission",
        integrity: sri(PAY_JS),
        body: PAY_JS,
    }]
});

fn sri(body: &str) -> String {
    format!("sha384-{}", base64::engine::general_purpose::STANDARD.encode(Sha384::digest(body.as_bytes())))
}

/// The security headers the payment page must carry, as the monitor compares them.
pub const PAYMENT_HEADERS: &[(&str, &str)] = &[
    ("content-security-policy", PAYMENT_CSP),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout", get(empty_page))
        .route("/checkout/{store}", get(pay_page).post(pay))
        .route("/assets/pay.js", get(pay_js))
}

async fn pay_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        PAY_JS,
    )
}

/// The payment form. Card fields are never serialised (the page is re-rendered from this on an error) and never
/// shown by `Debug`.
#[derive(Default, Deserialize, Serialize)]
struct PayForm {
    #[serde(default)]
    idempotency_key: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postcode: String,
    #[serde(default)]
    country: String,
    #[serde(default, skip_serializing)]
    card_number: String,
    #[serde(default, skip_serializing)]
    expiry: String,
    #[serde(default, skip_serializing)]
    cvc: String,
}

impl std::fmt::Debug for PayForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayForm").field("idempotency_key", &self.idempotency_key).finish_non_exhaustive()
    }
}

/// The purpose under which a guest's sender proof is made (see [`guest_proof`]).
const SENDER_PURPOSE: &str = "checkout-sender";

/// What binds a guest's Idempotency-Key to them (issue #16): an HMAC, under a key derived from the master key, of
/// the card they pay with and, on the web, of their cart (the cookie they hold). A replay of the key by anyone
/// without both gets 409 and nothing of the order. Only this keyed hash reaches the database, never the card.
pub(crate) fn guest_proof(state: &AppState, card_number: &str, expiry: &str, cart: Option<&str>) -> String {
    let digits: String = card_number.chars().filter(char::is_ascii_digit).collect();
    state.identity.links().sign(SENDER_PURPOSE, &format!("{digits}|{}|{}", expiry.trim(), cart.unwrap_or("")))
}

fn new_key() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn secured(status: StatusCode, html: String) -> Response {
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    for (name, value) in PAYMENT_HEADERS {
        if let (Ok(n), Ok(v)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            h.insert(n, v);
        }
    }
    res
}

fn render(
    state: &AppState,
    group: Option<&cart::StoreGroup>,
    form: &PayForm,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let group = group.map(|g| {
        json!({
            "store_slug": g.store_slug,
            "store_name": g.store_name,
            "lines": g.lines.iter().map(|l| json!({"title": l.title, "sku": l.sku, "quantity": l.quantity, "line_total_text": l.line_total.to_string()})).collect::<Vec<_>>(),
            "shipping_text": g.shipping.to_string(),
            "total_text": g.total.to_string(),
        })
    });
    let key = if form.idempotency_key.is_empty() { new_key() } else { form.idempotency_key.clone() };
    let html = state.templates.render(
        "pay.html",
        json!({"group": group, "form": form, "error": error, "idempotency_key": key, "scripts": &*PAYMENT_SCRIPTS,
            "protection_days": state.config.commerce.protection_days()}),
    )?;
    Ok(secured(status, html))
}

/// A signed-in buyer's form: their email, and their first saved address (Account → Addresses) if they have one.
async fn prefilled(state: &AppState, buyer: &SignedIn) -> Result<PayForm, PageError> {
    let saved = palisade_commerce::address_book::list(&state.db, buyer.account.id).await?;
    let mut form = PayForm { email: buyer.account.email.clone(), ..PayForm::default() };
    if let Some(a) = saved.first() {
        let v = a.address.to_json();
        let get = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
        (form.name, form.line1, form.line2) = (get("name"), get("line1"), get("line2"));
        (form.city, form.postcode, form.country) = (get("city"), get("postcode"), get("country"));
    }
    Ok(form)
}

/// The page with no cart behind it: what the integrity monitor fetches (same template, scripts and headers).
async fn empty_page(State(state): State<AppState>) -> Result<Response, PageError> {
    render(&state, None, &PayForm::default(), None, StatusCode::OK)
}

async fn group_of(
    state: &AppState,
    headers: &HeaderMap,
    shopper: Option<&SignedIn>,
    store_key: &str,
) -> Result<Option<(cart::CartId, cart::StoreGroup)>, PageError> {
    let store = resolve_store(state, store_key).await?;
    let Some(cart_id) = cart_of(state, headers, shopper).await? else { return Ok(None) };
    let view = cart::view(&state.db, &cart_id).await?;
    Ok(view.groups.into_iter().find(|g| g.store_id == store.to_string()).map(|g| (cart_id, g)))
}

async fn pay_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Path(store): Path<String>,
) -> Result<Response, PageError> {
    let group = group_of(&state, &headers, shopper_of(&s), &store).await?;
    let form = match shopper_of(&s) {
        Some(buyer) => prefilled(&state, buyer).await?,
        None => PayForm::default(),
    };
    render(&state, group.as_ref().map(|(_, g)| g), &form, None, StatusCode::OK)
}

async fn pay(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Path(store): Path<String>,
    Form(form): Form<PayForm>,
) -> Result<Response, PageError> {
    let Some((cart_id, group)) = group_of(&state, &headers, shopper_of(&s), &store).await? else {
        return Ok(Redirect::to("/cart").into_response());
    };
    let fail = |msg: &str| render(&state, Some(&group), &form, Some(msg), StatusCode::UNPROCESSABLE_ENTITY);
    let Ok(email) = Email::parse(&form.email) else { return fail("enter a valid email address") };
    let address = match ShippingAddress::parse(AddressFields {
        name: &form.name,
        line1: &form.line1,
        line2: &form.line2,
        city: &form.city,
        postcode: &form.postcode,
        country: &form.country,
    }) {
        Ok(a) => a,
        Err(e) => return fail(&e.to_string()),
    };
    let idempotency_key = match IdempotencyKey::parse(&form.idempotency_key) {
        Ok(k) => k,
        Err(e) => return fail(&e.to_string()),
    };
    let expiry = match payments::parse_expiry(&form.expiry, state.db.now()) {
        Ok(e) => e,
        Err(e) => return fail(&e.to_string()),
    };
    let buyer = shopper_of(&s).map(|s| s.account.id);
    let store_id = group.store_id.parse().map_err(|_| crate::http::ApiError::internal())?;
    let scope = StoreScope::shopper(store_id, buyer);
    let guest_proof = buyer.is_none().then(|| guest_proof(&state, &form.card_number, &expiry, Some(cart_id.as_str())));
    let req = Checkout {
        guest_proof,
        email,
        address,
        lines: group.lines.iter().map(|l| Line { variant_id: l.variant_id, quantity: l.quantity }).collect(),
        idempotency_key,
        card: payments::card(&form.card_number, &expiry, form.cvc.trim()),
    };
    match orders::checkout(&state.db, state.gateway.as_ref(), &scope, req).await {
        Ok(placed) => {
            cart::clear_store(&state.db, &cart_id, &group.store_id).await?;
            Ok(Redirect::to(&order_link(&state, &placed.order)).into_response())
        }
        Err(CommerceError::PaymentDeclined { reason }) => {
            // No order was kept and the cart is as it was: a new key lets the buyer try another card.
            let retry = PayForm { idempotency_key: new_key(), ..form };
            let declined = crate::http::error::card_declined(&format!(
                "Your card was declined ({reason}). Nothing was charged; try another card."
            ));
            render(&state, Some(&group), &retry, Some(&declined.message), declined.status)
        }
        Err(CommerceError::OutOfStock { available }) => {
            fail(&format!("an item in your order has only {available} left; update your cart and try again"))
        }
        Err(CommerceError::Invalid(m)) => fail(&m),
        Err(e @ CommerceError::PaymentGatewayUnavailable(_)) => {
            // Nothing was charged: the same page, with the same key, lets the buyer try again.
            let e = crate::http::ApiError::from(e);
            render(&state, Some(&group), &form, Some(&e.message), e.status)
        }
        Err(CommerceError::IdempotencyKeyReused) => {
            // This form's key went with another request (another card or cart, other content): nothing of that
            // order is shown; a fresh key lets this buyer place their own.
            let retry = PayForm { idempotency_key: new_key(), ..form };
            let msg = "this payment form was already used for another order; check the details and pay again";
            render(&state, Some(&group), &retry, Some(msg), StatusCode::CONFLICT)
        }
        Err(e) => Err(e.into()),
    }
}
