//! Platform-wide key/value settings and recorded facts (e.g. the last audit verification).

use palisade_core::time::Timestamp;

use crate::db::Db;
use crate::error::Result;

/// Stores a value (JSON text) under `key`.
pub async fn put(db: &Db, key: &str, value: &serde_json::Value) -> Result<()> {
    sqlx::query(
        "INSERT INTO platform_settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value.to_string())
    .bind(db.now().0)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Reads a value and when it was written.
pub async fn get(db: &Db, key: &str) -> Result<Option<(serde_json::Value, Timestamp)>> {
    let row: Option<(String, i64)> = sqlx::query_as("SELECT value, updated_at FROM platform_settings WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.map(|(v, at)| (serde_json::from_str(&v).unwrap_or(serde_json::Value::Null), Timestamp(at))))
}
