//! The platform's built-in jobs and their schedules.

use std::sync::Arc;

use palisade_commerce::policy::Policy;
use palisade_store::jobs::{self, Handlers, JobContext};
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::{PlatformScope, StoreScope};
use palisade_store::{Db, audit, settings, tenancy};

/// Daily verification of every audit chain.
pub const AUDIT_VERIFY: &str = "audit.verify";
/// Hourly evaluation of every control, so state history exists even when nobody looks.
pub const MATRIX_SNAPSHOT: &str = "matrix.snapshot";
/// Hourly completion of delivered orders whose buyer-protection window (the commerce policy's) has passed
/// (escrow released, less the policy's platform fee).
pub const ESCROW_AUTO_RELEASE: &str = "escrow.auto_release";
/// Daily removal of finished jobs older than two weeks.
pub const PRUNE_JOBS: &str = "jobs.prune";
/// Every 15 minutes: fetch the payment page and compare its scripts and security headers with the inventory
/// (PCI DSS 11.6.1).
pub const PAYMENT_PAGE_CHECK: &str = "payments.page_check";
/// Daily removal of firewall events past their retention ([`palisade_web::edge::shield::EVENTS_KEPT`]).
pub const PRUNE_SHIELD_EVENTS: &str = "shield.events_prune";
/// A no-op probe to check that the job system runs (used by the multi-node test and by operators).
pub const PING: &str = "system.ping";

pub fn handlers(
    registry: Arc<Registry>,
    facts: Arc<NodeFacts>,
    mailer: Arc<crate::mail::Mailer>,
    public_url: String,
    backups: Arc<crate::backups::BackupJobs>,
    policy: Policy,
    links: Arc<palisade_identity::links::LinkSigner>,
) -> Handlers {
    let mut h = Handlers::default();
    register_awareness(&mut h, &public_url, &registry, &facts, &links);
    register_privacy(&mut h, &public_url, &links, &backups);
    let mail_url = public_url.clone();
    h.register(palisade_commerce::notify::ORDER_MAIL_JOB, move |ctx: JobContext| {
        let (links, url) = (Arc::clone(&links), mail_url.clone());
        async move {
            palisade_commerce::notify::send(&ctx.db, &links, &url, &ctx.job.payload)
                .await
                .map_err(jobs::JobError::failed)
        }
    });
    let snapshot_jobs = Arc::clone(&backups);
    h.register(crate::backups::SNAPSHOT_JOB, move |ctx: JobContext| {
        let jobs = Arc::clone(&snapshot_jobs);
        async move { jobs.snapshot(&ctx.db).await }
    });
    let export_jobs = Arc::clone(&backups);
    h.register(crate::backups::STORE_EXPORTS_JOB, move |ctx: JobContext| {
        let jobs = Arc::clone(&export_jobs);
        async move { jobs.store_exports(&ctx.db).await }
    });
    h.register(crate::backups::DRILL_JOB, move |ctx: JobContext| {
        let jobs = Arc::clone(&backups);
        async move { jobs.drill(&ctx.db).await }
    });
    h.register(PAYMENT_PAGE_CHECK, move |ctx: JobContext| {
        let url = public_url.clone();
        async move {
            let outcome = palisade_web::payment_page::check(&ctx.db, &url).await.map_err(jobs::JobError::failed)?;
            tracing::info!(%outcome, "payment page checked");
            Ok(())
        }
    });
    h.register(palisade_store::outbox::DELIVER_JOB, move |ctx: JobContext| {
        let mailer = mailer.clone();
        async move {
            let id = ctx.job.payload.get("mail").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            mailer.deliver(&ctx.db, &id).await
        }
    });
    h.register(AUDIT_VERIFY, |ctx: JobContext| async move { verify_audit(&ctx.db).await });
    h.register(MATRIX_SNAPSHOT, move |ctx: JobContext| {
        let registry = registry.clone();
        let facts = facts.clone();
        async move { snapshot(&ctx.db, &registry, &facts).await }
    });
    h.register(PRUNE_JOBS, |ctx: JobContext| async move {
        let n = jobs::prune_finished(&ctx.db, std::time::Duration::from_secs(14 * 24 * 3600)).await?;
        tracing::info!(jobs.pruned = n, "old finished jobs removed");
        Ok(())
    });
    h.register(PRUNE_SHIELD_EVENTS, |ctx: JobContext| async move {
        let n = palisade_web::edge::shield::prune_events(&ctx.db, palisade_web::edge::shield::EVENTS_KEPT).await?;
        tracing::info!(shield.events_pruned = n, "firewall events past retention removed");
        Ok(())
    });
    h.register(ESCROW_AUTO_RELEASE, move |ctx: JobContext| async move {
        let n = palisade_commerce::orders::auto_release(&ctx.db, &policy).await.map_err(jobs::JobError::failed)?;
        if n > 0 {
            tracing::info!(orders.released = n, "escrow released after the protection window");
        }
        Ok(())
    });
    h.register(PING, |ctx: JobContext| async move {
        tracing::debug!(node = %ctx.node, "ping job ran");
        Ok(())
    });
    h
}

/// Security-awareness jobs: training-due reminders (with the pruning of expired quiz attempts) and the weekly
/// security digest, whose unsubscribe links are signed with the platform's link key.
fn register_awareness(
    h: &mut Handlers,
    public_url: &str,
    registry: &Arc<Registry>,
    facts: &Arc<NodeFacts>,
    links: &Arc<palisade_identity::links::LinkSigner>,
) {
    let (digest_url, digest_registry, digest_facts, digest_links) =
        (public_url.to_owned(), Arc::clone(registry), Arc::clone(facts), Arc::clone(links));
    let training_url = public_url.to_owned();
    h.register(palisade_store::training::REMINDER_JOB, move |ctx: JobContext| {
        let url = training_url.clone();
        async move {
            let n = palisade_store::training::send_reminders(&ctx.db, &url).await?;
            if n > 0 {
                tracing::info!(training.reminders = n, "training-due reminders queued");
            }
            let pruned =
                palisade_store::training::prune_attempts(&ctx.db, &PlatformScope::system("job:training.reminders"))
                    .await?;
            if pruned > 0 {
                tracing::info!(training.attempts_pruned = pruned, "expired quiz attempts removed");
            }
            let visits =
                palisade_store::phishing::prune_visits(&ctx.db, &PlatformScope::system("job:training.reminders"))
                    .await?;
            if visits > 0 {
                tracing::info!(phishing.visits_pruned = visits, "phishing-simulation visits past their window removed");
            }
            Ok(())
        }
    });
    h.register(palisade_store::digest::DIGEST_JOB, move |ctx: JobContext| {
        let (url, registry, facts, links) =
            (digest_url.clone(), Arc::clone(&digest_registry), Arc::clone(&digest_facts), Arc::clone(&digest_links));
        async move {
            let sign = move |subject: &str| links.sign(palisade_store::digest::UNSUBSCRIBE_PURPOSE, subject);
            let n = palisade_store::digest::send_digests(&ctx.db, &registry, &facts, &url, &sign).await?;
            tracing::info!(security.digests = n, "weekly security digests queued");
            Ok(())
        }
    });
}

/// PDPA jobs: reminders of access and correction requests on days 7, 21 and 28, and the overdue notice.
fn register_privacy(
    h: &mut Handlers,
    public_url: &str,
    links: &Arc<palisade_identity::links::LinkSigner>,
    backups: &Arc<crate::backups::BackupJobs>,
) {
    let login = format!("{}/login", public_url.trim_end_matches('/'));
    let links = Arc::clone(links);
    let backups = Arc::clone(backups);
    h.register(palisade_commerce::retention::RETENTION_JOB, move |ctx: JobContext| {
        let (login, links, backups) = (login.clone(), Arc::clone(&links), Arc::clone(&backups));
        async move {
            let key = move |email: &str| tombstone_key(&links, email);
            let run = palisade_commerce::retention::run(
                &ctx.db,
                &palisade_commerce::retention::Schedule::default(),
                palisade_commerce::retention::Mode::Apply,
                &login,
                &key,
            )
            .await
            .map_err(jobs::JobError::failed)?;
            tracing::info!(retention.run = %run.id, "personal data retention run");
            // The tombstones of anyone it erased into the backup repositories, so a restore into a new directory
            // keeps them erased. Every run (a no-op when the repositories have them all), so one missed by an
            // earlier run is written too; a target that fails is logged and the next snapshot run retries.
            backups.record_tombstones(&ctx.db).await;
            Ok(())
        }
    });
    let url = public_url.to_owned();
    h.register(palisade_commerce::data_requests::REMINDER_JOB, move |ctx: JobContext| {
        let url = url.clone();
        async move {
            let n = palisade_commerce::data_requests::send_reminders(&ctx.db, &url)
                .await
                .map_err(jobs::JobError::failed)?;
            if n > 0 {
                tracing::info!(data_requests.reminders = n, "personal data request reminders queued");
            }
            Ok(())
        }
    });
}

/// Store scans over this node's web state (set once the router is built; until then the jobs fail and are
/// retried): the daily [`palisade_store::scans::SCAN_JOB`] enqueues one
/// [`palisade_store::scans::SCAN_STORE_JOB`] per store not scanned for 6 days, and each of those scans its store.
pub fn register_store_scans(h: &mut Handlers, web: Arc<std::sync::OnceLock<palisade_web::AppState>>) {
    let due = Arc::clone(&web);
    h.register(palisade_store::scans::SCAN_JOB, move |_ctx: JobContext| {
        let web = Arc::clone(&due);
        async move {
            let Some(state) = web.get() else {
                return Err(jobs::JobError::Failed("the web state is not ready yet".into()));
            };
            let queued = palisade_web::store_scan::enqueue_due_scans(state).await?;
            tracing::info!(scans.queued = queued, "store scans queued");
            Ok(())
        }
    });
    h.register(palisade_store::scans::SCAN_STORE_JOB, move |ctx: JobContext| {
        let web = Arc::clone(&web);
        async move {
            let Some(state) = web.get() else {
                return Err(jobs::JobError::Failed("the web state is not ready yet".into()));
            };
            let Some(store) = ctx.job.store_id.as_deref() else {
                return Err(jobs::JobError::Failed("a store scan job names no store".into()));
            };
            palisade_web::store_scan::scan_store(state, store).await.map_err(jobs::JobError::Failed)?;
            Ok(())
        }
    });
}

/// Installed apps' webhook deliveries over this node's web state (its master key seals their secrets): every
/// minute, what is due is sent, signed, through the outbound guard.
pub fn register_webhook_deliveries(h: &mut Handlers, web: Arc<std::sync::OnceLock<palisade_web::AppState>>) {
    h.register(palisade_commerce::webhooks::deliveries::DELIVER_JOB, move |_ctx: JobContext| {
        let web = Arc::clone(&web);
        async move {
            let Some(state) = web.get() else {
                return Err(jobs::JobError::Failed("the web state is not ready yet".into()));
            };
            let run =
                palisade_web::apps::deliver_due(state).await.map_err(|e| jobs::JobError::Failed(e.to_string()))?;
            if run != palisade_commerce::webhooks::deliveries::RunReport::default() {
                tracing::info!(
                    webhooks.delivered = run.delivered,
                    webhooks.retrying = run.retrying,
                    webhooks.gave_up = run.gave_up,
                    "webhook deliveries sent"
                );
            }
            Ok(())
        }
    });
}

/// Advisories and automatic extension updates over this node's web state (the hourly
/// [`palisade_store::extensions::AUTO_UPDATE_JOB`]): each store's installs under their policies, every update
/// checked before it goes live.
pub fn register_extension_updates(h: &mut Handlers, web: Arc<std::sync::OnceLock<palisade_web::AppState>>) {
    h.register(palisade_store::extensions::AUTO_UPDATE_JOB, move |_ctx: JobContext| {
        let web = Arc::clone(&web);
        async move {
            let Some(state) = web.get() else {
                return Err(jobs::JobError::Failed("the web state is not ready yet".into()));
            };
            // Advisories first: a new one opens findings and marks its fixed release a security update below. A
            // failing sync does not hold the updates back (they read the matches already kept).
            let sync = match palisade_web::extensions::sync_advisories(state).await {
                Ok(sync) => sync,
                Err(e) => {
                    tracing::error!(error = %e, "extension advisories not synced");
                    palisade_web::extensions::SyncRun::default()
                }
            };
            tracing::info!(
                advisories.feed = sync.feed,
                advisories.failed = sync.failed.as_deref(),
                advisories.count = sync.advisories,
                advisories.matches = sync.matches,
                advisories.stores = sync.stores,
                advisories.opened = sync.opened,
                advisories.fixed = sync.fixed,
                advisories.disabled = sync.disabled,
                advisories.enabled = sync.enabled,
                "extension advisories synced"
            );
            let run = palisade_web::extensions::auto_update_all(state).await?;
            tracing::info!(
                extensions.stores = run.stores,
                extensions.updated = run.updated,
                extensions.failed = run.failed,
                extensions.major_needed = run.major_needed,
                "automatic extension updates"
            );
            Ok(())
        }
    });
}

/// The erasure tombstone's keyed hash of an email (the same as the web layer's).
pub fn tombstone_key(links: &palisade_identity::links::LinkSigner, email: &str) -> String {
    links.sign(palisade_commerce::erasure::TOMBSTONE_EMAIL_PURPOSE, &email.trim().to_lowercase())
}

/// Installs (or updates) the built-in schedules.
pub async fn install_schedules(db: &Db) -> anyhow::Result<()> {
    jobs::upsert_schedule(db, "audit-verify-daily", "0 15 3 * * *", AUDIT_VERIFY, serde_json::Value::Null).await?;
    jobs::upsert_schedule(db, "matrix-snapshot-hourly", "0 0 * * * *", MATRIX_SNAPSHOT, serde_json::Value::Null)
        .await?;
    jobs::upsert_schedule(db, "escrow-release-hourly", "0 30 * * * *", ESCROW_AUTO_RELEASE, serde_json::Value::Null)
        .await?;
    jobs::upsert_schedule(
        db,
        "backup-snapshot-daily",
        "0 30 2 * * *",
        crate::backups::SNAPSHOT_JOB,
        serde_json::Value::Null,
    )
    .await?;
    jobs::upsert_schedule(
        db,
        "backup-drill-weekly",
        "0 0 5 * * SUN",
        crate::backups::DRILL_JOB,
        serde_json::Value::Null,
    )
    .await?;
    jobs::upsert_schedule(
        db,
        "backup-store-exports-hourly",
        "0 10 * * * *",
        crate::backups::STORE_EXPORTS_JOB,
        serde_json::Value::Null,
    )
    .await?;
    jobs::upsert_schedule(db, "jobs-prune-daily", "0 45 4 * * *", PRUNE_JOBS, serde_json::Value::Null).await?;
    jobs::upsert_schedule(
        db,
        "shield-events-prune-daily",
        "0 50 4 * * *",
        PRUNE_SHIELD_EVENTS,
        serde_json::Value::Null,
    )
    .await?;
    // Training-due reminders (30, 7 and 1 days before), once a day in the Singapore morning.
    jobs::upsert_schedule(
        db,
        "training-reminders-daily",
        "0 0 1 * * *",
        palisade_store::training::REMINDER_JOB,
        serde_json::Value::Null,
    )
    .await?;
    // The weekly security digest, Monday morning in Singapore (once per store and ISO week whatever the runs).
    jobs::upsert_schedule(
        db,
        "security-digest-weekly",
        "0 0 1 * * MON",
        palisade_store::digest::DIGEST_JOB,
        serde_json::Value::Null,
    )
    .await?;
    install_privacy_schedules(db).await?;
    // Every active store scanned at least weekly: each night (2:00 in Singapore) the stores not scanned for 6 days
    // are queued, each as its own job. The old weekly schedule is replaced.
    jobs::delete_schedule(db, "store-scan-weekly").await?;
    jobs::upsert_schedule(
        db,
        "store-scan-daily",
        "0 0 18 * * *",
        palisade_store::scans::SCAN_JOB,
        serde_json::Value::Null,
    )
    .await?;
    install_extension_schedules(db).await?;
    jobs::upsert_schedule(db, "payment-page-check", "0 */15 * * * *", PAYMENT_PAGE_CHECK, serde_json::Value::Null)
        .await?;
    Ok(())
}

/// Extension schedules: advisories and automatic updates hourly, apps' webhook deliveries every minute.
async fn install_extension_schedules(db: &Db) -> anyhow::Result<()> {
    jobs::upsert_schedule(
        db,
        "extensions-auto-update-hourly",
        "0 20 * * * *",
        palisade_store::extensions::AUTO_UPDATE_JOB,
        serde_json::Value::Null,
    )
    .await?;
    // A retry's backoff starts at a minute.
    jobs::upsert_schedule(
        db,
        "webhook-deliveries",
        "30 * * * * *",
        palisade_commerce::webhooks::deliveries::DELIVER_JOB,
        serde_json::Value::Null,
    )
    .await?;
    Ok(())
}

/// PDPA schedules: request reminders and retention.
async fn install_privacy_schedules(db: &Db) -> anyhow::Result<()> {
    // PDPA access and correction requests: reminders on days 7, 21 and 28 and the overdue notice, once a day in
    // the Singapore morning (each stage once per request whatever the runs).
    jobs::upsert_schedule(
        db,
        "data-request-reminders-daily",
        "0 10 1 * * *",
        palisade_commerce::data_requests::REMINDER_JOB,
        serde_json::Value::Null,
    )
    .await?;
    // Personal-data retention per class (carts, sign-in state, firewall events, refused requests past their
    // keep-until, inactive buyers: notice, then erasure after the grace period), daily at night in Singapore.
    jobs::upsert_schedule(
        db,
        "privacy-retention-daily",
        "0 20 19 * * *",
        palisade_commerce::retention::RETENTION_JOB,
        serde_json::Value::Null,
    )
    .await?;
    Ok(())
}

async fn verify_audit(db: &Db) -> jobs::JobResult {
    let reports = audit::verify_all(db).await?;
    let broken: Vec<_> = reports.iter().filter_map(|r| r.broken.as_ref()).collect();
    let events: i64 = reports.iter().map(|r| r.events).sum();
    let summary = serde_json::json!({"chains": reports.len(), "events": events, "broken": broken});
    settings::put(db, "audit.last_verification", &summary).await?;
    if let Some(first) = broken.first() {
        tracing::error!(audit.chain = %first.chain, audit.event = first.event_id.as_deref().unwrap_or("-"), "audit chain broken: {first}");
        return Err(jobs::JobError::Failed(format!("{} broken chain(s); first: {first}", broken.len())));
    }
    tracing::info!(chains = reports.len(), events, "audit log verified");
    Ok(())
}

async fn snapshot(db: &Db, registry: &Registry, facts: &Arc<NodeFacts>) -> jobs::JobResult {
    registry.evaluate_platform(db, facts).await?;
    let stores = tenancy::list_stores(db, &PlatformScope::system("job:matrix.snapshot")).await?;
    for store in stores {
        let scope = StoreScope::system(store.id, "job:matrix.snapshot");
        registry.evaluate_store(db, facts, &scope).await?;
    }
    Ok(())
}
