//! The merchant's backups page (Security Center → Backups): export now, an export schedule, downloads of kept
//! archives, a restore test, and import (replace) with a preview. Exports hold customers' personal data, so
//! every route needs the customer-data permission; import rewrites the catalog, so it also needs products, and
//! beyond that the permission of every other table the archive changes (security settings, theme), checked by
//! `export::replace` on the diff it writes.
//! Exporting, downloading, scheduling and importing need a recent password entry.

use crate::http::form::Form;
use crate::http::form::FormRejection;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use palisade_backup::export::DEFAULT_WORK_FACTOR;
use palisade_backup::import_rules::ImportContext;
use palisade_backup::store_exports::{self, Schedule, Trigger};
use palisade_backup::{BackupError, export};
use palisade_identity::sessions;
use palisade_store::outbound::OutboundPolicy;
use palisade_store::permissions::Permission;
use palisade_store::{StaffScope, tenancy};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::http::access::StaffAccess;
use crate::http::client::ClientAddr;
use crate::http::notice;
use crate::http::{ApiError, PageError};
use crate::routes::account::sign_in::STEP_UP_WINDOW;
use crate::routes::admin::security_center::AdminError;
use crate::state::AppState;

type PageResult = Result<Response, AdminError>;

/// Every backups route with the permission it needs (preview and import also need products); the permission
/// test walks this list.
pub const ROUTES: &[(&str, &str, Option<Permission>)] = &[
    ("GET", "/admin/stores/{store}/backups", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/export", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/schedule", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/destination", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/upload", Some(Permission::CustomerData)),
    ("GET", "/admin/stores/{store}/backups/{export}/download", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/{export}/restore-test", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/{export}/preview", Some(Permission::CustomerData)),
    ("POST", "/admin/stores/{store}/backups/{export}/import", Some(Permission::CustomerData)),
];

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/stores/{store}/backups", get(page))
        .route("/admin/stores/{store}/backups/export", post(export_now))
        .route("/admin/stores/{store}/backups/schedule", post(set_schedule))
        .route("/admin/stores/{store}/backups/destination", post(set_destination))
        .route(
            "/admin/stores/{store}/backups/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(crate::http::layers::ARCHIVE_UPLOAD_LIMIT)),
        )
        .route("/admin/stores/{store}/backups/{export}/download", get(download))
        .route("/admin/stores/{store}/backups/{export}/restore-test", post(restore_test))
        .route("/admin/stores/{store}/backups/{export}/preview", post(preview))
        .route("/admin/stores/{store}/backups/{export}/import", post(import))
}

/// Where the platform may connect for this store (its bucket): only the operator's flag can widen it.
fn outbound(state: &AppState) -> OutboundPolicy {
    if state.config.exports_allow_private_s3 {
        OutboundPolicy::allow_private_networks()
    } else {
        OutboundPolicy::public_only()
    }
}

fn scope(access: &StaffAccess) -> &StaffScope {
    &access.membership.scope
}

fn base(access: &StaffAccess) -> String {
    format!("/admin/stores/{}", scope(access).store_id())
}

fn invalid(m: impl Into<String>) -> AdminError {
    AdminError::Page(PageError(ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)))
}

fn backup_error(e: BackupError) -> AdminError {
    use axum::http::StatusCode;
    let (status, code) = match &e {
        BackupError::Invalid(_) | BackupError::Archive(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        BackupError::Decrypt { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "wrong_passphrase"),
        BackupError::Store(palisade_store::StoreError::Forbidden(_)) | BackupError::Forbidden { .. } => {
            (StatusCode::FORBIDDEN, "forbidden")
        }
        _ => {
            tracing::error!(error.code = e.code(), "backup operation failed: {e}");
            return AdminError::Page(PageError(ApiError::internal()));
        }
    };
    let message = match &e {
        BackupError::Decrypt { .. } => "the passphrase does not open this archive".to_owned(),
        other => other.to_string(),
    };
    AdminError::Page(PageError(ApiError::new(status, code, message)))
}

/// What an import's row checks need from the request: the importer's address (an imported allow-list must
/// admit it) and whether country rules are available.
fn import_context(state: &AppState, client: ClientAddr) -> ImportContext {
    ImportContext { client: client.0, country_rules: state.geoip.available(), by_operator: false, may_publish: false }
}

/// A recent password entry by a person, or the redirect that asks for it.
fn stepped_up(state: &AppState, access: &StaffAccess) -> Option<Response> {
    let fresh = access.session.as_ref().is_some_and(|s| sessions::is_fresh(s, state.db.now(), STEP_UP_WINDOW));
    (!fresh).then(|| Redirect::to(&format!("/account/reauth?next={}/backups", base(access))).into_response())
}

async fn render(state: &AppState, access: &StaffAccess, template: &str, ctx: serde_json::Value) -> PageResult {
    let store = tenancy::get_store(&state.db, scope(access)).await?;
    let (zone, now) = super::merchant::clock(state, access).await?;
    let mut full = json!({
        "operator": access.account.email,
        "store": {"id": store.id.to_string(), "slug": store.slug, "name": store.name},
        "time_zone": zone,
        "now": now,
        "base": base(access),
        "section": "security",
        "tab": "backups",
        "can": Permission::ALL.iter().filter(|p| access.membership.can(**p)).map(|p| p.key()).collect::<Vec<_>>(),
    });
    if let (Some(f), serde_json::Value::Object(c)) = (full.as_object_mut(), ctx) {
        f.extend(c);
    }
    Ok(Html(state.templates.render(template, full)?).into_response())
}

async fn page(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::CustomerData)?;
    let settings = store_exports::settings(&state.db, scope(&access)).await.map_err(backup_error)?;
    let exports = store_exports::list(&state.db, scope(&access), 30).await.map_err(backup_error)?;
    let now = state.db.now().millis();
    let report = state.registry.evaluate_store(&state.db, &state.facts, scope(&access)).await?.for_merchant();
    let controls: Vec<serde_json::Value> = report
        .areas
        .iter()
        .flat_map(|a| a.merchant.iter())
        .filter(|c| c.control.id.starts_with("store.exports") || c.control.id.starts_with("store.restore"))
        .map(|c| {
            let why = match &c.status {
                palisade_core::matrix::ControlStatus::Met { detail } => detail.clone(),
                palisade_core::matrix::ControlStatus::Unmet { reason, .. }
                | palisade_core::matrix::ControlStatus::NotApplicable { reason }
                | palisade_core::matrix::ControlStatus::Unknown { reason } => reason.clone(),
            };
            json!({"title": c.control.title, "met": c.status.is_met(), "label": c.status.label(), "why": why,
                   "remediation": c.control.remediation})
        })
        .collect();
    render(
        &state,
        &access,
        "merchant_backups.html",
        json!({"settings": settings, "exports": exports, "now": now, "controls": controls,
               "schedules_available": state.export_sealer.is_some(), "min_passphrase": store_exports::MIN_PASSPHRASE,
               "upload_max_mib": store_exports::UPLOAD_MAX_BYTES / (1024 * 1024)}),
    )
    .await
}

#[derive(Deserialize)]
struct PassphraseForm {
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    repeat: String,
}

fn new_passphrase(form: &PassphraseForm) -> Result<SecretString, AdminError> {
    if form.passphrase != form.repeat {
        return Err(invalid("the two passphrases differ"));
    }
    Ok(SecretString::from(form.passphrase.clone()))
}

async fn export_now(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<PassphraseForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = stepped_up(&state, &access) {
        return Ok(r);
    }
    let passphrase = new_passphrase(&form)?;
    let outbound = outbound(&state);
    let done = store_exports::run_export(
        &state.db,
        scope(&access),
        &state.objects,
        passphrase,
        Trigger::Manual,
        DEFAULT_WORK_FACTOR,
        state.export_sealer.as_deref().map(|sealer| store_exports::Delivery { sealer, outbound: &outbound }),
    )
    .await
    .map_err(backup_error)?;
    if done.outcome != "ok" {
        return Err(invalid(format!("the export failed: {}", done.detail)));
    }
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#exports", base(&access)), "export")).into_response())
}

#[derive(Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    repeat: String,
}

async fn set_schedule(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<ScheduleForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = stepped_up(&state, &access) {
        return Ok(r);
    }
    let schedule = Schedule::parse(&form.schedule).map_err(backup_error)?;
    let Some(sealer) = &state.export_sealer else {
        return Err(invalid("scheduled exports are not available on this installation"));
    };
    let passphrase = if form.passphrase.is_empty() {
        None
    } else {
        Some(new_passphrase(&PassphraseForm { passphrase: form.passphrase, repeat: form.repeat })?)
    };
    store_exports::set_schedule(&state.db, scope(&access), sealer, schedule, passphrase).await.map_err(backup_error)?;
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#schedule", base(&access)), "schedule")).into_response())
}

#[derive(Deserialize)]
struct DestinationForm {
    #[serde(default)]
    s3_url: String,
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    secret: String,
}

/// Sets the merchant's own bucket (empty URL: none). Its credentials are the merchant's, sealed; its endpoint must
/// be public HTTPS unless the operator allowed private endpoints.
async fn set_destination(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Form<DestinationForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = stepped_up(&state, &access) {
        return Ok(r);
    }
    let Some(sealer) = &state.export_sealer else {
        return Err(invalid("delivery to a bucket is not available on this installation"));
    };
    let url = form.s3_url.trim();
    let destination = (!url.is_empty()).then(|| (url, form.key_id.as_str(), SecretString::from(form.secret)));
    store_exports::set_delivery(&state.db, scope(&access), sealer, destination, &outbound(&state))
        .await
        .map_err(backup_error)?;
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#schedule", base(&access)), "destination")).into_response())
}

async fn download(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, id)): Path<(String, String)>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    if let Some(r) = stepped_up(&state, &access) {
        return Ok(r);
    }
    let bytes =
        store_exports::archive_bytes(&state.db, scope(&access), &state.objects, &id).await.map_err(backup_error)?;
    let store = tenancy::get_store(&state.db, scope(&access)).await?;
    let name =
        format!("{}-{}.palx", store.slug, id.chars().filter(char::is_ascii_alphanumeric).take(12).collect::<String>());
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
struct OpenForm {
    #[serde(default)]
    passphrase: String,
}

/// Keeps an archive the merchant uploads, listed like an export, to test-restore, preview and import.
async fn upload(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let mut form = form.map_err(|e| invalid(format!("send the archive as multipart/form-data: {}", e.body_text())))?;
    let mut file = None;
    while let Some(field) =
        form.next_field().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?
    {
        if field.name() == Some("archive") {
            let name = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.map_err(|e| invalid(format!("the upload could not be read: {e}")))?;
            file = Some((name, bytes));
        }
    }
    let (name, bytes) = file.ok_or_else(|| invalid("choose an archive file (.palx)"))?;
    store_exports::keep_upload(&state.db, scope(&access), &state.objects, &name, bytes.to_vec())
        .await
        .map_err(backup_error)?;
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#exports", base(&access)), "uploaded")).into_response())
}

async fn restore_test(
    State(state): State<AppState>,
    access: StaffAccess,
    client: ClientAddr,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<OpenForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let passphrase = SecretString::from(form.passphrase);
    let ctx = import_context(&state, client);
    store_exports::run_restore_test(&state.db, scope(&access), &state.objects, &id, passphrase, &ctx)
        .await
        .map_err(backup_error)?;
    // The outcome, failed or not, is on the page (and in the matrix).
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#exports", base(&access)), "restore-test")).into_response())
}

async fn preview(
    State(state): State<AppState>,
    access: StaffAccess,
    client: ClientAddr,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<OpenForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let bytes =
        store_exports::archive_bytes(&state.db, scope(&access), &state.objects, &id).await.map_err(backup_error)?;
    let archive =
        export::Archive::open_for_web(bytes, SecretString::from(form.passphrase)).await.map_err(backup_error)?;
    let ctx = import_context(&state, client);
    let preview =
        export::preview(&state.db, scope(&access), &state.objects, &archive, &ctx).await.map_err(backup_error)?;
    render(
        &state,
        &access,
        "merchant_backup_preview.html",
        json!({"export_id": id, "preview": preview, "changes": preview.changes(), "created_at": archive.manifest.created_at}),
    )
    .await
}

async fn import(
    State(state): State<AppState>,
    access: StaffAccess,
    client: ClientAddr,
    Path((_, id)): Path<(String, String)>,
    form: Result<Form<OpenForm>, FormRejection>,
) -> PageResult {
    access.require(Permission::Products)?;
    access.require(Permission::CustomerData)?;
    let Form(form) = form.map_err(ApiError::from)?;
    if let Some(r) = stepped_up(&state, &access) {
        return Ok(r);
    }
    let ctx = import_context(&state, client);
    let passphrase = SecretString::from(form.passphrase);
    store_exports::run_import(&state.db, &access.membership, &state.objects, &id, passphrase, &ctx)
        .await
        .map_err(backup_error)?;
    // The import may have changed the store's rules, modes and allow-list: drop this node's cached layer.
    state.store_rules.invalidate();
    Ok(Redirect::to(&notice::saved(&format!("{}/backups#exports", base(&access)), "imported")).into_response())
}
