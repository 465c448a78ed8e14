//! Packages: a gzip-compressed tar archive holding the manifest and the files it names.
//!
//! A package is read entirely in memory and never extracted to disk by this crate, but it is checked as if it
//! would be, because a later step (or an operator with `tar xf`) might: only regular files and directories,
//! every path a [`PackagePath`] (no traversal, no absolute path, no hidden file), no name twice (not even in
//! another letter case, which collides on case-insensitive file systems), no file where another file needs a
//! directory, and hard caps on the compressed size, the unpacked size, each entry's size and the entry count, so
//! a gzip or tar bomb stops at the cap instead of filling memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256 as Sha256Hasher};

use crate::manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, ManifestError};
use crate::names::{NameError, PackagePath};

/// Largest package accepted, compressed (what is uploaded and signed).
pub const MAX_PACKAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest total of the unpacked archive (tar headers included).
pub const MAX_UNPACKED_BYTES: usize = 32 * 1024 * 1024;
/// Largest single file.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most entries (files and directories).
pub const MAX_ENTRIES: usize = 1000;

/// The first bytes of every WebAssembly binary module.
const WASM_MAGIC: &[u8] = b"\0asm";

/// A SHA-256 digest, shown and serialised as lower-case hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sha256(pub [u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    #[must_use]
    pub fn of(bytes: &[u8]) -> Sha256 {
        Sha256(Sha256Hasher::digest(bytes).into())
    }

    /// Parses 64 hex digits.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Sha256> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok().map(|()| Sha256(out))
    }

    /// Lower-case hex.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Sha256 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Sha256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Sha256::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

/// Why a package was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackageError {
    #[error("the package is larger than {MAX_PACKAGE_BYTES} bytes")]
    TooLarge,
    #[error("the package is not a gzip-compressed tar archive: {0}")]
    Malformed(String),
    #[error("the package has data after its gzip stream")]
    TrailingData,
    #[error("the package unpacks to more than {MAX_UNPACKED_BYTES} bytes (a compression bomb?)")]
    Bomb,
    #[error("the package has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("`{path}` is larger than {MAX_FILE_BYTES} bytes")]
    OversizedEntry { path: String },
    #[error("`{path}`: only regular files and directories are allowed (no links, devices or sparse files)")]
    ForbiddenEntryType { path: String },
    #[error("an entry's path is refused: {reason}")]
    BadPath { reason: NameError },
    #[error("`{path}` appears twice (letter case ignored)")]
    DuplicateEntry { path: String },
    #[error("`{path}` is a file but another entry needs it to be a directory")]
    FileDirectoryClash { path: String },
    #[error("the package has no {MANIFEST_FILE} at its root")]
    MissingManifest,
    #[error("manifest: {0}")]
    Manifest(#[from] ManifestError),
    #[error("the manifest names `{path}`, which is not in the package")]
    MissingFile { path: String },
    #[error("`{path}` is not a WebAssembly module")]
    NotWasm { path: String },
    #[error("the theme directory `{path}` holds no files")]
    EmptyTheme { path: String },
    #[error("`{path}` is not part of the theme, the plugin or the manifest")]
    UndeclaredFile { path: String },
}

impl PackageError {
    /// A stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            PackageError::TooLarge => "package_too_large",
            PackageError::Malformed(_) => "package_malformed",
            PackageError::TrailingData => "package_trailing_data",
            PackageError::Bomb => "package_bomb",
            PackageError::TooManyEntries => "package_too_many_entries",
            PackageError::OversizedEntry { .. } => "package_oversized_entry",
            PackageError::ForbiddenEntryType { .. } => "package_forbidden_entry_type",
            PackageError::BadPath { .. } => "package_bad_path",
            PackageError::DuplicateEntry { .. } => "package_duplicate_entry",
            PackageError::FileDirectoryClash { .. } => "package_file_directory_clash",
            PackageError::MissingManifest => "package_missing_manifest",
            PackageError::Manifest(e) => e.code(),
            PackageError::MissingFile { .. } => "package_missing_file",
            PackageError::NotWasm { .. } => "package_not_wasm",
            PackageError::EmptyTheme { .. } => "package_empty_theme",
            PackageError::UndeclaredFile { .. } => "package_undeclared_file",
        }
    }
}

/// One file of a package, with its content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    pub sha256: Sha256,
    pub bytes: Vec<u8>,
}

/// A checked package: its manifest, its files, and the digest and length of the archive as uploaded (what the
/// catalog pins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub manifest: Manifest,
    pub files: BTreeMap<PackagePath, PackageFile>,
    pub sha256: Sha256,
    pub length: u64,
}

impl Package {
    /// Unpacks and checks an archive. Callers verify the publisher's signature first ([`crate::verify_release`]
    /// does both, in that order) so that unauthenticated bytes never reach the decompressor.
    pub fn parse(archive: &[u8]) -> Result<Package, PackageError> {
        if archive.len() > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge);
        }
        let tar_bytes = gunzip(archive)?;
        let files = read_tar(&tar_bytes)?;
        check_layout(&files)?;
        let manifest_path = PackagePath::parse(MANIFEST_FILE).map_err(|reason| PackageError::BadPath { reason })?;
        let manifest_file = files.get(&manifest_path).ok_or(PackageError::MissingManifest)?;
        if manifest_file.bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge.into());
        }
        let manifest = Manifest::parse(&manifest_file.bytes)?;
        check_contents(&manifest, &files)?;
        Ok(Package {
            manifest,
            files,
            sha256: Sha256::of(archive),
            length: u64::try_from(archive.len()).unwrap_or(u64::MAX),
        })
    }
}

/// Decompresses exactly one gzip member, stopping at [`MAX_UNPACKED_BYTES`].
fn gunzip(archive: &[u8]) -> Result<Vec<u8>, PackageError> {
    let mut decoder = flate2::bufread::GzDecoder::new(archive);
    let mut out = Vec::new();
    let cap = u64::try_from(MAX_UNPACKED_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    (&mut decoder).take(cap).read_to_end(&mut out).map_err(|e| PackageError::Malformed(e.to_string()))?;
    if out.len() > MAX_UNPACKED_BYTES {
        return Err(PackageError::Bomb);
    }
    if !decoder.into_inner().is_empty() {
        return Err(PackageError::TrailingData);
    }
    Ok(out)
}

fn read_tar(tar_bytes: &[u8]) -> Result<BTreeMap<PackagePath, PackageFile>, PackageError> {
    let malformed = |e: std::io::Error| PackageError::Malformed(e.to_string());
    let mut archive = tar::Archive::new(tar_bytes);
    let mut files = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (count, entry) in archive.entries().map_err(malformed)?.enumerate() {
        if count >= MAX_ENTRIES {
            return Err(PackageError::TooManyEntries);
        }
        let mut entry = entry.map_err(malformed)?;
        let raw = entry.path_bytes();
        let text = String::from_utf8_lossy(&raw).into_owned();
        // Directories are written `dir/`; the trailing slash is the only one allowed. `tar -C dir .` writes
        // `./name` and a `./` entry: one leading `./` is dropped (duplicates are still caught after that).
        let kind = entry.header().entry_type();
        let name = if kind.is_dir() { text.strip_suffix('/').unwrap_or(&text) } else { text.as_str() };
        let name = name.strip_prefix("./").unwrap_or(name);
        if std::str::from_utf8(&raw).is_err() {
            return Err(PackageError::BadPath { reason: NameError("a package path is UTF-8") });
        }
        if kind.is_dir() && name == "." {
            continue;
        }
        let path = PackagePath::parse(name).map_err(|reason| PackageError::BadPath { reason })?;
        if !seen.insert(path.as_str().to_ascii_lowercase()) {
            return Err(PackageError::DuplicateEntry { path: path.to_string() });
        }
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(PackageError::ForbiddenEntryType { path: path.to_string() });
        }
        if entry.size() > MAX_FILE_BYTES {
            return Err(PackageError::OversizedEntry { path: path.to_string() });
        }
        let mut bytes = Vec::new();
        (&mut entry).take(MAX_FILE_BYTES.saturating_add(1)).read_to_end(&mut bytes).map_err(malformed)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
            return Err(PackageError::OversizedEntry { path: path.to_string() });
        }
        files.insert(path, PackageFile { sha256: Sha256::of(&bytes), bytes });
    }
    Ok(files)
}

/// No file may sit where another file needs a directory (`theme` and `theme/a.html`), in any letter case.
fn check_layout(files: &BTreeMap<PackagePath, PackageFile>) -> Result<(), PackageError> {
    let lower: BTreeSet<String> = files.keys().map(|p| p.as_str().to_ascii_lowercase()).collect();
    for path in &lower {
        let mut prefix = path.as_str();
        while let Some((parent, _)) = prefix.rsplit_once('/') {
            if lower.contains(parent) {
                return Err(PackageError::FileDirectoryClash { path: parent.to_owned() });
            }
            prefix = parent;
        }
    }
    Ok(())
}

/// The files the manifest names are there and are what they claim; nothing else is smuggled in beside them
/// (root-level README, LICENSE, CHANGELOG and NOTICE files excepted).
fn check_contents(manifest: &Manifest, files: &BTreeMap<PackagePath, PackageFile>) -> Result<(), PackageError> {
    let content = &manifest.content;
    if let Some(plugin) = &content.plugin {
        let module =
            files.get(&plugin.module).ok_or_else(|| PackageError::MissingFile { path: plugin.module.to_string() })?;
        if !module.bytes.starts_with(WASM_MAGIC) {
            return Err(PackageError::NotWasm { path: plugin.module.to_string() });
        }
    }
    if let Some(theme) = &content.theme
        && !files.keys().any(|p| p.is_under(&theme.root))
    {
        return Err(PackageError::EmptyTheme { path: theme.root.to_string() });
    }
    for path in files.keys() {
        let in_theme = content.theme.as_ref().is_some_and(|t| path.is_under(&t.root));
        let is_module = content.plugin.as_ref().is_some_and(|p| &p.module == path);
        let doc = !path.as_str().contains('/')
            && ["README", "LICENSE", "CHANGELOG", "NOTICE"].iter().any(|d| path.as_str().starts_with(d));
        if !(in_theme || is_module || doc || path.as_str() == MANIFEST_FILE) {
            return Err(PackageError::UndeclaredFile { path: path.to_string() });
        }
    }
    Ok(())
}

/// Writes a package archive of `files` (path → contents, the manifest included) as publishers' `tar -czf` does:
/// one gzip member holding regular files, in the given order. For tooling and tests that make releases (the demo,
/// a publisher's CI); the result still goes through [`Package::parse`] like any upload.
pub fn build(files: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, bytes) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, *bytes)?;
    }
    tar.into_inner()?.finish()
}
