//! Links and bare domains: the platform's own are fine; chat links, shorteners, disguised letters and imitations
//! of the platform's domain are blocked; anything else gets a warning.

use std::sync::LazyLock;

use regex::Regex;

use super::normalise::Normalised;
use super::{Context, Finding, FindingCode};

/// A URL or a bare domain (`bit.ly/x`, `palisade-sg.com`), on the skeleton view.
static LINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:https?://|www\.)?(?:[a-z0-9](?:[a-z0-9-]{0,62})\.)+[a-z]{2,24}\b(?::[0-9]{1,5})?(?:/[^\s]*)?").ok()
});

/// Top-level domains a bare domain must end with to count as a link ("ok.can" is not a link; "s.id" is).
const TLDS: &[&str] = &[
    "com", "net", "org", "sg", "my", "io", "co", "me", "ly", "gl", "gy", "id", "at", "cc", "xyz", "top", "site", "app",
    "link", "help", "shop", "store", "online", "info", "biz", "dog", "gd", "tk", "ml", "ga", "cf", "page", "dev",
    "live", "club", "vip", "asia", "hk", "cn", "uk", "us", "to", "ai", "so", "be", "tv", "ws", "su", "ru", "in", "ph",
    "th", "vn", "kr", "jp", "au", "nz", "de", "fr", "eu", "cloud", "click", "world", "today", "icu", "lol", "win",
    "bid", "loan", "work", "support", "delivery", "services", "pay", "money", "finance", "bank",
];

/// Hosts of chat apps: a link there moves the conversation off the platform.
const CHAT_HOSTS: &[&str] = &[
    "wa.me",
    "whatsapp.com",
    "t.me",
    "telegram.me",
    "telegram.dog",
    "telegram.org",
    "line.me",
    "m.me",
    "signal.me",
    "signal.group",
    "wechat.com",
    "weixin.qq.com",
    "discord.gg",
    "discord.com",
    "instagram.com",
    "messenger.com",
];

/// Link shorteners: the destination is hidden.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "tinyurl.com",
    "cutt.ly",
    "s.id",
    "rb.gy",
    "t.co",
    "goo.gl",
    "is.gd",
    "shorturl.at",
    "tiny.cc",
    "ow.ly",
    "buff.ly",
    "rebrand.ly",
    "t.ly",
    "v.gd",
    "shorte.st",
    "bl.ink",
];

fn on(host: &str, domain: &str) -> bool {
    host == domain || host.strip_suffix(domain).is_some_and(|rest| rest.ends_with('.'))
}

/// Folds the characters people swap in imitation domains (`1`/`i`/`l`, `0`/`o`, `rn`/`m`, ...).
fn fold(s: &str) -> String {
    let mapped: String = s
        .chars()
        .filter(|c| c.is_alphanumeric())
        .map(|c| match c {
            'i' | '1' | '!' | '|' => 'l',
            '0' => 'o',
            '4' | '@' => 'a',
            '3' => 'e',
            '5' | '$' => 's',
            '7' => 't',
            _ => c,
        })
        .collect();
    mapped.replace("rn", "m").replace("vv", "w")
}

/// Edit distance up to `limit + 1` (cheap: both strings are domain labels, ≤ 63 characters).
fn within_edits(a: &str, b: &str, limit: usize) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().is_some_and(|&d| d <= limit)
}

/// Whether `host` imitates one of the platform's domains without being one.
fn imitates(host: &str, own: &[&str]) -> bool {
    own.iter().any(|d| {
        let brand = d.split('.').next().unwrap_or(d);
        let (fb, fh) = (fold(brand), fold(host));
        fb.len() >= 4 && (fh.contains(&fb) || host.split(['.', '-']).any(|label| within_edits(&fold(label), &fb, 1)))
    })
}

fn classify(link: &str, original: &str, own: &[&str]) -> Option<FindingCode> {
    let rest = link.strip_prefix("https://").or_else(|| link.strip_prefix("http://")).unwrap_or(link);
    let explicit = rest.len() != link.len() || rest.starts_with("www.");
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.split(':').next().unwrap_or(host).trim_start_matches("www.");
    let tld = host.rsplit('.').next().unwrap_or("");
    if !explicit && !TLDS.contains(&tld) {
        return None;
    }
    let disguised = !original.is_ascii();
    let own_domain = own.iter().any(|d| on(host, d));
    if own_domain && !disguised {
        return None;
    }
    if CHAT_HOSTS.iter().any(|d| on(host, d)) {
        return Some(FindingCode::MessagingLink);
    }
    if own_domain || imitates(host, own) {
        return Some(FindingCode::LookalikeDomain);
    }
    if disguised || SHORTENERS.iter().any(|d| on(host, d)) {
        return Some(FindingCode::HiddenLink);
    }
    if (host.contains("qr") || path.contains("qr")) && (host.contains("pay") || path.contains("pay")) {
        return Some(FindingCode::QrPayment);
    }
    Some(FindingCode::ExternalLink)
}

/// Words that make an ordinary external link a payment link ("I paid, click here to receive the money").
static PAYMENT_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\b(?:pay\w*|paid|receive|claim|release|refund|fee|insurance|card|login|log\s+in|verify|bank)\b").ok()
});

/// Findings for every link in the message.
pub(super) fn findings(n: &Normalised, text: &str, context: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(re) = LINK.as_ref() else { return };
    for m in re.find_iter(&n.skeleton.text) {
        let span = n.skeleton.original(m.range());
        let raw = text.get(span.clone()).unwrap_or("");
        let payment = PAYMENT_WORDS.as_ref().is_some_and(|r| r.is_match(&n.skeleton.text));
        match classify(m.as_str(), raw, context.own_domains) {
            Some(FindingCode::ExternalLink) if payment => out.push(Finding { code: FindingCode::PaymentLink, span }),
            Some(code) => out.push(Finding { code, span }),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imitations_are_recognised() {
        let own = ["palisade.sg"];
        for host in ["pallsade.sg", "paiisade.sg", "p4lisade.sg", "palisade-sg.com", "palisade.sg.verify.top"] {
            assert!(imitates(host, &own), "{host}");
        }
        for host in ["paradise.sg", "lazada.sg", "shopee.sg", "pal.sg"] {
            assert!(!imitates(host, &own), "{host}");
        }
    }
}
