//! The store-wide signal: a store whose declines (and unsolved challenges, and refusals) in the window pass its
//! own baseline is on *alert* — every card it has not seen approved is challenged; when, on alert, the attempts
//! let through on a solved challenge still mostly decline (bots that solve proofs of work), it goes into
//! *lockdown* — guest attempts with a card it has not seen approved are refused. Both states hold for a while, so
//! a burst that pauses does not start again from zero.

use super::Thresholds;
use super::window::{BUCKETS, Window};

/// Smoothing of the baseline per bucket (a time constant of about 120 buckets, i.e. two hours by default).
const ALPHA: f64 = 1.0 / 120.0;

/// One store's counters.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreState {
    declines: Window,
    refusals: Window,
    challenges: Window,
    solved: Window,
    solved_outcomes: Window,
    solved_declines: Window,
    /// Declines per bucket, smoothed; not updated while on alert (an attack must not become the baseline).
    baseline: f64,
    /// Approvals, and their baseline per bucket (what a store's normal trade looks like, for the lockdown budget).
    approvals: Window,
    approval_baseline: f64,
    /// New guests let through to a challenge during lockdown: a token bucket, and when it was last filled.
    tokens: f64,
    tokens_at: Option<i64>,
    folded: Option<i64>,
    alert_until: i64,
    lockdown_until: i64,
    pub(crate) last: i64,
}

/// What the store-wide signal says about an attempt with a card the store has not seen approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreLevel {
    Calm,
    Alert,
    Lockdown,
}

impl StoreState {
    /// The store's level at `now` (ms).
    pub(crate) fn level(&self, now: i64) -> StoreLevel {
        if self.lockdown_until > now {
            StoreLevel::Lockdown
        } else if self.alert_until > now {
            StoreLevel::Alert
        } else {
            StoreLevel::Calm
        }
    }

    /// Whether the store has anything worth keeping (used when the store table is full).
    pub(crate) fn idle(&self, now: i64, bucket: i64) -> bool {
        self.level(now) == StoreLevel::Calm && self.declines.total(bucket) == 0 && self.baseline < 0.05
    }

    /// Folds completed buckets into the baseline.
    fn fold(&mut self, now: i64, bucket: i64) {
        let from = match self.folded {
            Some(f) => f,
            None => {
                self.folded = Some(bucket.saturating_sub(1));
                return;
            }
        };
        let upto = bucket.saturating_sub(1);
        if upto <= from {
            return;
        }
        self.folded = Some(upto);
        if self.alert_until > now {
            return;
        }
        let oldest_kept = bucket.saturating_sub(BUCKETS as i64);
        let zeros = oldest_kept.saturating_sub(from.saturating_add(1)).clamp(0, 100_000);
        let decay = (1.0 - ALPHA).powi(i32::try_from(zeros).unwrap_or(100_000));
        self.baseline *= decay;
        self.approval_baseline *= decay;
        let start = from.saturating_add(1).max(oldest_kept);
        let mut b = start;
        while b <= upto {
            self.baseline = self.baseline * (1.0 - ALPHA) + f64::from(self.declines.at(b)) * ALPHA;
            self.approval_baseline = self.approval_baseline * (1.0 - ALPHA) + f64::from(self.approvals.at(b)) * ALPHA;
            b = b.saturating_add(1);
        }
    }

    /// The alert threshold: the floor, or a multiple of the baseline's declines per window.
    fn threshold(&self, th: &Thresholds) -> u32 {
        let per_window = self.baseline * BUCKETS as f64 * f64::from(th.store_alert_multiple);
        let scaled = if per_window.is_finite() && per_window < f64::from(u32::MAX) {
            per_window.ceil() as u32
        } else {
            u32::MAX
        };
        scaled.max(th.store_alert_floor)
    }

    /// Whether a new guest may be let through to a challenge during lockdown: a token bucket refilled at a share
    /// of the store's usual approvals (at least a floor), so a bot's fresh addresses cannot all get an attempt.
    pub(crate) fn admit(&mut self, now: i64, th: &Thresholds) -> bool {
        let bucket_ms = (ms(th.window) / BUCKETS as i64).max(1) as f64;
        let usual_per_ms = self.approval_baseline / bucket_ms * f64::from(th.lockdown_admit_percent) / 100.0;
        let floor_per_ms = f64::from(th.lockdown_admit_per_hour) / 3_600_000.0;
        let rate = usual_per_ms.max(floor_per_ms);
        let cap = f64::from(th.lockdown_admit_burst);
        let elapsed = self.tokens_at.map_or(f64::INFINITY, |at| now.saturating_sub(at).max(0) as f64);
        let refill = elapsed * rate;
        self.tokens = if refill.is_finite() { (self.tokens + refill).min(cap) } else { cap };
        self.tokens_at = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Re-evaluates alert and lockdown after a change.
    fn refresh(&mut self, now: i64, bucket: i64, th: &Thresholds) {
        let unsolved = self.challenges.total(bucket).saturating_sub(self.solved.total(bucket));
        let pressure = self.declines.total(bucket).saturating_add(unsolved).saturating_add(self.refusals.total(bucket));
        if pressure >= self.threshold(th) {
            self.alert_until = now.saturating_add(ms(th.alert_hold));
        }
        let bad = self.solved_declines.total(bucket);
        let through = self.solved_outcomes.total(bucket).max(1);
        let ratio_ok = u64::from(bad) * 100 >= u64::from(through) * u64::from(th.lockdown_decline_percent);
        let locked = self.lockdown_until > now;
        let sustained = locked && self.refusals.total(bucket) >= self.threshold(th);
        if sustained || (self.alert_until > now && bad >= th.lockdown_after && ratio_ok) {
            self.lockdown_until = now.saturating_add(ms(th.lockdown_hold));
        }
    }

    /// Records what the guard decided for an attempt at this store.
    pub(crate) fn on_check(&mut self, now: i64, bucket: i64, th: &Thresholds, event: StoreEvent) {
        self.fold(now, bucket);
        self.last = self.last.max(now);
        match event {
            StoreEvent::Refused => self.refusals.add(bucket, 1),
            StoreEvent::Challenged => self.challenges.add(bucket, 1),
            StoreEvent::Solved => self.solved.add(bucket, 1),
            StoreEvent::Passed => return,
        }
        self.refresh(now, bucket, th);
    }

    /// Records the gateway's answer.
    pub(crate) fn on_outcome(&mut self, now: i64, bucket: i64, th: &Thresholds, declined: Declined, solved: Solved) {
        self.fold(now, bucket);
        self.last = self.last.max(now);
        if declined == Declined::Yes {
            self.declines.add(bucket, 1);
        } else {
            self.approvals.add(bucket, 1);
        }
        if solved == Solved::Yes {
            self.solved_outcomes.add(bucket, 1);
            if declined == Declined::Yes {
                self.solved_declines.add(bucket, 1);
            }
        }
        self.refresh(now, bucket, th);
    }
}

/// What `check` did with an attempt, as the store's counters see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreEvent {
    Refused,
    Challenged,
    Solved,
    Passed,
}

/// Whether the gateway declined (a named flag, not a bare bool).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Declined {
    Yes,
    No,
}

/// Whether the attempt came through a solved challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Solved {
    Yes,
    No,
}

/// A duration in milliseconds, saturating.
pub(crate) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
