//! Validated OSV advisories: parse, don't validate.
//!
//! [`Advisory::from_json`] turns one JSON record into a typed advisory or a [`RecordError`] naming the record,
//! the field (as a path such as `affected[0].ranges[1].events[2]`) and the problem. Refused: a missing or
//! malformed `id` or `modified`, an event naming none or several of introduced/fixed/last_affected/limit, a range
//! with no `introduced`, with both `fixed` and `last_affected`, with `introduced` and `fixed` at one version
//! (their sorted order would be ambiguous) or with a `fixed`/`last_affected` that sorts before every `introduced` (the record's
//! own order contradicts the sorted one), a version that is not SemVer 2.0 in one of Palisade's ecosystems, and
//! a CVSS vector that does not parse.

use std::fmt;

use jiff::Timestamp;

use crate::quote::quote;
use crate::range::{Event, EventKind, Introduced, Limit, OrderedKind, OrderedRange, Range, RawEvent};
use crate::schema::{RawAffected, RawPackage, RawRange, RawRecord, RawSeverity};
use crate::severity::{Rating, Severity, SeverityError};
use crate::version::{Version, VersionError};

/// Longest accepted advisory id.
const MAX_ID_LEN: usize = 128;
/// The one package of the `Palisade` ecosystem: the platform itself.
pub const CORE_PACKAGE: &str = "palisade";
/// Longest accepted package name.
const MAX_NAME_LEN: usize = 200;

/// The package ecosystems Palisade evaluates; any other is kept but never matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ecosystem {
    /// `"Palisade"`: the core platform.
    Palisade,
    /// `"Palisade-Extension"`: extensions, by extension id.
    Extension,
    /// Anything else (`npm`, `crates.io`, …).
    Other(String),
}

impl Ecosystem {
    /// Reads an OSV ecosystem string.
    #[must_use]
    pub fn parse(s: &str) -> Self {
        match s {
            "Palisade" => Self::Palisade,
            "Palisade-Extension" => Self::Extension,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether versions of this ecosystem are SemVer 2.0 and so evaluated.
    #[must_use]
    pub fn is_semver(&self) -> bool {
        matches!(self, Self::Palisade | Self::Extension)
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Palisade => f.write_str("Palisade"),
            Self::Extension => f.write_str("Palisade-Extension"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// An affected package: ecosystem and name (the extension id for extensions).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Package {
    /// Which ecosystem.
    pub ecosystem: Ecosystem,
    /// The package's name in it.
    pub name: String,
}

impl Package {
    /// An extension, by id.
    #[must_use]
    pub fn extension(id: &str) -> Self {
        Self { ecosystem: Ecosystem::Extension, name: id.to_owned() }
    }

    /// The Palisade core.
    #[must_use]
    pub fn core() -> Self {
        Self { ecosystem: Ecosystem::Palisade, name: CORE_PACKAGE.to_owned() }
    }
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ecosystem, self.name)
    }
}

/// One `affected[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Affected {
    /// The package.
    pub package: Package,
    /// `package.purl`, when given.
    pub purl: Option<String>,
    /// Package-level severity (overrides the record's when present).
    pub severity: Vec<Severity>,
    /// The ranges, OR'ed.
    pub ranges: Vec<Range>,
    /// Explicitly listed versions (SemVer ecosystems only).
    pub versions: Vec<Version>,
    /// Listed versions of ecosystems we do not evaluate, kept as stated.
    pub unparsed_versions: Vec<String>,
}

impl Affected {
    /// The specification's `IncludedInVersions(v) || IncludedInRanges(v)`.
    #[must_use]
    pub fn includes(&self, v: &Version) -> bool {
        self.versions.iter().any(|listed| listed == v) || self.ranges.iter().any(|r| r.includes(v))
    }
}

/// A validated OSV record.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// `id`, e.g. `PAL-2026-0001`.
    pub id: String,
    /// `modified`: the newer of two records with one id wins.
    pub modified: Timestamp,
    /// `published`.
    pub published: Option<Timestamp>,
    /// `withdrawn`: a withdrawn advisory never matches.
    pub withdrawn: Option<Timestamp>,
    /// `aliases` (CVE ids …).
    pub aliases: Vec<String>,
    /// `related`.
    pub related: Vec<String>,
    /// `summary`.
    pub summary: Option<String>,
    /// `details` (Markdown; render escaped).
    pub details: Option<String>,
    /// Record-level severity.
    pub severity: Vec<Severity>,
    /// Affected packages.
    pub affected: Vec<Affected>,
}

/// What is wrong with a field of a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// A required field is absent (or null).
    #[error("is required")]
    Missing,
    /// The JSON does not have the OSV shape (wrong type, not an object …).
    #[error("does not have the OSV shape: {0}")]
    Shape(String),
    /// The id is empty, too long or has characters outside `A-Z a-z 0-9 . _ : -`.
    #[error("`{0}` is not a valid advisory id (1–128 of A-Z a-z 0-9 . _ : -)")]
    BadId(String),
    /// A package name is empty, too long or holds control characters.
    #[error("is not a valid package name (1–200 characters, no control characters)")]
    BadName,
    /// An ecosystem spelled almost like one of ours (`palisade-extension`, `Palisade:core` …).
    #[error("`{0}` is not an ecosystem; Palisade's are `Palisade` and `Palisade-Extension` (exact spelling)")]
    NearMissEcosystem(String),
    /// The `Palisade` ecosystem has one package.
    #[error("must be `palisade` in the `Palisade` ecosystem")]
    CoreName,
    /// Not an RFC 3339 timestamp.
    #[error("`{0}` is not an RFC 3339 timestamp")]
    BadTimestamp(String),
    /// Not a SemVer 2.0 version.
    #[error(transparent)]
    BadVersion(#[from] VersionError),
    /// An event must name exactly one known kind.
    #[error("an event must have exactly one of introduced, fixed, last_affected, limit (found: {0})")]
    EventKeys(String),
    /// A range needs an `introduced` event.
    #[error("a range needs at least one `introduced` event")]
    NoIntroduced,
    /// The specification forbids `fixed` and `last_affected` in one range.
    #[error("a range may hold `fixed` or `last_affected` events, not both")]
    FixedAndLastAffected,
    /// `introduced` and `fixed` at one version.
    #[error("`introduced` and `fixed` at version {0}: their sorted order would be ambiguous")]
    SameVersion(String),
    /// A closing event sorts before every `introduced`.
    #[error("`{kind}` {version} sorts before every `introduced` (bad event order)")]
    ClosesNothing {
        /// `fixed` or `last_affected`.
        kind: &'static str,
        /// Its version.
        version: String,
    },
    /// A CVSS vector that does not parse.
    #[error(transparent)]
    BadSeverity(#[from] SeverityError),
}

/// A refused record: which one, which field, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("advisory {}: `{field}` {problem}", id.as_deref().unwrap_or("(no id)"))]
pub struct RecordError {
    /// The record's id when it had a usable one.
    pub id: Option<String>,
    /// The JSON path of the field, e.g. `affected[0].ranges[1].events[2]`.
    pub field: String,
    /// What is wrong with it.
    pub problem: Problem,
}

/// Errors while building one record, before the id is attached.
type FieldResult<T> = Result<T, (String, Problem)>;

impl Advisory {
    /// Validates one OSV record given as JSON.
    ///
    /// # Errors
    /// [`RecordError`] naming the first offending field.
    pub fn from_json(value: serde_json::Value) -> Result<Self, RecordError> {
        // Only an id that passes the id check is quoted back: anything else could carry control characters.
        let id_hint =
            value.get("id").and_then(serde_json::Value::as_str).filter(|s| check_id(s).is_ok()).map(str::to_owned);
        let raw: RawRecord = serde_path_to_error::deserialize(value).map_err(|e| RecordError {
            id: id_hint.clone(),
            field: quote(&e.path().to_string(), 200),
            problem: Problem::Shape(quote(&e.into_inner().to_string(), 200)),
        })?;
        Self::from_raw(raw).map_err(|(field, problem)| {
            let id = if matches!(problem, Problem::BadId(_)) { None } else { id_hint };
            RecordError { id, field: quote(&field, 200), problem }
        })
    }

    /// The highest rating that applies to `affected` (its own severities if it has any, else the record's).
    #[must_use]
    pub fn rating_for(&self, affected: &Affected) -> Option<Rating> {
        let list = if affected.severity.is_empty() { &self.severity } else { &affected.severity };
        list.iter().filter_map(|s| s.score.map(|score| score.rating)).max()
    }

    /// Whether this advisory was withdrawn (withdrawn advisories never match).
    #[must_use]
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// The specification's `IsVulnerable(pkg, v)`, false when withdrawn.
    #[must_use]
    pub fn affects(&self, package: &Package, v: &Version) -> bool {
        !self.is_withdrawn() && self.affected.iter().any(|a| &a.package == package && a.includes(v))
    }

    fn from_raw(raw: RawRecord) -> FieldResult<Self> {
        let id = raw.id.ok_or_else(|| ("id".to_owned(), Problem::Missing))?;
        check_id(&id).map_err(|p| ("id".to_owned(), p))?;
        let modified =
            timestamp("modified", raw.modified.as_deref())?.ok_or_else(|| ("modified".to_owned(), Problem::Missing))?;
        let published = timestamp("published", raw.published.as_deref())?;
        let withdrawn = timestamp("withdrawn", raw.withdrawn.as_deref())?;
        let severity = severities("severity", raw.severity)?;
        let affected = raw
            .affected
            .into_iter()
            .enumerate()
            .map(|(i, a)| affected(&format!("affected[{i}]"), a))
            .collect::<FieldResult<Vec<_>>>()?;
        Ok(Self {
            id,
            modified,
            published,
            withdrawn,
            aliases: raw.aliases,
            related: raw.related,
            summary: raw.summary,
            details: raw.details,
            severity,
            affected,
        })
    }
}

fn check_id(id: &str) -> Result<(), Problem> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    let starts_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if id.len() <= MAX_ID_LEN && starts_ok && id.chars().all(ok_char) {
        Ok(())
    } else {
        Err(Problem::BadId(quote(id, MAX_ID_LEN)))
    }
}

fn timestamp(field: &str, value: Option<&str>) -> FieldResult<Option<Timestamp>> {
    value
        .map(|s| s.parse::<Timestamp>().map_err(|_| (field.to_owned(), Problem::BadTimestamp(quote(s, 64)))))
        .transpose()
}

fn severities(field: &str, raw: Vec<RawSeverity>) -> FieldResult<Vec<Severity>> {
    raw.into_iter()
        .enumerate()
        .map(|(i, s)| {
            let path = format!("{field}[{i}]");
            let kind = s.kind.ok_or_else(|| (format!("{path}.type"), Problem::Missing))?;
            let score = s.score.ok_or_else(|| (format!("{path}.score"), Problem::Missing))?;
            Severity::parse(&kind, &score).map_err(|e| (format!("{path}.score"), e.into()))
        })
        .collect()
}

fn package(path: &str, raw: Option<RawPackage>) -> FieldResult<(Package, Option<String>)> {
    let raw = raw.ok_or_else(|| (format!("{path}.package"), Problem::Missing))?;
    let ecosystem = raw.ecosystem.ok_or_else(|| (format!("{path}.package.ecosystem"), Problem::Missing))?;
    let name = raw.name.ok_or_else(|| (format!("{path}.package.name"), Problem::Missing))?;
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err((format!("{path}.package.name"), Problem::BadName));
    }
    let parsed = Ecosystem::parse(&ecosystem);
    // A near miss of our own ecosystems would otherwise be kept as foreign and silently never match: fail closed.
    if matches!(parsed, Ecosystem::Other(_)) && ecosystem.to_ascii_lowercase().starts_with("palisade") {
        return Err((format!("{path}.package.ecosystem"), Problem::NearMissEcosystem(quote(&ecosystem, 64))));
    }
    if parsed == Ecosystem::Palisade && name != CORE_PACKAGE {
        return Err((format!("{path}.package.name"), Problem::CoreName));
    }
    Ok((Package { ecosystem: parsed, name }, raw.purl))
}

fn affected(path: &str, raw: RawAffected) -> FieldResult<Affected> {
    let (package, purl) = package(path, raw.package)?;
    let severity = severities(&format!("{path}.severity"), raw.severity)?;
    let ranges = raw
        .ranges
        .into_iter()
        .enumerate()
        .map(|(i, r)| range(&format!("{path}.ranges[{i}]"), r, &package.ecosystem))
        .collect::<FieldResult<Vec<_>>>()?;
    let (versions, unparsed_versions) = if package.ecosystem.is_semver() {
        let parsed = raw
            .versions
            .iter()
            .enumerate()
            .map(|(i, v)| Version::parse(v).map_err(|e| (format!("{path}.versions[{i}]"), e.into())))
            .collect::<FieldResult<Vec<_>>>()?;
        (parsed, Vec::new())
    } else {
        (Vec::new(), raw.versions)
    };
    Ok(Affected { package, purl, severity, ranges, versions, unparsed_versions })
}

/// Reads each event's single key; checks the rules that hold for every range type.
fn raw_events(path: &str, raw: Vec<std::collections::BTreeMap<String, String>>) -> FieldResult<Vec<RawEvent>> {
    let events = raw
        .into_iter()
        .enumerate()
        .map(|(i, map)| {
            let mut entries = map.into_iter();
            match (entries.next(), entries.next()) {
                (Some((key, value)), None) => match EventKind::from_key(&key) {
                    Some(kind) => Ok(RawEvent { kind, value }),
                    None => Err((format!("{path}.events[{i}]"), Problem::EventKeys(key_list([&key])))),
                },
                (first, second) => {
                    let keys: Vec<String> = first.into_iter().chain(second).chain(entries).map(|(k, _)| k).collect();
                    Err((format!("{path}.events[{i}]"), Problem::EventKeys(key_list(&keys))))
                }
            }
        })
        .collect::<FieldResult<Vec<_>>>()?;
    let has = |kind: EventKind| events.iter().any(|e| e.kind == kind);
    if !has(EventKind::Introduced) {
        return Err((format!("{path}.events"), Problem::NoIntroduced));
    }
    if has(EventKind::Fixed) && has(EventKind::LastAffected) {
        return Err((format!("{path}.events"), Problem::FixedAndLastAffected));
    }
    Ok(events)
}

fn key_list<S: AsRef<str>>(keys: impl IntoIterator<Item = S>) -> String {
    let list: Vec<String> = keys.into_iter().map(|k| format!("`{}`", quote(k.as_ref(), 40))).collect();
    if list.is_empty() { "none".to_owned() } else { list.join(", ") }
}

fn range(path: &str, raw: RawRange, ecosystem: &Ecosystem) -> FieldResult<Range> {
    let kind = raw.kind.ok_or_else(|| (format!("{path}.type"), Problem::Missing))?;
    let events = raw_events(path, raw.events)?;
    let ordered = match kind.as_str() {
        "SEMVER" => Some(OrderedKind::Semver),
        "ECOSYSTEM" => Some(OrderedKind::Ecosystem),
        _ => None,
    };
    match ordered {
        Some(ordered) if ecosystem.is_semver() => ordered_range(path, ordered, &events).map(Range::Ordered),
        _ => Ok(Range::Unevaluated { kind, repo: raw.repo, events }),
    }
}

/// Parses the versions of a SEMVER/ECOSYSTEM range, sorts its timeline and checks the order rules.
fn ordered_range(path: &str, kind: OrderedKind, events: &[RawEvent]) -> FieldResult<OrderedRange> {
    let mut timeline = Vec::with_capacity(events.len());
    let mut limits = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let field = || format!("{path}.events[{i}].{}", e.kind.key());
        let parse = |s: &str| Version::parse(s).map_err(|err| (field(), Problem::from(err)));
        match e.kind {
            EventKind::Introduced if e.value == "0" => timeline.push(Event::Introduced(Introduced::Zero)),
            EventKind::Introduced => timeline.push(Event::Introduced(Introduced::At(parse(&e.value)?))),
            EventKind::Fixed => timeline.push(Event::Fixed(parse(&e.value)?)),
            EventKind::LastAffected => timeline.push(Event::LastAffected(parse(&e.value)?)),
            EventKind::Limit if e.value.contains('*') => limits.push(Limit::Infinity),
            EventKind::Limit => limits.push(Limit::Below(parse(&e.value)?)),
        }
    }
    timeline.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()).then(a.rank().cmp(&b.rank())));
    check_order(path, &timeline)?;
    Ok(OrderedRange { kind, timeline, limits })
}

fn check_order(path: &str, timeline: &[Event]) -> FieldResult<()> {
    let field = || format!("{path}.events");
    let mut seen_introduced = false;
    let mut previous: Option<&Event> = None;
    for event in timeline {
        if let Some(prev) = previous {
            let tie = prev.sort_key() == event.sort_key();
            if tie && matches!((prev, event), (Event::Introduced(_), Event::Fixed(_))) {
                let shown = event.sort_key().map_or_else(|| "0".to_owned(), ToString::to_string);
                return Err((field(), Problem::SameVersion(shown)));
            }
        }
        previous = Some(event);
        match event {
            Event::Introduced(_) => seen_introduced = true,
            Event::Fixed(v) | Event::LastAffected(v) if !seen_introduced => {
                let kind = if matches!(event, Event::Fixed(_)) { "fixed" } else { "last_affected" };
                return Err((field(), Problem::ClosesNothing { kind, version: v.to_string() }));
            }
            Event::Fixed(_) | Event::LastAffected(_) => {}
        }
    }
    Ok(())
}
