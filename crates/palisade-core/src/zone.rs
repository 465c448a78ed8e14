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
}
