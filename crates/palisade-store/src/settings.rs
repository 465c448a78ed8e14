//! Platform-wide key/value settings and recorded facts (e.g. the last audit verification).

use crate::db::ExecuteWrite;
use palisade_core::time::Timestamp;

use crate::db::Db;
use crate::error::Result;

/// Stores a value (JSON text) under `key`.
pub async fn put(db: &Db, key: &str, value: &serde_json::Value) -> Result<()> {
    let mut tx = db.begin_write().await?;
    put_on(&mut tx, db, key, value).await?;
    tx.commit().await?;
    Ok(())
}

/// [`put`] inside the caller's transaction, so the setting changes only with what it records.
pub async fn put_on(conn: &mut sqlx::AnyConnection, db: &Db, key: &str, value: &serde_json::Value) -> Result<()> {
    sqlx::query(
        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(db.now().0)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Reads a value and when it was written. A stored value that is not JSON is an error
/// ([`crate::StoreError::Corrupt`]), never `null`: several settings read `null` as "off", and a setting that
/// cannot be read must not quietly switch a protection off.
pub async fn get(db: &Db, key: &str) -> Result<Option<(serde_json::Value, Timestamp)>> {
    let row: Option<(String, i64)> = sqlx::query_as("SELECT value, updated_at FROM platform_settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    row.map(|(v, at)| {
        serde_json::from_str(&v)
            .map(|v| (v, Timestamp(at)))
            .map_err(|e| crate::StoreError::Corrupt(format!("platform setting `{key}` is not JSON: {e}")))
    })
    .transpose()
}

/// Every value whose key starts with `prefix` (a fixed prefix of our own, no LIKE wildcards), with when each was
/// written.
pub async fn with_prefix(db: &Db, prefix: &str) -> Result<Vec<(String, serde_json::Value, Timestamp)>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT key, value, updated_at FROM platform_settings WHERE substr(key, 1, length($1)) = $1 ORDER BY key",
    )
    .bind(prefix)
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(k, v, at)| (k, serde_json::from_str(&v).unwrap_or(serde_json::Value::Null), Timestamp(at)))
        .collect())
}

/// Removes a value.
pub async fn delete(db: &Db, key: &str) -> Result<()> {
    sqlx::query("DELETE FROM platform_settings WHERE key = $1").bind(key).execute_write(db).await?;
    Ok(())
}
