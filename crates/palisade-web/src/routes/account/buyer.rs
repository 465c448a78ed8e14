//! The buyer's account area, in the shop's look: profile (the name reviews show), saved addresses, and the tabs
//! it shares with "My orders" (`storefront::catalog`) and the security settings (`sign_in`). Addresses are the
//! account's own: an id of another account's address is 404, as if it did not exist.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_commerce::address::{AddressFields, ShippingAddress};
use palisade_commerce::{CommerceError, address_book, profile};
use palisade_core::AddressId;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::form::Form;
use crate::http::id_path::IdPath;
use crate::http::session::SignedIn;
use crate::http::{ApiError, PageError};
use crate::routes::storefront::catalog::shop_page;
use crate::state::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/account/profile", post(save_profile))
        .route("/account/addresses", get(addresses_page).post(add_address))
        .route("/account/addresses/{id}", get(address_page).post(update_address))
        .route("/account/addresses/{id}/remove", post(remove_address))
}

/// The profile tab (`GET /account` for a buyer).
pub(crate) async fn profile_page(
    state: &AppState,
    headers: &HeaderMap,
    s: &SignedIn,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let notice = None::<&str>;
    let ctx = json!({"tab": "profile", "name": s.account.display_name, "error": error, "notice": notice});
    shop_page(state, headers, Some(s), "account_profile.html", ctx, status).await
}

#[derive(Deserialize)]
struct ProfileForm {
    name: String,
}

async fn save_profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Form(form): Form<ProfileForm>,
) -> Result<Response, PageError> {
    // Staff and operator names appear in stores' audit views and the console: not changed from a buyer's form.
    if s.account.kind != palisade_store::tenancy::AccountKind::Buyer {
        let refusal = ApiError::new(StatusCode::FORBIDDEN, "not_a_buyer", "only buyer accounts change their name here");
        return Err(refusal.into());
    }
    match profile::set_name(&state.db, s.account.id, &form.name).await {
        Ok(_) => Ok(Redirect::to("/account").into_response()),
        Err(CommerceError::Invalid(m)) => {
            profile_page(&state, &headers, &s, Some(m), StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The address form's fields as typed (shown again when refused).
#[derive(Debug, Default, Deserialize, Serialize)]
struct AddressForm {
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
}

impl AddressForm {
    fn parse(&self) -> Result<ShippingAddress, String> {
        ShippingAddress::parse(AddressFields {
            name: &self.name,
            line1: &self.line1,
            line2: &self.line2,
            city: &self.city,
            postcode: &self.postcode,
            country: &self.country,
        })
        .map_err(|e| e.to_string())
    }
}

async fn addresses_answer(
    state: &AppState,
    headers: &HeaderMap,
    s: &SignedIn,
    form: &AddressForm,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let list = address_book::list(&state.db, s.account.id).await?;
    let can_add = i64::try_from(list.len()).unwrap_or(i64::MAX) < address_book::MAX_ADDRESSES;
    let ctx = json!({"tab": "addresses", "addresses": list, "can_add": can_add, "form": form, "error": error});
    shop_page(state, headers, Some(s), "account_addresses.html", ctx, status).await
}

async fn addresses_page(State(state): State<AppState>, headers: HeaderMap, s: SignedIn) -> Result<Response, PageError> {
    addresses_answer(&state, &headers, &s, &AddressForm::default(), None, StatusCode::OK).await
}

async fn add_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    let refused = |e: String| addresses_answer(&state, &headers, &s, &form, Some(e), StatusCode::UNPROCESSABLE_ENTITY);
    let address = match form.parse() {
        Ok(a) => a,
        Err(e) => return refused(e).await,
    };
    match address_book::add(&state.db, s.account.id, &address).await {
        Ok(_) => Ok(Redirect::to("/account/addresses").into_response()),
        Err(CommerceError::Invalid(m)) => refused(m).await,
        Err(e) => Err(e.into()),
    }
}

async fn edit_answer(
    state: &AppState,
    headers: &HeaderMap,
    s: &SignedIn,
    id: AddressId,
    form: &AddressForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    let status = if error.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let ctx = json!({"tab": "addresses", "id": id, "form": form, "error": error});
    shop_page(state, headers, Some(s), "account_address.html", ctx, status).await
}

async fn address_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    IdPath(id): IdPath<AddressId>,
) -> Result<Response, PageError> {
    let saved = address_book::get(&state.db, s.account.id, id).await?;
    let form: AddressForm = serde_json::from_value(saved.address.to_json()).unwrap_or_default();
    edit_answer(&state, &headers, &s, id, &form, None).await
}

async fn update_address(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: SignedIn,
    IdPath(id): IdPath<AddressId>,
    Form(form): Form<AddressForm>,
) -> Result<Response, PageError> {
    // Another account's id is 404 before anything typed is looked at.
    address_book::get(&state.db, s.account.id, id).await?;
    let address = match form.parse() {
        Ok(a) => a,
        Err(e) => return edit_answer(&state, &headers, &s, id, &form, Some(e)).await,
    };
    address_book::update(&state.db, s.account.id, id, &address).await?;
    Ok(Redirect::to("/account/addresses").into_response())
}

async fn remove_address(
    State(state): State<AppState>,
    s: SignedIn,
    IdPath(id): IdPath<AddressId>,
) -> Result<Response, PageError> {
    address_book::remove(&state.db, s.account.id, id).await?;
    Ok(Redirect::to("/account/addresses").into_response())
}
