//! Times in the store admin (issue #18 item 8): orders, the order page, the dashboard and the Security Center show
//! them in the store's own time zone, as "3 hours ago" with the exact local time in the title, never in UTC.

use palisade_commerce::{figures, orders};
use palisade_core::OrderId;
use palisade_core::time::Timestamp;
use palisade_core::zone::StoreZone;
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, listing, order_request, owner_of, place_order};

async fn paid(app: &TestApp, slug: &str, variant: palisade_core::VariantId) -> OrderId {
    let key = format!("k-{}", OrderId::new());
    let res = place_order(app, slug, &key, &order_request(variant).json(), None).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    v["order"]["id"].as_str().unwrap().parse().unwrap()
}

async fn placed_at(app: &TestApp, id: OrderId, at: i64) {
    sqlx::query("UPDATE orders SET created_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
}

async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.text().await.unwrap()
}

/// Every `datetime="…"` on the page.
fn datetimes(page: &str) -> Vec<&str> {
    page.split("<time datetime=\"").skip(1).filter_map(|t| t.split('"').next()).collect()
}

#[tokio::test]
async fn admin_times_are_the_stores_local_times_and_say_how_long_ago() {
    let app = TestApp::start().await;
    let (store, scope, owner) = owner_of(&app, "tea").await;
    let new_york = StoreZone::parse("America/New_York").unwrap();
    orders::set_time_zone(&app.db, &scope, &new_york).await.unwrap();
    let v = listing("kettle").create(&app, &scope).await.variants[0].id;
    let id = paid(&app, "tea", v).await;
    let at = Timestamp(app.db.now().0 - (3 * 60 + 5) * 60_000);
    placed_at(&app, id, at.0).await;
    let offset = &new_york.iso(app.db.now())[19..]; // "-05:00" in winter, "-04:00" in summer.
    let time = format!("<time datetime=\"{}\" title=\"{}\">3 hours ago</time>", new_york.iso(at), new_york.local(at));

    let base = format!("/admin/stores/{}", store.id);
    let list = page(&app, &format!("{base}/orders"), &owner).await;
    assert!(list.contains(&time), "the queue: {time} in {list}");
    let order = page(&app, &format!("{base}/orders/{id}"), &owner).await;
    assert!(order.contains(&format!("Placed {time}")), "the order page: {order}");
    for (name, html) in [("orders", &list), ("order", &order)] {
        let all = datetimes(html);
        assert!(!all.is_empty() && all.iter().all(|d| d.ends_with(offset)), "{name}: {all:?}");
    }

    let home = page(&app, &base, &owner).await;
    assert!(home.contains("America&#x2f;New_York") && !home.contains("(UTC)"), "the dashboard names the zone");
    for tab in ["security", "security/staff"] {
        let html = page(&app, &format!("{base}/{tab}"), &owner).await;
        let all = datetimes(&html);
        if tab == "security" {
            assert!(html.contains("since <time datetime="), "unmet controls say since when, in the store's zone");
        }
        assert!(!all.is_empty(), "{tab} shows times");
        assert!(all.iter().all(|d| d.ends_with(offset)), "{tab}: {all:?}");
        assert!(html.contains("just now") || html.contains("minute"), "{tab} says how long ago");
    }

    // Another store keeps its own zone (Singapore by default): nothing of New York leaks across.
    let (other, other_scope, other_owner) = owner_of(&app, "books").await;
    let w = listing("atlas").create(&app, &other_scope).await.variants[0].id;
    paid(&app, "books", w).await;
    let theirs = page(&app, &format!("/admin/stores/{}/orders", other.id), &other_owner).await;
    let all = datetimes(&theirs);
    assert!(!all.is_empty() && all.iter().all(|d| d.ends_with("+08:00")), "{all:?}");
    // The console stays in UTC (it is the platform's, not a store's).
}

#[tokio::test]
async fn the_dashboard_counts_sales_by_the_stores_own_days() {
    let app = TestApp::start().await;
    let (store, scope, owner) = owner_of(&app, "tea").await;
    // Kiritimati is UTC+14: its midnight is 10:00 UTC the day before, so its days and UTC days cut differently.
    let zone = StoreZone::parse("Pacific/Kiritimati").unwrap();
    orders::set_time_zone(&app.db, &scope, &zone).await.unwrap();
    let v = listing("kettle").price(1000).create(&app, &scope).await.variants[0].id;
    let now = app.db.now();
    let today = zone.day_bounds(now, 1)[0].0;
    let late_yesterday = paid(&app, "tea", v).await;
    placed_at(&app, late_yesterday, today - 30 * 60_000).await;
    let early_today = paid(&app, "tea", v).await;
    placed_at(&app, early_today, (today + 1000).min(now.0)).await;

    let days = figures::sales_by_day(&app.db, &scope, palisade_core::money::Currency::SGD, &zone, 7).await.unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!((days[6].orders, days[6].total.minor), (1, 1000), "today, local");
    assert_eq!((days[5].orders, days[5].total.minor), (1, 1000), "yesterday, local");
    assert_eq!(days[6].day.0, today);
    assert_eq!(days[6].label, zone.day_label(now));
    let home = page(&app, &format!("/admin/stores/{}", store.id), &owner).await;
    assert!(home.contains("id=\"sales-today\">SGD 10.00</b>"), "{home}");
    assert!(home.contains(&format!("{}: SGD 10.00 (1 orders)", days[5].label)));
}
