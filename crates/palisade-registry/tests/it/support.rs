//! Building packages (well-formed and hostile) and signing them as a publisher or the platform would.

use std::io::{Cursor, Write};

use palisade_registry::{KeyId, PlatformKey, PublisherHandle, PublisherKey, VerifyingKey};

/// The README's example manifest.
pub const MANIFEST: &str = include_str!("../../testdata/palisade-extension.toml");

/// A minisign key pair, as `minisign -G` makes.
pub struct Keys {
    pk: minisign::PublicKey,
    sk: minisign::SecretKey,
}

impl Keys {
    pub fn new() -> Keys {
        let minisign::KeyPair { pk, sk } = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
        Keys { pk, sk }
    }

    pub fn verifying(&self) -> VerifyingKey {
        VerifyingKey::parse(&self.pk.to_base64()).unwrap()
    }

    pub fn publisher(&self, handle: &str) -> PublisherKey {
        PublisherKey { publisher: PublisherHandle::parse(handle).unwrap(), key: self.verifying() }
    }

    pub fn platform(&self) -> PlatformKey {
        PlatformKey(self.verifying())
    }

    /// A `.sig` file's text over `bytes`.
    pub fn sign(&self, bytes: &[u8]) -> String {
        minisign::sign(Some(&self.pk), &self.sk, Cursor::new(bytes), Some("palisade test"), None).unwrap().into_string()
    }
}

/// A tar archive built entry by entry, hostile entries included (names are written raw, unchecked).
#[derive(Default)]
pub struct Tarball {
    builder: Option<tar::Builder<Vec<u8>>>,
}

impl Tarball {
    pub fn new() -> Tarball {
        Tarball { builder: Some(tar::Builder::new(Vec::new())) }
    }

    /// The example extension's files, with `manifest` as its manifest.
    pub fn example(manifest: &str) -> Tarball {
        Tarball::new()
            .file("palisade-extension.toml", manifest.as_bytes())
            .file("theme/templates/product.html", b"<div>{{ product.title }}</div>")
            .file("plugin/reviews.wasm", b"\0asm\x01\0\0\0")
            .file("README.md", b"# Reviews")
    }

    pub fn file(self, name: &str, data: &[u8]) -> Tarball {
        self.raw(name.as_bytes(), tar::EntryType::Regular, data)
    }

    pub fn raw(self, name: &[u8], kind: tar::EntryType, data: &[u8]) -> Tarball {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        self.raw_header(name, kind, header, data)
    }

    /// An entry whose header claims `size` bytes, followed by `data`.
    pub fn raw_header(mut self, name: &[u8], kind: tar::EntryType, mut header: tar::Header, data: &[u8]) -> Tarball {
        let gnu = header.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name);
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_cksum();
        self.builder.as_mut().unwrap().append(&header, data).unwrap();
        self
    }

    pub fn tar(mut self) -> Vec<u8> {
        self.builder.take().unwrap().into_inner().unwrap()
    }

    pub fn gz(self) -> Vec<u8> {
        gzip(&self.tar())
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// The example package as `version`, gzip-compressed.
pub fn example_package(version: &str) -> Vec<u8> {
    Tarball::example(&MANIFEST.replace("version = \"1.2.0\"", &format!("version = \"{version}\""))).gz()
}

/// The signature with its key id replaced (the second line's bytes 2..10).
pub fn relabel(sig: &str, id: KeyId) -> String {
    edit_sig_line(sig, |bin| bin[2..10].copy_from_slice(&id.0))
}

pub fn relabel_algorithm(sig: &str, alg: [u8; 2]) -> String {
    edit_sig_line(sig, |bin| bin[..2].copy_from_slice(&alg))
}

fn edit_sig_line(sig: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
    use base64::Engine as _;
    let mut lines: Vec<String> = sig.lines().map(str::to_owned).collect();
    let mut bin = base64::engine::general_purpose::STANDARD.decode(&lines[1]).unwrap();
    edit(&mut bin);
    lines[1] = base64::engine::general_purpose::STANDARD.encode(bin);
    lines.join("\n") + "\n"
}
