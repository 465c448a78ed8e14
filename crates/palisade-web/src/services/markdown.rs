//! The small Markdown subset the built-in training lessons and guidelines use, as HTML: headings (`#`..`####`),
//! paragraphs, `-`/`*` and `1.` lists, `>` quotes, `**bold**` and `` `code` ``. Every character of the source is
//! HTML-escaped first and only these constructs add tags, so no source text can inject markup (the content is the
//! platform's own, but a page that escapes everything does not have to trust it).

/// `source` as safe HTML.
#[must_use]
pub fn to_html(source: &str) -> String {
    let mut out = String::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut list: Option<&'static str> = None;
    let mut quote: Vec<&str> = Vec::new();
    let flush_paragraph = |out: &mut String, p: &mut Vec<&str>| {
        if !p.is_empty() {
            out.push_str(&format!("<p>{}</p>\n", inline(&p.join(" "))));
            p.clear();
        }
    };
    let close_list = |out: &mut String, l: &mut Option<&'static str>| {
        if let Some(tag) = l.take() {
            out.push_str(&format!("</{tag}>\n"));
        }
    };
    let flush_quote = |out: &mut String, q: &mut Vec<&str>| {
        if !q.is_empty() {
            out.push_str(&format!("<blockquote><p>{}</p></blockquote>\n", inline(&q.join(" "))));
            q.clear();
        }
    };
    for raw in source.lines() {
        let line = raw.trim();
        let item = list_item(line);
        if line.is_empty() || heading(line).is_some() || item.is_some() || line.starts_with('>') {
            flush_paragraph(&mut out, &mut paragraph);
        }
        if !line.starts_with('>') {
            flush_quote(&mut out, &mut quote);
        }
        if item.is_none() && !line.is_empty() && !(list.is_some() && raw.starts_with("  ")) {
            close_list(&mut out, &mut list);
        }
        if line.is_empty() {
            close_list(&mut out, &mut list);
        } else if let Some((level, text)) = heading(line) {
            out.push_str(&format!("<h{level}>{}</h{level}>\n", inline(text)));
        } else if let Some((tag, text)) = item {
            if list != Some(tag) {
                close_list(&mut out, &mut list);
                out.push_str(&format!("<{tag}>\n"));
                list = Some(tag);
            }
            out.push_str(&format!("<li>{}</li>\n", inline(text)));
        } else if let Some(text) = line.strip_prefix('>') {
            quote.push(text.trim());
        } else if list.is_some() {
            // A continuation line of the last item: append it inside that item.
            if out.ends_with("</li>\n") {
                out.truncate(out.len() - "</li>\n".len());
                out.push_str(&format!(" {}</li>\n", inline(line)));
            }
        } else {
            paragraph.push(line);
        }
    }
    flush_paragraph(&mut out, &mut paragraph);
    flush_quote(&mut out, &mut quote);
    close_list(&mut out, &mut list);
    out
}

/// A heading's level (shifted down one: the page has its own `h1`) and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    let text = line.get(hashes..)?.strip_prefix(' ')?;
    (1..=4).contains(&hashes).then_some((hashes + 1, text.trim()))
}

/// A list item's list tag and text.
fn list_item(line: &str) -> Option<(&'static str, &str)> {
    if let Some(text) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some(("ul", text));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 {
        return line.get(digits..)?.strip_prefix(". ").map(|text| ("ol", text));
    }
    None
}

/// Escapes `text`, then turns `**bold**` and `` `code` `` pairs into tags (an unpaired marker stays as text).
fn inline(text: &str) -> String {
    let escaped = html_escape::encode_text(text).replace('"', "&quot;");
    let coded = pairs(&escaped, "`", "<code>", "</code>");
    pairs(&coded, "**", "<strong>", "</strong>")
}

fn pairs(text: &str, marker: &str, open: &str, close: &str) -> String {
    let parts: Vec<&str> = text.split(marker).collect();
    if parts.len() < 3 {
        return text.to_owned();
    }
    let mut out = String::new();
    let last = parts.len() - 1;
    for (i, part) in parts.iter().enumerate() {
        out.push_str(part);
        if i == last {
            break;
        }
        // An odd number of markers leaves the last one as text.
        let unpaired = i == last - 1 && last % 2 == 1;
        if unpaired {
            out.push_str(marker);
        } else {
            out.push_str(if i % 2 == 0 { open } else { close });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn the_subset_renders_and_everything_else_is_escaped() {
        let html = to_html(
            "## Why\nSome **bold** and `code`.\n\n- one\n- two <b>x</b>\n\n1. first\n2. second\n\n> quoted\n<script>alert(1)</script>",
        );
        assert!(html.contains("<h3>Why</h3>"), "{html}");
        assert!(html.contains("<p>Some <strong>bold</strong> and <code>code</code>.</p>"), "{html}");
        assert!(html.contains("<ul>\n<li>one</li>\n<li>two &lt;b&gt;x&lt;/b&gt;</li>\n</ul>"), "{html}");
        assert!(html.contains("<ol>\n<li>first</li>\n<li>second</li>\n</ol>"), "{html}");
        assert!(html.contains("<blockquote><p>quoted</p></blockquote>"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn an_unpaired_marker_stays_text() {
        assert_eq!(to_html("a ** b"), "<p>a ** b</p>\n");
        assert_eq!(to_html("**a** and **b"), "<p><strong>a</strong> and **b</p>\n");
    }
}
