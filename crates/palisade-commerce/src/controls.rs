//! Transaction safety controls: the platform keeps the payment page as inventoried and the escrow ledger
//! balanced; each merchant answers buyers' disputes and ships paid orders in time.

use std::time::Duration;

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_store::matrix::{EvalContext, Registry};
use palisade_store::scope::PlatformScope;

const PCI_SCRIPTS: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "6.4.3 Payment page scripts inventoried and authorised" };
const PCI_TAMPER: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "11.6.1 Change and tamper detection on payment pages" };
const ESCROW: Reference = Reference { framework: "Marketplace buyer protection", clause: "Funds held until delivery" };
const TSR_MONITORING: Reference = Reference {
    framework: "MHA E-commerce Transaction Safety Ratings",
    clause: "Monitoring fraudulent seller behaviour",
};
const TSR_PAYMENT: Reference =
    Reference { framework: "MHA E-commerce Transaction Safety Ratings", clause: "Secure payment" };
const PDPA_ACCESS: Reference = Reference { framework: "PDPA", clause: "s21 Access obligation" };
const PDPA_CORRECTION: Reference = Reference { framework: "PDPA", clause: "s22 Correction obligation" };
const PDPA_RESPONSE_TIME: Reference = Reference {
    framework: "PDP Regulations 2021",
    clause: "reg 5 / reg 4: respond to access and correction requests within 30 days",
};
const PDPA_INTERMEDIARY: Reference = Reference { framework: "PDPA", clause: "s4(2) Data intermediary" };
const TSR_SELLER_ID: Reference = Reference {
    framework: "MHA E-commerce Transaction Safety Ratings",
    clause: "Seller authentication against government-issued records",
};
const PDPA_RETENTION: Reference = Reference { framework: "PDPA", clause: "s25 Retention limitation obligation" };
const PCI_FRAUD: Reference = Reference {
    framework: "PCI DSS 4.0",
    clause: "12.10.1 / 10.7 Suspicious payment activity detected and responded to",
};

/// How long a held order may wait for the merchant's review.
pub const REVIEW_WITHIN: Duration = Duration::from_secs(24 * 3600);
/// How old the operator's review of the platform fraud rules may be.
pub const RULES_REVIEW_MAX_AGE: Duration = Duration::from_secs(365 * 24 * 3600);

/// How old the last payment-page check may be.
pub const PAGE_CHECK_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long a merchant has to answer a dispute.
pub const DISPUTE_ANSWER_WITHIN: Duration = Duration::from_secs(3 * 24 * 3600);
/// How long a paid order may wait to be shipped.
pub const SHIP_WITHIN: Duration = Duration::from_secs(5 * 24 * 3600);

#[allow(
    clippy::too_many_lines,
    reason = "the registrations of matrix controls read as one list, each control beside its check"
)]
pub fn register(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.payment-page-integrity",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "The payment page serves only its inventoried scripts and security headers (checked in the last hour)",
            why: "Card skimmers work by slipping one script into the checkout; only a page that is watched stays clean.",
            remediation: "Keep `palisade serve` running with jobs enabled (payments.page_check runs every 15 minutes); \
                          if a check reports a change you did not release, take checkout offline and investigate.",
            references: &[PCI_SCRIPTS, PCI_TAMPER],
        },
        |ctx: EvalContext| async move {
            let platform = PlatformScope::system("control:platform.payment-page-integrity");
            let latest = crate::payment_page::recent(&ctx.db, &platform, 1).await.map(|mut c| c.pop());
            match latest {
                Ok(None) => ControlStatus::unmet("the payment page has not been checked yet"),
                Ok(Some(crate::payment_page::Check { checked_at, outcome, detail })) => {
                    let fresh = checked_at.plus(PAGE_CHECK_MAX_AGE) > ctx.db.now();
                    match (outcome.as_str(), fresh) {
                        ("match", true) => ControlStatus::met(detail),
                        ("match", false) => ControlStatus::unmet("the last check is more than an hour old"),
                        _ => ControlStatus::unmet(format!("last check: {outcome}: {detail}")),
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.escrow-ledger-balanced",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "The escrow ledger balances: every transfer sums to zero and no held balance is negative",
            why: "Buyers' money is held by the platform; the books must prove none was made up or lost.",
            remediation: "A failure here is a defect or tampering: stop payouts and compare the ledger with the gateway.",
            references: &[ESCROW],
        },
        |ctx: EvalContext| async move {
            match crate::ledger::audit(&ctx.db).await {
                Ok(a) if a.total == 0 && a.negative_internal.is_empty() && a.drifted.is_empty() && a.unbalanced_transfers.is_empty() => {
                    ControlStatus::met("all accounts sum to zero; no drift; no negative internal balance")
                }
                Ok(a) => ControlStatus::unmet(format!(
                    "total {}; negative {:?}; drifted {:?}; unbalanced {:?}",
                    a.total, a.negative_internal, a.drifted, a.unbalanced_transfers
                )),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.disputes-answered",
            area: Area::TransactionSafety,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Every buyer dispute is answered within 3 days",
            why: "An unanswered dispute is decided on the buyer's word alone, and buyers judge stores by it.",
            remediation: "Open Admin → Disputes and answer each open dispute with what happened.",
            references: &[ESCROW],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let cutoff = ctx.db.now().minus(DISPUTE_ANSWER_WITHIN).0;
            let row: Result<(i64, i64), sqlx::Error> = sqlx::query_as(
                "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN created_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM disputes WHERE store_id = $1 AND status = 'open'",
            )
            .bind(scope.store_key())
            .bind(cutoff)
            .fetch_one(ctx.db.pool())
            .await;
            match row {
                Ok((0, _)) => ControlStatus::met("no unanswered disputes"),
                Ok((n, 0)) => ControlStatus::met(format!("{n} unanswered, all opened in the last 3 days")),
                Ok((_, late)) => ControlStatus::unmet(format!("{late} dispute(s) unanswered for more than 3 days")),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.orders-shipped-in-time",
            area: Area::TransactionSafety,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Paid orders ship within 5 days",
            why: "Late shipping is the first sign of a scam store, and the commonest cause of disputes.",
            remediation: "Ship (with a tracking number) or refund the paid orders listed under Admin → Orders → paid.",
            references: &[ESCROW],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let cutoff = ctx.db.now().minus(SHIP_WITHIN).0;
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "SELECT COUNT(*) FROM orders WHERE store_id = $1 AND status = 'paid' AND updated_at < $2",
            )
            .bind(scope.store_key())
            .bind(cutoff)
            .fetch_one(ctx.db.pool())
            .await;
            match row {
                Ok((0,)) => ControlStatus::met("no paid order waiting more than 5 days"),
                Ok((n,)) => ControlStatus::unmet(format!("{n} paid order(s) waiting more than 5 days")),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    register_fraud(reg)?;
    register_safety(reg)?;
    register_verification(reg)?;
    register_privacy(reg)
}

const SCAM_WARNINGS: Reference = Reference {
    framework: "MHA E-commerce Transaction Safety Ratings",
    clause: "Scam warnings and reporting channels for users",
};

/// Safe messaging and scam reports (issue #20 items 5 and 6): operators triage reports within their targets, and
/// buyers are warned about scam patterns in every store's messages.
fn register_safety(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.reports-triaged",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Scam reports are triaged within target (high severity 1 hour, others 24 hours)",
            why: "A report is a buyer telling us a seller may be stealing; an untriaged one leaves the next buyer exposed.",
            remediation: "Open Console → Reports and decide the overdue reports, oldest due first.",
            references: &[SCAM_WARNINGS, TSR_MONITORING],
        },
        |ctx: EvalContext| async move {
            match crate::scam_reports::overdue_count(&ctx.db).await {
                Ok(0) => ControlStatus::met("no open report past its triage target"),
                Ok(n) => ControlStatus::unmet(format!("{n} open report(s) past their triage target")),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.messaging-warnings-on",
            area: Area::TransactionSafety,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Messaging warnings are not disabled: buyers are warned about scam patterns in the store's messages",
            why: "Scammers move buyers to PayNow, bank transfers and chat apps; the warning is what stops the buyer.",
            remediation: "Nothing to do: the platform checks every message and a store cannot turn the warnings off. \
                          Answer buyers in Admin → Messages, and keep payment in the checkout.",
            references: &[SCAM_WARNINGS],
        },
        |ctx: EvalContext| async move {
            if ctx.store.is_none() {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            }
            // There is no setting to turn them off: every message is judged when it is sent (messages::send).
            ControlStatus::met(
                "every message is checked and flagged ones are shown with a warning; stores cannot turn this off",
            )
        },
    )?;
    Ok(())
}

/// The seller-verification controls (issue #20 item 1): the platform pays out only to verified sellers; each
/// store keeps its verification current (a bank-account change needs a new review).
fn register_verification(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.sellers-with-payouts-verified",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Every seller that has received payouts is verified now",
            why: "Buyers' money leaves the platform only to sellers whose identity was checked against government \
                  records, so a fraudulent store cannot be paid and disappear.",
            remediation: "Open Console → Verifications and review the waiting sellers; payouts stay blocked for the \
                          stores listed until they are verified.",
            references: &[TSR_SELLER_ID, ESCROW],
        },
        |ctx: EvalContext| async move {
            let row: Result<(i64,), sqlx::Error> = sqlx::query_as(
                "SELECT COUNT(DISTINCT p.store_id) FROM payouts p WHERE NOT EXISTS (SELECT 1 FROM \
                 store_verifications v WHERE v.store_id = p.store_id AND v.state = 'verified')",
            )
            .fetch_one(ctx.db.pool())
            .await;
            match row {
                Ok((0,)) => ControlStatus::met("every store with payouts is verified"),
                Ok((n,)) => ControlStatus::unmet(format!(
                    "{n} store(s) with payouts are not verified now (never, or a bank account changed since)"
                )),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.verification-current",
            area: Area::TransactionSafety,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store's seller verification is current",
            why: "Payouts wait for it, and buyers see the \"Verified seller\" badge only on verified stores.",
            remediation: "Open Admin → Verification: submit the UEN or NRIC/FIN with documents, or ask for review \
                          again after changing the payout bank account.",
            references: &[TSR_SELLER_ID],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let Ok(staff) = scope.to_staff() else {
                return ControlStatus::Unknown { reason: "not a staff scope".into() };
            };
            match crate::verification::get(&ctx.db, &staff).await {
                Ok(v) if v.state == crate::verification::State::Verified => ControlStatus::met("verified"),
                Ok(v) => match v.state {
                    crate::verification::State::Rejected => {
                        ControlStatus::unmet("the last submission was rejected: see the reason and submit again")
                    }
                    other => ControlStatus::unmet(other.label()),
                },
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )
}

/// The fraud controls (issue #20 item 9): a merchant reviews held orders within 24 hours and none ships
/// unreviewed; the platform's scoring rules running are the ones an operator reviewed.
fn register_fraud(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "store.risky-orders-reviewed",
            area: Area::TransactionSafety,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Orders held for fraud review are decided within 24 hours, and none ships unreviewed",
            why: "A held order is paid but waiting: the buyer waits too, and a fraudulent one left alone is a chargeback later.",
            remediation: "Open Admin → Orders → Orders held for fraud review and approve or cancel each order.",
            references: &[TSR_MONITORING, PCI_FRAUD],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let cutoff = ctx.db.now().minus(REVIEW_WITHIN).0;
            // Waiting: held and still paid (a refunded or cancelled one is closed; a disputed one is the
            // dispute's to decide). Shipped while held is counted whatever else happened since.
            let row: Result<(i64, i64, i64), sqlx::Error> = sqlx::query_as(
                "SELECT CAST(COALESCE(SUM(CASE WHEN status = 'paid' THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN status = 'paid' AND created_at < $2 THEN 1 ELSE 0 END), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(CASE WHEN status IN ('shipped', 'delivered', 'completed') THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM orders WHERE store_id = $1 AND review_state = 'held'",
            )
            .bind(scope.store_key())
            .bind(cutoff)
            .fetch_one(ctx.db.pool())
            .await;
            match row {
                Ok((_, _, shipped)) if shipped > 0 => {
                    ControlStatus::unmet(format!("{shipped} held order(s) shipped without a review"))
                }
                Ok((_, late, _)) if late > 0 => {
                    ControlStatus::unmet(format!("{late} held order(s) waiting more than 24 hours"))
                }
                Ok((0, _, _)) => ControlStatus::met("no order waiting for review"),
                Ok((n, _, _)) => ControlStatus::met(format!("{n} held, all within 24 hours; none shipped unreviewed")),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.fraud-rules-reviewed",
            area: Area::TransactionSafety,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "The platform's fraud scoring rules in force were reviewed by an operator (this version, within a year)",
            why: "Rules that nobody looked at drift from the fraud actually seen; a release that changes them needs a new look.",
            remediation: "Read the platform rules (palisade-trust rules/platform.rules and the simulator's figures in its README), \
                          then record the review with `palisade admin fraud-rules-reviewed --by <name>`.",
            references: &[TSR_MONITORING, TSR_PAYMENT],
        },
        |ctx: EvalContext| async move {
            let current = crate::fraud::platform_rules_version();
            match palisade_store::settings::get(&ctx.db, crate::fraud::REVIEW_SETTING).await {
                Ok(None) => ControlStatus::unmet(format!("rules version {current} has never been reviewed")),
                Ok(Some((v, at))) => {
                    let version = v.get("version").and_then(serde_json::Value::as_str).unwrap_or("");
                    let by = v.get("by").and_then(serde_json::Value::as_str).unwrap_or("?");
                    if version != current {
                        ControlStatus::unmet(format!("reviewed version {version}, but {current} is running"))
                    } else if at.plus(RULES_REVIEW_MAX_AGE) < ctx.db.now() {
                        ControlStatus::unmet("the last review is more than a year old")
                    } else {
                        ControlStatus::met(format!("version {current} reviewed by {by}"))
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}

/// The PDPA request controls (issue #21 item 9): each merchant answers access and correction requests within 30
/// days; the platform checks the requests it routed from buyers' accounts were answered in time.
fn register_privacy(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "store.data-requests-answered",
            area: Area::DataProtection,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Buyers' access and correction requests are answered within 30 days",
            why: "The PDPA gives a person the right to see and correct their data, and the store (the organisation) \
                  must answer within 30 days; an unanswered request is a complaint to the PDPC waiting to happen.",
            remediation: "Open Admin → Data requests and answer each open request: send the generated export, mark the \
                          correction done, or refuse it with a reason.",
            references: &[PDPA_ACCESS, PDPA_CORRECTION, PDPA_RESPONSE_TIME],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            match crate::data_requests::counts(&ctx.db, &scope).await {
                Ok(c) if c.overdue > 0 => ControlStatus::unmet(format!(
                    "{} request(s) open past their 30 days ({} open in time)",
                    c.overdue, c.open
                )),
                Ok(c) => ControlStatus::met(format!(
                    "none overdue: {} open within 30 days, {} answered ({} late)",
                    c.open, c.answered, c.answered_late
                )),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.data-requests-routed",
            area: Area::DataProtection,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Requests the platform routes from buyers' accounts to stores are answered within 30 days",
            why: "As the stores' data intermediary the platform carries buyers' requests; it must see that none is \
                  lost between the account page and the merchant.",
            remediation: "Contact the merchants whose requests are overdue (the reminder mails went to their owners and \
                          security contact) and follow up until each is answered.",
            references: &[PDPA_INTERMEDIARY, PDPA_ACCESS, PDPA_RESPONSE_TIME],
        },
        |ctx: EvalContext| async move {
            let platform = PlatformScope::system("control:platform.data-requests-routed");
            match crate::data_requests::routed_counts(&ctx.db, &platform).await {
                Ok(c) if c.overdue > 0 => ControlStatus::unmet(format!(
                    "{} routed request(s) open past their 30 days ({} open in time)",
                    c.overdue, c.open
                )),
                Ok(c) => ControlStatus::met(format!(
                    "none overdue: {} open within 30 days, {} answered in the last year ({} late)",
                    c.open, c.answered, c.answered_late
                )),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    register_retention(reg)
}

/// The retention job ran (issue #21 item 6).
fn register_retention(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.retention-runs",
            area: Area::DataProtection,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Personal data past its retention is removed: the retention job ran in the last 2 days",
            why: "Carts, sign-in state, firewall events, refused requests past their keep-until and inactive buyer \
                  accounts must not be kept longer than their purpose needs; the daily job removes them.",
            remediation: "Check that `palisade serve` runs its job runner (job privacy.retention), or run \
                          `palisade privacy retention` by hand and look at its counts.",
            references: &[PDPA_RETENTION],
        },
        |ctx: EvalContext| async move {
            let platform = PlatformScope::system("control:platform.retention-runs");
            let since = ctx.db.now().0 - 2 * 24 * 3600 * 1000;
            match crate::retention::recent(&ctx.db, &platform, 20).await {
                Ok(runs) => match runs.iter().find(|r| !r.dry_run) {
                    Some(r) if r.ran_at >= since => {
                        let total: i64 = r.counts.values().sum();
                        ControlStatus::met(format!("last run removed or anonymised {total} rows and accounts"))
                    }
                    Some(_) => ControlStatus::unmet("the last retention run is more than 2 days old"),
                    None => ControlStatus::unmet("retention has never run"),
                },
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}
