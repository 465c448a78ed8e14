//! Affected ranges and their evaluation, exactly as the OSV specification's `IncludedInRanges` pseudocode says.
//!
//! ```text
//! for range in ranges
//!   if BeforeLimits(v, range)
//!     vulnerable = false
//!     for evt in sorted(range.events)
//!       if evt.introduced is present && v >= evt.introduced      vulnerable = true
//!       else if evt.fixed is present && v >= evt.fixed            vulnerable = false
//!       else if evt.last_affected is present && v > evt.last_affected  vulnerable = false
//!     if vulnerable return true
//! return false
//! BeforeLimits: no limit events (an implicit "*") → true; else true iff v < some limit.
//! ```
//!
//! `introduced: "0"` sorts before every version (so `v >= "0"` always holds) and a limit containing `*` is
//! infinity. Events are sorted once, when the record is validated. The pseudocode leaves the order of two events
//! at one version open; only one such tie changes the result and has a sensible reading, `introduced: X` with
//! `last_affected: X` ("exactly X": introduced sorts first). An `introduced`/`fixed` tie is refused when the record
//! is validated, so the order walked here is never ambiguous.

use crate::version::Version;

/// The kind of one event, as named by its single key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `introduced`: from this version on, vulnerable.
    Introduced,
    /// `fixed`: from this version on, not vulnerable (exclusive upper bound).
    Fixed,
    /// `last_affected`: after this version, not vulnerable (inclusive upper bound).
    LastAffected,
    /// `limit`: versions at or above every limit are outside the range.
    Limit,
}

impl EventKind {
    /// The OSV key of this kind.
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Self::Introduced => "introduced",
            Self::Fixed => "fixed",
            Self::LastAffected => "last_affected",
            Self::Limit => "limit",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Self> {
        match key {
            "introduced" => Some(Self::Introduced),
            "fixed" => Some(Self::Fixed),
            "last_affected" => Some(Self::LastAffected),
            "limit" => Some(Self::Limit),
            _ => None,
        }
    }
}

/// An event exactly as the record states it (kind and uninterpreted version string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    /// Which of the four event kinds.
    pub kind: EventKind,
    /// The version string, uninterpreted (a commit hash for GIT ranges).
    pub value: String,
}

/// Where a vulnerability starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introduced {
    /// `"0"`: before every version.
    Zero,
    /// A real version.
    At(Version),
}

/// One step of a range's timeline (limits are kept apart: they do not take part in the walk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// From here on, vulnerable.
    Introduced(Introduced),
    /// From here on, not vulnerable.
    Fixed(Version),
    /// After here, not vulnerable.
    LastAffected(Version),
}

impl Event {
    /// The version part of the sort key: `introduced "0"` (None) before every version.
    pub(crate) fn sort_key(&self) -> Option<&Version> {
        match self {
            Self::Introduced(Introduced::Zero) => None,
            Self::Introduced(Introduced::At(v)) | Self::Fixed(v) | Self::LastAffected(v) => Some(v),
        }
    }

    /// The tie-break at one version: `introduced` before `last_affected`, so `{introduced: X, last_affected: X}`
    /// means "exactly X" (the only reading that makes sense; an introduced/fixed tie is refused instead).
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Self::Introduced(_) => 0,
            Self::LastAffected(_) => 1,
            Self::Fixed(_) => 2,
        }
    }
}

/// An upper limit of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// A limit containing `*`: no limit at all.
    Infinity,
    /// Versions below this one are inside the range.
    Below(Version),
}

/// How versions of an ordered range compare. Both are SemVer 2.0 for Palisade's two ecosystems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderedKind {
    /// `SEMVER`.
    Semver,
    /// `ECOSYSTEM` (SemVer 2.0 ordering for "Palisade" and "Palisade-Extension").
    Ecosystem,
}

/// A SEMVER or ECOSYSTEM range with its events parsed and sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderedRange {
    /// The range's declared type.
    pub kind: OrderedKind,
    /// introduced / fixed / last_affected events, sorted ascending (introduced first on a tie).
    pub timeline: Vec<Event>,
    /// The limit events (empty means the implicit `"*"`).
    pub limits: Vec<Limit>,
}

impl OrderedRange {
    /// The specification's `BeforeLimits`.
    #[must_use]
    pub fn before_limits(&self, v: &Version) -> bool {
        if self.limits.is_empty() {
            return true;
        }
        self.limits.iter().any(|limit| match limit {
            Limit::Infinity => true,
            Limit::Below(l) => v < l,
        })
    }

    /// Whether `v` falls in this range: `BeforeLimits` and then the walk over the sorted events.
    #[must_use]
    pub fn includes(&self, v: &Version) -> bool {
        if !self.before_limits(v) {
            return false;
        }
        let mut vulnerable = false;
        for event in &self.timeline {
            match event {
                Event::Introduced(Introduced::Zero) => vulnerable = true,
                Event::Introduced(Introduced::At(i)) => {
                    if v >= i {
                        vulnerable = true;
                    }
                }
                Event::Fixed(f) => {
                    if v >= f {
                        vulnerable = false;
                    }
                }
                Event::LastAffected(l) => {
                    if v > l {
                        vulnerable = false;
                    }
                }
            }
        }
        vulnerable
    }
}

/// One entry of `affected[].ranges`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Range {
    /// SEMVER or ECOSYSTEM over a SemVer ecosystem: evaluated.
    Ordered(OrderedRange),
    /// GIT, an unknown type, or any range of an ecosystem that is not Palisade's: kept as stated, never matches
    /// (a commit graph or a foreign ordering would be needed to evaluate it).
    Unevaluated {
        /// The declared `type` (e.g. `GIT`).
        kind: String,
        /// `repo`, when given.
        repo: Option<String>,
        /// The events as stated.
        events: Vec<RawEvent>,
    },
}

impl Range {
    /// Whether `v` is inside this range (always false for unevaluated ranges).
    #[must_use]
    pub fn includes(&self, v: &Version) -> bool {
        match self {
            Self::Ordered(r) => r.includes(v),
            Self::Unevaluated { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn range(timeline: Vec<Event>, limits: Vec<Limit>) -> OrderedRange {
        OrderedRange { kind: OrderedKind::Semver, timeline, limits }
    }

    #[test]
    fn introduced_zero_fixed_is_half_open() {
        let r = range(vec![Event::Introduced(Introduced::Zero), Event::Fixed(v("1.0.2"))], vec![]);
        assert!(r.includes(&v("0.0.0")));
        assert!(r.includes(&v("1.0.2-rc.1")));
        assert!(!r.includes(&v("1.0.2")));
        assert!(!r.includes(&v("2.0.0")));
    }

    #[test]
    fn last_affected_is_inclusive() {
        let r = range(vec![Event::Introduced(Introduced::At(v("1.0.0"))), Event::LastAffected(v("1.4.0"))], vec![]);
        assert!(!r.includes(&v("0.9.0")));
        assert!(r.includes(&v("1.4.0")));
        assert!(!r.includes(&v("1.4.1-alpha")));
    }

    #[test]
    fn limits_cut_and_star_is_infinity() {
        let open = vec![Event::Introduced(Introduced::At(v("1.0.0")))];
        let limited = range(open.clone(), vec![Limit::Below(v("2.0.0"))]);
        assert!(limited.includes(&v("1.9.9")));
        assert!(!limited.includes(&v("2.0.0")));
        let star = range(open, vec![Limit::Below(v("2.0.0")), Limit::Infinity]);
        assert!(star.includes(&v("9.0.0")));
    }
}
