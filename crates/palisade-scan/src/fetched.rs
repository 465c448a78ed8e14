//! What the caller hands the engine: one fetched response. The engine never fetches anything itself, so the web
//! crate can drive it through the real HTTP stack (shield, limits, routing) and tests can hand it fixtures.

use serde::{Deserialize, Serialize};
use url::Url;

/// One HTTP response as fetched by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    /// The public URL the response was served at (`https://…` when the store is behind TLS, even if the scanner
    /// reached it over an internal plain-HTTP hop: the scheme decides the TLS-only tests).
    pub url: String,
    /// HTTP status code.
    pub status: u16,
    /// Response headers in order, names in any case; repeated headers (`Set-Cookie`) appear once per value.
    pub headers: Vec<(String, String)>,
    /// The body as text (HTML for pages); may be empty.
    pub body: String,
}

impl Fetched {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The parsed URL, if it is absolute.
    #[must_use]
    pub fn parsed_url(&self) -> Option<Url> {
        Url::parse(&self.url).ok()
    }

    /// Whether the page was served over TLS (its public URL is `https`).
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.parsed_url().is_some_and(|u| u.scheme() == "https")
    }

    /// Whether the response is HTML (by `Content-Type`, or by a body that starts like HTML when it has none).
    #[must_use]
    pub fn is_html(&self) -> bool {
        match self.header("content-type") {
            Some(ct) => ct.trim_start().to_ascii_lowercase().starts_with("text/html"),
            None => {
                let head = self.body.trim_start();
                head.get(..15).is_some_and(|h| h.eq_ignore_ascii_case("<!doctype html>")) || head.starts_with("<html")
            }
        }
    }
}

/// What the caller learned by requesting the site's `http://` URL, for the Observatory redirection test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectProbe {
    /// No plain-HTTP probe was made — the store is not behind TLS (there is no https to redirect to), or the
    /// caller chose not to probe. The test is reported as skipped with modifier 0 (neutral), never as a pass.
    NotProbed,
    /// Nothing listens on plain HTTP (Observatory: `redirection-not-needed-no-http`, 0).
    NoHttpListener,
    /// The chain of URLs visited, starting with the `http://` URL requested and ending with the final one.
    Chain(Vec<String>),
}
