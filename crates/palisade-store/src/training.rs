//! Security-awareness training for store staff: quiz attempts drawn on the server, passed completions stored and
//! appended to the store's audit chain, each member's standing per module, the store's coverage (the matrix
//! control "staff trained within 12 months"), exports and training-due reminders.
//!
//! The content and the rules (pass mark, 12-month validity, 14 days for new staff, major versions, reminder
//! stages) are `palisade-awareness`'s, a pure crate; this module only stores and reads. Everything is scoped by
//! store; a member's own attempts and completions need a [`StaffScope`] whose actor is that member, so nobody
//! can take a quiz for someone else.
//!
//! Integrity: a completion row repeats in its audit event's details. [`verify`] compares the two, so an edited
//! or deleted row is found; an edited or deleted event breaks the chain (`palisade audit verify`).

use std::sync::OnceLock;
use std::time::Duration;

use palisade_awareness::cert::{self, Member, Reminder, Standing};
use palisade_awareness::content::{Catalogue, Module, ModuleId};
use palisade_awareness::quiz::{self, Completion, MemberId, Paper, Review};
use palisade_core::time::Timestamp;
use palisade_core::{AccountId, TrainingAttemptId};
use rand::RngCore;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::AnyConnection;

use crate::audit::{self, NewEvent};
use crate::db::{Db, ExecuteWrite};
use crate::error::{Result, StoreError};
use crate::scope::{Actor, StaffScope, StoreScope};
use crate::tenancy::{self, Role};

/// How long a drawn quiz may be answered.
pub const ATTEMPT_LIFETIME: Duration = Duration::from_secs(2 * 3600);
/// The audit action of a passed quiz.
pub const PASSED_ACTION: &str = "training.passed";

/// The built-in modules and guidelines, loaded and validated once.
pub fn catalogue() -> Result<&'static Catalogue> {
    static CATALOGUE: OnceLock<std::result::Result<Catalogue, String>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| palisade_awareness::content::catalogue().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| StoreError::Corrupt(format!("training content: {e}")))
}

/// A module by id, or `NotFound`.
pub fn module(id: &str) -> Result<&'static Module> {
    catalogue()?.module(id).ok_or(StoreError::NotFound("training module"))
}

fn to_jiff(t: Timestamp) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(t.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn from_jiff(t: jiff::Timestamp) -> Timestamp {
    Timestamp(t.as_millisecond())
}

/// The member acting: training is taken in person, never by a system task.
fn member_of(scope: &StaffScope) -> Result<AccountId> {
    match scope.actor() {
        Actor::Account(a) => Ok(a),
        Actor::System(_) | Actor::Shopper(_) => Err(StoreError::Forbidden("training is taken by a member in person")),
    }
}

/// A drawn quiz, to show: question and choice ids in display order (the texts are the module's).
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub id: TrainingAttemptId,
    pub paper: Paper,
    pub expires_at: Timestamp,
}

/// The member's open quiz on `module_id` (the same one when the page is reloaded, so reloading cannot shop for
/// easier questions), or a newly drawn one.
pub async fn open_attempt(db: &Db, scope: &StaffScope, module_id: &str) -> Result<Attempt> {
    let module = module(module_id)?;
    let account = member_of(scope)?;
    let now = db.now();
    let open: Option<(String, String, i64)> = sqlx::query_as(
        "SELECT id, paper, expires_at FROM training_attempts WHERE store_id = $1 AND account_id = $2 \
         AND module_id = $3 AND module_version = $4 AND submitted_at IS NULL AND expires_at > $5 \
         ORDER BY started_at DESC LIMIT 1",
    )
    .bind(scope.store_key())
    .bind(account.to_string())
    .bind(&module.id.0)
    .bind(i64::from(module.version))
    .bind(now.0)
    .fetch_optional(db.pool())
    .await?;
    if let Some((id, paper, expires_at)) = open
        && let (Ok(id), Ok(paper)) = (id.parse(), serde_json::from_str::<Paper>(&paper))
    {
        return Ok(Attempt { id, paper, expires_at: Timestamp(expires_at) });
    }
    let paper = quiz::draw(module, rand::rng().next_u64(), to_jiff(now))
        .map_err(|e| StoreError::Corrupt(format!("training module {}: {e}", module.id)))?;
    let id = TrainingAttemptId::new();
    let expires_at = now.plus(ATTEMPT_LIFETIME);
    let text = serde_json::to_string(&paper).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO training_attempts (id, store_id, account_id, module_id, module_version, paper, started_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(account.to_string())
    .bind(&module.id.0)
    .bind(i64::from(module.version))
    .bind(text)
    .bind(now.0)
    .bind(expires_at.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Attempt { id, paper, expires_at })
}

/// A scored quiz: the score, the review of every question, and whether it was recorded (passed).
#[derive(Debug, Clone, Serialize)]
pub struct Submitted {
    pub completion: Completion,
    pub review: Vec<Review>,
    pub recorded: bool,
}

/// Scores the member's answers to their attempt, server-side against the paper stored when it was drawn. The
/// attempt is used up whatever the score (no replaying an answer sheet); a pass is stored and audited in the same
/// transaction. `mfa_at` is when the member's session passed its second factor: the caller only calls this for
/// an MFA-verified session, and the time is kept as evidence. A sheet that does not fit the paper (questions not
/// on it, foreign choices, missing answers) is refused as `Invalid` and changes nothing.
pub async fn submit(
    db: &Db,
    scope: &StaffScope,
    module_id: &str,
    attempt: TrainingAttemptId,
    answers: &[(String, String)],
    mfa_at: Timestamp,
) -> Result<Submitted> {
    let module = module(module_id)?;
    let account = member_of(scope)?;
    let now = db.now();
    let mut tx = db.begin_write().await?;
    let row: Option<(String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT module_id, paper, expires_at, submitted_at FROM training_attempts \
         WHERE id = $1 AND store_id = $2 AND account_id = $3",
    )
    .bind(attempt.to_string())
    .bind(scope.store_key())
    .bind(account.to_string())
    .fetch_optional(&mut *tx)
    .await?;
    // An attempt of another member, store or module is not found (ids are not secrets, but they are not keys).
    let Some((_, paper, expires_at, submitted_at)) = row.filter(|r| r.0 == module.id.0) else {
        return Err(StoreError::NotFound("quiz attempt"));
    };
    if submitted_at.is_some() {
        return Err(StoreError::Conflict("this quiz was already submitted; start a new one".into()));
    }
    if expires_at <= now.0 {
        return Err(StoreError::Conflict("this quiz has expired; start a new one".into()));
    }
    let paper: Paper = serde_json::from_str(&paper).map_err(|e| StoreError::Corrupt(format!("quiz paper: {e}")))?;
    let answers = &by_position(&paper, answers)?;
    let completion = quiz::score(module, &paper, MemberId(account.to_string()), answers, to_jiff(now))
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let used = sqlx::query("UPDATE training_attempts SET submitted_at = $1 WHERE id = $2 AND submitted_at IS NULL")
        .bind(now.0)
        .bind(attempt.to_string())
        .execute(&mut *tx)
        .await?;
    if used.rows_affected() != 1 {
        return Err(StoreError::Conflict("this quiz was already submitted; start a new one".into()));
    }
    if completion.passed {
        record(&mut tx, db, scope, attempt, &completion, mfa_at).await?;
    }
    tx.commit().await?;
    let review = quiz::review(module, &paper, answers);
    Ok(Submitted { recorded: completion.passed, completion, review })
}

/// The answers as choice ids. The form names a choice by its place in this paper's shuffled order (1, 2, …), never
/// by the module's own choice id: those ids are fixed in the content, so a page that carried them would let anyone
/// who learnt which id is right (or guessed that the first-written choice usually is) pass without reading.
fn by_position(paper: &Paper, answers: &[(String, String)]) -> Result<Vec<(String, String)>> {
    answers
        .iter()
        .map(|(question, place)| {
            let choice = paper
                .questions
                .iter()
                .find(|q| &q.question == question)
                .and_then(|q| place.parse::<usize>().ok().and_then(|n| n.checked_sub(1)).and_then(|i| q.choices.get(i)))
                .ok_or_else(|| StoreError::Invalid(format!("no choice {place:?} for question {question:?}")))?;
            Ok((question.clone(), choice.clone()))
        })
        .collect()
}

/// What a completion's audit event says about it: every stored field, so the row can be checked against it.
fn details_of(c: &Completion, mfa_at: Timestamp) -> Value {
    json!({
        "member": c.member.0, "module": c.module.0, "version": c.version, "correct": c.correct, "total": c.total,
        "score_percent": c.score_percent, "started_at": c.started_at.as_millisecond(),
        "completed_at": c.completed_at.as_millisecond(), "mfa_at": mfa_at.0,
    })
}

async fn record(
    conn: &mut AnyConnection,
    db: &Db,
    scope: &StaffScope,
    id: TrainingAttemptId,
    c: &Completion,
    mfa_at: Timestamp,
) -> Result<()> {
    let target = format!("training:{id}");
    let event =
        audit::record_store(conn, db, scope, NewEvent::new(PASSED_ACTION, &target).details(details_of(c, mfa_at)))
            .await?;
    sqlx::query(
        "INSERT INTO training_completions (id, store_id, account_id, module_id, module_version, correct, total, \
         score_percent, started_at, completed_at, mfa_at, audit_event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(id.to_string())
    .bind(scope.store_key())
    .bind(&c.member.0)
    .bind(&c.module.0)
    .bind(i64::from(c.version))
    .bind(i64::from(c.correct))
    .bind(i64::from(c.total))
    .bind(i64::from(c.score_percent))
    .bind(c.started_at.as_millisecond())
    .bind(c.completed_at.as_millisecond())
    .bind(mfa_at.0)
    .bind(&event.id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

type CompletionRow = (String, String, String, i64, i64, i64, i64, i64, i64, i64, String);
const COMPLETION_COLUMNS: &str = "id, account_id, module_id, module_version, correct, total, score_percent, \
                                  started_at, completed_at, mfa_at, audit_event_id";

fn completion_of(r: &CompletionRow) -> Completion {
    let n = |v: i64| u32::try_from(v).unwrap_or(0);
    Completion {
        member: MemberId(r.1.clone()),
        module: ModuleId(r.2.clone()),
        version: n(r.3),
        correct: n(r.4),
        total: n(r.5),
        score_percent: n(r.6),
        passed: true,
        started_at: to_jiff(Timestamp(r.7)),
        completed_at: to_jiff(Timestamp(r.8)),
    }
}

async fn completion_rows(db: &Db, scope: &StoreScope) -> Result<Vec<CompletionRow>> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPLETION_COLUMNS} FROM training_completions WHERE store_id = $1 ORDER BY completed_at, id"
    )))
    .bind(scope.store_key())
    .fetch_all(db.pool())
    .await?)
}

/// Every passed quiz of the store, oldest first (what the CSV and xAPI exports carry).
pub async fn completions(db: &Db, scope: &StaffScope) -> Result<Vec<Completion>> {
    Ok(completion_rows(db, scope).await?.iter().map(completion_of).collect())
}

/// One completion that does not match the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub completion: String,
    pub problem: &'static str,
}

/// Compares the store's completion rows with their audit events: a row edited or deleted after it was
/// written, or an event whose row is gone, is reported. (The chain itself is checked by `audit::verify_store`.)
pub async fn verify(db: &Db, scope: &StoreScope) -> Result<Vec<Mismatch>> {
    let events: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, target, details FROM audit_events WHERE chain = $1 AND action = $2")
            .bind(scope.store_key())
            .bind(PASSED_ACTION)
            .fetch_all(db.pool())
            .await?;
    let rows = completion_rows(db, scope).await?;
    let mut out = Vec::new();
    for r in &rows {
        let event = events.iter().find(|e| e.0 == r.10);
        let problem = match event {
            None => Some("its audit event is missing"),
            Some((_, target, details)) => {
                let recorded: Value = serde_json::from_str(details).unwrap_or(Value::Null);
                let same =
                    *target == format!("training:{}", r.0) && recorded == details_of(&completion_of(r), Timestamp(r.9));
                (!same).then_some("the record differs from its audit event")
            }
        };
        if let Some(problem) = problem {
            out.push(Mismatch { completion: r.0.clone(), problem });
        }
    }
    for (_, target, _) in &events {
        let id = target.strip_prefix("training:").unwrap_or(target);
        if !rows.iter().any(|r| r.0 == id) {
            out.push(Mismatch { completion: id.to_owned(), problem: "audited but the record is missing" });
        }
    }
    Ok(out)
}

/// A member's standing on one module, in words a page can show.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleStatus {
    pub module: String,
    pub title: String,
    pub version: u32,
    pub minutes: u32,
    /// `passed`, `not_started`, `overdue` (never passed, past the due date), `retake` (passed an older major
    /// version, still within the grace) or `expired`.
    pub state: &'static str,
    /// True while the member counts as trained on it (a current pass).
    pub current: bool,
    pub passed_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    pub reminder: Option<Reminder>,
}

fn status_of(module: &Module, member: &Member, completions: &[Completion], now: jiff::Timestamp) -> ModuleStatus {
    let passed_at = completions
        .iter()
        .filter(|c| c.member == member.id && c.module == module.id && c.passed && c.completed_at <= now)
        .map(|c| c.completed_at)
        .max();
    let standing = cert::standing(module, member, completions, now);
    let (state, current, expires_at, due_at) = match &standing {
        Standing::Certified { expires_at, .. } => ("passed", true, Some(*expires_at), None),
        Standing::Due { due_at, .. } if passed_at.is_some() => ("retake", false, None, Some(*due_at)),
        Standing::Due { due_at, .. } => ("not_started", false, None, Some(*due_at)),
        Standing::Overdue { due_at } if passed_at.is_some() => ("expired", false, None, Some(*due_at)),
        Standing::Overdue { due_at } => ("overdue", false, None, Some(*due_at)),
    };
    ModuleStatus {
        module: module.id.0.clone(),
        title: module.title.clone(),
        version: module.version,
        minutes: module.minutes,
        state,
        current,
        passed_at: passed_at.map(from_jiff),
        expires_at: expires_at.map(from_jiff),
        due_at: due_at.map(from_jiff),
        reminder: standing.reminder(),
    }
}

/// One active member and where they stand on every module.
#[derive(Debug, Clone, Serialize)]
pub struct RosterRow {
    pub account_id: AccountId,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    pub joined_at: Timestamp,
    pub modules: Vec<ModuleStatus>,
    /// A current pass on every module.
    pub trained: bool,
}

/// Every active (not disabled) member of the store × every module, owners first.
pub async fn roster(db: &Db, scope: &StoreScope) -> Result<Vec<RosterRow>> {
    let cat = catalogue()?;
    let now = to_jiff(db.now());
    let completions: Vec<Completion> = completion_rows(db, scope).await?.iter().map(completion_of).collect();
    let members = tenancy::list_members(db, scope).await?;
    Ok(members
        .into_iter()
        .filter(|m| !m.disabled)
        .map(|m| {
            let member = Member { id: MemberId(m.account_id.to_string()), joined_at: to_jiff(m.joined_at) };
            let modules: Vec<ModuleStatus> =
                cat.modules.iter().map(|module| status_of(module, &member, &completions, now)).collect();
            RosterRow {
                trained: modules.iter().all(|s| s.current),
                account_id: m.account_id,
                email: m.email,
                display_name: m.display_name,
                role: m.role,
                joined_at: m.joined_at,
                modules,
            }
        })
        .collect())
}

/// The acting member's own row of the roster.
pub async fn mine(db: &Db, scope: &StaffScope) -> Result<RosterRow> {
    let me = member_of(scope)?;
    roster(db, scope).await?.into_iter().find(|r| r.account_id == me).ok_or(StoreError::NotFound("member"))
}

/// How many active members hold a current pass on every module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub trained: usize,
    pub active: usize,
    /// Members past a due date on at least one module (the rest of the untrained are within a grace period).
    pub overdue: usize,
}

/// The store's [`Coverage`] now.
pub async fn coverage(db: &Db, scope: &StoreScope) -> Result<Coverage> {
    let rows = roster(db, scope).await?;
    Ok(Coverage {
        trained: rows.iter().filter(|r| r.trained).count(),
        active: rows.len(),
        overdue: rows.iter().filter(|r| r.modules.iter().any(|m| matches!(m.state, "overdue" | "expired"))).count(),
    })
}

/// The job kind that mails training-due reminders (daily).
pub const REMINDER_JOB: &str = "training.reminders";

/// Mails every active member of every store whose certification on a module falls due in 30, 7 or 1 days (the
/// most urgent stage reached), at most once per member, module, due date and stage. Returns the mails queued.
pub async fn send_reminders(db: &Db, base_url: &str) -> Result<usize> {
    let platform = crate::scope::PlatformScope::system("job:training.reminders");
    let mut sent = 0;
    for store in tenancy::list_stores(db, &platform).await? {
        let scope = StoreScope::system(store.id, "job:training.reminders");
        for row in roster(db, &scope).await? {
            let mut due = Vec::new();
            for m in &row.modules {
                let (Some(stage), Some(at)) = (m.reminder, m.expires_at.or(m.due_at)) else { continue };
                if claim_reminder(db, &scope, row.account_id, &m.module, at, stage).await? {
                    due.push(format!("- {} (by {})", m.title, to_jiff(at).strftime("%Y-%m-%d")));
                }
            }
            if due.is_empty() {
                continue;
            }
            let body = format!(
                "Hello {},\n\nSecurity training for {} is due soon:\n\n{}\n\nTake it in the admin: \
                 {}/admin/stores/{}/security/training\n",
                row.display_name,
                store.name,
                due.join("\n"),
                base_url.trim_end_matches('/'),
                store.id
            );
            crate::outbox::enqueue(
                db,
                crate::outbox::NewMail {
                    store_id: Some(store.id.to_string()),
                    to: &row.email,
                    subject: "Security training due",
                    body,
                },
            )
            .await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// Removes quiz attempts past their lifetime, answered or not (a passed one lives on as its completion and audit
/// event; an expired one can no longer be submitted). Platform-wide housekeeping, run by the daily reminders job.
/// Returns how many were removed.
pub async fn prune_attempts(db: &Db, _platform: &crate::scope::PlatformScope) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM training_attempts WHERE expires_at <= $1").bind(db.now().0).execute_write(db).await?;
    Ok(done.rows_affected())
}

/// Marks one reminder as sent; false when it already was.
async fn claim_reminder(
    db: &Db,
    scope: &StoreScope,
    account: AccountId,
    module: &str,
    due_at: Timestamp,
    stage: Reminder,
) -> Result<bool> {
    let stage = match stage {
        Reminder::ThirtyDays => "30d",
        Reminder::SevenDays => "7d",
        Reminder::OneDay => "1d",
    };
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "INSERT INTO training_reminders (store_id, account_id, module_id, due_at, stage, sent_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(scope.store_key())
    .bind(account.to_string())
    .bind(module)
    .bind(due_at.0)
    .bind(stage)
    .bind(db.now().0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

mod controls {
    use palisade_core::matrix::{Area, Control, ControlStatus, Party, Reference, Subject};

    use crate::matrix::{EvalContext, Registry};

    const CE_PEOPLE: Reference =
        Reference { framework: "Cyber Essentials (Singapore)", clause: "People: equip staff with security know-how" };
    const CE_SECURE_CONFIG: Reference =
        Reference { framework: "Cyber Essentials (Singapore)", clause: "Secure configuration" };
    const PCI_AWARENESS: Reference =
        Reference { framework: "PCI DSS 4.0", clause: "12.6 Security awareness education is an ongoing activity" };
    const PCI_AWARENESS_CONTENT: Reference = Reference {
        framework: "PCI DSS 4.0",
        clause: "12.6.3.1 Awareness training covers phishing and social engineering",
    };
    const PCI_POLICY: Reference =
        Reference { framework: "PCI DSS 4.0", clause: "12.1 Information security policy known to all personnel" };
    const PDPA_PROTECT: Reference = Reference { framework: "PDPA", clause: "s24 Protection obligation" };

    /// How old a module's last reviewed version may be before the platform's content counts as stale.
    const CONTENT_REVIEW_MONTHS: i64 = 12;

    pub fn register(reg: &mut Registry) -> crate::error::Result<()> {
        reg.register(
            Control {
                id: "store.staff-trained",
                area: Area::SecurityAwareness,
                party: Party::Merchant,
                subject: Subject::Store,
                title: "Every active staff member passed every training module within the last 12 months",
                why: "Phishing, fake support and payout scams are aimed at the people who run the store; a team that \
                      knows the signs stops them before any control has to.",
                remediation: "Each member opens Security Center → Training and passes the modules shown as due, \
                              signed in with two-step verification; owners follow progress on the team view.",
                references: &[CE_PEOPLE, PCI_AWARENESS, PCI_AWARENESS_CONTENT, PDPA_PROTECT],
            },
            |ctx: EvalContext| async move {
                let Some(scope) = ctx.store.clone() else {
                    return ControlStatus::NotApplicable { reason: "per store".into() };
                };
                match super::coverage(&ctx.db, &scope).await {
                    Ok(c) if c.active > 0 && c.trained == c.active => {
                        ControlStatus::met(format!("all {} active staff hold a current pass on every module", c.active))
                    }
                    Ok(c) => ControlStatus::unmet(format!(
                        "{} of {} active staff lack a current pass on every module ({} past a due date)",
                        c.active - c.trained,
                        c.active,
                        c.overdue
                    )),
                    Err(e) => ControlStatus::Unknown { reason: e.to_string() },
                }
            },
        )?;
        reg.register(
            Control {
                id: "platform.training-modules-current",
                area: Area::SecurityAwareness,
                party: Party::Platform,
                subject: Subject::Platform,
                title: "The built-in training modules load, are valid and were reviewed within the last 12 months",
                why: "Training about last year's scams teaches staff to miss this year's.",
                remediation: "Review each module in crates/palisade-awareness/modules/, add a change entry (major if the \
                              advice changed) and release.",
                references: &[PCI_AWARENESS, PCI_AWARENESS_CONTENT, CE_PEOPLE],
            },
            |ctx: EvalContext| async move { modules_current(ctx.db.now()) },
        )?;
        reg.register(
            Control {
                id: "platform.security-guidelines-published",
                area: Area::SecurityAwareness,
                party: Party::Platform,
                subject: Subject::Platform,
                title: "Security guidelines for merchants are published in the product (what each control means and \
                        how to meet it)",
                why: "Merchants can only meet duties they can read; the guidelines are the platform's side of the deal.",
                remediation: "Fix crates/palisade-awareness/modules/guidelines.toml so it loads; the Security Center \
                              serves it at Security Center → Guidelines.",
                references: &[CE_SECURE_CONFIG, PCI_POLICY, PDPA_PROTECT],
            },
            |_ctx: EvalContext| async move {
                match super::catalogue() {
                    Ok(cat) => ControlStatus::met(format!(
                        "version {}, {} controls explained, shown in every store's Security Center",
                        cat.guidelines.version,
                        cat.guidelines.controls.len()
                    )),
                    Err(e) => ControlStatus::unmet(e.to_string()),
                }
            },
        )?;
        Ok(())
    }

    fn modules_current(now: palisade_core::Timestamp) -> ControlStatus {
        let cat = match super::catalogue() {
            Ok(c) => c,
            Err(e) => return ControlStatus::unmet(e.to_string()),
        };
        let now = super::to_jiff(now).to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let Ok(oldest_ok) = now.checked_sub(jiff::Span::new().months(CONTENT_REVIEW_MONTHS)) else {
            return ControlStatus::Unknown { reason: "date out of range".into() };
        };
        let stale: Vec<&str> = cat
            .modules
            .iter()
            .filter(|m| m.changes.iter().map(|c| c.date).max().is_none_or(|d| d < oldest_ok))
            .map(|m| m.id.0.as_str())
            .collect();
        if stale.is_empty() {
            ControlStatus::met(format!("{} modules, each reviewed in the last 12 months", cat.modules.len()))
        } else {
            ControlStatus::unmet(format!("not reviewed in 12 months: {}", stale.join(", ")))
        }
    }
}

pub use controls::register;
