//! One store scan assembled from what the caller fetched: the start page scored, every crawled page checked,
//! the exposed-file probes judged, the templates read, all in one [`Report`].

use crate::checks::{self, PageCheckConfig};
use crate::fetched::{Fetched, RedirectProbe};
use crate::html::Page;
use crate::observatory;
use crate::report::Report;

/// Everything one scan looked at.
#[derive(Debug, Clone)]
pub struct ScanInput<'a> {
    /// The start page; its headers are scored.
    pub start: &'a Fetched,
    /// What the plain-HTTP probe of the start URL found.
    pub redirect: RedirectProbe,
    /// Pages the crawl fetched (the start page may be among them; it is checked once).
    pub pages: &'a [Fetched],
    /// Exposed-file probes: the probe path and the response.
    pub probes: &'a [(String, Fetched)],
    /// The store's templates: path and source.
    pub templates: &'a [(String, String)],
    /// Page check settings.
    pub config: PageCheckConfig,
    /// The caller's clock, formatted (the engine reads none).
    pub generated_at: String,
}

/// Runs every check and returns the report (header findings for the start page only: one header problem
/// served on every page is one finding, not fifty).
#[must_use]
pub fn run(input: &ScanInput<'_>) -> Report {
    let start_doc = input.start.is_html().then(|| Page::parse(&input.start.body));
    let score = observatory::score_parsed(input.start, start_doc.as_ref(), &input.redirect);
    let mut findings = observatory::findings(&input.start.url, &score);
    let others = input.pages.iter().filter(|p| p.url != input.start.url);
    if let (Some(doc), Some(base)) = (&start_doc, input.start.parsed_url()) {
        findings.extend(checks::check_parsed(&base, doc, &input.config));
    }
    for page in others {
        findings.extend(checks::check_page(page, &input.config));
    }
    for (path, response) in input.probes {
        findings.extend(checks::check_exposed(path, response));
    }
    for (path, source) in input.templates {
        findings.extend(checks::check_template(path, source));
    }
    let mut report = Report::new(&input.start.url, &input.generated_at, Some(score), findings);
    report.page_title = start_doc.and_then(|d| d.title);
    report
}
