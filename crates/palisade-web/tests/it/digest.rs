//! The weekly security digest's settings: the member's own checkbox on the Training page, and the signed,
//! single-purpose unsubscribe link from the mail (no session; refused when forged, altered, for another purpose,
//! another member or another store).

use palisade_store::digest::{self, Subscription};
use palisade_store::tenancy::{self, Role};
use reqwest::StatusCode;

use crate::support::{Csrf as _, TestApp, VISITOR, owner_of, staff};

/// An unticked checkbox: the form sends no field for it.
const NONE: [(&str, &str); 0] = [];

async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

async fn choice(app: &TestApp, store: palisade_core::StoreId, account: palisade_core::AccountId) -> Subscription {
    let m = tenancy::membership(&app.db, account, store).await.unwrap().unwrap();
    digest::subscription(&app.db, &m.scope).await.unwrap()
}

#[tokio::test]
async fn the_checkbox_sets_the_members_own_choice_and_only_theirs() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let owner_id = tenancy::list_members(&app.db, &scope).await.unwrap()[0].account_id;
    let (clerk_account, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let (_, _, outsider) = owner_of(&app, "bravo").await;
    let base = format!("/admin/stores/{}/security", s.id);

    let (status, html) = page(&app, &owner, &format!("{base}/training")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Weekly security digest") && html.contains("You are receiving it: <strong>yes"), "{html}");
    assert!(html.contains(r#"name="digest" checked"#), "{html}");
    let (_, html) = page(&app, &clerk, &format!("{base}/training")).await;
    assert!(!html.contains("Weekly security digest"), "not offered to staff without staff management");

    // Unticked: opted out; the page says so in words.
    let res = app.client.post(app.url(&format!("{base}/digest"))).csrf(&app, &owner).form(&NONE).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::OptedOut);
    let (_, html) = page(&app, &owner, &format!("{base}/training?saved=digest")).await;
    assert!(html.contains("You are receiving it: <strong>no") && html.contains("preference saved"), "{html}");
    let res = app
        .client
        .post(app.url(&format!("{base}/digest")))
        .csrf(&app, &owner)
        .form(&[("digest", "on")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::Subscribed);
    let bad = app
        .client
        .post(app.url(&format!("{base}/digest")))
        .csrf(&app, &owner)
        .form(&[("digest", "maybe")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A clerk's post changes the clerk's own row, never the owner's.
    let res = app.client.post(app.url(&format!("{base}/digest"))).csrf(&app, &clerk).form(&NONE).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(choice(&app, s.id, clerk_account.id).await, Subscription::OptedOut);
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::Subscribed);

    // Another store's owner, a post without the CSRF token, a guest: refused, nothing changes.
    let res =
        app.client.post(app.url(&format!("{base}/digest"))).csrf(&app, &outsider).form(&NONE).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res =
        app.client.post(app.url(&format!("{base}/digest"))).header("cookie", &owner).form(&NONE).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app.client.post(app.url(&format!("{base}/digest"))).csrf(&app, VISITOR).form(&NONE).send().await.unwrap();
    assert!(res.status().is_redirection() || res.status() == StatusCode::UNAUTHORIZED, "{}", res.status());
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::Subscribed);
}

fn link(app: &TestApp, purpose: &str, store: &str, member: &str, signed: &str) -> String {
    let k = app.identity().links().sign(purpose, signed);
    format!("/security-digest/unsubscribe?store={store}&member={member}&k={k}")
}

#[tokio::test]
async fn the_unsubscribe_link_works_without_a_session_for_its_member_only_and_cannot_be_forged() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let owner_id = tenancy::list_members(&app.db, &scope).await.unwrap()[0].account_id;
    let (clerk, _) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Admin).await;
    let (b, _, _) = owner_of(&app, "bravo").await;
    let p = digest::UNSUBSCRIBE_PURPOSE;
    let (sid, oid, cid) = (s.id.to_string(), owner_id.to_string(), clerk.id.to_string());
    let good = link(&app, p, &sid, &oid, &digest::link_subject(s.id, owner_id));

    // Forged or misused links: the owner's tag with the clerk's id, another purpose's tag, an edited tag, the
    // right tag against another store, garbage ids. All 404 with the same code; nobody's choice changes.
    let forged = [
        link(&app, p, &sid, &cid, &digest::link_subject(s.id, owner_id)),
        link(&app, "order", &sid, &oid, &digest::link_subject(s.id, owner_id)),
        good.replace("&k=", "&k=00"),
        link(&app, p, &b.id.to_string(), &oid, &digest::link_subject(s.id, owner_id)),
        link(&app, p, "x", "y", "x:y"),
        format!("/security-digest/unsubscribe?store={sid}&member={oid}"),
    ];
    for path in &forged {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.text().await.unwrap().contains("not valid"), "{path}");
        let query = path.split_once('?').unwrap().1;
        let fields: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        let res = app
            .client
            .post(app.url("/security-digest/unsubscribe"))
            .csrf(&app, VISITOR)
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "POST {path}");
    }
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::Subscribed);
    assert_eq!(choice(&app, s.id, clerk.id).await, Subscription::Subscribed);

    // The genuine link: opening it changes nothing (scanners fetch links); its one button does, without a session.
    let (status, html) = page(&app, VISITOR, &good).await;
    assert_eq!(status, 200);
    assert!(html.contains("Store alpha") && html.contains("Unsubscribe") && html.contains("Back to"), "{html}");
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::Subscribed);
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(good.split_once('?').unwrap().1).unwrap();
    let no_csrf = app.client.post(app.url("/security-digest/unsubscribe")).form(&fields).send().await.unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    let res = app
        .client
        .post(app.url("/security-digest/unsubscribe"))
        .csrf(&app, VISITOR)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("no longer receive"));
    assert_eq!(choice(&app, s.id, owner_id).await, Subscription::OptedOut);
    assert_eq!(choice(&app, s.id, clerk.id).await, Subscription::Subscribed, "only the member it names");

    // A valid link for someone who has left the store does nothing.
    let m = tenancy::membership(&app.db, owner_id, s.id).await.unwrap().unwrap();
    tenancy::remove_member(&app.db, &m, clerk.id).await.unwrap();
    let gone = link(&app, p, &sid, &cid, &digest::link_subject(s.id, clerk.id));
    let fields: Vec<(String, String)> = serde_urlencoded::from_str(gone.split_once('?').unwrap().1).unwrap();
    let res = app
        .client
        .post(app.url("/security-digest/unsubscribe"))
        .csrf(&app, VISITOR)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
