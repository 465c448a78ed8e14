//! The merchant's side of backup: export schedules, export runs kept for download, restore tests and imports,
//! each recorded in `store_exports` and in the store's audit chain.
//!
//! Archives are kept in object storage under `exports/<store id>/<export id>.palx` for [`KEEP_FOR`]; platform
//! snapshots leave that prefix out (the merchant's copies are theirs, and encrypted with their passphrase).

use palisade_store::db::ExecuteWrite;
use std::time::Duration;

use crate::import_rules::ImportContext;
use object_store::ObjectStoreExt;
use palisade_store::audit::{self, NewEvent};
use palisade_store::outbound::OutboundPolicy;
use palisade_store::seal::Sealer;
use palisade_store::tenancy::Membership;
use palisade_store::{Db, Objects, StaffScope, StoreScope};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::error::{BackupError, Result};
use crate::export::{self, Archive};

/// How long an export stays downloadable.
pub const KEEP_FOR: Duration = Duration::from_secs(7 * 24 * 3600);
/// The object-store prefix of merchants' archives.
pub const PREFIX: &str = "exports";
/// Passphrases shorter than this are refused: the archive holds customers' personal data.
pub const MIN_PASSPHRASE: usize = 12;
const SEAL_PURPOSE: &[u8] = b"palisade export passphrase v1";

/// The key that seals scheduled exports' passphrases, derived from the master key.
#[must_use]
pub fn passphrase_sealer(master_key: &[u8; 32]) -> Sealer {
    Sealer::new(master_key, SEAL_PURPOSE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    Off,
    Daily,
    Weekly,
}

impl Schedule {
    pub fn parse(s: &str) -> Result<Schedule> {
        match s {
            "off" => Ok(Schedule::Off),
            "daily" => Ok(Schedule::Daily),
            "weekly" => Ok(Schedule::Weekly),
            other => Err(BackupError::Invalid(format!("schedule `{other}` is not off, daily or weekly"))),
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Schedule::Off => "off",
            Schedule::Daily => "daily",
            Schedule::Weekly => "weekly",
        }
    }

    #[must_use]
    pub fn period(self) -> Option<Duration> {
        match self {
            Schedule::Off => None,
            Schedule::Daily => Some(Duration::from_secs(24 * 3600)),
            Schedule::Weekly => Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

/// The store's export settings, as shown (the passphrase never leaves the server).
#[derive(Debug, Clone, Serialize)]
pub struct ExportSettings {
    pub schedule: Schedule,
    pub has_passphrase: bool,
    pub updated_at: Option<i64>,
    /// Where archives are also delivered: the merchant's own bucket.
    pub s3_url: Option<String>,
}

pub async fn settings(db: &Db, scope: &StoreScope) -> Result<ExportSettings> {
    let row: Option<(String, Option<String>, i64, Option<String>)> = sqlx::query_as(
        "SELECT schedule, passphrase_sealed, updated_at, s3_url FROM store_export_settings WHERE store_id = $1",
    )
    .bind(scope.store_key())
    .fetch_optional(db.pool())
    .await?;
    Ok(match row {
        Some((schedule, sealed, at, s3_url)) => ExportSettings {
            schedule: Schedule::parse(&schedule)?,
            has_passphrase: sealed.is_some(),
            updated_at: Some(at),
            s3_url,
        },
        None => ExportSettings { schedule: Schedule::Off, has_passphrase: false, updated_at: None, s3_url: None },
    })
}

fn check_passphrase(p: &SecretString) -> Result<()> {
    if p.expose_secret().chars().count() < MIN_PASSPHRASE {
        return Err(BackupError::Invalid(format!(
            "the passphrase must have at least {MIN_PASSPHRASE} characters (the archive holds customers' data)"
        )));
    }
    Ok(())
}

/// Sets the schedule. Scheduled exports need the passphrase, kept sealed under the master key and bound to the
/// store; turning the schedule off forgets it.
pub async fn set_schedule(
    db: &Db,
    scope: &StaffScope,
    sealer: &Sealer,
    schedule: Schedule,
    passphrase: Option<SecretString>,
) -> Result<()> {
    let sealed = match (schedule, passphrase) {
        (Schedule::Off, _) => None,
        (_, Some(p)) => {
            check_passphrase(&p)?;
            Some(sealer.seal(p.expose_secret().as_bytes(), &scope.store_key()))
        }
        (_, None) => {
            let existing: Option<(Option<String>,)> =
                sqlx::query_as("SELECT passphrase_sealed FROM store_export_settings WHERE store_id = $1")
                    .bind(scope.store_key())
                    .fetch_optional(db.pool())
                    .await?;
            match existing.and_then(|(s,)| s) {
                Some(s) => Some(s),
                None => return Err(BackupError::Invalid("a scheduled export needs a passphrase".into())),
            }
        }
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_export_settings (store_id, schedule, passphrase_sealed, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store_id) DO UPDATE SET schedule = excluded.schedule, \
         passphrase_sealed = excluded.passphrase_sealed, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    )
    .bind(scope.store_key())
    .bind(schedule.as_str())
    .bind(sealed)
    .bind(db.now().millis())
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    let target = format!("store:{}", scope.store_id());
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("backup.export_schedule_set", &target).details(serde_json::json!({"schedule": schedule})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets (or with `None` clears) delivery of every export to the merchant's own S3 bucket, with the merchant's
/// own credentials (sealed). The URL is checked so a merchant cannot point the platform at its own network.
pub async fn set_delivery(
    db: &Db,
    scope: &StaffScope,
    sealer: &Sealer,
    destination: Option<(&str, &str, SecretString)>,
    outbound: &OutboundPolicy,
) -> Result<()> {
    let (url, credentials) = match destination {
        None => (None, None),
        Some((url, key_id, secret)) => {
            let target = crate::Target::parse(url)?;
            let crate::Target::S3 { bucket, options, .. } = &target else {
                return Err(BackupError::Invalid("the destination must be an s3://BUCKET/PREFIX URL".into()));
            };
            crate::s3::check_merchant_endpoint(bucket, options, outbound).map_err(BackupError::Invalid)?;
            if key_id.trim().is_empty() || secret.expose_secret().is_empty() {
                return Err(BackupError::Invalid("the bucket's access key id and secret are both needed".into()));
            }
            let json = serde_json::json!({"key_id": key_id.trim(), "secret": secret.expose_secret()}).to_string();
            (Some(target.to_string()), Some(sealer.seal(json.as_bytes(), &format!("s3:{}", scope.store_key()))))
        }
    };
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_export_settings (store_id, schedule, s3_url, s3_credentials_sealed, updated_at, updated_by) \
         VALUES ($1, 'off', $2, $3, $4, $5) ON CONFLICT (store_id) DO UPDATE SET s3_url = excluded.s3_url, \
         s3_credentials_sealed = excluded.s3_credentials_sealed, updated_at = excluded.updated_at, \
         updated_by = excluded.updated_by",
    )
    .bind(scope.store_key())
    .bind(url.clone())
    .bind(credentials)
    .bind(db.now().millis())
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    let target = format!("store:{}", scope.store_id());
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new("backup.export_delivery_set", &target).details(serde_json::json!({"s3_url": url})),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What delivering exports to a merchant's bucket needs: the key their credentials are sealed with, and the
/// operator's outbound policy (the URL was checked when it was set, but the policy may have changed since, and
/// only the connection itself sees what its name resolves to now).
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub sealer: &'a Sealer,
    pub outbound: &'a OutboundPolicy,
}

/// Uploads an archive to the merchant's bucket, if they set one. Returns where it went.
async fn deliver(
    db: &Db,
    scope: &StoreScope,
    delivery: Delivery<'_>,
    name: &str,
    bytes: &[u8],
) -> Result<Option<String>> {
    let sealer = delivery.sealer;
    let row: Option<(Option<String>, Option<String>)> =
        sqlx::query_as("SELECT s3_url, s3_credentials_sealed FROM store_export_settings WHERE store_id = $1")
            .bind(scope.store_key())
            .fetch_optional(db.pool())
            .await?;
    let Some((Some(url), Some(sealed))) = row else { return Ok(None) };
    let plain = sealer
        .open(&sealed, &format!("s3:{}", scope.store_key()))
        .map_err(|e| BackupError::Decrypt { what: "the stored bucket credentials".into(), reason: e.to_string() })?;
    let creds: serde_json::Value =
        serde_json::from_slice(&plain).map_err(|e| BackupError::Invalid(format!("stored bucket credentials: {e}")))?;
    let key_id = creds.get("key_id").and_then(serde_json::Value::as_str).unwrap_or_default();
    let secret = creds.get("secret").and_then(serde_json::Value::as_str).unwrap_or_default();
    let crate::Target::S3 { bucket, prefix, options } = crate::Target::parse(&url)? else {
        return Err(BackupError::Invalid("the stored destination is not an S3 URL".into()));
    };
    if let Some((_, endpoint)) = options.iter().find(|(k, _)| k == "endpoint") {
        delivery
            .outbound
            .check_url_resolved(endpoint)
            .await
            .map_err(|e| BackupError::Target { target: url.clone(), reason: e.to_string() })?;
    }
    let store = crate::s3::open_with_credentials(&bucket, &prefix, &options, key_id, secret, delivery.outbound)
        .map_err(|reason| BackupError::Target { target: url.clone(), reason })?;
    store
        .put(&object_store::path::Path::from(name), object_store::PutPayload::from(bytes.to_vec()))
        .await
        .map_err(|e| BackupError::Target { target: url.clone(), reason: e.to_string() })?;
    Ok(Some(format!("{url}/{name}")))
}

/// One recorded export, restore test or import.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoreExport {
    pub id: String,
    pub kind: String,
    pub trigger_kind: String,
    pub created_at: i64,
    pub finished_at: i64,
    pub outcome: String,
    pub detail: String,
    pub object_key: Option<String>,
    pub size: i64,
    pub sha256: Option<String>,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, trigger_kind, created_at, finished_at, outcome, detail, object_key, size, sha256, expires_at";

pub async fn list(db: &Db, scope: &StoreScope, limit: i64) -> Result<Vec<StoreExport>> {
    let sql =
        format!("SELECT {COLUMNS} FROM store_exports WHERE store_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.store_key()).bind(limit).fetch_all(db.pool()).await?)
}

pub async fn get(db: &Db, scope: &StoreScope, id: &str) -> Result<StoreExport> {
    let sql = format!("SELECT {COLUMNS} FROM store_exports WHERE store_id = $1 AND id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(scope.store_key())
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .ok_or_else(|| BackupError::Invalid(format!("no export {id} in this store")))
}

/// The newest successful record of `kind` for the store.
pub async fn last_ok(db: &Db, scope: &StoreScope, kind: &str) -> Result<Option<StoreExport>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM store_exports WHERE store_id = $1 AND kind = $2 AND outcome = 'ok' \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(scope.store_key()).bind(kind).fetch_optional(db.pool()).await?)
}

struct NewRecord<'a> {
    kind: &'a str,
    trigger: &'a str,
    created_at: i64,
    ok: bool,
    detail: String,
    object_key: Option<String>,
    size: u64,
    sha256: Option<String>,
    expires_at: Option<i64>,
}

async fn record(db: &Db, scope: &StoreScope, r: NewRecord<'_>) -> Result<String> {
    let id = uuid::Uuid::now_v7().to_string();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO store_exports (id, store_id, kind, trigger_kind, created_at, finished_at, outcome, detail, object_key, size, sha256, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(scope.store_key())
    .bind(r.kind)
    .bind(r.trigger)
    .bind(r.created_at)
    .bind(db.now().millis())
    .bind(if r.ok { "ok" } else { "failed" })
    .bind(&r.detail)
    .bind(r.object_key)
    .bind(i64::try_from(r.size).unwrap_or(i64::MAX))
    .bind(r.sha256)
    .bind(r.expires_at)
    .execute(&mut *tx)
    .await?;
    let target = format!("export:{id}");
    let action = match (r.kind, r.ok) {
        ("export", true) => "backup.exported",
        ("restore-test", true) => "backup.restore_tested",
        ("import", true) => "backup.imported",
        ("upload", true) => "backup.archive_uploaded",
        _ => "backup.failed",
    };
    audit::record_store(
        &mut tx,
        db,
        scope,
        NewEvent::new(action, &target).details(serde_json::json!({"kind": r.kind, "detail": r.detail})),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Who asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Manual,
    Schedule,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Schedule => "schedule",
        }
    }
}

/// Exports the store, keeps the archive for download and records the run (a failure is recorded too).
pub async fn run_export(
    db: &Db,
    scope: &StaffScope,
    objects: &Objects,
    passphrase: SecretString,
    trigger: Trigger,
    work_factor: u8,
    delivery: Option<Delivery<'_>>,
) -> Result<StoreExport> {
    check_passphrase(&passphrase)?;
    let started = db.now().millis();
    let mut bytes = Vec::new();
    let result = export::export(db, scope, objects, passphrase, work_factor, &mut bytes).await;
    let key = format!("{PREFIX}/{}/{}.palx", scope.store_id(), uuid::Uuid::now_v7());
    let outcome = match result {
        Ok(summary) => {
            let size = bytes.len() as u64;
            let when = palisade_core::Timestamp(started)
                .to_datetime()
                .map_or_else(String::new, |t| t.format("%Y%m%dT%H%M%SZ").to_string());
            let name = format!("palisade-{}-{when}.palx", summary.manifest.store_slug);
            let delivered = match delivery {
                Some(delivery) => deliver(db, scope, delivery, &name, &bytes).await.map_err(|e| e.to_string()),
                None => Ok(None),
            };
            objects
                .store()
                .put(&object_store::path::Path::from(key.as_str()), object_store::PutPayload::from(bytes))
                .await
                .map_err(|e| BackupError::Target { target: "object storage".into(), reason: e.to_string() })?;
            let rows: u64 = summary.manifest.files.iter().filter_map(|f| f.rows).sum();
            let images = summary.manifest.files.iter().filter(|f| f.path.starts_with("objects/")).count();
            let mut detail =
                format!("{rows} rows in {} tables, {images} images", summary.manifest.files.len() - images);
            match &delivered {
                Ok(Some(to)) => detail.push_str(&format!("; delivered to {to}")),
                Ok(None) => {}
                Err(e) => detail.push_str(&format!("; delivery to your bucket FAILED: {e}")),
            }
            NewRecord {
                kind: "export",
                trigger: trigger.as_str(),
                created_at: started,
                ok: delivered.is_ok(),
                detail,
                object_key: Some(key),
                size,
                sha256: Some(summary.sha256),
                expires_at: Some(db.now().plus(KEEP_FOR).millis()),
            }
        }
        Err(e) => NewRecord {
            kind: "export",
            trigger: trigger.as_str(),
            created_at: started,
            ok: false,
            detail: e.to_string(),
            object_key: None,
            size: 0,
            sha256: None,
            expires_at: None,
        },
    };
    let id = record(db, scope, outcome).await?;
    get(db, scope, &id).await
}

/// The largest archive a merchant may upload through the web (larger stores import with the CLI).
pub const UPLOAD_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Keeps an archive the merchant uploaded (one they downloaded earlier, or took from their own bucket) like an
/// export of this store, so that it can be test-restored, previewed and imported. Only its outer form is checked
/// here (a passphrase-encrypted age file): what is inside is checked, hash by hash, when it is opened with the
/// passphrase.
pub async fn keep_upload(
    db: &Db,
    scope: &StaffScope,
    objects: &Objects,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<StoreExport> {
    if bytes.is_empty() {
        return Err(BackupError::Invalid("the uploaded file is empty".into()));
    }
    if bytes.len() > UPLOAD_MAX_BYTES {
        return Err(BackupError::Invalid(format!(
            "the archive is larger than {} MiB; import it with `palisade backup import-store`",
            UPLOAD_MAX_BYTES / (1024 * 1024)
        )));
    }
    match age::Decryptor::new(bytes.as_slice()) {
        Ok(d) if d.is_scrypt() => {}
        _ => {
            return Err(BackupError::Invalid(
                "this is not a Palisade store export (a passphrase-encrypted .palx archive)".into(),
            ));
        }
    }
    let name: String = file_name.chars().filter(|c| !c.is_control()).take(100).collect::<String>().trim().to_owned();
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let size = bytes.len() as u64;
    let key = format!("{PREFIX}/{}/{}.palx", scope.store_id(), uuid::Uuid::now_v7());
    objects
        .store()
        .put(&object_store::path::Path::from(key.as_str()), object_store::PutPayload::from(bytes))
        .await
        .map_err(|e| BackupError::Target { target: "object storage".into(), reason: e.to_string() })?;
    let detail = if name.is_empty() { "uploaded archive".to_owned() } else { format!("uploaded {name}") };
    let id = record(
        db,
        scope,
        NewRecord {
            kind: "upload",
            trigger: Trigger::Manual.as_str(),
            created_at: db.now().millis(),
            ok: true,
            detail,
            object_key: Some(key),
            size,
            sha256: Some(sha256),
            expires_at: Some(db.now().plus(KEEP_FOR).millis()),
        },
    )
    .await?;
    get(db, scope, &id).await
}

/// The archive bytes of a kept export.
pub async fn archive_bytes(db: &Db, scope: &StaffScope, objects: &Objects, id: &str) -> Result<Vec<u8>> {
    let export = get(db, scope, id).await?;
    let key = export.object_key.ok_or_else(|| BackupError::Invalid("this run kept no archive".into()))?;
    if export.expires_at.is_some_and(|t| t < db.now().millis()) {
        return Err(BackupError::Invalid("this export has expired; make a new one".into()));
    }
    objects
        .get(&key)
        .await?
        .map(|b| b.to_vec())
        .ok_or_else(|| BackupError::Invalid("the archive is no longer stored; make a new export".into()))
}

/// Restore test of a kept export: decrypt, check every hash, clone into a scratch store, roll back. Recorded.
pub async fn run_restore_test(
    db: &Db,
    scope: &StaffScope,
    objects: &Objects,
    id: &str,
    passphrase: SecretString,
    ctx: &ImportContext,
) -> Result<StoreExport> {
    let started = db.now().millis();
    let bytes = archive_bytes(db, scope, objects, id).await?;
    let size = bytes.len() as u64;
    let result = async {
        let archive = Archive::open_for_web(bytes, passphrase).await?;
        if archive.manifest.store_id != scope.store_key() {
            return Err(BackupError::Archive("the archive is of another store".into()));
        }
        let report = export::restore_test(db, &archive, ctx).await?;
        let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
        Ok(format!("export {id} decrypted, every file matched its hash, {rows} rows restored into a scratch store"))
    }
    .await;
    let (ok, detail) = match result {
        Ok(d) => (true, d),
        Err(e) => (false, e.to_string()),
    };
    let rec = NewRecord {
        kind: "restore-test",
        trigger: "manual",
        created_at: started,
        ok,
        detail,
        object_key: None,
        size,
        sha256: None,
        expires_at: None,
    };
    let rid = record(db, scope, rec).await?;
    get(db, scope, &rid).await
}

/// Replaces the store's content with a kept export's (after the merchant saw the preview). Recorded.
/// The `member` must hold the permission of every table the archive changes (see [`export::replace`]).
pub async fn run_import(
    db: &Db,
    member: &Membership,
    objects: &Objects,
    id: &str,
    passphrase: SecretString,
    ctx: &crate::import_rules::ImportContext,
) -> Result<export::Preview> {
    let scope: &StaffScope = &member.scope;
    let started = db.now().millis();
    let bytes = archive_bytes(db, scope, objects, id).await?;
    let archive = Archive::open_for_web(bytes, passphrase).await?;
    let result = export::replace(db, member, objects, &archive, ctx).await;
    let (ok, detail) = match &result {
        Ok(p) => (true, format!("replaced content from export {id}: {} changes", p.changes())),
        Err(e) => (false, e.to_string()),
    };
    let rec = NewRecord {
        kind: "import",
        trigger: "manual",
        created_at: started,
        ok,
        detail,
        object_key: None,
        size: 0,
        sha256: None,
        expires_at: None,
    };
    record(db, scope, rec).await?;
    result
}

/// Stores whose schedule is due (no successful export within the period), for the hourly job.
pub async fn due(db: &Db) -> Result<Vec<(String, SealedPassphrase)>> {
    let rows: Vec<(String, String, Option<String>, Option<i64>)> = sqlx::query_as(
        "SELECT s.store_id, s.schedule, s.passphrase_sealed, \
         (SELECT MAX(e.created_at) FROM store_exports e WHERE e.store_id = s.store_id AND e.kind = 'export' AND e.outcome = 'ok') \
         FROM store_export_settings s WHERE s.schedule <> 'off' ORDER BY s.store_id",
    )
    .fetch_all(db.pool())
    .await?;
    let now = db.now();
    let mut out = Vec::new();
    for (store, schedule, sealed, last) in rows {
        let Some(period) = Schedule::parse(&schedule)?.period() else { continue };
        let Some(sealed) = sealed else { continue };
        // A little early rather than a little late: an hourly job then keeps a daily export under a day old.
        let slack = Duration::from_secs(3600);
        if last.is_none_or(|t| palisade_core::Timestamp(t).plus(period).minus(slack) <= now) {
            out.push((store, SealedPassphrase(sealed)));
        }
    }
    Ok(out)
}

/// A sealed passphrase as stored.
#[derive(Debug, Clone)]
pub struct SealedPassphrase(String);

impl SealedPassphrase {
    /// Opens it for the store it is bound to.
    pub fn open(&self, sealer: &Sealer, scope: &StoreScope) -> Result<SecretString> {
        let plain = sealer
            .open(&self.0, &scope.store_key())
            .map_err(|e| BackupError::Decrypt { what: "the stored export passphrase".into(), reason: e.to_string() })?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| BackupError::Decrypt {
            what: "the stored export passphrase".into(),
            reason: "not text".into(),
        })
    }
}

/// Deletes archives past their download window. Returns how many.
pub async fn purge_expired(db: &Db, objects: &Objects) -> Result<u64> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT id, object_key FROM store_exports WHERE object_key IS NOT NULL AND expires_at < $1")
            .bind(db.now().millis())
            .fetch_all(db.pool())
            .await?;
    for (id, key) in &rows {
        let _ = objects.store().delete(&object_store::path::Path::from(key.as_str())).await;
        sqlx::query("UPDATE store_exports SET object_key = NULL WHERE id = $1").bind(id).execute_write(db).await?;
    }
    Ok(rows.len() as u64)
}
