use super::*;
use crate::envelope::{DataKey, DekVersion, FieldRef};

const OLD_MASTER: [u8; 32] = [1u8; 32];
const NEW_MASTER: [u8; 32] = [2u8; 32];

/// A key table and one sealed field per store, as the database would hold them (sorted by store id).
fn fixture(keks: &LocalKeks, stores: usize) -> (Vec<WrappedDek>, Vec<(StoreId, Vec<u8>)>) {
    let mut table = Vec::new();
    let mut fields = Vec::new();
    for i in 0..stores {
        let store = StoreId::new();
        let dek = DataKey::generate(store, DekVersion(1));
        table.push(dek.wrap(keks, KekVersion(1)).unwrap());
        let f = FieldRef { store, table: "buyers", column: "name", row: "r" };
        fields.push((store, dek.seal(&f, format!("buyer {i}").as_bytes()).unwrap()));
    }
    table.sort_by_key(|w| w.store);
    (table, fields)
}

fn all_readable(keks: &LocalKeks, table: &[WrappedDek], fields: &[(StoreId, Vec<u8>)]) -> usize {
    fields
        .iter()
        .filter(|(store, ct)| {
            let f = FieldRef { store: *store, table: "buyers", column: "name", row: "r" };
            table
                .iter()
                .find(|w| w.store == *store)
                .and_then(|w| w.unwrap_key(keks).ok())
                .is_some_and(|k| k.open(&f, ct).is_ok())
        })
        .count()
}

/// Writes `outcome` back as the database would (conditional on the version the record had).
fn write_back(table: &mut [WrappedDek], before: &WrappedDek, outcome: Rewrap) {
    if let Rewrap::Rewrapped(fresh) = outcome {
        let row = table.iter_mut().find(|w| w.store == fresh.store && w.kek_version == before.kek_version);
        if let Some(row) = row {
            *row = fresh;
        }
    }
}

#[test]
fn a_rotation_stopped_half_way_leaves_everything_readable_and_resumes_to_a_counted_100_percent() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (mut table, fields) = fixture(&keks, 40);
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();

    // First run: killed after 17 records (the run and its in-memory state are dropped; only the saved progress
    // and the table survive).
    let saved = {
        let mut run = Rotation::new(&keks, KekVersion(2));
        for i in 0..17 {
            let before = table[i].clone();
            let outcome = run.step(&before).unwrap();
            write_back(&mut table, &before, outcome);
        }
        run.progress()
    };
    assert_eq!((saved.seen, saved.rewrapped, saved.failed), (17, 17, 0));
    assert_eq!(saved.cursor, Some(table[16].store));
    assert_eq!(all_readable(&keks, &table, &fields), 40, "half-way, every DEK must still open its data");

    // Retirement is refused with the count of what is left.
    let census = Census::count(KekVersion(2), &table);
    assert_eq!((census.total(), census.on_target()), (40, 17));
    assert_eq!(
        census.permit_retirement(KekVersion(1)),
        Err(RetireRefusal::NotMigrated { remaining: 23, total: 40, target: KekVersion(2) })
    );

    // Resume: an idempotent re-run over everything (including the 17 done) is as correct as the cursor.
    let mut run = Rotation::resume(&keks, KekVersion(2), saved);
    for i in 0..table.len() {
        let before = table[i].clone();
        let outcome = run.step(&before).unwrap();
        write_back(&mut table, &before, outcome);
    }
    let done = run.progress();
    assert_eq!((done.rewrapped, done.already_current), (17 + 23, 17));
    assert_eq!(all_readable(&keks, &table, &fields), 40);

    let permit = Census::count(KekVersion(2), &table).permit_retirement(KekVersion(1)).unwrap();
    assert_eq!(permit.counted(), 40);
    keks.retire(&permit).unwrap();
    assert_eq!(keks.versions(), vec![KekVersion(2)]);
    assert_eq!(all_readable(&keks, &table, &fields), 40, "after retirement everything opens under v2 alone");
    assert_eq!(keks.retire(&permit), Err(RetireRefusal::Unknown(KekVersion(1))));
}

#[test]
fn a_resume_from_the_cursor_skips_the_finished_part() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (mut table, fields) = fixture(&keks, 10);
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();
    let saved = {
        let mut run = Rotation::new(&keks, KekVersion(2));
        for i in 0..4 {
            let before = table[i].clone();
            let outcome = run.step(&before).unwrap();
            write_back(&mut table, &before, outcome);
        }
        run.progress()
    };
    let mut run = Rotation::resume(&keks, KekVersion(2), saved);
    let rest: Vec<WrappedDek> = table.iter().filter(|w| Some(w.store) > saved.cursor).cloned().collect();
    assert_eq!(rest.len(), 6);
    for before in rest {
        let outcome = run.step(&before).unwrap();
        write_back(&mut table, &before, outcome);
    }
    assert_eq!(run.progress().already_current, 0, "the cursor skipped the finished records");
    assert!(Census::count(KekVersion(2), &table).permit_retirement(KekVersion(1)).is_ok());
    assert_eq!(all_readable(&keks, &table, &fields), 10);
}

#[test]
fn a_failed_record_is_counted_holds_the_cursor_and_blocks_retirement() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (mut table, _) = fixture(&keks, 3);
    table[1].blob[5] ^= 1; // a damaged record
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();
    let mut run = Rotation::new(&keks, KekVersion(2));
    let mut results = Vec::new();
    for i in 0..table.len() {
        let before = table[i].clone();
        let outcome = run.step(&before);
        results.push(outcome.is_ok());
        if let Ok(outcome) = outcome {
            write_back(&mut table, &before, outcome);
        }
    }
    assert_eq!(results, vec![true, false, true]);
    assert_eq!(run.progress().failed, 1);
    assert_eq!(run.progress().cursor, Some(table[0].store), "the cursor stops before the failure");
    assert!(matches!(
        Census::count(KekVersion(2), &table).permit_retirement(KekVersion(1)),
        Err(RetireRefusal::NotMigrated { remaining: 1, .. })
    ));
}

#[test]
fn retirement_refuses_the_current_the_target_and_stale_censuses() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (table, _) = fixture(&keks, 2);
    // Everything is on v1 and v1 is current: counting towards v1 cannot retire v1.
    assert_eq!(
        Census::count(KekVersion(1), &table).permit_retirement(KekVersion(1)),
        Err(RetireRefusal::IsTarget(KekVersion(1)))
    );
    // A census towards v1 permits retiring v0, but once v2 is current it is stale.
    let permit = Census::count(KekVersion(1), &table).permit_retirement(KekVersion(0)).unwrap();
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();
    assert_eq!(
        keks.retire(&permit),
        Err(RetireRefusal::StaleCensus { counted: KekVersion(1), current: KekVersion(2) })
    );
    // An empty table is 100 % migrated (nothing needs the old key).
    let empty: Vec<WrappedDek> = Vec::new();
    let permit = Census::count(KekVersion(2), &empty).permit_retirement(KekVersion(2));
    assert_eq!(permit, Err(RetireRefusal::IsTarget(KekVersion(2))));
    let permit = Census::count(KekVersion(2), &empty).permit_retirement(KekVersion(1)).unwrap();
    keks.retire(&permit).unwrap();
    assert_eq!(keks.versions(), vec![KekVersion(2)]);
}

#[test]
fn rewrap_is_idempotent() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (table, _) = fixture(&keks, 1);
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();
    let Rewrap::Rewrapped(fresh) = rewrap(&keks, &table[0], KekVersion(2)).unwrap() else { panic!("not rewrapped") };
    assert_eq!(fresh.kek_version, KekVersion(2));
    assert_eq!(rewrap(&keks, &fresh, KekVersion(2)).unwrap(), Rewrap::AlreadyCurrent);
    assert_eq!(fresh.unwrap_key(&keks).unwrap().version(), table[0].unwrap_key(&keks).unwrap().version());
}

#[test]
fn the_iterator_form_stops_when_dropped_and_resumes() {
    let mut keks = LocalKeks::from_master_key(KekVersion(1), &OLD_MASTER).unwrap();
    let (mut table, fields) = fixture(&keks, 12);
    keks.add_current(KekVersion(2), &NEW_MASTER).unwrap();
    let mut run = Rotation::new(&keks, KekVersion(2));
    let results: Vec<_> = run.over(table.clone()).take(5).collect();
    for (before, outcome) in results {
        write_back(&mut table, &before, outcome.unwrap());
    }
    let saved = run.progress();
    assert_eq!((saved.seen, saved.rewrapped), (5, 5), "records past the stop were not touched");
    assert_eq!(Census::count(KekVersion(2), &table).on_target(), 5);
    assert_eq!(all_readable(&keks, &table, &fields), 12);
    let mut run = Rotation::resume(&keks, KekVersion(2), saved);
    let rest: Vec<WrappedDek> = table.iter().filter(|w| Some(w.store) > saved.cursor).cloned().collect();
    let results: Vec<_> = run.over(rest).collect();
    for (before, outcome) in results {
        write_back(&mut table, &before, outcome.unwrap());
    }
    assert_eq!(run.progress().rewrapped, 12);
    assert!(Census::count(KekVersion(2), &table).permit_retirement(KekVersion(1)).is_ok());
}
