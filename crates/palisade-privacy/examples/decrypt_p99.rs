//! Field decryption latency: p99 of opening one personal-data field with a store's (cached) data key.
//! Goal from issue #21: p99 under 5 µs. Run with `cargo run --release -p palisade-privacy --example decrypt_p99`
//! (a debug build is an order of magnitude slower and says nothing). Not a timed test: a busy machine can fail it.

use std::time::{Duration, Instant};

use palisade_core::ids::StoreId;
use palisade_privacy::{DataKey, DekVersion, FieldRef, KekVersion, LocalKeks};

const SAMPLES: usize = 20_000;
const GOAL: Duration = Duration::from_micros(5);

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len().saturating_mul(p) / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keks = LocalKeks::from_master_key(KekVersion(1), &[42u8; 32])?;
    let store = StoreId::new();
    let wrapped = DataKey::generate(store, DekVersion(1)).wrap(&keks, KekVersion(1))?;
    let rows: Vec<String> = (0..SAMPLES).map(|i| format!("0193a2b4-5c6d-7e8f-9a0b-{i:012}")).collect();
    let dek = wrapped.unwrap_key(&keks)?;
    let mut sealed = Vec::with_capacity(SAMPLES);
    for (i, row) in rows.iter().enumerate() {
        let field = FieldRef { store, table: "buyers", column: "email", row };
        sealed.push(dek.seal(&field, format!("buyer.number.{i}@example.com").as_bytes())?);
    }
    let mut open = Vec::with_capacity(SAMPLES);
    let mut unwrap_and_open = Vec::with_capacity(SAMPLES);
    for (row, ct) in rows.iter().zip(&sealed) {
        let field = FieldRef { store, table: "buyers", column: "email", row };
        let start = Instant::now();
        let plain = dek.open(&field, ct)?;
        open.push(start.elapsed());
        std::hint::black_box(plain);
        let start = Instant::now();
        let plain = wrapped.unwrap_key(&keks)?.open(&field, ct)?;
        unwrap_and_open.push(start.elapsed());
        std::hint::black_box(plain);
    }
    open.sort_unstable();
    unwrap_and_open.sort_unstable();
    let p99 = percentile(&open, 99);
    println!(
        "open (cached DEK): p50 {:?}  p99 {:?}  max {:?}",
        percentile(&open, 50),
        p99,
        open.last().copied().unwrap_or_default()
    );
    println!(
        "unwrap DEK + open: p50 {:?}  p99 {:?}  (informational: DEKs are cached per store)",
        percentile(&unwrap_and_open, 50),
        percentile(&unwrap_and_open, 99)
    );
    let verdict = if p99 < GOAL { "PASS" } else { "FAIL" };
    println!("{verdict}: decrypt p99 {p99:?} (goal < {GOAL:?}, {SAMPLES} samples)");
    Ok(())
}
