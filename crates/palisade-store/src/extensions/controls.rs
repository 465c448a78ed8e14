//! The merchant's updates duty as a live control: `store.extensions-current` — every installed extension is on
//! the newest compatible release published more than 7 days ago, or kept current by the `minor` policy, and no
//! update has failed without the merchant acting on it.

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_core::time::Timestamp;

use super::plan::{Candidate, behind};
use super::{DAY_MS, Policy, UPDATE_WITHIN_DAYS};
use crate::matrix::{EvalContext, Registry};
use crate::scope::StaffScope;

const PCI_PATCH: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "6.3.3 Security patches installed within one month" };
const CE_UPDATE: Reference = Reference { framework: "Cyber Essentials", clause: "Security update management" };
const PDPA_PROTECT: Reference = Reference { framework: "PDPA", clause: "s24 Protection obligation" };

/// Registers `store.extensions-current`.
pub fn register(reg: &mut Registry) -> crate::error::Result<()> {
    reg.register(
        Control {
            id: "store.extensions-current",
            area: Area::UpdatesPatches,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Installed extensions are updated within 7 days of a release, or kept current automatically",
            why: "Attacks on a plugin's published flaw start within hours; an extension left on an old release \
                  is the usual way into a store.",
            remediation: "Open Security Center → Extensions: update each extension marked behind, or set its \
                          policy to install updates automatically; fix or remove any whose update failed.",
            references: &[PCI_PATCH, CE_UPDATE, PDPA_PROTECT],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let Ok(staff) = scope.to_staff() else { return ControlStatus::Unknown { reason: "not staff".into() } };
            current(&ctx, &staff).await.unwrap_or_else(|e| ControlStatus::Unknown { reason: e.to_string() })
        },
    )
}

async fn current(ctx: &EvalContext, scope: &StaffScope) -> crate::error::Result<ControlStatus> {
    let installs = super::installs(&ctx.db, scope).await?;
    if installs.is_empty() {
        return Ok(ControlStatus::NotApplicable { reason: "no extensions installed".into() });
    }
    let mut problems = Vec::new();
    for install in &installs {
        if let Some(error) = &install.last_error {
            problems.push(format!("the update of {} failed ({error})", install.extension_id));
            continue;
        }
        // Kept current automatically: behind only past its own delay plus a day (the hourly job stopped, or
        // refuses the update). By hand: behind a week after the release.
        let allowed = if install.policy == Policy::Minor {
            install.delay_days.max(UPDATE_WITHIN_DAYS) + 1
        } else {
            UPDATE_WITHIN_DAYS
        };
        let cutoff = Timestamp(ctx.db.now().0 - allowed * DAY_MS);
        let releases = super::releases_of(&ctx.db, &install.extension_id).await?;
        let candidates: Vec<Candidate<'_>> = releases
            .iter()
            .map(|r| Candidate { version: &r.version, published_at: r.published_at, affected: false })
            .collect();
        if let Some(newer) = behind(&install.version, &candidates, cutoff) {
            problems.push(format!(
                "{} is on {}; {newer} has been out for more than 7 days",
                install.extension_id, install.version
            ));
        }
    }
    Ok(if problems.is_empty() {
        ControlStatus::met(format!("{} extension(s) installed, all current", installs.len()))
    } else {
        ControlStatus::unmet(problems.join("; "))
    })
}
