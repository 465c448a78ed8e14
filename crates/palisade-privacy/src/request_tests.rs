use std::time::Duration;

use palisade_core::time::ManualClock;

use super::*;

/// 2026-03-01T04:00:00Z = noon on 1 March in Singapore.
const RECEIVED: Timestamp = Timestamp(1_772_337_600_000);
const DAY: Duration = Duration::from_secs(24 * 3600);

fn days(n: u32) -> Duration {
    DAY * n
}

/// The end-to-end case: a request made on day 0 shows overdue on day 31, after the reminders of days 7,
/// 21 and 28 went out once each.
#[test]
fn day_0_to_day_31_reminds_on_7_21_28_and_shows_overdue_on_31() {
    let clock = ManualClock::new(RECEIVED);
    let mut request = RequestClock::receive(RequestKind::Access, &clock);
    assert_eq!(request.status(&clock), Status::Open { day: 0, days_left: 31 });
    let mut log = Vec::new();
    for day in 0..=35 {
        for event in request.tick(&clock) {
            log.push((day, event));
        }
        let status = request.status(&clock);
        if day <= 30 {
            assert_eq!(status, Status::Open { day, days_left: 31 - day }, "day {day}");
        } else {
            assert_eq!(status, Status::Overdue { day, days_late: day - 30 }, "day {day}");
        }
        clock.advance(DAY);
    }
    assert_eq!(
        log,
        vec![
            (7, Event::Remind { reminder: Reminder::Day7 }),
            (21, Event::Remind { reminder: Reminder::Day21 }),
            (28, Event::Remind { reminder: Reminder::Day28 }),
            (31, Event::Overdue { day: 31 }),
        ]
    );
}

#[test]
fn day_30_ends_at_midnight_singapore_time() {
    let clock = ManualClock::new(RECEIVED);
    let request = RequestClock::receive(RequestKind::Correction, &clock);
    assert_eq!(request.due().date, jiff::civil::date(2026, 3, 31));
    // 23:59:59.999 on 31 March SGT is still in time; a millisecond later it is overdue.
    clock.set(request.due().at);
    assert_eq!(request.status(&clock), Status::Open { day: 30, days_left: 1 });
    clock.set(Timestamp(request.due().at.0 + 1));
    assert_eq!(request.status(&clock), Status::Overdue { day: 31, days_late: 1 });
}

#[test]
fn a_job_that_wakes_late_sends_only_the_latest_reminder_and_none_once_overdue() {
    let clock = ManualClock::new(RECEIVED);
    let mut request = RequestClock::receive(RequestKind::Access, &clock);
    clock.advance(days(22));
    assert_eq!(request.tick(&clock), vec![Event::Remind { reminder: Reminder::Day21 }]);
    assert_eq!(request.tick(&clock), vec![], "nothing twice");
    let mut late = RequestClock::receive(RequestKind::Access, &ManualClock::new(RECEIVED));
    assert_eq!(late.tick(&clock), vec![Event::Remind { reminder: Reminder::Day21 }]);
    clock.advance(days(20));
    assert_eq!(late.tick(&clock), vec![Event::Overdue { day: 42 }]);
    assert_eq!(late.tick(&clock), vec![]);
}

#[test]
fn answering_stops_the_clock_and_records_lateness() {
    let clock = ManualClock::new(RECEIVED);
    let mut on_time = RequestClock::receive(RequestKind::Access, &clock);
    clock.advance(days(10));
    on_time.answer(&clock).unwrap();
    clock.advance(days(40));
    assert_eq!(on_time.tick(&clock), vec![]);
    assert_eq!(on_time.status(&clock), Status::Answered { late: false });
    assert_eq!(on_time.answer(&clock), Err(AlreadyClosed));
    assert_eq!(on_time.refuse(&clock), Err(AlreadyClosed));

    let mut late = RequestClock::receive(RequestKind::Access, &ManualClock::new(RECEIVED));
    late.answer(&clock).unwrap();
    assert_eq!(late.status(&clock), Status::Answered { late: true });
}

#[test]
fn a_refusal_keeps_the_data_for_30_days() {
    let clock = ManualClock::new(RECEIVED);
    let mut request = RequestClock::receive(RequestKind::Correction, &clock);
    clock.advance(days(5));
    let keep = request.refuse(&clock).unwrap();
    assert_eq!(keep.date, jiff::civil::date(2026, 4, 5));
    clock.set(keep.at);
    assert_eq!(request.status(&clock), Status::Refused { keep_until: keep, may_delete: false });
    clock.set(Timestamp(keep.at.0 + 1));
    assert_eq!(request.status(&clock), Status::Refused { keep_until: keep, may_delete: true });
    assert_eq!(request.tick(&clock), vec![], "a refused request is not overdue");
    assert_eq!(request.answer(&clock), Err(AlreadyClosed));
}
