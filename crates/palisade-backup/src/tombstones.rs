//! Erasure tombstones kept in the repository itself, so that erasures outlive the loss of the live database.
//!
//! A restore re-applies the tombstones of the snapshot and of the database it replaces; restored into a *new*
//! directory (the live one is gone) only the snapshot's exist, and anyone erased after it was taken would come
//! back. So every tombstone is also written into each repository as its own small object,
//! `tombstones/<id>.age`: written by every snapshot run (before its manifest) and right after each erasure by
//! the node that made it ([`Journal`]), never deleted by retention, and read by every restore
//! ([`crate::restore`]), which re-applies them with the snapshot's own.
//!
//! An object holds what the `erasure_tombstones` row holds — the account id, the keyed hash of the email (never
//! the email) and the time — as JSON encrypted to the backup recipients (age), so a node can write it and not
//! read it back. `<id>` is a keyed hash of the account id under the chunk key (from the master key): listing the
//! repository reveals no account id, writing is idempotent, and an object planted by someone who can write to
//! the repository but has no master key (the recipients are public) is refused because its name does not match
//! its content. A restore fails closed: an object that cannot be opened, parsed or matched stops it.

use std::collections::BTreeSet;
use std::sync::Arc;

use palisade_commerce::erasure::{self, Tombstone};
use palisade_store::Db;

use crate::error::{BackupError, Result};
use crate::keys::{ChunkKey, Identity, Recipients};
use crate::repo::{Repository, Target};

/// Where tombstone objects live in a repository.
pub const PREFIX: &str = "tombstones";

/// The object name of `account_id`'s tombstone: `tombstones/<64 hex>.age`.
#[must_use]
pub fn object_name(key: &ChunkKey, account_id: &str) -> String {
    format!("{PREFIX}/{}.age", hex::encode(key.tombstone_id(account_id)))
}

/// The names of the tombstone objects stored (only well-formed names: a partial write such as `name#1` is not
/// one).
async fn stored(repo: &Repository) -> Result<BTreeSet<String>> {
    Ok(repo
        .list(PREFIX)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.strip_prefix("tombstones/")
                .and_then(|n| n.strip_suffix(".age"))
                .is_some_and(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .collect())
}

/// Writes every tombstone of `stones` that the repository does not hold yet. Returns how many were written.
pub async fn publish(repo: &Repository, recipients: &Recipients, key: &ChunkKey, stones: &[Tombstone]) -> Result<u64> {
    let have = stored(repo).await?;
    let mut written = 0;
    for stone in stones {
        let name = object_name(key, &stone.account_id);
        if have.contains(&name) {
            continue;
        }
        let json = serde_json::to_vec(stone).map_err(|e| BackupError::Invalid(e.to_string()))?;
        repo.put(&name, recipients.seal(&json)?.into()).await?;
        written += 1;
    }
    Ok(written)
}

/// [`publish`] of every tombstone in `db`.
pub async fn publish_from(db: &Db, repo: &Repository, recipients: &Recipients, key: &ChunkKey) -> Result<u64> {
    let stones = erasure::tombstones(db).await.map_err(|e| BackupError::Erasure(e.to_string()))?;
    publish(repo, recipients, key, &stones).await
}

/// Every tombstone the repository holds (needs the restore identity), in account-id order. Fails on an object
/// that does not open, parse, or match its name: a restore must not go ahead without an erasure it was given.
pub async fn read(repo: &Repository, identity: &Identity, key: &ChunkKey) -> Result<Vec<Tombstone>> {
    let mut out = Vec::new();
    for name in stored(repo).await? {
        let Some(sealed) = repo.get(&name).await? else { continue };
        let plain = identity.open(&sealed, &name)?;
        let stone: Tombstone = serde_json::from_slice(&plain)
            .map_err(|e| BackupError::Erasure(format!("{name} is not a tombstone: {e}")))?;
        if object_name(key, &stone.account_id) != name {
            return Err(BackupError::Erasure(format!(
                "{name} holds another account's tombstone: it was not written by this installation"
            )));
        }
        out.push(stone);
    }
    out.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    Ok(out)
}

/// What a node needs to write tombstones into its repositories right after an erasure: the targets, the
/// recipients and the chunk key (no restore identity: the node cannot read them back).
pub struct Journal {
    targets: Vec<Target>,
    recipients: Arc<Recipients>,
    key: ChunkKey,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let targets: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        f.debug_struct("Journal").field("targets", &targets).finish_non_exhaustive()
    }
}

impl Journal {
    #[must_use]
    pub fn new(targets: Vec<Target>, recipients: Arc<Recipients>, key: ChunkKey) -> Journal {
        Journal { targets, recipients, key }
    }

    /// Writes every tombstone of `db` that a repository lacks into each one (creating a repository that does not
    /// exist yet, as a first backup would). One failing target does not stop the others; each failure is logged
    /// once, by target, and counted. The next snapshot run writes whatever was missed. Returns the failures.
    pub async fn record(&self, db: &Db) -> usize {
        let mut failures = 0;
        for target in &self.targets {
            let written = async {
                let repo = Repository::open_or_init(target, &self.recipients, &self.key, db.now().millis()).await?;
                publish_from(db, &repo, &self.recipients, &self.key).await
            }
            .await;
            match written {
                Ok(n) => {
                    tracing::debug!(backup.target = %target, tombstones.written = n, "erasure tombstones in the repository")
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(backup.target = %target, error = %e, "erasure tombstones could not be written to the repository; the next snapshot retries");
                }
            }
        }
        failures
    }
}
