//! GCRA (the generic cell rate algorithm): a rate limit kept as one number per key, the theoretical arrival
//! time (TAT) of the next request. A request at `now` is allowed when `now >= TAT - tolerance`; the TAT then
//! moves on by one emission interval. Equivalent to a token bucket with `burst` tokens refilled at `rate`, without
//! a timer or a counter to reset — which is what lets Redis run it as one atomic script for many nodes.

use std::collections::HashMap;
use std::sync::Mutex;

/// A limit: `per_minute` requests on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

impl Rate {
    /// Milliseconds between requests at the average rate.
    #[must_use]
    pub fn interval_ms(self) -> i64 {
        60_000 / i64::from(self.per_minute.max(1))
    }

    /// How far ahead of schedule a client may run (the burst).
    #[must_use]
    pub fn tolerance_ms(self) -> i64 {
        self.interval_ms() * i64::from(self.burst.saturating_sub(1))
    }
}

/// The decision for one request: allowed, or refused with the wait until the next would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Wait { retry_after_ms: i64 },
}

/// One GCRA step: given the stored TAT (if any), decide and return the TAT to store.
#[must_use]
pub fn step(tat: Option<i64>, now: i64, rate: Rate) -> (Decision, i64) {
    let tat = tat.unwrap_or(now).max(now);
    let allow_at = tat - rate.tolerance_ms();
    if allow_at > now {
        return (Decision::Wait { retry_after_ms: allow_at - now }, tat);
    }
    (Decision::Allow, tat + rate.interval_ms())
}

/// In-process limiter state (one node), sharded to keep lock hold times short.
#[derive(Debug)]
pub struct Local {
    shards: Vec<Mutex<HashMap<String, i64>>>,
}

impl Default for Local {
    fn default() -> Self {
        Self { shards: (0..32).map(|_| Mutex::new(HashMap::new())).collect() }
    }
}

/// Entries per shard before expired ones are swept.
const SWEEP_AT: usize = 8192;

impl Local {
    fn shard(&self, key: &str) -> Option<&Mutex<HashMap<String, i64>>> {
        let h = key.bytes().fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(usize::from(b)));
        self.shards.get(h % self.shards.len().max(1))
    }

    /// Checks and counts one request for `key`.
    pub fn check(&self, key: &str, now: i64, rate: Rate) -> Decision {
        let Some(shard) = self.shard(key) else { return Decision::Allow };
        let Ok(mut map) = shard.lock() else { return Decision::Allow };
        if map.len() >= SWEEP_AT {
            // A key whose TAT has passed is the same as no key: forget it.
            map.retain(|_, tat| *tat > now);
        }
        let (decision, tat) = step(map.get(key).copied(), now, rate);
        if decision == Decision::Allow {
            map.insert(key.to_owned(), tat);
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_average_rate() {
        let rate = Rate { per_minute: 60, burst: 3 };
        let l = Local::default();
        assert_eq!(l.check("a", 0, rate), Decision::Allow);
        assert_eq!(l.check("a", 0, rate), Decision::Allow);
        assert_eq!(l.check("a", 0, rate), Decision::Allow);
        assert_eq!(l.check("a", 0, rate), Decision::Wait { retry_after_ms: 1000 });
        assert_eq!(l.check("b", 0, rate), Decision::Allow, "keys are independent");
        assert_eq!(l.check("a", 1000, rate), Decision::Allow);
        assert_eq!(l.check("a", 1000, rate), Decision::Wait { retry_after_ms: 1000 });
        // After a long quiet spell the full burst is back.
        for _ in 0..3 {
            assert_eq!(l.check("a", 60_000, rate), Decision::Allow);
        }
    }
}
