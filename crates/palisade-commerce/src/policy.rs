//! The marketplace's business policy: the platform's fee on completed orders and how long buyer protection
//! holds the money after delivery.
//!
//! These are the operator's decisions, set in configuration and handed to the web layer and the job runner as one
//! [`Policy`]; handlers never pick a fee or a window themselves, so the storefront, the merchant pages, the API, the
//! operator's dispute decisions and the escrow job cannot disagree.

use std::time::Duration;

use serde::Serialize;

/// Basis points in one whole (100 %).
const BPS_WHOLE: i64 = 10_000;

/// The platform fee is at most this (30 %): a larger value is a typo in the configuration, not a business model.
pub const MAX_PLATFORM_FEE_BPS: u32 = 3_000;
/// Buyer protection after delivery lasts at least a day, so a buyer can look at the parcel before the money moves.
pub const MIN_PROTECTION_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// …and at most 90 days: money held longer than a quarter starves the merchant.
pub const MAX_PROTECTION_WINDOW: Duration = Duration::from_secs(90 * 24 * 3600);
/// Default buyer-protection window: 7 days after delivery.
pub const DEFAULT_PROTECTION_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// A policy value outside what the platform accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("the platform fee is {0} basis points; at most {MAX_PLATFORM_FEE_BPS} (30%) is accepted")]
    FeeTooHigh(u32),
    #[error("the buyer-protection window must be between 1 and 90 days (got {} hours)", .0.as_secs() / 3600)]
    WindowOutOfRange(Duration),
}

/// The fee and the protection window, validated. Built with [`Policy::new`] (or [`Policy::default`]: no fee,
/// 7 days), so a value in hand is always acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    platform_fee_bps: u32,
    #[serde(serialize_with = "as_secs")]
    protection_window: Duration,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Default for Policy {
    /// No platform fee; 7 days of buyer protection.
    fn default() -> Self {
        Self { platform_fee_bps: 0, protection_window: DEFAULT_PROTECTION_WINDOW }
    }
}

impl Policy {
    /// A policy taking `platform_fee_bps` (hundredths of a percent: 250 is 2.5 %) of each completed order and
    /// holding delivered orders' money for `protection_window`.
    pub fn new(platform_fee_bps: u32, protection_window: Duration) -> Result<Self, PolicyError> {
        if platform_fee_bps > MAX_PLATFORM_FEE_BPS {
            return Err(PolicyError::FeeTooHigh(platform_fee_bps));
        }
        if !(MIN_PROTECTION_WINDOW..=MAX_PROTECTION_WINDOW).contains(&protection_window) {
            return Err(PolicyError::WindowOutOfRange(protection_window));
        }
        Ok(Self { platform_fee_bps, protection_window })
    }

    /// The platform fee in basis points.
    #[must_use]
    pub fn platform_fee_bps(&self) -> u32 {
        self.platform_fee_bps
    }

    /// How long after delivery an undisputed order's money stays in escrow.
    #[must_use]
    pub fn protection_window(&self) -> Duration {
        self.protection_window
    }

    /// The protection window in whole days (what pages tell buyers and merchants).
    #[must_use]
    pub fn protection_days(&self) -> u64 {
        self.protection_window.as_secs() / (24 * 3600)
    }

    /// The fee as a percentage for people to read: `2.5`, `10`, `0.25`.
    #[must_use]
    pub fn fee_percent_text(&self) -> String {
        let (whole, frac) = (self.platform_fee_bps / 100, self.platform_fee_bps % 100);
        if frac == 0 { whole.to_string() } else { format!("{whole}.{frac:02}").trim_end_matches('0').to_owned() }
    }

    /// The platform's fee on `released_minor` (what an order's escrow releases), rounded down to the minor unit
    /// so the merchant never pays a fraction more than the rate; never negative, never more than the amount.
    #[must_use]
    pub fn fee_on(&self, released_minor: i64) -> i64 {
        if released_minor <= 0 {
            return 0;
        }
        let fee = i128::from(released_minor) * i128::from(self.platform_fee_bps) / i128::from(BPS_WHOLE);
        i64::try_from(fee).unwrap_or(released_minor).clamp(0, released_minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn the_default_takes_no_fee_and_protects_for_a_week() {
        let p = Policy::default();
        assert_eq!(p.platform_fee_bps(), 0);
        assert_eq!(p.fee_on(12_345), 0);
        assert_eq!(p.protection_window(), 7 * DAY);
        assert_eq!(p.protection_days(), 7);
    }

    #[test]
    fn the_fee_reads_as_a_percentage() {
        let text = |bps| Policy::new(bps, DAY).unwrap().fee_percent_text();
        assert_eq!(
            (text(0), text(250), text(1_000), text(25), text(1_205)),
            ("0".into(), "2.5".into(), "10".into(), "0.25".into(), "12.05".into())
        );
    }

    #[test]
    fn fees_are_basis_points_rounded_down() {
        let p = Policy::new(250, DAY).unwrap();
        assert_eq!(p.fee_on(10_000), 250);
        assert_eq!(p.fee_on(4_200), 105);
        assert_eq!(p.fee_on(39), 0, "2.5% of 39 is 0.975: rounded down");
        assert_eq!(p.fee_on(0), 0);
        assert_eq!(p.fee_on(-5), 0);
        let max = Policy::new(MAX_PLATFORM_FEE_BPS, DAY).unwrap();
        assert_eq!(max.fee_on(i64::MAX), 2_767_011_611_056_432_742, "30% of i64::MAX, without overflow");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert_eq!(Policy::new(3_001, DAY), Err(PolicyError::FeeTooHigh(3_001)));
        assert!(Policy::new(3_000, DAY).is_ok());
        assert!(matches!(Policy::new(0, DAY - Duration::from_secs(1)), Err(PolicyError::WindowOutOfRange(_))));
        assert!(matches!(Policy::new(0, 91 * DAY), Err(PolicyError::WindowOutOfRange(_))));
        assert!(Policy::new(0, 90 * DAY).is_ok());
    }
}
