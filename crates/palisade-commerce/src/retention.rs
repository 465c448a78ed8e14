//! Personal-data retention (issue #21 item 6): schedules per data class, run as the daily job
//! [`RETENTION_JOB`] (or `palisade privacy retention [--dry-run]`), each run recorded in `retention_runs` with
//! its counts per class and on the platform's audit chain.
//!
//! Classes: abandoned carts, expired sign-in state (sessions, console sessions, password-reset links, passkey
//! challenges), firewall events past their window, access requests refused and kept past their `keep_until`
//! (their personal content is then anonymised: the refusal's 30 days are enforced here), sellers' identity
//! documents 90 days after the operator's decision, and inactive buyer
//! accounts: a notice by email first, erasure ([`crate::erasure`]) once the grace period has passed without a
//! sign-in. A dry run counts what a run would do and changes nothing (it is recorded as a dry run).

use std::collections::BTreeMap;
use std::time::Duration;

use palisade_core::AccountId;
use palisade_core::time::Timestamp;
use palisade_store::Db;
use palisade_store::audit::{self, NewEvent};
use palisade_store::db::ExecuteWrite as _;
use palisade_store::outbox::{self, NewMail};
use palisade_store::scope::PlatformScope;
use serde::Serialize;

use crate::erasure;
use crate::error::{CommerceError, Result, stored_id};

/// The daily job.
pub const RETENTION_JOB: &str = "privacy.retention";

const DAY: Duration = Duration::from_secs(24 * 3600);

/// How long each class lives.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// A cart untouched this long is abandoned.
    pub carts: Duration,
    /// Firewall events older than this go (the security-log window).
    pub firewall_events: Duration,
    /// A buyer who has not signed in for this long is told their account will be erased.
    pub inactive_after: Duration,
    /// Erased this long after the notice unless they signed in meanwhile.
    pub inactive_grace: Duration,
    /// At most this many inactive accounts are noticed or erased per run (the rest wait for the next run).
    pub inactive_batch: i64,
    /// A seller's identity documents are kept this long after the operator decided (approved or rejected) and
    /// then deleted: the decision, the masked identifier and the audit trail stay; a later review asks anew.
    pub verification_documents: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            carts: 30 * DAY,
            firewall_events: 90 * DAY,
            inactive_after: 3 * 365 * DAY,
            inactive_grace: 30 * DAY,
            inactive_batch: 200,
            verification_documents: 90 * DAY,
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a run acts or only counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Count what would be done; change nothing (recorded as a dry run).
    DryRun,
    /// Do it.
    Apply,
}

/// A run's counts per class (what was done, or with `dry_run` what would be).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Run {
    pub id: String,
    pub ran_at: i64,
    pub dry_run: bool,
    pub counts: BTreeMap<String, i64>,
}

impl Run {
    /// One line per class, for the CLI and logs (counts only).
    #[must_use]
    pub fn lines(&self) -> Vec<String> {
        self.counts.iter().map(|(k, v)| format!("{k:<34} {v}")).collect()
    }
}

/// The classes, in report order, with the statement that counts and the one that acts (`$1` = the cut-off).
const SIMPLE: &[(&str, &str, &str)] = &[
    ("abandoned_carts", "SELECT COUNT(*) FROM carts WHERE updated_at < $1", "DELETE FROM carts WHERE updated_at < $1"),
    (
        "expired_sessions",
        "SELECT COUNT(*) FROM sessions WHERE expires_at < $1 OR revoked_at IS NOT NULL",
        "DELETE FROM sessions WHERE expires_at < $1 OR revoked_at IS NOT NULL",
    ),
    (
        "expired_console_sessions",
        "SELECT COUNT(*) FROM console_sessions WHERE expires_at < $1 OR revoked_at IS NOT NULL",
        "DELETE FROM console_sessions WHERE expires_at < $1 OR revoked_at IS NOT NULL",
    ),
    (
        "expired_password_resets",
        "SELECT COUNT(*) FROM password_resets WHERE expires_at < $1 OR used_at IS NOT NULL",
        "DELETE FROM password_resets WHERE expires_at < $1 OR used_at IS NOT NULL",
    ),
    (
        "expired_passkey_challenges",
        "SELECT COUNT(*) FROM webauthn_challenges WHERE expires_at < $1",
        "DELETE FROM webauthn_challenges WHERE expires_at < $1",
    ),
    ("firewall_events", "SELECT COUNT(*) FROM shield_events WHERE at < $1", "DELETE FROM shield_events WHERE at < $1"),
    (
        "refused_requests_past_keep_until",
        "SELECT COUNT(*) FROM data_requests WHERE status = 'refused' AND keep_until IS NOT NULL AND keep_until < $1 \
         AND buyer_email NOT LIKE 'erased-%'",
        "UPDATE data_requests SET details = '', answer_note = '', export_json = NULL, \
         buyer_email = 'erased-request@invalid' WHERE status = 'refused' AND keep_until IS NOT NULL \
         AND keep_until < $1 AND buyer_email NOT LIKE 'erased-%'",
    ),
    (
        "decided_verification_documents",
        "SELECT COUNT(*) FROM verification_documents WHERE uploaded_at < $1 AND store_id IN \
         (SELECT store_id FROM store_verifications WHERE state IN ('verified', 'rejected') AND decided_at < $1)",
        "DELETE FROM verification_documents WHERE uploaded_at < $1 AND store_id IN \
         (SELECT store_id FROM store_verifications WHERE state IN ('verified', 'rejected') AND decided_at < $1)",
    ),
];

/// The cut-off of each simple class.
fn cutoff(class: &str, now: Timestamp, s: &Schedule) -> i64 {
    match class {
        "abandoned_carts" => now.0 - ms(s.carts),
        "firewall_events" => now.0 - ms(s.firewall_events),
        "decided_verification_documents" => now.0 - ms(s.verification_documents),
        _ => now.0,
    }
}

/// Inactive buyers to notify: no sign-in (or, never signed in, no creation) since the cut-off, not notified,
/// not erased.
const INACTIVE_TO_NOTIFY: &str = "SELECT id, email FROM accounts WHERE kind = 'buyer' AND disabled = 0 \
     AND retention_notice_at IS NULL AND COALESCE(last_active_at, created_at) < $1 \
     AND id NOT IN (SELECT account_id FROM erasure_tombstones) ORDER BY id LIMIT $2";

/// Notified buyers whose grace has passed without a sign-in since the notice.
const INACTIVE_TO_ERASE: &str = "SELECT id, email FROM accounts WHERE kind = 'buyer' \
     AND retention_notice_at IS NOT NULL AND retention_notice_at < $1 \
     AND COALESCE(last_active_at, created_at) < retention_notice_at \
     AND id NOT IN (SELECT account_id FROM erasure_tombstones) ORDER BY id LIMIT $2";

/// Runs (or, with `dry_run`, counts) every class. `tombstone_key` makes the erasure tombstone's keyed hash of an
/// email (the web layer's, see `palisade-web`'s `tombstone_email_key`); `notice_url` is where the notice sends
/// the buyer to sign in.
pub async fn run(
    db: &Db,
    schedule: &Schedule,
    mode: Mode,
    notice_url: &str,
    tombstone_key: &(dyn Fn(&str) -> String + Send + Sync),
) -> Result<Run> {
    let now = db.now();
    let dry_run = mode == Mode::DryRun;
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for (class, count, act) in SIMPLE {
        let cut = cutoff(class, now, schedule);
        let n = if dry_run {
            let (n,): (i64,) = sqlx::query_as(*count).bind(cut).fetch_one(db.pool()).await?;
            n
        } else {
            if *class == "abandoned_carts" {
                // cart_items first: SQLite enforces the cascade only with foreign keys on.
                sqlx::query("DELETE FROM cart_items WHERE cart_id IN (SELECT id FROM carts WHERE updated_at < $1)")
                    .bind(cut)
                    .execute_write(db)
                    .await?;
            }
            i64::try_from(sqlx::query(*act).bind(cut).execute_write(db).await?.rows_affected()).unwrap_or(i64::MAX)
        };
        counts.insert((*class).to_owned(), n);
    }
    let (notified, erased, kept) = inactive(db, schedule, mode, now, notice_url, tombstone_key).await?;
    counts.insert("inactive_buyers_notified".into(), notified);
    counts.insert("inactive_buyers_erased".into(), erased);
    counts.insert("inactive_buyers_kept_open_orders".into(), kept);

    let run = Run { id: palisade_core::JobId::new().to_string(), ran_at: now.0, dry_run, counts };
    let counts_json = serde_json::to_string(&run.counts).map_err(|e| CommerceError::Invalid(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    sqlx::query("INSERT INTO retention_runs (id, ran_at, dry_run, counts) VALUES ($1, $2, $3, $4)")
        .bind(&run.id)
        .bind(run.ran_at)
        .bind(i64::from(dry_run))
        .bind(&counts_json)
        .execute(&mut *tx)
        .await?;
    if !dry_run {
        let target = format!("retention_run:{}", run.id);
        let details = serde_json::json!({"counts": run.counts});
        let event = NewEvent::new("privacy.retention_ran", &target).details(details);
        audit::record_platform(&mut tx, db, &PlatformScope::system(RETENTION_JOB), event).await?;
    }
    tx.commit().await?;
    tracing::info!(retention.run = %run.id, dry_run, counts = %counts_json, "retention run");
    Ok(run)
}

/// Inactive buyers: notices, then erasures after the grace period. Returns (notified, erased, kept because an
/// order is still open).
async fn inactive(
    db: &Db,
    s: &Schedule,
    mode: Mode,
    now: Timestamp,
    notice_url: &str,
    tombstone_key: &(dyn Fn(&str) -> String + Send + Sync),
) -> Result<(i64, i64, i64)> {
    let to_notify: Vec<(String, String)> = sqlx::query_as(INACTIVE_TO_NOTIFY)
        .bind(now.0 - ms(s.inactive_after))
        .bind(s.inactive_batch)
        .fetch_all(db.pool())
        .await?;
    let to_erase: Vec<(String, String)> = sqlx::query_as(INACTIVE_TO_ERASE)
        .bind(now.0 - ms(s.inactive_grace))
        .bind(s.inactive_batch)
        .fetch_all(db.pool())
        .await?;
    if mode == Mode::DryRun {
        return Ok((len(&to_notify), len(&to_erase), 0));
    }
    let days = s.inactive_grace.as_secs() / 86_400;
    let mut notified = 0;
    for (id, email) in &to_notify {
        // Claim first (compare-and-set), then queue the mail: a failure to queue loses a notice, never sends two.
        let claimed =
            sqlx::query("UPDATE accounts SET retention_notice_at = $1 WHERE id = $2 AND retention_notice_at IS NULL")
                .bind(now.0)
                .bind(id)
                .execute_write(db)
                .await?
                .rows_affected();
        if claimed == 0 {
            continue;
        }
        let body = format!(
            "Hello,\n\nYou have not signed in to your marketplace account for a long time. To keep no more personal \
             data than it needs, the marketplace will erase your account in {days} days: your name, email, \
             addresses and sign-in methods, in every shop you bought from (shops keep the records of your orders \
             their books need, without your details).\n\nTo keep your account, simply sign in before then: \
             {notice_url}\n"
        );
        outbox::enqueue(db, NewMail { store_id: None, to: email, subject: "Your account will be erased", body })
            .await?;
        notified += 1;
    }
    let (mut erased, mut kept) = (0, 0);
    for (id, email) in &to_erase {
        let account: AccountId = stored_id("account", id)?;
        match erasure::erase_buyer(db, account, &tombstone_key(email)).await {
            Ok(_) => erased += 1,
            Err(CommerceError::ErasureRefused(_)) => kept += 1,
            Err(e) => return Err(e),
        }
    }
    Ok((notified, erased, kept))
}

fn len<T>(v: &[T]) -> i64 {
    i64::try_from(v.len()).unwrap_or(i64::MAX)
}

/// The newest runs, newest first (the operator's report).
pub async fn recent(db: &Db, _platform: &PlatformScope, limit: i64) -> Result<Vec<Run>> {
    let rows: Vec<(String, i64, i64, String)> =
        sqlx::query_as("SELECT id, ran_at, dry_run, counts FROM retention_runs ORDER BY ran_at DESC, id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(db.pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, ran_at, dry, counts)| Run {
            id,
            ran_at,
            dry_run: dry != 0,
            counts: serde_json::from_str(&counts).unwrap_or_default(),
        })
        .collect())
}
