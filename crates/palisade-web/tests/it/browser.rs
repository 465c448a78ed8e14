//! The whole purchase in a real headless Chromium (WebDriver): a buyer searches, adds to the cart, pays with the
//! test card and sees the order; the merchant ships; the buyer confirms; the merchant's balance shows the
//! released amount. Screenshots of every step go to `target/browser-artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `.ci/run` installs them and runs this with `--ignored`
//! (`cargo test -p palisade-web --test it browser -- --ignored`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use palisade_commerce::catalog;
use palisade_commerce::ledger;

use palisade_core::money::Currency;

use crate::support::{PW, TestApp, listing, owner_of};

pub(super) struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A chromedriver and a Chromium session. On a loaded 2-core machine Chromium sometimes dies while the session is
/// being created (the driver answers with a reset connection); that is the environment, not the product, so the
/// driver is started afresh up to three times before the test gives up.
pub(super) async fn browser() -> (Driver, Client) {
    let mut last = String::new();
    for _ in 0..3 {
        match start_session().await {
            Ok(pair) => return pair,
            Err(e) => {
                eprintln!("Chromium session failed, starting the driver again: {e}");
                last = e;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
    panic!("a Chromium session: {last}");
}

async fn start_session() -> Result<(Driver, Client), String> {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (apt install chromium chromium-driver)");
    let driver = Driver(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return Err("chromedriver did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"]}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .map_err(|e| format!("{e:?}"))?;
    Ok((driver, client))
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

pub(super) async fn fill(c: &Client, css: &str, value: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

pub(super) async fn click(c: &Client, css: &str) {
    c.wait().for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.unwrap();
}

pub(super) async fn text(c: &Client) -> String {
    c.find(Locator::Css("body")).await.unwrap().text().await.unwrap()
}

pub(super) async fn sign_in(c: &Client, app: &TestApp, email: &str) {
    c.goto(&app.url("/login")).await.unwrap();
    fill(c, "input[name=email]", email).await;
    fill(c, "input[name=password]", PW).await;
    click(c, "form[action='/login'] button[type=submit]").await;
    c.wait().for_url(&url::Url::parse(&app.url("/account")).unwrap()).await.ok();
}

pub(super) async fn sign_out(c: &Client) {
    click(c, "form[action='/logout'] button").await;
    // Let the sign-out finish navigating before the next step, or the next page load races with it.
    c.wait().for_element(Locator::Css("form[action='/login']")).await.unwrap();
}

/// Every status badge on the current page is readable: its text against the first opaque background behind it
/// has a WCAG contrast ratio of at least 4.5 (AA for small text). White-on-white badges once hid order statuses.
pub(super) async fn assert_badges_readable(c: &Client, page: &str) {
    let script = r#"
        const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
        const lum = ([r, g, b]) => {
            const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
            return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
        };
        const background = (el) => {
            for (let e = el; e; e = e.parentElement) {
                const c = rgb(getComputedStyle(e).backgroundColor);
                if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
            }
            return [255, 255, 255];
        };
        const bad = [];
        let seen = 0;
        for (const el of document.querySelectorAll('.badge')) {
            seen += 1;
            const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
            const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
            if (ratio < 4.5) bad.push(el.textContent.trim() + ' ' + ratio.toFixed(2));
        }
        return [seen, bad];
    "#;
    let v = c.execute(script, vec![]).await.unwrap();
    let seen = v[0].as_u64().unwrap();
    let bad = v[1].as_array().unwrap();
    assert!(seen > 0, "{page}: the check found badges to look at");
    assert!(bad.is_empty(), "{page}: badges below 4.5:1 contrast: {bad:?}");
}

#[tokio::test]
#[ignore = "needs chromium and chromedriver; .ci/run installs them and runs it"]
#[allow(
    clippy::too_many_lines,
    reason = "one browser journey, walked step by step in the order the buyer and merchant take it"
)]
async fn a_buyer_buys_in_chromium_and_the_merchant_is_paid() {
    let app = TestApp::start().await;
    let (store, scope, _) = owner_of(&app, "tea").await;
    let owner_email = format!("owner@{}.example", "tea");
    let p = listing("roasted-oolong")
        .title("Roasted Oolong")
        .description("Charcoal-roasted in small batches.")
        .sku("OOL-100")
        .options(serde_json::json!({"size": "100 g"}))
        .price(1850)
        .stock(5)
        .create(&app, &scope)
        .await;
    let (_driver, c) = browser().await;

    // Search from the home page.
    c.goto(&app.url("/")).await.unwrap();
    shot(&c, "01-home").await;
    fill(&c, "input[name=q]", "oolong").await;
    click(&c, "form[action='/search'] button").await;
    c.wait().for_element(Locator::Css("a[href='/s/tea/p/roasted-oolong']")).await.unwrap();
    shot(&c, "02-search").await;
    click(&c, "a[href='/s/tea/p/roasted-oolong']").await;

    // Product page: add to cart.
    c.wait().for_element(Locator::Css("form[action='/cart/add']")).await.unwrap();
    assert!(text(&c).await.contains("Roasted Oolong"));
    shot(&c, "03-product").await;
    click(&c, "form[action='/cart/add'] button[type=submit]").await;
    c.wait().for_element(Locator::Css("a[href='/checkout/tea']")).await.unwrap();
    shot(&c, "04-cart").await;
    click(&c, "a[href='/checkout/tea']").await;

    // The platform's payment page.
    c.wait().for_element(Locator::Css("#pay-form")).await.unwrap();
    for (name, value) in [
        ("email", "buyer@example.com"),
        ("name", "Browser Buyer"),
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
    shot(&c, "05-payment").await;
    click(&c, "#pay-form button[type=submit]").await;
    c.wait().for_element(Locator::Css("form[action*='/confirm']")).await.ok();
    let order_url = c.current_url().await.unwrap().to_string();
    assert!(order_url.contains("/orders/") && order_url.contains("k="), "{order_url}");
    let page = text(&c).await;
    assert!(page.to_lowercase().contains("paid"), "{page}");
    shot(&c, "06-order-paid").await;
    assert_badges_readable(&c, "the buyer's order").await;
    let order_id = order_url
        .split("/orders/")
        .nth(1)
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .parse::<palisade_core::OrderId>()
        .unwrap();
    assert_eq!(ledger::escrow_balance(&app.db, &scope, order_id).await.unwrap(), 1850);
    assert_eq!(catalog::get_product(&app.db, &scope, p.id).await.unwrap().variants[0].stock, 4);

    // The merchant ships from the store admin.
    sign_in(&c, &app, &owner_email).await;
    c.goto(&app.url(&format!("/admin/stores/{}/orders/{order_id}", store.id))).await.unwrap();
    fill(&c, "input[name=tracking_no]", "SG000123456").await;
    shot(&c, "07-merchant-order").await;
    assert_badges_readable(&c, "the merchant's order").await;
    click(&c, "form[action$='/ship'] button").await;
    c.wait().for_element(Locator::Css("form[action$='/deliver']")).await.unwrap();
    shot(&c, "08-merchant-shipped").await;
    assert_badges_readable(&c, "the shipped order").await;
    for list in ["orders", "products"] {
        c.goto(&app.url(&format!("/admin/stores/{}/{list}", store.id))).await.unwrap();
        assert_badges_readable(&c, list).await;
    }
    sign_out(&c).await;

    // The buyer confirms receipt from the order link.
    c.goto(&order_url).await.unwrap();
    c.wait().for_element(Locator::Css("form[action*='/confirm']")).await.unwrap();
    let page = text(&c).await;
    assert!(page.contains("SG000123456"), "the buyer sees the tracking number: {page}");
    click(&c, "form[action*='/confirm'] button").await;
    c.wait().for_element(Locator::Css("form[action*='/review']")).await.unwrap();
    shot(&c, "09-buyer-confirmed").await;

    // The merchant's balance shows the released amount.
    sign_in(&c, &app, &owner_email).await;
    c.goto(&app.url(&format!("/admin/stores/{}/payouts", store.id))).await.unwrap();
    let balance = c.wait().for_element(Locator::Css("#balance")).await.unwrap().text().await.unwrap();
    shot(&c, "10-merchant-balance").await;
    assert_eq!(balance, "SGD 18.50");
    assert_eq!(ledger::store_balance(&app.db, &scope, Currency::SGD).await.unwrap(), 1850);
    c.close().await.unwrap();
}
