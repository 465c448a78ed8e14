//! What the scorer and the rules know about an order: plain numbers gathered by the caller (the commerce crate
//! counts velocities in the database; GeoIP gives the IP country), so this crate stays pure and every input can be
//! set exactly in a test.

use std::fmt;

use palisade_core::money::Currency;
use serde::Serialize;

/// An ISO 3166-1 alpha-2 country code, upper case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Country([u8; 2]);

impl Country {
    /// Parses two ASCII letters (any case). Whether the code is assigned is not checked: the rules only compare
    /// codes, and GeoIP databases use a few unassigned ones (e.g. `XK`).
    pub fn parse(s: &str) -> Option<Country> {
        let b: [u8; 2] = s.trim().as_bytes().try_into().ok()?;
        b.iter().all(u8::is_ascii_alphabetic).then(|| Country(b.map(|c| c.to_ascii_uppercase())))
    }

    /// The two-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Debug for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Country({})", self.code())
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.code().to_owned()
    }
}

/// How often the product categories in the order are used for fraud (gift cards, electronics, tickets are high).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CategoryRisk {
    #[default]
    Low,
    Medium,
    High,
}

impl CategoryRisk {
    /// The word used in rules.
    pub fn word(self) -> &'static str {
        match self {
            CategoryRisk::Low => "low",
            CategoryRisk::Medium => "medium",
            CategoryRisk::High => "high",
        }
    }
}

/// How many orders or attempts shared an identifier recently, counting the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Velocity {
    /// Orders with the same card fingerprint in the last hour.
    pub card_1h: u32,
    /// Orders with the same card fingerprint in the last 24 hours.
    pub card_24h: u32,
    /// Orders from the same email address in the last 24 hours.
    pub email_24h: u32,
    /// Orders from the same device in the last 24 hours.
    pub device_24h: u32,
    /// Orders to the same shipping address in the last 24 hours, across all buyers.
    pub address_24h: u32,
    /// Distinct cards issued outside the shipping country used for orders to the same shipping address in the
    /// last 7 days, across all buyers (a forwarding address receives many foreign cards' goods; an office tower's
    /// residents mostly pay with local ones).
    pub address_foreign_cards_7d: u32,
}

/// Whether the buyer's account has used this device (or shipping address) for a paid order before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Familiarity {
    /// No paid history to compare with (a guest, a new account, or no address for digital goods).
    #[default]
    NoHistory,
    /// Used before on this account.
    Known,
    /// The account has paid history, but never from this device (or to this address).
    New,
}

/// Whether the buyer's email domain is a known disposable-mail domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmailDomain {
    #[default]
    Ordinary,
    Disposable,
}

/// Everything the scorer and the rules look at for one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderFeatures {
    /// The order total in minor units of `currency` (negative values are treated as zero).
    pub amount_minor: i64,
    pub currency: Currency,
    /// The store's median order total in the same currency, when it has enough history to say.
    pub store_median_minor: Option<i64>,
    pub card_country: Option<Country>,
    pub billing_country: Option<Country>,
    pub ship_country: Option<Country>,
    /// From GeoIP, when configured.
    pub ip_country: Option<Country>,
    pub email_domain: EmailDomain,
    /// Days since the buyer's account was created (0 for a guest or an account made at checkout).
    pub account_age_days: u32,
    /// The buyer's earlier completed (paid, not refunded) orders on the platform.
    pub customer_orders: u32,
    pub velocity: Velocity,
    /// Failed payment attempts for this checkout (card, email or device) in the last hour.
    pub failed_attempts_1h: u32,
    /// Declined payments at this store in the last hour, all buyers (card testing through guest checkouts with a
    /// fresh card, email and device each time shows only here).
    pub store_failed_1h: u32,
    /// This device on this account (an account takeover comes from a device the account never used).
    pub account_device: Familiarity,
    /// This shipping address on this account.
    pub account_address: Familiarity,
    pub category_risk: CategoryRisk,
}

impl OrderFeatures {
    /// A quiet order: a returning nobody with nothing unusual, in the given currency. Tests and the simulator
    /// start from it and change what they study.
    pub fn baseline(amount_minor: i64, currency: Currency) -> Self {
        OrderFeatures {
            amount_minor,
            currency,
            store_median_minor: None,
            card_country: None,
            billing_country: None,
            ship_country: None,
            ip_country: None,
            email_domain: EmailDomain::Ordinary,
            account_age_days: 0,
            customer_orders: 0,
            velocity: Velocity::default(),
            failed_attempts_1h: 0,
            store_failed_1h: 0,
            account_device: Familiarity::NoHistory,
            account_address: Familiarity::NoHistory,
            category_risk: CategoryRisk::Low,
        }
    }
}
