//! The payment page's integrity monitor (PCI DSS 11.6.1): fetch the live page as a browser would, list the
//! scripts it loads (with their integrity attributes) and its security headers, and compare them with what
//! this binary's inventory says they must be. A difference is recorded, audited and mailed to the operators.

use palisade_core::time::Timestamp;
use palisade_store::audit::{self, NewEvent};
use palisade_store::outbox::{self, NewMail};
use palisade_store::scope::PlatformScope;
use palisade_store::{Db, StoreError, tenancy};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::routes::checkout::{PAYMENT_HEADERS, PAYMENT_SCRIPTS};

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

/// One recorded check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub checked_at: Timestamp,
    pub outcome: String,
    pub detail: String,
}

/// The latest checks, newest first.
pub async fn recent(db: &Db, limit: i64) -> Result<Vec<Check>, StoreError> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT checked_at, outcome, detail FROM payment_page_checks ORDER BY checked_at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(at, outcome, detail)| Check { checked_at: Timestamp(at), outcome, detail }).collect())
}

/// Fetches `{public_url}/checkout`, compares, records, and alerts on a change. Returns the outcome.
pub async fn check(db: &Db, public_url: &str) -> Result<String, StoreError> {
    let url = format!("{}/checkout", public_url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let want = expected();
    let (outcome, observed, detail) = match client.get(&url).send().await {
        Ok(res) => {
            let headers = res.headers().clone();
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            let seen = observe(&body, &headers);
            let diff = differences(&want, &seen);
            if !status.is_success() {
                ("changed", seen, format!("the page answered {status}"))
            } else if diff.is_empty() {
                (
                    "match",
                    seen,
                    format!("{} scripts and {} headers as inventoried", want.scripts.len(), want.headers.len()),
                )
            } else {
                ("changed", seen, diff.join("; "))
            }
        }
        Err(e) => {
            ("unreachable", Observation { scripts: vec![], headers: vec![] }, format!("could not fetch {url}: {e}"))
        }
    };
    let now = db.now();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO payment_page_checks (id, checked_at, url, outcome, fingerprint, observed, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(palisade_core::JobId::new().to_string())
    .bind(now.0)
    .bind(&url)
    .bind(outcome)
    .bind(observed.fingerprint())
    .bind(serde_json::to_string(&observed).unwrap_or_default())
    .bind(&detail)
    .execute(&mut *tx)
    .await?;
    let platform = PlatformScope::system("job:payments.page_check");
    if outcome == "changed" {
        audit::record_platform(
            &mut tx,
            db,
            &platform,
            NewEvent::new("payment_page.changed", "page:/checkout").details(serde_json::json!({"detail": detail})),
        )
        .await?;
    }
    tx.commit().await?;
    if outcome == "changed" {
        tracing::error!(%url, %detail, "payment page scripts or security headers changed");
        for op in tenancy::list_operators(db, &platform).await? {
            outbox::enqueue(
                db,
                NewMail {
                    store_id: None,
                    to: &op.email,
                    subject: "ALERT: the payment page changed",
                    body: format!(
                        "The payment page at {url} no longer matches its inventory (PCI DSS 11.6.1):\n\n{detail}\n\n\
                         If this was not a release you made, treat it as a possible card-skimming attack: \
                         take checkout offline and investigate."
                    ),
                },
            )
            .await?;
        }
    }
    Ok(outcome.to_owned())
}
