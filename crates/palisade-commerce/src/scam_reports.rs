//! Scam reports (issue #20 item 6): a signed-in buyer reports a store, one of its listings or a message the store
//! sent into the buyer's own thread; operators triage them in the console against response-time targets and act
//! (warn, hold payouts, hide the listing, suspend the store), every decision audited in the store's chain; the
//! reporter sees the outcome in their account and by mail.
//!
//! Severity follows from the category ([`CATEGORIES`], the operators' table). A high-severity report puts the
//! store's payouts on hold **in the report's own transaction**, so no payout can start after the report is saved;
//! an operator lifts the hold. The reporter's identity is stored for the operator and never shown to the store:
//! store-facing reads ([`for_store`]) leave it out, and the audit events name the report, not the reporter.

use palisade_core::time::Timestamp;
use palisade_core::{AccountId, MessageId, ProductId, ReportId, StoreId};
use palisade_store::audit::{self, NewEvent};
use palisade_store::scope::OperatorPrincipal;
use palisade_store::{Db, StaffScope, StoreError, StoreScope, outbox, tenancy};
use serde::Serialize;

use crate::error::{CommerceError, Result, stored_id};

/// How urgent a report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Triage within [`HIGH_TARGET_MS`]; payouts go on hold at once.
    High,
    /// Triage within [`NORMAL_TARGET_MS`].
    Normal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Normal => "normal",
        }
    }

    fn target_ms(self) -> i64 {
        match self {
            Severity::High => HIGH_TARGET_MS,
            Severity::Normal => NORMAL_TARGET_MS,
        }
    }
}

/// Triage target of a high-severity report (one hour).
pub const HIGH_TARGET_MS: i64 = 60 * 60 * 1000;
/// Triage target of any other report (24 hours).
pub const NORMAL_TARGET_MS: i64 = 24 * 60 * 60 * 1000;
/// Most reports one buyer may file in [`REPORT_WINDOW_MS`].
pub const REPORT_RATE_LIMIT: i64 = 5;
/// The window [`REPORT_RATE_LIMIT`] counts in (one hour).
pub const REPORT_WINDOW_MS: i64 = 60 * 60 * 1000;
/// Longest description a reporter may write.
pub const MAX_DETAILS_CHARS: usize = 2_000;

/// The categories a buyer picks from: code, words shown to the buyer, severity.
pub const CATEGORIES: &[(&str, &str, Severity)] = &[
    ("off_platform_payment", "Asked me to pay outside Palisade (PayNow, bank transfer, QR code)", Severity::High),
    ("phishing", "Asked for my login, OTP or card details, or sent a fake payment link", Severity::High),
    ("non_delivery", "Took payment and did not deliver", Severity::Normal),
    ("counterfeit", "Sells counterfeit or prohibited goods", Severity::Normal),
    ("misleading", "Misleading listing or prices", Severity::Normal),
    ("harassment", "Abusive or threatening messages", Severity::Normal),
    ("other", "Something else", Severity::Normal),
];

fn category(code: &str) -> Option<(&'static str, &'static str, Severity)> {
    CATEGORIES.iter().copied().find(|(c, _, _)| *c == code)
}

/// What is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Store(StoreId),
    Listing(StoreId, ProductId),
    /// A message; its store is read from the reporter's own thread.
    Message(MessageId),
}

/// What an operator does with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing wrong found; a hold placed by the report stays until lifted (another report may justify it).
    Dismiss,
    /// Upheld: the store is warned (audited in its chain).
    Warn,
    /// Upheld: the store's payouts stay (or go) on hold.
    HoldPayouts,
    /// Upheld: the reported listing is unpublished (a listing report only).
    HideListing,
    /// Upheld: the store is suspended (its shop and checkout close) and its payouts held.
    SuspendStore,
}

impl Action {
    /// The action named by a form's value.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "dismiss" => Action::Dismiss,
            "warn" => Action::Warn,
            "hold_payouts" => Action::HoldPayouts,
            "hide_listing" => Action::HideListing,
            "suspend_store" => Action::SuspendStore,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Action::Dismiss => "dismiss",
            Action::Warn => "warn",
            Action::HoldPayouts => "hold_payouts",
            Action::HideListing => "hide_listing",
            Action::SuspendStore => "suspend_store",
        }
    }

    /// What the reporter is told.
    fn outcome(self) -> &'static str {
        match self {
            Action::Dismiss => "We looked into your report and did not find a breach of our rules this time.",
            Action::Warn => "We upheld your report and warned the seller.",
            Action::HoldPayouts => "We upheld your report and are holding the seller's payouts while we investigate.",
            Action::HideListing => "We upheld your report and removed the listing from sale.",
            Action::SuspendStore => "We upheld your report and suspended the store.",
        }
    }
}

/// A report as its reporter and the operator see it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub id: ReportId,
    pub store_id: StoreId,
    pub store_name: String,
    pub subject_kind: String,
    pub subject_id: String,
    pub category: String,
    pub category_label: &'static str,
    pub severity: String,
    pub details: String,
    pub status: String,
    pub action: Option<String>,
    /// What the reporter was told.
    pub outcome: Option<String>,
    pub created_at: Timestamp,
    pub due_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);
const SELECT: &str = "SELECT r.id, r.store_id, s.name, r.subject_kind, r.subject_id, r.category, r.severity, r.details, \
     r.status, r.action, r.outcome, r.created_at, r.due_at, r.decided_at FROM scam_reports r JOIN stores s ON s.id = r.store_id";

fn from_row(r: Row) -> Result<Report> {
    Ok(Report {
        id: stored_id("report", &r.0)?,
        store_id: stored_id("store", &r.1)?,
        store_name: r.2,
        subject_kind: r.3,
        subject_id: r.4,
        category_label: category(&r.5).map_or("Something else", |c| c.1),
        category: r.5,
        severity: r.6,
        details: r.7,
        status: r.8,
        action: r.9,
        outcome: r.10,
        created_at: Timestamp(r.11),
        due_at: Timestamp(r.12),
        decided_at: r.13.map(Timestamp),
    })
}

/// A buyer files a report. The subject must be something the buyer can see: an active store, one of its published
/// listings, or a message the store sent into the buyer's own thread (anything else is `NotFound`). At most
/// [`REPORT_RATE_LIMIT`] reports an hour per buyer (429), and one open report per subject per buyer (409).
pub async fn file(
    db: &Db,
    reporter: AccountId,
    subject: Subject,
    category_code: &str,
    details: &str,
) -> Result<Report> {
    let Some((code, _, severity)) = category(category_code) else {
        return Err(CommerceError::Invalid(format!(
            "unknown category `{}`",
            category_code.chars().take(40).collect::<String>()
        )));
    };
    let details = details.trim();
    if details.chars().count() > MAX_DETAILS_CHARS {
        return Err(CommerceError::TooLong { field: "description", max: MAX_DETAILS_CHARS });
    }
    let (store, kind, subject_id) = resolve(db, reporter, subject).await?;
    let now = db.now().0;
    let id = ReportId::new();
    let mut tx = db.begin_write().await?;
    let (recent,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM scam_reports WHERE reporter_id = $1 AND created_at > $2")
            .bind(reporter.to_string())
            .bind(now - REPORT_WINDOW_MS)
            .fetch_one(&mut *tx)
            .await?;
    if recent >= REPORT_RATE_LIMIT {
        return Err(CommerceError::RateLimited("reports"));
    }
    let (open,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM scam_reports WHERE reporter_id = $1 AND subject_kind = $2 AND subject_id = $3 AND status = 'open'",
    )
    .bind(reporter.to_string())
    .bind(kind)
    .bind(&subject_id)
    .fetch_one(&mut *tx)
    .await?;
    if open > 0 {
        return Err(CommerceError::Store(StoreError::Conflict("you have already reported this; we are on it".into())));
    }
    sqlx::query(
        "INSERT INTO scam_reports (id, store_id, reporter_id, subject_kind, subject_id, category, severity, details, \
         status, created_at, due_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $10)",
    )
    .bind(id.to_string())
    .bind(store.to_string())
    .bind(reporter.to_string())
    .bind(kind)
    .bind(&subject_id)
    .bind(code)
    .bind(severity.as_str())
    .bind(details)
    .bind(now)
    .bind(now + severity.target_ms())
    .execute(&mut *tx)
    .await?;
    // The store's chain records the report without its reporter (staff read their store's audit log).
    let scope = StoreScope::system(store, "scam_report");
    let target = format!("scam_report:{id}");
    let facts = serde_json::json!({"category": code, "severity": severity.as_str(), "subject": kind});
    audit::record_store(&mut tx, db, &scope, NewEvent::new("scam_report.filed", &target).details(facts)).await?;
    // A high-severity report holds the payouts at once only from someone who dealt with the store (an order there,
    // or a message the store sent them): otherwise any throwaway account could freeze any competitor's payouts.
    // Other high reports are triaged within the hour by an operator, who can hold them.
    if severity == Severity::High && (kind == "message" || has_ordered(&mut tx, reporter, store).await?) {
        hold_on(&mut tx, db, &scope, "a high-severity scam report", Some(id)).await?;
    }
    tx.commit().await?;
    tracing::info!(store.id = %store, report.id = %id, report.severity = severity.as_str(), "scam report filed");
    get(db, id).await
}

/// Whether `buyer` has placed an order at `store` (in the caller's transaction).
async fn has_ordered(tx: &mut sqlx::AnyConnection, buyer: AccountId, store: StoreId) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM orders WHERE store_id = $1 AND buyer_id = $2")
        .bind(store.to_string())
        .bind(buyer.to_string())
        .fetch_one(&mut *tx)
        .await?;
    Ok(n > 0)
}

/// The store, kind and id of what a buyer reports, if the buyer can see it (else `NotFound`).
async fn resolve(db: &Db, reporter: AccountId, subject: Subject) -> Result<(StoreId, &'static str, String)> {
    let (store, kind, subject_id) = match subject {
        Subject::Store(store) => (store, "store", store.to_string()),
        Subject::Listing(store, product) => {
            let listed: Option<(String,)> =
                sqlx::query_as("SELECT id FROM products WHERE id = $1 AND store_id = $2 AND status = 'published'")
                    .bind(product.to_string())
                    .bind(store.to_string())
                    .fetch_optional(db.pool())
                    .await?;
            if listed.is_none() {
                return Err(CommerceError::Store(StoreError::NotFound("product")));
            }
            (store, "listing", product.to_string())
        }
        Subject::Message(message) => {
            (crate::messages::reportable_by(db, reporter, message).await?, "message", message.to_string())
        }
    };
    if kind == "store" {
        let active: Option<(String,)> = sqlx::query_as("SELECT id FROM stores WHERE id = $1 AND status = 'active'")
            .bind(store.to_string())
            .fetch_optional(db.pool())
            .await?;
        if active.is_none() {
            return Err(CommerceError::Store(StoreError::NotFound("store")));
        }
    }
    Ok((store, kind, subject_id))
}

/// Places the store's payout hold in the caller's transaction (no-op if one is in place), audited.
async fn hold_on(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StoreScope,
    reason: &str,
    report: Option<ReportId>,
) -> Result<()> {
    let placed = sqlx::query(
        "INSERT INTO payout_holds (store_id, reason, report_id, placed_by, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (store_id) DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(reason)
    .bind(report.map(|r| r.to_string()))
    .bind(scope.actor().as_audit_text())
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    if placed.rows_affected() == 1 {
        let facts = serde_json::json!({"reason": reason, "report": report});
        audit::record_store(tx, db, scope, NewEvent::new("payouts.held", "payouts").details(facts)).await?;
    }
    Ok(())
}

/// The store's payout hold, if any: its reason and when it was placed. Read inside the payout's transaction.
pub(crate) async fn hold_in(tx: &mut sqlx::AnyConnection, scope: &StoreScope) -> Result<Option<(String, i64)>> {
    Ok(sqlx::query_as("SELECT reason, created_at FROM payout_holds WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(&mut *tx)
        .await?)
}

/// Whether the store's payouts are on hold (for the payouts page).
pub async fn payouts_held(db: &Db, scope: &StaffScope) -> Result<bool> {
    let row: Option<(String,)> = sqlx::query_as("SELECT store_id FROM payout_holds WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

async fn get(db: &Db, id: ReportId) -> Result<Report> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{SELECT} WHERE r.id = $1")))
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await?;
    from_row(row.ok_or(CommerceError::Store(StoreError::NotFound("report")))?)
}

/// The reporter's own reports, newest first, with their outcomes.
pub async fn for_reporter(db: &Db, reporter: AccountId) -> Result<Vec<Report>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE r.reporter_id = $1 ORDER BY r.created_at DESC LIMIT 100"
    )))
    .bind(reporter.to_string())
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(from_row).collect()
}

/// A report about the store as its staff see it: what was reported and what became of it, never by whom or in
/// what words (the details could identify the reporter).
#[derive(Debug, Clone, Serialize)]
pub struct StoreView {
    pub category_label: &'static str,
    pub subject_kind: String,
    pub status: String,
    pub action: Option<String>,
    pub created_at: Timestamp,
}

/// Reports about the store, newest first, without their reporters.
pub async fn for_store(db: &Db, scope: &StaffScope) -> Result<Vec<StoreView>> {
    let rows: Vec<(String, String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT category, subject_kind, status, action, created_at FROM scam_reports WHERE store_id = $1 \
         ORDER BY created_at DESC LIMIT 100",
    )
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| StoreView {
            category_label: category(&r.0).map_or("Something else", |c| c.1),
            subject_kind: r.1,
            status: r.2,
            action: r.3,
            created_at: Timestamp(r.4),
        })
        .collect())
}

/// A report in the operator's queue.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    #[serde(flatten)]
    pub report: Report,
    pub store_slug: String,
    pub reporter_email: String,
    /// Past its triage target and still open.
    pub overdue: bool,
    /// Whether the store's payouts are on hold now.
    pub payouts_held: bool,
}

/// Open reports, most urgent (earliest due) first, then the 50 most recently decided.
pub async fn queue(db: &Db, _operator: &OperatorPrincipal) -> Result<Vec<Case>> {
    let now = db.now().0;
    let mut cases = Vec::new();
    for (filter, order) in [("r.status = 'open'", "r.due_at, r.id"), ("r.status <> 'open'", "r.decided_at DESC, r.id")]
    {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE {filter} ORDER BY {order} LIMIT {}",
            if filter.contains("= 'open'") { 500 } else { 50 }
        )))
        .fetch_all(db.pool())
        .await?;
        for r in rows {
            let report = from_row(r)?;
            let extra: (String, String, i64) = sqlx::query_as(
                "SELECT s.slug, a.email, (SELECT COUNT(*) FROM payout_holds h WHERE h.store_id = s.id) \
                 FROM scam_reports r JOIN stores s ON s.id = r.store_id JOIN accounts a ON a.id = r.reporter_id WHERE r.id = $1",
            )
            .bind(report.id.to_string())
            .fetch_one(db.pool())
            .await?;
            let overdue = report.status == "open" && report.due_at.0 < now;
            cases.push(Case {
                report,
                store_slug: extra.0,
                reporter_email: extra.1,
                overdue,
                payouts_held: extra.2 > 0,
            });
        }
    }
    Ok(cases)
}

/// How many open reports are past their triage target (the platform control).
pub async fn overdue_count(db: &Db) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM scam_reports WHERE status = 'open' AND due_at < $1")
        .bind(db.now().0)
        .fetch_one(db.pool())
        .await?;
    Ok(n)
}

/// An operator decides a report; the action, the report's new state and the audit event commit together. The
/// reporter is told the outcome by mail once it has committed.
pub async fn decide(db: &Db, operator: &OperatorPrincipal, id: ReportId, action: Action, note: &str) -> Result<Report> {
    let report = get(db, id).await?;
    if report.status != "open" {
        return Err(CommerceError::InvalidTransition("this report has already been decided".into()));
    }
    if action == Action::HideListing && report.subject_kind != "listing" {
        return Err(CommerceError::Invalid("only a listing report can hide a listing".into()));
    }
    let note = note.trim();
    if note.chars().count() > MAX_DETAILS_CHARS {
        return Err(CommerceError::TooLong { field: "note", max: MAX_DETAILS_CHARS });
    }
    let scope = operator.store_scope(report.store_id);
    let status = if action == Action::Dismiss { "dismissed" } else { "upheld" };
    let now = db.now().0;
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE scam_reports SET status = $1, action = $2, outcome = $3, decided_by = $4, decided_at = $5 \
         WHERE id = $6 AND status = 'open'",
    )
    .bind(status)
    .bind(action.as_str())
    .bind(action.outcome())
    .bind(operator.account_id().to_string())
    .bind(now)
    .bind(id.to_string())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() != 1 {
        return Err(CommerceError::ChangedMeanwhile("the report"));
    }
    match action {
        Action::Dismiss => lift_automatic_hold(&mut tx, db, &scope, &report, id).await?,
        Action::Warn => {}
        Action::HoldPayouts => {
            hold_on(&mut tx, db, &scope, "an operator's decision on a scam report", Some(id)).await?
        }
        Action::HideListing => {
            // Hidden by the operator, not just unpublished: the merchant cannot publish it again.
            sqlx::query(
                "UPDATE products SET status = 'draft', hidden_by_operator = 1, updated_at = $1 \
                 WHERE store_id = $2 AND id = $3",
            )
            .bind(now)
            .bind(scope.store_key())
            .bind(&report.subject_id)
            .execute(&mut *tx)
            .await?;
        }
        Action::SuspendStore => {
            sqlx::query("UPDATE stores SET status = 'suspended' WHERE id = $1")
                .bind(scope.store_key())
                .execute(&mut *tx)
                .await?;
            hold_on(&mut tx, db, &scope, "the store was suspended after a scam report", Some(id)).await?;
        }
    }
    if action != Action::Dismiss {
        // Cached storefront pages are keyed by the store's content version: move it so none is served again (a
        // hidden listing, a suspended store, and the safety rating an upheld report lowers).
        palisade_store::storefront::touch(&mut tx, &scope).await?;
    }
    let target = format!("scam_report:{id}");
    // The store's staff read their chain: it gets the action; the operator's note (which may quote the reporter or
    // the evidence) goes to the platform's chain only.
    let facts = serde_json::json!({"action": action.as_str()});
    audit::record_store(&mut tx, db, &scope, NewEvent::new("scam_report.decided", &target).details(facts)).await?;
    let facts = serde_json::json!({"action": action.as_str(), "store": report.store_id, "note": note});
    let event = NewEvent::new("scam_report.decided", &target).details(facts);
    audit::record_platform(&mut tx, db, &operator.platform_scope(), event).await?;
    tx.commit().await?;
    crate::safety::forget(&scope.store_key());
    tell_reporter(db, id, action).await;
    get(db, id).await
}

/// On a dismissal: a hold a report placed by itself goes once no open high-severity report backs it any more (an
/// operator's own hold stays until an operator lifts it). Audited when lifted.
async fn lift_automatic_hold(
    tx: &mut sqlx::AnyConnection,
    db: &Db,
    scope: &StaffScope,
    report: &Report,
    id: ReportId,
) -> Result<()> {
    let automatic = StoreScope::system(report.store_id, "scam_report").actor().as_audit_text();
    let lifted = sqlx::query(
        "DELETE FROM payout_holds WHERE store_id = $1 AND placed_by = $3 AND NOT EXISTS (SELECT 1 FROM \
             scam_reports WHERE store_id = $1 AND status = 'open' AND severity = 'high' AND id <> $2)",
    )
    .bind(scope.store_key())
    .bind(id.to_string())
    .bind(automatic)
    .execute(&mut *tx)
    .await?;
    if lifted.rows_affected() == 1 {
        let facts = serde_json::json!({"report": id, "why": "the report was dismissed"});
        audit::record_store(tx, db, scope, NewEvent::new("payouts.released", "payouts").details(facts)).await?;
    }
    Ok(())
}

/// Mails the reporter the outcome. A failure to queue is logged, not returned: the decision has committed and the
/// reporter also sees it in their account.
async fn tell_reporter(db: &Db, id: ReportId, action: Action) {
    let row: std::result::Result<Option<(String,)>, sqlx::Error> =
        sqlx::query_as("SELECT a.email FROM scam_reports r JOIN accounts a ON a.id = r.reporter_id WHERE r.id = $1")
            .bind(id.to_string())
            .fetch_optional(db.pool())
            .await;
    let Ok(Some((to,))) = row else {
        tracing::warn!(report.id = %id, "scam report outcome not mailed: reporter not found");
        return;
    };
    let body = format!(
        "Thank you for your report.\n\n{}\n\nYou can see your reports under Your account → Messages.\n",
        action.outcome()
    );
    let mail = outbox::NewMail { store_id: None, to: &to, subject: "Your report to Palisade", body };
    if let Err(e) = outbox::enqueue(db, mail).await {
        tracing::error!(report.id = %id, error = %e, "scam report outcome not mailed");
    }
}

/// An operator lifts a store's payout hold, audited.
pub async fn release_hold(db: &Db, operator: &OperatorPrincipal, store: StoreId) -> Result<()> {
    let scope = operator.store_scope(store);
    tenancy::get_store(db, &scope).await?;
    let mut tx = db.begin_write().await?;
    let done =
        sqlx::query("DELETE FROM payout_holds WHERE store_id = $1").bind(scope.store_key()).execute(&mut *tx).await?;
    if done.rows_affected() == 1 {
        audit::record_store(&mut tx, db, &scope, NewEvent::new("payouts.hold_released", "payouts")).await?;
    }
    tx.commit().await?;
    Ok(())
}
