//! Phishing simulation storage: the merchant control (not applicable until enabled, met by a campaign this
//! quarter), classified clicks and reports in the results, and the cohort comparison that needs enough other stores
//! and names none of them.

use std::sync::Arc;
use std::time::Duration;

use palisade_awareness::phish::classify::{ConfirmKind, FetchHeaders};
use palisade_awareness::phish::{ClickEvent, Confirmation, HitMethod};
use palisade_core::matrix::ControlStatus;
use palisade_store::matrix::{NodeFacts, Registry};
use palisade_store::phishing::{self, Hit, Recipients, Reported, Switch};
use palisade_store::scope::StaffScope;
use palisade_store::tenancy::{self, Membership, Role};
use palisade_store::testing::TestDb;
use palisade_store::{Db, controls, secrets};

use crate::support::{staff, store};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

fn status(report: &palisade_store::matrix::Report, id: &str) -> ControlStatus {
    report.areas.iter().flat_map(|a| a.merchant.iter()).find(|r| r.control.id == id).map(|r| r.status.clone()).unwrap()
}

/// A store with its owner and `extra` staff, simulations on: the system owner's membership and each member's scope.
async fn team(db: &Db, slug: &str, extra: usize) -> (Membership, Vec<StaffScope>) {
    let (s, scope) = store(db, slug).await;
    for i in 0..extra {
        let a = staff(db, &format!("m{i}@{slug}.example")).await;
        tenancy::add_member(db, &scope, a.id, Role::Staff).await.unwrap();
    }
    let mut members = Vec::new();
    for m in tenancy::list_members(db, &scope).await.unwrap() {
        members.push(tenancy::membership(db, m.account_id, s.id).await.unwrap().unwrap().scope);
    }
    let owner = Membership::system(s.id, "test");
    phishing::set_enabled(db, &owner, Switch::On).await.unwrap();
    (owner, members)
}

/// The token of the newest simulation mail to `to`.
async fn token_to(db: &Db, to: &str) -> String {
    let body = palisade_store::outbox::to_address(db, to).await.unwrap().remove(0).body;
    let at = body.find(phishing::LANDING_PATH).unwrap() + phishing::LANDING_PATH.len();
    body[at..at + 64].to_owned()
}

fn hit(db: &Db, link: &phishing::LinkAccess, ua: &str) -> ClickEvent {
    ClickEvent {
        link: 0,
        delivered_at: phishing::instant(link.delivered_at),
        at: phishing::instant(db.now()),
        method: HitMethod::Get,
        user_agent: Some(ua.to_owned()),
        ip: "198.51.100.23".parse().unwrap(),
        asn: None,
        headers: FetchHeaders { sec_fetch_mode: Some("navigate".into()), ..FetchHeaders::default() },
    }
}

#[tokio::test]
async fn the_control_waits_for_the_owner_then_wants_a_campaign_each_quarter() {
    let (t, clock) = TestDb::manual().await;
    clock.set(palisade_core::Timestamp("2026-11-20T09:00:00Z".parse::<jiff::Timestamp>().unwrap().as_millisecond()));
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("master.key");
    secrets::load_or_create(&key).unwrap();
    let facts = Arc::new(NodeFacts { data_dir: dir.path().to_path_buf(), master_key_path: key });
    let mut reg = Registry::default();
    controls::register(&mut reg).unwrap();
    let (_, scope) = store(&t, "alpha").await;
    let id = "store.phishing-simulation-recent";

    let off = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(matches!(status(&off, id), ControlStatus::NotApplicable { .. }), "{:?}", status(&off, id));
    let owner = Membership::system(scope.store_id(), "test");
    phishing::set_enabled(&t, &owner, Switch::On).await.unwrap();
    let on = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(matches!(status(&on, id), ControlStatus::Unmet { .. }));
    phishing::launch(&t, &owner, "payout-hold", Recipients::AllActive, "https://p.example").await.unwrap();
    let sent = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(status(&sent, id).is_met());
    // Next quarter: due again.
    clock.advance(Duration::from_secs(45 * 86_400));
    let later = reg.evaluate_store(&t, &facts, &scope).await.unwrap();
    assert!(matches!(status(&later, id), ControlStatus::Unmet { .. }));
    assert!(reg.controls().iter().find(|c| c.id == id).unwrap().references.len() >= 2);
    // A store cannot turn the simulation into a mailing list.
    for _ in 0..phishing::MAX_CAMPAIGNS_PER_DAY {
        phishing::launch(&t, &owner, "payout-hold", Recipients::AllActive, "https://p.example").await.unwrap();
    }
    let err = phishing::launch(&t, &owner, "payout-hold", Recipients::AllActive, "https://p.example").await;
    assert!(matches!(err, Err(palisade_store::StoreError::Conflict(_))), "{err:?}");
}

#[tokio::test]
async fn results_count_confirmed_clicks_and_reports_and_the_cohort_names_no_store() {
    let (t, clock) = TestDb::manual().await;
    let (owner, members) = team(&t, "alpha", 4).await;
    phishing::launch(&t, &owner, "support-verification", Recipients::AllActive, "https://p.example").await.unwrap();
    clock.advance(Duration::from_secs(300));

    // m0 clicks and reads; m1's mail gateway fetches the link; m2 reports after 5 minutes.
    let link = phishing::resolve(&t, &token_to(&t, "m0@alpha.example").await).await.unwrap().unwrap();
    let Hit::Recorded { nonce } = phishing::record_hit(&t, &link, &hit(&t, &link, BROWSER)).await.unwrap() else {
        panic!("recorded")
    };
    clock.advance(Duration::from_secs(3));
    let confirmation = Confirmation {
        at: phishing::instant(t.now()),
        kind: ConfirmKind::Button,
        user_agent: Some(BROWSER.into()),
        asn: None,
    };
    assert!(phishing::confirm(&t, &link, &nonce, &confirmation).await.unwrap());
    assert!(!phishing::confirm(&t, &link, &nonce, &confirmation).await.unwrap(), "a nonce confirms once");
    let gateway = phishing::resolve(&t, &token_to(&t, "m1@alpha.example").await).await.unwrap().unwrap();
    phishing::record_hit(&t, &gateway, &hit(&t, &gateway, "Mimecast URL Protect")).await.unwrap();
    let m2_scope = member_scope(&t, &members, "m2@alpha.example").await;
    let m2_token = token_to(&t, "m2@alpha.example").await;
    assert_eq!(
        phishing::report(&t, &m2_scope, &format!("https://p.example/learn/{m2_token}")).await.unwrap(),
        Reported::Simulation
    );
    let r = &phishing::results(&t, &owner.scope).await.unwrap()[0];
    assert_eq!((r.sent, r.human_clicks, r.automated_hits, r.reports), (5, 1, 1, 1));
    assert_eq!(r.median_seconds_to_report, Some(303.0));
    // The stored address is truncated.
    let (landing,): (String,) =
        sqlx::query_as("SELECT landing FROM phishing_visits ORDER BY at LIMIT 1").fetch_one(t.pool()).await.unwrap();
    assert!(landing.contains("198.51.100.0") && !landing.contains("198.51.100.23"), "{landing}");

    // Nine other stores: too few for a comparison. The tenth makes one, with quartiles only.
    let (own, none) = phishing::cohort(&t, &owner.scope).await.unwrap();
    assert_eq!((own.recipients, none), (5, None));
    for i in 0..10 {
        let (o, _) = team(&t, &format!("other{i}"), 4).await;
        phishing::launch(&t, &o, "payout-hold", Recipients::AllActive, "https://p.example").await.unwrap();
        if i == 8 {
            clock.advance(Duration::from_secs(301));
            assert!(phishing::cohort(&t, &owner.scope).await.unwrap().1.is_none(), "9 other stores");
        }
    }
    // The platform's figures are reused for five minutes (one computation serves every store's page).
    assert!(phishing::cohort(&t, &owner.scope).await.unwrap().1.is_none(), "still the cached nine");
    clock.advance(Duration::from_secs(301));
    let (_, cmp) = phishing::cohort(&t, &owner.scope).await.unwrap();
    let cmp = cmp.expect("10 other stores");
    assert!((cmp.own.click_rate - 0.2).abs() < 1e-9);
    assert_eq!(cmp.click_rate.p50, 0.0);
    let shown = serde_json::to_string(&cmp).unwrap();
    assert!(!shown.contains("other") && !shown.contains("OTHER"), "{shown}");

    // After the security-log window the visits go, and the counted click stays.
    let platform = palisade_store::scope::PlatformScope::system("test");
    assert_eq!(phishing::prune_visits(&t, &platform).await.unwrap(), 0, "nothing is old enough yet");
    clock.advance(Duration::from_secs(91 * 86_400));
    assert_eq!(phishing::prune_visits(&t, &platform).await.unwrap(), 2);
    assert_eq!(phishing::prune_visits(&t, &platform).await.unwrap(), 0);
    let r = &phishing::results(&t, &owner.scope).await.unwrap()[0];
    assert_eq!((r.sent, r.human_clicks, r.automated_hits, r.reports), (5, 1, 0, 1));
}

async fn member_scope(db: &Db, members: &[StaffScope], email: &str) -> StaffScope {
    let account = tenancy::list_members(db, &members[0]).await.unwrap().into_iter().find(|m| m.email == email).unwrap();
    tenancy::membership(db, account.account_id, members[0].store_id()).await.unwrap().unwrap().scope
}

/// Reports for the owner are capped: 20 an hour per member, so a scripted member cannot flood the owner's list
/// or the store's audit chain; a report of the member's own simulation link is never refused by the cap.
#[tokio::test]
async fn reports_for_the_owner_are_capped_per_member() {
    let (t, clock) = TestDb::manual().await;
    let (owner, members) = team(&t, "capped", 2).await;
    let m0 = member_scope(&t, &members, "m0@capped.example").await;
    let m1 = member_scope(&t, &members, "m1@capped.example").await;
    phishing::launch(&t, &owner, "payout-hold", Recipients::AllActive, "https://p.example").await.unwrap();
    let m0_token = token_to(&t, "m0@capped.example").await;
    for i in 0..phishing::MAX_REPORTS_PER_MEMBER_HOUR {
        phishing::report(&t, &m0, &format!("suspicious mail {i}")).await.unwrap();
    }
    let refused = phishing::report(&t, &m0, "one more").await;
    assert!(matches!(refused, Err(palisade_store::StoreError::RateLimited(_))), "{refused:?}");
    // Another member, and the member's own simulation link, still go through.
    phishing::report(&t, &m1, "a real one").await.unwrap();
    // The owner hears of each report by mail (without the excerpt).
    let owner_email =
        tenancy::list_members(&t, &m0).await.unwrap().into_iter().find(|m| m.role == Role::Owner).unwrap().email;
    let mails = palisade_store::outbox::to_address(&t, &owner_email).await.unwrap();
    let told: Vec<_> = mails.iter().filter(|m| m.subject.contains("reported a suspicious message")).collect();
    assert_eq!(told.len(), 1, "one mail for the hour's reports, not one each");
    assert!(told.iter().all(|m| !m.body.contains("a real one") && !m.body.contains("suspicious mail 0")));
    let own = phishing::report(&t, &m0, &format!("https://p.example/learn/{m0_token}")).await.unwrap();
    assert!(matches!(own, phishing::Reported::Simulation), "{own:?}");
    let (kept,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM phishing_reports").fetch_one(t.pool()).await.unwrap();
    assert_eq!(kept, phishing::MAX_REPORTS_PER_MEMBER_HOUR + 1, "nothing stored for the refused one");
    clock.advance(Duration::from_secs(3_601));
    phishing::report(&t, &m0, "next hour").await.unwrap();
}
