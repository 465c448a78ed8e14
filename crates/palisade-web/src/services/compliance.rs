//! Compliance views drawn from the responsibility matrix (issue #22 item 4, #20 item 8): Singapore's Cyber
//! Essentials mark, PCI DSS SAQ A eligibility and a PDPA checklist for a store; MHA's Transaction Safety Ratings for
//! the platform. Which controls speak to which framework item is a static table ([`VIEWS`], [`TSR_FEATURES`]);
//! every status and every piece of evidence comes from the live matrix report. An item with no live control says
//! so ("no live control yet") and is never "met". Exports are hashed (SHA-256 of the exact bytes) and the hash is
//! recorded in the audit chain, so a printed or mailed copy can be checked later.

use palisade_core::matrix::{ControlResult, ControlStatus};
use palisade_store::matrix::Report;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The audit action an export records; its target is [`hash_target`] of the report's bytes.
pub const EXPORT_ACTION: &str = "compliance.report_exported";

/// One item of a framework: the controls that meet it, and what no control covers yet (said on the page).
#[derive(Debug, Clone, Copy)]
pub struct Item {
    pub key: &'static str,
    pub title: &'static str,
    pub what: &'static str,
    pub controls: &'static [&'static str],
    /// Part of the item no live control checks yet: its presence keeps the item from "met".
    pub gap: Option<&'static str>,
    /// Evidence that holds by the platform's design (checked by a test, not at run time), e.g. the payment page
    /// being a platform template.
    pub design: Option<fn() -> DesignFact>,
}

/// A fact about how the platform is built, with whether it holds in this build.
#[derive(Debug, Clone, Serialize)]
pub struct DesignFact {
    pub holds: bool,
    pub evidence: String,
}

/// A framework view of the store's matrix.
#[derive(Debug, Clone, Copy)]
pub struct View {
    /// In the URL: `/admin/stores/{store}/security/compliance/{slug}`.
    pub slug: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub items: &'static [Item],
}

const fn item(key: &'static str, title: &'static str, what: &'static str, controls: &'static [&'static str]) -> Item {
    Item { key, title, what, controls, gap: None, design: None }
}

const fn with_gap(mut i: Item, gap: &'static str) -> Item {
    i.gap = Some(gap);
    i
}

const fn with_design(mut i: Item, design: fn() -> DesignFact) -> Item {
    i.design = Some(design);
    i
}

/// The payment page is the platform's own template, in the platform's environment, and no theme may override it.
fn payment_page_is_platform() -> DesignFact {
    use palisade_commerce::themes::{EDITABLE, PLATFORM};
    let editable = EDITABLE.contains(&"pay.html") || PLATFORM.iter().any(|(n, _)| *n == "pay.html");
    DesignFact {
        holds: !editable,
        evidence: if editable {
            "pay.html can be changed by a theme".into()
        } else {
            format!(
                "card entry is on the platform's payment page (pay.html, a platform template); the templates a \
                 merchant may edit are {} — none of them is the payment page",
                EDITABLE.join(", ")
            )
        },
    }
}

/// Orders keep only the card's brand and last four digits; the card number and code go to the gateway only.
fn card_data_only_to_gateway() -> DesignFact {
    DesignFact {
        holds: true,
        evidence: "orders keep only the card's brand and last four digits; the number and security code are sent \
                   to the payment gateway and redacted from every log, audit record and export"
            .into(),
    }
}

pub const CYBER_ESSENTIALS: View = View {
    slug: "cyber-essentials",
    title: "Cyber Essentials readiness (CSA Singapore)",
    intro: "The Cyber Security Agency of Singapore's Cyber Essentials mark asks for basic measures in five categories: \
            assets, secure/protect, update, backup and respond. Each measure below lists the responsibility-matrix \
            controls that meet it, with their live state.",
    items: &[
        item(
            "assets-people",
            "Assets: people — staff are equipped with security know-how",
            "Staff are trained and can recognise phishing.",
            &["store.staff-trained", "store.phishing-simulation-recent"],
        ),
        with_gap(
            item(
                "assets-hardware-software",
                "Assets: hardware and software — an up-to-date inventory",
                "Know what devices and software hold or reach the business's data.",
                &[],
            ),
            "an inventory of the team's own devices and software: no live control yet",
        ),
        item(
            "assets-data",
            "Assets: data — know and protect the data held",
            "Personal data is encrypted under a key kept private, and changes to it are recorded.",
            &["platform.master-key-private", "store.audit-chain-intact"],
        ),
        item(
            "protect-malware",
            "Secure/protect: virus and malware protection",
            "Malicious requests are blocked and the store is scanned for weaknesses.",
            &["platform.waf-blocking", "store.scanned-recently", "store.findings-triaged"],
        ),
        item(
            "protect-access",
            "Secure/protect: access control",
            "Only the right people get in, with two-step verification, and unused access is removed.",
            &[
                "store.staff-mfa-enforced",
                "store.no-dormant-staff",
                "store.has-owner",
                "store.owner-can-recover",
                "store.api-tokens-expire",
                "store.admin-protected",
            ],
        ),
        item(
            "protect-configuration",
            "Secure/protect: secure configuration",
            "Security settings are not weakened (no store-wide firewall exemptions) and misconfigurations are found.",
            &["store.no-store-wide-allow", "store.scanned-recently"],
        ),
        item(
            "update",
            "Update: software updates",
            "Software is kept up to date with security patches.",
            &["platform.schema-current", "store.extensions-current", "store.extension-advisories"],
        ),
        item(
            "backup",
            "Backup: back up essential data",
            "Essential data is backed up and restores are rehearsed.",
            &["store.exports-scheduled", "store.restore-tested", "platform.backup-verified"],
        ),
        with_gap(
            item(
                "respond",
                "Respond: incident response",
                "Someone is named to receive security and breach notices, and actions are recorded to investigate.",
                &["store.security-contact", "store.audit-chain-intact"],
            ),
            "a written incident response plan: no live control yet",
        ),
    ],
};

pub const PCI_SAQ_A: View = View {
    slug: "pci-saq-a",
    title: "PCI DSS SAQ A eligibility",
    intro: "A merchant whose card payments are entirely outsourced — the card is entered only on a page the \
            payment provider hosts, and the merchant's own pages never see it — may assess itself with the shortest \
            questionnaire, SAQ A. These are the eligibility criteria and the requirements that remain, with the \
            evidence for each.",
    items: &[
        with_design(
            item(
                "hosted-payment-page",
                "Card entry happens only on the platform-hosted payment page",
                "All elements of the payment page come from the platform, not from the merchant's templates.",
                &["platform.payment-page-integrity"],
            ),
            payment_page_is_platform,
        ),
        with_design(
            item(
                "no-card-data",
                "The merchant does not store, process or transmit card data",
                "Card data goes to the payment gateway and nowhere else.",
                &[],
            ),
            card_data_only_to_gateway,
        ),
        item(
            "scripts-authorised",
            "Payment page scripts are inventoried and tamper is detected (6.4.3, 11.6.1)",
            "Every script on the payment page is authorised and changes raise an alert.",
            &["platform.payment-page-integrity"],
        ),
        item(
            "mfa",
            "Multi-factor authentication for access to the store's admin (8.4)",
            "Every staff member signs in with a second step.",
            &["store.staff-mfa-enforced"],
        ),
        item(
            "accounts",
            "Accounts are managed: inactive ones removed, credentials expire (8.2.6, 8.6.3)",
            "Dormant staff are removed and API tokens expire.",
            &["store.no-dormant-staff", "store.api-tokens-expire"],
        ),
        item(
            "patches",
            "Security patches installed (6.3.3)",
            "The platform's software is current.",
            &["platform.schema-current"],
        ),
        with_gap(
            item(
                "incident",
                "Incident response (12.10.1)",
                "A named contact receives security notices.",
                &["store.security-contact"],
            ),
            "a written incident response plan: no live control yet",
        ),
    ],
};

pub const PDPA: View = View {
    slug: "pdpa",
    title: "PDPA checklist (Singapore)",
    intro: "The Personal Data Protection Act's main obligations for a store, with the controls that check them. \
            Where no live control checks an obligation yet, the checklist says so.",
    items: &[
        with_gap(
            item(
                "consent",
                "Consent, purpose and notification (s13–s20)",
                "Collect personal data with consent for a notified purpose.",
                &[],
            ),
            "recording customers' consent and the purposes notified: no live control yet",
        ),
        item(
            "access-correction",
            "Access and correction within 30 days (s21, s22; PDP Regulations reg 4–5)",
            "Customers' requests for their data, or to correct it, are answered within 30 days.",
            &["store.data-requests-answered", "platform.data-requests-routed"],
        ),
        item(
            "protection",
            "Protection (s24)",
            "Reasonable security arrangements protect the personal data.",
            &["store.staff-mfa-enforced", "platform.master-key-private", "store.audit-chain-intact"],
        ),
        item(
            "retention",
            "Retention limitation (s25)",
            "Personal data is not kept longer than needed.",
            &["platform.retention-runs"],
        ),
        with_gap(
            item(
                "transfer",
                "Transfer limitation (s26)",
                "Personal data sent abroad stays protected to PDPA standard.",
                &[],
            ),
            "transfers outside Singapore: no live control yet",
        ),
        with_gap(
            item(
                "breach",
                "Data breach notification (s26A–s26E)",
                "Notifiable breaches are assessed and reported to the PDPC within 3 days.",
                &["store.security-contact"],
            ),
            "a breach assessment and notification record: no live control yet",
        ),
        item(
            "dpo",
            "Data protection officer / contact (s11(3))",
            "A person is named to be responsible for the store's data protection.",
            &["store.security-contact"],
        ),
        with_gap(
            item(
                "processors",
                "Data intermediaries and processors (s4(2))",
                "Processors of the store's data act under a contract; the platform acts as its data intermediary.",
                &["platform.data-requests-routed"],
            ),
            "the store's own processor agreements: no live control yet",
        ),
    ],
};

/// The store's framework views, in the order the Compliance tab lists them.
pub const VIEWS: &[View] = &[CYBER_ESSENTIALS, PCI_SAQ_A, PDPA];

/// The view with this slug.
#[must_use]
pub fn view(slug: &str) -> Option<&'static View> {
    VIEWS.iter().find(|v| v.slug == slug)
}

/// One feature of MHA's E-commerce Marketplace Transaction Safety Ratings.
#[derive(Debug, Clone, Copy)]
pub struct Feature {
    pub key: &'static str,
    pub title: &'static str,
    pub controls: &'static [&'static str],
}

pub const TSR_FEATURES: &[Feature] = &[
    Feature {
        key: "seller-authenticity",
        title: "Verifying seller authenticity",
        controls: &["platform.sellers-with-payouts-verified"],
    },
    Feature {
        key: "monitoring",
        title: "Monitoring fraudulent seller behaviour",
        controls: &["platform.reports-triaged", "platform.fraud-rules-reviewed"],
    },
    Feature {
        key: "secure-payment",
        title: "Secure payment",
        controls: &[
            "platform.payment-page-integrity",
            "platform.escrow-ledger-balanced",
            "platform.card-testing-protection",
        ],
    },
    Feature {
        key: "records",
        title: "Keeping transaction records and user data",
        controls: &["platform.audit-chain-intact", "platform.retention-runs", "platform.backup-verified"],
    },
    Feature {
        key: "reporting-disputes",
        title: "Reporting and dispute resolution",
        controls: &["platform.reports-triaged"],
    },
];

/// Every control id the static tables name (a test checks each is registered).
pub fn mapped_control_ids() -> impl Iterator<Item = &'static str> {
    VIEWS
        .iter()
        .flat_map(|v| v.items.iter().flat_map(|i| i.controls.iter().copied()))
        .chain(TSR_FEATURES.iter().flat_map(|f| f.controls.iter().copied()))
}

/// A control's live evidence in a view.
#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    pub id: &'static str,
    pub title: String,
    pub state: &'static str,
    pub detail: String,
    pub references: Vec<String>,
}

/// An item with its status and evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Assessed {
    pub key: &'static str,
    pub title: &'static str,
    pub what: &'static str,
    /// `met`, `partly`, `not met` or `no live control yet`.
    pub status: &'static str,
    pub evidence: Vec<Evidence>,
    pub design: Option<DesignFact>,
    pub gap: Option<&'static str>,
    /// Extra live figures (TSR).
    pub figures: Vec<(String, String)>,
}

fn find<'a>(report: &'a Report, id: &str) -> Option<&'a ControlResult> {
    report.areas.iter().flat_map(|a| a.platform.iter().chain(a.merchant.iter())).find(|r| r.control.id == id)
}

fn evidence(report: &Report, id: &'static str) -> Evidence {
    match find(report, id) {
        Some(r) => {
            let detail = match &r.status {
                ControlStatus::Met { detail } => detail.clone(),
                ControlStatus::Unmet { reason, .. }
                | ControlStatus::NotApplicable { reason }
                | ControlStatus::Unknown { reason } => reason.clone(),
            };
            Evidence {
                id,
                title: r.control.title.to_owned(),
                state: r.status.label(),
                detail,
                references: r.control.references.iter().map(|x| format!("{} {}", x.framework, x.clause)).collect(),
            }
        }
        None => Evidence {
            id,
            title: id.to_owned(),
            state: "unknown",
            detail: "this control is not evaluated by this installation".into(),
            references: Vec::new(),
        },
    }
}

/// The status of an item from its evidence: all applicable met (and no gap, and the design fact holding) is
/// `met`; none met is `not met`; anything between is `partly`; nothing to evaluate is `no live control yet`.
fn status(evidence: &[Evidence], design: Option<&DesignFact>, gap: Option<&str>) -> &'static str {
    let applicable: Vec<&Evidence> = evidence.iter().filter(|e| e.state != "not applicable").collect();
    let mut met = applicable.iter().filter(|e| e.state == "met").count();
    let mut total = applicable.len();
    if let Some(d) = design {
        total += 1;
        met += usize::from(d.holds);
    }
    if total == 0 {
        return "no live control yet";
    }
    if met == total && gap.is_none() {
        "met"
    } else if met == 0 {
        "not met"
    } else {
        "partly"
    }
}

fn assess(
    report: &Report,
    key: &'static str,
    title: &'static str,
    what: &'static str,
    controls: &[&'static str],
    gap: Option<&'static str>,
    design: Option<DesignFact>,
) -> Assessed {
    let evidence: Vec<Evidence> = controls.iter().map(|id| evidence(report, id)).collect();
    let status = status(&evidence, design.as_ref(), gap);
    Assessed { key, title, what, status, evidence, design, gap, figures: Vec::new() }
}

/// A view evaluated against a live report.
#[must_use]
pub fn evaluate(view: &View, report: &Report) -> Vec<Assessed> {
    view.items
        .iter()
        .map(|i| assess(report, i.key, i.title, i.what, i.controls, i.gap, i.design.map(|f| f())))
        .collect()
}

/// The TSR features against the platform's live report, with the figures as extra evidence.
#[must_use]
pub fn evaluate_tsr(report: &Report, f: &palisade_commerce::tsr::Figures) -> Vec<Assessed> {
    let pct = |n: i64, d: i64| {
        if d == 0 { "none in the window".to_owned() } else { format!("{n} of {d} ({}%)", n * 100 / d) }
    };
    let hours = |ms: Option<i64>| {
        ms.map_or_else(
            || "nothing decided in the window".to_owned(),
            |m| format!("{:.1} hours", m as f64 / 3_600_000.0),
        )
    };
    let when = |t: Option<palisade_core::time::Timestamp>| {
        t.map_or_else(|| "none in the window".to_owned(), |t| palisade_core::zone::StoreZone::default().local(t))
    };
    TSR_FEATURES
        .iter()
        .map(|feat| {
            let mut a = assess(report, feat.key, feat.title, "", feat.controls, None, None);
            a.figures = match feat.key {
                "seller-authenticity" => vec![(
                    "Sellers with payouts who are verified now".into(),
                    pct(f.stores_with_payouts_verified, f.stores_with_payouts),
                )],
                "monitoring" => vec![
                    ("Paid orders scored by the fraud engine".into(), pct(f.orders_scored, f.orders_paid)),
                    ("Orders held for review".into(), f.orders_held.to_string()),
                    ("Scam reports decided within target".into(), pct(f.reports_decided_in_target, f.reports_decided)),
                    ("Open scam reports past their target".into(), f.reports_overdue.to_string()),
                ],
                "secure-payment" => {
                    vec![("Paid orders paid into escrow".into(), pct(f.orders_paid_into_escrow, f.orders_paid))]
                }
                "records" => vec![
                    ("Last personal-data retention run".into(), when(f.last_retention_run)),
                    ("Last successful platform backup".into(), when(f.last_backup)),
                ],
                "reporting-disputes" => vec![
                    ("Scam reports filed".into(), f.reports.to_string()),
                    ("Average time to decide a scam report".into(), hours(f.report_avg_decision_ms)),
                    ("Disputes decided".into(), pct(f.disputes_decided, f.disputes)),
                    ("Average time from dispute to decision".into(), hours(f.dispute_avg_decision_ms)),
                    (
                        "Scam reports per 10,000 orders".into(),
                        f.reports_per_10k_orders()
                            .map_or_else(|| "no orders in the window".into(), |r| format!("{r:.1}")),
                    ),
                ],
                _ => Vec::new(),
            };
            a
        })
        .collect()
}

/// The SHA-256 of a report's bytes, lower-case hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// How a hash is kept as an audit target: `sha256:` and eight groups of eight hex digits joined by `:`, so no run
/// of digits is long enough to look like a card number to the audit log's redaction.
#[must_use]
pub fn hash_target(hex: &str) -> String {
    let groups: Vec<&str> = hex.as_bytes().chunks(8).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    format!("sha256:{}", groups.join(":"))
}

/// The hashes a pasted or uploaded copy may match: its exact bytes, and the same with CRLF line ends turned back
/// to LF (a browser sends a pasted text area's line ends as CRLF; our reports use LF only).
#[must_use]
pub fn candidate_hashes(bytes: &[u8]) -> Vec<String> {
    let mut out = vec![sha256_hex(bytes)];
    if bytes.windows(2).any(|w| w == b"\r\n") {
        let text = String::from_utf8_lossy(bytes).replace("\r\n", "\n");
        out.push(sha256_hex(text.as_bytes()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_targets_never_look_like_card_numbers() {
        let hex = "1234567812345678123456781234567812345678123456781234567812345678";
        let t = hash_target(hex);
        assert_eq!(palisade_core::redact::card_numbers(&t), t.as_str());
        assert_eq!(t.len(), "sha256:".len() + 64 + 7);
    }

    #[test]
    fn an_item_without_controls_is_never_met() {
        assert_eq!(status(&[], None, Some("gap")), "no live control yet");
        let met = Evidence { id: "x", title: String::new(), state: "met", detail: String::new(), references: vec![] };
        assert_eq!(status(std::slice::from_ref(&met), None, None), "met");
        assert_eq!(status(std::slice::from_ref(&met), None, Some("gap")), "partly");
        assert!(payment_page_is_platform().holds);
    }
}
