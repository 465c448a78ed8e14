//! Logical database dump and load, the same on SQLite and PostgreSQL.
//!
//! Why logical rather than `VACUUM INTO` or `pg_dump`: a snapshot must restore onto either backend (SQLite ↔
//! PostgreSQL both ways), and the restore drill must compare per-table checksums computed the same way on both.
//! Every Palisade column is an integer or text (see `palisade-store`'s `schema.txt`), so a row is a JSON array
//! of numbers, strings and nulls. Consistency comes from reading every table inside one transaction: SQLite's
//! WAL gives the reader a fixed snapshot, and on PostgreSQL the transaction is `REPEATABLE READ, READ ONLY`.
//!
//! Each table becomes `db/<table>.jsonl`: one header line (`{"table":…,"columns":[[name,kind],…]}`) then one
//! line per row, ordered by primary key so unchanged rows keep their bytes between runs (deduplication).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use palisade_store::Backend;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use tokio::task::JoinHandle;

use crate::error::{BackupError, Result};
use crate::keys::ChunkKey;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Integer,
    Text,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub kind: ColumnKind,
}

/// A table as the dump sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key columns (all columns when the table has none), for a stable row order.
    pub order_by: Vec<String>,
    /// Whether `order_by` is a declared primary key (and so can be walked page by page).
    pub keyed: bool,
    /// SQLite: the table has a rowid (is not `WITHOUT ROWID`), so it can be dumped in rowid segments whose
    /// changes are tracked (see `tracking`). Always false on PostgreSQL.
    pub rowid: bool,
}

/// The first line of a table file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableHeader {
    pub table: String,
    pub columns: Vec<(String, ColumnKind)>,
}

/// `"name"` with embedded quotes doubled: identifiers come from the catalog, but are quoted all the same.
#[must_use]
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Primary-key columns with their position in the key.
type KeyColumns = Vec<(i64, String)>;

/// The backend's catalog queries: every application column `(table, column, type, position in the primary key,
/// without-rowid)`, and every foreign key `(child, parent)`. Sqlx's and Palisade's own tables are left out.
fn catalog_queries(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Sqlite => (
            "SELECT m.name, p.name, p.type, p.pk, m.wr FROM pragma_table_list m JOIN pragma_table_info(m.name) p \
             WHERE m.schema = 'main' AND m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
             AND m.name <> '_sqlx_migrations' AND substr(m.name, 1, 10) <> '_palisade_' ORDER BY m.name, p.cid",
            "SELECT m.name, f.\"table\" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table'",
        ),
        Backend::Postgres => (
            // From pg_catalog, not information_schema: `key_column_usage` and its views took 13 s on this schema
            // (its cost grows with every constraint of the database), and a backup, an export preview and an
            // import each ask it. `format_type` names types as information_schema's `data_type` does, with any
            // length modifier (`character varying(255)`), which the column kinds below ignore.
            "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod)::text, \
             COALESCE(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)::bigint, \
             1::bigint \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> '_sqlx_migrations' \
               AND substr(c.relname, 1, 10) <> '_palisade_' AND a.attgenerated = '' \
               AND format_type(a.atttypid, a.atttypmod) <> 'tsvector' \
             ORDER BY c.relname, a.attnum",
            "SELECT cl.relname::text, ref.relname::text FROM pg_constraint con \
             JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_class ref ON ref.oid = con.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             WHERE con.contype = 'f' AND n.nspname = current_schema()",
        ),
    }
}

/// Every application table, parents before children (so loading never breaks a foreign key).
pub async fn table_specs(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<TableSpec>> {
    let (columns_sql, fk_sql) = catalog_queries(backend);
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(columns_sql).fetch_all(&mut *conn).await?;
    let mut tables: BTreeMap<String, (Vec<Column>, KeyColumns)> = BTreeMap::new();
    let mut without_rowid: BTreeSet<String> = BTreeSet::new();
    for (table, column, ty, pk, wr) in rows {
        if wr != 0 {
            without_rowid.insert(table.clone());
        }
        let ty = ty.to_lowercase();
        let kind = if ty.contains("int") {
            ColumnKind::Integer
        } else if ty.contains("text") || ty.contains("char") || ty.is_empty() {
            ColumnKind::Text
        } else {
            return Err(BackupError::Invalid(format!(
                "column {table}.{column} has type `{ty}`, which backups do not handle (only integer and text)"
            )));
        };
        let entry = tables.entry(table).or_default();
        if pk > 0 {
            entry.1.push((pk, column.clone()));
        }
        entry.0.push(Column { name: column, kind });
    }
    let fks: Vec<(String, String)> = sqlx::query_as(fk_sql).fetch_all(&mut *conn).await?;
    let mut parents: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (child, parent) in fks {
        if child != parent && tables.contains_key(&parent) {
            parents.entry(child).or_default().insert(parent);
        }
    }
    // Kahn's algorithm over names in sorted order: deterministic, and any cycle is reported instead of looping.
    let mut ordered = Vec::with_capacity(tables.len());
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while placed.len() < tables.len() {
        let ready: Vec<String> = tables
            .keys()
            .filter(|t| !placed.contains(*t))
            .filter(|t| parents.get(*t).is_none_or(|ps| ps.iter().all(|p| placed.contains(p))))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(BackupError::Invalid("foreign keys between tables form a cycle".into()));
        }
        for name in ready {
            placed.insert(name.clone());
            if let Some((columns, mut pk)) = tables.get(&name).cloned() {
                pk.sort();
                let keyed = !pk.is_empty();
                let order_by = if pk.is_empty() {
                    columns.iter().map(|c| c.name.clone()).collect()
                } else {
                    pk.into_iter().map(|(_, c)| c).collect()
                };
                // A column named like the rowid hides it from queries: such a table is read whole, by key.
                let shadowed = columns
                    .iter()
                    .any(|c| ["rowid", "oid", "_rowid_"].iter().any(|alias| c.name.eq_ignore_ascii_case(alias)));
                let rowid = backend == Backend::Sqlite && !without_rowid.contains(&name) && !shadowed;
                ordered.push(TableSpec { name, columns, order_by, keyed, rowid });
            }
        }
    }
    Ok(ordered)
}

/// An order-independent checksum: the 256-bit wrapping sum of keyed row digests. Rows read back in another
/// order, on another backend, give the same sum; a changed, missing or extra row changes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum([u64; 4]);

impl Checksum {
    pub fn add(&mut self, digest: &[u8; 32]) {
        let mut carry = 0u128;
        for (i, lane) in self.0.iter_mut().enumerate() {
            let mut word = [0u8; 8];
            for (d, s) in word.iter_mut().zip(digest.iter().skip(i * 8)) {
                *d = *s;
            }
            let sum = u128::from(*lane) + u128::from(u64::from_le_bytes(word)) + carry;
            *lane = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Adds another checksum (of other rows of the same table): the sum of two row sets' sums.
    pub fn merge(&mut self, other: Checksum) {
        let mut carry = 0u128;
        for (lane, add) in self.0.iter_mut().zip(other.0) {
            let sum = u128::from(*lane) + u128::from(add) + carry;
            *lane = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Parses what [`Checksum::to_hex`] wrote.
    #[must_use]
    pub fn from_hex(hex: &str) -> Option<Checksum> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut lanes = [0u64; 4];
        for (i, lane) in lanes.iter_mut().rev().enumerate() {
            *lane = u64::from_str_radix(hex.get(i * 16..(i + 1) * 16)?, 16).ok()?;
        }
        Some(Checksum(lanes))
    }

    #[must_use]
    pub fn to_hex(self) -> String {
        let mut s = String::with_capacity(64);
        for lane in self.0.iter().rev() {
            let _ = write!(s, "{lane:016x}");
        }
        s
    }
}

/// Opens the read transaction every table is dumped in.
pub async fn begin_snapshot(conn: &mut AnyConnection, backend: Backend) -> Result<()> {
    let sql = match backend {
        Backend::Sqlite => "BEGIN",
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    };
    sqlx::query(sql).execute(&mut *conn).await?;
    if backend == Backend::Sqlite {
        // A deferred transaction takes its snapshot at the first read: take it now, for every table at once.
        sqlx::query("SELECT COUNT(*) FROM sqlite_master").fetch_one(&mut *conn).await?;
    }
    Ok(())
}

pub async fn end_snapshot(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    Ok(())
}

pub(crate) fn select_sql(spec: &TableSpec, backend: Backend) -> String {
    let cols: Vec<String> = spec
        .columns
        .iter()
        .map(|c| match (backend, c.kind) {
            (Backend::Postgres, ColumnKind::Integer) => format!("CAST({} AS BIGINT)", quote_ident(&c.name)),
            (Backend::Postgres, ColumnKind::Text) => format!("CAST({} AS TEXT)", quote_ident(&c.name)),
            (Backend::Sqlite, _) => quote_ident(&c.name),
        })
        .collect();
    let collate = match backend {
        Backend::Sqlite => "BINARY",
        Backend::Postgres => "\"C\"",
    };
    let order: Vec<String> = spec
        .order_by
        .iter()
        .map(|name| {
            let text = spec.columns.iter().any(|c| &c.name == name && c.kind == ColumnKind::Text);
            if text { format!("{} COLLATE {collate}", quote_ident(name)) } else { quote_ident(name) }
        })
        .collect();
    format!("SELECT {} FROM {} ORDER BY {}", cols.join(", "), quote_ident(&spec.name), order.join(", "))
}

/// Where a table's bytes go. A trait object with a boxed future (rather than an async closure) keeps the
/// callers' futures `Send`, which the job runner requires.
pub trait Sink: Send {
    fn write<'a>(&'a mut self, piece: &'a [u8]) -> BoxFuture<'a, Result<()>>;
}

/// Drops the bytes: for computing facts only.
#[derive(Debug, Default)]
pub struct Discard;

impl Sink for Discard {
    fn write<'a>(&'a mut self, _: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// Facts about one dumped table.
#[derive(Debug, Clone, Copy, Default)]
pub struct DumpStats {
    pub rows: u64,
    pub checksum: Checksum,
}

/// Streams a table's file (header, then rows) into `sink` in pieces of about 64 KiB.
pub async fn dump_table(
    conn: &mut AnyConnection,
    backend: Backend,
    spec: &TableSpec,
    key: &ChunkKey,
    sink: &mut dyn Sink,
) -> Result<DumpStats> {
    let mut buf = header_line(spec)?;
    let mut stats = DumpStats::default();
    let hasher = key.row_hasher(&spec.name);
    if backend == Backend::Sqlite && spec.keyed {
        let mut emit = Emit { hasher: &hasher, buf: &mut buf, stats: &mut stats, sink };
        dump_sqlite_pages(conn, spec, &mut emit).await?;
        if !buf.is_empty() {
            sink.write(&buf).await?;
        }
        return Ok(stats);
    }
    let sql = select_sql(spec, backend);
    let mut rows = sqlx::query(AssertSqlSafe(sql)).fetch(&mut *conn);
    let mut line = Vec::with_capacity(512);
    while let Some(row) = rows.next().await {
        let row = row?;
        line.clear();
        encode_row(&row, spec, &mut line)?;
        stats.rows += 1;
        stats.checksum.add(&hasher.digest(&line));
        buf.extend_from_slice(&line);
        buf.push(b'\n');
        if buf.len() >= 64 * 1024 {
            sink.write(&buf).await?;
            buf.clear();
        }
    }
    drop(rows);
    if !buf.is_empty() {
        sink.write(&buf).await?;
    }
    Ok(stats)
}

/// The first line of a table's file (with its newline).
pub fn header_line(spec: &TableSpec) -> Result<Vec<u8>> {
    let header = TableHeader {
        table: spec.name.clone(),
        columns: spec.columns.iter().map(|c| (c.name.clone(), c.kind)).collect(),
    };
    let mut line = serde_json::to_vec(&header).map_err(|e| BackupError::Invalid(e.to_string()))?;
    line.push(b'\n');
    Ok(line)
}

/// SQLite expressions for one row's JSON line and for the number of its values that are not of their column's
/// storage class (text in an integer column), which must fail a dump.
fn sqlite_line_exprs(spec: &TableSpec) -> (String, String) {
    let cols: Vec<String> = spec.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let wrong_class: Vec<String> = spec
        .columns
        .iter()
        .map(|c| {
            let class = match c.kind {
                ColumnKind::Integer => "integer",
                ColumnKind::Text => "text",
            };
            format!("(typeof({}) NOT IN ('{class}', 'null'))", quote_ident(&c.name))
        })
        .collect();
    (format!("json_array({})", cols.join(", ")), wrong_class.join(" + "))
}

fn wrong_class_error(spec: &TableSpec, wrong: i64) -> BackupError {
    BackupError::Invalid(format!(
        "table {}: {wrong} values are not of their column's declared type (integer or text)",
        spec.name
    ))
}

/// Hashes and counts a page of lines and passes them on in pieces of about 64 KiB.
async fn emit_lines(
    lines: &str,
    hasher: &crate::keys::RowHasher,
    buf: &mut Vec<u8>,
    stats: &mut DumpStats,
    sink: &mut dyn Sink,
) -> Result<()> {
    for line in lines.split('\n') {
        stats.rows += 1;
        stats.checksum.add(&hasher.digest(line.as_bytes()));
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        if buf.len() >= 64 * 1024 {
            sink.write(buf).await?;
            buf.clear();
        }
    }
    Ok(())
}

/// The first rowid at or after `from` (SQLite), to walk a table segment by segment without reading the segments
/// in between.
pub async fn next_rowid(conn: &mut AnyConnection, spec: &TableSpec, from: i64) -> Result<Option<i64>> {
    let sql = format!("SELECT rowid FROM {} WHERE rowid >= $1 ORDER BY rowid LIMIT 1", quote_ident(&spec.name));
    Ok(sqlx::query_scalar(AssertSqlSafe(sql)).bind(from).fetch_optional(&mut *conn).await?)
}

/// SQLite: the lines of rows whose rowid is in `lo..hi` (no upper bound when `hi` is `None`), in rowid order,
/// written by SQLite itself as on the paged path. Each page is bounded by rowid, so a page never overlaps the
/// next whatever order its lines were concatenated in.
pub async fn dump_sqlite_segment(
    conn: &mut AnyConnection,
    spec: &TableSpec,
    lo: i64,
    hi: Option<i64>,
    hasher: &crate::keys::RowHasher,
    sink: &mut dyn Sink,
) -> Result<DumpStats> {
    let (line, wrong) = sqlite_line_exprs(spec);
    let upper = if hi.is_some() { "AND rowid < $2" } else { "" };
    let sql = format!(
        "SELECT group_concat(line, char(10)), COUNT(*), CAST(TOTAL(wrong) AS INTEGER), MAX(r) FROM \
         (SELECT {line} AS line, {wrong} AS wrong, rowid AS r FROM {} WHERE rowid >= $1 {upper} \
          ORDER BY rowid LIMIT {PAGE_ROWS})",
        quote_ident(&spec.name)
    );
    let mut stats = DumpStats::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut cursor = lo;
    loop {
        let mut query = sqlx::query(AssertSqlSafe(sql.clone())).bind(cursor);
        if let Some(hi) = hi {
            query = query.bind(hi);
        }
        let row = query.fetch_one(&mut *conn).await?;
        let lines: Option<String> = row.try_get(0)?;
        let count: i64 = row.try_get(1)?;
        let wrong: i64 = row.try_get(2)?;
        let last: Option<i64> = row.try_get(3)?;
        if wrong > 0 {
            return Err(wrong_class_error(spec, wrong));
        }
        let (Some(lines), Some(last)) = (lines, last) else { break };
        emit_lines(&lines, hasher, &mut buf, &mut stats, sink).await?;
        match last.checked_add(1) {
            Some(next) if usize::try_from(count).unwrap_or(0) >= PAGE_ROWS => cursor = next,
            _ => break,
        }
    }
    if !buf.is_empty() {
        sink.write(&buf).await?;
    }
    Ok(stats)
}

/// What the paged walk does with each page of lines (`\n`-separated, no final newline).
trait Pages: Send {
    fn page(&mut self, lines: String) -> BoxFuture<'_, Result<()>>;
    /// Rows taken so far, once every page is done with.
    fn rows(&mut self) -> BoxFuture<'_, Result<u64>>;
}

/// A dump: hash, count and write each page.
struct Emit<'a> {
    hasher: &'a crate::keys::RowHasher,
    buf: &'a mut Vec<u8>,
    stats: &'a mut DumpStats,
    sink: &'a mut dyn Sink,
}

impl Pages for Emit<'_> {
    fn page(&mut self, lines: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { emit_lines(&lines, self.hasher, self.buf, self.stats, self.sink).await })
    }

    fn rows(&mut self) -> BoxFuture<'_, Result<u64>> {
        let rows = self.stats.rows;
        Box::pin(async move { Ok(rows) })
    }
}

/// Facts only: each page is hashed on the blocking pool while the database reads the next one, so a restore's
/// read-back check keeps two cores busy. At most two pages are held.
struct Count {
    hasher: Arc<crate::keys::RowHasher>,
    stats: DumpStats,
    hashing: Option<JoinHandle<DumpStats>>,
}

impl Count {
    async fn settle(&mut self) -> Result<()> {
        if let Some(task) = self.hashing.take() {
            let page = task.await.map_err(|e| BackupError::Invalid(format!("a hashing task failed: {e}")))?;
            self.stats.rows += page.rows;
            self.stats.checksum.merge(page.checksum);
        }
        Ok(())
    }
}

impl Pages for Count {
    fn page(&mut self, lines: String) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            self.settle().await?;
            let hasher = Arc::clone(&self.hasher);
            self.hashing = Some(tokio::task::spawn_blocking(move || {
                let mut stats = DumpStats::default();
                for line in lines.split('\n') {
                    stats.rows += 1;
                    stats.checksum.add(&hasher.digest(line.as_bytes()));
                }
                stats
            }));
            Ok(())
        })
    }

    fn rows(&mut self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            self.settle().await?;
            Ok(self.stats.rows)
        })
    }
}

/// A table's facts (rows and checksum) as [`dump_table`] computes them, without writing the file: what a restore
/// compares with the snapshot after loading.
pub async fn table_facts(
    conn: &mut AnyConnection,
    backend: Backend,
    spec: &TableSpec,
    key: &ChunkKey,
) -> Result<DumpStats> {
    if backend == Backend::Sqlite && spec.keyed {
        let mut count =
            Count { hasher: Arc::new(key.row_hasher(&spec.name)), stats: DumpStats::default(), hashing: None };
        dump_sqlite_pages(conn, spec, &mut count).await?;
        count.settle().await?;
        return Ok(count.stats);
    }
    dump_table(conn, backend, spec, key, &mut Discard).await
}

/// Rows per statement on SQLite's paged path.
const PAGE_ROWS: usize = 2000;

/// SQLite, tables with a primary key: SQLite writes the JSON lines itself (`json_array`, byte for byte what
/// [`encode_row`] writes; a test holds them equal) and returns a page of rows as one value, walking the key.
/// sqlx hands SQLite rows to the async side one at a time through a channel, and that hand-over cost more than
/// everything else in a dump (a third of its CPU, measured with perf). A value of the wrong storage class (text
/// in an integer column) fails the dump as it does on the row path. The page is a co-routine read in key order and
/// the next page starts after the last line's key; were SQLite ever to concatenate a page out of order, the next
/// page would read rows again (never skip any), and the row count, checked against `COUNT(*)` in the same
/// transaction, fails the backup instead of passing a wrong one.
async fn dump_sqlite_pages(conn: &mut AnyConnection, spec: &TableSpec, pages: &mut dyn Pages) -> Result<()> {
    let table = quote_ident(&spec.name);
    let (line, wrong) = sqlite_line_exprs(spec);
    let keys: Vec<String> = spec.order_by.iter().map(|k| quote_ident(k)).collect();
    let key_positions: Vec<usize> =
        spec.order_by.iter().filter_map(|k| spec.columns.iter().position(|c| &c.name == k)).collect();
    if key_positions.len() != keys.len() {
        return Err(BackupError::Invalid(format!("table {}: key columns not among its columns", spec.name)));
    }
    let aliases: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
    let order = aliases.iter().map(|a| format!("{a} COLLATE BINARY")).collect::<Vec<_>>().join(", ");
    let page_sql = |after: bool| {
        let filter = if after {
            let marks = vec!["?"; keys.len()].join(", ");
            format!("WHERE ({}) > ({marks})", keys.join(", "))
        } else {
            String::new()
        };
        let key_cols: Vec<String> = keys.iter().zip(&aliases).map(|(k, a)| format!("{k} AS {a}")).collect();
        format!(
            "SELECT group_concat(line, char(10)), COUNT(*), CAST(TOTAL(wrong) AS INTEGER) FROM \
             (SELECT {line} AS line, {wrong} AS wrong, {} FROM {table} {filter} ORDER BY {order} LIMIT {PAGE_ROWS})",
            key_cols.join(", "),
        )
    };
    let first_sql = page_sql(false);
    let next_sql = page_sql(true);
    let mut last_key: Option<Vec<Value>> = None;
    loop {
        let mut query =
            sqlx::query(AssertSqlSafe(if last_key.is_some() { next_sql.clone() } else { first_sql.clone() }));
        for value in last_key.iter().flatten() {
            query = match value {
                Value::Number(n) => query.bind(n.as_i64()),
                Value::String(t) => query.bind(t.clone()),
                _ => {
                    return Err(BackupError::Invalid(format!("table {}: a key value is {value}", spec.name)));
                }
            };
        }
        let row = query.fetch_one(&mut *conn).await?;
        let lines: Option<String> = row.try_get(0)?;
        let count: i64 = row.try_get(1)?;
        let wrong: i64 = row.try_get(2)?;
        if wrong > 0 {
            return Err(wrong_class_error(spec, wrong));
        }
        let Some(lines) = lines else { break };
        let more = usize::try_from(count).unwrap_or(0) >= PAGE_ROWS;
        if more {
            let last = lines.rsplit('\n').next().unwrap_or_default();
            let values: Vec<Value> = serde_json::from_str(last)
                .map_err(|e| BackupError::Invalid(format!("table {}: a dumped row is not JSON: {e}", spec.name)))?;
            last_key = Some(key_positions.iter().filter_map(|&i| values.get(i).cloned()).collect());
        }
        pages.page(lines).await?;
        if !more {
            break;
        }
    }
    let rows = pages.rows().await?;
    let total = count_rows(conn, spec).await?;
    if total != rows {
        return Err(BackupError::Invalid(format!(
            "table {}: the paged dump read {rows} rows of {total}; the key order is not a total order here",
            spec.name
        )));
    }
    Ok(())
}

/// `COUNT(*)` of a table.
pub async fn count_rows(conn: &mut AnyConnection, spec: &TableSpec) -> Result<u64> {
    let sql = format!("SELECT COUNT(*) FROM {}", quote_ident(&spec.name));
    let total: i64 = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(&mut *conn).await?;
    Ok(u64::try_from(total).unwrap_or(0))
}

pub(crate) fn encode_row(row: &sqlx::any::AnyRow, spec: &TableSpec, out: &mut Vec<u8>) -> Result<()> {
    out.push(b'[');
    for (i, column) in spec.columns.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match column.kind {
            ColumnKind::Integer => match row.try_get::<Option<i64>, _>(i)? {
                Some(v) => out.extend_from_slice(v.to_string().as_bytes()),
                None => out.extend_from_slice(b"null"),
            },
            ColumnKind::Text => match row.try_get::<Option<String>, _>(i)? {
                Some(v) => serde_json::to_writer(&mut *out, &v).map_err(|e| BackupError::Invalid(e.to_string()))?,
                None => out.extend_from_slice(b"null"),
            },
        }
    }
    out.push(b']');
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Collects what a dump writes.
    struct Collect(Vec<u8>);

    impl Sink for Collect {
        fn write<'a>(&'a mut self, piece: &'a [u8]) -> BoxFuture<'a, Result<()>> {
            self.0.extend_from_slice(piece);
            Box::pin(async { Ok(()) })
        }
    }

    /// The row path of [`dump_table`], whatever the backend.
    async fn by_rows(conn: &mut AnyConnection, spec: &TableSpec) -> Vec<u8> {
        let mut out = Vec::new();
        let mut rows = sqlx::query(AssertSqlSafe(select_sql(spec, Backend::Sqlite))).fetch(&mut *conn);
        while let Some(row) = rows.next().await {
            encode_row(&row.unwrap(), spec, &mut out).unwrap();
            out.push(b'\n');
        }
        out
    }

    /// A composite key of text and integer, nullable columns of both kinds.
    const TABLE_T: &str =
        "CREATE TABLE t (a TEXT NOT NULL, b INTEGER NOT NULL, note TEXT, n INTEGER, PRIMARY KEY (a, b))";

    #[tokio::test]
    async fn sqlite_pages_write_exactly_what_the_row_path_writes() {
        let db = palisade_store::testing::TestDb::empty_sqlite().await;
        let mut conn = db.pool().acquire().await.unwrap();
        sqlx::query(TABLE_T).execute(&mut *conn).await.unwrap();
        let tricky = [
            "plain",
            "quote \" and backslash \\ and slash /",
            "controls \u{1}\u{8}\u{9}\u{a}\u{c}\u{d}\u{1f}\u{7f}",
            "nul \u{0} inside",
            "unicode é 漢字 🎉 \u{2028}\u{2029} \u{feff}",
            "",
        ];
        // More rows than a page, keys that sort differently as text and as numbers, and nulls.
        for i in 0..(PAGE_ROWS * 2 + 7) {
            let a = format!("k{}", i % 13);
            let note = (i % 5 != 0).then(|| tricky[i % tricky.len()].to_owned());
            let n = (i % 7 != 0).then_some(i64::try_from(i).unwrap() * 1_000_003 - 5_000_000_000);
            sqlx::query("INSERT INTO t VALUES ($1, $2, $3, $4)")
                .bind(a)
                .bind(i64::try_from(i).unwrap())
                .bind(note)
                .bind(n)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
        // A column named like the rowid hides it: that table is not walked by rowid segments.
        sqlx::query("CREATE TABLE shadow (\"rowid\" TEXT PRIMARY KEY, n INTEGER)").execute(&mut *conn).await.unwrap();
        let specs = table_specs(&mut conn, Backend::Sqlite).await.unwrap();
        assert!(!specs.iter().find(|s| s.name == "shadow").unwrap().rowid);
        let spec = specs.iter().find(|s| s.name == "t").unwrap();
        assert!(spec.keyed && spec.rowid);
        let key = ChunkKey::derive(&[7; 32]);
        let mut sink = Collect(Vec::new());
        let stats = dump_table(&mut conn, Backend::Sqlite, spec, &key, &mut sink).await.unwrap();
        let paged = sink.0.splitn(2, |b| *b == b'\n').nth(1).unwrap().to_vec();
        let rows = by_rows(&mut conn, spec).await;
        assert_eq!(stats.rows, u64::try_from(PAGE_ROWS * 2 + 7).unwrap());
        assert_eq!(String::from_utf8_lossy(&paged), String::from_utf8_lossy(&rows));

        // Loading the file into another database (SQLite unpacks each batch with json_each) gives the same rows.
        let other = palisade_store::testing::TestDb::empty_sqlite().await;
        let mut target = other.pool().acquire().await.unwrap();
        sqlx::query(TABLE_T).execute(&mut *target).await.unwrap();
        let mut loader = crate::load::TableLoader::new(&key, Backend::Sqlite);
        for piece in sink.0.chunks(1000) {
            loader.push(&mut target, piece).await.unwrap();
        }
        let (_, loaded) = loader.finish(&mut target).await.unwrap();
        assert_eq!(loaded.rows, stats.rows);
        assert_eq!(loaded.checksum.to_hex(), stats.checksum.to_hex());
        assert_eq!(String::from_utf8_lossy(&by_rows(&mut target, spec).await), String::from_utf8_lossy(&rows));

        // Text in an integer column fails the dump, as it does on the row path.
        sqlx::query("INSERT INTO t VALUES ('zz', 1, NULL, 'not a number')").execute(&mut *conn).await.unwrap();
        let err = dump_table(&mut conn, Backend::Sqlite, spec, &key, &mut Collect(Vec::new())).await.unwrap_err();
        assert!(err.to_string().contains("declared type"), "{err}");
    }
}
