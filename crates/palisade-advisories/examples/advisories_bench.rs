//! Benchmark for issue #19's advisory goals: full rematch of 25,000 advisories against 10,000 stores × 30
//! installed extensions in under 1 s, one new advisory matched in under 10 ms, peak memory under 256 MiB.
//!
//! Everything is generated from a fixed seed: a catalog of extensions with release histories and a skewed
//! popularity (a few extensions are installed almost everywhere, as in any plugin market), stores that install
//! 30 distinct extensions each, mostly at the latest release and sometimes at an older one, and OSV advisories
//! (as JSON, through the real validator) of every event kind with CVSS v3.1/v4 vectors. Run through
//! `bench/advisories.sh`, in a release build.
//!
//! Usage: `advisories_bench [STORES] [ADVISORIES] [EXTENSIONS]` (defaults 10000 25000 3000).

use std::error::Error;
use std::time::{Duration, Instant};

use palisade_advisories::{Advisory, AdvisoryDb, Install, InstallIndex, Package, Version, match_advisory, rematch_all};
use palisade_core::StoreId;
use serde_json::{Value, json};

const INSTALLS_PER_STORE: usize = 30;
const SEED: u64 = 0x5EED_0019;
const GOAL_FULL: Duration = Duration::from_secs(1);
const GOAL_ONE: Duration = Duration::from_millis(10);
const GOAL_RSS_KIB: u64 = 256 * 1024;

type Res<T> = Result<T, Box<dyn Error>>;

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// Skewed towards 0: the popularity rank of an extension.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        let b = self.below(n);
        let c = self.below(n);
        a.min(b).min(c)
    }
}

/// One extension of the catalog: its id and release history (ascending).
struct Extension {
    id: String,
    releases: Vec<String>,
}

fn catalog(rng: &mut Rng, extensions: usize) -> Vec<Extension> {
    (0..extensions)
        .map(|i| {
            let count = 5 + rng.below(36);
            let (mut major, mut minor, mut patch) = (0u64, 1u64, 0u64);
            let mut releases = Vec::with_capacity(count);
            for _ in 0..count {
                match rng.below(10) {
                    0 => (major, minor, patch) = (major + 1, 0, 0),
                    1..=3 => (minor, patch) = (minor + 1, 0),
                    _ => patch += 1,
                }
                if rng.chance(5) {
                    releases.push(format!("{major}.{minor}.{patch}-rc.1"));
                }
                releases.push(format!("{major}.{minor}.{patch}"));
            }
            Extension { id: format!("vendor{}.ext-{i:05}", i % 97), releases }
        })
        .collect()
}

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> Res<&'a T> {
    items.get(rng.below(items.len())).ok_or_else(|| "empty list".into())
}

fn store(i: usize) -> Res<StoreId> {
    Ok(format!("00000000-0000-7000-8000-{i:012x}").parse()?)
}

fn installs(rng: &mut Rng, catalog: &[Extension], stores: usize) -> Res<Vec<Install>> {
    let mut out = Vec::with_capacity(stores * INSTALLS_PER_STORE);
    for s in 0..stores {
        let id = store(s)?;
        let mut chosen: Vec<usize> = Vec::with_capacity(INSTALLS_PER_STORE);
        while chosen.len() < INSTALLS_PER_STORE.min(catalog.len()) {
            let e = rng.skewed(catalog.len());
            if !chosen.contains(&e) {
                chosen.push(e);
            }
        }
        for e in chosen {
            let ext = catalog.get(e).ok_or("catalog index")?;
            // 70 % on the latest release, the rest on one of the last eight.
            let back = if rng.chance(70) { 0 } else { rng.below(8.min(ext.releases.len())) };
            let at = ext.releases.len().saturating_sub(1 + back);
            let version = Version::parse(ext.releases.get(at).ok_or("release index")?)?;
            out.push(Install { store: id, package: Package::extension(&ext.id), version });
        }
    }
    Ok(out)
}

const V3: [&str; 4] = [
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:L/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N",
    "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N",
];
const V4: &str = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";

/// Events for one range over `releases`: every kind appears across the set.
fn events(rng: &mut Rng, releases: &[String]) -> Res<Vec<Value>> {
    let n = releases.len();
    let start = rng.below(n);
    let end = start + 1 + rng.below(n - start);
    let intro = if rng.chance(30) { "0".to_owned() } else { releases.get(start).ok_or("start")?.clone() };
    let mut events = vec![json!({ "introduced": intro })];
    match rng.below(20) {
        0 => {}
        1 | 2 => events.push(json!({ "last_affected": releases.get(end - 1).ok_or("end")? })),
        3 => events.push(json!({ "limit": releases.get(end.min(n - 1)).ok_or("limit")? })),
        _ => match releases.get(end) {
            Some(fixed) => events.push(json!({ "fixed": fixed })),
            None => events.push(json!({ "last_affected": releases.get(n - 1).ok_or("last")? })),
        },
    }
    Ok(events)
}

fn advisory_json(rng: &mut Rng, catalog: &[Extension], n: usize) -> Res<Value> {
    let ext = catalog.get(rng.skewed(catalog.len())).ok_or("catalog")?;
    let mut ranges = vec![json!({ "type": "SEMVER", "events": events(rng, &ext.releases)? })];
    if rng.chance(10) {
        ranges.push(json!({ "type": "ECOSYSTEM", "events": events(rng, &ext.releases)? }));
    }
    let versions: Vec<&String> = if rng.chance(10) { vec![pick(rng, &ext.releases)?] } else { Vec::new() };
    let severity = if rng.chance(20) {
        json!([{ "type": "CVSS_V4", "score": V4 }])
    } else {
        json!([{ "type": "CVSS_V3", "score": pick(rng, &V3)? }])
    };
    let mut record = json!({
        "schema_version": "1.7.0",
        "id": format!("PAL-2026-{n:06}"),
        "modified": "2026-11-01T00:00:00Z",
        "published": "2026-10-01T00:00:00Z",
        "summary": format!("Synthetic advisory {n} for {}", ext.id),
        "severity": severity,
        "affected": [{ "package": { "ecosystem": "Palisade-Extension", "name": ext.id }, "ranges": ranges, "versions": versions }],
    });
    if rng.chance(2)
        && let Some(fields) = record.as_object_mut()
    {
        fields.insert("withdrawn".to_owned(), json!("2026-11-02T00:00:00Z"));
    }
    Ok(record)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// This process's CPU time (user + system) from `/proc/self/stat`, in clock ticks (10 ms on Linux): on a shared
/// machine the wall time includes waiting for a core, the CPU time does not.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after.split_whitespace().skip(11).take(2).filter_map(|f| f.parse().ok()).collect();
    fields.iter().sum()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn verdict<T: PartialOrd>(value: T, goal: T) -> &'static str {
    if value < goal { "PASS" } else { "FAIL" }
}

fn arg(n: usize, default: usize) -> Res<usize> {
    Ok(std::env::args().nth(n).map(|s| s.parse()).transpose()?.unwrap_or(default))
}

fn main() -> Res<()> {
    let (stores, advisories, extensions) = (arg(1, 10_000)?, arg(2, 25_000)?, arg(3, 3_000)?);
    println!("load average at start: {} (2 cores, shared; times are wall-clock)", load_average());
    let mut rng = Rng(SEED);
    let catalog = catalog(&mut rng, extensions);

    let t = Instant::now();
    let mut db = AdvisoryDb::new();
    for n in 0..advisories {
        db.upsert(Advisory::from_json(advisory_json(&mut rng, &catalog, n)?)?);
    }
    println!("ingest: {advisories} advisories validated and indexed in {:.1?}", t.elapsed());

    let t = Instant::now();
    let list = installs(&mut rng, &catalog, stores)?;
    let index = InstallIndex::new(list);
    println!(
        "installs: {} ({stores} stores × {INSTALLS_PER_STORE}), {} distinct (extension, version), grouped in {:.1?}",
        index.len(),
        index.distinct_versions(),
        t.elapsed()
    );

    let full = time_full(&db, &index);
    let one = time_one(&mut rng, &catalog, &mut db, &index, advisories)?;
    let rss = peak_rss_kib();
    println!("load average at end: {}", load_average());
    println!();
    println!("full rematch (worst of 3): {full:.1?}  goal < 1 s        {}", verdict(full, GOAL_FULL));
    println!("one new advisory (p99):    {one:.2?}  goal < 10 ms      {}", verdict(one, GOAL_ONE));
    println!("peak RSS (VmHWM):          {} MiB  goal < 256 MiB   {}", rss / 1024, verdict(rss, GOAL_RSS_KIB));
    if full < GOAL_FULL && one < GOAL_ONE && rss < GOAL_RSS_KIB { Ok(()) } else { Err("a goal was missed".into()) }
}

fn time_full(db: &AdvisoryDb, index: &InstallIndex) -> Duration {
    let mut worst = Duration::ZERO;
    for round in 1..=3 {
        let (t, cpu) = (Instant::now(), cpu_ticks());
        let matches = rematch_all(db, index);
        let (took, cpu_ms) = (t.elapsed(), (cpu_ticks() - cpu) * 10);
        let stores: std::collections::HashSet<StoreId> = matches.iter().map(|m| m.store).collect();
        println!(
            "full rematch #{round}: {} matches, {} stores affected, {took:.1?} wall, ~{cpu_ms} ms CPU",
            matches.len(),
            stores.len()
        );
        worst = worst.max(took);
    }
    worst
}

/// 200 new advisories, each validated, stored and matched on its own; the first ones hit the most-installed
/// extensions (the worst case: most stores to fan out to).
fn time_one(
    rng: &mut Rng,
    catalog: &[Extension],
    db: &mut AdvisoryDb,
    index: &InstallIndex,
    base: usize,
) -> Res<Duration> {
    let mut times = Vec::with_capacity(200);
    let mut most_matches = 0;
    for k in 0..200 {
        let mut record = advisory_json(rng, catalog, base + k)?;
        if k < 20 {
            let ext = catalog.get(k).ok_or("catalog")?;
            let affected = json!([{ "package": { "ecosystem": "Palisade-Extension", "name": ext.id },
                "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }] }] }]);
            if let Some(fields) = record.as_object_mut() {
                fields.insert("affected".to_owned(), affected);
            }
        }
        let t = Instant::now();
        let advisory = Advisory::from_json(record)?;
        let id = advisory.id.clone();
        db.upsert(advisory);
        let matched = db.get(&id).map_or(0, |a| match_advisory(a, index).len());
        times.push(t.elapsed());
        most_matches = most_matches.max(matched);
    }
    times.sort_unstable();
    let at = |q: usize| times.get((times.len() * q / 100).min(times.len().saturating_sub(1))).copied();
    let (p50, p99) = (at(50).unwrap_or_default(), at(99).unwrap_or_default());
    let worst = times.last().copied().unwrap_or_default();
    println!(
        "one new advisory: p50 {p50:.2?}, p99 {p99:.2?}, worst {worst:.2?} (largest fan-out: {most_matches} stores)"
    );
    // Judged on p99: on a shared machine the single worst sample mostly measures being descheduled.
    Ok(p99)
}
