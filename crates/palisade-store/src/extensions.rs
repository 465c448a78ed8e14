//! Extensions (issue #19 items 2 and 3): the platform's catalog of signed releases (`extension_publishers`,
//! `extension_releases`) and each store's installs with its update policy (`store_extensions`).
//!
//! This module keeps rows; it never decides whether bytes are trustworthy. Verifying a release's signature, its
//! package and its health before it goes live is the caller's (`palisade_web::services::extensions`), which calls
//! [`publish`], [`install`] and [`update`] only with a release it has just verified. Every store query is scoped
//! by the [`StaffScope`] it is given, and every change is written in one transaction with its audit event.
//!
//! A release is immutable: a version is published once, and publishing the same version again with other bytes is
//! refused ([`StoreError::Conflict`]). An install never moves to an older version here ([`update`] checks).

use std::cmp::Ordering;

use palisade_core::time::Timestamp;
use serde::Serialize;

use crate::audit::{self, NewEvent};
use crate::db::Db;
use crate::error::{Result, StoreError};
use crate::scope::{PlatformScope, StaffScope, StoreScope};

pub mod advisories;
mod controls;
mod plan;

pub use controls::register;
pub use plan::{Candidate, Installed, Plan, Why, behind, plan};

/// The hourly job that applies automatic updates to every store's extensions.
pub const AUTO_UPDATE_JOB: &str = "extensions.auto-update";
/// A newer release in the installed major version must be installed within this many days
/// (`store.extensions-current`), by hand or by the `minor` policy.
pub const UPDATE_WITHIN_DAYS: i64 = 7;
/// The longest delay the `minor` policy may wait before installing a routine update.
pub const MAX_DELAY_DAYS: i64 = 30;
/// The longest failure reason kept.
const MAX_REASON: usize = 500;

pub(crate) const DAY_MS: i64 = 24 * 3600 * 1000;

/// How a store's extension is kept up to date. A new major version is always installed by hand: it may change what
/// the extension does or asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Every update by hand.
    Manual,
    /// Security fixes (a release that leaves an advisory affecting the installed version) at once.
    Security,
    /// Security fixes at once, other updates of the same major version once they are `delay_days` old.
    Minor,
}

impl Policy {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Security => "security",
            Self::Minor => "minor",
        }
    }

    /// The policy named `s` (`manual`, `security`, `minor`).
    pub fn parse(s: &str) -> Result<Policy> {
        match s {
            "manual" => Ok(Self::Manual),
            "security" => Ok(Self::Security),
            "minor" => Ok(Self::Minor),
            other => Err(StoreError::Invalid(format!(
                "`{}` is not an update policy (manual, security, minor)",
                other.chars().take(40).collect::<String>()
            ))),
        }
    }
}

/// A publisher's registered key (minisign public key text, the base64 line).
#[derive(Debug, Clone, Serialize)]
pub struct Publisher {
    pub handle: String,
    pub public_key: String,
    pub key_id: String,
    pub registered_at: Timestamp,
}

/// A release to add to the catalog: what the caller read from the package it verified.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub extension_id: String,
    pub version: String,
    pub publisher: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub data_level: u8,
    /// `theme`, `plugin`, `app`: what the package holds.
    pub kinds: Vec<String>,
    /// The plugin's hook points (`product_block`, `shipping_rates`, `checkout_validate`).
    pub hooks: Vec<String>,
    pub object_key: String,
    pub sha256: String,
    pub length: i64,
    pub signature: String,
}

/// A release in the catalog.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub extension_id: String,
    pub version: String,
    pub publisher: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub data_level: u8,
    pub kinds: Vec<String>,
    pub hooks: Vec<String>,
    #[serde(skip)]
    pub object_key: String,
    pub sha256: String,
    pub length: i64,
    #[serde(skip)]
    pub signature: String,
    pub published_at: Timestamp,
}

/// One extension installed in a store.
#[derive(Debug, Clone, Serialize)]
pub struct Install {
    pub extension_id: String,
    pub version: String,
    pub policy: Policy,
    pub delay_days: i64,
    pub installed_at: Timestamp,
    pub updated_at: Timestamp,
    pub installed_by: String,
    /// The last automatic update that failed its checks, and when; cleared by the next successful update.
    pub last_error: Option<String>,
    pub last_error_at: Option<Timestamp>,
    /// When the platform disabled it, and why (a critical advisory without a fixed release,
    /// [`advisories`]): its plugin and theme do not run until it is updated to a fixed release or removed.
    pub disabled_at: Option<Timestamp>,
    pub disabled_reason: Option<String>,
}

/// Who moved an install to a new release (recorded in the audit event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdatedBy {
    /// A person, from the Security Center.
    Hand,
    /// The automatic update job, under the install's policy.
    Policy,
}

/// What publishing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    New,
    /// The same bytes were already published under this version: nothing changed.
    Unchanged,
}

/// Orders two release versions by SemVer precedence; a version that does not parse sorts first (the catalog only
/// holds versions the manifest check accepted, so this is a fallback, never a decision).
#[must_use]
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (semver::Version::parse(a), semver::Version::parse(b)) {
        (Ok(a), Ok(b)) => a.cmp_precedence(&b),
        (Ok(_), Err(_)) => Ordering::Greater,
        (Err(_), Ok(_)) => Ordering::Less,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

/// Registers `handle`'s signing key, or replaces it (a key rotation: releases already published keep the
/// signature they were verified with, and installs verify against the key registered now). Audited.
pub async fn register_publisher(
    db: &Db,
    scope: &PlatformScope,
    handle: &str,
    public_key: &str,
    key_id: &str,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let previous: Option<(String,)> = sqlx::query_as("SELECT key_id FROM extension_publishers WHERE handle = $1")
        .bind(handle)
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO extension_publishers (handle, public_key, key_id, registered_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (handle) DO UPDATE SET public_key = excluded.public_key, key_id = excluded.key_id, \
         registered_at = excluded.registered_at",
    )
    .bind(handle)
    .bind(public_key)
    .bind(key_id)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    let target = format!("publisher:{handle}");
    // Pages showing blocks of this publisher's extensions were made while the old key verified them: stale now.
    if previous.as_ref().is_some_and(|(k,)| k != key_id) {
        let stores: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT e.store_id FROM store_extensions e JOIN extension_releases r \
             ON r.extension_id = e.extension_id AND r.version = e.version WHERE r.publisher = $1",
        )
        .bind(handle)
        .fetch_all(&mut *tx)
        .await?;
        for (store,) in stores {
            let id = store.parse().map_err(|_| StoreError::Corrupt(format!("store id `{store}`")))?;
            crate::storefront::touch(&mut tx, &StaffScope::system(id, "extension.publisher_rotated")).await?;
        }
    }
    let details = serde_json::json!({"key_id": key_id, "previous_key_id": previous.map(|(k,)| k)});
    let event = NewEvent::new("extension.publisher_registered", &target).details(details);
    audit::record_platform(&mut tx, db, scope, event).await?;
    tx.commit().await?;
    Ok(())
}

/// The registered key of `handle`, if any.
pub async fn publisher(db: &Db, handle: &str) -> Result<Option<Publisher>> {
    let row: Option<(String, String, String, i64)> =
        sqlx::query_as("SELECT handle, public_key, key_id, registered_at FROM extension_publishers WHERE handle = $1")
            .bind(handle)
            .fetch_optional(db.pool())
            .await?;
    Ok(row.map(|(handle, public_key, key_id, at)| Publisher {
        handle,
        public_key,
        key_id,
        registered_at: Timestamp(at),
    }))
}

/// Adds a verified release to the catalog. The first release of an id makes its publisher the owner: another
/// publisher's release of that id is refused. Audited on the platform chain.
pub async fn publish(db: &Db, scope: &PlatformScope, new: &NewRelease) -> Result<Published> {
    let mut tx = db.begin_write().await?;
    // The owner check reads rows another publish may be inserting: on PostgreSQL (READ COMMITTED) two first releases
    // of one id by two publishers could both pass, so publishes take turns (they are rare). SQLite's write
    // transaction already runs alone.
    if db.backend() == crate::Backend::Postgres {
        sqlx::query("LOCK TABLE extension_releases IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
    }
    let owner: Option<(String,)> =
        sqlx::query_as("SELECT publisher FROM extension_releases WHERE extension_id = $1 LIMIT 1")
            .bind(&new.extension_id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((owner,)) = owner.filter(|(o,)| *o != new.publisher) {
        return Err(StoreError::Conflict(format!(
            "`{}` belongs to the publisher `{owner}`; another publisher cannot release it",
            new.extension_id
        )));
    }
    match release_sha(&mut tx, &new.extension_id, &new.version).await? {
        Some(sha) if sha == new.sha256 => return Ok(Published::Unchanged),
        Some(_) => {
            return Err(StoreError::Conflict(format!(
                "{} {} is already published with other contents; a release never changes (publish a new version)",
                new.extension_id, new.version
            )));
        }
        None => {}
    }
    sqlx::query(
        "INSERT INTO extension_releases (extension_id, version, publisher, name, scopes, data_level, kinds, hooks, \
         object_key, sha256, length, signature, published_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&new.extension_id)
    .bind(&new.version)
    .bind(&new.publisher)
    .bind(&new.name)
    .bind(new.scopes.join(","))
    .bind(i64::from(new.data_level))
    .bind(new.kinds.join(","))
    .bind(new.hooks.join(","))
    .bind(&new.object_key)
    .bind(&new.sha256)
    .bind(new.length)
    .bind(&new.signature)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    let target = format!("extension:{}@{}", new.extension_id, new.version);
    let details = serde_json::json!({"sha256": new.sha256, "publisher": new.publisher});
    audit::record_platform(&mut tx, db, scope, NewEvent::new("extension.published", &target).details(details)).await?;
    tx.commit().await?;
    Ok(Published::New)
}

/// The SHA-256 of a published release's archive, read inside the caller's transaction (`None`: not published).
async fn release_sha(conn: &mut sqlx::AnyConnection, extension_id: &str, version: &str) -> Result<Option<String>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT sha256 FROM extension_releases WHERE extension_id = $1 AND version = $2")
            .bind(extension_id)
            .bind(version)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.map(|(sha,)| sha))
}

type ReleaseRow = (String, String, String, String, String, i64, String, String, String, String, i64, String, i64);

/// The columns [`release_from`] reads, in its order (a macro so the queries stay static strings).
macro_rules! release_columns {
    () => {
        "extension_id, version, publisher, name, scopes, data_level, kinds, hooks, object_key, sha256, length, \
         signature, published_at"
    };
}

fn release_from(r: ReleaseRow) -> Release {
    let (
        extension_id,
        version,
        publisher,
        name,
        scopes,
        level,
        kinds,
        hooks,
        object_key,
        sha256,
        length,
        signature,
        at,
    ) = r;
    let list = |s: &str| s.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect();
    Release {
        extension_id,
        version,
        publisher,
        name,
        scopes: list(&scopes),
        data_level: u8::try_from(level).unwrap_or(2),
        kinds: list(&kinds),
        hooks: list(&hooks),
        object_key,
        sha256,
        length,
        signature,
        published_at: Timestamp(at),
    }
}

/// The whole catalog, newest version of each extension first within the extension. The catalog is public (every
/// merchant may browse it); what a release may do is in its scopes.
pub async fn releases(db: &Db) -> Result<Vec<Release>> {
    let rows: Vec<ReleaseRow> =
        sqlx::query_as(concat!("SELECT ", release_columns!(), " FROM extension_releases ORDER BY extension_id"))
            .fetch_all(db.pool())
            .await?;
    let mut all: Vec<Release> = rows.into_iter().map(release_from).collect();
    all.sort_by(|a, b| a.extension_id.cmp(&b.extension_id).then(compare_versions(&b.version, &a.version)));
    Ok(all)
}

/// The releases of one extension, newest first.
pub async fn releases_of(db: &Db, extension_id: &str) -> Result<Vec<Release>> {
    let rows: Vec<ReleaseRow> =
        sqlx::query_as(concat!("SELECT ", release_columns!(), " FROM extension_releases WHERE extension_id = $1"))
            .bind(extension_id)
            .fetch_all(db.pool())
            .await?;
    let mut all: Vec<Release> = rows.into_iter().map(release_from).collect();
    all.sort_by(|a, b| compare_versions(&b.version, &a.version));
    Ok(all)
}

/// One release.
pub async fn release(db: &Db, extension_id: &str, version: &str) -> Result<Option<Release>> {
    let row: Option<ReleaseRow> = sqlx::query_as(concat!(
        "SELECT ",
        release_columns!(),
        " FROM extension_releases WHERE extension_id = $1 AND version = $2"
    ))
    .bind(extension_id)
    .bind(version)
    .fetch_optional(db.pool())
    .await?;
    Ok(row.map(release_from))
}

type InstallRow =
    (String, String, String, i64, i64, i64, String, Option<String>, Option<i64>, Option<i64>, Option<String>);

fn install_from(r: InstallRow) -> Result<Install> {
    let (
        extension_id,
        version,
        policy,
        delay_days,
        installed_at,
        updated_at,
        installed_by,
        last_error,
        error_at,
        disabled_at,
        disabled_reason,
    ) = r;
    Ok(Install {
        extension_id,
        version,
        policy: Policy::parse(&policy)?,
        delay_days,
        installed_at: Timestamp(installed_at),
        updated_at: Timestamp(updated_at),
        installed_by,
        last_error,
        last_error_at: error_at.map(Timestamp),
        disabled_at: disabled_at.map(Timestamp),
        disabled_reason,
    })
}

/// The store's installed extensions.
pub async fn installs(db: &Db, scope: &StaffScope) -> Result<Vec<Install>> {
    let rows: Vec<InstallRow> = sqlx::query_as(
        "SELECT extension_id, version, policy, delay_days, installed_at, updated_at, installed_by, last_error, \
         last_error_at, disabled_at, disabled_reason FROM store_extensions WHERE store_id = $1 ORDER BY extension_id",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(install_from).collect()
}

/// The releases installed in the store that hold a WebAssembly plugin, for the storefront's hook points; an install
/// the platform disabled is left out. Readable with any scope of the store (a shopper's page runs them); what they
/// may do is their manifest's grant.
pub async fn installed_plugins(db: &Db, scope: &StoreScope) -> Result<Vec<Release>> {
    let rows: Vec<ReleaseRow> = sqlx::query_as(concat!(
        "SELECT ",
        "r.extension_id, r.version, r.publisher, r.name, r.scopes, r.data_level, r.kinds, r.hooks, r.object_key, r.sha256, \
         r.length, r.signature, r.published_at",
        " FROM store_extensions e JOIN extension_releases r ON r.extension_id = e.extension_id \
          AND r.version = e.version WHERE e.store_id = $1 AND e.disabled_at IS NULL ORDER BY e.installed_at, e.extension_id"
    ))
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(release_from).filter(|r| r.kinds.iter().any(|k| k == "plugin")).collect())
}

/// One installed extension of the store.
pub async fn installed(db: &Db, scope: &StaffScope, extension_id: &str) -> Result<Option<Install>> {
    Ok(installs(db, scope).await?.into_iter().find(|i| i.extension_id == extension_id))
}

fn check_delay(delay_days: i64) -> Result<()> {
    if (0..=MAX_DELAY_DAYS).contains(&delay_days) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("the delay is 0 to {MAX_DELAY_DAYS} days")))
    }
}

/// Installs a release the caller verified and checked. Refused when the extension is already installed (update it
/// instead) or the release is not in the catalog. Audited (`extension.installed`).
pub async fn install(
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    version: &str,
    policy: Policy,
    delay_days: i64,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    install_on(&mut tx, db, scope, extension_id, version, policy, delay_days).await?;
    tx.commit().await?;
    Ok(())
}

/// [`install`] inside the caller's transaction, for an install that makes more (an app's token and webhook
/// subscriptions are written with it, or not at all).
pub async fn install_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    version: &str,
    policy: Policy,
    delay_days: i64,
) -> Result<()> {
    check_delay(delay_days)?;
    let now = db.now();
    advisories::lock_store(tx, db, scope).await?;
    let sha = release_sha(tx, extension_id, version).await?.ok_or(StoreError::NotFound("release"))?;
    advisories::refuse_affected(tx, extension_id, version).await?;
    let done = sqlx::query(
        "INSERT INTO store_extensions (store_id, extension_id, version, policy, delay_days, installed_at, updated_at, \
         installed_by) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) ON CONFLICT (store_id, extension_id) DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(extension_id)
    .bind(version)
    .bind(policy.as_str())
    .bind(delay_days)
    .bind(now.0)
    .bind(scope.actor().as_audit_text())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("{extension_id} is already installed; update it instead")));
    }
    let target = format!("extension:{extension_id}");
    let details = serde_json::json!({"version": version, "sha256": sha, "policy": policy.as_str()});
    audit::record_store(tx, db, scope, NewEvent::new("extension.installed", &target).details(details)).await?;
    advisories::rematch_on(tx, db, scope).await?;
    // Its blocks show on the store's pages: cached pages are stale from now.
    crate::storefront::touch(tx, scope).await?;
    Ok(())
}

/// Moves an installed extension from `from` to the newer `to` (which the caller verified and checked), clearing a
/// past failure. Only if it is still on `from` (two updates racing: the second finds nothing to do and gets
/// [`StoreError::Conflict`]). Never to an older or equal version. Audited (`extension.updated`, with `automatic`).
pub async fn update(
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    from: &str,
    to: &str,
    by: UpdatedBy,
) -> Result<()> {
    if compare_versions(to, from) != Ordering::Greater {
        return Err(StoreError::Invalid(format!(
            "{to} is not newer than the installed {from}; a downgrade is refused"
        )));
    }
    let mut tx = db.begin_write().await?;
    advisories::lock_store(&mut tx, db, scope).await?;
    let sha = release_sha(&mut tx, extension_id, to).await?.ok_or(StoreError::NotFound("release"))?;
    advisories::refuse_affected(&mut tx, extension_id, to).await?;
    let done = sqlx::query(
        "UPDATE store_extensions SET version = $1, updated_at = $2, last_error = NULL, last_error_at = NULL \
         WHERE store_id = $3 AND extension_id = $4 AND version = $5",
    )
    .bind(to)
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(extension_id)
    .bind(from)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::Conflict(format!("{extension_id} is no longer on {from}")));
    }
    let target = format!("extension:{extension_id}");
    let details = serde_json::json!({"from": from, "to": to, "sha256": sha, "automatic": by == UpdatedBy::Policy});
    audit::record_store(&mut tx, db, scope, NewEvent::new("extension.updated", &target).details(details)).await?;
    // An app's token keeps no more than the new release asks for.
    crate::tokens::app::narrow_to_release_on(&mut tx, db, scope, extension_id, to).await?;
    // The new version's findings (the old one's fixed; a disabled install enabled if no critical one remains).
    advisories::rematch_on(&mut tx, db, scope).await?;
    crate::storefront::touch(&mut tx, scope).await?;
    tx.commit().await?;
    Ok(())
}

/// Records that an update to `tried` failed its checks and was not applied (the installed version stays live).
/// Audited (`extension.update_failed`); the Security Center shows the reason.
pub async fn record_failure(db: &Db, scope: &StaffScope, extension_id: &str, tried: &str, reason: &str) -> Result<()> {
    let reason: String = reason.chars().take(MAX_REASON).collect();
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE store_extensions SET last_error = $1, last_error_at = $2 WHERE store_id = $3 AND extension_id = $4",
    )
    .bind(format!("{tried}: {reason}"))
    .bind(db.now().0)
    .bind(scope.store_key())
    .bind(extension_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("installed extension"));
    }
    let target = format!("extension:{extension_id}");
    let details = serde_json::json!({"tried": tried, "reason": reason});
    audit::record_store(&mut tx, db, scope, NewEvent::new("extension.update_failed", &target).details(details)).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets an installed extension's update policy. Audited (`extension.policy_changed`).
pub async fn set_policy(
    db: &Db,
    scope: &StaffScope,
    extension_id: &str,
    policy: Policy,
    delay_days: i64,
) -> Result<()> {
    check_delay(delay_days)?;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE store_extensions SET policy = $1, delay_days = $2 WHERE store_id = $3 AND extension_id = $4",
    )
    .bind(policy.as_str())
    .bind(delay_days)
    .bind(scope.store_key())
    .bind(extension_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("installed extension"));
    }
    let target = format!("extension:{extension_id}");
    let details = serde_json::json!({"policy": policy.as_str(), "delay_days": delay_days});
    audit::record_store(&mut tx, db, scope, NewEvent::new("extension.policy_changed", &target).details(details))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Removes an installed extension and revokes its app tokens. Audited (`extension.uninstalled`).
pub async fn uninstall(db: &Db, scope: &StaffScope, extension_id: &str) -> Result<()> {
    let mut tx = db.begin_write().await?;
    uninstall_on(&mut tx, db, scope, extension_id).await?;
    tx.commit().await?;
    Ok(())
}

/// [`uninstall`] inside the caller's transaction (an app's webhook subscriptions end with it).
pub async fn uninstall_on(tx: &mut sqlx::AnyConnection, db: &Db, scope: &StaffScope, extension_id: &str) -> Result<()> {
    advisories::lock_store(tx, db, scope).await?;
    let done = sqlx::query("DELETE FROM store_extensions WHERE store_id = $1 AND extension_id = $2")
        .bind(scope.store_key())
        .bind(extension_id)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() != 1 {
        return Err(StoreError::NotFound("installed extension"));
    }
    let target = format!("extension:{extension_id}");
    audit::record_store(tx, db, scope, NewEvent::new("extension.uninstalled", &target)).await?;
    crate::tokens::app::revoke_for_removal(tx, db, scope, extension_id).await?;
    // Its findings are fixed by the removal.
    advisories::rematch_on(tx, db, scope).await?;
    crate::storefront::touch(tx, scope).await?;
    Ok(())
}

/// The stores with at least one extension installed (the automatic update job visits each).
pub async fn stores_with_installs(db: &Db, _platform: &PlatformScope) -> Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT e.store_id FROM store_extensions e JOIN stores s ON s.id = e.store_id \
         WHERE s.status = 'active' ORDER BY e.store_id",
    )
    .fetch_all(db.pool())
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
