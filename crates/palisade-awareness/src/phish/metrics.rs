//! Per-store simulation figures, and a comparison with the platform cohort that reveals no other store.
//!
//! The cohort view holds only interpolated quartiles over at least [`MIN_COHORT`] *other* stores, each with at
//! least [`MIN_RECIPIENTS`] recipients; no store id and no count; a quartile may coincide with some store's value but never says whose. A smaller cohort gives
//! no comparison at all (fail closed).

use jiff::Timestamp;
use serde::Serialize;

/// Other stores needed before any cohort figure is shown.
pub const MIN_COHORT: usize = 10;
/// Recipients a store's campaign needs before its figures join the cohort.
pub const MIN_RECIPIENTS: usize = 5;

/// What happened to one recipient of a campaign. `clicked_at` is the first *counted* (human) click.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientOutcome {
    pub delivered_at: Timestamp,
    pub clicked_at: Option<Timestamp>,
    pub reported_at: Option<Timestamp>,
}

/// A store's figures for a campaign (or a period).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoreFigures {
    pub recipients: usize,
    /// Share of recipients with a counted click (0–1).
    pub click_rate: f64,
    /// Share of recipients who used "report phishing" (0–1).
    pub report_rate: f64,
    /// Median seconds from delivery to report, over those who reported.
    pub median_seconds_to_report: Option<f64>,
}

#[allow(clippy::cast_precision_loss)]
fn ratio(n: usize, d: usize) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

/// The store's own figures. A report dated before delivery (clock skew, bad data) counts as a report but not
/// toward the time to report.
#[must_use]
pub fn store_figures(outcomes: &[RecipientOutcome]) -> StoreFigures {
    let clicks = outcomes.iter().filter(|o| o.clicked_at.is_some()).count();
    let reports = outcomes.iter().filter(|o| o.reported_at.is_some()).count();
    #[allow(clippy::cast_precision_loss)]
    let mut times: Vec<f64> = outcomes
        .iter()
        .filter_map(|o| o.reported_at.map(|r| r.duration_since(o.delivered_at).as_secs_f64()))
        .filter(|s| *s >= 0.0)
        .collect();
    times.sort_by(f64::total_cmp);
    StoreFigures {
        recipients: outcomes.len(),
        click_rate: ratio(clicks, outcomes.len()),
        report_rate: ratio(reports, outcomes.len()),
        median_seconds_to_report: percentile(&times, 0.5),
    }
}

/// Linear-interpolated percentile of sorted values (`q` in 0–1); `None` for no values.
#[must_use]
#[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let pos = q.clamp(0.0, 1.0) * last as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (sorted.get(lo)?, sorted.get(hi)?);
    Some(a + (b - a) * (pos - lo as f64))
}

/// Quartiles of a cohort figure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quartiles {
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
}

fn quartiles(mut values: Vec<f64>) -> Option<Quartiles> {
    if values.len() < MIN_COHORT {
        return None;
    }
    values.sort_by(f64::total_cmp);
    Some(Quartiles { p25: percentile(&values, 0.25)?, p50: percentile(&values, 0.5)?, p75: percentile(&values, 0.75)? })
}

/// The store's figures beside the cohort's quartiles.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CohortComparison {
    pub own: StoreFigures,
    pub click_rate: Quartiles,
    pub report_rate: Quartiles,
    /// Absent when fewer than [`MIN_COHORT`] other stores had any report.
    pub median_seconds_to_report: Option<Quartiles>,
}

/// Compares `own` with `others` (every *other* store's figures; the caller must not include the store itself).
/// `None` when fewer than [`MIN_COHORT`] other stores have at least [`MIN_RECIPIENTS`] recipients.
#[must_use]
pub fn compare(own: &StoreFigures, others: &[StoreFigures]) -> Option<CohortComparison> {
    let eligible: Vec<&StoreFigures> = others.iter().filter(|s| s.recipients >= MIN_RECIPIENTS).collect();
    Some(CohortComparison {
        own: own.clone(),
        click_rate: quartiles(eligible.iter().map(|s| s.click_rate).collect())?,
        report_rate: quartiles(eligible.iter().map(|s| s.report_rate).collect())?,
        median_seconds_to_report: quartiles(eligible.iter().filter_map(|s| s.median_seconds_to_report).collect()),
    })
}
