//! The small validated values a manifest is made of: ids, handles, paths inside a package, and the allow-listed
//! vocabularies (scopes, webhook topics, plugin hooks, customer-data levels).
//!
//! Each is parsed once at the edge ("parse, don't validate"), so the rest of the crate never sees a raw string
//! where one of these is meant. The charsets are allow-lists: whatever is not listed is refused, which keeps
//! homoglyphs, control and bidi characters, and HTML/formula metacharacters out of anything an admin page shows.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a name or path was refused (the value itself is not echoed back: the field says where to look).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub &'static str);

/// An extension's id, reverse-DNS style (`com.example.reviews`): the key under which the catalog lists it, so
/// it must be stable, unambiguous and safe in URLs, file names and logs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtensionId(String);

/// Longest extension id accepted.
pub const MAX_ID_LEN: usize = 128;

impl ExtensionId {
    /// Two to eight dot-separated labels of `a-z`, `0-9` and `-`; a label starts with a letter, does not end with
    /// `-` and has at most 63 characters; at most [`MAX_ID_LEN`] in all.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > MAX_ID_LEN {
            return Err(NameError("an extension id has 1 to 128 characters"));
        }
        let labels: Vec<&str> = s.split('.').collect();
        if labels.len() < 2 || labels.len() > 8 {
            return Err(NameError("an extension id has 2 to 8 dot-separated labels, like com.example.reviews"));
        }
        if labels.iter().all(|l| dns_label(l)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError(
                "each label of an extension id is 1 to 63 characters of a-z, 0-9 and '-', starting with a letter \
                 and not ending with '-'",
            ))
        }
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn dns_label(l: &str) -> bool {
    let mut chars = l.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    first_ok
        && l.len() <= 63
        && !l.ends_with('-')
        && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A publisher's handle (`example-labs`): names the account whose key signs its releases.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublisherHandle(String);

impl PublisherHandle {
    /// 2 to 40 characters of `a-z`, `0-9` and `-`, starting with a letter, not ending with `-`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if (2..=40).contains(&s.len()) && dns_label(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError(
                "a publisher handle is 2 to 40 characters of a-z, 0-9 and '-', starting with a letter and not \
                 ending with '-'",
            ))
        }
    }

    /// The handle as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A file's path inside a package: relative, `/`-separated, each component starting with a letter or digit and
/// made of `A-Za-z0-9._-`. So there is no `..`, no absolute path, no drive letter or backslash, no hidden file,
/// and nothing that means something else once extracted on another file system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackagePath(String);

/// Longest package path accepted.
pub const MAX_PATH_LEN: usize = 200;
/// Deepest nesting accepted.
pub const MAX_PATH_DEPTH: usize = 8;

impl PackagePath {
    /// Checks the rules above; the error says which one was broken.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > MAX_PATH_LEN {
            return Err(NameError("a package path has 1 to 200 characters"));
        }
        if s.starts_with('/') {
            return Err(NameError("a package path is relative (no leading '/')"));
        }
        let components: Vec<&str> = s.split('/').collect();
        if components.len() > MAX_PATH_DEPTH {
            return Err(NameError("a package path has at most 8 components"));
        }
        for c in components {
            if c == ".." || c == "." {
                return Err(NameError("a package path has no '.' or '..' components"));
            }
            let first_ok = c.chars().next().is_some_and(|ch| ch.is_ascii_alphanumeric());
            let rest_ok = c.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-'));
            if !first_ok || !rest_ok {
                return Err(NameError(
                    "each component of a package path starts with a letter or digit and is made of A-Z, a-z, 0-9, \
                     '.', '_' and '-' (no empty components, hidden files or backslashes)",
                ));
            }
        }
        Ok(Self(s.to_owned()))
    }

    /// The path as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this path lies inside directory `dir` (a path of its own).
    #[must_use]
    pub fn is_under(&self, dir: &PackagePath) -> bool {
        self.0.strip_prefix(dir.as_str()).is_some_and(|rest| rest.starts_with('/'))
    }
}

macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(ExtensionId, PublisherHandle, PackagePath, Scope, WebhookTopic, Hook);

macro_rules! deserialize_by_parse {
    ($($t:ty),*) => {$(
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

// Catalog metadata names extensions and publishers; they are checked as they are read, like a manifest's.
deserialize_by_parse!(ExtensionId, PublisherHandle);

/// A scope an extension requests: exactly the store permissions staff are granted (palisade-store's
/// `Permission`, by its `key()` names), so a merchant reviews an extension's rights in the same words as a staff
/// member's. The names are mirrored here to keep this crate free of the storage layer; a test compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Products,
    Orders,
    Refunds,
    Payouts,
    /// Customers' personal data; needs a protected customer data level of at least 1.
    CustomerData,
    Theme,
    SecuritySettings,
    StaffManagement,
}

impl Scope {
    /// Every scope, in the order of the permission enum.
    pub const ALL: [Scope; 8] = [
        Scope::Products,
        Scope::Orders,
        Scope::Refunds,
        Scope::Payouts,
        Scope::CustomerData,
        Scope::Theme,
        Scope::SecuritySettings,
        Scope::StaffManagement,
    ];

    /// The permission's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Products => "products",
            Scope::Orders => "orders",
            Scope::Refunds => "refunds",
            Scope::Payouts => "payouts",
            Scope::CustomerData => "customer_data",
            Scope::Theme => "theme",
            Scope::SecuritySettings => "security_settings",
            Scope::StaffManagement => "staff_management",
        }
    }

    /// The scope with this name, if it is one.
    #[must_use]
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// Shopify's protected customer data levels: what personal data an extension may see at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataLevel {
    /// 0: no personal data about customers.
    None,
    /// 1: customer data without name, address, phone or email.
    WithoutContact,
    /// 2: customer data with name, address, phone and email.
    WithContact,
}

impl DataLevel {
    /// The level from its number (0, 1 or 2).
    #[must_use]
    pub fn from_number(n: i64) -> Option<DataLevel> {
        match n {
            0 => Some(DataLevel::None),
            1 => Some(DataLevel::WithoutContact),
            2 => Some(DataLevel::WithContact),
            _ => None,
        }
    }

    /// The level's number.
    #[must_use]
    pub fn number(self) -> u8 {
        match self {
            DataLevel::None => 0,
            DataLevel::WithoutContact => 1,
            DataLevel::WithContact => 2,
        }
    }
}

/// An event an extension can subscribe to. Each needs the scope that would let it read the same data, so a
/// webhook is never a side door around the scopes the merchant granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WebhookTopic {
    OrderCreated,
    OrderPaid,
    OrderFulfilled,
    OrderRefunded,
    ProductCreated,
    ProductUpdated,
    ProductDeleted,
    StockChanged,
    CustomerCreated,
    CustomerUpdated,
    CustomerDataRequested,
    CustomerRedactRequested,
    ThemePublished,
    AppUninstalled,
}

impl WebhookTopic {
    /// Every topic.
    pub const ALL: [WebhookTopic; 14] = [
        WebhookTopic::OrderCreated,
        WebhookTopic::OrderPaid,
        WebhookTopic::OrderFulfilled,
        WebhookTopic::OrderRefunded,
        WebhookTopic::ProductCreated,
        WebhookTopic::ProductUpdated,
        WebhookTopic::ProductDeleted,
        WebhookTopic::StockChanged,
        WebhookTopic::CustomerCreated,
        WebhookTopic::CustomerUpdated,
        WebhookTopic::CustomerDataRequested,
        WebhookTopic::CustomerRedactRequested,
        WebhookTopic::ThemePublished,
        WebhookTopic::AppUninstalled,
    ];

    /// The topic's name in manifests and deliveries.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookTopic::OrderCreated => "order.created",
            WebhookTopic::OrderPaid => "order.paid",
            WebhookTopic::OrderFulfilled => "order.fulfilled",
            WebhookTopic::OrderRefunded => "order.refunded",
            WebhookTopic::ProductCreated => "product.created",
            WebhookTopic::ProductUpdated => "product.updated",
            WebhookTopic::ProductDeleted => "product.deleted",
            WebhookTopic::StockChanged => "stock.changed",
            WebhookTopic::CustomerCreated => "customer.created",
            WebhookTopic::CustomerUpdated => "customer.updated",
            WebhookTopic::CustomerDataRequested => "customer.data_requested",
            WebhookTopic::CustomerRedactRequested => "customer.redact_requested",
            WebhookTopic::ThemePublished => "theme.published",
            WebhookTopic::AppUninstalled => "app.uninstalled",
        }
    }

    /// The topic with this name, if it is one.
    #[must_use]
    pub fn parse(s: &str) -> Option<WebhookTopic> {
        WebhookTopic::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The scope the subscriber must hold (`None`: the topic carries nothing from the store).
    #[must_use]
    pub fn required_scope(self) -> Option<Scope> {
        use WebhookTopic as T;
        match self {
            T::OrderCreated | T::OrderPaid | T::OrderFulfilled => Some(Scope::Orders),
            T::OrderRefunded => Some(Scope::Refunds),
            T::ProductCreated | T::ProductUpdated | T::ProductDeleted | T::StockChanged => Some(Scope::Products),
            T::CustomerCreated | T::CustomerUpdated | T::CustomerDataRequested | T::CustomerRedactRequested => {
                Some(Scope::CustomerData)
            }
            T::ThemePublished => Some(Scope::Theme),
            T::AppUninstalled => None,
        }
    }
}

/// A point where the platform calls a WebAssembly plugin. The list is closed: a plugin runs only where the
/// platform has defined its inputs, outputs and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// A block rendered on the storefront's product page.
    ProductBlock,
    /// Extra shipping rates offered at checkout.
    ShippingRates,
    /// A check that may refuse a checkout with a message.
    CheckoutValidate,
}

impl Hook {
    /// Every hook.
    pub const ALL: [Hook; 3] = [Hook::ProductBlock, Hook::ShippingRates, Hook::CheckoutValidate];

    /// The hook's name in manifests.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::ProductBlock => "product_block",
            Hook::ShippingRates => "shipping_rates",
            Hook::CheckoutValidate => "checkout_validate",
        }
    }

    /// The hook with this name, if it is one.
    #[must_use]
    pub fn parse(s: &str) -> Option<Hook> {
        Hook::ALL.into_iter().find(|h| h.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ids() {
        for good in ["com.example.reviews", "io.shop-tools.x1", "a.b"] {
            assert!(ExtensionId::parse(good).is_ok(), "{good}");
        }
        let long_label = format!("com.{}", "a".repeat(64));
        let too_long = format!("com.{}", ["abc"; 40].join("."));
        for bad in [
            "",
            "reviews",
            "Com.example",
            "com..example",
            "com.example.",
            ".com.example",
            "com.-example",
            "com.example-",
            "com.1example",
            "com.exa_mple",
            "com.exämple",
            "com.example/../x",
            "com.example<script>",
            "=cmd.x",
            long_label.as_str(),
            too_long.as_str(),
            "a.b.c.d.e.f.g.h.i",
        ] {
            assert!(ExtensionId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn package_paths() {
        for good in ["palisade-extension.toml", "theme/templates/product.html", "plugin/x_1.wasm"] {
            assert!(PackagePath::parse(good).is_ok(), "{good}");
        }
        let deep = ["d"; 9].join("/");
        let long = "a".repeat(201);
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "theme/../../x",
            "theme/./x",
            "theme//x",
            "theme/",
            "C:\\x",
            "theme\\x",
            ".git/config",
            "theme/.htaccess",
            "theme/x\0y",
            "theme/é.html",
            "theme/a b",
            deep.as_str(),
            long.as_str(),
        ] {
            assert!(PackagePath::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let dir = PackagePath::parse("theme").unwrap();
        assert!(PackagePath::parse("theme/a").unwrap().is_under(&dir));
        assert!(!PackagePath::parse("themes/a").unwrap().is_under(&dir));
        assert!(!PackagePath::parse("theme").unwrap().is_under(&dir));
    }

    #[test]
    fn vocabularies_round_trip() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        for t in WebhookTopic::ALL {
            assert_eq!(WebhookTopic::parse(t.as_str()), Some(t));
        }
        for h in Hook::ALL {
            assert_eq!(Hook::parse(h.as_str()), Some(h));
        }
        assert_eq!(Scope::parse("Products"), None);
        assert_eq!(DataLevel::from_number(3), None);
        assert_eq!(DataLevel::from_number(2).map(DataLevel::number), Some(2));
    }
}
