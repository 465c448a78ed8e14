//! The other Observatory tests. Each returns the result id the Observatory would choose; when several problems
//! are present, the worst wins (as the Observatory's "only if worse" ordering does).

use url::Url;

use super::{Outcome, SCANNER_PROBE_ORIGIN, TestResult};
use crate::fetched::{Fetched, RedirectProbe};
use crate::html::Page;

/// Six months, the HSTS threshold.
pub const HSTS_MIN_MAX_AGE: u64 = 15_768_000;

/// Cookie results from best to worst (the Observatory's "goodness" order).
const COOKIE_ORDER: &[&str] = &[
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
];

fn worse(candidate: &'static str, current: Option<&'static str>) -> Option<&'static str> {
    let rank = |id: &str| COOKIE_ORDER.iter().position(|c| *c == id);
    match current {
        Some(cur) if rank(cur) >= rank(candidate) => Some(cur),
        _ => Some(candidate),
    }
}

struct Cookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<String>,
}

fn parse_cookie(raw: &str) -> Option<Cookie> {
    let mut parts = raw.split(';');
    let (name, _) = parts.next()?.split_once('=')?;
    let mut cookie =
        Cookie { name: name.trim().to_ascii_lowercase(), secure: false, http_only: false, same_site: None };
    for attr in parts {
        let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
        match k.trim().to_ascii_lowercase().as_str() {
            "secure" => cookie.secure = true,
            "httponly" => cookie.http_only = true,
            "samesite" => cookie.same_site = Some(v.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    Some(cookie)
}

/// Whether the HSTS test passed (cookies without `Secure` cost less then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hsts {
    /// HSTS of at least six months.
    Protected,
    /// No (sufficient) HSTS.
    Unprotected,
}

/// Cookies: `Secure` on all (a `Secure` cookie set over http does not count), `HttpOnly` on session cookies
/// (names containing `sess` or `login`), `SameSite` on anti-CSRF cookies (names containing `csrf`).
#[must_use]
pub fn cookies(page: &Fetched, hsts: Hsts) -> TestResult {
    let hsts_pass = hsts == Hsts::Protected;
    let https = page.is_https();
    let raws: Vec<&str> = page.header_values("set-cookie").collect();
    let cookies: Vec<Cookie> = raws.iter().filter_map(|r| parse_cookie(r)).collect();
    // Names only: a report is kept and downloaded, and a cookie's value (a session, a CSRF token) is a secret.
    let names = raws.iter().map(|r| r.split(';').next().unwrap_or_default().split('=').next().unwrap_or_default());
    let evidence = format!("cookies: {}", names.map(str::trim).collect::<Vec<_>>().join(", "));
    if cookies.is_empty() {
        return TestResult::new("cookies", "cookies-not-found", Outcome::Pass, "no Set-Cookie");
    }
    let mut result = None;
    for c in &cookies {
        let secure = c.secure && https;
        let session = c.name.contains("sess") || c.name.contains("login");
        match c.same_site.as_deref() {
            Some("lax" | "strict") | None => {}
            Some("none") if secure => {}
            Some(_) => result = worse("cookies-samesite-flag-invalid", result),
        }
        if !secure {
            result = worse(
                if hsts_pass {
                    "cookies-without-secure-flag-but-protected-by-hsts"
                } else {
                    "cookies-without-secure-flag"
                },
                result,
            );
        }
        if c.name.contains("csrf") && c.same_site.is_none() {
            result = worse("cookies-anticsrf-without-samesite-flag", result);
        }
        if session && !secure {
            result = worse(
                if hsts_pass {
                    "cookies-session-without-secure-flag-but-protected-by-hsts"
                } else {
                    "cookies-session-without-secure-flag"
                },
                result,
            );
        }
        if session && !c.http_only {
            result = worse("cookies-session-without-httponly-flag", result);
        }
    }
    match result {
        Some(id) => TestResult::new("cookies", id, Outcome::Fail, &evidence),
        None if cookies.iter().all(|c| c.same_site.is_some()) => {
            TestResult::new("cookies", "cookies-secure-with-httponly-sessions-and-samesite", Outcome::Pass, &evidence)
        }
        None => TestResult::new("cookies", "cookies-secure-with-httponly-sessions", Outcome::Pass, &evidence),
    }
}

/// CORS: `*` is public (fine); echoing the scanner's own Origin (or `null`) with credentials allowed is
/// universal access (−50); any other value is restricted.
#[must_use]
pub fn cors(page: &Fetched) -> TestResult {
    const T: &str = "cross-origin-resource-sharing";
    let Some(acao) = page.header("access-control-allow-origin").map(str::trim) else {
        return TestResult::new(T, "cross-origin-resource-sharing-not-implemented", Outcome::Pass, "no ACAO");
    };
    let creds = page.header("access-control-allow-credentials").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let evidence = format!("access-control-allow-origin: {acao}; credentials: {creds}");
    if acao == "*" {
        TestResult::new(T, "cross-origin-resource-sharing-implemented-with-public-access", Outcome::Pass, &evidence)
    } else if creds && (acao.eq_ignore_ascii_case(SCANNER_PROBE_ORIGIN) || acao.eq_ignore_ascii_case("null")) {
        TestResult::new(T, "cross-origin-resource-sharing-implemented-with-universal-access", Outcome::Fail, &evidence)
    } else {
        TestResult::new(T, "cross-origin-resource-sharing-implemented-with-restricted-access", Outcome::Pass, &evidence)
    }
}

/// Redirection from `http://`: the first hop must go to https on the same host, the last URL must be https.
#[must_use]
pub fn redirection(page: &Fetched, probe: &RedirectProbe) -> TestResult {
    const T: &str = "redirection";
    let chain = match probe {
        RedirectProbe::NotProbed => {
            let why =
                if page.is_https() { "no plain-HTTP probe supplied" } else { "not behind TLS: nothing to redirect to" };
            return TestResult::new(
                T,
                "redirection-not-probed",
                Outcome::Skipped,
                &format!("skipped ({why}), modifier 0"),
            );
        }
        RedirectProbe::NoHttpListener => {
            return TestResult::new(T, "redirection-not-needed-no-http", Outcome::Pass, "no plain-HTTP listener");
        }
        RedirectProbe::Chain(chain) => chain,
    };
    let evidence = chain.join(" -> ");
    let urls: Vec<Option<Url>> = chain.iter().map(|u| Url::parse(u).ok()).collect();
    let (Some(Some(first)), Some(Some(last))) = (urls.first(), urls.last()) else {
        return TestResult::new(T, "redirection-missing", Outcome::Fail, &evidence);
    };
    if urls.len() < 2 {
        return TestResult::new(T, "redirection-missing", Outcome::Fail, &evidence);
    }
    if last.scheme() != "https" || urls.iter().any(Option::is_none) {
        return TestResult::new(T, "redirection-not-to-https", Outcome::Fail, &evidence);
    }
    let Some(Some(second)) = urls.get(1) else {
        return TestResult::new(T, "redirection-missing", Outcome::Fail, &evidence);
    };
    if second.scheme() != "https" {
        TestResult::new(T, "redirection-not-to-https-on-initial-redirection", Outcome::Fail, &evidence)
    } else if second.host_str() != first.host_str() {
        TestResult::new(T, "redirection-off-host-from-http", Outcome::Fail, &evidence)
    } else {
        TestResult::new(T, "redirection-to-https", Outcome::Pass, &evidence)
    }
}

/// Referrer-Policy from every header and `<meta http-equiv>` joined (meta last): the last recognised token wins,
/// as browsers read it.
#[must_use]
pub fn referrer_policy(page: &Fetched, doc: Option<&Page>) -> TestResult {
    const T: &str = "referrer-policy";
    let metas = doc.into_iter().flat_map(|d| {
        d.by_name("meta")
            .filter(|m| m.attr("http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("referrer-policy")))
            .filter_map(|m| m.attr("content"))
    });
    let all: Vec<&str> = page.header_values("referrer-policy").chain(metas).collect();
    if all.is_empty() {
        return TestResult::new(T, "referrer-policy-not-implemented", Outcome::Pass, "no Referrer-Policy");
    }
    let value = all.join(", ");
    let private = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"];
    let unsafe_ = ["origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"];
    let last = value
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .rfind(|t| private.contains(&t.as_str()) || unsafe_.contains(&t.as_str()));
    let evidence = format!("referrer-policy: {value}");
    match last {
        Some(t) if private.contains(&t.as_str()) => {
            TestResult::new(T, "referrer-policy-private", Outcome::Pass, &evidence)
        }
        Some(_) => TestResult::new(T, "referrer-policy-unsafe", Outcome::Fail, &evidence),
        None => TestResult::new(T, "referrer-policy-header-invalid", Outcome::Fail, &evidence),
    }
}

/// HSTS: only over https; `max-age` of at least six months. Preload-list membership is not checked here (it
/// needs the browsers' list), so `hsts-preloaded` (+5) is never awarded.
#[must_use]
pub fn hsts(page: &Fetched) -> TestResult {
    const T: &str = "strict-transport-security";
    if !page.is_https() {
        return TestResult::new(T, "hsts-not-implemented-no-https", Outcome::Fail, "page not served over https");
    }
    let Some(value) = page.header("strict-transport-security") else {
        return TestResult::new(T, "hsts-not-implemented", Outcome::Fail, "no Strict-Transport-Security");
    };
    let evidence = format!("strict-transport-security: {value}");
    let max_age = value.split(';').find_map(|d| {
        let (k, v) = d.split_once('=')?;
        k.trim().eq_ignore_ascii_case("max-age").then(|| v.trim().trim_matches('"').parse::<u64>().ok())?
    });
    match max_age {
        None => TestResult::new(T, "hsts-header-invalid", Outcome::Fail, &evidence),
        Some(age) if age >= HSTS_MIN_MAX_AGE => {
            TestResult::new(T, "hsts-implemented-max-age-at-least-six-months", Outcome::Pass, &evidence)
        }
        Some(_) => TestResult::new(T, "hsts-implemented-max-age-less-than-six-months", Outcome::Fail, &evidence),
    }
}

/// Whether two hosts are the Observatory's "similar origin": the same host, or the same last two labels (an
/// approximation of "same registrable domain" without the public-suffix list).
#[must_use]
pub fn similar_host(a: &str, b: &str) -> bool {
    let tail = |h: &str| {
        let labels: Vec<&str> = h.trim_end_matches('.').rsplit('.').take(2).collect();
        labels.join(".").to_ascii_lowercase()
    };
    a.eq_ignore_ascii_case(b) || (a.contains('.') && tail(a) == tail(b))
}

/// How a `<script src>` is spelled, which is what the Observatory judges (not where it resolves).
enum ScriptSrc {
    /// `//host/…`: foreign, and its scheme is the page's (never counted secure).
    RelativeProtocol,
    /// `http(s)://…`: foreign unless on a similar host.
    Absolute(Url),
    /// Anything else (`/x.js`, `x.js`): same origin, secure if the page is https.
    Relative,
}

fn script_src(src: &str) -> ScriptSrc {
    let lower = src.to_ascii_lowercase();
    if src.starts_with("//") || src.starts_with("\\\\") {
        ScriptSrc::RelativeProtocol
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        Url::parse(src).map_or(ScriptSrc::RelativeProtocol, ScriptSrc::Absolute)
    } else {
        ScriptSrc::Relative
    }
}

/// Subresource Integrity on `<script src>`: scripts on another (registrable) domain need `integrity` and https;
/// protocol-relative (`//host/…`) or http sources are "not loaded securely". Same-origin scripts with
/// `integrity` over https earn the bonus too. The worst script decides.
#[must_use]
pub fn sri(page: &Fetched, doc: Option<&Page>) -> TestResult {
    const T: &str = "subresource-integrity";
    let (Some(doc), Some(base)) = (doc, page.parsed_url()) else {
        return TestResult::new(T, "sri-not-implemented-response-not-html", Outcome::Pass, "not HTML");
    };
    if doc.by_name("script").next().is_none() {
        return TestResult::new(T, "sri-not-implemented-but-no-scripts-loaded", Outcome::Pass, "no script tags");
    }
    let page_https = base.scheme() == "https";
    let base_host = base.host_str().unwrap_or_default().to_owned();
    // 0 = same-origin SRI bonus, 1 = external SRI over https, 2 = SRI but insecure, 3 = no SRI but https,
    // 4 = neither; `None` = nothing noteworthy.
    let (mut worst, mut foreign, mut same_origin_sri) = (None::<u8>, false, false);
    let mut evidence = Vec::new();
    for s in doc.by_name("script") {
        let Some(src) = s.attr("src").map(str::trim) else { continue };
        let integrity = s.attr("integrity").is_some_and(|i| !i.trim().is_empty());
        let (external, secure) = match script_src(src) {
            ScriptSrc::RelativeProtocol => (true, false),
            ScriptSrc::Absolute(u) => {
                (!similar_host(u.host_str().unwrap_or_default(), &base_host), u.scheme() == "https")
            }
            ScriptSrc::Relative => (false, page_https),
        };
        if !external {
            same_origin_sri |= integrity && secure;
            continue;
        }
        foreign = true;
        evidence.push(format!("{src} (integrity: {integrity})"));
        let rank = match (integrity, secure) {
            (true, true) => 1,
            (true, false) => 2,
            (false, true) => 3,
            (false, false) => 4,
        };
        worst = Some(worst.map_or(rank, |w| w.max(rank)));
    }
    let evidence =
        if evidence.is_empty() { "all scripts from a similar origin".to_owned() } else { evidence.join(", ") };
    let (id, outcome) = match worst {
        Some(4) => ("sri-not-implemented-and-external-scripts-not-loaded-securely", Outcome::Fail),
        Some(3) => ("sri-not-implemented-but-external-scripts-loaded-securely", Outcome::Fail),
        Some(2) => ("sri-implemented-but-external-scripts-not-loaded-securely", Outcome::Fail),
        _ if same_origin_sri => ("sri-implemented-and-all-scripts-loaded-securely", Outcome::Pass),
        _ if foreign => ("sri-implemented-and-external-scripts-loaded-securely", Outcome::Pass),
        _ => ("sri-not-implemented-but-all-scripts-loaded-from-secure-origin", Outcome::Pass),
    };
    TestResult::new(T, id, outcome, &evidence)
}

/// X-Content-Type-Options must be `nosniff`.
#[must_use]
pub fn x_content_type_options(page: &Fetched) -> TestResult {
    const T: &str = "x-content-type-options";
    match page.header("x-content-type-options") {
        None => {
            TestResult::new(T, "x-content-type-options-not-implemented", Outcome::Fail, "no X-Content-Type-Options")
        }
        Some(v) if v.trim().eq_ignore_ascii_case("nosniff") => {
            TestResult::new(T, "x-content-type-options-nosniff", Outcome::Pass, &format!("x-content-type-options: {v}"))
        }
        Some(v) => TestResult::new(
            T,
            "x-content-type-options-header-invalid",
            Outcome::Fail,
            &format!("x-content-type-options: {v}"),
        ),
    }
}

/// X-Frame-Options `DENY`/`SAMEORIGIN`, or better, CSP `frame-ancestors` sent as a header (which wins).
#[must_use]
pub fn x_frame_options(page: &Fetched, frame_ancestors: Option<&[String]>) -> TestResult {
    const T: &str = "x-frame-options";
    let xfo = page.header("x-frame-options");
    let evidence = format!(
        "x-frame-options: {}; csp frame-ancestors: {}",
        xfo.unwrap_or("(none)"),
        frame_ancestors.map_or_else(|| "(none)".to_owned(), |f| f.join(" "))
    );
    if frame_ancestors.is_some() {
        return TestResult::new(T, "x-frame-options-implemented-via-csp", Outcome::Pass, &evidence);
    }
    match xfo.map(|v| v.trim().to_ascii_lowercase()) {
        None => TestResult::new(T, "x-frame-options-not-implemented", Outcome::Fail, &evidence),
        Some(v) if v == "deny" || v == "sameorigin" => {
            TestResult::new(T, "x-frame-options-sameorigin-or-deny", Outcome::Pass, &evidence)
        }
        Some(v) if v.starts_with("allow-from") => {
            TestResult::new(T, "x-frame-options-allow-from-origin", Outcome::Pass, &evidence)
        }
        Some(_) => TestResult::new(T, "x-frame-options-header-invalid", Outcome::Fail, &evidence),
    }
}

/// Cross-Origin-Resource-Policy: `same-origin`/`same-site` earn the bonus; unknown values are invalid.
#[must_use]
pub fn corp(page: &Fetched) -> TestResult {
    const T: &str = "cross-origin-resource-policy";
    let Some(v) = page.header("cross-origin-resource-policy") else {
        return TestResult::new(T, "corp-not-implemented", Outcome::Pass, "no CORP");
    };
    let evidence = format!("cross-origin-resource-policy: {v}");
    let (id, outcome) = match v.trim().to_ascii_lowercase().as_str() {
        "same-origin" => ("corp-implemented-with-same-origin", Outcome::Pass),
        "same-site" => ("corp-implemented-with-same-site", Outcome::Pass),
        "cross-origin" => ("corp-implemented-with-cross-origin", Outcome::Pass),
        _ => ("corp-header-invalid", Outcome::Fail),
    };
    TestResult::new(T, id, outcome, &evidence)
}
