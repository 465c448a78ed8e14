//! Quizzes: a seeded draw from a module's bank, and scoring against the module itself.
//!
//! The paper handed to the learner lists question and choice ids only; the correct answers stay in the module,
//! so a tampered paper or answer sheet can change nothing but its own validity. Single use of a paper (no
//! replaying an old answer sheet) is the caller's job: it stores the paper server-side and deletes it on submit.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::{Module, ModuleId, PASS_MARK_PERCENT};
use crate::rng::Rng;

/// The member a record belongs to: an opaque, store-scoped id (never an email address, so exports carry no more
/// personal data than they need).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MemberId(pub String);

/// Why a draw or an answer sheet was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QuizError {
    #[error("the quiz asks for {wanted} questions but the bank holds {available}")]
    BankTooSmall { wanted: usize, available: usize },
    #[error("this paper was drawn from version {paper} of the module, which is now version {current}")]
    StalePaper { paper: u32, current: u32 },
    #[error("this paper belongs to module `{0}`")]
    WrongModule(ModuleId),
    #[error("question `{0}` is not on this paper")]
    NotOnPaper(String),
    #[error("question `{0}` was answered more than once")]
    Duplicate(String),
    #[error("question `{0}` was not answered")]
    Unanswered(String),
    #[error("`{choice}` is not a choice of question `{question}`")]
    UnknownChoice { question: String, choice: String },
    #[error("the answers were submitted before the quiz started")]
    TimeTravel,
    #[error("this paper is malformed (empty or a question listed twice)")]
    MalformedPaper,
}

/// A question as shown: its id, prompt and choice ids in the shuffled display order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperQuestion {
    pub question: String,
    pub choices: Vec<String>,
}

/// One drawn quiz.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paper {
    pub module: ModuleId,
    pub version: u32,
    pub started_at: jiff::Timestamp,
    pub questions: Vec<PaperQuestion>,
}

/// Draws `module.quiz_size` distinct questions, each with its choices shuffled; the same seed gives the same
/// paper (so a paper can be re-rendered from its seed, and tests are exact).
pub fn draw(module: &Module, seed: u64, started_at: jiff::Timestamp) -> Result<Paper, QuizError> {
    draw_n(module, module.quiz_size, seed, started_at)
}

/// As [`draw`], with an explicit number of questions.
pub fn draw_n(module: &Module, n: usize, seed: u64, started_at: jiff::Timestamp) -> Result<Paper, QuizError> {
    if n == 0 || n > module.questions.len() {
        return Err(QuizError::BankTooSmall { wanted: n, available: module.questions.len() });
    }
    let mut rng = Rng::new(seed);
    let mut order: Vec<usize> = (0..module.questions.len()).collect();
    rng.shuffle(&mut order);
    let questions = order
        .iter()
        .take(n)
        .filter_map(|&i| module.questions.get(i))
        .map(|q| {
            let mut choices: Vec<String> = q.choices.iter().map(|c| c.id.clone()).collect();
            rng.shuffle(&mut choices);
            PaperQuestion { question: q.id.clone(), choices }
        })
        .collect();
    Ok(Paper { module: module.id.clone(), version: module.version, started_at, questions })
}

/// The result of one attempt. Only a passed completion certifies; failed ones are kept for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion {
    pub member: MemberId,
    pub module: ModuleId,
    pub version: u32,
    pub correct: u32,
    pub total: u32,
    /// Whole percent, rounded down (so 79.9 % never rounds up to a pass).
    pub score_percent: u32,
    pub passed: bool,
    pub started_at: jiff::Timestamp,
    pub completed_at: jiff::Timestamp,
}

/// Scores an answer sheet (`question id → choice id`) for `paper` against `module`. Every question on the paper
/// must be answered exactly once with one of its own choices; anything else is refused rather than scored.
pub fn score(
    module: &Module,
    paper: &Paper,
    member: MemberId,
    answers: &[(String, String)],
    submitted_at: jiff::Timestamp,
) -> Result<Completion, QuizError> {
    if paper.module != module.id {
        return Err(QuizError::WrongModule(paper.module.clone()));
    }
    if paper.version != module.version {
        return Err(QuizError::StalePaper { paper: paper.version, current: module.version });
    }
    if submitted_at < paper.started_at {
        return Err(QuizError::TimeTravel);
    }
    let distinct: std::collections::BTreeSet<&str> = paper.questions.iter().map(|q| q.question.as_str()).collect();
    if paper.questions.is_empty() || distinct.len() != paper.questions.len() {
        return Err(QuizError::MalformedPaper);
    }
    let sheet = answer_sheet(paper, answers)?;
    let mut correct = 0u32;
    for pq in &paper.questions {
        let q = module.question(&pq.question).ok_or_else(|| QuizError::NotOnPaper(pq.question.clone()))?;
        let given = sheet.get(pq.question.as_str()).ok_or_else(|| QuizError::Unanswered(pq.question.clone()))?;
        if q.correct_choice() == Some(*given) {
            correct += 1;
        }
    }
    let total = u32::try_from(paper.questions.len()).unwrap_or(u32::MAX);
    let score_percent = correct.saturating_mul(100).checked_div(total).unwrap_or(0);
    Ok(Completion {
        member,
        module: module.id.clone(),
        version: module.version,
        correct,
        total,
        score_percent,
        passed: total > 0 && correct.saturating_mul(100) >= PASS_MARK_PERCENT.saturating_mul(total),
        started_at: paper.started_at,
        completed_at: submitted_at,
    })
}

/// The answers as a map, refusing questions not on the paper, duplicates and foreign choice ids.
fn answer_sheet<'a>(paper: &Paper, answers: &'a [(String, String)]) -> Result<BTreeMap<&'a str, &'a str>, QuizError> {
    let mut sheet = BTreeMap::new();
    for (question, choice) in answers {
        let pq = paper
            .questions
            .iter()
            .find(|p| &p.question == question)
            .ok_or_else(|| QuizError::NotOnPaper(truncate(question)))?;
        if !pq.choices.iter().any(|c| c == choice) {
            return Err(QuizError::UnknownChoice { question: question.clone(), choice: truncate(choice) });
        }
        if sheet.insert(question.as_str(), choice.as_str()).is_some() {
            return Err(QuizError::Duplicate(question.clone()));
        }
    }
    Ok(sheet)
}

/// Echoed input is cut short so an oversized id cannot blow up an error message or a log line.
fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// One question reviewed after submission: every choice with its explanation, the correct one and the one
/// given marked, so a wrong answer still teaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub question: String,
    pub prompt: String,
    /// In the paper's display order.
    pub choices: Vec<ReviewChoice>,
    pub given: Option<String>,
}

/// A choice as shown in a [`Review`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewChoice {
    pub id: String,
    pub text: String,
    pub correct: bool,
    pub why: String,
}

/// The review of a paper against the module, in paper order (questions or choices no longer in the module are
/// left out rather than invented).
#[must_use]
pub fn review(module: &Module, paper: &Paper, answers: &[(String, String)]) -> Vec<Review> {
    paper
        .questions
        .iter()
        .filter_map(|pq| {
            let q = module.question(&pq.question)?;
            let choices = pq
                .choices
                .iter()
                .filter_map(|id| q.choices.iter().find(|c| &c.id == id))
                .map(|c| ReviewChoice {
                    id: c.id.clone(),
                    text: c.text.clone(),
                    correct: c.correct,
                    why: c.why.clone(),
                })
                .collect();
            let given = answers.iter().find(|(qid, _)| qid == &pq.question).map(|(_, c)| truncate(c));
            Some(Review { question: q.id.clone(), prompt: q.prompt.clone(), choices, given })
        })
        .collect()
}
