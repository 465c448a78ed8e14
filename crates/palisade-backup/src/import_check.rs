//! What an archive may write. An archive comes from a merchant (an upload, a copy from their own bucket, a file
//! given to the operator) and is re-encrypted easily: its manifest hashes prove only that it was not damaged,
//! not that a Palisade export wrote it. So every content row is checked here, before anything is written:
//!
//! - each row carries the archive's store and a string id, once per table;
//! - every foreign key of a content table points at a row *of the same archive* (a variant may not name another
//!   store's product, a product another store's category) — references are read from the live schema, so a new
//!   migration's foreign key is checked without touching this file; a foreign key to a table the archive does
//!   not carry is refused unless it is null;
//! - every image row names an image object the archive carries (or, on replace, one the store already uses),
//!   under `images/<sha256>`, whose bytes are a raster image of the type, size and dimensions the row claims;
//! - every object the archive carries is such an image.
//!
//! What is checked at write time (ids that belong to another store) is in `export.rs`: the upsert only updates a
//! row of the importing store, and a row it could not write is a refusal that rolls the whole import back.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use palisade_store::Backend;
use serde_json::Value;
use sqlx::AnyConnection;

use crate::dump::TableSpec;
use crate::error::{BackupError, Result};
use crate::export::{Archive, ArchiveTable, Role, TABLES};

/// One foreign key column: `column` references `parent.parent_column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ForeignKey {
    pub column: String,
    pub parent: String,
    pub parent_column: String,
}

/// The live schema's foreign keys of `table`.
pub(crate) async fn foreign_keys(conn: &mut AnyConnection, backend: Backend, table: &str) -> Result<Vec<ForeignKey>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT f.\"from\", f.\"table\", COALESCE(f.\"to\", 'id') FROM pragma_foreign_key_list($1) f ORDER BY f.id, f.seq"
        }
        Backend::Postgres => {
            "SELECT a.attname::text, ref.relname::text, fa.attname::text FROM pg_constraint con \
             JOIN pg_class cl ON cl.oid = con.conrelid JOIN pg_namespace n ON n.oid = cl.relnamespace \
             JOIN pg_class ref ON ref.oid = con.confrelid \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(col, fcol) \
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col \
             JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = k.fcol \
             WHERE con.contype = 'f' AND n.nspname = current_schema() AND cl.relname = $1 ORDER BY 1"
        }
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(sql).bind(table.to_owned()).fetch_all(&mut *conn).await?;
    Ok(rows.into_iter().map(|(column, parent, parent_column)| ForeignKey { column, parent, parent_column }).collect())
}

fn refuse(table: &str, what: impl std::fmt::Display) -> BackupError {
    BackupError::Archive(format!("table {table}: {what}"))
}

fn column(table: &ArchiveTable, name: &str) -> Option<usize> {
    table.columns.iter().position(|(c, _)| c == name)
}

/// Image types an image row may claim: the ones `images::inspect` detects.
const IMAGE_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// `images/<64 lowercase hex>`: the only object keys an archive may name or carry.
#[must_use]
pub fn is_image_key(key: &str) -> bool {
    key.strip_prefix("images/")
        .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

/// Every object an archive carries must be an image under its content address.
pub(crate) fn check_objects(archive: &Archive) -> Result<()> {
    for (path, bytes) in archive.files.iter().filter(|(p, _)| !p.starts_with("tables/")) {
        let Some(key) = path.strip_prefix("objects/").filter(|k| is_image_key(k)) else {
            return Err(BackupError::Archive(format!("{path}: an archive holds only tables/ and objects/images/")));
        };
        if palisade_store::Objects::key_for("images", bytes) != key {
            return Err(BackupError::Archive(format!("{path}: content does not match its name")));
        }
        palisade_commerce::images::inspect(bytes)
            .map_err(|e| BackupError::Archive(format!("{path}: not an image Palisade accepts: {e}")))?;
    }
    Ok(())
}

/// Checks the archive's content tables (see the module comment). `specs` are the live schema's, `store_id` the
/// store the archive claims to be (its rows must all carry it), `own_images` the image keys (with their content
/// types) the importing store already uses — empty for a clone into a new store.
pub(crate) async fn check_content(
    conn: &mut AnyConnection,
    backend: Backend,
    specs: &[TableSpec],
    archive: &Archive,
    store_id: &str,
    own_images: &BTreeMap<String, BTreeSet<String>>,
) -> Result<()> {
    check_objects(archive)?;
    let content: Vec<&str> = TABLES.iter().filter(|t| t.role == Role::Content).map(|t| t.name).collect();
    // Values of every (table, column) a foreign key may point at, from the archive only.
    let mut tables: BTreeMap<&str, ArchiveTable> = BTreeMap::new();
    for name in &content {
        tables.insert(name, archive.table(name)?);
    }
    for name in &content {
        let Some(spec) = specs.iter().find(|s| s.name == *name) else {
            return Err(BackupError::Invalid(format!("table {name} does not exist in this schema")));
        };
        let Some(table) = tables.get(name) else { continue };
        let names: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        let arch_names: Vec<&str> = table.columns.iter().map(|(n, _)| n.as_str()).collect();
        if names != arch_names {
            return Err(refuse(name, format!("the archive's columns {arch_names:?} are not this schema's {names:?}")));
        }
        let store_col = column(table, "store_id").ok_or_else(|| refuse(name, "no store_id column"))?;
        if table.rows.iter().any(|r| r.get(store_col).and_then(Value::as_str) != Some(store_id)) {
            return Err(refuse(name, "rows of another store"));
        }
        // The primary key: a non-empty string per row, never twice.
        let key_cols: Vec<usize> = spec.order_by.iter().filter_map(|k| column(table, k)).collect();
        let mut seen = HashSet::new();
        for row in &table.rows {
            let key: Vec<&Value> = key_cols.iter().filter_map(|&i| row.get(i)).collect();
            if key.iter().any(|v| v.is_null() || v.as_str().is_some_and(str::is_empty)) {
                return Err(refuse(name, "a row without an id"));
            }
            let text = serde_json::to_string(&key).unwrap_or_default();
            if seen.contains(&text) {
                return Err(refuse(name, format!("the id {text} appears twice")));
            }
            seen.insert(text);
        }
        for fk in foreign_keys(conn, backend, name).await? {
            if fk.parent == "stores" && fk.column == "store_id" {
                continue; // checked above
            }
            let Some(i) = column(table, &fk.column) else { continue };
            let targets: Option<HashSet<&str>> = tables.get(fk.parent.as_str()).map(|parent| {
                let j = column(parent, &fk.parent_column);
                parent.rows.iter().filter_map(|r| j.and_then(|j| r.get(j)).and_then(Value::as_str)).collect()
            });
            for row in &table.rows {
                let Some(value) = row.get(i).filter(|v| !v.is_null()) else { continue };
                let inside = targets.as_ref().is_some_and(|t| value.as_str().is_some_and(|v| t.contains(v)));
                if !inside {
                    return Err(refuse(
                        name,
                        format!("{} {value} is not a row of this archive's {}", fk.column, fk.parent),
                    ));
                }
            }
        }
        if *name == "product_images" {
            check_images(archive, table, own_images)?;
        }
    }
    Ok(())
}

fn check_images(
    archive: &Archive,
    table: &ArchiveTable,
    own_images: &BTreeMap<String, BTreeSet<String>>,
) -> Result<()> {
    let col = |n: &str| column(table, n).ok_or_else(|| refuse("product_images", format!("no {n} column")));
    let (key_i, type_i) = (col("object_key")?, col("content_type")?);
    let (width_i, height_i, bytes_i) = (col("width")?, col("height")?, col("bytes")?);
    for row in &table.rows {
        let key = row.get(key_i).and_then(Value::as_str).unwrap_or_default();
        let claimed = row.get(type_i).and_then(Value::as_str).unwrap_or_default();
        if !is_image_key(key) {
            return Err(refuse("product_images", format!("object_key `{key}` is not an image's content address")));
        }
        if !IMAGE_TYPES.contains(&claimed) {
            return Err(refuse("product_images", format!("content_type `{claimed}` is not an image type")));
        }
        match archive.files.get(&format!("objects/{key}")) {
            Some(bytes) => {
                let (detected, width, height) = palisade_commerce::images::inspect(bytes)
                    .map_err(|e| refuse("product_images", format!("{key}: {e}")))?;
                let int = |i: usize| row.get(i).and_then(Value::as_i64);
                if detected != claimed
                    || int(width_i) != i64::try_from(width).ok()
                    || int(height_i) != i64::try_from(height).ok()
                    || int(bytes_i) != i64::try_from(bytes.len()).ok()
                {
                    return Err(refuse("product_images", format!("{key}: the row does not describe its image")));
                }
            }
            // Not in the archive: only an image the store itself already shows, with the type it was stored with.
            None if own_images.get(key).is_some_and(|types| types.contains(claimed)) => {}
            None => {
                return Err(refuse(
                    "product_images",
                    format!("{key} is neither in the archive nor an image of this store"),
                ));
            }
        }
    }
    Ok(())
}
