//! Store exports: isolation, encryption, replace with preview, clone and the restore test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_backup::BackupError;
use palisade_backup::export::{self, Archive};
use palisade_commerce::catalog::{self, NewProduct, NewVariant, ProductStatus};
use palisade_commerce::orders::{self, Checkout, Line};
use palisade_commerce::payments::{TestGateway, card};
use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::tenancy::{self, AccountKind, NewAccount, NewStore};
use palisade_store::testing::TestDb;
use palisade_store::{Db, Objects};
use secrecy::SecretString;

/// Low scrypt cost: these tests are about content, not key stretching.
const WORK: u8 = 10;

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

/// Products (with an image each) and one paid order.
async fn fill(db: &Db, scope: &StaffScope, objects: &Objects, tag: &str) -> Vec<String> {
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
                category: None,
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
        let png = format!("{tag}-image-{n}").into_bytes();
        let key = objects.put_content("images", bytes::Bytes::from(png)).await.unwrap();
        sqlx::query(
            "INSERT INTO product_images (id, store_id, product_id, object_key, content_type, width, height, bytes, alt, position, created_at) \
             VALUES ($1, $2, $3, $4, 'image/png', 10, 10, 20, $5, 0, 0)",
        )
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(scope.store_id().to_string())
        .bind(&p.id)
        .bind(&key)
        .bind(format!("{tag} picture"))
        .execute(db.pool())
        .await
        .unwrap();
        ids.push(p.id.clone());
        if n == 0 {
            orders::checkout(
                db,
                &TestGateway,
                scope,
                Checkout {
                    guest_proof: None,
                    email: Email::parse(&format!("buyer@{tag}.example")).unwrap(),
                    address: serde_json::json!({"line1": format!("{tag} street 1")}),
                    lines: vec![Line { variant_id: p.variants[0].id.clone(), quantity: 1 }],
                    idempotency_key: format!("{tag}-order"),
                    card: card("4242 4242 4242 4242", "12/30", "123"),
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
}

async fn setup() -> Setup {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let objects = Objects::local(dir.path()).unwrap();
    let a = store(&db, "alpha-tea").await;
    let b = store(&db, "bravo-books").await;
    let a_products = fill(&db, &a, &objects, "alpha").await;
    let b_products = fill(&db, &b, &objects, "bravo").await;
    Setup { db, objects, _dir: dir, a, b, a_products, b_products }
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

    let preview = export::preview(&s.db, &s.a, &s.objects, &archive).await.unwrap();
    let products = preview.tables.iter().find(|t| t.table == "products").unwrap();
    assert_eq!((products.added, products.changed, products.removed, products.unchanged), (1, 1, 4, 2), "{preview:?}");
    assert!(preview.records_kept.contains(&"orders".to_owned()));
    // A preview changes nothing.
    assert_eq!(catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap().len(), 7);

    export::replace(&s.db, &s.a, &s.objects, &archive).await.unwrap();
    let after = catalog::list_products(&s.db, &s.a, 100, 0).await.unwrap();
    let titles = |v: &Vec<catalog::Product>| {
        let mut t: Vec<(String, String)> = v.iter().map(|p| (p.id.clone(), p.title.clone())).collect();
        t.sort();
        t
    };
    assert_eq!(titles(&after), titles(&before));
    assert!(!after.iter().any(|p| extra.contains(&p.id)));
    // Store B is untouched, and the orders of A are still there.
    assert_eq!(catalog::list_products(&s.db, &s.b, 100, 0).await.unwrap().len(), 4);
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(orders, 3);
    let again = export::preview(&s.db, &s.a, &s.objects, &archive).await.unwrap();
    assert_eq!(again.changes(), 0, "{again:?}");

    // An archive of store A cannot replace store B.
    let err = export::preview(&s.db, &s.b, &s.objects, &archive).await.unwrap_err();
    assert!(err.to_string().contains("clone"), "{err}");
}

#[tokio::test]
async fn a_clone_gets_fresh_ids_and_the_restore_test_leaves_nothing() {
    let s = setup().await;
    let bytes = export_of(&s, &s.a, "pw for clone").await;
    let archive = Archive::open(bytes.as_slice(), pass("pw for clone")).unwrap();
    let (stores_before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    let report = export::restore_test(&s.db, &archive).await.unwrap();
    assert!(report.tables.contains(&("products".to_owned(), 4)), "{report:?}");
    let (stores_after,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM stores").fetch_one(s.db.pool()).await.unwrap();
    assert_eq!(stores_before, stores_after, "the scratch store was rolled back");

    let c = store(&s.db, "charlie-copy").await;
    let mut tx = s.db.begin_write().await.unwrap();
    export::clone_into(&mut tx, s.db.backend(), &c.store_id().to_string(), &archive).await.unwrap();
    tx.commit().await.unwrap();
    let cloned = catalog::list_products(&s.db, &c, 100, 0).await.unwrap();
    assert_eq!(cloned.len(), 4);
    for p in &cloned {
        assert!(!s.a_products.contains(&p.id), "a clone has fresh ids");
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
