//! The matrix controls of store scans: the merchant scans and triages (`store.scanned-recently`,
//! `store.findings-triaged`), the platform scans every active store (`platform.stores-scanned`).

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_core::time::Timestamp;

use super::{DAY_MS, PLATFORM_SCAN_DAYS, RECENT_SCAN_DAYS, TRIAGE_DAYS};
use crate::matrix::{EvalContext, Registry};
use crate::scope::{PlatformScope, StaffScope};

const PCI_SCAN: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "11.3 Vulnerabilities identified, prioritised and addressed" };
const PCI_WEB: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "6.4.1 Public-facing web applications assessed" };
const CE_CONFIG: Reference = Reference { framework: "Cyber Essentials", clause: "Secure configuration" };
const PDPA_PROTECT: Reference = Reference { framework: "PDPA", clause: "s24 Protection obligation" };

/// Registers the three scan controls.
pub fn register(reg: &mut Registry) -> crate::error::Result<()> {
    reg.register(
        Control {
            id: "store.scanned-recently",
            area: Area::VulnerabilityManagement,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store was scanned in the last 30 days and has no open high or critical finding",
            why: "A scan finds missing headers, exposed files and unsafe template code before an attacker does; \
                  a finding nobody fixes is a known way in.",
            remediation: "Open Security Center → Scans, run a scan, and fix (or accept with a reason) every high \
                          and critical finding.",
            references: &[PCI_SCAN, PCI_WEB, PDPA_PROTECT],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let Ok(staff) = scope.to_staff() else { return ControlStatus::Unknown { reason: "not staff".into() } };
            scanned_recently(&ctx, &staff).await.unwrap_or_else(|e| ControlStatus::Unknown { reason: e.to_string() })
        },
    )?;
    reg.register(
        Control {
            id: "store.findings-triaged",
            area: Area::VulnerabilityManagement,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "No scan finding has stayed open for more than 14 days without being fixed or accepted",
            why: "Triage is the duty: every finding gets a decision — fixed, or accepted with a reason and an end date.",
            remediation: "Open Security Center → Scans and fix each old finding, or accept it with a reason and an \
                          expiry (at most 90 days).",
            references: &[PCI_SCAN, CE_CONFIG],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let Ok(staff) = scope.to_staff() else { return ControlStatus::Unknown { reason: "not staff".into() } };
            match super::findings(&ctx.db, &staff).await {
                Ok(all) => {
                    let cutoff = ctx.db.now().0 - TRIAGE_DAYS * DAY_MS;
                    let old = all.iter().filter(|f| f.state == "open" && f.first_seen.0 < cutoff).count();
                    if old == 0 {
                        ControlStatus::met(format!("{} finding(s) not fixed, none untriaged for 14 days", all.len()))
                    } else {
                        ControlStatus::unmet(format!("{old} finding(s) open for more than 14 days without a decision"))
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.stores-scanned",
            area: Area::VulnerabilityManagement,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Every active store was scanned in the last 7 days",
            why: "The platform gives merchants the scanning tool and runs it for them weekly, so no store goes \
                  unchecked because nobody pressed the button.",
            remediation: "Run `palisade serve` with jobs on: the weekly `store.scan` job scans every active store.",
            references: &[PCI_SCAN, PCI_WEB],
        },
        |ctx: EvalContext| async move {
            let since = Timestamp(ctx.db.now().0 - PLATFORM_SCAN_DAYS * DAY_MS);
            match super::stores_not_scanned_since(&ctx.db, &PlatformScope::system("matrix"), since).await {
                Ok(missing) if missing.is_empty() => ControlStatus::met("every active store scanned in 7 days"),
                Ok(missing) => {
                    ControlStatus::unmet(format!("{} active store(s) not scanned in the last 7 days", missing.len()))
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}

async fn scanned_recently(ctx: &EvalContext, scope: &StaffScope) -> crate::error::Result<ControlStatus> {
    let now = ctx.db.now();
    let Some(last) = super::last_finished(&ctx.db, scope).await? else {
        return Ok(ControlStatus::unmet("the store has never been scanned"));
    };
    if last.0 < now.0 - RECENT_SCAN_DAYS * DAY_MS {
        return Ok(ControlStatus::unmet("the last scan is older than 30 days"));
    }
    let grave = super::findings(&ctx.db, scope)
        .await?
        .into_iter()
        .filter(|f| f.state == "open" && matches!(f.severity.as_str(), "high" | "critical"))
        .count();
    if grave > 0 {
        return Ok(ControlStatus::unmet(format!("{grave} open high or critical finding(s)")));
    }
    Ok(ControlStatus::met("scanned in the last 30 days, no open high or critical finding"))
}
