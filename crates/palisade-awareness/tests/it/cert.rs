//! Certification with an injected clock: table tests over the 12-month validity, the 14-day new-staff grace,
//! reminders at 30/7/1 days, overdue, and minor versus major module changes.

use palisade_awareness::cert::{Member, Reminder, Standing, coverage, expiry_of, standing};
use palisade_awareness::content::{Change, catalogue};
use palisade_awareness::quiz::{Completion, MemberId};
use palisade_awareness::{Module, ModuleId};
use palisade_core::ManualClock;

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn module() -> Module {
    catalogue().unwrap().module("phishing").unwrap().clone()
}

fn pass(member: &str, version: u32, at: &str, passed: bool) -> Completion {
    Completion {
        member: MemberId(member.into()),
        module: ModuleId("phishing".into()),
        version,
        correct: if passed { 5 } else { 2 },
        total: 5,
        score_percent: if passed { 100 } else { 40 },
        passed,
        started_at: t(at),
        completed_at: t(at),
    }
}

fn member(id: &str, joined: &str) -> Member {
    Member { id: MemberId(id.into()), joined_at: t(joined) }
}

/// Reads "now" the way production does: from an injected clock.
fn at(clock: &ManualClock, s: &str) -> jiff::Timestamp {
    clock.set(palisade_core::Timestamp(t(s).as_millisecond()));
    palisade_awareness::now(clock)
}

#[test]
fn standing_table_over_a_year() {
    let m = module();
    let alice = member("alice", "2025-01-01T00:00:00Z");
    let done = [pass("alice", 1, "2026-01-10T08:00:00Z", true)];
    let exp = t("2027-01-10T08:00:00Z");
    let clock = ManualClock::new(palisade_core::Timestamp(0));
    let cases = [
        ("2026-01-10T08:00:00Z", Standing::Certified { expires_at: exp, reminder: None }),
        ("2026-12-11T08:00:00Z", Standing::Certified { expires_at: exp, reminder: Some(Reminder::ThirtyDays) }),
        ("2026-12-11T07:59:59Z", Standing::Certified { expires_at: exp, reminder: None }),
        ("2027-01-03T08:00:00Z", Standing::Certified { expires_at: exp, reminder: Some(Reminder::SevenDays) }),
        ("2027-01-09T08:00:00Z", Standing::Certified { expires_at: exp, reminder: Some(Reminder::OneDay) }),
        ("2027-01-10T07:59:59Z", Standing::Certified { expires_at: exp, reminder: Some(Reminder::OneDay) }),
        ("2027-01-10T08:00:00Z", Standing::Overdue { due_at: exp }),
        ("2028-01-01T00:00:00Z", Standing::Overdue { due_at: exp }),
    ];
    for (now, expect) in cases {
        assert_eq!(standing(&m, &alice, &done, at(&clock, now)), expect, "at {now}");
    }
}

#[test]
fn new_staff_have_14_days_and_failures_do_not_count() {
    let m = module();
    let bob = member("bob", "2026-03-01T09:00:00Z");
    let due = t("2026-03-15T09:00:00Z");
    let failed = [pass("bob", 1, "2026-03-05T10:00:00Z", false)];
    let cases = [
        ("2026-03-01T09:00:00Z", Standing::Due { due_at: due, reminder: Some(Reminder::ThirtyDays) }),
        ("2026-03-08T09:00:00Z", Standing::Due { due_at: due, reminder: Some(Reminder::SevenDays) }),
        ("2026-03-14T09:00:00Z", Standing::Due { due_at: due, reminder: Some(Reminder::OneDay) }),
        ("2026-03-15T09:00:00Z", Standing::Overdue { due_at: due }),
    ];
    for (now, expect) in cases {
        assert_eq!(standing(&m, &bob, &failed, t(now)), expect, "at {now}");
    }
    // Someone else's pass, another module's pass, and a pass dated in the future do not certify Bob.
    let mut other_module = pass("bob", 1, "2026-03-02T00:00:00Z", true);
    other_module.module = ModuleId("pdpa-customer-data".into());
    let noise =
        [pass("carol", 1, "2026-03-02T00:00:00Z", true), other_module, pass("bob", 1, "2026-04-01T00:00:00Z", true)];
    assert_eq!(standing(&m, &bob, &noise, t("2026-03-20T00:00:00Z")), Standing::Overdue { due_at: due });
    let ok = [pass("bob", 1, "2026-03-10T00:00:00Z", true)];
    assert!(matches!(standing(&m, &bob, &ok, t("2026-03-20T00:00:00Z")), Standing::Certified { .. }));
}

fn bumped(major: bool) -> Module {
    let mut m = module();
    m.version = 2;
    m.changes.push(Change { version: 2, date: "2026-06-01".parse().unwrap(), major, summary: "v2".into() });
    m
}

#[test]
fn only_a_major_version_requires_recertification() {
    let dan = member("dan", "2025-01-01T00:00:00Z");
    let v1 = [pass("dan", 1, "2026-02-01T00:00:00Z", true)];
    let now = t("2026-06-10T00:00:00Z");
    let minor = bumped(false);
    assert_eq!(minor.certifies_from(), 1);
    assert!(matches!(standing(&minor, &dan, &v1, now), Standing::Certified { .. }));
    let major = bumped(true);
    assert_eq!(major.certifies_from(), 2);
    let grace = t("2026-07-01T00:00:00Z");
    assert_eq!(standing(&major, &dan, &v1, now), Standing::Due { due_at: grace, reminder: Some(Reminder::ThirtyDays) });
    assert_eq!(standing(&major, &dan, &v1, grace), Standing::Overdue { due_at: grace });
    let v2 = [v1[0].clone(), pass("dan", 2, "2026-06-20T00:00:00Z", true)];
    assert!(matches!(standing(&major, &dan, &v2, grace), Standing::Certified { .. }));
    // An old pass about to expire anyway keeps its own (earlier) date.
    let old = [pass("dan", 1, "2025-06-15T00:00:00Z", true)];
    assert_eq!(
        standing(&major, &dan, &old, now),
        Standing::Due { due_at: t("2026-06-15T00:00:00Z"), reminder: Some(Reminder::SevenDays) }
    );
}

#[test]
fn reminders_are_sent_once_per_stage_and_leap_days_clamp() {
    assert_eq!(Reminder::to_send(Some(Reminder::ThirtyDays), None), Some(Reminder::ThirtyDays));
    assert_eq!(Reminder::to_send(Some(Reminder::ThirtyDays), Some(Reminder::ThirtyDays)), None);
    assert_eq!(Reminder::to_send(Some(Reminder::SevenDays), Some(Reminder::ThirtyDays)), Some(Reminder::SevenDays));
    assert_eq!(Reminder::to_send(Some(Reminder::SevenDays), Some(Reminder::OneDay)), None);
    assert_eq!(Reminder::to_send(None, Some(Reminder::OneDay)), None);
    assert_eq!(expiry_of(t("2028-02-29T12:00:00Z")), t("2029-02-28T12:00:00Z"));
}

#[test]
fn coverage_counts_members_in_good_standing_on_every_module() {
    let m = module();
    let members = [
        member("alice", "2025-01-01T00:00:00Z"),
        member("new", "2026-05-25T00:00:00Z"),
        member("late", "2025-01-01T00:00:00Z"),
    ];
    let done = [pass("alice", 1, "2026-05-01T00:00:00Z", true)];
    assert_eq!(coverage(std::slice::from_ref(&m), &members, &done, t("2026-06-01T00:00:00Z")), (2, 3));
}
