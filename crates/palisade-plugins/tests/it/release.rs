//! From a signed package to a running plugin: only what `verify_release` accepted is loaded.

use std::io::{Cursor, Write};

use palisade_registry::{PublisherHandle, PublisherKey, VerifyingKey, verify_release};

use super::*;

fn targz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, *data).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&b.into_inner().unwrap()).unwrap();
    gz.finish().unwrap()
}

fn signed(archive: &[u8]) -> (String, PublisherKey) {
    let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let sig = minisign::sign(Some(&pk), &sk, Cursor::new(archive), Some("test"), None).unwrap().into_string();
    let key = PublisherKey {
        publisher: PublisherHandle::parse("example-labs").unwrap(),
        key: VerifyingKey::parse(&pk.to_base64()).unwrap(),
    };
    (sig, key)
}

#[test]
fn a_verified_release_loads_and_runs() {
    let body = format!(
        "{}\n{}",
        constant("product_block", "<p>From a signed package</p>"),
        constant("checkout_validate", r#"{"ok":true}"#)
    );
    let wasm = module("", &body);
    let archive = targz(&[("palisade-extension.toml", MANIFEST.as_bytes()), ("plugin/blocks.wasm", &wasm)]);
    let (sig, key) = signed(&archive);
    let release = verify_release(&archive, &sig, &key).unwrap();
    let plugin = Plugin::from_release(&release).unwrap();
    let w = world();
    let html = plugin.product_block(&Host { store: "store-a", world: &w }, &product("p-a", "x")).unwrap();
    assert_eq!(html.sanitised(), "<p>From a signed package</p>");
    assert_eq!(plugin.grant().scopes, [Scope::Products].into());
}

#[test]
fn a_release_with_a_hostile_module_is_refused_at_load() {
    let wasm = module(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))"#,
        &echo("product_block"),
    );
    let archive = targz(&[("palisade-extension.toml", MANIFEST.as_bytes()), ("plugin/blocks.wasm", &wasm)]);
    let (sig, key) = signed(&archive);
    let release = verify_release(&archive, &sig, &key).unwrap();
    assert!(matches!(Plugin::from_release(&release), Err(PluginError::ImportRefused { .. })));
}
