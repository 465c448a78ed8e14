//! Which simulation clicks were human.
//!
//! # The landing flow
//! A per-recipient link (`GET /s/{token}`) only *opens* a visit: the landing page is served (with a per-visit
//! nonce) and nothing is counted yet. A click counts when the visit is **confirmed** by something mail
//! scanners, link previews and prefetchers do not do:
//! - the page's script posts a beacon after a *trusted* user interaction (`pointermove`, `touchstart`,
//!   `scroll`, `keydown` with `isTrusted`), or after the page stayed visible for 2 s; the beacon
//!   reports `navigator.webdriver`;
//! - without script, a `<noscript>` form whose "Continue" button posts the nonce (scanners do not submit forms).
//!
//! A human without script who never presses "Continue" is **not counted** (recorded as unconfirmed): the filter
//! prefers missing a rare human to counting a scanner, because a false click shames a member who did nothing.
//!
//! # Passive filters (applied to the link hit and the confirmation)
//! `HEAD`/other methods; prefetch or preview headers (`Purpose`, `Sec-Purpose`, `X-Purpose`, `X-Moz`); no or a
//! known scanner/preview user agent; a known scanner or hosting network (ASN); a fetch that is not a top-level
//! navigation (`Sec-Fetch-Mode`/`Dest` present but not `navigate`/`document`); a hit less than
//! [`TOO_SOON`] after delivery; *different* links of one mail hit from one network within [`BURST_WINDOW`]; a
//! confirmation from another user agent, or faster than [`MIN_CONFIRM_DELAY`] after the hit.

use std::net::IpAddr;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A hit this soon after delivery is a scanner: no person receives, opens, reads and clicks that fast.
pub const TOO_SOON: SignedDuration = SignedDuration::from_secs(10);
/// Different links of one mail hit within this window are a link-expanding scanner.
pub const BURST_WINDOW: SignedDuration = SignedDuration::from_secs(1);
/// A confirmation faster than this after the link hit is a script, not a person reacting to a page.
pub const MIN_CONFIRM_DELAY: SignedDuration = SignedDuration::from_millis(250);
/// A page visible this long confirms a reader who never touched it. (Focus is reported but not required:
/// sandboxes fake it as easily as visibility, and phones often report no focus.)
pub const MIN_PASSIVE_DWELL_MS: u32 = 2_000;

/// Networks of mail-security gateways, link-preview services and hosting providers, where no member of staff
/// browses from. A starting list: verify against a current ASN database before production and keep it as
/// data. Deliberately absent: Zscaler and iCloud Private Relay egress (Akamai, Cloudflare, Fastly), where people
/// do browse from.
pub const SCANNER_ASNS: [u32; 16] = [
    8075,    // Microsoft (Defender for Office 365 Safe Links, Teams previews)
    8068,    // Microsoft
    15169,   // Google (Gmail link checks, previews)
    396_982, // Google Cloud
    16509,   // Amazon (Slack unfurls and many scanners)
    14618,   // Amazon
    30031,   // Mimecast
    26211,   // Proofpoint
    22843,   // Proofpoint
    15324,   // Barracuda Networks
    32934,   // Meta (link previews)
    14061,   // DigitalOcean
    16276,   // OVH
    24940,   // Hetzner
    63949,   // Linode
    714,     // Apple (Mail privacy and link previews)
];

/// User-agent fragments (lower case) of scanners, previewers and scripts. `bot` alone is not used: it would
/// catch phone brands (Cubot); `bot/`, `bot;` and `+http` (crawler contact links) are specific enough.
pub const SCANNER_AGENTS: [&str; 27] = [
    "bot/",
    "bot;",
    "+http",
    "crawler",
    "spider",
    "preview",
    "slack",
    "whatsapp",
    "telegram",
    "discord",
    "facebookexternalhit",
    "skypeuripreview",
    "googleimageproxy",
    "google-safety",
    "headlesschrome",
    "phantomjs",
    "python-",
    "curl/",
    "wget",
    "go-http-client",
    "java/",
    "okhttp",
    "libwww",
    "httpclient",
    "mimecast",
    "proofpoint",
    "barracuda",
];

/// The HTTP method of a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HitMethod {
    Get,
    Head,
    Post,
    Other,
}

/// The request headers that matter here, as seen (absent headers are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchHeaders {
    pub sec_fetch_mode: Option<String>,
    pub sec_fetch_dest: Option<String>,
    pub sec_fetch_site: Option<String>,
    pub sec_fetch_user: Option<String>,
    pub accept_language: Option<String>,
    /// `Purpose`, `Sec-Purpose`, `X-Purpose` or `X-Moz` (any value: all mean prefetch or preview).
    pub purpose: Option<String>,
}

/// One hit of a per-recipient link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClickEvent {
    /// Which link of the mail (0-based), to spot scanners that open every link.
    pub link: u16,
    pub delivered_at: Timestamp,
    pub at: Timestamp,
    pub method: HitMethod,
    pub user_agent: Option<String>,
    pub ip: IpAddr,
    /// The client network, resolved by the caller from the IP (GeoLite2-ASN or similar); `None` if unknown.
    pub asn: Option<u32>,
    pub headers: FetchHeaders,
}

/// What confirmed a visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConfirmKind {
    /// The landing page's script.
    Beacon { trusted_interaction: bool, visible: bool, focused: bool, dwell_ms: u32, webdriver: bool },
    /// The no-script "Continue" button.
    Button,
}

/// The confirming request of a visit (same nonce as the landing page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub at: Timestamp,
    pub kind: ConfirmKind,
    pub user_agent: Option<String>,
    pub asn: Option<u32>,
}

/// A landing-page visit: the link hit and, perhaps, its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Visit {
    pub landing: ClickEvent,
    pub confirmation: Option<Confirmation>,
}

/// Why a hit was judged automated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NotGet,
    Prefetch,
    NoUserAgent,
    ScannerAgent,
    ScannerNetwork,
    NotNavigation,
    TooSoon,
    LinkBurst,
    Webdriver,
    AgentMismatch,
    ConfirmedTooFast,
}

/// The filter's decision. Only [`Verdict::Human`] counts as a click.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "reason", rename_all = "snake_case")]
pub enum Verdict {
    Human,
    Automated(Reason),
    /// Passed the passive filters but never confirmed (a scanner that fetched the page, or a person who left).
    Unconfirmed,
}

impl Verdict {
    /// Whether the visit counts as a click.
    #[must_use]
    pub fn counts(self) -> bool {
        self == Self::Human
    }
}

/// Classifies `visit`, given every link hit of the same mail (`mail_hits`, which may include the visit's own).
#[must_use]
pub fn classify(visit: &Visit, mail_hits: &[ClickEvent]) -> Verdict {
    let hit = &visit.landing;
    if let Some(reason) = passive(hit).or_else(|| burst(hit, mail_hits)) {
        return Verdict::Automated(reason);
    }
    let Some(confirm) = &visit.confirmation else {
        return Verdict::Unconfirmed;
    };
    if let Some(reason) = confirmation_reason(hit, confirm) {
        return Verdict::Automated(reason);
    }
    match confirm.kind {
        ConfirmKind::Button => Verdict::Human,
        ConfirmKind::Beacon { trusted_interaction, visible, dwell_ms, .. } => {
            let engaged = visible && (trusted_interaction || dwell_ms >= MIN_PASSIVE_DWELL_MS);
            if engaged { Verdict::Human } else { Verdict::Unconfirmed }
        }
    }
}

/// Filters on the link hit alone.
fn passive(hit: &ClickEvent) -> Option<Reason> {
    if hit.method != HitMethod::Get {
        return Some(Reason::NotGet);
    }
    if hit.headers.purpose.is_some() {
        return Some(Reason::Prefetch);
    }
    if let Some(reason) = agent_reason(hit.user_agent.as_deref()) {
        return Some(reason);
    }
    if hit.asn.is_some_and(|a| SCANNER_ASNS.contains(&a)) {
        return Some(Reason::ScannerNetwork);
    }
    let mode_ok = hit.headers.sec_fetch_mode.as_deref().is_none_or(|m| m.eq_ignore_ascii_case("navigate"));
    let dest_ok = hit.headers.sec_fetch_dest.as_deref().is_none_or(|d| d.eq_ignore_ascii_case("document"));
    if !mode_ok || !dest_ok {
        return Some(Reason::NotNavigation);
    }
    if hit.at.duration_since(hit.delivered_at) < TOO_SOON {
        return Some(Reason::TooSoon);
    }
    None
}

fn agent_reason(agent: Option<&str>) -> Option<Reason> {
    let agent = agent.map(str::trim).filter(|a| !a.is_empty());
    let Some(agent) = agent else {
        return Some(Reason::NoUserAgent);
    };
    // Bounded: an oversized header is judged on its start, never copied whole.
    let lower: String = agent.chars().take(512).collect::<String>().to_ascii_lowercase();
    SCANNER_AGENTS.iter().any(|s| lower.contains(s)).then_some(Reason::ScannerAgent)
}

/// Another link of the mail hit within [`BURST_WINDOW`] of this hit from the same network: a scanner opens
/// every link from one place, while a person's click can coincide with a scanner elsewhere.
fn burst(hit: &ClickEvent, mail_hits: &[ClickEvent]) -> Option<Reason> {
    let other_link_near = mail_hits
        .iter()
        .any(|h| h.link != hit.link && h.asn == hit.asn && h.at.duration_since(hit.at).abs() <= BURST_WINDOW);
    other_link_near.then_some(Reason::LinkBurst)
}

fn confirmation_reason(hit: &ClickEvent, confirm: &Confirmation) -> Option<Reason> {
    if let ConfirmKind::Beacon { webdriver: true, .. } = confirm.kind {
        return Some(Reason::Webdriver);
    }
    if confirm.asn.is_some_and(|a| SCANNER_ASNS.contains(&a)) {
        return Some(Reason::ScannerNetwork);
    }
    if confirm.user_agent != hit.user_agent {
        return Some(Reason::AgentMismatch);
    }
    if confirm.at.duration_since(hit.at) < MIN_CONFIRM_DELAY {
        return Some(Reason::ConfirmedTooFast);
    }
    None
}

/// The recipient's first counted click: the earliest link hit among `visits` (all of one recipient's mail)
/// judged [`Verdict::Human`], with every visit's link hit as burst context. This is what per-store metrics
/// take as `clicked_at`.
#[must_use]
pub fn first_counted_click(visits: &[Visit]) -> Option<Timestamp> {
    let hits: Vec<ClickEvent> = visits.iter().map(|v| v.landing.clone()).collect();
    visits.iter().filter(|v| classify(v, &hits).counts()).map(|v| v.landing.at).min()
}
