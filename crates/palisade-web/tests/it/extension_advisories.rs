//! Advisories against installed extensions (issue #19 items 4, 6 and 7), through the real router on both
//! backends: the operator's feed is matched against the catalog and every store's installs; findings open, are
//! accepted with a reason and an end date or fixed by an update or a removal; a critical advisory without a fixed
//! release disables the plugin after the grace period (the store told by email and in the Security Center) and a
//! withdrawn advisory enables it again; a release with a serious advisory is not installed; one store cannot act
//! on another's findings; the controls and the operator's view follow.

use std::path::Path;
use std::sync::Arc;

use palisade_core::matrix::ControlStatus;
use palisade_store::extensions::advisories::{self, State};
use palisade_store::extensions::{self, Policy};
use palisade_store::scope::StaffScope;
use reqwest::StatusCode;

use crate::extensions::{
    DAY, GOOD_CSS, ID, Publisher, app_with_state, audit_actions, page, post, publish, publish_plugin,
};
use crate::support::{TestApp, owner_of};

const PLUGIN: &str = "com.example.giftwrap";
/// CVSS 3.1 base 10.0 and 7.5.
const CRITICAL: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H";
const HIGH: &str = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N";

/// Writes an OSV advisory against `package` into the feed: affected from 0, fixed in `fixed` if given.
fn advise(feed: &Path, id: &str, package: &str, vector: &str, fixed: Option<&str>) {
    advise_with(feed, id, package, vector, fixed, &format!("Flaw {id}"), None);
}

fn advise_with(
    feed: &Path,
    id: &str,
    package: &str,
    vector: &str,
    fixed: Option<&str>,
    summary: &str,
    withdrawn: Option<&str>,
) {
    let mut events = vec![serde_json::json!({"introduced": "0"})];
    if let Some(f) = fixed {
        events.push(serde_json::json!({"fixed": f}));
    }
    let mut advisory = serde_json::json!({
        "schema_version": "1.7.0", "id": id, "modified": "2026-11-01T00:00:00Z",
        "summary": summary,
        "severity": [{"type": "CVSS_V3", "score": vector}],
        "affected": [{"package": {"ecosystem": "Palisade-Extension", "name": package},
                      "ranges": [{"type": "SEMVER", "events": events}]}]
    });
    if let Some(at) = withdrawn {
        advisory["withdrawn"] = serde_json::json!(at);
    }
    std::fs::write(feed.join(format!("{id}.json")), serde_json::to_vec(&advisory).unwrap()).unwrap();
}

/// An installed extension as the browser walk shows it: disabled by a critical advisory without a fix, with a high
/// one staff may accept.
pub(crate) async fn seed_for_walk(app: &TestApp, scope: &StaffScope) {
    let p = Publisher::new("example-labs");
    p.register(app).await;
    publish(app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    publish(app, &p, "1.0.1", "", GOOD_CSS).await.unwrap();
    extensions::install(&app.db, scope, ID, "1.0.0", Policy::Manual, 0).await.unwrap();
    let m = |version: &str, id: &str, severity: &str| advisories::ReleaseAdvisory {
        extension_id: ID.into(),
        version: version.into(),
        advisory_id: id.into(),
        severity: severity.into(),
        summary: format!("A {severity} flaw in the badge caption"),
    };
    let matches = [
        m("1.0.0", "PAL-EXT-2026-0901", "critical"),
        m("1.0.1", "PAL-EXT-2026-0901", "critical"),
        m("1.0.0", "PAL-EXT-2026-0902", "high"),
    ];
    let platform = palisade_store::scope::PlatformScope::system("test");
    advisories::replace_matches(&app.db, &platform, &matches, app.db.now(), &serde_json::json!({})).await.unwrap();
    advisories::rematch(&app.db, scope).await.unwrap();
    found_days_ago(app, advisories::DISABLE_AFTER_DAYS).await;
    assert_eq!(advisories::rematch(&app.db, scope).await.unwrap().disabled.len(), 1);
}

async fn status(app: &TestApp, scope: &StaffScope, id: &str) -> ControlStatus {
    crate::extensions::store_control(app, scope, id).await
}

/// Moves every finding's discovery (and the critical clock, where it runs) back by `days` (the database clock
/// wrote now).
async fn found_days_ago(app: &TestApp, days: i64) {
    sqlx::query("UPDATE extension_findings SET opened_at = opened_at - $1, critical_since = critical_since - $1")
        .bind(days * DAY)
        .execute(app.db.pool())
        .await
        .unwrap();
}

async fn owner_email(app: &TestApp, scope: &StaffScope) -> String {
    let owner = palisade_store::tenancy::list_members(&app.db, scope).await.unwrap().remove(0);
    palisade_store::tenancy::get_account(&app.db, owner.account_id).await.unwrap().email.to_string()
}

async fn mail_subjects(app: &TestApp, to: &str) -> Vec<String> {
    palisade_store::outbox::to_address(&app.db, to).await.unwrap().into_iter().map(|m| m.subject).collect()
}

#[tokio::test]
async fn a_critical_advisory_without_a_fix_disables_the_plugin_after_the_grace_until_it_is_withdrawn() {
    let feed = tempfile::tempdir().unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish_plugin(&app, &p, PLUGIN, Some("<p>Free gift wrap on every order</p>")).await;
    let (a, a_scope, a_cookie) = owner_of(&app, "alpha").await;
    let (b, b_scope, b_cookie) = owner_of(&app, "bravo").await;
    let product = crate::support::listing("teapot").stock(3).create(&app, &a_scope).await;
    let product_page = format!("/s/{}/p/{}", a.slug, product.slug);
    extensions::install(&app.db, &a_scope, PLUGIN, "1.0.0", Policy::Manual, 0).await.unwrap();
    assert!(page(&app, &product_page).await.contains("Free gift wrap"));

    advise(feed.path(), "PAL-EXT-2026-0100", PLUGIN, CRITICAL, None);
    let run = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!((run.matches, run.opened, run.disabled), (1, 1, 0), "found, not yet disabled: {run:?}");
    assert!(page(&app, &product_page).await.contains("Free gift wrap"), "the plugin runs during the grace");
    let owner = owner_email(&app, &a_scope).await;
    assert!(mail_subjects(&app, &owner).await.contains(&"Security advisory for an extension".to_owned()));
    let tab = format!("/admin/stores/{}/security/extensions", a.id);
    let text = app.client.get(app.url(&tab)).header("cookie", &a_cookie).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("PAL-EXT-2026-0100") && text.contains("platform disables this extension"), "{text}");

    // A critical advisory without a fix is the platform's to act on: staff cannot accept it away.
    let accept = format!("{tab}/{PLUGIN}/advisories/PAL-EXT-2026-0100/accept");
    let res = post(&app, &accept, &a_cookie, &[("reason", "we trust them"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // Nor can another store, on its own address or on this one.
    let theirs = format!("/admin/stores/{}/security/extensions/{PLUGIN}/advisories/PAL-EXT-2026-0100/accept", b.id);
    let res = post(&app, &theirs, &b_cookie, &[("reason", "x"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "bravo has no such finding");
    let res = post(&app, &accept, &b_cookie, &[("reason", "x"), ("days", "30")]).await;
    assert!(res.status() == StatusCode::FORBIDDEN || res.status() == StatusCode::NOT_FOUND, "{}", res.status());
    assert!(advisories::findings(&app.db, &b_scope).await.unwrap().is_empty());
    // The affected release is not installed anywhere else.
    let refused = extensions::install(&app.db, &b_scope, PLUGIN, "1.0.0", Policy::Manual, 0).await;
    assert!(matches!(refused, Err(palisade_store::StoreError::Conflict(m)) if m.contains("PAL-EXT-2026-0100")));
    assert!(matches!(status(&app, &a_scope, "store.extension-advisories").await, ControlStatus::Met { .. }));

    found_days_ago(&app, advisories::DISABLE_AFTER_DAYS).await;
    let run = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!(run.disabled, 1, "{run:?}");
    assert!(!page(&app, &product_page).await.contains("Free gift wrap"), "a disabled plugin adds nothing");
    assert!(mail_subjects(&app, &owner).await.contains(&"Extension disabled".to_owned()));
    assert!(audit_actions(&app, &a.id.to_string()).await.contains(&"extension.disabled".to_owned()));
    let text = app.client.get(app.url(&tab)).header("cookie", &a_cookie).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("Disabled by the platform"), "{text}");
    assert!(matches!(status(&app, &a_scope, "store.extension-advisories").await,
        ControlStatus::Unmet { reason, .. } if reason.contains("disabled by the platform")));
    let again = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!((again.opened, again.disabled), (0, 0), "a rematch changes nothing twice: {again:?}");

    // The operator sees the advisory's reach.
    let console = app.console_cookie().await;
    let view = app.client.get(app.url("/console/assessment")).header("cookie", &console).send().await.unwrap();
    let view = view.text().await.unwrap();
    assert!(view.contains("PAL-EXT-2026-0100") && view.contains(PLUGIN), "{view}");

    // A feed that went missing is not "every advisory withdrawn": nothing changes, and the platform control says so.
    std::fs::rename(feed.path().join("PAL-EXT-2026-0100.json"), feed.path().join("kept.bak")).unwrap();
    let run = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert!(run.failed.is_some() && run.enabled == 0, "{run:?}");
    std::fs::write(feed.path().join("broken.json"), b"{ not json").unwrap();
    let run = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert!(run.failed.as_deref().is_some_and(|r| r.contains("broken.json")), "{run:?}");
    assert!(!page(&app, &product_page).await.contains("Free gift wrap"), "still disabled");
    std::fs::remove_file(feed.path().join("broken.json")).unwrap();

    // Withdrawn (OSV's `withdrawn` field): the finding is fixed by the rematch and the plugin runs again.
    advise_with(feed.path(), "PAL-EXT-2026-0100", PLUGIN, CRITICAL, None, "x", Some("2026-12-01T00:00:00Z"));
    let run = palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!((run.fixed, run.enabled), (1, 1), "{run:?}");
    assert!(page(&app, &product_page).await.contains("Free gift wrap"));
    assert_eq!(advisories::findings(&app.db, &a_scope).await.unwrap()[0].state, State::Fixed);
}

#[tokio::test]
async fn a_high_advisory_is_accepted_for_a_while_or_fixed_by_the_update() {
    let feed = tempfile::tempdir().unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    publish(&app, &p, "1.0.1", "", GOOD_CSS).await.unwrap();
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Manual, 0).await.unwrap();
    advise(feed.path(), "PAL-EXT-2026-0200", ID, HIGH, Some("1.0.1"));
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    let found = advisories::findings(&app.db, &scope).await.unwrap();
    assert_eq!((found[0].severity.as_str(), found[0].fixed_in.as_deref()), ("high", Some("1.0.1")));
    assert_eq!(found[0].disable_at(), None, "a fix exists: the platform does not disable it");

    found_days_ago(&app, advisories::HIGH_WITHIN_DAYS).await;
    assert!(matches!(status(&app, &scope, "store.extension-advisories").await,
        ControlStatus::Unmet { reason, .. } if reason.contains("PAL-EXT-2026-0200")));
    let accept = format!("/admin/stores/{}/security/extensions/{ID}/advisories/PAL-EXT-2026-0200/accept", s.id);
    for bad in [[("reason", " "), ("days", "30")], [("reason", "WAF rule covers it"), ("days", "91")]] {
        let res = post(&app, &accept, &cookie, &bad).await;
        assert!(res.status().is_client_error(), "{bad:?}: {}", res.status());
    }
    let res = post(&app, &accept, &cookie, &[("reason", "WAF rule covers it"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Accepted);
    assert!(matches!(status(&app, &scope, "store.extension-advisories").await, ControlStatus::Met { .. }));
    assert!(audit_actions(&app, &s.id.to_string()).await.contains(&"extension.advisory_accepted".to_owned()));
    // An acceptance survives a rematch; it ends at its date.
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Accepted);

    // The store's scan lists it while it is not fixed (accepted on the tab: listed, saying so; accepted there only).
    let scan = palisade_web::store_scan::run(&state, &scope, palisade_store::scans::Trigger::Manual).await.unwrap();
    assert!(matches!(scan, palisade_web::store_scan::Outcome::Done(_)), "{scan:?}");
    let listed = palisade_store::scans::findings(&app.db, &scope).await.unwrap();
    let in_scan = listed.iter().find(|f| f.rule_id == "extension/advisory").expect("the scan lists the advisory");
    assert_eq!((in_scan.severity.as_str(), in_scan.state.as_str()), ("high", "open"));
    assert!(
        in_scan.evidence.contains("PAL-EXT-2026-0200") && in_scan.evidence.contains("accepted on the Extensions tab")
    );
    let until = (app.db.now().0 + 86_400_000).to_string();
    let on_scans = format!("/admin/stores/{}/security/scans/findings/{}/accept", s.id, in_scan.fingerprint);
    let res = post(&app, &on_scans, &cookie, &[("reason", "elsewhere"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "not accepted on the scans page ({until})");
    let scans_page = format!("/admin/stores/{}/security/scans", s.id);
    let page =
        app.client.get(app.url(&scans_page)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Triaged on the") && page.contains("PAL-EXT-2026-0200"), "{page}");
    assert!(in_scan.fix_link.ends_with(&format!("/security/extensions#ext-{ID}")), "{}", in_scan.fix_link);

    // Updating to the fixed release fixes the finding in the same step.
    let res = post(
        &app,
        &format!("/admin/stores/{}/security/extensions/{ID}/update", s.id),
        &cookie,
        &[("version", "1.0.1")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let found = advisories::findings(&app.db, &scope).await.unwrap();
    assert_eq!((found[0].state, found[0].closed_at.is_some()), (State::Fixed, true));
    let tab = format!("/admin/stores/{}/security/extensions", s.id);
    let text = app.client.get(app.url(&tab)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("Advisories dealt with"), "the history keeps it");
    let scan = palisade_web::store_scan::run(&state, &scope, palisade_store::scans::Trigger::Manual).await.unwrap();
    assert!(matches!(scan, palisade_web::store_scan::Outcome::Done(_)), "{scan:?}");
    let listed = palisade_store::scans::findings(&app.db, &scope).await.unwrap();
    let open = listed.iter().filter(|f| f.rule_id == "extension/advisory" && f.state != "fixed").count();
    assert_eq!(open, 0, "the next scan sees it fixed: {listed:?}");
    // A downgrade to the affected release is refused like any downgrade; a new install of it too.
    let (_, other, _) = owner_of(&app, "bravo").await;
    assert!(extensions::install(&app.db, &other, ID, "1.0.0", Policy::Manual, 0).await.is_err());
    assert!(extensions::install(&app.db, &other, ID, "1.0.1", Policy::Manual, 0).await.is_ok());
}

#[tokio::test]
async fn the_platform_control_needs_a_fresh_feed_and_no_critical_release_left_unfixed() {
    let feed = tempfile::tempdir().unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let platform = |app: &TestApp| {
        let db = app.db.db.clone();
        async move {
            let dir = tempfile::tempdir().unwrap();
            let facts = Arc::new(palisade_store::matrix::NodeFacts {
                data_dir: dir.path().to_path_buf(),
                master_key_path: dir.path().join("k"),
            });
            let mut reg = palisade_store::matrix::Registry::default();
            palisade_store::controls::register(&mut reg).unwrap();
            let report = reg.evaluate_platform(&db, &facts).await.unwrap();
            let all = report.areas.iter().flat_map(|a| a.platform.iter());
            all.clone().find(|r| r.control.id == "platform.extension-advisories").map(|r| r.status.clone()).unwrap()
        }
    };
    assert!(matches!(platform(&app).await, ControlStatus::Unmet { reason, .. } if reason.contains("no advisory feed")));
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    advise(feed.path(), "PAL-EXT-2026-0300", ID, CRITICAL, None);
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert!(
        matches!(platform(&app).await, ControlStatus::Unmet { reason, .. } if reason.contains("PAL-EXT-2026-0300"))
    );
    publish(&app, &p, "1.0.1", "", GOOD_CSS).await.unwrap();
    advise(feed.path(), "PAL-EXT-2026-0300", ID, CRITICAL, Some("1.0.1"));
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert!(matches!(platform(&app).await, ControlStatus::Met { .. }));
}

#[tokio::test]
async fn unchecked_or_still_flawed_releases_are_neither_installed_nor_counted_as_the_fix() {
    let feed = tempfile::tempdir().unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    publish(&app, &p, "1.1.0", "", GOOD_CSS).await.unwrap();
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Manual, 0).await.unwrap();
    // 1.1.0 leaves the critical one but carries a high one of its own: a store could not update to it.
    advise(feed.path(), "PAL-EXT-2026-0400", ID, CRITICAL, Some("1.1.0"));
    let xss = "<script>alert(1)</script> caption";
    advise_with(feed.path(), "PAL-EXT-2026-0401", ID, HIGH, Some("1.2.0"), xss, None);
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    let critical = advisories::findings(&app.db, &scope).await.unwrap().remove(0);
    assert_eq!((critical.advisory_id.as_str(), critical.fixed_in.as_deref()), ("PAL-EXT-2026-0400", None));
    assert!(critical.disable_at().is_some(), "no installable fix: the platform's clock runs");
    let tab = format!("/admin/stores/{}/security/extensions", s.id);
    let text = app.client.get(app.url(&tab)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("<script>alert(1)") && text.contains("&lt;script&gt;"), "feed text is escaped");

    // A release published after the last sync is not a fix, and is not installed, until a sync has looked at it.
    publish(&app, &p, "1.2.0", "", GOOD_CSS).await.unwrap();
    advisories::rematch(&app.db, &scope).await.unwrap();
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].fixed_in, None);
    let (_, other, _) = owner_of(&app, "bravo").await;
    let refused = extensions::install(&app.db, &other, ID, "1.2.0", Policy::Manual, 0).await;
    assert!(matches!(refused, Err(palisade_store::StoreError::Conflict(m)) if m.contains("last advisory check")));
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    let critical = advisories::findings(&app.db, &scope).await.unwrap().remove(0);
    assert_eq!(critical.fixed_in.as_deref(), Some("1.2.0"), "checked and clean now");
    assert_eq!(critical.disable_at(), None);
    extensions::install(&app.db, &other, ID, "1.2.0", Policy::Manual, 0).await.unwrap();
}

#[tokio::test]
async fn a_finding_keeps_when_it_was_first_found_and_an_acceptance_is_not_extended() {
    let feed = tempfile::tempdir().unwrap();
    let (app, state) = app_with_state(Some(feed.path())).await;
    let p = Publisher::new("example-labs");
    p.register(&app).await;
    publish(&app, &p, "1.0.0", "", GOOD_CSS).await.unwrap();
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Manual, 0).await.unwrap();
    advise(feed.path(), "PAL-EXT-2026-0500", ID, "CVSS:3.1/AV:N/AC:H/PR:L/UI:R/S:U/C:L/I:L/A:N", None);
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    found_days_ago(&app, 5).await;
    let first = advisories::findings(&app.db, &scope).await.unwrap().remove(0).opened_at;
    // Removed (fixed) and installed again: open again, but not as a new finding with a fresh clock.
    extensions::uninstall(&app.db, &scope, ID).await.unwrap();
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Fixed);
    extensions::install(&app.db, &scope, ID, "1.0.0", Policy::Manual, 0).await.unwrap();
    let again = advisories::findings(&app.db, &scope).await.unwrap().remove(0);
    assert_eq!((again.state, again.opened_at), (State::Open, first));

    let accept = format!("/admin/stores/{}/security/extensions/{ID}/advisories/PAL-EXT-2026-0500/accept", s.id);
    // Accepting a known flaw asks for the password again, like installing.
    crate::support::forget_recent_passwords(&app).await;
    let res = post(&app, &accept, &cookie, &[("reason", "not used"), ("days", "90")]).await;
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/account/reauth"));
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Open);
    sqlx::query("UPDATE sessions SET reauth_at = $1").bind(app.db.now().0).execute(app.db.pool()).await.unwrap();
    let res = post(&app, &accept, &cookie, &[("reason", "not used"), ("days", "90")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Accepted);
    let res = post(&app, &accept, &cookie, &[("reason", "still not used"), ("days", "90")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT, "an acceptance is renewed only after it ends");

    // When it ends, the next check opens the finding again, audits it and tells the store.
    sqlx::query("UPDATE extension_findings SET accepted_until = $1")
        .bind(app.db.now().0 - 1)
        .execute(app.db.pool())
        .await
        .unwrap();
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    assert_eq!(advisories::findings(&app.db, &scope).await.unwrap()[0].state, State::Open);
    assert!(audit_actions(&app, &s.id.to_string()).await.contains(&"extension.advisory_acceptance_ended".to_owned()));
    let told = mail_subjects(&app, &owner_email(&app, &scope).await).await;
    assert!(told.iter().any(|m| m == "An accepted extension advisory is open again"), "{told:?}");
    // Told once: the next check finds nothing to say.
    palisade_web::extensions::sync_advisories(&state).await.unwrap();
    let again = mail_subjects(&app, &owner_email(&app, &scope).await).await;
    assert_eq!(again.iter().filter(|m| *m == "An accepted extension advisory is open again").count(), 1);
    let res = post(&app, &accept, &cookie, &[("reason", "still not used"), ("days", "30")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "accepted again, with a new reason");
}
