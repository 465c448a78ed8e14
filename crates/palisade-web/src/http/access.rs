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
use palisade_store::{audit, tokens};

use crate::http::error::{ApiError, PageError, is_api_path};
use crate::http::session::{SessionRejection, SignedIn};
use crate::state::AppState;

/// A signed-in member acting in one store.
#[derive(Debug, Clone)]
pub struct StaffAccess {
    pub account: Account,
    /// The browser session; `None` when the request came with a store API token.
    pub session: Option<Session>,
    pub membership: Membership,
    /// Set while the store requires MFA and this member has not set it up yet.
    pub mfa_grace_until: Option<Timestamp>,
    /// Set when the request came with an installed app's token: the app's grant (which install, which customer
    /// data level). Only the routes of [`APP_ROUTES`] answer it.
    pub app: Option<palisade_store::tokens::AppGrant>,
    /// The API token the request came with, if it came with one.
    pub token_id: Option<palisade_core::TokenId>,
    api: bool,
}

impl StaffAccess {
    /// Refuses with 403 unless the member holds `p`.
    pub fn require(&self, p: Permission) -> Result<(), AccessRejection> {
        if self.membership.can(p) { Ok(()) } else { Err(AccessRejection::Forbidden { api: self.api, permission: p }) }
    }

    /// The protected customer data level the caller may see: 2 (everything its permissions allow) for staff,
    /// the grant's level for an app.
    #[must_use]
    pub fn data_level(&self) -> u8 {
        self.app.as_ref().map_or(2, |a| a.data_level)
    }
}

/// The routes an installed app's token may call (method, route, the customer data level it needs): deny by
/// default, method included. Staff management, tokens, invitations, the firewall, verification, security controls
/// (they name staff members), store settings changes and the audit log stay with people; the store's
/// conversations and disputes carry buyers' own words and names, so they need level 2. Orders answer at every
/// level, reduced to what the level allows (see `routes::api::commerce`).
pub const APP_ROUTES: &[(&str, &str, u8)] = &[
    ("GET", "/api/v1/admin/stores/{store}/products", 0),
    ("POST", "/api/v1/admin/stores/{store}/products", 0),
    ("GET", "/api/v1/admin/stores/{store}/products/{product}", 0),
    ("POST", "/api/v1/admin/stores/{store}/products/{product}/status", 0),
    ("POST", "/api/v1/admin/stores/{store}/products/{product}/images", 0),
    ("PUT", "/api/v1/admin/stores/{store}/variants/{variant}/stock", 0),
    ("PUT", "/api/v1/admin/stores/{store}/variants/{variant}/price", 0),
    ("GET", "/api/v1/admin/stores/{store}/orders", 0),
    ("GET", "/api/v1/admin/stores/{store}/orders/{order}", 0),
    ("POST", "/api/v1/admin/stores/{store}/orders/{order}/ship", 0),
    ("POST", "/api/v1/admin/stores/{store}/orders/{order}/deliver", 0),
    ("POST", "/api/v1/admin/stores/{store}/orders/{order}/refund", 0),
    ("GET", "/api/v1/admin/stores/{store}/theme", 0),
    ("PUT", "/api/v1/admin/stores/{store}/theme/{name}", 0),
    ("GET", "/api/v1/admin/stores/{store}/settings", 0),
    ("GET", "/api/v1/admin/stores/{store}/balance", 0),
    ("GET", "/api/v1/admin/stores/{store}/payouts", 0),
    ("POST", "/api/v1/admin/stores/{store}/app-token/renew", 0),
    ("GET", "/api/v1/admin/stores/{store}/messages", 2),
    ("GET", "/api/v1/admin/stores/{store}/messages/{thread}", 2),
    ("POST", "/api/v1/admin/stores/{store}/messages/{thread}", 2),
    ("GET", "/api/v1/admin/stores/{store}/disputes", 2),
    ("POST", "/api/v1/admin/stores/{store}/disputes/{dispute}/respond", 2),
];

/// Whether `path` is an instance of the route `template`: the same segments, each `{name}` standing for one
/// non-empty segment.
fn route_matches(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(want), Some(got)) if want.starts_with('{') && want.ends_with('}') && !got.is_empty() => {}
            (Some(want), Some(got)) if want == got => {}
            _ => return false,
        }
    }
}

/// Refuses an app's token on a route not in [`APP_ROUTES`] (403 `app_route_not_allowed`), or one needing a
/// higher customer data level than its grant (403 `app_data_level`).
fn app_route_allowed(parts: &Parts, grant: &palisade_store::tokens::AppGrant) -> Result<(), AccessRejection> {
    let api = is_api_path(parts.uri.path());
    // The path itself, not the router's match: the upload gate asks before routing.
    let path = parts.uri.path();
    let refuse = |code: &'static str, message: &'static str| {
        AccessRejection::Error(ApiError::new(StatusCode::FORBIDDEN, code, message), api)
    };
    let method = parts.method.as_str();
    match APP_ROUTES.iter().find(|(m, template, _)| *m == method && route_matches(template, path)) {
        None => {
            Err(refuse("app_route_not_allowed", "an app's token cannot be used here; this is for the store's staff"))
        }
        Some((_, _, needed)) if grant.data_level < *needed => Err(refuse(
            "app_data_level",
            "this app was not granted the customer data level (2: names and contact details) this needs",
        )),
        Some(_) => Ok(()),
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
    /// The store admits its admin only from listed addresses, and this is not one.
    AddressNotAllowed {
        api: bool,
    },
    /// A security setting of the store (its admin allow-list) cannot be read: refused, not ignored.
    SettingUnreadable {
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
            AccessRejection::AddressNotAllowed { api } => (
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "address_not_allowed",
                    "this store's admin only accepts requests from the addresses on its allow-list",
                ),
                api,
            ),
            AccessRejection::SettingUnreadable { api } => (
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "security_setting_unreadable",
                    "this store's admin allow-list cannot be read, so its admin is closed until the platform operator \
                     repairs it",
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
        // Established already by the upload gate ([`admit_upload`]) for this very request.
        if let Some(access) = parts.extensions.get::<StaffAccess>() {
            return Ok(access.clone());
        }
        let api = is_api_path(parts.uri.path());
        let params = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| AccessRejection::NotFound { api })?;
        let key = params.get("store").ok_or(AccessRejection::NotFound { api })?;
        if let Some(token) = bearer(&parts.headers).filter(|t| t.starts_with("pal_st_")) {
            return token_access(parts, state, token, key).await;
        }
        let signed = SignedIn::from_request_parts(parts, state).await.map_err(AccessRejection::Session)?;
        let store = crate::routes::resolve_store(state, key).await.map_err(|_| AccessRejection::NotFound { api })?;
        let membership = tenancy::membership(&state.db, signed.account.id, store)
            .await
            .map_err(|e| AccessRejection::Error(e.into(), api))?
            .ok_or(AccessRejection::NotFound { api })?;
        let mfa_grace_until = mfa_gate(parts, state, &membership, signed.account.id).await?;
        allowlisted(parts, state, &membership).await?;
        Ok(StaffAccess {
            account: signed.account,
            session: Some(signed.session),
            membership,
            mfa_grace_until,
            app: None,
            token_id: None,
            api,
        })
    }
}

/// The permission an upload route's handler asks for (`None` for every other route), asked before the body is read:
/// a member without it would otherwise still make the server read tens of MiB. A test holds it equal to the route
/// tables' declarations (`tests/it/admin.rs`), so the two cannot drift apart.
#[must_use]
pub fn upload_permission(method: &axum::http::Method, path: &str) -> Option<Permission> {
    use crate::http::layers::{is_archive_upload, is_product_import, is_upload, is_verification_upload};
    if is_archive_upload(method, path) {
        Some(Permission::CustomerData)
    } else if is_verification_upload(method, path) {
        Some(Permission::Payouts)
    } else if is_product_import(method, path) || is_upload(method, path) {
        Some(Permission::Products)
    } else {
        None
    }
}

/// The upload routes take bodies far above the default limit, and the CSRF step and the firewall read a body
/// before any handler runs: on those routes the member and the route's permission are established first, from
/// the headers alone, so a request that is not an entitled member's (no session, another store, outside the
/// allow-list, without the permission) is answered before its body is read. The access
/// found is kept in the request for the handler's own extractor (one check, one audit event for a token).
pub async fn admit_upload(
    state: &AppState,
    req: axum::extract::Request,
) -> Result<axum::extract::Request, Box<Response>> {
    let (method, path) = (req.method(), req.uri().path());
    let Some(permission) = upload_permission(method, path) else { return Ok(req) };
    let api = is_api_path(path);
    let (mut parts, body) = req.into_parts();
    // A bearer that is not a store token is refused, never replaced by the session cookie beside it (the CSRF
    // step lets requests with an Authorization header through on the API).
    if parts.headers.contains_key(axum::http::header::AUTHORIZATION)
        && !bearer(&parts.headers).is_some_and(|t| t.starts_with("pal_st_"))
    {
        let e = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", "the API token is not valid");
        return Err(Box::new(AccessRejection::Error(e, api).into_response()));
    }
    let access = match StaffAccess::from_request_parts(&mut parts, state).await {
        Ok(access) => access,
        Err(refused) => return Err(Box::new(refused.into_response())),
    };
    if let Err(refused) = access.require(permission) {
        return Err(Box::new(refused.into_response()));
    }
    parts.extensions.insert(access);
    Ok(axum::extract::Request::from_parts(parts, body))
}

/// The store's MFA requirement for this member, now. Sessions and the member's API tokens pass the same gate: a
/// member shut out until they set up MFA is shut out whichever way they come. `Some(until)` while in grace.
async fn mfa_gate(
    parts: &Parts,
    state: &AppState,
    membership: &Membership,
    account: palisade_core::AccountId,
) -> Result<Option<Timestamp>, AccessRejection> {
    let api = is_api_path(parts.uri.path());
    let pol = policy::get(&state.db, &membership.scope).await.map_err(|e| AccessRejection::Error(e.into(), api))?;
    let has_mfa = state.identity.has_mfa(account).await.map_err(|e| AccessRejection::Error(e.into(), api))?;
    let mfa = if has_mfa { policy::Mfa::SetUp } else { policy::Mfa::Missing };
    match policy::gate(&pol, mfa, state.db.now()) {
        Gate::Open => Ok(None),
        Gate::Grace { until } => Ok(Some(until)),
        Gate::EnrolOnly => Err(AccessRejection::EnrolMfa { api }),
    }
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// Access through a store API token: the token's store only, its scopes within its creator's rights, and every
/// use audited.
async fn token_access(
    parts: &Parts,
    state: &AppState,
    token: &str,
    store_key: &str,
) -> Result<StaffAccess, AccessRejection> {
    let api = is_api_path(parts.uri.path());
    let unauthenticated = || {
        AccessRejection::Error(
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "the API token is not valid (wrong, expired or revoked)",
            ),
            api,
        )
    };
    let err = |e: palisade_store::StoreError| AccessRejection::Error(e.into(), api);
    let ip = crate::http::client::ClientAddr::of(state, parts).text();
    let token = match tokens::authenticate_store(&state.db, token, ip.as_deref()).await.map_err(err)? {
        Ok(t) => t,
        Err(reason) => {
            tracing::info!(?reason, "store API token refused");
            return Err(unauthenticated());
        }
    };
    let store = crate::routes::resolve_store(state, store_key).await.map_err(|_| AccessRejection::NotFound { api })?;
    if store != token.store_id {
        return Err(AccessRejection::NotFound { api });
    }
    if let Some(grant) = &token.app {
        app_route_allowed(parts, grant)?;
    }
    let membership =
        tenancy::membership_for_token(&state.db, &token).await.map_err(err)?.ok_or_else(unauthenticated)?;
    let account = tenancy::get_account(&state.db, token.created_by).await.map_err(err)?;
    // A token acts for its creator, so it is held to everything their session would be: a disabled account's
    // tokens die with it, and the store's MFA requirement shuts them out as it shuts the person out.
    if account.disabled {
        tracing::info!(token.id = %token.id, "store API token refused: its creator's account is disabled");
        return Err(unauthenticated());
    }
    let mfa_grace_until = mfa_gate(parts, state, &membership, account.id).await?;
    let target = format!("token:{}", token.id);
    let details = serde_json::json!({"method": parts.method.as_str(), "path": parts.uri.path(), "ip": ip});
    audit::record_store_now(
        &state.db,
        &membership.scope,
        audit::NewEvent::new("api_token.used", &target).details(details),
    )
    .await
    .map_err(err)?;
    allowlisted(parts, state, &membership).await?;
    Ok(StaffAccess {
        account,
        session: None,
        membership,
        mfa_grace_until,
        app: token.app,
        token_id: Some(token.id),
        api,
    })
}

/// Refuses the request if the store has an admin allow-list and the client's address is not on it.
async fn allowlisted(parts: &Parts, state: &AppState, membership: &Membership) -> Result<(), AccessRejection> {
    let api = is_api_path(parts.uri.path());
    // Fail closed: an allow-list that cannot be read (or holds an entry that is not a network) is not "no
    // allow-list" — the admin is refused, visibly, and the cause logged.
    let unreadable = |reason: &dyn std::fmt::Display| {
        tracing::error!(store.id = %membership.scope.store_id(), error = %reason, "admin allow-list unreadable; admin refused");
        AccessRejection::SettingUnreadable { api }
    };
    let fw = match palisade_store::firewall::get(&state.db, &membership.scope).await {
        Ok(fw) => fw,
        Err(e @ palisade_store::StoreError::Corrupt(_)) => return Err(unreadable(&e)),
        Err(e) => return Err(AccessRejection::Error(e.into(), api)),
    };
    if fw.admin_allowlist.is_empty() {
        return Ok(());
    }
    let mut nets = Vec::with_capacity(fw.admin_allowlist.len());
    for entry in &fw.admin_allowlist {
        nets.push(entry.parse::<ipnet::IpNet>().map_err(|e| unreadable(&format!("entry `{entry}`: {e}")))?);
    }
    let ip = crate::http::client::ClientAddr::of(state, parts).0;
    let allowed = ip.is_some_and(|ip| nets.iter().any(|net| net.contains(&ip)));
    if allowed { Ok(()) } else { Err(AccessRejection::AddressNotAllowed { api }) }
}

#[cfg(test)]
mod tests {
    use super::route_matches;

    #[test]
    fn an_app_route_matches_its_own_instances_only() {
        let t = "/api/v1/admin/stores/{store}/products/{product}/images";
        assert!(route_matches(t, "/api/v1/admin/stores/s1/products/p1/images"));
        for other in [
            "/api/v1/admin/stores/s1/products/p1",
            "/api/v1/admin/stores/s1/products/p1/images/x",
            "/api/v1/admin/stores//products/p1/images",
            "/api/v1/admin/stores/s1/tokens/p1/images",
            "/admin/stores/s1/products/p1/images",
            "/api/v1/admin/stores/s1/products/p1/images/",
        ] {
            assert!(!route_matches(t, other), "{other}");
        }
    }
}
