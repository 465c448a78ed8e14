//! Security-awareness training in the Security Center: quizzes scored on the server and counted only in an
//! MFA-verified session, single-use attempts, the team view and its exports behind staff management, and the
//! published guidelines.

use palisade_store::tenancy::Role;
use palisade_store::training;
use reqwest::StatusCode;

use crate::support::{Csrf as _, TestApp, owner_of, staff};

/// The `palisade_session` value a response sets, if any.
fn session_of(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("palisade_session=") && !c.starts_with("palisade_session=;"))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// Sets up an authenticator app for the signed-in account as the account page does; the session it rotates to
/// (which has passed the second factor).
async fn with_mfa(app: &TestApp, cookie: &str) -> String {
    let setup = app.client.post(app.url("/account/security/totp")).csrf(app, cookie).send().await.unwrap();
    assert_eq!(setup.status(), 200);
    let html = setup.text().await.unwrap();
    let key = html.split("Key: <code>").nth(1).unwrap().split("</code>").next().unwrap();
    let secret = totp_rs::Secret::Encoded(key.to_owned()).to_bytes().unwrap();
    let code = palisade_identity::totp::code_at(&secret, app.db.now()).unwrap();
    let done = app
        .client
        .post(app.url("/account/security/totp/confirm"))
        .csrf(app, cookie)
        .form(&[("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    session_of(&done).unwrap()
}

/// A quiz as the page shows it: the attempt id and, per question, its choices as (form value, text).
struct Quiz {
    attempt: String,
    questions: Vec<(String, Vec<(String, String)>)>,
}

fn unescape(s: &str) -> String {
    s.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn quiz_of(html: &str) -> Option<Quiz> {
    let attempt = html.split(r#"name="attempt" value=""#).nth(1)?.split('"').next()?.to_owned();
    let mut questions: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for part in html.split(r#"name="q."#).skip(1) {
        let (q, rest) = part.split_once('"').unwrap();
        let value = rest.split(r#"value=""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
        let text = unescape(rest.split("<span>").nth(1).unwrap().split("</span>").next().unwrap());
        match questions.iter_mut().find(|(id, _)| id == q) {
            Some((_, choices)) => choices.push((value, text)),
            None => questions.push((q.to_owned(), vec![(value, text)])),
        }
    }
    Some(Quiz { attempt, questions })
}

/// How a test answers a quiz.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Right,
    Wrong,
}

/// The form fields answering `quiz` (all right, or all wrong), found by the choices' texts: the form's values are
/// only places in the shuffled order.
fn answers(module: &str, quiz: &Quiz, answer: Answer) -> Vec<(String, String)> {
    let m = training::module(module).unwrap();
    let mut out = vec![("attempt".to_owned(), quiz.attempt.clone())];
    for (q, choices) in &quiz.questions {
        let question = m.question(q).unwrap();
        let correct_id = question.correct_choice().unwrap();
        let correct = &question.choices.iter().find(|c| c.id == correct_id).unwrap().text;
        let pick = choices.iter().find(|(_, text)| (text == correct) == (answer == Answer::Right)).unwrap();
        out.push((format!("q.{q}"), pick.0.clone()));
    }
    out
}

/// A page's status and text, with the escaped slashes of its links read back as slashes.
async fn page(app: &TestApp, cookie: &str, path: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

async fn post(app: &TestApp, cookie: &str, path: &str, form: &[(String, String)]) -> (StatusCode, String) {
    let res = app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn a_pass_in_an_mfa_session_is_recorded_a_fail_is_not_and_an_answer_sheet_cannot_be_replayed() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let cookie = with_mfa(&app, &cookie).await;
    let base = format!("/admin/stores/{}/security/training", s.id);
    let (status, html) = page(&app, &cookie, &base).await;
    assert_eq!(status, 200);
    assert!(html.contains("Phishing") && html.contains("not started"), "every module listed with my status");
    assert!(!html.contains("mfa-needed"));

    let (_, html) = page(&app, &cookie, &format!("{base}/phishing")).await;
    assert!(html.contains("Why this matters"), "the lesson is shown");
    let quiz = quiz_of(&html).expect("a quiz in a verified session");
    assert_eq!(quiz.questions.len(), training::module("phishing").unwrap().quiz_size);
    // The form names each choice by its place on this paper, never by the content's own (fixed) choice id, which
    // would tell the right answer to anyone who learnt it once.
    for (_, choices) in &quiz.questions {
        let places: Vec<&str> = choices.iter().map(|(v, _)| v.as_str()).collect();
        let expected: Vec<String> = (1..=choices.len()).map(|n| n.to_string()).collect();
        assert_eq!(places, expected, "choices are numbered by place");
    }
    let (_, again) = page(&app, &cookie, &format!("{base}/phishing")).await;
    assert_eq!(quiz_of(&again).unwrap().attempt, quiz.attempt, "reloading does not draw new questions");

    let (status, html) =
        post(&app, &cookie, &format!("{base}/phishing"), &answers("phishing", &quiz, Answer::Wrong)).await;
    assert_eq!(status, 200);
    assert!(html.contains("not passed") && html.contains("Nothing was recorded"), "{html}");
    assert!(training::completions(&app.db, &scope).await.unwrap().is_empty());

    let (_, html) = page(&app, &cookie, &format!("{base}/phishing")).await;
    let second = quiz_of(&html).unwrap();
    assert_ne!(second.attempt, quiz.attempt, "a used attempt is not offered again");
    let sheet = answers("phishing", &second, Answer::Right);
    let (status, html) = post(&app, &cookie, &format!("{base}/phishing"), &sheet).await;
    assert_eq!(status, 200);
    assert!(html.contains("Your pass is") && html.contains("100 %"), "{html}");
    let done = training::completions(&app.db, &scope).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].module.0.as_str(), done[0].score_percent), ("phishing", 100));
    assert!(palisade_store::audit::verify_store(&app.db, &scope).await.unwrap().broken.is_none());
    assert!(training::verify(&app.db, &scope).await.unwrap().is_empty());

    // The same passing sheet again: refused, nothing more recorded.
    let (status, _) = post(&app, &cookie, &format!("{base}/phishing"), &sheet).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(training::completions(&app.db, &scope).await.unwrap().len(), 1);
    let (_, html) = page(&app, &cookie, &base).await;
    assert!(html.contains("passed</span> on"), "my status shows the pass");
}

#[tokio::test]
async fn without_an_mfa_verified_session_the_page_says_how_and_nothing_is_recorded() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/security/training", s.id);
    let (status, html) = page(&app, &cookie, &format!("{base}/phishing")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Why this matters"), "the lesson can be read");
    assert!(html.contains("Set up two-step verification") && html.contains(r#"href="/account""#), "{html}");
    assert!(quiz_of(&html).is_none(), "no quiz is drawn");

    // A verified session of the same account draws a quiz; submitting it from the old, unverified one counts
    // for nothing (that session signed in by password alone before MFA existed).
    let verified = with_mfa(&app, &crate::support::login(&app, "owner@alpha.example").await).await;
    let (_, html) = page(&app, &verified, &format!("{base}/phishing")).await;
    let quiz = quiz_of(&html).unwrap();
    let (status, html) =
        post(&app, &cookie, &format!("{base}/phishing"), &answers("phishing", &quiz, Answer::Right)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("not recorded") && html.contains("Sign in again with your second step"), "{html}");
    assert!(training::completions(&app.db, &scope).await.unwrap().is_empty());
    // The attempt was not used up: the verified session can still submit it.
    let (status, _) =
        post(&app, &verified, &format!("{base}/phishing"), &answers("phishing", &quiz, Answer::Right)).await;
    assert_eq!(status, 200);
    assert_eq!(training::completions(&app.db, &scope).await.unwrap().len(), 1);
}

#[tokio::test]
async fn tampered_forged_or_foreign_attempts_are_refused() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let owner = with_mfa(&app, &owner).await;
    let (_, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let clerk = with_mfa(&app, &clerk).await;
    let base = format!("/admin/stores/{}/security/training", s.id);
    let (_, html) = page(&app, &owner, &format!("{base}/phishing")).await;
    let quiz = quiz_of(&html).unwrap();
    let module = training::module("phishing").unwrap();

    // An easier question from the bank in place of one drawn: refused.
    let easy = module.questions.iter().find(|q| !quiz.questions.iter().any(|(id, _)| *id == q.id)).unwrap();
    let mut swapped = answers("phishing", &quiz, Answer::Right);
    swapped[1] = (format!("q.{}", easy.id), "1".to_owned());
    let (status, _) = post(&app, &owner, &format!("{base}/phishing"), &swapped).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // The content's own choice ids (as an older page carried them) are not answers: refused, nothing recorded.
    let mut by_id = answers("phishing", &quiz, Answer::Right);
    for (name, value) in by_id.iter_mut().skip(1) {
        *value = module.question(name.trim_start_matches("q.")).unwrap().correct_choice().unwrap().to_owned();
    }
    assert_eq!(post(&app, &owner, &format!("{base}/phishing"), &by_id).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // A made-up attempt id, or none: refused.
    let mut forged = answers("phishing", &quiz, Answer::Right);
    forged[0].1 = "0190a0a0-0000-7000-8000-000000000000".to_owned();
    assert_eq!(post(&app, &owner, &format!("{base}/phishing"), &forged).await.0, StatusCode::NOT_FOUND);
    let unnamed = answers("phishing", &quiz, Answer::Right).split_off(1);
    assert_eq!(post(&app, &owner, &format!("{base}/phishing"), &unnamed).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    // Another member submitting the owner's attempt: not theirs.
    let (status, _) = post(&app, &clerk, &format!("{base}/phishing"), &answers("phishing", &quiz, Answer::Right)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The same attempt under another module's address: not found.
    let (status, _) =
        post(&app, &owner, &format!("{base}/seller-scams"), &answers("phishing", &quiz, Answer::Right)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Without the CSRF token: refused.
    let res = app
        .client
        .post(app.url(&format!("{base}/phishing")))
        .header("cookie", &owner)
        .form(&answers("phishing", &quiz, Answer::Right))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // A guest: sent to sign in.
    let res = app.client.post(app.url(&format!("{base}/phishing"))).csrf(&app, "").form(&swapped).send().await.unwrap();
    assert!(res.status() == StatusCode::SEE_OTHER || res.status() == StatusCode::UNAUTHORIZED, "{}", res.status());
    assert!(training::completions(&app.db, &scope).await.unwrap().is_empty(), "none of it recorded anything");
}

#[tokio::test]
async fn the_team_view_and_exports_need_staff_management_and_carry_no_secrets() {
    let app = TestApp::start().await;
    let (s, scope, owner) = owner_of(&app, "alpha").await;
    let owner = with_mfa(&app, &owner).await;
    let (clerk_account, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let (_, _, outsider) = owner_of(&app, "bravo").await;
    let base = format!("/admin/stores/{}/security/training", s.id);
    let (_, html) = page(&app, &owner, &format!("{base}/incident-reporting")).await;
    let quiz = quiz_of(&html).unwrap();
    post(&app, &owner, &format!("{base}/incident-reporting"), &answers("incident-reporting", &quiz, Answer::Right))
        .await;

    let (status, html) = page(&app, &owner, &format!("{base}/team")).await;
    assert_eq!(status, 200);
    assert!(html.contains("clerk@alpha.example") && html.contains("not started"), "every active member listed");
    assert!(html.contains("0 of 2 active team members"), "{html}");

    let res = app.client.get(app.url(&format!("{base}/export.csv"))).header("cookie", &owner).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let owner_id = palisade_store::tenancy::list_members(&app.db, &scope).await.unwrap()[0].account_id;
    assert!(csv.starts_with("member_id,module_id,module_version,"), "{csv}");
    assert!(csv.contains(&format!("{owner_id},incident-reporting,1,")) && csv.contains(",true,"), "{csv}");
    assert!(!csv.contains('@') && !csv.contains("palisade_session") && !csv.contains(crate::support::PW), "{csv}");
    let (status, json) = page(&app, &owner, &format!("{base}/export.json")).await;
    assert_eq!(status, 200);
    let statements: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(statements[0]["verb"]["id"], "http://adlnet.gov/expapi/verbs/passed");
    assert_eq!(statements[0]["actor"]["account"]["name"], owner_id.to_string());
    assert!(!json.contains('@'));

    // A member without staff management: 403, and their own page does not link to the team view.
    for path in ["team", "export.csv", "export.json"] {
        assert_eq!(page(&app, &clerk, &format!("{base}/{path}")).await.0, StatusCode::FORBIDDEN, "{path}");
    }
    let (status, html) = page(&app, &clerk, &base).await;
    assert_eq!(status, 200);
    assert!(!html.contains("/security/training/team"));
    assert!(clerk_account.email.starts_with("clerk@"));
    // Another store's owner sees none of it.
    for path in ["", "/team", "/export.csv", "/export.json", "/phishing"] {
        assert_eq!(page(&app, &outsider, &format!("{base}{path}")).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let sheet = answers("incident-reporting", &quiz, Answer::Right);
    let (status, _) = post(&app, &outsider, &format!("{base}/incident-reporting"), &sheet).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_guidelines_are_published_in_the_security_center() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (_, overview) = page(&app, &cookie, &format!("/admin/stores/{}/security/awareness", s.id)).await;
    assert!(overview.contains(&format!("/admin/stores/{}/security/guidelines", s.id)), "reachable from the center");
    let (status, html) = page(&app, &cookie, &format!("/admin/stores/{}/security/guidelines", s.id)).await;
    assert_eq!(status, 200);
    let g = &training::catalogue().unwrap().guidelines;
    for c in &g.controls {
        assert!(html.contains(&format!(r#"id="{}""#, c.id)), "{} shown", c.id);
    }
    assert!(html.contains("What it means") && html.contains("How to meet it"));
    assert!(html.contains("Back to the Security Center"));
}
