//! One spelling per address. The router decodes percent-escapes when it extracts a path parameter, so
//! `/s/te%61` serves the store `tea`; every layer that reads the store or the path from the raw URI (the store's
//! rules, modes and attack switch, its rate limit, custom rules on `path`) must see the same `tea`, or an escape
//! would walk round them. Escaped unreserved characters (RFC 3986 §6.2.2.2: letters, digits, `-`, `_`, `~`) are
//! decoded here, before any of them runs. `.` stays escaped so that no dot-segment appears that the router did not
//! see.

use std::borrow::Cow;

use axum::extract::Request;
use axum::http::Uri;

/// Rewrites the request's URI when its path holds escaped unreserved characters (first step of `layers::edge`).
pub fn canonical_path(req: &mut Request) {
    if let Cow::Owned(path) = canonical(req.uri().path()) {
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = rebuilt.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
}

/// `path` with escaped unreserved characters decoded; borrowed (no allocation) when there are none.
#[must_use]
pub fn canonical(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut copied = 0;
    let mut i = 0;
    while let Some(at) = bytes.get(i..).and_then(|rest| rest.iter().position(|b| *b == b'%')).map(|p| p + i) {
        let decoded = bytes
            .get(at + 1..at + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~'));
        match decoded {
            Some(c) => {
                out.push_str(path.get(copied..at).unwrap_or_default());
                out.push(char::from(c));
                copied = at + 3;
                i = at + 3;
            }
            None => i = at + 1,
        }
    }
    if copied == 0 {
        return Cow::Borrowed(path);
    }
    out.push_str(path.get(copied..).unwrap_or_default());
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_letters_digits_and_marks_are_decoded_and_nothing_else() {
        assert_eq!(canonical("/s/te%61/p/%73ecret"), "/s/tea/p/secret");
        assert_eq!(canonical("/s/%7E%2d%5F%30"), "/s/~-_0");
        assert!(matches!(canonical("/s/tea"), Cow::Borrowed(_)));
        // Reserved characters, dots, non-ASCII and broken escapes keep their escapes.
        for kept in ["/s/a%2Fb", "/s/%2e%2e/x", "/s/caf%C3%A9", "/s/%zz", "/s/%4", "/s/%"] {
            assert_eq!(canonical(kept), kept);
            assert!(matches!(canonical(kept), Cow::Borrowed(_)), "{kept}");
        }
        assert_eq!(canonical("/s/%zz%61"), "/s/%zza");
    }
}
