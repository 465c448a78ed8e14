//! Product descriptions may contain HTML (merchants paste formatted text). The shield lets HTML through in that
//! one field (an exception scoped to the route and field) and it is cleaned here with ammonia instead: formatting
//! tags stay, scripts, event handlers, styles and dangerous URLs go. Cleaning happens when a description is saved
//! and again when it is shown (a description restored from an old backup or imported from an archive is cleaned
//! before any buyer sees it); the second pass is cached by content hash, so the storefront's hot path pays it once.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use minijinja::Value;
use sha2::{Digest, Sha256};

const TAGS: &[&str] = &[
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "dl",
    "dt",
    "em",
    "h2",
    "h3",
    "h4",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "small",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
];

fn cleaner() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    b.tags(TAGS.iter().copied().collect::<HashSet<_>>())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("nofollow noopener ugc"))
        .tag_attributes(HashMap::from([("a", ["href", "title"].into_iter().collect())]))
        .generic_attributes(HashSet::new());
    b
}

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(cleaner);

/// Whether the text contains something that looks like a tag (`<b`, `</p`, `<!--`); "I <3 tea" does not.
#[must_use]
pub fn looks_like_html(text: &str) -> bool {
    text.as_bytes().windows(2).any(|w| matches!(w, [b'<', c] if c.is_ascii_alphabetic() || *c == b'/' || *c == b'!'))
}

/// What is stored: HTML cleaned, plain text unchanged.
#[must_use]
pub fn clean_for_storage(text: &str) -> String {
    if looks_like_html(text) { CLEANER.clean(text).to_string() } else { text.to_owned() }
}

/// What is shown: cleaned HTML, or plain text escaped with its paragraphs and line breaks kept.
#[must_use]
pub fn to_html(text: &str) -> String {
    if looks_like_html(text) {
        return CLEANER.clean(text).to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for para in text.replace("\r\n", "\n").split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        for (i, line) in para.lines().enumerate() {
            if i > 0 {
                out.push_str("<br>");
            }
            out.push_str(&html_escape::encode_text(line));
        }
        out.push_str("</p>");
    }
    out
}

const CACHE_MAX: usize = 4096;
static CACHE: LazyLock<Mutex<HashMap<[u8; 32], Arc<str>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// The `rich_text` template filter: `{{ product.description | rich_text }}`. Marks its own output safe; the
/// `safe` filter itself stays unavailable to merchant templates.
pub fn filter(text: String) -> Value {
    let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    if let Ok(cache) = CACHE.lock()
        && let Some(html) = cache.get(&key)
    {
        return Value::from_safe_string(html.to_string());
    }
    let html: Arc<str> = Arc::from(to_html(&text));
    if let Ok(mut cache) = CACHE.lock() {
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&html));
    }
    Value::from_safe_string(html.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_bad_urls_go_formatting_stays() {
        let dirty = r#"<p onclick="x()">Hand-rolled <b>oolong</b> <script>alert(1)</script><img src=x onerror=alert(1)>
<a href="javascript:alert(1)">bad</a> <a href="https://tea.example/">good</a><style>p{}</style><iframe src="//evil"></iframe></p>"#;
        let clean = clean_for_storage(dirty);
        for gone in ["script", "onclick", "onerror", "javascript:", "<img", "<style", "<iframe"] {
            assert!(!clean.to_lowercase().contains(gone), "{gone} survived: {clean}");
        }
        assert!(clean.contains("<b>oolong</b>"), "{clean}");
        assert!(clean.contains(r#"<a href="https://tea.example/" rel="nofollow noopener ugc">good</a>"#), "{clean}");
    }

    #[test]
    fn plain_text_keeps_its_meaning() {
        assert!(!looks_like_html("I <3 tea & O'Reilly books"));
        assert_eq!(clean_for_storage("I <3 tea"), "I <3 tea");
        assert_eq!(
            to_html("Line one\nline <3\n\nSecond & last"),
            "<p>Line one<br>line &lt;3</p><p>Second &amp; last</p>"
        );
    }

    #[test]
    fn the_filter_output_is_safe_and_cached() {
        let a = filter("<b>x</b><script>y</script>".into());
        assert!(a.is_safe());
        assert_eq!(a.as_str(), Some("<b>x</b>"));
        let b = filter("<b>x</b><script>y</script>".into());
        assert_eq!(a.as_str(), b.as_str());
    }
}
