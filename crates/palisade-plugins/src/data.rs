//! What crosses the sandbox boundary: hook inputs, the records the host hands out, and the hooks' outputs.
//!
//! Inputs are serialised to JSON by the host; outputs are parsed here with `deny_unknown_fields` and bounded, so
//! what leaves a plugin is a typed value with checked lengths and charsets, never free-form JSON.

use palisade_registry::DataLevel;
use serde::{Deserialize, Serialize};

/// A product as a plugin sees it (the storefront's public view: nothing a shopper could not see).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Product {
    pub id: String,
    pub title: String,
    pub sku: Option<String>,
    /// Price in minor units of `currency`.
    pub price_minor: i64,
    pub currency: String,
    pub available: i64,
}

/// A cart at checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cart {
    pub currency: String,
    pub lines: Vec<CartLine>,
    pub subtotal_minor: i64,
    /// The signed-in customer, if any: a plugin with the `customer_data` grant may look them up.
    pub customer_id: Option<String>,
}

/// One line of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CartLine {
    pub product_id: String,
    pub sku: Option<String>,
    pub quantity: u32,
    pub unit_price_minor: i64,
}

/// A postal address. Name, street lines and phone are contact data (level 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub country: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Address {
    /// The address as a plugin at `level` may see it: below level 2 only country, region and postal code (what a
    /// shipping rate needs), never the name, street, city or phone.
    #[must_use]
    pub fn at_level(&self, level: DataLevel) -> Address {
        if level >= DataLevel::WithContact {
            return self.clone();
        }
        Address {
            name: None,
            line1: None,
            line2: None,
            city: None,
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
            phone: None,
        }
    }
}

/// A customer record as the host holds it (all fields); what a plugin receives is [`Customer::at_level`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Customer {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub orders_count: u32,
    pub total_spent_minor: i64,
    pub accepts_marketing: bool,
}

impl Customer {
    /// The record cut to `level` (Shopify's protected customer data levels): `None` at level 0, without name,
    /// email, phone and address at level 1, whole at level 2. Filtering happens here, in the host, so a plugin
    /// never has bytes in its memory that its level does not allow.
    #[must_use]
    pub fn at_level(&self, level: DataLevel) -> Option<Customer> {
        match level {
            DataLevel::None => None,
            DataLevel::WithoutContact => {
                Some(Customer { name: None, email: None, phone: None, address: None, ..self.clone() })
            }
            DataLevel::WithContact => Some(self.clone()),
        }
    }
}

/// Input of `shipping_rates`.
#[derive(Serialize)]
pub(crate) struct ShippingInput<'a> {
    pub cart: &'a Cart,
    pub address: Address,
}

/// A shipping rate a plugin offers, checked: in the cart's currency, a bounded non-negative amount, a plain-text
/// label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingRate {
    /// 1–40 of `a-z 0-9 _ -`; unique within one answer.
    pub code: String,
    /// 1–80 characters of plain text (no control or bidi characters). Still escaped when shown.
    pub label: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// What `checkout_validate` decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutVerdict {
    Accept,
    /// Refuse with a message for the buyer: 1–200 characters of plain text, escaped when shown.
    Refuse(String),
}

/// Most rates one answer may hold.
pub const MAX_RATES: usize = 10;
/// Largest amount of a rate, in minor units.
pub const MAX_RATE_MINOR: i64 = 100_000_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRates {
    rates: Vec<RawRate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    code: String,
    label: String,
    amount_minor: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVerdict {
    ok: bool,
    message: Option<String>,
}

pub(crate) fn parse_rates(bytes: &[u8], currency: &str) -> Result<Vec<ShippingRate>, &'static str> {
    let raw: RawRates = serde_json::from_slice(bytes).map_err(|_| "shipping_rates must return {\"rates\":[...]}")?;
    if raw.rates.len() > MAX_RATES {
        return Err("more than 10 shipping rates");
    }
    let mut out: Vec<ShippingRate> = Vec::with_capacity(raw.rates.len());
    for r in raw.rates {
        let code_ok = (1..=40).contains(&r.code.len())
            && r.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !code_ok {
            return Err("a rate code is 1-40 of a-z 0-9 _ -");
        }
        if out.iter().any(|o| o.code == r.code) {
            return Err("a rate code is given twice");
        }
        if !plain_text(&r.label, 80) {
            return Err("a rate label is 1-80 characters of plain text");
        }
        if !(0..=MAX_RATE_MINOR).contains(&r.amount_minor) {
            return Err("a rate amount is out of range");
        }
        out.push(ShippingRate {
            code: r.code,
            label: r.label,
            amount_minor: r.amount_minor,
            currency: currency.to_owned(),
        });
    }
    Ok(out)
}

pub(crate) fn parse_verdict(bytes: &[u8]) -> Result<CheckoutVerdict, &'static str> {
    let raw: RawVerdict = serde_json::from_slice(bytes)
        .map_err(|_| "checkout_validate must return {\"ok\":true} or {\"ok\":false,\"message\":\"...\"}")?;
    match (raw.ok, raw.message) {
        (true, None) => Ok(CheckoutVerdict::Accept),
        (false, Some(m)) if plain_text(&m, 200) => Ok(CheckoutVerdict::Refuse(m)),
        (false, Some(_)) => Err("a checkout message is 1-200 characters of plain text"),
        _ => Err("checkout_validate: a refusal has a message and an acceptance none"),
    }
}

/// 1..=max characters, none of them control, bidi-override or zero-width characters.
fn plain_text(s: &str, max: usize) -> bool {
    let n = s.chars().count();
    (1..=max).contains(&n)
        && !s.chars().any(|c| {
            // Controls, bidi and invisible format characters (soft hyphen, Arabic letter mark, line and paragraph
            // separators, word joiner and invisible operators, byte order mark): a label shows what it says.
            c.is_control()
                || matches!(c, '\u{ad}' | '\u{61c}' | '\u{feff}')
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Customer {
        Customer {
            id: "c-1".into(),
            name: Some("N".into()),
            email: Some("e@x.com".into()),
            phone: Some("1".into()),
            address: Some(Address {
                name: Some("N".into()),
                line1: Some("L1".into()),
                line2: Some("L2".into()),
                city: Some("C".into()),
                region: Some("R".into()),
                postal_code: Some("P".into()),
                country: "FR".into(),
                phone: Some("1".into()),
            }),
            orders_count: 2,
            total_spent_minor: 10,
            accepts_marketing: true,
        }
    }

    #[test]
    fn customer_levels() {
        assert_eq!(full().at_level(DataLevel::None), None);
        let one = full().at_level(DataLevel::WithoutContact).unwrap();
        assert_eq!((one.name, one.email, one.phone, one.address), (None, None, None, None));
        assert_eq!((one.orders_count, one.total_spent_minor), (2, 10));
        assert_eq!(full().at_level(DataLevel::WithContact), Some(full()));
    }

    #[test]
    fn address_levels() {
        let a = full().address.unwrap();
        let cut = a.at_level(DataLevel::WithoutContact);
        assert_eq!(serde_json::to_string(&cut).unwrap(), r#"{"region":"R","postal_code":"P","country":"FR"}"#);
        assert_eq!(a.at_level(DataLevel::None), cut);
        assert_eq!(a.at_level(DataLevel::WithContact), a);
    }

    #[test]
    fn plain_text_refuses_controls_and_bidi() {
        assert!(plain_text("Express (1 day)", 80));
        for bad in [
            "",
            "a\nb",
            "a\u{202e}b",
            "a\u{200b}b",
            "a\u{2066}b",
            "a\u{ad}b",
            "a\u{2028}b",
            "a\u{feff}b",
            "a\u{2061}b",
            &"x".repeat(81),
        ] {
            assert!(!plain_text(bad, 80), "{bad:?}");
        }
    }
}
