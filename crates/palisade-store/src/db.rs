//! The database handle: one code path over SQLite or PostgreSQL.
//!
//! We use sqlx's `Any` driver with portable column types (TEXT ids, BIGINT millisecond times, INTEGER flags,
//! TEXT JSON) so that every query is written once. The few places where the backends must differ (write
//! transaction start, row locking) are small functions here, each tested on both.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_core::future::BoxFuture;
use palisade_core::time::{SharedClock, SystemClock, Timestamp};
use sqlx::AnyConnection;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, AssertSqlSafe, Executor};

use crate::error::{Result, StoreError};

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// Recognises the backend from a URL, or says why the URL is not one we accept.
    pub fn from_url(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::BadUrl(redact_url(url)))
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// How to connect.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database as unreachable.
    pub acquire_timeout: Duration,
    /// PostgreSQL only: run inside this schema (tests use one schema each).
    pub pg_schema: Option<String>,
    pub clock: SharedClock,
    /// SQLite: open the change watch ([`crate::changes`]) that lets the storefront skip version reads. A server
    /// wants it; a one-shot command (restore, which must be the file's only connection to leave WAL mode) does not.
    pub change_watch: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            pg_schema: None,
            clock: Arc::new(SystemClock),
            change_watch: true,
        }
    }
}

/// A connection pool plus the clock every time-dependent query uses. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    clock: SharedClock,
    display_url: String,
    /// SQLite: notices commits without a query (see [`crate::changes`]); `None` on PostgreSQL.
    changes: Option<Arc<crate::changes::ChangeWatch>>,
    /// Storefront content versions already read, valid while nothing is committed (see [`crate::storefront`]).
    versions: Arc<crate::storefront::VersionMemo>,
    /// SQLite: this process's writers take turns here (see [`WriteTx`]); `None` on PostgreSQL.
    writer_turn: Option<Arc<tokio::sync::Mutex<()>>>,
}

/// How long a writer waits for its turn before the database counts as unavailable (SQLite's own busy timeout).
const WRITER_TURN_WAIT: Duration = Duration::from_secs(10);

/// A write transaction ([`Db::begin_write`]); dereferences to its connection, as `sqlx::Transaction` does.
///
/// On SQLite it also holds this process's writer turn. SQLite admits one writer at a time, and a writer that finds
/// the lock taken sleeps in SQLite's busy handler (1, 2, 5, 10 … ms) and tries again instead of queueing: under a
/// checkout load most of an order's time went to those sleeps (p99 680 ms at ~470 orders/s, `bench/storefront.sh`).
/// Writers of one process now queue on a fair async mutex and meet SQLite's lock only when it is free; writers of
/// other processes (the CLI) still meet the busy handler. Dropped without commit, it rolls back, then gives up the
/// turn (fields drop in order).
pub struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits, then gives up the writer turn.
    pub async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    /// Rolls back, then gives up the writer turn.
    pub async fn rollback(self) -> std::result::Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// One write statement in a write turn of its own: `query.execute_write(&db)` instead of
/// `query.execute(db.pool())`. On SQLite a statement sent straight to the pool meets the write lock through SQLite's
/// busy handler, while [`WriteTx`] writers queue; under a steady stream of queued writers it could wait out the
/// busy timeout (a session revocation failing while checkouts run). Through here it queues with them.
pub trait ExecuteWrite {
    /// Runs the statement in its own write transaction.
    fn execute_write(self, db: &Db) -> impl std::future::Future<Output = Result<sqlx::any::AnyQueryResult>> + Send;
}

impl<'q> ExecuteWrite for sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    async fn execute_write(self, db: &Db) -> Result<sqlx::any::AnyQueryResult> {
        let mut tx = db.begin_write().await?;
        let done = self.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done)
    }
}

impl std::fmt::Debug for WriteTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteTx")
    }
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Db {
    /// Connects (creating the SQLite file if needed) and checks that the database answers.
    pub async fn connect(url: &str, options: DbOptions) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let display_url = redact_url(url);
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let schema = match &options.pg_schema {
            Some(s) if backend == Backend::Postgres => Some(quote_ident(s)?),
            _ => None,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                // One writer at a time anyway; a few readers run alongside thanks to WAL.
                Backend::Sqlite => options.max_connections.min(8),
                Backend::Postgres => options.max_connections,
            })
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let schema = schema.clone();
                Box::pin(async move { configure_connection(conn, backend, schema.as_deref()).await })
            })
            .connect(&url)
            .await
            .map_err(|e| connect_error(e, &display_url))?;
        // Opened after the pool, which created the file.
        let changes = match backend {
            Backend::Sqlite if options.change_watch => {
                main_file(&pool).await.and_then(|p| crate::changes::ChangeWatch::open(&p)).map(Arc::new)
            }
            Backend::Sqlite => None,
            Backend::Postgres => None,
        };
        let versions = Arc::default();
        let writer_turn = (backend == Backend::Sqlite).then(Arc::default);
        let db = Db { pool, backend, clock: options.clock, display_url, changes, versions, writer_turn };
        db.ping().await?;
        Ok(db)
    }

    #[must_use]
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for domain crates' queries. Store-owned tables must still be queried with a [`crate::StoreScope`].
    #[must_use]
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The same pool read through another clock. `palisade demo` writes weeks of history through a clock it moves
    /// itself, so every row carries the time it would have had in a store that really traded then.
    #[must_use]
    pub fn with_clock(&self, clock: SharedClock) -> Db {
        Db { clock, ..self.clone() }
    }

    /// The database's committed state as this process sees it, when it can be known without a query (SQLite):
    /// two equal markers mean nothing was committed in between, by this process or another.
    #[must_use]
    pub fn change_marker(&self) -> Option<crate::changes::Marker> {
        self.changes.as_ref()?.marker()
    }

    pub(crate) fn versions(&self) -> &crate::storefront::VersionMemo {
        &self.versions
    }

    /// The URL with any password removed, for logs and messages.
    #[must_use]
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Checks that the database answers a trivial query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(|e| connect_error(e, &self.display_url))?;
        Ok(())
    }

    /// Starts a transaction that will write.
    ///
    /// On SQLite this waits for this process's writer turn (see [`WriteTx`]) and then runs `BEGIN IMMEDIATE`, which
    /// takes the write lock up front: a deferred transaction that reads and then writes can fail with SQLITE_BUSY
    /// when another writer got in between, instead of waiting.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        let turn = match &self.writer_turn {
            Some(m) => Some(
                tokio::time::timeout(WRITER_TURN_WAIT, Arc::clone(m).lock_owned())
                    .await
                    .map_err(|_| StoreError::Database(sqlx::Error::PoolTimedOut))?,
            ),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx { tx, _turn: turn })
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn configure_connection<'c>(
    conn: &'c mut AnyConnection,
    backend: Backend,
    schema: Option<&'c str>,
) -> BoxFuture<'c, std::result::Result<(), sqlx::Error>> {
    Box::pin(async move {
        match backend {
            Backend::Sqlite => {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                conn.execute("PRAGMA synchronous = NORMAL").await?;
            }
            Backend::Postgres => {
                if let Some(schema) = schema {
                    conn.execute(AssertSqlSafe(format!("SET search_path TO {schema}"))).await?;
                }
            }
        }
        Ok(())
    })
}

/// The file a prepared SQLite URL opens; `None` for an in-memory database.
/// The main database file as SQLite itself opened it (`None` in memory). Asked of SQLite rather than rebuilt from
/// the URL: the URL's path may be percent-encoded or relative, and watching the wrong file would let a stale marker
/// stand (see [`crate::changes`]).
async fn main_file(pool: &AnyPool) -> Option<PathBuf> {
    let file: Option<String> = sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
        .fetch_optional(pool)
        .await
        .ok()?;
    file.filter(|f| !f.is_empty()).map(PathBuf::from)
}

/// Adds `mode=rwc` (create if missing) and checks the directory is writable before SQLite tries.
fn prepare_sqlite_url(url: &str) -> Result<String> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(StoreError::BadUrl(url.to_owned()));
    }
    if path != ":memory:" {
        let file = Path::new(path);
        let dir = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        check_writable_dir(&dir)?;
    }
    let query = if query.contains("mode=") {
        query.to_owned()
    } else if query.is_empty() {
        "mode=rwc".to_owned()
    } else {
        format!("{query}&mode=rwc")
    };
    Ok(format!("sqlite://{path}?{query}"))
}

/// Fails with [`StoreError::ReadOnly`] unless a file can be created in `dir`.
pub fn check_writable_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(StoreError::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "directory does not exist"),
        });
    }
    let probe = dir.join(format!(".palisade-write-probe-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(30) => {
            Err(StoreError::ReadOnly(dir.to_path_buf()))
        }
        Err(source) => Err(StoreError::Io { path: dir.to_path_buf(), source }),
    }
}

fn connect_error(e: sqlx::Error, display_url: &str) -> StoreError {
    match e {
        sqlx::Error::Io(io) => StoreError::Unreachable { url: display_url.to_owned(), reason: io.to_string() },
        sqlx::Error::PoolTimedOut => StoreError::Unreachable {
            url: display_url.to_owned(),
            reason: "no connection within the timeout (is the server running and reachable?)".into(),
        },
        sqlx::Error::Tls(t) => StoreError::Unreachable { url: display_url.to_owned(), reason: format!("TLS: {t}") },
        sqlx::Error::Configuration(c) => StoreError::BadUrl(format!("{display_url} ({c})")),
        sqlx::Error::Database(d) => {
            StoreError::Unreachable { url: display_url.to_owned(), reason: d.message().to_owned() }
        }
        other => StoreError::Database(other),
    }
}

/// Removes the password from `scheme://user:password@host/…`.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(200).collect();
    };
    // The authority ends at the first '/'; its user part at the last '@' (a password may contain '@').
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') { format!("{user}:***") } else { user.to_owned() };
            format!("{scheme}://{masked}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

/// Double-quotes a PostgreSQL identifier after checking it is plain (letters, digits, underscore).
fn quote_ident(s: &str) -> Result<String> {
    if s.is_empty() || s.len() > 63 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(StoreError::Invalid(format!("`{s}` is not a plain schema name")));
    }
    Ok(format!("\"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised_or_refused() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert!(matches!(Backend::from_url("mysql://u:pw@h/db"), Err(StoreError::BadUrl(u)) if !u.contains("pw")));
    }

    #[test]
    fn passwords_never_appear_in_displayed_urls() {
        assert_eq!(redact_url("postgres://me:s3cret@db:5432/p"), "postgres://me:***@db:5432/p");
        assert_eq!(redact_url("postgres://me@db/p"), "postgres://me@db/p");
        assert_eq!(redact_url("redis://:p@ss@cache:6379/0"), "redis://:***@cache:6379/0", "an @ in the password");
        assert_eq!(redact_url("redis://cache:6379/0?x=a@b"), "redis://cache:6379/0?x=a@b");
    }

    #[test]
    fn sqlite_urls_get_create_mode() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        assert!(prepare_sqlite_url(&url).unwrap().ends_with("a.db?mode=rwc"));
        assert!(prepare_sqlite_url("sqlite::memory:").is_ok());
        assert!(prepare_sqlite_url("sqlite://").is_err());
    }

    /// The change watch follows the file SQLite opened, even when the URL spells its path with escapes (a watch on
    /// the wrong file would never move, and cached storefront versions would go stale).
    #[tokio::test]
    async fn the_change_watch_follows_an_escaped_path() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/my%20shop.db", dir.path().display());
        let db = Db::connect(&url, DbOptions::default()).await.unwrap();
        let before = db.change_marker().expect("a file database in WAL mode is watched");
        sqlx::query("CREATE TABLE t (x INTEGER)").execute_write(&db).await.unwrap();
        assert_ne!(db.change_marker(), Some(before), "a commit moves the marker");
        db.close().await;
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(quote_ident("t_123").is_ok());
        assert!(quote_ident("x\"; DROP").is_err());
    }
}
