//! A real, isolated database per test: a temporary SQLite file by default, or a fresh PostgreSQL schema
//! when `PALISADE_TEST_DATABASE_URL` points at a PostgreSQL server (CI runs the suite both ways).

use std::sync::Arc;

use palisade_core::time::{ManualClock, SharedClock, SystemClock, Timestamp};

use crate::db::{Backend, Db, DbOptions};

/// The environment variable that selects PostgreSQL for the test suite.
pub const TEST_DATABASE_URL: &str = "PALISADE_TEST_DATABASE_URL";

/// Set by CI (`.ci/run`): tests that need an outside service fail without it instead of skipping.
pub const REQUIRE_SERVICES: &str = "PALISADE_TEST_REQUIRE_SERVICES";

/// The PostgreSQL server that PostgreSQL-only tests try when the suite itself runs on SQLite.
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A migrated database that disappears with the value.
pub struct TestDb {
    pub db: Db,
    /// The URL a second process can use to reach the same database (with `pg_schema`).
    pub url: String,
    pub pg_schema: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TestDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDb").field("url", &self.url).field("pg_schema", &self.pg_schema).finish()
    }
}

impl std::ops::Deref for TestDb {
    type Target = Db;
    fn deref(&self) -> &Db {
        &self.db
    }
}

impl TestDb {
    /// A migrated database on the system clock.
    pub async fn new() -> TestDb {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    /// A migrated database with a manual clock starting at 2026-01-01.
    pub async fn manual() -> (TestDb, ManualClock) {
        let clock = ManualClock::new(Timestamp(1_767_225_600_000));
        (Self::with_clock(Arc::new(clock.clone())).await, clock)
    }

    /// A migrated database on the given clock. Panics (it is a test helper) if the database is unusable.
    #[allow(clippy::expect_used)]
    pub async fn with_clock(clock: SharedClock) -> TestDb {
        let t = Self::unmigrated(clock).await;
        crate::migrate::run(&t.db).await.expect("migrations apply");
        t
    }

    /// An empty database (no migrations), for migration tests.
    pub async fn unmigrated(clock: SharedClock) -> TestDb {
        let postgres =
            std::env::var(TEST_DATABASE_URL).ok().filter(|u| Backend::from_url(u).ok() == Some(Backend::Postgres));
        Self::unmigrated_at(postgres, clock).await
    }

    /// An empty SQLite database, whichever backend the suite runs on (cross-backend tests).
    pub async fn empty_sqlite() -> TestDb {
        Self::unmigrated_at(None, Arc::new(SystemClock)).await
    }

    /// An empty PostgreSQL schema, for the tests that need PostgreSQL whichever backend the suite runs on: on
    /// the suite's server (`PALISADE_TEST_DATABASE_URL`), else on a local one (127.0.0.1:5432, user postgres).
    /// Without a server the test is skipped with a printed reason — except under CI
    /// (`PALISADE_TEST_REQUIRE_SERVICES`), where it fails instead of passing unseen.
    pub async fn empty_postgres() -> Option<TestDb> {
        let url = std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|u| Backend::from_url(u).ok() == Some(Backend::Postgres))
            .unwrap_or_else(|| LOCAL_POSTGRES.to_owned());
        let reachable = match Db::connect(&url, DbOptions { max_connections: 1, ..DbOptions::default() }).await {
            Ok(db) => {
                db.close().await;
                true
            }
            Err(_) => false,
        };
        if !reachable {
            assert!(
                std::env::var_os(REQUIRE_SERVICES).is_none(),
                "PostgreSQL is required at {url} ({REQUIRE_SERVICES} is set)"
            );
            eprintln!("skipped: no PostgreSQL at {url} (.ci/run starts one and runs this test for real)");
            return None;
        }
        Some(Self::unmigrated_at(Some(url), Arc::new(SystemClock)).await)
    }

    #[allow(clippy::expect_used)]
    async fn unmigrated_at(postgres: Option<String>, clock: SharedClock) -> TestDb {
        match postgres {
            Some(url) => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = Db::connect(&url, DbOptions { max_connections: 1, ..DbOptions::default() })
                    .await
                    .expect("PostgreSQL for tests is reachable");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
                    .execute(admin.pool())
                    .await
                    .expect("create test schema");
                admin.close().await;
                let db = Db::connect(
                    &url,
                    DbOptions { max_connections: 8, pg_schema: Some(schema.clone()), clock, ..DbOptions::default() },
                )
                .await
                .expect("connect to test schema");
                TestDb { db, url, pg_schema: Some(schema), _dir: None }
            }
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/test.db", dir.path().display());
                let db = Db::connect(&url, DbOptions { clock, ..DbOptions::default() }).await.expect("open SQLite");
                TestDb { db, url, pg_schema: None, _dir: Some(dir) }
            }
        }
    }
}

impl TestDb {
    /// A URL that reaches this same database from another process (the CLI, a second node).
    #[must_use]
    pub fn process_url(&self) -> String {
        match &self.pg_schema {
            Some(schema) => {
                let sep = if self.url.contains('?') { '&' } else { '?' };
                format!("{}{sep}options[search_path]={schema}", self.url)
            }
            None => self.url.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(schema) = self.pg_schema.clone() else {
            return;
        };
        let url = self.url.clone();
        // Drop the schema from a separate thread with its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                let Ok(db) = Db::connect(&url, DbOptions { max_connections: 1, ..DbOptions::default() }).await else { return };
                // The test's own runtime may be blocked right here in Drop, unable to flush a rolled-back
                // transaction's connection; end the backends that still hold locks in this schema, then drop it.
                for _ in 0..3 {
                    let _ = sqlx::query(
                        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
                         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND l.pid <> pg_backend_pid()",
                    )
                    .bind(&schema)
                    .execute(db.pool())
                    .await;
                    let _ = sqlx::query("SET lock_timeout = '3s'").execute(db.pool()).await;
                    if sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))).execute(db.pool()).await.is_ok() {
                        break;
                    }
                }
                db.close().await;
            });
        })
        .join();
    }
}
