//! Paying a store's balance out to its bank: the merchant's payouts page and the payouts API both go through
//! [`request`], so both need a person (not an API token) who re-entered their password within
//! [`STEP_UP_WINDOW`], and both take the amount in the store's currency.

use axum::http::StatusCode;
use palisade_commerce::payouts::{self, Payout};
use palisade_core::money::{Currency, Money};
use palisade_identity::sessions;
use palisade_store::{StoreScope, tenancy};

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::routes::account::sign_in::STEP_UP_WINDOW;
use crate::state::AppState;

/// Why a payout was not made.
#[derive(Debug)]
pub enum Refusal {
    /// The request came with an API token: payouts are made by a signed-in person.
    NotInteractive,
    /// The person has not entered their password recently: send them to `/account/reauth`.
    StepUpRequired,
    /// Anything else (insufficient funds, invalid amount, storage).
    Failed(ApiError),
}

impl From<Refusal> for ApiError {
    /// The JSON answer; the HTML page answers `StepUpRequired` with a redirect instead.
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotInteractive => ApiError::new(
                StatusCode::FORBIDDEN,
                "interactive_only",
                "payouts are made by a signed-in person, not an API token",
            ),
            Refusal::StepUpRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "step_up_required",
                "re-enter your password (POST /account/reauth) and try again within 10 minutes",
            ),
            Refusal::Failed(e) => e,
        }
    }
}

/// The store's currency, which every amount the merchant types is in.
pub async fn currency(state: &AppState, scope: &StoreScope) -> Result<Currency, ApiError> {
    Ok(tenancy::get_store(&state.db, scope).await?.currency)
}

/// Pays `amount_minor` (in the store's currency) out of the store's balance. The caller has checked the payouts
/// permission (`StaffAccess::require`).
pub async fn request(state: &AppState, access: &StaffAccess, amount: impl Into<Amount>) -> Result<Payout, Refusal> {
    let Some(session) = &access.session else { return Err(Refusal::NotInteractive) };
    if !sessions::is_fresh(session, state.db.now(), STEP_UP_WINDOW) {
        return Err(Refusal::StepUpRequired);
    }
    let scope = &access.membership.scope;
    let currency = currency(state, scope).await.map_err(Refusal::Failed)?;
    let amount = match amount.into() {
        Amount::Minor(minor) => Money::new(minor, currency),
        Amount::Typed(text) => {
            crate::routes::admin::merchant::parse_amount(&text, currency).map_err(Refusal::Failed)?
        }
    };
    payouts::request(&state.db, scope, amount).await.map_err(|e| Refusal::Failed(e.into()))
}

/// An amount as the API sends it (minor units) or as a person types it ("12.50").
#[derive(Debug)]
pub enum Amount {
    Minor(i64),
    Typed(String),
}

impl From<i64> for Amount {
    fn from(minor: i64) -> Self {
        Amount::Minor(minor)
    }
}

impl From<String> for Amount {
    fn from(text: String) -> Self {
        Amount::Typed(text)
    }
}
