//! Change tracking on SQLite, so that a second snapshot reads only what changed since the last one.
//!
//! Every table with a rowid is cut into segments of [`SEGMENT_ROWS`] consecutive rowids. Row triggers count the
//! writes to each segment in `_palisade_backup_changes (tbl, seg, version)`, in the writer's own transaction. A
//! snapshot records, per repository, each segment's version, rows, checksum and chunks
//! (`_palisade_backup_state`). The next snapshot takes a segment over from that record, without reading it, only
//! when all of these hold:
//!
//! - the database's `schema_version` is the recorded one. SQLite increments it on every schema change (a
//!   migration, a dropped or recreated trigger) and on `VACUUM`, which may renumber rowids. Any of these makes
//!   the next snapshot a full one;
//! - the table's header (columns and kinds) is unchanged, and the segment's version is the recorded one;
//! - every chunk of the segment is still in the repository and described by a manifest;
//! - the table's `COUNT(*)` equals the sum of its segments' rows. A conflicting `INSERT OR REPLACE` deletes the
//!   old row without firing delete triggers (unless `recursive_triggers` is on); such a row is missing from the
//!   count, and the table is then dumped in full.
//!
//! The state lives in the database file itself: a copy of the file carries a state that matches its content.
//! Both tables start with `_palisade_`, which dumps, exports and restores leave out. PostgreSQL takes full dumps:
//! a counter row per segment would serialise its concurrent writers.

use palisade_store::db::ExecuteWrite;
use std::collections::{BTreeMap, HashMap};

use palisade_store::Db;
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::dump::quote_ident;
use crate::error::{BackupError, Result};

/// log2 of the rowids per segment: 4096 rows, a few MiB for a table of 1 KiB rows.
pub const SEGMENT_SHIFT: u32 = 12;
pub const SEGMENT_ROWS: i64 = 1 << SEGMENT_SHIFT;
const TRIGGER_PREFIX: &str = "_palisade_bv_";

/// What one segment held when it was last dumped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentState {
    pub seg: i64,
    pub version: i64,
    pub rows: u64,
    pub checksum: String,
    pub size: u64,
    pub chunks: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableState {
    /// The table's header line: a changed column list makes every segment stale.
    pub header: String,
    pub segments: Vec<SegmentState>,
}

/// The layout of segments and their lines: a record of another layout is not used (a full snapshot instead).
pub const STATE_FORMAT: u32 = 1;

/// The record of the last snapshot of this database into one repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// [`STATE_FORMAT`]; records written before it had none (0).
    #[serde(default)]
    pub format: u32,
    pub snapshot: String,
    pub schema_version: i64,
    pub tables: BTreeMap<String, TableState>,
}

/// What a snapshot read inside its transaction.
#[derive(Debug, Default)]
pub struct Seen {
    pub schema_version: i64,
    /// Segment versions by table; a segment never written since tracking began is absent (version 0).
    pub versions: HashMap<String, HashMap<i64, i64>>,
    /// The previous state, when it is still valid for this schema.
    pub previous: Option<State>,
}

/// Creates the tracking tables and the triggers of every table that lacks them (a new table, or one a
/// migration rebuilt). Runs before the snapshot's read transaction; creating triggers changes `schema_version`,
/// so a table that got new triggers is dumped in full.
pub async fn install(db: &Db) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS _palisade_backup_changes (tbl TEXT NOT NULL, seg INTEGER NOT NULL, \
         version INTEGER NOT NULL, PRIMARY KEY (tbl, seg)) WITHOUT ROWID",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS _palisade_backup_state (repository TEXT PRIMARY KEY, state TEXT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND wr = 0 \
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' AND substr(name, 1, 10) <> '_palisade_'",
    )
    .fetch_all(&mut *tx)
    .await?;
    let triggers: Vec<(String, String)> =
        sqlx::query_as("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, 13) = $1")
            .bind(TRIGGER_PREFIX)
            .fetch_all(&mut *tx)
            .await?;
    let mut expected: HashMap<String, String> = HashMap::new();
    for (table,) in &tables {
        for kind in ["i", "u", "d"] {
            expected.insert(trigger_name(kind, table), table.clone());
        }
    }
    // A trigger that followed a renamed table still counts under the old name: drop it.
    let mut present: HashMap<String, String> = HashMap::new();
    for (name, on) in triggers {
        if expected.get(&name) == Some(&on) {
            present.insert(name, on);
        } else {
            drop_trigger(&mut tx, &name).await?;
        }
    }
    let mut created = 0;
    for (table,) in &tables {
        let names: Vec<String> = ["i", "u", "d"].iter().map(|k| trigger_name(k, table)).collect();
        if names.iter().all(|n| present.contains_key(n)) {
            continue;
        }
        for name in names.iter().filter(|n| present.contains_key(*n)) {
            drop_trigger(&mut tx, name).await?;
        }
        for statement in trigger_sql(table) {
            sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&mut *tx).await?;
        }
        created += 1;
    }
    tx.commit().await?;
    Ok(created)
}

fn trigger_name(kind: &str, table: &str) -> String {
    format!("{TRIGGER_PREFIX}{kind}_{table}")
}

async fn drop_trigger(conn: &mut AnyConnection, name: &str) -> Result<()> {
    let sql = format!("DROP TRIGGER IF EXISTS {}", quote_ident(name));
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *conn).await?;
    Ok(())
}

/// The three row triggers of a table. An update counts in the old and the new row's segment (a rowid may change).
fn trigger_sql(table: &str) -> Vec<String> {
    let literal = format!("'{}'", table.replace('\'', "''"));
    let bump = |row: &str| {
        format!(
            "INSERT INTO _palisade_backup_changes (tbl, seg, version) VALUES ({literal}, {row}.rowid >> \
             {SEGMENT_SHIFT}, 1) ON CONFLICT (tbl, seg) DO UPDATE SET version = version + 1;"
        )
    };
    let on = quote_ident(table);
    vec![
        format!(
            "CREATE TRIGGER {} AFTER INSERT ON {on} BEGIN {} END",
            quote_ident(&trigger_name("i", table)),
            bump("NEW")
        ),
        format!(
            "CREATE TRIGGER {} AFTER UPDATE ON {on} BEGIN {} {} END",
            quote_ident(&trigger_name("u", table)),
            bump("OLD"),
            bump("NEW")
        ),
        format!(
            "CREATE TRIGGER {} AFTER DELETE ON {on} BEGIN {} END",
            quote_ident(&trigger_name("d", table)),
            bump("OLD")
        ),
    ]
}

/// Reads the schema version, the segment versions and the previous state inside the snapshot's transaction.
pub async fn read(conn: &mut AnyConnection, repository: &str) -> Result<Seen> {
    let schema_version: i64 = sqlx::query_scalar("PRAGMA schema_version").fetch_one(&mut *conn).await?;
    let rows: Vec<(String, i64, i64)> =
        sqlx::query_as("SELECT tbl, seg, version FROM _palisade_backup_changes").fetch_all(&mut *conn).await?;
    let mut versions: HashMap<String, HashMap<i64, i64>> = HashMap::new();
    for (table, seg, version) in rows {
        versions.entry(table).or_default().insert(seg, version);
    }
    let stored: Option<String> = sqlx::query_scalar("SELECT state FROM _palisade_backup_state WHERE repository = $1")
        .bind(repository)
        .fetch_optional(&mut *conn)
        .await?;
    // A state that does not parse (written by another release) only costs a full snapshot.
    let previous = stored
        .and_then(|text| serde_json::from_str::<State>(&text).ok())
        .filter(|state| state.format == STATE_FORMAT && state.schema_version == schema_version);
    Ok(Seen { schema_version, versions, previous })
}

/// Records the state of a snapshot whose manifest is stored.
pub async fn save(db: &Db, repository: &str, state: &State) -> Result<()> {
    let text = serde_json::to_string(state).map_err(|e| BackupError::Invalid(e.to_string()))?;
    sqlx::query(
        "INSERT INTO _palisade_backup_state (repository, state) VALUES ($1, $2) \
         ON CONFLICT (repository) DO UPDATE SET state = excluded.state",
    )
    .bind(repository)
    .bind(text)
    .execute_write(db)
    .await?;
    Ok(())
}

/// The segment holding `rowid`, and the rowid range it covers (no upper bound for the last possible segment).
#[must_use]
pub fn segment_of(rowid: i64) -> (i64, i64, Option<i64>) {
    let seg = rowid >> SEGMENT_SHIFT;
    let lo = seg << SEGMENT_SHIFT;
    (seg, lo, lo.checked_add(SEGMENT_ROWS))
}
