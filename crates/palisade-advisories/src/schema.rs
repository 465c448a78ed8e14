//! The OSV wire format, as loose as serde needs to read it.
//!
//! These types only carry JSON into Rust; [`crate::advisory`] validates them into the types the rest of the crate
//! trusts. Required fields are `Option` here so that a missing one becomes our own typed error naming the field
//! rather than serde's message. Fields we do not use (`references`, `credits`, `database_specific`,
//! `ecosystem_specific`, …) are skipped by serde's default of ignoring unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One OSV record as read from JSON.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRecord {
    pub id: Option<String>,
    pub modified: Option<String>,
    pub published: Option<String>,
    pub withdrawn: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(default)]
    pub related: Vec<String>,
    pub summary: Option<String>,
    pub details: Option<String>,
    #[serde(default)]
    pub severity: Vec<RawSeverity>,
    #[serde(default)]
    pub affected: Vec<RawAffected>,
}

/// `severity[]` and `affected[].severity[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawSeverity {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub score: Option<String>,
}

/// `affected[]`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawAffected {
    pub package: Option<RawPackage>,
    #[serde(default)]
    pub severity: Vec<RawSeverity>,
    #[serde(default)]
    pub ranges: Vec<RawRange>,
    #[serde(default)]
    pub versions: Vec<String>,
}

/// `affected[].package`.
#[derive(Debug, Deserialize)]
pub(crate) struct RawPackage {
    pub ecosystem: Option<String>,
    pub name: Option<String>,
    pub purl: Option<String>,
}

/// `affected[].ranges[]`. Each event is read as a map so that an event naming two kinds, none, or an unknown
/// one can be refused with a precise message.
#[derive(Debug, Deserialize)]
pub(crate) struct RawRange {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub repo: Option<String>,
    #[serde(default)]
    pub events: Vec<BTreeMap<String, String>>,
}
