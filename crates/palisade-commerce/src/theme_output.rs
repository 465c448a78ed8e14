//! What a merchant's template may put on a page of the platform's origin.
//!
//! A store's pages are served from the marketplace's own origin, so anything interactive in them is trusted by
//! the browser as the platform's own: a `<form>` or a `formaction` button in a theme is a same-origin POST that
//! the header-based CSRF check accepts, a `<meta http-equiv=refresh>` or `<base>` redirects, a `<link>` or a
//! `<style>` pulls in more. So the output of every template a merchant edited is cleaned with an explicit
//! allow-list of what a shop theme needs to present its catalog (text, layout, links, images, tables), and the
//! interactive parts — the search box and the add-to-cart form — are **slots**: the theme says where they go
//! (`{{ slot("buy") }}`), the platform renders them from its own templates after cleaning. The document shell
//! (`<head>`, stylesheets) is the platform's too; of a merchant's `<head>` only the title text survives.
//!
//! Every page is also capped at [`MAX_OUTPUT`]: a twenty-byte template of nested loops must not turn every
//! store page into megabytes.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::LazyLock;

use minijinja::Value;

/// The largest page a template may render.
pub const MAX_OUTPUT: usize = 2 * 1024 * 1024;

/// The slots a theme may place, each filled by the platform's own template `slot_{name}.html`.
pub const SLOTS: &[&str] = &["search", "buy", "extensions"];

const SLOT_TAG: &str = "palisade-slot";

/// The marker `{{ slot(name) }}` leaves in a page (an element the cleaner keeps, so it survives cleaning only
/// where an element can stand — never inside an attribute or a text node, where it would be escaped).
#[must_use]
pub fn slot_marker(name: &str) -> String {
    format!("<{SLOT_TAG} data-slot=\"{name}\"></{SLOT_TAG}>")
}

/// The `slot` template function.
pub fn slot_function(name: String) -> Result<Value, minijinja::Error> {
    if SLOTS.contains(&name.as_str()) {
        Ok(Value::from_safe_string(slot_marker(&name)))
    } else {
        Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("there is no slot `{name}` (slots: {})", SLOTS.join(", ")),
        ))
    }
}

/// Elements a theme may use. No form controls, no embedding, no scripts or styles, nothing in `<head>`.
const TAGS: &[&str] = &[
    "a",
    "abbr",
    "address",
    "article",
    "aside",
    "b",
    "bdi",
    "bdo",
    "blockquote",
    "br",
    "caption",
    "cite",
    "code",
    "col",
    "colgroup",
    "data",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hgroup",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "main",
    "mark",
    "nav",
    "ol",
    "p",
    "picture",
    "pre",
    "q",
    "rp",
    "rt",
    "ruby",
    "s",
    "samp",
    "section",
    "small",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "u",
    "ul",
    "var",
    "wbr",
    SLOT_TAG,
];

fn cleaner() -> ammonia::Builder<'static> {
    let mut b = ammonia::Builder::default();
    let tag_attributes: HashMap<&'static str, HashSet<&'static str>> = HashMap::from([
        ("a", HashSet::from(["href", "hreflang"])),
        ("img", HashSet::from(["src", "alt", "width", "height", "loading", "decoding"])),
        ("td", HashSet::from(["colspan", "rowspan", "headers"])),
        ("th", HashSet::from(["colspan", "rowspan", "headers", "scope", "abbr"])),
        ("col", HashSet::from(["span"])),
        ("colgroup", HashSet::from(["span"])),
        ("ol", HashSet::from(["start", "reversed", "type"])),
        ("li", HashSet::from(["value"])),
        ("time", HashSet::from(["datetime"])),
        ("data", HashSet::from(["value"])),
        ("details", HashSet::from(["open"])),
        ("blockquote", HashSet::from(["cite"])),
        ("q", HashSet::from(["cite"])),
    ]);
    b.tags(TAGS.iter().copied().collect())
        .tag_attributes(tag_attributes)
        .generic_attributes(HashSet::from(["class", "id", "title", "lang", "dir", "role", "hidden"]))
        // `aria-*` for accessibility and `data-*` for the slot markers; neither runs anything without a script.
        .generic_attribute_prefixes(HashSet::from(["aria-", "data-"]))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener"))
        .strip_comments(true)
        .attribute_filter(|_, attribute, value| platform_names_removed(attribute, value));
    b
}

/// Class and id names the platform's chrome uses (the trust bar, the wrapper around a theme's body): a theme
/// may not give its own elements those names, so it cannot dress a badge up as the platform's or aim the
/// platform's styles at its own content.
fn is_platform_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.starts_with("platform-") || name == "store-theme" || name.ends_with("verified-seller")
}

fn platform_names_removed<'a>(attribute: &str, value: &'a str) -> Option<std::borrow::Cow<'a, str>> {
    match attribute {
        "class" if value.split_ascii_whitespace().any(is_platform_name) => Some(std::borrow::Cow::Owned(
            value.split_ascii_whitespace().filter(|c| !is_platform_name(c)).collect::<Vec<_>>().join(" "),
        )),
        "id" if is_platform_name(value.trim()) => None,
        _ => Some(std::borrow::Cow::Borrowed(value)),
    }
}

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(cleaner);
static TEXT_ONLY: LazyLock<ammonia::Builder<'static>> = LazyLock::new(ammonia::Builder::empty);

/// A merchant-rendered page, cleaned: its title as escaped text and its body as allow-listed HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanPage {
    pub title: String,
    pub body: String,
}

fn find_ci(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    (from..h.len().saturating_sub(n.len()).saturating_add(1))
        .find(|&i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
}

fn rfind_ci(haystack: &str, needle: &str) -> Option<usize> {
    let h = haystack.as_bytes();
    let n = needle.as_bytes();
    (0..h.len().saturating_sub(n.len()).saturating_add(1))
        .rev()
        .find(|&i| h.get(i..i + n.len()).is_some_and(|w| w.eq_ignore_ascii_case(n)))
}

/// Which closing tag ends an element: the first (a `<title>`), or the last in the page (a `<body>`, so that a
/// stray `</body>` inside cannot cut it short).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    First,
    Last,
}

/// The text between `<tag …>` and `</tag` (the first such element), if there is one.
fn element_content<'a>(html: &'a str, tag: &str, close: Close) -> Option<&'a str> {
    let open = find_ci(html, &format!("<{tag}"), 0)?;
    let start = html.get(open..)?.find('>')? + open + 1;
    let close_tag = format!("</{tag}");
    let end = if close == Close::Last { rfind_ci(html, &close_tag)? } else { find_ci(html, &close_tag, start)? };
    html.get(start..end.max(start))
}

/// Cleans a page a merchant template rendered: the title keeps only its text, the body only what [`TAGS`]
/// allows (without a `<body>` the whole output counts as body, minus any `<head>`).
#[must_use]
pub fn clean_page(raw: &str) -> CleanPage {
    let title = element_content(raw, "title", Close::First).map(|t| TEXT_ONLY.clean(t).to_string()).unwrap_or_default();
    let body = match element_content(raw, "body", Close::Last) {
        Some(b) => b,
        None => match find_ci(raw, "</head", 0) {
            Some(i) => raw.get(i..).unwrap_or_default(),
            None => raw,
        },
    };
    CleanPage { title, body: CLEANER.clean(body).to_string() }
}

/// Cleans a fragment with the theme allow-list (what [`clean_page`] does to a body).
#[must_use]
pub fn clean_fragment(html: &str) -> String {
    CLEANER.clean(html).to_string()
}

/// The `extensions` slot: what installed extensions' plugins add to a product page (the page context's
/// `extension_blocks`, a list of `{extension, html}` the web layer built from the plugins' output, already cleaned
/// to the plugin sandbox's allow-list), each under a caption naming its extension. Built here rather than in a
/// template: templates escape, and the blocks are markup. Each block is cleaned once more with the storefront's
/// own cleaner, a second wall.
#[must_use]
pub fn extension_blocks(ctx: &minijinja::Value) -> String {
    let Ok(list) = ctx.get_attr("extension_blocks") else { return String::new() };
    let Ok(items) = list.try_iter() else { return String::new() };
    let mut out = String::new();
    for item in items {
        let text = |key: &str| item.get_attr(key).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        let (name, html) = (text("extension"), text("html"));
        if html.trim().is_empty() {
            continue;
        }
        let block = clean_fragment(&html);
        if out.len() + block.len() > MAX_EXTENSION_BYTES {
            break;
        }
        out.push_str("<div class=\"extension-block\"><p class=\"extension-source\">From <b>");
        out.push_str(&html_escape::encode_text(&name));
        out.push_str("</b>, an extension this shop installed</p>");
        out.push_str(&block);
        out.push_str("</div>");
    }
    if out.is_empty() {
        return out;
    }
    format!("<section class=\"extension-blocks\" aria-label=\"Added by this shop's extensions\">{out}</section>")
}

/// Fills each slot where its marker first appears in `html` with what `render` gives for it; further markers of the
/// same slot are removed. Once only: a theme printing a marker a thousand times would otherwise multiply the
/// platform's part (a plugin's block, the buy form) past any page cap, after the cap was checked.
pub fn fill_slots<E>(html: &str, mut render: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
    let mut out = html.to_owned();
    for name in SLOTS {
        let marker = slot_marker(name);
        if let Some(at) = out.find(&marker) {
            let filled = render(name)?;
            let rest = out.split_off(at);
            let after = rest.get(marker.len()..).unwrap_or_default().replace(&marker, "");
            out.push_str(&filled);
            out.push_str(&after);
        }
    }
    Ok(out)
}

/// Most bytes of extension blocks on one page (each block is capped by the sandbox; this caps them together).
pub const MAX_EXTENSION_BYTES: usize = 64 * 1024;

/// A writer that refuses to grow past [`MAX_OUTPUT`], so a runaway template stops as soon as it is too big.
#[derive(Debug, Default)]
pub struct Capped {
    buf: Vec<u8>,
    overflowed: bool,
}

impl io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(data.len()) > MAX_OUTPUT {
            self.overflowed = true;
            return Err(io::Error::other(format!("the page is larger than {} MiB", MAX_OUTPUT / (1024 * 1024))));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders `template` with `ctx`, stopping with an error once the output passes [`MAX_OUTPUT`].
pub fn render_capped(template: &minijinja::Template<'_, '_>, ctx: Value) -> Result<String, minijinja::Error> {
    let mut out = Capped::default();
    if let Err(e) = template.render_captured_to(ctx, &mut out) {
        if out.overflowed {
            let message = format!("the page is larger than {} MiB", MAX_OUTPUT / (1024 * 1024));
            return Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message).with_source(e));
        }
        return Err(e);
    }
    String::from_utf8(out.buf)
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::BadSerialization, "the page is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_markers_survive_cleaning_only_as_elements() {
        let m = slot_marker("buy");
        assert_eq!(clean_fragment(&format!("<p>{m}</p>")), format!("<p>{m}</p>"));
        let in_attr = clean_fragment(&format!("<a title='{m}' href='/x'>x</a>"));
        assert!(!in_attr.contains(&m), "{in_attr}");
        let escaped = clean_fragment(&html_escape::encode_text(&m));
        assert!(!escaped.contains(&m), "{escaped}");
    }

    #[test]
    fn the_head_keeps_only_its_title_text() {
        let page = clean_page(
            "<!doctype html><html><head><title>Tea &amp; <b>cakes</b></title><meta http-equiv=refresh content='0;url=/x'>\
             <base href='//evil.example/'><link rel=stylesheet href='//evil.example/x.css'></head>\
             <body class=x><h1>Hi</h1><form method=post action=/cart/add><button>Go</button></form></body></html>",
        );
        assert_eq!(page.title, "Tea &amp; cakes");
        assert_eq!(page.body, "<h1>Hi</h1>Go");
    }

    #[test]
    fn a_theme_cannot_use_the_platforms_class_or_id_names() {
        let page = clean_page(
            r#"<body><span class="badge platform-verified x" id="verified-seller">✓ Verified seller</span><div class="STORE-THEME" id="Platform-trust">y</div><p class="mine" id="mine">z</p></body>"#,
        );
        assert!(!page.body.contains("platform-") && !page.body.contains("verified-seller"), "{}", page.body);
        assert!(!page.body.to_ascii_lowercase().contains("store-theme"), "{}", page.body);
        assert!(page.body.contains(r#"class="badge x""#) && page.body.contains(r#"id="mine""#), "{}", page.body);
    }

    #[test]
    fn fill_slots_replaces_markers() {
        let html = format!("<div>{}</div>", slot_marker("buy"));
        let out = fill_slots::<()>(&html, |n| Ok(format!("[{n}]"))).unwrap_or_default();
        assert_eq!(out, "<div>[buy]</div>");
    }

    #[test]
    fn a_slot_is_filled_once_however_often_a_theme_prints_it() {
        let (buy, ext) = (slot_marker("buy"), slot_marker("extensions"));
        let html = format!("{ext}<p>{buy}</p>{}{buy}", ext.repeat(1000));
        let out = fill_slots::<()>(&html, |n| Ok(format!("[{n}]"))).unwrap_or_default();
        assert_eq!(out, "[extensions]<p>[buy]</p>");
    }

    #[test]
    fn output_is_capped() {
        let mut env = minijinja::Environment::new();
        let line = "x".repeat(100);
        let src = format!("{{% for a in range(3000) %}}{{% for b in range(3000) %}}{line}{{% endfor %}}{{% endfor %}}");
        env.add_template_owned("t", src).ok();
        let t = env.get_template("t").ok();
        let r = t.map(|t| render_capped(&t, Value::UNDEFINED));
        assert!(matches!(r, Some(Err(_))), "{r:?}");
    }
}
