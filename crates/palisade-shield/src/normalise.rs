//! Turning what an attacker sent into what the application will see, so encodings cannot hide a payload:
//! repeated URL decoding (`%2527` → `%27` → `'`), IIS `%uXXXX`, `\uXXXX` / `\xNN` escapes, HTML entities, then a
//! folded form (lower case, SQL comments dropped, whitespace collapsed) for the pattern detectors.

use std::borrow::Cow;

/// The forms of one value the detectors look at. Both borrow the raw value when it is already in that form
/// (most values are), so that inspecting them allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalised<'a> {
    /// Fully decoded (URL, unicode escapes, HTML entities; up to three rounds).
    pub decoded: Cow<'a, str>,
    /// `decoded`, lower-cased, `/* … */` comments removed and whitespace runs folded to one space.
    pub folded: Cow<'a, str>,
    /// A `%` not followed by two hex digits (or a bad `%u`): an evasion attempt or a broken client.
    pub invalid_encoding: bool,
    /// A NUL byte appeared once decoded.
    pub null_byte: bool,
}

/// What a `+` stands for in a value: a space in query strings and form bodies (URL form encoding), itself
/// elsewhere. Only the first decoding round reads it so; a `+` that appears later was sent as `%2B`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `+` decodes to a space.
    Space,
    /// `+` stays a `+`.
    Literal,
}

/// How many decoding rounds at most (double encoding is common, triple is rare, more is pathological).
pub const MAX_ROUNDS: usize = 3;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One round of percent-decoding (`+` as `plus` says), with `%uXXXX`. Returns the text and whether
/// a malformed escape was seen.
fn url_decode_once(s: &str, plus: Plus) -> (Cow<'_, str>, bool) {
    if !(s.contains('%') || plus == Plus::Space && s.contains('+')) {
        return (Cow::Borrowed(s), false);
    }
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut invalid = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = |k: usize| b.get(i + k).copied().and_then(hex);
            if let (Some(a), Some(d)) = (h(1), h(2)) {
                out.push(a * 16 + d);
                i += 3;
                continue;
            }
            if matches!(b.get(i + 1), Some(b'u' | b'U'))
                && let (Some(a), Some(d), Some(e), Some(f)) = (h(2), h(3), h(4), h(5))
            {
                let cp = (u32::from(a) << 12) | (u32::from(d) << 8) | (u32::from(e) << 4) | u32::from(f);
                let mut buf = [0u8; 4];
                out.extend_from_slice(char::from_u32(cp).unwrap_or('\u{fffd}').encode_utf8(&mut buf).as_bytes());
                i += 6;
                continue;
            }
            invalid = true;
            out.push(c);
        } else if c == b'+' && plus == Plus::Space {
            out.push(b' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    (Cow::Owned(String::from_utf8_lossy(&out).into_owned()), invalid)
}

/// `\uXXXX`, `\xNN` and `\NNN`-free JavaScript/JSON-style escapes.
fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('u') => {
                let _ = chars.next();
                let digits: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&digits, 16).ok().filter(|_| digits.len() == 4).and_then(char::from_u32) {
                    Some(ch) => {
                        out.push(ch);
                        for _ in 0..4 {
                            let _ = chars.next();
                        }
                    }
                    None => out.push_str("\\u"),
                }
            }
            Some('x') => {
                let _ = chars.next();
                let digits: String = chars.clone().take(2).collect();
                match u8::from_str_radix(&digits, 16).ok().filter(|_| digits.len() == 2) {
                    Some(b) => {
                        out.push(char::from(b));
                        let _ = chars.next();
                        let _ = chars.next();
                    }
                    None => out.push_str("\\x"),
                }
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Folds for pattern matching: lower case, `/* … */` comments out (MySQL `/*!…*/` keeps its content), runs of
/// whitespace to one space.
#[must_use]
pub fn fold(s: &str) -> String {
    if s.is_ascii() && !s.contains("/*") {
        return fold_ascii(s);
    }
    let lower = s.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut rest = lower.as_str();
    while let Some(start) = rest.find("/*") {
        out.push_str(rest.get(..start).unwrap_or(""));
        let after = rest.get(start + 2..).unwrap_or("");
        let keep = after.starts_with('!');
        match after.find("*/") {
            Some(end) => {
                if keep {
                    out.push_str(after.get(1..end).unwrap_or(""));
                }
                out.push(' ');
                rest = after.get(end + 2..).unwrap_or("");
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    let mut folded = String::with_capacity(out.len());
    let mut space = false;
    for c in out.chars() {
        // Full-width forms (`＜script＞`): servers and frameworks with "best fit" mappings read them as ASCII.
        let c = match u32::from(c) {
            cp @ 0xff01..=0xff5e => char::from_u32(cp - 0xfee0).unwrap_or(c).to_ascii_lowercase(),
            0x3002 | 0xff61 => '.',
            _ => c,
        };
        if c.is_whitespace() || c == '\u{0b}' {
            if !space {
                folded.push(' ');
            }
            space = true;
        } else {
            folded.push(c);
            space = false;
        }
    }
    folded
}

/// [`fold`] of ASCII text without comments (most values): one pass, one allocation. Whitespace is what
/// `char::is_whitespace` calls so in ASCII (tab, line feed, vertical tab, form feed, carriage return, space).
fn fold_ascii(s: &str) -> String {
    let mut folded = Vec::with_capacity(s.len());
    let mut space = false;
    for b in s.bytes() {
        if matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' ') {
            if !space {
                folded.push(b' ');
            }
            space = true;
        } else {
            folded.push(b.to_ascii_lowercase());
            space = false;
        }
    }
    // ASCII in, ASCII out: the conversion cannot fail.
    String::from_utf8(folded).unwrap_or_default()
}

/// Whether [`fold`] would return `s` unchanged: ASCII without upper case, comments or whitespace to fold.
fn is_folded(s: &str) -> bool {
    let mut previous = 0u8;
    for b in s.bytes() {
        if !b.is_ascii() || b.is_ascii_uppercase() || matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
            return false;
        }
        if (b == b' ' && previous == b' ') || (b == b'*' && previous == b'/') {
            return false;
        }
        previous = b;
    }
    true
}

/// Whether any decoding step could change `s`: without `%`, `\\`, `&` (or `+` where it means a space) a
/// value is already what the application sees.
fn needs_decoding(s: &str, plus: Plus) -> bool {
    s.bytes().any(|b| matches!(b, b'%' | b'\\' | b'&') || (plus == Plus::Space && b == b'+'))
}

/// Normalises a value. [`Plus::Space`] for query strings and form bodies.
#[must_use]
pub fn normalise(raw: &str, plus: Plus) -> Normalised<'_> {
    let mut current: Cow<'_, str> = Cow::Borrowed(raw);
    let mut invalid = false;
    for round in 0..MAX_ROUNDS {
        let plus = if round == 0 { plus } else { Plus::Literal };
        if !needs_decoding(&current, plus) {
            break;
        }
        // Each step allocates only when it changes something.
        let (step, bad) = url_decode_once(&current, plus);
        invalid |= bad && round == 0;
        let url = match step {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        let after_url: &str = url.as_deref().unwrap_or(&current);
        let escaped = match unescape(after_url) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        let after_escape: &str = escaped.as_deref().unwrap_or(after_url);
        let entities = match html_escape::decode_html_entities(after_escape) {
            Cow::Owned(s) => Some(s),
            Cow::Borrowed(_) => None,
        };
        match entities.or(escaped).or(url) {
            Some(next) if *next != *current => current = Cow::Owned(next),
            _ => break,
        }
    }
    let null_byte = current.contains('\0');
    let folded = match &current {
        Cow::Borrowed(text) if is_folded(text) => Cow::Borrowed(*text),
        text => Cow::Owned(fold(text)),
    };
    Normalised { decoded: current, folded, invalid_encoding: invalid, null_byte }
}

/// Resolves a path as a server would: backslashes as slashes, `//` collapsed, `.` and `..` segments applied.
/// Returns the resolved path and whether any `..` tried to climb (a traversal attempt either way).
#[must_use]
pub fn resolve_path(decoded: &str) -> (String, bool) {
    if let Some(same) = resolved_as_is(decoded) {
        return (same.to_owned(), false);
    }
    let unified = decoded.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    let mut climbed = false;
    for seg in unified.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                climbed = true;
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    (format!("/{}", parts.join("/")), climbed)
}

/// [`resolve_path`] without building anything, for the common path that is already resolved: it starts with `/`
/// and has no backslash, no empty segment (`//`) and no `.` or `..` segment (no `/.` at all, which also rules out
/// dot-files: those take the full walk). Its resolution is itself, less one trailing `/`. `None`: walk it.
#[must_use]
pub fn resolved_as_is(decoded: &str) -> Option<&str> {
    let plain =
        decoded.starts_with('/') && !decoded.contains('\\') && !decoded.contains("//") && !decoded.contains("/.");
    plain.then(|| if decoded.len() > 1 { decoded.strip_suffix('/').unwrap_or(decoded) } else { decoded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resolved_path_is_taken_as_is_exactly_when_the_walk_would_give_it_back() {
        let segments = ["", ".", "..", "a", "B", "etc", ".git", "x.y", "\\", "%2e"];
        let mut paths = vec![String::new(), "/".to_owned()];
        for a in segments {
            for b in segments {
                for c in segments {
                    for (lead, tail) in [("/", ""), ("/", "/"), ("", ""), ("", "/")] {
                        paths.push(format!("{lead}{a}/{b}/{c}{tail}"));
                    }
                }
            }
        }
        for p in &paths {
            if let Some(fast) = resolved_as_is(p) {
                let walked = {
                    let unified = p.replace('\\', "/");
                    let parts: Vec<&str> = unified.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
                    assert!(!parts.contains(&".."), "{p:?}");
                    format!("/{}", parts.join("/"))
                };
                assert_eq!(fast, walked, "{p:?}");
            }
        }
        assert_eq!(resolved_as_is("/s/tea/p/sencha"), Some("/s/tea/p/sencha"));
        assert_eq!(resolved_as_is("/proc/self/"), Some("/proc/self"));
        assert_eq!(resolved_as_is("/a/../etc/passwd"), None);
    }

    #[test]
    fn decodes_repeatedly_and_flags_bad_escapes() {
        assert_eq!(normalise("%2527%2520OR%25201%253D1", Plus::Literal).decoded, "' OR 1=1");
        assert_eq!(normalise("a+b%20c", Plus::Space).decoded, "a b c");
        assert_eq!(normalise("%u003cscript%u003e", Plus::Literal).decoded, "<script>");
        assert_eq!(normalise("\\u003cimg\\x20src", Plus::Literal).decoded, "<img src");
        assert_eq!(normalise("&lt;svg onload&#61;alert(1)&gt;", Plus::Literal).decoded, "<svg onload=alert(1)>");
        assert!(normalise("100%zz", Plus::Literal).invalid_encoding);
        assert!(!normalise("100%25", Plus::Literal).invalid_encoding);
        assert!(normalise("a%00b", Plus::Literal).null_byte);
    }

    #[test]
    fn folds_case_comments_and_space() {
        assert_eq!(fold("UNION/**/SeLeCt\t\n 1"), "union select 1");
        assert_eq!(fold("/*!50000UNION*/ SELECT"), "50000union select");
        assert_eq!(fold("unterminated /* comment"), "unterminated ");
        assert_eq!(fold("＜SCRIPT＞"), "<script>");
        for text in ["already folded text", "x", "", "a/b*c", "O'Reilly", "a  b", "a/*b", "tab\there"] {
            assert_eq!(is_folded(text), fold(text) == text, "{text:?}");
        }
        // The ASCII fast path folds as the general one does.
        for text in ["MiXeD\t\x0b\x0c\r\n  Case", "  lead and trail  ", "", "O'Reilly <3 & co; 100%"] {
            assert_eq!(fold_ascii(text), fold(&format!("{text}é")).trim_end_matches('é'), "{text:?}");
        }
    }

    #[test]
    fn resolves_paths() {
        assert_eq!(resolve_path("/a/./b/../../../etc/passwd"), ("/etc/passwd".to_owned(), true));
        assert_eq!(resolve_path("..\\..\\windows\\win.ini"), ("/windows/win.ini".to_owned(), true));
        assert_eq!(resolve_path("/s/shop//p/tea"), ("/s/shop/p/tea".to_owned(), false));
    }
}
