//! Storefront content versions: what makes a cache of rendered storefront pages exact across nodes.
//!
//! Every write that changes what a store's storefront shows (catalog, prices, stock, images, reviews, theme,
//! store settings, imports) calls [`touch`] inside its own transaction, as its last statement before commit. That
//! adds one to the store's row in `storefront_versions` and to one of the [`MARKETPLACE_SHARDS`] rows of
//! `marketplace_versions` (marketplace pages list every store). The counters only grow, so a version read names
//! one committed state of the store's storefront data.
//!
//! A cache keys each rendered page by the version read *before* the page's data: a page rendered from newer data
//! under an older key is harmless (nobody reads the older version again once the newer commit is visible), while
//! the reverse order could keep an old page under a new key. Nodes share nothing but the database, so a change
//! committed on one node is seen by the next request to any node.
//!
//! Why last before commit: the upsert locks the version row until commit (PostgreSQL). Taking it after the
//! transaction's other row locks means two writers never hold those in opposite orders (a checkout reserving
//! two variants and a merchant changing one of them would otherwise deadlock on the version row).

use std::collections::HashMap;
use std::sync::Mutex;

use palisade_core::StoreId;
use sqlx::AnyConnection;

use crate::changes::Marker;

use crate::error::{Result, StoreError};
use crate::{Db, StoreScope};

/// Rows the marketplace version is spread over; a store's writes go to one of them (any one would do: readers
/// add them all up).
pub const MARKETPLACE_SHARDS: i64 = 16;

fn shard_of(store_key: &str) -> i64 {
    let sum = store_key.bytes().fold(0u64, |acc, b| acc.wrapping_mul(31).wrapping_add(u64::from(b)));
    i64::try_from(sum % MARKETPLACE_SHARDS.unsigned_abs()).unwrap_or(0)
}

/// Marks the scoped store's storefront (and so the marketplace) as changed, inside the caller's write
/// transaction. Call it after the transaction's other writes, just before commit (see the module comment).
pub async fn touch(conn: &mut AnyConnection, scope: &StoreScope) -> Result<()> {
    let store = scope.store_key();
    sqlx::query(
        "INSERT INTO storefront_versions (store_id, version) VALUES ($1, 1) \
         ON CONFLICT (store_id) DO UPDATE SET version = storefront_versions.version + 1",
    )
    .bind(&store)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO marketplace_versions (shard, version) VALUES ($1, 1) \
         ON CONFLICT (shard) DO UPDATE SET version = marketplace_versions.version + 1",
    )
    .bind(shard_of(&store))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The store a storefront path names (by id or slug, as the routes resolve it) with its current content
/// version, in one indexed read; `None` when no active store has that id or slug (a cached page of a store that is
/// suspended later is never served: every request passes here before the cache).
pub async fn resolve(db: &Db, key: &str) -> Result<Option<(StoreId, i64)>> {
    // No store has a key that is neither an id nor a slug: answered without a query, and never remembered (a
    // flood of long made-up keys would otherwise fill the memo).
    if key.parse::<StoreId>().is_err() && palisade_core::text::Slug::parse(key).is_err() {
        return Ok(None);
    }
    // Read before the query: a commit after this moves the marker, so what the query reads is never kept longer
    // than the state it was read in (see `VersionMemo`).
    let at = db.change_marker();
    if let Some(hit) = at.and_then(|at| db.versions().store(at, key)) {
        return Ok(hit);
    }
    let found = read_store(db, key).await?;
    if let Some(at) = at {
        db.versions().remember_store(at, key, found);
    }
    Ok(found)
}

async fn read_store(db: &Db, key: &str) -> Result<Option<(StoreId, i64)>> {
    // An id is looked up by id only, a slug by slug only (slugs cannot parse as ids), as `routes::resolve_store`.
    let by = if key.parse::<StoreId>().is_ok() { "s.id" } else { "s.slug" };
    let row: Option<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s.id, COALESCE(v.version, 0) FROM stores s LEFT JOIN storefront_versions v ON v.store_id = s.id \
         WHERE {by} = $1 AND s.status = 'active'"
    )))
    .bind(key)
    .fetch_optional(db.pool())
    .await?;
    row.map(|(id, version)| {
        id.parse()
            .map(|id| (id, version))
            .map_err(|e: palisade_core::ids::InvalidId| StoreError::Corrupt(e.to_string()))
    })
    .transpose()
}

/// The marketplace's content version: the sum of its shards, which grows with every [`touch`] of any store.
pub async fn marketplace(db: &Db) -> Result<i64> {
    let at = db.change_marker();
    if let Some(hit) = at.and_then(|at| db.versions().marketplace(at)) {
        return Ok(hit);
    }
    let (v,): (i64,) = sqlx::query_as("SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM marketplace_versions")
        .fetch_one(db.pool())
        .await?;
    if let Some(at) = at {
        db.versions().remember_marketplace(at, v);
    }
    Ok(v)
}

/// Most stores one memo holds; a flood of made-up slugs empties it instead of growing it.
const MEMO_STORES: usize = 4096;

/// Versions (and unknown store keys) read while the database stayed unchanged, as told by SQLite's change watch
/// ([`Db::change_marker`]): a page view whose page is cached then costs no query at all, and any commit, by any
/// connection or process, empties the memo before its next use. PostgreSQL has no marker and always reads.
#[derive(Debug, Default)]
pub struct VersionMemo {
    inner: Mutex<Memo>,
}

#[derive(Debug, Default)]
struct Memo {
    at: Option<Marker>,
    stores: HashMap<String, Option<(StoreId, i64)>>,
    marketplace: Option<i64>,
}

impl Memo {
    /// Makes the memo describe the state `at`, forgetting what was read in any other.
    fn at(&mut self, at: Marker) -> &mut Memo {
        if self.at != Some(at) {
            self.at = Some(at);
            self.stores.clear();
            self.marketplace = None;
        }
        self
    }
}

impl VersionMemo {
    fn store(&self, at: Marker, key: &str) -> Option<Option<(StoreId, i64)>> {
        let memo = self.inner.lock().ok()?;
        if memo.at != Some(at) {
            return None;
        }
        memo.stores.get(key).copied()
    }

    fn remember_store(&self, at: Marker, key: &str, found: Option<(StoreId, i64)>) {
        let Ok(mut memo) = self.inner.lock() else { return };
        let memo = memo.at(at);
        if memo.stores.len() >= MEMO_STORES {
            memo.stores.clear();
        }
        memo.stores.insert(key.to_owned(), found);
    }

    fn marketplace(&self, at: Marker) -> Option<i64> {
        let memo = self.inner.lock().ok()?;
        if memo.at != Some(at) {
            return None;
        }
        memo.marketplace
    }

    fn remember_marketplace(&self, at: Marker, version: i64) {
        if let Ok(mut memo) = self.inner.lock() {
            memo.at(at).marketplace = Some(version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_in_range() {
        for key in ["", "a", "0194f7a2-0000-7000-8000-000000000000", "zzzzzzzzzzzzzzzz"] {
            assert!((0..MARKETPLACE_SHARDS).contains(&shard_of(key)), "{key}");
        }
    }
}
