//! Views of the responsibility matrix over time and across stores, read from what evaluations recorded
//! (`control_states`, `control_transitions`): a store's score history, and the operator's roll-up of every store.
//! Nothing here evaluates a control; the hourly `matrix.snapshot` job and every Security Center visit keep the
//! records fresh.

use std::collections::{BTreeMap, HashMap};

use palisade_core::matrix::Control;
use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::db::Db;
use crate::error::Result;
use crate::scope::{PlatformScope, StaffScope};

/// A store's merchant-column score at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ScorePoint {
    pub at: Timestamp,
    /// `None` while no counted control applies.
    pub score: Option<u8>,
}

/// The store's score after each recorded change of one of `counted` (the merchant column's control ids), oldest
/// first, at most `points` of them, ending with a point for now. Replayed from the newest 5 000 transitions.
pub async fn score_history(db: &Db, scope: &StaffScope, counted: &[&str], points: usize) -> Result<Vec<ScorePoint>> {
    let mut rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT control_id, to_state, at FROM control_transitions WHERE subject = $1 ORDER BY at DESC, id DESC LIMIT 5000",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.reverse();
    let mut states: HashMap<String, String> = HashMap::new();
    let mut out: Vec<ScorePoint> = Vec::new();
    let mut i = 0;
    while let Some((_, _, at)) = rows.get(i) {
        let at = *at;
        // Every change recorded at the same moment is one evaluation: one point.
        while let Some((id, state, _)) = rows.get(i).filter(|r| r.2 == at) {
            if counted.contains(&id.as_str()) {
                states.insert(id.clone(), state.clone());
            }
            i += 1;
        }
        let point = ScorePoint { at: Timestamp(at), score: score_of(&states) };
        if out.last().is_none_or(|p| p.score != point.score) {
            out.push(point);
        }
    }
    if let Some(last) = out.last().copied() {
        out.push(ScorePoint { at: db.now().max(last.at), score: last.score });
    }
    let skip = out.len().saturating_sub(points.max(2));
    Ok(out.split_off(skip))
}

fn score_of(states: &HashMap<String, String>) -> Option<u8> {
    let applicable = states.values().filter(|s| s.as_str() != "not applicable").count();
    let met = states.values().filter(|s| s.as_str() == "met").count();
    (applicable > 0).then(|| u8::try_from(met * 100 / applicable).unwrap_or(100))
}

/// One store in the operator's roll-up.
#[derive(Debug, Clone, Serialize)]
pub struct StoreStanding {
    pub store_id: String,
    pub name: String,
    pub slug: String,
    pub status: String,
    /// Merchant-column score from the last evaluation; `None` when not evaluated yet.
    pub score: Option<u8>,
    pub met: usize,
    pub unmet: usize,
    /// Titles of the unmet controls.
    pub failing: Vec<&'static str>,
    pub evaluated_at: Option<Timestamp>,
}

/// How many stores meet one merchant-column control.
#[derive(Debug, Clone, Serialize)]
pub struct ControlCoverage {
    pub id: &'static str,
    pub title: &'static str,
    pub area: &'static str,
    pub met: usize,
    /// Stores where the control applies (met, unmet or unknown).
    pub applicable: usize,
}

/// The operator's view of every store's side of the matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Rollup {
    /// Stores needing attention first: most unmet controls, then lowest score, then never evaluated, then name.
    pub stores: Vec<StoreStanding>,
    pub controls: Vec<ControlCoverage>,
}

/// Builds the roll-up over `controls` (the merchant column's controls, from the registry) from each store's last
/// recorded states.
pub async fn rollup(db: &Db, _scope: &PlatformScope, controls: &[&Control]) -> Result<Rollup> {
    type Row = (String, String, String, String, Option<String>, Option<String>, Option<i64>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.name, s.slug, s.status, c.control_id, c.state, c.evaluated_at \
         FROM stores s LEFT JOIN control_states c ON c.subject = s.id ORDER BY s.name, s.id",
    )
    .fetch_all(db.pool())
    .await?;
    let mut stores: BTreeMap<String, (StoreStanding, HashMap<String, String>)> = BTreeMap::new();
    for (id, name, slug, status, control, state, at) in rows {
        let entry = stores.entry(id.clone()).or_insert_with(|| {
            let standing = StoreStanding {
                store_id: id,
                name,
                slug,
                status,
                score: None,
                met: 0,
                unmet: 0,
                failing: Vec::new(),
                evaluated_at: None,
            };
            (standing, HashMap::new())
        });
        if let (Some(control), Some(state)) = (control, state)
            && controls.iter().any(|c| c.id == control)
        {
            entry.0.evaluated_at = entry.0.evaluated_at.max(at.map(Timestamp));
            entry.1.insert(control, state);
        }
    }
    let mut coverage: Vec<ControlCoverage> = controls
        .iter()
        .map(|c| ControlCoverage { id: c.id, title: c.title, area: c.area.title(), met: 0, applicable: 0 })
        .collect();
    let mut standings = Vec::with_capacity(stores.len());
    for (_, (mut standing, states)) in stores {
        for (control, cov) in controls.iter().zip(coverage.iter_mut()) {
            match states.get(control.id).map(String::as_str) {
                None | Some("not applicable") => {}
                Some("met") => {
                    standing.met += 1;
                    cov.met += 1;
                    cov.applicable += 1;
                }
                Some(_) => {
                    standing.unmet += 1;
                    standing.failing.push(control.title);
                    cov.applicable += 1;
                }
            }
        }
        standing.score = score_of(&states);
        standings.push(standing);
    }
    standings.sort_by(|a, b| {
        b.unmet
            .cmp(&a.unmet)
            .then(a.score.unwrap_or(u8::MAX).cmp(&b.score.unwrap_or(u8::MAX)))
            .then(a.name.cmp(&b.name))
    });
    coverage.sort_by(|a, b| {
        let share = |c: &ControlCoverage| (c.met * 1000).checked_div(c.applicable).unwrap_or(usize::MAX);
        share(a).cmp(&share(b)).then(a.id.cmp(b.id))
    });
    Ok(Rollup { stores: standings, controls: coverage })
}
