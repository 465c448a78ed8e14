//! The buyer's and the merchant's journeys in headless Chromium, every page seen at desktop (1366×900) and phone
//! (390×844) size: a screenshot of each, an axe-core accessibility check of each (any "serious" or "critical"
//! violation fails), and no horizontal scrolling at phone size. The buyer walks at phone size (home → store →
//! product → cart → payment → order); the merchant at desktop size (sign-in → orders queue → bulk ship → order),
//! and the buyer then sees the order shipped. A third walk visits every other page a newcomer opens (the admin's
//! pages and Security Center tabs, search, registration and the account, the seller sign-up, the console).
//!
//! Screenshots go to `$PALISADE_SCREENSHOTS` (relative paths from the workspace root; default
//! `target/screenshots`). axe-core (MPL-2.0) is vendored in `vendor/axe/` so the run needs no network.
//! Run: `cargo test -p palisade-web --test it browser -- --ignored`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use fantoccini::{Client, Locator};
use palisade_core::OrderId;

use super::browser::{assert_badges_readable, browser, click, fill, sign_in, sign_out, text};
use crate::support::{TestApp, buyer, listing, owner_of};

/// axe-core 4.14.1 from the npm registry (`package/axe.min.js`), licence beside it.
const AXE: &str = include_str!("vendor/axe/axe.min.js");

const DESKTOP: (u32, u32) = (1366, 900);
const PHONE: (u32, u32) = (390, 844);

/// Runs axe on the page and answers its violations as `[impact, rule id, help, first target, node count]`.
const AXE_RUN: &str = r"
    const done = arguments[arguments.length - 1];
    axe.run(document, {resultTypes: ['violations']})
      .then((r) => done(r.violations.map((v) => [v.impact || '', v.id, v.help,
            v.nodes.length ? String(v.nodes[0].target[0]) : '', v.nodes.length])))
      .catch((e) => done([['error', 'axe', String(e), '', 0]]));
";

/// Where the screenshots go: `$PALISADE_SCREENSHOTS`, or `target/screenshots` in the workspace.
fn screenshot_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::var_os("PALISADE_SCREENSHOTS").map_or_else(|| root.join("target/screenshots"), PathBuf::from);
    if dir.is_absolute() { dir } else { root.join(dir) }
}

/// Sizes the window so that the page's viewport (`innerWidth` × `innerHeight`) is exactly `size` (the window's
/// frame, if any, is measured and added; a resize can take a moment to reach the page).
async fn set_viewport(c: &Client, (w, h): (u32, u32)) {
    let inner = |v: &serde_json::Value, i: usize| u32::try_from(v[i].as_u64().unwrap()).unwrap();
    let (mut ow, mut oh) = (w, h);
    let mut last = (0, 0);
    for _ in 0..10 {
        c.set_window_size(ow, oh).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let v = c.execute("return [window.innerWidth, window.innerHeight]", vec![]).await.unwrap();
        last = (inner(&v, 0), inner(&v, 1));
        if last == (w, h) {
            return;
        }
        (ow, oh) = ((ow + w).saturating_sub(last.0), (oh + h).saturating_sub(last.1));
    }
    panic!("the viewport could not be sized to {w}×{h}: it is {}×{}", last.0, last.1);
}

/// One journey's walk: numbered pages, their screenshots, and everything found wrong on them.
struct Walk<'a> {
    c: &'a Client,
    dir: PathBuf,
    journey: &'static str,
    /// The size the journey itself is walked at; every page is also seen at the other one.
    size: (u32, u32),
    step: u32,
    /// Serious or critical axe violations and horizontal overflow at phone size: the test fails on any.
    problems: Vec<String>,
    /// One line per page and size: what axe found (all impacts) and the screenshot.
    report: Vec<String>,
}

impl<'a> Walk<'a> {
    fn new(c: &'a Client, journey: &'static str, size: (u32, u32)) -> Walk<'a> {
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let dir = std::fs::canonicalize(dir).unwrap();
        Walk { c, dir, journey, size, step: 0, problems: Vec::new(), report: Vec::new() }
    }

    /// Looks at the current page at both sizes: screenshot, axe, overflow at phone size, and that each element
    /// of `inside` lies within the phone's viewport horizontally. Leaves the window at the journey's size.
    async fn page(&mut self, name: &str, inside: &[&str]) {
        self.step += 1;
        self.c.wait().for_element(Locator::Css("body")).await.unwrap();
        for (label, size) in [("1366", DESKTOP), ("390", PHONE)] {
            set_viewport(self.c, size).await;
            let file = self.dir.join(format!("{}-{:02}-{name}-{label}.png", self.journey, self.step));
            std::fs::write(&file, self.c.screenshot().await.unwrap()).unwrap();
            let violations = self.axe().await;
            let mut line = format!("{} {name} @{label}: ", self.journey);
            if violations.is_empty() {
                line.push_str("axe clean");
            }
            for (impact, id, help, target, count) in &violations {
                let _ = write!(line, "[{impact}] {id} ×{count}; ");
                if impact == "serious" || impact == "critical" || impact == "error" {
                    self.problems
                        .push(format!("{name} @{label}: axe {impact} {id}: {help} (first: {target}, {count} nodes)"));
                }
            }
            let _ = write!(line, " — {}", file.display());
            println!("{line}");
            self.report.push(line);
            if size == PHONE {
                self.check_phone(name, inside).await;
            }
        }
        set_viewport(self.c, self.size).await;
    }

    async fn axe(&self) -> Vec<(String, String, String, String, u64)> {
        let script = format!("if (!window.axe) {{ {AXE}\n }}\n{AXE_RUN}");
        let v = self.c.execute_async(&script, vec![]).await.unwrap();
        let s = |x: &serde_json::Value| x.as_str().unwrap_or_default().to_owned();
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| (s(&r[0]), s(&r[1]), s(&r[2]), s(&r[3]), r[4].as_u64().unwrap_or_default()))
            .collect()
    }

    /// No horizontal scrolling at phone size, and every element matched by `inside` is within the viewport.
    async fn check_phone(&mut self, name: &str, inside: &[&str]) {
        let script = r"
            const [sels] = arguments;
            const out = [];
            const w = window.innerWidth;
            // The theme's `overflow-x: hidden` on html and body would cut wide content off unseen: measure
            // without it.
            const html = document.documentElement, body = document.body;
            const saved = [html.style.overflowX, body.style.overflowX];
            html.style.overflowX = 'visible';
            body.style.overflowX = 'visible';
            const sw = Math.max(html.scrollWidth, body.scrollWidth);
            // The first element sticking out whose parent does not: what to fix.
            const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '');
            const culprit = [...body.querySelectorAll('*')].find((e) => e.getBoundingClientRect().right > w + 0.5
                && e.parentElement.getBoundingClientRect().right <= w + 0.5);
            [html.style.overflowX, body.style.overflowX] = saved;
            if (sw > w) out.push('the page scrolls sideways: scrollWidth ' + sw + ' > innerWidth ' + w
                + (culprit ? ' (first too wide: ' + name(culprit) + ' in ' + name(culprit.parentElement) + ')' : ''));
            for (const sel of sels) {
                const els = document.querySelectorAll(sel);
                if (!els.length) out.push(sel + ': not on the page');
                for (const el of els) {
                    const r = el.getBoundingClientRect();
                    if (r.left < 0 || r.right > w) out.push(sel + ' lies outside the viewport: ' + r.left + '..' + r.right + ' of ' + w);
                }
            }
            return out;
        ";
        let sels = serde_json::json!(inside);
        let v = self.c.execute(script, vec![sels]).await.unwrap();
        for p in v.as_array().unwrap() {
            self.problems.push(format!("{name} @390: {}", p.as_str().unwrap_or_default()));
        }
    }
}

/// The checks themselves see trouble: an image without alt text, faint text and a too-wide box, put on the page
/// on purpose, each make the walk record a problem (a clean run must not come from axe not running).
async fn checks_catch_what_they_look_for(c: &Client) {
    let mut probe = Walk::new(c, "probe", PHONE);
    set_viewport(c, PHONE).await;
    // Styles set through the CSSOM, since the pages' Content-Security-Policy ignores inline style attributes.
    let broken = r#"
        const main = document.querySelector('main');
        main.insertAdjacentHTML('beforeend', '<img src="/nothing.png"><p id="faint">faint</p><div id="wide">wide</div>');
        Object.assign(document.getElementById('faint').style, {color: '#d0d0d0', background: '#fff'});
        document.getElementById('wide').style.width = '900px';
    "#;
    c.execute(broken, vec![]).await.unwrap();
    let found = probe.axe().await;
    for (rule, impact) in [("image-alt", "critical"), ("color-contrast", "serious")] {
        assert!(found.iter().any(|v| v.1 == rule && v.0 == impact), "axe reports {rule} ({impact}): {found:?}");
    }
    probe.check_phone("probe", &[]).await;
    assert!(probe.problems.iter().any(|p| p.contains("scrolls sideways")), "{:?}", probe.problems);
}

/// The badge in the page's heading (an order's status), in lower case (the admin's style capitalises it).
async fn heading_badge(c: &Client) -> String {
    c.wait().for_element(Locator::Css("h1 .badge")).await.unwrap().text().await.unwrap().to_lowercase()
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them and runs it"]
#[allow(
    clippy::too_many_lines,
    reason = "two browser journeys, walked page by page in the order the buyer and the merchant take them"
)]
async fn buyer_on_a_phone_and_merchant_on_a_desktop_pass_axe_at_both_sizes() {
    let app = TestApp::start().await;
    let (store, scope, _) = owner_of(&app, "tea").await;
    listing("roasted-oolong")
        .title("Roasted Oolong")
        .description("Charcoal-roasted in small batches.")
        .sku("OOL-100")
        .options(serde_json::json!({"size": "100 g"}))
        .price(1850)
        .stock(5)
        .create(&app, &scope)
        .await;
    let (_driver, c) = browser().await;

    // The buyer, on a phone.
    let mut buyer = Walk::new(&c, "buyer", PHONE);
    set_viewport(&c, PHONE).await;
    c.goto(&app.url("/")).await.unwrap();
    buyer.page("home", &[]).await;
    click(&c, "main a[href='/s/tea']").await;
    c.wait().for_element(Locator::Css("a[href='/s/tea/p/roasted-oolong']")).await.unwrap();
    buyer.page("store", &[]).await;
    click(&c, "a[href='/s/tea/p/roasted-oolong']").await;
    c.wait().for_element(Locator::Css("form[action='/cart/add']")).await.unwrap();
    buyer.page("product", &["form[action='/cart/add'] button[type=submit]"]).await;
    click(&c, "form[action='/cart/add'] button[type=submit]").await;
    c.wait().for_element(Locator::Css("a[href='/checkout/tea']")).await.unwrap();
    buyer.page("cart", &["tr.total td:last-child", "form.qty button", "a[href='/checkout/tea']"]).await;
    click(&c, "a[href='/checkout/tea']").await;
    c.wait().for_element(Locator::Css("#pay-form")).await.unwrap();
    buyer
        .page(
            "payment",
            &["p.back a[href='/cart']", "main table tr:last-child th:last-child", "#pay-form button[type=submit]"],
        )
        .await;
    // A first try with mistakes: each is named beside its field, and the page still fits a phone.
    for (name, value) in [("email", "buyer at example"), ("card_number", "4242"), ("expiry", "01/20")] {
        fill(&c, &format!("#pay-form input[name={name}]"), value).await;
    }
    click(&c, "#pay-form button[type=submit]").await;
    c.wait().for_element(Locator::Css(".error-summary")).await.unwrap();
    buyer.page("payment-errors", &[".error-summary", "ol.steps", "#e-email", "#e-expiry", "#e-card_number"]).await;
    for (name, value) in [
        ("email", "buyer@example.com"),
        ("name", "Phone Buyer"),
        ("line1", "10 Bayfront Avenue"),
        ("city", "Singapore"),
        ("postcode", "018956"),
        ("country", "Singapore"),
        ("card_number", "4242424242424242"),
        ("expiry", "12/30"),
        ("cvc", "123"),
    ] {
        fill(&c, &format!("#pay-form input[name={name}]"), value).await;
    }
    click(&c, "#pay-form button[type=submit]").await;
    c.wait().for_element(Locator::Css("form[action*='/confirm']")).await.ok();
    let order_url = c.current_url().await.unwrap().to_string();
    assert!(order_url.contains("/orders/") && order_url.contains("k="), "{order_url}");
    assert_eq!(heading_badge(&c).await, "paid");
    buyer.page("order-paid", &[]).await;
    let order_id: OrderId = order_url.split("/orders/").nth(1).unwrap().split('?').next().unwrap().parse().unwrap();

    // The merchant, on a desktop: sign in, ship the order from the queue, see it shipped.
    let mut merchant = Walk::new(&c, "merchant", DESKTOP);
    set_viewport(&c, DESKTOP).await;
    c.goto(&app.url("/login")).await.unwrap();
    merchant.page("sign-in", &[]).await;
    sign_in(&c, &app, "owner@tea.example").await;
    c.goto(&app.url(&format!("/admin/stores/{}/orders", store.id))).await.unwrap();
    c.wait().for_element(Locator::Css(&format!("#sel-{order_id}"))).await.unwrap();
    merchant.page("orders-queue", &[]).await;
    click(&c, &format!("#sel-{order_id}")).await;
    fill(&c, "#carrier_all", "SingPost").await;
    fill(&c, "#tracking_all", "SG000777888").await;
    click(&c, "form.batch fieldset button[type=submit]:not(.secondary)").await;
    c.wait().for_element(Locator::Css(".badge.status-shipped")).await.unwrap();
    assert!(text(&c).await.contains("1 shipped, 0 skipped"), "{}", text(&c).await);
    merchant.page("ship-results", &[]).await;
    c.goto(&app.url(&format!("/admin/stores/{}/orders/{order_id}", store.id))).await.unwrap();
    assert_eq!(heading_badge(&c).await, "shipped");
    assert_badges_readable(&c, "the merchant's shipped order").await;
    merchant.page("order-shipped", &[]).await;
    sign_out(&c).await;

    // Back to the buyer's order page (the link from the confirmation email): shipped, with tracking.
    c.goto(&order_url).await.unwrap();
    assert_eq!(heading_badge(&c).await, "shipped");
    assert!(text(&c).await.contains("SG000777888"));
    assert_badges_readable(&c, "the buyer's shipped order").await;
    merchant.page("buyer-order-shipped", &[]).await;
    checks_catch_what_they_look_for(&c).await;
    c.clone().close().await.unwrap();

    println!("screenshots and axe results ({}):", std::fs::canonicalize(screenshot_dir()).unwrap().display());
    for line in buyer.report.iter().chain(&merchant.report) {
        println!("  {line}");
    }
    let problems: Vec<_> = buyer.problems.iter().chain(&merchant.problems).collect();
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.iter().map(|p| format!("  {p}\n")).collect::<String>()
    );
}

/// Opens `path` and walks it as one page of `walk`, after checking that the page is the one asked for: not an
/// error page, and not a redirect elsewhere (to sign-in, say), which would screenshot the wrong page.
async fn visit(c: &Client, app: &TestApp, walk: &mut Walk<'_>, name: &str, path: &str) {
    c.goto(&app.url(path)).await.unwrap();
    c.wait().for_element(Locator::Css("h1")).await.unwrap();
    let url = c.current_url().await.unwrap();
    let wanted = url::Url::parse(&app.url(path)).unwrap();
    assert_eq!(url.path(), wanted.path(), "{name}: {path} led elsewhere");
    let h1 = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    for error in ["not found", "went wrong", "forbidden", "too many"] {
        assert!(!h1.to_lowercase().contains(error), "{name}: {path} is an error page: {h1}");
    }
    walk.page(name, &[]).await;
}

/// The operator's console, signed in with the operator token as the form asks: every console page.
async fn console_tour(c: &Client, app: &TestApp, tour: &mut Walk<'_>, s: palisade_core::StoreId) {
    // The operator's console, signed in with the operator token as the form asks.
    visit(c, app, tour, "console-sign-in", "/console/login").await;
    fill(c, "form[action='/console/login'] input[name=token]", &app.token).await;
    click(c, "form[action='/console/login'] button[type=submit]").await;
    c.wait().for_url(&url::Url::parse(&app.url("/console")).unwrap()).await.unwrap();
    for (name, path) in [
        ("console", "/console".to_owned()),
        ("console-store", format!("/console/stores/{s}/security")),
        ("console-shield", "/console/shield".to_owned()),
        ("console-applications", "/console/applications".to_owned()),
        ("console-disputes", "/console/disputes".to_owned()),
        ("console-outbox", "/console/outbox".to_owned()),
        ("console-payment-page", "/console/payment-page".to_owned()),
        ("console-updates", "/console/updates".to_owned()),
        ("console-assessment", "/console/assessment".to_owned()),
        ("console-verifications", "/console/verifications".to_owned()),
        ("console-reports", "/console/reports".to_owned()),
        ("console-retention", "/console/retention".to_owned()),
        ("console-tsr", "/console/tsr".to_owned()),
    ] {
        visit(c, app, tour, name, &path).await;
    }
}

/// What the tour's store holds besides its owner: a product to search for, and an extension disabled by an advisory.
async fn seed_tour(app: &TestApp, scope: &palisade_store::scope::StaffScope) {
    listing("roasted-oolong")
        .title("Roasted Oolong")
        .description("Charcoal-roasted in small batches.")
        .sku("OOL-100")
        .price(1850)
        .stock(5)
        .create(app, scope)
        .await;
    // The app first: a release published after the advisories check is not installable until the next one.
    crate::apps::seed_for_walk(app).await;
    crate::extension_advisories::seed_for_walk(app, scope).await;
}

/// Every other page a newcomer opens, with the same checks as the journeys (screenshots, axe at both sizes, no
/// sideways scrolling on a phone): the merchant's admin (dashboard, products, theme, settings, payouts, disputes,
/// backups, every Security Center tab with a scan run from its tab, training, guidelines, the fraud review queue and
/// rules, data requests), the buyer's search, registration and account pages (with Your data), the seller
/// sign-up, and the operator's console.
#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them and runs it"]
async fn every_other_page_passes_axe_at_both_sizes() {
    let app = TestApp::start().await;
    let (store, scope, _) = owner_of(&app, "tea").await;
    seed_tour(&app, &scope).await;
    let (_driver, c) = browser().await;
    let mut tour = Walk::new(&c, "tour", DESKTOP);
    set_viewport(&c, DESKTOP).await;

    // The merchant's admin.
    sign_in(&c, &app, "owner@tea.example").await;
    let s = store.id;
    for (name, path) in [
        ("admin-home", format!("/admin/stores/{s}")),
        ("products", format!("/admin/stores/{s}/products")),
        ("orders-empty", format!("/admin/stores/{s}/orders")),
        ("theme", format!("/admin/stores/{s}/theme")),
        ("settings", format!("/admin/stores/{s}/settings")),
        ("payouts", format!("/admin/stores/{s}/payouts")),
        ("disputes", format!("/admin/stores/{s}/disputes")),
        ("backups", format!("/admin/stores/{s}/backups")),
        ("security-overview", format!("/admin/stores/{s}/security")),
        ("security-staff", format!("/admin/stores/{s}/security/staff")),
        ("security-firewall", format!("/admin/stores/{s}/security/firewall")),
        ("security-updates", format!("/admin/stores/{s}/security/updates")),
        ("security-awareness", format!("/admin/stores/{s}/security/awareness")),
        ("security-training", format!("/admin/stores/{s}/security/training")),
        ("security-training-team", format!("/admin/stores/{s}/security/training/team")),
        ("security-guidelines", format!("/admin/stores/{s}/security/guidelines")),
        ("orders-review", format!("/admin/stores/{s}/orders/review")),
        ("fraud-rules", format!("/admin/stores/{s}/fraud-rules")),
        ("data-requests", format!("/admin/stores/{s}/data-requests")),
        ("messages", format!("/admin/stores/{s}/messages")),
        ("verification", format!("/admin/stores/{s}/verification")),
        ("security-phishing", format!("/admin/stores/{s}/security/phishing")),
        ("security-compliance", format!("/admin/stores/{s}/security/compliance")),
        ("compliance-cyber-essentials", format!("/admin/stores/{s}/security/compliance/cyber-essentials")),
        ("compliance-pci-saq-a", format!("/admin/stores/{s}/security/compliance/pci-saq-a")),
        ("compliance-pdpa", format!("/admin/stores/{s}/security/compliance/pdpa")),
        ("security-extensions-advisories", format!("/admin/stores/{s}/security/extensions")),
        // Last: the scan is started from this page below.
        ("security-scans-empty", format!("/admin/stores/{s}/security/scans")),
    ] {
        visit(&c, &app, &mut tour, name, &path).await;
    }
    // A scan run from its tab: the page says it is running, reloads itself, then shows the report and findings.
    click(&c, "form[action$='/security/scans'] button").await;
    c.wait().at_most(std::time::Duration::from_secs(60)).for_element(Locator::Id("last-report")).await.unwrap();
    tour.page("security-scans-report", &[]).await;
    // An app installed from the catalog: its credentials once, then its panel on the tab.
    visit(&c, &app, &mut tour, "security-extensions-catalog", &format!("/admin/stores/{s}/security/extensions")).await;
    click(&c, "[id='offer-com.example.sheets'] button").await;
    c.wait().at_most(std::time::Duration::from_secs(20)).for_element(Locator::Css("pre.codes")).await.unwrap();
    tour.page("app-credentials", &[]).await;
    visit(&c, &app, &mut tour, "security-extensions-app", &format!("/admin/stores/{s}/security/extensions")).await;
    assert!(text(&c).await.contains("App access"), "the app's panel");
    sign_out(&c).await;

    // A buyer: search, registration, the account's pages.
    visit(&c, &app, &mut tour, "search", "/search?q=oolong").await;
    assert!(text(&c).await.contains("Roasted Oolong"), "search finds the product");
    visit(&c, &app, &mut tour, "register", "/register").await;
    buyer("tour.buyer@example.com").named("Tour Buyer").create(&app).await;
    sign_in(&c, &app, "tour.buyer@example.com").await;
    for (name, path) in [
        ("account", "/account"),
        ("account-orders", "/account/orders"),
        ("account-addresses", "/account/addresses"),
        ("account-security", "/account/security"),
        ("account-data", "/account/data"),
        ("account-messages", "/account/messages"),
    ] {
        visit(&c, &app, &mut tour, name, path).await;
    }
    sign_out(&c).await;

    // Someone who wants to sell.
    visit(&c, &app, &mut tour, "sell", "/sell").await;

    console_tour(&c, &app, &mut tour, s).await;
    c.clone().close().await.unwrap();

    println!("screenshots and axe results ({}):", std::fs::canonicalize(screenshot_dir()).unwrap().display());
    for line in &tour.report {
        println!("  {line}");
    }
    assert!(
        tour.problems.is_empty(),
        "{} problems:\n{}",
        tour.problems.len(),
        tour.problems.iter().map(|p| format!("  {p}\n")).collect::<String>()
    );
}
