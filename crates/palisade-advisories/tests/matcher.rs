//! The indexed matcher gives exactly what brute force gives (every install × every advisory through
//! `Advisory::affects`, the specification's `IsVulnerable`), on random advisories and installs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_advisories::{
    Advisory, AdvisoryDb, Install, InstallIndex, Package, Version, match_advisory, match_install, rematch_all,
};
use palisade_core::StoreId;
use proptest::prelude::*;
use serde_json::{Value, json};

/// A small deterministic generator, so that one proptest seed describes a whole data set.
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
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Versions in ascending order, pre-releases included.
fn pool() -> Vec<String> {
    let mut out = Vec::new();
    for major in 0..3 {
        for minor in 0..3 {
            for patch in 0..2 {
                out.push(format!("{major}.{minor}.{patch}-rc.1"));
                out.push(format!("{major}.{minor}.{patch}"));
            }
        }
    }
    out
}

const PACKAGES: [(&str, &str); 4] = [
    ("Palisade-Extension", "x.alpha"),
    ("Palisade-Extension", "x.beta"),
    ("Palisade-Extension", "x.gamma"),
    ("Palisade", "palisade"),
];

fn random_range(rng: &mut Rng, pool: &[String]) -> Value {
    let mut picks: Vec<usize> = (0..1 + rng.below(5)).map(|_| rng.below(pool.len())).collect();
    picks.sort_unstable();
    picks.dedup();
    let closing = if rng.chance(50) { "fixed" } else { "last_affected" };
    let mut events = Vec::new();
    if rng.chance(40) {
        events.push(json!({ "introduced": "0" }));
    }
    for (n, i) in picks.iter().enumerate() {
        let kind = if n == 0 && events.is_empty() {
            "introduced"
        } else if rng.chance(50) {
            closing
        } else {
            "introduced"
        };
        events.push(json!({ kind: pool[*i] }));
    }
    if rng.chance(25) {
        let limit = if rng.chance(20) { "*".to_owned() } else { pool[rng.below(pool.len())].clone() };
        events.push(json!({ "limit": limit }));
    }
    // The record's order need not be sorted: the evaluator sorts.
    if rng.chance(50) {
        events.reverse();
    }
    let kind = if rng.chance(50) { "SEMVER" } else { "ECOSYSTEM" };
    json!({ "type": kind, "events": events })
}

fn random_advisory(rng: &mut Rng, pool: &[String], n: usize) -> Value {
    let affected: Vec<Value> = (0..1 + rng.below(3))
        .map(|_| {
            let (ecosystem, name) = PACKAGES[rng.below(PACKAGES.len())];
            let ranges: Vec<Value> = (0..rng.below(3)).map(|_| random_range(rng, pool)).collect();
            let versions: Vec<&String> = (0..rng.below(3)).map(|_| &pool[rng.below(pool.len())]).collect();
            json!({ "package": { "ecosystem": ecosystem, "name": name }, "ranges": ranges, "versions": versions })
        })
        .collect();
    // A few ids repeat with another `modified`, so replacement (and un-indexing) is exercised too.
    let id = format!("PAL-P-{}", if rng.chance(20) { rng.below(n.max(1)) } else { 1000 + n });
    let mut record = json!({
        "id": id,
        "modified": format!("2026-01-{:02}T00:00:00Z", 1 + rng.below(28)),
        "affected": affected,
    });
    if rng.chance(10) {
        record["withdrawn"] = json!("2026-02-01T00:00:00Z");
    }
    record
}

fn store(i: usize) -> StoreId {
    format!("00000000-0000-7000-8000-{i:012x}").parse().unwrap()
}

type Row = (String, String, String, String);

fn row(store: StoreId, advisory: &Advisory, package: &Package, version: &Version) -> Row {
    (store.to_string(), advisory.id.clone(), package.to_string(), version.to_string())
}

fn brute_force(db: &AdvisoryDb, installs: &[Install]) -> Vec<Row> {
    let mut rows = Vec::new();
    for install in installs {
        for advisory in db.iter() {
            if advisory.affects(&install.package, &install.version) {
                rows.push(row(install.store, advisory, &install.package, &install.version));
            }
        }
    }
    rows.sort();
    rows
}

fn build(seed: u64, advisories: usize, installs: usize) -> (AdvisoryDb, Vec<Install>) {
    let mut rng = Rng(seed);
    let pool = pool();
    let mut db = AdvisoryDb::new();
    for n in 0..advisories {
        let advisory = Advisory::from_json(random_advisory(&mut rng, &pool, n)).unwrap();
        db.upsert(advisory);
    }
    let installs = (0..installs)
        .map(|_| {
            let (ecosystem, name) = PACKAGES[rng.below(PACKAGES.len())];
            let package =
                Package { ecosystem: palisade_advisories::Ecosystem::parse(ecosystem), name: name.to_owned() };
            Install {
                store: store(rng.below(25)),
                package,
                version: Version::parse(&pool[rng.below(pool.len())]).unwrap(),
            }
        })
        .collect();
    (db, installs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn index_equals_brute_force(seed in any::<u64>(), advisories in 0..40usize, installs in 0..150usize) {
        let (db, installs) = build(seed, advisories, installs);
        let index = InstallIndex::new(installs.clone());
        let expected = brute_force(&db, &installs);

        let mut full: Vec<Row> =
            rematch_all(&db, &index).iter().map(|m| row(m.store, m.advisory, &m.affected.package, m.version)).collect();
        full.sort();
        prop_assert_eq!(&full, &expected);

        let mut incremental: Vec<Row> = db
            .iter()
            .flat_map(|a| match_advisory(a, &index))
            .map(|m| row(m.store, m.advisory, &m.affected.package, m.version))
            .collect();
        incremental.sort();
        prop_assert_eq!(&incremental, &expected);

        let mut per_install: Vec<Row> = installs
            .iter()
            .flat_map(|i| match_install(&db, i).into_iter().map(move |a| row(i.store, a, &i.package, &i.version)))
            .collect();
        per_install.sort();
        prop_assert_eq!(&per_install, &expected);
    }
}

#[test]
fn one_advisory_naming_a_package_twice_matches_a_store_once() {
    let record = json!({ "id": "PAL-D-1", "modified": "2026-01-01T00:00:00Z", "affected": [
        { "package": { "ecosystem": "Palisade-Extension", "name": "x.alpha" },
          "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "1.0.0" }, { "fixed": "2.0.0" }] }] },
        { "package": { "ecosystem": "Palisade-Extension", "name": "x.alpha" }, "versions": ["1.5.0"] } ] });
    let advisory = Advisory::from_json(record).unwrap();
    let mut db = AdvisoryDb::new();
    db.upsert(advisory.clone());
    let index = InstallIndex::new([Install {
        store: store(1),
        package: Package::extension("x.alpha"),
        version: Version::parse("1.5.0").unwrap(),
    }]);
    assert_eq!(rematch_all(&db, &index).len(), 1);
    assert_eq!(match_advisory(&advisory, &index).len(), 1);
}

#[test]
fn installs_can_be_added_and_removed() {
    let record = json!({ "id": "PAL-D-2", "modified": "2026-01-01T00:00:00Z", "affected": [
        { "package": { "ecosystem": "Palisade-Extension", "name": "x.beta" },
          "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }, { "fixed": "2.0.0" }] }] } ] });
    let mut db = AdvisoryDb::new();
    db.upsert(Advisory::from_json(record).unwrap());
    let install = |s: usize, v: &str| Install {
        store: store(s),
        package: Package::extension("x.beta"),
        version: Version::parse(v).unwrap(),
    };
    let mut index = InstallIndex::new([install(1, "1.0.0")]);
    index.insert(install(2, "1.0.0"));
    index.insert(install(3, "2.0.0"));
    assert_eq!(rematch_all(&db, &index).len(), 2);
    assert!(index.remove(&install(1, "1.0.0")));
    assert!(!index.remove(&install(1, "1.0.0")), "removing twice is a no-op");
    assert!(!index.remove(&install(9, "1.0.0")), "another store's install is not there");
    let left = rematch_all(&db, &index);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].store, store(2));
    assert_eq!(index.len(), 2);
}

#[test]
fn a_withdrawal_replaces_and_unmatches() {
    let mut db = AdvisoryDb::new();
    let live = json!({ "id": "PAL-D-3", "modified": "2026-01-01T00:00:00Z", "affected": [
        { "package": { "ecosystem": "Palisade-Extension", "name": "x.gamma" },
          "ranges": [{ "type": "SEMVER", "events": [{ "introduced": "0" }] }] } ] });
    let mut withdrawn = live.clone();
    withdrawn["modified"] = json!("2026-03-01T00:00:00Z");
    withdrawn["withdrawn"] = json!("2026-03-01T00:00:00Z");
    db.upsert(Advisory::from_json(live.clone()).unwrap());
    let pkg = Package::extension("x.gamma");
    let v = Version::new(1, 0, 0);
    assert_eq!(db.affecting(&pkg, &v).len(), 1);
    db.upsert(Advisory::from_json(withdrawn).unwrap());
    assert!(db.affecting(&pkg, &v).is_empty());
    // Replaying the older, live copy does not bring it back.
    assert_eq!(db.upsert(Advisory::from_json(live).unwrap()), palisade_advisories::Upsert::Stale);
    assert!(db.affecting(&pkg, &v).is_empty());
}
