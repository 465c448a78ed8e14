//! Severity from CVSS vectors (v3.0/v3.1 and v4.0), scored by the `cvss` crate.
//!
//! A record's `severity[].type` says which CVSS version its `score` vector is; a vector of another version than
//! its type says, or one the `cvss` crate cannot parse, is an error on the record (a wrong score would rank a
//! critical advisory below the fold). Other severity types (`CVSS_V2`, `Ubuntu`, …) are kept unscored.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::quote::quote;

/// The qualitative rating shared by CVSS v3 and v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// 0.0
    None,
    /// 0.1 – 3.9
    Low,
    /// 4.0 – 6.9
    Medium,
    /// 7.0 – 8.9
    High,
    /// 9.0 – 10.0
    Critical,
}

impl Rating {
    /// The lower-case name (as stored and shown).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<cvss::Severity> for Rating {
    fn from(s: cvss::Severity) -> Self {
        match s {
            cvss::Severity::None => Self::None,
            cvss::Severity::Low => Self::Low,
            cvss::Severity::Medium => Self::Medium,
            cvss::Severity::High => Self::High,
            cvss::Severity::Critical => Self::Critical,
        }
    }
}

/// Which scoring system a severity entry uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeverityKind {
    /// `CVSS_V3`: a `CVSS:3.0/…` or `CVSS:3.1/…` vector.
    CvssV3,
    /// `CVSS_V4`: a `CVSS:4.0/…` vector.
    CvssV4,
    /// Any other type: kept, not scored.
    Other(String),
}

/// A numeric score and its rating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// 0.0 – 10.0.
    pub value: f64,
    /// The qualitative band of `value`.
    pub rating: Rating,
}

/// One `severity[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Severity {
    /// The declared type.
    pub kind: SeverityKind,
    /// The vector (or other score text) as stated.
    pub vector: String,
    /// The computed score; `None` for types we do not score.
    pub score: Option<Score>,
}

/// Why a severity entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{vector}` is not a valid {kind} vector ({reason})")]
pub struct SeverityError {
    /// The declared type.
    pub kind: String,
    /// The vector, cut to 200 characters.
    pub vector: String,
    /// What the CVSS parser said.
    pub reason: String,
}

impl Severity {
    /// Parses and scores one entry.
    ///
    /// # Errors
    /// [`SeverityError`] when a `CVSS_V3`/`CVSS_V4` vector does not parse as that version.
    pub fn parse(kind: &str, vector: &str) -> Result<Self, SeverityError> {
        // The parser's message may quote the whole vector: cut it too, a feed must not bloat reports and logs.
        let fail = |reason: String| SeverityError {
            kind: quote(kind, 40),
            vector: quote(vector, 200),
            reason: quote(&reason, 200),
        };
        let (parsed_kind, score) = match kind {
            "CVSS_V3" => {
                let parsed = cvss::v3::Vector::from_str(vector).map_err(|e| fail(e.to_string()))?;
                let score = parsed.score();
                (SeverityKind::CvssV3, Some(Score { value: score.value(), rating: score.severity().into() }))
            }
            "CVSS_V4" => {
                let parsed = cvss::v4::Vector::from_str(vector).map_err(|e| fail(e.to_string()))?;
                let (value, rating) = (parsed.score().value(), parsed.score().severity());
                (SeverityKind::CvssV4, Some(Score { value, rating: rating.into() }))
            }
            other => (SeverityKind::Other(other.to_owned()), None),
        };
        Ok(Self { kind: parsed_kind, vector: vector.to_owned(), score })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v31_vector_scores_like_nvd() {
        // NVD's CVE-2020-28498 (elliptic): 6.8 medium.
        let s = Severity::parse("CVSS_V3", "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N").unwrap();
        let score = s.score.unwrap();
        assert!((score.value - 6.8).abs() < 1e-9);
        assert_eq!(score.rating, Rating::Medium);
        let crit = Severity::parse("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap();
        assert_eq!(crit.score.unwrap().rating, Rating::Critical);
    }

    #[test]
    fn v4_vector_scores() {
        let s = Severity::parse("CVSS_V4", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").unwrap();
        let score = s.score.unwrap();
        assert!((score.value - 9.3).abs() < 1e-9);
        assert_eq!(score.rating, Rating::Critical);
    }

    #[test]
    fn wrong_version_or_garbage_is_refused() {
        assert!(Severity::parse("CVSS_V3", "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N").is_err());
        assert!(Severity::parse("CVSS_V4", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").is_err());
        assert!(Severity::parse("CVSS_V3", "CVSS:3.1/AV:X/AC:L").is_err());
        assert!(Severity::parse("CVSS_V3", "=HYPERLINK(\"x\")").is_err());
        let other = Severity::parse("Ubuntu", "high").unwrap();
        assert!(other.score.is_none());
    }
}
