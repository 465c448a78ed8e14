//! Features the HTML admin and the JSON API both offer, written once: handlers parse their input (form or JSON),
//! call these, and render the outcome their own way (a page or JSON).

pub mod api_tokens;
pub mod apps;
pub mod card_testing;
pub mod compliance;
pub mod extensions;
pub mod firewall_rules;
pub mod markdown;
pub mod payouts;
pub mod product_csv;
pub mod sessions;
pub mod staff;
pub mod store_scan;
pub mod verification;

use axum::http::StatusCode;

use crate::http::ApiError;
use crate::http::access::{AccessRejection, StaffAccess};
use crate::routes::account::sign_in::STEP_UP_WINDOW;
use crate::state::AppState;
use palisade_store::permissions::Permission;

/// Why a store-admin change was not made. The page and the API answer the first three their own way (a page
/// sends the person to re-enter their password; the API answers 403 `step_up_required`).
#[derive(Debug)]
pub enum Refusal {
    /// The member lacks the permission the change needs.
    Access(AccessRejection),
    /// The request came with an API token: this change is made by a signed-in person.
    NotInteractive,
    /// The person has not entered their password within [`STEP_UP_WINDOW`].
    StepUpRequired,
    /// Anything else: invalid input, the store's rules (last owner, owners only), storage.
    Failed(ApiError),
}

impl Refusal {
    /// The API's answer for the first three; `Failed` is its own error.
    pub fn into_api(self) -> Result<AccessRejection, ApiError> {
        match self {
            Refusal::Access(a) => Ok(a),
            Refusal::NotInteractive => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "interactive_only",
                "this change must be made by a signed-in person, not an API token",
            )),
            Refusal::StepUpRequired => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "step_up_required",
                "re-enter your password (POST /account/reauth) and try again within 10 minutes",
            )),
            Refusal::Failed(e) => Err(e),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Failed(e)
    }
}

impl From<palisade_store::StoreError> for Refusal {
    fn from(e: palisade_store::StoreError) -> Self {
        Refusal::Failed(e.into())
    }
}

impl From<palisade_identity::IdentityError> for Refusal {
    fn from(e: palisade_identity::IdentityError) -> Self {
        Refusal::Failed(e.into())
    }
}

/// The member holds `p`.
pub fn permitted(access: &StaffAccess, p: Permission) -> Result<(), Refusal> {
    access.require(p).map_err(Refusal::Access)
}

/// The member holds `p` and is a person who entered their password recently: what changing staff, invitations
/// and API tokens needs.
pub fn permitted_person(state: &AppState, access: &StaffAccess, p: Permission) -> Result<(), Refusal> {
    permitted(access, p)?;
    let Some(session) = &access.session else { return Err(Refusal::NotInteractive) };
    if palisade_identity::sessions::is_fresh(session, state.db.now(), STEP_UP_WINDOW) {
        Ok(())
    } else {
        Err(Refusal::StepUpRequired)
    }
}

/// A `422 invalid` error.
pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
}
