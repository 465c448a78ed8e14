//! The extension duties as live controls:
//! - `store.extensions-current` (merchant, updates): every installed extension is on the newest compatible release
//!   published more than 7 days ago, or kept current by the `minor` policy, and no update has failed without the
//!   merchant acting on it;
//! - `store.extension-advisories` (merchant, vulnerability management): no installed extension with an open high or
//!   critical advisory beyond its days, none disabled by the platform;
//! - `platform.extension-advisories` (platform, vulnerability management): the advisory feed is synced into the
//!   catalog within 24 hours, and no extension's newest release carries a critical advisory.

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_core::time::Timestamp;

use super::advisories::{self, DISABLE_AFTER_DAYS, HIGH_WITHIN_DAYS, State};
use super::plan::{Candidate, behind};
use super::{DAY_MS, Policy, UPDATE_WITHIN_DAYS};
use crate::matrix::{EvalContext, Registry};
use crate::scope::StaffScope;

/// The feed must have been synced this recently (`platform.extension-advisories`).
const FEED_FRESH_HOURS: i64 = 24;
const PCI_VULN: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "6.3.1 Security vulnerabilities identified and managed" };

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
    )?;
    reg.register(
        Control {
            id: "store.extension-advisories",
            area: Area::VulnerabilityManagement,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "No installed extension has an open high or critical advisory past its days, and none is disabled",
            why: "A published flaw in a plugin is exploited within hours of disclosure; the fix is to update, remove \
                  or knowingly accept it, not to leave it open.",
            remediation: "Open Security Center → Extensions: update each extension with an advisory to its fixed \
                          release, remove it, or accept the advisory with a reason and an end date.",
            references: &[PCI_VULN, CE_UPDATE, PDPA_PROTECT],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let Ok(staff) = scope.to_staff() else { return ControlStatus::Unknown { reason: "not staff".into() } };
            store_advisories(&ctx, &staff).await.unwrap_or_else(|e| ControlStatus::Unknown { reason: e.to_string() })
        },
    )?;
    reg.register(
        Control {
            id: "platform.extension-advisories",
            area: Area::VulnerabilityManagement,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "The advisory feed is synced daily and no extension's newest release has a critical advisory",
            why: "Merchants can only act on advisories the platform has matched; a catalog offering a release with a \
                  known critical flaw puts every store that installs it at risk.",
            remediation: "Run `palisade serve --advisories-dir DIR` with jobs on (the hourly `extensions.auto-update` \
                          job syncs the feed); have the publisher release a fix for each critical advisory.",
            references: &[PCI_VULN, CE_UPDATE],
        },
        |ctx: EvalContext| async move {
            platform_advisories(&ctx).await.unwrap_or_else(|e| ControlStatus::Unknown { reason: e.to_string() })
        },
    )
}

async fn store_advisories(ctx: &EvalContext, scope: &StaffScope) -> crate::error::Result<ControlStatus> {
    let installs = super::installs(&ctx.db, scope).await?;
    if installs.is_empty() {
        return Ok(ControlStatus::NotApplicable { reason: "no extensions installed".into() });
    }
    let now = ctx.db.now();
    let findings = advisories::findings(&ctx.db, scope).await?;
    let mut problems: Vec<String> = installs
        .iter()
        .filter(|i| i.disabled_at.is_some())
        .map(|i| {
            format!("{} was disabled by the platform ({})", i.extension_id, i.disabled_reason.as_deref().unwrap_or(""))
        })
        .collect();
    problems.extend(findings.iter().filter(|f| f.overdue(now)).map(|f| {
        let days = if f.severity == "critical" { DISABLE_AFTER_DAYS } else { HIGH_WITHIN_DAYS };
        format!("{} {}: {} ({}) open for more than {days} days", f.extension_id, f.version, f.advisory_id, f.severity)
    }));
    if !problems.is_empty() {
        return Ok(ControlStatus::unmet(problems.join("; ")));
    }
    let open = findings.iter().filter(|f| f.state == State::Open).count();
    let accepted = findings.iter().filter(|f| f.state == State::Accepted).count();
    Ok(ControlStatus::met(format!(
        "{} extension(s) installed; {open} advisory finding(s) open within their days, {accepted} accepted",
        installs.len()
    )))
}

async fn platform_advisories(ctx: &EvalContext) -> crate::error::Result<ControlStatus> {
    let Some((_, synced)) = crate::settings::get(&ctx.db, advisories::SYNC_SETTING).await? else {
        return Ok(ControlStatus::unmet("no advisory feed has been synced (start serve with --advisories-dir)"));
    };
    if let Some((failed, at)) = crate::settings::get(&ctx.db, advisories::FAILED_SETTING).await?
        && at.0 >= synced.0
    {
        let reason = failed.get("reason").and_then(|r| r.as_str()).unwrap_or("unknown").to_owned();
        return Ok(ControlStatus::unmet(format!("the last advisory sync was not applied: {reason}")));
    }
    let now = ctx.db.now();
    if synced.0 < now.0 - FEED_FRESH_HOURS * 3600 * 1000 {
        return Ok(ControlStatus::unmet("the advisory feed was last synced more than 24 hours ago"));
    }
    let matches = advisories::matches(&ctx.db).await?;
    // Each extension's newest release (`releases` lists the newest first within each extension).
    let mut newest: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let releases = super::releases(&ctx.db).await?;
    for r in &releases {
        newest.entry(r.extension_id.as_str()).or_insert(r.version.as_str());
    }
    let unfixed: Vec<String> = matches
        .iter()
        .filter(|m| m.severity == "critical" && newest.get(m.extension_id.as_str()) == Some(&m.version.as_str()))
        .map(|m| format!("{} {} ({})", m.extension_id, m.version, m.advisory_id))
        .collect();
    Ok(if unfixed.is_empty() {
        ControlStatus::met(format!(
            "feed synced within 24 hours; {} release match(es), none critical without a fixed release",
            matches.len()
        ))
    } else {
        ControlStatus::unmet(format!("critical advisory without a fixed release: {}", unfixed.join(", ")))
    })
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
