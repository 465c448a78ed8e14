//! Sign-in throttling, decided from a cheap database read before any password hash is computed.
//!
//! Failures are counted per account and per client IP within a sliding window. A few failures are free; after
//! that each one blocks the key for a doubling delay, and past a threshold the key is locked for a while. While a
//! key is blocked, attempts are refused at once (HTTP 429 with `Retry-After`), so guessing costs the attacker time
//! and costs the server no argon2 work.

use palisade_store::db::ExecuteWrite;
use std::time::Duration;

use palisade_core::time::Timestamp;
use palisade_store::{Db, StoreError};

/// How one kind of key is throttled.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures older than this are forgotten.
    pub window: Duration,
    /// Failures allowed before delays start.
    pub free_failures: i64,
    /// Failures at which the key is locked for `lock_for`.
    pub lock_after: i64,
    pub lock_for: Duration,
    pub max_delay: Duration,
}

/// Per account: 3 free failures, then 1 s, 2 s, 4 s … and a 15-minute lock at 10.
pub const ACCOUNT: Policy = Policy {
    window: Duration::from_secs(15 * 60),
    free_failures: 3,
    lock_after: 10,
    lock_for: Duration::from_secs(15 * 60),
    max_delay: Duration::from_secs(60),
};

/// Per IP: generous (offices and mobile carriers share addresses), but a single source cannot spray forever.
pub const IP: Policy = Policy {
    window: Duration::from_secs(15 * 60),
    free_failures: 20,
    lock_after: 200,
    lock_for: Duration::from_secs(15 * 60),
    max_delay: Duration::from_secs(60),
};

/// The throttle key of an account: a keyed hash of the normalised email (so unknown addresses are throttled
/// too, and the table never holds an address: it is read on every sign-in and lies outside erasure's reach).
#[must_use]
pub fn account_key(links: &crate::links::LinkSigner, email: &str) -> String {
    email_key(links, "account", email)
}

/// A throttle key counted per email address (`kind` names the counter: `account`, `reset`, `sell`): the kind
/// and a keyed hash of the normalised address, never the address itself.
#[must_use]
pub fn email_key(links: &crate::links::LinkSigner, kind: &str, email: &str) -> String {
    let tag = links.sign(&format!("throttle-{kind} v1"), &email.trim().to_lowercase());
    format!("{kind}:{tag}")
}

/// The throttle key of a client address: the address itself for IPv4, its /64 network for IPv6 (a provider gives
/// each line a whole /64, so one host could otherwise rotate through fresh counters at will).
#[must_use]
pub fn ip_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>().map(|a| a.to_canonical()) {
        Ok(std::net::IpAddr::V6(v6)) => {
            let net = std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1));
            format!("ip:{net}/64")
        }
        Ok(v4) => format!("ip:{v4}"),
        Err(_) => format!("ip:{ip}"),
    }
}

/// The delay after the `failures`-th failure.
#[must_use]
pub fn delay_after(policy: &Policy, failures: i64) -> Duration {
    if failures >= policy.lock_after {
        return policy.lock_for;
    }
    let over = failures - policy.free_failures;
    if over <= 0 {
        return Duration::ZERO;
    }
    let secs = 1u64.checked_shl(u32::try_from(over - 1).unwrap_or(63)).unwrap_or(u64::MAX);
    Duration::from_secs(secs).min(policy.max_delay)
}

/// If `key` is blocked now, until when.
pub async fn blocked_until(db: &Db, key: &str) -> Result<Option<Timestamp>, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT blocked_until FROM login_throttle WHERE key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    let now = db.now();
    Ok(row.map(|(b,)| Timestamp(b)).filter(|b| *b > now))
}

/// What a recorded failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub failures: i64,
    pub blocked_until: Timestamp,
    /// This failure crossed the lock threshold (time to tell the account's owner).
    pub newly_locked: bool,
}

/// Records one failure for `key`.
pub async fn record_failure(db: &Db, key: &str, policy: &Policy) -> Result<Failure, StoreError> {
    let now = db.now();
    let window_start = now.minus(policy.window).0;
    let mut tx = db.begin_write().await?;
    // Counted in one UPDATE on the row (created first if missing): concurrent failures on PostgreSQL queue on the
    // row's lock and each sees the others' counts, instead of reading the same count and losing increments.
    sqlx::query("INSERT INTO login_throttle (key, failures, last_failure_at, blocked_until) VALUES ($1, 0, 0, 0) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    let (failures,): (i64,) = sqlx::query_as(
        "UPDATE login_throttle SET failures = CASE WHEN last_failure_at >= $2 THEN failures + 1 ELSE 1 END, \
         last_failure_at = $3 WHERE key = $1 RETURNING failures",
    )
    .bind(key)
    .bind(window_start)
    .bind(now.0)
    .fetch_one(&mut *tx)
    .await?;
    let blocked_until = now.plus(delay_after(policy, failures));
    sqlx::query("UPDATE login_throttle SET blocked_until = $2 WHERE key = $1")
        .bind(key)
        .bind(blocked_until.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Failure { failures, blocked_until, newly_locked: failures == policy.lock_after })
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(db: &Db, key: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key).execute_write(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_then_lock() {
        let d: Vec<u64> = (1..=11).map(|n| delay_after(&ACCOUNT, n).as_secs()).collect();
        assert_eq!(d, vec![0, 0, 0, 1, 2, 4, 8, 16, 32, 900, 900]);
        assert_eq!(delay_after(&IP, 20), Duration::ZERO);
        assert_eq!(delay_after(&IP, 150), Duration::from_secs(60));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(ip_key("2001:db8:1:2:aaaa::1"), ip_key("2001:db8:1:2:bbbb::2"));
        assert_eq!(ip_key("2001:db8:1:2::1"), "ip:2001:db8:1:2::/64");
        assert_ne!(ip_key("2001:db8:1:3::1"), ip_key("2001:db8:1:2::1"));
        assert_eq!(ip_key("::ffff:198.51.100.7"), "ip:198.51.100.7");
        assert_eq!(ip_key("198.51.100.7"), "ip:198.51.100.7");
    }
}
