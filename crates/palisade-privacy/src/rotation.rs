//! KEK rotation: re-wrap every store's DEK under a new KEK version, online, and retire the old version only
//! after a counted 100 %.
//!
//! The unit of work is one wrapped-DEK record, and re-wrapping is idempotent (a record already on the target
//! version is left alone), so a rotation can stop anywhere — a crash, a deploy, a kill — and simply run again:
//! every record is on the old or the new version, both versions are held until retirement, so nothing is ever
//! unreadable mid-way. The caller writes each re-wrapped record with a conditional update (`WHERE kek_version =
//! old`) so a concurrent writer is never overwritten. [`Progress::cursor`] lets a resumed run skip ahead instead
//! of re-reading from the start; skipping nothing is also correct, just slower.

use std::collections::BTreeMap;

use palisade_core::ids::StoreId;

use crate::envelope::{CryptoError, KekVersion, KeyEncryptionKeys, LocalKeks, WrappedDek};

/// What one re-wrap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rewrap {
    /// The record was already on the target version: nothing to write (what makes re-runs safe).
    AlreadyCurrent,
    /// The record re-wrapped under the target version: write it back (conditionally on the old version).
    Rewrapped(WrappedDek),
}

/// Re-wraps one DEK record under `target`. The new wrapping is unwrapped once before it is returned, so a record
/// that would not read back is never handed to the caller to store.
pub fn rewrap(keks: &dyn KeyEncryptionKeys, record: &WrappedDek, target: KekVersion) -> Result<Rewrap, CryptoError> {
    if record.kek_version == target {
        return Ok(Rewrap::AlreadyCurrent);
    }
    let dek = record.unwrap_key(keks)?;
    let fresh = dek.wrap(keks, target)?;
    fresh.unwrap_key(keks)?;
    Ok(Rewrap::Rewrapped(fresh))
}

/// How far a rotation has got: counts for the progress report and a cursor to resume from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Records looked at.
    pub seen: u64,
    /// Records re-wrapped by this run.
    pub rewrapped: u64,
    /// Records that were already on the target version.
    pub already_current: u64,
    /// Records that failed (left as they were, still readable under their old version).
    pub failed: u64,
    /// The last store whose record was handled successfully; a resumed run reads stores after it (records in
    /// store-id order). A failed record does not move the cursor, so a resume tries it again.
    pub cursor: Option<StoreId>,
}

/// A rotation run towards one KEK version: feed it records in store-id order, write back what it returns.
pub struct Rotation<'k> {
    keks: &'k dyn KeyEncryptionKeys,
    target: KekVersion,
    progress: Progress,
    cursor_blocked: bool,
}

impl std::fmt::Debug for Rotation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rotation").field("target", &self.target).field("progress", &self.progress).finish()
    }
}

impl<'k> Rotation<'k> {
    /// A fresh run towards `target`.
    #[must_use]
    pub fn new(keks: &'k dyn KeyEncryptionKeys, target: KekVersion) -> Self {
        Self::resume(keks, target, Progress::default())
    }

    /// Continues a run that stopped, from its saved progress.
    #[must_use]
    pub fn resume(keks: &'k dyn KeyEncryptionKeys, target: KekVersion, progress: Progress) -> Self {
        Self { keks, target, progress, cursor_blocked: false }
    }

    /// The version this run moves records to.
    #[must_use]
    pub fn target(&self) -> KekVersion {
        self.target
    }

    /// Handles one record. On error the record is untouched (and still readable); the run can carry on with the
    /// next one and the failure is counted.
    pub fn step(&mut self, record: &WrappedDek) -> Result<Rewrap, CryptoError> {
        self.progress.seen = self.progress.seen.saturating_add(1);
        match rewrap(self.keks, record, self.target) {
            Ok(outcome) => {
                match outcome {
                    Rewrap::AlreadyCurrent => {
                        self.progress.already_current = self.progress.already_current.saturating_add(1);
                    }
                    Rewrap::Rewrapped(_) => self.progress.rewrapped = self.progress.rewrapped.saturating_add(1),
                }
                if !self.cursor_blocked {
                    self.progress.cursor = Some(record.store);
                }
                Ok(outcome)
            }
            Err(error) => {
                self.progress.failed = self.progress.failed.saturating_add(1);
                // The cursor must not pass a failed record, or a resume would skip it.
                self.cursor_blocked = true;
                Err(error)
            }
        }
    }

    /// The run as a lazy iterator over `records` (a database cursor, a page, a `Vec`): each item is the record
    /// as read and what to do with it. Dropping the iterator stops the run between two records; `progress()`
    /// then says how far it got.
    pub fn over<I>(&mut self, records: I) -> impl Iterator<Item = (WrappedDek, Result<Rewrap, CryptoError>)>
    where
        I: IntoIterator<Item = WrappedDek>,
    {
        records.into_iter().map(move |record| {
            let outcome = self.step(&record);
            (record, outcome)
        })
    }

    /// Progress so far (save it to resume after a stop).
    #[must_use]
    pub fn progress(&self) -> Progress {
        self.progress
    }
}

/// A count of every wrapped DEK by KEK version, taken by reading all of them: the only way to a
/// [`RetirementPermit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Census {
    target: KekVersion,
    total: u64,
    by_version: BTreeMap<KekVersion, u64>,
}

/// Why an old KEK version may not be retired yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetireRefusal {
    /// Some records are not on the new version yet (they would become unreadable).
    #[error("{remaining} of {total} data keys are not yet on {target}")]
    NotMigrated {
        /// Records still on another version.
        remaining: u64,
        /// Records counted.
        total: u64,
        /// The version they must all be on.
        target: KekVersion,
    },
    /// Retiring the version everything is being moved to makes no sense.
    #[error("{0} is the rotation's target, not an old version")]
    IsTarget(KekVersion),
    /// The version is still the current one (new DEKs are wrapped under it).
    #[error("{0} is still the current key-encryption key")]
    StillCurrent(KekVersion),
    /// The permit's census was counted towards a version that is no longer current.
    #[error("the census counted towards {counted}, but the current version is {current}")]
    StaleCensus {
        /// The census target.
        counted: KekVersion,
        /// The provider's current version.
        current: KekVersion,
    },
    /// The version is not held (already retired, or never added).
    #[error("{0} is not held")]
    Unknown(KekVersion),
}

impl Census {
    /// Counts `records` (all of them: the caller streams the whole table) towards `target`.
    pub fn count<'a>(target: KekVersion, records: impl IntoIterator<Item = &'a WrappedDek>) -> Self {
        let mut by_version = BTreeMap::new();
        let mut total = 0u64;
        for record in records {
            total = total.saturating_add(1);
            let n: &mut u64 = by_version.entry(record.kek_version).or_default();
            *n = n.saturating_add(1);
        }
        Self { target, total, by_version }
    }

    /// Records counted.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Records on the target version.
    #[must_use]
    pub fn on_target(&self) -> u64 {
        self.by_version.get(&self.target).copied().unwrap_or(0)
    }

    /// Per-version counts (for the progress report and the matrix control "encrypted under the current key").
    #[must_use]
    pub fn by_version(&self) -> &BTreeMap<KekVersion, u64> {
        &self.by_version
    }

    /// Grants retirement of `old` only when 100 % of the counted records are on the target version.
    pub fn permit_retirement(&self, old: KekVersion) -> Result<RetirementPermit, RetireRefusal> {
        if old == self.target {
            return Err(RetireRefusal::IsTarget(old));
        }
        let remaining = self.total.saturating_sub(self.on_target());
        if remaining > 0 {
            return Err(RetireRefusal::NotMigrated { remaining, total: self.total, target: self.target });
        }
        Ok(RetirementPermit { retired: old, target: self.target, counted: self.total })
    }
}

/// Proof that a census found every record on `target`: the only argument [`LocalKeks::retire`] takes. It has no
/// public constructor, so skipping the count does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetirementPermit {
    retired: KekVersion,
    target: KekVersion,
    counted: u64,
}

impl RetirementPermit {
    /// The version this permit retires.
    #[must_use]
    pub fn retired(&self) -> KekVersion {
        self.retired
    }

    /// How many records the census counted (for the audit log).
    #[must_use]
    pub fn counted(&self) -> u64 {
        self.counted
    }
}

impl LocalKeks {
    /// Retires (drops and zeroizes) a KEK version under a census permit. Refused if the version is still
    /// current, if the census was counted towards a version that is no longer current (records wrapped since
    /// might be on the old one), or if it is not held.
    pub fn retire(&mut self, permit: &RetirementPermit) -> Result<(), RetireRefusal> {
        let current = self.current();
        if permit.retired == current {
            return Err(RetireRefusal::StillCurrent(current));
        }
        if permit.target != current {
            return Err(RetireRefusal::StaleCensus { counted: permit.target, current });
        }
        if self.remove(permit.retired) { Ok(()) } else { Err(RetireRefusal::Unknown(permit.retired)) }
    }
}

#[cfg(test)]
#[path = "rotation_tests.rs"]
mod tests;
