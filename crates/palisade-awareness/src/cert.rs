//! Certification: where a member stands on a module at an injected "now".
//!
//! Rules (issue #22): a pass certifies for 12 calendar months; new staff have 14 days from joining; reminders
//! go out 30, 7 and 1 days before the due date; after it the member is overdue. A new module version makes
//! earlier passes stale only if the version (or one between) is marked `major`; then a certified member has 30
//! days from the major version's publication date (or until the old expiry, if sooner).
//!
//! Staff who were already employed when training started should be given the launch date as `joined_at`,
//! otherwise they are overdue on day one.

use serde::{Deserialize, Serialize};

use crate::content::Module;
use crate::quiz::{Completion, MemberId};

/// How long a pass is valid.
pub const VALID_MONTHS: i64 = 12;
/// Grace for new staff, from joining.
pub const NEW_STAFF_DAYS: i64 = 14;
/// Grace after a major module change, from its publication date.
pub const MAJOR_CHANGE_DAYS: i64 = 30;

/// A member as certification needs them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: MemberId,
    pub joined_at: jiff::Timestamp,
}

/// Which reminder is due, by time left before the due date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    ThirtyDays,
    SevenDays,
    OneDay,
}

impl Reminder {
    /// The stage for `left` until the due date: the most urgent threshold (30, 7, 1 days) not yet passed.
    #[must_use]
    pub fn for_time_left(left: jiff::SignedDuration) -> Option<Self> {
        let day = jiff::SignedDuration::from_hours(24);
        if left <= jiff::SignedDuration::ZERO {
            None
        } else if left <= day {
            Some(Self::OneDay)
        } else if left <= day * 7 {
            Some(Self::SevenDays)
        } else if left <= day * 30 {
            Some(Self::ThirtyDays)
        } else {
            None
        }
    }

    /// The reminder to send now given the last one sent: only a stage more urgent than it, so a daily job sends
    /// each of the three at most once per cycle.
    #[must_use]
    pub fn to_send(current: Option<Self>, last_sent: Option<Self>) -> Option<Self> {
        match (current, last_sent) {
            (Some(c), Some(l)) if c <= l => None,
            (c, _) => c,
        }
    }
}

/// A member's standing on one module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Standing {
    /// Passed a current version; valid until `expires_at`.
    Certified { expires_at: jiff::Timestamp, reminder: Option<Reminder> },
    /// Not (or no longer) certified but within a grace period (new staff, or a major change).
    Due { due_at: jiff::Timestamp, reminder: Option<Reminder> },
    /// Past the due date.
    Overdue { due_at: jiff::Timestamp },
}

impl Standing {
    /// Counts toward "staff trained": certified, or new staff / major-change grace not yet run out.
    #[must_use]
    pub fn in_good_standing(&self) -> bool {
        !matches!(self, Self::Overdue { .. })
    }

    /// The reminder stage now, if any.
    #[must_use]
    pub fn reminder(&self) -> Option<Reminder> {
        match self {
            Self::Certified { reminder, .. } | Self::Due { reminder, .. } => *reminder,
            Self::Overdue { .. } => None,
        }
    }
}

/// `t` plus whole calendar units in UTC (12 months from 29 February lands on 28 February); saturates at the
/// far future rather than failing, since a certificate that never expires is not a risk here.
fn add_span(t: jiff::Timestamp, span: jiff::Span) -> jiff::Timestamp {
    t.to_zoned_datetime(jiff::tz::TimeZone::UTC).checked_add(span).map_or(jiff::Timestamp::MAX, |z| z.timestamp())
}

/// When a pass at `at` expires.
#[must_use]
pub fn expiry_of(at: jiff::Timestamp) -> jiff::Timestamp {
    add_span(at, jiff::Span::new().months(VALID_MONTHS))
}

/// Where `member` stands on `module` at `now`, from their completions (any module, any member: the rest are
/// ignored, as are failed attempts and records dated after `now`).
#[must_use]
pub fn standing(module: &Module, member: &Member, completions: &[Completion], now: jiff::Timestamp) -> Standing {
    let passes = || {
        completions
            .iter()
            .filter(|c| c.member == member.id && c.module == module.id && c.passed && c.completed_at <= now)
    };
    let from = module.certifies_from();
    let current = passes().filter(|c| c.version >= from).map(|c| c.completed_at).max();
    if let Some(at) = current {
        let expires_at = expiry_of(at);
        if expires_at > now {
            return Standing::Certified {
                expires_at,
                reminder: Reminder::for_time_left(expires_at.duration_since(now)),
            };
        }
        return Standing::Overdue { due_at: expires_at };
    }
    let new_staff = add_span(member.joined_at, jiff::Span::new().days(NEW_STAFF_DAYS));
    let stale = passes().map(|c| c.completed_at).max().map(expiry_of);
    let due_at = match (stale, module.last_major()) {
        (Some(old_expiry), Some(major)) => {
            let published = major.date.to_zoned_datetime(jiff::tz::TimeZone::UTC).map_or(now, |z| z.timestamp());
            old_expiry.min(add_span(published, jiff::Span::new().days(MAJOR_CHANGE_DAYS))).max(new_staff)
        }
        _ => new_staff,
    };
    if due_at > now {
        Standing::Due { due_at, reminder: Reminder::for_time_left(due_at.duration_since(now)) }
    } else {
        Standing::Overdue { due_at }
    }
}

/// Share of `members` in good standing on every module, as (in good standing, total) — the evidence for the
/// matrix control "staff trained within 12 months".
#[must_use]
pub fn coverage(
    modules: &[Module],
    members: &[Member],
    completions: &[Completion],
    now: jiff::Timestamp,
) -> (usize, usize) {
    let good = members
        .iter()
        .filter(|m| modules.iter().all(|module| standing(module, m, completions, now).in_good_standing()))
        .count();
    (good, members.len())
}
