use std::collections::BTreeSet;
use std::sync::Arc;

use palisade_core::SystemClock;
use palisade_store::testing::TestDb;
use palisade_store::{Backend, StoreError, migrate};

/// Table and column names with a portable type class, in a stable text form.
async fn schema_of(t: &TestDb) -> String {
    let rows: Vec<(String, String, String)> = match t.backend() {
        Backend::Sqlite => sqlx::query_as(
            // Virtual tables (the FTS5 search index) and their shadow tables are SQLite's search machinery, which
            // PostgreSQL does with an index: they are not part of the shared listing.
            "SELECT m.name, p.name, p.type FROM pragma_table_list m JOIN pragma_table_info(m.name) p \
             WHERE m.schema = 'main' AND m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
        )
        .fetch_all(t.pool())
        .await
        .unwrap(),
        Backend::Postgres => sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' AND data_type <> 'tsvector'",
        )
        .fetch_all(t.pool())
        .await
        .unwrap(),
    };
    let lines: BTreeSet<String> = rows
        .into_iter()
        .map(|(table, column, ty)| {
            let ty = ty.to_lowercase();
            let class = if ty.contains("int") {
                "integer"
            } else if ty.contains("text") || ty.contains("char") {
                "text"
            } else if ty.contains("blob") || ty.contains("bytea") {
                "bytes"
            } else {
                "other"
            };
            format!("{table}.{column} {class}")
        })
        .collect();
    lines.into_iter().collect::<Vec<_>>().join("\n") + "\n"
}

/// Both backends' schemas are compared with one checked-in listing, so they are equivalent to each other.
/// After adding a migration, update `schema.txt` from this test's failure output.
#[tokio::test]
async fn schema_matches_the_shared_listing() {
    let t = TestDb::new().await;
    let actual = schema_of(&t).await;
    let expected = include_str!("../../schema.txt");
    assert_eq!(
        actual,
        expected,
        "{} schema differs from crates/palisade-store/schema.txt:\n{actual}",
        t.backend().name()
    );
}

#[tokio::test]
async fn migrating_twice_changes_nothing() {
    let t = TestDb::new().await;
    let again = migrate::run(&t).await.unwrap();
    assert!(!again.changed());
    migrate::check_current(&t).await.unwrap();
}

#[tokio::test]
async fn an_empty_database_is_migrated_from_nothing() {
    let t = TestDb::unmigrated(Arc::new(SystemClock)).await;
    assert_eq!(migrate::applied_version(&t).await.unwrap(), None);
    assert!(migrate::check_current(&t).await.is_err());
    let report = migrate::run(&t).await.unwrap();
    assert_eq!(report.from, None);
    assert_eq!(report.to, migrate::known_version(t.backend()));
}

#[tokio::test]
async fn a_schema_from_a_newer_release_is_refused() {
    let t = TestDb::new().await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', CURRENT_TIMESTAMP, TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(t.pool())
    .await
    .unwrap();
    let err = migrate::run(&t).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99990101000000, .. }), "{err}");
    assert!(err.to_string().contains("newer than this binary"));
}

/// Orders placed before order numbers existed get them on upgrade: per store, from #1001, in the order they were
/// placed; each store's counter continues after its last.
#[tokio::test]
async fn existing_orders_are_numbered_in_the_order_they_were_placed() {
    let t = TestDb::unmigrated(Arc::new(SystemClock)).await;
    migrate::run_to(&t, 15).await.unwrap();
    for (store, slug) in [("s-a", "a"), ("s-b", "b")] {
        sqlx::query(
            "INSERT INTO stores (id, slug, name, status, currency, created_at, updated_at) VALUES ($1, $2, $2, 'active', 'SGD', 0, 0)",
        )
        .bind(store)
        .bind(slug)
        .execute(t.pool())
        .await
        .unwrap();
    }
    // (id, store, placed at): ids deliberately out of time order.
    for (id, store, at) in [("o-3", "s-a", 30), ("o-1", "s-a", 10), ("o-2", "s-a", 20), ("o-9", "s-b", 5)] {
        sqlx::query(
            "INSERT INTO orders (id, store_id, buyer_email, status, currency, subtotal_minor, shipping_minor, total_minor, \
             address, created_at, updated_at) VALUES ($1, $2, 'b@example.com', 'paid', 'SGD', 1, 0, 1, '{}', $3, $3)",
        )
        .bind(id)
        .bind(store)
        .bind(at)
        .execute(t.pool())
        .await
        .unwrap();
    }
    migrate::run(&t).await.unwrap();
    let numbers: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, number FROM orders ORDER BY id").fetch_all(t.pool()).await.unwrap();
    let expected = [("o-1", 1001), ("o-2", 1002), ("o-3", 1003), ("o-9", 1001)];
    assert_eq!(numbers, expected.map(|(id, n)| (id.to_owned(), n)).to_vec());
    let last: Vec<(String, i64)> =
        sqlx::query_as("SELECT id, last_order_number FROM stores ORDER BY id").fetch_all(t.pool()).await.unwrap();
    assert_eq!(last, vec![("s-a".to_owned(), 1003), ("s-b".to_owned(), 1001)]);
}

/// Migration 0032: the declines' unkeyed email hashes are dropped (their rows and card fingerprints kept, and the
/// column then takes none), and a held order already refunded or cancelled has its review closed.
#[tokio::test]
async fn upgrading_to_0032_drops_unkeyed_email_hashes_and_closes_finished_reviews() {
    let t = TestDb::unmigrated(Arc::new(SystemClock)).await;
    migrate::run_to(&t, 31).await.unwrap();
    sqlx::query(
        "INSERT INTO stores (id, slug, name, status, currency, created_at, updated_at) VALUES ('s-a', 'a', 'a', 'active', 'SGD', 0, 0)",
    )
    .execute(t.pool())
    .await
    .unwrap();
    for (id, number, status) in [("o-1", 1001, "refunded"), ("o-2", 1002, "cancelled"), ("o-3", 1003, "paid")] {
        sqlx::query(
            "INSERT INTO orders (id, store_id, number, buyer_email, status, currency, subtotal_minor, shipping_minor, \
             total_minor, address, created_at, updated_at, review_state) \
             VALUES ($1, 's-a', $2, 'b@example.com', $3, 'SGD', 1, 0, 1, '{}', 10, 20, 'held')",
        )
        .bind(id)
        .bind(number)
        .bind(status)
        .execute(t.pool())
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO payment_declines (id, store_id, card_fingerprint, email_hash, at) VALUES ('d-1', 's-a', 'fp', 'sha', 5)",
    )
    .execute(t.pool())
    .await
    .unwrap();
    migrate::run(&t).await.unwrap();

    let declines: Vec<(String, Option<String>, Option<String>, i64)> =
        sqlx::query_as("SELECT id, card_fingerprint, email_hash, at FROM payment_declines")
            .fetch_all(t.pool())
            .await
            .unwrap();
    assert_eq!(declines, vec![("d-1".to_owned(), Some("fp".to_owned()), None, 5)]);
    sqlx::query("INSERT INTO payment_declines (id, store_id, card_fingerprint, email_hash, at) VALUES ('d-2', 's-a', NULL, NULL, 6)")
        .execute(t.pool())
        .await
        .unwrap();
    let reviews: Vec<(String, String, Option<i64>)> =
        sqlx::query_as("SELECT id, review_state, reviewed_at FROM orders ORDER BY id")
            .fetch_all(t.pool())
            .await
            .unwrap();
    let expected = [("o-1", "closed", Some(20)), ("o-2", "closed", Some(20)), ("o-3", "held", None)];
    assert_eq!(reviews, expected.map(|(id, s, at)| (id.to_owned(), s.to_owned(), at)).to_vec());
}
