//! The controls the foundation can evaluate truthfully: key custody, audit integrity, schema currency,
//! operator token hygiene, store ownership and security contacts.

use std::time::Duration;

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};

use crate::matrix::{EvalContext, Registry};
use crate::{audit, migrate, secrets, tenancy, tokens};

const PDPA_PROTECTION: Reference = Reference { framework: "PDPA", clause: "s24 Protection obligation" };
const PDPA_DPO: Reference = Reference { framework: "PDPA", clause: "s11(3) Data protection officer" };
const PCI_LOG_PROTECT: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "10.3.2 Audit logs protected from modification" };
const PCI_KEYS: Reference = Reference { framework: "PCI DSS 4.0", clause: "3.6.1 Key custody and access" };
const PCI_PATCH: Reference = Reference { framework: "PCI DSS 4.0", clause: "6.3.3 Security patches installed" };
const PCI_ACCESS: Reference = Reference { framework: "PCI DSS 4.0", clause: "8.6.3 Credentials for system accounts" };
const CE_UPDATES: Reference = Reference { framework: "Cyber Essentials", clause: "Security update management" };
const CE_ACCESS: Reference = Reference { framework: "Cyber Essentials", clause: "User access control" };

/// Operator tokens should not live longer than this.
pub const MAX_OPERATOR_TOKEN_AGE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Registers the foundation's controls.
#[allow(
    clippy::too_many_lines,
    reason = "the registrations of matrix controls read as one list, each control beside its check"
)]
pub fn register(reg: &mut Registry) -> crate::error::Result<()> {
    reg.register(
        Control {
            id: "platform.master-key-private",
            area: Area::DataProtection,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Master key file readable only by the service (0600)",
            why: "The master key encrypts personal data at rest; anyone who can read the file can read that data.",
            remediation: "Run `chmod 600` on the key file and make sure it belongs to the user that runs Palisade.",
            references: &[PDPA_PROTECTION, PCI_KEYS],
        },
        master_key_private,
    )?;
    reg.register(
        Control {
            id: "platform.audit-chain-intact",
            area: Area::DataProtection,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Platform audit log verifies end to end",
            why: "An audit trail that can be edited silently is worthless as evidence after a breach.",
            remediation: "Run `palisade audit verify` to find the first broken link, investigate who had database access, \
                          and restore the log from a backup.",
            references: &[PCI_LOG_PROTECT, PDPA_PROTECTION],
        },
        |ctx: EvalContext| async move { chain_status(&ctx, audit::PLATFORM_CHAIN).await },
    )?;
    reg.register(
        Control {
            id: "platform.schema-current",
            area: Area::UpdatesPatches,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Database schema matches the running release",
            why: "A release runs correctly (and with its security fixes) only against the schema it was built for.",
            remediation: "Run `palisade migrate`, or deploy the release that matches the database.",
            references: &[PCI_PATCH, CE_UPDATES],
        },
        |ctx: EvalContext| async move {
            match migrate::check_current(&ctx.db).await {
                Ok(()) => ControlStatus::met(format!("schema version {}", migrate::known_version(ctx.db.backend()))),
                Err(e) => ControlStatus::unmet(e.to_string()),
            }
        },
    )?;
    reg.register(
        Control {
            id: "platform.operator-tokens-expire",
            area: Area::Authentication,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Every operator token expires within 90 days",
            why: "A leaked token without expiry gives lasting control of the whole platform.",
            remediation: "Revoke tokens without expiry and issue new ones with `palisade admin create-operator --expires-days 30`.",
            references: &[PCI_ACCESS, CE_ACCESS],
        },
        operator_tokens_expire,
    )?;
    reg.register(
        Control {
            id: "store.audit-chain-intact",
            area: Area::DataProtection,
            party: Party::Platform,
            subject: Subject::Store,
            title: "Store audit log verifies end to end",
            why: "The store's history of staff actions must be trustworthy when something goes wrong.",
            remediation: "Contact the platform operator: the store's audit chain has been tampered with.",
            references: &[PCI_LOG_PROTECT],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "evaluated per store".into() };
            };
            chain_status(&ctx, &scope.store_key()).await
        },
    )?;
    reg.register(
        Control {
            id: "store.has-owner",
            area: Area::Authentication,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store has at least one active owner",
            why: "Someone must be able to manage staff, security settings and payouts, and answer for the store.",
            remediation: "Ask the platform operator to attach an owner account to the store.",
            references: &[CE_ACCESS],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "evaluated per store".into() };
            };
            match tenancy::list_members(&ctx.db, &scope).await {
                Ok(members) => {
                    let owners = members.iter().filter(|m| m.role == tenancy::Role::Owner && !m.disabled).count();
                    if owners > 0 {
                        ControlStatus::met(format!("{owners} active owner(s)"))
                    } else {
                        ControlStatus::unmet("no active owner")
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.security-contact",
            area: Area::DataProtection,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "The store names a security and data-protection contact",
            why: "Advisories, breach notices and customers' data requests need a person who will read them in time.",
            remediation: "Set a security contact email in the store's settings (usually the data protection officer).",
            references: &[PDPA_DPO],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "evaluated per store".into() };
            };
            match tenancy::get_store(&ctx.db, &scope).await {
                Ok(store) => match store.security_contact_email {
                    Some(email) => ControlStatus::met(format!("contact: {email}")),
                    None => ControlStatus::unmet("no security contact set"),
                },
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    crate::training::register(reg)?;
    crate::phishing::register(reg)?;
    crate::scans::register(reg)?;
    crate::extensions::register(reg)?;
    Ok(())
}

async fn master_key_private(ctx: EvalContext) -> ControlStatus {
    let path = &ctx.facts.master_key_path;
    match secrets::file_mode(path) {
        Some(mode) if mode & 0o077 == 0 => ControlStatus::met(format!("{} has mode {mode:o}", path.display())),
        Some(mode) => {
            ControlStatus::unmet(format!("{} has mode {mode:o}: group or others can access it", path.display()))
        }
        None => ControlStatus::unmet(format!("{} cannot be read", path.display())),
    }
}

async fn chain_status(ctx: &EvalContext, chain: &str) -> ControlStatus {
    match audit::verify_chain(&ctx.db, chain).await {
        Ok(report) => match report.broken {
            None => ControlStatus::met(format!("{} events verified", report.events)),
            Some(b) => ControlStatus::unmet(b.to_string()),
        },
        Err(e) => ControlStatus::Unknown { reason: e.to_string() },
    }
}

async fn operator_tokens_expire(ctx: EvalContext) -> ControlStatus {
    let limit = ctx.db.now().plus(MAX_OPERATOR_TOKEN_AGE);
    match tokens::active_operator_tokens(&ctx.db).await {
        Ok(list) if list.is_empty() => ControlStatus::NotApplicable { reason: "no active operator tokens".into() },
        Ok(list) => {
            let bad = list.iter().filter(|(_, exp)| exp.is_none_or(|e| e > limit)).count();
            if bad == 0 {
                ControlStatus::met(format!("{} active token(s), all expiring within 90 days", list.len()))
            } else {
                ControlStatus::unmet(format!(
                    "{bad} of {} active operator token(s) never expire or expire after 90 days",
                    list.len()
                ))
            }
        }
        Err(e) => ControlStatus::Unknown { reason: e.to_string() },
    }
}
