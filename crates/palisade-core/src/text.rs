//! Validated text newtypes, parsed once at the edge ("parse, don't validate").

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a piece of text was refused. The message is safe to show to the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} must not be empty")]
    Empty { field: &'static str },
    #[error("{field} must be at most {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("{field} may contain only lower-case letters, digits and single hyphens, and must start with a letter")]
    BadSlug { field: &'static str },
    #[error("`{0}` is not an email address")]
    BadEmail(String),
}

/// A URL-safe handle such as a store's address on the marketplace (`/s/{slug}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// Parses a slug: 2–48 characters of `a-z`, `0-9` and inner single hyphens, starting with a letter.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        const FIELD: &str = "slug";
        if s.is_empty() {
            return Err(TextError::Empty { field: FIELD });
        }
        if s.len() > 48 {
            return Err(TextError::TooLong { field: FIELD, max: 48 });
        }
        let bytes = s.as_bytes();
        let starts_with_letter = bytes.first().is_some_and(u8::is_ascii_lowercase);
        let ends_well = bytes.last().is_some_and(|b| *b != b'-');
        let chars_ok = bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if s.len() < 2 || !starts_with_letter || !ends_well || !chars_ok || s.contains("--") {
            return Err(TextError::BadSlug { field: FIELD });
        }
        Ok(Self(s.to_owned()))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Slug> for String {
    fn from(s: Slug) -> Self {
        s.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and with its domain lower-cased.
///
/// Deliberately permissive (one `@`, a non-empty local part, a dotted domain, no whitespace or control
/// characters): the only real proof of an address is a message that arrives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(TextError::Empty { field: "email" });
        }
        if s.len() > 254 {
            return Err(TextError::TooLong { field: "email", max: 254 });
        }
        let bad = || TextError::BadEmail(s.chars().take(80).collect());
        let (local, domain) = s.rsplit_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        let local_ok =
            !local.is_empty() && !local.contains('@') && local.chars().all(|c| !c.is_whitespace() && !c.is_control());
        if !domain_ok || !local_ok {
            return Err(bad());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> Self {
        e.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-readable name (store name, display name): trimmed, 1–120 characters, no control characters.
pub fn display_name(field: &'static str, s: &str) -> Result<String, TextError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TextError::Empty { field });
    }
    if s.chars().count() > 120 {
        return Err(TextError::TooLong { field, max: 120 });
    }
    Ok(s.chars().filter(|c| !c.is_control()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("tea-house").is_ok());
        assert!(Slug::parse("a1").is_ok());
        for bad in ["", "a", "Tea", "-tea", "tea-", "te--a", "tea house", "1tea", "tea_house"] {
            assert!(Slug::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().as_str(), "Ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "ann@example", "ann@exa mple.com", "a b@example.com"] {
            assert!(Email::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn display_names_drop_control_characters() {
        assert_eq!(display_name("name", " Tea\u{7} House ").unwrap(), "Tea House");
        assert!(display_name("name", "   ").is_err());
        assert!(display_name("name", &"x".repeat(121)).is_err());
    }
}
