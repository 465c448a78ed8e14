//! Bucketed sliding windows and a bounded table of them.
//!
//! A window is ten buckets (a tenth of the window each): adding or summing is a few integer operations, the memory
//! per key is fixed, and old events fall out without a timer. The table is capped: when it is full it first drops
//! keys with nothing left in their window, then keys below the level that matters, then the oldest — so a flood of
//! made-up keys costs the flooder, not the memory.

use std::collections::HashMap;

/// Buckets per window.
pub(crate) const BUCKETS: usize = 10;
/// The same, as a bucket-index distance.
const SPAN: i64 = BUCKETS as i64;

/// Counts over the last `BUCKETS` buckets; `counts[0]` is bucket `newest`, `counts[i]` is `newest - i`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Window {
    newest: i64,
    counts: [u32; BUCKETS],
}

impl Window {
    /// Moves the newest bucket forward to `bucket`, dropping what falls out (a clock that goes back is ignored).
    fn advance(&mut self, bucket: i64) {
        let shift = bucket.saturating_sub(self.newest);
        if shift <= 0 {
            return;
        }
        if shift >= SPAN {
            self.counts = [0; BUCKETS];
        } else {
            let by = usize::try_from(shift).unwrap_or(BUCKETS);
            self.counts.rotate_right(by);
            for c in self.counts.iter_mut().take(by) {
                *c = 0;
            }
        }
        self.newest = bucket;
    }

    /// Adds `n` events in `bucket`.
    pub(crate) fn add(&mut self, bucket: i64, n: u32) {
        self.advance(bucket);
        // An event older than the window (the clock went back) counts as now rather than being lost.
        let age = usize::try_from(self.newest.saturating_sub(bucket)).unwrap_or(0);
        let age = if age >= BUCKETS { 0 } else { age };
        if let Some(c) = self.counts.get_mut(age) {
            *c = c.saturating_add(n);
        }
    }

    /// Events in the window that ends with `bucket`.
    pub(crate) fn total(&self, bucket: i64) -> u32 {
        let age = bucket.saturating_sub(self.newest).max(0);
        let keep = usize::try_from(SPAN.saturating_sub(age).max(0)).unwrap_or(0);
        self.counts.iter().take(keep).fold(0u32, |a, c| a.saturating_add(*c))
    }

    /// Events in one bucket (0 when it is outside the window).
    pub(crate) fn at(&self, bucket: i64) -> u32 {
        let age = self.newest.saturating_sub(bucket);
        usize::try_from(age).ok().and_then(|i| self.counts.get(i)).copied().unwrap_or(0)
    }
}

/// One key's strikes (declines, and refused attempts while it is refused) and when it last changed.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    strikes: Window,
    /// Challenges this key earned itself: a key that keeps being challenged stays challenged.
    challenges: Window,
    last: i64,
}

/// Strike windows by hashed key, at most `cap` of them.
#[derive(Debug)]
pub(crate) struct Table {
    map: HashMap<u64, Entry>,
    cap: usize,
}

impl Table {
    /// An empty table that will hold at most `cap` keys (at least 4).
    pub(crate) fn new(cap: usize) -> Self {
        Self { map: HashMap::new(), cap: cap.max(4) }
    }

    /// Strikes against `key` in the window ending with `bucket`.
    pub(crate) fn count(&self, key: u64, bucket: i64) -> u32 {
        self.map.get(&key).map_or(0, |e| e.strikes.total(bucket))
    }

    /// Challenges `key` earned in the window ending with `bucket`.
    pub(crate) fn challenged(&self, key: u64, bucket: i64) -> u32 {
        self.map.get(&key).map_or(0, |e| e.challenges.total(bucket))
    }

    /// Notes a challenge `key` earned (only for keys already held: a challenge comes from their strikes).
    pub(crate) fn challenge(&mut self, key: u64, bucket: i64) {
        if let Some(e) = self.map.get_mut(&key) {
            e.challenges.add(bucket, 1);
            e.last = e.last.max(bucket);
        }
    }

    /// One more strike against `key`. `keep_from` is the count below which a key may be dropped first.
    pub(crate) fn strike(&mut self, key: u64, bucket: i64, keep_from: u32) {
        if !self.map.contains_key(&key) && self.map.len() >= self.cap {
            self.make_room(bucket, keep_from);
        }
        let e = self.map.entry(key).or_default();
        e.strikes.add(bucket, 1);
        e.last = e.last.max(bucket);
    }

    /// Keys held now.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Frees at least a quarter of the table (so the cost of a sweep is spread over many inserts).
    fn make_room(&mut self, bucket: i64, keep_from: u32) {
        let target = self.cap - self.cap / 4;
        self.map.retain(|_, e| e.strikes.total(bucket) > 0 || e.challenges.total(bucket) > 0);
        if self.map.len() > target {
            self.map.retain(|_, e| e.strikes.total(bucket) >= keep_from);
        }
        if self.map.len() > target {
            let mut lasts: Vec<i64> = self.map.values().map(|e| e.last).collect();
            let drop = self.map.len() - target;
            let (_, cut, _) = lasts.select_nth_unstable(drop.saturating_sub(1));
            let cut = *cut;
            self.map.retain(|_, e| e.last > cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_slides_bucket_by_bucket() {
        let mut w = Window::default();
        w.add(100, 1);
        w.add(105, 2);
        assert_eq!(w.total(105), 3);
        assert_eq!(w.total(109), 3);
        assert_eq!(w.total(110), 2, "bucket 100 has left the window");
        assert_eq!(w.total(115), 0);
        assert_eq!((w.at(105), w.at(100), w.at(99)), (2, 1, 0));
        w.add(200, 1);
        assert_eq!(w.total(200), 1);
    }

    #[test]
    fn window_ignores_a_clock_that_goes_back() {
        let mut w = Window::default();
        w.add(100, 1);
        w.add(50, 1);
        w.add(i64::MIN, 1);
        assert_eq!(w.total(100), 3);
        assert_eq!(w.total(i64::MAX), 0);
        assert_eq!(w.total(i64::MIN), 3);
    }

    #[test]
    fn table_stays_under_its_cap() {
        let mut t = Table::new(100);
        for k in 0..10_000u64 {
            t.strike(k, 5, 3);
            assert!(t.len() <= 100);
        }
        // Keys at the level that matters survive a flood of one-strike keys.
        let mut t = Table::new(100);
        for _ in 0..5 {
            t.strike(u64::MAX, 5, 3);
        }
        for k in 0..10_000u64 {
            t.strike(k, 5, 3);
        }
        assert_eq!(t.count(u64::MAX, 5), 5);
    }
}
