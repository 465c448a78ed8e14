//! A store's staff, invitations and API tokens as JSON (`/api/v1/admin/stores/{store}/staff…`, `…/invitations…`,
//! `…/tokens…`): the Security Center's staff and token sections for scripts, through the same functions
//! ([`crate::services::staff`], [`crate::services::api_tokens`]), so both enforce the same permissions (staff
//! management; security settings for tokens), the same store rules (only owners touch owners, nobody gives more
//! than they hold, the last owner stays) and the same recent-password rule for changes (403
//! `step_up_required`; `interactive_only` for an API token).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::{AccountId, TokenId};
use palisade_store::permissions::Permission;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::http::id_path::IdPath;
use crate::routes::api::commerce::ApiErr;
use crate::services::api_tokens::{self, ApiToken, CreatedToken, NewToken};
use crate::services::staff::{self, Invitation, StaffMember};
use crate::services::{Refusal, invalid, permitted};
use crate::state::AppState;

/// The staff, invitation and token endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_staff))
        .routes(routes!(set_role))
        .routes(routes!(set_permissions))
        .routes(routes!(remove_member))
        .routes(routes!(list_invitations, invite))
        .routes(routes!(revoke_invitation))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(renew_app_token))
}

impl From<Refusal> for ApiErr {
    fn from(r: Refusal) -> Self {
        match r.into_api() {
            Ok(access) => ApiErr::Access(access),
            Err(e) => ApiErr::Api(e),
        }
    }
}

type ApiResult<T> = Result<T, ApiErr>;

/// The body, once the caller's permission has been checked (a refusal comes before any complaint about it).
fn body<T>(json: Result<crate::http::json::Body<T>, ApiError>) -> Result<T, ApiErr> {
    json.map(|crate::http::json::Body(v)| v).map_err(ApiErr::Api)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/staff",
    tag = "staff",
    summary = "The store's staff: role, permissions, MFA and last activity",
    responses((status = 200, description = "the members", body = [StaffMember])),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn list_staff(State(state): State<AppState>, access: StaffAccess) -> ApiResult<Json<Vec<StaffMember>>> {
    Ok(Json(staff::list(&state, &access).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    /// owner, admin or staff. Only an owner gives or takes the owner role; nobody raises their own.
    #[schema(example = "admin")]
    role: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/staff/{account}/role",
    tag = "staff",
    summary = "Change a member's role (a recent password; only owners touch owners; the last owner stays)",
    request_body = RoleBody,
    responses((status = 200, description = "the member as changed", body = StaffMember)),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn set_role(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
    json: Result<crate::http::json::Body<RoleBody>, ApiError>,
) -> ApiResult<Json<StaffMember>> {
    permitted(&access, Permission::StaffManagement)?;
    let role = staff::parse_role(&body(json)?.role)?;
    Ok(Json(staff::set_role(&state, &access, account, role).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PermissionsBody {
    /// The explicit grants on top of the role's defaults (permission keys); replaces the previous grants.
    #[schema(example = json!(["refunds"]))]
    permissions: Vec<String>,
}

#[utoipa::path(
    put,
    path = "/api/v1/admin/stores/{store}/staff/{account}/permissions",
    tag = "staff",
    summary = "Replace a member's explicit grants (a recent password; nobody gives what they do not hold)",
    request_body = PermissionsBody,
    responses((status = 200, description = "the member as changed", body = StaffMember)),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn set_permissions(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
    json: Result<crate::http::json::Body<PermissionsBody>, ApiError>,
) -> ApiResult<Json<StaffMember>> {
    permitted(&access, Permission::StaffManagement)?;
    let grants = parse_permissions(&body(json)?.permissions)?;
    Ok(Json(staff::set_grants(&state, &access, account, &grants).await?))
}

/// Permission keys from a JSON body: an unknown key is an error here (a page's checkboxes cannot send one).
fn parse_permissions(keys: &[String]) -> Result<Vec<Permission>, ApiErr> {
    keys.iter()
        .map(|k| Permission::parse(k).ok_or_else(|| ApiErr::Api(invalid(format!("unknown permission `{k}`")))))
        .collect()
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/stores/{store}/staff/{account}",
    tag = "staff",
    summary = "Remove a member (a recent password; only owners remove owners; the last owner stays)",
    responses((status = 204, description = "removed; signed out everywhere if they belong to no other store")),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn remove_member(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, account)): IdPath<(String, AccountId)>,
) -> ApiResult<StatusCode> {
    permitted(&access, Permission::StaffManagement)?;
    staff::remove(&state, &access, account).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/invitations",
    tag = "staff",
    summary = "The store's pending invitations (their links are only in the invitees' mail)",
    responses((status = 200, description = "the pending invitations", body = [Invitation])),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn list_invitations(State(state): State<AppState>, access: StaffAccess) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(staff::invitations(&state, &access).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    #[schema(example = "sam@example.com")]
    email: String,
    /// owner, admin or staff (only owners invite owners or admins).
    #[schema(example = "staff")]
    role: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/invitations",
    tag = "staff",
    summary = "Invite someone by email (a recent password); the single-use link is mailed to them",
    request_body = InviteBody,
    responses((status = 201, description = "the pending invitation", body = Invitation)),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn invite(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<InviteBody>, ApiError>,
) -> ApiResult<Response> {
    permitted(&access, Permission::StaffManagement)?;
    let b = body(json)?;
    let sent = staff::invite(&state, &access, &b.email, &b.role).await?;
    Ok((StatusCode::CREATED, Json(sent)).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/stores/{store}/invitations/{invitation}",
    tag = "staff",
    summary = "Withdraw a pending invitation (its link stops working)",
    responses((status = 204, description = "withdrawn")),
    extensions(("x-permission" = json!(Permission::StaffManagement.key())))
)]
async fn revoke_invitation(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, invitation)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    staff::revoke_invitation(&state, &access, &invitation).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/tokens",
    tag = "staff",
    summary = "The store's active API tokens (never their secrets)",
    responses((status = 200, description = "the tokens", body = [ApiToken])),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn list_tokens(State(state): State<AppState>, access: StaffAccess) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(api_tokens::list(&state, &access).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[schema(example = "Accounting sync")]
    name: String,
    /// Permission keys, each one the creator holds.
    #[schema(example = json!(["orders"]))]
    scopes: Vec<String>,
    /// Lifetime in days (90 by default, at most 365; 0: never expires, not recommended).
    #[serde(default)]
    expires_days: Option<u64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/tokens",
    tag = "staff",
    summary = "Create an API token (a recent password); its secret is in this answer and never again",
    request_body = TokenBody,
    responses((status = 201, description = "the token and its secret, shown once", body = CreatedToken)),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn create_token(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<TokenBody>, ApiError>,
) -> ApiResult<Response> {
    permitted(&access, Permission::SecuritySettings)?;
    let b = body(json)?;
    let new = NewToken { name: b.name, scopes: parse_permissions(&b.scopes)?, expires_days: b.expires_days };
    let (token, secret) = api_tokens::create(&state, &access, new).await?;
    let mut res = (StatusCode::CREATED, Json(api_tokens::created(token, &secret))).into_response();
    // The secret must not be kept by any cache on the way.
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/stores/{store}/tokens/{token}",
    tag = "staff",
    summary = "Revoke an API token",
    responses((status = 204, description = "revoked")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn revoke_token(
    State(state): State<AppState>,
    access: StaffAccess,
    IdPath((_, token)): IdPath<(String, TokenId)>,
) -> ApiResult<StatusCode> {
    api_tokens::revoke(&state, &access, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/app-token/renew",
    tag = "staff",
    summary = "An installed app renews its token with it: a new secret for 30 days, the presented one revoked now",
    responses(
        (status = 201, description = "the new token and its secret, shown once", body = CreatedToken),
        (status = 403, description = "not an app's token"),
        (status = 409, description = "this token was already renewed or revoked"),
    ),
    extensions(("x-permission" = json!(crate::routes::api::declarations::access::APP)))
)]
async fn renew_app_token(State(state): State<AppState>, access: StaffAccess) -> ApiResult<Response> {
    let (Some(id), Some(app)) = (access.token_id, access.app.as_ref()) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_an_app_token",
            "only an installed app renews its token, with that token; staff make tokens in the Security Center",
        )
        .into());
    };
    let presented = palisade_store::tokens::app::Presented {
        id,
        store_id: access.membership.scope.store_id(),
        acts_for: access.account.id,
        app: Some(app),
    };
    let (info, secret) = palisade_store::tokens::app::renew(&state.db, presented).await.map_err(ApiError::from)?;
    let mut res = (StatusCode::CREATED, Json(api_tokens::created(info.into(), &secret))).into_response();
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}
