//! Extensions end to end (issue #19 items 2 and 3): the operator publishes signed releases into the catalog, staff
//! install them into their store, and each install is kept up to date under its policy by the hourly
//! [`AUTO_UPDATE_JOB`](palisade_store::extensions::AUTO_UPDATE_JOB).
//!
//! Nothing goes live without passing [`check_release`] at that moment: the archive is read back from object
//! storage and must be the catalog's exact bytes (length and SHA-256), signed by the publisher's key registered
//! now, a valid package whose manifest matches the catalog row, for this Palisade version; its theme templates
//! must compile and render on sample data in the template sandbox, and its WebAssembly plugin must load in the
//! sandbox and answer each of its hooks on sample data. An update that fails stays off: the installed release
//! keeps running, the failure is recorded and audited, and the Security Center shows it (`store.extensions-current`
//! unmet) until someone acts. An update that asks for more access than the installed release had is never
//! automatic, and a person installing or updating must hold every permission the release asks for.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use palisade_advisories::{AdvisoryDb, Package as OsvPackage, Version as OsvVersion, ingest_dir};
use palisade_plugins::{Address, Cart, CartLine, Customer, Plugin, PluginHost, Product};
use palisade_registry::{PublisherHandle, PublisherKey, VerifiedRelease, VerifyingKey, verify_release};
use palisade_store::extensions::{
    self, Candidate, Install, Installed, NewRelease, Plan, Policy, Published, Release, UpdatedBy, Why, advisories,
};
use palisade_store::permissions::Permission;
use palisade_store::scope::{PlatformScope, StaffScope, StoreScope};
use palisade_store::{Db, Objects};
use serde::Serialize;

use crate::http::ApiError;
use crate::state::AppState;

/// Largest advisory file read from the feed.
const MAX_FEED_FILE: u64 = 4 * 1024 * 1024;
/// The object-store prefix of release archives (content-addressed).
const OBJECT_PREFIX: &str = "extensions";

fn refused(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// Registers (or rotates) a publisher's minisign public key: the base64 key line, or a whole `.pub` file.
pub async fn register_publisher(
    db: &Db,
    platform: &PlatformScope,
    handle: &str,
    public_key: &str,
) -> Result<String, ApiError> {
    let handle = PublisherHandle::parse(handle).map_err(|e| refused("publisher_invalid", e.to_string()))?;
    let line = public_key.lines().map(str::trim).rfind(|l| !l.is_empty() && !l.starts_with("untrusted comment:"));
    let key = VerifyingKey::parse(line.unwrap_or_default()).map_err(|e| refused(e.code(), e.to_string()))?;
    let key_id = key.id().to_string();
    extensions::register_publisher(db, platform, handle.as_str(), key.to_base64(), &key_id).await?;
    Ok(key_id)
}

/// Verifies a release (the publisher's signature over the exact bytes, the package, the publisher) and adds it to
/// the catalog. Republishing identical bytes changes nothing; other bytes under a published version are refused.
pub async fn publish(
    db: &Db,
    objects: &Objects,
    platform: &PlatformScope,
    publisher: &str,
    archive: &[u8],
    signature: &str,
) -> Result<(Release, Published), ApiError> {
    let key = publisher_key(db, publisher).await?;
    let verified = verify_release(archive, signature, &key).map_err(|e| refused(e.code(), e.to_string()))?;
    let object_key = objects.put_content(OBJECT_PREFIX, bytes::Bytes::copy_from_slice(archive)).await?;
    let new = new_release(&verified, object_key, signature);
    let outcome = extensions::publish(db, platform, &new).await?;
    let release = extensions::release(db, &new.extension_id, &new.version)
        .await?
        .ok_or_else(|| ApiError::not_found("release"))?;
    Ok((release, outcome))
}

fn new_release(verified: &VerifiedRelease, object_key: String, signature: &str) -> NewRelease {
    let package = verified.package();
    let m = &package.manifest;
    let mut kinds = Vec::new();
    for (kind, present) in
        [("theme", m.content.theme.is_some()), ("plugin", m.content.plugin.is_some()), ("app", m.content.app.is_some())]
    {
        if present {
            kinds.push(kind.to_owned());
        }
    }
    NewRelease {
        extension_id: m.id.to_string(),
        version: m.version.to_string(),
        publisher: m.publisher.to_string(),
        name: m.name.clone(),
        scopes: m.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        data_level: match m.customer_data {
            palisade_registry::DataLevel::None => 0,
            palisade_registry::DataLevel::WithoutContact => 1,
            palisade_registry::DataLevel::WithContact => 2,
        },
        kinds,
        hooks: m.content.plugin.iter().flat_map(|p| p.hooks.iter().map(|h| h.as_str().to_owned())).collect(),
        object_key,
        sha256: package.sha256.to_hex(),
        length: i64::try_from(package.length).unwrap_or(i64::MAX),
        signature: signature.to_owned(),
    }
}

async fn publisher_key(db: &Db, handle: &str) -> Result<PublisherKey, ApiError> {
    let row = extensions::publisher(db, handle).await?.ok_or_else(|| {
        refused(
            "publisher_unknown",
            format!("no publisher `{}` is registered", handle.chars().take(40).collect::<String>()),
        )
    })?;
    let publisher = PublisherHandle::parse(&row.handle).map_err(|e| refused("publisher_invalid", e.to_string()))?;
    let key = VerifyingKey::parse(&row.public_key).map_err(|e| refused(e.code(), e.to_string()))?;
    Ok(PublisherKey { publisher, key })
}

/// Every check a release passes before it goes live in a store (see the module docs). Returns the verified
/// release; any failure is a refusal with a stable code and a message for the merchant. The reads are async; the
/// checks themselves (signature, package, trial render, plugin self-test) run off the async threads.
pub async fn check_release(state: &AppState, release: &Release) -> Result<VerifiedRelease, ApiError> {
    let archive = state
        .objects
        .get(&release.object_key)
        .await?
        .ok_or_else(|| refused("release_missing", "the release's archive is missing from storage"))?;
    let key = publisher_key(&state.db, &release.publisher).await?;
    let (release, core) = (release.clone(), state.config.core_version.clone());
    tokio::task::spawn_blocking(move || check_bytes(&archive, &release, &key, &core))
        .await
        .map_err(|_| ApiError::internal())?
}

/// The checks of [`check_release`] on the bytes read back from storage.
fn check_bytes(
    archive: &[u8],
    release: &Release,
    key: &PublisherKey,
    core_version: &str,
) -> Result<VerifiedRelease, ApiError> {
    if i64::try_from(archive.len()).ok() != Some(release.length)
        || palisade_registry::Sha256::of(archive).to_hex() != release.sha256
    {
        return Err(refused("release_tampered", "the stored archive is not the bytes that were published"));
    }
    let verified = verify_release(archive, &release.signature, key).map_err(|e| refused(e.code(), e.to_string()))?;
    let m = &verified.package().manifest;
    if m.id.as_str() != release.extension_id || m.version.to_string() != release.version {
        return Err(refused("release_mismatch", "the archive is another extension or version than the catalog's"));
    }
    let running = semver::Version::parse(core_version)
        .map_err(|e| refused("core_version", format!("the running version does not parse: {e}")))?;
    if !m.palisade.matches(&running) {
        return Err(refused(
            "release_incompatible",
            format!("{} {} needs Palisade {}; this is {running}", m.id, m.version, m.palisade),
        ));
    }
    check_theme(&verified)?;
    check_plugin(&verified)?;
    Ok(verified)
}

/// The theme's templates and stylesheet must pass the storefront's own template checks (compile, trial render on
/// sample data); other files of the theme are assets.
fn check_theme(verified: &VerifiedRelease) -> Result<(), ApiError> {
    let package = verified.package();
    let Some(theme) = &package.manifest.content.theme else { return Ok(()) };
    let root = format!("{}/", theme.root.as_str());
    for (path, file) in &package.files {
        let Some(rel) = path.as_str().strip_prefix(&root) else { continue };
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if !(name.ends_with(".html") || name.ends_with(".css")) {
            continue;
        }
        let source = std::str::from_utf8(&file.bytes)
            .map_err(|_| refused("theme_invalid", format!("{} is not UTF-8 text", path.as_str())))?;
        palisade_commerce::themes::check(name, source, &BTreeMap::new())
            .map_err(|e| refused("theme_invalid", format!("{}: {e}", path.as_str())))?;
    }
    Ok(())
}

/// A host with no store data: the self-test must work on the sample data it is handed.
struct SampleHost;

impl PluginHost for SampleHost {
    fn product(&self, _id: &str) -> Option<Product> {
        None
    }
    fn customer(&self, _id: &str) -> Option<Customer> {
        None
    }
}

/// The plugin must load in the sandbox and answer each hook it declares on sample data, within its fuel and
/// memory limits.
fn check_plugin(verified: &VerifiedRelease) -> Result<(), ApiError> {
    let Some(declared) = &verified.package().manifest.content.plugin else { return Ok(()) };
    let fail = |e: palisade_plugins::PluginError| refused("plugin_self_test_failed", format!("{}: {e}", e.code()));
    let plugin = Plugin::from_release(verified).map_err(fail)?;
    let product = Product {
        id: "sample".into(),
        title: "Sample product".into(),
        sku: Some("SAMPLE-1".into()),
        price_minor: 1_500,
        currency: "SGD".into(),
        available: 3,
    };
    let cart = Cart {
        currency: "SGD".into(),
        lines: vec![CartLine { product_id: "sample".into(), sku: None, quantity: 2, unit_price_minor: 1_500 }],
        subtotal_minor: 3_000,
        customer_id: None,
    };
    let address = Address {
        name: None,
        line1: None,
        line2: None,
        city: None,
        region: None,
        postal_code: Some("018956".into()),
        country: "SG".into(),
        phone: None,
    };
    for hook in &declared.hooks {
        match hook {
            palisade_registry::Hook::ProductBlock => plugin.product_block(&SampleHost, &product).map(|_| ()),
            palisade_registry::Hook::ShippingRates => plugin.shipping_rates(&SampleHost, &cart, &address).map(|_| ()),
            palisade_registry::Hook::CheckoutValidate => plugin.checkout_validate(&SampleHost, &cart).map(|_| ()),
        }
        .map_err(fail)?;
    }
    Ok(())
}

/// The release's scopes the member does not hold (a person cannot grant an extension more than they have).
/// Customer data at any level counts as the `customer_data` permission, whether or not the manifest lists that
/// scope: a plugin at level 2 is handed buyers' addresses by the shipping hook.
fn missing_permissions(release: &Release, holds: &(dyn Fn(Permission) -> bool + Sync)) -> Vec<String> {
    let mut missing: Vec<String> =
        release.scopes.iter().filter(|s| !Permission::parse(s).is_some_and(holds)).cloned().collect();
    let customer_data = Permission::CustomerData.key();
    if release.data_level > 0 && !holds(Permission::CustomerData) && !missing.iter().any(|m| m == customer_data) {
        missing.push(customer_data.to_owned());
    }
    missing
}

/// Refuses (403 `extension_scope_not_held`) a release asking for a permission the member does not hold.
pub(crate) fn require_held(release: &Release, holds: &(dyn Fn(Permission) -> bool + Sync)) -> Result<(), ApiError> {
    let missing = missing_permissions(release, holds);
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "extension_scope_not_held",
        format!("this release asks for permissions you do not have: {}", missing.join(", ")),
    ))
}

/// Installs `version` of `extension_id` into the member's store after [`check_release`]. The member must hold
/// every permission the release asks for. An app's install answers its token and webhook secrets (once).
pub async fn install(
    state: &AppState,
    scope: &StaffScope,
    holds: &(dyn Fn(Permission) -> bool + Sync),
    extension_id: &str,
    version: &str,
    policy: Policy,
    delay_days: i64,
) -> Result<Option<super::apps::AppCredentials>, ApiError> {
    let release =
        extensions::release(&state.db, extension_id, version).await?.ok_or_else(|| ApiError::not_found("release"))?;
    require_held(&release, holds)?;
    let verified = check_release(state, &release).await?;
    super::apps::install(state, scope, &verified, policy, delay_days).await
}

/// Updates an installed extension to `to` by a person (who must hold every permission `to` asks for), after
/// [`check_release`]. A failed check leaves the installed release live and is returned (not recorded: the person
/// sees it now).
pub async fn update_by_hand(
    state: &AppState,
    scope: &StaffScope,
    holds: &(dyn Fn(Permission) -> bool + Sync),
    extension_id: &str,
    to: &str,
) -> Result<(), ApiError> {
    let install = extensions::installed(&state.db, scope, extension_id)
        .await?
        .ok_or_else(|| ApiError::not_found("installed extension"))?;
    let release =
        extensions::release(&state.db, extension_id, to).await?.ok_or_else(|| ApiError::not_found("release"))?;
    require_held(&release, holds)?;
    let verified = check_release(state, &release).await?;
    if !super::apps::webhooks_unchanged(&state.db, scope, &super::apps::Hooks::of(&verified)).await? {
        return Err(refused(
            "app_webhooks_changed",
            "this release sends its webhooks elsewhere or subscribes to other events: remove the app and install \
             it again, so that you see (and pass on) its new webhook secrets",
        ));
    }
    extensions::update(&state.db, scope, extension_id, &install.version, to, UpdatedBy::Hand).await?;
    Ok(())
}

/// The operator's advisories feed (the configured directory), read whole or not at all: a directory that cannot
/// be listed or a file the parser refuses fails the sync (a partial feed would read as advisories withdrawn).
fn read_feed(dir: &Path) -> Result<AdvisoryDb, String> {
    let mut db = AdvisoryDb::new();
    let report = ingest_dir(&mut db, dir, MAX_FEED_FILE).map_err(|e| format!("the feed cannot be read: {e}"))?;
    // `releases.json` (the core's latest version, read by the console's updates page) is not an advisory.
    let not_releases = |p: &Path| p.file_name().is_none_or(|n| n != crate::routes::console::updates::RELEASES_FILE);
    if let Some((path, e)) = report.errors().find(|(p, _)| not_releases(p)) {
        return Err(format!("a file of the feed was refused ({}: {e})", path.display()));
    }
    Ok(db)
}

/// The advisories of `feed` affecting `extension_id` at `version`, as the catalog keeps them.
fn matching(feed: &AdvisoryDb, extension_id: &str, version: &str) -> Vec<advisories::ReleaseAdvisory> {
    let Ok(v) = OsvVersion::parse(version) else { return Vec::new() };
    let package = OsvPackage::extension(extension_id);
    feed.affecting(&package, &v)
        .into_iter()
        .map(|a| {
            let affected = a.affected.iter().find(|x| x.package == package && x.includes(&v));
            let severity = match affected.and_then(|x| a.rating_for(x)).map(|r| r.as_str()) {
                Some("none") => "low",
                Some(s) => s,
                None => "unknown",
            };
            advisories::ReleaseAdvisory {
                extension_id: extension_id.to_owned(),
                version: version.to_owned(),
                advisory_id: a.id.clone(),
                severity: severity.to_owned(),
                summary: a.summary.clone().or_else(|| a.details.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// What one advisories sync did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SyncRun {
    /// Whether this node has a feed (otherwise it only rematched with what another node synced).
    pub feed: bool,
    /// Why the feed was not applied (it could not be read whole; the previous matches stand).
    pub failed: Option<String>,
    pub advisories: usize,
    pub matches: usize,
    pub stores: usize,
    pub opened: usize,
    pub fixed: usize,
    pub disabled: usize,
    pub enabled: usize,
}

/// Matches the operator's feed (if this node has one) against every release in the catalog, keeps the result in
/// the database, and rematches every store it concerns: findings opened and fixed, installs disabled or enabled,
/// stores told. The first step of the hourly [`AUTO_UPDATE_JOB`](extensions::AUTO_UPDATE_JOB), so a new advisory
/// reaches every store (and its automatic security update) within the hour.
pub async fn sync_advisories(state: &AppState) -> Result<SyncRun, palisade_store::StoreError> {
    sync_feed(&state.db, state.config.advisories_dir.as_deref()).await
}

/// [`sync_advisories`] with the feed directory given (`None`: rematch with what another node synced); `serve` runs
/// it once at start, so a node with a feed does not wait for the hour. A feed that cannot be read whole changes no
/// match (recorded, and `platform.extension-advisories` says so); stores are still rematched, so the grace periods
/// run on.
pub async fn sync_feed(db: &Db, dir: Option<&Path>) -> Result<SyncRun, palisade_store::StoreError> {
    let platform = PlatformScope::system("job:extensions.advisories");
    let mut run = SyncRun::default();
    if let Some(dir) = dir.map(Path::to_path_buf) {
        run.feed = true;
        // Releases published from here on are matched by the next sync.
        let checked_at = db.now();
        let releases = extensions::releases(db).await?;
        let before = advisories::matches(db).await?.len();
        // Reading and matching files is blocking work: off the async threads.
        let read = tokio::task::spawn_blocking(move || {
            let feed = read_feed(&dir)?;
            let matches: Vec<_> = releases.iter().flat_map(|r| matching(&feed, &r.extension_id, &r.version)).collect();
            Ok::<_, String>((matches, feed.len()))
        })
        .await
        .map_err(|e| palisade_store::StoreError::Invalid(format!("reading the advisories feed failed: {e}")))?;
        let read = read.and_then(|(matches, count)| {
            // An empty feed where there were matches is a feed that went missing, not every advisory withdrawn.
            if count == 0 && before > 0 {
                Err(format!(
                    "the feed holds no advisories (the catalog had {before} match(es)); withdraw advisories \
                             with OSV's `withdrawn` field instead of deleting them"
                ))
            } else {
                Ok((matches, count))
            }
        });
        match read {
            Ok((matches, count)) => {
                let record = serde_json::json!({"advisories": count, "matches": matches.len()});
                advisories::replace_matches(db, &platform, &matches, checked_at, &record).await?;
                run.advisories = count;
                run.matches = matches.len();
            }
            Err(reason) => {
                tracing::warn!(reason = %reason, "the extension advisories feed was not applied");
                advisories::record_failure(db, &platform, &reason).await?;
                run.failed = Some(reason);
            }
        }
    }
    for store in advisories::stores_to_rematch(db, &platform).await? {
        let Ok(store_id) = store.parse() else { continue };
        let scope = StaffScope::system(store_id, "job:extensions.advisories");
        match advisories::rematch(db, &scope).await {
            Ok(done) => {
                run.stores += 1;
                run.opened += done.opened.len();
                run.fixed += done.fixed.len();
                run.disabled += done.disabled.len();
                run.enabled += done.enabled.len();
            }
            Err(e) => tracing::warn!(store.id = %store, error = %e, "extension advisories not rematched for a store"),
        }
    }
    Ok(run)
}

/// What one run of the automatic updates did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct AutoUpdateRun {
    pub stores: usize,
    pub updated: usize,
    pub failed: usize,
    pub major_needed: usize,
}

/// The job [`AUTO_UPDATE_JOB`](extensions::AUTO_UPDATE_JOB): every store's installs under their policies. A
/// failing store does not stop the others; only the platform's own failures (the database) are errors.
pub async fn auto_update_all(state: &AppState) -> Result<AutoUpdateRun, palisade_store::StoreError> {
    let platform = PlatformScope::system("job:extensions.auto-update");
    let affected: Affected =
        advisories::matches(&state.db).await?.into_iter().map(|m| (m.extension_id, m.version)).collect();
    let mut run = AutoUpdateRun::default();
    let mut checked = Checked::new();
    for store in extensions::stores_with_installs(&state.db, &platform).await? {
        let Ok(store_id) = store.parse() else { continue };
        let scope = StaffScope::system(store_id, "job:extensions.auto-update");
        run.stores += 1;
        // One store's failure (an install removed meanwhile, a row that does not read) never stops the others.
        let installs = match extensions::installs(&state.db, &scope).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(store.id = %store, error = %e, "automatic extension updates skipped for a store");
                continue;
            }
        };
        for install in installs {
            if let Err(e) = auto_update_one(state, &scope, &affected, &install, &mut checked, &mut run).await {
                tracing::warn!(store.id = %store, extension.id = %install.extension_id, error = %e,
                    "automatic extension update not made");
            }
        }
    }
    Ok(run)
}

/// Each release's check result within one run: a release installed in many stores is downloaded, verified and
/// trial-run once, not once per store.
type Checked = std::collections::HashMap<(String, String), Result<super::apps::Hooks, String>>;

/// The releases (extension id, version) an advisory affects, as the last sync matched them.
type Affected = std::collections::HashSet<(String, String)>;

async fn auto_update_one(
    state: &AppState,
    scope: &StaffScope,
    affected_releases: &Affected,
    install: &Install,
    checked: &mut Checked,
    run: &mut AutoUpdateRun,
) -> Result<(), palisade_store::StoreError> {
    let releases = extensions::releases_of(&state.db, &install.extension_id).await?;
    let candidates: Vec<Candidate<'_>> = releases
        .iter()
        .map(|r| Candidate {
            version: &r.version,
            published_at: r.published_at,
            affected: affected_releases.contains(&(r.extension_id.clone(), r.version.clone())),
        })
        .collect();
    let affected = affected_releases.contains(&(install.extension_id.clone(), install.version.clone()));
    let to = match extensions::plan(
        Installed { version: &install.version, affected },
        install.policy,
        install.delay_days,
        state.db.now(),
        &candidates,
    ) {
        Plan::Stay => return Ok(()),
        Plan::MajorNeeded { .. } => {
            run.major_needed += 1;
            return Ok(());
        }
        Plan::Update { to, why: Why::Security | Why::Routine } => to,
    };
    let (Some(target), current) =
        (releases.iter().find(|r| r.version == to), releases.iter().find(|r| r.version == install.version))
    else {
        return Ok(());
    };
    let outcome = match current {
        Some(current) if !widens(current, target) => {
            let key = (target.extension_id.clone(), target.version.clone());
            if let Some(known) = checked.get(&key) {
                known.clone()
            } else {
                let result =
                    check_release(state, target).await.map(|v| super::apps::Hooks::of(&v)).map_err(|e| e.message);
                checked.insert(key, result.clone());
                result
            }
        }
        _ => Err("the new release asks for more access or comes from another publisher; update it by hand".to_owned()),
    };
    // An app whose webhooks change needs a person: the new secrets are shown to whoever reinstalls it.
    let outcome = match outcome {
        Ok(hooks) if !super::apps::webhooks_unchanged(&state.db, scope, &hooks).await? => {
            Err("the new release changes the app's webhooks; remove and install it again".to_owned())
        }
        other => other.map(|_| ()),
    };
    match outcome {
        Ok(()) => {
            match extensions::update(&state.db, scope, &install.extension_id, &install.version, &to, UpdatedBy::Policy)
                .await
            {
                Ok(()) => run.updated += 1,
                // Updated meanwhile by a person: nothing to do.
                Err(palisade_store::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Err(e) => {
            run.failed += 1;
            // Already recorded for this release: do not add an audit event every hour.
            let already = install.last_error.as_deref().is_some_and(|l| l.starts_with(&format!("{to}: ")));
            if !already {
                extensions::record_failure(&state.db, scope, &install.extension_id, &to, &e).await?;
            }
        }
    }
    Ok(())
}

/// Whether `next` asks for more than `current` was granted: another scope, a higher customer-data level, a new
/// kind of content (a theme gaining a plugin or an app), a new hook point (a plugin starting to judge checkouts),
/// or another publisher.
fn widens(current: &Release, next: &Release) -> bool {
    next.data_level > current.data_level
        || next.scopes.iter().any(|s| !current.scopes.contains(s))
        || next.kinds.iter().any(|k| !current.kinds.contains(k))
        || next.hooks.iter().any(|h| !current.hooks.contains(h))
        || next.publisher != current.publisher
}

/// A plugin that passed [`check_release`] on this node, kept for the storefront's hook points.
pub struct LoadedPlugin {
    /// The extension's name, shown with what it adds to a page.
    pub name: String,
    /// Its cache key: release bytes and publisher key.
    key: String,
    plugin: Plugin,
    hooks: std::collections::BTreeSet<palisade_registry::Hook>,
}

/// Most releases kept loaded per node, and most product blocks kept per node.
const MAX_LOADED: usize = 1024;
const MAX_BLOCKS: usize = 4096;
/// A release refused on load is tried again after this long (its refusal may have been a passing failure that
/// still read as a refusal).
const RETRY_REFUSED_MS: i64 = 5 * 60 * 1000;
/// Most plugins whose product block one page runs (in install order).
pub const MAX_BLOCKS_PER_PAGE: usize = 5;

enum Entry {
    Loaded(Arc<LoadedPlugin>),
    Refused { at: i64 },
}

/// This node's loaded plugins, keyed by release bytes and publisher key (`sha256:public key`: a rotated key or
/// other bytes are a new entry, checked again), and the blocks they produced, keyed by plugin and input (a block
/// depends on nothing else: the host hands a plugin only the page's product). One load at a time, so a cold node
/// checks each release once however many pages ask for it.
#[derive(Default)]
pub struct PluginCache {
    loaded: std::sync::Mutex<std::collections::HashMap<String, Entry>>,
    loading: tokio::sync::Mutex<()>,
    blocks: std::sync::Mutex<std::collections::HashMap<String, Option<String>>>,
}

/// Inserts into a bounded map, letting one entry go when it is full.
fn bounded_insert<V>(map: &mut std::collections::HashMap<String, V>, max: usize, key: String, value: V) {
    if map.len() >= max
        && !map.contains_key(&key)
        && let Some(victim) = map.keys().next().cloned()
    {
        map.remove(&victim);
    }
    map.insert(key, value);
}

impl PluginCache {
    /// `Some(Some(plugin))` loaded, `Some(None)` refused recently, `None` not known (or refused long ago).
    fn lookup(&self, key: &str, now: i64) -> Option<Option<Arc<LoadedPlugin>>> {
        let map = self.loaded.lock().ok()?;
        match map.get(key)? {
            Entry::Loaded(p) => Some(Some(Arc::clone(p))),
            Entry::Refused { at } if now - at < RETRY_REFUSED_MS => Some(None),
            Entry::Refused { .. } => None,
        }
    }

    fn put(&self, key: String, entry: Entry) {
        if let Ok(mut map) = self.loaded.lock() {
            bounded_insert(&mut map, MAX_LOADED, key, entry);
        }
    }

    fn block(&self, key: &str) -> Option<Option<String>> {
        self.blocks.lock().ok()?.get(key).cloned()
    }

    fn keep_block(&self, key: String, block: Option<String>) {
        if let Ok(mut map) = self.blocks.lock() {
            bounded_insert(&mut map, MAX_BLOCKS, key, block);
        }
    }
}

impl std::fmt::Debug for PluginCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.loaded.lock().map(|m| m.len()).unwrap_or_default();
        f.debug_struct("PluginCache").field("entries", &n).finish()
    }
}

/// The release's plugin, loaded once per node after [`check_release`] (the same checks as at install: the bytes
/// in storage, the current key, the sandbox self-test); `None` when it fails them (logged; tried again after
/// [`RETRY_REFUSED_MS`], or at once after a storage or database failure).
async fn loaded_plugin(state: &AppState, release: &Release) -> Option<Arc<LoadedPlugin>> {
    let publisher = extensions::publisher(&state.db, &release.publisher).await.ok().flatten()?;
    let key = format!("{}:{}", release.sha256, publisher.public_key);
    if let Some(hit) = state.plugins.lookup(&key, state.db.now().0) {
        return hit;
    }
    let _turn = state.plugins.loading.lock().await;
    if let Some(hit) = state.plugins.lookup(&key, state.db.now().0) {
        return hit;
    }
    let verified = match check_release(state, release).await {
        Ok(verified) => verified,
        Err(e) => {
            tracing::warn!(extension.id = %release.extension_id, code = e.code, error = %e.message, "installed plugin refused");
            if !(e.status.is_server_error() || e.code == "release_missing") {
                state.plugins.put(key, Entry::Refused { at: state.db.now().0 });
            }
            return None;
        }
    };
    let hooks = verified.package().manifest.content.plugin.as_ref().map(|p| p.hooks.clone()).unwrap_or_default();
    match tokio::task::spawn_blocking(move || Plugin::from_release(&verified)).await {
        Ok(Ok(plugin)) => {
            let loaded = Arc::new(LoadedPlugin { name: release.name.clone(), key: key.clone(), plugin, hooks });
            state.plugins.put(key, Entry::Loaded(Arc::clone(&loaded)));
            Some(loaded)
        }
        Ok(Err(e)) => {
            tracing::warn!(extension.id = %release.extension_id, error = %e, "installed plugin not loaded");
            state.plugins.put(key, Entry::Refused { at: state.db.now().0 });
            None
        }
        Err(_) => None,
    }
}

/// The host of a product page: the page's own product and nothing else (no customer data on a public page).
struct PageHost {
    product: Product,
}

impl PluginHost for PageHost {
    fn product(&self, id: &str) -> Option<Product> {
        (id == self.product.id).then(|| self.product.clone())
    }
    fn customer(&self, _id: &str) -> Option<Customer> {
        None
    }
}

/// What one extension adds to a product page: its name (shown with it) and its block, cleaned.
#[derive(Debug, Clone, Serialize)]
pub struct Block {
    pub extension: String,
    pub html: String,
}

/// The `product_block` hook of every plugin installed in the store, for a product page. A plugin that fails (its
/// checks, fuel, memory, bad output) adds nothing and the page renders; each block is cleaned to the sandbox's
/// allow-list ([`palisade_plugins::UntrustedHtml::sanitised`]) and runs off the async threads.
pub async fn product_blocks(
    state: &AppState,
    scope: &StoreScope,
    product: &palisade_commerce::catalog::Product,
) -> Vec<Block> {
    let releases = match extensions::installed_plugins(&state.db, scope).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(store.id = %scope.store_key(), error = %e, "installed plugins not read");
            return Vec::new();
        }
    };
    if releases.is_empty() {
        return Vec::new();
    }
    let first = product.variants.first();
    let seen = Product {
        id: product.id.to_string(),
        title: product.title.clone(),
        sku: first.map(|v| v.sku.clone()),
        price_minor: first.map_or(0, |v| v.price.minor),
        currency: first.map_or_else(String::new, |v| v.price.currency.to_string()),
        available: product.variants.iter().map(|v| v.stock.max(0)).sum(),
    };
    let input = serde_json::to_string(&seen).unwrap_or_default();
    let mut blocks = Vec::new();
    let hooked = releases.iter().filter(|r| r.hooks.iter().any(|h| h == "product_block"));
    for release in hooked.take(MAX_BLOCKS_PER_PAGE) {
        let Some(loaded) = loaded_plugin(state, release).await else { continue };
        if !loaded.hooks.contains(&palisade_registry::Hook::ProductBlock) {
            continue;
        }
        let cache_key = format!("{}\u{1f}{input}", loaded.key);
        let html = match state.plugins.block(&cache_key) {
            Some(kept) => kept,
            None => {
                let (plugin, product) = (Arc::clone(&loaded), seen.clone());
                let ran = tokio::task::spawn_blocking(move || {
                    let host = PageHost { product: product.clone() };
                    plugin.plugin.product_block(&host, &product).map(|b| b.sanitised())
                })
                .await;
                let html = match ran {
                    Ok(Ok(html)) => Some(html).filter(|h| !h.trim().is_empty()),
                    Ok(Err(e)) => {
                        tracing::warn!(extension.id = %release.extension_id, error = %e, "product block not shown");
                        None
                    }
                    Err(e) => {
                        tracing::warn!(extension.id = %release.extension_id, error = %e, "product block task failed");
                        None
                    }
                };
                // Kept either way: a failing block is not run again for the same product until it changes.
                state.plugins.keep_block(cache_key, html.clone());
                html
            }
        };
        if let Some(html) = html {
            blocks.push(Block { extension: loaded.name.clone(), html });
        }
    }
    blocks
}

/// Most lines a checkout may hold (the checkout refuses more); a longer cart is not shown to plugins.
const MAX_CHECKED_LINES: usize = 50;

/// A checkout refused by an installed extension: its name and its message for the buyer (plain text, escaped
/// when shown).
#[derive(Debug, Clone)]
pub struct CheckoutRefusal {
    pub extension: String,
    pub message: String,
}

/// The cart as plugins see it: one line per variant, as the order will hold it (splitting a line cannot dodge a
/// per-order rule), priced from the catalog now.
async fn plugin_cart(
    state: &AppState,
    scope: &StoreScope,
    buyer: Option<palisade_core::AccountId>,
    lines: &[(palisade_core::VariantId, i64)],
) -> Result<Cart, ApiError> {
    let mut merged: Vec<(palisade_core::VariantId, i64)> = Vec::new();
    for (variant, quantity) in lines {
        match merged.iter_mut().find(|(v, _)| v == variant) {
            Some((_, q)) => *q = q.saturating_add(*quantity),
            None => merged.push((*variant, *quantity)),
        }
    }
    let (mut cart_lines, mut currency) = (Vec::new(), String::new());
    for (variant, quantity) in &merged {
        let Some((product_id, sku, price, code)) =
            palisade_commerce::catalog::variant_line(&state.db, scope, *variant).await?
        else {
            continue;
        };
        currency = code;
        let quantity = u32::try_from(*quantity).unwrap_or(0);
        cart_lines.push(CartLine { product_id, sku: Some(sku), quantity, unit_price_minor: price });
    }
    let subtotal = cart_lines
        .iter()
        .fold(0i64, |sum, l| sum.saturating_add(l.unit_price_minor.saturating_mul(i64::from(l.quantity))));
    Ok(Cart { currency, lines: cart_lines, subtotal_minor: subtotal, customer_id: buyer.map(|b| b.to_string()) })
}

/// A shipping rate offered at checkout: the store's flat rate (`standard`) or one an installed extension's
/// `shipping_rates` hook answered for this cart and address (`<extension id>/<its code>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OfferedRate {
    pub code: String,
    pub label: String,
    pub amount_minor: i64,
    pub currency: String,
    /// The extension offering it; `None` for the store's own rate.
    pub by: Option<String>,
}

impl OfferedRate {
    /// What the order's history keeps of it.
    #[must_use]
    pub fn choice(&self) -> Option<palisade_commerce::orders::ShippingChoice> {
        let currency = palisade_core::money::Currency::parse(&self.currency).ok()?;
        let label = match &self.by {
            Some(by) => format!("{} ({by})", self.label),
            None => self.label.clone(),
        };
        Some(palisade_commerce::orders::ShippingChoice {
            label,
            amount: palisade_core::money::Money::new(self.amount_minor, currency),
        })
    }
}

/// Whether an installed (and not disabled) plugin of the store prices shipping.
pub async fn offers_shipping(state: &AppState, scope: &StoreScope) -> Result<bool, ApiError> {
    let releases = extensions::installed_plugins(&state.db, scope).await?;
    Ok(releases.iter().any(|r| r.hooks.iter().any(|h| h == "shipping_rates")))
}

/// The code of the store's own flat rate among the offered ones.
pub const STANDARD_RATE: &str = "standard";

/// The shipping rates for this cart and address: the store's flat rate first (left out when it is 0 and an
/// extension offers rates), then each installed plugin's with the `shipping_rates` hook (at most [`MAX_BLOCKS_PER_PAGE`] plugins, each given the address at its customer data
/// level). A plugin that fails or answers badly offers nothing and is logged; the flat rate is always there.
/// Computed again when the order is placed: a buyer picks a code, never an amount.
pub async fn shipping_rates(
    state: &AppState,
    scope: &StoreScope,
    buyer: Option<palisade_core::AccountId>,
    lines: &[(palisade_core::VariantId, i64)],
    address: &palisade_commerce::address::ShippingAddress,
) -> Result<Vec<OfferedRate>, ApiError> {
    let store = palisade_store::tenancy::get_store(&state.db, scope).await?;
    let currency = store.currency.code().to_owned();
    let flat = palisade_commerce::orders::flat_shipping(&state.db, scope).await?;
    let mut offered = vec![OfferedRate {
        code: STANDARD_RATE.to_owned(),
        label: "Standard shipping".to_owned(),
        amount_minor: flat,
        currency: currency.clone(),
        by: None,
    }];
    if lines.is_empty() || lines.len() > MAX_CHECKED_LINES {
        return Ok(offered);
    }
    let releases = extensions::installed_plugins(&state.db, scope).await?;
    let hooked = releases.iter().filter(|r| r.hooks.iter().any(|h| h == "shipping_rates"));
    let mut raters = Vec::new();
    for release in hooked.take(MAX_BLOCKS_PER_PAGE) {
        if let Some(loaded) = loaded_plugin(state, release).await
            && loaded.hooks.contains(&palisade_registry::Hook::ShippingRates)
        {
            raters.push((release.extension_id.clone(), loaded));
        }
    }
    if raters.is_empty() {
        return Ok(offered);
    }
    let cart = plugin_cart(state, scope, buyer, lines).await?;
    // Nothing of this store in the cart: no plugin runs (a request naming no product costs no sandbox time).
    if cart.lines.is_empty() {
        return Ok(offered);
    }
    let v = address.to_json();
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let to = Address {
        name: field("name"),
        line1: field("line1"),
        line2: field("line2"),
        city: field("city"),
        region: None,
        postal_code: field("postcode"),
        country: field("country").unwrap_or_default(),
        phone: None,
    };
    for (extension_id, loaded) in raters {
        let (plugin, cart, to) = (Arc::clone(&loaded), cart.clone(), to.clone());
        let ran = tokio::task::spawn_blocking(move || plugin.plugin.shipping_rates(&SampleHost, &cart, &to)).await;
        match ran {
            Ok(Ok(rates)) => {
                offered.extend(rates.into_iter().filter(|r| r.currency == currency).map(|r| OfferedRate {
                    code: format!("{extension_id}/{}", r.code),
                    label: r.label,
                    amount_minor: r.amount_minor,
                    currency: r.currency,
                    by: Some(loaded.name.clone()),
                }))
            }
            Ok(Err(e)) => tracing::warn!(extension = %loaded.name, error = %e, "shipping rates skipped"),
            Err(e) => tracing::warn!(extension = %loaded.name, error = %e, "shipping rates task failed"),
        }
    }
    // A flat rate of 0 is "not set" as often as "free": once an extension prices shipping, an unset flat rate is
    // not offered as free shipping.
    if flat == 0 && offered.len() > 1 {
        offered.remove(0);
    }
    Ok(offered)
}

/// The `checkout_validate` hook of every plugin installed in the store (at most [`MAX_BLOCKS_PER_PAGE`]), before
/// an order is placed: the first refusal stops the checkout. A plugin that fails (checks, fuel, bad output)
/// does not block the buyer by itself: it is logged and skipped. Costs one read when the store has no plugins.
pub async fn checkout_refusal(
    state: &AppState,
    scope: &StoreScope,
    buyer: Option<palisade_core::AccountId>,
    key: &palisade_commerce::idempotency::IdempotencyKey,
    lines: &[(palisade_core::VariantId, i64)],
) -> Result<Option<CheckoutRefusal>, ApiError> {
    // A cart the checkout refuses anyway (empty, too many lines) is left to it: no per-line reads for a flood.
    if lines.is_empty() || lines.len() > MAX_CHECKED_LINES {
        return Ok(None);
    }
    let releases = extensions::installed_plugins(&state.db, scope).await?;
    let hooked: Vec<&Release> = releases.iter().filter(|r| r.hooks.iter().any(|h| h == "checkout_validate")).collect();
    if hooked.is_empty() {
        return Ok(None);
    }
    // A retry of a placed order gets that order back from the checkout: it is not judged again.
    if palisade_commerce::orders::key_used(&state.db, scope, key).await? {
        return Ok(None);
    }
    let mut validators = Vec::new();
    for release in hooked.into_iter().take(MAX_BLOCKS_PER_PAGE) {
        if let Some(loaded) = loaded_plugin(state, release).await
            && loaded.hooks.contains(&palisade_registry::Hook::CheckoutValidate)
        {
            validators.push(loaded);
        }
    }
    if validators.is_empty() {
        return Ok(None);
    }
    let cart = plugin_cart(state, scope, buyer, lines).await?;
    for loaded in validators {
        let (plugin, input) = (Arc::clone(&loaded), cart.clone());
        let ran = tokio::task::spawn_blocking(move || plugin.plugin.checkout_validate(&SampleHost, &input)).await;
        match ran {
            Ok(Ok(palisade_plugins::CheckoutVerdict::Refuse(message))) => {
                return Ok(Some(CheckoutRefusal { extension: loaded.name.clone(), message }));
            }
            Ok(Ok(palisade_plugins::CheckoutVerdict::Accept)) => {}
            Ok(Err(e)) => tracing::warn!(extension = %loaded.name, error = %e, "checkout validation skipped"),
            Err(e) => tracing::warn!(extension = %loaded.name, error = %e, "checkout validation task failed"),
        }
    }
    Ok(None)
}
