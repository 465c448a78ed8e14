//! Per-store simulation figures and the cohort comparison.

use jiff::{SignedDuration, Timestamp};
use palisade_awareness::phish::metrics::{
    MIN_COHORT, RecipientOutcome, StoreFigures, compare, percentile, store_figures,
};

fn t0() -> Timestamp {
    "2026-12-01T01:00:00Z".parse().unwrap()
}

fn outcome(click: Option<i64>, report: Option<i64>) -> RecipientOutcome {
    RecipientOutcome {
        delivered_at: t0(),
        clicked_at: click.map(|s| t0() + SignedDuration::from_secs(s)),
        reported_at: report.map(|s| t0() + SignedDuration::from_secs(s)),
    }
}

fn figures(click_rate: f64) -> StoreFigures {
    StoreFigures { recipients: 20, click_rate, report_rate: 0.5, median_seconds_to_report: Some(600.0) }
}

#[test]
fn store_figures_count_clicks_reports_and_median_time() {
    let f = store_figures(&[
        outcome(Some(100), None),
        outcome(None, Some(60)),
        outcome(None, Some(300)),
        outcome(Some(50), Some(120)),
        outcome(None, Some(-30)), // reported "before" delivery: a report, but no time
        outcome(None, None),
        outcome(None, None),
        outcome(None, None),
    ]);
    assert_eq!(f.recipients, 8);
    assert!((f.click_rate - 0.25).abs() < 1e-9);
    assert!((f.report_rate - 0.5).abs() < 1e-9);
    assert_eq!(f.median_seconds_to_report, Some(120.0));
    let empty = store_figures(&[]);
    assert_eq!((empty.click_rate, empty.median_seconds_to_report), (0.0, None));
    assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
}

#[test]
fn a_cohort_below_the_minimum_reveals_nothing() {
    let own = figures(0.3);
    let few: Vec<StoreFigures> =
        (0..MIN_COHORT - 1).map(|i| figures(f64::from(u32::try_from(i).unwrap()) / 100.0)).collect();
    assert_eq!(compare(&own, &few), None);
    // Tiny stores do not make up the numbers either.
    let mut padded = few.clone();
    padded.push(StoreFigures { recipients: 1, ..figures(0.9) });
    assert_eq!(compare(&own, &padded), None);
}

#[test]
fn the_comparison_holds_only_quartiles_never_another_stores_figure() {
    let own = figures(0.3);
    // Ten other stores with distinct, recognisable click rates.
    let others: Vec<StoreFigures> = (1..=10).map(|i| figures(f64::from(i) * 0.011)).collect();
    let c = compare(&own, &others).unwrap();
    assert_eq!(c.own, own);
    let shown = [c.click_rate.p25, c.click_rate.p50, c.click_rate.p75];
    for s in shown {
        assert!(!others.iter().any(|o| (o.click_rate - s).abs() < 1e-12), "{s} is one store's exact figure");
    }
    assert!(c.click_rate.p25 < c.click_rate.p50 && c.click_rate.p50 < c.click_rate.p75);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
        ["click_rate", "median_seconds_to_report", "own", "report_rate"]
    );
}
