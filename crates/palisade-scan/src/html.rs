//! A fetched page read with a real HTML parser (`tl`), reduced to what the checks need. Attribute values are
//! entity-decoded, as a browser reads them (`&#x2f;&#x2f;evil` is `//evil`).

use std::borrow::Cow;

/// Largest body the engine parses; the rest is ignored (a crawl is bounded in bytes as well as pages).
pub const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// One element: lower-case tag name and its attributes (lower-case names, decoded values; `None` if bare).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Tag name, lower case.
    pub name: String,
    /// Attributes in source order.
    pub attrs: Vec<(String, Option<String>)>,
}

impl Element {
    /// The decoded value of attribute `name` (present with a value).
    #[must_use]
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref())
    }

    /// Whether attribute `name` is present (with or without a value).
    #[must_use]
    pub fn has_attr(&self, name: &str) -> bool {
        self.attrs.iter().any(|(n, _)| n == name)
    }
}

/// A form and the names of the fields inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The `<form>` element.
    pub element: Element,
    /// `name` attributes of its `input`, `select`, `textarea` and `button` descendants.
    pub field_names: Vec<String>,
}

/// The parts of a page the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Every element in document order.
    pub elements: Vec<Element>,
    /// Every form with its fields.
    pub forms: Vec<Form>,
    /// The `<title>` text, if any.
    pub title: Option<String>,
}

impl Page {
    /// Parses `html` (truncated to [`MAX_BODY_BYTES`] at a character boundary). Unparseable input gives an empty
    /// page rather than an error: a scan reports what it can.
    #[must_use]
    pub fn parse(html: &str) -> Self {
        let html = truncate(html, MAX_BODY_BYTES);
        let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else {
            return Self::default();
        };
        let parser = dom.parser();
        let mut page = Self::default();
        for node in dom.nodes() {
            let Some(tag) = node.as_tag() else { continue };
            let element = element_of(tag);
            if element.name == "title" && page.title.is_none() {
                page.title = Some(decode(&tag.inner_text(parser)).trim().to_owned());
            }
            if element.name == "form" {
                let field_names = tag
                    .children()
                    .all(parser)
                    .iter()
                    .filter_map(tl::Node::as_tag)
                    .map(element_of)
                    .filter(|e| matches!(e.name.as_str(), "input" | "select" | "textarea" | "button"))
                    .filter_map(|e| e.attr("name").map(str::to_owned))
                    .collect();
                page.forms.push(Form { element: element.clone(), field_names });
            }
            page.elements.push(element);
        }
        page
    }

    /// Elements named `name`.
    pub fn by_name<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements.iter().filter(move |e| e.name == name)
    }
}

fn element_of(tag: &tl::HTMLTag<'_>) -> Element {
    let name = tag.name().as_utf8_str().to_ascii_lowercase();
    let attrs =
        tag.attributes().iter().map(|(k, v)| (k.to_ascii_lowercase(), v.map(|v| decode(&v).into_owned()))).collect();
    Element { name, attrs }
}

fn decode(s: &str) -> Cow<'_, str> {
    html_escape::decode_html_entities(s)
}

/// `s` cut to at most `max` bytes at a character boundary.
#[must_use]
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_forms_titles_and_decodes_entities() {
        let page = Page::parse(
            "<html><head><title>Hi &amp; bye</title></head><body>\
             <form METHOD=post action='/x'><div><input name=csrf type=hidden><INPUT name='q'></div></form>\
             <a href='&#x2f;&#x2f;evil.example/'>x</a></body></html>",
        );
        assert_eq!(page.title.as_deref(), Some("Hi & bye"));
        assert_eq!(page.forms.len(), 1);
        assert_eq!(page.forms[0].field_names, vec!["csrf".to_owned(), "q".to_owned()]);
        assert_eq!(page.forms[0].element.attr("method"), Some("post"));
        assert_eq!(page.by_name("a").next().and_then(|a| a.attr("href")), Some("//evil.example/"));
    }

    #[test]
    fn truncates_on_char_boundary() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
