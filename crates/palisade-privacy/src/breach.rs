//! Is a data breach notifiable, why, and by when must who be told?
//!
//! The rules are those of the PDPA Part 6A (sections 26A–26E) and the Personal Data Protection (Notification of
//! Data Breaches) Regulations 2021 (S 64/2021, Schedule amended by S 735/2021):
//!
//! - **Significant harm** is deemed (reg 3(1)) when the breach involves (a) an individual's full name or alias or
//!   identification number *together with* any class in Part 1 of the Schedule (subject to Part 2), or (b) an
//!   account identifier *together with* a password, security code, access code, security answer, biometric or
//!   other data that gives access to the account.
//! - **Significant scale** is deemed (reg 4) when 500 or more individuals are affected.
//! - A breach only **within one organisation** (unauthorised access, use, disclosure… inside it) is deemed not
//!   notifiable (s 26B(4)).
//! - The organisation must assess a suspected breach reasonably and expeditiously (s 26C(2); the PDPC's guide
//!   expects it within 30 calendar days of first becoming aware), notify the PDPC no later than **3 calendar
//!   days** after the day it assessed the breach notifiable (s 26D(1)), and notify affected individuals when the
//!   breach is of significant harm (s 26D(2); scale alone does not require it). A data intermediary must notify
//!   the organisation **without undue delay** of having reason to believe a breach occurred (s 26C(3)(a)): the
//!   platform's own target for that is a policy value (minutes).
//!
//! The classifier decides the *deemed* cases, which are mechanical; a breach that meets none of them can still be
//! notifiable if significant harm is likely for another reason, and the outcome says so rather than "no".

use std::collections::BTreeSet;
use std::time::Duration;

use palisade_core::time::{Clock, Timestamp};
use serde::Serialize;

use crate::calendar::Deadline;

/// The number of affected individuals from which a breach is of significant scale (reg 4).
pub const SIGNIFICANT_SCALE: u64 = 500;
/// Calendar days after the day of assessment within which the PDPC must be notified (s 26D(1)).
pub const PDPC_NOTICE_DAYS: i32 = 3;
/// Calendar days from first awareness within which the PDPC's guide expects the assessment.
pub const ASSESSMENT_GUIDE_DAYS: i32 = 30;

/// A class of personal data involved in a breach: the identity classes of reg 3(1)(a), the account classes of
/// reg 3(1)(b), the prescribed classes of Part 1 of the Schedule (grouped where the platform cannot tell them
/// apart), and the ordinary classes an e-commerce platform holds that are not prescribed on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Full name or alias (reg 3(1)(a)).
    FullNameOrAlias,
    /// Identity card, passport or other government identity document number, foreign ones included (reg 2).
    IdentificationNumber,
    /// An account name or number with an organisation (reg 3(1)(b)(i)).
    AccountIdentifier,
    /// Password, security code, access code, security answer, biometric or other data that gives access to
    /// an account (reg 3(1)(b)(ii)).
    AccountCredential,
    /// Schedule Part 1: wages, salary, fees, commission, bonus or other remuneration.
    Remuneration,
    /// Schedule Part 1: income from the sale of goods or property (a merchant's payouts).
    SalesIncome,
    /// Schedule Part 1: a credit, charge or debit card number.
    PaymentCardNumber,
    /// Schedule Part 1: an account number with a bank or finance company.
    BankAccountNumber,
    /// Schedule Part 1: net worth, deposits, withdrawals, loans, advances and other credit facilities.
    FinancialStanding,
    /// Schedule Part 1: insurance (policy, premiums, benefits, claims).
    Insurance,
    /// Schedule Part 1: a private key used to create or verify secure electronic records or signatures.
    PrivateSigningKey,
    /// Schedule Part 1: information identifying a child or young person in investigations, proceedings or care
    /// and protection under the Children and Young Persons Act.
    ChildProtection,
    /// Schedule Part 1: information identifying a vulnerable adult under the Vulnerable Adults Act.
    VulnerableAdultProtection,
    /// Schedule Part 1 (para 6A, S 735/2021): identity of a victim of a specified sexual offence.
    SexualOffenceVictim,
    /// Schedule Part 1: assessment, diagnosis or treatment of prescribed conditions (sexually transmitted
    /// diseases, HIV, schizophrenia or delusional disorder, substance abuse and addiction).
    HealthCondition,
    /// Schedule Part 1: reproductive treatment (gamete donation or receipt, contraceptive procedures, abortion).
    ReproductiveTreatment,
    /// Schedule Part 1: organ donation or transplant.
    OrganDonation,
    /// Schedule Part 1: suicide or attempted suicide.
    Suicide,
    /// Schedule Part 1: domestic, child or sexual abuse.
    Abuse,
    /// Schedule Part 1: adoption, and the identity of natural or adoptive parents.
    Adoption,
    /// Email address or phone number (not prescribed).
    Contact,
    /// Postal or delivery address (not prescribed).
    Address,
    /// Date of birth (not prescribed).
    DateOfBirth,
    /// Orders, carts and other purchase history (not prescribed).
    PurchaseHistory,
}

impl DataClass {
    /// Every class, for tables and exhaustive tests.
    pub const ALL: [DataClass; 24] = [
        Self::FullNameOrAlias,
        Self::IdentificationNumber,
        Self::AccountIdentifier,
        Self::AccountCredential,
        Self::Remuneration,
        Self::SalesIncome,
        Self::PaymentCardNumber,
        Self::BankAccountNumber,
        Self::FinancialStanding,
        Self::Insurance,
        Self::PrivateSigningKey,
        Self::ChildProtection,
        Self::VulnerableAdultProtection,
        Self::SexualOffenceVictim,
        Self::HealthCondition,
        Self::ReproductiveTreatment,
        Self::OrganDonation,
        Self::Suicide,
        Self::Abuse,
        Self::Adoption,
        Self::Contact,
        Self::Address,
        Self::DateOfBirth,
        Self::PurchaseHistory,
    ];

    /// A class in Part 1 of the Schedule (harmful together with a name, alias or identification number).
    #[must_use]
    pub fn is_prescribed(self) -> bool {
        !matches!(
            self,
            Self::FullNameOrAlias
                | Self::IdentificationNumber
                | Self::AccountIdentifier
                | Self::AccountCredential
                | Self::Contact
                | Self::Address
                | Self::DateOfBirth
                | Self::PurchaseHistory
        )
    }

    /// The plain-language name of the class, as a PDPC notice or the inventory report lists it.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::FullNameOrAlias => "full name or alias",
            Self::IdentificationNumber => "identification number (NRIC, FIN, passport)",
            Self::AccountIdentifier => "account identifier",
            Self::AccountCredential => "password or other account access data",
            Self::Remuneration => "remuneration",
            Self::SalesIncome => "income from the sale of goods",
            Self::PaymentCardNumber => "payment card number",
            Self::BankAccountNumber => "bank account number",
            Self::FinancialStanding => "net worth, deposits, loans or credit",
            Self::Insurance => "insurance information",
            Self::PrivateSigningKey => "private signing key",
            Self::ChildProtection => "child or young person in proceedings or care",
            Self::VulnerableAdultProtection => "vulnerable adult under protection",
            Self::SexualOffenceVictim => "identity of a sexual offence victim",
            Self::HealthCondition => "prescribed health condition",
            Self::ReproductiveTreatment => "reproductive treatment",
            Self::OrganDonation => "organ donation or transplant",
            Self::Suicide => "suicide or attempted suicide",
            Self::Abuse => "domestic, child or sexual abuse",
            Self::Adoption => "adoption",
            Self::Contact => "email address or phone number",
            Self::Address => "postal address",
            Self::DateOfBirth => "date of birth",
            Self::PurchaseHistory => "purchase history",
        }
    }

    /// A class that identifies the individual for reg 3(1)(a).
    #[must_use]
    pub fn is_identity(self) -> bool {
        matches!(self, Self::FullNameOrAlias | Self::IdentificationNumber)
    }
}

/// Whether the breach went beyond the organisation (s 26B(4)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// Unauthorised access, use, disclosure, copying or modification only within the organisation.
    WithinOrganisation,
    /// Anything else: outsiders, loss of a device, publication, another organisation.
    BeyondOrganisation,
}

/// Who is assessing: the organisation responsible for the data, or its data intermediary (the platform, for
/// merchants' buyer data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The organisation (assesses, notifies the PDPC and individuals).
    Organisation,
    /// A data intermediary (tells the organisation without undue delay; the organisation assesses).
    DataIntermediary,
}

/// The facts of an incident, as the breach register holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The classes of personal data involved.
    pub classes: BTreeSet<DataClass>,
    /// Classes the assessor found excluded by Part 2 of the Schedule (e.g. already lawfully public); they do not
    /// count towards reg 3(1)(a) and the exclusion is recorded as a reason.
    pub excluded: BTreeSet<DataClass>,
    /// Individuals affected, counted by a query rather than typed in.
    pub affected: u64,
    /// Within the organisation only, or beyond it.
    pub reach: Reach,
    /// The assessing party's role.
    pub role: Role,
    /// When the organisation (or intermediary) first had reason to believe a breach occurred.
    pub discovered_at: Timestamp,
}

/// One reason behind the outcome, with the provision it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// reg 3(1)(a): an identity class together with prescribed classes.
    IdentityWithPrescribedData {
        /// The identity classes involved.
        identity: Vec<DataClass>,
        /// The prescribed classes involved.
        prescribed: Vec<DataClass>,
    },
    /// reg 3(1)(b): an account identifier together with a credential.
    AccountAccessData,
    /// reg 4: 500 or more individuals affected.
    SignificantScale {
        /// Individuals affected.
        affected: u64,
    },
    /// s 26B(4): only within the organisation, deemed not notifiable whatever the data or scale.
    WithinOrganisationOnly,
    /// Classes set aside under Part 2 of the Schedule.
    ExcludedBySchedulePart2 {
        /// The excluded classes.
        classes: Vec<DataClass>,
    },
    /// None of the deemed tests is met; significant harm may still be likely on the facts (s 26B(1)(a)).
    NoDeemedTestMet {
        /// Individuals affected (below the scale threshold).
        affected: u64,
    },
}

/// The classifier's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Notifiable: the PDPC must be told (and individuals too when [`Assessment::notify_individuals`] says so).
    Notifiable,
    /// Not notifiable (deemed so, within one organisation).
    NotNotifiable,
    /// No deemed test is met: not notifiable unless the assessor finds significant harm likely on the facts.
    NotDeemedNotifiable,
}

/// Whether affected individuals must be told (s 26D(2)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndividualsNotice {
    /// Significant harm: tell them, on or after notifying the PDPC (unless s 26D(5)/(6) exceptions apply).
    Required,
    /// Scale only, or not notifiable.
    NotRequired,
}

/// Deadlines that follow from the assessment, in Singapore calendar days where the law counts days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Deadlines {
    /// Assessment expected by (the PDPC guide's 30 days from discovery).
    pub assessment: Deadline,
    /// PDPC notice due (3 calendar days after the day of assessment), when notifiable.
    pub pdpc: Option<Deadline>,
    /// When the platform, as intermediary, must have told the organisation (policy target from discovery).
    pub organisation: Option<Timestamp>,
}

/// Tunables that are policy rather than law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreachPolicy {
    /// The platform's meaning of "without undue delay" for telling a merchant (the issue asks for minutes).
    pub intermediary_notice_within: Duration,
}

impl Default for BreachPolicy {
    fn default() -> Self {
        Self { intermediary_notice_within: Duration::from_secs(15 * 60) }
    }
}

/// The outcome of classifying an incident at a moment (the injected clock's now).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Notifiable or not.
    pub verdict: Verdict,
    /// Every rule that applied, in order.
    pub reasons: Vec<Reason>,
    /// Whether affected individuals must be told.
    pub notify_individuals: IndividualsNotice,
    /// When the assessment was made.
    pub assessed_at: Timestamp,
    /// Whether it was made after the guide's 30 days.
    pub assessed_late: bool,
    /// The deadlines that follow.
    pub deadlines: Deadlines,
}

/// The deemed significant-harm reasons (reg 3(1)) for the classes that count.
fn harm_reasons(counted: &BTreeSet<DataClass>) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let identity: Vec<DataClass> = counted.iter().copied().filter(|c| c.is_identity()).collect();
    let prescribed: Vec<DataClass> = counted.iter().copied().filter(|c| c.is_prescribed()).collect();
    if !identity.is_empty() && !prescribed.is_empty() {
        reasons.push(Reason::IdentityWithPrescribedData { identity, prescribed });
    }
    if counted.contains(&DataClass::AccountIdentifier) && counted.contains(&DataClass::AccountCredential) {
        reasons.push(Reason::AccountAccessData);
    }
    reasons
}

/// Classifies `incident` as of `clock`'s now (the moment of assessment).
pub fn assess(incident: &Incident, clock: &dyn Clock, policy: &BreachPolicy) -> Assessment {
    let now = clock.now();
    let mut reasons = Vec::new();
    let excluded: Vec<DataClass> = incident.classes.intersection(&incident.excluded).copied().collect();
    if !excluded.is_empty() {
        reasons.push(Reason::ExcludedBySchedulePart2 { classes: excluded });
    }
    let counted: BTreeSet<DataClass> = incident.classes.difference(&incident.excluded).copied().collect();
    let harm = harm_reasons(&counted);
    let significant_harm = !harm.is_empty();
    let scale = incident.affected >= SIGNIFICANT_SCALE;
    let (verdict, individuals) = if incident.reach == Reach::WithinOrganisation {
        reasons.push(Reason::WithinOrganisationOnly);
        (Verdict::NotNotifiable, IndividualsNotice::NotRequired)
    } else if significant_harm || scale {
        reasons.extend(harm);
        if scale {
            reasons.push(Reason::SignificantScale { affected: incident.affected });
        }
        let individuals = if significant_harm { IndividualsNotice::Required } else { IndividualsNotice::NotRequired };
        (Verdict::Notifiable, individuals)
    } else {
        reasons.push(Reason::NoDeemedTestMet { affected: incident.affected });
        (Verdict::NotDeemedNotifiable, IndividualsNotice::NotRequired)
    };
    let assessment_due = Deadline::days_after(incident.discovered_at, ASSESSMENT_GUIDE_DAYS);
    let deadlines = Deadlines {
        assessment: assessment_due,
        pdpc: (verdict == Verdict::Notifiable).then(|| Deadline::days_after(now, PDPC_NOTICE_DAYS)),
        organisation: (incident.role == Role::DataIntermediary)
            .then(|| incident.discovered_at.plus(policy.intermediary_notice_within)),
    };
    Assessment {
        verdict,
        reasons,
        notify_individuals: individuals,
        assessed_at: now,
        assessed_late: assessment_due.missed_at(now),
        deadlines,
    }
}

#[cfg(test)]
#[path = "breach_tests.rs"]
mod tests;
