//! The Security Center's Compliance tab: Cyber Essentials readiness, PCI DSS SAQ A eligibility and a PDPA
//! checklist drawn from the store's live matrix ([`crate::services::compliance`]), each downloadable as a printable
//! report whose SHA-256 goes into the store's audit chain, and a form that checks a copy against that chain.
//! Open to every member, like the Security Center's other matrix pages; a store's chain is the only one searched.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use palisade_store::audit::{self, NewEvent};
use palisade_store::tenancy;
use serde::Serialize;
use serde_json::{Value, json};

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::routes::admin::security_center::AdminError;
use crate::routes::admin::security_tabs::{PageResult, render};
use crate::services::compliance::{self, Assessed, EXPORT_ACTION, View};
use crate::state::AppState;

/// How many items of each status a view has.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counts {
    pub met: usize,
    pub partly: usize,
    pub not_met: usize,
    pub none: usize,
    pub total: usize,
}

#[must_use]
pub fn counts(items: &[Assessed]) -> Counts {
    let n = |s: &str| items.iter().filter(|i| i.status == s).count();
    Counts {
        met: n("met"),
        partly: n("partly"),
        not_met: n("not met"),
        none: n("no live control yet"),
        total: items.len(),
    }
}

fn view_json(v: &View) -> Value {
    json!({"slug": v.slug, "title": v.title, "intro": v.intro})
}

fn not_found() -> AdminError {
    AdminError::from(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such compliance view"))
}

async fn evaluated(state: &AppState, access: &StaffAccess) -> Result<palisade_store::matrix::Report, AdminError> {
    Ok(state.registry.evaluate_store(&state.db, &state.facts, &access.membership.scope).await?.for_merchant())
}

/// The list of views, with how much of each is met.
pub(crate) async fn index(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    let report = evaluated(&state, &access).await?;
    let views: Vec<Value> = compliance::VIEWS
        .iter()
        .map(|v| {
            let mut j = view_json(v);
            if let Some(o) = j.as_object_mut() {
                o.insert("counts".into(), json!(counts(&compliance::evaluate(v, &report))));
            }
            j
        })
        .collect();
    render(&state, &access, "compliance", "security_compliance.html", json!({"views": views})).await
}

/// One framework view.
pub(crate) async fn view_page(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, slug)): Path<(String, String)>,
) -> PageResult {
    let view = compliance::view(&slug).ok_or_else(not_found)?;
    let report = evaluated(&state, &access).await?;
    let items = compliance::evaluate(view, &report);
    let ctx = json!({"view": view_json(view), "items": items, "counts": counts(&items),
                     "evaluated_at": report.evaluated_at});
    render(&state, &access, "compliance", "security_compliance.html", ctx).await
}

/// The printable report's bytes, and the response that downloads them.
pub(crate) fn download(bytes: Vec<u8>, name: &str) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        bytes,
    )
        .into_response();
    if let Ok(v) = header::HeaderValue::from_str(crate::routes::admin::scans::REPORT_CSP) {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    res
}

/// The exact time, in UTC, for a report (a report is the same bytes wherever it is opened).
pub(crate) fn utc(at: palisade_core::time::Timestamp) -> String {
    palisade_core::zone::StoreZone::parse("UTC").map_or_else(|_| at.0.to_string(), |z| z.local(at))
}

/// Renders a view as a printable report, records its hash in the store's chain and downloads it.
pub(crate) async fn export(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, slug)): Path<(String, String)>,
) -> PageResult {
    let view = compliance::view(&slug).ok_or_else(not_found)?;
    let scope = &access.membership.scope;
    let store = tenancy::get_store(&state.db, scope).await?;
    let report = evaluated(&state, &access).await?;
    let items = compliance::evaluate(view, &report);
    let html = state.templates.render(
        "compliance_report.html",
        json!({
            "title": view.title, "intro": view.intro, "items": items, "counts": counts(&items),
            "subject": format!("Store: {} ({})", store.name, store.id),
            "generated": utc(report.evaluated_at), "chain": "store's",
            "verify_at": format!("/admin/stores/{}/security/compliance#verify", store.id),
        }),
    )?;
    let bytes = html.into_bytes();
    let hash = compliance::sha256_hex(&bytes);
    audit::record_store_now(
        &state.db,
        scope,
        NewEvent::new(EXPORT_ACTION, &compliance::hash_target(&hash))
            .details(json!({"view": view.slug, "title": view.title, "bytes": bytes.len()})),
    )
    .await?;
    Ok(download(bytes, &format!("{}-{}.html", view.slug, report.evaluated_at.0)))
}

/// A copy sent to be verified: its bytes (an uploaded file, else pasted text).
pub(crate) async fn copy_from(form: Result<Multipart, MultipartRejection>) -> Result<Vec<u8>, ApiError> {
    let invalid = |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m);
    let mut form = form.map_err(|e| invalid(format!("send the report as multipart/form-data: {}", e.body_text())))?;
    let (mut file, mut text) = (None, None);
    while let Some(field) = form.next_field().await.map_err(|e| invalid(format!("the copy could not be read: {e}")))? {
        let name = field.name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|e| invalid(format!("the copy could not be read: {e}")))?;
        match name.as_deref() {
            Some("file") if !bytes.is_empty() => file = Some(bytes),
            Some("text") if !bytes.is_empty() => text = Some(bytes),
            _ => {}
        }
    }
    file.or(text).map(|b| b.to_vec()).ok_or_else(|| invalid("choose the report file or paste its text".into()))
}

/// What a verification found, for the page.
pub(crate) fn verdict(hashes: &[String], found: Option<&audit::AuditEvent>) -> Value {
    match found {
        Some(e) => {
            let title = serde_json::from_str::<Value>(&e.details)
                .ok()
                .and_then(|d| d.get("title").and_then(Value::as_str).map(str::to_owned));
            let hash = e.target.trim_start_matches("sha256:").replace(':', "");
            json!({"found": true, "hash": hash, "at": e.at, "title": title})
        }
        None => json!({"found": false, "hash": hashes.first()}),
    }
}

/// Checks an uploaded or pasted copy against this store's chain.
pub(crate) async fn verify(
    State(state): State<AppState>,
    access: StaffAccess,
    form: Result<Multipart, MultipartRejection>,
) -> PageResult {
    let bytes = copy_from(form).await?;
    let hashes = compliance::candidate_hashes(&bytes);
    let mut found = None;
    for h in &hashes {
        found =
            audit::find_store(&state.db, &access.membership.scope, EXPORT_ACTION, &compliance::hash_target(h)).await?;
        if found.is_some() {
            break;
        }
    }
    let report = evaluated(&state, &access).await?;
    let views: Vec<Value> = compliance::VIEWS
        .iter()
        .map(|v| {
            let mut j = view_json(v);
            if let Some(o) = j.as_object_mut() {
                o.insert("counts".into(), json!(counts(&compliance::evaluate(v, &report))));
            }
            j
        })
        .collect();
    let ctx = json!({"views": views, "verify": verdict(&hashes, found.as_ref())});
    render(&state, &access, "compliance", "security_compliance.html", ctx).await
}
