//! Quiz draw and scoring, including tampered answer sheets.

use palisade_awareness::content::catalogue;
use palisade_awareness::quiz::{MemberId, QuizError, draw, draw_n, review, score};

fn t(s: &str) -> jiff::Timestamp {
    s.parse().unwrap()
}

fn module() -> palisade_awareness::Module {
    catalogue().unwrap().module("phishing").unwrap().clone()
}

/// Answers each question of the paper correctly for the first `right` questions, wrongly after.
fn answers(
    m: &palisade_awareness::Module,
    paper: &palisade_awareness::quiz::Paper,
    right: usize,
) -> Vec<(String, String)> {
    paper
        .questions
        .iter()
        .enumerate()
        .map(|(i, pq)| {
            let q = m.question(&pq.question).unwrap();
            let correct = q.correct_choice().unwrap().to_owned();
            let choice = if i < right { correct } else { q.choices.iter().find(|c| !c.correct).unwrap().id.clone() };
            (pq.question.clone(), choice)
        })
        .collect()
}

#[test]
fn a_draw_is_seeded_distinct_and_shuffled() {
    let m = module();
    let start = t("2026-12-01T00:00:00Z");
    let a = draw(&m, 42, start).unwrap();
    assert_eq!(a, draw(&m, 42, start).unwrap(), "same seed, same paper");
    assert_eq!(a.questions.len(), m.quiz_size);
    let mut ids: Vec<_> = a.questions.iter().map(|q| q.question.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), m.quiz_size, "no repeats");
    let full = draw_n(&m, m.questions.len(), 7, start).unwrap();
    assert_eq!(full.questions.len(), m.questions.len());
    // Over many seeds, papers differ and choice order is shuffled at least sometimes.
    let papers: Vec<_> = (0..50).map(|s| draw(&m, s, start).unwrap()).collect();
    assert!(papers.windows(2).any(|w| w[0].questions != w[1].questions));
    let first_choice_varies =
        papers.iter().map(|p| p.questions[0].choices[0].clone()).collect::<std::collections::BTreeSet<_>>();
    assert!(first_choice_varies.len() > 1);
    assert_eq!(draw_n(&m, 0, 1, start), Err(QuizError::BankTooSmall { wanted: 0, available: m.questions.len() }));
    assert!(draw_n(&m, m.questions.len() + 1, 1, start).is_err());
}

#[test]
fn scoring_table_pass_mark_is_80_percent() {
    let m = module();
    let start = t("2026-12-01T09:00:00Z");
    let end = t("2026-12-01T09:07:30Z");
    let paper = draw(&m, 3, start).unwrap();
    // quiz_size is 5: 5/5 and 4/5 pass, 3/5 fails.
    for (right, percent, passed) in [(5, 100, true), (4, 80, true), (3, 60, false), (0, 0, false)] {
        let c = score(&m, &paper, MemberId("m1".into()), &answers(&m, &paper, right), end).unwrap();
        assert_eq!((c.correct, c.score_percent, c.passed), (u32::try_from(right).unwrap(), percent, passed));
        assert_eq!((c.module.0.as_str(), c.version, c.completed_at), ("phishing", m.version, end));
    }
    // Percentages round down and the pass test is exact: on the full bank of 11, 8/11 (72.7 %) fails and
    // 9/11 (81.8 %) passes.
    let big = draw_n(&m, 11, 9, start).unwrap();
    let nine = score(&m, &big, MemberId("m1".into()), &answers(&m, &big, 9), end).unwrap();
    assert!(nine.passed && nine.score_percent == 81);
    let eight = score(&m, &big, MemberId("m1".into()), &answers(&m, &big, 8), end).unwrap();
    assert!(!eight.passed && eight.score_percent == 72);
}

#[test]
fn tampered_answer_sheets_are_refused_not_scored() {
    let m = module();
    let start = t("2026-12-01T09:00:00Z");
    let end = t("2026-12-01T09:05:00Z");
    let paper = draw(&m, 11, start).unwrap();
    let good = answers(&m, &paper, 5);
    let member = || MemberId("m1".into());

    let mut dup = good.clone();
    dup.push(good[0].clone());
    assert!(matches!(score(&m, &paper, member(), &dup, end), Err(QuizError::Duplicate(_))));

    let missing = good[1..].to_vec();
    assert!(matches!(score(&m, &paper, member(), &missing, end), Err(QuizError::Unanswered(_))));

    let off_paper = m.questions.iter().find(|q| !paper.questions.iter().any(|p| p.question == q.id)).unwrap();
    let mut extra = good.clone();
    extra.push((off_paper.id.clone(), off_paper.correct_choice().unwrap().to_owned()));
    assert!(matches!(score(&m, &paper, member(), &extra, end), Err(QuizError::NotOnPaper(_))));

    let mut foreign = good.clone();
    foreign[0].1 = "z".repeat(10_000);
    let err = score(&m, &paper, member(), &foreign, end).unwrap_err();
    assert!(matches!(err, QuizError::UnknownChoice { .. }));
    assert!(err.to_string().len() < 300, "oversized input is not echoed whole");

    assert_eq!(score(&m, &paper, member(), &good, t("2026-11-30T00:00:00Z")), Err(QuizError::TimeTravel));

    let mut bumped = m.clone();
    bumped.version += 1;
    assert!(matches!(score(&bumped, &paper, member(), &good, end), Err(QuizError::StalePaper { .. })));

    let other = catalogue().unwrap().module("passwords-mfa").unwrap().clone();
    assert!(matches!(score(&other, &paper, member(), &good, end), Err(QuizError::WrongModule(_))));

    // A paper edited to list a question twice cannot count one right answer twice.
    let mut padded = paper.clone();
    padded.questions.push(padded.questions[0].clone());
    assert_eq!(score(&m, &padded, member(), &good, end), Err(QuizError::MalformedPaper));
    let mut empty = paper.clone();
    empty.questions.clear();
    assert_eq!(score(&m, &empty, member(), &[], end), Err(QuizError::MalformedPaper));
}

#[test]
fn the_review_shows_every_choice_with_its_explanation_in_display_order() {
    let m = module();
    let paper = draw(&m, 5, t("2026-12-01T09:00:00Z")).unwrap();
    let given = answers(&m, &paper, 2);
    let r = review(&m, &paper, &given);
    assert_eq!(r.len(), paper.questions.len());
    for (rq, pq) in r.iter().zip(&paper.questions) {
        assert_eq!(rq.choices.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), pq.choices);
        assert_eq!(rq.choices.iter().filter(|c| c.correct).count(), 1);
        assert!(rq.choices.iter().all(|c| !c.why.is_empty()));
    }
    assert_eq!(r[0].given.as_deref(), Some(given[0].1.as_str()));
}
