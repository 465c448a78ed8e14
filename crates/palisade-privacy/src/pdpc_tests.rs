use std::collections::BTreeSet;

use palisade_core::time::ManualClock;

use super::*;
use crate::breach::{BreachPolicy, DataClass, Reach, assess};

const DISCOVERED: Timestamp = Timestamp(1_772_380_200_000); // 2026-03-01 23:50 SGT
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn contact(name: &str) -> Contact {
    Contact {
        name: name.into(),
        designation: "Data Protection Officer".into(),
        email: "dpo@example.sg".into(),
        phone: "+65 6000 0000".into(),
    }
}

fn facts() -> Facts {
    Facts {
        organisation: Organisation {
            name: "Kopi Shop Pte Ltd".into(),
            uen: "202612345K".into(),
            address: "1 Example Road, Singapore 000001".into(),
            sector: "retail".into(),
        },
        dpo: contact("Tan Mei Ling"),
        representative: contact("Lim Wei"),
        occurred_from: Some(Timestamp(DISCOVERED.0 - 2 * DAY)),
        occurred_to: Some(Timestamp(DISCOVERED.0 - DAY)),
        discovery: Discovery::Monitoring,
        discovery_details: "the export alarm fired on an unusual download".into(),
        description: "an API token leaked in a public repository was used to export orders".into(),
        cause: "a staff member committed the token".into(),
        potential_harm: "phishing using order details".into(),
        chronology: vec![
            Step { at: Timestamp(DISCOVERED.0 + 2 * HOUR), what: "token revoked".into() },
            Step { at: Timestamp(DISCOVERED.0 + HOUR), what: "incident opened".into() },
        ],
        containment: "revoked the token, rotated every staff token".into(),
        advice_to_individuals: "beware of mail asking for payment details".into(),
        prevention: "secret scanning on commits; tokens expire in 30 days".into(),
        individuals: IndividualsPlan::WillNotify { by: Timestamp(DISCOVERED.0 + 3 * DAY), how: "email".into() },
        intermediary: None,
        late_reasons: String::new(),
    }
}

fn incident(classes: &[DataClass], affected: u64) -> Incident {
    Incident {
        classes: classes.iter().copied().collect(),
        excluded: BTreeSet::new(),
        affected,
        reach: Reach::BeyondOrganisation,
        role: Role::Organisation,
        discovered_at: DISCOVERED,
    }
}

/// Assessed a day after discovery; the draft prepared `after` ms after the assessment.
fn prepare(incident: &Incident, facts: &Facts, after: i64) -> Result<Draft, DraftError> {
    let clock = ManualClock::new(Timestamp(DISCOVERED.0 + DAY));
    let assessment = assess(incident, &clock, &BreachPolicy::default());
    clock.set(Timestamp(DISCOVERED.0 + DAY + after));
    draft(incident, &assessment, facts, &clock)
}

fn value(draft: &Draft, key: FieldKey) -> &str {
    let all = draft.sections.iter().flat_map(|s| &s.fields);
    all.filter(|f| f.key == key).map(|f| f.value.as_str()).next().unwrap()
}

#[test]
fn every_field_is_present_once_and_in_order() {
    let d =
        prepare(&incident(&[DataClass::FullNameOrAlias, DataClass::PaymentCardNumber], 12), &facts(), HOUR).unwrap();
    let keys: Vec<FieldKey> = d.sections.iter().flat_map(|s| s.fields.iter().map(|f| f.key)).collect();
    assert_eq!(keys, FieldKey::ALL.to_vec());
    for f in d.sections.iter().flat_map(|s| &s.fields) {
        assert!(!f.value.is_empty(), "{:?} is empty", f.key);
    }
    let text = render_text(&d);
    for key in FieldKey::ALL {
        assert_eq!(text.matches(&format!("  {} [", key.label().0)).count(), 1, "{key:?}\n{text}");
    }
}

#[test]
fn values_come_from_the_classifier_and_the_facts() {
    let d =
        prepare(&incident(&[DataClass::FullNameOrAlias, DataClass::PaymentCardNumber], 612), &facts(), HOUR).unwrap();
    assert_eq!(d.verdict, Verdict::Notifiable);
    assert_eq!(value(&d, FieldKey::AffectedCount), "612");
    assert_eq!(value(&d, FieldKey::DataClasses), "full name or alias, payment card number");
    let because = value(&d, FieldKey::NotifiableBecause);
    assert!(because.contains("reg 3(1)(a)") && because.contains("reg 4): 612"), "{because}");
    assert_eq!(value(&d, FieldKey::DiscoveredAt), "2026-03-01 23:50 SGT");
    assert_eq!(value(&d, FieldKey::AssessedAt), "2026-03-02 23:50 SGT");
    assert!(value(&d, FieldKey::NotifiedAt).ends_with("(due by 2026-03-05 SGT)"));
    // The chronology is in time order whatever order it was given in.
    assert_eq!(
        value(&d, FieldKey::Chronology),
        "2026-03-02 00:50 SGT: incident opened\n2026-03-02 01:50 SGT: token revoked"
    );
    assert!(value(&d, FieldKey::IndividualsNotification).starts_with("required (significant harm"));
    assert_eq!(value(&d, FieldKey::IntermediaryInvolved), "no");
    assert_eq!(value(&d, FieldKey::LateReasons), "not late");
}

#[test]
fn missing_facts_are_refused_by_field() {
    let i = incident(&[DataClass::Contact], 600);
    let mut f = facts();
    f.cause = " \n ".into();
    assert_eq!(prepare(&i, &f, HOUR), Err(DraftError::Missing(FieldKey::Cause)));
    let mut f = facts();
    f.dpo.email.clear();
    assert_eq!(prepare(&i, &f, HOUR), Err(DraftError::Missing(FieldKey::DpoContact)));
    let mut f = facts();
    f.individuals = IndividualsPlan::NotNotifying { grounds: String::new() };
    assert_eq!(prepare(&i, &f, HOUR), Err(DraftError::Missing(FieldKey::IndividualsNotification)));
    // The platform assessing as intermediary must say who the intermediary is.
    let mut as_intermediary = i.clone();
    as_intermediary.role = Role::DataIntermediary;
    assert_eq!(prepare(&as_intermediary, &facts(), HOUR), Err(DraftError::Missing(FieldKey::IntermediaryInvolved)));
    let mut f = facts();
    f.intermediary = Some(Intermediary {
        name: "Palisade".into(),
        role: "hosts the store".into(),
        told_organisation_at: Some(Timestamp(DISCOVERED.0 + 600_000)),
    });
    let d = prepare(&as_intermediary, &f, HOUR).unwrap();
    assert_eq!(
        value(&d, FieldKey::IntermediaryInvolved),
        "yes: Palisade (hosts the store); told the organisation 2026-03-02 00:00 SGT"
    );
}

#[test]
fn a_late_notice_needs_its_reasons() {
    let i = incident(&[DataClass::Contact], 600);
    // Due by the end of 5 March (SGT); prepared on 6 March.
    assert_eq!(prepare(&i, &facts(), 4 * DAY), Err(DraftError::Missing(FieldKey::LateReasons)));
    let mut f = facts();
    f.late_reasons = "the forensic report arrived on 5 March at 23:00".into();
    let d = prepare(&i, &f, 4 * DAY).unwrap();
    assert_eq!(value(&d, FieldKey::LateReasons), f.late_reasons);
}

#[test]
fn inconsistent_or_oversized_facts_are_refused() {
    let i = incident(&[DataClass::Contact], 600);
    let mut f = facts();
    f.occurred_to = Some(Timestamp(DISCOVERED.0 - 3 * DAY));
    assert!(matches!(prepare(&i, &f, HOUR), Err(DraftError::Inconsistent(FieldKey::BreachOccurred, _))));
    let mut f = facts();
    f.chronology.push(Step { at: Timestamp(DISCOVERED.0 + 9 * DAY), what: "later".into() });
    assert!(matches!(prepare(&i, &f, HOUR), Err(DraftError::Inconsistent(FieldKey::Chronology, _))));
    let mut f = facts();
    f.description = "x".repeat(MAX_TEXT + 1);
    assert_eq!(prepare(&i, &f, HOUR), Err(DraftError::TooLong(FieldKey::Description)));
    let mut f = facts();
    f.organisation.sector = "y".repeat(MAX_TEXT + 1);
    assert_eq!(prepare(&i, &f, HOUR), Err(DraftError::TooLong(FieldKey::OrganisationSector)));
    assert_eq!(DraftError::Missing(FieldKey::Cause).to_string(), "How it occurred is required");
}

#[test]
fn a_breach_not_deemed_notifiable_says_so() {
    let d = prepare(&incident(&[DataClass::Contact], 3), &facts(), HOUR).unwrap();
    assert_eq!(d.verdict, Verdict::NotDeemedNotifiable);
    assert!(value(&d, FieldKey::NotifiableBecause).starts_with("not deemed notifiable"));
    assert!(value(&d, FieldKey::IndividualsNotification).starts_with("not required"));
}

#[test]
fn the_rendering_escapes_markup_formulas_and_forged_lines() {
    let mut f = facts();
    f.organisation.name = "=HYPERLINK(\"http://x\",\"click\")".into();
    f.description = "<script>alert(1)</script>\nOrganisation name [form: organisation details]: Forged Ltd\n+1+2\n@SUM(A1)\n-2+3\n- a list item".into();
    f.cause = "a\u{202E}txt.exe\u{0007} & co\r\nsecond\tline".into();
    let d = prepare(&incident(&[DataClass::Contact], 600), &f, HOUR).unwrap();
    // Stored values keep what was typed, less control and direction characters.
    assert_eq!(value(&d, FieldKey::Cause), "atxt.exe & co\nsecond line");
    let text = render_text(&d);
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    assert!(text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{text}");
    assert!(text.contains("atxt.exe &amp; co"), "{text}");
    assert_eq!(text.lines().filter(|l| l.starts_with("  Organisation name")).count(), 1, "{text}");
    assert!(text.contains("  Organisation name [form: organisation details]: '=HYPERLINK"), "{text}");
    for line in text.lines() {
        let content = line.trim_start();
        let content = content.split_once("]: ").map_or(content, |(_, v)| v);
        assert!(!content.starts_with(['=', '+', '@']), "formula left in {line:?}");
        assert!(!content.starts_with('-') || content.starts_with("- "), "formula left in {line:?}");
    }
    assert!(text.contains("      '+1+2") && text.contains("      '@SUM(A1)") && text.contains("      '-2+3"), "{text}");
    assert!(text.contains("      - a list item"), "{text}");
    assert!(!text.contains('\u{202E}') && !text.contains('\u{0007}') && !text.contains('\r'));
}

#[test]
fn escape_line_cases() {
    assert_eq!(escape_line("=1+1"), "'=1+1");
    assert_eq!(escape_line("-"), "-");
    assert_eq!(escape_line("-x"), "'-x");
    assert_eq!(escape_line("a=b"), "a=b");
    assert_eq!(escape_line("  =1"), "'  =1");
    assert_eq!(escape_line(" - item"), " - item");
    assert_eq!(escape_line("<b>&"), "&lt;b&gt;&amp;");
}

proptest::proptest! {
    /// Whatever is typed into the free-text facts, the rendering has exactly one line per field, no markup and
    /// no line a spreadsheet would read as a formula.
    #[test]
    fn any_text_renders_inert(description in "\\PC{0,200}", cause in "[=+@<>&\\-\\n\\r\\t a-z\\u{202e}\\u{0}]{1,80}") {
        let mut f = facts();
        f.description = format!("d{description}");
        f.cause = format!("c{cause}");
        let d = prepare(&incident(&[DataClass::Contact], 600), &f, HOUR).unwrap();
        let text = render_text(&d);
        proptest::prop_assert!(!text.contains('<') && !text.contains('>') && !text.contains('\r'));
        let (rlo, nul) = ('\u{202e}', '\u{0}');
        proptest::prop_assert!(!text.contains(rlo) && !text.contains(nul));
        let field_lines = text.lines().filter(|l| l.starts_with("  ") && !l.starts_with("   ")).count();
        proptest::prop_assert_eq!(field_lines, FieldKey::ALL.len());
        for line in text.lines().filter(|l| l.starts_with("      ")) {
            let content = line.trim_start_matches(' ');
            proptest::prop_assert!(!content.starts_with(['=', '+', '@']), "{}", line);
            proptest::prop_assert!(!content.starts_with('-') || content.starts_with("- ") || content == "-", "{}", line);
        }
    }
}
