use super::*;

#[test]
fn tokens_are_found_in_pasted_links_only_when_whole() {
    let t = "a".repeat(64);
    assert_eq!(token_in(&format!("https://x.example/learn/{t}")), Some(t.as_str()));
    assert_eq!(token_in(&format!("  {t}\n")), Some(t.as_str()));
    assert_eq!(token_in(&format!("see https://x.example/learn/{t}/confirm now")), Some(t.as_str()));
    assert_eq!(token_in("https://x.example/learn/abc"), None);
    assert_eq!(token_in("hello"), None);
}

#[test]
fn reports_never_keep_a_live_token() {
    let t = "ab12".repeat(16);
    let r = redact_tokens(&format!("look https://x.example/learn/{t}/confirm ok deadbeef"));
    assert_eq!(r, "look https://x.example/learn/[link token removed]/confirm ok deadbeef");
}

#[test]
fn addresses_are_truncated() {
    assert_eq!(truncate_ip("203.0.113.77".parse().unwrap()), "203.0.113.0".parse::<IpAddr>().unwrap());
    assert_eq!(truncate_ip("2001:db8:1:2:3::9".parse().unwrap()), "2001:db8:1::".parse::<IpAddr>().unwrap());
}

#[test]
fn quarters_start_on_the_first_of_jan_apr_jul_oct() {
    let at = |s: &str| Timestamp(s.parse::<jiff::Timestamp>().unwrap().as_millisecond());
    let q = controls::quarter_start(at("2026-12-07T07:00:00Z")).unwrap();
    assert_eq!(q, at("2026-10-01T00:00:00Z").0);
    let q = controls::quarter_start(at("2026-03-31T23:59:00Z")).unwrap();
    assert_eq!(q, at("2026-01-01T00:00:00Z").0);
}

#[test]
fn templates_fill_plain_text_only() {
    for t in TEMPLATES {
        assert!(t.body.contains("{link}") && !t.body.contains('<'), "{}", t.id);
    }
}
