//! The store's firewall layers as JSON (`/api/v1/admin/stores/{store}/firewall…`), for merchants who manage their
//! stores with scripts: the same custom rules, test-run and event log as the Security Center, with the same
//! permission (security settings) and the same checks. The admin allow-list is read-only here: changing it needs
//! a person who re-entered their password (Security Center), which an API token cannot do.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::routes::api::commerce::ApiErr;
use crate::services::firewall_rules::{self, Change};
use crate::state::AppState;

/// The firewall endpoints, from their declarations (see [`crate::routes::api::declarations`]).
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(overview))
        .routes(routes!(events))
        .routes(routes!(add_rule))
        .routes(routes!(test_rule))
        .routes(routes!(enable_rule))
        .routes(routes!(disable_rule))
        .routes(routes!(delete_rule))
}

type ApiResult = Result<Response, ApiErr>;

fn need(access: &StaffAccess) -> Result<(), ApiErr> {
    access.require(Permission::SecuritySettings).map_err(ApiErr::Access)
}

fn invalid(code: &'static str, message: impl Into<String>) -> ApiErr {
    ApiErr::Api(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message))
}

fn body<T>(json: Result<crate::http::json::Body<T>, ApiError>) -> Result<T, ApiErr> {
    json.map(|crate::http::json::Body(v)| v).map_err(|e| {
        // Not JSON at all stays the 422 `invalid_json` this API has always answered.
        if e.status == StatusCode::UNSUPPORTED_MEDIA_TYPE { invalid("invalid_json", e.message) } else { ApiErr::Api(e) }
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/firewall",
    tag = "firewall",
    summary = "The store's firewall layers: admin allow-list, under-attack mode, WAF, custom rules",
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn overview(State(state): State<AppState>, access: StaffAccess) -> ApiResult {
    need(&access)?;
    let scope = &access.membership.scope;
    let firewall = palisade_store::firewall::get(&state.db, scope).await?;
    let rules = palisade_store::firewall::rules(&state.db, scope).await?;
    let now = state.db.now();
    Ok(Json(json!({
        "admin_allowlist": firewall.admin_allowlist,
        "attack_mode_until": firewall.attack_mode_until.filter(|t| *t > now),
        "geoip_available": state.geoip.available(),
        // What applies to the store's paths: its own choice, else the platform's (read-only here: weakening
        // it needs a recent password in the Security Center).
        "waf": {
            "mode": firewall.waf_mode.as_deref().unwrap_or(state.shield.config.policy.mode.as_str()),
            "paranoia": firewall.waf_paranoia.unwrap_or(state.shield.config.policy.paranoia),
            "own_setting": firewall.waf_mode.is_some() || firewall.waf_paranoia.is_some(),
        },
        "rules": rules,
    }))
    .into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// How many (1–200, 50 by default).
    #[serde(default)]
    limit: Option<i64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/stores/{store}/firewall/events",
    tag = "firewall",
    summary = "Recent firewall decisions on this store's routes",
    params(EventsQuery),
    responses((status = 200, description = "success", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn events(State(state): State<AppState>, access: StaffAccess, Query(q): Query<EventsQuery>) -> ApiResult {
    need(&access)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let events = crate::edge::shield::shown(
        palisade_store::shield_events::recent_for_store(&state.db, &access.membership.scope, limit).await?,
    );
    Ok(Json(json!({"events": events})).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
struct RuleBody {
    /// A rule in the documented rule language (docs/shield.md).
    #[schema(example = "block if path starts_with \"/s/tea/wp-\"")]
    source: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/firewall/rules",
    tag = "firewall",
    summary = "Add a custom rule (added disabled: test-run it, then enable it)",
    request_body = RuleBody,
    responses((status = 201, description = "the stored rule", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn add_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<RuleBody>, ApiError>,
) -> ApiResult {
    need(&access)?;
    let stored = firewall_rules::add(&state, &access.membership.scope, &body(json)?.source).await?;
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/firewall/rules/test",
    tag = "firewall",
    summary = "Run a rule over this node's recent requests to the store without enabling it",
    request_body = RuleBody,
    responses((status = 200, description = "hits and examples", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn test_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<RuleBody>, ApiError>,
) -> ApiResult {
    need(&access)?;
    let rule = firewall_rules::parse(&state, &body(json)?.source)?;
    let (hits, total, examples) = state.store_rules.test_run(access.membership.scope.store_id(), &rule);
    Ok(Json(json!({"source": rule.source(), "hits": hits, "of_recent_requests": total, "examples": examples}))
        .into_response())
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/firewall/rules/{rule}/enable",
    tag = "firewall",
    summary = "Enable a custom rule",
    responses((status = 200, description = "the rule", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn enable_rule(
    state: State<AppState>,
    access: StaffAccess,
    Path((_, rule)): Path<(String, String)>,
) -> ApiResult {
    change_rule(state, access, &rule, Change::Enable).await
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/stores/{store}/firewall/rules/{rule}/disable",
    tag = "firewall",
    summary = "Disable a custom rule",
    responses((status = 200, description = "the rule", content_type = "application/json")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn disable_rule(
    state: State<AppState>,
    access: StaffAccess,
    Path((_, rule)): Path<(String, String)>,
) -> ApiResult {
    change_rule(state, access, &rule, Change::Disable).await
}

async fn change_rule(State(state): State<AppState>, access: StaffAccess, rule: &str, change: Change) -> ApiResult {
    need(&access)?;
    let scope = &access.membership.scope;
    firewall_rules::change(&state, scope, rule, change).await?;
    let rules = palisade_store::firewall::rules(&state.db, scope).await?;
    let changed = rules.into_iter().find(|r| r.id == rule).ok_or_else(|| ApiErr::Api(ApiError::not_found("rule")))?;
    Ok(Json(changed).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/stores/{store}/firewall/rules/{rule}",
    tag = "firewall",
    summary = "Delete a custom rule",
    responses((status = 204, description = "deleted")),
    extensions(("x-permission" = json!(Permission::SecuritySettings.key())))
)]
async fn delete_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, rule)): Path<(String, String)>,
) -> ApiResult {
    need(&access)?;
    firewall_rules::change(&state, &access.membership.scope, &rule, Change::Delete).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
