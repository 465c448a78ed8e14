//! Findings and their stable fingerprints.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

/// How bad a finding is. Ordered: `Info < Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; nothing to fix.
    Info,
    /// Defence in depth is missing.
    Low,
    /// Exploitable with help (a second bug, a user's click).
    Medium,
    /// Exploitable directly.
    High,
    /// Exploitable directly, with secrets or customer data at stake.
    Critical,
}

impl Severity {
    /// Lower-case name, as in JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }
}

/// Where a finding is. `url` and `selector` identify it (they feed the fingerprint); `line` is display only,
/// because editing a template above a finding must not turn it into a "new" finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// A page URL or a template path.
    pub url: String,
    /// What on that page/file: a CSS-like selector, a header name, or the offending snippet.
    pub selector: Option<String>,
    /// 1-based line in a template, when known.
    pub line: Option<u32>,
}

impl Location {
    /// A location that is a whole page or file.
    #[must_use]
    pub fn page(url: &str) -> Self {
        Self { url: url.to_owned(), selector: None, line: None }
    }

    /// A location at `selector` on `url`.
    #[must_use]
    pub fn at(url: &str, selector: impl Into<String>) -> Self {
        Self { url: url.to_owned(), selector: Some(selector.into()), line: None }
    }

    /// The normalised form hashed into fingerprints: URLs parsed (host lower-cased, default port and fragment
    /// dropped), other paths with `\` as `/`; the selector with whitespace runs collapsed.
    #[must_use]
    pub fn normalised(&self) -> String {
        let url = match Url::parse(self.url.trim()) {
            Ok(mut u) => {
                u.set_fragment(None);
                u.to_string()
            }
            Err(_) => self.url.trim().replace('\\', "/"),
        };
        let selector = self.selector.as_deref().map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
        match selector {
            Some(s) => format!("{url}\n{s}"),
            None => url,
        }
    }
}

/// One thing a scan found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule identifier, e.g. `page/mixed-content`.
    pub rule_id: String,
    /// Severity.
    pub severity: Severity,
    /// One-line title.
    pub title: String,
    /// What was seen (never a secret: exposed-file findings give status and size, not content).
    pub evidence: String,
    /// Where to read how to fix it.
    pub fix_link: String,
    /// Where it is.
    pub location: Location,
    /// Stable across scans: hash of the rule id and the normalised location only.
    pub fingerprint: String,
}

impl Finding {
    /// Builds a finding and computes its fingerprint.
    #[must_use]
    pub fn new(rule: &Rule, title: impl Into<String>, evidence: impl Into<String>, mut location: Location) -> Self {
        // Everything here can come from the scanned site: bound it so a hostile page cannot bloat a stored report.
        location.url = cap(location.url, MAX_FIELD);
        location.selector = location.selector.map(|s| cap(s, MAX_FIELD));
        let fingerprint = fingerprint(rule.id, &location);
        Self {
            rule_id: rule.id.to_owned(),
            severity: rule.severity,
            title: cap(title.into(), MAX_FIELD),
            evidence: cap(evidence.into(), MAX_FIELD),
            fix_link: rule.fix_link.to_owned(),
            location,
            fingerprint,
        }
    }

    /// The same finding with another severity (for rules whose severity depends on what was seen).
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }
}

/// Longest title, evidence, URL or selector kept in a finding (bytes; cut at a character boundary, marked `…`).
pub const MAX_FIELD: usize = 512;

fn cap(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    format!("{}…", crate::html::truncate(&s, max))
}

/// A rule's fixed parts.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable identifier.
    pub id: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Short description (SARIF `shortDescription`).
    pub summary: &'static str,
    /// Fix link.
    pub fix_link: &'static str,
}

/// Findings after [`cap_findings`]: what is listed, and the rules that were not listed in full.
#[derive(Debug, Clone, Default)]
pub struct Capped {
    /// At most `max_per_rule` of each rule and `max_total` in all, plus one summary finding per rule cut short
    /// (location `truncated:{rule}`, evidence saying how many more there were).
    pub kept: Vec<Finding>,
    /// Rules with findings past the cap: a finding of these rules missing from `kept` may still be there, so a
    /// caller must not take its absence as a fix.
    pub truncated: std::collections::HashSet<String>,
}

/// Bounds one scan's findings: a hostile page or theme can produce any number of flagged elements (and any number
/// of query-string variants of a page), and each would be a stored row, a report entry and memory.
#[must_use]
pub fn cap_findings(findings: Vec<Finding>, max_per_rule: usize, max_total: usize) -> Capped {
    use std::collections::BTreeMap;
    let mut kept_per_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut dropped: BTreeMap<String, (usize, Finding)> = BTreeMap::new();
    let mut kept = Vec::new();
    for f in findings {
        let n = kept_per_rule.entry(f.rule_id.clone()).or_default();
        if *n < max_per_rule && kept.len() < max_total {
            *n += 1;
            kept.push(f);
        } else {
            dropped.entry(f.rule_id.clone()).or_insert((0, f)).0 += 1;
        }
    }
    let truncated = dropped.keys().cloned().collect();
    for (rule, (more, mut f)) in dropped {
        f.evidence =
            format!("{more} more finding(s) of this kind were not listed (a scan lists at most {max_per_rule})");
        f.location = Location::page(&format!("truncated:{rule}"));
        f.fingerprint = fingerprint(&f.rule_id, &f.location);
        kept.push(f);
    }
    Capped { kept, truncated }
}

/// `sha256(rule_id "\n" normalised location)`, hex, first 32 characters.
#[must_use]
pub fn fingerprint(rule_id: &str, location: &Location) -> String {
    let digest = Sha256::digest(format!("{rule_id}\n{}", location.normalised()).as_bytes());
    let mut hex = hex::encode(digest);
    hex.truncate(32);
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_findings_is_capped_per_rule_with_a_count_of_the_rest() {
        let rule = Rule { id: "page/mixed-content", severity: Severity::Low, summary: "", fix_link: "" };
        let flood: Vec<Finding> =
            (0..10_000).map(|i| Finding::new(&rule, "t", "e", Location::page(&format!("/s/a?page={i}")))).collect();
        let capped = cap_findings(flood, 25, 400);
        assert_eq!(capped.kept.len(), 26);
        assert!(capped.truncated.contains("page/mixed-content"));
        let last = capped.kept.last().unwrap();
        assert!(last.evidence.starts_with("9975 more"), "{}", last.evidence);
        let few: Vec<Finding> =
            (0..3).map(|i| Finding::new(&rule, "t", "e", Location::page(&format!("/p{i}")))).collect();
        let capped = cap_findings(few, 25, 400);
        assert_eq!((capped.kept.len(), capped.truncated.len()), (3, 0));
    }

    #[test]
    fn fingerprint_ignores_evidence_title_line_case_and_fragment() {
        let rule = Rule { id: "page/x", severity: Severity::Low, summary: "", fix_link: "" };
        let a = Finding::new(&rule, "t1", "seen at 10:00", Location::at("https://Shop.Example/p#top", "img  [src]"));
        let mut loc = Location::at("https://shop.example:443/p", "img [src]");
        loc.line = Some(7);
        let b = Finding::new(&rule, "other title", "seen at 11:00", loc);
        assert_eq!(a.fingerprint, b.fingerprint);
        let c = Finding::new(&rule, "t1", "e", Location::at("https://shop.example/q", "img [src]"));
        assert_ne!(a.fingerprint, c.fingerprint);
        let other_rule = Rule { id: "page/y", ..rule };
        let d = Finding::new(&other_rule, "t1", "e", Location::at("https://shop.example/p", "img [src]"));
        assert_ne!(a.fingerprint, d.fingerprint);
        assert_eq!(a.fingerprint.len(), 32);
    }
}
