//! Inputs found by fuzzing (`fuzz/regressions/*`) and edge cases written by hand, replayed through the
//! normaliser, the rule parser and the engine: none may panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_shield::normalise::{Plus, fold, normalise, resolve_path};
use palisade_shield::rules::parse;
use palisade_shield::{Policy, Request, Shield};

fn inputs() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![
        b"%".to_vec(),
        b"%u".to_vec(),
        b"%uD800".to_vec(),
        b"\\u".to_vec(),
        b"\\uD800\\x".to_vec(),
        b"/*!".to_vec(),
        b"/**/*/".to_vec(),
        b"&#xFFFFFFFF;&#0;".to_vec(),
        "\u{0}\u{202e}\u{feff}%E2%80%AE".as_bytes().to_vec(),
        b"block if header \"".to_vec(),
        b"block if path matches \"((((((((((((((((((((a)))))))))))))))))))))\"".to_vec(),
        b"allow if ip in ::/0".to_vec(),
        b"allow if ip in 0.0.0.0/0,::/0".to_vec(),
        b"log if not not path = \"/\"".to_vec(),
        "challenge if arg \"\u{1F600}\" = \"\\\"".as_bytes().to_vec(),
        vec![b'%'; 10_000],
        b"..\\".repeat(5000),
    ];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn nothing_found_by_fuzzing_panics_again() {
    let shield = Shield::default();
    for data in inputs() {
        let s = String::from_utf8_lossy(&data);
        for plus in [Plus::Literal, Plus::Space] {
            let n = normalise(&s, plus);
            let _ = fold(&n.decoded);
            let _ = resolve_path(&n.decoded);
        }
        let _ = parse(&s);
        let req =
            Request::new("POST", &format!("/x?q={s}")).header("content-type", "application/json").body(data.clone());
        for paranoia in 1..=4 {
            let _ = shield.inspect(&req, &Policy { paranoia, ..Policy::default() });
        }
    }
}
