//! The authentication area's controls: operator MFA (platform) and, per store, enforced staff MFA, no dormant
//! accounts, an owner who can recover, and expiring API tokens (merchant).

use std::time::Duration;

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};
use palisade_store::matrix::{EvalContext, Registry};
use palisade_store::tenancy::{self, Role};

use crate::policy;

const NIST_MFA: Reference = Reference { framework: "NIST SP 800-63B", clause: "AAL2 multi-factor authentication" };
const PCI_MFA: Reference = Reference { framework: "PCI DSS 4.0", clause: "8.4.2 MFA for all access into the CDE" };
const PCI_DORMANT: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "8.2.6 Inactive accounts removed within 90 days" };
const PCI_TOKENS: Reference =
    Reference { framework: "PCI DSS 4.0", clause: "8.6.3 Credentials for application accounts" };
const CE_ACCESS: Reference = Reference { framework: "Cyber Essentials", clause: "User access control" };
const PDPA_PROTECT: Reference = Reference { framework: "PDPA", clause: "s24 Protection obligation" };

/// Staff accounts unused for longer than this are dormant.
pub const DORMANT_AFTER: Duration = Duration::from_secs(90 * 24 * 3600);

fn store_only(ctx: &EvalContext) -> Option<palisade_store::StoreScope> {
    ctx.store.clone()
}

#[allow(
    clippy::too_many_lines,
    reason = "the registrations of matrix controls read as one list, each control beside its check"
)]
pub fn register(reg: &mut Registry) -> palisade_store::error::Result<()> {
    reg.register(
        Control {
            id: "platform.operators-mfa",
            area: Area::Authentication,
            party: Party::Platform,
            subject: Subject::Platform,
            title: "Every platform operator uses two-step verification",
            why: "Operators can act on every store; one phished password must not be enough.",
            remediation: "Each operator signs in and sets up an authenticator app at /account (the console insists).",
            references: &[NIST_MFA, PCI_MFA, CE_ACCESS],
        },
        |ctx: EvalContext| async move {
            let rows: Result<Vec<(String, i64)>, sqlx::Error> = sqlx::query_as(
                "SELECT a.email, (SELECT COUNT(*) FROM totp_credentials t WHERE t.account_id = a.id AND t.confirmed_at IS NOT NULL) \
                   + (SELECT COUNT(*) FROM passkeys p WHERE p.account_id = a.id) \
                 FROM accounts a WHERE a.kind = 'operator' AND a.disabled = 0",
            )
            .fetch_all(ctx.db.pool())
            .await;
            match rows {
                Ok(r) if r.is_empty() => ControlStatus::NotApplicable { reason: "no operator accounts".into() },
                Ok(r) => {
                    let without: Vec<&str> = r.iter().filter(|(_, n)| *n == 0).map(|(e, _)| e.as_str()).collect();
                    if without.is_empty() {
                        ControlStatus::met(format!("all {} operator(s) have MFA", r.len()))
                    } else {
                        ControlStatus::unmet(format!("without MFA: {}", without.join(", ")))
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.staff-mfa-enforced",
            area: Area::Authentication,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Two-step verification is required for all staff, and everyone has it",
            why: "Staff accounts reach orders and customers' personal data; stolen passwords are the commonest way in.",
            remediation: "In the Security Center, turn on \"Require two-step verification for all staff\"; members without \
                          it are guided to set it up and lose access when the grace period ends.",
            references: &[PCI_MFA, NIST_MFA, PDPA_PROTECT],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = store_only(&ctx) else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            let (pol, members, with) = match (
                policy::get(&ctx.db, &scope).await,
                tenancy::list_members(&ctx.db, &scope).await,
                policy::members_with_mfa(&ctx.db, &scope).await,
            ) {
                (Ok(p), Ok(m), Ok(w)) => (p, m, w),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            let missing = members.iter().filter(|m| !m.disabled && !with.contains(&m.account_id)).count();
            match (pol.require_staff_mfa, missing) {
                (false, _) => ControlStatus::unmet(format!("not required; {missing} of {} member(s) without MFA", members.len())),
                (true, 0) => ControlStatus::met(format!("required, and all {} member(s) have it", members.len())),
                (true, n) => ControlStatus::unmet(format!("required, but {n} member(s) have not set it up yet")),
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.no-dormant-staff",
            area: Area::Authentication,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "No staff account unused for 90 days or more",
            why: "Forgotten accounts of people who left are open doors nobody watches.",
            remediation: "Remove members who no longer work for the store (Security Center → Staff).",
            references: &[PCI_DORMANT, CE_ACCESS],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = store_only(&ctx) else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            let cutoff = ctx.db.now().minus(DORMANT_AFTER);
            match tenancy::list_members(&ctx.db, &scope).await {
                Ok(members) => {
                    let dormant: Vec<&str> = members
                        .iter()
                        .filter(|m| !m.disabled && m.last_active_at.unwrap_or(m.joined_at) < cutoff)
                        .map(|m| m.email.as_str())
                        .collect();
                    if dormant.is_empty() {
                        ControlStatus::met(format!("{} member(s), all active within 90 days", members.len()))
                    } else {
                        ControlStatus::unmet(format!("dormant: {}", dormant.join(", ")))
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.owner-can-recover",
            area: Area::Authentication,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Every owner has a passkey or saved recovery codes",
            why: "An owner locked out of their account cannot manage staff, payouts or a security incident.",
            remediation: "Each owner sets up an authenticator app and saves the recovery codes shown once (Account page).",
            references: &[NIST_MFA],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = store_only(&ctx) else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            let members = match tenancy::list_members(&ctx.db, &scope).await {
                Ok(m) => m,
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            };
            let mut missing = Vec::new();
            for owner in members.iter().filter(|m| m.role == Role::Owner && !m.disabled) {
                let left: Result<(i64,), sqlx::Error> = sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL) \
                          + (SELECT COUNT(*) FROM passkeys WHERE account_id = $1)",
                )
                        .bind(owner.account_id.to_string())
                        .fetch_one(ctx.db.pool())
                        .await;
                match left {
                    Ok((n,)) if n > 0 => {}
                    Ok(_) => missing.push(owner.email.clone()),
                    Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
                }
            }
            if missing.is_empty() {
                ControlStatus::met("every owner has a passkey or recovery codes")
            } else {
                ControlStatus::unmet(format!("neither a passkey nor recovery codes: {}", missing.join(", ")))
            }
        },
    )?;
    reg.register(
        Control {
            id: "store.api-tokens-expire",
            area: Area::Authentication,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "Every API token of the store has an expiry date",
            why: "Integration tokens leak through code and logs; an expiry limits how long a leak matters.",
            remediation: "Revoke tokens without expiry and issue new ones with one.",
            references: &[PCI_TOKENS],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = store_only(&ctx) else { return ControlStatus::NotApplicable { reason: "per store".into() } };
            let rows: Result<Vec<(Option<i64>,)>, sqlx::Error> =
                sqlx::query_as("SELECT expires_at FROM api_tokens WHERE store_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)")
                    .bind(scope.store_key())
                    .bind(ctx.db.now().0)
                    .fetch_all(ctx.db.pool())
                    .await;
            match rows {
                Ok(r) if r.is_empty() => ControlStatus::NotApplicable { reason: "the store has no API tokens".into() },
                Ok(r) => {
                    let forever = r.iter().filter(|(e,)| e.is_none()).count();
                    if forever == 0 {
                        ControlStatus::met(format!("{} token(s), all expiring", r.len()))
                    } else {
                        ControlStatus::unmet(format!("{forever} token(s) never expire"))
                    }
                }
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}
