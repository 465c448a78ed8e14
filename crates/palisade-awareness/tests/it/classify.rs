//! The bot filter rule by rule: each automated pattern on its own, and a human visit that passes.

use std::net::{IpAddr, Ipv4Addr};

use jiff::{SignedDuration, Timestamp};
use palisade_awareness::phish::classify::{ConfirmKind, FetchHeaders};
use palisade_awareness::phish::{ClickEvent, Confirmation, HitMethod, Reason, Verdict, Visit, classify};

const CHROME: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

fn delivered() -> Timestamp {
    "2026-12-01T02:00:00Z".parse().unwrap()
}

fn human_hit() -> ClickEvent {
    ClickEvent {
        link: 0,
        delivered_at: delivered(),
        at: delivered() + SignedDuration::from_mins(25),
        method: HitMethod::Get,
        user_agent: Some(CHROME.into()),
        ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
        asn: Some(9506),
        headers: FetchHeaders {
            sec_fetch_mode: Some("navigate".into()),
            sec_fetch_dest: Some("document".into()),
            sec_fetch_site: Some("cross-site".into()),
            sec_fetch_user: Some("?1".into()),
            accept_language: Some("en-SG,en;q=0.9".into()),
            purpose: None,
        },
    }
}

fn beacon(hit: &ClickEvent, trusted: bool, dwell_ms: u32) -> Confirmation {
    Confirmation {
        at: hit.at + SignedDuration::from_secs(3),
        kind: ConfirmKind::Beacon {
            trusted_interaction: trusted,
            visible: true,
            focused: true,
            dwell_ms,
            webdriver: false,
        },
        user_agent: hit.user_agent.clone(),
        asn: hit.asn,
    }
}

fn visit(hit: ClickEvent) -> Visit {
    let confirmation = Some(beacon(&hit, true, 5_000));
    Visit { landing: hit, confirmation }
}

fn judge(v: &Visit) -> Verdict {
    classify(v, std::slice::from_ref(&v.landing))
}

#[test]
fn a_confirmed_human_visit_counts_and_an_unconfirmed_one_does_not() {
    let v = visit(human_hit());
    assert_eq!(judge(&v), Verdict::Human);
    let bare = Visit { landing: human_hit(), confirmation: None };
    assert_eq!(judge(&bare), Verdict::Unconfirmed);
    let button = Visit {
        confirmation: Some(Confirmation { kind: ConfirmKind::Button, ..beacon(&v.landing, false, 0) }),
        ..v.clone()
    };
    assert_eq!(judge(&button), Verdict::Human);
    let glance = Visit { confirmation: Some(beacon(&v.landing, false, 1_500)), ..v.clone() };
    assert_eq!(judge(&glance), Verdict::Unconfirmed);
    let reader = Visit { confirmation: Some(beacon(&v.landing, false, 2_500)), ..v };
    assert_eq!(judge(&reader), Verdict::Human);
}

#[test]
fn each_automated_pattern_is_excluded_with_its_reason() {
    let mut cases: Vec<(Visit, Reason)> = Vec::new();
    let mut v = visit(human_hit());
    v.landing.method = HitMethod::Head;
    cases.push((v, Reason::NotGet));
    let mut v = visit(human_hit());
    v.landing.headers.purpose = Some("prefetch".into());
    cases.push((v, Reason::Prefetch));
    let mut v = visit(human_hit());
    v.landing.user_agent = Some("  ".into());
    cases.push((v, Reason::NoUserAgent));
    for agent in [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.24.21.80 A",
        "python-requests/2.32",
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
    ] {
        let mut v = visit(human_hit());
        v.landing.user_agent = Some(agent.into());
        cases.push((v, Reason::ScannerAgent));
    }
    let mut v = visit(human_hit());
    v.landing.asn = Some(8075);
    cases.push((v, Reason::ScannerNetwork));
    let mut v = visit(human_hit());
    v.landing.headers.sec_fetch_mode = Some("no-cors".into());
    cases.push((v, Reason::NotNavigation));
    let mut v = visit(human_hit());
    v.landing.at = delivered() + SignedDuration::from_secs(4);
    cases.push((v, Reason::TooSoon));
    let mut v = visit(human_hit());
    if let Some(c) = &mut v.confirmation {
        c.kind = ConfirmKind::Beacon {
            trusted_interaction: true,
            visible: true,
            focused: true,
            dwell_ms: 9_000,
            webdriver: true,
        };
    }
    cases.push((v, Reason::Webdriver));
    let mut v = visit(human_hit());
    if let Some(c) = &mut v.confirmation {
        c.user_agent = Some("HeadlessChrome".into());
    }
    cases.push((v, Reason::AgentMismatch));
    let mut v = visit(human_hit());
    if let Some(c) = &mut v.confirmation {
        c.asn = Some(16509);
    }
    cases.push((v, Reason::ScannerNetwork));
    let mut v = visit(human_hit());
    if let Some(c) = &mut v.confirmation {
        c.at = v.landing.at + SignedDuration::from_millis(50);
    }
    cases.push((v, Reason::ConfirmedTooFast));
    for (v, reason) in cases {
        assert_eq!(judge(&v), Verdict::Automated(reason), "{v:?}");
    }
}

#[test]
fn a_phone_brand_containing_bot_is_not_a_bot_and_a_huge_agent_is_bounded() {
    let mut v = visit(human_hit());
    v.landing.user_agent =
        Some("Mozilla/5.0 (Linux; Android 13; CUBOT KINGKONG 9) Chrome/130.0.0.0 Mobile Safari/537.36".into());
    if let Some(c) = &mut v.confirmation {
        c.user_agent = v.landing.user_agent.clone();
    }
    assert_eq!(judge(&v), Verdict::Human);
    let mut huge = visit(human_hit());
    let agent = format!("{CHROME}{}", "A".repeat(1_000_000));
    huge.landing.user_agent = Some(agent.clone());
    if let Some(c) = &mut huge.confirmation {
        c.user_agent = Some(agent);
    }
    assert_eq!(judge(&huge), Verdict::Human);
}

#[test]
fn every_link_of_a_mail_within_a_second_from_one_network_is_a_scanner() {
    let a = human_hit();
    let mut b = human_hit();
    b.link = 1;
    b.at = a.at + SignedDuration::from_millis(300);
    let hits = [a.clone(), b.clone()];
    assert_eq!(classify(&visit(a.clone()), &hits), Verdict::Automated(Reason::LinkBurst));
    assert_eq!(classify(&visit(b.clone()), &hits), Verdict::Automated(Reason::LinkBurst));
    // The same link twice (a double click) or another link from elsewhere is not a burst.
    let mut again = a.clone();
    again.at = a.at + SignedDuration::from_millis(300);
    assert_eq!(classify(&visit(a.clone()), &[a.clone(), again]), Verdict::Human);
    let mut elsewhere = b;
    elsewhere.asn = Some(30031);
    assert_eq!(classify(&visit(a.clone()), &[a, elsewhere]), Verdict::Human);
}

#[test]
fn the_first_counted_click_ignores_scanners_before_it() {
    use palisade_awareness::phish::first_counted_click;
    let person = visit(human_hit());
    let mut scanner = visit(human_hit());
    scanner.landing.at = delivered() + SignedDuration::from_secs(2);
    scanner.landing.asn = Some(8075);
    let later = {
        let mut h = human_hit();
        h.at += SignedDuration::from_hours(2);
        visit(h)
    };
    assert_eq!(first_counted_click(&[scanner.clone(), later.clone(), person.clone()]), Some(person.landing.at));
    assert_eq!(first_counted_click(&[scanner]), None);
    assert_eq!(first_counted_click(&[]), None);
}
