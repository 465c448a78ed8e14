//! Store exports: isolation, encryption, replace with preview, clone and the restore test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_backup::BackupError;
use palisade_backup::export::{self, Archive};
use palisade_backup::import_rules::ImportContext;
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::images;
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{TestGateway, card};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, Membership, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, Objects};
use secrecy::SecretString;

/// Low scrypt cost: these tests are about content, not key stretching.
const WORK: u8 = 10;

/// The store owner's full authority, for imports.
fn owner(scope: &StaffScope) -> Membership {
    Membership::system(scope.store_id(), "test")
}

fn pass(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

async fn store(db: &Db, slug: &str) -> StaffScope {
    let owner = tenancy::create_account(
        db,
        NewAccount {
            email: Email::parse(&format!("owner@{slug}.example")).unwrap(),
            display_name: format!("Owner of {slug}"),
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
            name: slug.into(),
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

/// A tiny PNG (signature and header: what `images::inspect` reads), made unique by `tag`.
fn png(tag: &str) -> Vec<u8> {
    let mut v = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, b'I', b'H', b'D', b'R'];
    v.extend_from_slice(&10u32.to_be_bytes());
    v.extend_from_slice(&12u32.to_be_bytes());
    v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(tag.as_bytes());
    v
}

/// A theme template, a firewall rule, fraud rules and the store's commerce, security and firewall settings (once
/// per store).
async fn store_settings(db: &Db, scope: &StaffScope) {
    for (table, sql) in [
        (
            "theme_templates",
            "INSERT INTO theme_templates (id, store_id, name, version, source, good, created_by, created_at) \
             VALUES ($1, $2, 'product.html', 1, 'hello', 1, 'test', 0)",
        ),
        (
            "store_rules",
            "INSERT INTO store_rules (id, store_id, position, source, enabled, created_at) \
             VALUES ($1, $2, 1, 'block if path = \"/x\"', 0, 0)",
        ),
    ] {
        let exists: Option<(String,)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id FROM {table} WHERE store_id = $1")))
                .bind(scope.store_id().to_string())
                .fetch_optional(db.pool())
                .await
                .unwrap();
        if exists.is_none() {
            sqlx::query(sql)
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(scope.store_id().to_string())
                .execute(db.pool())
                .await
                .unwrap();
        }
    }
    for sql in [
        "INSERT INTO store_fraud_rules (store_id, rules, updated_at) VALUES ($1, 'review if amount > 100000000', 0)",
        "INSERT INTO store_commerce (store_id, flat_shipping_minor, updated_at) VALUES ($1, 500, 0)",
        "INSERT INTO store_security (store_id, require_staff_mfa, updated_at) VALUES ($1, 1, 0)",
        "INSERT INTO store_firewall (store_id, updated_at) VALUES ($1, 0)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("{sql} ON CONFLICT (store_id) DO NOTHING")))
            .bind(scope.store_id().to_string())
            .execute(db.pool())
            .await
            .unwrap();
    }
}

/// Products (each in the store's category, with an image), the store's settings (see [`store_settings`]) and one
/// paid order.
async fn fill(db: &Db, scope: &StaffScope, objects: &Objects, tag: &str) -> Vec<String> {
    let category =
        catalog::create_category(db, scope, &Slug::parse(&format!("{tag}-things")).unwrap(), "Things").await.unwrap();
    store_settings(db, scope).await;
    let mut ids = Vec::new();
    for n in 0..4 {
        let p = catalog::create_product(
            db,
            scope,
            NewProduct {
                slug: Slug::parse(&format!("{tag}-item-{n}")).unwrap(),
                title: format!("{tag} item {n}"),
                description: format!("Made by {tag}."),
                status: ProductStatus::Published,
                category: Some(category.id.clone()),
                variants: vec![NewVariant {
                    sku: format!("{tag}-{n}"),
                    options: serde_json::json!({}),
                    price: Money::new(1000 + n, Currency::SGD),
                    stock: 20,
                }],
            },
        )
        .await
        .unwrap();
        images::add(db, objects, scope, p.id, bytes::Bytes::from(png(&format!("{tag}-image-{n}"))), "picture")
            .await
            .unwrap();
        ids.push(p.id.to_string());
        if n == 0 {
            orders::checkout(
                db,
                &TestGateway,
                scope,
                Checkout {
                    guest_proof: None,
                    email: Email::parse(&format!("buyer@{tag}.example")).unwrap(),
                    address: palisade_commerce::address::ShippingAddress::parse(
                        palisade_commerce::address::AddressFields {
                            name: "Buyer",
                            line1: &format!("{tag} street 1"),
                            city: "Singapore",
                            postcode: "018989",
                            country: "SG",
                            ..Default::default()
                        },
                    )
                    .unwrap(),
                    lines: vec![Line { variant_id: p.variants[0].id, quantity: 1 }],
                    idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(&format!("{tag}-order"))
                        .unwrap(),
                    card: card("4242 4242 4242 4242", "12/30", "123"),
                    fingerprints: Default::default(),
                },
            )
            .await
            .unwrap();
        }
    }
    ids
}

struct Setup {
    db: TestDb,
    objects: Objects,
    _dir: tempfile::TempDir,
    a: StaffScope,
    b: StaffScope,
    a_products: Vec<String>,
    b_products: Vec<String>,
    baseline: tokio::sync::OnceCell<Baseline>,
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    let a = store(&db, "alpha-tea").await;
    let b = store(&db, "bravo-books").await;
    let a_products = fill(&db, &a, &objects, "alpha").await;
    let b_products = fill(&db, &b, &objects, "bravo").await;
    Setup { db, objects, _dir: dir, a, b, a_products, b_products, baseline: tokio::sync::OnceCell::new() }
}

async fn export_of(s: &Setup, scope: &StoreScope, passphrase: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let summary = export::export(&s.db, scope, &s.objects, pass(passphrase), WORK, &mut out).await.unwrap();
    assert_eq!(summary.size, out.len() as u64);
    out
}

#[tokio::test]
async fn an_export_holds_its_store_and_nothing_of_another() {
    let s = setup().await;
    let bytes = export_of(&s, &s.a, "correct horse battery").await;
    let archive = Archive::open(bytes.as_slice(), pass("correct horse battery")).unwrap();
    assert_eq!(archive.manifest.store_slug, "alpha-tea");
    let everything: Vec<u8> = archive.files.values().flatten().copied().collect();
    let text = String::from_utf8_lossy(&everything);
    for foreign in [s.b.store_id().to_string(), "bravo".to_owned(), s.b_products[0].clone()] {
        assert!(!text.contains(&foreign), "the export of alpha contains `{foreign}`");
    }
    for id in &s.a_products {
        assert!(text.contains(id.as_str()));
    }
    assert_eq!(archive.table("products").unwrap().rows.len(), 4);
    assert_eq!(archive.table("orders").unwrap().rows.len(), 1);
    assert!(!archive.table("ledger_entries").unwrap().rows.is_empty(), "the order's escrow entries");
    assert!(!archive.table("audit_events").unwrap().rows.is_empty());
    assert_eq!(archive.files.keys().filter(|k| k.starts_with("objects/")).count(), 4);
    // Staff and customers are who, never how they sign in.
    let staff = archive.table("staff").unwrap();
    assert_eq!(staff.rows.len(), 1);
    assert!(staff.columns.iter().all(|(c, _)| !c.contains("password") && !c.contains("hash")), "{:?}", staff.columns);
    assert!(!text.contains("$argon2"));
}

#[tokio::test]
async fn a_wrong_passphrase_or_a_damaged_archive_is_refused() {
    let s = setup().await;
    let bytes = export_of(&s, &s.a, "right one").await;
    let err = Archive::open(bytes.as_slice(), pass("wrong one")).unwrap_err();
    assert!(matches!(err, BackupError::Decrypt { .. }), "{err}");
    let err = Archive::open(&bytes[..bytes.len() - 100], pass("right one")).unwrap_err();
    assert!(err.to_string().contains("archive") || matches!(err, BackupError::Decrypt { .. }), "{err}");
    let mut flipped = bytes.clone();
    let i = flipped.len() / 2;
    flipped[i] ^= 0x40;
    assert!(Archive::open(flipped.as_slice(), pass("right one")).is_err());
}

#[tokio::test]
async fn replace_previews_then_restores_the_exported_content() {
    let s = setup().await;
    let bytes = export_of(&s, &s.a, "pw for replace").await;
    let archive = Archive::open(bytes.as_slice(), pass("pw for replace")).unwrap();
    let before = catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap();

    // After the export: one product renamed, one deleted, one new.
    sqlx::query("UPDATE products SET title = 'renamed' WHERE id = $1")
        .bind(&s.a_products[1])
        .execute(s.db.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM products WHERE id = $1").bind(&s.a_products[2]).execute(s.db.pool()).await.unwrap();
    let extra = fill(&s.db, &s.a, &s.objects, "later").await;

    let preview = export::preview(&s.db, &s.a, &s.objects, &archive, &ImportContext::default()).await.unwrap();
    let products = preview.tables.iter().find(|t| t.table == "products").unwrap();
    assert_eq!((products.added, products.changed, products.removed, products.unchanged), (1, 1, 4, 2), "{preview:?}");
    assert!(preview.records_kept.contains(&"orders".to_owned()));
    // A preview changes nothing.
    assert_eq!(catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap().len(), 7);

    export::replace(&s.db, &owner(&s.a), &s.objects, &archive, &ImportContext::default()).await.unwrap();
    let after = catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap();
    let titles = |v: &Vec<catalog::Product>| {
        let mut t: Vec<(String, String)> = v.iter().map(|p| (p.id.to_string(), p.title.clone())).collect();
        t.sort();
        t
    };
    assert_eq!(titles(&after), titles(&before));
    assert!(!after.iter().any(|p| extra.contains(&p.id.to_string())));
    // Store B is untouched, and the orders of A are still there.
    assert_eq!(catalog::list_products(&s.db, &s.b, 100, 0).await.unwrap().len(), 4);
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(orders, 3);
    let again = export::preview(&s.db, &s.a, &s.objects, &archive, &ImportContext::default()).await.unwrap();
    assert_eq!(again.changes(), 0, "{again:?}");

    // An archive of store A cannot replace store B.
    let err = export::preview(&s.db, &s.b, &s.objects, &archive, &ImportContext::default()).await.unwrap_err();
    assert!(err.to_string().contains("clone"), "{err}");
}

#[tokio::test]
async fn a_clone_gets_fresh_ids_and_the_restore_test_leaves_nothing() {
    let s = setup().await;
    let bytes = export_of(&s, &s.a, "pw for clone").await;
    let archive = Archive::open(bytes.as_slice(), pass("pw for clone")).unwrap();
    let (stores_before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    let report = export::restore_test(&s.db, &archive, &ImportContext::default()).await.unwrap();
    assert!(report.tables.contains(&("products".to_owned(), 4)), "{report:?}");
    let (stores_after,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(stores_before, stores_after, "the scratch store was rolled back");

    let c = store(&s.db, "charlie-copy").await;
    let mut tx = s.db.begin_write().await.unwrap();
    export::clone_into(&mut tx, s.db.backend(), &c.store_id().to_string(), &archive, &ImportContext::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let cloned = catalog::list_products(&s.db, &c, 100, 0).await.unwrap();
    assert_eq!(cloned.len(), 4);
    for p in &cloned {
        assert!(!s.a_products.contains(&p.id.to_string()), "a clone has fresh ids");
        assert_eq!(p.variants.len(), 1, "variants follow their product");
    }
    let (images,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM product_images i JOIN products p ON p.id = i.product_id WHERE i.store_id = $1 AND p.store_id = $1",
    )
    .bind(c.store_id().to_string())
    .fetch_one(s.db.pool())
    .await
    .unwrap();
    assert_eq!(images, 4, "images point at the cloned products");
    assert_eq!(catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap().len(), 4, "the source is untouched");
}

// ---- Malicious-merchant suite: crafted archives -------------------------------------------------------------
//
// Each case takes store A's real export, tampers with it the way a merchant of store A could (decrypt with their
// own passphrase, edit, fix the manifest's hashes, re-encrypt), and tries every path that writes from an archive
// (replace, the restore test, a clone). All must refuse, and stores A and B must be byte-for-byte as before.

use std::collections::BTreeMap;

use palisade_backup::export::{ArchiveFile, ExportManifest};
use serde_json::Value;
use sha2::Digest;

const EVIL: &str = "my own passphrase";

/// Everything an export of `scope` holds (every table's rows, every image), as bytes: two equal fingerprints
/// mean the store did not change at all.
async fn fingerprint(s: &Setup, scope: &StoreScope) -> BTreeMap<String, Vec<u8>> {
    let bytes = export_of(s, scope, "fingerprint pass").await;
    let archive = Archive::open(bytes.as_slice(), pass("fingerprint pass")).unwrap();
    assert!(archive.files.len() > 20);
    archive.files
}

/// The parsed rows of a table file, with its header line.
fn rows_of(files: &BTreeMap<String, Vec<u8>>, table: &str) -> (Vec<u8>, Vec<String>, Vec<Vec<Value>>) {
    let file = &files[&format!("tables/{table}.jsonl")];
    let mut lines = file.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let header = lines.next().unwrap().to_vec();
    let columns: Vec<String> = serde_json::from_slice::<Value>(&header).unwrap()["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap().to_owned())
        .collect();
    let rows = lines.map(|l| serde_json::from_slice(l).unwrap()).collect();
    (header, columns, rows)
}

/// Rewrites one table of the archive: `edit` gets the column names and the rows.
fn edit(files: &mut BTreeMap<String, Vec<u8>>, table: &str, edit: impl FnOnce(&[String], &mut Vec<Vec<Value>>)) {
    let (header, columns, mut rows) = rows_of(files, table);
    edit(&columns, &mut rows);
    let mut out = header;
    out.push(b'\n');
    for row in rows {
        out.extend(serde_json::to_vec(&row).unwrap());
        out.push(b'\n');
    }
    files.insert(format!("tables/{table}.jsonl"), out);
}

fn col(columns: &[String], name: &str) -> usize {
    columns.iter().position(|c| c == name).unwrap()
}

/// What the attacker does last: a manifest that matches the edited files, the same format, re-encrypted.
fn reseal(manifest: &ExportManifest, files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut manifest = manifest.clone();
    manifest.files = files
        .iter()
        .map(|(path, bytes)| ArchiveFile {
            path: path.clone(),
            bytes: bytes.len() as u64,
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
            rows: path.starts_with("tables/").then(|| bytes.iter().filter(|&&b| b == b'\n').count() as u64 - 1),
        })
        .collect();
    let mut tar = tar::Builder::new(Vec::new());
    let mut put = |path: &str, bytes: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes).unwrap();
    };
    for (path, bytes) in files {
        put(path, bytes);
    }
    put("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let plain = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap();
    let mut recipient = age::scrypt::Recipient::new(pass(EVIL));
    recipient.set_work_factor(WORK);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut w = encryptor.wrap_output(&mut out).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    out
}

/// Ids of store B's rows, to plant in A's archive.
async fn first_id(s: &Setup, table: &str, column: &str, scope: &StoreScope) -> String {
    let (id,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {column} FROM {table} WHERE store_id = $1 ORDER BY {column} LIMIT 1"
    )))
    .bind(scope.store_id().to_string())
    .fetch_one(s.db.pool())
    .await
    .unwrap();
    id
}

/// Both stores as they were before any case ran, and A's archive: every case must leave them so.
struct Baseline {
    a: BTreeMap<String, Vec<u8>>,
    b: BTreeMap<String, Vec<u8>>,
    archive: Archive,
}

/// Computed once per setup (exports are slow on PostgreSQL); every case compares with the same one.
async fn baseline(s: &Setup) -> &Baseline {
    s.baseline
        .get_or_init(|| async {
            Baseline {
                a: fingerprint(s, &s.a).await,
                b: fingerprint(s, &s.b).await,
                archive: Archive::open(export_of(s, &s.a, EVIL).await.as_slice(), pass(EVIL)).unwrap(),
            }
        })
        .await
}

/// Tampers with A's export, then tries replace, the restore test and a clone: all refused, nothing changed.
async fn assert_refused(s: &Setup, case: &str, tamper: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) {
    check_tampered(s, case, CloneOutcome::Refused, tamper).await;
}

/// As [`assert_refused`], but a clone (fresh ids for every row) may accept the archive: it must still leave
/// both stores as they were.
async fn assert_refused_in_place(s: &Setup, case: &str, tamper: impl FnOnce(&mut BTreeMap<String, Vec<u8>>)) {
    check_tampered(s, case, CloneOutcome::MayAccept, tamper).await;
}

/// What a clone of a tampered archive may do: refuse it, or accept it (fresh ids for every row) as long as both
/// stores stay as they were.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CloneOutcome {
    Refused,
    MayAccept,
}

async fn check_tampered(
    s: &Setup,
    case: &str,
    clone: CloneOutcome,
    tamper: impl FnOnce(&mut BTreeMap<String, Vec<u8>>),
) {
    let before = baseline(s).await;
    let (a_before, b_before, original) = (&before.a, &before.b, &before.archive);
    let (stores_before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    let mut files = original.files.clone();
    tamper(&mut files);
    let archive = Archive::open(reseal(&original.manifest, &files).as_slice(), pass(EVIL))
        .unwrap_or_else(|e| panic!("{case}: the re-sealed archive opens ({e})"));

    let err = export::preview(&s.db, &s.a, &s.objects, &archive, &ImportContext::default()).await.unwrap_err();
    assert!(matches!(err, BackupError::Archive(_)), "{case}: preview: {err}");
    let err = export::replace(&s.db, &owner(&s.a), &s.objects, &archive, &ImportContext::default()).await.unwrap_err();
    assert!(matches!(err, BackupError::Archive(_)), "{case}: replace: {err}");
    let restored = export::restore_test(&s.db, &archive, &ImportContext::default()).await;
    if clone == CloneOutcome::Refused {
        assert!(matches!(restored, Err(BackupError::Archive(_))), "{case}: restore test: {restored:?}");
    }
    let mut tx = s.db.begin_write().await.unwrap();
    let target = uuid::Uuid::now_v7().to_string();
    sqlx::query(
        "INSERT INTO stores (id, slug, name, currency, status, created_at, updated_at) VALUES ($1, $2, 'c', 'SGD', 'active', 0, 0)",
    )
    .bind(&target)
    .bind(format!("clone-{}", &target[target.len() - 12..]))
    .execute(&mut *tx)
    .await
    .unwrap();
    let cloned = export::clone_into(&mut tx, s.db.backend(), &target, &archive, &ImportContext::default()).await;
    if clone == CloneOutcome::Refused {
        assert!(matches!(cloned, Err(BackupError::Archive(_))), "{case}: clone: {cloned:?}");
    }
    tx.rollback().await.unwrap();

    assert!(&fingerprint(s, &s.b).await == b_before, "{case}: store B changed");
    assert!(&fingerprint(s, &s.a).await == a_before, "{case}: store A changed (half-written import)");
    let (stores_after,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(stores_before, stores_after, "{case}");
}

/// Sets `column` of the first row of `table` to `value`.
fn set_first(files: &mut BTreeMap<String, Vec<u8>>, table: &str, column: &str, value: &str) {
    edit(files, table, |cols, rows| rows[0][col(cols, column)] = Value::String(value.to_owned()));
}

#[tokio::test]
async fn a_crafted_archive_cannot_take_another_stores_rows() {
    let s = setup().await;
    // Ids of B's rows, in every table an import writes.
    for table in ["categories", "products", "variants", "product_images", "theme_templates", "store_rules"] {
        let foreign = first_id(&s, table, "id", &s.b).await;
        assert_refused_in_place(&s, &format!("{table}.id of store B"), |f| set_first(f, table, "id", &foreign)).await;
    }
    // The single-row settings tables are keyed by the store itself.
    let b = s.b.store_id().to_string();
    for table in ["store_commerce", "store_security", "store_firewall", "store_fraud_rules"] {
        assert_refused(&s, &format!("{table} of store B"), |f| set_first(f, table, "store_id", &b)).await;
    }
    // A row claiming store B in a table keyed by id.
    assert_refused(&s, "products.store_id of B", |f| set_first(f, "products", "store_id", &b)).await;
}

#[tokio::test]
async fn a_crafted_archive_cannot_point_at_another_stores_rows_or_objects() {
    let s = setup().await;
    let b_product = first_id(&s, "products", "id", &s.b).await;
    let b_category = first_id(&s, "categories", "id", &s.b).await;
    let b_image = first_id(&s, "product_images", "object_key", &s.b).await;
    let a_category = first_id(&s, "categories", "id", &s.a).await;
    let (b_order,): (String,) = sqlx::query_as("SELECT id FROM orders WHERE store_id = $1")
        .bind(s.b.store_id().to_string())
        .fetch_one(s.db.pool())
        .await
        .unwrap();

    assert_refused(&s, "variant of B's product", |f| set_first(f, "variants", "product_id", &b_product)).await;
    assert_refused(&s, "image of B's product", |f| set_first(f, "product_images", "product_id", &b_product)).await;
    assert_refused(&s, "product in B's category", |f| set_first(f, "products", "category_id", &b_category)).await;
    // Ids of other tables: a variant of a category, a product in an order.
    assert_refused(&s, "variant of a category", |f| set_first(f, "variants", "product_id", &a_category)).await;
    assert_refused(&s, "product in an order", |f| set_first(f, "products", "category_id", &b_order)).await;
    // Objects: B's image (not in the archive), another store's archive, any path outside images/.
    assert_refused(&s, "B's image", |f| set_first(f, "product_images", "object_key", &b_image)).await;
    let b_archive = format!("exports/{}/x.palx", s.b.store_id());
    assert_refused(&s, "B's archive as an image", |f| set_first(f, "product_images", "object_key", &b_archive)).await;
    assert_refused(&s, "an object outside images/", |f| {
        f.insert(format!("objects/exports/{}/planted", s.b.store_id()), b"x".to_vec());
    })
    .await;
    // An image row that lies about its type, and an "image" that is HTML served as one.
    assert_refused(&s, "image claimed as HTML", |f| set_first(f, "product_images", "content_type", "text/html")).await;
    assert_refused(&s, "HTML as an image", |f| {
        let html = b"<script>alert(document.cookie)</script>".to_vec();
        let key = Objects::key_for("images", &html);
        f.insert(format!("objects/{key}"), html);
        set_first(f, "product_images", "object_key", &key);
    })
    .await;
    // Duplicated ids inside the archive.
    assert_refused(&s, "a product twice", |f| {
        edit(f, "products", |_, rows| {
            let first = rows[0].clone();
            rows.push(first);
        })
    })
    .await;
}

/// Renames one id everywhere the archive holds it (so every reference stays consistent) to `spelling`.
fn respell(files: &mut BTreeMap<String, Vec<u8>>, id: &str, spelling: &str) {
    for table in ["products", "variants", "product_images"] {
        edit(files, table, |_, rows| {
            for value in rows.iter_mut().flatten() {
                if value.as_str() == Some(id) {
                    *value = Value::String(spelling.to_owned());
                }
            }
        });
    }
}

/// Pages parse the ids they read back: an archive whose product, variant or image ids are not ids as Palisade
/// writes them (even when every reference agrees) would break its own store's pages, so it is refused.
#[tokio::test]
async fn a_crafted_archive_cannot_plant_malformed_ids() {
    let s = setup().await;
    for table in ["products", "variants", "product_images"] {
        let id = first_id(&s, table, "id", &s.a).await;
        for spelling in ["x".to_owned(), format!("{{{id}}}"), id.to_uppercase(), format!("urn:uuid:{id}")] {
            let case = format!("{table}.id spelled {spelling}");
            assert_refused_in_place(&s, &case, |f| respell(f, &id, &spelling)).await;
        }
    }
}

#[tokio::test]
async fn an_untampered_archive_still_imports_after_the_checks() {
    let s = setup().await;
    let b_before = fingerprint(&s, &s.b).await;
    let original = Archive::open(export_of(&s, &s.a, EVIL).await.as_slice(), pass(EVIL)).unwrap();
    // Re-sealed by hand without changes: the checks judge content, not who encrypted it.
    let archive = Archive::open(reseal(&original.manifest, &original.files).as_slice(), pass(EVIL)).unwrap();
    export::replace(&s.db, &owner(&s.a), &s.objects, &archive, &ImportContext::default()).await.unwrap();
    export::restore_test(&s.db, &archive, &ImportContext::default()).await.unwrap();
    assert!(fingerprint(&s, &s.b).await == b_before);
}

#[tokio::test]
async fn opening_an_archive_caps_its_cost() {
    use palisade_backup::export::OpenLimits;
    // A work factor above the web's cap is refused before scrypt runs.
    let mut recipient = age::scrypt::Recipient::new(pass(EVIL));
    recipient.set_work_factor(OpenLimits::WEB.max_work_factor + 1);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut costly = Vec::new();
    let mut w = encryptor.wrap_output(&mut costly).unwrap();
    std::io::Write::write_all(&mut w, b"anything").unwrap();
    w.finish().unwrap();
    let started = std::time::Instant::now();
    let err = Archive::open_for_web(costly, pass(EVIL)).await.unwrap_err();
    assert!(err.to_string().contains("work factor"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(2));

    // A decompression bomb stops at the limit instead of filling memory.
    let limits = OpenLimits { max_work_factor: WORK, max_bytes: 1024 * 1024 };
    let mut tar = tar::Builder::new(Vec::new());
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let mut header = tar::Header::new_gnu();
    header.set_size(zeros.len() as u64);
    header.set_cksum();
    tar.append_data(&mut header, "tables/products.jsonl", zeros.as_slice()).unwrap();
    let plain = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 19).unwrap();
    assert!(plain.len() < 64 * 1024, "a bomb: {} bytes", plain.len());
    let mut recipient = age::scrypt::Recipient::new(pass(EVIL));
    recipient.set_work_factor(WORK);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut bomb = Vec::new();
    let mut w = encryptor.wrap_output(&mut bomb).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    assert!(Archive::open_with(bomb.as_slice(), pass(EVIL), limits).is_err());

    // Links and traversal are refused by name.
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    tar.append_link(&mut header, "objects/images/link", "/etc/passwd").unwrap();
    let plain = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap();
    let mut recipient = age::scrypt::Recipient::new(pass(EVIL));
    recipient.set_work_factor(WORK);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut linked = Vec::new();
    let mut w = encryptor.wrap_output(&mut linked).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    let err = Archive::open(linked.as_slice(), pass(EVIL)).unwrap_err();
    assert!(err.to_string().contains("regular files"), "{err}");
}

// ---- Fraud rules in exports (issue #20) ----------------------------------------------------------------------

/// One card payment for the first variant of the store's first product: the store's fraud rules decide it.
async fn buy(s: &Setup, scope: &StaffScope, key: &str) -> Result<orders::Placed, palisade_commerce::CommerceError> {
    let products = catalog::list_products(&s.db, scope, 100, 0).await.unwrap();
    let variant = products.iter().find_map(|p| p.variants.first()).unwrap().id;
    orders::checkout(
        &s.db,
        &TestGateway,
        scope,
        Checkout {
            guest_proof: None,
            email: Email::parse("shopper@example.com").unwrap(),
            address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
                name: "Shopper",
                line1: "1 Rule Road",
                city: "Singapore",
                postcode: "018989",
                country: "SG",
                ..Default::default()
            })
            .unwrap(),
            lines: vec![Line { variant_id: variant, quantity: 1 }],
            idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse(key).unwrap(),
            card: card("4242 4242 4242 4242", "12/30", "123"),
            fingerprints: Default::default(),
        },
    )
    .await
}

async fn fraud_row(s: &Setup, scope: &StoreScope) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT rules, updated_at, updated_by FROM store_fraud_rules WHERE store_id = $1")
        .bind(scope.store_id().to_string())
        .fetch_one(s.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn fraud_rules_round_trip_and_an_import_never_reaches_another_store() {
    use palisade_commerce::fraud;
    let s = setup().await;
    let strict = "# everything\nblock if amount > 1\n";
    assert_eq!(fraud::set_rules(&s.db, &s.a, strict).await.unwrap(), Ok(1));
    let original = Archive::open(export_of(&s, &s.a, EVIL).await.as_slice(), pass(EVIL)).unwrap();
    assert_eq!(archive_rules(&original), vec![strict.to_owned()]);
    // The archive claims the rules were written long ago by store B's owner: neither is believed.
    let b_owner = format!("account:{}", first_id(&s, "store_members", "account_id", &s.b).await);
    let mut files = original.files.clone();
    edit(&mut files, "store_fraud_rules", |cols, rows| {
        rows[0][col(cols, "updated_at")] = Value::from(0);
        rows[0][col(cols, "updated_by")] = Value::String(b_owner.clone());
    });
    let archive = Archive::open(reseal(&original.manifest, &files).as_slice(), pass(EVIL)).unwrap();

    // The merchant relaxes the rules, and a checkout reads (and caches) them.
    fraud::set_rules(&s.db, &s.a, "").await.unwrap().unwrap();
    let (_, relaxed_at, _) = fraud_row(&s, &s.a).await;
    buy(&s, &s.a, "before-import").await.unwrap();

    let preview = export::preview(&s.db, &s.a, &s.objects, &archive, &ImportContext::default()).await.unwrap();
    let change = preview.tables.iter().find(|t| t.table == "store_fraud_rules").unwrap();
    assert_eq!((change.added, change.changed, change.removed), (0, 1, 0), "{preview:?}");
    export::replace(&s.db, &owner(&s.a), &s.objects, &archive, &ImportContext::default()).await.unwrap();
    let (rules, at, by) = fraud_row(&s, &s.a).await;
    assert_eq!(rules, strict);
    assert!(at > relaxed_at, "a fresh time, so the scorer's cache sees the new rules");
    assert_eq!(by.as_deref(), Some("system:test"), "the importer, not the archive's claim");
    assert_eq!(fraud::rules(&s.db, &s.a).await.unwrap(), strict);
    let refused = buy(&s, &s.a, "after-import").await;
    assert!(matches!(refused, Err(palisade_commerce::CommerceError::RefusedAsRisky)), "{refused:?}");
    // Only the stamps differ from the archive: nothing left to change.
    let again = export::preview(&s.db, &s.a, &s.objects, &archive, &ImportContext::default()).await.unwrap();
    assert_eq!(again.changes(), 0, "{again:?}");

    // Cloned into a new store C: C gets the rules, with its own id and no one's name; B is untouched.
    let b_rules = fraud_row(&s, &s.b).await;
    let c = store(&s.db, "charlie-rules").await;
    let mut tx = s.db.begin_write().await.unwrap();
    let listing = ImportContext { may_publish: true, ..ImportContext::default() };
    export::clone_into(&mut tx, s.db.backend(), &c.store_id().to_string(), &archive, &listing).await.unwrap();
    tx.commit().await.unwrap();
    let (c_rules, _, c_by) = fraud_row(&s, &c).await;
    assert_eq!(c_rules, strict);
    assert_eq!(c_by.as_deref(), Some("system:store-clone"));
    let refused = buy(&s, &c, "in-clone").await;
    assert!(matches!(refused, Err(palisade_commerce::CommerceError::RefusedAsRisky)), "{refused:?}");
    assert_eq!(fraud_row(&s, &s.b).await, b_rules, "store B's rules are as they were");
    let placed = buy(&s, &s.b, "in-b").await.unwrap();
    assert_eq!(placed.order.status, orders::Status::Paid, "store B's checkout is not governed by A's rules");
}

fn archive_rules(archive: &Archive) -> Vec<String> {
    let t = archive.table("store_fraud_rules").unwrap();
    let i = t.columns.iter().position(|(c, _)| c == "rules").unwrap();
    t.rows.iter().map(|r| r[i].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_crafted_archive_cannot_plant_fraud_rules_the_page_would_refuse() {
    let s = setup().await;
    let set_rules = |text: String| {
        move |f: &mut BTreeMap<String, Vec<u8>>| {
            edit(f, "store_fraud_rules", |cols, rows| rows[0][col(cols, "rules")] = Value::String(text))
        }
    };
    assert_refused(&s, "unparsable fraud rules", set_rules("review if score > 60\nblock if scor > 90\n".into())).await;
    let oversize = "# x\n".repeat(palisade_commerce::fraud::MAX_STORE_RULES_BYTES / 4 + 1);
    assert_refused(&s, "oversize fraud rules", set_rules(oversize)).await;
    assert_refused(&s, "fraud rules that are not text", |f| {
        edit(f, "store_fraud_rules", |cols, rows| rows[0][col(cols, "rules")] = Value::Null)
    })
    .await;
    assert_refused(&s, "two sets of fraud rules", |f| {
        edit(f, "store_fraud_rules", |_, rows| {
            let first = rows[0].clone();
            rows.push(first);
        })
    })
    .await;
    // A refused archive with other changes writes none of them (one transaction).
    assert_refused(&s, "bad rules with a renamed product", |f| {
        set_first(f, "products", "title", "renamed by the archive");
        set_rules("block if".into())(f);
    })
    .await;
}

/// Review finding 4: the keyed fraud fingerprints (the same card has the same fingerprint at every store) stay
/// out of the merchant's export, so two exports cannot be matched buyer by buyer; the archive still restores.
#[tokio::test]
async fn an_export_holds_no_fraud_fingerprints() {
    let s = setup().await;
    let products = catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap();
    let variant = products.iter().find_map(|p| p.variants.first()).unwrap().id;
    let placed = orders::checkout(
        &s.db,
        &TestGateway,
        &s.a,
        Checkout {
            guest_proof: None,
            email: Email::parse("shopper@example.com").unwrap(),
            address: palisade_commerce::address::ShippingAddress::parse(palisade_commerce::address::AddressFields {
                name: "Shopper",
                line1: "1 Print Road",
                city: "Singapore",
                postcode: "018989",
                country: "SG",
                ..Default::default()
            })
            .unwrap(),
            lines: vec![Line { variant_id: variant, quantity: 1 }],
            idempotency_key: palisade_commerce::idempotency::IdempotencyKey::parse("fp-order").unwrap(),
            card: card("4242 4242 4242 4242", "12/30", "123"),
            fingerprints: palisade_commerce::fraud::Fingerprints {
                card: Some("cardprint0123456789".into()),
                address: Some("shipprint0123456789".into()),
                email: Some("mailprint0123456789".into()),
                ip_country: None,
            },
        },
    )
    .await
    .unwrap();
    // Stored, for the velocity ...
    let (card_fp,): (Option<String>,) =
        sqlx::query_as("SELECT card_fingerprint FROM orders WHERE store_id = $1 AND id = $2")
            .bind(s.a.store_id().to_string())
            .bind(placed.order.id.to_string())
            .fetch_one(s.db.pool())
            .await
            .unwrap();
    assert_eq!(card_fp.as_deref(), Some("cardprint0123456789"));
    // ... but not exported.
    let bytes = export_of(&s, &s.a, "pw for prints").await;
    let archive = Archive::open(bytes.as_slice(), pass("pw for prints")).unwrap();
    let orders_table = archive.table("orders").unwrap();
    assert_eq!(orders_table.rows.len(), 2);
    let columns: Vec<&str> = orders_table.columns.iter().map(|(c, _)| c.as_str()).collect();
    for omitted in ["card_fingerprint", "ship_key", "email_key"] {
        assert!(!columns.contains(&omitted), "{omitted} exported: {columns:?}");
    }
    assert!(columns.contains(&"buyer_email") && columns.contains(&"total_minor"), "the record itself is there");
    let everything: Vec<u8> = archive.files.values().flatten().copied().collect();
    let text = String::from_utf8_lossy(&everything);
    for print in ["cardprint", "shipprint", "mailprint"] {
        assert!(!text.contains(print), "{print} is in the export");
    }
    // The archive still restores and clones.
    export::restore_test(&s.db, &archive, &ImportContext::default()).await.unwrap();
    let c = store(&s.db, "charlie-copy").await;
    let mut tx = s.db.begin_write().await.unwrap();
    export::clone_into(&mut tx, s.db.backend(), &c.store_id().to_string(), &archive, &ImportContext::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(catalog::list_products(&s.db, &c, 100, 0).await.unwrap().len(), 4);
}

async fn visibility_of(s: &Setup, id: &str) -> Option<(String, i64)> {
    sqlx::query_as("SELECT status, hidden_by_operator FROM products WHERE id = $1")
        .bind(id.to_owned())
        .fetch_optional(s.db.pool())
        .await
        .unwrap()
}

/// An archive that says "published" and "not hidden" for every product: what a merchant would write to get
/// listings past the verification gate or back after the operator hid them.
fn publish_everything(files: &mut BTreeMap<String, Vec<u8>>) {
    edit(files, "products", |columns, rows| {
        let (status, hidden) = (col(columns, "status"), col(columns, "hidden_by_operator"));
        for row in rows {
            row[status] = Value::from("published");
            row[hidden] = Value::from(0);
        }
    });
}

#[tokio::test]
async fn an_archive_cannot_publish_past_the_listing_gate_or_undo_an_operator_hide() {
    let s = setup().await;
    let (hidden, draft, gone) = (&s.a_products[1], &s.a_products[2], &s.a_products[3]);
    for (id, sql) in [
        (hidden, "UPDATE products SET status = 'draft', hidden_by_operator = 1 WHERE id = $1"),
        (gone, "UPDATE products SET status = 'draft', hidden_by_operator = 1 WHERE id = $1"),
        (draft, "UPDATE products SET status = 'draft' WHERE id = $1"),
    ] {
        sqlx::query(sql).bind(id.clone()).execute(s.db.pool()).await.unwrap();
    }
    let original = Archive::open(export_of(&s, &s.a, EVIL).await.as_slice(), pass(EVIL)).unwrap();
    let mut files = original.files.clone();
    publish_everything(&mut files);
    // The second hidden product is left out of the archive altogether, with its variants and images.
    let gone_json = Value::from(gone.as_str());
    for table in ["products", "variants", "product_images"] {
        edit(&mut files, table, |columns, rows| {
            let key = if table == "products" { col(columns, "id") } else { col(columns, "product_id") };
            rows.retain(|r| r[key] != gone_json);
        });
    }
    let crafted = Archive::open(reseal(&original.manifest, &files).as_slice(), pass(EVIL)).unwrap();

    // The operator requires verification before listing; store A is not verified.
    palisade_store::settings::put(&s.db, palisade_commerce::verification::REQUIRED_BEFORE_LISTING, &Value::Bool(true))
        .await
        .unwrap();
    let preview = export::preview(&s.db, &s.a, &s.objects, &crafted, &ImportContext::default()).await.unwrap();
    let products = preview.tables.iter().find(|t| t.table == "products").unwrap();
    assert_eq!(products.removed, 0, "a hidden product is never removed by an import: {preview:?}");
    export::replace(&s.db, &owner(&s.a), &s.objects, &crafted, &ImportContext::default()).await.unwrap();
    assert_eq!(visibility_of(&s, hidden).await, Some(("draft".into(), 1)), "the operator's hide stands");
    assert_eq!(visibility_of(&s, gone).await, Some(("draft".into(), 1)), "a hidden product stays, as evidence");
    assert_eq!(visibility_of(&s, draft).await, Some(("draft".into(), 0)), "the gate holds: a draft stays a draft");
    assert_eq!(visibility_of(&s, &s.a_products[0]).await, Some(("published".into(), 0)), "listed before stays");

    // A clone of the crafted archive lands every product as a draft unless its caller says the gate is open,
    // and never publishes one the archive marks hidden.
    let mut both = original.files.clone();
    publish_everything(&mut both);
    edit(&mut both, "products", |columns, rows| {
        let (id, hidden_col) = (col(columns, "id"), col(columns, "hidden_by_operator"));
        for row in rows.iter_mut().filter(|r| r[id] == hidden.as_str()) {
            row[hidden_col] = Value::from(1);
        }
    });
    let marked = Archive::open(reseal(&original.manifest, &both).as_slice(), pass(EVIL)).unwrap();
    for (slug, may_publish, listed) in [("gate-shut", false, 0), ("gate-open", true, 3)] {
        let c = store(&s.db, slug).await;
        let ctx = ImportContext { may_publish, by_operator: true, ..ImportContext::default() };
        let mut tx = s.db.begin_write().await.unwrap();
        export::clone_into(&mut tx, s.db.backend(), &c.store_id().to_string(), &marked, &ctx).await.unwrap();
        tx.commit().await.unwrap();
        let cloned = catalog::list_products(&s.db, &c, 100, 0).await.unwrap();
        assert_eq!(cloned.len(), 4);
        let published = cloned.iter().filter(|p| p.status == ProductStatus::Published).count();
        assert_eq!(published, listed, "{slug}: {cloned:?}");
    }

    // With the gate open, an import publishes a draft as the product editor would; the hide still stands.
    palisade_store::settings::put(&s.db, palisade_commerce::verification::REQUIRED_BEFORE_LISTING, &Value::Bool(false))
        .await
        .unwrap();
    export::replace(&s.db, &owner(&s.a), &s.objects, &crafted, &ImportContext::default()).await.unwrap();
    assert_eq!(visibility_of(&s, draft).await, Some(("published".into(), 0)));
    assert_eq!(visibility_of(&s, hidden).await, Some(("draft".into(), 1)));
    assert_eq!(visibility_of(&s, gone).await, Some(("draft".into(), 1)));
}
