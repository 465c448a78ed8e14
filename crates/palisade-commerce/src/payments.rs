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
                _ => Charge::Declined { reason: "invalid card number".into() },
            })
        })
    }
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

    #[tokio::test]
    async fn test_cards_behave_as_documented_and_never_show_in_debug() {
        let g = TestGateway;
        let amt = Money::new(100, Currency::SGD);
        let ok = g.charge(amt, &card("4242 4242 4242 4242", "12/30", "123"), "k").await.unwrap();
        assert!(matches!(ok, Charge::Approved { ref last4, .. } if last4 == "4242"));
        let no = g.charge(amt, &card("4000000000009995", "12/30", "123"), "k").await.unwrap();
        assert_eq!(no, Charge::Declined { reason: "insufficient funds".into() });
        let c = card("4242424242424242", "12/30", "123");
        assert_eq!(format!("{c:?}"), "Card(**** 4242)");
    }
}
