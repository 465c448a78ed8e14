use super::*;

const SCHEMA: &str = include_str!("../../palisade-store/schema.txt");
const REPORT: &str = include_str!("../../../docs/personal-data.md");

fn listing(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {p:?}\n")).collect()
}

#[test]
fn every_column_of_the_live_schema_is_classified_and_nothing_else() {
    let problems = check(SCHEMA, REGISTRY);
    assert!(
        problems.is_empty(),
        "the personal-data registry (crates/palisade-privacy/src/inventory_registry.rs) disagrees with \
         crates/palisade-store/schema.txt; classify each column below:\n{}",
        listing(&problems)
    );
}

#[test]
fn a_new_column_that_nobody_classified_fails() {
    let schema = format!("{SCHEMA}orders.buyer_phone text\nbuyers.nric text\n");
    let problems = check(&schema, REGISTRY);
    assert_eq!(
        problems,
        vec![Problem::Unclassified("buyers.nric".into()), Problem::Unclassified("orders.buyer_phone".into())]
    );
}

#[test]
fn an_entry_for_a_dropped_column_fails() {
    let schema: String =
        SCHEMA.lines().filter(|l| !l.starts_with("sessions.user_agent ")).map(|l| format!("{l}\n")).collect();
    assert_eq!(check(&schema, REGISTRY), vec![Problem::Stale("sessions.user_agent".into())]);
}

#[test]
fn a_personal_looking_column_marked_not_personal_needs_a_reason() {
    let mut registry = REGISTRY.to_vec();
    let at = registry.iter().position(|c| c.key() == "sessions.user_agent").unwrap();
    registry[at].classification = Classification::NotPersonal(None);
    assert_eq!(check(SCHEMA, &registry), vec![Problem::UnexplainedNotPersonal("sessions.user_agent".into())]);
    registry[at].classification = Classification::NotPersonal(Some("  "));
    assert_eq!(
        check(SCHEMA, &registry),
        vec![Problem::Inconsistent("sessions.user_agent".into(), "empty not-personal reason")]
    );
    registry[at].classification = Classification::NotPersonal(Some("a test says so"));
    assert!(check(SCHEMA, &registry).is_empty());
}

#[test]
fn duplicates_exported_secrets_and_empty_reasons_fail() {
    let mut registry = REGISTRY.to_vec();
    let first = registry[0];
    registry.push(first);
    let at = registry.iter().position(|c| c.key() == "accounts.password_hash").unwrap();
    let mut secret = *registry[at].personal().unwrap();
    secret.export = Export::Yes;
    registry[at].classification = Classification::Personal(secret);
    let at = registry.iter().position(|c| c.key() == "orders.buyer_email").unwrap();
    let mut kept = *registry[at].personal().unwrap();
    kept.erase = Erase::Keep("");
    registry[at].classification = Classification::Personal(kept);
    assert_eq!(
        check(SCHEMA, &registry),
        vec![
            Problem::Duplicate(first.key()),
            Problem::Inconsistent("accounts.password_hash".into(), "a credential is never exported"),
            Problem::Inconsistent("orders.buyer_email".into(), "kept without a reason"),
        ]
    );
}

#[test]
fn names_that_look_personal() {
    for name in [
        "email",
        "buyer_email",
        "user_agent",
        "client_ip",
        "last_used_ip",
        "to_addr",
        "note",
        "body",
        "nric",
        "decided_by",
        "account_id",
        "details",
        "passport_no",
    ] {
        assert!(looks_personal(name), "{name}");
    }
    for name in [
        "id",
        "created_at",
        "shipping_minor",
        "zipped_count",
        "password_changed_at",
        "error_at",
        "status",
        "skip",
        "hash",
        "version",
    ] {
        assert!(!looks_personal(name), "{name}");
    }
}

/// The columns issue #21 names are personal, with the handling the issue implies.
#[test]
fn the_columns_the_issue_names_are_personal() {
    let find = |key: &str| *REGISTRY.iter().find(|c| c.key() == key).and_then(Column::personal).unwrap();
    assert_eq!(find("audit_events.ip").class, Class::Identifier);
    assert!(matches!(find("audit_events.ip").erase, Erase::Keep(_)));
    assert_eq!(find("orders.address").class, Class::Address);
    assert_eq!(find("orders.buyer_email").class, Class::Contact);
    assert_eq!(find("orders.card_last4").class, Class::Payment);
    assert_eq!(find("shield_events.findings").class, Class::FreeText);
    assert_eq!(find("outbox.body").class, Class::FreeText);
    assert_eq!(find("outbox.last_error").class, Class::FreeText);
    assert_eq!(find("reviews.body").class, Class::FreeText);
    assert_eq!(find("sessions.user_agent").class, Class::Identifier);
    for c in REGISTRY.iter().filter_map(Column::personal).filter(|p| p.class == Class::Credential) {
        assert_eq!(c.export, Export::No);
    }
}

#[test]
fn the_report_escapes_what_it_quotes() {
    let registry = [
        Column { table: "t", column: "a", classification: Classification::NotPersonal(Some("x | <script>y</script>")) },
        Column {
            table: "t",
            column: "b",
            classification: Classification::Personal(Personal {
                class: Class::FreeText,
                subject: Subject::Buyer,
                export: Export::Yes,
                erase: Erase::Keep("a|b <img src=x onerror=alert(1)>"),
                retention: Retention::Delivery,
            }),
        },
    ];
    let md = markdown(&registry);
    assert!(!md.contains("<script>") && !md.contains("<img"), "{md}");
    assert!(md.contains("x \\| &lt;script&gt;y&lt;/script&gt;"), "{md}");
    assert!(md.contains("| `b` | FreeText | Buyer | yes | keep: a\\|b &lt;img"), "{md}");
    assert!(md.contains("| delivery | unmapped |"), "{md}");
    // Each personal row has exactly the six cells of the header (an unescaped pipe would add one).
    let row = md.lines().find(|l| l.starts_with("| `b`")).unwrap();
    assert_eq!(row.matches(" | ").count(), 6, "{row}");
}

/// `docs/personal-data.md` is the registry as generated; `PALISADE_BLESS=1` rewrites it.
#[test]
fn the_committed_report_is_up_to_date() {
    let fresh = markdown(REGISTRY);
    if fresh != REPORT && std::env::var_os("PALISADE_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/personal-data.md");
        std::fs::write(path, &fresh).unwrap();
        return;
    }
    assert!(
        fresh == REPORT,
        "docs/personal-data.md is out of date: run `PALISADE_BLESS=1 cargo test -p palisade-privacy --lib \
         inventory` and commit the file"
    );
}

#[test]
fn every_personal_column_has_breach_classes_and_nothing_else_does() {
    let problems = check_breach_classes(REGISTRY, BREACH_CLASSES);
    assert!(problems.is_empty(), "BREACH_CLASSES disagrees with the registry:\n{}", listing(&problems));
    let mut stray = BREACH_CLASSES.to_vec();
    stray.retain(|(key, _)| *key != "orders.address");
    stray.push(("orders.total_minor", &[]));
    stray.push(("accounts.email", &[]));
    assert_eq!(
        check_breach_classes(REGISTRY, &stray),
        vec![
            Problem::NoBreachClasses("orders.address".into()),
            Problem::StrayBreachClasses("accounts.email".into()),
            Problem::StrayBreachClasses("orders.total_minor".into()),
        ]
    );
}

#[test]
fn exposed_columns_become_the_classifiers_input() {
    use crate::breach::{BreachPolicy, DataClass, Incident, Reach, Reason, Role, Verdict, assess};
    use palisade_core::time::{ManualClock, Timestamp};

    let leaked = ["orders.address", "orders.buyer_email", "orders.total_minor", "orders.card_last4"];
    let classes = breach_classes(leaked).unwrap();
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        vec![DataClass::FullNameOrAlias, DataClass::Contact, DataClass::Address]
    );
    // Sign-in emails with password hashes: account identifier with access data (reg 3(1)(b)).
    let classes = breach_classes(["accounts.email", "accounts.password_hash", "accounts.created_at"]).unwrap();
    let incident = Incident {
        classes,
        excluded: std::collections::BTreeSet::new(),
        affected: 3,
        reach: Reach::BeyondOrganisation,
        role: Role::Organisation,
        discovered_at: Timestamp(0),
    };
    let outcome = assess(&incident, &ManualClock::new(Timestamp(0)), &BreachPolicy::default());
    assert_eq!(outcome.verdict, Verdict::Notifiable);
    assert!(outcome.reasons.contains(&Reason::AccountAccessData));
    // A column nobody classified fails closed.
    assert_eq!(breach_classes(["orders.secret_notes"]), Err(UnknownColumn("orders.secret_notes".into())));
}
