//! A store's time zone: an IANA name (`Asia/Singapore`) checked against the time zone database compiled into the
//! binary, and the two ways buyers see an instant in it: the local date and time, and a day-grained "3 days ago".

use std::fmt;

use serde::{Serialize, Serializer};

use crate::time::Timestamp;

/// The zone a store has until its merchant picks one.
pub const DEFAULT_ZONE: &str = "Asia/Singapore";

/// The longest name accepted (the longest IANA name is 32 characters).
const MAX_NAME: usize = 64;

/// A name that is not a time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a time zone name (use an IANA name such as Asia/Singapore or Europe/Berlin)")]
pub struct UnknownZone(pub String);

/// A time zone known to the compiled-in database, with the name it was chosen by.
#[derive(Clone)]
pub struct StoreZone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl StoreZone {
    /// The zone named `name` (an IANA name, matched without regard to case, spelt back as the database spells it).
    /// Fixed offsets (`+08:00`), POSIX rules and the empty string are refused: a store keeps the clock changes of
    /// a real place.
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        let name = name.trim();
        let refused = || UnknownZone(name.chars().take(MAX_NAME).collect());
        if name.is_empty() || name.len() > MAX_NAME || !name.chars().all(|c| c.is_ascii_graphic()) {
            return Err(refused());
        }
        let tz = jiff::tz::db().get(name).map_err(|_| refused())?;
        let name = tz.iana_name().unwrap_or(name).to_owned();
        Ok(Self { name, tz })
    }

    /// Singapore, the platform's default.
    #[must_use]
    pub fn default_zone() -> Self {
        Self::parse(DEFAULT_ZONE).unwrap_or_else(|_| Self { name: "UTC".into(), tz: jiff::tz::TimeZone::UTC })
    }

    /// A stored name; one that no longer parses (a database from a newer tzdb) shows times in the default zone
    /// rather than failing the page.
    #[must_use]
    pub fn from_stored(name: &str) -> Self {
        Self::parse(name).unwrap_or_else(|_| Self::default_zone())
    }

    /// The IANA name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn zoned(&self, at: Timestamp) -> Option<jiff::ZonedDateTime> {
        jiff::Timestamp::from_millisecond(at.0).ok().map(|t| t.to_zoned_datetime(self.tz.clone()))
    }

    /// `at` as a local date and time with the zone's abbreviation: `6 Dec 2025, 14:03 +08`.
    #[must_use]
    pub fn local(&self, at: Timestamp) -> String {
        match self.zoned(at) {
            Some(z) => z.strftime("%-d %b %Y, %H:%M %Z").to_string(),
            None => at.to_string(),
        }
    }

    /// The local calendar day of `at` (days since 1970-01-01 in this zone), which a cached page's key carries when
    /// it shows [`StoreZone::ago`].
    #[must_use]
    pub fn day(&self, at: Timestamp) -> i64 {
        self.zoned(at)
            .and_then(|z| z.date().since(jiff::civil::date(1970, 1, 1)).ok())
            .map_or(at.0.div_euclid(86_400_000), |span| i64::from(span.get_days()))
    }

    /// How long before `now` the instant `at` was, in whole local days: "today", "yesterday", "3 days ago",
    /// "2 weeks ago", "5 months ago", then the date.
    #[must_use]
    pub fn ago(&self, at: Timestamp, now: Timestamp) -> String {
        let days = self.day(now) - self.day(at);
        match days {
            i64::MIN..=0 => "today".into(),
            1 => "yesterday".into(),
            2..=13 => format!("{days} days ago"),
            14..=59 => format!("{} weeks ago", days / 7),
            60..=364 => format!("{} months ago", days / 30),
            _ => self.zoned(at).map_or_else(|| at.to_string(), |z| z.strftime("%-d %b %Y").to_string()),
        }
    }
}

impl StoreZone {
    /// How far `at` is from `now`, as staff read a list: "just now", "5 minutes ago", "3 hours ago" within a day
    /// (or "in 5 minutes", "in 3 hours" for an instant ahead, such as an expiry), then whole local days
    /// ("yesterday", "3 days ago", "tomorrow", "in 3 days"), then the date. Pair it with [`StoreZone::local`] as
    /// the exact time.
    #[must_use]
    pub fn relative(&self, at: Timestamp, now: Timestamp) -> String {
        const MINUTE: i64 = 60_000;
        const HOUR: i64 = 60 * MINUTE;
        let ahead = at.0 > now.0;
        let gap = at.0.abs_diff(now.0);
        let said = |n: u64, unit: &str| {
            let unit = if n == 1 { unit.to_owned() } else { format!("{unit}s") };
            if ahead { format!("in {n} {unit}") } else { format!("{n} {unit} ago") }
        };
        match gap {
            g if g < MINUTE.unsigned_abs() => "just now".into(),
            g if g < HOUR.unsigned_abs() => said(g / MINUTE.unsigned_abs(), "minute"),
            g if g < 24 * HOUR.unsigned_abs() => said(g / HOUR.unsigned_abs(), "hour"),
            _ if !ahead => self.ago(at, now),
            _ => match self.day(at) - self.day(now) {
                1 => "tomorrow".into(),
                d @ 2..=13 => format!("in {d} days"),
                _ => self.zoned(at).map_or_else(|| at.to_string(), |z| z.strftime("%-d %b %Y").to_string()),
            },
        }
    }

    /// `at` as an RFC 3339 instant with this zone's offset (`2025-01-01T08:00:00+08:00`), for `<time datetime>`.
    #[must_use]
    pub fn iso(&self, at: Timestamp) -> String {
        match self.zoned(at) {
            Some(z) => z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string(),
            None => at.to_string(),
        }
    }

    /// The local midnights starting each of the `days` days that end with the one holding `now`, oldest first,
    /// followed by the midnight that ends today: `days + 1` instants bounding the days (a day with a clock change
    /// is 23 or 25 hours long). On a day whose midnight is skipped the day starts at the first instant that exists.
    #[must_use]
    pub fn day_bounds(&self, now: Timestamp, days: u32) -> Vec<Timestamp> {
        let Some(today) = self.zoned(now).map(|z| z.date()) else { return Vec::new() };
        (0..=i64::from(days))
            .filter_map(|i| {
                let date = today.checked_add(jiff::Span::new().days(i - i64::from(days) + 1)).ok()?;
                let start = date.to_zoned_datetime(self.tz.clone()).ok()?;
                Some(Timestamp(start.timestamp().as_millisecond()))
            })
            .collect()
    }

    /// The local day holding `at` as people read it: "Mon 3 Nov".
    #[must_use]
    pub fn day_label(&self, at: Timestamp) -> String {
        self.zoned(at).map(|z| z.strftime("%a %-d %b").to_string()).unwrap_or_default()
    }
}

impl Default for StoreZone {
    fn default() -> Self {
        Self::default_zone()
    }
}

impl fmt::Debug for StoreZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StoreZone").field(&self.name).finish()
    }
}

impl fmt::Display for StoreZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl PartialEq for StoreZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for StoreZone {}

impl Serialize for StoreZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn real_zones_parse_and_anything_else_is_refused() {
        assert_eq!(StoreZone::parse("Asia/Singapore").unwrap().name(), "Asia/Singapore");
        assert_eq!(StoreZone::parse(" europe/berlin ").unwrap().name(), "Europe/Berlin");
        assert_eq!(StoreZone::parse("UTC").unwrap().name(), "UTC");
        for bad in ["", "Mars/Olympus", "+08:00", "Asia/Sing\napore", "../../etc/passwd", "<script>", "EST5EDT,M3"] {
            assert!(StoreZone::parse(bad).is_err(), "{bad:?}");
        }
        assert!(StoreZone::parse(&"A".repeat(200)).is_err());
    }

    #[test]
    fn local_times_follow_the_zone() {
        // 2025-01-01T00:00:00Z is 08:00 in Singapore and 01:00 in Berlin (winter).
        let at = Timestamp(1_735_689_600_000);
        assert_eq!(StoreZone::parse("Asia/Singapore").unwrap().local(at), "1 Jan 2025, 08:00 +08");
        assert_eq!(StoreZone::parse("Europe/Berlin").unwrap().local(at), "1 Jan 2025, 01:00 CET");
    }

    #[test]
    fn ago_counts_local_days() {
        let sg = StoreZone::default_zone();
        // 2025-01-01 23:30 in Singapore, and 01:00 the next local day: "yesterday" though 90 minutes apart.
        let late = Timestamp(1_735_689_600_000 + 15 * 3_600_000 + 30 * 60_000);
        let early_next = Timestamp(late.0 + 90 * 60_000);
        assert_eq!(sg.ago(late, early_next), "yesterday");
        assert_eq!(sg.ago(late, late), "today");
        assert_eq!(sg.ago(late, Timestamp(late.0 + 3 * DAY)), "3 days ago");
        assert_eq!(sg.ago(late, Timestamp(late.0 + 15 * DAY)), "2 weeks ago");
        assert_eq!(sg.ago(late, Timestamp(late.0 + 90 * DAY)), "3 months ago");
        assert_eq!(sg.ago(late, Timestamp(late.0 + 400 * DAY)), "1 Jan 2025");
        assert_eq!(sg.ago(Timestamp(late.0 + DAY), late), "today", "a clock behind never says 'in 1 day'");
    }

    #[test]
    fn relative_times_read_as_staff_say_them() {
        let sg = StoreZone::default_zone();
        let now = Timestamp(1_735_689_600_000); // 2025-01-01 08:00 in Singapore.
        let ago = |ms: i64| sg.relative(Timestamp(now.0 - ms), now);
        let ahead = |ms: i64| sg.relative(Timestamp(now.0 + ms), now);
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59_000), "just now");
        assert_eq!(ago(60_000), "1 minute ago");
        assert_eq!(ago(5 * 60_000 + 10), "5 minutes ago");
        assert_eq!(ago(3_600_000), "1 hour ago");
        assert_eq!(ago(3 * 3_600_000 + 59 * 60_000), "3 hours ago");
        assert_eq!(ago(DAY + 3_600_000), "yesterday");
        assert_eq!(ago(3 * DAY), "3 days ago");
        assert_eq!(ago(400 * DAY), "28 Nov 2023");
        assert_eq!(ahead(2 * 60_000), "in 2 minutes");
        assert_eq!(ahead(23 * 3_600_000), "in 23 hours");
        assert_eq!(ahead(DAY + 3_600_000), "tomorrow");
        assert_eq!(ahead(5 * DAY), "in 5 days");
        assert_eq!(ahead(30 * DAY), "31 Jan 2025");
        assert_eq!(sg.iso(now), "2025-01-01T08:00:00+08:00");
        assert_eq!(StoreZone::parse("UTC").unwrap().iso(now), "2025-01-01T00:00:00+00:00");
    }

    #[test]
    fn day_bounds_are_local_midnights_even_across_a_clock_change() {
        // 2025-03-31 12:00 UTC, the day after Berlin's spring change (30 March was 23 hours long).
        let now = Timestamp(1_743_422_400_000);
        let berlin = StoreZone::parse("Europe/Berlin").unwrap();
        let bounds = berlin.day_bounds(now, 3);
        let local: Vec<String> = bounds.iter().map(|b| berlin.local(*b)).collect();
        assert_eq!(
            local,
            ["29 Mar 2025, 00:00 CET", "30 Mar 2025, 00:00 CET", "31 Mar 2025, 00:00 CEST", "1 Apr 2025, 00:00 CEST"]
        );
        let lengths: Vec<i64> =
            bounds.windows(2).filter_map(|w| Some((w.get(1)?.0 - w.first()?.0) / 3_600_000)).collect();
        assert_eq!(lengths, [24, 23, 24]);
        assert_eq!(berlin.day_label(now), "Mon 31 Mar");
        let sg = StoreZone::default_zone();
        let sg_bounds = sg.day_bounds(now, 1);
        assert_eq!(
            sg_bounds.iter().map(|b| sg.local(*b)).collect::<Vec<_>>(),
            ["31 Mar 2025, 00:00 +08", "1 Apr 2025, 00:00 +08"]
        );
    }
}
