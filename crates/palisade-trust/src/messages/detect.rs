//! The rules: regular expressions over the message's skeleton (see [`super::normalise`]), plus code for what a
//! pattern cannot say alone (whether a digit run is a phone number, an order number or a bank account).

use std::sync::LazyLock;

use regex::Regex;

use super::links;
use super::normalise::Normalised;
use super::{Context, Finding, FindingCode};

/// PayNow and PayLah, however spelt (`pay now`, `pay-now`, `p4ynow`).
const PAYNOW: &str = r"(?:p[a4@]y[\s\-_.]*n[o0]w|paylah)";
/// Messaging apps whose name alone is unambiguous.
const APP: &str = r"(?:\b(?:wh?[a@4]t'?s?\s*'?\s*app|wasap|w/a|telegr[a@4]m|tel[e3]gr[a@4]m|wechat|weixin|viber|kakao(?:talk)?|instagram|messenger|wa|tg|tele|ig)\b|微信)";
/// Words that invite someone to move a chat.
const INVITE: &str =
    r"(?:add|pm|dm|msg|message|contact|reach|reply|replies|talk|chat|continue|move|join|text|find|sms|ping|hit)";
/// Things people are asked to read out or forward.
const SECRET: &str = r"(?:otp|one[\s-]?time\s+(?:password|pin|code)|verification\s+code|sms\s+code|security\s+code|2fa|\btac\b|(?:6|six)[\s-]?digit\s+(?:code|pin|otp)|singpass|login\s+(?:details|id|password)|bank\s+login|password|\bpin\b|the\s+code|a\s+code)";

fn p(code: FindingCode, s: &str) -> (FindingCode, String) {
    (code, s.to_owned())
}

/// Requests to pay off the platform, and pressure to pay.
fn payment_patterns() -> Vec<(FindingCode, String)> {
    use FindingCode::*;
    vec![
        (OffPlatformPayment, format!(r"{PAYNOW}\s*(?:me\b|给我|terus\b|direct(?:ly)?\b|to\s+(?:me|my)\b|lah\s+to\b)")),
        (OffPlatformPayment, format!(r"\b(?:my|to\s+my)\s+{PAYNOW}")),
        (OffPlatformPayment, format!(r"{PAYNOW}\s*(?:to\s+)?(?:my\s+)?(?:number|no\.?|hp|handphone|mobile|uen|qr)\b")),
        p(
            OffPlatformPayment,
            r"\b(?:pay|paid|payment|transfer)\w*\s+(?:me\s+)?(?:outside|off)\s+(?:the\s+|of\s+the\s+)?(?:app|platform|palisade|checkout)",
        ),
        p(
            OffPlatformPayment,
            r"\b(?:no\s+need|don'?t|dont|skip)\s+(?:to\s+)?(?:go\s+through|use|pay\s+(?:via|through|on|in))\s+(?:the\s+)?(?:checkout|app|platform)",
        ),
        p(OffPlatformPayment, r"\binstead\s+of\s+(?:the\s+|using\s+(?:the\s+)?)?(?:checkout|app|platform)"),
        p(
            OffPlatformPayment,
            r"\b(?:save|avoid|no|skip)\s+(?:the\s+)?(?:platform|app|checkout)?\s*(?:fees?|commission)",
        ),
        p(OffPlatformPayment, r"\bcancel\s+the\s+order\s+(?:on|in)\s+(?:the\s+)?app"),
        p(OffPlatformPayment, r"\btak\s+payah\s+guna\s+app"),
        p(OffPlatformPayment, r"\b(?:bank|fund|fast|direct|ib)\s*-?\s*transfer"),
        p(OffPlatformPayment, r"\bpay\s+(?:me\s+)?(?:by|via|through|thru)\s+(?:bank\s+)?transfer"),
        p(OffPlatformPayment, r"\btransfer\s+(?:the\s+)?(?:money\s+|\$?\d+\s+)?(?:to|ke|into)\s+(?:my|me|akaun)\b"),
        p(OffPlatformPayment, r"\bpay\s+me\s+(?:directly|direct)\b"),
        p(OffPlatformPayment, r"\bi-?banking\b|\bbank\s*-?\s*in\b|转账|户口"),
        p(
            OffPlatformPayment,
            r"\bdeposit\b[^.!?\n]{0,40}?\b(?:first|upfront|transfer|now|hold|reserve|non[\s-]?refundable|to\s+me)\b",
        ),
        p(
            OffPlatformPayment,
            r"\b(?:pay|transfer|put\s+down)\s+(?:a\s+|the\s+|\$?\d+\s*%?\s+)?(?:deposit|upfront)\b|\bupfront\s+to\s+me\b",
        ),
        p(OffPlatformPayment, r"\b(?:transfer|deposit)\s+\$\s?\d"),
        // Pressure.
        p(
            PressureToPay,
            r"\b(?:pay|transfer|deposit|decide|confirm)\w*[^.!?\n]{0,30}?\b(?:within|in)\s+\d+\s*(?:min|mins|minutes|hours?|hrs?)\b",
        ),
        p(
            PressureToPay,
            r"\b(?:other|another|\d+)\s+(?:other\s+)?buyers?\s+(?:waiting|asking|interested|want)|\bgot\s+\d+\s+other\s+buyers",
        ),
        p(PressureToPay, r"\bmany\s+(?:ppl|people|pple|buyers)\s+(?:asking|interested|want)"),
        p(PressureToPay, r"\blast\s+chance\b|\boffer\s+ends\b|\bor\s+(?:you\s+)?lose\s+it\b|\bprice\s+goes\s+up\b"),
        p(
            PressureToPay,
            r"\bor\s+i\s+(?:sell|let\s+go|give|cancel)\b|\b(?:let\s+go|sell)\s+to\s+(?:the\s+)?(?:next|other|others)\b",
        ),
        p(
            PressureToPay,
            r"\bpay\s+(?:fast|quick|quickly)\b|\b(?:faster|quick)\s+decide\b|\bcancelled\s+unless\s+you\s+pay\b",
        ),
        p(PressureToPay, r"\bif\s+you\s+don'?t\s+(?:pay|transfer)\b"),
    ]
}

/// Moving the chat elsewhere, secrets, card details, crypto, QR codes.
fn other_patterns() -> Vec<(FindingCode, String)> {
    use FindingCode::*;
    vec![
        (
            MessagingApp,
            format!(
                r"{APP}\s*(?:me\b|saya\b|我|us\b|you\b|u\b|:|@|\+?\d|id\b|handle\b|username\b|number\b|channel\b|dm\b|group\s+for\b)"
            ),
        ),
        (
            MessagingApp,
            format!(r"\b{INVITE}\w*\s+(?:me\s+|us\s+)?(?:\w+\s+){{0,2}}?(?:on|via|thru|through|to|in|my)\s+{APP}"),
        ),
        (MessagingApp, format!(r"\b(?:add|join)\s+(?:me\s+on\s+)?(?:my\s+)?{APP}|\bmy\s+{APP}")),
        p(MessagingApp, r"加我\s*(?:微信|wechat|whatsapp|line)|\bline\s*id\b|\bsignal\s+me\b|\bon\s+signal\b"),
        p(MessagingLink, r"\b(?:t|wa)\s*\.\s*me\s*/\s*\S|\bchat\.whatsapp\b|\bapi\.whatsapp\b"),
        p(
            ContactRequest,
            r"\b(?:give|drop|send|share|pass|leave|what'?s|whats|can\s+i\s+have|may\s+i\s+have)\s+(?:me\s+)?(?:your|ur|yr|u)\s+(?:phone\s+|hp\s+|handphone\s+|mobile\s+|contact\s+)?(?:number|no\b|hp\b|contact|phone|mobile|handphone)",
        ),
        p(
            ContactRequest,
            r"\b(?:talk|discuss|speak)\s+(?:over|on|by)\s+(?:the\s+)?phone\b|\bsms\s+me\b|\b(?:i|let\s+me)\s+call\s+(?:you|u)\b",
        ),
        // Secrets and card details.
        (
            CredentialRequest,
            format!(
                r"\b(?:send|give|tell|forward|read|share|key\s+in|what'?s|whats|provide)\w*\s+(?:me\s+|us\s+)?(?:\S+\s+){{0,4}}?{SECRET}"
            ),
        ),
        (
            CredentialRequest,
            format!(r"{SECRET}[^.!?\n]{{0,40}}?\b(?:forward|send|give|tell)\s+(?:it\s+)?(?:to\s+)?me\b"),
        ),
        p(
            CardDetails,
            r"\bcvv\b|\bcvc\b|\b(?:send|give|key\s+in|fill\s+in|enter|type|share|tell)\w*\s+(?:me\s+)?(?:\S+\s+){0,3}?card\s+(?:number|no|details|info)|\bfront\s+and\s+back\s+of\s+(?:your\s+)?card",
        ),
        p(CryptoOrGiftCard, r"\b(?:usdt|btc|bitcoin|ethereum|crypto|binance|tether)\b"),
        p(
            CryptoOrGiftCard,
            r"(?:gift\s*card|steam\s+card|itunes\s+card|google\s+play\s+(?:card|gift)|razer\s+gold)[^.!?\n]{0,30}|\b(?:pay|send|accept|buy)\w*\s+(?:\S+\s+){0,3}?(?:gift\s*card|steam\s+card|itunes\s+card)",
        ),
        // QR codes for payment.
        p(
            QrPayment,
            r"\bsgqr\b|\bqr\b[^.!?\n]{0,30}?\b(?:pay|transfer)|\b(?:pay|transfer|paynow)\w*[^.!?\n]{0,30}?\bqr\b|\bscan\s+(?:and|&|to)\s+(?:pay|transfer)",
        ),
    ]
}

fn patterns() -> Vec<(FindingCode, String)> {
    let mut all = payment_patterns();
    all.extend(other_patterns());
    all
}

static RULES: LazyLock<Vec<(FindingCode, Regex)>> =
    LazyLock::new(|| patterns().into_iter().filter_map(|(c, p)| Regex::new(&p).ok().map(|r| (c, r))).collect());

/// A run of digits with at most two separators between each (spaced-out and dashed numbers included).
static DIGIT_RUN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\+?\(?\+?[0-9](?:[\s\-.()/]{0,2}[0-9])+").ok());
/// A phone number spelt out in English or Malay words.
static DIGIT_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:\b(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|kosong|satu|dua|tiga|empat|lima|enam|tujuh|lapan|sembilan)\b[\s,.\-]*){8,}").ok()
});
/// Words that make a digit run something other than a phone number (order numbers, SKUs, tracking numbers).
static NOT_A_PHONE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\b(?:order|sku|item|code|serial|invoice|ref|reference|tracking|awb|model|s/n|receipt|voucher)\b").ok()
});
/// Words that make a long digit run a bank account.
static BANK_WORDS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"\b(?:dbs|posb|ocbc|uob|maybank|hsbc|standard\s+chartered|citi\w*|cimb|bank|acc|acct|account|akaun|a/c|transfer|ibanking)\b|户口|银行").ok()
});
/// Words that turn a phone number into a payment request.
static PAY_WORDS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!(r"{PAYNOW}|\b(?:transfer|pay\s+me|deposit|bank\s+in)\b")).ok());

#[cfg(test)]
pub(super) fn rules_compiled() -> (usize, usize) {
    (RULES.len(), patterns().len())
}

fn is_match(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

/// Phone numbers and bank accounts among the message's digit runs.
fn numbers(n: &Normalised, out: &mut Vec<Finding>) {
    let s = n.skeleton.text.as_str();
    let bank_context = is_match(&BANK_WORDS, s);
    let pay_context = is_match(&PAY_WORDS, s);
    let Some(runs) = DIGIT_RUN.as_ref() else { return };
    for m in runs.find_iter(s) {
        let before = s.get(..m.start()).unwrap_or("");
        let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '#' || c == '$');
        if glued(before.chars().next_back()) || glued(s.get(m.end()..).and_then(|t| t.chars().next())) {
            continue;
        }
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        let local = digits.strip_prefix("0065").or_else(|| digits.strip_prefix("65").filter(|d| d.len() == 8));
        let local = local.unwrap_or(&digits);
        let sg_phone = local.len() == 8 && local.starts_with(['6', '8', '9']);
        let international = m.as_str().starts_with(['+', '(']) && (10..=13).contains(&digits.len());
        let lookback: String = before.chars().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect();
        let span = n.skeleton.original(m.range());
        if (sg_phone || international) && !is_match(&NOT_A_PHONE, &lookback) {
            out.push(Finding { code: FindingCode::PhoneNumber, span: span.clone() });
            if pay_context {
                out.push(Finding { code: FindingCode::OffPlatformPayment, span });
            }
        } else if (9..=14).contains(&digits.len()) && bank_context && !is_match(&NOT_A_PHONE, &lookback) {
            out.push(Finding { code: FindingCode::BankAccount, span });
        }
    }
    if let Some(words) = DIGIT_WORDS.as_ref() {
        for m in words.find_iter(s) {
            out.push(Finding { code: FindingCode::PhoneNumber, span: n.skeleton.original(m.range()) });
        }
    }
}

/// Every finding in the message, unsorted.
pub(super) fn findings(n: &Normalised, text: &str, context: &Context<'_>) -> Vec<Finding> {
    let s = n.skeleton.text.as_str();
    let mut out = Vec::new();
    for (code, re) in RULES.iter() {
        for m in re.find_iter(s) {
            out.push(Finding { code: *code, span: n.skeleton.original(m.range()) });
        }
    }
    numbers(n, &mut out);
    links::findings(n, text, context, &mut out);
    out
}
