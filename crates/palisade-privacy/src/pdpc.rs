//! A draft of the notification to the PDPC (issue #21 item 7): the breach classifier's input and outcome plus
//! the incident's facts, laid out as the fields the PDPC asks for, with a plain-text rendering to file from.
//!
//! The fields follow what reg 5 of the Personal Data Protection (Notification of Data Breaches) Regulations 2021
//! requires a notification to contain — (a) when and how the organisation became aware, (b) a chronology of the
//! steps taken since, the assessment included, (c) how the breach occurred, (d) the number affected, (e) the
//! personal data or classes affected, (f) the potential harm, (g) actions to mitigate harm and to remedy the
//! failure, (h) the plan to tell individuals and how they can protect themselves, (i) an authorised
//! representative's business contact — plus what the PDPC's online form asks around them (organisation details,
//! the DPO, a data intermediary's involvement, reasons for a late notice). The crate README says which of these
//! could not be checked against the form itself.
//!
//! The draft is prepared, never sent: a person reads and files it. Values are stored as given (less control
//! characters); the text rendering escapes them so that nothing typed in can become markup, a spreadsheet formula
//! or a forged field line wherever the text is pasted.

use palisade_core::time::{Clock, Timestamp};
use serde::Serialize;

use crate::breach::{Assessment, DataClass, Incident, IndividualsNotice, Reason, Role, Verdict};
use crate::calendar::sg_time_text;

/// Longest free-text value, in characters (the PDPC form's boxes are not unlimited either).
pub const MAX_TEXT: usize = 10_000;

/// The notifying organisation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Organisation {
    /// Registered name.
    pub name: String,
    /// Unique Entity Number (UEN).
    pub uen: String,
    /// Business address.
    pub address: String,
    /// Industry sector, as the organisation describes it.
    pub sector: String,
}

/// A person's business contact information.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Full name.
    pub name: String,
    /// Designation (job title).
    pub designation: String,
    /// Business email address.
    pub email: String,
    /// Business phone number.
    pub phone: String,
}

/// How the organisation first learnt of the breach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Discovery {
    /// Its own monitoring or alerts.
    Monitoring,
    /// A staff member's report.
    StaffReport,
    /// A complaint or report from an affected individual.
    Individual,
    /// Its data intermediary told it.
    DataIntermediary,
    /// Another outsider (a security researcher, a business partner).
    ThirdParty,
    /// The police or another authority.
    Authority,
    /// The media or a public post.
    Media,
}

impl Discovery {
    fn label(self) -> &'static str {
        match self {
            Self::Monitoring => "the organisation's own monitoring",
            Self::StaffReport => "a report by staff",
            Self::Individual => "a report by an affected individual",
            Self::DataIntermediary => "notice from its data intermediary",
            Self::ThirdParty => "a report by a third party",
            Self::Authority => "the police or another authority",
            Self::Media => "the media or a public post",
        }
    }
}

/// Whether and how affected individuals are told (reg 5(1)(h); s 26D(2), (5), (6)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndividualsPlan {
    /// Already told, when and how.
    Notified {
        /// When.
        at: Timestamp,
        /// By what means (email, letter …).
        how: String,
    },
    /// To be told, by when and how.
    WillNotify {
        /// By when.
        by: Timestamp,
        /// By what means.
        how: String,
    },
    /// Not told, on these grounds (remedial action under s 26D(5), or a direction or waiver under s 26D(6)).
    NotNotifying {
        /// The grounds.
        grounds: String,
    },
}

/// A data intermediary's part in the breach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intermediary {
    /// Its name.
    pub name: String,
    /// What it processes for the organisation and what happened on its side.
    pub role: String,
    /// When it told the organisation (s 26C(3)(a)).
    pub told_organisation_at: Option<Timestamp>,
}

/// One step taken after the organisation became aware (reg 5(1)(b)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// When.
    pub at: Timestamp,
    /// What was done.
    pub what: String,
}

/// The incident facts a person supplies beside the classifier's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// The notifying organisation.
    pub organisation: Organisation,
    /// The data protection officer.
    pub dpo: Contact,
    /// An authorised representative (reg 5(1)(i)); may be the DPO.
    pub representative: Contact,
    /// When the breach began, if known.
    pub occurred_from: Option<Timestamp>,
    /// When it ended, if known.
    pub occurred_to: Option<Timestamp>,
    /// How the organisation learnt of it.
    pub discovery: Discovery,
    /// The circumstances of the discovery (reg 5(1)(a)).
    pub discovery_details: String,
    /// What happened.
    pub description: String,
    /// How it occurred: the cause (reg 5(1)(c)).
    pub cause: String,
    /// The potential harm to the affected individuals (reg 5(1)(f)).
    pub potential_harm: String,
    /// Steps taken since becoming aware, in any order (rendered by time).
    pub chronology: Vec<Step>,
    /// Actions to contain the breach and mitigate harm (reg 5(1)(g)(i)).
    pub containment: String,
    /// What affected individuals can do to protect themselves (reg 5(1)(h)).
    pub advice_to_individuals: String,
    /// Actions to remedy the cause and prevent recurrence (reg 5(1)(g)(ii)).
    pub prevention: String,
    /// Telling the affected individuals.
    pub individuals: IndividualsPlan,
    /// A data intermediary's involvement, if any.
    pub intermediary: Option<Intermediary>,
    /// Why the notice or the assessment is late, when it is (empty otherwise).
    pub late_reasons: String,
}

/// Every field of the draft, with a stable key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKey {
    /// Organisation's name.
    OrganisationName,
    /// Organisation's UEN.
    OrganisationUen,
    /// Organisation's address.
    OrganisationAddress,
    /// Organisation's sector.
    OrganisationSector,
    /// The DPO's contact.
    DpoContact,
    /// An authorised representative's contact.
    AuthorisedRepresentative,
    /// When the breach occurred.
    BreachOccurred,
    /// When the organisation became aware.
    DiscoveredAt,
    /// How it became aware.
    HowDiscovered,
    /// When it assessed the breach (as notifiable, for a notifiable one).
    AssessedAt,
    /// The date of this notice.
    NotifiedAt,
    /// Steps since becoming aware.
    Chronology,
    /// Reasons for lateness.
    LateReasons,
    /// What happened.
    Description,
    /// How it occurred.
    Cause,
    /// Number of affected individuals.
    AffectedCount,
    /// Classes of personal data.
    DataClasses,
    /// Why it is notifiable.
    NotifiableBecause,
    /// Potential harm.
    PotentialHarm,
    /// Containment.
    Containment,
    /// Advice to individuals.
    AdviceToIndividuals,
    /// Preventing recurrence.
    PreventRecurrence,
    /// Telling individuals.
    IndividualsNotification,
    /// A data intermediary's involvement.
    IntermediaryInvolved,
}

impl FieldKey {
    /// Every field, in the draft's order.
    pub const ALL: [FieldKey; 24] = [
        Self::OrganisationName,
        Self::OrganisationUen,
        Self::OrganisationAddress,
        Self::OrganisationSector,
        Self::DpoContact,
        Self::AuthorisedRepresentative,
        Self::BreachOccurred,
        Self::DiscoveredAt,
        Self::HowDiscovered,
        Self::AssessedAt,
        Self::NotifiedAt,
        Self::Chronology,
        Self::LateReasons,
        Self::Description,
        Self::Cause,
        Self::AffectedCount,
        Self::DataClasses,
        Self::NotifiableBecause,
        Self::PotentialHarm,
        Self::Containment,
        Self::AdviceToIndividuals,
        Self::PreventRecurrence,
        Self::IndividualsNotification,
        Self::IntermediaryInvolved,
    ];

    /// The label shown, and the provision or form section it answers.
    #[must_use]
    pub fn label(self) -> (&'static str, &'static str) {
        match self {
            Self::OrganisationName => ("Organisation name", "form: organisation details"),
            Self::OrganisationUen => ("UEN", "form: organisation details"),
            Self::OrganisationAddress => ("Business address", "form: organisation details"),
            Self::OrganisationSector => ("Sector", "form: organisation details"),
            Self::DpoContact => ("Data protection officer", "s 11(3), form: DPO contact"),
            Self::AuthorisedRepresentative => ("Authorised representative", "reg 5(1)(i)"),
            Self::BreachOccurred => ("Breach occurred", "form: date and time of breach"),
            Self::DiscoveredAt => ("First aware", "reg 5(1)(a)"),
            Self::HowDiscovered => ("How discovered", "reg 5(1)(a)"),
            Self::AssessedAt => ("Date of assessment", "reg 5(1)(b), s 26D(1)"),
            Self::NotifiedAt => ("Date of this notice", "s 26D(1)"),
            Self::Chronology => ("Steps taken since aware", "reg 5(1)(b)"),
            Self::LateReasons => ("Reasons for late assessment or notice", "s 26C(2), s 26D(1)"),
            Self::Description => ("What happened", "form: description"),
            Self::Cause => ("How it occurred", "reg 5(1)(c)"),
            Self::AffectedCount => ("Individuals affected", "reg 5(1)(d)"),
            Self::DataClasses => ("Personal data affected", "reg 5(1)(e)"),
            Self::NotifiableBecause => ("Why notifiable", "s 26B, regs 3 and 4"),
            Self::PotentialHarm => ("Potential harm", "reg 5(1)(f)"),
            Self::Containment => ("Containment and mitigation", "reg 5(1)(g)(i)"),
            Self::AdviceToIndividuals => ("What individuals can do", "reg 5(1)(h)"),
            Self::PreventRecurrence => ("Preventing recurrence", "reg 5(1)(g)(ii)"),
            Self::IndividualsNotification => ("Notifying individuals", "reg 5(1)(h), s 26D(2), (5), (6)"),
            Self::IntermediaryInvolved => ("Data intermediary involved", "s 26C(3), form: intermediary"),
        }
    }
}

/// One field's value, as given (control characters removed); the rendering escapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Which field.
    pub key: FieldKey,
    /// Its value.
    pub value: String,
}

/// A group of fields under a heading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// The heading.
    pub title: &'static str,
    /// The fields.
    pub fields: Vec<Field>,
}

/// The prepared notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    /// When it was prepared.
    pub prepared_at: Timestamp,
    /// The classifier's verdict (a draft of a non-deemed breach is a voluntary notice).
    pub verdict: Verdict,
    /// The fields, grouped.
    pub sections: Vec<Section>,
}

/// Why no draft could be prepared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    /// A field the PDPC needs is empty.
    #[error("{} is required", .0.label().0)]
    Missing(FieldKey),
    /// A value is longer than [`MAX_TEXT`] characters.
    #[error("{} is longer than {MAX_TEXT} characters", .0.label().0)]
    TooLong(FieldKey),
    /// The facts contradict each other or the clock (e.g. a breach that ends before it begins).
    #[error("{} is inconsistent: {}", .0.label().0, .1)]
    Inconsistent(FieldKey, &'static str),
}

#[path = "pdpc_fields.rs"]
mod fields;
#[path = "pdpc_render.rs"]
mod render;

pub use render::{escape_line, render_text};

/// Prepares the draft for `incident` as `assessment` classified it, with `facts`, as of `clock`'s now.
pub fn draft(
    incident: &Incident,
    assessment: &Assessment,
    facts: &Facts,
    clock: &dyn Clock,
) -> Result<Draft, DraftError> {
    let now = clock.now();
    fields::validate(incident, assessment, facts, now)?;
    Ok(Draft {
        prepared_at: now,
        verdict: assessment.verdict,
        sections: vec![
            fields::organisation(facts),
            fields::timeline(incident, assessment, facts, now),
            fields::breach(incident, assessment, facts),
            fields::actions(assessment, facts),
            fields::intermediary(incident, facts),
        ],
    })
}

/// One reason of the assessment, in words.
fn reason_text(reason: &Reason) -> String {
    let list = |classes: &[DataClass]| classes.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ");
    match reason {
        Reason::IdentityWithPrescribedData { identity, prescribed } => {
            format!("significant harm (reg 3(1)(a)): {} together with {}", list(identity), list(prescribed))
        }
        Reason::AccountAccessData => {
            "significant harm (reg 3(1)(b)): an account identifier together with access data".to_owned()
        }
        Reason::SignificantScale { affected } => format!("significant scale (reg 4): {affected} individuals"),
        Reason::WithinOrganisationOnly => "within the organisation only (s 26B(4)): deemed not notifiable".to_owned(),
        Reason::ExcludedBySchedulePart2 { classes } => {
            format!("excluded under Part 2 of the Schedule: {}", list(classes))
        }
        Reason::NoDeemedTestMet { affected } => format!(
            "no deemed test met ({affected} individuals): notified because significant harm is likely on the facts \
             (s 26B(1)(a)), or voluntarily"
        ),
    }
}

/// Whether the individuals must be told, for the plan's field.
fn individuals_required(assessment: &Assessment) -> bool {
    assessment.notify_individuals == IndividualsNotice::Required
}

/// Whether the platform assessed as a data intermediary.
fn as_intermediary(incident: &Incident) -> bool {
    incident.role == Role::DataIntermediary
}

/// A time for the notice.
fn when(at: Timestamp) -> String {
    sg_time_text(at)
}

#[cfg(test)]
#[path = "pdpc_tests.rs"]
mod tests;
