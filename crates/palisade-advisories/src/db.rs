//! The set of known advisories, indexed by affected package.
//!
//! One record per id: a record replaces the held one only when its `modified` is newer, so replaying an old
//! feed (or a directory holding an older copy) cannot roll an advisory back. Withdrawn advisories are held (so
//! that the withdrawal itself is not rolled back) but not indexed, so they never match.

use std::collections::HashMap;

use crate::advisory::{Advisory, Affected, Package};
use crate::version::Version;

/// Position of an advisory in the database (stable: replacing a record keeps its slot).
pub(crate) type Slot = u32;

/// What [`AdvisoryDb::upsert`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// A new id.
    Inserted,
    /// Replaced an older record with the same id.
    Replaced,
    /// Ignored: the held record is as new or newer.
    Stale,
}

/// Advisories by id, and (advisory, affected entry) pairs by package for matching.
#[derive(Debug, Default)]
pub struct AdvisoryDb {
    advisories: Vec<Advisory>,
    by_id: HashMap<String, Slot>,
    /// Per package: (advisory slot, index into its `affected`), sorted by slot so that one advisory's entries
    /// for a package are adjacent (an advisory matches a version once, however many entries name the package).
    by_package: HashMap<Package, Vec<(Slot, u32)>>,
}

impl AdvisoryDb {
    /// An empty database.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a record, or replaces the held one with the same id if this one's `modified` is newer.
    pub fn upsert(&mut self, advisory: Advisory) -> Upsert {
        match self.by_id.get(&advisory.id).copied() {
            None => {
                let Ok(slot) = Slot::try_from(self.advisories.len()) else {
                    // Four billion advisories: refuse rather than wrap (unreachable within any memory budget).
                    return Upsert::Stale;
                };
                index(&mut self.by_package, slot, &advisory);
                self.by_id.insert(advisory.id.clone(), slot);
                self.advisories.push(advisory);
                Upsert::Inserted
            }
            Some(slot) => {
                let Some(held) = self.advisories.get_mut(slot as usize) else {
                    return Upsert::Stale;
                };
                if advisory.modified <= held.modified {
                    return Upsert::Stale;
                }
                let old = std::mem::replace(held, advisory);
                unindex(&mut self.by_package, slot, &old);
                if let Some(new) = self.advisories.get(slot as usize) {
                    index(&mut self.by_package, slot, new);
                }
                Upsert::Replaced
            }
        }
    }

    /// The record with this id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Advisory> {
        self.by_id.get(id).and_then(|slot| self.advisories.get(*slot as usize))
    }

    /// Every held record, withdrawn ones included.
    pub fn iter(&self) -> impl Iterator<Item = &Advisory> {
        self.advisories.iter()
    }

    /// How many records are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.advisories.len()
    }

    /// Whether no record is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.advisories.is_empty()
    }

    /// Advisories affecting one package at one version (e.g. the running Palisade core), each once.
    #[must_use]
    pub fn affecting(&self, package: &Package, v: &Version) -> Vec<&Advisory> {
        let mut found = Vec::new();
        self.for_each_affecting(self.entries(package), v, |advisory, _| found.push(advisory));
        found
    }

    /// The indexed (advisory, affected) pairs of a package.
    pub(crate) fn entries(&self, package: &Package) -> &[(Slot, u32)] {
        self.by_package.get(package).map_or(&[], Vec::as_slice)
    }

    /// Packages that have at least one live advisory.
    pub(crate) fn packages(&self) -> impl Iterator<Item = (&Package, &[(Slot, u32)])> {
        self.by_package.iter().map(|(p, e)| (p, e.as_slice()))
    }

    /// Calls `found` once per advisory among `entries` whose entries include `v` (the first matching entry).
    pub(crate) fn for_each_affecting<'a>(
        &'a self,
        entries: &[(Slot, u32)],
        v: &Version,
        mut found: impl FnMut(&'a Advisory, &'a Affected),
    ) {
        let mut last_hit: Option<Slot> = None;
        for (slot, i) in entries {
            if last_hit == Some(*slot) {
                continue;
            }
            let Some(advisory) = self.advisories.get(*slot as usize) else { continue };
            let Some(affected) = advisory.affected.get(*i as usize) else { continue };
            if affected.includes(v) {
                last_hit = Some(*slot);
                found(advisory, affected);
            }
        }
    }
}

fn index(by_package: &mut HashMap<Package, Vec<(Slot, u32)>>, slot: Slot, advisory: &Advisory) {
    if advisory.is_withdrawn() {
        return;
    }
    for (i, affected) in advisory.affected.iter().enumerate() {
        if !affected.package.ecosystem.is_semver() {
            continue;
        }
        let Ok(i) = u32::try_from(i) else { continue };
        let entries = by_package.entry(affected.package.clone()).or_default();
        let at = entries.partition_point(|e| *e <= (slot, i));
        entries.insert(at, (slot, i));
    }
}

fn unindex(by_package: &mut HashMap<Package, Vec<(Slot, u32)>>, slot: Slot, advisory: &Advisory) {
    for affected in &advisory.affected {
        if let Some(entries) = by_package.get_mut(&affected.package) {
            entries.retain(|(s, _)| *s != slot);
            if entries.is_empty() {
                by_package.remove(&affected.package);
            }
        }
    }
}
