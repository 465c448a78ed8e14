//! Issue #18 items 12 and 14 over HTTP: the merchant's orders as a work queue (counts, filters, batch shipping,
//! packing slips, the order page's messages and refund confirmation) and the store's home dashboard.

use palisade_commerce::fulfilment::{self, Notify, Shipment};
use palisade_commerce::orders::{self, Status};
use palisade_commerce::policy::Policy;
use palisade_commerce::{figures, ledger};
use palisade_core::OrderId;
use palisade_store::StaffScope;
use palisade_store::tenancy::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{
    Csrf, TestApp, VISITOR, grant_exactly, listing, order_request, owner_of, place_order, staff, store_token_from_page,
};

/// Places a paid order of one `variant` in `slug` for `email` (name on the address: `name`); its id and number.
async fn paid(app: &TestApp, slug: &str, variant: &impl serde::Serialize, email: &str, name: &str) -> (OrderId, i64) {
    let key = format!("k-{}", OrderId::new());
    let res = place_order(app, slug, &key, &order_request(variant).email(email).name(name).json(), None).await;
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    (v["order"]["id"].as_str().unwrap().parse().unwrap(), v["order"]["number"].as_i64().unwrap())
}

async fn status_of(app: &TestApp, scope: &StaffScope, id: OrderId) -> Status {
    orders::get(&app.db, scope, id).await.unwrap().status
}

/// Order mails about shipping queued for `id` (the `order.mail` job).
async fn shipped_mails(app: &TestApp, id: OrderId) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM jobs WHERE kind = 'order.mail' AND payload LIKE $1 AND payload LIKE $2")
            .bind(format!("%{id}%"))
            .bind("%\"shipped\"%")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    n
}

/// A page and its status; the page with `/` unescaped (the templates escape it in values as `&#x2f;`).
async fn get_page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_queue_counts_each_state_links_to_it_and_filters_with_the_search() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let p = listing("kettle").stock(50).create(&app, &scope).await;
    let v = &p.variants[0].id;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(paid(&app, "alpha", v, &format!("b{i}@buyer.example"), "Mei").await);
    }
    let policy = Policy::default();
    let quiet = Shipment::new("DHL", "", Notify::Quiet).unwrap();
    fulfilment::ship(&app.db, &scope, ids[0].0, &quiet).await.unwrap();
    orders::transition(&app.db, &scope, ids[1].0, Status::Disputed, None, &policy).await.unwrap();
    orders::transition(&app.db, &scope, ids[2].0, Status::Refunded, None, &policy).await.unwrap();
    // Three paid (to ship), one shipped, one disputed, one refunded.
    let counts = figures::queue_counts(&app.db, &scope).await.unwrap();
    assert_eq!(counts, figures::QueueCounts { to_ship: 3, shipped: 1, disputed: 1, refunded: 1 });

    let base = format!("/admin/stores/{}/orders", s.id);
    let (st, page) = get_page(&app, &base, &cookie).await;
    assert_eq!(st, StatusCode::OK);
    for expected in [
        "href=\"?status=paid\"><b>3</b>To ship",
        "href=\"?status=shipped\"><b>1</b>Shipped, awaiting delivery",
        "href=\"?status=disputed\"><b>1</b>Disputed",
        "href=\"?status=refunded\"><b>1</b>Refunded",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    // Each count's link lists exactly those orders.
    let (_, to_ship) = get_page(&app, &format!("{base}?status=paid"), &cookie).await;
    for (id, n) in &ids {
        let listed = to_ship.contains(&format!("/orders/{id}\">#{n}<"));
        assert_eq!(listed, status_of(&app, &scope, *id).await == Status::Paid, "#{n} in the to-ship list");
    }
    // Status and search together: a paid order's buyer, and a refunded buyer's email under "paid" (none).
    let (_, found) = get_page(&app, &format!("{base}?status=paid&q=b4%40buyer"), &cookie).await;
    assert!(found.contains(&format!("#{}<", ids[4].1)) && !found.contains(&format!("#{}<", ids[3].1)), "{found}");
    let (_, none) = get_page(&app, &format!("{base}?status=paid&q=b2%40buyer"), &cookie).await;
    assert!(none.contains("No orders that are paid matching"), "{none}");
    let (_, by_number) = get_page(&app, &format!("{base}?status=refunded&q=%23{}", ids[2].1), &cookie).await;
    assert!(by_number.contains(&format!("/orders/{}\">#{}<", ids[2].0, ids[2].1)));
    // Every row has a checkbox with a label beside it.
    assert!(to_ship.contains(&format!("id=\"sel-{}\" name=\"order\"", ids[3].0)));
    assert!(to_ship.contains(&format!("<label for=\"sel-{}\">", ids[3].0)));
}

#[tokio::test]
async fn a_batch_ships_the_stores_paid_orders_and_reports_every_skip() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo_scope, _) = owner_of(&app, "bravo").await;
    let v = listing("kettle").stock(50).create(&app, &scope).await.variants[0].id;
    let bv = listing("mug").stock(50).create(&app, &bravo_scope).await.variants[0].id;
    let a1 = paid(&app, "alpha", &v, "a1@buyer.example", "One").await;
    let a2 = paid(&app, "alpha", &v, "a2@buyer.example", "Two").await;
    let a3 = paid(&app, "alpha", &v, "a3@buyer.example", "Three").await;
    let a4 = paid(&app, "alpha", &v, "a4@buyer.example", "Four").await;
    orders::transition(&app.db, &scope, a3.0, Status::Refunded, None, &Policy::default()).await.unwrap();
    let theirs = paid(&app, "bravo", &bv, "b@buyer.example", "Bravo").await;

    let url = app.url(&format!("/admin/stores/{}/orders/ship", s.id));
    let f = |k: String, v: &str| (k, v.to_owned());
    let form = vec![
        f("order".into(), &a1.0.to_string()),
        f("order".into(), &a2.0.to_string()),
        f("order".into(), &a3.0.to_string()),
        f("order".into(), &theirs.0.to_string()),
        f("order".into(), &a4.0.to_string()),
        f(format!("carrier_{}", a1.0), "DHL"),
        f(format!("tracking_{}", a1.0), "T-1"),
        // A row's bad input skips that row only.
        f(format!("tracking_{}", a4.0), &"x".repeat(65)),
        f("carrier_all".into(), "SingPost"),
        f("tracking_all".into(), ""),
        f("notify".into(), "quiet"),
    ];
    // Without the form's token nothing is shipped.
    let res = app.client.post(&url).header("cookie", &cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(status_of(&app, &scope, a1.0).await, Status::Paid);

    let res = app.client.post(&url).csrf(&app, &cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("2 shipped, 3 skipped."), "{page}");
    assert!(page.contains("it is refunded"), "{page}");
    assert!(page.contains("no such order in this store"), "{page}");
    assert!(page.contains("a tracking number is one line of at most 64 characters"), "{page}");
    assert!(
        !page.contains("b@buyer.example") && !page.contains("Bravo"),
        "nothing of the other store's order is shown"
    );

    let o1 = orders::get(&app.db, &scope, a1.0).await.unwrap();
    assert_eq!(
        (o1.status, o1.carrier.as_deref(), o1.tracking_no.as_deref()),
        (Status::Shipped, Some("DHL"), Some("T-1"))
    );
    let o2 = orders::get(&app.db, &scope, a2.0).await.unwrap();
    assert_eq!(
        (o2.status, o2.carrier.as_deref(), o2.tracking_no.as_deref()),
        (Status::Shipped, Some("SingPost"), None)
    );
    assert_eq!(status_of(&app, &scope, a3.0).await, Status::Refunded);
    assert_eq!(status_of(&app, &scope, a4.0).await, Status::Paid, "a bad row is not half-shipped");
    assert_eq!(status_of(&app, &bravo_scope, theirs.0).await, Status::Paid, "another store's order is not shipped");
    // "Don't email the buyers" was chosen.
    assert_eq!(shipped_mails(&app, a1.0).await + shipped_mails(&app, a2.0).await, 0);

    // Told: the buyer's mail is queued.
    let notify = [("order", a4.0.to_string()), ("carrier_all", "Ninja Van".to_owned()), ("notify", "buyer".to_owned())];
    let res = app.client.post(&url).csrf(&app, &cookie).form(&notify).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("1 shipped, 0 skipped. Each buyer has been emailed."));
    assert_eq!(shipped_mails(&app, a4.0).await, 1);
}

#[tokio::test]
async fn batch_forms_are_refused_whole_when_too_big_malformed_or_not_permitted() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let v = listing("kettle").stock(50).create(&app, &scope).await.variants[0].id;
    let (mine, _) = paid(&app, "alpha", &v, "a1@buyer.example", "One").await;
    let url = app.url(&format!("/admin/stores/{}/orders/ship", s.id));

    // 10,000 ids (one of them real): a clear 422, nothing shipped.
    let mut body = String::from("carrier_all=DHL");
    body.push_str(&format!("&order={mine}"));
    for _ in 1..10_000 {
        body.push_str(&format!("&order={}", OrderId::new()));
    }
    let res = app
        .client
        .post(&url)
        .csrf(&app, &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = res.text().await.unwrap();
    assert!(text.contains("select at most 100 orders at a time (10000 were sent)"), "{text}");
    assert_eq!(status_of(&app, &scope, mine).await, Status::Paid);

    for (form, why) in [
        (vec![("order", "not-an-id".to_owned()), ("carrier_all", "DHL".to_owned())], "not an order id"),
        (vec![("carrier_all", "DHL".to_owned())], "select at least one order"),
        (vec![("order", mine.to_string()), ("notify", "sometimes".to_owned())], "notify is"),
    ] {
        let res = app.client.post(&url).csrf(&app, &cookie).form(&form).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{why}");
        assert!(res.text().await.unwrap().contains(why), "{why}");
    }
    assert_eq!(status_of(&app, &scope, mine).await, Status::Paid);

    // Without the orders permission (every member's role includes it, so: a store token given only "theme"):
    // 403 for the queue, the batch, the slips and the single ship.
    let token = store_token_from_page(&app, s.id, &cookie, "name=Theme+sync&permission=theme&expires_days=30").await;
    let queue = app.client.get(app.url(&format!("/admin/stores/{}/orders", s.id))).bearer_auth(&token).send();
    assert_eq!(queue.await.unwrap().status(), StatusCode::FORBIDDEN);
    let form = [("order", mine.to_string()), ("carrier_all", "DHL".to_owned())];
    for path in ["orders/ship", "orders/slips", &format!("orders/{mine}/ship")] {
        let res = app
            .client
            .post(app.url(&format!("/admin/stores/{}/{path}", s.id)))
            .csrf(&app, VISITOR)
            .bearer_auth(&token)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(res.text().await.unwrap().contains("Orders and shipping"), "{path}: refused for the permission");
    }
    assert_eq!(status_of(&app, &scope, mine).await, Status::Paid);
}

#[tokio::test]
async fn packing_slips_show_what_to_pack_and_where_escaped_and_without_prices() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, bravo_scope, _) = owner_of(&app, "bravo").await;
    let p = listing("tee").options(json!({"size": "M", "colour": "Teal"})).price(2350).create(&app, &scope).await;
    let v = p.variants[0].id;
    let evil = "<script>alert(1)</script>";
    let (id, number) = paid(&app, "alpha", &v, "x@buyer.example", "Evil").await;
    // The firewall stops a script in the checkout itself; one stored anyway (an import, an older release) must
    // still be shown as text.
    let address = json!({"name": evil, "line1": "1 Road", "city": "SG", "postcode": "1", "country": "SG"});
    sqlx::query("UPDATE orders SET address = $1 WHERE id = $2")
        .bind(address.to_string())
        .bind(id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    let (other, other_number) = paid(&app, "alpha", &v, "y@buyer.example", "Plain Name").await;
    let bv = listing("mug").create(&app, &bravo_scope).await.variants[0].id;
    let (theirs, _) = paid(&app, "bravo", &bv, "z@buyer.example", "Bravo Buyer").await;

    let (st, slip) = get_page(&app, &format!("/admin/stores/{}/orders/{id}/slip", s.id), &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!slip.contains(evil), "the buyer's name is escaped");
    assert!(slip.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{slip}");
    for expected in
        [format!("Order #{number}"), "Store alpha".into(), "size: M".into(), "colour: Teal".into(), "1 Road".into()]
    {
        assert!(slip.contains(&expected), "{expected} on the slip");
    }
    assert!(!slip.contains("23.50") && !slip.contains("SGD"), "no prices on a slip");
    assert!(slip.contains(&format!("href=\"/admin/stores/{}/orders/{id}\"", s.id)), "a way back");

    // The selected ones, in one page; another store's order among them is 404.
    let url = app.url(&format!("/admin/stores/{}/orders/slips", s.id));
    let form = [("order", id.to_string()), ("order", other.to_string())];
    let res = app.client.post(&url).csrf(&app, &cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let both = res.text().await.unwrap();
    assert_eq!(both.matches("class=\"slip\"").count(), 2);
    assert!(both.contains(&format!("Order #{other_number}")) && both.contains("Plain Name"));
    let form = [("order", id.to_string()), ("order", theirs.to_string())];
    let res = app.client.post(&url).csrf(&app, &cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("Bravo Buyer"));
    // The order page shows the options, the buyer's name and address, escaped.
    let (_, order_page) = get_page(&app, &format!("/admin/stores/{}/orders/{id}", s.id), &cookie).await;
    assert!(!order_page.contains(evil) && order_page.contains("size: M") && order_page.contains("SGD 23.50"));
}

#[tokio::test]
async fn the_order_page_says_what_each_action_did_and_a_refund_waits_for_confirmation() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let v = listing("kettle").price(1850).create(&app, &scope).await.variants[0].id;
    let (id, _) = paid(&app, "alpha", &v, "a@buyer.example", "Mei").await;
    let order = format!("/admin/stores/{}/orders/{id}", s.id);
    let post = |path: String, form: Vec<(&'static str, &'static str)>| {
        app.client.post(app.url(&path)).csrf(&app, &cookie).form(&form).send()
    };

    // Shipped with a carrier only, buyer not told.
    let res = post(format!("{order}/ship"), vec![("carrier", "SingPost"), ("tracking_no", ""), ("notify", "quiet")]);
    let res = res.await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(to, format!("{order}?done=shipped_quiet"));
    let (_, page) = get_page(&app, &to, &cookie).await;
    assert!(
        page.contains("Marked shipped. The buyer was not emailed.") && page.contains("Carrier: SingPost"),
        "{page}"
    );
    assert_eq!(shipped_mails(&app, id).await, 0);

    // An action the order no longer allows: the order page again, with the reason and its status.
    let res = post(format!("{order}/ship"), vec![("carrier", "DHL")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let page = res.text().await.unwrap();
    assert!(page.contains("role=\"alert\">an order that is shipped cannot be shipped"), "{page}");

    let res = post(format!("{order}/deliver"), vec![]).await.unwrap();
    assert_eq!(res.headers()["location"], format!("{order}?done=delivered").as_str());

    // A refund without the confirmation: a page restating it, and nothing refunded.
    let res = post(format!("{order}/refund"), vec![("amount", "5.00"), ("note", "scratched")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let confirm = res.text().await.unwrap();
    assert!(confirm.contains("Refund SGD 5.00 for order #") && confirm.contains("name=\"confirm\""), "{confirm}");
    assert!(confirm.contains("Nothing has been refunded yet. SGD 18.50 is held"), "{confirm}");
    assert_eq!(ledger::escrow_balance(&app.db, &scope, id).await.unwrap(), 1850);
    // Confirmed: done, and said.
    let res = post(format!("{order}/refund"), vec![("amount", "5.00"), ("note", "scratched"), ("confirm", "yes")]);
    let res = res.await.unwrap();
    assert_eq!(res.headers()["location"], format!("{order}?done=partly_refunded").as_str());
    assert_eq!(ledger::escrow_balance(&app.db, &scope, id).await.unwrap(), 1350);
    let res = post(format!("{order}/refund"), vec![("amount", "13.50"), ("confirm", "yes")]).await.unwrap();
    let to = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, page) = get_page(&app, &to, &cookie).await;
    assert!(page.contains("Refunded in full"), "{page}");
    // A refund beyond what is held: the reason on the page, nothing moved.
    let res = post(format!("{order}/refund"), vec![("amount", "1.00"), ("confirm", "yes")]).await.unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("role=\"alert\""));
    // A `done` that is not ours shows nothing.
    let (_, page) = get_page(&app, &format!("{order}?done=%3Cb%3Ehi"), &cookie).await;
    assert!(!page.contains("<b>hi") && !page.contains("&lt;b&gt;hi"));
}

#[tokio::test]
async fn the_dashboard_figures_match_the_orders_placed() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let v = listing("kettle").price(1850).stock(50).create(&app, &scope).await.variants[0].id;
    let (shipped_today, _) = paid(&app, "alpha", &v, "a@buyer.example", "A").await;
    let (_waiting_today, _) = paid(&app, "alpha", &v, "b@buyer.example", "B").await;
    let (three_days_ago, _) = paid(&app, "alpha", &v, "c@buyer.example", "C").await;
    let (ten_days_ago, _) = paid(&app, "alpha", &v, "d@buyer.example", "D").await;
    let now = app.db.now();
    let start = palisade_core::zone::StoreZone::default_zone().day_bounds(now, 1)[0].0;
    for (id, at) in [(three_days_ago, start - 3 * figures::DAY_MS + 1000), (ten_days_ago, now.0 - 10 * figures::DAY_MS)]
    {
        sqlx::query("UPDATE orders SET created_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id.to_string())
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    let policy = Policy::default();
    let quiet = Shipment::new("DHL", "T", Notify::Quiet).unwrap();
    fulfilment::ship(&app.db, &scope, shipped_today, &quiet).await.unwrap();
    fulfilment::ship(&app.db, &scope, three_days_ago, &quiet).await.unwrap();
    for to in [Status::Delivered, Status::Completed] {
        orders::transition(&app.db, &scope, three_days_ago, to, None, &policy).await.unwrap();
    }
    let zone = palisade_core::zone::StoreZone::default_zone();
    let days = figures::sales_by_day(&app.db, &scope, palisade_core::money::Currency::SGD, &zone, 7).await.unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!((days[6].orders, days[6].total.minor), (2, 3700), "today");
    assert_eq!((days[3].orders, days[3].total.minor), (1, 1850), "three days ago");
    assert_eq!(days.iter().map(|d| d.orders).sum::<i64>(), 3, "the order of ten days ago is not in the week");

    let home = format!("/admin/stores/{}", s.id);
    let res = app.client.get(app.url("/admin")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.headers()["location"], home.as_str(), "the store's staff land on its home");
    let (st, page) = get_page(&app, &home, &cookie).await;
    assert_eq!(st, StatusCode::OK);
    let held = palisade_core::money::Money::new(
        ledger::escrow_total(&app.db, &scope).await.unwrap(),
        palisade_core::money::Currency::SGD,
    );
    let available = ledger::store_balance(&app.db, &scope, palisade_core::money::Currency::SGD).await.unwrap();
    assert_eq!(held.minor, 3 * 1850, "the three orders not completed are held");
    assert!(available > 0, "the completed order was released");
    let available = palisade_core::money::Money::new(available, palisade_core::money::Currency::SGD);
    for expected in [
        "id=\"sales-today\">SGD 37.00</b>".to_owned(),
        "id=\"sales-week\">SGD 55.50</b>".to_owned(),
        "id=\"to-ship\">2</b>".to_owned(),
        format!("href=\"{home}/orders?status=paid\""),
        format!("id=\"held\">{held}</b>"),
        format!("id=\"available\">{available}</b>"),
        "<title id=\"chart-title\">Sales over the last 7 days</title>".to_owned(),
        format!("{}: SGD 37.00 (2 orders)", days[6].label),
        // No security contact yet: an unmet control, linked to where it is set.
        "The store names a security and data-protection contact".to_owned(),
        format!("href=\"{home}/security#contact\">Fix it in Security Center settings"),
    ] {
        assert!(page.contains(&expected), "{expected} on the dashboard: {page}");
    }
    assert_eq!(page.matches("<rect ").count(), 7, "one bar a day");
    assert!(page.contains("id=\"score\">") && page.contains("%</b>security score"));
    assert!(page.matches("<li><span class=\"badge").count() <= 3, "three to fix at most");
    // The linked section exists where the link points.
    let (_, security) = get_page(&app, &format!("{home}/security"), &cookie).await;
    assert!(security.contains("<h2 id=\"contact\">"));

    // A staff member (orders, not payouts or security settings): sales, no balances, no link they could not use.
    let (clerk, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    grant_exactly(&app, &scope, clerk.id, &["products"]).await;
    let (st, page) = get_page(&app, &home, &clerk_cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("id=\"sales-today\">SGD 37.00") && !page.contains("id=\"available\""), "{page}");
    assert!(!page.contains("security#settings") && page.contains("permission: ask a store owner"), "{page}");
    // A store token given only "theme": no sales and no money either.
    let token = store_token_from_page(&app, s.id, &cookie, "name=Theme&permission=theme&expires_days=30").await;
    let res = app.client.get(app.url(&home)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(!page.contains("sales-today") && !page.contains("id=\"held\"") && !page.contains("SGD"), "{page}");
}
