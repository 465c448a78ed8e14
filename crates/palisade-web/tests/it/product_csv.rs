//! Issue #18 item 13 over HTTP: the merchant's products list (thumbnails, search by title or SKU, status and
//! stock filters) and the CSV export (one row per variant, formula cells defused, products permission only).

use palisade_commerce::catalog::{self, ProductStatus};
use palisade_store::tenancy::Role;
use reqwest::StatusCode;

use crate::support::{Csrf, TestApp, listing, owner_of, staff, store_token_from_page};

#[path = "product_import.rs"]
mod product_import;

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

/// A multipart body with one file field `file`, sent as a browser sends a CSV: `text/csv` with a file name
/// (`application/octet-stream` when it is not UTF-8). The firewall treats a part with a file name as a file, so a
/// CSV up to the import's 2 MiB limit reaches the route.
fn csv_form(bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "palisade-test-boundary-csv9QxZ";
    let part_type = if std::str::from_utf8(bytes).is_ok() { "text/csv" } else { "application/octet-stream" };
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"products.csv\"\r\n\
         Content-Type: {part_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Uploads `bytes` to the import check of `store` as the session `cookie`: the status and the page (`/`
/// unescaped).
async fn check_file(app: &TestApp, store: &str, cookie: &str, bytes: &[u8]) -> (StatusCode, String) {
    let (content_type, body) = csv_form(bytes);
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{store}/products/import")))
        .csrf(app, cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap().replace("&#x2f;", "/"))
}

#[tokio::test]
async fn the_import_check_lists_creates_updates_and_every_refused_row_and_writes_nothing() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, other, _) = owner_of(&app, "bravo").await;
    listing("mug").title("Teal mug").sku("MUG-1").price(1250).stock(7).create(&app, &scope).await;
    listing("theirs").title("Bravo lamp").sku("BR-1").price(900).stock(4).create(&app, &other).await;
    let file = "title,sku,option,price,stock,status\n\
                Teal mug,MUG-1,,13.00,9,published\n\
                Bravo lamp,BR-1,,1.00,1,draft\n\
                <i>Mug</i>,NEW-1,,2.50,1,draft\n\
                Bad price,BP-1,,12.345,1,draft\n\
                Negative,NG-1,,1.00,-3,draft\n\
                ,NT-1,,1.00,1,draft\n\
                Odd status,OS-1,,1.00,1,deleted\n\
                Again,NEW-1,,1.00,1,draft\n";
    let (st, page) = check_file(&app, &s.id.to_string(), &cookie, file.as_bytes()).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("3 rows ready") && page.contains("5 rows with problems"), "{page}");
    for (row, reason) in [
        (5, "the price `12.345` is not an amount in SGD"),
        (6, "the stock must not be negative"),
        (7, "the title is missing"),
        (8, "the status `deleted` is not one of draft, published, archived"),
        (9, "SKU `NEW-1` is already on row 4 of this file"),
    ] {
        assert!(page.contains(&format!("<tr><td>{row}</td><td>{reason}")), "row {row}: {page}");
    }
    // This store's SKU updates; another store's SKU is never matched (a new product of this store).
    assert!(page.contains(">update</span></td>\n<td>Teal mug</td>"), "{page}");
    assert!(page.contains(">create</span></td>\n<td>Bravo lamp</td>"), "{page}");
    // Markup in a title is shown as text (a <script> upload is refused by the firewall before it gets here).
    assert!(!page.contains("<i>Mug</i>") && page.contains("&lt;i&gt;Mug&lt;/i&gt;"), "{page}");
    // Checking writes nothing, in either store.
    let mine = catalog::search_products(&app.db, &scope, &catalog::ProductQuery::default(), 100, 0).await.unwrap();
    assert_eq!((mine.len(), mine[0].variants[0].stock, mine[0].variants[0].price.minor), (1, 7, 1250));
    let theirs = catalog::search_products(&app.db, &other, &catalog::ProductQuery::default(), 100, 0).await.unwrap();
    assert_eq!((theirs[0].variants[0].stock, theirs[0].variants[0].price.minor), (4, 900));
}

#[tokio::test]
async fn the_import_check_refuses_files_it_cannot_read_with_a_clear_status() {
    // Each file goes to a fresh server: the firewall may remember a client that sent an odd upload.
    async fn check(bytes: &[u8]) -> (StatusCode, String) {
        let app = TestApp::start().await;
        let (s, _, cookie) = owner_of(&app, "alpha").await;
        check_file(&app, &s.id.to_string(), &cookie, bytes).await
    }
    // Larger than 2 MiB.
    let mut big = b"title,sku,price,stock\n".to_vec();
    big.resize(2 * 1024 * 1024 + 10, b'a');
    let (st, _) = check(&big).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    // 5,001 rows.
    let mut many = String::from("title,sku,price,stock\n");
    for i in 0..5_001 {
        many.push_str(&format!("Item,S-{i},1.00,1\n"));
    }
    let (st, page) = check(many.as_bytes()).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("more than 5,000 product rows"), "{page}");
    // 5,000 rows are fine.
    let exactly: String = many.lines().take(5_001).map(|l| format!("{l}\n")).collect();
    let (st, page) = check(exactly.as_bytes()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("5000 rows ready"), "{}", &page[..page.len().min(2000)]);
    // Not UTF-8 (Latin-1 "é").
    let (st, page) = check(b"title,sku,price,stock\nCaf\xe9,C-1,1.00,1\n").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains("not UTF-8"), "{page}");
    // Not a products CSV at all (a PNG's first bytes; no header naming the columns).
    let (st, page) = check(&png()).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    // Malformed quotes: the row is refused with its number, not half-read into a product.
    let (st, page) = check(b"title,sku,price,stock\nOk,OK-1,1.00,1\n\"Mug,MUG-1,1.00,3\n").await;
    assert_eq!(st, StatusCode::OK, "{page}");
    assert!(page.contains("1 row ready") && page.contains("<tr><td>3</td>"), "{page}");
    // An over-long cell.
    let long = format!("title,sku,price,stock\n{},L-1,1.00,1\n", "x".repeat(1_001));
    let (st, page) = check(long.as_bytes()).await;
    assert_eq!(st, StatusCode::OK);
    assert!(page.contains("a cell is longer than 1000 characters"), "{page}");
}

#[tokio::test]
async fn the_import_check_needs_the_products_permission_and_this_store() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let token = store_token_from_page(&app, s.id, &cookie, "name=Theme&permission=theme&expires_days=30").await;
    let (content_type, body) = csv_form(b"title,sku,price,stock\nMug,M-1,1.00,1\n");
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/products/import", s.id)))
        .bearer_auth(&token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, _, bravo_cookie) = owner_of(&app, "bravo").await;
    let (st, page) =
        check_file(&app, &s.id.to_string(), &bravo_cookie, b"title,sku,price,stock\nMug,M-1,1.00,1\n").await;
    assert!(st == StatusCode::FORBIDDEN || st == StatusCode::NOT_FOUND, "{st}");
    assert!(!page.contains("rows ready"), "{page}");
}
