//! Money as integer minor units plus a currency: never floating point.
//!
//! Amounts typed by people are parsed here, with the currency's own number of minor digits, so "500" in a yen
//! store is 500 yen (not 50 000) and "5.123" in a dollar store is refused rather than rounded.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency code with its number of minor digits. Only codes in the ISO list parse, so a typo or a
/// corrupt record cannot silently become a currency with a guessed number of digits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "SGD"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// A currency code that is not an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a currency code (an ISO 4217 code such as SGD)")]
pub struct BadCurrency(pub String);

/// Active ISO 4217 currencies with their minor digits (fund codes, metals and test codes left out: nobody prices
/// goods in them).
#[rustfmt::skip]
const ISO_4217: &[(&[u8; 3], u32)] = &[
    (b"AED", 2), (b"AFN", 2), (b"ALL", 2), (b"AMD", 2), (b"ANG", 2), (b"AOA", 2), (b"ARS", 2), (b"AUD", 2),
    (b"AWG", 2), (b"AZN", 2), (b"BAM", 2), (b"BBD", 2), (b"BDT", 2), (b"BGN", 2), (b"BHD", 3), (b"BIF", 0),
    (b"BMD", 2), (b"BND", 2), (b"BOB", 2), (b"BRL", 2), (b"BSD", 2), (b"BTN", 2), (b"BWP", 2), (b"BYN", 2),
    (b"BZD", 2), (b"CAD", 2), (b"CDF", 2), (b"CHF", 2), (b"CLP", 0), (b"CNY", 2), (b"COP", 2), (b"CRC", 2),
    (b"CUP", 2), (b"CVE", 2), (b"CZK", 2), (b"DJF", 0), (b"DKK", 2), (b"DOP", 2), (b"DZD", 2), (b"EGP", 2),
    (b"ERN", 2), (b"ETB", 2), (b"EUR", 2), (b"FJD", 2), (b"FKP", 2), (b"GBP", 2), (b"GEL", 2), (b"GHS", 2),
    (b"GIP", 2), (b"GMD", 2), (b"GNF", 0), (b"GTQ", 2), (b"GYD", 2), (b"HKD", 2), (b"HNL", 2), (b"HTG", 2),
    (b"HUF", 2), (b"IDR", 2), (b"ILS", 2), (b"INR", 2), (b"IQD", 3), (b"IRR", 2), (b"ISK", 0), (b"JMD", 2),
    (b"JOD", 3), (b"JPY", 0), (b"KES", 2), (b"KGS", 2), (b"KHR", 2), (b"KMF", 0), (b"KPW", 2), (b"KRW", 0),
    (b"KWD", 3), (b"KYD", 2), (b"KZT", 2), (b"LAK", 2), (b"LBP", 2), (b"LKR", 2), (b"LRD", 2), (b"LSL", 2),
    (b"LYD", 3), (b"MAD", 2), (b"MDL", 2), (b"MGA", 2), (b"MKD", 2), (b"MMK", 2), (b"MNT", 2), (b"MOP", 2),
    (b"MRU", 2), (b"MUR", 2), (b"MVR", 2), (b"MWK", 2), (b"MXN", 2), (b"MYR", 2), (b"MZN", 2), (b"NAD", 2),
    (b"NGN", 2), (b"NIO", 2), (b"NOK", 2), (b"NPR", 2), (b"NZD", 2), (b"OMR", 3), (b"PAB", 2), (b"PEN", 2),
    (b"PGK", 2), (b"PHP", 2), (b"PKR", 2), (b"PLN", 2), (b"PYG", 0), (b"QAR", 2), (b"RON", 2), (b"RSD", 2),
    (b"RUB", 2), (b"RWF", 0), (b"SAR", 2), (b"SBD", 2), (b"SCR", 2), (b"SDG", 2), (b"SEK", 2), (b"SGD", 2),
    (b"SHP", 2), (b"SLE", 2), (b"SOS", 2), (b"SRD", 2), (b"SSP", 2), (b"STN", 2), (b"SVC", 2), (b"SYP", 2),
    (b"SZL", 2), (b"THB", 2), (b"TJS", 2), (b"TMT", 2), (b"TND", 3), (b"TOP", 2), (b"TRY", 2), (b"TTD", 2),
    (b"TWD", 2), (b"TZS", 2), (b"UAH", 2), (b"UGX", 0), (b"USD", 2), (b"UYU", 2), (b"UZS", 2), (b"VED", 2),
    (b"VES", 2), (b"VND", 0), (b"VUV", 0), (b"WST", 2), (b"XAF", 0), (b"XCD", 2), (b"XCG", 2), (b"XOF", 0),
    (b"XPF", 0), (b"YER", 2), (b"ZAR", 2), (b"ZMW", 2), (b"ZWG", 2),
];

impl Currency {
    /// Singapore dollars, the marketplace default.
    pub const SGD: Currency = Currency(*b"SGD");
    /// US dollars.
    pub const USD: Currency = Currency(*b"USD");
    /// Japanese yen (no minor units).
    pub const JPY: Currency = Currency(*b"JPY");

    /// Parses an ISO 4217 code, case-insensitively; anything else is refused.
    pub fn parse(s: &str) -> Result<Self, BadCurrency> {
        let bad = || BadCurrency(s.chars().take(16).collect());
        let up = s.trim().to_ascii_uppercase();
        let bytes: [u8; 3] = up.as_bytes().try_into().map_err(|_| bad())?;
        if !ISO_4217.iter().any(|(code, _)| **code == bytes) {
            return Err(bad());
        }
        Ok(Self(bytes))
    }

    #[must_use]
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217): 0 for JPY, 2 for SGD, 3 for KWD.
    #[must_use]
    pub fn minor_digits(&self) -> u32 {
        ISO_4217.iter().find(|(code, _)| **code == self.0).map_or(2, |(_, d)| *d)
    }

    /// Minor units in one major unit (1 for JPY, 100 for SGD, 1000 for KWD).
    #[must_use]
    pub fn scale(&self) -> i64 {
        10_i64.pow(self.minor_digits())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl std::str::FromStr for Currency {
    type Err = BadCurrency;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
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

/// Why an amount typed by a person was refused. Each kind has a stable code for the API ([`AmountError::code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Not digits with at most one decimal point: empty, letters, exponents, spaces, commas, signs.
    #[error("`{0}` is not an amount; write digits with at most one decimal point, such as 12.50")]
    Malformed(String),
    /// More decimals than the currency has.
    #[error("`{text}` has more decimals than {currency} has ({digits})")]
    TooPrecise { text: String, currency: Currency, digits: u32 },
    /// A minus sign: amounts typed here are never negative.
    #[error("`{0}` is negative; amounts must be zero or more")]
    Negative(String),
    /// More than the largest amount stored.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

impl AmountError {
    /// The stable, machine-readable code for this refusal.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AmountError::Malformed(_) | AmountError::TooPrecise { .. } => "invalid_amount",
            AmountError::Negative(_) => "negative_amount",
            AmountError::TooLarge(_) => "amount_too_large",
        }
    }
}

/// The largest amount a person may type, in minor units: far above any real price, far below `i64::MAX`, so sums
/// of a few lines cannot overflow.
pub const MAX_MINOR: i64 = 1_000_000_000_000_000;

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

    /// Parses an amount typed by a person in major units ("12.50", "12", "500" in yen) with `currency`'s minor
    /// digits. Surrounding whitespace is ignored; anything but ASCII digits and one decimal point is refused
    /// (no signs, exponents, grouping commas or inner spaces), as are more decimals than the currency has.
    pub fn parse(text: &str, currency: Currency) -> Result<Money, AmountError> {
        let shown = || text.chars().take(24).collect::<String>();
        let t = text.trim();
        if t.starts_with('-') {
            return Err(AmountError::Negative(shown()));
        }
        let (whole, frac) = match t.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (t, None),
        };
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_only(whole) || frac.is_some_and(|f| !digits_only(f)) {
            return Err(AmountError::Malformed(shown()));
        }
        let frac = frac.unwrap_or("");
        let digits = currency.minor_digits();
        if frac.len() > digits as usize {
            return Err(AmountError::TooPrecise { text: shown(), currency, digits });
        }
        let too_large = || AmountError::TooLarge(shown());
        // Leading zeros are harmless; a long run of significant digits is refused before it can overflow.
        let whole = whole.trim_start_matches('0');
        if whole.len() > 18 {
            return Err(too_large());
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
        let frac_minor: i64 = if frac.is_empty() {
            0
        } else {
            let padded = format!("{frac:0<width$}", width = digits as usize);
            padded.parse().map_err(|_| AmountError::Malformed(shown()))?
        };
        let minor =
            whole.checked_mul(currency.scale()).and_then(|w| w.checked_add(frac_minor)).ok_or_else(too_large)?;
        if minor > MAX_MINOR {
            return Err(too_large());
        }
        Ok(Money::new(minor, currency))
    }

    /// The amount as a plain decimal in major units, without the code ("12.50", "500", "1.250"): what a form
    /// field shows and [`Money::parse`] reads back.
    #[must_use]
    pub fn plain(&self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        let scale = self.currency.scale().unsigned_abs();
        if digits == 0 {
            format!("{sign}{abs}")
        } else {
            format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
        }
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
        write!(f, "{} {}", self.currency.code(), self.plain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn formats_minor_units() {
        assert_eq!(Money::new(1234, Currency::SGD).to_string(), "SGD 12.34");
        assert_eq!(Money::new(-5, Currency::SGD).to_string(), "SGD -0.05");
        assert_eq!(Money::new(500, cur("jpy")).to_string(), "JPY 500");
        assert_eq!(Money::new(1250, cur("KWD")).to_string(), "KWD 1.250");
        assert_eq!(Money::new(1250, cur("KWD")).plain(), "1.250");
    }

    #[test]
    fn parses_with_the_currencys_digits() {
        let p = |t: &str, c: &str| Money::parse(t, cur(c)).map(|m| m.minor);
        assert_eq!(p("500", "JPY"), Ok(500));
        assert_eq!(p("500", "SGD"), Ok(50_000));
        assert_eq!(p("12.5", "SGD"), Ok(1250));
        assert_eq!(p(" 12.50 ", "USD"), Ok(1250));
        assert_eq!(p("0.05", "SGD"), Ok(5));
        assert_eq!(p("007", "SGD"), Ok(700));
        assert_eq!(p("1.25", "KWD"), Ok(1250));
        assert_eq!(p("1.255", "BHD"), Ok(1255));
        assert!(matches!(p("5.5", "JPY"), Err(AmountError::TooPrecise { digits: 0, .. })));
        assert!(matches!(p("5.123", "SGD"), Err(AmountError::TooPrecise { digits: 2, .. })));
        assert!(matches!(p("1.2345", "KWD"), Err(AmountError::TooPrecise { digits: 3, .. })));
    }

    #[test]
    fn refuses_what_is_not_a_plain_amount_with_a_stable_code() {
        let code = |t: &str| Money::parse(t, Currency::SGD).unwrap_err().code();
        for bad in [
            "", " ", "abc", "1e3", "1E3", "1,000", "1 000", "1.2.3", ".5", "5.", "+5", "0x10", "１２", "5 .0", "NaN",
            "inf",
        ] {
            assert_eq!(code(bad), "invalid_amount", "{bad:?}");
        }
        assert_eq!(code("-1"), "negative_amount");
        assert_eq!(code("-0.01"), "negative_amount");
        assert_eq!(code("99999999999999999999"), "amount_too_large");
        assert_eq!(code("92233720368547758.07"), "amount_too_large");
        assert_eq!(code("10000000000000.01"), "amount_too_large");
        assert_eq!(Money::parse("10000000000000", Currency::SGD).map(|m| m.minor), Ok(MAX_MINOR));
        assert_eq!(Money::parse("5.5", Currency::JPY).unwrap_err().code(), "invalid_amount");
    }

    #[test]
    fn refuses_mixed_currencies_and_overflow() {
        let sgd = Money::new(1, Currency::SGD);
        let usd = Money::new(1, Currency::USD);
        assert!(sgd.checked_add(usd).is_none());
        assert!(Money::new(i64::MAX, Currency::SGD).checked_add(sgd).is_none());
        assert_eq!(sgd.checked_add(sgd).unwrap().minor, 2);
    }

    #[test]
    fn bad_currency_codes() {
        for bad in ["", "SG", "SGDX", "S1D", "XYZ", "ABC", "XXX"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(cur(" usd ").code(), "USD");
        assert_eq!(Currency::JPY.minor_digits(), 0);
        assert_eq!(Currency::SGD.minor_digits(), 2);
        assert_eq!(cur("BHD").minor_digits(), 3);
    }

    #[test]
    fn the_table_is_sorted_and_holds_only_upper_case_codes() {
        assert!(ISO_4217.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)));
        assert!(ISO_4217.iter().all(|(c, d)| c.iter().all(u8::is_ascii_uppercase) && *d <= 3));
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(ISO_4217.to_vec()).prop_map(|(c, _)| Currency(*c))
    }

    proptest! {
        /// What is shown in a form field parses back to the same amount, in every currency.
        #[test]
        fn plain_text_round_trips(minor in 0..=MAX_MINOR, currency in any_currency()) {
            let m = Money::new(minor, currency);
            prop_assert_eq!(Money::parse(&m.plain(), currency), Ok(m));
        }

        /// Typed text that parses formats back to the same number (up to leading zeros and trailing decimals).
        #[test]
        fn parsed_text_formats_to_the_same_value(whole in 0u64..1_000_000_000, frac in "[0-9]{0,3}", currency in any_currency()) {
            let text = if frac.is_empty() { whole.to_string() } else { format!("{whole}.{frac}") };
            match Money::parse(&text, currency) {
                Ok(m) => {
                    let shown = m.plain();
                    let (w, f) = shown.split_once('.').unwrap_or((&shown, ""));
                    prop_assert_eq!(w, whole.to_string());
                    prop_assert_eq!(f.trim_end_matches('0'), frac.trim_end_matches('0'));
                }
                Err(e) => prop_assert!(frac.len() > currency.minor_digits() as usize, "{e}"),
            }
        }

        /// Arbitrary text never panics the parser and never gives a negative amount.
        #[test]
        fn arbitrary_text_is_refused_or_non_negative(text in ".{0,30}", currency in any_currency()) {
            if let Ok(m) = Money::parse(&text, currency) {
                prop_assert!((0..=MAX_MINOR).contains(&m.minor));
            }
        }
    }
}
