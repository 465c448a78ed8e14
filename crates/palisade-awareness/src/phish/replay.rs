//! A seeded replay of simulation traffic with ground truth, to measure the bot filter.
//!
//! Written from what the vendors are documented or widely reported to do, not from the classifier: gateways
//! that rewrite and pre-scan every link on delivery (Microsoft Defender Safe Links, Mimecast, Proofpoint,
//! Barracuda, Google Workspace), some detonating pages in a browser that simulates mouse input; time-of-click
//! re-checks racing the person's own click; chat link previews when a mail is forwarded (Slack, Teams,
//! WhatsApp — the last from the sender's phone); Apple Mail link previews (Apple and iCloud Private Relay
//! networks); desktop antivirus fetching links on arrival from the member's own connection; scripts from
//! hosting networks; headless sandboxes. A small share of "stealth" sandboxes on residential proxies with
//! simulated input is included on purpose: the filter is *expected* to count those, and the threshold test
//! shows what they cost.
//!
//! People: desktop and phone browsers, in-app mail web views (some without `Sec-Fetch-*`), corporate Zscaler
//! egress, iCloud Private Relay, cloud desktops on Microsoft's network (these *are* lost: their network is a
//! scanner network), no-script browsers (they must press "Continue"; some never do and are lost), and readers
//! who leave the page quickly without touching it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::classify::{ClickEvent, ConfirmKind, Confirmation, FetchHeaders, HitMethod, Visit, classify};
use crate::rng::Rng;

/// Who really made a visit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Truth {
    Automated(Source),
    Human(Profile),
}

/// Automated traffic sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Source {
    DefenderSafeLinks,
    Mimecast,
    Proofpoint,
    Barracuda,
    GoogleWorkspace,
    TimeOfClickCheck,
    SlackUnfurl,
    TeamsPreview,
    WhatsAppPreview,
    AppleMailPreview,
    Antivirus,
    ScriptedFetch,
    HeadlessSandbox,
    StealthSandbox,
}

/// Kinds of people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Profile {
    Desktop,
    Phone,
    InAppWebView,
    Zscaler,
    PrivateRelay,
    CloudDesktop,
    NoScript,
}

/// A visit with its ground truth.
#[derive(Debug, Clone, Serialize)]
pub struct LabelledVisit {
    pub truth: Truth,
    pub visit: Visit,
}

/// One delivered simulation mail and every visit of its links.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub delivered_at: Timestamp,
    pub links: u16,
    pub visits: Vec<LabelledVisit>,
}

impl Mail {
    /// Every link hit of this mail (the classifier's burst context).
    #[must_use]
    pub fn hits(&self) -> Vec<ClickEvent> {
        self.visits.iter().map(|v| v.visit.landing.clone()).collect()
    }
}

const DESKTOP_UAS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
];
const PHONE_UAS: [&str; 4] = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; CUBOT KINGKONG 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
];
const WEBVIEW_UAS: [&str; 2] = [
    "Mozilla/5.0 (Linux; Android 14; SM-A546E Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.39 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
];
const LANGUAGES: [&str; 5] = [
    "en-SG,en;q=0.9",
    "en-GB,en;q=0.9,zh-CN;q=0.8",
    "zh-CN,zh;q=0.9,en;q=0.8",
    "en-US,en;q=0.9",
    "ms-MY,ms;q=0.9,en;q=0.8",
];
/// Consumer and business ISPs (Singapore and the region), where people and desktop antivirus browse from.
const ISP_ASNS: [u32; 6] = [9506, 7473, 4657, 17547, 55430, 4773];
const OLD_IE: &str = "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; Trident/7.0; SLCC2; .NET CLR 2.0.50727)";

/// The mail gateway in front of a recipient.
#[derive(Debug, Clone, Copy)]
enum Gateway {
    Defender,
    Mimecast,
    Proofpoint,
    Barracuda,
    Google,
    None,
}

/// Generates mails until at least `automated` automated visits and `human` human visits exist.
#[must_use]
pub fn generate(seed: u64, automated: usize, human: usize) -> Vec<Mail> {
    let mut rng = Rng::new(seed);
    let mut mails = Vec::new();
    let (mut bots, mut people) = (0usize, 0usize);
    let start = Timestamp::from_second(1_796_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    while bots < automated || people < human {
        let delivered_at = start + SignedDuration::from_secs(rng.range(0, 30 * 86_400));
        let links = u16::try_from(rng.range(1, 3)).unwrap_or(1);
        let mut mail = Mail { delivered_at, links, visits: Vec::new() };
        let gateway = pick_gateway(&mut rng);
        gateway_scan(&mut rng, &mut mail, gateway);
        extras(&mut rng, &mut mail);
        if rng.chance(0.3) {
            human_click(&mut rng, &mut mail, gateway);
        }
        for v in &mail.visits {
            match v.truth {
                Truth::Automated(_) => bots += 1,
                Truth::Human(_) => people += 1,
            }
        }
        mails.push(mail);
    }
    mails
}

fn pick_gateway(rng: &mut Rng) -> Gateway {
    let r = rng.unit();
    match r {
        _ if r < 0.35 => Gateway::Defender,
        _ if r < 0.50 => Gateway::Mimecast,
        _ if r < 0.65 => Gateway::Proofpoint,
        _ if r < 0.75 => Gateway::Barracuda,
        _ if r < 0.90 => Gateway::Google,
        _ => Gateway::None,
    }
}

fn ip(rng: &mut Rng) -> IpAddr {
    let a = u8::try_from(rng.range(1, 254)).unwrap_or(1);
    let b = u8::try_from(rng.range(1, 254)).unwrap_or(1);
    IpAddr::V4(Ipv4Addr::new(203, 0, a, b))
}

fn pick_str(rng: &mut Rng, items: &[&str]) -> String {
    rng.pick(items).copied().unwrap_or_default().to_owned()
}

fn pick_asn(rng: &mut Rng, items: &[u32]) -> u32 {
    rng.pick(items).copied().unwrap_or(0)
}

fn browser_headers(rng: &mut Rng) -> FetchHeaders {
    FetchHeaders {
        sec_fetch_mode: Some("navigate".into()),
        sec_fetch_dest: Some("document".into()),
        sec_fetch_site: Some("cross-site".into()),
        sec_fetch_user: Some("?1".into()),
        accept_language: Some(pick_str(rng, &LANGUAGES)),
        purpose: None,
    }
}

/// A link hit with the fields every generator sets.
struct Hit {
    link: u16,
    at: Timestamp,
    method: HitMethod,
    agent: Option<String>,
    asn: u32,
    headers: FetchHeaders,
}

fn push(rng: &mut Rng, mail: &mut Mail, truth: Truth, hit: Hit, confirmation: Option<Confirmation>) {
    let landing = ClickEvent {
        link: hit.link,
        delivered_at: mail.delivered_at,
        at: hit.at,
        method: hit.method,
        user_agent: hit.agent,
        ip: ip(rng),
        asn: Some(hit.asn),
        headers: hit.headers,
    };
    mail.visits.push(LabelledVisit { truth, visit: Visit { landing, confirmation } });
}

fn secs(s: f64) -> SignedDuration {
    SignedDuration::try_from_secs_f64(s.max(0.0)).unwrap_or(SignedDuration::ZERO)
}

/// A page detonation in a browser: a beacon from the same agent and network, sometimes with simulated input.
fn detonation(rng: &mut Rng, at: Timestamp, agent: Option<&String>, asn: u32, webdriver_p: f64) -> Confirmation {
    Confirmation {
        at: at + secs(rng.lognormal(2.0, 0.7)),
        kind: ConfirmKind::Beacon {
            trusted_interaction: rng.chance(0.5),
            visible: true,
            focused: true,
            dwell_ms: u32::try_from(rng.range(1_000, 15_000)).unwrap_or(0),
            webdriver: rng.chance(webdriver_p),
        },
        user_agent: agent.cloned(),
        asn: Some(asn),
    }
}

/// Delivery-time scanning: each link opened within a second of the scanner's start.
fn gateway_scan(rng: &mut Rng, mail: &mut Mail, gateway: Gateway) {
    let (source, asns, delay_max, detonate_p): (Source, &[u32], i64, f64) = match gateway {
        Gateway::Defender => (Source::DefenderSafeLinks, &[8075], 45, 0.3),
        Gateway::Mimecast => (Source::Mimecast, &[30031], 20, 0.0),
        Gateway::Proofpoint => (Source::Proofpoint, &[26211, 22843], 300, 0.15),
        Gateway::Barracuda => (Source::Barracuda, &[15324], 30, 0.05),
        Gateway::Google => (Source::GoogleWorkspace, &[15169], 120, 0.1),
        Gateway::None => return,
    };
    let asn = pick_asn(rng, asns);
    let t0 = mail.delivered_at + SignedDuration::from_secs(rng.range(0, delay_max));
    for link in 0..mail.links {
        if !rng.chance(0.9) {
            continue;
        }
        let at = t0 + SignedDuration::from_millis(rng.range(0, 800));
        let agent = scanner_agent(rng, gateway);
        let method =
            if matches!(gateway, Gateway::Proofpoint) && rng.chance(0.3) { HitMethod::Head } else { HitMethod::Get };
        let headers = if rng.chance(0.4) { browser_headers(rng) } else { FetchHeaders::default() };
        let confirmation = rng.chance(detonate_p).then(|| detonation(rng, at, agent.as_ref(), asn, 0.1));
        push(rng, mail, Truth::Automated(source), Hit { link, at, method, agent, asn, headers }, confirmation);
    }
}

fn scanner_agent(rng: &mut Rng, gateway: Gateway) -> Option<String> {
    let r = rng.unit();
    match gateway {
        Gateway::Proofpoint if r < 0.4 => Some(OLD_IE.to_owned()),
        Gateway::Proofpoint if r < 0.6 => Some("python-requests/2.31.0".to_owned()),
        _ if r < 0.2 => None,
        _ => Some(pick_str(rng, &DESKTOP_UAS)),
    }
}

/// A time well after delivery (a forward, an open hours later).
fn later(rng: &mut Rng, mail: &Mail) -> Timestamp {
    mail.delivered_at + secs(rng.lognormal(3_600.0, 1.5))
}

fn any_link(rng: &mut Rng, mail: &Mail) -> u16 {
    u16::try_from(rng.below(usize::from(mail.links))).unwrap_or(0)
}

/// Traffic that is not the gateway: previews, prefetches, antivirus, scripts, sandboxes.
fn extras(rng: &mut Rng, mail: &mut Mail) {
    if rng.chance(0.08) {
        chat_preview(rng, mail);
    }
    if rng.chance(0.15) {
        apple_preview(rng, mail);
    }
    if rng.chance(0.2) {
        antivirus(rng, mail);
    }
    if rng.chance(0.03) {
        let at = later(rng, mail);
        let link = any_link(rng, mail);
        let agent = Some(pick_str(rng, &["curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1", "Java/17.0.2"]));
        let asn = pick_asn(rng, &[14061, 16276, 24940, 63949]);
        let hit = Hit { link, at, method: HitMethod::Get, agent, asn, headers: FetchHeaders::default() };
        push(rng, mail, Truth::Automated(Source::ScriptedFetch), hit, None);
    }
    if rng.chance(0.03) {
        let at = mail.delivered_at + SignedDuration::from_secs(rng.range(5, 300));
        let link = any_link(rng, mail);
        let agent = Some(if rng.chance(0.5) {
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36".to_owned()
        } else {
            pick_str(rng, &DESKTOP_UAS)
        });
        let asn = pick_asn(rng, &[16509, 14061, 396_982]);
        let confirmation = Some(detonation(rng, at, agent.as_ref(), asn, 0.7));
        let headers = browser_headers(rng);
        let hit = Hit { link, at, method: HitMethod::Get, agent, asn, headers };
        push(rng, mail, Truth::Automated(Source::HeadlessSandbox), hit, confirmation);
    }
    if rng.chance(0.003) {
        stealth(rng, mail);
    }
}

fn chat_preview(rng: &mut Rng, mail: &mut Mail) {
    let at = later(rng, mail);
    let link = any_link(rng, mail);
    let (source, agent, asn) = match rng.below(3) {
        0 => (Source::SlackUnfurl, "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)".to_owned(), 16509),
        1 => (
            Source::TeamsPreview,
            "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 skype-url-preview@microsoft.com"
                .to_owned(),
            8075,
        ),
        // Generated on the sender's phone, from a mobile network.
        _ => (Source::WhatsAppPreview, "WhatsApp/2.24.21.80 A".to_owned(), pick_asn(rng, &ISP_ASNS)),
    };
    let hit = Hit { link, at, method: HitMethod::Get, agent: Some(agent), asn, headers: FetchHeaders::default() };
    push(rng, mail, Truth::Automated(source), hit, None);
}

fn apple_preview(rng: &mut Rng, mail: &mut Mail) {
    let at =
        if rng.chance(0.6) { mail.delivered_at + SignedDuration::from_secs(rng.range(0, 8)) } else { later(rng, mail) };
    let asn = pick_asn(rng, &[714, 36183]);
    let headers =
        FetchHeaders { accept_language: rng.chance(0.5).then(|| pick_str(rng, &LANGUAGES)), ..FetchHeaders::default() };
    let agent = PHONE_UAS.first().map(|s| (*s).to_owned());
    for link in 0..mail.links {
        let at = at + SignedDuration::from_millis(rng.range(0, 400));
        let hit = Hit { link, at, method: HitMethod::Get, agent: agent.clone(), asn, headers: headers.clone() };
        push(rng, mail, Truth::Automated(Source::AppleMailPreview), hit, None);
    }
}

/// Desktop antivirus / web shield on the member's own machine: their network, often their browser's agent.
fn antivirus(rng: &mut Rng, mail: &mut Mail) {
    let at = if rng.chance(0.7) {
        mail.delivered_at + SignedDuration::from_secs(rng.range(0, 30))
    } else {
        later(rng, mail)
    };
    let link = any_link(rng, mail);
    let method = if rng.chance(0.4) { HitMethod::Head } else { HitMethod::Get };
    let agent = if rng.chance(0.2) { None } else { Some(pick_str(rng, &DESKTOP_UAS)) };
    let asn = pick_asn(rng, &ISP_ASNS);
    let headers = if rng.chance(0.3) { browser_headers(rng) } else { FetchHeaders::default() };
    push(rng, mail, Truth::Automated(Source::Antivirus), Hit { link, at, method, agent, asn, headers }, None);
}

/// The hard case: a sandbox on a residential proxy with browser headers and simulated input.
fn stealth(rng: &mut Rng, mail: &mut Mail) {
    let at = mail.delivered_at + secs(rng.lognormal(180.0, 1.0));
    let link = any_link(rng, mail);
    let agent = Some(pick_str(rng, &DESKTOP_UAS));
    let asn = pick_asn(rng, &ISP_ASNS);
    let mut confirmation = detonation(rng, at, agent.as_ref(), asn, 0.0);
    confirmation.kind = ConfirmKind::Beacon {
        trusted_interaction: true,
        visible: true,
        focused: true,
        dwell_ms: 4_000,
        webdriver: false,
    };
    let headers = browser_headers(rng);
    push(
        rng,
        mail,
        Truth::Automated(Source::StealthSandbox),
        Hit { link, at, method: HitMethod::Get, agent, asn, headers },
        Some(confirmation),
    );
}

fn pick_profile(rng: &mut Rng) -> Profile {
    let r = rng.unit();
    match r {
        _ if r < 0.40 => Profile::Desktop,
        _ if r < 0.72 => Profile::Phone,
        _ if r < 0.84 => Profile::InAppWebView,
        _ if r < 0.92 => Profile::Zscaler,
        _ if r < 0.975 => Profile::PrivateRelay,
        _ if r < 0.98 => Profile::CloudDesktop,
        _ => Profile::NoScript,
    }
}

/// How long after delivery a person clicks: some read mail as it arrives, most later.
fn human_delay(rng: &mut Rng) -> SignedDuration {
    if rng.chance(0.2) { secs(rng.lognormal(90.0, 0.8)) } else { secs(rng.lognormal(3_600.0, 1.5)) }
}

/// One person's click, with the gateway's time-of-click re-check racing it.
fn human_click(rng: &mut Rng, mail: &mut Mail, gateway: Gateway) {
    let profile = pick_profile(rng);
    let at = mail.delivered_at + human_delay(rng);
    let link = any_link(rng, mail);
    if matches!(gateway, Gateway::Defender | Gateway::Proofpoint | Gateway::Mimecast) && rng.chance(0.5) {
        let check_at = at - SignedDuration::from_millis(rng.range(200, 1_500));
        let asn = match gateway {
            Gateway::Proofpoint => 26211,
            Gateway::Mimecast => 30031,
            _ => 8075,
        };
        let hit = Hit {
            link,
            at: check_at,
            method: HitMethod::Get,
            agent: scanner_agent(rng, gateway),
            asn,
            headers: FetchHeaders::default(),
        };
        push(rng, mail, Truth::Automated(Source::TimeOfClickCheck), hit, None);
    }
    let (agent, asn) = match profile {
        Profile::Desktop | Profile::NoScript => (pick_str(rng, &DESKTOP_UAS), pick_asn(rng, &ISP_ASNS)),
        Profile::Phone => (pick_str(rng, &PHONE_UAS), pick_asn(rng, &ISP_ASNS)),
        Profile::InAppWebView => (pick_str(rng, &WEBVIEW_UAS), pick_asn(rng, &ISP_ASNS)),
        Profile::Zscaler => (pick_str(rng, &DESKTOP_UAS), pick_asn(rng, &[62044, 53813])),
        Profile::PrivateRelay => (pick_str(rng, &PHONE_UAS), pick_asn(rng, &[36183, 13335, 54113])),
        Profile::CloudDesktop => (pick_str(rng, &DESKTOP_UAS), 8075),
    };
    let mut headers = browser_headers(rng);
    if profile == Profile::InAppWebView && rng.chance(0.5) {
        headers = FetchHeaders { accept_language: headers.accept_language, ..FetchHeaders::default() };
    }
    let confirmation = human_confirmation(rng, profile, at, &agent, asn);
    let hit = Hit { link, at, method: HitMethod::Get, agent: Some(agent), asn, headers };
    push(rng, mail, Truth::Human(profile), hit, confirmation);
}

fn human_confirmation(rng: &mut Rng, profile: Profile, at: Timestamp, agent: &str, asn: u32) -> Option<Confirmation> {
    let load = secs(rng.lognormal(0.8, 0.5));
    let kind = if profile == Profile::NoScript {
        if !rng.chance(0.7) {
            return None;
        }
        ConfirmKind::Button
    } else {
        let dwell = rng.lognormal(10.0, 1.0);
        let touched = rng.chance(0.95);
        ConfirmKind::Beacon {
            trusted_interaction: touched,
            visible: true,
            focused: rng.chance(0.9),
            dwell_ms: u32::try_from((dwell * 1000.0) as i64).unwrap_or(0),
            webdriver: false,
        }
    };
    let react = if matches!(kind, ConfirmKind::Button) { rng.lognormal(8.0, 0.7) } else { rng.lognormal(1.5, 1.0) };
    Some(Confirmation { at: at + load + secs(react), kind, user_agent: Some(agent.to_owned()), asn: Some(asn) })
}

/// How the filter did on a replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Evaluation {
    pub automated: usize,
    pub automated_excluded: usize,
    pub human: usize,
    pub human_kept: usize,
    /// Automated visits counted as clicks, by source.
    pub leaked: BTreeMap<String, usize>,
    /// Human visits not counted, by profile and verdict.
    pub lost: BTreeMap<String, usize>,
}

impl Evaluation {
    /// Share of automated visits excluded.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn excluded_rate(&self) -> f64 {
        self.automated_excluded as f64 / self.automated.max(1) as f64
    }

    /// Share of human visits kept.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn kept_rate(&self) -> f64 {
        self.human_kept as f64 / self.human.max(1) as f64
    }
}

/// Runs the classifier over every visit of `mails` against the ground truth.
#[must_use]
pub fn evaluate(mails: &[Mail]) -> Evaluation {
    let mut e = Evaluation::default();
    for mail in mails {
        let hits = mail.hits();
        for v in &mail.visits {
            let verdict = classify(&v.visit, &hits);
            match v.truth {
                Truth::Automated(source) => {
                    e.automated += 1;
                    if verdict.counts() {
                        *e.leaked.entry(format!("{source:?}")).or_default() += 1;
                    } else {
                        e.automated_excluded += 1;
                    }
                }
                Truth::Human(profile) => {
                    e.human += 1;
                    if verdict.counts() {
                        e.human_kept += 1;
                    } else {
                        *e.lost.entry(format!("{profile:?}: {verdict:?}")).or_default() += 1;
                    }
                }
            }
        }
    }
    e
}
