//! Extension packages and manifests on arbitrary bytes: never panics, never unpacks past the caps.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palisade_registry::{Manifest, Package};

fuzz_target!(|data: &[u8]| {
    // As a whole package (gzip + tar + manifest), and the same bytes as a gzip-wrapped tar body and a manifest.
    let _ = Package::parse(data);
    let _ = Manifest::parse(data);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    if std::io::Write::write_all(&mut gz, data).is_ok()
        && let Ok(wrapped) = gz.finish()
    {
        let _ = Package::parse(&wrapped);
    }
});
