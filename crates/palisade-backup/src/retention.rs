//! Retention: keep the newest snapshot of each of the last N days, weeks and months (and always the newest one);
//! `prune` deletes the other manifests, then the chunks nothing refers to any more.

use std::collections::BTreeSet;

use chrono::{Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::format::{Manifest, Origin};
use crate::repo::{GcReport, Repository};

/// How many of each period to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { daily: 7, weekly: 4, monthly: 12 }
    }
}

/// Maps a time to its period (day, ISO week or month).
type Bucket = fn(chrono::DateTime<Utc>) -> (i32, u32);

/// A snapshot as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// Start time, ms since the epoch.
    pub at: i64,
    pub origin: Origin,
}

const DAY_MS: i64 = 86_400_000;

/// Snapshot ids (and the reasons) to keep at `now` (ms). Besides the newest of each period, a snapshot made by
/// hand is kept for the daily window (at least a day): someone made it for a reason, and a scheduled run the
/// same day must not take it away silently.
#[must_use]
pub fn keep(policy: Retention, snapshots: &[Listed], now: i64) -> Vec<(String, Vec<&'static str>)> {
    let mut newest_first: Vec<&Listed> = snapshots.iter().collect();
    newest_first.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.id.cmp(&a.id)));
    let mut reasons: Vec<Vec<&'static str>> = vec![Vec::new(); newest_first.len()];
    if let Some(first) = reasons.first_mut() {
        first.push("newest");
    }
    let periods: [(&'static str, u32, Bucket); 3] = [
        ("daily", policy.daily, |t| (t.year(), t.ordinal())),
        ("weekly", policy.weekly, |t| (t.iso_week().year(), t.iso_week().week())),
        ("monthly", policy.monthly, |t| (t.year(), t.month())),
    ];
    for (name, count, bucket) in periods {
        let mut seen = BTreeSet::new();
        for (i, listed) in newest_first.iter().enumerate() {
            if seen.len() as u32 >= count {
                break;
            }
            let Some(t) = Utc.timestamp_millis_opt(listed.at).single() else { continue };
            if seen.insert(bucket(t))
                && let Some(r) = reasons.get_mut(i)
            {
                r.push(name);
            }
        }
    }
    let by_hand_since = now.saturating_sub(i64::from(policy.daily.max(1)).saturating_mul(DAY_MS));
    for (listed, r) in newest_first.iter().zip(reasons.iter_mut()) {
        if matches!(listed.origin, Origin::Manual | Origin::PreMigration) && listed.at >= by_hand_since {
            r.push("made by hand");
        }
    }
    newest_first.into_iter().zip(reasons).filter(|(_, r)| !r.is_empty()).map(|(l, r)| (l.id.clone(), r)).collect()
}

/// What `prune` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    pub gc: GcReport,
}

/// Whether pruning deletes what the policy does not keep, or only reports it (`palisade backup prune --dry-run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneMode {
    Delete,
    DryRun,
}

/// Applies the policy. With [`PruneMode::DryRun`] nothing is deleted.
pub async fn prune(repo: &Repository, policy: Retention, now: i64, mode: PruneMode) -> Result<PruneReport> {
    let dry_run = mode == PruneMode::DryRun;
    let manifests: Vec<Manifest> = repo.manifests().await?.into_iter().collect::<Result<_>>()?;
    let listed: Vec<Listed> =
        manifests.iter().map(|m| Listed { id: m.id.clone(), at: m.started_at, origin: m.origin }).collect();
    let kept: BTreeSet<String> = keep(policy, &listed, now).into_iter().map(|(id, _)| id).collect();
    let mut report = PruneReport::default();
    for Listed { id, .. } in listed {
        if kept.contains(&id) {
            report.kept.push(id);
        } else {
            if !dry_run {
                repo.delete_manifest(&id).await?;
            }
            report.removed.push(id);
        }
    }
    if !dry_run {
        report.gc = repo.collect_garbage(now, None).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn keeps_one_per_period_newest_first() {
        // Two snapshots a day for 400 days.
        let start = Utc.with_ymd_and_hms(2025, 1, 1, 3, 0, 0).single().map(|t| t.timestamp_millis()).unwrap_or(0);
        let snaps: Vec<Listed> = (0..800)
            .map(|i| Listed { id: format!("s{i:04}"), at: start + i64::from(i) * DAY / 2, origin: Origin::Scheduled })
            .collect();
        let now = start + 400 * DAY;
        let kept = keep(Retention { daily: 7, weekly: 4, monthly: 12 }, &snaps, now);
        let ids: Vec<&str> = kept.iter().map(|(id, _)| id.as_str()).collect();
        // The newest is kept as newest and daily; six more days; weeks and months add a few older ones.
        assert_eq!(ids.first(), Some(&"s0799"));
        assert!(ids.contains(&"s0797"), "{ids:?}");
        assert!(!ids.contains(&"s0798"), "the second snapshot of the newest day is not kept: {ids:?}");
        assert!(kept.len() >= 7 + 11 && kept.len() <= 7 + 4 + 12, "{} kept: {ids:?}", kept.len());
        assert!(!ids.contains(&"s0000"), "the oldest year-old snapshot goes");
    }

    #[test]
    fn zero_everything_still_keeps_the_newest() {
        let listed = |id: &str, at| Listed { id: id.into(), at, origin: Origin::Scheduled };
        let kept = keep(Retention { daily: 0, weekly: 0, monthly: 0 }, &[listed("a", 1), listed("b", 2)], 2);
        assert_eq!(kept, vec![("b".to_owned(), vec!["newest"])]);
    }

    #[test]
    fn a_snapshot_made_by_hand_outlives_the_same_days_scheduled_run() {
        let morning = Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).single().map(|t| t.timestamp_millis()).unwrap_or(0);
        let snaps = [
            Listed { id: "by-hand".into(), at: morning, origin: Origin::Manual },
            Listed { id: "scheduled".into(), at: morning + DAY / 2, origin: Origin::Scheduled },
        ];
        let policy = Retention { daily: 7, weekly: 4, monthly: 12 };
        let ids = |now| keep(policy, &snaps, now).into_iter().map(|(id, _)| id).collect::<Vec<_>>();
        assert_eq!(ids(morning + DAY / 2), vec!["scheduled", "by-hand"], "kept beside the newer one of its day");
        assert_eq!(ids(morning + 8 * DAY), vec!["scheduled"], "after the daily window, the usual rules apply");
        let plain: Vec<Listed> = snaps.iter().map(|l| Listed { origin: Origin::Scheduled, ..l.clone() }).collect();
        let kept = keep(policy, &plain, morning + DAY / 2);
        assert_eq!(kept.len(), 1, "two scheduled snapshots of one day keep only the newer: {kept:?}");
    }
}
