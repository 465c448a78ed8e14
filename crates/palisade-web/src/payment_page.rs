//! The payment page's integrity monitor (PCI DSS 11.6.1): fetch the live page as a browser would, list the
//! scripts it loads (with their integrity attributes) and its security headers, and compare them with what
//! this binary's inventory says they must be. The check is recorded (and a difference audited and mailed to the
//! operators) by `palisade_commerce::payment_page`.

use palisade_commerce::CommerceError;
use palisade_commerce::payment_page::{self, NewCheck, Outcome};
use palisade_store::Db;
use palisade_store::scope::PlatformScope;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::routes::storefront::checkout::{PAYMENT_HEADERS, PAYMENT_SCRIPTS};

/// What the page served: scripts as `src|integrity` (inline scripts as `inline|<sha256>`), then headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub scripts: Vec<String>,
    pub headers: Vec<(String, String)>,
}

impl Observation {
    fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for s in &self.scripts {
            h.update(s.as_bytes());
            h.update(b"\n");
        }
        for (n, v) in &self.headers {
            h.update(format!("{n}: {v}\n").as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// What the page must serve, from the inventory compiled into this binary.
#[must_use]
pub fn expected() -> Observation {
    Observation {
        scripts: PAYMENT_SCRIPTS.iter().map(|s| format!("{}|{}", s.path, s.integrity)).collect(),
        headers: PAYMENT_HEADERS.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
    }
}

/// Reads the scripts out of a page with a real HTML parser (`tl`), and the monitored headers.
#[must_use]
pub fn observe(html: &str, headers: &reqwest::header::HeaderMap) -> Observation {
    let mut scripts = Vec::new();
    if let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) {
        let parser = dom.parser();
        for node in dom.nodes() {
            let Some(tag) = node.as_tag() else { continue };
            if !tag.name().as_bytes().eq_ignore_ascii_case(b"script") {
                continue;
            }
            let attr = |name: &str| {
                // Attribute values as a browser reads them: entities decoded (`&#x2f;` is `/`).
                tag.attributes()
                    .get(name)
                    .flatten()
                    .map(|v| html_escape::decode_html_entities(&v.as_utf8_str()).into_owned())
                    .unwrap_or_default()
            };
            let src = attr("src");
            if src.is_empty() {
                let body = tag.inner_text(parser);
                scripts.push(format!("inline|{}", hex::encode(Sha256::digest(body.as_bytes()))));
            } else {
                scripts.push(format!("{src}|{}", attr("integrity")));
            }
        }
    }
    let headers = PAYMENT_HEADERS
        .iter()
        .map(|(n, _)| {
            let v = headers.get(*n).and_then(|v| v.to_str().ok()).unwrap_or("(missing)");
            ((*n).to_owned(), v.to_owned())
        })
        .collect();
    Observation { scripts, headers }
}

/// Lines that differ between what the page must serve and what it served.
#[must_use]
pub fn differences(expected: &Observation, seen: &Observation) -> Vec<String> {
    let mut out = Vec::new();
    for s in &seen.scripts {
        if !expected.scripts.contains(s) {
            out.push(format!("unexpected script {s}"));
        }
    }
    for s in &expected.scripts {
        if !seen.scripts.contains(s) {
            out.push(format!("missing script {s}"));
        }
    }
    for ((n, want), (_, got)) in expected.headers.iter().zip(&seen.headers) {
        if want != got {
            out.push(format!("header {n} is `{got}`, expected `{want}`"));
        }
    }
    out
}

/// Fetches `{public_url}/checkout`, compares, records, and alerts on a change. Returns the outcome.
pub async fn check(db: &Db, public_url: &str) -> Result<Outcome, CommerceError> {
    let url = format!("{}/checkout", public_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| CommerceError::Invalid(e.to_string()))?;
    let want = expected();
    let (outcome, observed, detail) = match client.get(&url).send().await {
        Ok(res) => {
            let headers = res.headers().clone();
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let seen = observe(&body, &headers);
            let diff = differences(&want, &seen);
            if !status.is_success() {
                (Outcome::Changed, seen, format!("the page answered {status}"))
            } else if diff.is_empty() {
                (
                    Outcome::Match,
                    seen,
                    format!("{} scripts and {} headers as inventoried", want.scripts.len(), want.headers.len()),
                )
            } else {
                (Outcome::Changed, seen, diff.join("; "))
            }
        }
        Err(e) => {
            let nothing = Observation { scripts: vec![], headers: vec![] };
            (Outcome::Unreachable, nothing, format!("could not fetch {url}: {e}"))
        }
    };
    let observed_json = serde_json::to_value(&observed).unwrap_or_default();
    let platform = PlatformScope::system("job:payments.page_check");
    let check = NewCheck {
        url: &url,
        outcome,
        fingerprint: &observed.fingerprint(),
        observed: &observed_json,
        detail: &detail,
    };
    payment_page::record(db, &platform, &check).await?;
    if outcome == Outcome::Changed {
        tracing::error!(%url, %detail, "payment page scripts or security headers changed");
    }
    Ok(outcome)
}
