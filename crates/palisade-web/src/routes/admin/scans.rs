//! Security Center → Scans: run a scan of the store now, read the last report (score, grade, findings by
//! severity), accept a finding with a reason and an expiry, and download reports as printable HTML, JSON and
//! SARIF 2.1.0 for audits. Everything here needs the security settings permission; every query is scoped to the
//! store the member belongs to, so another store's scan id is simply not found.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use palisade_core::ScanId;
use palisade_scan::report::Report;
use palisade_store::permissions::Permission;
use palisade_store::scans::{self, MAX_ACCEPT_DAYS, Refused, Trigger};
use serde::Deserialize;
use serde_json::json;

use crate::http::ApiError;
use crate::http::access::StaffAccess;
use crate::http::form::Form;
use crate::http::notice;
use crate::routes::admin::security_tabs::{PageResult, render};
use crate::services::store_scan::{self, Outcome};
use crate::state::AppState;

/// The CSP of a downloaded HTML report: no script, nothing loaded, not framable (its text came from the scanned
/// pages, which may be hostile; the report escapes it, and this is the second wall).
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The Scans tab: the latest report and the store's findings that are not fixed.
pub(crate) async fn tab(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let scope = &access.membership.scope;
    let recent = scans::recent(&state.db, scope, 10).await?;
    let findings = scans::findings(&state.db, scope).await?;
    let mut by_severity = serde_json::Map::new();
    for sev in ["critical", "high", "medium", "low", "info"] {
        let list: Vec<&scans::StoredFinding> = findings.iter().filter(|f| f.severity == sev).collect();
        if !list.is_empty() {
            by_severity.insert(sev.to_owned(), json!(list));
        }
    }
    let last = recent.iter().find(|s| s.finished_at.is_some() && s.score.is_some());
    let fresh = state.db.now().0 - scans::RUNNING_TIMEOUT_MS;
    let running = recent.iter().any(|s| s.finished_at.is_none() && s.started_at.0 > fresh);
    let failed = scans::last_failure(&state.db, scope).await?;
    let ctx = json!({"scans": recent, "last": last, "findings": by_severity, "open": findings.len(),
                     "max_accept_days": MAX_ACCEPT_DAYS, "running": running, "failed": failed});
    render(&state, &access, "scans", "security_scans.html", ctx).await
}

/// Starts a scan now, in the background (the tab shows it running, then its report). One at a time per store and at most [`scans::MAX_PER_HOUR`] an hour (429 otherwise).
pub(crate) async fn run(State(state): State<AppState>, access: StaffAccess) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let scope = &access.membership.scope;
    match store_scan::start(&state, scope, Trigger::Manual).await? {
        Outcome::Busy => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "scanner_busy",
            "the scanner is busy with other stores; try again in a minute",
        )
        .into()),
        Outcome::Started(_) | Outcome::Done(_) | Outcome::Failed(_) | Outcome::Skipped => {
            let to = format!("/admin/stores/{}/security/scans", scope.store_id());
            Ok(Redirect::to(&notice::saved(&to, "scan-started")).into_response())
        }
        Outcome::Refused(Refused::Running) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "scan_running",
            "a scan of this store is already running; wait for it to finish",
        )
        .into()),
        Outcome::Refused(Refused::TooMany) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "scan_rate_limited",
            format!("at most {} scans an hour; try again later", scans::MAX_PER_HOUR),
        )
        .into()),
    }
}

/// The form that accepts a risk (a scan finding, an extension advisory).
#[derive(Deserialize)]
pub(crate) struct AcceptForm {
    pub(crate) reason: String,
    /// How many days from now the acceptance lasts (1 to [`MAX_ACCEPT_DAYS`]).
    days: String,
}

impl AcceptForm {
    /// When the acceptance ends: `days` from now, 1 to [`MAX_ACCEPT_DAYS`] (422 otherwise).
    pub(crate) fn until(
        &self,
        now: palisade_core::time::Timestamp,
    ) -> Result<palisade_core::time::Timestamp, ApiError> {
        let days: i64 =
            self.days.trim().parse().ok().filter(|d| (1..=MAX_ACCEPT_DAYS).contains(d)).ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid",
                    format!("an acceptance lasts 1 to {MAX_ACCEPT_DAYS} days"),
                )
            })?;
        Ok(now.plus(std::time::Duration::from_secs(u64::try_from(days).unwrap_or(0) * 24 * 3600)))
    }
}

/// Accepts a finding with a reason and an expiry of at most 90 days (422 otherwise). Audited.
pub(crate) async fn accept(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, fingerprint)): Path<(String, String)>,
    form: Result<Form<AcceptForm>, crate::http::form::FormRejection>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let Form(form) = form.map_err(ApiError::from)?;
    let until = form.until(state.db.now())?;
    let scope = &access.membership.scope;
    scans::accept(&state.db, scope, &fingerprint, &form.reason, until).await?;
    let to = format!("/admin/stores/{}/security/scans#findings", scope.store_id());
    Ok(Redirect::to(&notice::saved(&to, "finding-accepted")).into_response())
}

/// Downloads one scan's report: `report.html` (printable, strict CSP), `report.json` or `report.sarif`.
pub(crate) async fn download(
    State(state): State<AppState>,
    access: StaffAccess,
    Path((_, scan, file)): Path<(String, String, String)>,
) -> PageResult {
    access.require(Permission::SecuritySettings)?;
    let scope = &access.membership.scope;
    let id: ScanId = scan.parse().map_err(|_| ApiError::not_found("scan report"))?;
    let stored = scans::report(&state.db, scope, id).await?;
    let name = format!("scan-{}-{id}", scope.store_id());
    let (body, ctype, ext) = match file.as_str() {
        "report.json" => (stored, "application/json", "json"),
        "report.html" | "report.sarif" => {
            let report = Report::from_json(&stored).map_err(|e| {
                tracing::error!(store.id = %scope.store_id(), scan.id = %id, error = %e, "stored scan report unreadable");
                ApiError::internal()
            })?;
            if file == "report.html" {
                (report.to_html(), "text/html; charset=utf-8", "html")
            } else {
                let sarif = serde_json::to_string_pretty(&report.to_sarif()).map_err(|_| ApiError::internal())?;
                (sarif, "application/sarif+json", "sarif")
            }
        }
        _ => return Err(ApiError::not_found("scan report").into()),
    };
    let mut res: Response = (
        [
            (header::CONTENT_TYPE, ctype.to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.{ext}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    if ext == "html"
        && let Ok(v) = header::HeaderValue::from_str(REPORT_CSP)
    {
        res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Ok(res)
}
