//! The whole engine on arbitrary requests (method, URI, one header, body with a content type): never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_shield::{Policy, Request, Shield};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut parts = s.splitn(4, '\n');
    let uri = parts.next().unwrap_or("/");
    let ctype = parts.next().unwrap_or("");
    let header = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let req = Request::new("POST", uri).header("content-type", ctype).header("x-test", header).body(body.as_bytes().to_vec());
    for paranoia in 1..=4 {
        let _ = Shield::default().inspect(&req, &Policy { paranoia, ..Policy::default() });
    }
});
