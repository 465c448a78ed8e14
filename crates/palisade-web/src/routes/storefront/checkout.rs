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
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::{CommerceError, cart, payments};
use palisade_store::StoreScope;
use rand::RngCore;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha384};

use crate::http::PageError;
use crate::http::client::ClientAddr;
use crate::http::session::{SessionRejection, SignedIn};
use crate::routes::resolve_store;
use crate::routes::storefront::catalog::{cart_of, order_link, shopper_of};
use crate::routes::storefront::pay_form::{self, FieldErrors, PayForm};
use crate::services::{card_testing, extensions};
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
        purpose: "formats the card number as typed; focuses the list of refused fields; prevents double submission; \
                  solves the card-testing guard's proof of work when asked",
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

/// What one rendering of the payment page shows.
struct Shown<'a> {
    group: Option<&'a cart::StoreGroup>,
    form: &'a PayForm,
    errors: &'a FieldErrors,
    /// The card-testing guard's proof-of-work challenge, when it asked for one.
    challenge: Option<&'a str>,
    /// The shipping rates offered for the address entered (empty until there is one; the flat rate alone is not
    /// offered as a choice).
    rates: &'a [extensions::OfferedRate],
}

/// A line's chosen options as the buyer picked them ("size: M · colour: Red"), in the catalog's key order.
fn options_text(options: &serde_json::Value) -> String {
    options
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}: {s}"),
                    None => format!("{k}: {v}"),
                })
                .collect::<Vec<_>>()
                .join(" · ")
        })
        .unwrap_or_default()
}

fn group_json(g: &cart::StoreGroup, chosen: Option<&extensions::OfferedRate>) -> serde_json::Value {
    // The chosen rate replaces the flat one in the summary (the order is priced the same way).
    let (shipping, total) = match chosen {
        Some(r) => {
            let shipping = palisade_core::money::Money::new(r.amount_minor, g.subtotal.currency);
            let total = g.subtotal.minor.saturating_add(r.amount_minor);
            (shipping, palisade_core::money::Money::new(total, g.subtotal.currency))
        }
        None => (g.shipping, g.total),
    };
    json!({
        "store_slug": g.store_slug,
        "store_name": g.store_name,
        "lines": g.lines.iter().map(|l| json!({
            "title": l.title, "sku": l.sku, "quantity": l.quantity, "options_text": options_text(&l.options),
            "line_total_text": l.line_total.to_string(),
        })).collect::<Vec<_>>(),
        "subtotal_text": g.subtotal.to_string(),
        "shipping_text": shipping.to_string(),
        "total_text": total.to_string(),
    })
}

/// Where the buyer is among cart → details → pay: details until every contact and delivery field is filled in
/// and accepted, then pay; the cart when there is nothing to pay for.
fn step_of(shown: &Shown<'_>) -> &'static str {
    let f = shown.form;
    let filled = [&f.email, &f.name, &f.line1, &f.city, &f.postcode, &f.country].iter().all(|v| !v.trim().is_empty());
    match shown.group {
        None => "cart",
        Some(_) if shown.errors.in_details() || !filled => "details",
        Some(_) => "pay",
    }
}

fn render(state: &AppState, shown: &Shown<'_>, status: StatusCode) -> Result<Response, PageError> {
    // A key that does not parse (a tampered page) is replaced, so the next attempt can go through.
    let key = match IdempotencyKey::parse(&shown.form.idempotency_key) {
        Ok(k) => k.as_str().to_owned(),
        Err(_) => new_key(),
    };
    let summary: Vec<_> = shown.errors.summary().into_iter().map(|(f, m)| json!({"field": f, "message": m})).collect();
    let chosen = chosen_rate(shown.rates, &shown.form.shipping_rate)
        .filter(|r| shown_amount(&shown.form.shipping_rate) == Some(r.amount_minor));
    let rates: Vec<_> = shown
        .rates
        .iter()
        .map(|r| {
            let money = |minor: i64| {
                palisade_core::money::Currency::parse(&r.currency)
                    .map(|c| palisade_core::money::Money::new(minor, c).to_string())
                    .unwrap_or_default()
            };
            let subtotal = shown.group.map_or(0, |g| g.subtotal.minor);
            json!({"value": format!("{}@{}", r.code, r.amount_minor), "label": r.label, "by": r.by,
                   "price": money(r.amount_minor), "total": money(subtotal.saturating_add(r.amount_minor)),
                   "checked": chosen.is_some_and(|c| c.code == r.code)})
        })
        .collect();
    let html = state.templates.render(
        "pay.html",
        json!({"group": shown.group.map(|g| group_json(g, chosen)), "form": shown.form, "rates": rates,
            "choosing": !shown.rates.is_empty() && chosen.is_none(), "errors": shown.errors,
            "summary": summary, "step": step_of(shown), "idempotency_key": key, "scripts": &*PAYMENT_SCRIPTS,
            "challenge": shown.challenge, "challenge_bits": card_testing::CHALLENGE_BITS,
            "protection_days": state.config.commerce.protection_days()}),
    )?;
    Ok(secured(status, html))
}

/// The rate the form's choice (`code@amount`, as the page offered it) names among those offered, if the buyer
/// chose one.
fn chosen_rate<'r>(rates: &'r [extensions::OfferedRate], choice: &str) -> Option<&'r extensions::OfferedRate> {
    let code = choice.rsplit_once('@').map_or(choice, |(code, _)| code);
    rates.iter().find(|r| r.code == code)
}

/// The amount the page showed with the buyer's choice (`code@amount`).
fn shown_amount(choice: &str) -> Option<i64> {
    choice.rsplit_once('@').and_then(|(_, amount)| amount.parse().ok())
}

/// What the order is shipped with: the flat rate when no extension offers another (`None`), else the buyer's
/// choice among `rates`, which they must have seen (a form without one is sent back with the options).
fn shipping_choice(
    rates: &[extensions::OfferedRate],
    code: &str,
) -> Result<Option<palisade_commerce::orders::ShippingChoice>, &'static str> {
    if rates.is_empty() && code.is_empty() {
        return Ok(None);
    }
    if code.is_empty() {
        return Err("Choose how your order is shipped, then enter your card again and pay");
    }
    match chosen_rate(rates, code) {
        // The price is the one the buyer saw next to the option, or the page asks again with the new one.
        Some(r) if shown_amount(code) != Some(r.amount_minor) => {
            Err("The price of that shipping option has changed: check the new total, choose again and pay")
        }
        Some(r) if r.by.is_none() => Ok(None),
        Some(r) => Ok(r.choice()),
        None => Err("That shipping option is no longer offered for this address: choose again"),
    }
}

/// The shipping rates for the address on the form, when it is a whole address and an installed extension offers
/// more than the store's own rate (otherwise none: the page shows the flat rate as before).
async fn rates_for(
    state: &AppState,
    scope: &StoreScope,
    buyer: Option<palisade_core::AccountId>,
    group: &cart::StoreGroup,
    form: &PayForm,
) -> Result<Vec<extensions::OfferedRate>, PageError> {
    let Ok(address) = palisade_commerce::address::ShippingAddress::parse(form.address_fields()) else {
        return Ok(Vec::new());
    };
    let wanted: Vec<_> = group.lines.iter().map(|l| (l.variant_id, l.quantity)).collect();
    let rates = extensions::shipping_rates(state, scope, buyer, &wanted, &address).await?;
    Ok(if rates.iter().any(|r| r.by.is_some()) { rates } else { Vec::new() })
}

/// A signed-in buyer's form: their email, their first saved address (Account → Addresses) if they have one, and
/// otherwise at least the name on their profile.
async fn prefilled(state: &AppState, buyer: &SignedIn) -> Result<PayForm, PageError> {
    let saved = palisade_commerce::address_book::list(&state.db, buyer.account.id).await?;
    let mut form = PayForm {
        email: buyer.account.email.clone(),
        name: buyer.account.display_name.trim().to_owned(),
        ..PayForm::default()
    };
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
    let shown =
        Shown { group: None, form: &PayForm::default(), errors: &FieldErrors::default(), challenge: None, rates: &[] };
    render(&state, &shown, StatusCode::OK)
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
    let rates = match &group {
        Some((_, g)) => {
            let buyer = shopper_of(&s).map(|s| s.account.id);
            let store_id = g.store_id.parse().map_err(|_| crate::http::ApiError::internal())?;
            rates_for(&state, &StoreScope::shopper(store_id, buyer), buyer, g, &form).await?
        }
        None => Vec::new(),
    };
    let errors = FieldErrors::default();
    let shown =
        Shown { group: group.as_ref().map(|(_, g)| g), form: &form, errors: &errors, challenge: None, rates: &rates };
    render(&state, &shown, StatusCode::OK)
}

async fn pay(
    State(state): State<AppState>,
    ClientAddr(ip): ClientAddr,
    headers: HeaderMap,
    s: Result<SignedIn, SessionRejection>,
    Path(store): Path<String>,
    Form(form): Form<PayForm>,
) -> Result<Response, PageError> {
    let Some((cart_id, group)) = group_of(&state, &headers, shopper_of(&s), &store).await? else {
        return Ok(Redirect::to("/cart").into_response());
    };
    let buyer = shopper_of(&s).map(|s| s.account.id);
    let store_id = group.store_id.parse().map_err(|_| crate::http::ApiError::internal())?;
    let scope = StoreScope::shopper(store_id, buyer);
    // Computed for the address as sent, every time: the order is priced from this, never from the page.
    let rates = rates_for(&state, &scope, buyer, &group, &form).await?;
    let checked = match pay_form::check(&form, state.db.now()) {
        Ok(c) => c,
        Err(errors) => {
            let shown = Shown { group: Some(&group), form: &form, errors: &errors, challenge: None, rates: &rates };
            return render(&state, &shown, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    // Installed extensions offer rates for this address: the buyer chooses (and sees the price) before paying.
    let shipping = match shipping_choice(&rates, &form.shipping_rate) {
        Ok(shipping) => shipping,
        Err(message) => {
            let mut errors = FieldErrors::default();
            errors.add("shipping_rate", message);
            let shown = Shown { group: Some(&group), form: &form, errors: &errors, challenge: None, rates: &rates };
            return render(&state, &shown, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    // Installed extensions may refuse the order (their checkout validation), before anything is charged.
    let wanted: Vec<_> = group.lines.iter().map(|l| (l.variant_id, l.quantity)).collect();
    if let Some(no) = extensions::checkout_refusal(&state, &scope, buyer, &checked.idempotency_key, &wanted).await? {
        let mut errors = FieldErrors::default();
        errors.add(pay_form::FORM, format!("{}: {}", no.extension, no.message));
        let shown = Shown { group: Some(&group), form: &form, errors: &errors, challenge: None, rates: &rates };
        return render(&state, &shown, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let guest_proof =
        buyer.is_none().then(|| guest_proof(&state, &form.card_number, &checked.expiry, Some(cart_id.as_str())));
    // The card-testing guard, before anything is placed or charged (issue #20 item 4).
    let card_fp = card_testing::card_fingerprint(&state, &form.card_number);
    let known_buyer = palisade_commerce::fraud::known_buyer(&state.db, &scope).await?;
    let attempt = card_testing::CheckoutAttempt {
        store: store_id,
        card: &card_fp,
        address: ip,
        session: cart_id.as_str(),
        known_buyer,
        proof: (!form.pow_c.is_empty()).then_some((form.pow_c.as_str(), form.pow_n.as_str())),
    };
    let pass = match card_testing::gate(&state, &attempt) {
        card_testing::Decision::Allow(pass) => pass,
        card_testing::Decision::Challenge(c) => {
            let mut errors = FieldErrors::default();
            errors.add(pay_form::FORM, card_testing::CHALLENGE_MESSAGE);
            let shown = Shown { group: Some(&group), form: &form, errors: &errors, challenge: Some(&c), rates: &rates };
            return render(&state, &shown, StatusCode::PRECONDITION_REQUIRED);
        }
        card_testing::Decision::Refuse => {
            let mut errors = FieldErrors::default();
            errors.add(pay_form::FORM, card_testing::REFUSED_MESSAGE);
            let shown = Shown { group: Some(&group), form: &form, errors: &errors, challenge: None, rates: &rates };
            return render(&state, &shown, StatusCode::TOO_MANY_REQUESTS);
        }
    };
    let fingerprints =
        card_testing::fingerprints(&state, &form.card_number, checked.email.as_str(), &checked.address, ip);
    let req = Checkout {
        guest_proof,
        email: checked.email,
        address: checked.address,
        lines: group.lines.iter().map(|l| Line { variant_id: l.variant_id, quantity: l.quantity }).collect(),
        idempotency_key: checked.idempotency_key,
        card: payments::card(&form.card_number, &checked.expiry, form.cvc.trim()),
        fingerprints,
    };
    let placed = orders::checkout_shipped(&state.db, state.gateway.as_ref(), &scope, req, shipping.as_ref()).await;
    pass.outcome(placed.as_ref().map(|_| ()));
    match placed {
        Ok(placed) => {
            cart::clear_store(&state.db, &cart_id, &group.store_id).await?;
            Ok(Redirect::to(&order_link(&state, &placed.order)).into_response())
        }
        Err(e) => refused(&state, &group, form, e, &rates),
    }
}

/// The page again after the checkout refused the order, saying why next to the card or above the form. Nothing
/// was charged in any of these cases.
fn refused(
    state: &AppState,
    group: &cart::StoreGroup,
    form: PayForm,
    e: CommerceError,
    rates: &[extensions::OfferedRate],
) -> Result<Response, PageError> {
    let mut errors = FieldErrors::default();
    let (form, status) = match e {
        CommerceError::PaymentDeclined { reason } => {
            // No order was kept and the cart is as it was: a new key lets the buyer try another card.
            let declined = crate::http::error::card_declined(&format!(
                "Your card was declined ({reason}). Nothing was charged; try another card."
            ));
            errors.add("card_number", declined.message);
            (PayForm { idempotency_key: new_key(), ..form }, declined.status)
        }
        CommerceError::OutOfStock { available } => {
            let msg = format!("An item in your order has only {available} left: update your cart and try again");
            errors.add(pay_form::FORM, msg);
            (form, StatusCode::UNPROCESSABLE_ENTITY)
        }
        CommerceError::Invalid(m) => {
            errors.add(pay_form::FORM, m);
            (form, StatusCode::UNPROCESSABLE_ENTITY)
        }
        e @ CommerceError::RefusedAsRisky => {
            // Nothing was placed or charged; which signal refused it is not told.
            let e = crate::http::ApiError::from(e);
            errors.add(pay_form::FORM, "We could not accept this order, and nothing was charged. If you think this is a mistake, contact the shop.");
            (PayForm { idempotency_key: new_key(), ..form }, e.status)
        }
        e @ CommerceError::PaymentGatewayUnavailable(_) => {
            // Nothing was charged: the same page, with the same key, lets the buyer try again.
            let e = crate::http::ApiError::from(e);
            errors.add(pay_form::FORM, e.message);
            (form, e.status)
        }
        CommerceError::IdempotencyKeyReused => {
            // This form's key went with another request (another card or cart, other content): nothing of that
            // order is shown; a fresh key lets this buyer place their own.
            let msg = "This payment form was already used for another order: check the details and pay again";
            errors.add(pay_form::FORM, msg);
            (PayForm { idempotency_key: new_key(), ..form }, StatusCode::CONFLICT)
        }
        e => return Err(e.into()),
    };
    render(state, &Shown { group: Some(group), form: &form, errors: &errors, challenge: None, rates }, status)
}
