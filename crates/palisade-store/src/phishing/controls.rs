//! The merchant control of the phishing simulation.

use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};

use crate::matrix::{EvalContext, Registry};

const CE_PEOPLE: Reference =
    Reference { framework: "Cyber Essentials (Singapore)", clause: "People: equip staff with security know-how" };
const PCI_AWARENESS_CONTENT: Reference = Reference {
    framework: "PCI DSS 4.0",
    clause: "12.6.3.1 Awareness training covers phishing and social engineering",
};
const PCI_PHISHING: Reference = Reference {
    framework: "PCI DSS 4.0",
    clause: "5.4.1 Mechanisms detect and protect personnel against phishing attacks",
};

/// The start of the calendar quarter (UTC) holding `now`, in ms.
pub(super) fn quarter_start(now: palisade_core::Timestamp) -> Option<i64> {
    let date = super::to_jiff(now.0).to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let month = (date.month() - 1) / 3 * 3 + 1;
    let start = jiff::civil::date(date.year(), month, 1).to_zoned_datetime(jiff::tz::TimeZone::UTC).ok()?;
    Some(start.timestamp().as_millisecond())
}

pub fn register(reg: &mut Registry) -> crate::error::Result<()> {
    reg.register(
        Control {
            id: "store.phishing-simulation-recent",
            area: Area::SecurityAwareness,
            party: Party::Merchant,
            subject: Subject::Store,
            title: "A phishing simulation was run this quarter (when the store has turned simulations on)",
            why: "Training says what phishing looks like; a simulation shows whether the team spots it in its own \
                  inbox, and practises the report that warns everyone else.",
            remediation: "The owner opens Security Center → Phishing simulation and launches a campaign to the \
                          team; members report suspicious mail there.",
            references: &[PCI_PHISHING, PCI_AWARENESS_CONTENT, CE_PEOPLE],
        },
        |ctx: EvalContext| async move {
            let Some(scope) = ctx.store.clone() else {
                return ControlStatus::NotApplicable { reason: "per store".into() };
            };
            match super::settings(&ctx.db, &scope).await {
                Ok(s) if !s.enabled => {
                    return ControlStatus::NotApplicable {
                        reason: "phishing simulation is not enabled for this store".into(),
                    };
                }
                Ok(_) => {}
                Err(e) => return ControlStatus::Unknown { reason: e.to_string() },
            }
            let Some(start) = quarter_start(ctx.db.now()) else {
                return ControlStatus::Unknown { reason: "date out of range".into() };
            };
            match super::last_launch(&ctx.db, &scope).await {
                Ok(Some(at)) if at.0 >= start => ControlStatus::met("a campaign was sent this quarter"),
                Ok(_) => ControlStatus::unmet("no phishing simulation campaign sent this quarter"),
                Err(e) => ControlStatus::Unknown { reason: e.to_string() },
            }
        },
    )?;
    Ok(())
}
