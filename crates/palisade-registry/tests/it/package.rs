//! Packages: the example unpacks with its hashes; every hostile archive shape is refused with its own code.

use std::io::Write;

use palisade_registry::package::{MAX_ENTRIES, MAX_FILE_BYTES, MAX_PACKAGE_BYTES, MAX_UNPACKED_BYTES};
use palisade_registry::{Package, PackagePath, Sha256};

use crate::support::{MANIFEST, Tarball, example_package, gzip};

fn refused(archive: &[u8]) -> &'static str {
    match Package::parse(archive) {
        Ok(p) => panic!("accepted a package with {} files", p.files.len()),
        Err(e) => e.code(),
    }
}

#[test]
fn the_example_package_unpacks_with_content_hashes() {
    let bytes = example_package("1.2.0");
    let p = Package::parse(&bytes).unwrap();
    assert_eq!(p.manifest.id.as_str(), "com.example.reviews");
    assert_eq!(p.files.len(), 4);
    assert_eq!(p.sha256, Sha256::of(&bytes));
    assert_eq!(p.length, bytes.len() as u64);
    let html = &p.files[&PackagePath::parse("theme/templates/product.html").unwrap()];
    // Independently computed (sha256sum).
    assert_eq!(html.sha256.to_hex(), "e23e30e159cf2e5e3ab37d8cab9f0140c128522b17142a5cbf5e5c3f92beaa65");
    // Directory entries are allowed (tar writes them) and do not count as files.
    let with_dirs = Tarball::example(MANIFEST).raw(b"theme/", tar::EntryType::Directory, b"").gz();
    assert_eq!(Package::parse(&with_dirs).unwrap().files.len(), 4);
    // As `tar -C dir .` writes it: a `./` entry and `./` before every name.
    let dotted = Tarball::new()
        .raw(b"./", tar::EntryType::Directory, b"")
        .file("./palisade-extension.toml", MANIFEST.as_bytes())
        .file("./theme/templates/product.html", b"x")
        .file("./plugin/reviews.wasm", b"\0asm")
        .gz();
    assert_eq!(Package::parse(&dotted).unwrap().files.len(), 3);
    // Dropping `./` does not let a name in twice.
    let twice = Tarball::example(MANIFEST).file("./README.md", b"other").gz();
    assert_eq!(refused(&twice), "package_duplicate_entry");
}

#[test]
fn traversal_and_absolute_paths_are_refused() {
    for name in [
        &b"../evil.html"[..],
        b"theme/../../etc/cron.d/x",
        b"/etc/passwd",
        b"theme/./x",
        b"C:\\x",
        b".hidden",
        b"././x",
        b"./../x",
        b"._product.html",
    ] {
        let archive = Tarball::example(MANIFEST).raw(name, tar::EntryType::Regular, b"x").gz();
        assert_eq!(refused(&archive), "package_bad_path", "{}", String::from_utf8_lossy(name));
    }
    let not_utf8 = Tarball::example(MANIFEST).raw(b"theme/\xff.html", tar::EntryType::Regular, b"x").gz();
    assert_eq!(refused(&not_utf8), "package_bad_path");
}

#[test]
fn links_devices_and_other_entry_types_are_refused() {
    for kind in [
        tar::EntryType::Symlink,
        tar::EntryType::Link,
        tar::EntryType::Char,
        tar::EntryType::Block,
        tar::EntryType::Fifo,
        tar::EntryType::XGlobalHeader,
        tar::EntryType::Continuous,
    ] {
        let archive = Tarball::example(MANIFEST).raw(b"theme/link", kind, b"").gz();
        assert_eq!(refused(&archive), "package_forbidden_entry_type", "{kind:?}");
    }
}

#[test]
fn duplicate_names_are_refused_in_any_case() {
    let twice = Tarball::example(MANIFEST).file("theme/templates/product.html", b"<script>evil()</script>").gz();
    assert_eq!(refused(&twice), "package_duplicate_entry");
    let case = Tarball::example(MANIFEST).file("theme/templates/PRODUCT.html", b"x").gz();
    assert_eq!(refused(&case), "package_duplicate_entry");
    // A second manifest cannot shadow the first.
    let manifests = Tarball::example(MANIFEST).file("Palisade-Extension.toml", b"x").gz();
    assert_eq!(refused(&manifests), "package_duplicate_entry");
    let clash = Tarball::example(MANIFEST).file("theme/templates/product.html/x", b"x").gz();
    assert_eq!(refused(&clash), "package_file_directory_clash");
}

#[test]
fn oversized_entries_and_bombs_are_refused() {
    // A header that claims more than the cap is refused before anything is read.
    let mut header = tar::Header::new_gnu();
    header.set_size(MAX_FILE_BYTES + 1);
    let mut t = Tarball::example(MANIFEST);
    t = t.raw_header(b"theme/big.bin", tar::EntryType::Regular, header, &vec![0u8; (MAX_FILE_BYTES + 1) as usize]);
    assert_eq!(refused(&t.gz()), "package_oversized_entry");
    // A gzip bomb: a few hundred KiB that unpack past the cap. Decompression stops at the cap.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..(MAX_UNPACKED_BYTES >> 20) + 2 {
        enc.write_all(&zeros).unwrap();
    }
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 1 << 20, "the bomb is small: {}", bomb.len());
    assert_eq!(refused(&bomb), "package_bomb");
    // Too many entries (each small).
    let mut many = Tarball::example(MANIFEST);
    for i in 0..MAX_ENTRIES {
        many = many.file(&format!("theme/assets/f{i}.css"), b"");
    }
    assert_eq!(refused(&many.gz()), "package_too_many_entries");
    // Too large to even look at.
    assert_eq!(refused(&vec![0u8; MAX_PACKAGE_BYTES + 1]), "package_too_large");
}

#[test]
fn malformed_archives_are_refused() {
    assert_eq!(refused(b"not gzip at all"), "package_malformed");
    assert_eq!(
        refused(&gzip(b"not a tar archive, just text that is long enough to be a header? no")),
        "package_malformed"
    );
    let mut trailing = example_package("1.2.0");
    trailing.extend_from_slice(b"smuggled");
    assert_eq!(refused(&trailing), "package_trailing_data");
    // Two gzip members concatenated: only one is allowed.
    let mut two = example_package("1.2.0");
    two.extend_from_slice(&example_package("1.2.1"));
    assert_eq!(refused(&two), "package_trailing_data");
    let truncated = example_package("1.2.0");
    assert_eq!(refused(&truncated[..truncated.len() / 2]), "package_malformed");
}

#[test]
fn contents_must_match_the_manifest() {
    let no_manifest = Tarball::new().file("theme/x.html", b"x").gz();
    assert_eq!(refused(&no_manifest), "package_missing_manifest");
    let not_wasm = Tarball::new()
        .file("palisade-extension.toml", MANIFEST.as_bytes())
        .file("theme/x.html", b"x")
        .file("plugin/reviews.wasm", b"#!/bin/sh\nrm -rf /")
        .gz();
    assert_eq!(refused(&not_wasm), "package_not_wasm");
    let no_module = Tarball::new().file("palisade-extension.toml", MANIFEST.as_bytes()).file("theme/x.html", b"x").gz();
    assert_eq!(refused(&no_module), "package_missing_file");
    let empty_theme =
        Tarball::new().file("palisade-extension.toml", MANIFEST.as_bytes()).file("plugin/reviews.wasm", b"\0asm").gz();
    assert_eq!(refused(&empty_theme), "package_empty_theme");
    let smuggled = Tarball::example(MANIFEST).file("bin/miner", b"\x7fELF").gz();
    assert_eq!(refused(&smuggled), "package_undeclared_file");
    let bad_manifest = Tarball::example(&MANIFEST.replace("\"orders\",", "\"root\",")).gz();
    assert_eq!(refused(&bad_manifest), "manifest_value_not_allowed");
}

#[test]
fn long_name_and_pax_headers_cannot_smuggle_a_path() {
    // A PAX header overriding the next entry's harmless name with a traversal.
    let record = pax_record("path", "../../etc/cron.d/evil");
    let pax = Tarball::example(MANIFEST)
        .raw(b"PaxHeaders/x", tar::EntryType::XHeader, record.as_bytes())
        .file("theme/ok.html", b"x")
        .gz();
    assert_eq!(refused(&pax), "package_bad_path");
    // A GNU long name doing the same.
    let long = Tarball::example(MANIFEST)
        .raw(b"././@LongLink", tar::EntryType::GNULongName, b"theme/../../../root/.ssh/authorized_keys\0")
        .file("theme/ok.html", b"x")
        .gz();
    assert_eq!(refused(&long), "package_bad_path");
    // A PAX size larger than the cap is refused like a header size.
    let size = pax_record("size", &(MAX_FILE_BYTES + 1).to_string());
    let big = Tarball::example(MANIFEST)
        .raw(b"PaxHeaders/y", tar::EntryType::XHeader, size.as_bytes())
        .file("theme/ok.html", b"x")
        .gz();
    assert_eq!(refused(&big), "package_oversized_entry");
}

/// One PAX extended-header record: `<length> <key>=<value>\n`, the length counting itself.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

#[test]
fn damaged_archives_and_manifests_are_errors_not_panics() {
    let tar = Tarball::example(MANIFEST).tar();
    let (mut accepted, mut refused_count) = (0, 0);
    for at in (0..tar.len()).step_by(31) {
        for value in [0x00, 0xff, b'/', b'.', b'7'] {
            let mut damaged = tar.clone();
            damaged[at] = value;
            match Package::parse(&gzip(&damaged)) {
                Ok(_) => accepted += 1,
                Err(_) => refused_count += 1,
            }
        }
    }
    // Both happen (padding and timestamps are free to change; names, sizes and checksums are not).
    assert!(accepted > 0 && refused_count > 0, "{accepted} accepted, {refused_count} refused");
    for end in 0..MANIFEST.len() {
        if let Some(prefix) = MANIFEST.get(..end) {
            let _ = palisade_registry::Manifest::parse(prefix.as_bytes());
        }
    }
}

#[test]
fn a_built_package_is_read_back_as_written_and_hostile_paths_still_fail() {
    let archive = palisade_registry::build_package(&[
        ("palisade-extension.toml", MANIFEST.as_bytes()),
        ("theme/templates/product.html", b"<div>{{ product.title }}</div>"),
        ("plugin/reviews.wasm", b"\0asm\x01\0\0\0"),
    ])
    .unwrap();
    let package = Package::parse(&archive).unwrap();
    assert_eq!(package.files.len(), 3);
    assert_eq!(package.sha256, Sha256::of(&archive));
    let hostile =
        palisade_registry::build_package(&[("palisade-extension.toml", MANIFEST.as_bytes()), ("x/../y", b"z")]);
    // tar refuses to write `..` itself, or the package check refuses it: never an accepted package.
    assert!(hostile.map_or(true, |a| Package::parse(&a).is_err()));
}
