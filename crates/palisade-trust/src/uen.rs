//! Singapore Unique Entity Numbers (UEN): the number a business seller is verified by.
//!
//! Three formats, each with its own check letter (python-stdnum's `stdnum.sg.uen` is the public reference these
//! rules follow; the code here is written from the rules, not from it):
//!
//! * **Business** (registered under the Business Names Registration Act): 8 digits and a check letter,
//!   e.g. `53143018M`. Weights 10 4 9 3 8 2 7 1, sum mod 11 indexes `XMKECAWLJDB`.
//! * **Local company** (Companies Act): the year of incorporation, 5 digits and a check letter, e.g. `197401143C`.
//!   Weights 10 8 6 4 9 7 5 3 1, sum mod 11 indexes `ZKCMDNERGWH`. A year after the current one is refused.
//! * **Others** (LLPs, societies, foreign companies, charities …): `R`/`S`/`T` for the 1800s/1900s/2000s, the
//!   last two digits of the year, a two-letter entity type from the official list, 4 digits and a check letter,
//!   e.g. `T08LL0003B`. Characters take their place in `ABCDEFGHJKLMNPQRSTUVWX0123456789`, weights
//!   4 3 5 3 10 2 2 5 7, and (sum − 5) mod 11 indexes the same alphabet.
//!
//! Every check letter is a weighted sum mod 11 where no weight is a multiple of 11, so any single wrong digit is
//! caught. The "others" format has two known blind spots, which the exhaustive tests count: an entity-type letter
//! replaced by the letter 11 places away (`LL` ↔ `XL`, `CC` ↔ `CP`), and the first two of the four serial digits
//! swapped (equal weights).

use std::fmt;

use serde::Serialize;

/// The entity types of the "others" format, as listed by the UEN registry (uen.gov.sg) and python-stdnum.
pub const ENTITY_TYPES: [&str; 38] = [
    "CC", "CD", "CH", "CL", "CM", "CP", "CS", "CX", "DP", "FB", "FC", "FM", "FN", "GA", "GB", "GS", "HS", "LL", "LP",
    "MB", "MC", "MD", "MH", "MM", "MQ", "NB", "NR", "PA", "PB", "PF", "RF", "RP", "SM", "SS", "TC", "TU", "VH", "XL",
];

const BUSINESS_WEIGHTS: [u32; 8] = [10, 4, 9, 3, 8, 2, 7, 1];
const BUSINESS_LETTERS: &[u8; 11] = b"XMKECAWLJDB";
const LOCAL_WEIGHTS: [u32; 9] = [10, 8, 6, 4, 9, 7, 5, 3, 1];
const LOCAL_LETTERS: &[u8; 11] = b"ZKCMDNERGWH";
const OTHER_WEIGHTS: [u32; 9] = [4, 3, 5, 3, 10, 2, 2, 5, 7];
const OTHER_ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWX0123456789";

/// Longest input looked at: anything longer is refused before any other work.
const MAX_INPUT: usize = 64;

/// A two-letter entity type from [`ENTITY_TYPES`] (e.g. `LL` for a limited liability partnership).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct EntityType([u8; 2]);

impl EntityType {
    /// Looks a code up in the official list; `None` when it is not on it.
    pub fn from_code(code: &str) -> Option<Self> {
        let bytes: [u8; 2] = code.as_bytes().try_into().ok()?;
        ENTITY_TYPES.contains(&code).then_some(EntityType(bytes))
    }

    /// The two-letter code.
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl From<EntityType> for String {
    fn from(e: EntityType) -> String {
        e.code().to_owned()
    }
}

/// Which of the three formats a UEN is, with what its characters say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum UenKind {
    /// A business (sole proprietorship or partnership): 8 digits and a check letter.
    Business,
    /// A local company, with its year of incorporation.
    LocalCompany { year: u16 },
    /// Any other entity, with its year of registration and entity type.
    Other { year: u16, entity_type: EntityType },
}

/// A UEN whose format, components and check letter are all correct. Kept in its compact upper-case form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uen {
    number: String,
    kind: UenKind,
}

/// What is wrong with a UEN, precisely enough to tell the seller what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UenError {
    #[error("a UEN is 9 or 10 characters; this has {found}")]
    Length { found: usize },
    /// `position` is 1-based.
    #[error("character {position} of the UEN should be {expected}")]
    Character { position: usize, expected: &'static str },
    #[error("the UEN's year {year} is after the current year")]
    FutureYear { year: u16 },
    #[error("`{code}` is not a UEN entity type")]
    EntityType { code: String },
    #[error("the UEN's check letter does not match the rest of the number (a typing mistake?)")]
    CheckLetter,
}

impl UenError {
    /// A stable machine-readable code for the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            UenError::Length { .. } => "uen_length",
            UenError::Character { .. } => "uen_character",
            UenError::FutureYear { .. } => "uen_future_year",
            UenError::EntityType { .. } => "uen_entity_type",
            UenError::CheckLetter => "uen_check_letter",
        }
    }
}

impl Uen {
    /// Parses and validates a UEN as typed (surrounding whitespace and letter case ignored). `current_year` is
    /// the calendar year now (from the injected clock), so numbers "issued" in the future are refused.
    pub fn parse(input: &str, current_year: u16) -> Result<Uen, UenError> {
        let trimmed = input.trim();
        if trimmed.len() > MAX_INPUT {
            return Err(UenError::Length { found: trimmed.chars().count() });
        }
        let number = trimmed.to_ascii_uppercase();
        if let Some(i) = number.chars().position(|c| !c.is_ascii_alphanumeric()) {
            return Err(UenError::Character { position: i + 1, expected: "a letter or a digit" });
        }
        let b = number.as_bytes();
        let kind = match (b.len(), b.first()) {
            (9, _) => parse_business(b)?,
            (10, Some(c)) if c.is_ascii_digit() => parse_local(b, current_year)?,
            (10, _) => parse_other(b, current_year)?,
            (n, _) => return Err(UenError::Length { found: n }),
        };
        Ok(Uen { number, kind })
    }

    /// The number in its compact upper-case form.
    pub fn as_str(&self) -> &str {
        &self.number
    }

    /// Its format and components.
    pub fn kind(&self) -> UenKind {
        self.kind
    }
}

impl fmt::Display for Uen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.number)
    }
}

fn expect_digits(b: &[u8], from: usize, to: usize) -> Result<(), UenError> {
    for (i, c) in b.iter().enumerate().take(to).skip(from) {
        if !c.is_ascii_digit() {
            return Err(UenError::Character { position: i + 1, expected: "a digit" });
        }
    }
    Ok(())
}

fn digit_sum(digits: &[u8], weights: &[u32]) -> u32 {
    digits.iter().zip(weights).map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w).sum()
}

fn check_letter(b: &[u8], expected: Option<u8>) -> Result<(), UenError> {
    match (b.last(), expected) {
        (Some(last), Some(want)) if *last == want => Ok(()),
        (Some(last), _) if !last.is_ascii_alphabetic() => {
            Err(UenError::Character { position: b.len(), expected: "a letter (the check letter)" })
        }
        _ => Err(UenError::CheckLetter),
    }
}

fn parse_business(b: &[u8]) -> Result<UenKind, UenError> {
    expect_digits(b, 0, 8)?;
    let sum = digit_sum(b, &BUSINESS_WEIGHTS);
    check_letter(b, BUSINESS_LETTERS.get((sum % 11) as usize).copied())?;
    Ok(UenKind::Business)
}

fn two_digits(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2).map_or(0, |d| d.iter().fold(0u16, |acc, c| acc * 10 + u16::from(c.wrapping_sub(b'0'))))
}

fn parse_local(b: &[u8], current_year: u16) -> Result<UenKind, UenError> {
    expect_digits(b, 0, 9)?;
    let year = two_digits(b, 0) * 100 + two_digits(b, 2);
    if year > current_year {
        return Err(UenError::FutureYear { year });
    }
    let sum = digit_sum(b, &LOCAL_WEIGHTS);
    check_letter(b, LOCAL_LETTERS.get((sum % 11) as usize).copied())?;
    Ok(UenKind::LocalCompany { year })
}

fn alphabet_index(c: u8) -> Option<u32> {
    OTHER_ALPHABET.iter().position(|a| *a == c).and_then(|i| u32::try_from(i).ok())
}

fn parse_other(b: &[u8], current_year: u16) -> Result<UenKind, UenError> {
    let century = match b.first() {
        Some(b'R') => 1800,
        Some(b'S') => 1900,
        Some(b'T') => 2000,
        _ => return Err(UenError::Character { position: 1, expected: "a digit, or R, S or T" }),
    };
    expect_digits(b, 1, 3)?;
    let year = century + two_digits(b, 1);
    if year > current_year {
        return Err(UenError::FutureYear { year });
    }
    let code = b.get(3..5).and_then(|c| std::str::from_utf8(c).ok()).unwrap_or_default();
    let entity_type = EntityType::from_code(code).ok_or_else(|| UenError::EntityType { code: code.to_owned() })?;
    expect_digits(b, 5, 9)?;
    let mut sum: i64 = 0;
    for (c, w) in b.iter().zip(OTHER_WEIGHTS) {
        sum += i64::from(alphabet_index(*c).unwrap_or(0) * w);
    }
    let at = usize::try_from((sum - 5).rem_euclid(11)).unwrap_or(0);
    check_letter(b, OTHER_ALPHABET.get(at).copied())?;
    Ok(UenKind::Other { year, entity_type })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_examples() {
        for (s, kind) in [
            ("00192200M", UenKind::Business),
            ("53143018M", UenKind::Business),
            ("197401143C", UenKind::LocalCompany { year: 1974 }),
            ("201933247R", UenKind::LocalCompany { year: 2019 }),
        ] {
            assert_eq!(Uen::parse(s, 2026).unwrap().kind(), kind, "{s}");
        }
        let t = Uen::parse(" t08ll0003b ", 2026).unwrap();
        assert_eq!(t.as_str(), "T08LL0003B");
        assert!(matches!(t.kind(), UenKind::Other { year: 2008, entity_type } if entity_type.code() == "LL"));
        let s = Uen::parse("S16FC0121D", 2026).unwrap();
        assert!(matches!(s.kind(), UenKind::Other { year: 1916, .. }));
    }

    #[test]
    fn errors_name_the_problem() {
        let e = |s: &str| Uen::parse(s, 2026).unwrap_err();
        assert_eq!(e("00192200C"), UenError::CheckLetter);
        assert_eq!(e("123456"), UenError::Length { found: 6 });
        assert_eq!(e("R2345678H"), UenError::Character { position: 1, expected: "a digit" });
        assert_eq!(e("123456789"), UenError::Character { position: 9, expected: "a letter (the check letter)" });
        assert_eq!(e("1R3456789H"), UenError::Character { position: 2, expected: "a digit" });
        assert_eq!(e("999956789H"), UenError::FutureYear { year: 9999 });
        assert_eq!(e("1234567890"), UenError::Character { position: 10, expected: "a letter (the check letter)" });
        assert_eq!(e("W23LL6789H"), UenError::Character { position: 1, expected: "a digit, or R, S or T" });
        assert_eq!(e("S2WLL6789H"), UenError::Character { position: 3, expected: "a digit" });
        assert_eq!(e("T99LL6789H"), UenError::FutureYear { year: 2099 });
        assert_eq!(e("T02WW6789H"), UenError::EntityType { code: "WW".into() });
        assert_eq!(e("T02LL6W89H"), UenError::Character { position: 7, expected: "a digit" });
        assert_eq!(e("T02LL67890"), UenError::Character { position: 10, expected: "a letter (the check letter)" });
        assert_eq!(e("T08LL 003B"), UenError::Character { position: 6, expected: "a letter or a digit" });
        assert_eq!(e("Т08LL0003B"), UenError::Character { position: 1, expected: "a letter or a digit" });
        assert!(matches!(e(&"9".repeat(10_000)), UenError::Length { found: 10_000 }));
        assert_eq!(e(""), UenError::Length { found: 0 });
    }

    #[test]
    fn future_year_depends_on_the_clock() {
        assert!(Uen::parse("201933247R", 2019).is_ok());
        assert_eq!(Uen::parse("201933247R", 2018).unwrap_err(), UenError::FutureYear { year: 2019 });
        assert!(Uen::parse("T19LL0797J", 2019).is_ok());
        assert_eq!(Uen::parse("T19LL0797J", 2018).unwrap_err().code(), "uen_future_year");
    }
}
