//! Hostile feeds: corpus records with random parts replaced (wrong types, empty, huge, special values) are either
//! accepted and evaluable or refused with a short error, never a panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::Path;

use palisade_advisories::{Advisory, AdvisoryDb, InstallIndex, Package, Version, rematch_all};
use proptest::prelude::*;
use serde_json::{Value, json};

fn corpus() -> &'static [Value] {
    static CORPUS: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    CORPUS.get_or_init(load)
}

fn load() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Array(items)) => out.extend(items),
            Ok(v @ Value::Object(_)) => out.push(v),
            _ => {}
        }
    }
    out
}

/// Counts the nodes of a JSON tree.
fn size(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(size).sum(),
        Value::Object(map) => map.values().map(size).sum(),
        _ => 0,
    }
}

/// Replaces the `n`-th node (pre-order) with `with`; returns how many nodes were walked.
fn replace(v: &mut Value, n: usize, with: &Value) -> usize {
    if n == 0 {
        *v = with.clone();
        return 1;
    }
    let mut walked = 1;
    let children: Vec<&mut Value> = match v {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(map) => map.values_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        if walked > n {
            break;
        }
        walked += replace(child, n - walked, with);
    }
    walked
}

fn replacement(kind: usize, text: &str) -> Value {
    match kind % 12 {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(""),
        3 => json!("0"),
        4 => json!("*"),
        5 => json!(text),
        6 => json!([text]),
        7 => json!({ text: text }),
        8 => json!("9".repeat(5_000)),
        9 => json!({ "introduced": text, "fixed": text }),
        10 => json!("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
        _ => json!(1e308),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn mutated_records_never_panic(pick in any::<usize>(), spots in prop::collection::vec((any::<usize>(), any::<usize>(), ".{0,12}"), 1..4)) {
        let records = corpus();
        let mut record = records[pick % records.len()].clone();
        for (at, kind, text) in &spots {
            let n = at % size(&record);
            replace(&mut record, n, &replacement(*kind, text));
        }
        match Advisory::from_json(record) {
            Ok(advisory) => {
                let mut db = AdvisoryDb::new();
                let packages: Vec<Package> = advisory.affected.iter().map(|a| a.package.clone()).collect();
                db.upsert(advisory);
                for package in packages {
                    for v in ["0.0.0", "1.0.0", "1.0.0-rc.1", "2.5.0"] {
                        let _ = db.affecting(&package, &Version::parse(v).unwrap());
                    }
                }
                let _ = rematch_all(&db, &InstallIndex::default());
            }
            Err(e) => prop_assert!(e.to_string().len() < 1_000, "error text is bounded: {}: {:.300}", e.to_string().len(), e.to_string()),
        }
    }
}
