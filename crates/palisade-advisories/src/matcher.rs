//! Matching advisories against what stores have installed.
//!
//! Installs are grouped by package and then by version, so each distinct (package, version) is evaluated once
//! against the advisories of that package only, and a hit fans out to every store on that version. A full
//! rematch is therefore proportional to (distinct versions × advisories per package) plus the matches, not to
//! stores × advisories; one new advisory touches only the installs of the packages it names.

use std::collections::HashMap;

use palisade_core::StoreId;

use crate::advisory::{Advisory, Affected, Package};
use crate::db::AdvisoryDb;
use crate::version::Version;

/// One store's installed package at one version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Install {
    /// The store.
    pub store: StoreId,
    /// The package (an extension, or the core).
    pub package: Package,
    /// The installed version.
    pub version: Version,
}

/// The stores on one version of one package.
#[derive(Debug, Clone)]
struct VersionGroup {
    version: Version,
    stores: Vec<StoreId>,
}

/// Installs grouped by package, then version.
#[derive(Debug, Default)]
pub struct InstallIndex {
    packages: HashMap<Package, Vec<VersionGroup>>,
    len: usize,
}

impl InstallIndex {
    /// Groups the given installs.
    #[must_use]
    pub fn new(installs: impl IntoIterator<Item = Install>) -> Self {
        let mut grouped: HashMap<Package, HashMap<Version, Vec<StoreId>>> = HashMap::new();
        let mut len = 0;
        for install in installs {
            grouped.entry(install.package).or_default().entry(install.version).or_default().push(install.store);
            len += 1;
        }
        let packages = grouped
            .into_iter()
            .map(|(package, versions)| {
                let groups = versions.into_iter().map(|(version, stores)| VersionGroup { version, stores }).collect();
                (package, groups)
            })
            .collect();
        Self { packages, len }
    }

    /// Adds one install (a store installed or updated an extension).
    pub fn insert(&mut self, install: Install) {
        let groups = self.packages.entry(install.package).or_default();
        match groups.iter_mut().find(|g| g.version == install.version) {
            Some(group) => group.stores.push(install.store),
            None => groups.push(VersionGroup { version: install.version, stores: vec![install.store] }),
        }
        self.len += 1;
    }

    /// Removes one install; returns whether it was there.
    pub fn remove(&mut self, install: &Install) -> bool {
        let Some(groups) = self.packages.get_mut(&install.package) else { return false };
        let Some(group) = groups.iter_mut().find(|g| g.version == install.version) else { return false };
        let Some(at) = group.stores.iter().position(|s| *s == install.store) else { return false };
        group.stores.swap_remove(at);
        self.len -= 1;
        true
    }

    /// How many installs are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no install is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many distinct (package, version) pairs there are: the number of evaluations per advisory in a full
    /// rematch.
    #[must_use]
    pub fn distinct_versions(&self) -> usize {
        self.packages.values().map(Vec::len).sum()
    }
}

/// One store affected by one advisory through one installed package version.
#[derive(Debug, Clone, Copy)]
pub struct Match<'a> {
    /// The affected store.
    pub store: StoreId,
    /// The advisory.
    pub advisory: &'a Advisory,
    /// The advisory's entry that matched (its package, and its severity via [`Advisory::rating_for`]).
    pub affected: &'a Affected,
    /// The installed version.
    pub version: &'a Version,
}

impl Match<'_> {
    /// The rating that applies to this match (the entry's own severity, else the record's).
    #[must_use]
    pub fn rating(&self) -> Option<crate::severity::Rating> {
        self.advisory.rating_for(self.affected)
    }
}

/// Every (store, advisory) match: the full rematch after a feed refresh.
#[must_use]
pub fn rematch_all<'a>(db: &'a AdvisoryDb, installs: &'a InstallIndex) -> Vec<Match<'a>> {
    let mut matches = Vec::new();
    for (package, entries) in db.packages() {
        let Some(groups) = installs.packages.get(package) else { continue };
        for group in groups {
            db.for_each_affecting(entries, &group.version, |advisory, affected| {
                fan_out(&mut matches, group, advisory, affected);
            });
        }
    }
    matches
}

/// The matches of one advisory (a new or updated record), touching only the packages it names. A withdrawn
/// advisory matches nothing.
#[must_use]
pub fn match_advisory<'a>(advisory: &'a Advisory, installs: &'a InstallIndex) -> Vec<Match<'a>> {
    let mut matches = Vec::new();
    if advisory.is_withdrawn() {
        return matches;
    }
    let mut seen: Vec<&Package> = Vec::new();
    for affected in &advisory.affected {
        if !affected.package.ecosystem.is_semver() || seen.contains(&&affected.package) {
            continue;
        }
        seen.push(&affected.package);
        let Some(groups) = installs.packages.get(&affected.package) else { continue };
        let same_package: Vec<&Affected> = advisory.affected.iter().filter(|a| a.package == affected.package).collect();
        for group in groups {
            if let Some(hit) = same_package.iter().find(|a| a.includes(&group.version)) {
                fan_out(&mut matches, group, advisory, hit);
            }
        }
    }
    matches
}

/// The advisories affecting one install (a store just installed or updated an extension).
#[must_use]
pub fn match_install<'a>(db: &'a AdvisoryDb, install: &Install) -> Vec<&'a Advisory> {
    db.affecting(&install.package, &install.version)
}

fn fan_out<'a>(matches: &mut Vec<Match<'a>>, group: &'a VersionGroup, advisory: &'a Advisory, affected: &'a Affected) {
    matches.extend(group.stores.iter().map(|store| Match {
        store: *store,
        advisory,
        affected,
        version: &group.version,
    }));
}
