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
    Ok(())
}
