//! Buyer–seller messaging and scam reports (issue #20 items 5 and 6), as a malicious buyer or merchant would try
//! them: threads and reports are isolated per buyer and per store, messages are escaped and their links inert, a
//! message asking to pay outside Palisade is withheld from the buyer, oversized and rapid-fire input is refused
//! whole, a report about someone else's message is refused, the store never learns who reported, and a
//! high-severity report holds the store's payouts at once on the page and the API alike.

use palisade_commerce::messages;
use palisade_store::outbox;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, TestApp, buyer, listing, owner_of, store_token_from_page};

async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap()
}

async fn get(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// Starts a thread from a product page's "Contact seller" with a first message; the thread's path.
async fn contact(app: &TestApp, cookie: &str, store: &str, product: &str, body: &str) -> String {
    let res =
        post(app, cookie, "/account/messages/start", &[("store", store), ("product", product), ("body", body)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    location(&res).split('#').next().unwrap().to_owned()
}

async fn message_count(app: &TestApp) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM messages").fetch_one(app.db.pool()).await.unwrap();
    n
}

#[tokio::test]
async fn messages_are_escaped_warned_withheld_and_isolated_per_buyer_and_store() {
    let app = TestApp::start().await;
    let (alpha, alpha_scope, alpha_cookie) = owner_of(&app, "alpha").await;
    let (beta, _, beta_cookie) = owner_of(&app, "beta").await;
    let kettle = listing("kettle").title("Kettle").create(&app, &alpha_scope).await;
    let (_, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let (_, raj) = buyer("raj@buyer.example").named("Raj").signed_in(&app).await;
    let (a, k) = (alpha.id.to_string(), kettle.id.to_string());

    // The product page offers "Contact seller" to a signed-in buyer; the form names the store.
    let (st, page) = get(&app, &mei, &format!("/s/alpha/p/{}", kettle.slug)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains(&format!("/account/messages/new?store={a}&amp;product={k}")), "{page}");
    let (st, page) = get(&app, &mei, &format!("/account/messages/new?store={a}&product={k}")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Message Store alpha"), "{page}");

    // A plain first message goes through the real form.
    let thread = contact(&app, &mei, &a, &k, "Is it still available?").await;
    let id = thread.rsplit('/').next().unwrap();
    // HTML in a message is text, on both sides. (Sent through the domain: the firewall may stop such a body at the
    // edge, and what matters here is the page.)
    let html = "Hello <script>alert('x')</script><b>bold</b><a href=\"https://evil.example\">x</a>";
    let mei_id = sqlx::query_as::<_, (String,)>("SELECT id FROM accounts WHERE email = 'mei@buyer.example'")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .0;
    messages::buyer_send(&app.db, mei_id.parse().unwrap(), id.parse().unwrap(), html).await.unwrap();
    let (st, page) = get(&app, &mei, &thread).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("&lt;script&gt;alert(") && !page.contains("<script>alert("), "{page}");
    assert!(!page.contains("<b>bold</b>") && !page.contains("href=\"https://evil.example"), "{page}");
    let store_thread = format!("/admin/stores/{a}/messages/{id}");
    let (st, list) = get(&app, &alpha_cookie, &format!("/admin/stores/{a}/messages")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(list.contains("Mei") && list.contains("Kettle") && !list.contains("mei@buyer.example"), "{list}");
    let (st, page) = get(&app, &alpha_cookie, &store_thread).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("&lt;script&gt;alert(") && !page.contains("<script>alert("), "{page}");
    assert!(!page.contains("href=\"https://evil.example"), "{page}");

    // The seller asks for PayNow: the buyer never sees the number, only that Palisade withheld a message and why.
    let res = post(&app, &alpha_cookie, &store_thread, &[("body", "Can PayNow me at 9123 4567 lah, faster")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // A link is warned about and shown as text, never as a link.
    let res = post(&app, &alpha_cookie, &store_thread, &[("body", "More photos at https://example.com/pics")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, page) = get(&app, &mei, &thread).await;
    assert!(!page.contains("9123") && page.contains("Palisade withheld a message"), "{page}");
    assert!(page.contains("asks you to pay outside Palisade"), "the reason in plain words: {page}");
    // Shown as escaped text (minijinja escapes `/` too), never inside an anchor.
    assert!(page.contains("More photos at https:&#x2f;&#x2f;example.com&#x2f;pics</p>"), "{page}");
    assert!(!page.contains("href=\"https://example.com") && !page.contains("href=\"https:&#x2f;"), "{page}");
    assert!(page.contains("links to a site outside Palisade"), "{page}");
    // The seller sees their own text marked as not delivered.
    let (_, page) = get(&app, &alpha_cookie, &store_thread).await;
    assert!(page.contains("9123 4567") && page.contains("Not delivered."), "{page}");

    // Another buyer cannot read or post into Mei's thread, nor see it listed.
    let before = message_count(&app).await;
    assert_eq!(get(&app, &raj, &thread).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post(&app, &raj, &thread, &[("body", "hello")]).await.status(), StatusCode::NOT_FOUND);
    assert!(!get(&app, &raj, "/account/messages").await.1.contains("Store alpha"));
    // Another store's staff cannot either, through their own store's path or Alpha's.
    let beta_path = format!("/admin/stores/{}/messages/{id}", beta.id);
    assert_eq!(get(&app, &beta_cookie, &beta_path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post(&app, &beta_cookie, &beta_path, &[("body", "hi")]).await.status(), StatusCode::NOT_FOUND);
    assert!(!get(&app, &beta_cookie, &format!("/admin/stores/{}/messages", beta.id)).await.1.contains("Mei"));
    assert_eq!(get(&app, &beta_cookie, &store_thread).await.0, StatusCode::NOT_FOUND);
    assert_eq!(post(&app, &beta_cookie, &store_thread, &[("body", "hi")]).await.status(), StatusCode::NOT_FOUND);
    // Without the orders permission (a store token limited to the theme), nothing to read or answer.
    let token =
        store_token_from_page(&app, alpha.id, &alpha_cookie, "name=Theme&permission=theme&expires_days=30").await;
    for path in [format!("/admin/stores/{a}/messages"), store_thread.clone()] {
        let res = app.client.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let res = app.client.post(app.url(&store_thread)).bearer_auth(&token).form(&[("body", "hi")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // No CSRF token, no message.
    let res = app.client.post(app.url(&thread)).header("cookie", &mei).form(&[("body", "x")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A thread about another store's listing, or someone else's order, names nothing.
    let res =
        post(&app, &raj, "/account/messages/start", &[("store", &beta.id.to_string()), ("product", &k), ("body", "x")])
            .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = post(&app, &raj, "/account/messages/start", &[("store", &a), ("order", id), ("body", "x")]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(message_count(&app).await, before, "nothing was written");
}

/// Size and rate caps: refused whole, nothing stored.
#[tokio::test]
async fn messages_are_capped_in_size_and_rate() {
    let app = TestApp::start().await;
    let (alpha, scope, _) = owner_of(&app, "alpha").await;
    let kettle = listing("kettle").title("Kettle").create(&app, &scope).await;
    let (_, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let thread = contact(&app, &mei, &alpha.id.to_string(), &kettle.id.to_string(), "Still available?").await;
    let before = message_count(&app).await;
    // Oversized: refused whole with a stable code's status, nothing stored.
    let long = "a".repeat(2_001);
    let res = post(&app, &mei, &thread, &[("body", &long)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("longer than 2000 characters"));
    assert_eq!(message_count(&app).await, before);

    // Rate limit: 20 messages an hour from one buyer to one store (one is sent already).
    for i in 1..20 {
        let res = post(&app, &mei, &thread, &[("body", &format!("question {i}"))]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "message {i}");
    }
    let res = post(&app, &mei, &thread, &[("body", "one more")]).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(message_count(&app).await, before + 19);
}

/// One buyer cannot write to the whole marketplace: the per-store limit is joined by one across every store
/// (60 messages an hour) and one on new conversations (30 an hour). Sent through the domain (what the form
/// calls), so the counts are exact.
#[tokio::test]
async fn one_buyer_cannot_message_every_store() {
    let app = TestApp::start().await;
    let (mei, _) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let (raj, _) = buyer("raj@buyer.example").named("Raj").signed_in(&app).await;
    let mut stores = Vec::new();
    for i in 0..31 {
        stores.push(crate::support::store(&app.db, &format!("shop-{i}"), None).await.id);
    }
    let mut threads = Vec::new();
    for (i, store) in stores.iter().take(30).enumerate() {
        let t = messages::open(&app.db, mei.id, *store, messages::About::default()).await;
        threads.push(t.unwrap_or_else(|e| panic!("thread {i}: {e}")));
    }
    let refused = messages::open(&app.db, mei.id, stores[30], messages::About::default()).await;
    assert!(matches!(refused, Err(palisade_commerce::CommerceError::RateLimited(_))), "{refused:?}");
    // Opening a thread the buyer already has is not a new conversation.
    assert_eq!(messages::open(&app.db, mei.id, stores[0], messages::About::default()).await.unwrap(), threads[0]);
    // 60 messages, 2 per store (well inside the per-store 20), then the cross-store cap.
    for (i, thread) in threads.iter().enumerate() {
        for n in 0..2 {
            messages::buyer_send(&app.db, mei.id, *thread, &format!("hello {i}.{n}")).await.unwrap();
        }
    }
    let more = messages::buyer_send(&app.db, mei.id, threads[0], "one more").await;
    assert!(matches!(more, Err(palisade_commerce::CommerceError::RateLimited(_))), "{more:?}");
    // Another buyer is not affected.
    let t = messages::open(&app.db, raj.id, stores[30], messages::About::default()).await.unwrap();
    messages::buyer_send(&app.db, raj.id, t, "hello").await.unwrap();
    // An hour later Mei may write again (her messages aged by an hour).
    sqlx::query("UPDATE messages SET created_at = created_at - 3601000 WHERE author_id = $1")
        .bind(mei.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    messages::buyer_send(&app.db, mei.id, threads[0], "next hour").await.unwrap();
}

/// Marks the store verified (as the demo data does), so payouts reach the balance and hold checks.
async fn verified(app: &TestApp, store: palisade_core::StoreId) {
    let uen = (0..100u32)
        .map(|k| format!("53{:05}1", 12_000 + k))
        .find_map(|d| ('A'..='Z').find_map(|c| palisade_trust::uen::Uen::parse(&format!("{d}{c}"), 2026).ok()))
        .unwrap();
    let scope = palisade_store::scope::StaffScope::system(store, "demo");
    palisade_commerce::verification::verify_for_demo(&app.db, &scope, &uen, "Alpha Pte Ltd").await.unwrap();
}

async fn payout_api(app: &TestApp, store: &str, cookie: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/stores/{store}/payouts")))
        .csrf(app, cookie)
        .header("content-type", "application/json")
        .body(r#"{"amount_minor": 100}"#)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one report's journey, from the buyer's thread to the operator's decision")]
async fn scam_reports_hold_payouts_at_once_stay_anonymous_and_reach_the_reporter() {
    let app = TestApp::start().await;
    let (alpha, scope, owner) = owner_of(&app, "alpha").await;
    verified(&app, alpha.id).await;
    let a = alpha.id.to_string();
    let products: Vec<String> = {
        let mut v = Vec::new();
        for slug in ["kettle", "teapot", "cups"] {
            v.push(listing(slug).title(slug).create(&app, &scope).await.id.to_string());
        }
        v
    };
    let (mei_account, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let (_, raj) = buyer("raj@buyer.example").named("Raj").signed_in(&app).await;
    let thread = contact(&app, &mei, &a, &products[0], "Hello, is the kettle new?").await;
    let store_thread = format!("/admin/stores/{a}/messages/{}", thread.rsplit('/').next().unwrap());
    for body in ["Yes new, transfer to my DBS account 123-456789-0 first", "Or scan my QR to pay"] {
        assert_eq!(post(&app, &owner, &store_thread, &[("body", body)]).await.status(), StatusCode::SEE_OTHER);
    }
    let message = |sql: &'static str| {
        let app = &app;
        async move { sqlx::query_as::<_, (String,)>(sql).fetch_one(app.db.pool()).await.unwrap().0 }
    };
    let mine = &message("SELECT id FROM messages WHERE sender = 'buyer'").await;
    let theirs = &message("SELECT id FROM messages WHERE body LIKE 'Yes new%'").await;
    let theirs2 = &message("SELECT id FROM messages WHERE body LIKE 'Or scan%'").await;
    let report = |cookie: &str, field: &'static str, id: &str, category: &str| {
        let (cookie, id, category) = (cookie.to_owned(), id.to_owned(), category.to_owned());
        let app = &app;
        let a = a.clone();
        async move {
            let mut form =
                vec![(field, id.as_str()), ("category", category.as_str()), ("details", "He said pay first")];
            if field == "listing" {
                form.push(("store", a.as_str()));
            }
            post(app, &cookie, "/account/reports", &form).await
        }
    };

    // A message in someone else's thread, or the buyer's own message, cannot be reported.
    assert_eq!(report(&raj, "message", theirs, "off_platform_payment").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(report(&mei, "message", mine, "off_platform_payment").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(report(&mei, "message", theirs, "no_such_category").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "insufficient_funds", "no hold yet");

    // A high-severity report holds the store's payouts at once: the API and the page refuse them.
    let res = report(&mei, "message", theirs, "off_platform_payment").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/account/messages?reported=1");
    let (st, body) = payout_api(&app, &a, &owner).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "payouts_on_hold", "{body}");
    let res = post(&app, &owner, &format!("/admin/stores/{a}/payouts"), &[("amount", "1.00")]).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // The same report again is refused while it is open.
    assert_eq!(report(&mei, "message", theirs, "phishing").await.status(), StatusCode::CONFLICT);

    // The store sees that it was reported, not by whom or in what words.
    let (st, page) = get(&app, &owner, &format!("/admin/stores/{a}/messages")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("Asked me to pay outside Palisade") && page.contains("payouts are on hold"), "{page}");
    assert!(!page.contains("mei@buyer.example") && !page.contains("He said pay first"), "{page}");
    let audit: Vec<(String, String)> =
        sqlx::query_as("SELECT actor, details FROM audit_events WHERE store_id = $1 AND (target LIKE 'scam_report:%' OR target = 'payouts')")
            .bind(&a)
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    assert_eq!(audit.len(), 2, "filed and held: {audit:?}");
    let me = mei_account.id.to_string();
    assert!(
        audit
            .iter()
            .all(|(actor, details)| !actor.contains(&me) && !details.contains(&me) && !details.contains("mei@")),
        "{audit:?}"
    );

    // Reports are the reporter's own, and the reported store's: another buyer and another store see none of it.
    let (_, page) = get(&app, &raj, "/account/messages").await;
    assert!(!page.contains("Asked me to pay outside") && page.contains("You have not reported anything"), "{page}");
    let (beta, _, beta_owner) = owner_of(&app, "beta").await;
    let (_, page) = get(&app, &beta_owner, &format!("/admin/stores/{}/messages", beta.id)).await;
    assert!(!page.contains("Asked me to pay outside") && !page.contains("payouts are on hold"), "{page}");
    // Beta's payouts are refused for its own reason (not verified), never for alpha's hold.
    assert_eq!(payout_api(&app, &beta.id.to_string(), &beta_owner).await.1["error"]["code"], "seller_unverified");

    // Report spam: five reports an hour per buyer.
    for (field, id) in [
        ("store", a.as_str()),
        ("listing", products[1].as_str()),
        ("listing", products[2].as_str()),
        ("message", theirs2.as_str()),
    ] {
        assert_eq!(report(&mei, field, id, "misleading").await.status(), StatusCode::SEE_OTHER, "{field}");
    }
    assert_eq!(report(&mei, "listing", &products[0], "misleading").await.status(), StatusCode::TOO_MANY_REQUESTS);

    // Only an operator reaches the queue or lifts a hold: the merchant's attempt changes nothing.
    let (st, page) = get(&app, &owner, "/console/reports").await;
    assert!(st != StatusCode::OK || !page.contains("mei@buyer.example"), "{st}");
    post(&app, &owner, &format!("/console/stores/{a}/payout-hold/release"), &[]).await;
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "payouts_on_hold");

    // The operator sees the reporter and decides; the reporter hears the outcome in the account and by mail.
    let console = app.console_cookie().await;
    let (st, page) = get(&app, &console, "/console/reports").await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("mei@buyer.example") && page.contains("Lift the payout hold"), "{page}");
    let (report_id,): (String,) =
        sqlx::query_as("SELECT id FROM scam_reports WHERE severity = 'high'").fetch_one(app.db.pool()).await.unwrap();
    let decide = format!("/console/reports/{report_id}/decide");
    assert_eq!(
        post(&app, &console, &decide, &[("action", "warn"), ("note", "first warning")]).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        post(&app, &console, &decide, &[("action", "warn")]).await.status(),
        StatusCode::CONFLICT,
        "decided once"
    );
    // A buyer cannot decide a report (the console turns them away), and nothing changes.
    let (open_id,): (String,) = sqlx::query_as("SELECT id FROM scam_reports WHERE subject_kind = 'store'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let res = post(&app, &mei, &format!("/console/reports/{open_id}/decide"), &[("action", "dismiss")]).await;
    assert_ne!(res.headers().get("location").and_then(|l| l.to_str().ok()), Some("/console/reports?saved=decided"));
    let (status,): (String,) = sqlx::query_as("SELECT status FROM scam_reports WHERE id = $1")
        .bind(&open_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(status, "open");
    let (_, page) = get(&app, &mei, "/account/messages").await;
    assert!(page.contains("We upheld your report and warned the seller."), "{page}");
    let mail = outbox::to_address(&app.db, "mei@buyer.example").await.unwrap();
    assert!(mail.iter().any(|m| m.body.contains("warned the seller")), "{mail:?}");

    // Lifting the hold lets payouts through again (to the ledger, which has nothing to pay).
    let res = post(&app, &console, &format!("/console/stores/{a}/payout-hold/release"), &[]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "insufficient_funds");
}

#[tokio::test]
async fn operators_triage_against_targets_hide_listings_and_suspend_stores() {
    let app = TestApp::start().await;
    let (alpha, scope, owner) = owner_of(&app, "alpha").await;
    verified(&app, alpha.id).await;
    let a = alpha.id.to_string();
    let fake = listing("fake-bag").title("Fake bag").create(&app, &scope).await;
    let (_, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    assert_eq!(get(&app, "", "/s/alpha/p/fake-bag").await.0, StatusCode::OK);
    let (st, form) = get(&app, &mei, &format!("/account/reports/new?store={a}&listing={}", fake.id)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(form.contains("Report this listing") && form.contains("value=\"counterfeit\""), "{form}");
    let listing_report = [("store", a.as_str()), ("listing", &fake.id.to_string()), ("category", "counterfeit")];
    assert_eq!(post(&app, &mei, "/account/reports", &listing_report).await.status(), StatusCode::SEE_OTHER);
    let store_report = [("store", a.as_str()), ("category", "non_delivery"), ("details", "never came")];
    assert_eq!(post(&app, &mei, "/account/reports", &store_report).await.status(), StatusCode::SEE_OTHER);
    // Normal severity: no hold, due in 24 hours.
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "insufficient_funds");
    let id_of = |kind: &'static str| {
        let app = &app;
        async move {
            sqlx::query_as::<_, (String,)>("SELECT id FROM scam_reports WHERE subject_kind = $1")
                .bind(kind)
                .fetch_one(app.db.pool())
                .await
                .unwrap()
                .0
        }
    };
    let (listing_id, store_id) = (id_of("listing").await, id_of("store").await);

    // Past its target, a report is overdue: counted for the platform control and marked in the queue.
    assert_eq!(palisade_commerce::scam_reports::overdue_count(&app.db).await.unwrap(), 0);
    sqlx::query("UPDATE scam_reports SET due_at = due_at - 86400001 WHERE id = $1")
        .bind(&listing_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(palisade_commerce::scam_reports::overdue_count(&app.db).await.unwrap(), 1);
    let console = app.console_cookie().await;
    let (_, page) = get(&app, &console, "/console/reports").await;
    assert!(page.contains("<b>1</b> overdue") && page.contains("badge unmet\">overdue"), "{page}");

    // Hiding is for listing reports only; it takes the listing off sale at once.
    let decide = |id: &str| format!("/console/reports/{id}/decide");
    let res = post(&app, &console, &decide(&store_id), &[("action", "hide_listing")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = post(&app, &console, &decide(&listing_id), &[("action", "hide_listing"), ("note", "replica")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(&app, "", "/s/alpha/p/fake-bag").await.0, StatusCode::NOT_FOUND);
    // Hidden by the operator, not merely unpublished: the merchant cannot publish it again.
    let path = format!("/admin/stores/{a}/products/{}/status", fake.id);
    let republish = post(&app, &owner, &path, &[("status", "published")]).await;
    assert_eq!(republish.status(), StatusCode::CONFLICT);
    assert_eq!(get(&app, "", "/s/alpha/p/fake-bag").await.0, StatusCode::NOT_FOUND);
    assert_eq!(palisade_commerce::scam_reports::overdue_count(&app.db).await.unwrap(), 0);

    // Suspending closes the shop and holds payouts, in the store's audit chain.
    let res = post(&app, &console, &decide(&store_id), &[("action", "suspend_store")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(&app, "", "/s/alpha").await.0, StatusCode::NOT_FOUND);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "payouts_on_hold");
    let (decided,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM audit_events WHERE store_id = $1 AND action = 'scam_report.decided' AND actor LIKE 'account:%'",
    )
    .bind(&a)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(decided, 2, "both decisions audited under the operator");
    let (_, page) = get(&app, &mei, "/account/messages").await;
    assert!(page.contains("removed the listing from sale") && page.contains("suspended the store"), "{page}");
}

/// Review findings: a throwaway account with no dealings with the store cannot freeze its payouts with a
/// high-severity report (the operator triages it within the hour and may hold); a hold placed by a report that
/// the operator dismisses is lifted with it.
#[tokio::test]
async fn only_a_buyer_who_dealt_with_the_store_can_hold_its_payouts_and_a_dismissal_lifts_the_hold() {
    let app = TestApp::start().await;
    let (alpha, scope, owner) = owner_of(&app, "alpha").await;
    verified(&app, alpha.id).await;
    let a = alpha.id.to_string();
    let _ = listing("kettle").title("Kettle").create(&app, &scope).await;
    let (_, stranger) = buyer("stranger@buyer.example").named("S").signed_in(&app).await;
    let form = [("store", a.as_str()), ("category", "off_platform_payment"), ("details", "scam!")];
    assert_eq!(post(&app, &stranger, "/account/reports", &form).await.status(), StatusCode::SEE_OTHER);
    let (severity,): (String,) =
        sqlx::query_as("SELECT severity FROM scam_reports").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(severity, "high", "still high: triaged within the hour");
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "insufficient_funds", "no hold from a stranger");

    // A buyer the store messaged reports that message: the hold is placed at once; dismissing lifts it.
    let (_, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let mei_id = palisade_store::tenancy::find_account_by_email(
        &app.db,
        &palisade_core::text::Email::parse("mei@buyer.example").unwrap(),
    )
    .await
    .unwrap()
    .unwrap()
    .id;
    let thread = palisade_commerce::messages::open(&app.db, mei_id, alpha.id, Default::default()).await.unwrap();
    let reply = palisade_commerce::messages::store_send(&app.db, &scope, thread, "Pay me by PayNow 91234567 instead")
        .await
        .unwrap();
    let form = [("message", reply.id.to_string()), ("category", "off_platform_payment".into())];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&app, &mei, "/account/reports", &form).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "payouts_on_hold");
    let (report_id,): (String,) = sqlx::query_as("SELECT id FROM scam_reports WHERE subject_kind = 'message'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (stranger_id,): (String,) = sqlx::query_as("SELECT id FROM scam_reports WHERE subject_kind = 'store'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let console = app.console_cookie().await;
    // Dismissing while the stranger's high report is still open keeps the hold (it is still backed)…
    let decide = |id: &str| format!("/console/reports/{id}/decide");
    let res = post(&app, &console, &decide(&report_id), &[("action", "dismiss")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "payouts_on_hold", "still backed");
    // …and once no open high report backs it, the automatic hold is lifted.
    let res = post(&app, &console, &decide(&stranger_id), &[("action", "dismiss")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(payout_api(&app, &a, &owner).await.1["error"]["code"], "insufficient_funds", "lifted");
}

/// The store's messages and verification through the JSON API: a store token with the orders permission lists,
/// reads and answers (the classifier applies); one without it, or another store's, gets nothing.
#[tokio::test]
async fn the_api_lists_reads_and_answers_messages_with_the_orders_permission_only() {
    let app = TestApp::start().await;
    let (alpha, scope, alpha_cookie) = owner_of(&app, "alpha").await;
    let (beta, _, beta_cookie) = owner_of(&app, "beta").await;
    let kettle = listing("kettle").title("Kettle").create(&app, &scope).await;
    let (_, mei) = buyer("mei@buyer.example").named("Mei").signed_in(&app).await;
    let thread = contact(&app, &mei, &alpha.id.to_string(), &kettle.id.to_string(), "Still available?").await;
    let id = thread.rsplit('/').next().unwrap();
    let (a, b) = (alpha.id.to_string(), beta.id.to_string());
    let orders =
        store_token_from_page(&app, alpha.id, &alpha_cookie, "name=Inbox&permission=orders&expires_days=30").await;
    let theme =
        store_token_from_page(&app, alpha.id, &alpha_cookie, "name=Theme&permission=theme&expires_days=30").await;
    let api = |path: String| app.url(&format!("/api/v1/admin/stores/{path}"));

    let list: Value =
        app.client.get(api(format!("{a}/messages"))).bearer_auth(&orders).send().await.unwrap().json().await.unwrap();
    assert_eq!(list["threads"][0]["id"], id, "{list}");
    assert!(!list.to_string().contains("mei@buyer.example"), "never the buyer's email: {list}");
    let one: Value = app
        .client
        .get(api(format!("{a}/messages/{id}")))
        .bearer_auth(&orders)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["messages"][0]["body"], "Still available?", "{one}");
    let res = app
        .client
        .post(api(format!("{a}/messages/{id}")))
        .bearer_auth(&orders)
        .json(&serde_json::json!({"body": "Pay me on WhatsApp +65 9123 4567 instead"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let sent: Value = res.json().await.unwrap();
    assert_ne!(sent["verdict"], "ok", "the classifier applies to the API too: {sent}");

    // Without the permission, or for another store, nothing.
    for (token, path) in
        [(&theme, format!("{a}/messages")), (&theme, format!("{a}/messages/{id}")), (&orders, format!("{b}/messages"))]
    {
        let res = app.client.get(api(path.clone())).bearer_auth(token).send().await.unwrap();
        assert!(matches!(res.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND), "{path}: {}", res.status());
    }
    let beta_path = api(format!("{b}/messages/{id}"));
    let res = app.client.get(beta_path).header("cookie", &beta_cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "beta's staff cannot read alpha's thread through beta's path");

    // Verification reads with the payouts permission only.
    let res = app.client.get(api(format!("{a}/verification"))).bearer_auth(&orders).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let v: Value = app
        .client
        .get(api(format!("{a}/verification")))
        .header("cookie", &alpha_cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["state"], "unverified", "{v}");
}
