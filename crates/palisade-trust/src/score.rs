//! The explainable order score: 0 (nothing unusual) to 100 (stop it), with the reasons that made it.
//!
//! Each signal adds a fixed number of points when its threshold is passed; an established customer takes a few
//! off; the total is clamped to 0–100. Integers only, no allocation, no randomness: the same features always give
//! the same score and reasons, and a merchant can read why (the review queue shows the top three reasons).
//! The point values are a starting calibration; the simulator (item 3) is where they get tuned.

use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::features::{CategoryRisk, Country, EmailDomain, Familiarity, OrderFeatures};

/// Why an order scored what it did. The code is stable (stored with the order, used in reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonCode {
    CardVelocity,
    FailedAttempts,
    EmailVelocity,
    DeviceVelocity,
    AddressVelocity,
    NewAccountHighValue,
    AmountAboveHistory,
    CardShipCountryMismatch,
    IpCountryMismatch,
    BillingShipCountryMismatch,
    DisposableEmail,
    RiskyCategory,
    NewDeviceAndAddress,
    ForwardingAddress,
    StoreFailures,
}

/// Number of reason codes (the size of the scorer's fixed working array).
const CODES: usize = 15;

impl ReasonCode {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ReasonCode::CardVelocity => "card_velocity",
            ReasonCode::FailedAttempts => "failed_attempts",
            ReasonCode::EmailVelocity => "email_velocity",
            ReasonCode::DeviceVelocity => "device_velocity",
            ReasonCode::AddressVelocity => "address_velocity",
            ReasonCode::NewAccountHighValue => "new_account_high_value",
            ReasonCode::AmountAboveHistory => "amount_above_history",
            ReasonCode::CardShipCountryMismatch => "card_ship_country_mismatch",
            ReasonCode::IpCountryMismatch => "ip_country_mismatch",
            ReasonCode::BillingShipCountryMismatch => "billing_ship_country_mismatch",
            ReasonCode::DisposableEmail => "disposable_email",
            ReasonCode::RiskyCategory => "risky_category",
            ReasonCode::NewDeviceAndAddress => "new_device_and_address",
            ReasonCode::ForwardingAddress => "forwarding_address",
            ReasonCode::StoreFailures => "store_failures",
        }
    }

    /// The reason in plain English, for the merchant's review queue.
    pub fn text(self) -> &'static str {
        match self {
            ReasonCode::CardVelocity => {
                "This card was used for several orders in a short time (a sign of card testing)."
            }
            ReasonCode::FailedAttempts => "There were failed payment attempts before this one.",
            ReasonCode::EmailVelocity => "Many orders came from this email address today.",
            ReasonCode::DeviceVelocity => "Many orders came from this device today.",
            ReasonCode::AddressVelocity => {
                "Many orders are going to this shipping address today (a sign of reshipping)."
            }
            ReasonCode::NewAccountHighValue => "A new account is placing a large order.",
            ReasonCode::AmountAboveHistory => "The order is much larger than this store's usual order.",
            ReasonCode::CardShipCountryMismatch => {
                "The card was issued in a different country from the shipping address."
            }
            ReasonCode::IpCountryMismatch => {
                "The buyer is connecting from a country that matches neither the card nor the shipping address."
            }
            ReasonCode::BillingShipCountryMismatch => "The billing and shipping addresses are in different countries.",
            ReasonCode::DisposableEmail => "The email address is from a disposable-mail service.",
            ReasonCode::RiskyCategory => "The order contains products that fraudsters often buy (resellable goods).",
            ReasonCode::NewDeviceAndAddress => {
                "An existing account is ordering from a new device to a new address (a sign of a stolen login)."
            }
            ReasonCode::ForwardingAddress => {
                "Several foreign cards paid for orders to this address this week (a sign of a reshipping address)."
            }
            ReasonCode::StoreFailures => {
                "Many payments failed at this store in the last hour (a sign of a card-testing attack)."
            }
        }
    }
}

/// One reason with the points it added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    pub code: ReasonCode,
    pub points: u8,
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Reason", 3)?;
        st.serialize_field("code", self.code.code())?;
        st.serialize_field("points", &self.points)?;
        st.serialize_field("text", self.code.text())?;
        st.end()
    }
}

/// How many reasons a score keeps.
pub const TOP_REASONS: usize = 3;

/// A score and its top reasons (highest points first; ties in [`ReasonCode`] order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Score {
    value: u8,
    top: [Reason; TOP_REASONS],
    len: usize,
}

impl Score {
    /// 0–100.
    pub fn value(&self) -> u8 {
        self.value
    }

    /// The top reasons, at most [`TOP_REASONS`], none with zero points.
    pub fn reasons(&self) -> &[Reason] {
        self.top.get(..self.len).unwrap_or(&[])
    }
}

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Score", 2)?;
        st.serialize_field("score", &self.value)?;
        st.serialize_field("reasons", self.reasons())?;
        st.end()
    }
}

/// `amount ≥ factor × median`, exactly, without overflow.
fn at_least_times(amount: i64, median: Option<i64>, factor: i64) -> bool {
    match median {
        Some(m) if m > 0 => i128::from(amount.max(0)) >= i128::from(m) * i128::from(factor),
        _ => false,
    }
}

fn differ(a: Option<Country>, b: Option<Country>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

fn tier(n: u32, tiers: &[(u32, u8)]) -> u8 {
    tiers.iter().find(|(at, _)| n >= *at).map_or(0, |(_, p)| *p)
}

fn card_points(f: &OrderFeatures) -> u8 {
    let hour = tier(f.velocity.card_1h, &[(10, 35), (5, 25), (3, 12)]);
    if hour > 0 { hour } else { tier(f.velocity.card_24h, &[(10, 10)]) }
}

fn new_account_points(f: &OrderFeatures) -> u8 {
    let big = at_least_times(f.amount_minor, f.store_median_minor, 3);
    match (big, f.account_age_days, f.customer_orders) {
        (true, 0, 0) => 20,
        (true, 0..7, _) => 12,
        _ => 0,
    }
}

fn ip_points(f: &OrderFeatures) -> u8 {
    let far = |other: Option<Country>| other.is_some_and(|o| Some(o) != f.ip_country);
    if f.ip_country.is_some() && far(f.card_country) && far(f.ship_country) { 10 } else { 0 }
}

/// Both unfamiliar: the person behind an established account may not be its owner.
fn takeover(f: &OrderFeatures) -> bool {
    f.account_device == Familiarity::New && f.account_address == Familiarity::New
}

fn signals(f: &OrderFeatures) -> [Reason; CODES] {
    let amount_points = if at_least_times(f.amount_minor, f.store_median_minor, 10) {
        20
    } else if at_least_times(f.amount_minor, f.store_median_minor, 3) {
        10
    } else {
        0
    };
    let r = |code, points| Reason { code, points };
    [
        r(ReasonCode::CardVelocity, card_points(f)),
        r(ReasonCode::FailedAttempts, tier(f.failed_attempts_1h, &[(5, 30), (3, 20), (2, 10), (1, 5)])),
        r(ReasonCode::EmailVelocity, tier(f.velocity.email_24h, &[(10, 15), (5, 8)])),
        r(ReasonCode::DeviceVelocity, tier(f.velocity.device_24h, &[(10, 15), (5, 8)])),
        r(ReasonCode::AddressVelocity, tier(f.velocity.address_24h, &[(10, 20), (5, 10)])),
        r(ReasonCode::NewAccountHighValue, new_account_points(f)),
        r(ReasonCode::AmountAboveHistory, amount_points),
        r(ReasonCode::CardShipCountryMismatch, if differ(f.card_country, f.ship_country) { 15 } else { 0 }),
        r(ReasonCode::IpCountryMismatch, ip_points(f)),
        r(ReasonCode::BillingShipCountryMismatch, if differ(f.billing_country, f.ship_country) { 5 } else { 0 }),
        r(ReasonCode::DisposableEmail, if f.email_domain == EmailDomain::Disposable { 15 } else { 0 }),
        r(
            ReasonCode::RiskyCategory,
            match f.category_risk {
                CategoryRisk::High => 10,
                CategoryRisk::Medium => 4,
                CategoryRisk::Low => 0,
            },
        ),
        r(ReasonCode::NewDeviceAndAddress, if takeover(f) { 25 } else { 0 }),
        r(ReasonCode::ForwardingAddress, tier(f.velocity.address_foreign_cards_7d, &[(3, 25), (2, 10)])),
        r(ReasonCode::StoreFailures, tier(f.store_failed_1h, &[(10, 20), (5, 10)])),
    ]
}

/// Points taken off for a customer with a paid history: their risk is lower, and most false positives hit them.
/// None when the device and address are both new to the account: the history belongs to the owner, who may not
/// be the one ordering.
fn loyalty_discount(f: &OrderFeatures) -> u32 {
    if takeover(f) {
        return 0;
    }
    match (f.customer_orders, f.account_age_days) {
        (3.., 30..) => 15,
        (1.., _) => 5,
        _ => 0,
    }
}

/// Scores an order. Pure, deterministic, allocation-free.
pub fn score(f: &OrderFeatures) -> Score {
    let mut all = signals(f);
    let total: u32 = all.iter().map(|r| u32::from(r.points)).sum();
    let value = total.saturating_sub(loyalty_discount(f)).min(100);
    all.sort_unstable_by(|a, b| b.points.cmp(&a.points).then(a.code.cmp(&b.code)));
    let blank = Reason { code: ReasonCode::CardVelocity, points: 0 };
    let mut top = [blank; TOP_REASONS];
    let mut len = 0;
    for (slot, r) in top.iter_mut().zip(all.iter().filter(|r| r.points > 0)) {
        *slot = *r;
        len += 1;
    }
    Score { value: u8::try_from(value).unwrap_or(100), top, len }
}

#[cfg(test)]
mod tests {
    use palisade_core::money::Currency;

    use super::*;
    use crate::features::Velocity;

    fn sg() -> Option<Country> {
        Country::parse("SG")
    }

    #[test]
    fn a_quiet_order_scores_zero_with_no_reasons() {
        let s = score(&OrderFeatures::baseline(4_500, Currency::SGD));
        assert_eq!(s.value(), 0);
        assert!(s.reasons().is_empty());
    }

    #[test]
    fn card_testing_scores_high_and_says_why() {
        let mut f = OrderFeatures::baseline(100, Currency::SGD);
        f.velocity = Velocity { card_1h: 12, card_24h: 12, ..Velocity::default() };
        f.failed_attempts_1h = 6;
        f.email_domain = EmailDomain::Disposable;
        f.category_risk = CategoryRisk::Medium;
        let s = score(&f);
        assert_eq!(s.value(), 35 + 30 + 15 + 4);
        let codes: Vec<_> = s.reasons().iter().map(|r| r.code.code()).collect();
        assert_eq!(codes, ["card_velocity", "failed_attempts", "disposable_email"]);
        let json = serde_json::to_value(s).unwrap();
        assert_eq!(json["reasons"][0]["code"], "card_velocity");
        assert!(json["reasons"][0]["text"].as_str().unwrap().contains("card testing"));
    }

    #[test]
    fn countries_and_history() {
        let mut f = OrderFeatures::baseline(500_000, Currency::SGD);
        f.store_median_minor = Some(5_000);
        f.card_country = Country::parse("us");
        f.ship_country = sg();
        f.billing_country = Country::parse("US");
        f.ip_country = Country::parse("NG");
        let s = score(&f);
        // amount 100× median (20), new account big order (20), card≠ship (15), ip elsewhere (10), billing≠ship (5).
        assert_eq!(s.value(), 70);
        assert_eq!(s.reasons().len(), 3);
        assert_eq!(s.reasons()[0].code, ReasonCode::NewAccountHighValue, "ties go in code order");
        // Unknown countries never count as a mismatch.
        f.ship_country = None;
        f.ip_country = None;
        assert_eq!(score(&f).value(), 40);
    }

    #[test]
    fn clamped_and_discounted() {
        let mut f = OrderFeatures::baseline(i64::MAX, Currency::SGD);
        f.store_median_minor = Some(1);
        f.velocity = Velocity {
            card_1h: u32::MAX,
            card_24h: u32::MAX,
            email_24h: 99,
            device_24h: 99,
            address_24h: 99,
            address_foreign_cards_7d: 99,
        };
        f.store_failed_1h = 99;
        f.failed_attempts_1h = u32::MAX;
        f.email_domain = EmailDomain::Disposable;
        f.category_risk = CategoryRisk::High;
        assert_eq!(score(&f).value(), 100);
        let mut loyal = OrderFeatures::baseline(-5, Currency::SGD);
        loyal.category_risk = CategoryRisk::High;
        loyal.customer_orders = 4;
        loyal.account_age_days = 400;
        assert_eq!(score(&loyal).value(), 0);
        assert_eq!(score(&loyal).reasons().len(), 1, "the reason stays even when the discount cancels it");
    }

    #[test]
    fn a_new_device_and_address_on_an_old_account_cancels_the_loyalty_discount() {
        let mut f = OrderFeatures::baseline(5_000, Currency::SGD);
        f.customer_orders = 20;
        f.account_age_days = 900;
        f.category_risk = CategoryRisk::High;
        f.account_device = Familiarity::New;
        assert_eq!(score(&f).value(), 0, "a new phone alone is common: loyalty still applies");
        f.account_address = Familiarity::New;
        let s = score(&f);
        assert_eq!(s.value(), 25 + 10, "no discount when both are new");
        assert_eq!(s.reasons()[0].code.code(), "new_device_and_address");
        f.account_address = Familiarity::NoHistory;
        assert_eq!(score(&f).value(), 0, "digital goods have no address to compare");
    }

    #[test]
    fn forwarding_addresses_and_store_failures() {
        let mut f = OrderFeatures::baseline(5_000, Currency::SGD);
        f.velocity.address_foreign_cards_7d = 2;
        assert_eq!(score(&f).value(), 10);
        f.velocity.address_foreign_cards_7d = 3;
        assert_eq!(score(&f).value(), 25);
        f.store_failed_1h = 12;
        assert_eq!(score(&f).value(), 45);
        assert_eq!(score(&f).reasons()[1].code.code(), "store_failures");
    }
}
