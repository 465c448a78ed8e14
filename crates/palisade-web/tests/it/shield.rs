//! The shield in front of the real router: attacks get 403 with an event id and are recorded (with their store
//! when the path names one) and counted; shoppers pass; detect mode only records.

use std::time::Duration;

use palisade_store::scope::{PlatformScope, StaffScope};
use palisade_store::shield_events;
use palisade_web::WebConfig;
use palisade_web::edge::shield::{ShieldConfig, shown};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Csrf as _, VISITOR};
use crate::support::{TestApp, forget_recent_passwords, metric, store, store_token_from_page};

/// The events as the pages show them: the platform's (`None`) or one store's, as its staff read them.
async fn recent(app: &TestApp, store: Option<&str>) -> Vec<Value> {
    let rows = match store {
        None => shield_events::recent_platform(&app.db, &PlatformScope::system("test"), 50).await,
        Some(id) => {
            let staff = StaffScope::system(id.parse().unwrap(), "test");
            shield_events::recent_for_store(&app.db, &staff, 50).await
        }
    };
    shown(rows.unwrap())
}

async fn events(app: &TestApp, store: Option<&str>, n: usize) -> Vec<Value> {
    for _ in 0..100 {
        let e = recent(app, store).await;
        if e.len() >= n {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    recent(app, store).await
}

#[tokio::test]
async fn attacks_are_blocked_recorded_and_counted_and_shoppers_pass() {
    let app = TestApp::start().await;
    let tea = store(&app.db, "tea", None).await;
    let res = app.get("/search?q=1%27%20OR%20%271%27%3D%271").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let id = res.headers()["x-palisade-event"].to_str().unwrap().to_owned();
    assert!(res.text().await.unwrap().contains(&id), "the page quotes the event id");
    let api = app.get("/api/v1/search?q=%3Cscript%3Ealert(1)%3C/script%3E").await;
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "blocked_by_firewall");
    // Paths nobody routes are inspected too.
    assert_eq!(app.get("/nowhere/../../etc/passwd").await.status(), StatusCode::FORBIDDEN);
    // An attack on a store's page is the store's event as well.
    let on_store = app.get("/s/tea/p/x?u=http://169.254.169.254/latest/meta-data/").await;
    assert_eq!(on_store.status(), StatusCode::FORBIDDEN);
    let all = events(&app, None, 4).await;
    assert!(all.iter().any(|e| e["id"] == id.as_str() && e["action"] == "block"), "{all:?}");
    let mine = events(&app, Some(&tea.id.to_string()), 1).await;
    assert_eq!(mine.len(), 1);
    assert!(mine[0]["rules"].as_array().unwrap().iter().any(|r| r == "ssrf.internal-url"), "{mine:?}");
    assert!(mine[0]["matched"].to_string().contains(r#"ssrf.internal-url in query \"u\""#), "{mine:?}");
    let metrics = app.get_authed("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("palisade_shield_decisions_total"), "{metrics}");
    // Shoppers pass.
    for ok in ["/search?q=O%27Reilly", "/search?q=men%27s+shoes", "/search?q=%3C3+gift", "/s/tea"] {
        assert_eq!(app.get(ok).await.status(), StatusCode::OK, "{ok}");
    }
    let form = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .form(&[("email", "someone@example.com"), ("password", "' OR 1=1; DROP TABLE accounts; --")])
        .send()
        .await
        .unwrap();
    assert_ne!(form.status(), StatusCode::FORBIDDEN, "any character may be in a password");
}

/// A node whose platform shield only detects.
fn detect_mode() -> WebConfig {
    let policy = palisade_shield::Policy { mode: palisade_shield::Mode::Detect, ..palisade_shield::Policy::default() };
    WebConfig { shield: ShieldConfig { policy, ..ShieldConfig::default() }, ..WebConfig::default() }
}

#[tokio::test]
async fn detect_mode_lets_requests_through_and_records_them() {
    let app = TestApp::start_with(detect_mode(), |r, _| r).await;
    let res = app.get("/search?q=1%27%20OR%20%271%27%3D%271").await;
    assert_eq!(res.status(), StatusCode::OK);
    let e = events(&app, None, 1).await;
    assert_eq!(e[0]["action"], "log");
}

#[tokio::test]
async fn an_operators_exception_spares_one_field_of_one_route_from_the_families_it_names() {
    let mut policy = palisade_shield::Policy::default();
    policy.exceptions.push(palisade_shield::Exception::parse("POST /s/*/contact message xss").unwrap());
    let cfg = WebConfig { shield: ShieldConfig { policy, ..ShieldConfig::default() }, ..WebConfig::default() };
    let app = TestApp::start_with(cfg, |r, _| r).await;
    let post = |path: &'static str, body: &'static str| {
        app.client
            .post(app.url(path))
            .csrf(&app, VISITOR)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    let html = "message=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let spared = post("/s/tea/contact", html).await.unwrap();
    assert_ne!(spared.status(), StatusCode::FORBIDDEN, "the excepted field on its route");
    assert_eq!(post("/s/tea/reviews", html).await.unwrap().status(), StatusCode::FORBIDDEN, "another route");
    let other_field = "name=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    assert_eq!(post("/s/tea/contact", other_field).await.unwrap().status(), StatusCode::FORBIDDEN, "another field");
    let sqli = "message=1%27%20OR%20%271%27%3D%271";
    assert_eq!(post("/s/tea/contact", sqli).await.unwrap().status(), StatusCode::FORBIDDEN, "another family");
    // The operator sees Palisade's exceptions and theirs.
    let page = app
        .client
        .get(app.url("/console/shield"))
        .header("cookie", app.console_cookie().await)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let row = |path: &str, field: &str, from: &str| {
        format!(
            "<td><code>POST {}</code></td><td><code>{field}</code></td><td>{}</td><td>{from}</td>",
            path.replace('/', "&#x2f;"),
            if field == "message" { "xss" } else { "xss, generic, protocol" }
        )
    };
    assert!(page.contains(&row("/s/*/contact", "message", "this node&#x27;s configuration")), "{page}");
    assert!(page.contains(&row("/admin/stores/*/products", "description", "Palisade")), "Palisade's own: {page}");
}

#[tokio::test]
async fn an_address_that_keeps_tripping_the_firewall_is_banned_for_a_while() {
    let app = TestApp::start().await;
    for i in 0..palisade_web::edge::shield::STRIKES_TO_BAN {
        let res = app.get(&format!("/search?q={i}%27%20OR%20%271%27%3D%271")).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Now even a harmless request from that address is refused, without inspection.
    let res = app.get("/search?q=tea").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers().get("x-palisade-event").is_none());
    assert!(res.text().await.unwrap().contains("blocked for a while"));
}

#[tokio::test]
async fn a_ban_imposed_by_one_node_is_enforced_by_the_others_until_an_operator_lifts_it() {
    // Behind a proxy, so the attacker (203.0.113.9) and the operator (127.0.0.1) are different clients.
    let mut cfg = WebConfig {
        shield: ShieldConfig { ban_sync: std::time::Duration::from_millis(100), ..ShieldConfig::default() },
        ..WebConfig::default()
    };
    cfg.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let a = TestApp::start_with(cfg.clone(), |r, _| r).await;
    let b = a.second_node(cfg).await;
    const ATTACKER: &str = "203.0.113.9";
    let from = |app: &TestApp, path: &str| app.client.get(app.url(path)).header("x-forwarded-for", ATTACKER).send();
    assert_eq!(from(&b, "/search?q=tea").await.unwrap().status(), StatusCode::OK);
    for i in 0..palisade_web::edge::shield::STRIKES_TO_BAN {
        let res = from(&a, &format!("/search?q={i}%27%20OR%20%271%27%3D%271")).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
    // Node B never saw an attack from this address, yet refuses it once it has read the shared ban.
    let mut refused = from(&b, "/search?q=tea").await.unwrap();
    for _ in 0..100 {
        if refused.status() == StatusCode::FORBIDDEN {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        refused = from(&b, "/search?q=tea").await.unwrap();
    }
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("x-palisade-event").is_none(), "refused before inspection");
    assert!(refused.text().await.unwrap().contains("blocked for a while"));
    assert_eq!(b.get("/search?q=tea").await.status(), StatusCode::OK, "other clients are served");
    let stored = palisade_store::bans::active(&a.db, a.db.now(), 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].ip, ATTACKER);

    // The operator sees the ban on either node's console and lifts it there.
    let cookie = b.console_cookie().await;
    let page = b.client.get(b.url("/console/shield")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(&format!("<code>{ATTACKER}</code>")));
    let bad = b.client.post(b.url("/console/shield/bans/lift")).csrf(&b, &cookie).form(&[("ip", "nope")]).send();
    assert_eq!(bad.await.unwrap().status(), StatusCode::UNPROCESSABLE_ENTITY);
    let lift = b
        .client
        .post(b.url("/console/shield/bans/lift"))
        .csrf(&b, &cookie)
        .form(&[("ip", ATTACKER)])
        .send()
        .await
        .unwrap();
    assert_eq!(lift.status(), StatusCode::SEE_OTHER);
    assert_eq!(from(&b, "/search?q=tea").await.unwrap().status(), StatusCode::OK, "lifted on this node at once");
    let mut on_a = StatusCode::FORBIDDEN;
    for _ in 0..100 {
        on_a = from(&a, "/search?q=tea").await.unwrap().status();
        if on_a == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(on_a, StatusCode::OK, "and on the node that banned");
    assert!(palisade_store::bans::active(&a.db, a.db.now(), 10).await.unwrap().is_empty());
    let audit = palisade_store::audit::list_platform(&a.db, &palisade_store::scope::PlatformScope::system("t"), 20)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "firewall.ban_lifted" && e.details.contains(ATTACKER)));
    // One more blocked request does not re-ban at once: the count starts again.
    let attack = from(&a, "/search?q=1%27%20OR%20%271%27%3D%271").await.unwrap();
    assert_eq!(attack.status(), StatusCode::FORBIDDEN);
    assert_eq!(from(&a, "/search?q=tea").await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn the_admin_allow_list_keeps_other_addresses_out_and_cannot_lock_out_its_author() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = crate::support::owner_of(&app, "tea").await;
    let url = app.url(&format!("/admin/stores/{}/security/allowlist", s.id));
    let lockout = app.client.post(&url).csrf(&app, &cookie).form(&[("cidrs", "10.0.0.0/8")]).send().await.unwrap();
    assert_eq!(lockout.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(lockout.text().await.unwrap().contains("lock you out"));
    let bad = app.client.post(&url).csrf(&app, &cookie).form(&[("cidrs", "not-an-ip")]).send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok =
        app.client.post(&url).csrf(&app, &cookie).form(&[("cidrs", "127.0.0.1\n192.0.2.0/24")]).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let orders = format!("/api/v1/admin/stores/{}/orders", s.id);
    assert_eq!(
        app.client.get(app.url(&orders)).header("cookie", &cookie).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The office moves: now only 192.0.2.0/24 is listed, and this client (127.0.0.1) is out.
    palisade_store::firewall::set_allowlist(&app.db, &scope, vec!["192.0.2.0/24".into()]).await.unwrap();
    let refused = app.client.get(app.url(&orders)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "address_not_allowed");
    // The storefront is not affected.
    assert_eq!(app.get("/s/tea").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn under_attack_mode_asks_for_a_proof_of_work_and_then_lets_the_browser_in() {
    use palisade_web::edge::challenge::{BITS, solves};
    let app = TestApp::start().await;
    let tea = store(&app.db, "tea", None).await;
    let _other = store(&app.db, "books", None).await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    let until = app.db.now().plus(Duration::from_secs(3600));
    palisade_store::firewall::set_attack_mode(&app.db, &scope, Some(until)).await.unwrap();
    let page = app.get("/s/tea").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = page.text().await.unwrap();
    assert!(html.contains("/assets/challenge.js"));
    assert_eq!(app.get("/s/books").await.status(), StatusCode::OK, "other stores are not affected");
    let c = html.split("name=\"c\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    // A wrong answer is refused.
    let wrong = app
        .client
        .post(app.url("/_challenge"))
        .csrf(&app, VISITOR)
        .form(&[("c", c.as_str()), ("n", "x"), ("next", "/s/tea")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let n = (0u64..).map(|n| n.to_string()).find(|n| solves(&c, n, BITS)).unwrap();
    let solved = app
        .client
        .post(app.url("/_challenge"))
        .csrf(&app, VISITOR)
        .form(&[("c", c.as_str()), ("n", n.as_str()), ("next", "/s/tea")])
        .send()
        .await
        .unwrap();
    assert_eq!(solved.status(), StatusCode::SEE_OTHER);
    assert_eq!(solved.headers()["location"], "/s/tea");
    let pass = solved.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let through = app.client.get(app.url("/s/tea")).header("cookie", &pass).send().await.unwrap();
    assert_eq!(through.status(), StatusCode::OK);
    // A forged pass does not work; nor does `next` send anyone off-site.
    let forged =
        app.client.get(app.url("/s/tea")).header("cookie", "palisade_pass=99999999999999.00").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::SERVICE_UNAVAILABLE);
    for offsite in ["//evil.example/", "/\\evil.example/", "/\t/evil.example/", "https://evil.example/"] {
        let res = app
            .client
            .post(app.url("/_challenge"))
            .csrf(&app, VISITOR)
            .form(&[("c", c.as_str()), ("n", n.as_str()), ("next", offsite)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], "/", "{offsite}");
    }
    // Platform-wide mode covers every store.
    let set = app
        .client
        .post(app.url("/console/shield/attack-mode"))
        .csrf(&app, &app.console_cookie().await)
        .form(&[("hours", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/s/books").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn a_storefront_flood_switches_under_attack_mode_on_by_itself() {
    // 2 requests a second over a 10-second window: the 20th storefront request in one window trips it.
    let app = TestApp::start_with(WebConfig { auto_attack_rps: 2, ..WebConfig::default() }, |r, _| r).await;
    store(&app.db, "tea", None).await;
    let mut tripped = None;
    for i in 0..60 {
        let status = app.get("/s/tea").await.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tripped = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let tripped = tripped.expect("attack mode switched itself on");
    assert!(tripped >= 19, "not before the threshold: request {tripped}");
    let page = app.get("/s/tea").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.text().await.unwrap().contains("under heavy load"));
    // Platform-wide, for 15 minutes; APIs and the admin are not challenged.
    let (until, _) = palisade_store::settings::get(&app.db, "shield.attack_mode_until").await.unwrap().unwrap();
    let left = until.as_i64().unwrap() - app.db.now().0;
    assert!((14 * 60_000..=15 * 60_000).contains(&left), "{left} ms");
    assert_eq!(app.get("/api/v1/search?q=tea").await.status(), StatusCode::OK);
    let metrics = app.get_authed("/metrics").await.text().await.unwrap();
    assert!(metric(&metrics, r#"palisade_attack_mode_auto_total{scope="platform"}"#) >= 1.0, "{metrics}");
}

#[tokio::test]
async fn a_flood_on_one_store_switches_that_stores_attack_mode_on_and_spares_the_others() {
    let cfg = WebConfig { auto_attack_rps: 0, auto_attack_store_rps: 2, ..WebConfig::default() };
    let app = TestApp::start_with(cfg, |r, _| r).await;
    let (tea, _, cookie) = crate::support::owner_of(&app, "tea").await;
    store(&app.db, "books", None).await;
    let mut tripped = None;
    for i in 0..60 {
        let status = app.get("/s/tea").await.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tripped = Some(i);
            break;
        }
        assert_eq!(status, StatusCode::OK, "request {i}");
    }
    let tripped = tripped.expect("the store's attack mode switched itself on");
    assert!(tripped >= 19, "not before the threshold: request {tripped}");
    assert_eq!(app.get("/s/books").await.status(), StatusCode::OK, "other stores are spared");
    assert_eq!(app.get("/").await.status(), StatusCode::OK, "so is the marketplace");
    // The store's own switch, for 15 minutes, so its merchant sees it and can turn it off.
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    let fw = palisade_store::firewall::get(&app.db, &scope).await.unwrap();
    let left = fw.attack_mode_until.expect("set on the store").0 - app.db.now().0;
    assert!((14 * 60_000..=15 * 60_000).contains(&left), "{left} ms");
    // The merchant turning it off in the Security Center takes effect at once on this node.
    let off = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/attack-mode", tea.id)))
        .csrf(&app, &cookie)
        .form(&[("hours", "0")])
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get("/s/tea").await.status(), StatusCode::OK);
    let metrics = app.get_authed("/metrics").await.text().await.unwrap();
    assert!(metric(&metrics, r#"palisade_attack_mode_auto_total{scope="store"}"#) >= 1.0, "{metrics}");
}

#[tokio::test]
async fn a_flood_never_shortens_the_attack_mode_a_merchant_set_by_hand() {
    let cfg = WebConfig { auto_attack_rps: 0, auto_attack_store_rps: 2, ..WebConfig::default() };
    let app = TestApp::start_with(cfg, |r, _| r).await;
    let (tea, _, _) = crate::support::owner_of(&app, "tea").await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    let day = palisade_core::time::Timestamp(app.db.now().0 + 24 * 3_600_000);
    palisade_store::firewall::set_attack_mode(&app.db, &scope, Some(day)).await.unwrap();
    for _ in 0..60 {
        assert_eq!(app.get("/s/tea").await.status(), StatusCode::SERVICE_UNAVAILABLE, "challenged all along");
    }
    let fw = palisade_store::firewall::get(&app.db, &scope).await.unwrap();
    assert_eq!(fw.attack_mode_until, Some(day), "the merchant's 24 hours stand");
}

/// Solves the challenge on `html` and returns the pass cookie (`name=value`).
async fn solve(app: &TestApp, html: &str, next: &str) -> String {
    use palisade_web::edge::challenge::{BITS, solves};
    let c = html.split("name=\"c\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let n = (0u64..).map(|n| n.to_string()).find(|n| solves(&c, n, BITS)).unwrap();
    let solved = app
        .client
        .post(app.url("/_challenge"))
        .csrf(app, VISITOR)
        .form(&[("c", c.as_str()), ("n", &n), ("next", next)])
        .send()
        .await
        .unwrap();
    assert_eq!(solved.status(), StatusCode::SEE_OTHER);
    solved.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_suspicious_page_view_is_challenged_while_forms_and_api_calls_are_recorded() {
    let app = TestApp::start().await;
    let count = |e: &[Value], action: &str| e.iter().filter(|e| e["action"] == action).count();
    // A broken escape scores a warning: below the block threshold, above the challenge line.
    let page = app.get("/search?q=tea%zz").await;
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = page.text().await.unwrap();
    assert!(html.contains("looked unusual to our firewall"), "{html}");
    let e = events(&app, None, 1).await;
    assert_eq!(count(&e, "challenge"), 1, "{e:?}");
    assert!(e[0]["rules"].as_array().unwrap().iter().any(|r| r == "protocol.invalid-encoding"), "{e:?}");
    // The solved browser comes through; the request is still recorded.
    let pass = solve(&app, &html, "/search?q=tea%zz").await;
    let through = app.client.get(app.url("/search?q=tea%zz")).header("cookie", &pass).send().await.unwrap();
    assert_eq!(through.status(), StatusCode::OK);
    // A pass past its expiry does not, though its signature is genuine; the control, signed the same way but still
    // good, is honoured, so the expiry was the reason.
    let with_pass_until = |until: i64| {
        let tag = app.identity().links().sign("pass", &format!("127.0.0.1|{until}"));
        app.client.get(app.url("/search?q=tea%zz")).header("cookie", format!("palisade_pass={until}.{tag}")).send()
    };
    let now = app.db.now().0;
    assert_eq!(with_pass_until(now - 1_000).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(with_pass_until(now + 60_000).await.unwrap().status(), StatusCode::OK);
    // An API call and a form post cannot go round a challenge page: they pass and are recorded.
    let api = app.get("/api/v1/search?q=tea%zz").await;
    assert_eq!(api.status(), StatusCode::OK);
    let form = app
        .client
        .post(app.url("/login"))
        .csrf(&app, VISITOR)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=someone%zz@example.com&password=x")
        .send()
        .await
        .unwrap();
    assert!(!matches!(form.status(), StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE), "{}", form.status());
    let e = events(&app, None, 6).await;
    assert_eq!((count(&e, "challenge"), count(&e, "log"), count(&e, "block")), (2, 4, 0), "{e:?}");
    // The recorder is the process's: other tests may add to the same series.
    let metrics = app.get_authed("/metrics").await.text().await.unwrap();
    for series in [
        r#"palisade_challenges_served_total{reason="suspicious"}"#,
        r#"palisade_shield_decisions_total{action="challenge"}"#,
    ] {
        assert!(metric(&metrics, series) >= 2.0, "{series}: {metrics}");
    }
}

#[tokio::test]
async fn merchants_write_test_run_and_enable_their_own_rules() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = crate::support::owner_of(&app, "tea").await;
    let base = app.url(&format!("/admin/stores/{}/security/rules", s.id));
    let bad = app
        .client
        .post(&base)
        .csrf(&app, &cookie)
        .form(&[("source", "block if colour = \"red\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text().await.unwrap().contains("column 10"));
    // Some traffic: two requests from a scraper, one from a browser.
    for ua in ["python-requests/2.31", "python-requests/2.31", "Mozilla/5.0 Chrome/131"] {
        let r = app.client.get(app.url("/s/tea")).header("user-agent", ua).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let rule = "block if header \"user-agent\" contains \"python-requests\"";
    let test =
        app.client.post(format!("{base}/test")).csrf(&app, &cookie).form(&[("source", rule)]).send().await.unwrap();
    let page = test.text().await.unwrap();
    assert!(page.contains("<b>2</b>of the last"), "{page}");
    let added = app.client.post(&base).csrf(&app, &cookie).form(&[("source", rule)]).send().await.unwrap();
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    // Added disabled: the scraper still gets through.
    let scraper = || app.client.get(app.url("/s/tea")).header("user-agent", "python-requests/2.31").send();
    assert_eq!(scraper().await.unwrap().status(), StatusCode::OK);
    let id = palisade_store::firewall::rules(&app.db, &scope).await.unwrap()[0].id.clone();
    let enabled = app.client.post(format!("{base}/{id}/enable")).csrf(&app, &cookie).send().await.unwrap();
    assert_eq!(enabled.status(), StatusCode::SEE_OTHER);
    assert_eq!(scraper().await.unwrap().status(), StatusCode::FORBIDDEN);
    let browser =
        app.client.get(app.url("/s/tea")).header("user-agent", "Mozilla/5.0 Chrome/131").send().await.unwrap();
    assert_eq!(browser.status(), StatusCode::OK);
    // A store-wide allow turns the merchant control red.
    palisade_store::firewall::add_rule(&app.db, &scope, "allow if path starts_with \"/s/\"").await.unwrap();
    let wide = palisade_store::firewall::rules(&app.db, &scope).await.unwrap()[1].id.clone();
    palisade_store::firewall::change_rule(&app.db, &scope, &wide, palisade_store::firewall::RuleChange::Enable)
        .await
        .unwrap();
    let status = control_status(&app, &s.id.to_string(), &cookie, "store.no-store-wide-allow").await;
    assert_eq!(status["state"], "unmet", "{status}");
    assert!(status.to_string().contains("store-wide allow"), "{status}");
}

#[tokio::test]
async fn country_rules_say_they_are_unavailable_without_a_geoip_database() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = crate::support::owner_of(&app, "tea").await;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/rules", s.id)))
        .csrf(&app, &cookie)
        .form(&[("source", "block if country = \"XX\"")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("GeoIP database"));
    assert!(palisade_store::firewall::rules(&app.db, &scope).await.unwrap().is_empty());
    let center = app
        .client
        .get(app.url(&format!("/admin/stores/{}/security/firewall", s.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(center.text().await.unwrap().contains("Country blocking is\nunavailable"));
}

#[tokio::test]
async fn country_rules_block_by_the_operators_geoip_database() {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/geoip-test.mmdb");
    let mut config = WebConfig::default();
    // Behind a proxy on loopback, so that X-Forwarded-For names the shopper's address.
    config.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let geoip = palisade_web::edge::geoip::GeoIp::open(&fixture).unwrap();
    let app = TestApp::start_adjusted(config, |s| s.with_geoip(geoip), |r, _| r).await;
    let (s, scope, cookie) = crate::support::owner_of(&app, "tea").await;
    let center = app
        .client
        .get(app.url(&format!("/admin/stores/{}/security/firewall", s.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert!(!center.text().await.unwrap().contains("Country blocking is\nunavailable"));
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/security/rules", s.id)))
        .csrf(&app, &cookie)
        .form(&[("source", "block if country = \"NZ\"")])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_redirection() || res.status().is_success(), "{}", res.status());
    let rule = palisade_store::firewall::rules(&app.db, &scope).await.unwrap()[0].id.clone();
    palisade_store::firewall::change_rule(&app.db, &scope, &rule, palisade_store::firewall::RuleChange::Enable)
        .await
        .unwrap();
    let from = |ip: &'static str| {
        let app = &app;
        async move { app.client.get(app.url("/s/tea")).header("x-forwarded-for", ip).send().await.unwrap().status() }
    };
    // The fixture places 203.0.113.0/24 in NZ and 198.51.100.0/24 in SG; 192.0.2.0/24 is in no country.
    assert_eq!(from("203.0.113.9").await, StatusCode::FORBIDDEN);
    assert_eq!(from("198.51.100.7").await, StatusCode::OK);
    assert_eq!(from("192.0.2.1").await, StatusCode::OK);
    // Another store's shoppers from NZ are not this store's business.
    store(&app.db, "books", None).await;
    let other = app.client.get(app.url("/s/books")).header("x-forwarded-for", "203.0.113.9").send().await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_script_manages_the_stores_custom_rules_through_the_api_with_a_store_token() {
    let app = TestApp::start().await;
    let (s, _, owner_cookie) = crate::support::owner_of(&app, "tea").await;
    let token = store_token_from_page(
        &app,
        s.id,
        &owner_cookie,
        "name=Firewall+sync&permission=security_settings&expires_days=30",
    )
    .await;
    let api = |path: &str| app.url(&format!("/api/v1/admin/stores/{}/firewall{path}", s.id));

    // Some traffic for the test-run to look at.
    assert_eq!(app.get("/s/tea/wp-login.php").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/s/tea").await.status(), StatusCode::OK);

    let bad = app.client.post(api("/rules")).bearer_auth(&token).json(&serde_json::json!({"source": "block if"}));
    let bad = bad.send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_rule");
    let not_json = app.client.post(api("/rules")).bearer_auth(&token).body("source=x").send().await.unwrap();
    assert_eq!(not_json.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let source = "block if path starts_with \"/s/tea/wp-\"";
    // A rule may name what attacks look like without the firewall taking it for one.
    let wordy =
        "log if arg \"q\" matches \"(?i)union\\s+select|<script\" and header \"user-agent\" contains \"sqlmap\"";
    let tested = app.client.post(api("/rules/test")).bearer_auth(&token).json(&serde_json::json!({"source": wordy}));
    assert_eq!(tested.send().await.unwrap().status(), StatusCode::OK);
    let tested = app.client.post(api("/rules/test")).bearer_auth(&token).json(&serde_json::json!({"source": source}));
    let tested: Value = tested.send().await.unwrap().json().await.unwrap();
    assert_eq!(tested["hits"], 1, "{tested}");
    assert!(tested["of_recent_requests"].as_u64().unwrap() >= 2, "{tested}");
    assert_eq!(tested["examples"][0]["path"], "/s/tea/wp-login.php", "{tested}");

    let added = app.client.post(api("/rules")).bearer_auth(&token).json(&serde_json::json!({"source": source}));
    let added = added.send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let rule: Value = added.json().await.unwrap();
    assert_eq!(rule["enabled"], false, "rules start disabled");
    let id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/s/tea/wp-login.php").await.status(), StatusCode::NOT_FOUND, "not enforced yet");

    let enabled = app.client.post(api(&format!("/rules/{id}/enable"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);
    assert_eq!(enabled.json::<Value>().await.unwrap()["enabled"], true);
    assert_eq!(app.get("/s/tea/wp-login.php").await.status(), StatusCode::FORBIDDEN);
    let overview: Value = app.client.get(api("")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(overview["rules"][0]["source"], source);
    assert_eq!(overview["admin_allowlist"], serde_json::json!([]));
    assert_eq!(overview["waf"], serde_json::json!({"mode": "block", "paranoia": 1, "own_setting": false}));
    let logged = events(&app, Some(&s.id.to_string()), 1).await;
    assert_eq!(logged[0]["rules"][0], "custom.rule");
    let listed: Value =
        app.client.get(api("/events?limit=5")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["events"][0]["path"], "/s/tea/wp-login.php", "{listed}");

    let deleted = app.client.delete(api(&format!("/rules/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get("/s/tea/wp-login.php").await.status(), StatusCode::NOT_FOUND);
    let again = app.client.delete(api(&format!("/rules/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

async fn control_status(app: &TestApp, store: &str, cookie: &str, id: &str) -> Value {
    let controls: Value = app
        .client
        .get(app.url(&format!("/api/v1/admin/stores/{store}/security/controls")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    fn find(v: &Value, id: &str) -> Option<Value> {
        match v {
            Value::Object(o) if o.get("control").and_then(|c| c.get("id")).is_some_and(|i| i == id) => {
                o.get("status").cloned()
            }
            Value::Object(o) => o.values().find_map(|x| find(x, id)),
            Value::Array(a) => a.iter().find_map(|x| find(x, id)),
            _ => None,
        }
    }
    find(&controls, id).unwrap_or_else(|| panic!("no control {id} in {controls}"))
}

/// A store's own WAF mode applies to its paths only: detect-only on one store lets an attack on it through
/// (recorded as "log") while the next store still blocks it, and the merchant checklist says so; a store can
/// also enforce block mode where the platform only detects. The change needs a recent password.
#[tokio::test]
async fn a_store_chooses_its_own_firewall_mode_for_its_paths() {
    let app = TestApp::start().await;
    let (tea, _, cookie) = crate::support::owner_of(&app, "tea").await;
    store(&app.db, "oak", None).await;
    let attack = |slug: &str| format!("/s/{slug}/p/x?u=http://169.254.169.254/latest/meta-data/");
    let set = |fields: &'static [(&'static str, &'static str)]| {
        app.client
            .post(app.url(&format!("/admin/stores/{}/security/waf", tea.id)))
            .csrf(&app, &cookie)
            .form(fields)
            .send()
    };
    let control = "store.no-store-wide-allow";
    let before = control_status(&app, &tea.id.to_string(), &cookie, control).await;
    assert!(before.to_string().contains("\"met\""), "{before}");

    let bad = set(&[("mode", "sleep"), ("paranoia", "platform")]).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad = set(&[("mode", "block"), ("paranoia", "7")]).await.unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = set(&[("mode", "detect"), ("paranoia", "platform")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(app.get(&attack("tea")).await.status(), StatusCode::FORBIDDEN, "detect-only lets it through");
    assert_eq!(app.get(&attack("oak")).await.status(), StatusCode::FORBIDDEN, "other stores keep the platform's mode");
    let logged = events(&app, Some(&tea.id.to_string()), 1).await;
    assert_eq!(logged[0]["action"], "log", "{logged:?}");
    let center =
        app.client.get(app.url(&format!("/admin/stores/{}/security/firewall", tea.id))).header("cookie", &cookie);
    let center = center.send().await.unwrap().text().await.unwrap();
    assert!(center.contains("ssrf.internal-url in query"), "the merchant sees which field matched");
    let after = control_status(&app, &tea.id.to_string(), &cookie, control).await;
    assert!(after.to_string().contains("firewall mode is detect"), "{after}");
    let audit: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'firewall.waf_mode_set'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(audit.0, 1);

    // Back to the platform's mode, after a fresh password only.
    forget_recent_passwords(&app).await;
    let stale = set(&[("mode", "platform"), ("paranoia", "platform")]).await.unwrap();
    assert_eq!(stale.status(), StatusCode::SEE_OTHER);
    assert!(stale.headers()["location"].to_str().unwrap().starts_with("/account/reauth"));
    assert_ne!(app.get(&attack("tea")).await.status(), StatusCode::FORBIDDEN, "unchanged without step-up");
    sqlx::query("UPDATE sessions SET reauth_at = reauth_at + 3600000").execute(app.db.pool()).await.unwrap();
    let back = set(&[("mode", "platform"), ("paranoia", "platform")]).await.unwrap();
    assert_eq!(back.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&attack("tea")).await.status(), StatusCode::FORBIDDEN);
    let fw = palisade_store::firewall::get(&app.db, &palisade_store::StoreScope::system(tea.id, "test")).await.unwrap();
    assert_eq!((fw.waf_mode, fw.waf_paranoia), (None, None));
    // Blocking, but laxer than the platform's paranoia level: the checklist says so.
    let platform = palisade_shield::Policy { paranoia: 2, ..palisade_shield::Policy::default() };
    let cfg =
        WebConfig { shield: ShieldConfig { policy: platform, ..ShieldConfig::default() }, ..WebConfig::default() };
    palisade_web::edge::shield::report_node(&app.db, "node-a", &cfg).await.unwrap();
    let res = set(&[("mode", "block"), ("paranoia", "1")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let lax = control_status(&app, &tea.id.to_string(), &cookie, control).await;
    assert!(lax.to_string().contains("paranoia level 1 is below the platform's 2"), "{lax}");
    set(&[("mode", "block"), ("paranoia", "3")]).await.unwrap();
    let strict = control_status(&app, &tea.id.to_string(), &cookie, control).await;
    assert!(strict.to_string().contains("\"met\""), "stricter is fine: {strict}");
}

#[tokio::test]
async fn a_store_can_block_where_the_platform_only_detects() {
    let app = TestApp::start_with(detect_mode(), |r, _| r).await;
    let tea = store(&app.db, "tea", None).await;
    store(&app.db, "oak", None).await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    palisade_store::firewall::set_waf(&app.db, &scope, Some("block"), Some(2)).await.unwrap();
    let attack = |slug: &str| format!("/s/{slug}/p/x?u=http://169.254.169.254/latest/meta-data/");
    assert_eq!(app.get(&attack("tea")).await.status(), StatusCode::FORBIDDEN);
    assert_ne!(app.get(&attack("oak")).await.status(), StatusCode::FORBIDDEN);
    let err = palisade_store::firewall::set_waf(&app.db, &scope, Some("loud"), None).await.unwrap_err();
    assert!(err.to_string().contains("not off, detect or block"), "{err}");
    let fw = palisade_store::firewall::get(&app.db, &scope).await.unwrap();
    assert_eq!((fw.waf_mode.as_deref(), fw.waf_paranoia), (Some("block"), Some(2)));
    // The operator sees which stores chose their own mode.
    let cookie = app.console_cookie().await;
    let page = app.client.get(app.url("/console/shield")).header("cookie", &cookie).send().await.unwrap();
    let page = page.text().await.unwrap();
    let row = &page[page.find("<code>tea</code>").expect("the store is listed")..];
    assert!(row[..200].contains("<td>block</td><td>2</td>"), "{}", &row[..200]);
    assert!(!page.contains("<code>oak</code>"), "stores on the platform's mode are not listed");
}

#[tokio::test]
async fn an_escaped_store_name_or_path_meets_the_same_store_layer() {
    let app = TestApp::start().await;
    let tea = store(&app.db, "tea", None).await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    palisade_store::firewall::add_rule(&app.db, &scope, "block if path starts_with \"/s/tea/p/secret\"").await.unwrap();
    let rule = palisade_store::firewall::rules(&app.db, &scope).await.unwrap()[0].id.clone();
    palisade_store::firewall::change_rule(&app.db, &scope, &rule, palisade_store::firewall::RuleChange::Enable)
        .await
        .unwrap();
    for path in ["/s/tea/p/secret", "/s/tea/p/%73ecret", "/s/te%61/p/secret", "/s/%74%65%61/p/s%65cret"] {
        assert_eq!(app.get(path).await.status(), StatusCode::FORBIDDEN, "{path}");
        let e = events(&app, None, 1).await;
        assert_eq!(e[0]["rules"], serde_json::json!(["custom.rule"]), "{path}: {e:?}");
        assert_eq!(e[0]["path"], "/s/tea/p/secret", "recorded as the store's own path");
    }
    // A store's under-attack switch covers every spelling of its address.
    let books = store(&app.db, "books", None).await;
    let until = app.db.now().plus(Duration::from_secs(3600));
    let scope = palisade_store::StaffScope::system(books.id, "test");
    palisade_store::firewall::set_attack_mode(&app.db, &scope, Some(until)).await.unwrap();
    assert_eq!(app.get("/s/b%6F%6Fks").await.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn firewall_events_are_kept_for_their_retention_and_then_removed() {
    use palisade_web::edge::shield::{EVENTS_KEPT, prune_events};
    let app = TestApp::start().await;
    let now = app.db.now().0;
    let kept = EVENTS_KEPT.as_millis() as i64;
    for (id, at) in [("old", now - kept - 60_000), ("recent", now - kept + 60_000)] {
        sqlx::query(
            "INSERT INTO shield_events (id, at, store_id, client_ip, method, path, action, score, rules, findings) \
             VALUES ($1, $2, NULL, '192.0.2.1', 'GET', '/', 'log', 3, '[]', '[]')",
        )
        .bind(id)
        .bind(at)
        .execute(app.db.pool())
        .await
        .unwrap();
    }
    assert_eq!(prune_events(&app.db, EVENTS_KEPT).await.unwrap(), 1);
    let left: Vec<(String,)> = sqlx::query_as("SELECT id FROM shield_events").fetch_all(app.db.pool()).await.unwrap();
    assert_eq!(left, vec![("recent".to_owned(),)]);
}

#[tokio::test]
async fn a_stores_own_mode_and_paranoia_apply_even_where_the_platform_firewall_is_off() {
    let policy = palisade_shield::Policy { mode: palisade_shield::Mode::Off, ..palisade_shield::Policy::default() };
    let cfg = WebConfig { shield: ShieldConfig { policy, ..ShieldConfig::default() }, ..WebConfig::default() };
    let app = TestApp::start_with(cfg, |r, _| r).await;
    for (slug, paranoia) in [("tea", Some(2)), ("oak", Some(1)), ("elm", None)] {
        let s = store(&app.db, slug, None).await;
        if paranoia.is_some() {
            let scope = palisade_store::StaffScope::system(s.id, "test");
            palisade_store::firewall::set_waf(&app.db, &scope, Some("block"), paranoia).await.unwrap();
        }
    }
    // A finding of paranoia level 2 only: the store that chose level 2 blocks it, the one on level 1 does not.
    let pl2 = |slug: &str| format!("/s/{slug}/p/x?ids=x%20in%20(1,2,3)");
    assert_eq!(app.get(&pl2("tea")).await.status(), StatusCode::FORBIDDEN);
    assert_ne!(app.get(&pl2("oak")).await.status(), StatusCode::FORBIDDEN);
    let pl1 = |slug: &str| format!("/s/{slug}/p/x?u=http://169.254.169.254/latest/meta-data/");
    assert_eq!(app.get(&pl1("oak")).await.status(), StatusCode::FORBIDDEN);
    // Stores that chose nothing, and the rest of the platform, follow the platform: off.
    assert_ne!(app.get(&pl1("elm")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/search?q=1%27%20OR%20%271%27%3D%271").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_firewall_controls_judge_every_running_node() {
    use palisade_web::edge::shield::{NODE_REPORT_PREFIX, forget_node, report_node};
    let app = TestApp::start().await;
    let status = |id: &'static str| {
        let app = &app;
        async move {
            let body: Value = app.get_authed("/api/v1/platform/security/controls").await.json().await.unwrap();
            body["areas"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| a["platform"].as_array().unwrap())
                .find(|r| r["control"]["id"] == id)
                .unwrap()["status"]
                .clone()
        }
    };
    let (waf, ddos) = ("platform.waf-blocking", "platform.ddos-shedding");
    assert_eq!(status(waf).await["state"], "unmet", "no node has reported");
    report_node(&app.db, "node-a", &WebConfig::default()).await.unwrap();
    assert_eq!(status(waf).await["state"], "met");
    assert_eq!(status(ddos).await["state"], "met");
    // A second node in detect mode, with limits of its own: both controls name it.
    report_node(&app.db, "node-b", &detect_mode()).await.unwrap();
    let w = status(waf).await;
    assert_eq!(w["state"], "unmet");
    assert!(w["reason"].as_str().unwrap().contains("node-b runs in detect mode"), "{w}");
    let d = status(ddos).await;
    assert!(d["reason"].as_str().unwrap().contains("share them with --redis-url"), "{d}");
    // A node that stopped without withdrawing its report is left out once the report is stale.
    sqlx::query("UPDATE platform_settings SET updated_at = 0 WHERE key = $1")
        .bind(format!("{NODE_REPORT_PREFIX}node-b"))
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(status(waf).await["state"], "met");
    forget_node(&app.db, "node-a").await.unwrap();
    assert_eq!(status(waf).await["state"], "unmet", "a node that withdrew is no longer counted");
}

#[tokio::test]
async fn a_pass_is_good_only_for_the_address_that_earned_it() {
    use palisade_web::edge::challenge::{BITS, solves};
    let limits = palisade_web::edge::limits::LimitsConfig {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..palisade_web::edge::limits::LimitsConfig::default()
    };
    let app = TestApp::start_with(WebConfig { limits, ..WebConfig::default() }, |r, _| r).await;
    let tea = store(&app.db, "tea", None).await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    let until = app.db.now().plus(Duration::from_secs(3600));
    palisade_store::firewall::set_attack_mode(&app.db, &scope, Some(until)).await.unwrap();
    let (a, b) = ("198.51.100.7", "203.0.113.9");
    let page = app.client.get(app.url("/s/tea")).header("x-forwarded-for", a).send().await.unwrap();
    let html = page.text().await.unwrap();
    let c = html.split("name=\"c\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let n = (0u64..).map(|n| n.to_string()).find(|n| solves(&c, n, BITS)).unwrap();
    let answer = |from: &'static str| {
        app.client
            .post(app.url("/_challenge"))
            .csrf(&app, VISITOR)
            .header("x-forwarded-for", from)
            .form(&[("c", c.as_str()), ("n", n.as_str()), ("next", "/s/tea")])
            .send()
    };
    // The challenge itself is bound to the address it was given to.
    assert_eq!(answer(b).await.unwrap().status(), StatusCode::FORBIDDEN);
    let solved = answer(a).await.unwrap();
    assert_eq!(solved.status(), StatusCode::SEE_OTHER);
    let pass = solved.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let with_pass = |from: &'static str| {
        app.client.get(app.url("/s/tea")).header("x-forwarded-for", from).header("cookie", &pass).send()
    };
    assert_eq!(with_pass(a).await.unwrap().status(), StatusCode::OK);
    assert_eq!(with_pass(b).await.unwrap().status(), StatusCode::SERVICE_UNAVAILABLE, "a copied cookie is no pass");
}

#[tokio::test]
async fn an_ipv6_client_is_banned_by_its_64_and_lifted_by_any_address_in_it() {
    let mut cfg = WebConfig::default();
    cfg.limits.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    let app = TestApp::start_with(cfg, |r, _| r).await;
    let from = |client: String, path: &str| app.client.get(app.url(path)).header("x-forwarded-for", client).send();
    // Each attack from another address of the same /64.
    for i in 0..palisade_web::edge::shield::STRIKES_TO_BAN {
        let res = from(format!("2001:db8:1:2::{:x}", i + 1), &format!("/search?q={i}%27%20OR%20%271%27%3D%271"));
        assert_eq!(res.await.unwrap().status(), StatusCode::FORBIDDEN);
    }
    let fresh = from("2001:db8:1:2:ffff::9".into(), "/search?q=tea").await.unwrap();
    assert_eq!(fresh.status(), StatusCode::FORBIDDEN, "a new address of the same /64 is still the same client");
    assert!(fresh.text().await.unwrap().contains("blocked for a while"));
    assert_eq!(from("2001:db8:1:3::1".into(), "/search?q=tea").await.unwrap().status(), StatusCode::OK);
    // The operator lifts it by the address shown in any of its events.
    let lift = app
        .client
        .post(app.url("/console/shield/bans/lift"))
        .csrf(&app, &app.console_cookie().await)
        .form(&[("ip", "2001:db8:1:2::3")])
        .send()
        .await
        .unwrap();
    assert_eq!(lift.status(), StatusCode::SEE_OTHER);
    assert_eq!(from("2001:db8:1:2:ffff::9".into(), "/search?q=tea").await.unwrap().status(), StatusCode::OK);
    assert!(palisade_store::bans::active(&app.db, app.db.now(), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn custom_rules_never_see_secret_fields() {
    let app = TestApp::start().await;
    let tea = store(&app.db, "tea", None).await;
    let scope = palisade_store::StaffScope::system(tea.id, "test");
    for source in ["block if arg \"passphrase\" starts_with \"hunter\"", "block if arg \"note\" starts_with \"hunter\""]
    {
        palisade_store::firewall::add_rule(&app.db, &scope, source).await.unwrap();
    }
    for rule in palisade_store::firewall::rules(&app.db, &scope).await.unwrap() {
        palisade_store::firewall::change_rule(&app.db, &scope, &rule.id, palisade_store::firewall::RuleChange::Enable)
            .await
            .unwrap();
    }
    let post = |body: &'static str| {
        app.client
            .post(app.url("/s/tea/contact"))
            .csrf(&app, VISITOR)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
    };
    assert_eq!(post("note=hunter2").await.unwrap().status(), StatusCode::FORBIDDEN, "the control: rules do run");
    assert_ne!(post("passphrase=hunter2").await.unwrap().status(), StatusCode::FORBIDDEN);
}
