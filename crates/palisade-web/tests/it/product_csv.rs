//! Issue #18 item 13 over HTTP: the merchant's products list (thumbnails, search by title or SKU, status and
//! stock filters) and the CSV export (one row per variant, formula cells defused, products permission only).

use palisade_commerce::catalog::{self, ProductStatus};
use palisade_store::tenancy::Role;
use reqwest::StatusCode;

use crate::support::{TestApp, listing, owner_of, staff, store_token_from_page};

/// A page and its status; the page with `/` unescaped (the templates escape it in values as `&#x2f;`).
async fn get_page(app: &TestApp, path: &str, cookie: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).header("cookie", cookie).send().await.unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

/// A 2×2 PNG.
fn png() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, 2, 2);
        enc.set_color(png::ColorType::Rgb);
        let mut w = enc.write_header().unwrap();
        w.write_image_data(&[200u8; 12]).unwrap();
    }
    out
}

/// The export's rows after the header, parsed back with the `csv` crate.
fn rows(body: &str) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["title", "sku", "option", "price", "stock", "status"]);
    r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect()
}

#[tokio::test]
async fn the_export_has_one_row_per_variant_of_this_store_only_with_formulas_defused() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, other, _) = owner_of(&app, "bravo").await;
    listing("mug").title("Teal mug").sku("MUG-1").price(1250).stock(7).create(&app, &scope).await;
    listing("evil").title("=HYPERLINK(\"http://x.example\")").sku("EV-1").price(5).stock(0).create(&app, &scope).await;
    listing("theirs").title("Bravo secret").sku("BR-1").create(&app, &other).await;

    let res = app.client.get(app.url(&format!("/admin/stores/{}/products.csv", s.id))).header("cookie", &cookie);
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let h = res.headers();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/csv"));
    assert!(h["content-disposition"].to_str().unwrap().starts_with("attachment; filename="));
    assert_eq!(h["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    assert!(!body.contains("Bravo secret") && !body.contains("BR-1"), "{body}");
    let mut got = rows(&body);
    got.sort();
    assert_eq!(
        got,
        vec![
            vec!["'=HYPERLINK(\"http://x.example\")", "EV-1", "", "0.05", "0", "published"],
            vec!["Teal mug", "MUG-1", "", "12.50", "7", "published"],
        ]
    );
}

#[tokio::test]
async fn staff_without_the_products_permission_cannot_export() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    listing("mug").create(&app, &scope).await;
    // Staff members always hold "products" (their role's default), so the narrow actor is a store token given
    // only "theme".
    let token = store_token_from_page(&app, s.id, &cookie, "name=Theme&permission=theme&expires_days=30").await;
    let csv = app.url(&format!("/admin/stores/{}/products.csv", s.id));
    let res = app.client.get(&csv).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let body = res.text().await.unwrap();
    assert!(!body.contains("mug-1"), "{body}");
    // The list itself stays readable, without the export link.
    let res = app.client.get(app.url(&format!("/admin/stores/{}/products", s.id))).bearer_auth(&token);
    let res = res.send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(!page.contains("products.csv"), "{page}");
    // A staff member of the store (products by default) may export; another store's owner may not.
    let (_, clerk_cookie) = staff("clerk@alpha.example").signed_in_member(&app, &scope, Role::Staff).await;
    let (st, _) = get_page(&app, &format!("/admin/stores/{}/products.csv", s.id), &clerk_cookie).await;
    assert_eq!(st, StatusCode::OK);
    let (_, _, bravo_cookie) = owner_of(&app, "bravo").await;
    let (st, body) = get_page(&app, &format!("/admin/stores/{}/products.csv", s.id), &bravo_cookie).await;
    assert!(st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND, "{st}");
    assert!(!body.contains("mug-1"), "{body}");
}

#[tokio::test]
async fn the_list_searches_titles_and_skus_literally_and_filters_by_status_and_stock() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, other, _) = owner_of(&app, "bravo").await;
    listing("mug").title("Teal mug").sku("MUG-1").stock(50).create(&app, &scope).await;
    listing("cup").title("100% cotton cup").sku("CUP_9").stock(3).create(&app, &scope).await;
    let draft = listing("jar").title("Glass jar").sku("JAR-1").stock(0).create(&app, &scope).await;
    catalog::set_status(&app.db, &scope, draft.id, ProductStatus::Draft).await.unwrap();
    listing("bmug").title("Bravo mug").sku("MUG-9").create(&app, &other).await;
    let list = format!("/admin/stores/{}/products", s.id);
    let titles = |page: &str| {
        ["Teal mug", "100% cotton cup", "Glass jar", "Bravo mug"]
            .into_iter()
            .filter(|t| page.contains(&format!(">{t}</a>")))
            .collect::<Vec<_>>()
    };

    let (st, page) = get_page(&app, &format!("{list}?q=mug"), &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(titles(&page), ["Teal mug"], "title search stays in this store");
    let (_, page) = get_page(&app, &format!("{list}?q=jar-1"), &cookie).await;
    assert_eq!(titles(&page), ["Glass jar"], "SKU search, any case");
    // LIKE wildcards are literal: `%` matches only a real percent sign, `_` only an underscore.
    let (_, page) = get_page(&app, &format!("{list}?q=%25"), &cookie).await;
    assert_eq!(titles(&page), ["100% cotton cup"]);
    let (_, page) = get_page(&app, &format!("{list}?q=p_9"), &cookie).await;
    assert_eq!(titles(&page), ["100% cotton cup"]);
    let (_, page) = get_page(&app, &format!("{list}?q=_"), &cookie).await;
    assert_eq!(titles(&page), ["100% cotton cup"]);

    let (_, page) = get_page(&app, &format!("{list}?status=draft"), &cookie).await;
    assert_eq!(titles(&page), ["Glass jar"]);
    let (_, page) = get_page(&app, &format!("{list}?status=published&stock=low"), &cookie).await;
    assert_eq!(titles(&page), ["100% cotton cup"]);
    let (_, page) = get_page(&app, &format!("{list}?stock=sold_out"), &cookie).await;
    assert_eq!(titles(&page), ["Glass jar"]);
    let (_, page) = get_page(&app, &format!("{list}?stock=in_stock"), &cookie).await;
    assert_eq!(titles(&page), ["Teal mug", "100% cotton cup"]);
    assert!(page.contains("selected>in stock</option>") && page.contains(">Clear</a>"), "{page}");
    let (_, page) = get_page(&app, &format!("{list}?q=nothing-like-this"), &cookie).await;
    assert!(page.contains("No product matches"), "{page}");

    // A filter value that is not one of the choices is a clear 4xx, not a silent "everything".
    let (st, _) = get_page(&app, &format!("{list}?stock=plenty"), &cookie).await;
    assert!(st.is_client_error(), "{st}");
    let (st, _) = get_page(&app, &format!("{list}?status=deleted"), &cookie).await;
    assert!(st.is_client_error(), "{st}");
}

#[tokio::test]
async fn the_list_shows_the_first_image_as_a_thumbnail_and_escapes_what_it_echoes() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let p = listing("lamp").title("Desk <b>lamp</b>").create(&app, &scope).await;
    let img = palisade_commerce::images::add(&app.db, &app.objects, &scope, p.id, png().into(), "lamp").await.unwrap();
    listing("bare").title("No picture").create(&app, &scope).await;
    let list = format!("/admin/stores/{}/products", s.id);
    let (_, page) = get_page(&app, &list, &cookie).await;
    let src = format!("/media/{}/{}", s.id, img.id);
    assert!(page.contains(&format!("src=\"{src}\" alt=\"Desk &lt;b&gt;lamp&lt;/b&gt;\"")), "{page}");
    assert!(!page.contains("<b>lamp</b>"), "{page}");
    assert_eq!(page.matches("<img class=\"thumb\"").count(), 1, "{page}");
    // The thumbnail's address serves the image (a published product's: to anyone).
    assert_eq!(app.get(&src).await.status(), StatusCode::OK);
    // Markup typed into the search box comes back as text in the box.
    let (st, page) = get_page(&app, &format!("{list}?q=%22%3E%3Ci%3Ebold"), &cookie).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!page.contains("\"><i>bold") && page.contains("&quot;&gt;&lt;i&gt;bold"), "{page}");
    // A script in the address is refused before the page (the firewall's XSS rule), never echoed.
    let (st, page) = get_page(&app, &format!("{list}?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"), &cookie).await;
    assert!(st == StatusCode::FORBIDDEN || st == StatusCode::OK, "{st}");
    assert!(!page.contains("<script>alert(1)"), "{page}");
}
