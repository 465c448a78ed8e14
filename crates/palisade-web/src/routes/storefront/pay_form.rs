//! The payment form's fields, checked all at once so each refusal is shown next to the field that caused it, in
//! plain words. The card number and CVC are checked for shape only (the gateway decides the rest) and are never
//! serialised: a re-rendered form cannot echo them, and `Debug` does not show them.

use std::collections::BTreeMap;

use palisade_commerce::address::{AddressError, AddressFields, ShippingAddress};
use palisade_commerce::idempotency::IdempotencyKey;
use palisade_commerce::payments::{self, ExpiryError};
use palisade_core::text::Email;
use palisade_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The payment form as posted. Card number and CVC are never serialised (the page is re-rendered from this on an
/// error) and never shown by `Debug`; the expiry is kept so the buyer need not type it again.
#[derive(Default, Deserialize, Serialize)]
pub(super) struct PayForm {
    #[serde(default)]
    pub idempotency_key: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub postcode: String,
    #[serde(default)]
    pub country: String,
    /// The shipping rate chosen among those the page offered (a code; the amount is computed again on placing).
    #[serde(default)]
    pub shipping_rate: String,
    #[serde(default, skip_serializing)]
    pub card_number: String,
    #[serde(default)]
    pub expiry: String,
    #[serde(default, skip_serializing)]
    pub cvc: String,
    /// The card-testing guard's challenge, when one was given (the page's script solves it on submit).
    #[serde(default, skip_serializing)]
    pub pow_c: String,
    /// The solution the script found.
    #[serde(default, skip_serializing)]
    pub pow_n: String,
}

impl std::fmt::Debug for PayForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayForm").field("idempotency_key", &self.idempotency_key).finish_non_exhaustive()
    }
}

/// The contact and delivery fields, in the form's order (the "details" step).
pub(super) const DETAIL_FIELDS: [&str; 7] = ["email", "name", "line1", "line2", "city", "postcode", "country"];

/// The key of a refusal about the whole form rather than one field (shown in the summary only).
pub(super) const FORM: &str = "form";

/// Refusals by form field name, each in plain words; serialised as an object the template reads by name.
#[derive(Debug, Default, Serialize)]
pub(super) struct FieldErrors(BTreeMap<&'static str, String>);

impl FieldErrors {
    pub(super) fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.entry(field).or_insert_with(|| message.into());
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any contact or delivery field was refused.
    pub(super) fn in_details(&self) -> bool {
        DETAIL_FIELDS.iter().any(|f| self.0.contains_key(f))
    }

    /// The refusals in the form's order, for the summary at the top of the page (each links to its field).
    pub(super) fn summary(&self) -> Vec<(&'static str, &str)> {
        [FORM]
            .iter()
            .chain(DETAIL_FIELDS.iter())
            .chain(["shipping_rate", "card_number", "expiry", "cvc"].iter())
            .filter_map(|f| self.0.get(f).map(|m| (*f, m.as_str())))
            .collect()
    }
}

/// What a form that passed every check holds, parsed.
pub(super) struct Checked {
    pub email: Email,
    pub address: ShippingAddress,
    pub idempotency_key: IdempotencyKey,
    /// `MM/YY`.
    pub expiry: String,
}

impl PayForm {
    /// The delivery fields as typed.
    pub(super) fn address_fields(&self) -> AddressFields<'_> {
        AddressFields {
            name: &self.name,
            line1: &self.line1,
            line2: &self.line2,
            city: &self.city,
            postcode: &self.postcode,
            country: &self.country,
        }
    }
}

/// Checks every field of `form` (expiry months against `now`), answering all refusals at once.
pub(super) fn check(form: &PayForm, now: Timestamp) -> Result<Checked, FieldErrors> {
    let mut errors = FieldErrors::default();
    let email = Email::parse(&form.email)
        .map_err(|_| errors.add("email", "Enter your email address, like name@example.com"))
        .ok();
    let address = ShippingAddress::parse_each(form.address_fields())
        .map_err(|refusals| {
            for r in &refusals {
                if let Some(field) = r.field() {
                    errors.add(field, address_message(field, r));
                }
            }
        })
        .ok();
    if let Err(m) = card_number_problem(&form.card_number) {
        errors.add("card_number", m);
    }
    let expiry = payments::parse_expiry(&form.expiry, now).map_err(|e| errors.add("expiry", expiry_message(&e))).ok();
    if let Err(m) = cvc_problem(&form.cvc) {
        errors.add("cvc", m);
    }
    // The key is the page's own hidden field: a bad one is a tampered or stale page, not the buyer's typing.
    let key = IdempotencyKey::parse(&form.idempotency_key).ok();
    match (email, address, key, expiry) {
        (Some(email), Some(address), Some(idempotency_key), Some(expiry)) if errors.is_empty() => {
            Ok(Checked { email, address, idempotency_key, expiry })
        }
        (_, _, None, _) if errors.is_empty() => {
            errors.add(FORM, "This payment page has expired: check your details and pay again");
            Err(errors)
        }
        _ => Err(errors),
    }
}

/// A label for each address field as the buyer reads it.
fn address_label(field: &str) -> &'static str {
    match field {
        "name" => "your full name",
        "line1" => "the first line of your address",
        "line2" => "the second line of your address",
        "city" => "your town or city",
        "postcode" => "your postcode",
        _ => "your country",
    }
}

fn address_message(field: &str, refusal: &AddressError) -> String {
    let label = address_label(field);
    match refusal {
        AddressError::Missing(_) => format!("Enter {label}"),
        AddressError::TooLong { .. } => {
            format!("Shorten {label} to {} characters or fewer", palisade_commerce::address::MAX_FIELD)
        }
        _ => format!("Write {label} on one line, without tabs or line breaks"),
    }
}

fn expiry_message(e: &ExpiryError) -> &'static str {
    match e {
        ExpiryError::Unreadable => "Enter the expiry date as month and year, like 08/29",
        ExpiryError::Past => "This card has expired: check the expiry date or use another card",
        ExpiryError::TooFar => "Check the expiry date: it is too far in the future for a card",
    }
}

/// The card number's shape: 12 to 19 digits (spaces and dashes as typed are fine) passing the Luhn check that
/// every card number carries, so a slip of the finger is caught here instead of as a decline.
fn card_number_problem(number: &str) -> Result<(), &'static str> {
    let typed = number.trim();
    if typed.is_empty() {
        return Err("Enter the long number on the front of your card");
    }
    if !typed.chars().all(|c| c.is_ascii_digit() || c == ' ' || c == '-') {
        return Err("Enter the card number using digits only");
    }
    let digits: Vec<u32> = typed.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(12..=19).contains(&digits.len()) {
        return Err("Enter the whole card number: it has between 12 and 19 digits");
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if *d * 2 > 9 { *d * 2 - 9 } else { *d * 2 } } else { *d })
        .sum();
    if !sum.is_multiple_of(10) {
        return Err("That card number is not right: check it against your card");
    }
    Ok(())
}

fn cvc_problem(cvc: &str) -> Result<(), &'static str> {
    let cvc = cvc.trim();
    if cvc.is_empty() {
        return Err("Enter the security code (the last 3 digits on the back of your card, or 4 on the front)");
    }
    if !(3..=4).contains(&cvc.len()) || !cvc.bytes().all(|b| b.is_ascii_digit()) {
        return Err("The security code is 3 or 4 digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06.
    const NOW: Timestamp = Timestamp(1_796_515_200_000);

    fn good() -> PayForm {
        PayForm {
            idempotency_key: "k-1".into(),
            email: "mei@buyer.example".into(),
            name: "Mei".into(),
            line1: "1 Harbour Road".into(),
            city: "Singapore".into(),
            postcode: "018956".into(),
            country: "Singapore".into(),
            card_number: "4242 4242 4242 4242".into(),
            expiry: "12/30".into(),
            cvc: "123".into(),
            ..PayForm::default()
        }
    }

    fn refused(form: &PayForm) -> Vec<&'static str> {
        check(form, NOW).err().map(|e| e.0.keys().copied().collect()).unwrap_or_default()
    }

    #[test]
    fn a_good_form_passes_and_every_bad_field_is_named() {
        assert!(check(&good(), NOW).is_ok());
        let bad = PayForm {
            email: "mei".into(),
            city: " ".into(),
            card_number: "4242 4242 4242 4241".into(),
            expiry: "01/20".into(),
            cvc: "12a".into(),
            ..good()
        };
        assert_eq!(refused(&bad), ["card_number", "city", "cvc", "email", "expiry"]);
        let e = check(&bad, NOW).err().unwrap();
        assert!(e.in_details());
        let order: Vec<_> = e.summary().into_iter().map(|(f, _)| f).collect();
        assert_eq!(order, ["email", "city", "card_number", "expiry", "cvc"], "the form's order");
    }

    #[test]
    fn expiry_takes_m_yy_mm_yy_and_mm_yyyy_and_refuses_past_and_unreal_months() {
        for typed in ["1/29", "01/29", "01/2029", "12/26", "8/2031"] {
            assert!(check(&PayForm { expiry: typed.into(), ..good() }, NOW).is_ok(), "{typed}");
        }
        for typed in ["01/20", "11/26", "0/29", "00/29", "13/29", "13/2029", "1/2", "soon"] {
            assert_eq!(refused(&PayForm { expiry: typed.into(), ..good() }), ["expiry"], "{typed}");
        }
    }

    #[test]
    fn card_numbers_are_checked_for_shape_only() {
        for ok in ["4242424242424242", "4000-0000-0000-0002", "5555 5555 5555 4444", "4000000000009995"] {
            assert_eq!(card_number_problem(ok), Ok(()), "{ok}");
        }
        for bad in ["", "4242", "4242x42424242424242", "4242424242424241", "１２３４５６７８９０１２"] {
            assert!(card_number_problem(bad).is_err(), "{bad}");
        }
        assert!(cvc_problem("123").is_ok() && cvc_problem("1234").is_ok());
        assert!(cvc_problem("12").is_err() && cvc_problem("12345").is_err() && cvc_problem("").is_err());
    }

    #[test]
    fn card_data_never_leave_the_form() {
        let form = good();
        let json = serde_json::to_string(&form).unwrap();
        assert!(!json.contains("4242") && !json.contains("\"123\"") && !json.contains("cvc"), "{json}");
        assert!(json.contains("12/30"), "the expiry is kept for the re-rendered form");
        let debug = format!("{form:?}");
        assert!(!debug.contains("4242") && !debug.contains("mei@"), "{debug}");
    }

    #[test]
    fn a_tampered_key_is_refused_even_when_the_buyer_typed_well() {
        assert_eq!(refused(&PayForm { idempotency_key: String::new(), ..good() }), [FORM]);
        assert_eq!(refused(&PayForm { idempotency_key: "a b".into(), email: String::new(), ..good() }), ["email"]);
    }
}
