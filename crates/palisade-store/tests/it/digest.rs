//! The weekly security digest: what it says, who gets it, once per store and ISO week, and never another store's
//! data. Plus the pruning of expired quiz attempts (the reminders job's housekeeping).

use std::sync::Arc;
use std::time::Duration;

use palisade_store::digest::{self, Subscription};
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::shield_events::{self, NewShieldEvent};
use palisade_store::testing::TestDb;
use palisade_store::{Db, controls, outbox, secrets, tenancy, training};

use crate::support::store;

async fn owner_scope(db: &Db, slug: &str) -> StaffScope {
    let (s, scope) = store(db, slug).await;
    let owner = tenancy::list_members(db, &scope).await.unwrap().remove(0);
    tenancy::membership(db, owner.account_id, s.id).await.unwrap().unwrap().scope
}

fn registry() -> Registry {
    let mut reg = Registry::default();
    controls::register(&mut reg).unwrap();
    reg
}

fn facts(dir: &tempfile::TempDir) -> Arc<NodeFacts> {
    let key = dir.path().join("master.key");
    secrets::load_or_create(&key).unwrap();
    Arc::new(NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: key })
}

/// A stand-in signer (the job uses `palisade_identity::links`, whose refusals the web tests check).
fn sign(subject: &str) -> String {
    format!("tag-{subject}")
}

async fn blocked(db: &Db, id: &str, scope: &StaffScope) {
    let findings = serde_json::json!([]);
    shield_events::record(
        db,
        &NewShieldEvent {
            id,
            at: db.now(),
            store: Some(scope.store_id()),
            client_ip: Some("203.0.113.77"),
            method: "GET",
            path: "/s/beta/secret-beta-path",
            action: "block",
            score: 9,
            rules: &["sqli.union"],
            findings: &findings,
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_digest_lists_the_stores_own_unmet_controls_training_and_firewall_and_nothing_of_another_store() {
    let (t, _clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let (reg, facts) = (registry(), facts(&dir));
    let alpha = owner_scope(&t, "alpha").await;
    let beta = owner_scope(&t, "beta").await;
    // Beta has a member with a telling name and firewall blocks; alpha has neither.
    let spy = crate::support::staff(&t, "zebedee@beta.example").await;
    tenancy::add_member(&t, &beta, spy.id, tenancy::Role::Staff).await.unwrap();
    blocked(&t, "ev-beta-1", &beta).await;
    // A plain staff member of alpha is not a recipient (no staff management).
    let clerk = crate::support::staff(&t, "clerk@alpha.example").await;
    tenancy::add_member(&t, &alpha, clerk.id, tenancy::Role::Staff).await.unwrap();

    let sent = digest::send_digests(&t, &reg, &facts, "https://p.example", &sign).await.unwrap();
    assert_eq!(sent, 2, "one owner per store");
    assert!(outbox::to_address(&t, "clerk@alpha.example").await.unwrap().is_empty());

    let mail = outbox::to_address(&t, "owner@alpha.example").await.unwrap();
    assert_eq!(mail.len(), 1);
    let m = &mail[0];
    assert_eq!(m.from_name.as_deref(), Some("ALPHA"));
    assert!(m.subject.starts_with("Weekly security digest for ALPHA ("), "{}", m.subject);
    let html = m.html.as_deref().unwrap();
    for part in [&m.body, html] {
        assert!(part.contains("Controls not met"), "{part}");
        assert!(part.contains("Every active staff member passed every training module"), "{part}");
        assert!(part.contains("2 active staff lack a current pass"), "{part}");
        assert!(part.contains("Training due or overdue"), "{part}");
        assert!(part.contains("clerk@alpha.example") && part.contains("not started"), "{part}");
        assert!(part.contains("No requests to your store were blocked or challenged"), "{part}");
        assert!(part.contains(&format!("https://p.example/admin/stores/{}/security", alpha.store_id())), "{part}");
        for foreign in ["BETA", "beta", "zebedee", "203.0.113.77", "secret-beta-path"] {
            assert!(!part.contains(foreign), "alpha's digest names {foreign}: {part}");
        }
    }
    let owner = tenancy::list_members(&t, &alpha).await.unwrap().remove(0).account_id;
    let subject = digest::link_subject(alpha.store_id(), owner);
    assert!(
        m.body.contains(&format!(
            "/security-digest/unsubscribe?store={}&member={owner}&k={}",
            alpha.store_id(),
            sign(&subject)
        )),
        "{}",
        m.body
    );

    let beta_mail = outbox::to_address(&t, "owner@beta.example").await.unwrap();
    assert!(beta_mail[0].body.contains("- block: 1"), "{}", beta_mail[0].body);
    assert!(!beta_mail[0].body.contains("203.0.113.77") && !beta_mail[0].body.contains("clerk@alpha"));
}

#[tokio::test]
async fn once_per_store_and_iso_week_and_an_opted_out_member_gets_none() {
    let (t, clock) = TestDb::manual().await;
    let dir = tempfile::tempdir().unwrap();
    let (reg, facts) = (registry(), facts(&dir));
    let alpha = owner_scope(&t, "alpha").await;
    let beta = owner_scope(&t, "beta").await;

    assert_eq!(digest::subscription(&t, &alpha).await.unwrap(), Subscription::Subscribed);
    digest::set_subscription(&t, &beta, Subscription::OptedOut).await.unwrap();
    assert_eq!(digest::subscription(&t, &beta).await.unwrap(), Subscription::OptedOut);
    // A system task has no "own" setting.
    let system = StaffScope::system(alpha.store_id(), "test");
    assert!(digest::set_subscription(&t, &system, Subscription::OptedOut).await.is_err());

    assert_eq!(digest::send_digests(&t, &reg, &facts, "https://p.example", &sign).await.unwrap(), 1);
    assert!(outbox::to_address(&t, "owner@beta.example").await.unwrap().is_empty(), "opted out");
    assert_eq!(
        digest::send_digests(&t, &reg, &facts, "https://p.example", &sign).await.unwrap(),
        0,
        "second run in the same week"
    );
    assert_eq!(outbox::to_address(&t, "owner@alpha.example").await.unwrap().len(), 1);

    // Next ISO week: alpha again; beta still opted out until they opt back in.
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(digest::send_digests(&t, &reg, &facts, "https://p.example", &sign).await.unwrap(), 1);
    assert_eq!(outbox::to_address(&t, "owner@alpha.example").await.unwrap().len(), 2);
    digest::set_subscription(&t, &beta, Subscription::Subscribed).await.unwrap();
    assert_eq!(digest::send_digests(&t, &reg, &facts, "https://p.example", &sign).await.unwrap(), 1);
    assert_eq!(outbox::to_address(&t, "owner@beta.example").await.unwrap().len(), 1);

    // Unsubscribe (what a verified link does) only for a member of that store.
    let alpha_owner = tenancy::list_members(&t, &alpha).await.unwrap().remove(0).account_id;
    assert!(digest::unsubscribe(&t, beta.store_id(), alpha_owner).await.is_err(), "not a member of beta");
    digest::unsubscribe(&t, alpha.store_id(), alpha_owner).await.unwrap();
    assert_eq!(digest::subscription(&t, &alpha).await.unwrap(), Subscription::OptedOut);
    // Each change is in the store's own audit chain, saying how it was made; beta's chain has only beta's.
    let events = palisade_store::audit::list_store(&t, &alpha, 50).await.unwrap();
    let last = events.iter().find(|e| e.action == digest::OPTED_OUT_ACTION).unwrap();
    assert_eq!(last.target, format!("account:{alpha_owner}"));
    assert!(last.details.contains("unsubscribe link"), "{}", last.details);
    let beta_events = palisade_store::audit::list_store(&t, &beta, 50).await.unwrap();
    assert!(beta_events.iter().all(|e| !e.target.contains(&alpha_owner.to_string())));
    assert!(beta_events.iter().any(|e| e.action == digest::SUBSCRIBED_ACTION && e.details.contains("settings")));
}

#[test]
fn iso_weeks_roll_over_the_year_as_iso_8601_says() {
    use palisade_core::time::Timestamp;
    // 2026-12-31 is a Thursday of 2026-W53; 2027-01-04 is a Monday of 2027-W01; 2024-12-30 belongs to 2025-W01.
    assert_eq!(digest::iso_week(Timestamp(1_798_675_200_000)), "2026-W53");
    assert_eq!(digest::iso_week(Timestamp(1_799_020_800_000)), "2027-W01");
    assert_eq!(digest::iso_week(Timestamp(1_735_516_800_000)), "2025-W01");
}

#[tokio::test]
async fn expired_quiz_attempts_are_pruned_and_open_ones_kept() {
    let (t, clock) = TestDb::manual().await;
    let alpha = owner_scope(&t, "alpha").await;
    let beta = owner_scope(&t, "beta").await;
    let module = training::catalogue().unwrap().modules[0].id.0.clone();
    let old = training::open_attempt(&t, &alpha, &module).await.unwrap();
    clock.advance(Duration::from_secs(3 * 3600));
    let fresh = training::open_attempt(&t, &beta, &module).await.unwrap();
    let platform = PlatformScope::system("test");
    assert_eq!(training::prune_attempts(&t, &platform).await.unwrap(), 1);
    assert_eq!(training::prune_attempts(&t, &platform).await.unwrap(), 0);
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM training_attempts").fetch_all(t.pool()).await.unwrap();
    assert_eq!(ids, vec![(fresh.id.to_string(),)]);
    // The pruned one is gone: alpha's owner draws a new paper.
    let again = training::open_attempt(&t, &alpha, &module).await.unwrap();
    assert_ne!(again.id, old.id);
}
