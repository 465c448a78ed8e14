//! Money as integer minor units plus a currency: never floating point.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code with its number of minor digits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "SGD"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A currency code that is not three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a currency code (three letters such as SGD)")]
pub struct BadCurrency(pub String);

impl Currency {
    /// Singapore dollars, the marketplace default.
    pub const SGD: Currency = Currency(*b"SGD");

    pub fn parse(s: &str) -> Result<Self, BadCurrency> {
        let up = s.trim().to_ascii_uppercase();
        let bytes: [u8; 3] = up.as_bytes().try_into().map_err(|_| BadCurrency(s.chars().take(16).collect()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(BadCurrency(s.chars().take(16).collect()));
        }
        Ok(Self(bytes))
    }

    #[must_use]
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217). Currencies without minor units are listed explicitly.
    #[must_use]
    pub fn minor_digits(&self) -> u32 {
        match &self.0 {
            b"JPY" | b"KRW" | b"VND" | b"IDR" | b"CLP" | b"ISK" | b"UGX" | b"XAF" | b"XOF" => 0,
            b"BHD" | b"KWD" | b"OMR" | b"JOD" | b"TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = BadCurrency;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.code().to_owned()
    }
}

/// An amount of money in minor units (cents for SGD).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    #[must_use]
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Adds two amounts of the same currency; `None` on a currency mismatch or overflow.
    #[must_use]
    pub fn checked_add(self, other: Money) -> Option<Money> {
        (self.currency == other.currency).then_some(())?;
        Some(Money::new(self.minor.checked_add(other.minor)?, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        let scale = 10_i64.pow(digits);
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let scale_u = scale.unsigned_abs();
        if digits == 0 {
            write!(f, "{} {sign}{abs}", self.currency.code())
        } else {
            write!(
                f,
                "{} {sign}{}.{:0width$}",
                self.currency.code(),
                abs / scale_u,
                abs % scale_u,
                width = digits as usize
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_minor_units() {
        assert_eq!(Money::new(1234, Currency::SGD).to_string(), "SGD 12.34");
        assert_eq!(Money::new(-5, Currency::SGD).to_string(), "SGD -0.05");
        assert_eq!(Money::new(500, Currency::parse("jpy").unwrap()).to_string(), "JPY 500");
    }

    #[test]
    fn refuses_mixed_currencies_and_overflow() {
        let sgd = Money::new(1, Currency::SGD);
        let usd = Money::new(1, Currency::parse("USD").unwrap());
        assert!(sgd.checked_add(usd).is_none());
        assert!(Money::new(i64::MAX, Currency::SGD).checked_add(sgd).is_none());
        assert_eq!(sgd.checked_add(sgd).unwrap().minor, 2);
    }

    #[test]
    fn bad_currency_codes() {
        for bad in ["", "SG", "SGDX", "S1D"] {
            assert!(Currency::parse(bad).is_err());
        }
    }
}
