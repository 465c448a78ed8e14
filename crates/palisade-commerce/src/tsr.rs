//! The platform-wide figures behind the operator's Transaction Safety Ratings self-assessment (MHA's E-commerce
//! Marketplace TSR, issue #20 item 8): how many paying sellers are verified, how fraud and scam reports are
//! watched, how much of the money went through escrow, how records are kept and how fast reports and disputes are
//! settled. Operator-only ([`OperatorPrincipal`]); every figure is read from the live tables, over a window.

use palisade_core::time::Timestamp;
use palisade_store::Db;
use palisade_store::scope::OperatorPrincipal;
use serde::Serialize;

use crate::error::Result;

/// The window the rates and times are computed over.
pub const WINDOW_DAYS: i64 = 90;
const DAY_MS: i64 = 86_400_000;

/// The live figures, each a count or a time in milliseconds (averages are `None` when nothing was decided).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Figures {
    pub window_days: i64,
    /// Stores that have received at least one payout, and those among them verified now.
    pub stores_with_payouts: i64,
    pub stores_with_payouts_verified: i64,
    /// Orders placed in the window that were paid (not merely placed or cancelled before payment).
    pub orders_paid: i64,
    /// Of those, the orders whose payment was captured into the order's escrow account.
    pub orders_paid_into_escrow: i64,
    /// Paid orders in the window that the fraud engine scored, and those it held for the merchant's review.
    pub orders_scored: i64,
    pub orders_held: i64,
    /// Scam reports filed in the window; decided ones; decided within their triage target; still open past it.
    pub reports: i64,
    pub reports_decided: i64,
    pub reports_decided_in_target: i64,
    pub reports_overdue: i64,
    pub report_avg_decision_ms: Option<i64>,
    /// Disputes opened in the window; decided ones; the average time from opening to the decision.
    pub disputes: i64,
    pub disputes_decided: i64,
    pub dispute_avg_decision_ms: Option<i64>,
    /// All orders placed in the window (the denominator of the scam-report rate).
    pub orders: i64,
    /// The last personal-data retention run (not a dry run) and the last successful backup.
    pub last_retention_run: Option<Timestamp>,
    pub last_backup: Option<Timestamp>,
}

impl Figures {
    /// Scam reports per 10,000 orders in the window, with one decimal; `None` with no orders.
    #[must_use]
    pub fn reports_per_10k_orders(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss, reason = "counts far below 2^52")]
        (self.orders > 0).then(|| (self.reports as f64 * 100_000.0 / self.orders as f64).round() / 10.0)
    }
}

async fn one(db: &Db, sql: &'static str, since: i64) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as(sql).bind(since).fetch_one(db.pool()).await?;
    Ok(n)
}

async fn optional(db: &Db, sql: &'static str, since: i64) -> Result<Option<i64>> {
    let (n,): (Option<i64>,) = sqlx::query_as(sql).bind(since).fetch_one(db.pool()).await?;
    Ok(n)
}

/// Computes the figures now.
pub async fn figures(db: &Db, _operator: &OperatorPrincipal) -> Result<Figures> {
    let since = db.now().0 - WINDOW_DAYS * DAY_MS;
    let (stores_with_payouts, stores_with_payouts_verified): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(DISTINCT p.store_id), COUNT(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM store_verifications v \
         WHERE v.store_id = p.store_id AND v.state = 'verified') THEN p.store_id END) FROM payouts p",
    )
    .fetch_one(db.pool())
    .await?;
    let mut f = Figures {
        window_days: WINDOW_DAYS,
        stores_with_payouts,
        stores_with_payouts_verified,
        orders: one(db, "SELECT COUNT(*) FROM orders WHERE created_at >= $1", since).await?,
        orders_paid: one(
            db,
            "SELECT COUNT(*) FROM orders o WHERE o.created_at >= $1 AND o.status NOT IN ('placed', 'cancelled')",
            since,
        )
        .await?,
        orders_paid_into_escrow: one(
            db,
            "SELECT COUNT(*) FROM orders o WHERE o.created_at >= $1 AND o.status NOT IN ('placed', 'cancelled') \
             AND EXISTS (SELECT 1 FROM ledger_transfers t WHERE t.kind = 'capture' AND t.store_id = o.store_id \
             AND t.reference = o.id)",
            since,
        )
        .await?,
        orders_scored: one(
            db,
            "SELECT COUNT(*) FROM orders o WHERE o.created_at >= $1 AND o.status NOT IN ('placed', 'cancelled') \
             AND o.risk_score IS NOT NULL",
            since,
        )
        .await?,
        orders_held: one(db, "SELECT COUNT(*) FROM orders WHERE created_at >= $1 AND review_state <> 'none'", since)
            .await?,
        ..Figures::default()
    };
    cases(db, since, &mut f).await?;
    Ok(f)
}

/// Scam reports, disputes and record keeping.
async fn cases(db: &Db, since: i64, f: &mut Figures) -> Result<()> {
    f.reports = one(db, "SELECT COUNT(*) FROM scam_reports WHERE created_at >= $1", since).await?;
    f.reports_decided =
        one(db, "SELECT COUNT(*) FROM scam_reports WHERE created_at >= $1 AND decided_at IS NOT NULL", since).await?;
    f.reports_decided_in_target = one(
        db,
        "SELECT COUNT(*) FROM scam_reports WHERE created_at >= $1 AND decided_at IS NOT NULL AND decided_at <= due_at",
        since,
    )
    .await?;
    f.reports_overdue = crate::scam_reports::overdue_count(db).await?;
    f.report_avg_decision_ms = optional(
        db,
        "SELECT CAST(AVG(decided_at - created_at) AS BIGINT) FROM scam_reports WHERE created_at >= $1 \
             AND decided_at IS NOT NULL",
        since,
    )
    .await?;
    f.disputes = one(db, "SELECT COUNT(*) FROM disputes WHERE created_at >= $1", since).await?;
    f.disputes_decided =
        one(db, "SELECT COUNT(*) FROM disputes WHERE created_at >= $1 AND status = 'decided'", since).await?;
    f.dispute_avg_decision_ms = optional(
        db,
        "SELECT CAST(AVG(updated_at - created_at) AS BIGINT) FROM disputes WHERE created_at >= $1 \
             AND status = 'decided'",
        since,
    )
    .await?;
    f.last_retention_run =
        optional(db, "SELECT MAX(ran_at) FROM retention_runs WHERE dry_run = 0 AND ran_at >= $1", since)
            .await?
            .map(Timestamp);
    f.last_backup =
        optional(db, "SELECT MAX(finished_at) FROM backup_runs WHERE outcome <> 'failed' AND finished_at >= $1", since)
            .await?
            .map(Timestamp);
    Ok(())
}
