use super::*;

const CTX: Context<'static> = Context { own_domains: &["palisade.sg"] };

fn codes(text: &str) -> Vec<&'static str> {
    assess(text, &CTX).findings.iter().map(|f| f.code.code()).collect()
}

fn verdict(text: &str) -> Verdict {
    assess(text, &CTX).verdict
}

#[test]
fn every_pattern_compiles() {
    let (compiled, written) = detect::rules_compiled();
    assert_eq!(compiled, written);
}

#[test]
fn ordinary_messages_pass() {
    for t in [
        "Hi, is this available in size M?",
        "can collect at Tampines MRT?",
        "Order #1042 arrived damaged, how to return?",
        "Do you deliver to 520123?",
        "Blk 123 #05-67 Singapore 520123",
        "Can do $1,299? Student here",
        "Paid via checkout with PayNow already, order #1042",
        "Is the price negotiable if I pay now?",
        "My friend sent me this listing on WhatsApp, still available?",
        "Is this the same as https://palisade.sg/p/abc123?",
        "see https://shop.palisade.sg/cart/x",
        "item code 88123456 same as the photo?",
        "10.30am - 9.30pm?",
        "ok.can see you",
        "",
    ] {
        assert_eq!(assess(t, &CTX), Assessment { verdict: Verdict::Ok, findings: vec![] }, "{t}");
    }
}

#[test]
fn evasions_are_seen_through() {
    assert_eq!(codes("whatsapp me ９１２３４５６７"), ["messaging_app", "phone_number"]);
    assert_eq!(verdict("call 9 1 2 3 4 5 6 7"), Verdict::Warn);
    assert_eq!(verdict("call 9\u{200B}1\u{200B}2\u{200B}3\u{200B}4567"), Verdict::Warn);
    assert_eq!(verdict("call nine one two three four five six seven"), Verdict::Warn);
    assert_eq!(verdict("whats\u{200B}app me"), Verdict::Warn);
    assert_eq!(verdict("t . me/dealsg"), Verdict::Block);
    assert_eq!(codes("pаynow me"), ["off_platform_payment"], "Cyrillic а");
    assert_eq!(codes("login at раlisade.sg/verify"), ["lookalike_domain"], "Cyrillic р and а in our own name");
    assert_eq!(codes("go to paIisade.sg"), ["lookalike_domain"]);
    assert_eq!(codes("go to palisade.sg.verify-id.top/x"), ["lookalike_domain"]);
}

#[test]
fn verdicts_and_reasons() {
    let a = assess("Pls PayNow to 9123 4567 then I send out", &CTX);
    assert_eq!(a.verdict, Verdict::Block);
    assert!(a.findings.iter().any(|f| f.code == FindingCode::OffPlatformPayment));
    let phone = a.findings.iter().find(|f| f.code == FindingCode::PhoneNumber).unwrap();
    assert_eq!(&"Pls PayNow to 9123 4567 then I send out"[phone.span.clone()], "9123 4567");
    assert!(phone.reason().contains("phone number"));
    assert_eq!(verdict("more photos at example.com/x"), Verdict::Warn);
    assert_eq!(codes("I paid already, click example.com/x to receive money"), ["payment_link"]);
    assert_eq!(verdict("I paid already, click example.com/x to receive money"), Verdict::Block);
    assert_eq!(verdict("bit.ly/abc"), Verdict::Block);
    assert_eq!(verdict("https://wa.me/6591234567"), Verdict::Block);
    assert_eq!(verdict("send me the OTP pls"), Verdict::Block);
    assert_eq!(verdict("DBS 012-345678-9"), Verdict::Block);
    let json = serde_json::to_value(assess("bit.ly/abc", &CTX)).unwrap();
    assert_eq!(json["verdict"], "block");
    assert_eq!(json["findings"][0]["code"], "hidden_link");
    assert_eq!(json["findings"][0]["start"], 0);
    assert!(json["findings"][0]["reason"].as_str().unwrap().contains("hides"));
}

#[test]
fn abuse_oversized_and_hostile_input() {
    let long = "a".repeat(MAX_MESSAGE_BYTES + 1);
    assert_eq!(assess(&long, &CTX).verdict, Verdict::Block);
    // Padding within the limit does not hide a link at the end.
    let padded = format!("{} t.me/x", " ".repeat(MAX_MESSAGE_BYTES - 10));
    assert_eq!(assess(&padded, &CTX).verdict, Verdict::Block);
    // Many findings are capped, and the verdict still reflects the worst one even if it was cut.
    let many = format!("{} bit.ly/x", "call 91234567 ".repeat(40));
    let a = assess(&many, &CTX);
    assert_eq!(a.findings.len(), MAX_FINDINGS);
    assert_eq!(a.verdict, Verdict::Block);
    // Spans always fall on character boundaries of the original, whatever the input.
    for t in [
        "９１２３４５６７ ｗｈａｔｓａｐｐ",
        "💸💸 pаy\u{200B}now 💸 ９１２３ ４５６７",
        "<a href='https://bit.ly/x'>x</a>",
        "=HYPERLINK(\"t.me/x\")",
    ] {
        for f in assess(t, &CTX).findings {
            assert!(t.get(f.span.clone()).is_some(), "{t:?} {:?}", f.span);
        }
        assert_ne!(verdict(t), Verdict::Ok, "{t}");
    }
}

#[test]
fn pathological_inputs_within_the_limit() {
    let size = MAX_MESSAGE_BYTES;
    let cases = [
        "9 ".repeat(size / 2),
        "a.".repeat(size / 2),
        "whatsapp ".repeat(size / 9),
        "pay now ".repeat(size / 8),
        "\u{200B}".repeat(size / 3),
        "９".repeat(size / 3),
        "https://".repeat(size / 8),
        "send me ".repeat(size / 8),
        "p".repeat(size),
    ];
    for t in &cases {
        assert!(t.len() <= MAX_MESSAGE_BYTES);
        let a = assess(t, &CTX);
        assert!(a.findings.len() <= MAX_FINDINGS);
        for f in &a.findings {
            assert!(t.get(f.span.clone()).is_some());
        }
    }
    // A run of spaced digits far longer than a phone number is not a phone number.
    assert_eq!(verdict(&"9 ".repeat(size / 2)), Verdict::Ok);
}

#[test]
fn stored_codes_read_back_to_their_finding() {
    // Messages store finding codes; each must read back to the same finding (and its reason), and no two share one.
    let mut seen = std::collections::BTreeSet::new();
    for code in FindingCode::ALL {
        assert!(seen.insert(code.code()), "{} listed twice", code.code());
        assert_eq!(FindingCode::from_code(code.code()), Some(code));
        assert!(!code.reason().is_empty());
    }
    assert_eq!(FindingCode::from_code("no_such_code"), None);
    // ALL is every variant: the last one declared is in it, and a new variant must be added there to be stored.
    assert!(FindingCode::ALL.contains(&FindingCode::TooLong));
}
