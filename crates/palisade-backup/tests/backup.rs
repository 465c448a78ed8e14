//! Platform snapshots end to end on real databases: SQLite always, PostgreSQL when the suite has a server
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! (`PALISADE_TEST_DATABASE_URL`); restores go both ways between the backends.

use std::sync::Arc;

use bytes::Bytes;
use palisade_backup::format::TableFacts;
use palisade_backup::keys::{ChunkKey, Identity, Recipients, ensure_key_pair};
use palisade_backup::restore::{RestoreTarget, non_empty, restore};
use palisade_backup::retention::{PruneMode, Retention, prune};
use palisade_backup::{BackupError, Quiet, Repository, Target, dump, snapshot, verify};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, Objects, audit, migrate};

/// A repository in a temp dir with its own key pair and a master key.
struct Fixture {
    dir: tempfile::TempDir,
    target: Target,
    recipients: Arc<Recipients>,
    identity: Identity,
    master: [u8; 32],
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let keys = ensure_key_pair(&dir.path().join("keys")).unwrap();
        assert!(keys.created);
        Fixture {
            target: Target::Dir(dir.path().join("repo")),
            recipients: Arc::new(Recipients::load(&keys.recipients).unwrap()),
            identity: Identity::load(&keys.identity).unwrap(),
            master: rand::random(),
            dir,
        }
    }

    fn key(&self) -> ChunkKey {
        ChunkKey::derive(&self.master)
    }

    async fn repo(&self, db: &Db) -> Repository {
        Repository::open_or_init(&self.target, &self.recipients, &self.key(), db.now().millis()).await.unwrap()
    }

    async fn snapshot(&self, db: &Db, objects: &Objects) -> palisade_backup::format::Manifest {
        let repo = self.repo(db).await;
        let sources = snapshot::Sources { db, objects, master_key: &self.master };
        snapshot::create(
            &repo,
            Arc::clone(&self.recipients),
            &self.key(),
            sources,
            palisade_backup::format::Origin::Scheduled,
            &Quiet,
        )
        .await
        .unwrap()
    }

    /// Flips one byte of a chunk that only the files `picked` by path use (none of the others), so a restore
    /// fails exactly there; the returned [`Damage`] mends it.
    fn damage_own_chunk(&self, manifest: &palisade_backup::format::Manifest, picked: impl Fn(&str) -> bool) -> Damage {
        let others: Vec<&String> = manifest.files.iter().filter(|f| !picked(&f.path)).flat_map(|f| &f.chunks).collect();
        let chunk = manifest
            .files
            .iter()
            .filter(|f| picked(&f.path))
            .flat_map(|f| &f.chunks)
            .find(|c| !others.contains(c))
            .expect("a chunk of their own");
        let file = self
            .chunk_files()
            .into_iter()
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(chunk.as_str()))
            .expect("the chunk's file");
        let damage = Damage { file };
        damage.flip();
        damage
    }

    fn chunk_files(&self) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let root = self.dir.path().join("repo/chunks");
        for sub in std::fs::read_dir(root).unwrap().flatten() {
            for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
                out.push(f.path());
            }
        }
        out.sort();
        out
    }
}

async fn store(db: &Db, slug: &str) -> StaffScope {
    let owner = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse(&format!("owner@{slug}.example")).unwrap(),
            display_name: "Tán Méi-lín \"O'Neil\"\nsecond line".into(),
            kind: AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    tenancy::create_store(
        db,
        &PlatformScope::system("test"),
        NewStore {
            slug: Slug::parse(slug).unwrap(),
            name: format!("{slug} — 茶"),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap()
    .1
    .to_staff()
    .unwrap()
}

async fn product(db: &Db, scope: &StaffScope, n: usize) {
    catalog::create_product(
        db,
        scope,
        NewProduct {
            slug: Slug::parse(&format!("tea-{n}")).unwrap(),
            title: format!("Tea №{n} <b>& 'quotes'</b>"),
            description: "Line one\nline two\t\u{1F375} \\ backslash".repeat(n % 5 + 1),
            status: if n.is_multiple_of(3) { ProductStatus::Draft } else { ProductStatus::Published },
            category: None,
            variants: vec![NewVariant {
                sku: format!("SKU-{n}"),
                options: serde_json::json!({"size": format!("{}g", n * 50)}),
                price: Money::new(i64::try_from(n).unwrap() * 1000 + 99, Currency::SGD),
                stock: i64::try_from(n).unwrap(),
            }],
        },
    )
    .await
    .unwrap();
}

/// Two stores, products, audit events, and a few objects.
async fn seed(db: &Db, objects: &Objects) {
    for slug in ["lion-tea", "harbour-books"] {
        let scope = store(db, slug).await;
        for n in 1..=12 {
            product(db, &scope, n).await;
        }
    }
    for n in 0..3u8 {
        objects.put_content("images", Bytes::from(vec![n; 3000 + usize::from(n) * 100_000])).await.unwrap();
    }
}

/// Every table's rows and keyed checksum, read from the live database.
async fn facts(db: &Db, key: &ChunkKey) -> Vec<TableFacts> {
    let mut conn = db.pool().acquire().await.unwrap();
    let mut out = Vec::new();
    for spec in dump::table_specs(&mut conn, db.backend()).await.unwrap() {
        let stats = dump::dump_table(&mut conn, db.backend(), &spec, key, &mut dump::Discard).await.unwrap();
        out.push(TableFacts { name: spec.name, rows: stats.rows, checksum: stats.checksum.to_hex() });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// A chunk file with one byte flipped.
struct Damage {
    file: std::path::PathBuf,
}

impl Damage {
    fn flip(&self) {
        let mut bytes = std::fs::read(&self.file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&self.file, &bytes).unwrap();
    }

    fn mend(&self) {
        self.flip();
    }
}

/// A fixture, a seeded installation (on the suite's backend) and its objects dir.
async fn seeded() -> (Fixture, TestDb, Objects, tempfile::TempDir) {
    let fx = Fixture::new();
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    seed(&db, &objects).await;
    (fx, db, objects, dir)
}

/// Whether a restore may go into a database that already holds Palisade's data (`--force`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Onto {
    EmptyOnly,
    Forced,
}

async fn restore_into(
    fx: &Fixture,
    id: &str,
    target: &Db,
    onto: Onto,
) -> Result<(Objects, tempfile::TempDir), BackupError> {
    let out = tempfile::tempdir().unwrap();
    let objects = Objects::local(&out.path().join("objects")).unwrap();
    let repo = Repository::open(&fx.target).await.unwrap();
    let manifest = repo.manifest(id).await?;
    let key_file = out.path().join("master.key");
    restore(
        &repo,
        &manifest,
        &fx.identity,
        RestoreTarget { db: target, objects: &objects, master_key_file: &key_file, force: onto == Onto::Forced },
        &Quiet,
    )
    .await?;
    Ok((objects, out))
}

/// Every index of the application's tables, by name (the backup's own tracking tables left out).
async fn index_names(db: &Db) -> Vec<String> {
    let sql = match db.backend() {
        palisade_store::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE '\\_palisade\\_%' ESCAPE '\\' \
             ORDER BY name"
        }
        palisade_store::Backend::Postgres => {
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
             AND tablename NOT LIKE '\\_palisade\\_%' ESCAPE '\\' ORDER BY indexname"
        }
    };
    sqlx::query_scalar(sql).fetch_all(db.pool()).await.unwrap()
}

async fn roundtrip(source: TestDb, targets: Vec<TestDb>) {
    let fx = Fixture::new();
    let src_dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(src_dir.path()).unwrap();
    seed(&source, &objects).await;
    let before = facts(&source, &fx.key()).await;
    assert!(before.iter().any(|t| t.name == "products" && t.rows == 24), "{before:?}");
    let manifest = fx.snapshot(&source, &objects).await;
    assert_eq!(manifest.totals.objects, 3);
    assert_eq!(manifest.source_backend, source.backend().name());

    for target in targets {
        let (restored, dir) = restore_into(&fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap();
        let after = facts(&target, &fx.key()).await;
        assert_eq!(before, after, "{} → {}", source.backend().name(), target.backend().name());
        // Indexes set aside during the load are all back.
        if target.backend() == source.backend() {
            let indexes = index_names(&target).await;
            assert!(indexes.iter().any(|n| n == "shield_events_at"), "{indexes:?}");
            assert_eq!(index_names(&source).await, indexes);
        }
        for chain in audit::verify_all(&target).await.unwrap() {
            assert!(chain.broken.is_none(), "audit chain {} broken after restore", chain.chain);
        }
        for n in 0..3u8 {
            let content = vec![n; 3000 + usize::from(n) * 100_000];
            let key = Objects::key_for("images", &content);
            assert_eq!(restored.get(&key).await.unwrap().as_deref(), Some(content.as_slice()));
        }
        let (key, created) = palisade_store::secrets::load_or_create(&dir.path().join("master.key")).unwrap();
        assert!(!created);
        assert_eq!(key.expose(), &fx.master, "the restored key file is one the installation reads");
        migrate::check_current(&target).await.unwrap();
        // The restored marketplace works: search finds the products through the rebuilt full-text index.
        let found = palisade_commerce::listing::search(&target, "tea", 1).await.unwrap();
        assert!(!found.cards.is_empty(), "search after restore onto {}", target.backend().name());
    }
}

#[tokio::test]
async fn a_snapshot_restores_onto_sqlite_and_postgres_with_identical_tables() {
    let mut targets = vec![TestDb::empty_sqlite().await];
    targets.extend(TestDb::empty_postgres().await);
    roundtrip(TestDb::new().await, targets).await;
}

/// What the CLI does: a SQLite target with one connection, which the load switches to a rollback journal (every
/// page written once) and back to WAL. A table of many chunks goes through the worker threads that check and hash
/// its lines ahead of the load; the restored tables are exactly the source's, and the file is in WAL mode again.
#[tokio::test]
async fn a_single_connection_sqlite_target_loads_many_chunks_exactly_and_ends_in_wal_mode() {
    let fx = Fixture::new();
    let db = TestDb::empty_sqlite().await;
    migrate::run(&db).await.unwrap();
    let objects_dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(objects_dir.path()).unwrap();
    seed(&db, &objects).await;
    events(&db, 1, 20_000).await;
    exec(
        &db,
        "UPDATE shield_events SET findings = printf('[{\"n\":\"%s\"}]', hex(randomblob(60))) WHERE id > 'ev-015000'",
    )
    .await;
    let manifest = fx.snapshot(&db, &objects).await;
    let events_file = manifest.files.iter().find(|f| f.path == "db/shield_events.jsonl").unwrap();
    assert!(events_file.chunks.len() > 4, "{} chunks", events_file.chunks.len());
    let live = facts(&db, &fx.key()).await;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("restored.db").display());
    let target =
        Db::connect(&url, palisade_store::DbOptions { max_connections: 1, ..Default::default() }).await.unwrap();
    restore_into(&fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap();
    assert_eq!(facts(&target, &fx.key()).await, live);
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(target.pool()).await.unwrap();
    assert_eq!(mode, "wal");
    let indexes = index_names(&target).await;
    assert!(indexes.iter().any(|n| n == "shield_events_at"), "{indexes:?}");
}

#[tokio::test]
async fn a_sqlite_snapshot_restores_onto_postgres() {
    let Some(pg) = TestDb::empty_postgres().await else { return };
    let sqlite = TestDb::empty_sqlite().await;
    migrate::run(&sqlite).await.unwrap();
    roundtrip(sqlite, vec![pg]).await;
}

#[tokio::test]
async fn a_second_snapshot_stores_only_what_changed() {
    let (fx, db, objects, _dir) = seeded().await;
    let first = fx.snapshot(&db, &objects).await;
    assert_eq!(first.totals.new_chunks, first.chunks.len() as u64);
    palisade_store::settings::put(&db, "backup.test", &serde_json::json!({"changed": true})).await.unwrap();
    let second = fx.snapshot(&db, &objects).await;
    assert_eq!(second.totals.new_chunks, 1, "only the settings table changed: {:?}", second.totals);
    assert!(second.totals.new_stored_bytes < first.totals.stored_bytes / 10);
    let repo = fx.repo(&db).await;
    assert_eq!(repo.manifests().await.unwrap().len(), 2);
}

/// Firewall events with ids `ev-<first>`…, one per rowid (a table that grows, as in a live shop).
async fn events(db: &Db, first: usize, count: usize) {
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
         INSERT INTO shield_events (id, at, store_id, client_ip, method, path, action, score, rules, findings) \
         SELECT printf('ev-%06d', i), 1767225600000 + i, NULL, '203.0.113.7', 'GET', printf('/search?q=%d', i), \
         'block', 5, '[]', printf('[{{\"n\":%d}}]', i) FROM n",
        last = first + count - 1
    );
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(db.pool()).await.unwrap();
}

async fn exec(db: &Db, sql: &str) {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(db.pool()).await.unwrap();
}

/// Bytes of the snapshot's objects and key: everything but the database.
fn other_bytes(manifest: &palisade_backup::format::Manifest) -> u64 {
    manifest.files.iter().filter(|f| !f.path.starts_with("db/")).map(|f| f.size).sum()
}

/// Bytes of the snapshot's database files.
fn db_bytes(manifest: &palisade_backup::format::Manifest) -> u64 {
    manifest.files.iter().filter(|f| f.path.starts_with("db/")).map(|f| f.size).sum()
}

/// The snapshot's facts, and a restore of it, must both equal the live database's, read in full.
async fn assert_exact(fx: &Fixture, db: &Db, manifest: &palisade_backup::format::Manifest, what: &str) {
    let live = facts(db, &fx.key()).await;
    let mut sealed = verify::open_facts(manifest, &fx.identity).unwrap().tables;
    sealed.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(sealed, live, "{what}: the snapshot's facts");
    let referenced: std::collections::BTreeSet<&String> = manifest.files.iter().flat_map(|f| &f.chunks).collect();
    let described: std::collections::BTreeSet<&String> = manifest.chunks.keys().collect();
    assert_eq!(described, referenced, "{what}: the manifest describes exactly the chunks its files use");
    let target = TestDb::empty_sqlite().await;
    restore_into(fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap();
    assert_eq!(facts(&target, &fx.key()).await, live, "{what}: the restored tables");
}

#[tokio::test]
async fn a_second_snapshot_reads_only_changed_segments_and_stays_exact_whatever_changed() {
    let fx = Fixture::new();
    let db = TestDb::empty_sqlite().await;
    migrate::run(&db).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    seed(&db, &objects).await;
    // Rowids 1..=10 000: segments 0 (to 4095), 1 (to 8191) and 2.
    events(&db, 1, 10_000).await;
    let first = fx.snapshot(&db, &objects).await;
    assert_eq!(first.totals.reused_bytes, 0);
    let unchanged = fx.snapshot(&db, &objects).await;
    assert_eq!(unchanged.totals.new_chunks, 0, "{:?}", unchanged.totals);
    assert!(
        unchanged.totals.reused_bytes + 10_000 > db_bytes(&unchanged),
        "all but the table headers is taken over: {:?}",
        unchanged.totals
    );
    assert_exact(&fx, &db, &unchanged, "no change").await;

    // One row of segment 1 updated, rows appended to segment 2: segment 0 and every other table are taken over.
    exec(&db, "UPDATE shield_events SET action = 'log' WHERE id = 'ev-005000'").await;
    events(&db, 10_001, 50).await;
    let second = fx.snapshot(&db, &objects).await;
    let events_file = second.files.iter().find(|f| f.path == "db/shield_events.jsonl").unwrap();
    let read = db_bytes(&second) - second.totals.reused_bytes;
    assert!(read < events_file.size * 2 / 3, "read {read} of {} bytes of events", events_file.size);
    assert!(second.totals.reused_bytes > events_file.size / 3, "{:?}", second.totals);
    assert_exact(&fx, &db, &second, "update and insert").await;

    // A delete, and a cascade through a foreign key.
    exec(&db, "DELETE FROM shield_events WHERE id = 'ev-000100'").await;
    let third = fx.snapshot(&db, &objects).await;
    assert_exact(&fx, &db, &third, "delete").await;

    // INSERT OR REPLACE deletes the old row without firing delete triggers: the row count catches it.
    exec(
        &db,
        "INSERT OR REPLACE INTO shield_events (id, at, method, path, action, score, rules, findings) \
         VALUES ('ev-000200', 1, 'POST', '/replaced', 'log', 1, '[]', '[]')",
    )
    .await;
    let fourth = fx.snapshot(&db, &objects).await;
    assert_exact(&fx, &db, &fourth, "insert or replace").await;

    // VACUUM may renumber rowids (it changes the schema version), and so may a table rebuilt by a migration
    // (its triggers go with it): both make the next snapshot read everything.
    exec(&db, "DELETE FROM shield_events WHERE id < 'ev-000050'").await;
    exec(&db, "VACUUM").await;
    let fifth = fx.snapshot(&db, &objects).await;
    assert_eq!(fifth.totals.reused_bytes, other_bytes(&fifth) - 32, "only objects are taken over");
    assert_exact(&fx, &db, &fifth, "vacuum").await;
    exec(&db, "DROP TRIGGER \"_palisade_bv_u_shield_events\"").await;
    exec(&db, "UPDATE shield_events SET score = 9 WHERE id = 'ev-000300'").await;
    let sixth = fx.snapshot(&db, &objects).await;
    assert_exact(&fx, &db, &sixth, "dropped trigger").await;
    let seventh = fx.snapshot(&db, &objects).await;
    assert!(seventh.totals.reused_bytes > db_bytes(&seventh) / 2, "tracking is back: {:?}", seventh.totals);
}

#[tokio::test]
async fn a_segment_whose_version_is_unchanged_is_taken_over_without_reading_it() {
    let fx = Fixture::new();
    let db = TestDb::empty_sqlite().await;
    migrate::run(&db).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    events(&db, 1, 5_000).await;
    fx.snapshot(&db, &objects).await;
    // Change a row in each segment, then hide the change in segment 0 from the tracking table.
    let version =
        "SELECT COALESCE(MAX(version), 0) FROM _palisade_backup_changes WHERE tbl = 'shield_events' AND seg = 0";
    let before: i64 = sqlx::query_scalar(version).fetch_one(db.pool()).await.unwrap();
    exec(&db, "UPDATE shield_events SET path = '/changed' WHERE id IN ('ev-000010', 'ev-004500')").await;
    let after: i64 = sqlx::query_scalar(version).fetch_one(db.pool()).await.unwrap();
    assert!(after > before, "the update counted in segment 0");
    exec(
        &db,
        &format!("UPDATE _palisade_backup_changes SET version = {before} WHERE tbl = 'shield_events' AND seg = 0"),
    )
    .await;
    let second = fx.snapshot(&db, &objects).await;
    let target = TestDb::empty_sqlite().await;
    restore_into(&fx, &second.id, &target, Onto::EmptyOnly).await.unwrap();
    let path = |id: &'static str| {
        let target = &target;
        async move {
            sqlx::query_scalar::<_, String>("SELECT path FROM shield_events WHERE id = $1")
                .bind(id)
                .fetch_one(target.pool())
                .await
                .unwrap()
        }
    };
    assert_eq!(path("ev-000010").await, "/search?q=10", "segment 0 was taken over, not read");
    assert_eq!(path("ev-004500").await, "/changed", "segment 1 was read");
}

#[tokio::test]
async fn postgres_snapshots_read_every_table() {
    let Some(db) = TestDb::empty_postgres().await else { return };
    migrate::run(&db).await.unwrap();
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    seed(&db, &objects).await;
    fx.snapshot(&db, &objects).await;
    let second = fx.snapshot(&db, &objects).await;
    assert_eq!(second.totals.reused_bytes, other_bytes(&second) - 32, "only objects (not the key)");
    assert_eq!(second.totals.new_chunks, 0, "and the dump deduplicates all the same");
}

#[tokio::test]
async fn unchanged_objects_are_taken_over_without_reading_and_missing_chunks_are_stored_again() {
    let (fx, db, objects, dir) = seeded().await;
    let first = fx.snapshot(&db, &objects).await;
    let object_entries = |m: &palisade_backup::format::Manifest| -> Vec<palisade_backup::format::FileEntry> {
        m.files.iter().filter(|f| f.path.starts_with("objects/")).cloned().collect()
    };
    // Same key and size on disk but other bytes: a snapshot that read the file would store new chunks.
    let first_objects = object_entries(&first);
    let victim = first_objects.first().unwrap();
    let on_disk = dir.path().join(victim.path.trim_start_matches("objects/"));
    std::fs::write(&on_disk, vec![0xEE; usize::try_from(victim.size).unwrap()]).unwrap();
    let added = objects.put_content("images", Bytes::from(vec![7u8; 70_000])).await.unwrap();
    let second = fx.snapshot(&db, &objects).await;
    let second_objects = object_entries(&second);
    assert_eq!(second.totals.objects, 4);
    assert!(second_objects.contains(victim), "the unchanged object keeps its chunk list");
    assert!(second_objects.iter().any(|f| f.path == format!("objects/{added}")));
    assert_eq!(second.totals.new_chunks, 1, "only the new object is stored: {:?}", second.totals);

    // A chunk gone from the repository: that object is read and stored again instead of taken over.
    let lost = &victim.chunks[0];
    let chunk_file = fx.chunk_files().into_iter().find(|p| p.ends_with(lost)).unwrap();
    std::fs::remove_file(chunk_file).unwrap();
    let third = fx.snapshot(&db, &objects).await;
    let reread = third.files.iter().find(|f| f.path == victim.path).unwrap();
    assert_ne!(reread, victim, "read again from disk (whose bytes were replaced above)");
    assert!(third.totals.new_chunks >= 1);
}

#[tokio::test]
async fn verify_names_corrupted_and_truncated_chunks_and_restore_refuses_them() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    let repo = fx.repo(&db).await;
    let clean = verify::verify(&repo, None, Some(&fx.identity), &Quiet).await.unwrap();
    assert!(clean.ok(), "{:?}", clean.problems);
    assert_eq!(clean.chunks, manifest.chunks.len() as u64);

    let files = fx.chunk_files();
    let flipped = &files[0];
    let mut bytes = std::fs::read(flipped).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(flipped, &bytes).unwrap();
    let truncated = &files[1];
    let bytes = std::fs::read(truncated).unwrap();
    std::fs::write(truncated, &bytes[..bytes.len() - 7]).unwrap();

    let report = verify::verify(&repo, None, None, &Quiet).await.unwrap();
    assert!(!report.ok());
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    let text: Vec<String> = report.problems.iter().map(|p| p.problem.clone()).collect();
    let name = |p: &std::path::Path| p.file_name().unwrap().to_str().unwrap()[..16].to_owned();
    assert!(text.iter().any(|t| t.contains(&name(flipped)) && t.contains("SHA-256 mismatch")), "{text:?}");
    assert!(text.iter().any(|t| t.contains(&name(truncated)) && t.contains("truncated")), "{text:?}");
    assert!(
        text.iter().all(|t| t.contains(" of db/") || t.contains(" of objects/") || t.contains(" of keys/")),
        "{text:?}"
    );

    let target = TestDb::empty_sqlite().await;
    let err = restore_into(&fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap_err();
    assert!(matches!(err, BackupError::BadChunk { .. }), "{err}");
    assert_eq!(non_empty(&target).await.unwrap(), None, "a failed restore leaves no rows behind");
}

/// The database loads in one transaction, but objects come after it: a bad object chunk must still leave the
/// target without rows, not half restored.
#[tokio::test]
async fn a_restore_that_fails_after_the_database_loaded_takes_the_rows_away_again() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    let damage = fx.damage_own_chunk(&manifest, |path| path.starts_with("objects/"));

    let target = TestDb::empty_sqlite().await;
    let err = restore_into(&fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap_err();
    assert!(matches!(err, BackupError::BadChunk { .. }), "{err}");
    assert_eq!(non_empty(&target).await.unwrap(), None, "no rows of the failed restore are left");
    // Once the chunk is mended, the same target takes the restore.
    damage.mend();
    restore_into(&fx, &manifest.id, &target, Onto::EmptyOnly).await.unwrap();
    assert_eq!(facts(&target, &fx.key()).await, facts(&db, &fx.key()).await);
}

#[tokio::test]
async fn a_target_holding_another_applications_tables_is_refused_and_left_as_it_was() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;

    let mut targets = vec![TestDb::empty_sqlite().await];
    targets.extend(TestDb::empty_postgres().await);
    for target in &targets {
        // An empty table of someone else's: no rows to lose, but not Palisade's to drop either.
        sqlx::query("CREATE TABLE invoices (id BIGINT PRIMARY KEY)").execute(target.pool()).await.unwrap();
        for onto in [Onto::EmptyOnly, Onto::Forced] {
            let err = restore_into(&fx, &manifest.id, target, onto).await.unwrap_err();
            assert!(matches!(err, BackupError::TargetForeign(_)), "{err}");
            assert_eq!(err.code(), "backup.target_foreign");
            assert!(err.to_string().contains("invoices"), "{err}");
        }
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invoices").fetch_one(target.pool()).await.unwrap();
        assert_eq!(n, 0, "the foreign table is still there");
        assert_eq!(migrate::applied_version(target).await.unwrap(), None, "no Palisade schema was built beside it");
    }

    // Another sqlx application: it has a migration table too, with its own history.
    let mut targets = vec![TestDb::empty_sqlite().await];
    targets.extend(TestDb::empty_postgres().await);
    for target in &targets {
        let (blob, at) = match target.backend() {
            palisade_store::Backend::Sqlite => ("BLOB", "X'00'"),
            palisade_store::Backend::Postgres => ("BYTEA", "'\\x00'::bytea"),
        };
        for sql in [
            format!(
                "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
                 success BOOLEAN NOT NULL, checksum {blob} NOT NULL, execution_time BIGINT NOT NULL)"
            ),
            format!("INSERT INTO _sqlx_migrations VALUES (1, 'their schema', TRUE, {at}, 1)"),
            // Timestamp-numbered, as most sqlx applications: "newer" than any of Palisade's.
            format!("INSERT INTO _sqlx_migrations VALUES (20240115093000, 'their next', TRUE, {at}, 1)"),
            "CREATE TABLE invoices (id BIGINT PRIMARY KEY)".to_owned(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(target.pool()).await.unwrap();
        }
        let err = restore_into(&fx, &manifest.id, target, Onto::Forced).await.unwrap_err();
        assert!(matches!(err, BackupError::TargetForeign(_)), "{err}");
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM invoices").fetch_one(target.pool()).await.unwrap();
        assert_eq!(n, 0, "their table is still there");
    }
}

#[tokio::test]
async fn a_failed_restore_leaves_neither_schema_nor_key_file_on_either_backend() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    // Every chunk damaged: the restore fails in the database phase, after the schema was built.
    for file in fx.chunk_files() {
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        std::fs::write(&file, &bytes).unwrap();
    }
    let mut targets = vec![TestDb::empty_sqlite().await];
    targets.extend(TestDb::empty_postgres().await);
    for target in &targets {
        let out = tempfile::tempdir().unwrap();
        let key_file = out.path().join("master.key");
        let repo = Repository::open(&fx.target).await.unwrap();
        let err = restore(
            &repo,
            &manifest,
            &fx.identity,
            RestoreTarget {
                db: target,
                objects: &Objects::local(&out.path().join("objects")).unwrap(),
                master_key_file: &key_file,
                force: false,
            },
            &Quiet,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, BackupError::BadChunk { .. }), "{err}");
        assert_eq!(migrate::applied_version(target).await.unwrap(), None, "the schema it built is gone");
        assert!(!key_file.exists(), "no key file of a failed restore");
    }
}

#[tokio::test]
async fn a_restore_that_fails_at_the_key_file_takes_the_migrated_database_away_again() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    fx.damage_own_chunk(&manifest, |path| path == "keys/master.key");

    let target = TestDb::empty_sqlite().await;
    let out = tempfile::tempdir().unwrap();
    let key_file = out.path().join("master.key");
    let repo = Repository::open(&fx.target).await.unwrap();
    let objects_out = Objects::local(&out.path().join("objects")).unwrap();
    let err = restore(
        &repo,
        &manifest,
        &fx.identity,
        RestoreTarget { db: &target, objects: &objects_out, master_key_file: &key_file, force: false },
        &Quiet,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, BackupError::BadChunk { .. }), "{err}");
    assert_eq!(migrate::applied_version(&target).await.unwrap(), None, "the committed, migrated database is gone");
    assert!(!key_file.exists());
}

#[tokio::test]
async fn restore_refuses_a_non_empty_target_unless_forced() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    let before = facts(&db, &fx.key()).await;

    let other = TestDb::new().await;
    store(&other, "someone-else").await;
    let err = restore_into(&fx, &manifest.id, &other, Onto::EmptyOnly).await.unwrap_err();
    assert!(matches!(err, BackupError::TargetNotEmpty(_)), "{err}");
    assert!(err.to_string().contains("--force"));
    restore_into(&fx, &manifest.id, &other, Onto::Forced).await.unwrap();
    assert_eq!(facts(&other, &fx.key()).await, before);
}

#[tokio::test]
async fn prune_keeps_the_policy_and_deletes_unreferenced_chunks() {
    let (db, clock) = TestDb::manual().await;
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    seed(&db, &objects).await;
    let mut ids = Vec::new();
    for day in 0..5 {
        palisade_store::settings::put(&db, "backup.day", &serde_json::json!(day)).await.unwrap();
        ids.push(fx.snapshot(&db, &objects).await.id);
        clock.advance(std::time::Duration::from_secs(86_400));
    }
    let repo = fx.repo(&db).await;
    let chunks_before = repo.chunk_ids().await.unwrap().len();
    let report = prune(&repo, Retention { daily: 2, weekly: 0, monthly: 0 }, db.now().millis(), PruneMode::Delete)
        .await
        .unwrap();
    assert_eq!(report.kept, ids[3..].to_vec());
    assert_eq!(report.removed, ids[..3].to_vec());
    assert_eq!(report.gc.chunks_deleted, 3, "each removed day had its own settings chunk");
    assert_eq!(repo.chunk_ids().await.unwrap().len(), chunks_before - 3);
    let check = verify::verify(&repo, None, Some(&fx.identity), &Quiet).await.unwrap();
    assert!(check.ok() && check.snapshots == 2, "{check:?}");
}

#[tokio::test]
async fn another_installations_key_cannot_write_into_the_repository() {
    let fx = Fixture::new();
    let db = TestDb::new().await;
    fx.repo(&db).await;
    let stranger = ChunkKey::derive(&[7u8; 32]);
    let err = Repository::open_or_init(&fx.target, &fx.recipients, &stranger, 0).await.unwrap_err();
    assert!(matches!(err, BackupError::ForeignRepository), "{err}");
}

#[tokio::test]
async fn leftovers_of_a_dead_run_are_cleaned_by_the_next() {
    let (fx, db, objects, _dir) = seeded().await;
    let repo = fx.repo(&db).await;
    // A run that died: its marker (a pid that cannot be alive), an orphan chunk and a half-written file.
    repo.put_pending(&palisade_backup::repo::PendingMarker {
        snapshot_id: "19990101T000000Z-dead".into(),
        started_at: 0,
        host: palisade_backup::repo::this_host(),
        pid: u32::MAX,
    })
    .await
    .unwrap();
    let orphan = "ab".repeat(32);
    repo.put_chunk(&orphan, Bytes::from_static(b"junk")).await.unwrap();
    let partial = fx.dir.path().join("repo/chunks/ab/half#3");
    std::fs::write(&partial, b"half").unwrap();

    fx.snapshot(&db, &objects).await;
    assert!(!repo.chunk_ids().await.unwrap().contains(&orphan));
    assert!(!partial.exists());
    assert!(repo.pending().await.unwrap().is_empty());
    assert_eq!(repo.manifests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_drill_restores_the_latest_snapshot_into_scratch_space() {
    let (fx, db, objects, _dir) = seeded().await;
    let manifest = fx.snapshot(&db, &objects).await;
    let repo = fx.repo(&db).await;
    let scratch = tempfile::tempdir().unwrap();
    let report = palisade_backup::drill::drill(&repo, &fx.identity, scratch.path(), db.clock().clone(), &[], &Quiet)
        .await
        .unwrap();
    assert_eq!(report.snapshot, manifest.id);
    assert_eq!(report.rows, manifest.totals.rows);
    assert_eq!(report.objects, 3);
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0, "the scratch database is removed");
    // Without the identity nothing can be read back.
    let wrong = Fixture::new();
    let err = palisade_backup::drill::drill(&repo, &wrong.identity, scratch.path(), db.clock().clone(), &[], &Quiet)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::Decrypt { .. }), "{err}");
}

/// Issue #21 item 4, the restore drill: a buyer is created, backed up, then erased; restoring the pre-erasure
/// snapshot — over the installation (`--force`), or into scratch space by the drill with the live tombstones —
/// re-applies the erasure, so the buyer's values are gone again.
#[tokio::test]
async fn an_erased_buyer_does_not_come_back_with_an_older_snapshot() {
    use palisade_commerce::{erasure, residue};
    let (fx, db, objects, _dir) = seeded().await;
    let (email, name) = ("mei.restore@example.com", "Mei Restore-Drill");
    let mei = tenancy::create_account(
        &db,
        NewAccount { email: Email::parse(email).unwrap(), display_name: name.into(), kind: AccountKind::Buyer },
    )
    .await
    .unwrap()
    .id;
    let before = fx.snapshot(&db, &objects).await;
    erasure::erase_buyer(&db, mei, "keyed-hash").await.unwrap();
    assert!(residue::scan(&db, &[email, name]).await.unwrap().is_empty());
    let carried = erasure::tombstones(&db).await.unwrap();
    assert_eq!(carried.len(), 1);

    // The drill restores the (older) latest snapshot into scratch space: without the live tombstones Mei would be
    // back; with them she is erased again and the drill says so.
    let repo = fx.repo(&db).await;
    let scratch = tempfile::tempdir().unwrap();
    let blind = palisade_backup::drill::drill(&repo, &fx.identity, scratch.path(), db.clock().clone(), &[], &Quiet)
        .await
        .unwrap();
    assert_eq!((blind.tombstones, blind.erasures_reapplied), (0, 0));
    let drill =
        palisade_backup::drill::drill(&repo, &fx.identity, scratch.path(), db.clock().clone(), &carried, &Quiet)
            .await
            .unwrap();
    assert_eq!((drill.snapshot.as_str(), drill.tombstones, drill.erasures_reapplied), (before.id.as_str(), 1, 1));
    assert!(drill.summary().contains("none came back"));

    // Restoring the pre-erasure snapshot over the installation keeps the installation's tombstones.
    restore_into(&fx, &before.id, &db, Onto::Forced).await.unwrap();
    let found = residue::scan(&db, &[email, name]).await.unwrap();
    assert!(found.is_empty(), "the erased buyer came back: {found:?}");
    assert_eq!(erasure::tombstones(&db).await.unwrap(), carried);
    assert!(erasure::unerased(&db).await.unwrap().is_empty());
    let (disabled,): (i64,) = sqlx::query_as("SELECT disabled FROM accounts WHERE id = $1")
        .bind(mei.to_string())
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(disabled, 1);
}

/// Review finding: restoring into a NEW directory (the live database is lost) brought back anyone erased after
/// the snapshot, since only the snapshot's tombstones were there. Each erasure's tombstone now also lives in the
/// repository, encrypted and named by a keyed hash — written right after the erasure (the node's journal) and by
/// every snapshot run — and a restore re-applies them. An object the installation did not write stops the restore.
#[tokio::test]
async fn an_erasure_after_the_snapshot_survives_a_restore_into_a_new_database() {
    use palisade_backup::tombstones::{self, Journal};
    use palisade_commerce::erasure::{self, Tombstone};
    use palisade_commerce::residue;
    let (fx, db, objects, _dir) = seeded().await;
    let (email, name) = ("mei.new-dir@example.com", "Mei New-Directory");
    let new = |email: &str, name: &str| NewAccount {
        email: Email::parse(email).unwrap(),
        display_name: name.into(),
        kind: AccountKind::Buyer,
    };
    let mei = tenancy::create_account(&db, new(email, name)).await.unwrap().id;
    let tan = tenancy::create_account(&db, new("tan.new-dir@example.com", "Tan")).await.unwrap().id;
    let before = fx.snapshot(&db, &objects).await;
    // A second repository that gets no journal write: its next snapshot run carries the tombstone.
    let fx2 = Fixture::new();
    let before2 = fx2.snapshot(&db, &objects).await;

    erasure::erase_buyer(&db, mei, "keyed-hash-of-mei").await.unwrap();
    let journal = Journal::new(vec![fx.target.clone()], Arc::clone(&fx.recipients), fx.key());
    assert_eq!(journal.record(&db).await, 0, "no target failed");
    assert_eq!(journal.record(&db).await, 0, "idempotent");
    fx2.snapshot(&db, &objects).await;

    // One object per erasure, sealed: neither the account id, the email nor its keyed hash in clear.
    for f in [&fx, &fx2] {
        let files: Vec<_> = std::fs::read_dir(f.dir.path().join("repo").join(tombstones::PREFIX))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let bytes = std::fs::read(&files[0]).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let file_name = files[0].file_name().unwrap().to_string_lossy().into_owned();
        for clear in [mei.to_string().as_str(), email, "keyed-hash-of-mei"] {
            assert!(!text.contains(clear) && !file_name.contains(clear), "{clear} in clear");
        }
        let repo = f.repo(&db).await;
        let read = tombstones::read(&repo, &f.identity, &f.key()).await.unwrap();
        assert_eq!(read, erasure::tombstones(&db).await.unwrap());
    }

    // The live database is lost: each older snapshot goes into a new, empty database; Mei stays erased.
    for (f, id) in [(&fx, &before.id), (&fx2, &before2.id)] {
        let fresh = TestDb::unmigrated(db.clock().clone()).await;
        let out = tempfile::tempdir().unwrap();
        let repo = Repository::open(&f.target).await.unwrap();
        let manifest = repo.manifest(id).await.unwrap();
        let report = restore(
            &repo,
            &manifest,
            &f.identity,
            RestoreTarget {
                db: &fresh,
                objects: &Objects::local(&out.path().join("objects")).unwrap(),
                master_key_file: &out.path().join("master.key"),
                force: false,
            },
            &Quiet,
        )
        .await
        .unwrap();
        assert_eq!((report.repository_tombstones, report.tombstones, report.erasures_reapplied), (1, 1, 1));
        let found = residue::scan(&fresh, &[email, name]).await.unwrap();
        assert!(found.is_empty(), "the erased buyer came back: {found:?}");
        assert!(erasure::is_erased(&fresh, mei).await.unwrap());
        assert!(erasure::unerased(&fresh).await.unwrap().is_empty());
        assert!(!erasure::is_erased(&fresh, tan).await.unwrap(), "nobody else is erased");
    }

    // Someone who can write to the repository (the recipients are public) plants a tombstone for Tan: its name is
    // not the installation's keyed hash of his id, so the restore refuses to go ahead and touches nothing.
    let planted = Tombstone { account_id: tan.to_string(), email_key: "x".into(), erased_at: 1 };
    let sealed = fx.recipients.seal(&serde_json::to_vec(&planted).unwrap()).unwrap();
    let forged = fx.dir.path().join("repo").join(tombstones::PREFIX).join(format!("{}.age", "ab".repeat(32)));
    std::fs::write(&forged, sealed).unwrap();
    let fresh = TestDb::unmigrated(db.clock().clone()).await;
    let err = restore_into(&fx, &before.id, &fresh, Onto::EmptyOnly).await.unwrap_err();
    assert!(matches!(err, BackupError::Erasure(_)), "{err}");
    assert!(non_empty(&fresh).await.unwrap().is_none());
}
