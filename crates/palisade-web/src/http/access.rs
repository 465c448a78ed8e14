//! Store access for signed-in staff: membership, permissions and the store's MFA policy, checked on the server
//! for every admin request.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use palisade_core::Timestamp;
use palisade_identity::policy::{self, Gate};
use palisade_identity::sessions::Session;
use palisade_store::permissions::Permission;
use palisade_store::tenancy::{self, Account, Membership};

use crate::http::error::{ApiError, PageError, is_api_path};
use crate::http::session::{SessionRejection, SignedIn};
use crate::state::AppState;

/// A signed-in member acting in one store.
#[derive(Debug, Clone)]
pub struct StaffAccess {
    pub account: Account,
    pub session: Session,
    pub membership: Membership,
    /// Set while the store requires MFA and this member has not set it up yet.
    pub mfa_grace_until: Option<Timestamp>,
    api: bool,
}

impl StaffAccess {
    /// Refuses with 403 unless the member holds `p`.
    pub fn require(&self, p: Permission) -> Result<(), AccessRejection> {
        if self.membership.can(p) { Ok(()) } else { Err(AccessRejection::Forbidden { api: self.api, permission: p }) }
    }
}

/// Why a request may not act in the store.
#[derive(Debug)]
pub enum AccessRejection {
    Session(SessionRejection),
    /// Not a member (answered as 404 so store membership is not revealed).
    NotFound {
        api: bool,
    },
    Forbidden {
        api: bool,
        permission: Permission,
    },
    EnrolMfa {
        api: bool,
    },
    Error(ApiError, bool),
}

impl IntoResponse for AccessRejection {
    fn into_response(self) -> Response {
        let (e, api) = match self {
            AccessRejection::Session(s) => return s.into_response(),
            AccessRejection::EnrolMfa { api: false } => return Redirect::to("/account?enrol=required").into_response(),
            AccessRejection::EnrolMfa { api: true } => (
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "mfa_required",
                    "this store requires two-step verification; set it up first",
                ),
                true,
            ),
            AccessRejection::NotFound { api } => (ApiError::not_found("store"), api),
            AccessRejection::Forbidden { api, permission } => (
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!("this needs the \"{}\" permission", permission.title()),
                ),
                api,
            ),
            AccessRejection::Error(e, api) => (e, api),
        };
        if api { e.into_response() } else { PageError(e).into_response() }
    }
}

impl FromRequestParts<AppState> for StaffAccess {
    type Rejection = AccessRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let api = is_api_path(parts.uri.path());
        let signed = SignedIn::from_request_parts(parts, state).await.map_err(AccessRejection::Session)?;
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AccessRejection::NotFound { api })?;
        let key = params.get("store").ok_or(AccessRejection::NotFound { api })?;
        let store = crate::routes::resolve_store(state, key).await.map_err(|_| AccessRejection::NotFound { api })?;
        let membership = tenancy::membership(&state.db, signed.account.id, store)
            .await
            .map_err(|e| AccessRejection::Error(e.into(), api))?
            .ok_or(AccessRejection::NotFound { api })?;
        let pol = policy::get(&state.db, &membership.scope).await.map_err(|e| AccessRejection::Error(e.into(), api))?;
        let has_mfa =
            state.identity.has_mfa(signed.account.id).await.map_err(|e| AccessRejection::Error(e.into(), api))?;
        let mfa_grace_until = match policy::gate(&pol, has_mfa, state.db.now()) {
            Gate::Open => None,
            Gate::Grace { until } => Some(until),
            Gate::EnrolOnly => return Err(AccessRejection::EnrolMfa { api }),
        };
        Ok(StaffAccess { account: signed.account, session: signed.session, membership, mfa_grace_until, api })
    }
}
