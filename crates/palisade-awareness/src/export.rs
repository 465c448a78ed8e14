//! Training records out: CSV for spreadsheets, xAPI-shaped JSON statements for a learning record store.
//!
//! Both carry the opaque member id, never an email address or name (PDPA: no more personal data than the
//! purpose needs; the store can join names back in its own systems).

use std::borrow::Cow;

use serde_json::{Value, json};

use crate::content::Catalogue;
use crate::quiz::Completion;

/// The CSV header, in column order.
pub const CSV_HEADER: [&str; 9] = [
    "member_id",
    "module_id",
    "module_version",
    "correct",
    "total",
    "score_percent",
    "passed",
    "started_at",
    "completed_at",
];

/// ADL verb IRIs (xAPI vocabulary).
pub const VERB_PASSED: &str = "http://adlnet.gov/expapi/verbs/passed";
/// See [`VERB_PASSED`].
pub const VERB_FAILED: &str = "http://adlnet.gov/expapi/verbs/failed";
const ACTIVITY_ASSESSMENT: &str = "http://adlnet.gov/expapi/activities/assessment";

/// `cell` as a spreadsheet may safely open it: a leading `'` before a formula trigger (OWASP CSV injection).
#[must_use]
pub fn defuse(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r', '\n']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The completions as CSV bytes: a header row, then one row per record, every cell defused.
pub fn csv(records: &[Completion]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(CSV_HEADER)?;
    for c in records {
        let row = [
            c.member.0.clone(),
            c.module.0.clone(),
            c.version.to_string(),
            c.correct.to_string(),
            c.total.to_string(),
            c.score_percent.to_string(),
            c.passed.to_string(),
            c.started_at.to_string(),
            c.completed_at.to_string(),
        ];
        out.write_record(row.iter().map(|cell| defuse(cell).into_owned()))?;
    }
    out.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// One xAPI statement for a completion. `home_page` is the platform's base URL (the account's `homePage`, and
/// the root of activity ids), e.g. `https://palisade.example`.
#[must_use]
pub fn xapi_statement(c: &Completion, catalogue: &Catalogue, home_page: &str) -> Value {
    let base = home_page.trim_end_matches('/');
    let (verb, word) = if c.passed { (VERB_PASSED, "passed") } else { (VERB_FAILED, "failed") };
    let title = catalogue.module(&c.module.0).map_or_else(|| c.module.0.clone(), |m| m.title.clone());
    let scaled = if c.total == 0 { 0.0 } else { f64::from(c.correct) / f64::from(c.total) };
    let duration = c.completed_at.duration_since(c.started_at);
    json!({
        "actor": { "objectType": "Agent", "account": { "homePage": base, "name": c.member.0 } },
        "verb": { "id": verb, "display": { "en-US": word } },
        "object": {
            "objectType": "Activity",
            "id": format!("{base}/xapi/activities/training/{}/v{}", c.module, c.version),
            "definition": { "name": { "en-SG": title }, "type": ACTIVITY_ASSESSMENT },
        },
        "result": {
            "score": { "scaled": scaled, "raw": c.correct, "min": 0, "max": c.total },
            "success": c.passed,
            "completion": true,
            "duration": format!("PT{}S", duration.as_secs().max(0)),
        },
        "timestamp": c.completed_at.to_string(),
    })
}

/// All completions as a JSON array of statements.
#[must_use]
pub fn xapi(records: &[Completion], catalogue: &Catalogue, home_page: &str) -> Value {
    Value::Array(records.iter().map(|c| xapi_statement(c, catalogue, home_page)).collect())
}
