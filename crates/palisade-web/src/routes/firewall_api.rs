//! The store's firewall layers as JSON (`/api/v1/admin/stores/{store}/firewall…`), for merchants who manage their
//! stores with scripts: the same custom rules, test-run and event log as the Security Center, with the same
//! permission (security settings) and the same checks. The admin allow-list is read-only here: changing it needs
//! a person who re-entered their password (Security Center), which an API token cannot do.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use palisade_store::permissions::Permission;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::routes::commerce_api::{ApiErr, Endpoint};
use crate::state::AppState;

fn s_rule() -> Value {
    json!({"type": "object", "required": ["source"], "properties": {
        "source": {"type": "string", "example": "block if path starts_with \"/s/tea/wp-\"",
                   "description": "A rule in the documented rule language (docs/shield.md)"}}})
}

/// Every firewall API endpoint (listed in `/api/openapi.json`).
pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "GET",
        path: "/api/v1/admin/stores/{store}/firewall",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "The store's firewall layers: admin allow-list, under-attack mode, custom rules",
        body: None,
    },
    Endpoint {
        method: "GET",
        path: "/api/v1/admin/stores/{store}/firewall/events",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Recent firewall decisions on this store's routes (limit, at most 200)",
        body: None,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/admin/stores/{store}/firewall/rules",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Add a custom rule (added disabled: test-run it, then enable it)",
        body: Some(s_rule),
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/admin/stores/{store}/firewall/rules/test",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Run a rule over this node's recent requests to the store without enabling it",
        body: Some(s_rule),
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/admin/stores/{store}/firewall/rules/{rule}/enable",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Enable a custom rule",
        body: None,
    },
    Endpoint {
        method: "POST",
        path: "/api/v1/admin/stores/{store}/firewall/rules/{rule}/disable",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Disable a custom rule",
        body: None,
    },
    Endpoint {
        method: "DELETE",
        path: "/api/v1/admin/stores/{store}/firewall/rules/{rule}",
        staff: true,
        permission: Some(Permission::SecuritySettings),
        summary: "Delete a custom rule",
        body: None,
    },
];

/// The same endpoints as (method, path, permission), for the permission walk.
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/api/v1/admin/stores/{store}/firewall", Some(Permission::SecuritySettings)),
    ("GET", "/api/v1/admin/stores/{store}/firewall/events", Some(Permission::SecuritySettings)),
    ("POST", "/api/v1/admin/stores/{store}/firewall/rules", Some(Permission::SecuritySettings)),
    ("POST", "/api/v1/admin/stores/{store}/firewall/rules/test", Some(Permission::SecuritySettings)),
    ("POST", "/api/v1/admin/stores/{store}/firewall/rules/{rule}/enable", Some(Permission::SecuritySettings)),
    ("POST", "/api/v1/admin/stores/{store}/firewall/rules/{rule}/disable", Some(Permission::SecuritySettings)),
    ("DELETE", "/api/v1/admin/stores/{store}/firewall/rules/{rule}", Some(Permission::SecuritySettings)),
];

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/stores/{store}/firewall", get(overview))
        .route("/api/v1/admin/stores/{store}/firewall/events", get(events))
        .route("/api/v1/admin/stores/{store}/firewall/rules", post(add_rule))
        .route("/api/v1/admin/stores/{store}/firewall/rules/test", post(test_rule))
        .route("/api/v1/admin/stores/{store}/firewall/rules/{rule}/{op}", post(change_rule))
        .route("/api/v1/admin/stores/{store}/firewall/rules/{rule}", axum::routing::delete(delete_rule))
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

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    limit: Option<i64>,
}

async fn events(State(state): State<AppState>, access: StaffAccess, Query(q): Query<EventsQuery>) -> ApiResult {
    need(&access)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let events = crate::http::shield::shown(
        palisade_store::shield_events::recent_for_store(&state.db, &access.membership.scope, limit).await?,
    );
    Ok(Json(json!({"events": events})).into_response())
}

#[derive(Debug, Deserialize)]
struct RuleBody {
    source: String,
}

fn parse_rule(state: &AppState, source: &str) -> Result<palisade_shield::rules::Rule, ApiErr> {
    let rule = palisade_shield::rules::parse(source.trim())
        .map_err(|e| invalid("invalid_rule", format!("the rule does not parse: {e}")))?;
    if rule.uses_country() && !state.geoip.available() {
        return Err(invalid(
            "geoip_unavailable",
            "country rules are unavailable: the platform operator has not configured a GeoIP database (--geoip-db)",
        ));
    }
    Ok(rule)
}

async fn add_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<RuleBody>, ApiError>,
) -> ApiResult {
    need(&access)?;
    let rule = parse_rule(&state, &body(json)?.source)?;
    let stored = palisade_store::firewall::add_rule(&state.db, &access.membership.scope, rule.source()).await?;
    state.store_rules.invalidate();
    Ok((StatusCode::CREATED, Json(stored)).into_response())
}

async fn test_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    json: Result<crate::http::json::Body<RuleBody>, ApiError>,
) -> ApiResult {
    need(&access)?;
    let rule = parse_rule(&state, &body(json)?.source)?;
    let (hits, total, examples) = state.store_rules.test_run(access.membership.scope.store_id(), &rule);
    Ok(Json(json!({"source": rule.source(), "hits": hits, "of_recent_requests": total, "examples": examples}))
        .into_response())
}

async fn change_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, rule, op)): Path<(String, String, String)>,
) -> ApiResult {
    need(&access)?;
    let enabled = match op.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return Err(ApiErr::Api(ApiError::not_found("action"))),
    };
    let scope = &access.membership.scope;
    palisade_store::firewall::change_rule(&state.db, scope, &rule, enabled, false).await?;
    state.store_rules.invalidate();
    let rules = palisade_store::firewall::rules(&state.db, scope).await?;
    let changed = rules.into_iter().find(|r| r.id == rule).ok_or_else(|| ApiErr::Api(ApiError::not_found("rule")))?;
    Ok(Json(changed).into_response())
}

async fn delete_rule(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, rule)): Path<(String, String)>,
) -> ApiResult {
    need(&access)?;
    palisade_store::firewall::change_rule(&state.db, &access.membership.scope, &rule, false, true).await?;
    state.store_rules.invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}
