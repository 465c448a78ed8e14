//! The Content-Security-Policy test, in the order the Observatory checks it (the first failure found is the
//! result): unsafe inline/broad script or object sources, http: in active sources, `'unsafe-eval'`, http: in
//! passive sources, unsafe style sources, then `default-src 'none'` for the top bonus.

use std::collections::BTreeMap;

use super::{Outcome, TestResult};
use crate::fetched::Fetched;
use crate::html::Page;

/// Directive name → its sources (lower case). The first occurrence of a directive wins.
pub type Policy = BTreeMap<String, Vec<String>>;

const BROAD: &[&str] = &["ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"];
const UNSAFE_INLINE: &[&str] = &["'unsafe-inline'", "data:"];
const NONCE_HASH: &[&str] = &["'sha256-", "'sha384-", "'sha512-", "'nonce-"];

/// The CSP result and the header's `frame-ancestors` (which only counts when sent as a header).
#[derive(Debug, Clone)]
pub struct CspEvaluation {
    /// The test result.
    pub result: TestResult,
    /// `frame-ancestors` sources from the CSP header, if the directive is set.
    pub frame_ancestors: Option<Vec<String>>,
}

/// A policy that cannot be parsed (the Observatory's `csp-header-invalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Content-Security-Policy cannot be parsed")]
pub struct InvalidCsp;

/// Whether the page was served over TLS: http: sources only count against an https page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Served over https.
    Https,
    /// Served over plain http.
    PlainHttp,
}

/// Parses policies: comma separates policies, `;` directives; `Err` if a directive name is not a token or a
/// value holds control characters.
pub fn parse(values: &[&str]) -> Result<Policy, InvalidCsp> {
    let mut policy = Policy::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        for directive in value.split(';') {
            let mut words = directive.split_ascii_whitespace();
            let Some(name) = words.next() else { continue };
            let name = name.to_ascii_lowercase();
            if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(InvalidCsp);
            }
            let sources: Vec<String> = words.map(str::to_ascii_lowercase).collect();
            if sources.iter().any(|s| s.chars().any(char::is_control)) {
                return Err(InvalidCsp);
            }
            policy.entry(name).or_insert(sources);
        }
    }
    Ok(policy)
}

fn has_nonce_or_hash(sources: &[String]) -> bool {
    sources.iter().any(|s| NONCE_HASH.iter().any(|p| s.starts_with(p)))
}

fn directive(policy: &Policy, name: &str) -> Vec<String> {
    policy.get(name).or_else(|| policy.get("default-src")).cloned().unwrap_or_else(|| vec!["*".to_owned()])
}

/// `text` with every `'nonce-…'` value replaced by `'nonce-…'`: a nonce is per response, and a kept report has no
/// use for it (nor should it hold one that might still be live).
fn without_nonces(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("'nonce-") {
        let (head, tail) = rest.split_at(at + "'nonce-".len());
        out.push_str(head);
        out.push('…');
        rest = tail.find('\'').map_or("", |end| tail.get(end..).unwrap_or_default());
    }
    out.push_str(rest);
    out
}

/// Evaluates the CSP of `page` (header, and `<meta http-equiv>` in `doc`, the page parsed once by the caller).
#[must_use]
pub fn evaluate(page: &Fetched, doc: Option<&Page>) -> CspEvaluation {
    let headers: Vec<&str> = page.header_values("content-security-policy").collect();
    let metas: Vec<String> = doc
        .map(|d| {
            d.by_name("meta")
                .filter(|m| m.attr("http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("content-security-policy")))
                .filter_map(|m| m.attr("content").map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let evidence = headers.iter().map(|s| (*s).to_owned()).chain(metas.iter().map(|m| format!("meta: {m}")));
    let evidence = without_nonces(&evidence.collect::<Vec<_>>().join(" | "));
    let all: Vec<&str> = headers.iter().copied().chain(metas.iter().map(String::as_str)).collect();
    let header_only = parse(&headers).unwrap_or_default();
    let frame_ancestors = header_only.get("frame-ancestors").cloned();
    let test = |id, outcome| CspEvaluation {
        result: TestResult::new("content-security-policy", id, outcome, &evidence),
        frame_ancestors: frame_ancestors.clone(),
    };
    let Ok(policy) = parse(&all) else {
        return test("csp-header-invalid", Outcome::Fail);
    };
    if policy.is_empty() {
        if page.header("content-security-policy-report-only").is_some() {
            return test("csp-not-implemented-but-reporting-enabled", Outcome::Fail);
        }
        return test("csp-not-implemented", Outcome::Fail);
    }
    let transport = if page.is_https() { Transport::Https } else { Transport::PlainHttp };
    let id = classify(&policy, transport);
    let pass = matches!(
        id,
        "csp-implemented-with-no-unsafe"
            | "csp-implemented-with-no-unsafe-default-src-none"
            | "csp-implemented-with-unsafe-inline-in-style-src-only"
            | "csp-implemented-with-insecure-scheme-in-passive-content-only"
    );
    test(id, if pass { Outcome::Pass } else { Outcome::Fail })
}

/// The result id for a parsed, non-empty policy.
#[must_use]
pub fn classify(policy: &Policy, transport: Transport) -> &'static str {
    let https = transport == Transport::Https;
    let mut script = directive(policy, "script-src");
    let mut style = directive(policy, "style-src");
    let object = directive(policy, "object-src");
    for list in [&mut script, &mut style] {
        if has_nonce_or_hash(list) {
            list.retain(|s| s != "'unsafe-inline'");
        }
    }
    if script.iter().any(|s| s == "'strict-dynamic'") {
        if !has_nonce_or_hash(&script) {
            return "csp-header-invalid";
        }
        script.retain(|s| !(BROAD.iter().any(|b| s.starts_with(b)) || s == "'self'" || s == "'unsafe-inline'"));
    }
    let insecure = |s: &String| s.starts_with("http:") || s.starts_with("ftp:");
    let active_insecure = policy
        .iter()
        .filter(|(d, _)| !matches!(d.as_str(), "img-src" | "media-src" | "script-src"))
        .flat_map(|(_, v)| v.iter())
        .chain(script.iter())
        .any(insecure);
    let passive_insecure = ["img-src", "media-src"]
        .iter()
        .flat_map(|d| policy.get(*d).or_else(|| policy.get("default-src")).cloned().unwrap_or_default())
        .any(|s| insecure(&s));
    let unsafe_or_broad = |s: &String| BROAD.contains(&s.as_str()) || UNSAFE_INLINE.contains(&s.as_str());
    if script.iter().any(unsafe_or_broad) || object.iter().any(|s| BROAD.contains(&s.as_str())) {
        "csp-implemented-with-unsafe-inline"
    } else if https && active_insecure {
        "csp-implemented-with-insecure-scheme"
    } else if script.iter().chain(style.iter()).any(|s| s == "'unsafe-eval'") {
        "csp-implemented-with-unsafe-eval"
    } else if https && passive_insecure {
        "csp-implemented-with-insecure-scheme-in-passive-content-only"
    } else if style.iter().any(unsafe_or_broad) {
        "csp-implemented-with-unsafe-inline-in-style-src-only"
    } else if policy.get("default-src").is_some_and(|d| d.len() == 1 && d.iter().all(|s| s == "'none'")) {
        "csp-implemented-with-no-unsafe-default-src-none"
    } else {
        "csp-implemented-with-no-unsafe"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(csp: &str) -> &'static str {
        classify(&parse(&[csp]).unwrap_or_default(), Transport::Https)
    }

    #[test]
    fn classifies_policies() {
        assert_eq!(id("default-src 'none'; script-src 'self'"), "csp-implemented-with-no-unsafe-default-src-none");
        assert_eq!(id("default-src 'self'"), "csp-implemented-with-no-unsafe");
        assert_eq!(id("script-src 'self'"), "csp-implemented-with-unsafe-inline", "object-src unset is *");
        assert_eq!(id("default-src 'self'; script-src 'self' 'unsafe-inline'"), "csp-implemented-with-unsafe-inline");
        assert_eq!(id("default-src 'self'; script-src 'nonce-abc' 'unsafe-inline'"), "csp-implemented-with-no-unsafe");
        assert_eq!(
            without_nonces("script-src 'nonce-abc' 'self'; style-src 'nonce-xyz"),
            "script-src 'nonce-…' 'self'; style-src 'nonce-…"
        );
        assert_eq!(id("default-src 'self'; script-src 'self' 'unsafe-eval'"), "csp-implemented-with-unsafe-eval");
        assert_eq!(
            id("default-src 'self'; img-src http://cdn.example"),
            "csp-implemented-with-insecure-scheme-in-passive-content-only"
        );
        assert_eq!(id("default-src 'self'; connect-src http://api.example"), "csp-implemented-with-insecure-scheme");
        assert_eq!(
            id("default-src 'self'; style-src 'self' 'unsafe-inline'"),
            "csp-implemented-with-unsafe-inline-in-style-src-only"
        );
        assert_eq!(id("default-src 'self'; script-src 'strict-dynamic'"), "csp-header-invalid");
        assert_eq!(
            id("default-src 'self'; script-src 'nonce-a' 'strict-dynamic' https: 'unsafe-inline'"),
            "csp-implemented-with-no-unsafe"
        );
        assert!(parse(&["default_src 'self'"]).is_err());
    }
}
