//! `backup verify`: structure and stored hashes of every chunk (no key needed), and with `--read-data` every
//! chunk decrypted, decompressed and checked against its keyed id.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::format::{Facts, Manifest};
use crate::keys::Identity;
use crate::progress::{Progress, Unit};
use crate::read::{check_stored, open_chunk};
use crate::repo::Repository;

/// One thing wrong, precisely.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    pub snapshot: String,
    pub problem: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub snapshots: u64,
    pub chunks: u64,
    pub bytes_read: u64,
    pub read_data: bool,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    #[must_use]
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.snapshots > 0
    }
}

/// Verifies `only` (one snapshot id) or every snapshot. With an identity, reads all data.
pub async fn verify(
    repo: &Repository,
    only: Option<&str>,
    identity: Option<&Identity>,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let mut report = VerifyReport { read_data: identity.is_some(), ..VerifyReport::default() };
    let key = match identity {
        Some(identity) => Some(repo.chunk_key(identity).await?),
        None => None,
    };
    let manifests: Vec<Manifest> = match only {
        Some(id) => vec![repo.manifest(id).await?],
        None => {
            let mut good = Vec::new();
            for m in repo.manifests().await? {
                match m {
                    Ok(m) => good.push(m),
                    Err(e) => report.problems.push(Problem { snapshot: "?".into(), problem: e.to_string() }),
                }
            }
            good
        }
    };
    // Each chunk is read once however many snapshots share it; problems are reported for every snapshot.
    let mut needed: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, manifest) in manifests.iter().enumerate() {
        report.snapshots += 1;
        for file in &manifest.files {
            let mut sum = 0u64;
            for chunk in &file.chunks {
                match manifest.chunks.get(chunk) {
                    Some(c) => sum += c.size,
                    None => report.problems.push(Problem {
                        snapshot: manifest.id.clone(),
                        problem: format!(
                            "{}: refers to chunk {} that the manifest does not describe",
                            file.path, chunk
                        ),
                    }),
                }
                needed.entry(chunk.clone()).or_default().push((i, file.path.clone()));
            }
            if sum != file.size {
                report.problems.push(Problem {
                    snapshot: manifest.id.clone(),
                    problem: format!("{}: chunks add up to {sum} bytes, the file had {}", file.path, file.size),
                });
            }
        }
        if let Some(identity) = identity
            && let Err(e) = open_facts(manifest, identity)
        {
            report.problems.push(Problem { snapshot: manifest.id.clone(), problem: e.to_string() });
        }
    }
    let phase = if identity.is_some() { "reading data" } else { "checking chunks" };
    progress.phase(phase, Some(needed.len() as u64), Unit::Chunks);
    for (id, users) in &needed {
        let Some(&(first, ref file)) = users.first() else { continue };
        let Some(chunk) = manifests.get(first).and_then(|m| m.chunks.get(id)) else { continue };
        let stored = repo.get_chunk(id).await?;
        report.chunks += 1;
        report.bytes_read += stored.as_ref().map_or(0, |s| s.len() as u64);
        let mut outcome = check_stored(id, file, chunk, stored.as_ref());
        if outcome.is_ok()
            && let (Some(identity), Some(key), Some(stored)) = (identity, &key, &stored)
        {
            outcome = open_chunk(id, file, chunk, stored, identity, key).map(|_| ());
        }
        if let Err(e) = outcome {
            let mut seen = std::collections::BTreeSet::new();
            for (i, _) in users {
                if let Some(m) = manifests.get(*i)
                    && seen.insert(m.id.clone())
                {
                    report.problems.push(Problem { snapshot: m.id.clone(), problem: e.to_string() });
                }
            }
        }
        progress.advance(1);
    }
    Ok(report)
}

/// The per-table facts sealed in a manifest.
pub fn open_facts(manifest: &Manifest, identity: &Identity) -> Result<Facts> {
    let sealed = hex::decode(&manifest.sealed_facts)
        .map_err(|e| BackupError::BadManifest { id: manifest.id.clone(), reason: format!("sealed facts: {e}") })?;
    let plain = identity.open(&sealed, &format!("the table facts of snapshot {}", manifest.id))?;
    serde_json::from_slice(&plain)
        .map_err(|e| BackupError::BadManifest { id: manifest.id.clone(), reason: format!("sealed facts: {e}") })
}
