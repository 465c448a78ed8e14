//! App plumbing: the middleware stack (`layers`), errors, sessions, access, CSRF tokens, security headers, metrics
//! and the extractors. The edge (limits, shedding, challenge, rules, shield, accept loop) is [`crate::edge`].

pub mod access;
pub mod auth;
pub mod client;
pub mod csrf;
pub mod error;
pub mod form;
pub mod headers;
pub mod id_path;
pub mod json;
pub mod layers;
pub mod metrics;
pub mod notice;
pub mod session;
pub mod timeout;

pub use error::{ApiError, PageError};

/// Longest return path kept (a longer one is not where a person was).
const MAX_RETURN_PATH: usize = 1024;

/// Whether `next` may be a redirect target: a path on this site only. Browsers read `//host` and `/\host` as
/// another site and drop tabs and newlines from URLs, so those are refused; so is anything but printable ASCII (a
/// `Location` header carries nothing else, and full-width or other look-alike slashes have been read as `/` by
/// some clients), a backslash or an escaped slash or backslash anywhere (`/%2F%2Fhost`, `/%5Chost`: harmless
/// here, but a proxy or a second decoding on the way could turn them into the forms above), and a path whose
/// once-decoded form would be refused (double-encoded attempts).
pub fn is_local_path(next: &str) -> bool {
    next.len() <= MAX_RETURN_PATH && next.bytes().all(|c| (0x21..=0x7e).contains(&c)) && stays_local(next)
}

/// The checks of [`is_local_path`] that also hold for each decoded form of the path (each decoding is shorter,
/// so this ends).
fn stays_local(p: &str) -> bool {
    let b = p.as_bytes();
    if b.first() != Some(&b'/') || matches!(b.get(1), Some(b'/' | b'\\')) || p.contains('\\') {
        return false;
    }
    if p.chars().any(char::is_control) {
        return false;
    }
    let lower = p.to_ascii_lowercase();
    if ["%2f", "%5c", "%09", "%0a", "%0d"].iter().any(|e| lower.contains(e)) {
        return false;
    }
    !p.contains('%') || percent_decoded(p).is_some_and(|d| stays_local(&d))
}

/// `s` with `%XX` escapes decoded, if they are all well formed and the result is UTF-8.
fn percent_decoded(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The place to return to after signing in or registering: `next` when it is a local path
/// ([`is_local_path`]), else `fallback`.
pub fn return_path(next: Option<&str>, fallback: &str) -> String {
    next.filter(|n| is_local_path(n)).unwrap_or(fallback).to_owned()
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn only_plain_local_paths_are_return_targets() {
        for ok in ["/", "/cart", "/s/tea/p/oolong?x=1&y=%20z", "/checkout/tea", "/search?q=caf%C3%A9"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in [
            "//evil.com",
            "https://evil.com",
            "https:evil.com",
            "/\\evil.com",
            "\\evil.com",
            "/\\/evil.com",
            "evil.com",
            "",
            " /cart",
            "/\tevil",
            "/%2F%2Fevil.com",
            "/%2fevil.com",
            "/%5Cevil.com",
            "/%252F%252Fevil.com",
            "/%25%32%46evil",
            "/x%0d%0aSet-Cookie:a=b",
            "/\u{ff0f}evil.com",
            "/caf\u{e9}",
            "javascript:alert(1)",
            "/%zz",
            "/%",
        ] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
        assert!(!is_local_path(&format!("/{}", "a".repeat(2000))));
    }
}
