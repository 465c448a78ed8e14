//! Applying a kept products import: this store's SKUs only, single use, expiry, all-or-nothing writes.

use palisade_commerce::CommerceError;
use palisade_commerce::catalog::{self, ProductStatus};
use palisade_commerce::product_import::{self, Checked, ImportId, ImportLine, Refused};
use palisade_core::money::{Currency, Money};
use palisade_store::scope::StaffScope;
use palisade_store::testing::TestDb;
use palisade_store::{Db, StoreError};

use super::{sgd, store, tea};

/// A stand-in for the web crate's CSV reader: `title|sku|price minor units|stock|status` per line.
fn read(text: &str, currency: Currency) -> Result<Checked, String> {
    let mut out = Checked::default();
    for (i, line) in text.lines().enumerate() {
        let row = u64::try_from(i).unwrap() + 2;
        let cells: Vec<&str> = line.split('|').collect();
        if cells.len() != 5 {
            return Err(format!("row {row}: not five cells"));
        }
        match cells[2].parse::<i64>() {
            Ok(minor) => out.lines.push(ImportLine {
                row,
                title: cells[0].into(),
                sku: cells[1].into(),
                options: serde_json::json!({}),
                price: Money::new(minor, currency),
                stock: cells[3].parse().unwrap(),
                status: ProductStatus::parse(cells[4]).unwrap(),
            }),
            Err(_) => out.refused.push(Refused { row, reason: "bad price".into() }),
        }
    }
    Ok(out)
}

fn gone<T: std::fmt::Debug>(r: Result<T, CommerceError>) -> bool {
    matches!(r, Err(CommerceError::Store(StoreError::NotFound("import"))))
}

/// Every variant of the store as (sku, title, price, stock, status), sorted by SKU.
async fn catalog_of(db: &Db, scope: &StaffScope) -> Vec<(String, String, i64, i64, &'static str)> {
    let all = catalog::search_products(db, scope, &catalog::ProductQuery::default(), 100, 0).await.unwrap();
    let mut out: Vec<_> = all
        .iter()
        .flat_map(|p| {
            p.variants.iter().map(|v| (v.sku.clone(), p.title.clone(), v.price.minor, v.stock, p.status.as_str()))
        })
        .collect();
    out.sort();
    out
}

async fn kept(db: &Db) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM product_imports").fetch_one(db.pool()).await.unwrap();
    n
}

#[tokio::test]
async fn an_import_creates_and_updates_in_its_own_store_once_and_is_audited_without_contents() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    catalog::create_product(&t, &a, tea("MUG-1", 7)).await.unwrap();
    let mut theirs = tea("BR-1", 4);
    theirs.title = "Bravo lamp".into();
    catalog::create_product(&t, &b, theirs).await.unwrap();
    let before_b = catalog_of(&t, &b).await;

    let file = "Teal mug|MUG-1|1300|9|published\n\
                Bravo lamp copy|BR-1|100|1|draft\n\
                =1+1 <b>x</b>|NEW-1|250|1|draft\n\
                Bad|BAD-1|x|1|draft\n";
    let id = product_import::keep(&t, &a, file).await.unwrap();
    let report = product_import::apply(&t, &a, &id, read).await.unwrap();
    assert_eq!((report.created, report.updated), (2, 1));
    assert_eq!(report.refused, vec![Refused { row: 5, reason: "bad price".into() }]);
    assert_eq!(
        catalog_of(&t, &a).await,
        vec![
            ("BR-1".into(), "Bravo lamp copy".into(), 100, 1, "draft"),
            ("MUG-1".into(), "Teal mug".into(), 1300, 9, "published"),
            ("NEW-1".into(), "=1+1 <b>x</b>".into(), 250, 1, "draft"),
        ]
    );
    // Another store's SKU made a product here and left the other store alone.
    assert_eq!(catalog_of(&t, &b).await, before_b);
    // Single use: the kept file is gone, a replay is refused and doubles nothing.
    assert_eq!(kept(&t).await, 0);
    assert!(gone(product_import::apply(&t, &a, &id, read).await));
    assert_eq!(catalog_of(&t, &a).await.len(), 3);
    // One audit event with the counts and every change by SKU (old and new price, stock, status), never the
    // titles: a price changed and changed back by import leaves a trace, as a one-at-a-time edit does.
    let events = palisade_store::audit::list_store(&t, &a, 50).await.unwrap();
    let imported: Vec<_> = events.iter().filter(|e| e.action == "products.imported").collect();
    assert_eq!(imported.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&imported[0].details).unwrap();
    assert_eq!((&details["created"], &details["updated"], &details["refused"]), (&2.into(), &1.into(), &1.into()));
    let changes = details["changes"].as_array().unwrap();
    let mug = changes.iter().find(|c| c["sku"] == "MUG-1").unwrap();
    assert_eq!(mug["price_minor"], serde_json::json!([1850, 1300]), "{mug}");
    assert_eq!(mug["stock"][1], 9);
    assert!(changes.iter().any(|c| c["sku"] == "NEW-1" && c["created"] == true && c["price_minor"] == 250));
    assert!(!imported[0].details.contains("Teal") && !imported[0].details.contains("<b>"));
    assert!(
        palisade_store::audit::list_store(&t, &b, 50).await.unwrap().iter().all(|e| e.action != "products.imported")
    );
}

#[tokio::test]
async fn another_store_another_person_or_a_made_up_id_finds_nothing() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let b = store(&t, "bravo").await;
    let id = product_import::keep(&t, &a, "Mug|M-1|100|1|draft\n").await.unwrap();
    assert!(gone(product_import::apply(&t, &b, &id, read).await));
    let colleague = StaffScope::system(a.store_id(), "someone-else");
    assert!(gone(product_import::apply(&t, &colleague, &id, read).await));
    assert!(gone(product_import::apply(&t, &a, &ImportId::parse(&"0".repeat(64)).unwrap(), read).await));
    product_import::discard(&t, &b, &id).await.unwrap();
    assert!(catalog_of(&t, &b).await.is_empty() && catalog_of(&t, &a).await.is_empty());
    // None of that used it up or deleted it: its owner still can apply it.
    assert_eq!(product_import::apply(&t, &a, &id, read).await.unwrap().created, 1);
    assert!(catalog_of(&t, &b).await.is_empty());
}

#[tokio::test]
async fn a_kept_file_expires_after_an_hour_and_a_person_keeps_a_few_at_most() {
    let (t, clock) = TestDb::manual().await;
    let a = store(&t, "alpha").await;
    let id = product_import::keep(&t, &a, "Mug|M-1|100|1|draft\n").await.unwrap();
    clock.advance(std::time::Duration::from_secs(61 * 60));
    assert!(gone(product_import::apply(&t, &a, &id, read).await));
    assert!(catalog_of(&t, &a).await.is_empty());
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(product_import::keep(&t, &a, "Mug|M-1|100|1|draft\n").await.unwrap());
        clock.advance(std::time::Duration::from_secs(1));
    }
    // The expired one was swept, and only the newest four are kept.
    assert_eq!(kept(&t).await, i64::try_from(product_import::MAX_KEPT).unwrap());
    assert!(gone(product_import::apply(&t, &a, &ids[0], read).await));
    assert_eq!(product_import::apply(&t, &a, &ids[5], read).await.unwrap().created, 1);
}

#[tokio::test]
async fn a_row_failing_while_writing_leaves_nothing_half_written_and_the_file_kept() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    catalog::create_product(&t, &a, tea("MUG-1", 7)).await.unwrap();
    let before = catalog_of(&t, &a).await;
    // A write that fails after others have been made (the database refuses the last variant).
    let pg = t.backend() == palisade_store::db::Backend::Postgres;
    if pg {
        sqlx::query(
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             IF NEW.sku = 'BOOM' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$",
        )
        .execute(t.pool())
        .await
        .unwrap();
        sqlx::query("CREATE TRIGGER boom BEFORE INSERT ON variants FOR EACH ROW EXECUTE FUNCTION boom()")
            .execute(t.pool())
            .await
            .unwrap();
    } else {
        sqlx::query(
            "CREATE TRIGGER boom BEFORE INSERT ON variants WHEN NEW.sku = 'BOOM' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        )
        .execute(t.pool())
        .await
        .unwrap();
    }
    let file = "New|NEW-1|100|1|draft\nMug|MUG-1|999|99|archived\nLast|BOOM|100|1|draft\n";
    let id = product_import::keep(&t, &a, file).await.unwrap();
    assert!(product_import::apply(&t, &a, &id, read).await.is_err());
    assert_eq!(catalog_of(&t, &a).await, before);
    let events = palisade_store::audit::list_store(&t, &a, 50).await.unwrap();
    assert!(events.iter().all(|e| e.action != "products.imported"));
    assert_eq!(kept(&t).await, 1);
    // Once the cause is gone, the same kept file applies whole.
    let drop = if pg { "DROP TRIGGER boom ON variants" } else { "DROP TRIGGER boom" };
    sqlx::query(drop).execute(t.pool()).await.unwrap();
    let report = product_import::apply(&t, &a, &id, read).await.unwrap();
    assert_eq!((report.created, report.updated), (2, 1));
}

#[tokio::test]
async fn rows_are_checked_against_the_store_before_anything_is_written() {
    let t = TestDb::new().await;
    let a = store(&t, "alpha").await;
    let mut two = tea("SZ-S", 1);
    two.variants.push(palisade_commerce::catalog::NewVariant {
        sku: "SZ-M".into(),
        options: serde_json::json!({"size": "M"}),
        price: sgd(100),
        stock: 1,
    });
    catalog::create_product(&t, &a, two).await.unwrap();
    let long = "x".repeat(121);
    let file = format!(
        "Tee|SZ-S|100|5|published\nOther title|SZ-M|100|5|published\n{long}|LONG-1|1|1|draft\n\u{1}\u{2}|CTRL-1|1|1|draft\n"
    );
    let id = product_import::keep(&t, &a, &file).await.unwrap();
    let report = product_import::apply(&t, &a, &id, read).await.unwrap();
    assert_eq!((report.created, report.updated), (0, 1));
    let rows: Vec<u64> = report.refused.iter().map(|r| r.row).collect();
    assert_eq!(rows, [3, 4, 5], "{:?}", report.refused);
    assert!(report.refused[0].reason.contains("row 2"), "{:?}", report.refused);
    // A file that no longer reads is refused whole and stays kept.
    let id = product_import::keep(&t, &a, "not|five\n").await.unwrap();
    assert!(matches!(product_import::apply(&t, &a, &id, read).await, Err(CommerceError::Invalid(_))));
    assert_eq!(kept(&t).await, 1);
}
