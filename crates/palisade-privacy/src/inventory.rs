//! The personal-data inventory (issue #21 item 1): every column of the live schema, classified.
//!
//! The registry ([`REGISTRY`], in `inventory_registry.rs`) names each column of
//! `crates/palisade-store/schema.txt` as personal — with its class, whose data it is, whether an access request
//! exports it, what erasure does to it (and why, when it is kept) and its retention class — or as not personal.
//! Deny by default: [`check`] reports a schema column missing from the registry, a registry entry for a column
//! that no longer exists, and a column whose name looks personal but is marked not personal without a reason.
//! A test runs it against the real schema, so a migration cannot add a column nobody has classified.
//!
//! Rule of thumb used throughout: timestamps, counters and flags on a row about a person are personal only
//! through the row's identifiers; they are marked not personal and go wherever the row goes (exported with it,
//! deleted with it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::breach::DataClass;
pub use crate::inventory_registry::{BREACH_CLASSES, REGISTRY};

/// What kind of personal data a column holds (the classes of issue #21).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Names a person or their account: names, account ids, IP addresses, device and user-agent strings.
    Identifier,
    /// Reaches a person: email addresses, phone numbers.
    Contact,
    /// A postal or delivery address, or a part of one.
    Address,
    /// Payment details: card brand and last four digits, gateway references (never a full card number).
    Payment,
    /// Opens an account: password hashes, token hashes, TOTP secrets, passkeys, recovery codes.
    Credential,
    /// A government identity number (NRIC, FIN, passport) or a document carrying one: only masked forms and
    /// sealed documents (seller verification); full numbers are never stored.
    GovernmentId,
    /// Text a person wrote or that may quote a person: notes, statements, mail bodies, request excerpts.
    FreeText,
}

/// Whose personal data it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Subject {
    /// A shopper (signed in or guest) of a merchant's store.
    Buyer,
    /// A merchant's staff member (owner, admin, staff).
    Staff,
    /// Any account holder on the platform: buyer, staff or operator (`accounts.kind` tells which).
    PlatformAccount,
    /// Someone who holds no account (yet): an invitee, an applicant, a delivery recipient, any web client.
    ThirdParty,
}

/// Whether an access request (PDPA s 21) exports the column to the person it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Export {
    /// Exported.
    Yes,
    /// Not exported: a secret, a derived hash, or data that cannot be tied to the requester with certainty.
    No,
}

/// What erasure (account closure, a withdrawal of consent, the end of retention) does to the column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Erase {
    /// The value is overwritten in place with this replacement; the row stays.
    AnonymiseWith(&'static str),
    /// The whole row is deleted.
    DeleteRow,
    /// The value is kept, for the stated reason, until its retention class ends.
    Keep(&'static str),
}

/// How long a column's rows live, by class (durations are policy, named in [`Retention::describe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Retention {
    /// Short-lived by design: sessions, challenges, reset links, invitations, carts; deleted when expired.
    Expiring,
    /// As long as the account (or membership) lives; erased when it is closed or on request.
    AccountLife,
    /// Transaction records: five years after the end of the financial year of the transaction.
    Transaction5y,
    /// Security telemetry (firewall events and bans): a rolling window, then deleted.
    SecurityLog,
    /// The hash-chained audit trail: kept for the life of the store plus five years.
    AuditTrail,
    /// Mail and jobs: deleted a short while after they are delivered or finished.
    Delivery,
    /// Store settings: as long as the store exists.
    StoreLife,
}

impl Retention {
    /// Every class, for the report's legend.
    pub const ALL: [Retention; 7] = [
        Self::Expiring,
        Self::AccountLife,
        Self::Transaction5y,
        Self::SecurityLog,
        Self::AuditTrail,
        Self::Delivery,
        Self::StoreLife,
    ];

    /// The class's stable name, as the report shows it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Expiring => "expiring",
            Self::AccountLife => "account-life",
            Self::Transaction5y => "transaction-5y",
            Self::SecurityLog => "security-log",
            Self::AuditTrail => "audit-trail",
            Self::Delivery => "delivery",
            Self::StoreLife => "store-life",
        }
    }

    /// What the class means, for the report.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Expiring => "deleted once expired or used (minutes to days; sessions at most 30 days)",
            Self::AccountLife => "kept while the account or membership exists; erased when it closes or on request",
            Self::Transaction5y => {
                "kept five years after the financial year of the transaction (Income Tax Act s 67, GST Act \
                 s 46: records of transactions), then anonymised"
            }
            Self::SecurityLog => "rolling window (policy: 90 days), then deleted; needed to detect and answer attacks",
            Self::AuditTrail => {
                "append-only hash chain, kept for the store's life plus five years; the record of who did what \
                 with personal data (PDPA s 24, and s 21(1)(b): ways data was used or disclosed)"
            }
            Self::Delivery => "deleted 30 days after the mail is sent or the job finishes",
            Self::StoreLife => "kept while the store exists; deleted with the store",
        }
    }
}

/// How one personal column is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Personal {
    /// Its class.
    pub class: Class,
    /// Whose data it is.
    pub subject: Subject,
    /// Exported on an access request or not.
    pub export: Export,
    /// What erasure does.
    pub erase: Erase,
    /// How long it lives.
    pub retention: Retention,
}

/// A column's classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// Personal data, handled as stated.
    Personal(Personal),
    /// Not personal data; the reason is required when the column's name looks personal.
    NotPersonal(Option<&'static str>),
}

/// One registry entry: a column of the live schema and its classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The table.
    pub table: &'static str,
    /// The column.
    pub column: &'static str,
    /// What it holds.
    pub classification: Classification,
}

impl Column {
    /// `table.column`, as schema.txt spells it.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}.{}", self.table, self.column)
    }

    /// The personal classification, if any.
    #[must_use]
    pub fn personal(&self) -> Option<&Personal> {
        match &self.classification {
            Classification::Personal(p) => Some(p),
            Classification::NotPersonal(_) => None,
        }
    }
}

/// Words that, as a part of a column's name (split at `_`), suggest personal data or free-form content that
/// may hold some. A not-personal column with one of them must say why. Types cannot help much here: the
/// portable schema has only `text` and `integer`, so container names (details, payload, body …) are listed too.
pub const PERSONAL_HINTS: &[&str] = &[
    "email",
    "mail",
    "name",
    "phone",
    "mobile",
    "address",
    "addr",
    "ip",
    "user",
    "agent",
    "note",
    "message",
    "details",
    "detail",
    "body",
    "html",
    "text",
    "comment",
    "statement",
    "response",
    "reason",
    "payload",
    "findings",
    "observed",
    "path",
    "url",
    "subject",
    "error",
    "nric",
    "fin",
    "passport",
    "birth",
    "dob",
    "card",
    "last4",
    "line1",
    "line2",
    "city",
    "postcode",
    "country",
    "account",
    "buyer",
    "actor",
    "by",
    "owner",
    "host",
    "hostname",
    "fingerprint",
    "password",
    "secret",
    "sealed",
    "credential",
    "credentials",
    "code",
    "key",
    "passphrase",
    "allowlist",
    "target",
    "alt",
    "title",
    "description",
    "tagline",
    "source",
];

/// True when a column's name contains one of [`PERSONAL_HINTS`] as a `_`-separated word. Timestamps (names
/// ending in `_at` or `_until`, e.g. `password_changed_at`) are not counted: they go with their row.
#[must_use]
pub fn looks_personal(column: &str) -> bool {
    let timestamp = column.ends_with("_at") || column.ends_with("_until");
    !timestamp && column.split('_').any(|word| PERSONAL_HINTS.contains(&word))
}

/// One way the registry and the schema disagree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// A schema column with no registry entry.
    Unclassified(String),
    /// A registry entry for a column the schema no longer has.
    Stale(String),
    /// A column listed twice in the registry.
    Duplicate(String),
    /// A personal-looking column marked not personal without a reason.
    UnexplainedNotPersonal(String),
    /// A personal column with no line in [`BREACH_CLASSES`].
    NoBreachClasses(String),
    /// A [`BREACH_CLASSES`] line for a column that is not personal, not known, or listed twice.
    StrayBreachClasses(String),
    /// A rule of the registry itself broken (e.g. a credential marked for export, an empty reason).
    Inconsistent(String, &'static str),
}

/// Every column of a schema listing in schema.txt's form (`table.column type` per line).
#[must_use]
pub fn schema_columns(schema: &str) -> BTreeSet<String> {
    schema
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Rules each entry must keep whatever the schema: secrets are never exported, stated reasons are not empty.
fn entry_problem(entry: &Column) -> Option<&'static str> {
    match &entry.classification {
        Classification::NotPersonal(Some(reason)) if reason.trim().is_empty() => Some("empty not-personal reason"),
        Classification::NotPersonal(_) => None,
        Classification::Personal(p) => match p.erase {
            _ if p.class == Class::Credential && p.export == Export::Yes => Some("a credential is never exported"),
            Erase::Keep(why) if why.trim().is_empty() => Some("kept without a reason"),
            Erase::AnonymiseWith(with) if with.trim().is_empty() => Some("anonymised with nothing stated"),
            _ => None,
        },
    }
}

/// Compares `registry` with the columns of `schema` (schema.txt's form); empty when they agree.
#[must_use]
pub fn check(schema: &str, registry: &[Column]) -> Vec<Problem> {
    let live = schema_columns(schema);
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in registry {
        let key = entry.key();
        if !seen.insert(key.clone()) {
            problems.push(Problem::Duplicate(key.clone()));
        }
        if !live.contains(&key) {
            problems.push(Problem::Stale(key.clone()));
        }
        if entry.classification == Classification::NotPersonal(None) && looks_personal(entry.column) {
            problems.push(Problem::UnexplainedNotPersonal(key.clone()));
        }
        if let Some(rule) = entry_problem(entry) {
            problems.push(Problem::Inconsistent(key, rule));
        }
    }
    problems.extend(live.difference(&seen).cloned().map(Problem::Unclassified));
    problems.sort();
    problems
}

/// Compares the breach-class table with the registry: one line for each personal column, none for any other.
#[must_use]
pub fn check_breach_classes(registry: &[Column], breach: &[(&str, &[DataClass])]) -> Vec<Problem> {
    let personal: BTreeSet<String> = registry.iter().filter(|c| c.personal().is_some()).map(Column::key).collect();
    let mut mapped = BTreeSet::new();
    let mut problems: Vec<Problem> = breach
        .iter()
        .filter(|(key, _)| !personal.contains(*key) || !mapped.insert((*key).to_owned()))
        .map(|(key, _)| Problem::StrayBreachClasses((*key).to_owned()))
        .collect();
    problems.extend(personal.difference(&mapped).cloned().map(Problem::NoBreachClasses));
    problems.sort();
    problems
}

/// A column that the inventory cannot answer for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a classified column of the personal-data inventory")]
pub struct UnknownColumn(pub String);

/// The breach classes involved when `columns` (`table.column`) were exposed: what the breach register hands the
/// classifier ([`crate::breach::Incident::classes`]) instead of a person's guess. Not-personal columns add
/// nothing; a column the inventory does not know fails closed rather than counting as harmless.
pub fn breach_classes<'a>(columns: impl IntoIterator<Item = &'a str>) -> Result<BTreeSet<DataClass>, UnknownColumn> {
    let mut classes = BTreeSet::new();
    for column in columns {
        let entry = REGISTRY.iter().find(|c| c.key() == column).ok_or_else(|| UnknownColumn(column.to_owned()))?;
        if entry.personal().is_none() {
            continue;
        }
        let (_, involved) =
            BREACH_CLASSES.iter().find(|(key, _)| *key == column).ok_or_else(|| UnknownColumn(column.to_owned()))?;
        classes.extend(involved.iter().copied());
    }
    Ok(classes)
}

/// Escapes a value for a Markdown table cell (pipes, and anything that could start HTML).
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
}

fn export_text(export: Export) -> &'static str {
    match export {
        Export::Yes => "yes",
        Export::No => "no",
    }
}

fn erase_text(erase: Erase) -> String {
    match erase {
        Erase::AnonymiseWith(with) => format!("anonymise with {with}"),
        Erase::DeleteRow => "delete row".to_owned(),
        Erase::Keep(why) => format!("keep: {why}"),
    }
}

/// A column's breach classes for the report ("none" when it involves none, "unmapped" when the table lacks it).
fn breach_text(key: &str) -> String {
    match BREACH_CLASSES.iter().find(|(k, _)| *k == key) {
        Some((_, [])) => "none".to_owned(),
        Some((_, classes)) => classes.iter().map(|c| c.label()).collect::<Vec<_>>().join(", "),
        None => "unmapped".to_owned(),
    }
}

/// The registry's entries grouped by table, in name order.
fn by_table(registry: &[Column]) -> BTreeMap<&'static str, Vec<&Column>> {
    let mut tables: BTreeMap<&'static str, Vec<&Column>> = BTreeMap::new();
    for entry in registry {
        tables.entry(entry.table).or_default().push(entry);
    }
    for columns in tables.values_mut() {
        columns.sort_by_key(|c| c.column);
    }
    tables
}

/// One table's section of the report.
fn table_section(out: &mut String, table: &str, columns: &[&Column]) {
    let _ = writeln!(out, "## `{table}`\n");
    let personal: Vec<_> = columns.iter().filter_map(|c| c.personal().map(|p| (c.column, p))).collect();
    if personal.is_empty() {
        let _ = writeln!(out, "No personal data.\n");
    } else {
        let _ = writeln!(out, "| Column | Class | Subject | Export | Erasure | Retention | In a breach |");
        let _ = writeln!(out, "| --- | --- | --- | --- | --- | --- | --- |");
        for (column, p) in personal {
            let _ = writeln!(
                out,
                "| `{column}` | {:?} | {:?} | {} | {} | {} | {} |",
                p.class,
                p.subject,
                export_text(p.export),
                cell(&erase_text(p.erase)),
                p.retention.name(),
                breach_text(&format!("{table}.{column}"))
            );
        }
        let _ = writeln!(out);
    }
    let plain: Vec<String> = columns
        .iter()
        .filter_map(|c| match c.classification {
            Classification::NotPersonal(None) => Some(format!("`{}`", c.column)),
            Classification::NotPersonal(Some(why)) => Some(format!("`{}` ({})", c.column, cell(why))),
            Classification::Personal(_) => None,
        })
        .collect();
    if !plain.is_empty() {
        let _ = writeln!(out, "Not personal: {}.\n", plain.join(", "));
    }
}

/// The registry as a Markdown report (committed as `docs/personal-data.md`, kept current by a test).
#[must_use]
pub fn markdown(registry: &[Column]) -> String {
    let mut out = String::from(
        "# Personal data inventory\n\n\
         Generated from `palisade_privacy::inventory::REGISTRY` by `inventory::markdown`; do not edit by hand \
         (a test fails when this file is out of date: run `PALISADE_BLESS=1 cargo test -p palisade-privacy --lib \
         inventory` to rewrite it). Every column of `crates/palisade-store/schema.txt` is listed, personal or \
         not. Timestamps, counters and flags on a row about a person go with the row. \"In a breach\" is what a leak \
         of the column counts as for the breach classifier (`inventory::BREACH_CLASSES`).\n\n## Retention classes\n\n",
    );
    for r in Retention::ALL {
        let _ = writeln!(out, "- **{}**: {}", r.name(), r.describe());
    }
    let personal = registry.iter().filter(|c| c.personal().is_some()).count();
    let _ = writeln!(out, "\n{personal} personal columns of {} in all.\n", registry.len());
    for (table, columns) in by_table(registry) {
        table_section(&mut out, table, &columns);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
