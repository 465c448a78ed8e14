//! The responsibility matrix: who must do what, and whether it is done.
//!
//! Security on a marketplace is split between the platform provider and each merchant. Rather than describing
//! the split in a document, every duty is a [`Control`] with a live evaluator (registered by the crate that owns
//! the data it looks at). These are the types; evaluation lives in `palisade-store::matrix`.

use serde::Serialize;

use crate::time::Timestamp;

/// The eight areas of shared responsibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Area {
    UpdatesPatches,
    DataProtection,
    Authentication,
    VulnerabilityManagement,
    FirewallNetwork,
    BackupRecovery,
    SecurityAwareness,
    TransactionSafety,
}

impl Area {
    /// All areas, in the order the matrix shows them.
    pub const ALL: [Area; 8] = [
        Area::UpdatesPatches,
        Area::DataProtection,
        Area::Authentication,
        Area::VulnerabilityManagement,
        Area::FirewallNetwork,
        Area::BackupRecovery,
        Area::SecurityAwareness,
        Area::TransactionSafety,
    ];

    /// Stable machine name (used in URLs and JSON).
    #[must_use]
    pub fn key(self) -> &'static str {
        match self {
            Area::UpdatesPatches => "updates_patches",
            Area::DataProtection => "data_protection",
            Area::Authentication => "authentication",
            Area::VulnerabilityManagement => "vulnerability_management",
            Area::FirewallNetwork => "firewall_network",
            Area::BackupRecovery => "backup_recovery",
            Area::SecurityAwareness => "security_awareness",
            Area::TransactionSafety => "transaction_safety",
        }
    }

    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Area::UpdatesPatches => "Updates & patches",
            Area::DataProtection => "Data security & compliance (PDPA)",
            Area::Authentication => "User authentication",
            Area::VulnerabilityManagement => "Vulnerability management",
            Area::FirewallNetwork => "Firewall & network",
            Area::BackupRecovery => "Backup & recovery",
            Area::SecurityAwareness => "Security awareness",
            Area::TransactionSafety => "Transaction safety & anti-scam",
        }
    }

    /// What the platform provider does in this area (the left column of the matrix).
    #[must_use]
    pub fn platform_duty(self) -> &'static str {
        match self {
            Area::UpdatesPatches => "Ships core updates, signed extension releases and security advisories.",
            Area::DataProtection => {
                "Encrypts personal data, acts as data intermediary, carries the breach-notification duty."
            }
            Area::Authentication => "Provides MFA (TOTP, passkeys), secure sessions and brute-force defence.",
            Area::VulnerabilityManagement => "Assesses the platform, publishes advisories, provides scanners.",
            Area::FirewallNetwork => "Runs the WAF, rate limits, DDoS shedding and the bot challenge.",
            Area::BackupRecovery => "Takes automated, encrypted, verified platform backups.",
            Area::SecurityAwareness => "Publishes guidelines and training modules.",
            Area::TransactionSafety => "Holds payments in escrow, verifies sellers, scores fraud, rates safety.",
        }
    }

    /// What each merchant does in this area with Palisade's tools (the right column).
    #[must_use]
    pub fn merchant_duty(self) -> &'static str {
        match self {
            Area::UpdatesPatches => "Installs extension and theme updates in time, or turns on auto-update.",
            Area::DataProtection => {
                "Records consent, answers access/correction requests within 30 days, sets retention, keeps processor agreements."
            }
            Area::Authentication => "Enforces MFA for all staff and removes dormant accounts.",
            Area::VulnerabilityManagement => "Runs store scans, fixes findings, keeps audit reports.",
            Area::FirewallNetwork => "Adds extra layers: admin IP allow-list, custom rules, attack mode.",
            Area::BackupRecovery => "Exports the store on a schedule and rehearses restores.",
            Area::SecurityAwareness => "Trains staff and tracks completion.",
            Area::TransactionSafety => "Uses the fraud tools and reviews risky orders.",
        }
    }

    /// Parses [`Area::key`].
    #[must_use]
    pub fn from_key(key: &str) -> Option<Area> {
        Area::ALL.into_iter().find(|a| a.key() == key)
    }
}

/// Who carries a duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Platform,
    Merchant,
    /// Both must act (e.g. the platform offers a tool, the merchant must use it); shown in the merchant column.
    Shared,
}

/// What a control is evaluated against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Evaluated once for the whole platform.
    Platform,
    /// Evaluated for each store.
    Store,
}

/// An external obligation a control helps to meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// e.g. "PDPA", "PCI DSS 4.0", "Cyber Essentials", "NIST SP 800-63B".
    pub framework: &'static str,
    /// e.g. "s24 Protection", "10.3.2".
    pub clause: &'static str,
}

/// One duty, with enough words for a merchant to act on it without a manual.
#[derive(Debug, Clone, Serialize)]
pub struct Control {
    /// Stable id such as `platform.audit-chain-intact`; never reused for another meaning.
    pub id: &'static str,
    pub area: Area,
    pub party: Party,
    pub subject: Subject,
    pub title: &'static str,
    /// Why it matters, in one or two sentences.
    pub why: &'static str,
    /// What to do when it is unmet.
    pub remediation: &'static str,
    pub references: &'static [Reference],
}

/// The live state of one control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ControlStatus {
    Met {
        detail: String,
    },
    Unmet {
        reason: String,
        since: Option<Timestamp>,
    },
    NotApplicable {
        reason: String,
    },
    /// The evaluator could not tell (e.g. the database did not answer); counted as unmet in scores.
    Unknown {
        reason: String,
    },
}

impl ControlStatus {
    #[must_use]
    pub fn met(detail: impl Into<String>) -> Self {
        ControlStatus::Met { detail: detail.into() }
    }

    #[must_use]
    pub fn unmet(reason: impl Into<String>) -> Self {
        ControlStatus::Unmet { reason: reason.into(), since: None }
    }

    #[must_use]
    pub fn is_met(&self) -> bool {
        matches!(self, ControlStatus::Met { .. })
    }

    /// Short label for pages and logs.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            ControlStatus::Met { .. } => "met",
            ControlStatus::Unmet { .. } => "unmet",
            ControlStatus::NotApplicable { .. } => "not applicable",
            ControlStatus::Unknown { .. } => "unknown",
        }
    }
}

/// A control with its evaluated status.
#[derive(Debug, Clone, Serialize)]
pub struct ControlResult {
    pub control: Control,
    pub status: ControlStatus,
}

/// Met controls over applicable ones, as a whole percentage; `None` when nothing applies yet.
#[must_use]
pub fn score<'a>(results: impl IntoIterator<Item = &'a ControlResult>) -> Option<u8> {
    let (met, applicable) = results.into_iter().fold((0u32, 0u32), |(m, a), r| match r.status {
        ControlStatus::NotApplicable { .. } => (m, a),
        ControlStatus::Met { .. } => (m + 1, a + 1),
        _ => (m, a + 1),
    });
    (applicable > 0).then(|| u8::try_from(met * 100 / applicable).unwrap_or(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(status: ControlStatus) -> ControlResult {
        ControlResult {
            control: Control {
                id: "t",
                area: Area::BackupRecovery,
                party: Party::Platform,
                subject: Subject::Platform,
                title: "t",
                why: "t",
                remediation: "t",
                references: &[],
            },
            status,
        }
    }

    #[test]
    fn area_keys_round_trip() {
        for a in Area::ALL {
            assert_eq!(Area::from_key(a.key()), Some(a));
        }
        assert_eq!(Area::from_key("nope"), None);
    }

    #[test]
    fn score_ignores_not_applicable_and_counts_unknown_as_unmet() {
        let rs = [
            result(ControlStatus::met("ok")),
            result(ControlStatus::unmet("no")),
            result(ControlStatus::Unknown { reason: "db".into() }),
            result(ControlStatus::NotApplicable { reason: "n/a".into() }),
        ];
        assert_eq!(score(&rs), Some(33));
        assert_eq!(score(&rs[3..]), None);
        assert_eq!(score(&rs[..1]), Some(100));
    }
}
