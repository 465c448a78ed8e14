//! Secondary indexes set aside while a restore loads its rows, and built once afterwards.
//!
//! Keeping an index up to date row by row costs a B-tree insert per row per index; building it once from the
//! loaded table is a sort. Only non-unique indexes are set aside: unique ones (and primary keys) stay, because
//! foreign keys may need them and because they check the data as it arrives. Everything happens inside the
//! restore's transaction, so a failed restore leaves the schema as the migrations made it.

use palisade_store::Backend;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::dump::quote_ident;
use crate::error::Result;

/// An index as its database describes it: its name and the statement that creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub name: String,
    pub create: String,
}

/// Drops every non-unique index of the application's tables and returns how to create each again.
pub async fn set_aside(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<SecondaryIndex>> {
    let sql = match backend {
        // `sql` is NULL for the indexes SQLite makes for PRIMARY KEY and UNIQUE constraints.
        Backend::Sqlite => {
            "SELECT m.name, m.sql FROM sqlite_master m \
             WHERE m.type = 'index' AND m.sql IS NOT NULL AND substr(m.tbl_name, 1, 10) <> '_palisade_' \
             AND NOT EXISTS (SELECT 1 FROM pragma_index_list(m.tbl_name) l WHERE l.name = m.name AND l.\"unique\") \
             ORDER BY m.name"
        }
        Backend::Postgres => {
            "SELECT c.relname::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND NOT i.indisunique AND NOT i.indisprimary \
             AND substr(t.relname, 1, 10) <> '_palisade_' \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
             ORDER BY c.relname"
        }
    };
    let rows: Vec<(String, String)> = sqlx::query_as(sql).fetch_all(&mut *conn).await?;
    let indexes: Vec<SecondaryIndex> = rows.into_iter().map(|(name, create)| SecondaryIndex { name, create }).collect();
    for index in &indexes {
        let drop = format!("DROP INDEX {}", quote_ident(&index.name));
        sqlx::query(AssertSqlSafe(drop)).execute(&mut *conn).await?;
    }
    Ok(indexes)
}

/// Creates the indexes [`set_aside`] dropped.
pub async fn rebuild(conn: &mut AnyConnection, indexes: &[SecondaryIndex]) -> Result<()> {
    for index in indexes {
        sqlx::query(AssertSqlSafe(index.create.clone())).execute(&mut *conn).await?;
    }
    Ok(())
}
