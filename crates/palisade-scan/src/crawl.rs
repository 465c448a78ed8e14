//! A bounded same-origin crawl planner. It decides what to fetch; the caller fetches (through the real HTTP
//! stack) via [`Fetcher`]. It never leaves the start origin: every candidate is resolved the way a browser
//! resolves it (WHATWG URL parsing: `\` is `/`, tabs and newlines dropped, `//host` is another host, userinfo
//! splits at the last `@`) and the resolved origin is compared, never the spelling.

use std::collections::{HashSet, VecDeque};
use std::future::Future;

use url::Url;

use crate::ScanError;
use crate::fetched::Fetched;
use crate::html::Page;

/// Bounds of one crawl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlLimits {
    /// Most pages fetched.
    pub max_pages: usize,
    /// Most links followed from the start page (the start page is depth 0).
    pub max_depth: u32,
    /// Most links taken from one page.
    pub max_links_per_page: usize,
}

impl Default for CrawlLimits {
    fn default() -> Self {
        Self { max_pages: 50, max_depth: 3, max_links_per_page: 200 }
    }
}

/// Path prefixes never requested: following them as a logged-in scanner would change state.
pub const DEFAULT_EXCLUDED_PREFIXES: &[&str] = &["/logout", "/sign-out", "/signout"];

/// The planner's state: the origin, the queue, what has been seen.
#[derive(Debug, Clone)]
pub struct CrawlPlanner {
    origin: url::Origin,
    limits: CrawlLimits,
    queue: VecDeque<(Url, u32)>,
    seen: HashSet<String>,
    issued: usize,
    /// When set, only paths equal to it or below it (`prefix/…`) are candidates: on a shared host (many stores under
    /// one origin) links to other tenants' pages would otherwise spend the page budget.
    prefix: Option<String>,
}

impl CrawlPlanner {
    /// Starts at `start`, which must be an absolute http(s) URL without credentials.
    pub fn new(start: &str, limits: CrawlLimits) -> Result<Self, ScanError> {
        let url = Url::parse(start).map_err(|_| ScanError::BadUrl(start.to_owned()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || has_credentials(&url) {
            return Err(ScanError::BadUrl(start.to_owned()));
        }
        let mut planner = Self {
            origin: url.origin(),
            limits,
            queue: VecDeque::new(),
            seen: HashSet::new(),
            issued: 0,
            prefix: None,
        };
        let start = normalise(url);
        planner.seen.insert(start.to_string());
        planner.queue.push_back((start, 0));
        Ok(planner)
    }

    /// Keeps the crawl to `prefix` and the paths below it (`/s/alpha` admits `/s/alpha` and `/s/alpha/p/mug`, not
    /// `/s/alphabet` or `/s/beta`). A page can link anywhere on the origin, so without this a merchant's links to
    /// other stores would use up the budget and leave the store's own pages unscanned.
    #[must_use]
    pub fn within(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.trim_end_matches('/').to_owned());
        self
    }

    /// Whether `path` (already resolved) is inside the crawl's prefix, if it has one.
    fn in_prefix(&self, path: &str) -> bool {
        self.prefix.as_deref().is_none_or(|p| path == p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
    }

    /// The next URL to fetch and its depth, or `None` when the crawl is done or its page budget is spent.
    pub fn next_url(&mut self) -> Option<(Url, u32)> {
        if self.issued >= self.limits.max_pages {
            return None;
        }
        let next = self.queue.pop_front()?;
        self.issued += 1;
        Some(next)
    }

    /// `candidate` (as written in a page at `base`) resolved, normalised, if it stays on the origin.
    #[must_use]
    pub fn admit(&self, base: &Url, candidate: &str) -> Option<Url> {
        let url = base.join(candidate).ok()?;
        if url.origin() != self.origin || has_credentials(&url) || !self.in_prefix(url.path()) {
            return None;
        }
        if DEFAULT_EXCLUDED_PREFIXES.iter().any(|p| url.path().to_ascii_lowercase().starts_with(p)) {
            return None;
        }
        Some(normalise(url))
    }

    /// Records a fetched page found at `depth`: queues its new same-origin links. A page whose final URL left the
    /// origin (the fetcher followed a redirect) contributes nothing.
    pub fn record(&mut self, page: &Fetched, depth: u32) -> usize {
        let Some(base) = page.parsed_url() else { return 0 };
        if base.origin() != self.origin || depth >= self.limits.max_depth || !page.is_html() {
            return 0;
        }
        let doc = Page::parse(&page.body);
        let base = doc.by_name("base").find_map(|b| b.attr("href")).and_then(|h| self.admit(&base, h)).unwrap_or(base);
        let links: Vec<Url> = doc
            .elements
            .iter()
            .filter(|e| matches!(e.name.as_str(), "a" | "area"))
            .filter_map(|e| e.attr("href"))
            .filter_map(|h| self.admit(&base, h))
            .take(self.limits.max_links_per_page)
            .collect();
        let mut added = 0;
        for link in links {
            if self.seen.insert(link.to_string()) {
                self.queue.push_back((link, depth + 1));
                added += 1;
            }
        }
        added
    }
}

fn has_credentials(url: &Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// Drops the fragment, sorts query pairs (so `?b=2&a=1` and `?a=1&b=2` are one page) and drops an empty query.
#[must_use]
pub fn normalise(mut url: Url) -> Url {
    url.set_fragment(None);
    let mut pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    if pairs.is_empty() {
        url.set_query(None);
    } else {
        pairs.sort();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url
}

/// Fetches one URL for the crawler. The web crate implements it over the real HTTP stack; it should not follow
/// redirects (the planner sees the 3xx and its `Location` as a link).
pub trait Fetcher {
    /// Fetches `url`; an `Err` is recorded and the crawl goes on.
    fn fetch(&mut self, url: &Url) -> impl Future<Output = Result<Fetched, String>> + Send;
}

/// What a crawl produced.
#[derive(Debug, Clone, Default)]
pub struct CrawlOutcome {
    /// Pages fetched, in order.
    pub pages: Vec<Fetched>,
    /// URLs whose fetch failed, with the fetcher's message.
    pub errors: Vec<(String, String)>,
}

/// Runs a crawl to completion with `fetcher`.
pub async fn crawl<F: Fetcher>(mut planner: CrawlPlanner, fetcher: &mut F) -> CrawlOutcome {
    let mut outcome = CrawlOutcome::default();
    while let Some((url, depth)) = planner.next_url() {
        match fetcher.fetch(&url).await {
            Ok(page) => {
                planner.record(&page, depth);
                if (300..400).contains(&page.status)
                    && let (Some(loc), Some(base)) = (page.header("location"), page.parsed_url())
                    && let Some(next) = planner.admit(&base, loc)
                    && planner.seen.insert(next.to_string())
                {
                    planner.queue.push_back((next, depth));
                }
                outcome.pages.push(page);
            }
            Err(e) => outcome.errors.push((url.to_string(), e)),
        }
    }
    outcome
}
