//! Page checks over fetched HTML, exposed-file probes and template checks. Each returns findings; none panics on
//! hostile input (unparseable URLs are skipped, bodies are bounded by [`crate::html::MAX_BODY_BYTES`]).

use std::sync::LazyLock;

use regex::Regex;
use url::Url;

use crate::fetched::Fetched;
use crate::finding::{Finding, Location, Rule, Severity};
use crate::html::{Element, Page};
use crate::observatory::tests::similar_host;

/// The hidden field Palisade's own forms carry (`<input type="hidden" name="csrf">` in palisade-web templates).
pub const PALISADE_CSRF_FIELD: &str = "csrf";

/// `http://` subresource on an `https` page.
pub const MIXED_CONTENT: Rule = Rule {
    id: "page/mixed-content",
    severity: Severity::High,
    summary: "Subresource loaded over http on an https page",
    fix_link: "https://developer.mozilla.org/en-US/docs/Web/Security/Mixed_content",
};
/// Script from another origin without `integrity`.
pub const SCRIPT_WITHOUT_SRI: Rule = Rule {
    id: "page/script-without-sri",
    severity: Severity::Medium,
    summary: "Script from another origin without Subresource Integrity",
    fix_link: "https://developer.mozilla.org/en-US/docs/Web/Security/Subresource_Integrity",
};
/// POST form without the CSRF token field.
pub const FORM_WITHOUT_CSRF: Rule = Rule {
    id: "page/form-without-csrf",
    severity: Severity::Medium,
    summary: "Form posts without a CSRF token field",
    fix_link: "https://cheatsheetseries.owasp.org/cheatsheets/Cross-Site_Request_Forgery_Prevention_Cheat_Sheet.html",
};
/// Link whose redirect-looking parameter holds an absolute URL.
pub const OPEN_REDIRECT_PARAM: Rule = Rule {
    id: "page/open-redirect-param",
    severity: Severity::Medium,
    summary: "Link passes an absolute URL in a redirect parameter",
    fix_link: "https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html",
};
/// A probe path that should be 404 answered otherwise.
pub const EXPOSED_FILE: Rule = Rule {
    id: "exposure/exposed-file",
    severity: Severity::High,
    summary: "A file that should not be served is reachable",
    fix_link: "https://owasp.org/www-project-web-security-testing-guide/latest/4-Web_Application_Security_Testing/02-Configuration_and_Deployment_Management_Testing/04-Review_Old_Backup_and_Unreferenced_Files_for_Sensitive_Information",
};
/// `|safe` in a template.
pub const TEMPLATE_SAFE_FILTER: Rule = Rule {
    id: "template/safe-filter",
    severity: Severity::Medium,
    summary: "Template output marked safe (auto-escaping bypassed)",
    fix_link: "https://docs.rs/minijinja/latest/minijinja/filters/fn.safe.html",
};
/// `{% autoescape false %}` in a template.
pub const TEMPLATE_AUTOESCAPE_OFF: Rule = Rule {
    id: "template/autoescape-off",
    severity: Severity::High,
    summary: "Template turns auto-escaping off",
    fix_link: "https://docs.rs/minijinja/latest/minijinja/syntax/index.html#autoescape",
};
/// `onclick=` and friends in a template.
pub const TEMPLATE_INLINE_HANDLER: Rule = Rule {
    id: "template/inline-event-handler",
    severity: Severity::Low,
    summary: "Inline event handler (blocked by the CSP, and an injection sink)",
    fix_link: "https://developer.mozilla.org/en-US/docs/Web/HTTP/Guides/CSP#inline_javascript",
};

/// Every rule this module and the header scoring can emit (for SARIF `rules`).
pub const RULES: &[Rule] = &[
    MIXED_CONTENT,
    SCRIPT_WITHOUT_SRI,
    FORM_WITHOUT_CSRF,
    OPEN_REDIRECT_PARAM,
    EXPOSED_FILE,
    TEMPLATE_SAFE_FILTER,
    TEMPLATE_AUTOESCAPE_OFF,
    TEMPLATE_INLINE_HANDLER,
];

/// Query parameter names that commonly carry a post-login or post-action destination.
pub const REDIRECT_PARAMS: &[&str] = &[
    "next",
    "return",
    "return_to",
    "returnto",
    "returnurl",
    "url",
    "redirect",
    "redirect_uri",
    "redirect_url",
    "goto",
    "dest",
    "destination",
    "continue",
];

/// What the page checks need to know about the store.
#[derive(Debug, Clone)]
pub struct PageCheckConfig {
    /// Name of the anti-CSRF hidden field ([`PALISADE_CSRF_FIELD`] for Palisade's templates).
    pub csrf_field: String,
}

impl Default for PageCheckConfig {
    fn default() -> Self {
        Self { csrf_field: PALISADE_CSRF_FIELD.to_owned() }
    }
}

/// Runs every page check on one fetched HTML page.
#[must_use]
pub fn check_page(page: &Fetched, config: &PageCheckConfig) -> Vec<Finding> {
    let Some(base) = page.parsed_url() else { return Vec::new() };
    if !page.is_html() {
        return Vec::new();
    }
    check_parsed(&base, &Page::parse(&page.body), config)
}

/// [`check_page`] for a page the caller already parsed, served at `base`.
#[must_use]
pub fn check_parsed(base: &Url, doc: &Page, config: &PageCheckConfig) -> Vec<Finding> {
    let mut out = mixed_content(base, doc);
    out.extend(scripts_without_sri(base, doc));
    out.extend(forms_without_csrf(base, doc, &config.csrf_field));
    out.extend(open_redirect_links(base, doc));
    out
}

/// (tag, attribute, active?) pairs that load subresources.
const SUBRESOURCES: &[(&str, &str, bool)] = &[
    ("script", "src", true),
    ("iframe", "src", true),
    ("frame", "src", true),
    ("object", "data", true),
    ("embed", "src", true),
    ("img", "src", false),
    ("audio", "src", false),
    ("video", "src", false),
    ("video", "poster", false),
    ("source", "src", false),
    ("track", "src", false),
    ("form", "action", true),
];

fn link_loads(e: &Element) -> bool {
    e.attr("rel").is_some_and(|rel| {
        rel.split_ascii_whitespace().any(|r| {
            matches!(
                r.to_ascii_lowercase().as_str(),
                "stylesheet" | "icon" | "preload" | "modulepreload" | "manifest" | "prefetch"
            )
        })
    })
}

fn mixed_content(base: &Url, doc: &Page) -> Vec<Finding> {
    if base.scheme() != "https" {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in &doc.elements {
        let attrs: Vec<(&str, bool)> = if e.name == "link" && link_loads(e) {
            vec![("href", true)]
        } else {
            SUBRESOURCES.iter().filter(|(t, _, _)| *t == e.name).map(|(_, a, active)| (*a, *active)).collect()
        };
        for (attr, active) in attrs {
            let Some(value) = e.attr(attr) else { continue };
            let Ok(abs) = base.join(value.trim()) else { continue };
            if abs.scheme() == "http" {
                let severity = if active { Severity::High } else { Severity::Low };
                let finding = Finding::new(
                    &MIXED_CONTENT,
                    format!(
                        "<{}> loads {} over http",
                        e.name,
                        if active { "active content" } else { "passive content" }
                    ),
                    format!("{}={}", attr, abs),
                    Location::at(base.as_str(), format!("{}[{}=\"{}\"]", e.name, attr, abs)),
                );
                out.push(finding.with_severity(severity));
            }
        }
    }
    out
}

fn scripts_without_sri(base: &Url, doc: &Page) -> Vec<Finding> {
    let host = base.host_str().unwrap_or_default();
    doc.by_name("script")
        .filter_map(|s| {
            let src = s.attr("src")?.trim();
            let abs = base.join(src).ok()?;
            let same = abs.origin() == base.origin()
                || (similar_host(abs.host_str().unwrap_or_default(), host) && !src.starts_with("//"));
            let integrity = s.attr("integrity").is_some_and(valid_integrity);
            (!same && !integrity).then(|| {
                Finding::new(
                    &SCRIPT_WITHOUT_SRI,
                    "Script from another origin without integrity",
                    format!("src={abs}"),
                    Location::at(base.as_str(), format!("script[src=\"{abs}\"]")),
                )
            })
        })
        .collect()
}

/// Whether an `integrity` value holds at least one `sha256-`/`sha384-`/`sha512-` hash.
#[must_use]
pub fn valid_integrity(value: &str) -> bool {
    value.split_ascii_whitespace().any(|h| {
        ["sha256-", "sha384-", "sha512-"].iter().any(|p| h.len() > p.len() + 8 && h.to_ascii_lowercase().starts_with(p))
    })
}

fn forms_without_csrf(base: &Url, doc: &Page, field: &str) -> Vec<Finding> {
    doc.forms
        .iter()
        .filter(|f| f.element.attr("method").is_some_and(|m| m.trim().eq_ignore_ascii_case("post")))
        .filter(|f| !f.field_names.iter().any(|n| n == field))
        .map(|f| {
            let action = f.element.attr("action").unwrap_or_default();
            let target = base.join(action.trim()).map_or_else(|_| action.to_owned(), |u| u.to_string());
            Finding::new(
                &FORM_WITHOUT_CSRF,
                format!("POST form without a `{field}` field"),
                format!("action={target}; fields: {}", f.field_names.join(", ")),
                Location::at(base.as_str(), format!("form[action=\"{target}\"]")),
            )
        })
        .collect()
}

/// Whether a redirect parameter's value would send the browser off-site (or anywhere absolute).
fn absolute_target(base: &Url, value: &str) -> Option<Url> {
    let v = value.trim();
    let looks_absolute = v.starts_with("//") || v.starts_with("\\\\") || v.starts_with("/\\") || v.starts_with("\\/");
    if looks_absolute {
        return base.join(&v.replace('\\', "/")).ok();
    }
    Url::parse(v).ok()
}

fn open_redirect_links(base: &Url, doc: &Page) -> Vec<Finding> {
    let mut out = Vec::new();
    let targets = doc
        .elements
        .iter()
        .filter_map(|e| match e.name.as_str() {
            "a" | "area" => e.attr("href"),
            "form" => e.attr("action"),
            _ => None,
        })
        .filter_map(|h| base.join(h.trim()).ok());
    for link in targets {
        for (key, value) in link.query_pairs() {
            if !REDIRECT_PARAMS.contains(&key.to_ascii_lowercase().as_str()) {
                continue;
            }
            let Some(target) = absolute_target(base, &value) else { continue };
            let off_site = target.origin() != base.origin();
            let finding = Finding::new(
                &OPEN_REDIRECT_PARAM,
                format!("`{key}` parameter carries an absolute URL"),
                format!("{key}={value}"),
                Location::at(
                    base.as_str(),
                    format!("a[href=\"{}{}?{key}=\"]", link.origin().ascii_serialization(), link.path()),
                ),
            );
            out.push(if off_site { finding } else { finding.with_severity(Severity::Low) });
        }
    }
    out
}

/// Paths that must answer 404 on a store (or 410): version-control metadata, environment files, backups.
pub const EXPOSED_FILE_PROBES: &[&str] = &[
    "/.git/HEAD",
    "/.git/config",
    "/.svn/entries",
    "/.hg/hgrc",
    "/.env",
    "/.env.local",
    "/.env.production",
    "/.DS_Store",
    "/backup.zip",
    "/backup.tar.gz",
    "/backup.sql",
    "/dump.sql",
    "/db.sqlite",
    "/palisade.db",
    "/palisade.toml",
    "/config.toml",
    "/wp-config.php.bak",
    "/wp-config.php~",
    "/.htpasswd",
    "/server-status",
    "/phpinfo.php",
    "/id_rsa",
];

/// Judges one probe's response. 404/410 (and redirects) are fine; 2xx is an exposure (critical when the body
/// confirms a git repository or an env file), 401/403 says the file exists (low). The evidence names the status,
/// size and content type only: an exposed `.env` holds secrets that must not be copied into a report.
#[must_use]
pub fn check_exposed(probe_path: &str, response: &Fetched) -> Option<Finding> {
    let status = response.status;
    let ctype = response.header("content-type").unwrap_or("(none)");
    let evidence = format!("GET {probe_path} -> {status}, {} bytes, content-type {ctype}", response.body.len());
    let location = Location::at(&response.url, probe_path);
    match status {
        200..=299 => {
            let body = response.body.trim_start();
            let confirmed = !response.is_html()
                && ((probe_path.starts_with("/.git/") && (body.starts_with("ref:") || body.starts_with("[core]")))
                    || (probe_path.starts_with("/.env") && body.lines().any(looks_like_env_assignment)));
            let soft_404 = response.is_html() && !probe_path.ends_with(".php");
            let f = Finding::new(&EXPOSED_FILE, format!("{probe_path} is served"), evidence, location);
            Some(if confirmed {
                f.with_severity(Severity::Critical)
            } else if soft_404 {
                f.with_severity(Severity::Low)
            } else {
                f
            })
        }
        401 | 403 => Some(
            Finding::new(&EXPOSED_FILE, format!("{probe_path} exists but is refused"), evidence, location)
                .with_severity(Severity::Low),
        ),
        _ => None,
    }
}

/// `NAME=value` with an upper-case shell-style name, as in a `.env` file.
fn looks_like_env_assignment(line: &str) -> bool {
    line.trim_start().trim_start_matches("export ").split_once('=').is_some_and(|(k, _)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    })
}

static SAFE_FILTER: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\|\s*safe\b").ok());
static AUTOESCAPE_OFF: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\{%-?\s*autoescape\s+(false|off|none)\s*-?%\}").ok());
static INLINE_HANDLER: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)<[a-z][^>]*?[\s"'/](on[a-z]{3,})\s*="#).ok());

/// Scans one template source for unsafe patterns (line by line: a tag split across lines is not seen).
#[must_use]
pub fn check_template(path: &str, source: &str) -> Vec<Finding> {
    let patterns: [(&LazyLock<Option<Regex>>, &Rule); 3] = [
        (&SAFE_FILTER, &TEMPLATE_SAFE_FILTER),
        (&AUTOESCAPE_OFF, &TEMPLATE_AUTOESCAPE_OFF),
        (&INLINE_HANDLER, &TEMPLATE_INLINE_HANDLER),
    ];
    let mut out = Vec::new();
    // The same snippet twice in one file: the second is `snippet #2`, so each keeps its own fingerprint.
    let mut seen: std::collections::HashMap<(&str, String), u32> = std::collections::HashMap::new();
    for (n, line) in source.lines().enumerate() {
        for (re, rule) in &patterns {
            let Some(re) = re.as_ref() else { continue };
            for m in re.find_iter(line) {
                let snippet = crate::html::truncate(m.as_str(), 120).to_owned();
                let count = seen.entry((rule.id, snippet.clone())).or_insert(0);
                *count += 1;
                let selector = if *count > 1 { format!("{snippet} #{count}") } else { snippet };
                let mut location = Location::at(path, selector);
                location.line = u32::try_from(n + 1).ok();
                out.push(Finding::new(rule, rule.summary, line.trim().chars().take(200).collect::<String>(), location));
            }
        }
    }
    out
}
