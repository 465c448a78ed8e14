use std::collections::BTreeSet;

use palisade_core::time::ManualClock;

use super::*;
use DataClass::*;

/// 2026-03-01T15:50:00Z = 23:50 on 1 March in Singapore.
const DISCOVERED: Timestamp = Timestamp(1_772_380_200_000);
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

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

fn run(incident: &Incident) -> Assessment {
    assess(incident, &ManualClock::new(DISCOVERED), &BreachPolicy::default())
}

const PRESCRIBED: [DataClass; 16] = [
    Remuneration,
    SalesIncome,
    PaymentCardNumber,
    BankAccountNumber,
    FinancialStanding,
    Insurance,
    PrivateSigningKey,
    ChildProtection,
    VulnerableAdultProtection,
    SexualOffenceVictim,
    HealthCondition,
    ReproductiveTreatment,
    OrganDonation,
    Suicide,
    Abuse,
    Adoption,
];

#[test]
fn the_prescribed_list_is_exactly_the_schedule_classes() {
    let from_all: Vec<DataClass> = DataClass::ALL.into_iter().filter(|c| c.is_prescribed()).collect();
    assert_eq!(from_all, PRESCRIBED.to_vec());
}

/// reg 3(1)(a): each identity class with each prescribed class is notifiable for one person, with individuals
/// told; either half alone is not.
#[test]
fn each_identity_with_each_prescribed_class_is_significant_harm() {
    for identity in [FullNameOrAlias, IdentificationNumber] {
        for prescribed in PRESCRIBED {
            let a = run(&incident(&[identity, prescribed, Contact], 1));
            assert_eq!(a.verdict, Verdict::Notifiable, "{identity:?} + {prescribed:?}");
            assert_eq!(a.notify_individuals, IndividualsNotice::Required);
            assert_eq!(
                a.reasons,
                vec![Reason::IdentityWithPrescribedData { identity: vec![identity], prescribed: vec![prescribed] }]
            );
            let alone = run(&incident(&[prescribed], 1));
            assert_eq!(alone.verdict, Verdict::NotDeemedNotifiable, "{prescribed:?} alone");
        }
    }
}

/// Table: classes, affected, reach → verdict, individuals.
#[test]
fn table_of_combinations_scale_and_reach() {
    use IndividualsNotice::{NotRequired, Required};
    use Verdict::{NotDeemedNotifiable, NotNotifiable, Notifiable};
    let within = Reach::WithinOrganisation;
    let beyond = Reach::BeyondOrganisation;
    #[rustfmt::skip]
    let table: &[(&[DataClass], u64, Reach, Verdict, IndividualsNotice)] = &[
        // Identity alone, or with ordinary data: not deemed.
        (&[FullNameOrAlias], 1, beyond, NotDeemedNotifiable, NotRequired),
        (&[FullNameOrAlias, Contact, Address, DateOfBirth, PurchaseHistory], 499, beyond, NotDeemedNotifiable, NotRequired),
        (&[IdentificationNumber, FullNameOrAlias], 10, beyond, NotDeemedNotifiable, NotRequired),
        // reg 3(1)(b): account identifier with credential; either alone is not.
        (&[AccountIdentifier, AccountCredential], 1, beyond, Notifiable, Required),
        (&[AccountIdentifier, Contact], 1, beyond, NotDeemedNotifiable, NotRequired),
        (&[AccountCredential], 1, beyond, NotDeemedNotifiable, NotRequired),
        // A credential with a name but no account identifier is not 3(1)(b) (and credentials are not Part 1).
        (&[FullNameOrAlias, AccountCredential], 1, beyond, NotDeemedNotifiable, NotRequired),
        // reg 4: 499 is not significant scale, 500 is; scale alone does not require telling individuals.
        (&[Contact], 499, beyond, NotDeemedNotifiable, NotRequired),
        (&[Contact], 500, beyond, Notifiable, NotRequired),
        (&[Contact], 501, beyond, Notifiable, NotRequired),
        (&[FullNameOrAlias, PaymentCardNumber], 500, beyond, Notifiable, Required),
        // s 26B(4): within the organisation only is never notifiable, whatever the data or the count.
        (&[FullNameOrAlias, HealthCondition], 1, within, NotNotifiable, NotRequired),
        (&[AccountIdentifier, AccountCredential], 100_000, within, NotNotifiable, NotRequired),
        (&[Contact], 500, within, NotNotifiable, NotRequired),
        // Nothing at all, nobody affected.
        (&[], 0, beyond, NotDeemedNotifiable, NotRequired),
    ];
    for (classes, affected, reach, verdict, individuals) in table {
        let mut i = incident(classes, *affected);
        i.reach = *reach;
        let a = run(&i);
        assert_eq!((a.verdict, a.notify_individuals), (*verdict, *individuals), "{classes:?} {affected} {reach:?}");
        assert!(!a.reasons.is_empty(), "every outcome has a reason");
    }
}

#[test]
fn reasons_name_every_rule_that_applied() {
    let a = run(&incident(
        &[FullNameOrAlias, IdentificationNumber, BankAccountNumber, AccountIdentifier, AccountCredential],
        750,
    ));
    assert_eq!(
        a.reasons,
        vec![
            Reason::IdentityWithPrescribedData {
                identity: vec![FullNameOrAlias, IdentificationNumber],
                prescribed: vec![BankAccountNumber],
            },
            Reason::AccountAccessData,
            Reason::SignificantScale { affected: 750 },
        ]
    );
    let mut within = incident(&[FullNameOrAlias, BankAccountNumber], 750);
    within.reach = Reach::WithinOrganisation;
    assert_eq!(run(&within).reasons, vec![Reason::WithinOrganisationOnly]);
}

#[test]
fn classes_excluded_by_part_2_do_not_count_and_are_recorded() {
    let mut i = incident(&[FullNameOrAlias, SalesIncome], 3);
    i.excluded = [SalesIncome].into_iter().collect();
    let a = run(&i);
    assert_eq!(a.verdict, Verdict::NotDeemedNotifiable);
    assert_eq!(a.reasons[0], Reason::ExcludedBySchedulePart2 { classes: vec![SalesIncome] });
    // An exclusion of a class that is not involved changes nothing and is not reported.
    let mut j = incident(&[FullNameOrAlias, SalesIncome], 3);
    j.excluded = [HealthCondition].into_iter().collect();
    assert_eq!(run(&j).verdict, Verdict::Notifiable);
    assert!(!run(&j).reasons.iter().any(|r| matches!(r, Reason::ExcludedBySchedulePart2 { .. })));
}

/// The PDPC notice is due by the end of the third Singapore calendar day after the day of assessment — not 72
/// hours from it.
#[test]
fn pdpc_deadline_counts_singapore_calendar_days_from_the_assessment() {
    let clock = ManualClock::new(DISCOVERED);
    clock.set(Timestamp(DISCOVERED.0 + 2 * DAY)); // assessed 23:50 on 3 March, SGT
    let a = assess(&incident(&[Contact], 600), &clock, &BreachPolicy::default());
    let pdpc = a.deadlines.pdpc.unwrap();
    assert_eq!(pdpc.date, jiff::civil::date(2026, 3, 6));
    // End of 6 March SGT = 15:59:59.999Z on 6 March: 72 h 10 min after the assessment, not 72 h.
    assert_eq!(pdpc.at, Timestamp(DISCOVERED.0 + 5 * DAY + 10 * 60_000 - 1));
    assert!(!pdpc.missed_at(pdpc.at) && pdpc.missed_at(Timestamp(pdpc.at.0 + 1)));
    // An assessment just after midnight SGT moves the deadline a day.
    clock.set(Timestamp(DISCOVERED.0 + 2 * DAY + 20 * 60_000)); // 00:10 on 4 March SGT
    let b = assess(&incident(&[Contact], 600), &clock, &BreachPolicy::default());
    assert_eq!(b.deadlines.pdpc.unwrap().date, jiff::civil::date(2026, 3, 7));
    // Not notifiable: no PDPC deadline.
    assert_eq!(run(&incident(&[Contact], 10)).deadlines.pdpc, None);
}

#[test]
fn assessment_deadline_and_lateness() {
    let a = run(&incident(&[Contact], 10));
    assert_eq!(a.deadlines.assessment.date, jiff::civil::date(2026, 3, 31));
    assert!(!a.assessed_late);
    let clock = ManualClock::new(Timestamp(DISCOVERED.0 + 31 * DAY));
    let late = assess(&incident(&[Contact], 600), &clock, &BreachPolicy::default());
    assert!(late.assessed_late);
    // The 3 days run from the (late) assessment, not from discovery.
    assert_eq!(late.deadlines.pdpc.unwrap().date, jiff::civil::date(2026, 4, 4));
}

#[test]
fn an_intermediary_must_tell_the_organisation_within_the_policy_minutes_whatever_the_verdict() {
    for (classes, affected) in [(&[Contact][..], 3u64), (&[FullNameOrAlias, PaymentCardNumber][..], 3)] {
        let mut i = incident(classes, affected);
        i.role = Role::DataIntermediary;
        let a = run(&i);
        assert_eq!(a.deadlines.organisation, Some(Timestamp(DISCOVERED.0 + 15 * 60_000)));
    }
    let policy = BreachPolicy { intermediary_notice_within: Duration::from_secs(300) };
    let mut i = incident(&[Contact], 3);
    i.role = Role::DataIntermediary;
    let a = assess(&i, &ManualClock::new(DISCOVERED), &policy);
    assert_eq!(a.deadlines.organisation, Some(Timestamp(DISCOVERED.0 + 300_000)));
    assert_eq!(run(&incident(&[Contact], 3)).deadlines.organisation, None, "organisations have no such duty");
}
