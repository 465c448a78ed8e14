//! Live evaluation of the responsibility matrix.
//!
//! Domain crates register [`palisade_core::matrix::Control`]s with an evaluator that looks at real data.
//! Evaluating for the platform runs the platform-subject controls; evaluating for a store runs those too
//! (the platform's column, as the merchant sees it) plus the store-subject controls for that store. Each
//! evaluation records state changes, so "unmet since" and the history come from the database.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use palisade_core::matrix::{Area, Control, ControlResult, ControlStatus, Party, Subject, score};
use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::scope::StoreScope;

/// Facts about this installation that evaluators need beyond the database.
#[derive(Debug, Clone)]
pub struct NodeFacts {
    pub data_dir: PathBuf,
    pub master_key_path: PathBuf,
}

/// What an evaluator gets. `store` is set for store-subject controls.
#[derive(Debug, Clone)]
pub struct EvalContext {
    pub db: Db,
    pub facts: Arc<NodeFacts>,
    pub store: Option<StoreScope>,
}

type EvalFuture = Pin<Box<dyn Future<Output = ControlStatus> + Send>>;
type Evaluator = Arc<dyn Fn(EvalContext) -> EvalFuture + Send + Sync>;

/// All registered controls. Built once at start-up, then shared read-only.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<(Control, Evaluator)>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(c, _)| c.id)).finish()
    }
}

impl Registry {
    /// Registers a control. Ids are unique: registering one twice is a programming error reported at start.
    pub fn register<F, Fut>(&mut self, control: Control, evaluate: F) -> Result<()>
    where
        F: Fn(EvalContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ControlStatus> + Send + 'static,
    {
        if self.entries.iter().any(|(c, _)| c.id == control.id) {
            return Err(StoreError::Invalid(format!("control `{}` registered twice", control.id)));
        }
        self.entries.push((control, Arc::new(move |ctx| Box::pin(evaluate(ctx)))));
        Ok(())
    }

    #[must_use]
    pub fn controls(&self) -> Vec<&Control> {
        self.entries.iter().map(|(c, _)| c).collect()
    }

    /// The controls of a store's own column (what its team does): store-subject controls not carried by the platform.
    #[must_use]
    pub fn merchant_controls(&self) -> Vec<&Control> {
        self.entries
            .iter()
            .map(|(c, _)| c)
            .filter(|c| c.subject == Subject::Store && c.party != Party::Platform)
            .collect()
    }

    /// Evaluates the platform's own controls.
    pub async fn evaluate_platform(&self, db: &Db, facts: &Arc<NodeFacts>) -> Result<Report> {
        let ctx = EvalContext { db: db.clone(), facts: facts.clone(), store: None };
        let mut results = Vec::new();
        for (control, eval) in self.entries.iter().filter(|(c, _)| c.subject == Subject::Platform) {
            results.push(ControlResult { control: control.clone(), status: eval(ctx.clone()).await });
        }
        record(db, "platform", &mut results).await?;
        Ok(Report::build("platform", db.now(), results))
    }

    /// Evaluates what one store sees: the platform's controls and the store's own.
    pub async fn evaluate_store(&self, db: &Db, facts: &Arc<NodeFacts>, scope: &StoreScope) -> Result<Report> {
        let platform_ctx = EvalContext { db: db.clone(), facts: facts.clone(), store: None };
        let store_ctx = EvalContext { store: Some(scope.clone()), ..platform_ctx.clone() };
        let mut platform_results = Vec::new();
        let mut store_results = Vec::new();
        for (control, eval) in &self.entries {
            match control.subject {
                Subject::Platform => platform_results
                    .push(ControlResult { control: control.clone(), status: eval(platform_ctx.clone()).await }),
                Subject::Store => store_results
                    .push(ControlResult { control: control.clone(), status: eval(store_ctx.clone()).await }),
            }
        }
        record(db, "platform", &mut platform_results).await?;
        let subject = scope.store_key();
        record(db, &subject, &mut store_results).await?;
        platform_results.extend(store_results);
        Ok(Report::build(&subject, db.now(), platform_results))
    }
}

/// Records state changes and fills in `since` for unmet controls from the stored state.
async fn record(db: &Db, subject: &str, results: &mut [ControlResult]) -> Result<()> {
    let now = db.now();
    let stored: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT control_id, state, since FROM control_states WHERE subject = $1")
            .bind(subject)
            .fetch_all(db.pool())
            .await?;
    let mut tx = db.begin_write().await?;
    for r in results.iter_mut() {
        let state = r.status.label();
        let reason = match &r.status {
            ControlStatus::Met { detail } => detail.clone(),
            ControlStatus::Unmet { reason, .. }
            | ControlStatus::NotApplicable { reason }
            | ControlStatus::Unknown { reason } => reason.clone(),
        };
        let previous = stored.iter().find(|(id, _, _)| id == r.control.id);
        let since = match previous {
            Some((_, old_state, since)) if old_state == state => Timestamp(*since),
            _ => {
                sqlx::query(
                    "INSERT INTO control_transitions (id, subject, control_id, from_state, to_state, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(palisade_core::AuditEventId::new().to_string())
                .bind(subject)
                .bind(r.control.id)
                .bind(previous.map(|p| p.1.clone()))
                .bind(state)
                .bind(&reason)
                .bind(now.0)
                .execute(&mut *tx)
                .await?;
                now
            }
        };
        sqlx::query(
            "INSERT INTO control_states (subject, control_id, state, reason, since, evaluated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (subject, control_id) DO UPDATE SET state = excluded.state, reason = excluded.reason, \
             since = excluded.since, evaluated_at = excluded.evaluated_at",
        )
        .bind(subject)
        .bind(r.control.id)
        .bind(state)
        .bind(&reason)
        .bind(since.0)
        .bind(now.0)
        .execute(&mut *tx)
        .await?;
        if let ControlStatus::Unmet { since: s, .. } = &mut r.status {
            *s = Some(since);
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One area of the matrix: both columns and a score.
#[derive(Debug, Clone, Serialize)]
pub struct AreaReport {
    pub area: Area,
    pub title: &'static str,
    pub platform_duty: &'static str,
    pub merchant_duty: &'static str,
    pub platform: Vec<ControlResult>,
    pub merchant: Vec<ControlResult>,
    /// Percentage of applicable controls met in the column this report is about: the merchant's for a store (the
    /// platform's column is scored apart, never mixed in), the platform's for the platform. `None` when nothing in
    /// that column is evaluated yet.
    pub score: Option<u8>,
    /// The platform column's own score in this area.
    pub platform_score: Option<u8>,
}

/// The whole matrix for one subject.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `platform` or a store id.
    pub subject: String,
    pub evaluated_at: Timestamp,
    /// For a store: the merchant's column only (what the store's team can change). For the platform: its controls.
    pub score: Option<u8>,
    /// The platform column's score, shown beside a store's own and never mixed into it.
    pub platform_score: Option<u8>,
    /// Met and unmet (or unknown) controls of the column `score` counts.
    pub met: usize,
    pub unmet: usize,
    pub areas: Vec<AreaReport>,
}

impl Report {
    fn build(subject: &str, at: Timestamp, results: Vec<ControlResult>) -> Report {
        let is_platform = |r: &&ControlResult| r.control.party == Party::Platform;
        let platform_score = score(results.iter().filter(is_platform));
        // A store's score is its own column; the platform's report has only the platform's.
        let counted: Vec<&ControlResult> = if subject == "platform" {
            results.iter().collect()
        } else {
            results.iter().filter(|r| !is_platform(r)).collect()
        };
        let score_all = score(counted.iter().copied());
        let met = counted.iter().filter(|r| r.status.is_met()).count();
        let unmet = counted
            .iter()
            .filter(|r| matches!(r.status, ControlStatus::Unmet { .. } | ControlStatus::Unknown { .. }))
            .count();
        let areas = Area::ALL
            .into_iter()
            .map(|area| {
                let (platform, merchant): (Vec<_>, Vec<_>) = results
                    .iter()
                    .filter(|r| r.control.area == area)
                    .cloned()
                    .partition(|r| r.control.party == Party::Platform);
                let s = if subject == "platform" { score(&platform) } else { score(&merchant) };
                AreaReport {
                    area,
                    title: area.title(),
                    platform_duty: area.platform_duty(),
                    merchant_duty: area.merchant_duty(),
                    platform_score: score(&platform),
                    platform,
                    merchant,
                    score: s,
                }
            })
            .collect();
        Report { subject: subject.to_owned(), evaluated_at: at, score: score_all, platform_score, met, unmet, areas }
    }

    /// The report as a store's staff may see it: the platform's column keeps its titles, reasons to care and
    /// states, but none of the platform's internals (operators' addresses, file paths, node names, snapshot ids,
    /// commands) — its details and remediation are replaced by fixed words. An evaluator's error text (which can
    /// name anything) is replaced in both columns.
    #[must_use]
    pub fn for_merchant(mut self) -> Report {
        for area in &mut self.areas {
            for r in &mut area.platform {
                r.status = match &r.status {
                    ControlStatus::Met { .. } => ControlStatus::met("checked by the platform"),
                    ControlStatus::Unmet { since, .. } => ControlStatus::Unmet {
                        reason: "the platform team is on it; nothing for your team to do".into(),
                        since: *since,
                    },
                    ControlStatus::NotApplicable { .. } => {
                        ControlStatus::NotApplicable { reason: "not applicable to this installation".into() }
                    }
                    ControlStatus::Unknown { .. } => ControlStatus::Unknown { reason: "not checked just now".into() },
                };
                r.control.remediation = "The platform operator is responsible for this control.";
            }
            for r in &mut area.merchant {
                if let ControlStatus::Unknown { reason } = &mut r.status {
                    "could not be checked just now; try again in a few minutes".clone_into(reason);
                }
            }
        }
        self
    }

    /// The store-column results that are not met, in matrix order.
    pub fn unmet_merchant(&self) -> impl Iterator<Item = &ControlResult> {
        self.areas
            .iter()
            .flat_map(|a| a.merchant.iter())
            .filter(|r| matches!(r.status, ControlStatus::Unmet { .. } | ControlStatus::Unknown { .. }))
    }
}

/// A recorded change of a control's state.
#[derive(Debug, Clone, Serialize)]
pub struct Transition {
    pub control_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: String,
    pub at: Timestamp,
}

/// The newest state changes for a store (its own controls), newest first.
pub async fn history_store(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<Transition>> {
    history(db, &scope.store_key(), limit).await
}

/// The newest state changes of the platform's controls, newest first.
pub async fn history_platform(db: &Db, _scope: &crate::scope::PlatformScope, limit: i64) -> Result<Vec<Transition>> {
    history(db, "platform", limit).await
}

async fn history(db: &Db, subject: &str, limit: i64) -> Result<Vec<Transition>> {
    let rows: Vec<(String, Option<String>, String, String, i64)> = sqlx::query_as(
        "SELECT control_id, from_state, to_state, reason, at FROM control_transitions WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(subject)
    .bind(limit.clamp(1, 500))
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Transition { control_id: r.0, from_state: r.1, to_state: r.2, reason: r.3, at: Timestamp(r.4) })
        .collect())
}
