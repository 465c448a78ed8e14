//! Versions of Palisade and of its extensions, ordered by SemVer 2.0 precedence.
//!
//! Both ecosystems ("Palisade" and "Palisade-Extension") version with SemVer 2.0, so SEMVER and ECOSYSTEM ranges
//! over them compare the same way. Precedence (SemVer section 11) ignores build metadata: `1.2.0+linux` and
//! `1.2.0` are the same version for matching, so the build part is dropped on parsing and the derived ordering
//! is exactly precedence.

use std::fmt;
use std::str::FromStr;

use semver::Prerelease;

use crate::quote::quote;

/// A version reduced to what SemVer precedence compares: major, minor, patch and pre-release.
///
/// Field order matters: the derived `Ord` compares them in this order, and `Prerelease`'s own ordering already
/// puts a release after its pre-releases (`1.0.0-rc.1 < 1.0.0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Prerelease,
}

/// A string that is not a SemVer 2.0 version (OSV forbids a leading `v`, and so do we).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a SemVer 2.0 version ({reason})")]
pub struct VersionError {
    /// The offending text, cut to 64 characters so a hostile feed cannot make error messages huge.
    pub value: String,
    /// What the SemVer parser disliked.
    pub reason: String,
}

impl Version {
    /// Parses a SemVer 2.0 version, dropping build metadata (it has no precedence).
    ///
    /// # Errors
    /// [`VersionError`] when the text is not SemVer 2.0 (e.g. `v1.0.0`, `1.0`, `01.0.0`).
    pub fn parse(text: &str) -> Result<Self, VersionError> {
        let parsed = semver::Version::parse(text)
            .map_err(|e| VersionError { value: quote(text, 64), reason: quote(&e.to_string(), 200) })?;
        Ok(Self::from(parsed))
    }

    /// A release version without pre-release (handy for tests and synthetic data).
    #[must_use]
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self { major, minor, patch, pre: Prerelease::EMPTY }
    }
}

impl From<semver::Version> for Version {
    fn from(v: semver::Version) -> Self {
        Self { major: v.major, minor: v.minor, patch: v.patch, pre: v.pre }
    }
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn precedence_follows_semver_section_11() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "2.0.0",
        ];
        for pair in ordered.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn build_metadata_has_no_precedence() {
        assert_eq!(v("1.2.3+build.7"), v("1.2.3"));
        assert_eq!(v("1.2.3+x").to_string(), "1.2.3");
    }

    #[test]
    fn non_semver_is_refused() {
        for bad in ["v1.0.0", "1.0", "01.0.0", "", "1.0.0-", "0", "*", "1.0.0 "] {
            assert!(Version::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = "x".repeat(10_000);
        assert!(Version::parse(&long).unwrap_err().value.chars().count() <= 65);
    }
}
