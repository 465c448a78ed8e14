//! The safe-messaging detector's one-screen report on a TSV corpus (label, category, text; `#split` lines mark the
//! halves): `cargo run --release -p palisade-trust --example message_report [FILE] [--show-errors]`.
//! Prints recall and false-positive rate per half and the time per message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::disallowed_methods)]

use std::time::Instant;

use palisade_trust::messages::{Context, Verdict, assess};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let show = args.iter().any(|a| a == "--show-errors");
    let path = args.iter().find(|a| !a.starts_with("--")).cloned();
    let text = match path {
        Some(p) => std::fs::read_to_string(p).unwrap(),
        None => include_str!("../tests/corpus/messages.tsv").to_owned(),
    };
    let ctx = Context { own_domains: &["palisade.sg"] };
    // The patterns compile on first use; keep that out of the timings.
    std::hint::black_box(assess("warm up", &ctx));
    let mut half = String::from("all");
    let mut stats: Vec<(String, [usize; 4])> = Vec::new();
    let mut times = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("#split ") {
            half = h.to_owned();
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.splitn(3, '\t').collect();
        let flag = cols[0] == "flag";
        let t = Instant::now();
        let a = assess(cols[2], &ctx);
        times.push(t.elapsed().as_nanos());
        let hit = a.verdict != Verdict::Ok;
        if stats.last().is_none_or(|(h, _)| *h != half) {
            stats.push((half.clone(), [0; 4]));
        }
        let s = &mut stats.last_mut().unwrap().1;
        s[usize::from(flag) * 2] += 1;
        s[usize::from(flag) * 2 + 1] += usize::from(hit);
        if show && hit != flag {
            let codes: Vec<_> = a.findings.iter().map(|f| f.code.code()).collect();
            println!("{} [{}] {:?} -> {:?}", if flag { "MISS" } else { "FP  " }, cols[1], cols[2], codes);
        }
    }
    for (h, [neg, fp, pos, tp]) in &stats {
        let pct = |a: usize, b: usize| a as f64 * 100.0 / b.max(1) as f64;
        println!(
            "{h}: {pos} flag, {neg} ok; recall {:.1} %, false positives {:.1} % ({fp})",
            pct(*tp, *pos),
            pct(*fp, *neg)
        );
    }
    times.sort_unstable();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    println!("assess per message: p50 {:.1} µs, p99 {:.1} µs (shared machine)", at(0.5), at(0.99));
}
