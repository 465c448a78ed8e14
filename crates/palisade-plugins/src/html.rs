//! The product block's output is untrusted HTML: it is only ever shown cleaned or escaped.

use std::collections::HashSet;
use std::sync::LazyLock;

/// HTML a plugin returned. There is deliberately no way to get at it as markup except through [`Self::sanitised`]
/// (an allow-list of formatting tags with no attributes except `class`: no scripts, styles, event handlers,
/// links, images, forms or frames) or [`Self::escaped`] (as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrustedHtml(String);

const TAGS: [&str; 17] = [
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "small",
    "span",
    "div",
    "ul",
    "ol",
    "li",
    "h3",
    "h4",
    "blockquote",
    "hr",
];

/// Class names the platform's own page parts use (the seller information bar, the verified-seller badge, the
/// theme scope): a block may not borrow their look to pass itself off as the platform's word.
pub const RESERVED_CLASS_PREFIXES: [&str; 4] = ["platform-", "verified", "store-theme", "trust-"];

/// The `class` value with every reserved class name removed and the others put in the plugins' own namespace
/// (`ext-`): a block styles itself only with classes no platform or theme rule was written for (the green
/// buyer-protection box, a badge, a notice).
fn allowed_classes(value: &str) -> String {
    value
        .split_ascii_whitespace()
        .filter(|c| {
            let lower = c.to_ascii_lowercase();
            !RESERVED_CLASS_PREFIXES.iter().any(|p| lower.starts_with(p))
        })
        .map(|c| format!("ext-{c}"))
        .collect::<Vec<_>>()
        .join(" ")
}

static CLEANER: LazyLock<ammonia::Builder<'static>> =
    LazyLock::new(|| {
        let mut b = ammonia::Builder::empty();
        b.tags(TAGS.into_iter().collect::<HashSet<_>>())
            .generic_attributes(HashSet::from(["class"]))
            .attribute_filter(|_, attribute, value| {
                if attribute == "class" { Some(allowed_classes(value).into()) } else { Some(value.into()) }
            })
            .strip_comments(true);
        b
    });

/// Most start tags a block may hold. The HTML parser's work grows with the square of the nesting depth (each
/// start tag checks the open-element stack), and fuel does not meter the host: 6,500 nested `<div>`s, which fit
/// in the 32 KiB output cap, take seconds to clean. Depth can only come from start tags, so capping their number
/// caps the work (a block of 20 reviews needs about 100).
pub const MAX_TAGS: usize = 256;

impl UntrustedHtml {
    /// Accepts the fragment if it has at most [`MAX_TAGS`] start tags (`<` followed by a letter, as the HTML
    /// tokeniser reads a tag).
    pub(crate) fn new(s: String) -> Result<Self, &'static str> {
        let tags = s
            .as_bytes()
            .windows(2)
            .filter(|w| w.first() == Some(&b'<') && w.get(1).is_some_and(u8::is_ascii_alphabetic))
            .count();
        if tags > MAX_TAGS {
            return Err("the block has more than 256 tags");
        }
        Ok(Self(s))
    }

    /// The fragment cleaned to the allow-list, safe to put into a page.
    #[must_use]
    pub fn sanitised(&self) -> String {
        CLEANER.clean(&self.0).to_string()
    }

    /// The fragment as escaped text (for places that show no markup at all).
    #[must_use]
    pub fn escaped(&self) -> String {
        ammonia::clean_text(&self.0)
    }

    /// The raw bytes as the plugin wrote them: for tests and audit logs only, never for a page.
    #[must_use]
    pub fn untrusted_raw(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reserved_classes_are_dropped_and_others_kept() {
        let block = UntrustedHtml::new(
            r#"<p class="Verified-Seller note platform-bar trust-badge big">ok</p><script>x()</script>"#.into(),
        )
        .unwrap();
        assert_eq!(block.sanitised(), r#"<p class="ext-note ext-big">ok</p>"#);
    }
}
