//! The built-in training modules and the merchant security guidelines, compiled in from `modules/*.toml` and
//! validated when loaded. Content is data, not code, so that a reviewer (or a translator) can edit a lesson
//! without touching Rust, and so that a malformed edit fails a test instead of reaching a quiz.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The module files, in the order the product lists them.
const MODULE_SOURCES: [(&str, &str); 7] = [
    ("phishing.toml", include_str!("../modules/phishing.toml")),
    ("passwords-mfa.toml", include_str!("../modules/passwords-mfa.toml")),
    ("pdpa-customer-data.toml", include_str!("../modules/pdpa-customer-data.toml")),
    ("seller-scams.toml", include_str!("../modules/seller-scams.toml")),
    ("account-takeover.toml", include_str!("../modules/account-takeover.toml")),
    ("api-tokens-extensions.toml", include_str!("../modules/api-tokens-extensions.toml")),
    ("incident-reporting.toml", include_str!("../modules/incident-reporting.toml")),
];

const GUIDELINES_SOURCE: &str = include_str!("../modules/guidelines.toml");

/// The pass mark, in percent: a completion counts only at or above it.
pub const PASS_MARK_PERCENT: u32 = 80;

/// Why content failed to load. Every variant names the file so the author can find the mistake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContentError {
    #[error("{file}: not valid TOML for a module: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
}

/// A module's stable id (`phishing`, `pdpa-customer-data`), used in records and exports.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ModuleId(pub String);

impl std::fmt::Display for ModuleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a module's change log. `major` marks a change of substance (new threats, changed advice) that
/// makes earlier completions stale; wording fixes are minor and keep everyone certified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub version: u32,
    /// Publication date (ISO, `YYYY-MM-DD`); a major change gives certified staff 30 days from it.
    pub date: jiff::civil::Date,
    pub major: bool,
    pub summary: String,
}

/// One answer option. `why` is shown after the quiz, for every option, so a wrong answer still teaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Choice {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub correct: bool,
    pub why: String,
}

/// A single-choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub id: String,
    pub prompt: String,
    pub choices: Vec<Choice>,
}

impl Question {
    /// The id of the one correct choice (validated at load time).
    #[must_use]
    pub fn correct_choice(&self) -> Option<&str> {
        self.choices.iter().find(|c| c.correct).map(|c| c.id.as_str())
    }
}

/// A training module: a lesson (Markdown) and the bank its quizzes are drawn from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    pub id: ModuleId,
    pub title: String,
    pub version: u32,
    /// Questions per quiz.
    pub quiz_size: usize,
    /// Minutes a learner should set aside (shown in the product).
    pub minutes: u32,
    pub lesson: String,
    pub changes: Vec<Change>,
    pub questions: Vec<Question>,
}

impl Module {
    /// The oldest version whose completion still certifies: the latest version marked `major` (1 if none).
    #[must_use]
    pub fn certifies_from(&self) -> u32 {
        self.last_major().map_or(1, |c| c.version)
    }

    /// The latest change marked `major`, if any.
    #[must_use]
    pub fn last_major(&self) -> Option<&Change> {
        self.changes.iter().filter(|c| c.major).max_by_key(|c| c.version)
    }

    /// A question of the bank by id.
    #[must_use]
    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }
}

/// One control of the merchant security guidelines: what it means and how to meet it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guideline {
    pub id: String,
    pub title: String,
    pub means: String,
    pub how: Vec<String>,
}

/// The published guidelines document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guidelines {
    pub version: u32,
    pub intro: String,
    pub controls: Vec<Guideline>,
}

impl Guidelines {
    /// The guidelines as one Markdown document, for the product's published page (the web layer renders and
    /// escapes it like any other Markdown).
    #[must_use]
    pub fn to_markdown(&self) -> String {
        let mut out =
            format!("# Security guidelines for merchants (version {})\n\n{}\n", self.version, self.intro.trim());
        for c in &self.controls {
            out.push_str(&format!(
                "\n## {}\n\n**What it means.** {}\n\n**How to meet it.**\n\n",
                c.title,
                c.means.trim()
            ));
            for step in &c.how {
                out.push_str(&format!("- {}\n", step.trim()));
            }
        }
        out
    }
}

/// Everything built in, validated.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub modules: Vec<Module>,
    pub guidelines: Guidelines,
}

impl Catalogue {
    /// A module by id.
    #[must_use]
    pub fn module(&self, id: &str) -> Option<&Module> {
        self.modules.iter().find(|m| m.id.0 == id)
    }
}

/// Loads and validates the built-in content. Called once at start-up; the test suite calls it too, so a bad
/// edit never ships.
pub fn catalogue() -> Result<Catalogue, ContentError> {
    let mut modules = Vec::with_capacity(MODULE_SOURCES.len());
    for (file, text) in MODULE_SOURCES {
        modules.push(parse_module(file, text)?);
    }
    let mut ids = BTreeSet::new();
    for m in &modules {
        if !ids.insert(m.id.0.clone()) {
            return Err(invalid("modules", format!("module id `{}` used twice", m.id)));
        }
    }
    let guidelines = parse_guidelines(GUIDELINES_SOURCE)?;
    Ok(Catalogue { modules, guidelines })
}

/// Parses and validates one module file.
pub fn parse_module(file: &str, text: &str) -> Result<Module, ContentError> {
    let module: Module =
        toml::from_str(text).map_err(|e| ContentError::Parse { file: file.to_owned(), message: e.to_string() })?;
    validate_module(&module).map_err(|problem| invalid(file, problem))?;
    Ok(module)
}

fn parse_guidelines(text: &str) -> Result<Guidelines, ContentError> {
    let file = "guidelines.toml";
    let g: Guidelines =
        toml::from_str(text).map_err(|e| ContentError::Parse { file: file.to_owned(), message: e.to_string() })?;
    let mut ids = BTreeSet::new();
    for c in &g.controls {
        if !ids.insert(c.id.as_str()) {
            return Err(invalid(file, format!("control id `{}` used twice", c.id)));
        }
        if c.means.trim().is_empty() || c.how.is_empty() {
            return Err(invalid(file, format!("control `{}` needs `means` and at least one `how`", c.id)));
        }
    }
    if g.controls.is_empty() {
        return Err(invalid(file, "no controls".to_owned()));
    }
    Ok(g)
}

fn invalid(file: &str, problem: String) -> ContentError {
    ContentError::Invalid { file: file.to_owned(), problem }
}

fn is_slug(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The rules a module must keep; the first broken one is returned as a sentence.
fn validate_module(m: &Module) -> Result<(), String> {
    if !is_slug(&m.id.0) {
        return Err(format!("module id `{}` must be lower-case letters, digits and dashes", m.id));
    }
    if m.title.trim().is_empty() || m.lesson.trim().is_empty() {
        return Err("title and lesson must not be empty".to_owned());
    }
    if m.quiz_size == 0 || m.questions.len() < m.quiz_size {
        return Err(format!("bank of {} questions is smaller than the quiz size {}", m.questions.len(), m.quiz_size));
    }
    validate_changes(m)?;
    let mut qids = BTreeSet::new();
    for q in &m.questions {
        if !is_slug(&q.id) || !qids.insert(q.id.as_str()) {
            return Err(format!("question id `{}` is not a unique slug", q.id));
        }
        validate_question(q)?;
    }
    Ok(())
}

fn validate_changes(m: &Module) -> Result<(), String> {
    let versions: Vec<u32> = m.changes.iter().map(|c| c.version).collect();
    let ascending = versions.windows(2).all(|w| matches!(w, [a, b] if a < b));
    if versions.first() != Some(&1) || versions.last() != Some(&m.version) || !ascending {
        return Err(format!("changes must run 1 ..= {} in ascending order, one entry per version", m.version));
    }
    if !m.changes.first().is_some_and(|c| c.major) {
        return Err("version 1 is by definition major".to_owned());
    }
    Ok(())
}

fn validate_question(q: &Question) -> Result<(), String> {
    if q.prompt.trim().is_empty() {
        return Err(format!("question `{}` has no prompt", q.id));
    }
    if !(2..=6).contains(&q.choices.len()) {
        return Err(format!("question `{}` needs 2 to 6 choices", q.id));
    }
    let correct = q.choices.iter().filter(|c| c.correct).count();
    if correct != 1 {
        return Err(format!("question `{}` has {correct} correct choices, not exactly one", q.id));
    }
    let mut cids = BTreeSet::new();
    for c in &q.choices {
        if !is_slug(&c.id) || !cids.insert(c.id.as_str()) {
            return Err(format!("question `{}`: choice id `{}` is not a unique slug", q.id, c.id));
        }
        if c.text.trim().is_empty() || c.why.trim().is_empty() {
            return Err(format!("question `{}`: choice `{}` needs text and an explanation", q.id, c.id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_module_and_the_guidelines_load() {
        let cat = catalogue().unwrap();
        assert_eq!(cat.modules.len(), 7);
        for m in &cat.modules {
            assert!(m.questions.len() >= 10, "{} has only {} questions", m.id, m.questions.len());
            assert!(m.questions.len() >= m.quiz_size);
            for q in &m.questions {
                assert!(q.correct_choice().is_some());
            }
        }
        assert!(cat.guidelines.controls.len() >= 8);
        let md = cat.guidelines.to_markdown();
        assert!(md.contains("## Two-step sign-in for every staff account") && md.contains("**How to meet it.**"));
    }

    const GOOD: &str = r#"
id = "t"
title = "T"
version = 2
quiz_size = 1
minutes = 5
lesson = "L"
[[changes]]
version = 1
date = "2026-01-01"
major = true
summary = "first"
[[changes]]
version = 2
date = "2026-06-01"
major = false
summary = "typo"
[[questions]]
id = "q1"
prompt = "P"
choices = [
  { id = "a", text = "A", correct = true, why = "yes" },
  { id = "b", text = "B", why = "no" },
]
"#;

    #[test]
    fn a_good_module_loads_and_minor_changes_do_not_move_certification() {
        let m = parse_module("t.toml", GOOD).unwrap();
        assert_eq!(m.certifies_from(), 1);
    }

    #[test]
    fn broken_modules_are_rejected_with_the_reason() {
        let cases = [
            (GOOD.replace("correct = true, ", ""), "0 correct"),
            (GOOD.replace(r#"text = "B","#, r#"text = "B", correct = true,"#), "2 correct"),
            (GOOD.replace("quiz_size = 1", "quiz_size = 2"), "smaller than the quiz size"),
            (GOOD.replace(r#"id = "b""#, r#"id = "a""#), "not a unique slug"),
            (GOOD.replace("version = 2\nquiz", "version = 3\nquiz"), "changes must run"),
            (GOOD.replace(r#"id = "t""#, r#"id = "<script>""#), "lower-case"),
            (GOOD.replace(r#"why = "no""#, r#"why = " ""#), "explanation"),
        ];
        for (text, expect) in cases {
            let err = parse_module("t.toml", &text).unwrap_err().to_string();
            assert!(err.contains(expect), "{err} should mention {expect}");
        }
        assert!(matches!(parse_module("t.toml", "id = ["), Err(ContentError::Parse { .. })));
        // A misspelt key is an error, not silently ignored.
        let typo = GOOD.replace("minutes = 5", "minutes = 5\nminutse = 5");
        assert!(matches!(parse_module("t.toml", &typo), Err(ContentError::Parse { .. })));
    }
}
