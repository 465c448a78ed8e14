//! Phishing simulation end to end: the owner turns it on and launches a campaign from a built-in template, each
//! recipient's mail (in the outbox) carries their own link, the public landing page records hits and serves the
//! lesson, and only a confirmed human visit counts as a click — never a HEAD, a scanner's agent, a prefetch or a
//! hit seconds after delivery. Abuse: owner only, store isolation, reports of other stores' links, oversized
//! bodies, no merchant-written mail.

use palisade_store::phishing;
use palisade_store::tenancy::Role;
use palisade_store::{StaffScope, outbox};
use reqwest::StatusCode;

use crate::support::{Csrf as _, TestApp, VISITOR, owner_of, staff};

const BROWSER: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) \
                       Version/17.5 Safari/605.1.15";

async fn enable(app: &TestApp, store: &str, cookie: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/stores/{store}/security/phishing/settings")))
        .csrf(app, cookie)
        .form(&[("enabled", "on")])
        .send()
        .await
        .unwrap()
}

async fn launch(app: &TestApp, store: &str, cookie: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/stores/{store}/security/phishing/campaigns")))
        .csrf(app, cookie)
        .form(fields)
        .send()
        .await
        .unwrap()
}

async fn report(app: &TestApp, store: &str, cookie: &str, link: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/admin/stores/{store}/security/phishing/report")))
        .csrf(app, cookie)
        .form(&[("link", link)])
        .send()
        .await
        .unwrap()
}

/// The landing path in the newest simulation mail to `to`.
async fn link_to(app: &TestApp, to: &str) -> String {
    let mails = outbox::to_address(&app.db, to).await.unwrap();
    let body = &mails.first().expect("a simulation mail").body;
    let at = body.find("/learn/").expect("a landing link");
    body[at..at + "/learn/".len() + 64].to_owned()
}

/// Moves the delivery of every simulation mail `secs` into the past (as if the mail went out that long ago).
async fn delivered_ago(app: &TestApp, secs: i64) {
    sqlx::query("UPDATE outbox SET sent_at = $1 WHERE id IN (SELECT outbox_id FROM phishing_recipients)")
        .bind(app.db.now().0 - secs * 1000)
        .execute(app.db.pool())
        .await
        .unwrap();
}

/// Posts the landing page's confirmation as the page would (with its CSRF token), from `ua`.
async fn confirm(app: &TestApp, link: &str, ua: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(&format!("{link}/confirm")))
        .csrf(app, VISITOR)
        .header("user-agent", ua)
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn nonce_of(html: &str) -> String {
    html.split(r#"name="nonce" value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned()
}

async fn visits(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM phishing_visits").fetch_one(app.db.pool()).await.unwrap();
    n
}

#[tokio::test]
async fn a_campaign_reaches_each_member_and_only_a_confirmed_human_click_counts() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    staff("clerk@alpha.example").member_of(&app, &scope, Role::Staff).await;
    let store = s.id.to_string();

    // Launching before the store opted in is refused.
    let early = launch(&app, &store, &owner, &[("template", "payout-hold"), ("to", "all")]).await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    assert_eq!(enable(&app, &store, &owner).await.status(), 303);
    let done = launch(&app, &store, &owner, &[("template", "payout-hold"), ("to", "all")]).await;
    assert_eq!(done.status(), 303);

    let mails = outbox::to_address(&app.db, "clerk@alpha.example").await.unwrap();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].subject.contains("Payout on hold for Store alpha"), "{}", mails[0].subject);
    assert!(mails[0].html.is_none() && !mails[0].body.contains('<'), "plain text from the built-in template");
    let clerk_link = link_to(&app, "clerk@alpha.example").await;
    let owner_link = link_to(&app, "owner@alpha.example").await;
    assert_ne!(clerk_link, owner_link, "one link per recipient");
    let token = clerk_link.trim_start_matches("/learn/");
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM phishing_recipients WHERE token_hash = $1")
        .bind(token)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored, 0, "the token itself is never stored");

    // Scanners: a HEAD (served like the GET, recorded as HEAD), a gateway's agent, a prefetch, and a browser-like
    // GET 2 s after delivery. Each is recorded; none counts.
    delivered_ago(&app, 2).await;
    let head = app.client.head(app.url(&clerk_link)).header("user-agent", BROWSER).send().await.unwrap();
    assert_eq!(head.status(), 200);
    let get_now = app.client.get(app.url(&clerk_link)).header("user-agent", BROWSER).send().await.unwrap();
    assert_eq!(get_now.status(), 200);
    assert_eq!(head.headers().get("content-type"), get_now.headers().get("content-type"), "the same page");
    let fast_html = get_now.text().await.unwrap();
    delivered_ago(&app, 120).await;
    for (ua, purpose) in [("Mozilla/5.0 (compatible; Mimecast URL protect)", None), (BROWSER, Some("prefetch"))] {
        let mut req = app.client.get(app.url(&clerk_link)).header("user-agent", ua);
        if let Some(p) = purpose {
            req = req.header("purpose", p);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        // Even a scanner that "presses" Continue on its page is not a click.
        let nonce = nonce_of(&res.text().await.unwrap());
        let c = confirm(&app, &clerk_link, ua, &[("nonce", nonce.as_str())]).await;
        assert_eq!(c.status(), 200);
    }
    // The hit 2 s after delivery, confirmed later: still a scanner.
    let c = confirm(&app, &clerk_link, BROWSER, &[("nonce", nonce_of(&fast_html).as_str())]).await;
    assert_eq!(c.status(), 200);
    assert_eq!(visits(&app).await, 4);
    let results = phishing::results(&app.db, &scope).await.unwrap();
    assert_eq!((results[0].sent, results[0].human_clicks, results[0].automated_hits), (2, 0, 4));

    // A person: a navigation two minutes after delivery, read for a while, then "Continue".
    let page = app
        .client
        .get(app.url(&clerk_link))
        .header("user-agent", BROWSER)
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-dest", "document")
        .header("sec-fetch-site", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(page.headers().get("cache-control").unwrap(), "no-store");
    let html = page.text().await.unwrap();
    assert!(html.contains("This was a phishing simulation") && html.contains("Store alpha"));
    assert!(html.contains(r#"<script src="/assets/learn.js"></script>"#) && html.contains("<noscript>"));
    let nonce = nonce_of(&html);
    // A wrong nonce records nothing.
    let wrong = confirm(&app, &clerk_link, BROWSER, &[("nonce", "0".repeat(64).as_str())]).await;
    assert_eq!(wrong.status(), 200);
    assert_eq!(phishing::results(&app.db, &scope).await.unwrap()[0].human_clicks, 0);
    // Reading takes longer than the filter's 250 ms floor for a confirmation.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let beacon = confirm(
        &app,
        &clerk_link,
        BROWSER,
        &[("nonce", nonce.as_str()), ("kind", "beacon"), ("trusted", "1"), ("visible", "1"), ("dwell", "900")],
    )
    .await;
    assert_eq!(beacon.status(), 204);
    let results = phishing::results(&app.db, &scope).await.unwrap();
    assert_eq!((results[0].human_clicks, results[0].automated_hits), (1, 4));

    // The page shows the owner the campaign.
    let tab = app.client.get(app.url(&format!("/admin/stores/{store}/security/phishing"))).header("cookie", &owner);
    let html = tab.send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Your payout is on hold") && html.contains("Not enough stores"), "{html}");
}

#[tokio::test]
async fn only_the_owner_turns_it_on_or_launches() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    let (_, admin) = staff("admin@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let (_, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    for cookie in [&admin, &clerk] {
        assert_eq!(enable(&app, &store, cookie).await.status(), StatusCode::FORBIDDEN);
    }
    assert!(!phishing::settings(&app.db, &scope).await.unwrap().enabled);
    assert_eq!(enable(&app, &store, &owner).await.status(), 303);
    for cookie in [&admin, &clerk] {
        let res = launch(&app, &store, cookie, &[("template", "payout-hold"), ("to", "all")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // A clerk sees the report form, not the owner's controls or results.
        let html = app
            .client
            .get(app.url(&format!("/admin/stores/{store}/security/phishing")))
            .header("cookie", cookie.as_str())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("Report phishing") && !html.contains("Launch a campaign"));
    }
    assert!(phishing::results(&app.db, &scope).await.unwrap().is_empty());
    assert_eq!(phishing::last_launch(&app.db, &scope).await.unwrap(), None);
    // Without the synchronizer token, even the owner changes nothing.
    let no_csrf = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/security/phishing/settings")))
        .header("cookie", &owner)
        .form(&[("enabled", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert!(phishing::settings(&app.db, &scope).await.unwrap().enabled);
    let audit = palisade_store::audit::list_store(&app.db, &scope, 20).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "phishing.enabled").count(), 1);
}

#[tokio::test]
async fn the_mail_is_a_built_in_template_never_the_merchants_text() {
    let app = TestApp::start().await;
    let (s, _, owner) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    enable(&app, &store, &owner).await;
    for fields in [
        vec![("template", "custom"), ("to", "all")],
        vec![("template", "<b>Click</b>"), ("to", "all")],
        vec![("template", "payout-hold"), ("to", "all"), ("body", "<a href=//evil.example>hi</a>")],
        vec![("template", "payout-hold"), ("to", "all"), ("subject", "Free money")],
    ] {
        let res = launch(&app, &store, &owner, &fields).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{fields:?}");
    }
    assert!(outbox::to_address(&app.db, "owner@alpha.example").await.unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn stores_and_members_cannot_reach_each_others_simulations() {
    let app = TestApp::start().await;
    let (a, a_scope, a_owner) = owner_of(&app, "alpha").await;
    let (b, b_scope, b_owner) = owner_of(&app, "beta").await;
    let (_, a_clerk) = staff("clerk@alpha.example").signed_in_member(&app, &a_scope, Role::Staff).await;
    let (a_id, b_id) = (a.id.to_string(), b.id.to_string());
    enable(&app, &a_id, &a_owner).await;
    assert_eq!(launch(&app, &a_id, &a_owner, &[("template", "shared-invoice"), ("to", "all")]).await.status(), 303);
    let clerk_link = link_to(&app, "clerk@alpha.example").await;
    let owner_link = link_to(&app, "owner@alpha.example").await;

    // B's owner cannot see, change or launch in A.
    let page = app.client.get(app.url(&format!("/admin/stores/{a_id}/security/phishing"))).header("cookie", &b_owner);
    assert_eq!(page.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(enable(&app, &a_id, &b_owner).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(launch(&app, &a_id, &b_owner, &[("template", "payout-hold")]).await.status(), StatusCode::NOT_FOUND);
    // B cannot send A's members its campaign either.
    enable(&app, &b_id, &b_owner).await;
    let clerk_id = palisade_store::tenancy::list_members(&app.db, &a_scope)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.email == "clerk@alpha.example")
        .unwrap()
        .account_id
        .to_string();
    let res =
        launch(&app, &b_id, &b_owner, &[("template", "payout-hold"), ("to", "chosen"), ("member", &clerk_id)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // B's results hold nothing of A's.
    let html = app
        .client
        .get(app.url(&format!("/admin/stores/{b_id}/security/phishing")))
        .header("cookie", &b_owner)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No campaign yet") && !html.contains("<td>A supplier shared an invoice with you<br>"));
    assert!(phishing::results(&app.db, &b_scope).await.unwrap().is_empty());

    // A's clerk link reported from B's admin (by B's owner): a report for B's owner, A's recipient untouched.
    let res = report(&app, &b_id, &b_owner, &format!("https://shop.example{clerk_link}")).await;
    assert_eq!(res.status(), 303);
    // Another member's link of the same store: not marked either, and the same answer as a real report.
    let res = report(&app, &a_id, &a_clerk, &owner_link).await;
    assert_eq!(res.status(), 303);
    assert_eq!(phishing::results(&app.db, &a_scope).await.unwrap()[0].reports, 0);
    let b_reports = phishing::owner_reports(&app.db, &b_scope, 10).await.unwrap();
    assert_eq!(b_reports.len(), 1);
    let a_token = clerk_link.trim_start_matches("/learn/");
    assert!(!b_reports[0].excerpt.contains(a_token), "B's owner is not handed A's live link");
    assert_eq!(phishing::owner_reports(&app.db, &a_scope, 10).await.unwrap().len(), 1);

    // The clerk's own link: marked, and the page says it was a simulation.
    let res = report(&app, &a_id, &a_clerk, &format!("Hi, is this real? https://x.example{clerk_link}")).await;
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("That was a simulation"));
    assert_eq!(phishing::results(&app.db, &a_scope).await.unwrap()[0].reports, 1);
    let b_staff = StaffScope::system(b.id, "test");
    assert!(phishing::results(&app.db, &b_staff).await.unwrap().is_empty());
    // Reporting is a member's own act: a system task cannot.
    assert!(phishing::report(&app.db, &b_staff, &clerk_link).await.is_err());
}

#[tokio::test]
async fn the_landing_page_refuses_unknown_links_and_oversized_bodies() {
    let app = TestApp::start().await;
    let (s, _, owner) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    enable(&app, &store, &owner).await;
    launch(&app, &store, &owner, &[("template", "support-verification"), ("to", "all")]).await;
    let link = link_to(&app, "owner@alpha.example").await;

    for path in [format!("/learn/{}", "a".repeat(64)), "/learn/nope".to_owned(), "/learn/".to_owned()] {
        let res = app.get(&path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let before = visits(&app).await;
    let big = format!("nonce={}&pad={}", "0".repeat(64), "x".repeat(4096));
    let res = app
        .client
        .post(app.url(&format!("{link}/confirm")))
        .csrf(&app, VISITOR)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let res = app
        .client
        .get(app.url(&link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(visits(&app).await, before, "nothing recorded for refused requests");
    // A confirmation without the page's CSRF token is refused.
    let res = app
        .client
        .post(app.url(&format!("{link}/confirm")))
        .header("cookie", VISITOR)
        .form(&[("nonce", "0".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Past the hourly cap a link records nothing more.
    for _ in 0..phishing::MAX_HITS_PER_HOUR {
        app.get(&link).await;
    }
    assert_eq!(app.get(&link).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(visits(&app).await, before + phishing::MAX_HITS_PER_HOUR);
}
