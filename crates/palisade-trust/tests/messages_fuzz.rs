//! `assess` never panics and its spans always fall on the original text's character boundaries, whatever the
//! input: arbitrary Unicode, and soup made of the detector's own trigger words, digits and evasion characters.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use palisade_trust::messages::{Context, MAX_FINDINGS, Verdict, assess};
use proptest::prelude::*;

const CTX: Context<'static> = Context { own_domains: &["palisade.sg"] };

const PIECES: &[&str] = &[
    "paynow",
    "pay now",
    "me",
    "to",
    "my",
    "whatsapp",
    "wa",
    "t.me/",
    ".",
    "/",
    "-",
    " ",
    "  ",
    "+65",
    "9",
    "8",
    "1",
    "\u{200B}",
    "９",
    "а",
    "раlisade.sg",
    "palisade.sg",
    "bit.ly",
    "https://",
    "www.",
    "#",
    "order",
    "otp",
    "send",
    "qr",
    "scan",
    "transfer",
    "dbs",
    "💸",
    "微信",
    "加我",
    "\n",
    "\t",
    "deposit",
    "within 5 min",
    "e\u{301}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

fn check(text: &str) {
    let a = assess(text, &CTX);
    assert!(a.findings.len() <= MAX_FINDINGS);
    assert_eq!(a.verdict == Verdict::Ok, a.findings.is_empty());
    for f in &a.findings {
        assert!(text.get(f.span.clone()).is_some(), "{text:?} {:?}", f.span);
        assert!(!f.reason().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn trigger_word_soup(text in soup()) {
        check(&text);
    }
}
