//! The clock of an access or correction request: due within 30 days, reminders on days 7, 21 and 28, overdue
//! from day 31, and a refusal that keeps the data concerned for 30 days (so the person can still complain to the
//! PDPC about the refusal and the data is there to review).
//!
//! Days are Singapore calendar days and day 0 is the day the request was received. A pure state machine: the
//! caller persists it and calls [`RequestClock::tick`] from a job; every time reading goes through the injected
//! [`Clock`].

use std::collections::BTreeSet;

use palisade_core::time::{Clock, Timestamp};
use serde::Serialize;

use crate::calendar::{Deadline, days_between, sg_date};

/// Calendar days within which a request must be answered (day 30 is the last day).
pub const ANSWER_DAYS: i32 = 30;
/// Calendar days a refusal keeps the data concerned.
pub const KEEP_AFTER_REFUSAL_DAYS: i32 = 30;

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// A copy of their personal data and how it was used or disclosed.
    Access,
    /// A correction of their personal data.
    Correction,
}

/// A reminder to the merchant, on a fixed day of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reminder {
    /// Day 7: a week gone.
    Day7,
    /// Day 21: three weeks gone.
    Day21,
    /// Day 28: two days left.
    Day28,
}

impl Reminder {
    /// All reminders, in order.
    pub const ALL: [Reminder; 3] = [Self::Day7, Self::Day21, Self::Day28];

    /// The request day it falls on.
    #[must_use]
    pub fn day(self) -> i32 {
        match self {
            Self::Day7 => 7,
            Self::Day21 => 21,
            Self::Day28 => 28,
        }
    }
}

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Waiting for an answer.
    Open,
    /// Answered (an export or a correction).
    Answered {
        /// When.
        at: Timestamp,
    },
    /// Refused; the data concerned is kept until `keep_until`.
    Refused {
        /// When.
        at: Timestamp,
        /// The data may not be deleted before the end of this day.
        keep_until: Deadline,
    },
}

/// What the clock shows at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    /// Open and in time.
    Open {
        /// The request day (0 = day received).
        day: i32,
        /// Days left including today.
        days_left: i32,
    },
    /// Open past day 30.
    Overdue {
        /// The request day.
        day: i32,
        /// Days past the due day.
        days_late: i32,
    },
    /// Answered, in time or not.
    Answered {
        /// Whether the answer came after the due day.
        late: bool,
    },
    /// Refused; whether the kept data may now be deleted.
    Refused {
        /// The data is kept until the end of this day.
        keep_until: Deadline,
        /// Whether `now` is past it.
        may_delete: bool,
    },
}

/// Something the job should act on (send a reminder, raise the overdue flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// Send this reminder.
    Remind {
        /// Which.
        reminder: Reminder,
    },
    /// The request became overdue (raised once).
    Overdue {
        /// The request day.
        day: i32,
    },
}

/// An action refused because the request is already closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the request is already closed")]
pub struct AlreadyClosed;

/// One request's clock, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestClock {
    /// Access or correction.
    pub kind: RequestKind,
    /// When it was received (day 0 is its Singapore date).
    pub received_at: Timestamp,
    /// Open, answered or refused.
    pub state: State,
    /// Reminders already sent (or skipped because a later one was due when the job first saw them).
    pub reminders_done: BTreeSet<Reminder>,
    /// Whether the overdue event was raised.
    pub overdue_raised: bool,
}

impl RequestClock {
    /// A request received now.
    #[must_use]
    pub fn receive(kind: RequestKind, clock: &dyn Clock) -> Self {
        Self {
            kind,
            received_at: clock.now(),
            state: State::Open,
            reminders_done: BTreeSet::new(),
            overdue_raised: false,
        }
    }

    /// The answer is due by the end of day 30.
    #[must_use]
    pub fn due(&self) -> Deadline {
        Deadline::days_after(self.received_at, ANSWER_DAYS)
    }

    /// The request day at `now` (0 on the day received).
    #[must_use]
    pub fn day(&self, now: Timestamp) -> i32 {
        days_between(sg_date(self.received_at), sg_date(now))
    }

    /// What the clock shows now.
    #[must_use]
    pub fn status(&self, clock: &dyn Clock) -> Status {
        let now = clock.now();
        match self.state {
            State::Answered { at } => Status::Answered { late: self.due().missed_at(at) },
            State::Refused { keep_until, .. } => Status::Refused { keep_until, may_delete: keep_until.missed_at(now) },
            State::Open => {
                let day = self.day(now);
                if self.due().missed_at(now) {
                    Status::Overdue { day, days_late: day.saturating_sub(ANSWER_DAYS) }
                } else {
                    Status::Open { day, days_left: ANSWER_DAYS.saturating_sub(day).saturating_add(1) }
                }
            }
        }
    }

    /// Advances the clock: returns what is due now and not yet done. Reminders the job missed are not sent late
    /// in a burst: only the latest due one is sent, and none once the request is overdue.
    pub fn tick(&mut self, clock: &dyn Clock) -> Vec<Event> {
        if self.state != State::Open {
            return Vec::new();
        }
        let now = clock.now();
        let day = self.day(now);
        let mut events = Vec::new();
        let due_now: Vec<Reminder> =
            Reminder::ALL.into_iter().filter(|r| r.day() <= day && !self.reminders_done.contains(r)).collect();
        let overdue = self.due().missed_at(now);
        if let Some(latest) = due_now.last().copied()
            && !overdue
        {
            events.push(Event::Remind { reminder: latest });
        }
        self.reminders_done.extend(due_now);
        if overdue && !self.overdue_raised {
            self.overdue_raised = true;
            events.push(Event::Overdue { day });
        }
        events
    }

    /// Records the answer (export sent or correction made).
    pub fn answer(&mut self, clock: &dyn Clock) -> Result<(), AlreadyClosed> {
        if self.state != State::Open {
            return Err(AlreadyClosed);
        }
        self.state = State::Answered { at: clock.now() };
        Ok(())
    }

    /// Records a refusal; the data concerned must be kept until the returned deadline.
    pub fn refuse(&mut self, clock: &dyn Clock) -> Result<Deadline, AlreadyClosed> {
        if self.state != State::Open {
            return Err(AlreadyClosed);
        }
        let at = clock.now();
        let keep_until = Deadline::days_after(at, KEEP_AFTER_REFUSAL_DAYS);
        self.state = State::Refused { at, keep_until };
        Ok(keep_until)
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
