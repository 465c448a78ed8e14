//! KEK rotation throughput: re-wrap 10,000 stores' data keys under a new KEK version, count, retire the old one.
//! Goal from issue #21: under 10 s. Run with `cargo run --release -p palisade-privacy --example rewrap_10k`.
//! In-memory only (the database writes are the storage layer's share); not a timed test.

use std::time::{Duration, Instant};

use palisade_core::ids::StoreId;
use palisade_privacy::{Census, DataKey, DekVersion, KekVersion, LocalKeks, Rewrap, Rotation};

const KEYS: usize = 10_000;
const GOAL: Duration = Duration::from_secs(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &[1u8; 32])?;
    let mut table = Vec::with_capacity(KEYS);
    for _ in 0..KEYS {
        table.push(DataKey::generate(StoreId::new(), DekVersion(1)).wrap(&keks, KekVersion(1))?);
    }
    keks.add_current(KekVersion(2), &[2u8; 32])?;

    let start = Instant::now();
    let mut run = Rotation::new(&keks, KekVersion(2));
    for record in &mut table {
        if let Rewrap::Rewrapped(fresh) = run.step(record)? {
            *record = fresh;
        }
    }
    let progress = run.progress();
    let permit = Census::count(KekVersion(2), &table).permit_retirement(KekVersion(1))?;
    keks.retire(&permit)?;
    let elapsed = start.elapsed();

    // Everything still opens under the new version alone.
    let unreadable = table.iter().filter(|w| w.unwrap_key(&keks).is_err()).count();
    println!(
        "re-wrapped {} (already current {}, failed {}), census {} records, {} unreadable after retiring v1",
        progress.rewrapped,
        progress.already_current,
        progress.failed,
        permit.counted(),
        unreadable
    );
    let verdict = if elapsed < GOAL && unreadable == 0 { "PASS" } else { "FAIL" };
    println!("{verdict}: re-wrap {KEYS} keys in {elapsed:?} (goal < {GOAL:?})");
    Ok(())
}
