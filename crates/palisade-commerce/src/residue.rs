//! The residue scan (issue #21 item 4): after an erasure, search every text column of every table for the
//! erased person's values (email, name, phone, address line) and list where any is still found.
//!
//! The columns are read from the live schema on both backends (SQLite's `pragma_table_info`, PostgreSQL's
//! `information_schema`), not from a list, so a table added by a later migration is scanned too — the audit
//! chain, the outbox, firewall events and stored access-request exports included. A finding names the table,
//! the column, which of the given values (by its index, never the value itself) and how many rows: the report
//! can be logged or shown without repeating the personal data it looks for.

use palisade_store::{Backend, Db};
use serde::Serialize;

use crate::erasure::like_pattern;
use crate::error::Result;

/// One place a value was still found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Residue {
    pub table: String,
    pub column: String,
    /// The index of the value in the caller's list.
    pub value: usize,
    pub rows: i64,
}

/// Every (table, text column) of the live schema, in name order.
pub async fn text_columns(db: &Db) -> Result<Vec<(String, String)>> {
    let rows: Vec<(String, String, String)> = match db.backend() {
        Backend::Sqlite => {
            sqlx::query_as(
                "SELECT m.name, p.name, p.type FROM pragma_table_list m JOIN pragma_table_info(m.name) p \
                 WHERE m.schema = 'main' AND m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
                 AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(db.pool())
            .await?
        }
        Backend::Postgres => {
            sqlx::query_as(
                "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(db.pool())
            .await?
        }
    };
    let mut cols: Vec<(String, String)> = rows
        .into_iter()
        .filter(|(_, _, ty)| {
            let ty = ty.to_lowercase();
            ty.contains("text") || ty.contains("char") || ty.contains("json") || ty.is_empty()
        })
        .map(|(t, c, _)| (t, c))
        .collect();
    cols.sort();
    Ok(cols)
}

/// Quotes an identifier read from the catalogue (doubling any `"`), so a table or column name is never SQL.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Scans every text column for each of `values` (case-insensitive substring; empty values are skipped).
pub async fn scan(db: &Db, values: &[&str]) -> Result<Vec<Residue>> {
    let needles: Vec<(usize, String)> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(i, v)| (i, like_pattern(&v.trim().to_lowercase())))
        .collect();
    let mut found = Vec::new();
    if needles.is_empty() {
        return Ok(found);
    }
    for (table, column) in text_columns(db).await? {
        let col = match db.backend() {
            Backend::Postgres => format!("LOWER({}::text)", ident(&column)),
            Backend::Sqlite => format!("LOWER({})", ident(&column)),
        };
        for (i, pattern) in &needles {
            let sql = format!("SELECT COUNT(*) FROM {} WHERE {col} LIKE $1 ESCAPE '\\'", ident(&table));
            let (n,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(pattern).fetch_one(db.pool()).await?;
            if n > 0 {
                found.push(Residue { table: table.clone(), column: column.clone(), value: *i, rows: n });
            }
        }
    }
    Ok(found)
}
