//! Card numbers have one place to live: the payment gateway. Everything Palisade keeps from a request or an
//! action (firewall samples and events, logs, audit details, error messages) passes through [`card_numbers`], so
//! a card number typed into the wrong field, a search box or a URL is not kept either.
//!
//! A card number here is what a payment network would accept as one: 13–19 digits, optionally grouped by single
//! spaces or hyphens, starting with 2–6 (the industry digits of Mastercard, Visa, Amex, Discover, JCB, UnionPay,
//! Maestro, Diners; a leading 1 is left alone so millisecond timestamps are not mistaken for cards) and passing the
//! Luhn check. Digits that run on beyond 19 are not a card on their own, but a window inside them may be, so long
//! runs are checked window by window.

use std::borrow::Cow;

/// What a redacted card number reads as.
pub const REDACTED_CARD: &str = "[card redacted]";

/// Fewest and most digits of a primary account number (ISO/IEC 7812).
const MIN_DIGITS: usize = 13;
const MAX_DIGITS: usize = 19;

/// The value of a decimal digit as people type card numbers: ASCII, or full-width (`４２４２`, Japanese and Chinese
/// input methods).
fn digit(c: char) -> Option<u8> {
    match c {
        '0'..='9' => u8::try_from(u32::from(c) - u32::from('0')).ok(),
        '\u{FF10}'..='\u{FF19}' => u8::try_from(u32::from(c) - 0xFF10).ok(),
        _ => None,
    }
}

/// A single character people put between the groups of a card number: spaces (also no-break and thin ones, as
/// pasted from banking apps), hyphens, dots, slashes, tabs.
fn separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '.' | '/' | '\t' | '\u{00A0}' | '\u{2009}' | '\u{202F}' | '\u{3000}' | '\u{2010}' | '\u{2011}'
    )
}

/// `text` with every card-number-shaped run replaced by [`REDACTED_CARD`]; borrowed (no allocation) when there
/// is none, which is the common case on every hot path that calls this.
#[must_use]
pub fn card_numbers(text: &str) -> Cow<'_, str> {
    // Fast path: fewer than 13 digits in all cannot hold a card.
    if text.chars().filter(|c| digit(*c).is_some()).take(MIN_DIGITS).count() < MIN_DIGITS {
        return Cow::Borrowed(text);
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |(b, _)| *b);
    let mut out: Option<String> = None;
    let mut copied = 0; // bytes of `text` already accounted for in `out`
    let mut i = 0;
    while i < chars.len() {
        if chars.get(i).and_then(|(_, c)| digit(*c)).is_none() {
            i += 1;
            continue;
        }
        // A run of digits with single separators between them: (char index, digit).
        let mut digits: Vec<(usize, u8)> = Vec::new();
        let mut j = i;
        while let Some(&(_, c)) = chars.get(j) {
            if let Some(d) = digit(c) {
                digits.push((j, d));
                j += 1;
            } else if separator(c) && chars.get(j + 1).is_some_and(|(_, n)| digit(*n).is_some()) && j > i {
                j += 1;
            } else {
                break;
            }
        }
        if let Some((from, to)) = card_window(&digits) {
            let (first, last) = match (digits.get(from), digits.get(to - 1)) {
                (Some(a), Some(b)) => (a.0, b.0),
                _ => (i, j.saturating_sub(1)),
            };
            let (from_byte, to_byte) = (end_of(first), end_of(last + 1));
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(text.get(copied..from_byte).unwrap_or(""));
            o.push_str(REDACTED_CARD);
            copied = to_byte;
            // Continue after the card: the rest of the run may hold another.
            i = last + 1;
            continue;
        }
        i = j.max(i + 1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(text.get(copied..).unwrap_or(""));
            Cow::Owned(o)
        }
    }
}

/// Whether `text` holds a card number anywhere.
#[must_use]
pub fn has_card_number(text: &str) -> bool {
    matches!(card_numbers(text), Cow::Owned(_))
}

/// The first window `[from, to)` of `digits` that is a card number: the whole run when it is 13–19 digits long,
/// else the earliest, longest window inside a longer run (digits glued to a card must not hide it).
fn card_window(digits: &[(usize, u8)]) -> Option<(usize, usize)> {
    let n = digits.len();
    if n < MIN_DIGITS {
        return None;
    }
    // A run of card length is a card or not as a whole (a window of it passes Luhn by chance too often).
    if n <= MAX_DIGITS {
        return is_card(digits.iter().map(|d| d.1)).then_some((0, n));
    }
    for from in 0..=n - MIN_DIGITS {
        for len in (MIN_DIGITS..=MAX_DIGITS.min(n - from)).rev() {
            let window = digits.get(from..from + len)?;
            if is_card(window.iter().map(|d| d.1)) {
                return Some((from, from + len));
            }
        }
    }
    None
}

fn is_card(digits: impl DoubleEndedIterator<Item = u8> + Clone) -> bool {
    let first = digits.clone().next();
    if !matches!(first, Some(2..=6)) {
        return false;
    }
    luhn(digits)
}

/// Whether an all-digit card number passes the Luhn check (the test gateway's card range needs it too).
#[must_use]
pub fn luhn_ok(number: &str) -> bool {
    number.bytes().all(|b| b.is_ascii_digit()) && luhn(number.bytes().map(|b| b - b'0'))
}

/// The Luhn (mod 10) check of ISO/IEC 7812-1.
fn luhn(digits: impl DoubleEndedIterator<Item = u8>) -> bool {
    let sum: u32 = digits
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether `text` looks like an email address (something@something.tld): personal data that firewall samples and
/// other kept copies of requests must not hold.
#[must_use]
pub fn looks_like_email(text: &str) -> bool {
    let Some((at, sign)) = text.char_indices().find(|(_, c)| matches!(c, '@' | '\u{FF20}')) else { return false };
    let (local, domain) = (text.get(..at).unwrap_or(""), text.get(at + sign.len_utf8()..).unwrap_or(""));
    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
}

/// Whether a field's name says it holds personal or payment data (card, CVC, expiry, email, phone, name,
/// address …) or a credential. Such values are never kept from a request, only the field's name and size.
#[must_use]
pub fn sensitive_field_name(name: &str) -> bool {
    const WORDS: [&str; 32] = [
        "password",
        "passphrase",
        "secret",
        "token",
        "otp",
        "card",
        "cvc",
        "cvv",
        "csc",
        "expir",
        "exp_",
        "iban",
        "bank",
        "account",
        "email",
        "mail",
        "phone",
        "mobile",
        "tel",
        "name",
        "address",
        "addr",
        "street",
        "line1",
        "line2",
        "city",
        "postcode",
        "postal",
        "zip",
        "nric",
        "birth",
        "recipient",
    ];
    let contains = |word: &str| name.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()));
    let bare = name.trim_start_matches('.');
    WORDS.iter().any(|w| contains(w))
        || ["repeat", "exp", "pan", "number", "code", "cc", "dob", "mm", "yy", "month", "year"]
            .iter()
            .any(|w| bare.rsplit('.').next().unwrap_or(bare).eq_ignore_ascii_case(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_any_spelling_are_redacted() {
        for (input, expected) in [
            ("4242424242424242", "[card redacted]"),
            ("card 4242 4242 4242 4242 exp", "card [card redacted] exp"),
            ("5555-5555-5555-4444", "[card redacted]"),
            ("378282246310005", "[card redacted]"), // Amex, 15 digits
            ("x=4000000000000002&y=1", "x=[card redacted]&y=1"),
            ("a4242424242424242b", "a[card redacted]b"),
            ("two: 4242424242424242 and 5555555555554444.", "two: [card redacted] and [card redacted]."),
            ("00004242424242424242", "0000[card redacted]"),
            ("4242\u{a0}4242\u{a0}4242\u{a0}4242", "[card redacted]"),
            ("4242.4242.4242.4242 and 4242/4242/4242/4242", "[card redacted] and [card redacted]"),
            ("４２４２４２４２４２４２４２４２", "[card redacted]"),
            ("pay 4242\t4242\t4242\t4242!", "pay [card redacted]!"),
        ] {
            assert_eq!(card_numbers(input), expected, "{input}");
        }
    }

    #[test]
    fn other_numbers_are_left_alone() {
        for input in [
            "1767225600000",    // a millisecond timestamp that passes Luhn is not a card (leading 1)
            "4242424242424241", // fails Luhn
            "424242424242",     // 12 digits
            "order 1001, 42 items, 2026-12-06",
            "4242 4242  4242 4242",       // two separators do not join groups
            "2026-12-06 07:06:21.888254", // a timestamp: its runs are too short
            "192.168.100.200",
            "",
        ] {
            assert!(matches!(card_numbers(input), Cow::Borrowed(_)), "{input} is kept as it is");
        }
    }

    #[test]
    fn emails_and_sensitive_names_are_recognised() {
        assert!(looks_like_email("pat@shop.example"));
        assert!(looks_like_email("pat\u{FF20}shop.example"), "a full-width at sign");
        assert!(!looks_like_email("@handle") && !looks_like_email("a@b") && !looks_like_email("no at sign"));
        for name in [
            "card_number",
            "cvc",
            "expiry",
            ".card.number",
            ".card.exp_month",
            "email",
            "ship_address",
            "phone",
            "full_name",
            "postcode",
            "password",
            "api_token",
            "otp_code",
            "bank_account",
        ] {
            assert!(sensitive_field_name(name), "{name}");
        }
        for name in ["q", "page", "sort", "qty", "variant", "category", ".items.quantity"] {
            assert!(!sensitive_field_name(name), "{name}");
        }
    }
}
