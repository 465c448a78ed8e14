//! Issue #18 item 13, the import's apply step over HTTP: the checked file is kept server-side and applied once,
//! by its id only, in its own store, by the person who checked it.

use palisade_commerce::catalog;
use palisade_store::tenancy::Role;
use reqwest::StatusCode;

use super::{check_file, get_page, rows};
use crate::support::{Csrf, TestApp, listing, owner_of, staff, store_token_from_page};

/// The import id the check page offers, if it offers one.
fn import_id(page: &str) -> Option<String> {
    let at = page.find("name=\"import\" value=\"")? + "name=\"import\" value=\"".len();
    page.get(at..at + 64).map(str::to_owned)
}

/// Posts the apply form of `store` with `import` as the session `cookie`.
async fn apply(app: &TestApp, store: &str, cookie: &str, import: &str) -> (StatusCode, String) {
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/products/import/apply")))
        .csrf(app, cookie)
        .form(&[("import", import)])
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

/// Every variant of the store as (sku, title, price, stock, status), sorted.
async fn catalog_of(app: &TestApp, scope: &palisade_store::StaffScope) -> Vec<(String, String, i64, i64, String)> {
    let all = catalog::search_products(&app.db, scope, &catalog::ProductQuery::default(), 100, 0).await.unwrap();
    let mut out: Vec<_> = all
        .iter()
        .flat_map(|p| {
            p.variants
                .iter()
                .map(|v| (v.sku.clone(), p.title.clone(), v.price.minor, v.stock, p.status.as_str().to_owned()))
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_checked_file_is_applied_once_in_this_store_and_reported_row_by_row() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, other, _) = owner_of(&app, "bravo").await;
    listing("mug").title("Teal mug").sku("MUG-1").price(1250).stock(7).create(&app, &scope).await;
    listing("theirs").title("Bravo lamp").sku("BR-1").price(900).stock(4).create(&app, &other).await;
    let bravo_before = catalog_of(&app, &other).await;
    let file = "title,sku,option,price,stock,status\n\
                Teal mug,MUG-1,,13.00,9,published\n\
                Bravo lamp,BR-1,,1.00,1,draft\n\
                <i>Mug</i>,NEW-1,size: M / colour: teal,2.50,1,draft\n\
                '-20% sale,SALE-1,,5.00,2,published\n\
                Bad price,BP-1,,12.345,1,draft\n";
    let store = s.id.to_string();
    let (st, page) = check_file(&app, &store, &cookie, file.as_bytes()).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("Import 4 rows</button>"), "{page}");
    let id = import_id(&page).expect("an import id");
    // Checking wrote nothing yet.
    assert_eq!(catalog_of(&app, &scope).await.len(), 1);

    let (st, page) = apply(&app, &store, &cookie, &id).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("3 created") && page.contains("1 updated") && page.contains("1 refused"), "{page}");
    assert!(page.contains("<tr><td>6</td><td>the price `12.345` is not an amount in SGD"), "{page}");
    assert!(page.contains(&format!("href=\"/admin/stores/{store}/products\"")), "{page}");
    assert_eq!(
        catalog_of(&app, &scope).await,
        vec![
            ("BR-1".into(), "Bravo lamp".into(), 100, 1, "draft".into()),
            ("MUG-1".into(), "Teal mug".into(), 1300, 9, "published".into()),
            ("NEW-1".into(), "<i>Mug</i>".into(), 250, 1, "draft".into()),
            ("SALE-1".into(), "-20% sale".into(), 500, 2, "published".into()),
        ]
    );
    // Another store's SKU became a product of this store; the other store is untouched.
    assert_eq!(catalog_of(&app, &other).await, bravo_before);
    // The new variant has the options of its cell.
    let all = catalog::search_products(&app.db, &scope, &catalog::ProductQuery::default(), 100, 0).await.unwrap();
    let new = all.iter().flat_map(|p| &p.variants).find(|v| v.sku == "NEW-1").unwrap();
    assert_eq!(new.options, serde_json::json!({"size": "M", "colour": "teal"}));
    // Markup in a title is shown as text on the products list.
    let (_, list) = get_page(&app, &format!("/admin/stores/{store}/products"), &cookie).await;
    assert!(!list.contains("<i>Mug</i>") && list.contains("&lt;i&gt;Mug&lt;/i&gt;"), "{list}");

    // Single use: the same id again is a clear 404 and doubles nothing.
    let (st, page) = apply(&app, &store, &cookie, &id).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(page.contains("no longer available"), "{page}");
    assert_eq!(catalog_of(&app, &scope).await.len(), 4);
    // One audit event, with counts and the changes by SKU, no titles.
    let events = palisade_store::audit::list_store(&app.db, &scope, 100).await.unwrap();
    let imported: Vec<_> = events.iter().filter(|e| e.action == "products.imported").collect();
    assert_eq!(imported.len(), 1);
    assert!(!imported[0].details.contains("Mug") && imported[0].details.contains("\"created\":3"), "{imported:?}");
}

#[tokio::test]
async fn our_export_imports_back_unchanged_and_formula_text_stays_text() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    for (slug, title, sku) in
        [("sale", "-20% sale", "S-1"), ("plus", "+1 lid", "P-1"), ("quote", "'=quoted", "Q-1"), ("at", "@home", "A-1")]
    {
        listing(slug).title(title).sku(sku).price(300).stock(3).create(&app, &scope).await;
    }
    let before = catalog_of(&app, &scope).await;
    let store = s.id.to_string();
    let res = app.client.get(app.url(&format!("/admin/stores/{store}/products.csv"))).header("cookie", &cookie);
    let export = res.send().await.unwrap().text().await.unwrap();
    assert!(rows(&export).iter().all(|r| r[0].starts_with('\'')), "{export}");
    let (st, page) = check_file(&app, &store, &cookie, export.as_bytes()).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let (st, page) = apply(&app, &store, &cookie, &import_id(&page).unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("0 created") && page.contains("4 updated"), "{page}");
    assert_eq!(catalog_of(&app, &scope).await, before);
    // A formula typed without the export's quote is stored as the text it is, and exported defused again.
    let file = "title,sku,price,stock\n=1+2,F-1,1.00,1\n";
    let (_, page) = check_file(&app, &store, &cookie, file.as_bytes()).await;
    let (st, _) = apply(&app, &store, &cookie, &import_id(&page).unwrap()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(catalog_of(&app, &scope).await.iter().any(|r| r.0 == "F-1" && r.1 == "=1+2"));
    let res = app.client.get(app.url(&format!("/admin/stores/{store}/products.csv"))).header("cookie", &cookie);
    let export = res.send().await.unwrap().text().await.unwrap();
    assert!(rows(&export).iter().any(|r| r[0] == "'=1+2"), "{export}");
}

#[tokio::test]
async fn an_import_id_works_only_for_its_store_and_person_and_not_after_expiry() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (b, other, bravo_cookie) = owner_of(&app, "bravo").await;
    let store = s.id.to_string();
    let file = "title,sku,price,stock\nMug,M-1,1.00,1\n";
    let (_, page) = check_file(&app, &store, &cookie, file.as_bytes()).await;
    let id = import_id(&page).unwrap();
    // Another store's owner, through their own store: 404, nothing written anywhere.
    let (st, page) = apply(&app, &b.id.to_string(), &bravo_cookie, &id).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{page}");
    // ... or through this store's address: not theirs.
    let (st, _) = apply(&app, &store, &bravo_cookie, &id).await;
    assert!(st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND, "{st}");
    // A colleague with the products permission did not check this file.
    let (_, clerk) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let (st, _) = apply(&app, &store, &clerk, &id).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A store token without the products permission is refused before anything is read.
    let token = store_token_from_page(&app, s.id, &cookie, "name=Theme&permission=theme&expires_days=30").await;
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/products/import/apply")))
        .bearer_auth(&token)
        .form(&[("import", id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Made-up and malformed ids.
    for forged in ["0".repeat(64), "../../x".into(), String::new(), "A".repeat(5000)] {
        let (st, _) = apply(&app, &store, &cookie, &forged).await;
        assert!(st == StatusCode::NOT_FOUND || st.is_client_error(), "{forged}: {st}");
    }
    assert!(catalog_of(&app, &scope).await.is_empty() && catalog_of(&app, &other).await.is_empty());
    // None of that used it up: its owner applies it.
    let (st, page) = apply(&app, &store, &cookie, &id).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert_eq!(catalog_of(&app, &scope).await.len(), 1);
    assert!(catalog_of(&app, &other).await.is_empty());

    // An expired check is refused (the clock is the domain tests'; here the row is aged).
    let (_, page) = check_file(&app, &store, &cookie, b"title,sku,price,stock\nJar,J-1,1.00,1\n").await;
    let id = import_id(&page).unwrap();
    sqlx::query("UPDATE product_imports SET expires_at = 0").execute(app.db.pool()).await.unwrap();
    let (st, page) = apply(&app, &store, &cookie, &id).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(catalog_of(&app, &scope).await.len(), 1);
}

#[tokio::test]
async fn a_file_with_nothing_to_import_offers_no_button_and_keeps_nothing() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let (st, page) = check_file(&app, &s.id.to_string(), &cookie, b"title,sku,price,stock\n,X-1,1.00,1\n").await;
    assert_eq!(st, StatusCode::OK);
    assert!(import_id(&page).is_none() && !page.contains("products/import/apply"), "{page}");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM product_imports").fetch_one(app.db.pool()).await.unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_products_csv_over_64_kib_passes_the_firewall_as_a_file_but_not_as_a_field() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let store = s.id.to_string();
    let mut file = String::from("title,sku,option,price,stock,status\n");
    let mut n = 0;
    while n < 1500 {
        file.push_str(&format!(
            "\"Men's organic cotton tee, relaxed fit - navy, size {n}\",TEE-{n},\
             size: M / colour: navy / fit: relaxed / fabric: organic cotton,19.90,{},published\n",
            n % 9
        ));
        n += 1;
    }
    assert!(file.len() > 3 * 64 * 1024, "{}", file.len());
    let (st, page) = check_file(&app, &store, &cookie, file.as_bytes()).await;
    assert_eq!(st, StatusCode::OK, "{}", &page[..page.len().min(500)]);
    let (st, page) = apply(&app, &store, &cookie, &import_id(&page).unwrap()).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains(&format!("{n} created")), "{page}");
    assert_eq!(catalog::existing_skus(&app.db, &scope).await.unwrap().len(), n);
    // The same text as an ordinary multipart field (no file name) is still refused by the firewall.
    let boundary = "b0undary";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    );
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/products/import")))
        .csrf(&app, &cookie)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
