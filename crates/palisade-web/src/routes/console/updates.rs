//! The console's updates page: the running core version against the latest known release, and every core
//! advisory that affects it.
//!
//! The feed is a directory the operator fills (`--advisories-dir`): OSV files read with
//! [`palisade_advisories::ingest_dir`] and, optionally, a `releases.json` of the form `{"latest": "1.4.2"}`. No
//! network is involved, so an air-gapped installation works the same. The latest known release is the higher of
//! `releases.json`'s `latest` and the highest `fixed` version of any core advisory. The directory is read on each
//! visit (it is small, and a newly dropped file shows without a restart); a bad file is listed, never fatal.

use std::path::Path;

use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use palisade_advisories::{Advisory, AdvisoryDb, Affected, Event, Package, Range, Version, ingest_dir};
use serde::Serialize;
use serde_json::json;

use crate::http::auth::ConsoleOperator;
use crate::http::{ApiError, PageError};
use crate::state::AppState;

/// The optional file naming the latest release; not an OSV record, so ingest's complaint about it is dropped.
pub const RELEASES_FILE: &str = "releases.json";
/// Largest OSV file or `releases.json` read: a core feed is small, and the page must stay quick.
const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/console/updates", get(page))
}

/// Where the running core stands, for the page.
#[derive(Debug, Default, Serialize)]
pub struct CoreStatus {
    /// The running version.
    pub running: String,
    /// Whether an advisories directory is configured.
    pub configured: bool,
    /// The latest known release, if the feed names one.
    pub latest: Option<String>,
    /// Whether `latest` is newer than `running`.
    pub update_available: bool,
    /// Core advisories affecting the running version.
    pub advisories: Vec<CoreAdvisory>,
    /// Files or records of the feed that were refused.
    pub problems: Vec<FeedProblem>,
    /// Advisory records read.
    pub records: usize,
}

/// One advisory affecting the running core.
#[derive(Debug, Serialize)]
pub struct CoreAdvisory {
    /// The advisory's id (e.g. `PAL-2026-0001`).
    pub id: String,
    /// Its one-line summary, as the feed gives it (escaped when rendered).
    pub summary: Option<String>,
    /// `critical` … `none`, or `unknown` when the record gives no severity.
    pub severity: &'static str,
    /// The lowest fixed version above the running one, if any.
    pub fixed: Option<String>,
    /// CVE and other ids of the same problem.
    pub aliases: Vec<String>,
}

/// A refused file or record.
#[derive(Debug, Serialize)]
pub struct FeedProblem {
    /// The file's name (or the directory, when it cannot be listed).
    pub file: String,
    /// Why it was refused.
    pub problem: String,
}

/// Reads the feed in `dir` (if configured) and evaluates it against `running`.
#[must_use]
pub fn core_status(dir: Option<&Path>, running: &str) -> CoreStatus {
    let mut status = CoreStatus { running: running.to_owned(), ..CoreStatus::default() };
    let Some(dir) = dir else { return status };
    status.configured = true;
    let mut db = AdvisoryDb::new();
    match ingest_dir(&mut db, dir, MAX_FILE_BYTES) {
        Ok(report) => {
            for (path, e) in report.errors() {
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if file != RELEASES_FILE {
                    status.problems.push(FeedProblem { file, problem: e.to_string() });
                }
            }
        }
        Err(e) => {
            status.problems.push(FeedProblem { file: dir.display().to_string(), problem: e.to_string() });
            return status;
        }
    }
    status.records = db.len();
    let core = Package::core();
    let mut latest = read_releases(dir, &mut status.problems);
    for affected in db.iter().filter(|a| !a.is_withdrawn()).flat_map(|a| a.affected.iter()) {
        if affected.package == core {
            latest = latest.max(fixed_versions(affected).max());
        }
    }
    match Version::parse(running) {
        Ok(v) => {
            status.advisories = db.affecting(&core, &v).into_iter().map(|a| shown(a, &core, &v)).collect();
            status.update_available = latest.as_ref().is_some_and(|l| *l > v);
        }
        Err(e) => status.problems.push(FeedProblem { file: "(running version)".to_owned(), problem: e.to_string() }),
    }
    status.latest = latest.map(|v| v.to_string());
    status
}

fn shown(advisory: &Advisory, core: &Package, running: &Version) -> CoreAdvisory {
    let affected = advisory.affected.iter().find(|a| a.package == *core && a.includes(running));
    CoreAdvisory {
        id: advisory.id.clone(),
        summary: advisory.summary.clone(),
        severity: affected.and_then(|a| advisory.rating_for(a)).map_or("unknown", |r| r.as_str()),
        fixed: affected.and_then(|a| fixed_versions(a).filter(|f| f > running).min()).map(|v| v.to_string()),
        aliases: advisory.aliases.clone(),
    }
}

fn fixed_versions(affected: &Affected) -> impl Iterator<Item = Version> + '_ {
    affected.ranges.iter().flat_map(|range| match range {
        Range::Ordered(r) => r
            .timeline
            .iter()
            .filter_map(|e| match e {
                Event::Fixed(v) => Some(v.clone()),
                _ => None,
            })
            .collect(),
        Range::Unevaluated { .. } => Vec::new(),
    })
}

/// `releases.json`'s `latest`, when the file exists; a bad file is a listed problem.
fn read_releases(dir: &Path, problems: &mut Vec<FeedProblem>) -> Option<Version> {
    let path = dir.join(RELEASES_FILE);
    let meta = std::fs::metadata(&path).ok()?;
    let mut problem = |p: String| problems.push(FeedProblem { file: RELEASES_FILE.to_owned(), problem: p });
    if meta.len() > MAX_FILE_BYTES {
        problem(format!("{} bytes is over the {MAX_FILE_BYTES}-byte limit", meta.len()));
        return None;
    }
    // Read as a plain value: a derived struct would also accept `["1.3.0"]`, which is not the documented format.
    let parsed = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| e.to_string()))
        .and_then(|value| {
            value
                .get("latest")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| "no \"latest\" string".to_owned())
        })
        .and_then(|latest| Version::parse(&latest).map_err(|e| e.to_string()));
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            problem(format!("expected {{\"latest\": \"X.Y.Z\"}}: {e}"));
            None
        }
    }
}

async fn page(State(state): State<AppState>, ConsoleOperator(op): ConsoleOperator) -> Result<Html<String>, PageError> {
    let dir = state.config.advisories_dir.clone();
    let running = state.config.core_version.clone();
    let status = tokio::task::spawn_blocking(move || core_status(dir.as_deref(), &running)).await.map_err(|e| {
        tracing::error!(error = %e, "reading the advisories directory panicked");
        ApiError::internal()
    })?;
    let page = state
        .templates
        .render("console_updates.html", json!({"operator": op.email(), "is_operator": true, "core": status}))?;
    Ok(Html(page))
}
