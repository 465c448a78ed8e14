//! The draft's sections, and the checks made before any is built.

use palisade_core::time::Timestamp;

use super::{
    DraftError, Facts, Field, FieldKey, IndividualsPlan, MAX_TEXT, Section, as_intermediary, individuals_required,
    reason_text, when,
};
use crate::breach::{Assessment, Incident, Verdict};

/// Strips control characters (a newline stays: values may have several lines) and Unicode direction overrides
/// and zero-width characters, which can make text read differently from what it holds.
pub(super) fn clean(text: &str) -> String {
    let normalised = text.replace("\r\n", "\n");
    let kept = normalised.chars().map(|c| if c == '\t' || c == '\r' { ' ' } else { c }).filter(|c| {
        *c == '\n'
            || !(c.is_control()
                || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'))
    });
    kept.collect::<String>().trim().to_owned()
}

fn field(key: FieldKey, value: impl AsRef<str>) -> Field {
    Field { key, value: clean(value.as_ref()) }
}

/// A required text: present and not too long.
fn required(key: FieldKey, text: &str) -> Result<(), DraftError> {
    if clean(text).is_empty() {
        return Err(DraftError::Missing(key));
    }
    bounded(key, text)
}

fn bounded(key: FieldKey, text: &str) -> Result<(), DraftError> {
    if text.chars().count() > MAX_TEXT { Err(DraftError::TooLong(key)) } else { Ok(()) }
}

/// Every check, before anything is built: required fields, lengths, time order, lateness explained.
pub(super) fn validate(
    incident: &Incident,
    assessment: &Assessment,
    facts: &Facts,
    now: Timestamp,
) -> Result<(), DraftError> {
    use FieldKey as K;
    let o = &facts.organisation;
    required(K::OrganisationName, &o.name)?;
    required(K::OrganisationUen, &o.uen)?;
    required(K::OrganisationAddress, &o.address)?;
    bounded(K::OrganisationSector, &o.sector)?;
    for (key, c) in [(K::DpoContact, &facts.dpo), (K::AuthorisedRepresentative, &facts.representative)] {
        required(key, &c.name)?;
        required(key, &c.email)?;
        bounded(key, &c.designation)?;
        bounded(key, &c.phone)?;
    }
    required(K::HowDiscovered, &facts.discovery_details)?;
    required(K::Description, &facts.description)?;
    required(K::Cause, &facts.cause)?;
    required(K::PotentialHarm, &facts.potential_harm)?;
    required(K::Containment, &facts.containment)?;
    required(K::PreventRecurrence, &facts.prevention)?;
    bounded(K::AdviceToIndividuals, &facts.advice_to_individuals)?;
    bounded(K::LateReasons, &facts.late_reasons)?;
    for step in &facts.chronology {
        required(K::Chronology, &step.what)?;
    }
    if facts.chronology.len() > 500 {
        return Err(DraftError::TooLong(K::Chronology));
    }
    validate_times(incident, assessment, facts, now)?;
    validate_plans(incident, assessment, facts)
}

fn validate_times(
    incident: &Incident,
    assessment: &Assessment,
    facts: &Facts,
    now: Timestamp,
) -> Result<(), DraftError> {
    use FieldKey as K;
    if let (Some(from), Some(to)) = (facts.occurred_from, facts.occurred_to)
        && to < from
    {
        return Err(DraftError::Inconsistent(K::BreachOccurred, "it ends before it begins"));
    }
    if incident.discovered_at > now || assessment.assessed_at > now {
        return Err(DraftError::Inconsistent(K::DiscoveredAt, "a date is in the future"));
    }
    if assessment.assessed_at < incident.discovered_at {
        return Err(DraftError::Inconsistent(K::AssessedAt, "assessed before the organisation was aware"));
    }
    if facts.chronology.iter().any(|s| s.at > now) {
        return Err(DraftError::Inconsistent(K::Chronology, "a step is in the future"));
    }
    let notice_late = assessment.deadlines.pdpc.is_some_and(|d| d.missed_at(now));
    if (notice_late || assessment.assessed_late) && clean(&facts.late_reasons).is_empty() {
        return Err(DraftError::Missing(K::LateReasons));
    }
    Ok(())
}

fn validate_plans(incident: &Incident, assessment: &Assessment, facts: &Facts) -> Result<(), DraftError> {
    use FieldKey as K;
    match &facts.individuals {
        IndividualsPlan::Notified { how, .. } | IndividualsPlan::WillNotify { how, .. } => {
            required(K::IndividualsNotification, how)?;
            if individuals_required(assessment) {
                required(K::AdviceToIndividuals, &facts.advice_to_individuals)?;
            }
        }
        IndividualsPlan::NotNotifying { grounds } => required(K::IndividualsNotification, grounds)?,
    }
    match &facts.intermediary {
        Some(i) => {
            required(K::IntermediaryInvolved, &i.name)?;
            required(K::IntermediaryInvolved, &i.role)?;
        }
        None if as_intermediary(incident) => return Err(DraftError::Missing(K::IntermediaryInvolved)),
        None => {}
    }
    Ok(())
}

fn contact(c: &super::Contact) -> String {
    let mut parts = vec![c.name.as_str()];
    parts.extend([c.designation.as_str(), c.email.as_str(), c.phone.as_str()].into_iter().filter(|s| !s.is_empty()));
    parts.join(", ")
}

/// Organisation and contacts.
pub(super) fn organisation(facts: &Facts) -> Section {
    use FieldKey as K;
    let o = &facts.organisation;
    let sector = if o.sector.trim().is_empty() { "not stated" } else { o.sector.as_str() };
    Section {
        title: "Organisation and contacts",
        fields: vec![
            field(K::OrganisationName, &o.name),
            field(K::OrganisationUen, &o.uen),
            field(K::OrganisationAddress, &o.address),
            field(K::OrganisationSector, sector),
            field(K::DpoContact, contact(&facts.dpo)),
            field(K::AuthorisedRepresentative, contact(&facts.representative)),
        ],
    }
}

/// When it happened, was found, assessed and notified, and what was done in between.
pub(super) fn timeline(incident: &Incident, assessment: &Assessment, facts: &Facts, now: Timestamp) -> Section {
    use FieldKey as K;
    let occurred = match (facts.occurred_from, facts.occurred_to) {
        (Some(from), Some(to)) => format!("from {} to {}", when(from), when(to)),
        (Some(from), None) => format!("from {} (end not known)", when(from)),
        (None, Some(to)) => format!("until {} (start not known)", when(to)),
        (None, None) => "not yet known".to_owned(),
    };
    let mut steps = facts.chronology.clone();
    steps.sort_by_key(|s| s.at);
    let chronology: Vec<String> = steps.iter().map(|s| format!("{}: {}", when(s.at), s.what)).collect();
    let chronology = if chronology.is_empty() { "none recorded".to_owned() } else { chronology.join("\n") };
    let late = if facts.late_reasons.trim().is_empty() { "not late" } else { facts.late_reasons.as_str() };
    let deadline = assessment.deadlines.pdpc.map(|d| format!(" (due by {} SGT)", d.date)).unwrap_or_default();
    Section {
        title: "Timeline",
        fields: vec![
            field(K::BreachOccurred, occurred),
            field(K::DiscoveredAt, when(incident.discovered_at)),
            field(K::HowDiscovered, format!("{}: {}", facts.discovery.label(), facts.discovery_details)),
            field(K::AssessedAt, when(assessment.assessed_at)),
            field(K::NotifiedAt, format!("{}{deadline}", when(now))),
            field(K::Chronology, chronology),
            field(K::LateReasons, late),
        ],
    }
}

/// What happened, to whom and to what data, and why it is notifiable.
pub(super) fn breach(incident: &Incident, assessment: &Assessment, facts: &Facts) -> Section {
    use FieldKey as K;
    let classes: Vec<&str> = incident.classes.iter().map(|c| c.label()).collect();
    let classes = if classes.is_empty() { "none identified yet".to_owned() } else { classes.join(", ") };
    let mut because: Vec<String> = assessment.reasons.iter().map(reason_text).collect();
    if assessment.verdict != Verdict::Notifiable {
        because.insert(0, "not deemed notifiable by regs 3 and 4: this is a notice on the facts".to_owned());
    }
    Section {
        title: "The breach",
        fields: vec![
            field(K::Description, &facts.description),
            field(K::Cause, &facts.cause),
            field(K::AffectedCount, incident.affected.to_string()),
            field(K::DataClasses, classes),
            field(K::NotifiableBecause, because.join("\n")),
            field(K::PotentialHarm, &facts.potential_harm),
        ],
    }
}

/// What was and will be done.
pub(super) fn actions(assessment: &Assessment, facts: &Facts) -> Section {
    use FieldKey as K;
    let duty = if individuals_required(assessment) {
        "required (significant harm, s 26D(2))"
    } else {
        "not required by s 26D(2)"
    };
    let plan = match &facts.individuals {
        IndividualsPlan::Notified { at, how } => format!("{duty}; notified {} by {how}", when(*at)),
        IndividualsPlan::WillNotify { by, how } => format!("{duty}; to be notified by {} by {how}", when(*by)),
        IndividualsPlan::NotNotifying { grounds } => format!("{duty}; not notifying: {grounds}"),
    };
    let advice =
        if facts.advice_to_individuals.trim().is_empty() { "none" } else { facts.advice_to_individuals.as_str() };
    Section {
        title: "Actions",
        fields: vec![
            field(K::Containment, &facts.containment),
            field(K::AdviceToIndividuals, advice),
            field(K::PreventRecurrence, &facts.prevention),
            field(K::IndividualsNotification, plan),
        ],
    }
}

/// A data intermediary's part.
pub(super) fn intermediary(incident: &Incident, facts: &Facts) -> Section {
    let value = match &facts.intermediary {
        Some(i) => {
            let told = i.told_organisation_at.map(|at| format!("; told the organisation {}", when(at)));
            format!("yes: {} ({}){}", i.name, i.role, told.unwrap_or_default())
        }
        None if as_intermediary(incident) => "yes".to_owned(),
        None => "no".to_owned(),
    };
    Section { title: "Data intermediary", fields: vec![field(FieldKey::IntermediaryInvolved, value)] }
}
