//! Header scoring as the MDN HTTP Observatory publishes it: start at 100, deduct every test's penalty, and only
//! if the result is 90 or more add the bonuses; never below 0. The modifiers are in [`SCORE_TABLE`]; the tests
//! and how each result is chosen are in [`csp`] and [`tests`]. See the README for what could not be confirmed.

pub mod csp;
pub mod tests;

use serde::{Deserialize, Serialize};

use crate::fetched::{Fetched, RedirectProbe};
use crate::finding::{Finding, Location, Rule, Severity};
use crate::html::Page;

/// Bonuses are only added when the score after penalties is at least this.
pub const MINIMUM_SCORE_FOR_EXTRA_CREDIT: i32 = 90;

/// The highest score possible with the modifiers below (100 + CSP 10 + cookies 5 + referrer 5 + HSTS preload 5
/// + SRI 5 + frame-ancestors 5 + CORP 10). The older 135-point scale is this without CORP.
pub const MAX_SCORE: i32 = 145;

/// The Origin the scanner sends when it fetches pages; a response that echoes it back with credentials allowed
/// is the Observatory's "universal access" CORS failure.
pub const SCANNER_PROBE_ORIGIN: &str = "https://palisade-scan.invalid";

/// Every result id with its modifier (MDN HTTP Observatory's published score table).
pub const SCORE_TABLE: &[(&str, i32)] = &[
    ("csp-implemented-with-no-unsafe-default-src-none", 10),
    ("csp-implemented-with-no-unsafe", 5),
    ("csp-implemented-with-unsafe-inline-in-style-src-only", 0),
    ("csp-implemented-with-insecure-scheme-in-passive-content-only", -10),
    ("csp-implemented-with-unsafe-eval", -10),
    ("csp-implemented-with-unsafe-inline", -20),
    ("csp-implemented-with-insecure-scheme", -20),
    ("csp-header-invalid", -25),
    ("csp-not-implemented", -25),
    ("csp-not-implemented-but-reporting-enabled", -25),
    ("csp-implemented-but-duplicate-directives", 0),
    ("cookies-secure-with-httponly-sessions-and-samesite", 5),
    ("cookies-secure-with-httponly-sessions", 0),
    ("cookies-not-found", 0),
    ("cookies-without-secure-flag-but-protected-by-hsts", -5),
    ("cookies-session-without-secure-flag-but-protected-by-hsts", -10),
    ("cookies-without-secure-flag", -20),
    ("cookies-samesite-flag-invalid", -20),
    ("cookies-anticsrf-without-samesite-flag", -20),
    ("cookies-session-without-httponly-flag", -30),
    ("cookies-session-without-secure-flag", -40),
    ("cross-origin-resource-sharing-not-implemented", 0),
    ("cross-origin-resource-sharing-implemented-with-public-access", 0),
    ("cross-origin-resource-sharing-implemented-with-restricted-access", 0),
    ("cross-origin-resource-sharing-implemented-with-universal-access", -50),
    ("redirection-to-https", 0),
    ("redirection-not-needed-no-http", 0),
    ("redirection-not-probed", 0),
    ("redirection-off-host-from-http", -5),
    ("redirection-not-to-https-on-initial-redirection", -10),
    ("redirection-not-to-https", -20),
    ("redirection-missing", -20),
    ("referrer-policy-private", 5),
    ("referrer-policy-not-implemented", 0),
    ("referrer-policy-unsafe", -5),
    ("referrer-policy-header-invalid", -5),
    ("hsts-preloaded", 5),
    ("hsts-implemented-max-age-at-least-six-months", 0),
    ("hsts-implemented-max-age-less-than-six-months", -10),
    ("hsts-not-implemented", -20),
    ("hsts-header-invalid", -20),
    ("hsts-not-implemented-no-https", -20),
    ("sri-implemented-and-all-scripts-loaded-securely", 5),
    ("sri-implemented-and-external-scripts-loaded-securely", 5),
    ("sri-not-implemented-response-not-html", 0),
    ("sri-not-implemented-but-no-scripts-loaded", 0),
    ("sri-not-implemented-but-all-scripts-loaded-from-secure-origin", 0),
    ("sri-not-implemented-but-external-scripts-loaded-securely", -5),
    ("sri-implemented-but-external-scripts-not-loaded-securely", -20),
    ("sri-not-implemented-and-external-scripts-not-loaded-securely", -50),
    ("x-content-type-options-nosniff", 0),
    ("x-content-type-options-not-implemented", -5),
    ("x-content-type-options-header-invalid", -5),
    ("x-frame-options-implemented-via-csp", 5),
    ("x-frame-options-sameorigin-or-deny", 0),
    ("x-frame-options-allow-from-origin", 0),
    ("x-frame-options-not-implemented", -20),
    ("x-frame-options-header-invalid", -20),
    ("corp-implemented-with-same-origin", 10),
    ("corp-implemented-with-same-site", 10),
    ("corp-implemented-with-cross-origin", 0),
    ("corp-not-implemented", 0),
    ("corp-header-invalid", -5),
];

/// The modifier of result `id` (0 for an unknown id, which the tests below never produce).
#[must_use]
pub fn modifier(id: &str) -> i32 {
    SCORE_TABLE.iter().find(|(k, _)| *k == id).map_or(0, |(_, m)| *m)
}

/// Whether one test passed, was skipped, or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The result is one the Observatory counts as a pass.
    Pass,
    /// Not a pass.
    Fail,
    /// Not evaluated (e.g. redirection without a plain-HTTP probe); modifier 0.
    Skipped,
}

/// One test's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    /// Test name, e.g. `content-security-policy`.
    pub test: String,
    /// Result id, e.g. `csp-implemented-with-unsafe-inline`.
    pub result: String,
    /// Score modifier of that result.
    pub modifier: i32,
    /// Pass, fail or skipped.
    pub outcome: Outcome,
    /// What was seen (header values, cut to 256 characters).
    pub evidence: String,
}

impl TestResult {
    pub(crate) fn new(test: &'static str, result: &'static str, outcome: Outcome, evidence: &str) -> Self {
        let evidence = crate::html::truncate(evidence, 256).to_owned();
        Self { test: test.to_owned(), result: result.to_owned(), modifier: modifier(result), outcome, evidence }
    }
}

/// The whole score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// Per-test results in a fixed order.
    pub tests: Vec<TestResult>,
    /// 100 + penalties, floored at 0.
    pub score_before_bonus: i32,
    /// Final score.
    pub score: i32,
    /// Letter grade.
    pub grade: String,
    /// The scale's maximum ([`MAX_SCORE`]).
    pub max_score: i32,
}

/// Scores one page response plus what the caller learned from the plain-HTTP probe.
#[must_use]
pub fn score(page: &Fetched, redirect: &RedirectProbe) -> Score {
    let doc = page.is_html().then(|| Page::parse(&page.body));
    score_parsed(page, doc.as_ref(), redirect)
}

/// [`score`] for a page the caller already parsed (`None` when it is not HTML).
#[must_use]
pub fn score_parsed(page: &Fetched, doc: Option<&Page>, redirect: &RedirectProbe) -> Score {
    let csp = csp::evaluate(page, doc);
    let hsts = tests::hsts(page);
    let hsts_state = if hsts.outcome == Outcome::Pass { tests::Hsts::Protected } else { tests::Hsts::Unprotected };
    let results = vec![
        csp.result.clone(),
        tests::cookies(page, hsts_state),
        tests::cors(page),
        tests::redirection(page, redirect),
        tests::referrer_policy(page, doc),
        hsts,
        tests::sri(page, doc),
        tests::x_content_type_options(page),
        tests::x_frame_options(page, csp.frame_ancestors.as_deref()),
        tests::corp(page),
    ];
    total(results)
}

/// Applies the two rounds (penalties, then bonuses at 90+) and grades.
#[must_use]
pub fn total(tests: Vec<TestResult>) -> Score {
    let penalties: i32 = tests.iter().map(|t| t.modifier).filter(|m| *m < 0).sum();
    let bonuses: i32 = tests.iter().map(|t| t.modifier).filter(|m| *m > 0).sum();
    let before = (100 + penalties).max(0);
    let score = if before >= MINIMUM_SCORE_FOR_EXTRA_CREDIT { before + bonuses } else { before };
    Score { tests, score_before_bonus: before, score, grade: grade(score).to_owned(), max_score: MAX_SCORE }
}

/// The Observatory's grading chart.
#[must_use]
pub fn grade(score: i32) -> &'static str {
    match score {
        100.. => "A+",
        90..=99 => "A",
        85..=89 => "A-",
        80..=84 => "B+",
        70..=79 => "B",
        65..=69 => "B-",
        60..=64 => "C+",
        50..=59 => "C",
        45..=49 => "C-",
        40..=44 => "D+",
        30..=39 => "D",
        25..=29 => "D-",
        _ => "F",
    }
}

/// Failed header tests as findings (one per test and page), severity by how much the failure costs.
#[must_use]
pub fn findings(page_url: &str, score: &Score) -> Vec<Finding> {
    score
        .tests
        .iter()
        .filter(|t| t.outcome == Outcome::Fail && t.modifier < 0)
        .map(|t| {
            let severity = match t.modifier {
                ..=-40 => Severity::High,
                -25..=-20 => Severity::Medium,
                _ => Severity::Low,
            };
            let rule = Rule { id: rule_id(&t.test), severity, summary: "", fix_link: fix_link(&t.test) };
            Finding::new(
                &rule,
                format!("{} ({}, {})", t.test, t.result, t.modifier),
                t.evidence.clone(),
                Location::at(page_url, format!("header:{}", t.test)),
            )
        })
        .collect()
}

fn rule_id(test: &str) -> &'static str {
    match test {
        "content-security-policy" => "headers/content-security-policy",
        "cookies" => "headers/cookies",
        "cross-origin-resource-sharing" => "headers/cross-origin-resource-sharing",
        "redirection" => "headers/redirection",
        "referrer-policy" => "headers/referrer-policy",
        "strict-transport-security" => "headers/strict-transport-security",
        "subresource-integrity" => "headers/subresource-integrity",
        "x-content-type-options" => "headers/x-content-type-options",
        "x-frame-options" => "headers/x-frame-options",
        _ => "headers/cross-origin-resource-policy",
    }
}

/// The MDN practical implementation guide for a test.
#[must_use]
pub fn fix_link(test: &str) -> &'static str {
    match test {
        "content-security-policy" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/CSP"
        }
        "cookies" => "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/Cookies",
        "cross-origin-resource-sharing" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/CORS"
        }
        "redirection" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/TLS#http_redirections"
        }
        "referrer-policy" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/Referrer_policy"
        }
        "strict-transport-security" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/TLS#http_strict_transport_security"
        }
        "subresource-integrity" => "https://developer.mozilla.org/en-US/docs/Web/Security/Subresource_Integrity",
        "x-content-type-options" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/MIME_types"
        }
        "x-frame-options" => {
            "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/Clickjacking"
        }
        _ => "https://developer.mozilla.org/en-US/docs/Web/Security/Practical_implementation_guides/CORP",
    }
}
