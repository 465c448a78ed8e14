//! Per-store exports: the merchant's own copy of their store, independent of the platform's backups.
//!
//! Archive format `palisade-store-export/1` (documented in docs/store-export.md): an age file (scrypt
//! passphrase chosen by the merchant) holding a zstd-compressed tar with
//! - `tables/<name>.jsonl`: one header line (`{"table":…,"columns":[[name,kind],…]}`) then one JSON array per row,
//!   only rows of this store (every query carries the store id; see [`TABLES`]);
//! - `objects/<key>`: the images the products refer to;
//! - `manifest.json` (last): format, store, time, schema version, and the size and SHA-256 of every file.
//!
//! Import restores the store's content and configuration ([`Role::Content`] tables) — replace in the same store
//! with a preview of what changes, or clone into a new, empty store with fresh ids. Records (orders, the ledger,
//! disputes, payouts, reviews, the audit log, customers and staff) are exported for the merchant's books but
//! never imported: money and buyer history are the platform's escrow ledger and audit chain, which an archive
//! must not be able to rewrite.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{Read, Write};

use futures_util::StreamExt;
use palisade_store::permissions::Permission;
use palisade_store::tenancy::Membership;
use palisade_store::{Backend, Db, Objects, StoreScope, audit, migrate};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::dump::{self, Column, ColumnKind, TableHeader, TableSpec, quote_ident};
use crate::error::{BackupError, Result};
use crate::import_rules::ImportContext;

pub const EXPORT_FORMAT: &str = "palisade-store-export/1";
/// scrypt work factor (log2 N) for archives: age's recommended interactive cost.
pub const DEFAULT_WORK_FACTOR: u8 = 18;

/// What opening an archive may cost. An archive is the merchant's file: its scrypt work factor (memory is
/// 128 × 8 × 2^N bytes: 256 MiB at 18, 4 GiB at 22) and what it decompresses to (a zstd bomb of a few MiB
/// expands to terabytes) are both theirs to choose, so both are capped before the cost is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenLimits {
    /// The highest scrypt work factor (log2 N) accepted.
    pub max_work_factor: u8,
    /// The most bytes the tar may decompress to.
    pub max_bytes: u64,
}

impl OpenLimits {
    /// Archives opened on a web request: the work factor Palisade's own exports use, and at most 512 MiB of
    /// content (an upload is at most 64 MiB; larger stores are cloned by the operator).
    pub const WEB: OpenLimits = OpenLimits { max_work_factor: DEFAULT_WORK_FACTOR, max_bytes: 512 * 1024 * 1024 };
    /// Archives the operator opens from the command line, on a machine of their choosing.
    pub const OPERATOR: OpenLimits = OpenLimits { max_work_factor: 22, max_bytes: 4 * 1024 * 1024 * 1024 };
}

/// At most this many archives are opened at once on behalf of web requests: each holds up to
/// [`OpenLimits::WEB`]`.max_bytes` and a scrypt buffer, so a merchant repeating the request waits in line
/// instead of multiplying the server's memory.
static WEB_OPENS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);

/// What a table is in an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Content and configuration: exported and imported.
    Content,
    /// Records: exported only.
    Record,
}

/// How a table's rows of one store are selected.
#[derive(Debug, Clone, Copy)]
pub enum Select {
    /// `WHERE store_id = $1`
    StoreColumn,
    /// `WHERE id = $1` (the store itself)
    StoreRow,
    /// `WHERE <column> IN (SELECT id FROM <parent> WHERE store_id = $1)`
    ViaParent { column: &'static str, parent: &'static str },
    /// Selected columns of accounts related to the store through `<table>.<column>` (no secrets).
    Accounts { via: &'static str, column: &'static str },
}

#[derive(Debug, Clone, Copy)]
pub struct ExportTable {
    /// The file name (`tables/<name>.jsonl`) and, except for account projections, the table.
    pub name: &'static str,
    pub select: Select,
    pub role: Role,
    /// What a member must hold to change this table's rows by an import (`None` for records, which import never
    /// writes): the permission the table's own admin pages need, so an import is no back door around them.
    pub permission: Option<Permission>,
}

/// Every table of an export, parents before children.
pub const TABLES: &[ExportTable] = &[
    ExportTable { name: "stores", select: Select::StoreRow, role: Role::Record, permission: None },
    ExportTable {
        name: "store_commerce",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Theme),
    },
    ExportTable {
        name: "store_security",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::SecuritySettings),
    },
    ExportTable {
        name: "store_firewall",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::SecuritySettings),
    },
    ExportTable {
        name: "store_rules",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::SecuritySettings),
    },
    ExportTable {
        name: "store_fraud_rules",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::SecuritySettings),
    },
    ExportTable {
        name: "categories",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Products),
    },
    ExportTable {
        name: "products",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Products),
    },
    ExportTable {
        name: "variants",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Products),
    },
    ExportTable {
        name: "product_images",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Products),
    },
    ExportTable {
        name: "theme_templates",
        select: Select::StoreColumn,
        role: Role::Content,
        permission: Some(Permission::Theme),
    },
    ExportTable {
        name: "staff",
        select: Select::Accounts { via: "store_members", column: "account_id" },
        role: Role::Record,
        permission: None,
    },
    ExportTable { name: "store_members", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable {
        name: "customers",
        select: Select::Accounts { via: "orders", column: "buyer_id" },
        role: Role::Record,
        permission: None,
    },
    ExportTable { name: "orders", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "order_items", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "order_events", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "reviews", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "disputes", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "payouts", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "ledger_accounts", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable { name: "ledger_transfers", select: Select::StoreColumn, role: Role::Record, permission: None },
    ExportTable {
        name: "ledger_entries",
        select: Select::ViaParent { column: "transfer_id", parent: "ledger_transfers" },
        role: Role::Record,
        permission: None,
    },
    ExportTable { name: "audit_events", select: Select::StoreColumn, role: Role::Record, permission: None },
];

/// Account columns an export may carry: who, never how they sign in.
const ACCOUNT_COLUMNS: &[&str] = &["id", "email", "display_name", "kind", "created_at"];

/// Columns a store's export leaves out: keyed hashes made under the platform's key (card, delivery address,
/// normalised email) for fraud velocity. The same card has the same fingerprint at every store, so a merchant
/// holding them could match buyers across their stores or with another merchant's export. They are records'
/// columns, which import never writes, so an import or clone needs none of them.
const OMITTED_COLUMNS: &[(&str, &[&str])] = &[("orders", &["card_fingerprint", "ship_key", "email_key"])];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArchiveFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Rows, for table files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportManifest {
    pub format: String,
    pub store_id: String,
    pub store_slug: String,
    pub created_at: i64,
    pub schema_version: i64,
    pub source_backend: String,
    pub content_tables: Vec<String>,
    pub record_tables: Vec<String>,
    pub files: Vec<ArchiveFile>,
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub manifest: ExportManifest,
    /// Size and SHA-256 of the encrypted archive.
    pub size: u64,
    pub sha256: String,
}

fn spec_for(specs: &[TableSpec], table: &ExportTable) -> Result<TableSpec> {
    match table.select {
        Select::Accounts { .. } => {
            let accounts = specs.iter().find(|s| s.name == "accounts").ok_or_else(|| missing("accounts"))?;
            let columns: Vec<Column> =
                accounts.columns.iter().filter(|c| ACCOUNT_COLUMNS.contains(&c.name.as_str())).cloned().collect();
            Ok(TableSpec { name: "accounts".into(), columns, order_by: vec!["id".into()], keyed: true, rowid: false })
        }
        _ => {
            let mut spec = specs.iter().find(|s| s.name == table.name).cloned().ok_or_else(|| missing(table.name))?;
            if let Some((_, omitted)) = OMITTED_COLUMNS.iter().find(|(name, _)| *name == table.name) {
                spec.columns.retain(|c| !omitted.contains(&c.name.as_str()));
            }
            Ok(spec)
        }
    }
}

fn missing(name: &str) -> BackupError {
    BackupError::Invalid(format!("table {name} does not exist in this schema"))
}

fn where_clause(select: Select) -> String {
    match select {
        Select::StoreColumn => "store_id = $1".into(),
        Select::StoreRow => "id = $1".into(),
        Select::ViaParent { column, parent } => {
            format!("{} IN (SELECT id FROM {} WHERE store_id = $1)", quote_ident(column), quote_ident(parent))
        }
        Select::Accounts { via, column } => {
            format!("id IN (SELECT {} FROM {} WHERE store_id = $1)", quote_ident(column), quote_ident(via))
        }
    }
}

/// One table of the store as JSON Lines (header first).
async fn table_file(
    conn: &mut AnyConnection,
    backend: Backend,
    spec: &TableSpec,
    select: Select,
    store_id: &str,
) -> Result<(Vec<u8>, u64)> {
    let header = TableHeader {
        table: spec.name.clone(),
        columns: spec.columns.iter().map(|c| (c.name.clone(), c.kind)).collect(),
    };
    let mut out = serde_json::to_vec(&header).map_err(|e| BackupError::Invalid(e.to_string()))?;
    out.push(b'\n');
    let base = dump::select_sql(spec, backend);
    let (select_from, order) = base.split_once(" ORDER BY ").unwrap_or((base.as_str(), ""));
    let sql = format!("{select_from} WHERE {} ORDER BY {order}", where_clause(select));
    let mut rows = sqlx::query(AssertSqlSafe(sql)).bind(store_id.to_owned()).fetch(&mut *conn);
    let mut n = 0;
    while let Some(row) = rows.next().await {
        dump::encode_row(&row?, spec, &mut out)?;
        out.push(b'\n');
        n += 1;
    }
    Ok((out, n))
}

fn tar_append(tar: &mut tar::Builder<impl Write>, path: &str, bytes: &[u8], mtime: u64) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_cksum();
    tar.append_data(&mut header, path, bytes).map_err(|e| BackupError::Archive(format!("writing {path}: {e}")))
}

/// Writes the store's export, encrypted with `passphrase`, into `out`. Reads everything in one transaction.
pub async fn export(
    db: &Db,
    scope: &StoreScope,
    objects: &Objects,
    passphrase: SecretString,
    work_factor: u8,
    out: impl Write,
) -> Result<ExportSummary> {
    let store_id = scope.store_id().to_string();
    let backend = db.backend();
    let schema_version = migrate::applied_version(db).await?.unwrap_or(0);
    let created_at = db.now().millis();
    let mtime = u64::try_from(created_at / 1000).unwrap_or(0);

    let mut recipient = age::scrypt::Recipient::new(passphrase);
    recipient.set_work_factor(work_factor);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    let hashing = HashingWriter { inner: out, hasher: Sha256::new(), bytes: 0 };
    let sealed = encryptor.wrap_output(hashing).map_err(BackupError::io("<export>"))?;
    let compressed = zstd::Encoder::new(sealed, 3).map_err(BackupError::io("<export>"))?;
    let mut tar = tar::Builder::new(compressed);

    let mut files = Vec::new();
    let mut image_keys = BTreeSet::new();
    let mut conn = db.pool().acquire().await?;
    dump::begin_snapshot(&mut conn, backend).await?;
    let specs = dump::table_specs(&mut conn, backend).await?;
    let mut store_slug = String::new();
    for table in TABLES {
        let spec = spec_for(&specs, table)?;
        let (bytes, rows) = table_file(&mut conn, backend, &spec, table.select, &store_id).await?;
        if table.name == "stores" {
            store_slug = first_value(&bytes, &spec, "slug").unwrap_or_default();
        }
        if table.name == "product_images" {
            image_keys.extend(column_values(&bytes, &spec, "object_key"));
        }
        let path = format!("tables/{}.jsonl", table.name);
        tar_append(&mut tar, &path, &bytes, mtime)?;
        files.push(ArchiveFile {
            path,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            rows: Some(rows),
        });
    }
    dump::end_snapshot(&mut conn).await?;
    drop(conn);
    if store_slug.is_empty() {
        return Err(BackupError::Invalid(format!("store {store_id} does not exist")));
    }
    for key in image_keys {
        let Some(bytes) = objects.get(&key).await? else {
            tracing::warn!(store.id = %store_id, object.key = %key, "an image the catalog refers to is missing; exported without it");
            continue;
        };
        let path = format!("objects/{key}");
        tar_append(&mut tar, &path, &bytes, mtime)?;
        files.push(ArchiveFile {
            path,
            bytes: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
            rows: None,
        });
    }
    let manifest = ExportManifest {
        format: EXPORT_FORMAT.into(),
        store_id,
        store_slug,
        created_at,
        schema_version,
        source_backend: backend.name().into(),
        content_tables: TABLES.iter().filter(|t| t.role == Role::Content).map(|t| t.name.to_owned()).collect(),
        record_tables: TABLES.iter().filter(|t| t.role == Role::Record).map(|t| t.name.to_owned()).collect(),
        files,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BackupError::Invalid(e.to_string()))?;
    tar_append(&mut tar, "manifest.json", &json, mtime)?;
    let compressed = tar.into_inner().map_err(BackupError::io("<export>"))?;
    let sealed = compressed.finish().map_err(BackupError::io("<export>"))?;
    let hashing = sealed.finish().map_err(BackupError::io("<export>"))?;
    Ok(ExportSummary { manifest, size: hashing.bytes, sha256: hex::encode(hashing.hasher.finalize()) })
}

struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(buf.get(..n).unwrap_or_default());
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn column_index(spec: &TableSpec, column: &str) -> Option<usize> {
    spec.columns.iter().position(|c| c.name == column)
}

fn column_values(file: &[u8], spec: &TableSpec, column: &str) -> Vec<String> {
    let Some(i) = column_index(spec, column) else { return Vec::new() };
    file.split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<Vec<Value>>(l).ok())
        .filter_map(|row| row.get(i).and_then(Value::as_str).map(str::to_owned))
        .collect()
}

fn first_value(file: &[u8], spec: &TableSpec, column: &str) -> Option<String> {
    column_values(file, spec, column).into_iter().next()
}

/// A decrypted, checked archive.
#[derive(Debug)]
pub struct Archive {
    pub manifest: ExportManifest,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// A table of an archive, parsed.
#[derive(Debug, Clone)]
pub struct ArchiveTable {
    pub columns: Vec<(String, ColumnKind)>,
    pub rows: Vec<Vec<Value>>,
}

impl Archive {
    /// Decrypts and unpacks an archive, checking every file against the manifest. A wrong passphrase, a
    /// damaged file, a missing or an unlisted entry is an error that names it.
    pub fn open(encrypted: impl Read, passphrase: SecretString) -> Result<Archive> {
        Archive::open_with(encrypted, passphrase, OpenLimits::OPERATOR)
    }

    /// Opens an archive for a web request: [`OpenLimits::WEB`], on the blocking pool (scrypt and
    /// decompression take seconds of CPU), one at a time.
    pub async fn open_for_web(bytes: Vec<u8>, passphrase: SecretString) -> Result<Archive> {
        let _permit = WEB_OPENS.acquire().await.map_err(|_| BackupError::Invalid("shutting down".into()))?;
        tokio::task::spawn_blocking(move || Archive::open_with(bytes.as_slice(), passphrase, OpenLimits::WEB))
            .await
            .map_err(|e| BackupError::Archive(format!("opening the archive stopped: {e}")))?
    }

    /// [`Archive::open`] within `limits`. Only regular files are read, each name once, and none may climb out
    /// of the archive (nothing is written to disk from here, but names become object keys).
    pub fn open_with(encrypted: impl Read, passphrase: SecretString, limits: OpenLimits) -> Result<Archive> {
        let decryptor = age::Decryptor::new(encrypted)
            .map_err(|e| BackupError::Archive(format!("not a Palisade store export (age): {e}")))?;
        if !decryptor.is_scrypt() {
            return Err(BackupError::Archive("the archive is not passphrase-encrypted".into()));
        }
        let mut identity = age::scrypt::Identity::new(passphrase);
        identity.set_max_work_factor(limits.max_work_factor);
        let plain = decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)).map_err(|e| match e {
            age::DecryptError::ExcessiveWork { required, target } => BackupError::Archive(format!(
                "the archive's passphrase work factor is {required}, above the {target} accepted here; \
                     re-encrypt it with a lower one, or ask the operator to import it"
            )),
            e => BackupError::Decrypt { what: "the export archive".into(), reason: e.to_string() },
        })?;
        let decompressed = zstd::Decoder::new(plain).map_err(|e| BackupError::Archive(e.to_string()))?;
        let mut tar = tar::Archive::new(decompressed.take(limits.max_bytes));
        let mut files = BTreeMap::new();
        let entries = tar.entries().map_err(|e| BackupError::Archive(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| BackupError::Archive(format!("damaged archive: {e}")))?;
            let path = entry.path().map_err(|e| BackupError::Archive(e.to_string()))?.to_string_lossy().into_owned();
            if path.contains("..") || path.starts_with('/') || path.contains('\\') {
                return Err(BackupError::Archive(format!("unsafe path in archive: {path}")));
            }
            if !entry.header().entry_type().is_file() {
                return Err(BackupError::Archive(format!("{path}: only regular files belong in an archive")));
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(|e| BackupError::Archive(format!("{path}: {e}")))?;
            if files.insert(path.clone(), bytes).is_some() {
                return Err(BackupError::Archive(format!("{path} appears twice")));
            }
        }
        let manifest_bytes = files
            .remove("manifest.json")
            .ok_or_else(|| BackupError::Archive("no manifest.json (truncated archive?)".into()))?;
        let manifest: ExportManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|e| BackupError::Archive(format!("manifest.json: {e}")))?;
        if manifest.format != EXPORT_FORMAT {
            return Err(BackupError::Archive(format!("format `{}` is not `{EXPORT_FORMAT}`", manifest.format)));
        }
        for listed in &manifest.files {
            let bytes =
                files.get(&listed.path).ok_or_else(|| BackupError::Archive(format!("{} is missing", listed.path)))?;
            if bytes.len() as u64 != listed.bytes || hex::encode(Sha256::digest(bytes)) != listed.sha256 {
                return Err(BackupError::Archive(format!("{} does not match its hash in the manifest", listed.path)));
            }
        }
        if let Some(extra) = files.keys().find(|p| !manifest.files.iter().any(|f| &f.path == *p)) {
            return Err(BackupError::Archive(format!("{extra} is not listed in the manifest")));
        }
        Ok(Archive { manifest, files })
    }

    /// A text column of the archived store's own row (`name`, `currency`, …).
    #[must_use]
    pub fn store_field(&self, column: &str) -> Option<String> {
        let stores = self.table("stores").ok()?;
        let i = stores.columns.iter().position(|(c, _)| c == column)?;
        stores.rows.first()?.get(i)?.as_str().map(str::to_owned)
    }

    /// A table file, parsed and checked against the schema's column kinds.
    pub fn table(&self, name: &str) -> Result<ArchiveTable> {
        let bytes = self
            .files
            .get(&format!("tables/{name}.jsonl"))
            .ok_or_else(|| BackupError::Archive(format!("tables/{name}.jsonl is missing")))?;
        let mut lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty());
        let header: TableHeader = serde_json::from_slice(lines.next().unwrap_or_default())
            .map_err(|e| BackupError::Archive(format!("tables/{name}.jsonl header: {e}")))?;
        let mut rows = Vec::new();
        for line in lines {
            let row: Vec<Value> = serde_json::from_slice(line)
                .map_err(|e| BackupError::Archive(format!("tables/{name}.jsonl: a row is not JSON: {e}")))?;
            if row.len() != header.columns.len() {
                return Err(BackupError::Archive(format!("tables/{name}.jsonl: a row has the wrong number of values")));
            }
            for (value, (column, kind)) in row.iter().zip(&header.columns) {
                let ok = match kind {
                    ColumnKind::Integer => value.is_null() || value.is_i64(),
                    ColumnKind::Text => value.is_null() || value.is_string(),
                };
                if !ok {
                    return Err(BackupError::Archive(format!("tables/{name}.jsonl: {column} holds {value}")));
                }
            }
            rows.push(row);
        }
        Ok(ArchiveTable { columns: header.columns, rows })
    }
}

/// Per-table counts of what a replace would do.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TableChange {
    pub table: String,
    /// The permission a member needs for an import to change this table (see [`ExportTable::permission`]).
    pub permission: Option<Permission>,
    pub added: u64,
    pub changed: u64,
    pub removed: u64,
    pub unchanged: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Preview {
    pub tables: Vec<TableChange>,
    pub new_objects: u64,
    /// Tables in the archive that import leaves as they are.
    pub records_kept: Vec<String>,
}

impl Preview {
    #[must_use]
    pub fn changes(&self) -> u64 {
        self.tables.iter().map(|t| t.added + t.changed + t.removed).sum()
    }
}

fn key_of(row: &[Value], key_columns: &[usize]) -> String {
    key_columns.iter().map(|&i| row.get(i).map(Value::to_string).unwrap_or_default()).collect::<Vec<_>>().join("\u{1f}")
}

struct Diff {
    spec: TableSpec,
    /// Archive rows to insert or update.
    upserts: Vec<Vec<Value>>,
    /// Key values of current rows to delete.
    deletes: Vec<Vec<Value>>,
    change: TableChange,
}

async fn current_rows(
    conn: &mut AnyConnection,
    backend: Backend,
    spec: &TableSpec,
    store_id: &str,
) -> Result<Vec<Vec<Value>>> {
    let (bytes, _) = table_file(conn, backend, spec, Select::StoreColumn, store_id).await?;
    bytes
        .split(|&b| b == b'\n')
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| BackupError::Archive(e.to_string())))
        .collect()
}

/// Columns an import never takes from the archive: when a row was last changed and by whom (`table`, time column,
/// actor column). An archive's `updated_by` could name anyone, and the fraud rules' cache is keyed on
/// `updated_at` (a planted time equal to the cached one would keep the old rules in force). Ignored when an
/// archive is compared with the store, rewritten to the import's time and importer when written.
const STAMPS: &[(&str, &str, &str)] = &[("store_fraud_rules", "updated_at", "updated_by")];

/// The row without its [`STAMPS`] columns, for comparison.
fn unstamped(spec: &TableSpec, row: &[Value]) -> Vec<Value> {
    let mut row = row.to_vec();
    for (_, at, by) in STAMPS.iter().filter(|(t, _, _)| *t == spec.name) {
        for column in [at, by] {
            if let Some(v) = column_index(spec, column).and_then(|i| row.get_mut(i)) {
                *v = Value::Null;
            }
        }
    }
    row
}

/// Sets the row's [`STAMPS`] columns: the actor, and a time after `now` and after the store's latest (strictly
/// increasing, as the save path keeps it).
async fn stamp(
    conn: &mut AnyConnection,
    spec: &TableSpec,
    row: &mut [Value],
    store_id: &str,
    now: i64,
    by: &str,
) -> Result<()> {
    for (_, at, actor) in STAMPS.iter().filter(|(t, _, _)| *t == spec.name) {
        let sql = format!("SELECT MAX({}) FROM {} WHERE store_id = $1", quote_ident(at), quote_ident(&spec.name));
        let (prev,): (Option<i64>,) =
            sqlx::query_as(AssertSqlSafe(sql)).bind(store_id.to_owned()).fetch_one(&mut *conn).await?;
        let when = now.max(prev.map_or(i64::MIN, |p| p.saturating_add(1)));
        if let Some(v) = column_index(spec, at).and_then(|i| row.get_mut(i)) {
            *v = Value::from(when);
        }
        if let Some(v) = column_index(spec, actor).and_then(|i| row.get_mut(i)) {
            *v = Value::String(by.to_owned());
        }
    }
    Ok(())
}

/// What an import may do to the catalog's visibility. An archive is the merchant's file, so the columns that
/// decide whether a product is on sale are not taken from it on trust: the operator's hide flag is the
/// operator's (never written from an archive), a product the operator hid is left exactly as it is (neither
/// changed nor deleted: it may be evidence in a report), and a product becomes published through an import only
/// when the store may list ([`palisade_commerce::verification::require_listing_allowed`]), as through the
/// product editor; otherwise it arrives as a draft.
#[derive(Debug, Clone, Copy)]
struct Visibility {
    may_publish: bool,
}

/// Whether the store may list now; a gate that cannot be read counts as closed.
async fn visibility(db: &Db, scope: &StoreScope) -> Visibility {
    Visibility { may_publish: palisade_commerce::verification::require_listing_allowed(db, scope).await.is_ok() }
}

/// Products the operator hid are kept as they are; an archive row that would publish a product that is not
/// published now is made a draft unless the store may list.
fn guard_products(spec: &TableSpec, current: &[Vec<Value>], rows: &mut [Vec<Value>], keys: &[usize], v: Visibility) {
    let (Some(status), Some(hidden)) = (column_index(spec, "status"), column_index(spec, "hidden_by_operator")) else {
        return;
    };
    let now: HashMap<String, &Vec<Value>> = current.iter().map(|r| (key_of(r, keys), r)).collect();
    for row in rows.iter_mut() {
        let cur = now.get(&key_of(row, keys)).copied();
        if let Some(cur) = cur.filter(|c| c.get(hidden).and_then(Value::as_i64).unwrap_or(0) != 0) {
            row.clone_from(cur);
            continue;
        }
        if let Some(h) = row.get_mut(hidden) {
            *h = Value::from(0);
        }
        let was_published = cur.and_then(|c| c.get(status)).and_then(Value::as_str) == Some("published");
        if !v.may_publish
            && !was_published
            && let Some(s) = row.get_mut(status)
            && s.as_str() == Some("published")
        {
            *s = Value::String("draft".into());
        }
    }
}

fn is_hidden(spec: &TableSpec, row: &[Value]) -> bool {
    column_index(spec, "hidden_by_operator").and_then(|i| row.get(i)).and_then(Value::as_i64).unwrap_or(0) != 0
}

async fn diff(
    conn: &mut AnyConnection,
    backend: Backend,
    archive: &Archive,
    store_id: &str,
    visibility: Visibility,
) -> Result<Vec<Diff>> {
    let specs = dump::table_specs(conn, backend).await?;
    let mut out = Vec::new();
    for table in TABLES.iter().filter(|t| t.role == Role::Content) {
        let spec = spec_for(&specs, table)?;
        let mut arch = archive.table(table.name)?;
        let names: Vec<&str> = spec.columns.iter().map(|c| c.name.as_str()).collect();
        let arch_names: Vec<&str> = arch.columns.iter().map(|(n, _)| n.as_str()).collect();
        if names != arch_names {
            return Err(BackupError::Archive(format!(
                "table {}: the archive's columns {arch_names:?} are not this schema's {names:?}",
                table.name
            )));
        }
        let store_col = column_index(&spec, "store_id").ok_or_else(|| missing("store_id"))?;
        if arch.rows.iter().any(|r| r.get(store_col).and_then(Value::as_str) != Some(store_id)) {
            return Err(BackupError::Archive(format!("table {}: rows of another store", table.name)));
        }
        let keys: Vec<usize> = spec.order_by.iter().filter_map(|k| column_index(&spec, k)).collect();
        let current = current_rows(conn, backend, &spec, store_id).await?;
        if table.name == "products" {
            guard_products(&spec, &current, &mut arch.rows, &keys, visibility);
        }
        let now: HashMap<String, &Vec<Value>> = current.iter().map(|r| (key_of(r, &keys), r)).collect();
        let incoming: HashMap<String, &Vec<Value>> = arch.rows.iter().map(|r| (key_of(r, &keys), r)).collect();
        let mut change =
            TableChange { table: table.name.into(), permission: table.permission, ..TableChange::default() };
        let mut upserts = Vec::new();
        for row in &arch.rows {
            match now.get(&key_of(row, &keys)) {
                None => {
                    change.added += 1;
                    upserts.push(row.clone());
                }
                Some(cur) if unstamped(&spec, cur) != unstamped(&spec, row) => {
                    change.changed += 1;
                    upserts.push(row.clone());
                }
                Some(_) => change.unchanged += 1,
            }
        }
        let added: Vec<String> = upserts
            .iter()
            .filter(|r| !now.contains_key(&key_of(r, &keys)))
            .filter_map(|r| keys.first().and_then(|&i| r.get(i)).and_then(Value::as_str).map(str::to_owned))
            .collect();
        if let [key] = spec.order_by.as_slice()
            && key != "store_id"
            && let Some(id) = foreign_id(conn, &spec, key, &added).await?
        {
            return Err(BackupError::Archive(format!(
                "table {}: {key} {id} is not a row of this store; an archive may only write its own store's rows",
                table.name
            )));
        }
        let mut deletes = Vec::new();
        for row in &current {
            if !incoming.contains_key(&key_of(row, &keys)) && !is_hidden(&spec, row) {
                change.removed += 1;
                deletes.push(keys.iter().map(|&i| row.get(i).cloned().unwrap_or(Value::Null)).collect());
            }
        }
        out.push(Diff { spec, upserts, deletes, change });
    }
    Ok(out)
}

/// The first of `ids` that already exists in the table: rows the store does not have, so another store's.
async fn foreign_id(conn: &mut AnyConnection, spec: &TableSpec, key: &str, ids: &[String]) -> Result<Option<String>> {
    for batch in ids.chunks(500) {
        let params: Vec<String> = (1..=batch.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {0} FROM {1} WHERE {0} IN ({2}) LIMIT 1",
            quote_ident(key),
            quote_ident(&spec.name),
            params.join(", ")
        );
        let mut query = sqlx::query_as::<_, (String,)>(AssertSqlSafe(sql));
        for id in batch {
            query = query.bind(id.clone());
        }
        if let Some((id,)) = query.fetch_optional(&mut *conn).await? {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The image keys the store's rows use, with the content types they were stored with.
async fn own_images(conn: &mut AnyConnection, store_id: &str) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT object_key, content_type FROM product_images WHERE store_id = $1")
            .bind(store_id.to_owned())
            .fetch_all(&mut *conn)
            .await?;
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (key, content_type) in rows {
        out.entry(key).or_default().insert(content_type);
    }
    Ok(out)
}

/// Every check an archive must pass before it writes into `store_id` (see [`crate::import_check`]).
async fn check_archive(conn: &mut AnyConnection, backend: Backend, archive: &Archive, store_id: &str) -> Result<()> {
    let specs = dump::table_specs(conn, backend).await?;
    let own = own_images(conn, store_id).await?;
    crate::import_check::check_content(conn, backend, &specs, archive, store_id, &own).await
}

fn check_target(archive: &Archive, db: &Db) -> Result<()> {
    let binary = migrate::known_version(db.backend());
    if archive.manifest.schema_version > binary {
        return Err(BackupError::SchemaTooNew { snapshot: archive.manifest.schema_version, binary });
    }
    Ok(())
}

/// What replacing the store's content with the archive would change. Reads only. Refuses an archive with a row
/// its save path would refuse ([`crate::import_rules`]).
pub async fn preview(
    db: &Db,
    scope: &StoreScope,
    objects: &Objects,
    archive: &Archive,
    ctx: &ImportContext,
) -> Result<Preview> {
    check_target(archive, db)?;
    let store_id = scope.store_id().to_string();
    if archive.manifest.store_id != store_id {
        return Err(BackupError::Archive(format!(
            "this archive is of store {} ({}); import it into that store, or clone it into a new one",
            archive.manifest.store_slug, archive.manifest.store_id
        )));
    }
    let mut conn = db.pool().acquire().await?;
    check_archive(&mut conn, db.backend(), archive, &store_id).await?;
    let store = palisade_store::tenancy::get_store(db, scope).await?;
    crate::import_rules::check(archive, store.currency.code(), db.now(), ctx)?;
    let visibility = visibility(db, scope).await;
    let diffs = diff(&mut conn, db.backend(), archive, &store_id, visibility).await?;
    let mut new_objects = 0;
    for path in archive.files.keys().filter(|p| p.starts_with("objects/")) {
        if objects.get(path.trim_start_matches("objects/")).await?.is_none() {
            new_objects += 1;
        }
    }
    Ok(Preview {
        tables: diffs.into_iter().map(|d| d.change).collect(),
        new_objects,
        records_kept: archive.manifest.record_tables.clone(),
    })
}

/// Stores the archive's objects (images) under their content addresses, refusing any whose name is not the hash
/// of its bytes.
pub async fn put_objects(objects: &Objects, archive: &Archive) -> Result<u64> {
    let mut n = 0;
    for (path, bytes) in archive.files.iter().filter(|(p, _)| p.starts_with("objects/")) {
        let key = path.trim_start_matches("objects/");
        if !crate::import_check::is_image_key(key) {
            return Err(BackupError::Archive(format!("{path}: an archive may only carry images/<sha256> objects")));
        }
        // Objects are content-addressed: the key must be the hash of the bytes, or the archive lies.
        let (prefix, _) = key.rsplit_once('/').unwrap_or(("", key));
        if Objects::key_for(prefix, bytes) != key {
            return Err(BackupError::Archive(format!("{path}: content does not match its name")));
        }
        objects.put_content(prefix, bytes::Bytes::from(bytes.clone())).await?;
        n += 1;
    }
    Ok(n)
}

fn bind_value<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    value: &Value,
    kind: ColumnKind,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    match kind {
        ColumnKind::Integer => query.bind(value.as_i64()),
        ColumnKind::Text => query.bind(value.as_str().map(str::to_owned)),
    }
}

/// Inserts the row, or updates the row with its key **of the same store**: `ON CONFLICT … DO UPDATE … WHERE
/// t.store_id = excluded.store_id`. A key held by another store's row writes nothing, and that is a refusal
/// (the caller's transaction is dropped): keyed by (store, id), an archive can never move another store's row.
async fn upsert(conn: &mut AnyConnection, spec: &TableSpec, row: &[Value]) -> Result<()> {
    let cols: Vec<String> = spec.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    let keys: Vec<String> = spec.order_by.iter().map(|k| quote_ident(k)).collect();
    let updates: Vec<String> = spec
        .columns
        .iter()
        .filter(|c| !spec.order_by.contains(&c.name))
        .map(|c| format!("{0} = excluded.{0}", quote_ident(&c.name)))
        .collect();
    let store_guard = if spec.columns.iter().any(|c| c.name == "store_id") {
        format!(" WHERE {}.\"store_id\" = excluded.\"store_id\"", quote_ident(&spec.name))
    } else {
        String::new()
    };
    let conflict = if updates.is_empty() {
        "DO NOTHING".to_owned()
    } else {
        format!("DO UPDATE SET {}{store_guard}", updates.join(", "))
    };
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) {conflict}",
        quote_ident(&spec.name),
        cols.join(", "),
        params.join(", "),
        keys.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for (value, column) in row.iter().zip(&spec.columns) {
        query = bind_value(query, value, column.kind);
    }
    let done = query.execute(&mut *conn).await.map_err(|e| constraint_refusal(&spec.name, e))?;
    if done.rows_affected() != 1 && !updates.is_empty() {
        let id = spec.order_by.iter().filter_map(|k| column_index(spec, k)).filter_map(|i| row.get(i)).next();
        return Err(BackupError::Archive(format!(
            "table {}: {} is not a row of this store; an archive may only write its own store's rows",
            spec.name,
            id.map_or_else(String::new, Value::to_string)
        )));
    }
    Ok(())
}

/// A row the schema refuses (a duplicate SKU or slug, a broken reference, a failed CHECK) is the archive's fault,
/// not the server's: an `Archive` error (422), never a 500.
fn constraint_refusal(table: &str, e: sqlx::Error) -> BackupError {
    match e.as_database_error() {
        Some(db)
            if db.is_unique_violation()
                || db.is_foreign_key_violation()
                || db.is_check_violation()
                || db.kind() == sqlx::error::ErrorKind::NotNullViolation =>
        {
            BackupError::Archive(format!("table {table}: a row breaks a rule of the schema ({})", db.message()))
        }
        _ => BackupError::Database(e),
    }
}

async fn delete(conn: &mut AnyConnection, spec: &TableSpec, key: &[Value], store_id: &str) -> Result<()> {
    let mut sql = format!("DELETE FROM {} WHERE store_id = $1", quote_ident(&spec.name));
    for (i, k) in spec.order_by.iter().enumerate() {
        sql.push_str(&format!(" AND {} = ${}", quote_ident(k), i + 2));
    }
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(store_id.to_owned());
    for (value, name) in key.iter().zip(&spec.order_by) {
        let kind = spec.columns.iter().find(|c| &c.name == name).map_or(ColumnKind::Text, |c| c.kind);
        query = bind_value(query, value, kind);
    }
    query.execute(&mut *conn).await?;
    Ok(())
}

/// Refuses a change to a table the member may not change through its own admin pages (security settings,
/// the theme, the catalog): an import is checked table by table against the same permissions.
fn check_permissions(member: &Membership, diffs: &[Diff]) -> Result<()> {
    for d in diffs {
        let c = &d.change;
        if c.added + c.changed + c.removed == 0 {
            continue;
        }
        let Some(permission) = c.permission else {
            return Err(BackupError::Archive(format!("table {} is never imported", c.table)));
        };
        if !member.can(permission) {
            return Err(BackupError::Forbidden { table: c.table.clone(), permission });
        }
    }
    Ok(())
}

/// Replaces the store's content and configuration with the archive's, in one transaction. The `member` must hold
/// the permission of every table the archive changes (checked on the diff made inside the transaction), and every
/// row must pass the checks its own save path makes ([`crate::import_rules`]).
pub async fn replace(
    db: &Db,
    member: &Membership,
    objects: &Objects,
    archive: &Archive,
    ctx: &ImportContext,
) -> Result<Preview> {
    let scope: &StoreScope = &member.scope;
    let preview = preview(db, scope, objects, archive, ctx).await?;
    let store_id = scope.store_id().to_string();
    put_objects(objects, archive).await?;
    let visibility = visibility(db, scope).await;
    let mut tx = db.begin_write().await?;
    let diffs = diff(&mut tx, db.backend(), archive, &store_id, visibility).await?;
    check_permissions(member, &diffs)?;
    let (now, by) = (db.now().millis(), scope.actor().as_audit_text());
    for d in &diffs {
        for row in &d.upserts {
            let mut row = row.clone();
            stamp(&mut tx, &d.spec, &mut row, &store_id, now, &by).await?;
            upsert(&mut tx, &d.spec, &row).await?;
        }
    }
    for d in diffs.iter().rev() {
        for key in &d.deletes {
            delete(&mut tx, &d.spec, key, &store_id).await?;
        }
    }
    // Settings changed by an import are recorded like settings changed by hand, in the same transaction.
    let changed: Vec<&TableChange> =
        diffs.iter().map(|d| &d.change).filter(|c| c.added + c.changed + c.removed > 0).collect();
    let target = format!("store:{store_id}");
    audit::record_store(
        &mut tx,
        db,
        scope,
        audit::NewEvent::new("store.imported", &target)
            .details(serde_json::json!({"created_at": archive.manifest.created_at, "tables": changed})),
    )
    .await?;
    palisade_store::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(preview)
}

/// A cloned product is published only where the new store may list ([`ImportContext::may_publish`]) and the
/// archive does not say the operator hid it (a hidden product stays hidden in the clone).
fn clone_visibility(spec: &TableSpec, row: &mut [Value], v: Visibility) {
    let hidden = is_hidden(spec, row);
    if let Some(s) = column_index(spec, "status").and_then(|i| row.get_mut(i))
        && s.as_str() == Some("published")
        && (hidden || !v.may_publish)
    {
        *s = Value::String("draft".into());
    }
}

/// Rows written per table by a clone.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CloneReport {
    pub tables: Vec<(String, u64)>,
    pub objects: u64,
}

/// Copies the archive's content and configuration into `conn`'s transaction for store `target` (which must have
/// none yet), with fresh ids and every reference among the copied rows rewritten. Every row is first held to its
/// save path's rules ([`crate::import_rules::check`], as replace is), against the target store's currency.
pub async fn clone_into(
    conn: &mut AnyConnection,
    backend: Backend,
    target: &str,
    archive: &Archive,
    ctx: &ImportContext,
) -> Result<CloneReport> {
    let specs = dump::table_specs(conn, backend).await?;
    // A new store uses no image yet: every image row must name an image the archive carries.
    crate::import_check::check_content(conn, backend, &specs, archive, &archive.manifest.store_id, &BTreeMap::new())
        .await?;
    let currency: Option<(String,)> =
        sqlx::query_as("SELECT currency FROM stores WHERE id = $1").bind(target).fetch_optional(&mut *conn).await?;
    let (currency,) =
        currency.ok_or_else(|| BackupError::Archive(format!("target store `{target}` does not exist")))?;
    // No database clock here (the caller's connection only): the stamp is the wall-clock time of the clone.
    let clock = palisade_core::time::Clock::now(&palisade_core::time::SystemClock);
    crate::import_rules::check(archive, &currency, clock, ctx)?;
    let now = clock.millis();
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut report = CloneReport::default();
    for table in TABLES.iter().filter(|t| t.role == Role::Content) {
        let spec = spec_for(&specs, table)?;
        let arch = archive.table(table.name)?;
        let id_col = column_index(&spec, "id");
        let store_col = column_index(&spec, "store_id");
        let refs: Vec<usize> = spec
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.name.ends_with("_id") && c.name != "store_id")
            .map(|(i, _)| i)
            .collect();
        let mut n = 0;
        for row in &arch.rows {
            let mut row = row.clone();
            if let Some(i) = id_col
                && let Some(Value::String(old)) = row.get(i).cloned()
            {
                let new = uuid::Uuid::now_v7().to_string();
                ids.insert(old, new.clone());
                if let Some(v) = row.get_mut(i) {
                    *v = Value::String(new);
                }
            }
            if let Some(v) = store_col.and_then(|i| row.get_mut(i)) {
                *v = Value::String(target.to_owned());
            }
            if table.name == "products" {
                clone_visibility(&spec, &mut row, Visibility { may_publish: ctx.may_publish });
            }
            for &i in &refs {
                if let Some(v) = row.get_mut(i)
                    && let Some(new) = v.as_str().and_then(|old| ids.get(old))
                {
                    *v = Value::String(new.clone());
                }
            }
            stamp(conn, &spec, &mut row, target, now, "system:store-clone").await?;
            upsert(conn, &spec, &row).await?;
            n += 1;
        }
        report.tables.push((table.name.to_owned(), n));
    }
    // The new store's pages (and the marketplace's) change with the rows, in the same transaction.
    let id: palisade_core::StoreId =
        target.parse().map_err(|e| BackupError::Archive(format!("target store `{target}`: {e}")))?;
    palisade_store::storefront::touch(conn, &StoreScope::system(id, "backup clone")).await?;
    Ok(report)
}

/// The merchant's restore test: the archive is cloned into a scratch store inside a transaction that is then
/// rolled back, so it proves the archive restores without leaving anything behind.
pub async fn restore_test(db: &Db, archive: &Archive, ctx: &ImportContext) -> Result<CloneReport> {
    check_target(archive, db)?;
    let mut tx = db.begin_write().await?;
    let scratch = uuid::Uuid::now_v7().to_string();
    if archive.table("stores")?.rows.is_empty() {
        return Err(BackupError::Archive("tables/stores.jsonl has no store".into()));
    }
    let currency = archive.store_field("currency").unwrap_or_else(|| "SGD".into());
    let now = db.now().millis();
    sqlx::query(
        "INSERT INTO stores (id, slug, name, currency, status, created_at, updated_at) VALUES ($1, $2, $3, $4, 'active', $5, $5)",
    )
    .bind(&scratch)
    .bind(format!("restore-test-{}", scratch.get(scratch.len().saturating_sub(12)..).unwrap_or("x")))
    .bind("restore test (rolled back)")
    .bind(currency)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let report = clone_into(&mut tx, db.backend(), &scratch, archive, ctx).await;
    tx.rollback().await?;
    report
}
