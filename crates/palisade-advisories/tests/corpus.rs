//! OSV conformance on the hand-built corpus in `tests/corpus/`, against the results in
//! `tests/corpus.expected.json` (worked out by hand from the specification's pseudocode).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use palisade_advisories::{
    AdvisoryDb, DEFAULT_MAX_FILE_BYTES, Ecosystem, IngestError, IngestReport, Package, Version, ingest_dir,
};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn expected() -> Value {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus.expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load() -> (AdvisoryDb, IngestReport) {
    let mut db = AdvisoryDb::new();
    let report = ingest_dir(&mut db, &corpus_dir(), DEFAULT_MAX_FILE_BYTES).unwrap();
    (db, report)
}

fn package(text: &str) -> Package {
    let (ecosystem, name) = text.split_once('/').unwrap();
    Package { ecosystem: Ecosystem::parse(ecosystem), name: name.to_owned() }
}

fn count(spec: &Value, key: &str, default: u64) -> usize {
    usize::try_from(spec.get(key).and_then(Value::as_u64).unwrap_or(default)).unwrap()
}

#[test]
fn every_file_has_the_expected_outcome() {
    let (_, report) = load();
    let expected = expected();
    let files = expected["files"].as_object().unwrap();
    let mut seen = BTreeSet::new();
    for file in &report.files {
        let name = file.path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.ends_with(".json"), "{name} is not a .json file and must be skipped");
        let spec = files.get(&name).cloned().unwrap_or(Value::Null);
        assert_eq!(file.inserted, count(&spec, "inserted", 1), "{name}: inserted ({:?})", file.errors);
        assert_eq!(file.replaced, count(&spec, "replaced", 0), "{name}: replaced");
        assert_eq!(file.stale, count(&spec, "stale", 0), "{name}: stale");
        let wanted = spec.get("errors").and_then(Value::as_array).cloned().unwrap_or_default();
        assert_eq!(file.errors.len(), wanted.len(), "{name}: errors {:?}", file.errors);
        for (got, want) in file.errors.iter().zip(&wanted) {
            let field = match got {
                IngestError::Record(e) => Some(e.field.as_str()),
                _ => None,
            };
            assert_eq!(field, want["field"].as_str(), "{name}: field of {got}");
            let text = got.to_string();
            let contains = want["contains"].as_str().unwrap();
            assert!(text.contains(contains), "{name}: `{text}` should contain `{contains}`");
        }
        seen.insert(name);
    }
    for name in files.keys() {
        assert!(seen.contains(name), "{name} is in the expectations but not in the corpus");
    }
    assert!(report.refused().count() >= 20, "the malformed files are refused");
}

#[test]
fn every_record_matches_exactly_the_expected_versions() {
    let (db, _) = load();
    let expected = expected();
    let records = expected["records"].as_object().unwrap();
    assert_eq!(db.len(), records.len(), "every accepted record has expectations, and no refused one was kept");
    for (id, checks) in records {
        let advisory = db.get(id).unwrap_or_else(|| panic!("{id} should have been accepted"));
        for check in checks.as_array().unwrap() {
            let pkg = package(check["package"].as_str().unwrap());
            for (key, want) in [("affected", true), ("unaffected", false)] {
                for v in check[key].as_array().unwrap() {
                    let v = Version::parse(v.as_str().unwrap()).unwrap();
                    assert_eq!(advisory.affects(&pkg, &v), want, "{id} {pkg} {v}: IsVulnerable");
                    let via_index = db.affecting(&pkg, &v).iter().any(|a| a.id == *id);
                    assert_eq!(via_index, want, "{id} {pkg} {v}: through the package index");
                }
            }
            if let Some(rating) = check.get("rating") {
                let entry = advisory.affected.iter().find(|a| a.package == pkg).unwrap();
                let got = advisory.rating_for(entry).map(|r| r.as_str().to_owned());
                assert_eq!(got.as_deref(), rating.as_str(), "{id} {pkg}: rating");
            }
        }
    }
}

#[test]
fn newer_modified_replaces_and_older_cannot_roll_back() {
    let (db, _) = load();
    let advisory = db.get("PAL-T-0014").unwrap();
    assert_eq!(advisory.modified.to_string(), "2026-02-01T00:00:00Z");
}

#[test]
fn an_oversized_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!("[{}]", vec!["{\"id\":\"PAL-X\"}"; 2_000].join(","));
    std::fs::write(dir.path().join("big.json"), &big).unwrap();
    std::fs::copy(corpus_dir().join("v01-introduced-zero-fixed.json"), dir.path().join("ok.json")).unwrap();
    let mut db = AdvisoryDb::new();
    let report = ingest_dir(&mut db, dir.path(), 4_096).unwrap();
    let refused: Vec<_> = report.refused().collect();
    assert_eq!(refused.len(), 1);
    assert!(matches!(refused[0].errors[0], IngestError::TooLarge { max: 4_096, .. }));
    assert_eq!(db.len(), 1, "the other file is still ingested");
}

#[test]
fn a_missing_directory_is_an_error_not_a_panic() {
    let mut db = AdvisoryDb::new();
    let err = ingest_dir(&mut db, Path::new("/nonexistent/palisade-advisories"), DEFAULT_MAX_FILE_BYTES).unwrap_err();
    assert!(matches!(err, IngestError::Io(_)));
}

#[test]
fn hostile_text_in_errors_is_bounded() {
    let long_id = "A".repeat(100_000);
    let record = serde_json::json!({ "id": long_id, "modified": "2026-01-01T00:00:00Z" });
    let err = palisade_advisories::Advisory::from_json(record).unwrap_err();
    assert!(err.to_string().len() < 400, "error text stays short: {}", err.to_string().len());
    let version = "9".repeat(50_000);
    let record = serde_json::json!({ "id": "PAL-Y", "modified": "2026-01-01T00:00:00Z", "affected": [{
        "package": { "ecosystem": "Palisade-Extension", "name": "x" },
        "ranges": [{ "type": "SEMVER", "events": [{ "introduced": version }] }] }] });
    let err = palisade_advisories::Advisory::from_json(record).unwrap_err();
    assert!(err.to_string().len() < 400, "{}", err);
}

#[test]
fn control_characters_from_the_feed_are_escaped_in_errors() {
    let record = serde_json::json!({ "id": "PAL-Z\n2026-12-06 INFO forged", "modified": "2026-01-01T00:00:00Z" });
    let text = palisade_advisories::Advisory::from_json(record).unwrap_err().to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("PAL-Z\\n2026"), "{text}");
    let record = serde_json::json!({ "id": "PAL-Z", "modified": "2026-01-01T00:00:00Z", "affected": [{
        "package": { "ecosystem": "Palisade-Extension", "name": "x" },
        "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }, { "\u{1b}[2Jfixed": "1.0.0" }] }] }] });
    let text = palisade_advisories::Advisory::from_json(record).unwrap_err().to_string();
    assert!(!text.contains('\u{1b}'), "{text}");
}
