//! Quoting text taken from a feed into error messages.
//!
//! Refusals end up in the ingest report, the operator console and the log. Text from the feed is cut (so a record
//! cannot make them arbitrarily large) and its control characters escaped (so a record cannot forge log lines or
//! terminal escapes).

/// At most `max` characters of `text`, control characters escaped, `…` when cut.
pub(crate) fn quote(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 8));
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn cuts_and_escapes() {
        assert_eq!(quote("abc", 5), "abc");
        assert_eq!(quote("abcdef", 3), "abc…");
        assert_eq!(quote("a\nb\u{1b}[31m", 20), "a\\nb\\u{1b}[31m");
    }
}
