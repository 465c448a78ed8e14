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

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.tags(TAGS.into_iter().collect::<HashSet<_>>()).generic_attributes(HashSet::from(["class"])).strip_comments(true);
    b
});

impl UntrustedHtml {
    pub(crate) fn new(s: String) -> Self {
        Self(s)
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
