//! The JSON API's one declaration per route. Each `/api` handler carries `#[utoipa::path]` (method, path, body,
//! responses, security and its `x-permission`), and [`api_router`] builds the `/api` router from those declarations
//! with `utoipa_axum::routes!`. The router, `/api/openapi.json` and the permission walk in the tests therefore read
//! the same declaration and cannot drift: a handler without one cannot be routed here, and the pages router
//! refuses to answer `/api` paths at all ([`refuse_api_paths`]).

use std::sync::LazyLock;

use axum::Json;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::ApiError;
use crate::state::AppState;

/// The operation extension naming who may call it: one of the [`access`] levels or a permission key
/// (`palisade_store::permissions::Permission::key`), which also implies store membership.
pub const PERMISSION_EXTENSION: &str = "x-permission";

/// Values of [`PERMISSION_EXTENSION`] other than a permission key.
pub mod access {
    /// Anyone, signed in or not.
    pub const PUBLIC: &str = "public";
    /// Any session, including one whose second factor is still pending.
    pub const SESSION: &str = "session";
    /// A fully signed-in account (second factor passed).
    pub const SIGNED_IN: &str = "signed-in";
    /// A platform operator's API token.
    pub const OPERATOR: &str = "operator";
    /// Any member of the store (session or store token), whatever their permissions.
    pub const MEMBER: &str = "member";
    /// An installed app's own token only (its renewal), never a person's session or a staff token.
    pub const APP: &str = "app";
    /// Every level, for checks that a declared value means something.
    pub const ALL: [&str; 6] = [PUBLIC, SESSION, SIGNED_IN, OPERATOR, MEMBER, APP];
}

/// The error envelope every `/api` refusal uses (`http::error::ApiError`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorEnvelope {
    pub error: ErrorDetail,
}

/// A stable machine-readable code and a human message (a 5xx message stays generic).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    #[schema(example = "not_found")]
    pub code: String,
    pub message: String,
}

/// The document's fixed parts; the paths come from the handlers' declarations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Palisade API",
        description = "Marketplace, account and store-admin API. Errors: {\"error\": {\"code\", \"message\"}} with a \
                       stable code. Each operation's `x-permission` says who may call it: public, session, signed-in, \
                       operator, member (any member of the store) or a store permission key."
    ),
    components(schemas(ErrorEnvelope, ErrorDetail)),
    modifiers(&SecuritySchemes)
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut store = Http::new(HttpAuthScheme::Bearer);
        store.description = Some("a store API token (pal_st_…)".into());
        components.add_security_scheme("storeToken", SecurityScheme::Http(store));
        let mut operator = Http::new(HttpAuthScheme::Bearer);
        operator.description = Some("a platform operator token (pal_op_…)".into());
        components.add_security_scheme("operatorToken", SecurityScheme::Http(operator));
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::new("palisade_session"),
            )),
        );
    }
}

/// Every `/api` route, built only from `#[utoipa::path]` declarations.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(openapi))
        .merge(super::commerce::api())
        .merge(crate::routes::admin::firewall_api::api())
        .merge(crate::routes::console::platform_api::api())
        .merge(crate::routes::account::sign_in::api())
        .merge(crate::routes::account::passkeys::api())
        .merge(crate::routes::admin::security_center::api())
        .merge(crate::routes::admin::staff_api::api())
        .merge(crate::routes::admin::trust_api::api())
        .merge(crate::routes::account::sessions_api::api())
}

/// The OpenAPI 3.1 document served at `/api/openapi.json`.
#[must_use]
pub fn document() -> Document {
    let (_, mut doc) = api_router().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    add_path_parameters(&mut doc);
    add_security_and_errors(&mut doc);
    doc
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// The `x-permission` an operation declares, if any.
#[must_use]
pub fn permission_of(op: &Operation) -> Option<&str> {
    op.extensions.as_ref().and_then(|e| e.get(PERMISSION_EXTENSION)).and_then(serde_json::Value::as_str)
}

/// The security requirements and the error responses follow from the declared `x-permission` and from the one
/// error envelope, so each declaration states them once instead of repeating them.
fn add_security_and_errors(doc: &mut Document) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            let schemes: &[&str] = match permission_of(op) {
                Some(access::PUBLIC) | None => &[],
                Some(access::SESSION | access::SIGNED_IN) => &["session"],
                Some(access::OPERATOR) => &["operatorToken"],
                // A store member: a permission key or `member`.
                Some(_) => &["storeToken", "session"],
            };
            if !schemes.is_empty() {
                op.security =
                    Some(schemes.iter().map(|s| SecurityRequirement::new(*s, Vec::<String>::new())).collect());
            }
            for (range, description) in [
                ("4XX", "refused: the envelope's code says why (e.g. unauthenticated, not_found, forbidden, invalid)"),
                ("5XX", "failed or unavailable: a generic message, the cause is logged"),
            ] {
                op.responses.responses.entry(range.to_owned()).or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build(),
                        )
                        .build()
                        .into()
                });
            }
        }
    }
}

static DOCUMENT: LazyLock<serde_json::Value> =
    LazyLock::new(|| serde_json::to_value(document()).unwrap_or(serde_json::Value::Null));

/// Every template segment (`{store}`) must be a declared path parameter (OpenAPI requires it). The extractors
/// that read them (`StaffAccess` for `{store}`, `Path` tuples) do not declare themselves, so the document adds
/// one per segment that an operation has not declared.
fn add_path_parameters(doc: &mut Document) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let names: Vec<&str> =
            path.split('/').filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        for op in operations(item) {
            let params = op.parameters.get_or_insert_with(Vec::new);
            for name in &names {
                let declared = params
                    .iter()
                    .any(|p| matches!(p, RefOr::T(p) if p.name == *name && p.parameter_in == ParameterIn::Path));
                if !declared {
                    params.push(RefOr::T(path_parameter(name)));
                }
            }
        }
    }
}

fn path_parameter(name: &str) -> Parameter {
    let description = match name {
        "store" => "the store's id or slug",
        "slug" => "the product's slug",
        "name" => "the template's file name (one of the editable templates)",
        "account" => "the member's account id",
        "invitation" => "the invitation's id (as listed)",
        "token" => "the API token's id (as listed)",
        "session" => "the session's id (as listed)",
        other => other,
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(utoipa::openapi::schema::Object::with_type(utoipa::openapi::schema::Type::String)))
        .build()
}

/// The OpenAPI document of this API.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "meta",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")),
    extensions(("x-permission" = json!(access::PUBLIC)))
)]
async fn openapi() -> Json<serde_json::Value> {
    Json(DOCUMENT.clone())
}

/// Route layer for every router except the API's: an `/api` path there was added without a declaration, so it is
/// refused (404, logged) instead of being served undocumented and unchecked by the permission walk.
pub async fn refuse_api_paths(req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/") {
        tracing::error!(
            http.path = req.uri().path(),
            "an /api route is declared outside api::declarations::api_router; declare it with #[utoipa::path]"
        );
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint").into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    /// An `/api` path routed by hand behind the pages' layer is never served.
    #[tokio::test]
    async fn an_undeclared_api_route_in_a_pages_router_is_refused() {
        let undeclared = ["/api", "/v1/undeclared"].concat();
        let pages: Router = Router::new()
            .route(&undeclared, get(|| async { "served" }))
            .route("/account", get(|| async { "page" }))
            .route_layer(axum::middleware::from_fn(refuse_api_paths));
        let api = pages.clone().oneshot(Request::get("/api/v1/undeclared").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(api.status(), StatusCode::NOT_FOUND);
        let page = pages.oneshot(Request::get("/account").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
    }

    /// The only place `/api` routes are written is a `#[utoipa::path]`: no router in this crate adds one by hand.
    #[test]
    fn no_router_declares_an_api_path_by_hand() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![dir];
        let mut files = 0;
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files += 1;
                    let text = std::fs::read_to_string(&path).unwrap().replace([' ', '\n'], "");
                    for bad in [".route(\"/api", ".route_service(\"/api", ".nest(\"/api", ".nest_service(\"/api"] {
                        assert!(!text.contains(bad), "{} adds an /api route without a declaration", path.display());
                    }
                }
            }
        }
        assert!(files > 20);
    }

    /// Every operation of the document declares a known `x-permission`, and permission keys only on store routes.
    #[test]
    fn every_operation_declares_a_known_permission() {
        let mut doc = document();
        let mut count = 0;
        for (path, item) in doc.paths.paths.iter_mut() {
            for op in operations(item) {
                let declared = permission_of(op).unwrap_or_else(|| panic!("{path}: no x-permission"));
                let store_level = [access::MEMBER, access::APP].contains(&declared)
                    || palisade_store::permissions::Permission::parse(declared).is_some();
                assert!(store_level || access::ALL.contains(&declared), "{path}: unknown `{declared}`");
                assert!(!store_level || path.contains("/stores/{store}"), "{path}: store permission without a store");
                count += 1;
            }
        }
        assert!(count >= 50, "{count} operations");
    }

    /// The main answers are described, not just "some JSON": the catalog's, orders', images' and payouts' types.
    #[test]
    fn the_main_responses_have_schemas() {
        let doc = serde_json::to_value(document()).unwrap();
        for name in ["Product", "Variant", "Order", "OrderStatus", "Money", "Image", "Payout", "SearchPage", "Error"] {
            assert!(doc["components"]["schemas"][name].is_object(), "schema {name}");
        }
        let product = &doc["paths"]["/api/v1/admin/stores/{store}/products"]["post"];
        assert_eq!(
            product["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ProductIn"
        );
        assert_eq!(
            product["responses"]["201"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Product"
        );
        assert_eq!(
            doc["components"]["schemas"]["Money"]["properties"]["currency"]["$ref"],
            "#/components/schemas/Currency"
        );
        assert_eq!(doc["components"]["schemas"]["Currency"]["type"], "string");
    }
}
