//! The scam-message detector against the labelled corpus (issue #20 item 5): recall ≥ 95 % and false positives
//! ≤ 2 % on the dev half, and the held-out half's figures as committed. The detector was written looking only at
//! the dev half's failures (`DEV_FAILURES=1 cargo test -p palisade-trust --test messages -- --nocapture` prints
//! them); the held-out half's failures are never printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;

use palisade_trust::messages::{Context, Verdict, assess};

const CORPUS: &str = include_str!("corpus/messages.tsv");
const CONTEXT: Context<'static> = Context { own_domains: &["palisade.sg"] };

struct Row<'a> {
    flag: bool,
    category: &'a str,
    text: &'a str,
}

fn half(name: &str) -> Vec<Row<'static>> {
    let mut current = "";
    let mut rows = Vec::new();
    for line in CORPUS.lines() {
        if let Some(split) = line.strip_prefix("#split ") {
            current = if split == "dev" { "dev" } else { "held-out" };
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut cols = line.splitn(3, '\t');
        let (label, category, text) = (cols.next().unwrap(), cols.next().unwrap(), cols.next().unwrap());
        assert!(label == "flag" || label == "ok", "bad label {label:?}");
        if current == name {
            rows.push(Row { flag: label == "flag", category, text });
        }
    }
    rows
}

struct Figures {
    recall: f64,
    false_positive_rate: f64,
    flagged: usize,
    clean: usize,
}

/// Recall and false positives on one half. Failures are printed only for the dev half, and only when
/// `DEV_FAILURES` is set.
fn measure(name: &str) -> Figures {
    let show_failures = name == "dev" && std::env::var_os("DEV_FAILURES").is_some();
    let rows = half(name);
    let (mut tp, mut pos, mut fp, mut neg) = (0, 0, 0, 0);
    let mut missed: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &rows {
        let a = assess(r.text, &CONTEXT);
        let hit = a.verdict != Verdict::Ok;
        if r.flag {
            pos += 1;
            tp += usize::from(hit);
        } else {
            neg += 1;
            fp += usize::from(hit);
        }
        if hit != r.flag {
            *missed.entry(r.category).or_default() += 1;
            if show_failures {
                let codes: Vec<_> = a.findings.iter().map(|f| f.code.code()).collect();
                println!("{} [{}] {:?} -> {:?}", if r.flag { "MISS" } else { "FP  " }, r.category, r.text, codes);
            }
        }
    }
    let f = Figures {
        recall: tp as f64 / pos as f64,
        false_positive_rate: fp as f64 / neg as f64,
        flagged: pos,
        clean: neg,
    };
    println!(
        "{name}: {} flag / {} ok; recall {:.1} %, false positives {:.1} %; errors by category {missed:?}",
        f.flagged,
        f.clean,
        f.recall * 100.0,
        f.false_positive_rate * 100.0
    );
    f
}

#[test]
fn the_corpus_is_big_enough_and_split_in_halves() {
    let (dev, held) = (half("dev"), half("held-out"));
    assert!(dev.len() + held.len() >= 1_000);
    assert!(dev.len().abs_diff(held.len()) < 50);
    for rows in [&dev, &held] {
        assert!(rows.iter().filter(|r| r.flag).count() >= 200);
        assert!(rows.iter().filter(|r| !r.flag).count() >= 300);
    }
}

#[test]
fn dev_half_meets_the_goal() {
    let f = measure("dev");
    assert!(f.recall >= 0.95, "dev recall {}", f.recall);
    assert!(f.false_positive_rate <= 0.02, "dev false positives {}", f.false_positive_rate);
}

/// Measured once, after the detector was finished on the dev half (22:12 UTC, commit "messages module"): recall
/// 99.6 %, false positives 2.1 % (8 of 384), just over the 2 % goal. These are committed as measured and the
/// detector was not changed after looking at them.
#[test]
fn held_out_half_as_committed() {
    let f = measure("held-out");
    assert!(f.recall >= 0.995, "held-out recall {}", f.recall);
    assert!(f.false_positive_rate <= 0.021, "held-out false positives {}", f.false_positive_rate);
}
