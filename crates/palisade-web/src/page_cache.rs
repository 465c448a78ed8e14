//! Rendered storefront pages, kept in memory so a repeated page view skips the database reads and the template
//! render (the middleware, shield included, still runs for every request: only the handler's work is saved).
//!
//! **Exact.** Callers key a page by everything its render reads: the store's (or the marketplace's) content
//! version from `palisade_store::storefront`, read before the page's data and bumped in the same transaction
//! as every write that changes what the page shows, plus the page's own parameters and the shopper's cart
//! count. A write on any node therefore changes the key the next request computes; old entries are simply
//! never asked for again and age out. Signed-in shoppers bypass the cache.
//!
//! **Per-request values are not cached.** The only one in a storefront page body is the synchronizer token of
//! the platform's forms (the CSP nonce lives in a header). A page is rendered with a random per-process marker
//! in place of the token and stored split at the marker; a response joins the parts with the request's own
//! token. The marker is 128 random bits never shown to anyone, so neither a merchant's template nor a shopper's
//! query can contain it (a merchant template never receives the token or the marker: only platform slots do).
//!
//! **Bounded.** Entries are weighed by their bytes; each shard evicts its oldest entries (first in, first out)
//! beyond its share of the budget. Stale versions are never read again, so they are the ones that go.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use rand::RngCore;

/// Default budget for all cached pages of a node.
pub const DEFAULT_BYTES: usize = 64 * 1024 * 1024;
const SHARDS: usize = 8;

/// The longest key stored (see [`PageCache::insert`]).
pub const MAX_KEY: usize = 320;

/// What one entry costs beyond the page and its key's two copies (map and queue): the map slot, the `Arc`, the
/// queue slot and allocator rounding, estimated generously so that the cap bounds real memory.
const ENTRY_OVERHEAD: usize = 160;

/// The bytes an entry is counted for: the page, its key twice (map and eviction queue) and the overhead.
fn entry_weight(page: &CachedPage, key_len: usize) -> usize {
    page.weight() + 2 * key_len + ENTRY_OVERHEAD
}

/// One rendered page, split where the per-request token goes.
#[derive(Debug)]
pub struct CachedPage {
    parts: Box<[Bytes]>,
    len: usize,
}

impl CachedPage {
    /// Splits `html` (rendered with [`PageCache::marker`] as its token) at every occurrence of `marker`.
    #[must_use]
    pub fn split(mut html: String, marker: &str) -> Self {
        // `Bytes::from` keeps the whole allocation: a render can leave up to twice its length in capacity.
        html.shrink_to_fit();
        let cuts: Vec<usize> = html.match_indices(marker).map(|(at, _)| at).collect();
        let whole = Bytes::from(html);
        let mut parts = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for at in cuts {
            parts.push(whole.slice(start..at));
            start = at + marker.len();
        }
        parts.push(whole.slice(start..));
        let len = parts.iter().map(Bytes::len).sum();
        Self { parts: parts.into_boxed_slice(), len }
    }

    /// The page with `token` where the render had the marker (no copy when the page has no form).
    #[must_use]
    pub fn with_token(&self, token: &str) -> Bytes {
        if let [only] = &*self.parts {
            return only.clone();
        }
        let mut out = BytesMut::with_capacity(self.len + token.len() * self.parts.len().saturating_sub(1));
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(token.as_bytes());
            }
            out.extend_from_slice(part);
        }
        out.freeze()
    }

    fn weight(&self) -> usize {
        self.len + self.parts.len() * std::mem::size_of::<Bytes>()
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Arc<CachedPage>>,
    order: VecDeque<Box<str>>,
    bytes: usize,
}

/// The node's page cache (see the module comment).
pub struct PageCache {
    shards: Box<[Mutex<Shard>]>,
    shard_budget: usize,
    hasher: std::collections::hash_map::RandomState,
    marker: String,
    hits: metrics::Counter,
    misses: metrics::Counter,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache").field("shard_budget", &self.shard_budget).finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache holding at most about `max_bytes` of pages; 0 turns caching off (every page is rendered fresh).
    /// Create it after the metrics recorder is installed, so its counters reach `/metrics`.
    #[must_use]
    pub fn new(max_bytes: usize) -> Self {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            shard_budget: max_bytes / SHARDS,
            hasher: std::collections::hash_map::RandomState::new(),
            marker: hex::encode(raw),
            hits: metrics::counter!("palisade_page_cache_total", "result" => "hit"),
            misses: metrics::counter!("palisade_page_cache_total", "result" => "miss"),
        }
    }

    /// Whether pages are kept at all.
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.shard_budget > 0
    }

    /// What a page is rendered with in place of the request's token before it is stored.
    #[must_use]
    pub fn marker(&self) -> &str {
        &self.marker
    }

    fn shard(&self, key: &str) -> Option<&Mutex<Shard>> {
        let n = usize::try_from(self.hasher.hash_one(key)).unwrap_or_default() % SHARDS;
        self.shards.get(n)
    }

    /// The page stored under `key`, counted as a hit or a miss.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<Arc<CachedPage>> {
        let found = self.shard(key).and_then(|s| s.lock().ok().and_then(|s| s.map.get(key).cloned()));
        if found.is_some() { &self.hits } else { &self.misses }.increment(1);
        found
    }

    /// Stores `page` under `key`, evicting the shard's oldest entries beyond its budget. Keys longer than
    /// [`MAX_KEY`] are not stored (they carry free text: a flood of distinct long queries should not evict pages).
    pub fn insert(&self, key: String, page: Arc<CachedPage>) {
        if key.len() > MAX_KEY {
            return;
        }
        let weight = entry_weight(&page, key.len());
        if weight > self.shard_budget {
            return;
        }
        let Some(Ok(mut shard)) = self.shard(&key).map(Mutex::lock) else { return };
        let key: Box<str> = key.into();
        match shard.map.insert(key.clone(), page) {
            Some(old) => shard.bytes = shard.bytes.saturating_sub(entry_weight(&old, key.len())),
            None => shard.order.push_back(key),
        }
        shard.bytes += weight;
        while shard.bytes > self.shard_budget {
            let Some(oldest) = shard.order.pop_front() else { break };
            if let Some(old) = shard.map.remove(&oldest) {
                shard.bytes = shard.bytes.saturating_sub(entry_weight(&old, oldest.len()));
            }
        }
    }

    /// Bytes held (pages and keys), for tests and diagnostics.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.shards.iter().filter_map(|s| s.lock().ok().map(|s| s.bytes)).sum()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_page_gets_the_requests_token_wherever_the_marker_was() {
        let cache = PageCache::new(1 << 20);
        let m = cache.marker().to_owned();
        let page = CachedPage::split(format!("<a>{m}</a><b>{m}</b>"), &m);
        assert_eq!(&page.with_token("tok")[..], b"<a>tok</a><b>tok</b>");
        let plain = CachedPage::split("<p>no form</p>".to_owned(), &m);
        assert_eq!(&plain.with_token("tok")[..], b"<p>no form</p>");
        let edges = CachedPage::split(format!("{m}x{m}"), &m);
        assert_eq!(&edges.with_token("T")[..], b"TxT");
    }

    #[test]
    fn the_cache_stays_within_its_budget_and_drops_the_oldest_first() {
        let cache = PageCache::new(SHARDS * 10_000);
        for i in 0..200 {
            cache.insert(format!("k{i}"), Arc::new(CachedPage::split("x".repeat(1_000), cache.marker())));
        }
        assert!(cache.bytes() <= SHARDS * 10_000, "{}", cache.bytes());
        assert!(cache.get("k199").is_some(), "the newest entry is kept");
        assert!(cache.get("k0").is_none(), "the oldest entry went");
        // Every entry is counted with its key twice and its overhead, not the page alone.
        let one = PageCache::new(1 << 20);
        one.insert("key".into(), Arc::new(CachedPage::split("x".repeat(1_000), one.marker())));
        assert!(one.bytes() >= 1_000 + 2 * 3 + ENTRY_OVERHEAD, "{}", one.bytes());
        let off = PageCache::new(0);
        off.insert("k".into(), Arc::new(CachedPage::split("x".into(), off.marker())));
        assert!(!off.enabled() && off.get("k").is_none());
    }

    #[test]
    fn long_keys_are_not_stored_so_free_text_floods_cannot_evict_pages() {
        let cache = PageCache::new(1 << 20);
        let long = "q".repeat(MAX_KEY + 1);
        cache.insert(long.clone(), Arc::new(CachedPage::split("x".into(), cache.marker())));
        assert!(cache.get(&long).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
