//! Payment gateways. The platform owns the payment step: card numbers pass through to the gateway and are never
//! stored or logged; only the brand and last four digits come back.

use std::future::Future;
use std::pin::Pin;

use palisade_core::money::Money;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// A card as typed by the buyer. `Debug` shows only the last four digits.
pub struct Card {
    pub number: SecretString,
    pub expiry: String,
    pub cvc: SecretString,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Card(**** {})", last4(self.number.expose_secret()))
    }
}

fn last4(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    digits.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect()
}

/// What the gateway said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Charge {
    Approved { reference: String, brand: String, last4: String },
    Declined { reason: String },
}

/// Why a gateway could not give an answer (as opposed to a decline, which is an answer). The text is for the log
/// only: it never reaches the buyer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The gateway refused the connection, answered 5xx or said it is down.
    #[error("gateway unavailable: {0}")]
    Unavailable(String),
    /// The gateway did not answer in time; whether the card was charged is settled by retrying with the same
    /// idempotency key.
    #[error("gateway timed out")]
    Timeout,
}

type ChargeFuture<'a> = Pin<Box<dyn Future<Output = Result<Charge, GatewayError>> + Send + 'a>>;

/// A payment processor. Implementations must never persist or log the card.
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// Charges `amount`; `idempotency` makes a retried charge return the first result instead of charging twice.
    fn charge<'a>(&'a self, amount: Money, card: &'a Card, idempotency: &'a str) -> ChargeFuture<'a>;
}

/// The built-in test gateway, with documented card numbers:
///
/// | number | outcome |
/// |---|---|
/// | 4242 4242 4242 4242 | approved (Visa) |
/// | 5555 5555 5555 4444 | approved (Mastercard) |
/// | 4000 0000 0000 0002 | declined: card declined |
/// | 4000 0000 0000 9995 | declined: insufficient funds |
/// | 4242 42xx xxxx xxxx (16 digits, Luhn-valid) | approved (Visa): a range of test cards, so a load test can pay
/// as many different buyers rather than one card that the fraud rules rightly stop after ten orders an hour |
///
/// Any other number is declined as invalid. Expiry and CVC are checked for shape only.
#[derive(Debug, Default)]
pub struct TestGateway;

impl PaymentGateway for TestGateway {
    fn charge<'a>(&'a self, amount: Money, card: &'a Card, idempotency: &'a str) -> ChargeFuture<'a> {
        Box::pin(async move {
            let digits: String = card.number.expose_secret().chars().filter(char::is_ascii_digit).collect();
            let cvc_ok =
                card.cvc.expose_secret().len() >= 3 && card.cvc.expose_secret().chars().all(|c| c.is_ascii_digit());
            let expiry_ok = card.expiry.len() == 5 && card.expiry.as_bytes().get(2) == Some(&b'/');
            if !cvc_ok || !expiry_ok || amount.minor <= 0 {
                return Ok(Charge::Declined { reason: "invalid card details".into() });
            }
            let approved = |brand: &str| Charge::Approved {
                reference: format!("test_{idempotency}"),
                brand: brand.into(),
                last4: last4(&digits),
            };
            Ok(match digits.as_str() {
                "4242424242424242" => approved("visa"),
                "5555555555554444" => approved("mastercard"),
                "4000000000000002" => Charge::Declined { reason: "card declined".into() },
                "4000000000009995" => Charge::Declined { reason: "insufficient funds".into() },
                d if d.len() == 16 && d.starts_with("424242") && palisade_core::redact::luhn_ok(d) => approved("visa"),
                _ => Charge::Declined { reason: "invalid card number".into() },
            })
        })
    }
}

/// Why an expiry date was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpiryError {
    #[error("enter the card's expiry as month and year, like 08/29")]
    Unreadable,
    #[error("that card has expired (its expiry month has passed)")]
    Past,
    #[error("that expiry date is too far in the future to be a card's")]
    TooFar,
}

/// A card's expiry as the buyer types it (`8/29`, `08/29`, `08 / 2029`, `0829`) checked to be a real month that has
/// not ended yet (a card works through its expiry month) and at most 20 years away; answered as `MM/YY`, the form
/// gateways take. Checked at the edge, before a gateway is asked.
pub fn parse_expiry(text: &str, now: palisade_core::time::Timestamp) -> Result<String, ExpiryError> {
    use chrono::Datelike as _;
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (month, year) = match compact.split_once(['/', '-']) {
        Some(parts) => parts,
        None if compact.len() == 4 || compact.len() == 6 => compact.split_at(2),
        None => return Err(ExpiryError::Unreadable),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(month) || !digits(year) || month.len() > 2 || !(year.len() == 2 || year.len() == 4) {
        return Err(ExpiryError::Unreadable);
    }
    let month: u32 = month.parse().map_err(|_| ExpiryError::Unreadable)?;
    let year: i32 = year.parse().map_err(|_| ExpiryError::Unreadable)?;
    let year = if year < 100 { 2000 + year } else { year };
    if !(1..=12).contains(&month) {
        return Err(ExpiryError::Unreadable);
    }
    let today = chrono::DateTime::from_timestamp_millis(now.0).ok_or(ExpiryError::Unreadable)?;
    let (this_year, this_month) = (today.year(), today.month());
    if (year, month) < (this_year, this_month) {
        return Err(ExpiryError::Past);
    }
    if year > this_year + 20 {
        return Err(ExpiryError::TooFar);
    }
    Ok(format!("{month:02}/{:02}", year % 100))
}

/// A card from plain strings (the checkout form).
#[must_use]
pub fn card(number: &str, expiry: &str, cvc: &str) -> Card {
    Card {
        number: SecretString::from(number.to_owned()),
        expiry: expiry.trim().to_owned(),
        cvc: SecretString::from(cvc.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::money::Currency;

    #[test]
    fn expiry_dates_are_real_months_not_yet_over() {
        // 2026-12-06.
        let now = palisade_core::time::Timestamp(1_796_515_200_000);
        for (typed, stored) in
            [("1/29", "01/29"), ("01/29", "01/29"), ("12/26", "12/26"), ("08 / 2031", "08/31"), ("0830", "08/30")]
        {
            assert_eq!(parse_expiry(typed, now).as_deref(), Ok(stored), "{typed}");
        }
        assert_eq!(parse_expiry("01/20", now), Err(ExpiryError::Past));
        assert_eq!(parse_expiry("11/26", now), Err(ExpiryError::Past), "last month");
        for bad in ["13/29", "00/29", "1/2", "ab/cd", "", "1/299", "/29", "12/", "１２/２９"] {
            assert_eq!(parse_expiry(bad, now), Err(ExpiryError::Unreadable), "{bad}");
        }
        assert_eq!(parse_expiry("01/2099", now), Err(ExpiryError::TooFar));
    }

    #[tokio::test]
    async fn test_cards_behave_as_documented_and_never_show_in_debug() {
        let g = TestGateway;
        let amt = Money::new(100, Currency::SGD);
        let ok = g.charge(amt, &card("4242 4242 4242 4242", "12/30", "123"), "k").await.unwrap();
        assert!(matches!(ok, Charge::Approved { ref last4, .. } if last4 == "4242"));
        let no = g.charge(amt, &card("4000000000009995", "12/30", "123"), "k").await.unwrap();
        assert_eq!(no, Charge::Declined { reason: "insufficient funds".into() });
        // The 424242 range: Luhn-valid numbers are approved, others (and other lengths) are not.
        let ranged = g.charge(amt, &card("4242420000000000", "12/30", "123"), "k").await.unwrap();
        assert!(matches!(ranged, Charge::Approved { ref last4, .. } if last4 == "0000"), "{ranged:?}");
        for bad in ["4242420000000001", "424242000000000", "4242430000000009"] {
            let no = g.charge(amt, &card(bad, "12/30", "123"), "k").await.unwrap();
            assert!(matches!(no, Charge::Declined { .. }), "{bad}: {no:?}");
        }
        let c = card("4242424242424242", "12/30", "123");
        assert_eq!(format!("{c:?}"), "Card(**** 4242)");
    }
}
