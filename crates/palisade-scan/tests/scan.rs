//! Fixtures with hand-computed Observatory scores, page checks, crawl boundaries, report escaping and SARIF shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

use palisade_scan::checks::{self, PageCheckConfig};
use palisade_scan::crawl::{self, CrawlLimits, CrawlPlanner, Fetcher};
use palisade_scan::observatory::tests::Hsts;
use palisade_scan::observatory::{self, Outcome, SCANNER_PROBE_ORIGIN};
use palisade_scan::report::{Report, SARIF_FINGERPRINT_KEY};
use palisade_scan::{Fetched, RedirectProbe, Severity};

fn fetched(url: &str, headers: &[(&str, &str)], body: &str) -> Fetched {
    Fetched {
        url: url.to_owned(),
        status: 200,
        headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        body: body.to_owned(),
    }
}

fn result<'a>(s: &'a observatory::Score, test: &str) -> &'a observatory::TestResult {
    s.tests.iter().find(|t| t.test == test).expect("test present")
}

/// The headers palisade-web's `security_headers` sends behind TLS, with the visitor cookie.
fn default_storefront() -> Fetched {
    fetched(
        "https://shop.example/",
        &[
            ("Content-Type", "text/html; charset=utf-8"),
            (
                "content-security-policy",
                "default-src 'none'; script-src 'self' 'nonce-0f1e2d'; style-src 'self' 'nonce-0f1e2d'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "same-origin"),
            ("cross-origin-opener-policy", "same-origin"),
            ("strict-transport-security", "max-age=63072000; includeSubDomains"),
            ("set-cookie", "palisade_visitor=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000; Secure"),
        ],
        "<!doctype html><html><head><title>Shop</title><script src=\"/assets/app.js\" nonce=\"0f1e2d\"></script></head>\
         <body><form method=\"post\" action=\"/cart\"><input type=\"hidden\" name=\"csrf\" value=\"t\"></form></body></html>",
    )
}

#[test]
fn default_storefront_scores_125_of_145_and_at_least_120() {
    let probe = RedirectProbe::Chain(vec!["http://shop.example/".into(), "https://shop.example/".into()]);
    let s = observatory::score(&default_storefront(), &probe);
    // 100, no penalties; bonuses: CSP default-src 'none' +10, cookies +5, referrer +5, frame-ancestors +5.
    assert_eq!(result(&s, "content-security-policy").result, "csp-implemented-with-no-unsafe-default-src-none");
    assert_eq!(result(&s, "cookies").modifier, 5);
    assert_eq!(result(&s, "x-frame-options").result, "x-frame-options-implemented-via-csp");
    assert_eq!(
        result(&s, "subresource-integrity").result,
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    );
    assert_eq!(result(&s, "redirection").result, "redirection-to-https");
    assert_eq!((s.score_before_bonus, s.score, s.grade.as_str()), (100, 125, "A+"));
    assert!(s.score >= 120, "issue #19 benchmark");
    assert!(observatory::findings("https://shop.example/", &s).is_empty());
}

#[test]
fn bare_http_site_scores_zero() {
    let page = fetched(
        "http://old.example/",
        &[("content-type", "text/html"), ("set-cookie", "sessionid=1; Path=/")],
        "<html><script src=\"http://cdn.other.example/x.js\"></script></html>",
    );
    let s = observatory::score(&page, &RedirectProbe::NotProbed);
    // -25 CSP, -40 session cookie without Secure, -20 HSTS (no https), -50 SRI (http external), -5 nosniff, -20 XFO.
    let mods: Vec<i32> = s.tests.iter().map(|t| t.modifier).collect();
    assert_eq!(mods, vec![-25, -40, 0, 0, 0, -20, -50, -5, -20, 0]);
    assert_eq!(result(&s, "redirection").outcome, Outcome::Skipped);
    assert_eq!((s.score_before_bonus, s.score, s.grade.as_str()), (0, 0, "F"));
    let f = observatory::findings(&page.url, &s);
    assert_eq!(f.len(), 6);
    assert!(f.iter().any(|f| f.rule_id == "headers/subresource-integrity" && f.severity == Severity::High));
}

#[test]
fn medium_site_gets_no_bonus_below_90() {
    let page = fetched(
        "https://m.example/",
        &[
            ("content-type", "text/html"),
            ("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'"),
            ("strict-transport-security", "max-age=86400"),
            ("x-frame-options", "SAMEORIGIN"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer-when-downgrade"),
            ("set-cookie", "csrftoken=x; Secure"),
            ("cross-origin-resource-policy", "same-site"),
        ],
        "<html><p>no scripts</p></html>",
    );
    let probe = RedirectProbe::Chain(vec![
        "http://m.example/".into(),
        "http://www.m.example/".into(),
        "https://www.m.example/".into(),
    ]);
    let s = observatory::score(&page, &probe);
    assert_eq!(result(&s, "cookies").result, "cookies-anticsrf-without-samesite-flag");
    assert_eq!(result(&s, "redirection").result, "redirection-not-to-https-on-initial-redirection");
    assert_eq!(result(&s, "cross-origin-resource-policy").modifier, 10);
    // -20 CSP, -20 anti-CSRF cookie, -10 redirect, -5 referrer, -10 HSTS => 35; CORP's +10 not added.
    assert_eq!((s.score_before_bonus, s.score, s.grade.as_str()), (35, 35, "D"));
}

fn threshold_page(corp: &str) -> Fetched {
    fetched(
        "https://t.example/",
        &[
            ("content-type", "text/html"),
            ("content-security-policy", "default-src 'none'; frame-ancestors 'self'"),
            ("strict-transport-security", "max-age=31536000"),
            ("referrer-policy", "foo"),
            ("cross-origin-resource-policy", corp),
        ],
        "<html></html>",
    )
}

#[test]
fn bonus_applies_at_exactly_90_and_not_at_85() {
    // -5 nosniff missing, -5 invalid referrer => 90; +10 CSP +5 frame-ancestors +10 CORP => 115.
    let s = observatory::score(&threshold_page("same-origin"), &RedirectProbe::NoHttpListener);
    assert_eq!((s.score_before_bonus, s.score, s.grade.as_str()), (90, 115, "A+"));
    // CORP invalid adds -5 => 85, no bonus.
    let s = observatory::score(&threshold_page("bogus"), &RedirectProbe::NoHttpListener);
    assert_eq!((s.score_before_bonus, s.score, s.grade.as_str()), (85, 85, "A-"));
}

#[test]
fn cors_reflecting_origin_with_credentials_is_universal_access() {
    let mut page = default_storefront();
    page.headers.push(("access-control-allow-origin".into(), SCANNER_PROBE_ORIGIN.into()));
    page.headers.push(("access-control-allow-credentials".into(), "true".into()));
    let s = observatory::score(&page, &RedirectProbe::NoHttpListener);
    assert_eq!(result(&s, "cross-origin-resource-sharing").modifier, -50);
    assert_eq!((s.score_before_bonus, s.score), (50, 50));
}

#[test]
fn secure_cookie_over_http_and_samesite_none_are_caught() {
    let page = fetched("http://x.example/", &[("set-cookie", "pref=1; Secure; SameSite=Lax")], "");
    assert_eq!(observatory::tests::cookies(&page, Hsts::Unprotected).result, "cookies-without-secure-flag");
    let page = fetched("https://x.example/", &[("set-cookie", "pref=1; SameSite=None")], "");
    assert_eq!(observatory::tests::cookies(&page, Hsts::Protected).result, "cookies-samesite-flag-invalid");
    let page = fetched("https://x.example/", &[("set-cookie", "my_login=1; Secure; SameSite=Strict")], "");
    assert_eq!(observatory::tests::cookies(&page, Hsts::Protected).result, "cookies-session-without-httponly-flag");
    // A kept report names cookies, never their values.
    let page = fetched("https://x.example/", &[("set-cookie", "sid=SECRET-SESSION; Secure; HttpOnly")], "");
    let evidence = observatory::tests::cookies(&page, Hsts::Protected).evidence;
    assert_eq!(evidence, "cookies: sid");
}

const HOSTILE_PAGE: &str = r#"<!doctype html><html><head><title>x</title>
<script src="http://cdn.example/a.js"></script>
<script src="https://cdn.example/b.js"></script>
<script src="https://cdn.example/c.js" integrity="sha384-oqVuAfXRKap7fdgcCY5uykM6+R9GqQ8K/uxy9rx7HNQlGYl1kPzQho1wx4JwY8wC"></script>
<script src="/own.js"></script>
<link rel="stylesheet" href="http://cdn.example/s.css"><link rel="canonical" href="http://shop.example/">
</head><body><img src="http://img.example/p.png">
<form method="POST" action="/cart/add"><input name="qty"></form>
<form method="post" action="/pay"><input type="hidden" name="csrf" value="t"></form>
<form method="get" action="/search"><input name="q"></form>
<a href="/login?next=https://evil.example/">a</a>
<a href="/login?next=/account">b</a>
<a href="/login?return=//evil.example">c</a>
<a href="/login?url=https://shop.example/x">d</a>
<a href="/x?redirect=%2F%5Cevil.example">e</a>
</body></html>"#;

#[test]
fn page_checks_find_what_they_should_and_nothing_else() {
    let page = fetched("https://shop.example/p", &[("content-type", "text/html")], HOSTILE_PAGE);
    let f = checks::check_page(&page, &PageCheckConfig::default());
    let count = |rule: &str, sev: Severity| f.iter().filter(|x| x.rule_id == rule && x.severity == sev).count();
    assert_eq!(count("page/mixed-content", Severity::High), 2, "{f:#?}"); // a.js, s.css
    assert_eq!(count("page/mixed-content", Severity::Low), 1); // img
    assert_eq!(f.iter().filter(|x| x.rule_id == "page/script-without-sri").count(), 2); // a.js, b.js
    assert_eq!(f.iter().filter(|x| x.rule_id == "page/form-without-csrf").count(), 1);
    assert_eq!(count("page/open-redirect-param", Severity::Medium), 3, "{f:#?}");
    assert_eq!(count("page/open-redirect-param", Severity::Low), 1);
    // A custom CSRF field name: now both POST forms lack it.
    let cfg = PageCheckConfig { csrf_field: "authenticity_token".into() };
    assert_eq!(checks::check_page(&page, &cfg).iter().filter(|x| x.rule_id == "page/form-without-csrf").count(), 2);
    // The same page served over http has no mixed content.
    let page = fetched("http://shop.example/p", &[("content-type", "text/html")], HOSTILE_PAGE);
    assert!(checks::check_page(&page, &PageCheckConfig::default()).iter().all(|x| x.rule_id != "page/mixed-content"));
}

#[test]
fn oversized_and_garbage_input_does_not_panic() {
    let huge = format!("<html>{}</html>", "<a href='/x?next=https://e.example'>é</a>".repeat(80_000));
    let page = fetched("https://shop.example/", &[("content-type", "text/html")], &huge);
    let f = checks::check_page(&page, &PageCheckConfig::default());
    assert!(!f.is_empty() && f.len() < 80_000, "body bounded at MAX_BODY_BYTES: {}", f.len());
    let garbage = fetched("not a url", &[("content-type", "text/html")], "<a href='\u{0}//\\'>");
    assert!(checks::check_page(&garbage, &PageCheckConfig::default()).is_empty());
    let _ = observatory::score(&garbage, &RedirectProbe::Chain(vec![]));
    let _ = observatory::score(&garbage, &RedirectProbe::Chain(vec!["::".into(), "http://".into()]));
}

#[test]
fn exposed_files_are_judged_without_copying_secrets() {
    let resp =
        |url: &str, status, ct: &str, body: &str| Fetched { status, ..fetched(url, &[("content-type", ct)], body) };
    let git = checks::check_exposed(
        "/.git/HEAD",
        &resp("https://s.example/.git/HEAD", 200, "text/plain", "ref: refs/heads/main\n"),
    );
    assert_eq!(git.map(|f| f.severity), Some(Severity::Critical));
    let env =
        checks::check_exposed("/.env", &resp("https://s.example/.env", 200, "text/plain", "DB_PASSWORD=hunter2\n"))
            .expect("finding");
    assert_eq!(env.severity, Severity::Critical);
    assert!(!env.evidence.contains("hunter2") && !env.title.contains("hunter2"));
    assert!(
        checks::check_exposed("/backup.zip", &resp("https://s.example/backup.zip", 404, "text/html", "nope")).is_none()
    );
    assert_eq!(
        checks::check_exposed("/wp-config.php.bak", &resp("https://s.example/wp-config.php.bak", 403, "text/html", ""))
            .map(|f| f.severity),
        Some(Severity::Low)
    );
    assert_eq!(
        checks::check_exposed("/backup.zip", &resp("https://s.example/backup.zip", 200, "application/zip", "PK"))
            .map(|f| f.severity),
        Some(Severity::High)
    );
    // A soft 404 (the storefront's HTML page answered with 200) is low, not a confirmed .env.
    let soft = resp("https://s.example/.env", 200, "text/html", "<html>\n  <meta\n  content=\"x\">\nA=1</html>");
    assert_eq!(checks::check_exposed("/.env", &soft).map(|f| f.severity), Some(Severity::Low));
    assert!(checks::EXPOSED_FILE_PROBES.contains(&"/.git/HEAD") && checks::EXPOSED_FILE_PROBES.contains(&"/.env"));
}

#[test]
fn template_patterns() {
    let src = "{{ product.description|safe }}\n{{ x | safe }}\n{{ safe_value }}\n{{ y|safer }}\n{%- autoescape false -%}\n\
               <button type=\"button\" onclick=\"go()\">\n<a data-onclick=\"x\" href=\"#\">\n<img src=x onerror = alert(1)>";
    let f = checks::check_template("themes/t/product.html", src);
    let lines = |rule: &str| f.iter().filter(|x| x.rule_id == rule).filter_map(|x| x.location.line).collect::<Vec<_>>();
    assert_eq!(lines("template/safe-filter"), vec![1, 2]);
    assert_eq!(lines("template/autoescape-off"), vec![5]);
    assert_eq!(lines("template/inline-event-handler"), vec![6, 8]);
    // Moving a finding down a line keeps its fingerprint.
    let moved = checks::check_template("themes/t/product.html", &format!("\n\n{src}"));
    assert_eq!(moved.first().map(|x| &x.fingerprint), f.first().map(|x| &x.fingerprint));
}

fn planner() -> CrawlPlanner {
    CrawlPlanner::new("https://shop.example/", CrawlLimits::default()).expect("start")
}

#[test]
fn crawler_never_leaves_the_origin() {
    let p = planner();
    let base = url::Url::parse("https://shop.example/dir/page").expect("base");
    let refused = [
        "//evil.example/x",
        "http://shop.example@evil.example/",
        "https://shop.example@evil.example/",
        "https://shop.example:pw@evil.example/",
        "https://user:pw@shop.example/",
        "\\\\evil.example\\x",
        "/\\evil.example",
        "\\/evil.example",
        "\n//evil.example/",
        " https://evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,x",
        "mailto:a@shop.example",
        "http://shop.example/",
        "https://shop.example:8443/",
        "https://shop.example./",
        "https://shop.example%2F@evil.example/",
        "https://evil.example/https://shop.example/",
        "/logout",
    ];
    for c in refused {
        assert_eq!(p.admit(&base, c), None, "{c:?} must be refused");
    }
    let admitted = [
        ("b", "https://shop.example/dir/b"),
        ("/a#frag", "https://shop.example/a"),
        ("HTTPS://SHOP.EXAMPLE:443/a", "https://shop.example/a"),
        ("/a?b=2&a=1", "https://shop.example/a?a=1&b=2"),
        ("https:other", "https://shop.example/dir/other"),
        ("../../../x", "https://shop.example/x"),
        ("?", "https://shop.example/dir/page"),
    ];
    for (c, want) in admitted {
        assert_eq!(p.admit(&base, c).map(|u| u.to_string()).as_deref(), Some(want), "{c:?}");
    }
    assert!(CrawlPlanner::new("javascript:alert(1)", CrawlLimits::default()).is_err());
    assert!(CrawlPlanner::new("https://u:p@shop.example/", CrawlLimits::default()).is_err());
    assert!(CrawlPlanner::new("/relative", CrawlLimits::default()).is_err());
}

/// A site where every page links to two new pages and to evil; counts fetches.
struct Infinite {
    fetched: Vec<String>,
}

impl Fetcher for Infinite {
    async fn fetch(&mut self, url: &url::Url) -> Result<Fetched, String> {
        self.fetched.push(url.to_string());
        let n = self.fetched.len();
        if url.path() == "/boom" {
            return Err("connection reset".into());
        }
        if url.path() == "/away" {
            // A fetcher that followed a redirect off-origin: its links must be ignored.
            return Ok(fetched("https://evil.example/", &[("content-type", "text/html")], "<a href='/stolen'>x</a>"));
        }
        let body = format!(
            "<a href='/p{n}a'>a</a><a href='/p{n}b#x'>b</a><a href='//evil.example/'>e</a><a href='/boom'>b</a><a href='/away'>w</a>"
        );
        Ok(fetched(url.as_str(), &[("content-type", "text/html")], &body))
    }
}

#[tokio::test]
async fn crawl_is_bounded_by_pages_and_depth_and_dedupes() {
    let limits = CrawlLimits { max_pages: 10, max_depth: 2, max_links_per_page: 100 };
    let mut site = Infinite { fetched: Vec::new() };
    let out = crawl::crawl(CrawlPlanner::new("https://shop.example/", limits).expect("start"), &mut site).await;
    assert!(site.fetched.len() <= 10);
    assert!(site.fetched.iter().all(|u| u.starts_with("https://shop.example/")), "{:?}", site.fetched);
    assert!(!site.fetched.iter().any(|u| u.contains("stolen")));
    let unique: std::collections::HashSet<_> = site.fetched.iter().collect();
    assert_eq!(unique.len(), site.fetched.len(), "no page fetched twice");
    assert_eq!(out.errors.len(), 1);
    // Depth 2: start (0) -> /p1a,/p1b,/boom,/away (1) -> their links (2), whose own links are never queued.
    let limits = CrawlLimits { max_pages: 1000, max_depth: 1, max_links_per_page: 100 };
    let mut site = Infinite { fetched: Vec::new() };
    let _ = crawl::crawl(CrawlPlanner::new("https://shop.example/", limits).expect("start"), &mut site).await;
    assert_eq!(site.fetched.len(), 5, "{:?}", site.fetched);
}

#[test]
fn html_report_escapes_hostile_content() {
    let page = fetched("https://shop.example/\"><script>alert(1)</script>", &[("content-type", "text/html")], "");
    let mut finding = checks::check_exposed("/.env", &Fetched { status: 200, ..page.clone() }).expect("finding");
    finding.evidence = "<script>alert('ev')</script>".into();
    finding.title = "<img src=x onerror=alert(2)>".into();
    finding.fix_link = "javascript:alert(3)".into();
    let mut report = Report::new("https://shop.example/<b>", "2026-12-06T22:00:00Z", None, vec![finding]);
    report.page_title = Some("</title><script>alert(4)</script>".into());
    let html = report.to_html();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;ev&#x27;)&lt;/script&gt;")
            || html.contains("&lt;script&gt;alert('ev')&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<b>"));
}

fn str_at<'a>(v: &'a serde_json::Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(serde_json::Value::as_str).unwrap_or_else(|| panic!("missing string at {ptr}"))
}

#[test]
fn sarif_has_the_schema_required_shape_and_fingerprints() {
    let page = fetched("https://shop.example/p", &[("content-type", "text/html")], HOSTILE_PAGE);
    let mut findings = checks::check_page(&page, &PageCheckConfig::default());
    findings.extend(checks::check_template("themes/t/p.html", "{{ x|safe }}"));
    let score = observatory::score(&page, &RedirectProbe::NotProbed);
    findings.extend(observatory::findings(&page.url, &score));
    let n = findings.len();
    let report = Report::new(&page.url, "2026-12-06T22:00:00Z", Some(score), findings);
    assert_eq!(report.findings.len(), n, "no duplicate fingerprints in this fixture");
    let sarif = report.to_sarif();
    // sarifLog requires version and runs; run requires tool; tool requires driver; toolComponent requires name.
    assert_eq!(str_at(&sarif, "/version"), "2.1.0");
    assert!(str_at(&sarif, "/$schema").contains("sarif-2.1.0"));
    let runs = sarif.get("runs").and_then(|r| r.as_array()).expect("runs array");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(str_at(run, "/tool/driver/name"), "palisade-scan");
    let rules = run.pointer("/tool/driver/rules").and_then(|r| r.as_array()).expect("rules");
    assert!(rules.iter().all(|r| r.get("id").and_then(|i| i.as_str()).is_some()), "reportingDescriptor requires id");
    let results = run.get("results").and_then(|r| r.as_array()).expect("results");
    assert_eq!(results.len(), n);
    for r in results {
        // result requires message (with text); ruleIndex must point at the rule with the same id.
        assert!(!str_at(r, "/message/text").is_empty());
        let rule_id = str_at(r, "/ruleId");
        let idx = r.get("ruleIndex").and_then(serde_json::Value::as_u64).expect("ruleIndex") as usize;
        assert_eq!(str_at(&rules[idx], "/id"), rule_id);
        assert!(["error", "warning", "note", "none"].contains(&str_at(r, "/level")));
        assert_eq!(str_at(r, &format!("/partialFingerprints/{}", SARIF_FINGERPRINT_KEY.replace('/', "~1"))).len(), 32);
        assert!(!str_at(r, "/locations/0/physicalLocation/artifactLocation/uri").is_empty());
        if let Some(region) = r.pointer("/locations/0/physicalLocation/region") {
            assert!(region.get("startLine").is_some(), "a region needs a start");
        }
    }
    // Same input, same fingerprints: a rescan matches the previous report.
    let again = checks::check_page(&page, &PageCheckConfig::default());
    assert!(again.iter().all(|f| report.findings.iter().any(|g| g.fingerprint == f.fingerprint)));
    let json: serde_json::Value = serde_json::from_str(&report.to_json().expect("json")).expect("parse");
    assert_eq!(json.pointer("/findings").and_then(|f| f.as_array()).map(Vec::len), Some(n));
    // A stored report renders the same SARIF and HTML when read back.
    let back = Report::from_json(&report.to_json().expect("json")).expect("read back");
    assert_eq!(back.to_sarif(), sarif);
    assert_eq!(back.to_html(), report.to_html());
}

#[test]
fn a_whole_scan_assembles_one_report() {
    let start = default_storefront();
    let hostile = fetched("https://shop.example/p", &[("content-type", "text/html")], HOSTILE_PAGE);
    let pages = vec![start.clone(), hostile];
    let probe = |path: &str, status| Fetched {
        status,
        ..fetched(&format!("https://shop.example{path}"), &[("content-type", "text/plain")], "x")
    };
    let probes: Vec<(String, Fetched)> = checks::EXPOSED_FILE_PROBES
        .iter()
        .map(|p| ((*p).to_owned(), probe(p, if *p == "/backup.zip" { 200 } else { 404 })))
        .collect();
    let templates = vec![("product.html".to_owned(), "{{ a|safe }}\n{{ a|safe }}".to_owned())];
    let input = palisade_scan::scan::ScanInput {
        start: &start,
        redirect: RedirectProbe::NoHttpListener,
        pages: &pages,
        probes: &probes,
        templates: &templates,
        config: PageCheckConfig::default(),
        generated_at: "2026-12-06T22:00:00Z".into(),
    };
    let report = palisade_scan::scan::run(&input);
    assert_eq!(report.score.as_ref().map(|s| s.score), Some(125));
    assert_eq!(report.page_title.as_deref(), Some("Shop"));
    assert_eq!(report.findings.iter().filter(|f| f.rule_id == "exposure/exposed-file").count(), 1);
    assert_eq!(
        report.findings.iter().filter(|f| f.rule_id == "template/safe-filter").count(),
        2,
        "repeated snippet kept"
    );
    assert!(report.findings.iter().any(|f| f.rule_id == "page/mixed-content"));
    assert!(report.findings.windows(2).all(|w| w[0].severity >= w[1].severity), "most severe first");
    // A hostile page cannot bloat the report: fields are capped.
    let long = format!("<a href='/x?next=https://e.example/{}'>x</a>", "a".repeat(100_000));
    let f = checks::check_page(
        &fetched("https://shop.example/", &[("content-type", "text/html")], &long),
        &PageCheckConfig::default(),
    );
    assert!(f.iter().all(|f| f.evidence.len() <= 520 && f.location.selector.as_ref().is_none_or(|s| s.len() <= 520)));
}

#[test]
fn record_ignores_hostile_base_and_encoded_escapes() {
    let mut p = planner();
    let _ = p.next_url();
    let page = fetched(
        "https://shop.example/dir/",
        &[("content-type", "text/html")],
        "<base href='//evil.example/'><a href='x'>x</a><a href='&#x2f;&#x2f;evil.example/'>e</a>\
         <a href='https&#58;//evil.example/'>e</a><a href='%2F%2Fevil.example'>same-origin path</a>",
    );
    assert_eq!(p.record(&page, 0), 2);
    let mut queued = Vec::new();
    while let Some((u, depth)) = p.next_url() {
        assert_eq!(depth, 1);
        queued.push(u.to_string());
    }
    assert_eq!(queued, vec!["https://shop.example/dir/x", "https://shop.example/dir/%2F%2Fevil.example"]);
    // A page whose final URL is elsewhere (a followed redirect) adds nothing.
    let away = fetched("https://evil.example/", &[("content-type", "text/html")], "<a href='/y'>y</a>");
    assert_eq!(p.record(&away, 0), 0);
}

#[test]
fn sri_results_follow_the_observatory() {
    let sri = |url: &str, ct: &str, body: &str| {
        let page = fetched(url, &[("content-type", ct)], body);
        let doc = page.is_html().then(|| palisade_scan::html::Page::parse(&page.body));
        let r = observatory::tests::sri(&page, doc.as_ref());
        (r.result, r.modifier)
    };
    let h = "https://shop.example/";
    let i = "integrity=\"sha384-abcdefghijklmnop\"";
    assert_eq!(
        sri(h, "text/html", "<script>inline()</script>").0,
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
    );
    assert_eq!(sri(h, "text/html", "<p>none</p>").0, "sri-not-implemented-but-no-scripts-loaded");
    assert_eq!(sri(h, "application/json", "{}").0, "sri-not-implemented-response-not-html");
    assert_eq!(sri(h, "text/html", &format!("<script src=\"/a.js\" {i}></script>")).1, 5);
    assert_eq!(
        sri("http://shop.example/", "text/html", &format!("<script src=\"/a.js\" {i}></script>")).1,
        0,
        "bonus needs https"
    );
    assert_eq!(
        sri(h, "text/html", &format!("<script src=\"https://cdn.other.example/x.js\" {i}></script>")).0,
        "sri-implemented-and-external-scripts-loaded-securely"
    );
    assert_eq!(sri(h, "text/html", &format!("<script src=\"//cdn.other.example/x.js\" {i}></script>")).1, -20);
    assert_eq!(
        sri(h, "text/html", "<script src=\"https://static.shop.example/x.js\"></script>").1,
        0,
        "same registrable domain"
    );
    assert_eq!(
        sri(
            h,
            "text/html",
            &format!("<script src=\"/a.js\" {i}></script><script src=\"https://cdn.other.example/y.js\"></script>")
        )
        .1,
        -5,
        "worst wins"
    );
}

#[test]
fn referrer_policy_last_recognised_value_wins_meta_last() {
    let rp = |headers: &[(&str, &str)], body: &str| {
        let page = fetched("https://shop.example/", headers, body);
        let doc = palisade_scan::html::Page::parse(&page.body);
        observatory::tests::referrer_policy(&page, Some(&doc)).result
    };
    assert_eq!(rp(&[("referrer-policy", "no-referrer, unsafe-url")], ""), "referrer-policy-unsafe");
    assert_eq!(rp(&[("referrer-policy", "unsafe-url, bogus, same-origin")], ""), "referrer-policy-private");
    assert_eq!(
        rp(&[("referrer-policy", "same-origin")], "<meta http-equiv=\"Referrer-Policy\" content=\"unsafe-url\">"),
        "referrer-policy-unsafe"
    );
    assert_eq!(rp(&[], "<meta http-equiv=\"referrer-policy\" content=\"strict-origin\">"), "referrer-policy-private");
    assert_eq!(rp(&[], ""), "referrer-policy-not-implemented");
}

/// A store on a shared host whose start page links to 60 pages of other stores before one of its own.
struct SharedHost {
    fetched: Vec<String>,
}

impl Fetcher for SharedHost {
    async fn fetch(&mut self, url: &url::Url) -> Result<Fetched, String> {
        self.fetched.push(url.path().to_owned());
        let body = if url.path() == "/s/alpha" {
            let mut links: String = (0..60).map(|i| format!("<a href='/s/beta/p/{i}'>x</a>")).collect();
            links.push_str(
                "<a href='/s/alphabet'>x</a><a href='/s/alpha/../beta'>x</a><a href='/s/alpha/p/mug'>own</a>",
            );
            links
        } else {
            String::new()
        };
        Ok(fetched(url.as_str(), &[("content-type", "text/html")], &body))
    }
}

#[tokio::test]
async fn a_prefixed_crawl_spends_no_budget_on_other_tenants_pages() {
    let limits = CrawlLimits { max_pages: 30, max_depth: 2, max_links_per_page: 100 };
    let planner = CrawlPlanner::new("https://shop.example/s/alpha", limits).expect("start").within("/s/alpha/");
    let mut site = SharedHost { fetched: Vec::new() };
    let _ = crawl::crawl(planner, &mut site).await;
    assert_eq!(site.fetched, ["/s/alpha", "/s/alpha/p/mug"], "only the store's own pages are candidates");
    // Without the prefix, the other store's links come first and use up the budget.
    let mut site = SharedHost { fetched: Vec::new() };
    let _ = crawl::crawl(CrawlPlanner::new("https://shop.example/s/alpha", limits).expect("start"), &mut site).await;
    assert!(!site.fetched.contains(&"/s/alpha/p/mug".to_owned()), "{:?}", site.fetched);
}
