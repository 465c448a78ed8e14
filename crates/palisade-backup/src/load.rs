//! Loading table files (see `dump`) into an empty, migrated database, in two stages so that a restore uses more
//! than one core:
//!
//! - [`prepare`] is pure CPU work on one piece of a file (a decrypted chunk): it splits the piece's complete
//!   lines, checks each against the table's header (a JSON array of the right kinds), hashes it for the table
//!   checksum and puts the lines in the form the INSERT takes. It runs on the blocking pool, next to the
//!   decryption of the same chunk, while the database executes the previous batch.
//! - [`TableLoader`] runs on the connection, in file order: it joins the line cut by each piece boundary,
//!   accumulates prepared lines into batches and executes them.
//!
//! The facts recomputed on the way (rows and checksum of exactly the lines loaded) are what the restore compares
//! with the snapshot's sealed facts.

use std::fmt::Write as _;
use std::sync::Arc;

use palisade_store::Backend;
use serde::de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::dump::{Checksum, ColumnKind, DumpStats, TableHeader, quote_ident};
use crate::error::{BackupError, Result};
use crate::keys::{ChunkKey, RowHasher};

/// Rows (or bytes of JSON) per `json_each` INSERT on SQLite.
const JSON_BATCH_ROWS: usize = 2000;
const JSON_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// Bound parameters per INSERT. sqlx's SQLite driver looks every parameter up by name, which is quadratic in
/// the statement's parameter count (30 000 per statement made a 1 GiB restore take 8 minutes), so SQLite loads
/// through `json_each` with one parameter per batch instead; PostgreSQL binds by position and takes large
/// statements (under its 65 535 limit).
const POSTGRES_BATCH_PARAMS: usize = 16_000;

/// One decoded value (PostgreSQL binds them; SQLite unpacks the JSON lines itself).
#[derive(Debug, Clone)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A table file's header, with what checking and hashing its rows needs: shared by the workers preparing its
/// pieces.
pub struct Layout {
    header: TableHeader,
    hasher: RowHasher,
    backend: Backend,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout").field("table", &self.header.table).finish_non_exhaustive()
    }
}

impl Layout {
    /// Parses a header line.
    pub fn parse(line: &[u8], key: &ChunkKey, backend: Backend) -> Result<Layout> {
        let header: TableHeader = serde_json::from_slice(line)
            .map_err(|e| BackupError::Archive(format!("a table file does not start with its header: {e}")))?;
        if header.columns.is_empty() {
            return Err(BackupError::Archive(format!("table {} has no columns", header.table)));
        }
        let hasher = key.row_hasher(&header.table);
        Ok(Layout { header, hasher, backend })
    }

    #[must_use]
    pub fn table(&self) -> &str {
        &self.header.table
    }

    /// Checks one row line and adds it to `lines`.
    fn take_line(&self, line: &[u8], lines: &mut Lines) -> Result<()> {
        let keep = self.backend == Backend::Postgres;
        let mut de = serde_json::Deserializer::from_slice(line);
        let cells = RowSeed { columns: &self.header.columns, keep }
            .deserialize(&mut de)
            .and_then(|cells| de.end().map(|()| cells))
            .map_err(|e| BackupError::Archive(format!("table {}: a row is not valid: {e}", self.header.table)))?;
        lines.rows += 1;
        lines.checksum.add(&self.hasher.digest(line));
        if keep {
            lines.cells.push(cells);
        } else {
            if !lines.json.is_empty() {
                lines.json.push(b',');
            }
            lines.json.extend_from_slice(line);
        }
        Ok(())
    }
}

/// Checked, hashed rows ready for an INSERT.
#[derive(Debug, Default)]
pub struct Lines {
    rows: u64,
    checksum: Checksum,
    /// SQLite: the lines joined with commas (the inside of a JSON array).
    json: Vec<u8>,
    /// PostgreSQL: the decoded values.
    cells: Vec<Vec<Cell>>,
}

/// The middle of a piece: its complete lines, checked on a worker when the header was known, else as they came.
#[derive(Debug)]
enum Middle {
    Checked(Lines),
    Raw(Vec<u8>),
}

/// One piece of a table file, split at its first and last newline.
#[derive(Debug)]
pub struct Piece {
    /// Up to the first newline (the end of the line the previous piece began), or the whole piece if it has none.
    head: Vec<u8>,
    /// `None` when the piece holds no newline.
    middle: Option<Middle>,
    /// After the last newline: the beginning of a line the next piece ends.
    tail: Vec<u8>,
}

/// Splits and, when `layout` is known, checks and hashes the complete lines of `data` (pure CPU work: run it on
/// the blocking pool).
pub fn prepare(data: &[u8], layout: Option<&Layout>) -> Result<Piece> {
    let Some(first) = data.iter().position(|&b| b == b'\n') else {
        return Ok(Piece { head: data.to_vec(), middle: None, tail: Vec::new() });
    };
    let last = data.iter().rposition(|&b| b == b'\n').unwrap_or(first);
    let head = data.get(..first).unwrap_or_default().to_vec();
    let inner = data.get(first + 1..last).unwrap_or_default();
    let tail = data.get(last + 1..).unwrap_or_default().to_vec();
    let middle = match layout {
        Some(layout) => {
            let mut lines = Lines { json: Vec::with_capacity(inner.len()), ..Lines::default() };
            if first < last {
                for line in inner.split(|&b| b == b'\n') {
                    layout.take_line(line, &mut lines)?;
                }
            }
            Middle::Checked(lines)
        }
        None => Middle::Raw(if first < last { inner.to_vec() } else { Vec::new() }),
    };
    Ok(Piece { head, middle: Some(middle), tail })
}

/// Loads table files into an empty, migrated database inside the caller's transaction, and recomputes the facts
/// while doing so (rows and checksum of exactly the lines loaded).
pub struct TableLoader<'k> {
    layout: Option<Arc<Layout>>,
    /// The unfinished line carried over from the previous piece.
    pending: Vec<u8>,
    batch: Lines,
    key: &'k ChunkKey,
    stats: DumpStats,
    backend: Backend,
}

impl<'k> TableLoader<'k> {
    #[must_use]
    pub fn new(key: &'k ChunkKey, backend: Backend) -> TableLoader<'k> {
        TableLoader {
            layout: None,
            pending: Vec::new(),
            batch: Lines::default(),
            key,
            stats: DumpStats::default(),
            backend,
        }
    }

    /// The header once it has been read, for preparing the following pieces elsewhere.
    #[must_use]
    pub fn layout(&self) -> Option<Arc<Layout>> {
        self.layout.clone()
    }

    /// Feeds the next piece of the file, preparing it here.
    pub async fn push(&mut self, conn: &mut AnyConnection, data: &[u8]) -> Result<()> {
        let piece = prepare(data, self.layout.as_deref())?;
        self.take(conn, piece).await
    }

    /// Feeds the next piece of the file, prepared by [`prepare`] (with this loader's [`TableLoader::layout`],
    /// or none).
    pub async fn take(&mut self, conn: &mut AnyConnection, piece: Piece) -> Result<()> {
        self.pending.extend_from_slice(&piece.head);
        let Some(middle) = piece.middle else { return Ok(()) };
        let line = std::mem::replace(&mut self.pending, piece.tail);
        self.line(&line)?;
        match middle {
            Middle::Raw(raw) => {
                if !raw.is_empty() {
                    for line in raw.split(|&b| b == b'\n') {
                        self.line(line)?;
                        if self.full() {
                            self.flush(conn).await?;
                        }
                    }
                }
            }
            Middle::Checked(lines) => {
                if self.layout.is_none() {
                    return Err(BackupError::Archive("a table file's rows were prepared before its header".into()));
                }
                if lines.rows > 0 {
                    self.stats.rows += lines.rows;
                    self.stats.checksum.merge(lines.checksum);
                    append(&mut self.batch, lines);
                }
            }
        }
        if self.full() {
            self.flush(conn).await?;
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<()> {
        let Some(layout) = &self.layout else {
            self.layout = Some(Arc::new(Layout::parse(line, self.key, self.backend)?));
            return Ok(());
        };
        let mut one = Lines::default();
        layout.take_line(line, &mut one)?;
        self.stats.rows += one.rows;
        self.stats.checksum.merge(one.checksum);
        append(&mut self.batch, one);
        Ok(())
    }

    fn full(&self) -> bool {
        match (self.backend, &self.layout) {
            (Backend::Sqlite, _) => {
                self.batch.rows >= JSON_BATCH_ROWS as u64 || self.batch.json.len() >= JSON_BATCH_BYTES
            }
            (Backend::Postgres, Some(layout)) => {
                self.batch.cells.len() * layout.header.columns.len() >= POSTGRES_BATCH_PARAMS
            }
            (Backend::Postgres, None) => false,
        }
    }

    async fn flush(&mut self, conn: &mut AnyConnection) -> Result<()> {
        let Some(layout) = &self.layout else { return Ok(()) };
        let header = &layout.header;
        let columns = header.columns.iter().map(|(n, _)| quote_ident(n)).collect::<Vec<_>>().join(", ");
        let batch = std::mem::take(&mut self.batch);
        if !batch.json.is_empty() {
            // One parameter for the whole batch: SQLite unpacks the (already checked) lines itself. `jsonb_each`
            // parses the batch once and hands each row over in binary form, which `->>` reads without parsing
            // it again (`json_each` would turn each row back into text first, then parse that once more).
            let picks: Vec<String> = (0..header.columns.len()).map(|i| format!("value ->> {i}")).collect();
            let sql = format!(
                "INSERT INTO {} ({columns}) SELECT {} FROM jsonb_each($1)",
                quote_ident(&header.table),
                picks.join(", ")
            );
            let mut json = batch.json;
            json.insert(0, b'[');
            json.push(b']');
            let rows =
                String::from_utf8(json).map_err(|e| BackupError::Archive(format!("table {}: {e}", header.table)))?;
            sqlx::query(AssertSqlSafe(sql)).bind(rows).execute(&mut *conn).await?;
            return Ok(());
        }
        if batch.cells.is_empty() {
            return Ok(());
        }
        let width = header.columns.len();
        let mut sql = format!("INSERT INTO {} ({columns}) VALUES ", quote_ident(&header.table));
        let mut n = 0;
        for r in 0..batch.cells.len() {
            if r > 0 {
                sql.push(',');
            }
            sql.push('(');
            for c in 0..width {
                if c > 0 {
                    sql.push(',');
                }
                n += 1;
                let _ = write!(sql, "${n}");
            }
            sql.push(')');
        }
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in batch.cells {
            for cell in row {
                query = match cell {
                    Cell::Int(v) => query.bind(v),
                    Cell::Text(v) => query.bind(v),
                };
            }
        }
        query.execute(&mut *conn).await?;
        Ok(())
    }

    /// Ends the file: loads what is left and returns the table's name and facts.
    pub async fn finish(mut self, conn: &mut AnyConnection) -> Result<(String, DumpStats)> {
        if !self.pending.is_empty() {
            return Err(BackupError::Archive("a table file does not end with a newline (truncated?)".into()));
        }
        self.flush(conn).await?;
        let layout = self.layout.ok_or_else(|| BackupError::Archive("an empty table file".into()))?;
        Ok((layout.header.table.clone(), self.stats))
    }
}

/// Adds prepared lines to a batch.
fn append(batch: &mut Lines, lines: Lines) {
    batch.rows += lines.rows;
    if !lines.json.is_empty() {
        if batch.json.is_empty() {
            batch.json = lines.json;
        } else {
            batch.json.push(b',');
            batch.json.extend_from_slice(&lines.json);
        }
    }
    if batch.cells.is_empty() {
        batch.cells = lines.cells;
    } else {
        batch.cells.extend(lines.cells);
    }
}

/// Reads a row line as exactly one value of each column's kind, without building a JSON tree (and, unless
/// `keep`, without copying a single string).
struct RowSeed<'a> {
    columns: &'a [(String, ColumnKind)],
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Vec<Cell>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Vec<Cell>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Vec<Cell>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "an array of {} values", self.columns.len())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Vec<Cell>, A::Error> {
        let mut cells = Vec::with_capacity(if self.keep { self.columns.len() } else { 0 });
        for (i, (name, kind)) in self.columns.iter().enumerate() {
            let Some(cell) = seq.next_element_seed(CellSeed { name, kind: *kind, keep: self.keep })? else {
                return Err(de::Error::custom(format!("{i} values for {} columns", self.columns.len())));
            };
            if self.keep {
                cells.push(cell);
            }
        }
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(format!("more than {} values", self.columns.len())));
        }
        Ok(cells)
    }
}

/// One value, which must be null or of its column's kind.
struct CellSeed<'a> {
    name: &'a str,
    kind: ColumnKind,
    keep: bool,
}

impl CellSeed<'_> {
    fn wrong<E: de::Error>(&self, what: &str) -> E {
        E::custom(format!("column {} holds {what}, not {:?}", self.name, self.kind))
    }

    fn text<E: de::Error>(&self, v: &str) -> std::result::Result<Cell, E> {
        match self.kind {
            ColumnKind::Text => Ok(Cell::Text(self.keep.then(|| v.to_owned()))),
            ColumnKind::Integer => Err(self.wrong("a string")),
        }
    }
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = Cell;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Cell, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = Cell;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "null or {:?} for column {}", self.kind, self.name)
    }

    fn visit_unit<E: de::Error>(self) -> std::result::Result<Cell, E> {
        Ok(match self.kind {
            ColumnKind::Integer => Cell::Int(None),
            ColumnKind::Text => Cell::Text(None),
        })
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Cell, E> {
        match self.kind {
            ColumnKind::Integer => Ok(Cell::Int(Some(v))),
            ColumnKind::Text => Err(self.wrong("a number")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Cell, E> {
        match (self.kind, i64::try_from(v)) {
            (ColumnKind::Integer, Ok(v)) => Ok(Cell::Int(Some(v))),
            _ => Err(self.wrong("a number out of range")),
        }
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Cell, E> {
        Err(self.wrong("a fraction"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Cell, E> {
        Err(self.wrong("a boolean"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Cell, E> {
        self.text(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Cell, E> {
        self.text(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Cell, E> {
        match self.kind {
            ColumnKind::Text => Ok(Cell::Text(self.keep.then_some(v))),
            ColumnKind::Integer => Err(self.wrong("a string")),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> std::result::Result<Cell, A::Error> {
        Err(self.wrong("an array"))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> std::result::Result<Cell, A::Error> {
        Err(self.wrong("an object"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn layout(backend: Backend) -> Layout {
        let key = ChunkKey::derive(&[3; 32]);
        Layout::parse(br#"{"table":"t","columns":[["a","text"],["n","integer"]]}"#, &key, backend).unwrap()
    }

    #[test]
    fn rows_must_hold_one_value_of_each_columns_kind() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let layout = layout(backend);
            let mut lines = Lines::default();
            for good in [&br#"["x",1]"#[..], br#"[null,null]"#, br#"["a\"\n\u00e9",-9223372036854775808]"#] {
                layout.take_line(good, &mut lines).unwrap();
            }
            assert_eq!(lines.rows, 3);
            for bad in [
                &br#"["x"]"#[..],
                br#"["x",1,2]"#,
                br#"[1,1]"#,
                br#"["x","1"]"#,
                br#"["x",1.5]"#,
                br#"["x",9223372036854775808]"#,
                br#"["x",true]"#,
                br#"["x",[1]]"#,
                br#"["x",{"a":1}]"#,
                br#"{"a":"x"}"#,
                br#"["x",1] trailing"#,
                b"not json",
            ] {
                let err = layout.take_line(bad, &mut Lines::default()).unwrap_err();
                assert!(err.to_string().contains("table t: a row is not valid"), "{err}");
            }
        }
    }

    #[test]
    fn prepared_pieces_hash_and_join_what_a_line_at_a_time_does() {
        let layout = layout(Backend::Sqlite);
        let data = b"[\"a\",1]\n[\"b\",2]\n[\"c\",3]\n[\"d\"";
        let piece = prepare(data, Some(&layout)).unwrap();
        assert_eq!(piece.head, br#"["a",1]"#);
        assert_eq!(piece.tail, br#"["d""#);
        let Some(Middle::Checked(lines)) = piece.middle else { panic!("checked lines expected") };
        assert_eq!(lines.rows, 2);
        assert_eq!(lines.json, br#"["b",2],["c",3]"#);
        let mut one = Lines::default();
        layout.take_line(br#"["b",2]"#, &mut one).unwrap();
        layout.take_line(br#"["c",3]"#, &mut one).unwrap();
        assert_eq!(one.checksum, lines.checksum);
        let none = prepare(b"no newline", Some(&layout)).unwrap();
        assert!(none.middle.is_none() && none.head == b"no newline");
    }
}
