//! Reports: JSON (the stored form), printable HTML (everything escaped: page titles and evidence come from the
//! scanned site, which may be hostile) and SARIF 2.1.0 with the stable fingerprint in `partialFingerprints`.

use std::fmt::Write as _;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ScanError;
use crate::checks::RULES;
use crate::finding::{Finding, Severity};
use crate::observatory::{self, Score};

/// The key under which SARIF results carry the fingerprint.
pub const SARIF_FINGERPRINT_KEY: &str = "palisadeFingerprint/v1";

/// One scan's report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// What was scanned (the start URL).
    pub target: String,
    /// When, as the caller's clock formatted it (the engine reads no clock).
    pub generated_at: String,
    /// Title of the start page, as the site sent it.
    pub page_title: Option<String>,
    /// Header score of the start page.
    pub score: Option<Score>,
    /// Findings, most severe first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Builds a report; findings are sorted by severity (descending), then rule and fingerprint, and duplicates
    /// (same fingerprint) are dropped.
    #[must_use]
    pub fn new(target: &str, generated_at: &str, score: Option<Score>, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then_with(|| a.rule_id.cmp(&b.rule_id))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        findings.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        Self { target: target.to_owned(), generated_at: generated_at.to_owned(), page_title: None, score, findings }
    }

    /// The report as JSON (the stored form).
    pub fn to_json(&self) -> Result<String, ScanError> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// A stored report read back, so HTML and SARIF can be rendered again for an audit.
    pub fn from_json(json: &str) -> Result<Self, ScanError> {
        Ok(serde_json::from_str(json)?)
    }

    /// A self-contained printable HTML page (no scripts, no external resources).
    #[must_use]
    pub fn to_html(&self) -> String {
        let mut h = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        let _ = write!(h, "<title>Security scan: {}</title>", text(&self.target));
        h.push_str("<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px;vertical-align:top}</style></head><body>");
        let _ =
            write!(h, "<h1>Security scan of {}</h1><p>Generated {}</p>", text(&self.target), text(&self.generated_at));
        if let Some(title) = &self.page_title {
            let _ = write!(h, "<p>Start page title: {}</p>", text(title));
        }
        if let Some(score) = &self.score {
            let _ = write!(
                h,
                "<h2>Headers: {} / {} ({})</h2><table><tr><th>Test</th><th>Result</th><th>Modifier</th><th>Outcome</th><th>Evidence</th></tr>",
                score.score,
                score.max_score,
                text(&score.grade)
            );
            for t in &score.tests {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{:+}</td><td>{:?}</td><td>{}</td></tr>",
                    text(&t.test),
                    text(&t.result),
                    t.modifier,
                    t.outcome,
                    text(&t.evidence)
                );
            }
            h.push_str("</table>");
        }
        let _ = write!(
            h,
            "<h2>Findings ({})</h2><table><tr><th>Severity</th><th>Rule</th><th>Title</th><th>Location</th><th>Evidence</th><th>Fix</th><th>Fingerprint</th></tr>",
            self.findings.len()
        );
        for f in &self.findings {
            let loc = match (&f.location.selector, f.location.line) {
                (Some(s), Some(l)) => format!("{}:{l} {s}", f.location.url),
                (Some(s), None) => format!("{} {s}", f.location.url),
                (None, _) => f.location.url.clone(),
            };
            let safe_link = if f.fix_link.starts_with("https://") { f.fix_link.as_str() } else { "#" };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{}\">{}</a></td><td><code>{}</code></td></tr>",
                f.severity.as_str(),
                text(&f.rule_id),
                text(&f.title),
                text(&loc),
                text(&f.evidence),
                attr(safe_link),
                text(safe_link),
                text(&f.fingerprint)
            );
        }
        h.push_str("</table></body></html>");
        h
    }

    /// The report as a SARIF 2.1.0 log.
    #[must_use]
    pub fn to_sarif(&self) -> Value {
        let mut rules: Vec<Value> = RULES
            .iter()
            .map(|r| json!({"id": r.id, "shortDescription": {"text": r.summary}, "helpUri": r.fix_link}))
            .collect();
        for test in [
            "content-security-policy",
            "cookies",
            "cross-origin-resource-sharing",
            "redirection",
            "referrer-policy",
            "strict-transport-security",
            "subresource-integrity",
            "x-content-type-options",
            "x-frame-options",
            "cross-origin-resource-policy",
        ] {
            rules.push(json!({"id": format!("headers/{test}"), "shortDescription": {"text": format!("Observatory test {test}")}, "helpUri": observatory::fix_link(test)}));
        }
        let index = |id: &str| rules.iter().position(|r| r.get("id").and_then(Value::as_str) == Some(id));
        let results: Vec<Value> = self.findings.iter().map(|f| sarif_result(f, index(&f.rule_id))).collect();
        json!({
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [{
                "tool": {"driver": {"name": "palisade-scan", "version": env!("CARGO_PKG_VERSION"), "informationUri": "https://github.com/palisade/palisade", "rules": rules}},
                "results": results,
            }],
        })
    }
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn sarif_result(f: &Finding, rule_index: Option<usize>) -> Value {
    // SARIF requires a region to hold a start (line or offset), so one is only given for template findings.
    let mut physical = json!({"artifactLocation": {"uri": f.location.url}});
    if let (Some(line), Some(obj)) = (f.location.line, physical.as_object_mut()) {
        let mut region = json!({"startLine": line});
        if let (Some(sel), Some(r)) = (&f.location.selector, region.as_object_mut()) {
            r.insert("snippet".into(), json!({"text": sel}));
        }
        obj.insert("region".into(), region);
    }
    let mut result = json!({
        "ruleId": f.rule_id,
        "level": sarif_level(f.severity),
        "message": {"text": format!("{}: {}", f.title, f.evidence)},
        "locations": [{"physicalLocation": physical}],
        "partialFingerprints": {SARIF_FINGERPRINT_KEY: f.fingerprint},
        "properties": {"severity": f.severity.as_str(), "fixLink": f.fix_link, "selector": f.location.selector},
    });
    if let (Some(i), Some(obj)) = (rule_index, result.as_object_mut()) {
        obj.insert("ruleIndex".into(), json!(i));
    }
    result
}
