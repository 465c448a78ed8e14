//! The shipping address of an order, parsed once at the edge (the HTML checkout's form fields or the API's JSON
//! object) so both checkouts store, fingerprint and show the same shape.

use serde::Serialize;

/// Longest value of one address field, in characters.
pub const MAX_FIELD: usize = 200;

/// Where an order is delivered. Every field is trimmed, at most [`MAX_FIELD`] characters and free of control
/// characters (a newline cannot forge a line on a packing slip); all but `line2` are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippingAddress {
    name: String,
    line1: String,
    line2: String,
    city: String,
    postcode: String,
    country: String,
}

/// The address fields as typed, before parsing.
#[derive(Debug, Clone, Copy, Default)]
pub struct AddressFields<'a> {
    pub name: &'a str,
    pub line1: &'a str,
    pub line2: &'a str,
    pub city: &'a str,
    pub postcode: &'a str,
    pub country: &'a str,
}

/// Why an address was refused; the field is named so a form can say which one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the delivery address needs {0}")]
    Missing(&'static str),
    #[error("the address field {field} is at most {max} characters", max = MAX_FIELD)]
    TooLong { field: &'static str },
    #[error("the address field {0} may not contain control characters or line breaks")]
    ControlCharacters(&'static str),
    #[error("the address field {0} must be text")]
    NotText(String),
    #[error("the address has no field `{0}` (name, line1, line2, city, postcode, country)")]
    UnknownField(String),
    #[error("the address must be an object with name, line1, city, postcode and country")]
    NotAnObject,
}

impl AddressError {
    /// The form field the refusal is about (`name`, `line1` …), when it is about one.
    #[must_use]
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Missing(f) | Self::TooLong { field: f } | Self::ControlCharacters(f) => Some(f),
            Self::NotText(_) | Self::UnknownField(_) | Self::NotAnObject => None,
        }
    }
}

/// Whether an address field may be left empty (only the second line may).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Presence {
    Required,
    Optional,
}

fn field(name: &'static str, value: &str, presence: Presence) -> Result<String, AddressError> {
    let v = value.trim();
    if v.is_empty() && presence == Presence::Required {
        return Err(AddressError::Missing(name));
    }
    if v.chars().count() > MAX_FIELD {
        return Err(AddressError::TooLong { field: name });
    }
    if v.chars().any(char::is_control) {
        return Err(AddressError::ControlCharacters(name));
    }
    Ok(v.to_owned())
}

const FIELDS: [&str; 6] = ["name", "line1", "line2", "city", "postcode", "country"];

impl ShippingAddress {
    /// Parses typed fields (the HTML checkout).
    pub fn parse(f: AddressFields<'_>) -> Result<Self, AddressError> {
        Ok(Self {
            name: field("name", f.name, Presence::Required)?,
            line1: field("line1", f.line1, Presence::Required)?,
            line2: field("line2", f.line2, Presence::Optional)?,
            city: field("city", f.city, Presence::Required)?,
            postcode: field("postcode", f.postcode, Presence::Required)?,
            country: field("country", f.country, Presence::Required)?,
        })
    }

    /// Parses typed fields and, when any is refused, answers every refusal (one per field, in form order), so a
    /// form can show each next to its field instead of one at a time.
    pub fn parse_each(f: AddressFields<'_>) -> Result<Self, Vec<AddressError>> {
        let fields = [
            field("name", f.name, Presence::Required),
            field("line1", f.line1, Presence::Required),
            field("line2", f.line2, Presence::Optional),
            field("city", f.city, Presence::Required),
            field("postcode", f.postcode, Presence::Required),
            field("country", f.country, Presence::Required),
        ];
        match fields {
            [Ok(name), Ok(line1), Ok(line2), Ok(city), Ok(postcode), Ok(country)] => {
                Ok(Self { name, line1, line2, city, postcode, country })
            }
            fields => Err(fields.into_iter().filter_map(Result::err).collect()),
        }
    }

    /// Parses a JSON object (the API): the same fields as text; an unknown key is refused rather than stored.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, AddressError> {
        let obj = v.as_object().ok_or(AddressError::NotAnObject)?;
        if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(AddressError::UnknownField(unknown.chars().take(40).collect()));
        }
        let text = |k: &str| match obj.get(k) {
            None | Some(serde_json::Value::Null) => Ok(""),
            Some(serde_json::Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(AddressError::NotText(k.to_owned())),
        };
        Self::parse(AddressFields {
            name: text("name")?,
            line1: text("line1")?,
            line2: text("line2")?,
            city: text("city")?,
            postcode: text("postcode")?,
            country: text("country")?,
        })
    }

    /// The address as the JSON object stored on the order (the same six keys always).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name, "line1": self.line1, "line2": self.line2,
            "city": self.city, "postcode": self.postcode, "country": self.country,
        })
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A stored address (the JSON object of [`ShippingAddress::to_json`]) on one line, for mail and packing
    /// slips: the non-empty fields joined by commas; anything else (a record from before the address was typed)
    /// reads as "-".
    #[must_use]
    pub fn display_json(stored: &serde_json::Value) -> String {
        let parts: Vec<&str> = ["name", "line1", "line2", "city", "postcode", "country"]
            .iter()
            .filter_map(|k| stored.get(*k).and_then(serde_json::Value::as_str))
            .map(str::trim)
            .filter(|v| !v.is_empty() && !v.chars().any(char::is_control))
            .collect();
        if parts.is_empty() { "-".to_owned() } else { parts.join(", ") }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> AddressFields<'static> {
        AddressFields {
            name: " Mei ",
            line1: "1 Marina Blvd",
            line2: "",
            city: "Singapore",
            postcode: "018989",
            country: "SG",
        }
    }

    #[test]
    fn trims_and_keeps_the_six_fields() {
        let a = ShippingAddress::parse(full()).unwrap();
        assert_eq!(a.name(), "Mei");
        assert_eq!(ShippingAddress::from_json(&a.to_json()).unwrap(), a, "what is stored parses back");
    }

    #[test]
    fn refuses_missing_long_control_and_unknown_fields_naming_the_field() {
        let e = |f: AddressFields<'_>| ShippingAddress::parse(f).unwrap_err();
        assert_eq!(e(AddressFields { city: "  ", ..full() }), AddressError::Missing("city"));
        let long = "x".repeat(MAX_FIELD + 1);
        assert_eq!(e(AddressFields { line2: &long, ..full() }), AddressError::TooLong { field: "line2" });
        assert!(ShippingAddress::parse(AddressFields { name: &"é".repeat(MAX_FIELD), ..full() }).is_ok());
        assert_eq!(
            e(AddressFields { line1: "1 Road\nSHIP TO: elsewhere", ..full() }),
            AddressError::ControlCharacters("line1")
        );
        assert_eq!(e(AddressFields { name: "Mei\u{0}", ..full() }), AddressError::ControlCharacters("name"));
        let j = |v: serde_json::Value| ShippingAddress::from_json(&v).unwrap_err();
        assert_eq!(j(serde_json::json!("1 Road")), AddressError::NotAnObject);
        let mut v = ShippingAddress::parse(full()).unwrap().to_json();
        v["phone"] = "555".into();
        assert_eq!(j(v.clone()), AddressError::UnknownField("phone".into()));
        v.as_object_mut().unwrap().remove("phone");
        v["postcode"] = 18989.into();
        assert_eq!(j(v), AddressError::NotText("postcode".into()));
    }

    #[test]
    fn parse_each_names_every_refused_field_and_agrees_with_parse() {
        let long = "x".repeat(MAX_FIELD + 1);
        let bad = AddressFields { name: "", line2: &long, city: "Sing\tapore", ..full() };
        let errors = ShippingAddress::parse_each(bad).unwrap_err();
        let fields: Vec<_> = errors.iter().map(AddressError::field).collect();
        assert_eq!(fields, [Some("name"), Some("line2"), Some("city")]);
        assert_eq!(errors.first(), Some(&ShippingAddress::parse(bad).unwrap_err()), "the same first refusal");
        assert_eq!(ShippingAddress::parse_each(full()).unwrap(), ShippingAddress::parse(full()).unwrap());
        assert_eq!(AddressError::NotAnObject.field(), None);
    }
}
