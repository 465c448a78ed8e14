//! Singapore calendar days, for the PDPA's "within N calendar days" deadlines.
//!
//! The Act counts days on the Singapore calendar, not in 24-hour blocks from an instant: an assessment made at
//! 23:50 on 1 March has until the end of 4 March (Singapore time) for the PDPC notice. Deadlines are therefore
//! kept as a local date plus the last instant of that date.

use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use palisade_core::time::Timestamp;

/// The zone PDPA days are counted in.
pub const SINGAPORE: &str = "Asia/Singapore";

fn singapore() -> TimeZone {
    // The tz database is compiled in (jiff's bundle), so the lookup cannot fail in practice; Singapore has had a
    // fixed +08:00 offset since 1982, which is the fallback.
    jiff::tz::db().get(SINGAPORE).unwrap_or_else(|_| TimeZone::fixed(jiff::tz::Offset::constant(8)))
}

/// The Singapore calendar date of an instant.
#[must_use]
pub fn sg_date(at: Timestamp) -> Date {
    let ts = jiff::Timestamp::from_millisecond(at.millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.to_zoned_datetime(singapore()).date()
}

/// An instant as Singapore local time, `YYYY-MM-DD HH:MM SGT`, for documents people read (the PDPC's forms use
/// local time).
#[must_use]
pub fn sg_time_text(at: Timestamp) -> String {
    let ts = jiff::Timestamp::from_millisecond(at.millis()).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let local = ts.to_zoned_datetime(singapore());
    format!("{} SGT", local.strftime("%Y-%m-%d %H:%M"))
}

/// `date` plus `days` calendar days (saturating at jiff's range, which no real deadline reaches).
#[must_use]
pub fn add_days(date: Date, days: i32) -> Date {
    date.checked_add(days.days()).unwrap_or(date)
}

/// Calendar days from `from` to `to` (negative if `to` is earlier).
#[must_use]
pub fn days_between(from: Date, to: Date) -> i32 {
    from.until(to).map(|span| span.get_days()).unwrap_or(0)
}

/// The last millisecond of `date` in Singapore: a deadline "by day D" is met by anything at or before it.
#[must_use]
pub fn end_of_day(date: Date) -> Timestamp {
    let next = add_days(date, 1);
    let start_next = next.to_zoned_datetime(singapore()).map(|z| z.timestamp().as_millisecond()).unwrap_or(i64::MAX);
    Timestamp(start_next.saturating_sub(1))
}

/// A deadline: the last Singapore calendar day and the last instant of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Deadline {
    /// The last day (Singapore calendar), serialised as `YYYY-MM-DD`.
    #[serde(serialize_with = "date_text")]
    pub date: Date,
    /// The last instant that still meets it.
    pub at: Timestamp,
}

fn date_text<S: serde::Serializer>(date: &Date, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(date)
}

impl Deadline {
    /// The deadline `days` calendar days after the day of `from` (Singapore), at the end of that day.
    #[must_use]
    pub fn days_after(from: Timestamp, days: i32) -> Self {
        let date = add_days(sg_date(from), days);
        Self { date, at: end_of_day(date) }
    }

    /// Whether `now` is past the deadline.
    #[must_use]
    pub fn missed_at(&self, now: Timestamp) -> bool {
        now > self.at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_singapore_days() {
        // 2026-03-01 23:50 +08:00 = 15:50 UTC. The UTC date is also 1 March, but at 16:10 UTC it is 2 March in
        // Singapore.
        let late = Timestamp(1_772_380_200_000); // 2026-03-01T15:50:00Z
        assert_eq!(sg_date(late), jiff::civil::date(2026, 3, 1));
        assert_eq!(sg_date(Timestamp(late.0 + 20 * 60_000)), jiff::civil::date(2026, 3, 2));
        let d = Deadline::days_after(late, 3);
        assert_eq!(d.date, jiff::civil::date(2026, 3, 4));
        // 2026-03-04T23:59:59.999+08:00 = 2026-03-04T15:59:59.999Z
        assert_eq!(d.at, Timestamp(1_772_639_999_999));
        assert!(!d.missed_at(d.at));
        assert!(d.missed_at(Timestamp(d.at.0 + 1)));
        assert_eq!(days_between(jiff::civil::date(2026, 2, 27), jiff::civil::date(2026, 3, 1)), 2);
    }
}
