//! Which release an installed extension should move to under its policy: a pure function of the installed
//! version, the catalog's newer releases (each marked affected or not by the advisories the caller matched) and
//! the time, so every rule is tested without a database.
//!
//! Rules: a pre-release is never installed automatically; a new major version (for 0.x, a new minor, as SemVer
//! reads 0.x) is never installed automatically; an installed version an advisory affects moves at once (policies
//! `security` and `minor`) to the newest compatible release no advisory affects; a routine update waits
//! `delay_days` after its release (policy `minor` only).

use palisade_core::time::Timestamp;
use semver::Version;

use super::{DAY_MS, Policy};

/// A release the install could move to.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub version: &'a str,
    pub published_at: Timestamp,
    /// Whether an advisory affects this version.
    pub affected: bool,
}

/// Why an update is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The installed version is affected by an advisory and this release is not.
    Security,
    /// A newer release of the same major version, old enough for the policy.
    Routine,
}

/// The installed release, as the plan sees it.
#[derive(Debug, Clone, Copy)]
pub struct Installed<'a> {
    pub version: &'a str,
    /// Whether an advisory affects the installed version.
    pub affected: bool,
}

/// What to do with one install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing to do automatically.
    Stay,
    /// Move to `to`.
    Update { to: String, why: Why },
    /// The installed version is affected and only a new major version fixes it: the merchant must install it.
    MajorNeeded { to: String },
}

/// Whether `v` may replace `installed` without a person deciding: same major (for 0.x, same minor too).
fn compatible(installed: &Version, v: &Version) -> bool {
    if installed.major == 0 { v.major == 0 && v.minor == installed.minor } else { v.major == installed.major }
}

/// The plan for an install on `installed` under `policy`, given the catalog's releases.
#[must_use]
pub fn plan(
    installed: Installed<'_>,
    policy: Policy,
    delay_days: i64,
    now: Timestamp,
    releases: &[Candidate<'_>],
) -> Plan {
    let Ok(current) = Version::parse(installed.version) else { return Plan::Stay };
    let mut newer: Vec<(Version, &Candidate<'_>)> = releases
        .iter()
        .filter_map(|c| Version::parse(c.version).ok().map(|v| (v, c)))
        .filter(|(v, c)| v.pre.is_empty() && !c.affected && v.cmp_precedence(&current).is_gt())
        .collect();
    newer.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    if policy == Policy::Manual {
        return Plan::Stay;
    }
    let newest_compatible = newer.iter().find(|(v, _)| compatible(&current, v));
    if installed.affected {
        return match (newest_compatible, newer.first()) {
            (Some((v, _)), _) => Plan::Update { to: v.to_string(), why: Why::Security },
            (None, Some((v, _))) => Plan::MajorNeeded { to: v.to_string() },
            (None, None) => Plan::Stay,
        };
    }
    if policy == Policy::Minor {
        let ripe = newer
            .iter()
            .filter(|(v, _)| compatible(&current, v))
            .find(|(_, c)| c.published_at.0 + delay_days.max(0) * DAY_MS <= now.0);
        if let Some((v, _)) = ripe {
            return Plan::Update { to: v.to_string(), why: Why::Routine };
        }
    }
    Plan::Stay
}

/// Whether `version` is behind a compatible, non-pre-release release published before `before` (the
/// `store.extensions-current` test).
#[must_use]
pub fn behind(installed: &str, releases: &[Candidate<'_>], before: Timestamp) -> Option<String> {
    let current = Version::parse(installed).ok()?;
    releases
        .iter()
        .filter(|c| c.published_at.0 <= before.0)
        .filter_map(|c| Version::parse(c.version).ok())
        .filter(|v| v.pre.is_empty() && compatible(&current, v) && v.cmp_precedence(&current).is_gt())
        .max_by(Version::cmp_precedence)
        .map(|v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(100 * DAY_MS);

    /// An installed version no advisory affects, and one an advisory affects.
    fn at(version: &str) -> Installed<'_> {
        Installed { version, affected: false }
    }
    fn hit(version: &str) -> Installed<'_> {
        Installed { version, affected: true }
    }

    /// A release published `days_ago`: clean, or affected by an advisory.
    fn c(version: &str, days_ago: i64) -> Candidate<'_> {
        Candidate { version, published_at: Timestamp(NOW.0 - days_ago * DAY_MS), affected: false }
    }
    fn bad(version: &str, days_ago: i64) -> Candidate<'_> {
        Candidate { affected: true, ..c(version, days_ago) }
    }

    #[test]
    fn manual_never_moves_even_when_affected() {
        assert_eq!(plan(hit("1.0.0"), Policy::Manual, 0, NOW, &[c("1.0.1", 9)]), Plan::Stay);
    }

    #[test]
    fn a_security_fix_is_taken_at_once_within_the_major_version() {
        let rel = [c("1.0.1", 0), c("1.1.0", 0), c("2.0.0", 0)];
        for policy in [Policy::Security, Policy::Minor] {
            assert_eq!(
                plan(hit("1.0.0"), policy, 30, NOW, &rel),
                Plan::Update { to: "1.1.0".into(), why: Why::Security },
                "{policy:?}: the newest compatible fix, however new"
            );
        }
    }

    #[test]
    fn an_affected_release_is_never_the_target() {
        let rel = [c("1.0.1", 9), bad("1.0.2", 9)];
        assert_eq!(
            plan(hit("1.0.0"), Policy::Security, 0, NOW, &rel),
            Plan::Update { to: "1.0.1".into(), why: Why::Security }
        );
        assert_eq!(
            plan(at("1.0.0"), Policy::Minor, 0, NOW, &rel),
            Plan::Update { to: "1.0.1".into(), why: Why::Routine }
        );
    }

    #[test]
    fn only_a_new_major_fixing_it_is_left_to_the_merchant() {
        let rel = [bad("1.0.1", 0), c("2.0.0", 0)];
        assert_eq!(plan(hit("1.0.0"), Policy::Minor, 0, NOW, &rel), Plan::MajorNeeded { to: "2.0.0".into() });
        assert_eq!(plan(hit("1.0.0"), Policy::Minor, 0, NOW, &[bad("1.0.1", 0)]), Plan::Stay, "no fix yet");
    }

    #[test]
    fn routine_updates_wait_for_the_delay_and_only_under_minor() {
        let rel = [c("1.2.0", 2), c("1.1.0", 5)];
        assert_eq!(
            plan(at("1.0.0"), Policy::Minor, 3, NOW, &rel),
            Plan::Update { to: "1.1.0".into(), why: Why::Routine }
        );
        assert_eq!(
            plan(at("1.0.0"), Policy::Minor, 1, NOW, &rel),
            Plan::Update { to: "1.2.0".into(), why: Why::Routine }
        );
        assert_eq!(plan(at("1.0.0"), Policy::Minor, 6, NOW, &rel), Plan::Stay);
        assert_eq!(plan(at("1.0.0"), Policy::Security, 0, NOW, &rel), Plan::Stay);
    }

    #[test]
    fn majors_pre_releases_and_older_versions_are_never_automatic() {
        let rel = [c("2.0.0", 50), c("1.1.0-beta.1", 50), c("0.9.0", 50)];
        assert_eq!(plan(at("1.0.0"), Policy::Minor, 0, NOW, &rel), Plan::Stay);
        // 0.x: a new minor is a new major.
        assert_eq!(plan(at("0.1.0"), Policy::Minor, 0, NOW, &[c("0.2.0", 50)]), Plan::Stay);
        assert_eq!(
            plan(at("0.1.0"), Policy::Minor, 0, NOW, &[c("0.1.3", 50)]),
            Plan::Update { to: "0.1.3".into(), why: Why::Routine }
        );
    }

    #[test]
    fn behind_counts_only_compatible_releases_older_than_the_cutoff() {
        let rel = [c("1.1.0", 10), c("1.2.0", 1), c("2.0.0", 30)];
        let cutoff = Timestamp(NOW.0 - 7 * DAY_MS);
        assert_eq!(behind("1.0.0", &rel, cutoff), Some("1.1.0".into()));
        assert_eq!(behind("1.1.0", &rel, cutoff), None);
        assert_eq!(behind("not a version", &rel, cutoff), None);
    }
}
