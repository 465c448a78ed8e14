//! Security-awareness training storage: attempts, completions, the audit trail behind them, and the matrix
//! control "staff trained within 12 months" on an injected clock.

use std::sync::Arc;
use std::time::Duration;

use palisade_core::matrix::ControlStatus;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::StaffScope;
use palisade_store::testing::TestDb;
use palisade_store::training::{self, Attempt};
use palisade_store::{Backend, Db, StoreError, audit, controls, secrets, tenancy};

use crate::support::store;

/// The owner's own staff scope (as the admin's access layer makes it).
async fn owner_scope(db: &Db, slug: &str) -> StaffScope {
    let (s, scope) = store(db, slug).await;
    let owner = tenancy::list_members(db, &scope).await.unwrap().remove(0);
    tenancy::membership(db, owner.account_id, s.id).await.unwrap().unwrap().scope
}

/// How a test answers a quiz.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Right,
    Wrong,
}

/// The right (or a wrong) choice for every question on the paper.
fn sheet(attempt: &Attempt, answer: Answer) -> Vec<(String, String)> {
    let module = training::module(&attempt.paper.module.0).unwrap();
    attempt
        .paper
        .questions
        .iter()
        .map(|pq| {
            let correct = module.question(&pq.question).unwrap().correct_choice().unwrap().to_owned();
            // Answers name a choice by its place on the paper (1, 2, …).
            let place = pq.choices.iter().position(|c| (*c == correct) == (answer == Answer::Right)).unwrap() + 1;
            (pq.question.clone(), place.to_string())
        })
        .collect()
}

async fn pass(db: &Db, scope: &StaffScope, module: &str) -> training::Submitted {
    let attempt = training::open_attempt(db, scope, module).await.unwrap();
    training::submit(db, scope, module, attempt.id, &sheet(&attempt, Answer::Right), db.now()).await.unwrap()
}

async fn drop_guards(db: &Db) {
    match db.backend() {
        Backend::Sqlite => {
            sqlx::query("DROP TRIGGER audit_events_no_update").execute(db.pool()).await.unwrap();
            sqlx::query("DROP TRIGGER audit_events_no_delete").execute(db.pool()).await.unwrap();
        }
        Backend::Postgres => {
            sqlx::query("DROP TRIGGER audit_events_no_update_or_delete ON audit_events")
                .execute(db.pool())
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn a_pass_is_stored_and_audited_a_fail_is_not_and_an_attempt_is_single_use() {
    let t = TestDb::new().await;
    let scope = owner_scope(&t, "alpha").await;
    let done = pass(&t, &scope, "phishing").await;
    assert!(done.recorded && done.completion.passed && done.completion.score_percent == 100);
    let stored = training::completions(&t, &scope).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].module.0, "phishing");
    let events = audit::list_store(&t, &scope, 10).await.unwrap();
    assert!(events.iter().any(|e| e.action == training::PASSED_ACTION));
    assert!(training::verify(&t, &scope).await.unwrap().is_empty());

    let attempt = training::open_attempt(&t, &scope, "seller-scams").await.unwrap();
    let again = training::open_attempt(&t, &scope, "seller-scams").await.unwrap();
    assert_eq!(attempt.id, again.id, "reloading shows the same questions, not a new draw");
    let failed =
        training::submit(&t, &scope, "seller-scams", attempt.id, &sheet(&attempt, Answer::Wrong), t.now()).await;
    let failed = failed.unwrap();
    assert!(!failed.recorded && !failed.completion.passed && failed.completion.correct == 0);
    assert_eq!(training::completions(&t, &scope).await.unwrap().len(), 1, "a fail records nothing");
    // The same (now correct) sheet on the used attempt is refused: no replay.
    let replay =
        training::submit(&t, &scope, "seller-scams", attempt.id, &sheet(&attempt, Answer::Right), t.now()).await;
    assert!(matches!(replay, Err(StoreError::Conflict(_))), "{replay:?}");
    assert_eq!(training::completions(&t, &scope).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_tampered_sheet_or_someone_elses_attempt_is_refused_and_changes_nothing() {
    let t = TestDb::new().await;
    let scope = owner_scope(&t, "alpha").await;
    let other = owner_scope(&t, "bravo").await;
    let attempt = training::open_attempt(&t, &scope, "phishing").await.unwrap();
    let module = training::module("phishing").unwrap();
    // A question from the bank that is not on this paper, answered in place of one that is.
    let easy = module.questions.iter().find(|q| !attempt.paper.questions.iter().any(|p| p.question == q.id)).unwrap();
    let mut swapped = sheet(&attempt, Answer::Right);
    swapped[0] = (easy.id.clone(), easy.correct_choice().unwrap().to_owned());
    let r = training::submit(&t, &scope, "phishing", attempt.id, &swapped, t.now()).await;
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    let mut short = sheet(&attempt, Answer::Right);
    short.pop();
    assert!(matches!(
        training::submit(&t, &scope, "phishing", attempt.id, &short, t.now()).await,
        Err(StoreError::Invalid(_))
    ));
    // Another store's member, or the right member naming another module, finds no such attempt.
    let theirs = training::submit(&t, &other, "phishing", attempt.id, &sheet(&attempt, Answer::Right), t.now()).await;
    assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
    let wrong_module =
        training::submit(&t, &scope, "seller-scams", attempt.id, &sheet(&attempt, Answer::Right), t.now()).await;
    assert!(matches!(wrong_module, Err(StoreError::NotFound(_))));
    assert!(training::completions(&t, &scope).await.unwrap().is_empty());
    assert!(training::completions(&t, &other).await.unwrap().is_empty());
    // A system task cannot take a quiz for anyone.
    let system = StaffScope::system(scope.store_id(), "test");
    assert!(matches!(training::open_attempt(&t, &system, "phishing").await, Err(StoreError::Forbidden(_))));
    // The untouched attempt still works.
    assert!(
        training::submit(&t, &scope, "phishing", attempt.id, &sheet(&attempt, Answer::Right), t.now()).await.is_ok()
    );
}

#[tokio::test]
async fn an_edited_or_deleted_training_record_is_detected() {
    let t = TestDb::new().await;
    let scope = owner_scope(&t, "alpha").await;
    pass(&t, &scope, "phishing").await;
    pass(&t, &scope, "incident-reporting").await;
    assert!(audit::verify_store(&t, &scope).await.unwrap().broken.is_none());

    // The row itself, edited (a better score) or deleted: it no longer matches the chain.
    sqlx::query("UPDATE training_completions SET completed_at = completed_at + 86400000 WHERE module_id = 'phishing'")
        .execute(t.pool())
        .await
        .unwrap();
    let found = training::verify(&t, &scope).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].problem, "the record differs from its audit event");
    sqlx::query("DELETE FROM training_completions WHERE module_id = 'incident-reporting'")
        .execute(t.pool())
        .await
        .unwrap();
    let found = training::verify(&t, &scope).await.unwrap();
    assert!(found.iter().any(|m| m.problem == "audited but the record is missing"), "{found:?}");

    // Its audit event, edited to match: the chain breaks.
    drop_guards(&t).await;
    let events = audit::list_store(&t, &scope, 20).await.unwrap();
    let event = events.iter().find(|e| e.action == training::PASSED_ACTION).unwrap();
    let forged = event.details.replace("\"score_percent\":100", "\"score_percent\":99");
    assert_ne!(forged, event.details);
    sqlx::query("UPDATE audit_events SET details = $1 WHERE id = $2")
        .bind(&forged)
        .bind(&event.id)
        .execute(t.pool())
        .await
        .unwrap();
    let report = audit::verify_store(&t, &scope).await.unwrap();
    assert!(matches!(report.broken.map(|b| b.kind), Some(audit::BreakKind::ContentChanged)));

    // And deleted outright: still broken.
    sqlx::query("DELETE FROM audit_events WHERE id = $1").bind(&event.id).execute(t.pool()).await.unwrap();
    assert!(audit::verify_store(&t, &scope).await.unwrap().broken.is_some());
}

fn registry() -> Registry {
    let mut reg = Registry::default();
    controls::register(&mut reg).unwrap();
    reg
}

fn status(report: &palisade_store::matrix::Report, id: &str) -> ControlStatus {
    report
        .areas
        .iter()
        .flat_map(|a| a.platform.iter().chain(a.merchant.iter()))
        .find(|r| r.control.id == id)
        .map(|r| r.status.clone())
        .unwrap()
}

#[tokio::test]
async fn staff_trained_is_met_only_while_every_active_member_holds_a_current_pass() {
    let (t, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    secrets::load_or_create(&key).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: key });
    let reg = registry();
    let scope = owner_scope(&t, "alpha").await;

    let before = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    let ControlStatus::Unmet { reason, .. } = status(&before, "store.staff-trained") else { panic!("unmet first") };
    assert!(reason.starts_with("1 of 1 active staff"), "{reason}");
    assert!(status(&before, "platform.training-modules-current").is_met());
    assert!(status(&before, "platform.security-guidelines-published").is_met());
    for c in reg.controls().iter().filter(|c| c.area == palisade_core::matrix::Area::SecurityAwareness) {
        assert!(!c.references.is_empty(), "{} names the obligations it serves", c.id);
    }

    let ids: Vec<String> = training::catalogue().unwrap().modules.iter().map(|m| m.id.0.clone()).collect();
    for (i, id) in ids.iter().enumerate() {
        pass(&t, &scope, id).await;
        if i + 1 < ids.len() {
            let partial = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
            assert!(!status(&partial, "store.staff-trained").is_met(), "not met with {} of 7", i + 1);
        }
    }
    let trained = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(status(&trained, "store.staff-trained").is_met(), "{:?}", status(&trained, "store.staff-trained"));

    // A new member joins: 1 of 2 untrained (within their 14 days, so nobody is past a due date yet).
    let clerk = crate::support::staff(&t, "clerk@alpha.example").await;
    tenancy::add_member(&t, &scope, clerk.id, tenancy::Role::Staff).await.unwrap();
    let joined = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    let ControlStatus::Unmet { reason, .. } = status(&joined, "store.staff-trained") else { panic!("unmet") };
    assert_eq!(reason, "1 of 2 active staff lack a current pass on every module (0 past a due date)");
    let roster = training::roster(&t, &scope).await.unwrap();
    let new = roster.iter().find(|r| r.account_id == clerk.id).unwrap();
    assert!(
        new.modules
            .iter()
            .all(|m| m.state == "not_started" && m.due_at == Some(t.now().plus(Duration::from_secs(14 * 24 * 3600))))
    );
    // Disabled accounts are not active staff.
    sqlx::query("UPDATE accounts SET disabled = 1 WHERE id = $1")
        .bind(clerk.id.to_string())
        .execute(t.pool())
        .await
        .unwrap();
    assert!(status(&reg.evaluate_store(&t, &facts, &scope).await.unwrap(), "store.staff-trained").is_met());

    // Twelve months on, the owner's passes have expired.
    clock.advance(Duration::from_secs(366 * 24 * 3600));
    let later = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    let ControlStatus::Unmet { reason, .. } = status(&later, "store.staff-trained") else { panic!("expired") };
    assert_eq!(reason, "1 of 1 active staff lack a current pass on every module (1 past a due date)");
    let mine = training::mine(&t, &scope).await.unwrap();
    assert!(mine.modules.iter().all(|m| m.state == "expired"));
}

#[tokio::test]
async fn reminders_go_out_once_per_stage() {
    let (t, clock) = TestDb::manual().await;
    let scope = owner_scope(&t, "alpha").await;
    for m in &training::catalogue().unwrap().modules {
        pass(&t, &scope, &m.id.0).await;
    }
    assert_eq!(training::send_reminders(&t, "https://p.example").await.unwrap(), 0, "a year to go");
    // 20 days before expiry: the 30-day stage, once.
    clock.advance(Duration::from_secs(345 * 24 * 3600));
    assert_eq!(training::send_reminders(&t, "https://p.example").await.unwrap(), 1);
    assert_eq!(training::send_reminders(&t, "https://p.example").await.unwrap(), 0, "deduplicated");
    let mail = palisade_store::outbox::to_address(&t, "owner@alpha.example").await.unwrap();
    assert_eq!(mail.len(), 1);
    assert!(mail[0].body.contains("Phishing") && mail[0].body.contains("/security/training"), "{}", mail[0].body);
    // 5 days before: the 7-day stage.
    clock.advance(Duration::from_secs(15 * 24 * 3600));
    assert_eq!(training::send_reminders(&t, "https://p.example").await.unwrap(), 1);
    assert_eq!(training::send_reminders(&t, "https://p.example").await.unwrap(), 0);
}
