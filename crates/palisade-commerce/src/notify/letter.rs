//! One message, written once and rendered twice: as plain text and as its HTML alternative. Every piece of text
//! here may be a merchant's or a buyer's (store names, product titles, addresses, dispute statements), so the
//! HTML escapes all of it and links only to addresses the platform made.

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// A message about an order, a dispute or a payout.
#[derive(Debug, Default)]
pub(crate) struct Letter {
    pub subject: String,
    /// Paragraphs before the details.
    pub paragraphs: Vec<String>,
    /// The order's lines, one per item ("2 × Sencha (S$12.00)").
    pub lines: Vec<String>,
    /// Labelled facts ("Total paid", "S$24.00").
    pub facts: Vec<(&'static str, String)>,
    /// The one thing to do next: a label and a platform-made address.
    pub action: Option<(&'static str, String)>,
    /// Paragraphs after the action.
    pub closing: Vec<String>,
}

impl Letter {
    pub fn new(subject: String) -> Self {
        Self { subject, ..Self::default() }
    }

    pub fn say(mut self, paragraph: impl Into<String>) -> Self {
        self.paragraphs.push(paragraph.into());
        self
    }

    pub fn fact(mut self, label: &'static str, value: impl Into<String>) -> Self {
        self.facts.push((label, value.into()));
        self
    }

    pub fn action(mut self, label: &'static str, href: String) -> Self {
        self.action = Some((label, href));
        self
    }

    pub fn then(mut self, paragraph: impl Into<String>) -> Self {
        self.closing.push(paragraph.into());
        self
    }

    /// The plain-text part.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for p in &self.paragraphs {
            out.push_str(p);
            out.push_str("\n\n");
        }
        for line in &self.lines {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
        if !self.lines.is_empty() {
            out.push('\n');
        }
        for (label, value) in &self.facts {
            out.push_str(&format!("{label}: {value}\n"));
        }
        if !self.facts.is_empty() {
            out.push('\n');
        }
        if let Some((label, href)) = &self.action {
            out.push_str(&format!("{label}:\n{href}\n\n"));
        }
        for p in &self.closing {
            out.push_str(p);
            out.push_str("\n\n");
        }
        out.truncate(out.trim_end().len());
        out.push('\n');
        out
    }

    /// The HTML part, in `sender`'s name: a plain, single-column layout with inline styles (mail clients ignore
    /// style sheets), readable on a phone.
    pub fn html(&self, sender: &str) -> String {
        let mut out = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
             <title>{}</title></head><body style=\"margin:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;\
             color:#1f2328\"><div style=\"max-width:560px;margin:0 auto;padding:24px 16px\">\
             <p style=\"font-size:18px;font-weight:bold;margin:0 0 16px\">{}</p>\
             <div style=\"background:#fff;border-radius:8px;padding:20px;line-height:1.5\">",
            text(&self.subject),
            text(sender)
        );
        for p in &self.paragraphs {
            out.push_str(&format!("<p style=\"margin:0 0 12px\">{}</p>", multiline(p)));
        }
        if !self.lines.is_empty() {
            out.push_str("<ul style=\"margin:0 0 12px;padding-left:20px\">");
            for line in &self.lines {
                out.push_str(&format!("<li>{}</li>", text(line)));
            }
            out.push_str("</ul>");
        }
        if !self.facts.is_empty() {
            out.push_str("<table style=\"border-collapse:collapse;margin:0 0 12px\">");
            for (label, value) in &self.facts {
                out.push_str(&format!(
                    "<tr><th style=\"text-align:left;padding:2px 12px 2px 0;color:#57606a;font-weight:normal\">{}</th>\
                     <td style=\"padding:2px 0\">{}</td></tr>",
                    text(label),
                    multiline(value)
                ));
            }
            out.push_str("</table>");
        }
        if let Some((label, href)) = &self.action {
            out.push_str(&format!(
                "<p style=\"margin:16px 0\"><a href=\"{}\" style=\"background:#0b57d0;color:#fff;padding:10px 16px;\
                 border-radius:6px;text-decoration:none;display:inline-block\">{}</a></p>\
                 <p style=\"margin:0 0 12px;font-size:12px;color:#57606a;word-break:break-all\">{}</p>",
                attr(href),
                text(label),
                text(href)
            ));
        }
        for p in &self.closing {
            out.push_str(&format!("<p style=\"margin:0 0 12px\">{}</p>", multiline(p)));
        }
        out.push_str("</div><p style=\"font-size:12px;color:#57606a\">Sent by the marketplace on behalf of ");
        out.push_str(&text(sender));
        out.push_str(".</p></div></body></html>");
        out
    }
}

fn multiline(s: &str) -> String {
    text(s).replace('\n', "<br>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parts_say_the_same_and_the_html_escapes_everything() {
        let mut letter = Letter::new("Order #1001 <b>".into())
            .say("Thanks from <script>alert(1)</script>")
            .fact("Ship to", "1 Marina Blvd\n<img src=x>")
            .action("Follow your order", "https://shop.example/orders/1?k=a&b=\"c\"".to_owned());
        letter.lines.push("2 × Tea <i>".into());
        let (text_part, html) = (letter.text(), letter.html("Evil <Store>"));
        assert!(
            text_part.contains("Thanks from <script>") && text_part.contains("https://shop.example/orders/1?k=a&b")
        );
        for raw in ["<script>", "<img", "<i>", "<b>", "<Store>"] {
            assert!(!html.contains(raw), "{raw} escaped in {html}");
        }
        assert!(html.contains("&lt;script&gt;") && html.contains("Evil &lt;Store&gt;"));
        assert!(html.contains("href=\"https://shop.example/orders/1?k=a&amp;b=&quot;c&quot;\""), "{html}");
        assert!(html.contains("1 Marina Blvd<br>&lt;img"), "{html}");
    }
}
