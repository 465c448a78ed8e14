//! CSV and xAPI exports of training records.

use palisade_awareness::ModuleId;
use palisade_awareness::content::catalogue;
use palisade_awareness::export::{VERB_FAILED, VERB_PASSED, csv, defuse, xapi};
use palisade_awareness::quiz::{Completion, MemberId};

fn rec(member: &str, passed: bool) -> Completion {
    Completion {
        member: MemberId(member.into()),
        module: ModuleId("pdpa-customer-data".into()),
        version: 1,
        correct: if passed { 4 } else { 3 },
        total: 5,
        score_percent: if passed { 80 } else { 60 },
        passed,
        started_at: "2026-12-01T09:00:00Z".parse().unwrap(),
        completed_at: "2026-12-01T09:06:40Z".parse().unwrap(),
    }
}

#[test]
fn csv_has_a_header_and_defuses_formula_cells() {
    let records =
        [rec("m-1", true), rec("=HYPERLINK(\"http://evil\",\"x\")", false), rec("@SUM(A1)", true), rec("-2+3", true)];
    let text = String::from_utf8(csv(&records).unwrap()).unwrap();
    let mut reader = ::csv::Reader::from_reader(text.as_bytes());
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>()[..3], ["member_id", "module_id", "module_version"]);
    let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[0][0], "m-1");
    assert_eq!(&rows[0][6], "true");
    assert_eq!(&rows[0][8], "2026-12-01T09:06:40Z");
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "dangerous cell {cell}");
        }
    }
    assert_eq!(&rows[1][0], "'=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(defuse("plain"), "plain");
}

#[test]
fn xapi_statements_use_adl_verbs_and_carry_no_email() {
    let cat = catalogue().unwrap();
    let out = xapi(&[rec("m-1", true), rec("m-2", false)], &cat, "https://palisade.example/");
    let list = out.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let passed = &list[0];
    assert_eq!(passed["verb"]["id"], VERB_PASSED);
    assert_eq!(passed["verb"]["display"]["en-US"], "passed");
    assert_eq!(passed["actor"]["account"]["name"], "m-1");
    assert_eq!(passed["actor"]["account"]["homePage"], "https://palisade.example");
    assert!(passed["actor"].get("mbox").is_none());
    assert_eq!(passed["object"]["id"], "https://palisade.example/xapi/activities/training/pdpa-customer-data/v1");
    assert_eq!(passed["object"]["definition"]["name"]["en-SG"], "Handling customer data under the PDPA");
    assert_eq!(passed["result"]["score"]["scaled"], 0.8);
    assert_eq!(passed["result"]["success"], true);
    assert_eq!(passed["result"]["duration"], "PT400S");
    assert_eq!(passed["timestamp"], "2026-12-01T09:06:40Z");
    assert_eq!(list[1]["verb"]["id"], VERB_FAILED);
    assert_eq!(list[1]["result"]["success"], false);
    // A hostile member id stays a JSON string value.
    let odd = xapi(&[rec("\"},{\"x\":1", true)], &cat, "https://p.example");
    assert_eq!(odd[0]["actor"]["account"]["name"], "\"},{\"x\":1");
}
