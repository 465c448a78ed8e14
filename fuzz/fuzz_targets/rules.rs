//! The custom-rule parser on arbitrary text: never panics; a rule that parses can be matched.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_shield::rules::{Subjects, parse};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(rule) = parse(s) {
        let headers = vec![("user-agent".to_owned(), s.to_owned())];
        let args = vec![("q".to_owned(), s.to_owned())];
        let subjects = Subjects { method: "GET", path: s, query: s, ip: None, country: None, headers: &headers, args: &args };
        let _ = rule.matches(&subjects);
        let _ = rule.disables_firewall_for(&[&["/s/x", "/s/x/p/y"]]);
    }
});
