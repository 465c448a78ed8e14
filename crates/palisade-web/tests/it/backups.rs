//! The merchant's backups page: export, download, restore test, schedule, preview and import.

use palisade_backup::export::Archive;
use palisade_commerce::catalog;
use reqwest::StatusCode;
use secrecy::SecretString;

use crate::support::Csrf as _;
use crate::support::{TestApp, forget_recent_passwords, listing, owner_of};

/// Whether the operator let exports reach private addresses (`--exports-allow-private-s3`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Buckets {
    PublicOnly,
    PrivateAllowed,
}

fn shield_off(buckets: Buckets) -> palisade_web::WebConfig {
    let mut config = palisade_web::WebConfig {
        exports_allow_private_s3: buckets == Buckets::PrivateAllowed,
        ..palisade_web::WebConfig::default()
    };
    config.shield.policy.mode = palisade_shield::Mode::Off;
    config
}

const PASS: &str = "lantern harbour tea 2026";

async fn post(app: &TestApp, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client.post(app.url(path)).csrf(app, cookie).form(form).send().await.unwrap()
}

#[tokio::test]
#[allow(clippy::too_many_lines, reason = "one merchant's export journey, walked step by step from export to import")]
async fn a_merchant_exports_downloads_tests_and_imports_their_store() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (other, _, other_cookie) = owner_of(&app, "bravo").await;
    let product = listing("oolong")
        .title("Oolong")
        .description("Roasted.")
        .sku("OOL")
        .price(1850)
        .stock(5)
        .create(&app, &scope)
        .await;
    let base = format!("/admin/stores/{}/backups", s.id);

    let page = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("No exports yet") && html.contains("To do"), "{html}");

    // Passphrases are checked: too short, or typed differently twice.
    let short = post(&app, &format!("{base}/export"), &cookie, &[("passphrase", "short"), ("repeat", "short")]).await;
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let differ =
        post(&app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", "something else")]).await;
    assert_eq!(differ.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let res = post(&app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", PASS)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let exports = palisade_backup::store_exports::list(&app.db, &scope, 10).await.unwrap();
    assert_eq!(exports.len(), 1);
    let id = exports[0].id.clone();
    assert_eq!(exports[0].outcome, "ok", "{}", exports[0].detail);

    let download =
        app.client.get(app.url(&format!("{base}/{id}/download"))).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.headers()["content-disposition"].to_str().unwrap().contains("alpha-"));
    let bytes = download.bytes().await.unwrap();
    let archive = Archive::open(bytes.as_ref(), SecretString::from(PASS.to_owned())).unwrap();
    assert_eq!(archive.manifest.store_id, s.id.to_string());

    // Another store's owner cannot reach this archive, even knowing its id.
    let foreign = app
        .client
        .get(app.url(&format!("/admin/stores/{}/backups/{id}/download", other.id)))
        .header("cookie", &other_cookie)
        .send()
        .await
        .unwrap();
    assert_ne!(foreign.status(), StatusCode::OK);

    // A wrong passphrase fails the restore test (recorded); the right one passes and meets the control.
    let wrong =
        post(&app, &format!("{base}/{id}/restore-test"), &cookie, &[("passphrase", "not the passphrase")]).await;
    assert_eq!(wrong.status(), StatusCode::SEE_OTHER);
    let ok = post(&app, &format!("{base}/{id}/restore-test"), &cookie, &[("passphrase", PASS)]).await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let runs = palisade_backup::store_exports::list(&app.db, &scope, 10).await.unwrap();
    let outcomes: Vec<(&str, &str)> = runs.iter().map(|r| (r.kind.as_str(), r.outcome.as_str())).collect();
    assert_eq!(outcomes, vec![("restore-test", "ok"), ("restore-test", "failed"), ("export", "ok")]);
    let html = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("every file matched its hash"), "{html}");

    // Schedule: the passphrase is kept sealed, never in clear.
    let res = post(
        &app,
        &format!("{base}/schedule"),
        &cookie,
        &[("schedule", "daily"), ("passphrase", PASS), ("repeat", PASS)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (sealed,): (String,) =
        sqlx::query_as("SELECT passphrase_sealed FROM store_export_settings WHERE store_id = $1")
            .bind(s.id.to_string())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(!sealed.contains(PASS) && !sealed.contains("lantern"));

    // Preview then import: a product renamed after the export comes back.
    sqlx::query("UPDATE products SET title = 'Renamed' WHERE id = $1")
        .bind(product.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();
    let preview = post(&app, &format!("{base}/{id}/preview"), &cookie, &[("passphrase", PASS)]).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let html = preview.text().await.unwrap();
    assert!(html.contains("<strong>1</strong> change"), "{html}");
    assert_eq!(
        catalog::get_product(&app.db, &scope, product.id).await.unwrap().title,
        "Renamed",
        "a preview changes nothing"
    );
    let import = post(&app, &format!("{base}/{id}/import"), &cookie, &[("passphrase", PASS)]).await;
    assert_eq!(import.status(), StatusCode::SEE_OTHER);
    assert_eq!(catalog::get_product(&app.db, &scope, product.id).await.unwrap().title, "Oolong");
}

#[tokio::test]
async fn a_merchant_cannot_point_exports_at_the_platforms_network() {
    // The shield already blocks most of these URLs as SSRF; with it off, the application's own check must hold.
    let app = TestApp::start_with(shield_off(Buckets::PublicOnly), |r, _| r).await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/backups", s.id);
    for url in [
        "s3://b/p?endpoint=http://127.0.0.1:5055&allow_http=true",
        "s3://b/p?endpoint=https://169.254.169.254",
        "s3://b/p?endpoint=https://10.0.0.5:9000",
        "s3://b/p?endpoint=https://localhost:9000",
        "s3://b/p?endpoint=https://[::1]:9000",
        "/var/lib/palisade",
        // Other spellings of loopback and the metadata address, as the HTTP client would read them.
        "s3://b/p?endpoint=https://2130706433",
        "s3://b/p?endpoint=https://127.1",
        "s3://b/p?endpoint=https://0x7f000001",
        "s3://b/p?endpoint=https://[::ffff:127.0.0.1]",
        "s3://b/p?endpoint=https://[::ffff:a9fe:a9fe]",
        "s3://b/p?endpoint=https://[64:ff9b::a9fe:a9fe]",
        "s3://b/p?endpoint=https://[fd00::1]",
        "s3://b/p?endpoint=https://100.64.0.1",
        "s3://b/p?endpoint=https://s3.amazonaws.com&allow_http=1",
        // The region and bucket become part of the host name when no endpoint is given.
        "s3://b/p?region=x@127.0.0.1%23",
        "s3://b/p?region=eu-1.evil.example%2F",
    ] {
        let res =
            post(&app, &format!("{base}/destination"), &cookie, &[("s3_url", url), ("key_id", "k"), ("secret", "s")])
                .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM store_export_settings WHERE s3_url IS NOT NULL")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn exports_are_delivered_to_the_merchants_own_bucket() {
    let Ok(endpoint) = std::env::var("PALISADE_TEST_S3_ENDPOINT") else {
        eprintln!("skipped: set PALISADE_TEST_S3_ENDPOINT to an S3-compatible server (.ci/run starts moto_server)");
        return;
    };
    // The test server is on loopback: private endpoints allowed, and the shield (which blocks loopback URLs in
    // parameters as SSRF) off.
    let app = TestApp::start_with(shield_off(Buckets::PrivateAllowed), |r, _| r).await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let base = format!("/admin/stores/{}/backups", s.id);
    let bucket = format!("merchant-{}", rand::random::<u32>());
    reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    let url = format!("s3://{bucket}/exports?endpoint={endpoint}&allow_http=true");
    let res = post(
        &app,
        &format!("{base}/destination"),
        &cookie,
        &[("s3_url", &url), ("key_id", "merchant-key"), ("secret", "merchant-secret")],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (sealed,): (String,) =
        sqlx::query_as("SELECT s3_credentials_sealed FROM store_export_settings WHERE store_id = $1")
            .bind(s.id.to_string())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(!sealed.contains("merchant-secret"));

    let res = post(&app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", PASS)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let export = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
    assert_eq!(export.outcome, "ok", "{}", export.detail);
    assert!(export.detail.contains(&format!("delivered to s3://{bucket}/exports")), "{}", export.detail);
    let listing = reqwest::get(format!("{endpoint}/{bucket}?list-type=2")).await.unwrap().text().await.unwrap();
    assert!(listing.contains("exports/palisade-alpha-"), "{listing}");
}

/// A multipart body with one file field `archive`.
fn archive_form(file_name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "palisade-test-boundary-7MA4YWxk";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"archive\"; filename=\"{file_name}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

pub(crate) async fn upload(
    app: &TestApp,
    store: &str,
    cookie: &str,
    file_name: &str,
    bytes: &[u8],
) -> reqwest::Response {
    let (content_type, body) = archive_form(file_name, bytes);
    app.client
        .post(app.url(&format!("/admin/stores/{store}/backups/upload")))
        .csrf(app, cookie)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_merchant_uploads_a_kept_archive_and_imports_it_after_the_platform_copy_expired() {
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (other, _, other_cookie) = owner_of(&app, "bravo").await;
    let product = listing("sencha")
        .title("Sencha")
        .description("Steamed.")
        .sku("SEN")
        .price(1200)
        .stock(3)
        .create(&app, &scope)
        .await;
    let base = format!("/admin/stores/{}/backups", s.id);
    assert_eq!(
        post(&app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", PASS)]).await.status(),
        StatusCode::SEE_OTHER
    );
    let export = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
    let kept = app
        .client
        .get(app.url(&format!("{base}/{}/download", export.id)))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // The platform's copy is gone (kept 7 days); the merchant still has the file.
    sqlx::query("DELETE FROM store_exports WHERE id = $1").bind(&export.id).execute(app.db.pool()).await.unwrap();
    sqlx::query("UPDATE products SET title = 'Renamed' WHERE id = $1")
        .bind(product.id.to_string())
        .execute(app.db.pool())
        .await
        .unwrap();

    // Files that are not archives are refused before anything is kept.
    let text = upload(&app, &s.id.to_string(), &cookie, "notes.txt", b"hello, not an archive").await;
    assert_eq!(text.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text.text().await.unwrap().contains("not a Palisade store export"));
    let empty = upload(&app, &s.id.to_string(), &cookie, "empty.palx", b"").await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(palisade_backup::store_exports::list(&app.db, &scope, 10).await.unwrap().is_empty());
    // Staff of another store cannot upload into this one.
    let foreign = upload(&app, &s.id.to_string(), &other_cookie, "alpha.palx", &kept).await;
    assert_ne!(foreign.status(), StatusCode::SEE_OTHER);
    assert!(palisade_backup::store_exports::list(&app.db, &scope, 10).await.unwrap().is_empty());

    let res = upload(&app, &s.id.to_string(), &cookie, "palisade-alpha-20261205.palx", &kept).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let uploads = palisade_backup::store_exports::list(&app.db, &scope, 10).await.unwrap();
    assert_eq!(uploads.len(), 1);
    let up = &uploads[0];
    assert_eq!((up.kind.as_str(), up.outcome.as_str()), ("upload", "ok"));
    assert_eq!(up.size, kept.len() as i64);
    assert!(up.detail.contains("palisade-alpha-20261205.palx"));
    let html = app.client.get(app.url(&base)).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("uploaded archive") && html.contains(&format!("{}/preview", up.id)), "{html}");

    // It is opened, previewed and imported like an export of this store.
    let preview = post(&app, &format!("{base}/{}/preview", up.id), &cookie, &[("passphrase", PASS)]).await;
    assert_eq!(preview.status(), StatusCode::OK);
    assert!(preview.text().await.unwrap().contains("<strong>1</strong> change"));
    let import = post(&app, &format!("{base}/{}/import", up.id), &cookie, &[("passphrase", PASS)]).await;
    assert_eq!(import.status(), StatusCode::SEE_OTHER);
    assert_eq!(catalog::get_product(&app.db, &scope, product.id).await.unwrap().title, "Sencha");

    // The same file uploaded into another store is kept there, but never imported into it.
    let into_other = upload(&app, &other.id.to_string(), &other_cookie, "alpha.palx", &kept).await;
    assert_eq!(into_other.status(), StatusCode::SEE_OTHER);
    let other_scope = palisade_store::StoreScope::system(other.id, "test");
    let other_up = palisade_backup::store_exports::list(&app.db, &other_scope, 1).await.unwrap().remove(0);
    let refused = post(
        &app,
        &format!("/admin/stores/{}/backups/{}/preview", other.id, other_up.id),
        &other_cookie,
        &[("passphrase", PASS)],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().await.unwrap().contains("clone it into a new one"));
}

#[tokio::test]
async fn an_archive_upload_over_its_limit_is_refused_and_other_routes_keep_theirs() {
    let app = TestApp::start().await;
    let (s, _, cookie) = owner_of(&app, "alpha").await;
    let too_big = vec![b'x'; palisade_web::http::layers::ARCHIVE_UPLOAD_LIMIT + 1];
    let res = upload(&app, &s.id.to_string(), &cookie, "big.palx", &too_big).await;
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // An ordinary form route is still held to the default limit.
    let big_form = vec![("passphrase", "x".repeat(palisade_web::WebConfig::default().max_body_bytes + 1))];
    let res = app
        .client
        .post(app.url(&format!("/admin/stores/{}/backups/export", s.id)))
        .csrf(&app, &cookie)
        .form(&big_form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

/// Exporting, downloading, scheduling, choosing a bucket and importing hand over or replace the store's data:
/// each needs a password entered in the last few minutes, and a stale session changes nothing.
#[tokio::test]
async fn backup_actions_need_a_recent_password() {
    let app = TestApp::start_with(shield_off(Buckets::PublicOnly), |r, _| r).await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let export = palisade_backup::store_exports::run_export(
        &app.db,
        &scope,
        &app.objects,
        SecretString::from(PASS.to_owned()),
        palisade_backup::store_exports::Trigger::Manual,
        10,
        None,
    )
    .await
    .unwrap();
    forget_recent_passwords(&app).await;
    let base = format!("/admin/stores/{}/backups", s.id);
    let pass = [("passphrase", PASS), ("repeat", PASS)];
    let attempts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (format!("{base}/export"), pass.to_vec()),
        (format!("{base}/schedule"), vec![("schedule", "daily"), ("passphrase", PASS), ("repeat", PASS)]),
        (format!("{base}/destination"), vec![("s3_url", "s3://mine/x"), ("key_id", "k"), ("secret", "s")]),
        (format!("{base}/{}/import", export.id), vec![("passphrase", PASS)]),
    ];
    for (path, form) in &attempts {
        let res = post(&app, path, &cookie, form).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        assert!(res.headers()["location"].to_str().unwrap().starts_with("/account/reauth"), "{path}");
    }
    let download =
        app.client.get(app.url(&format!("{base}/{}/download", export.id))).header("cookie", &cookie).send().await;
    let download = download.unwrap();
    assert_eq!(download.status(), StatusCode::SEE_OTHER);
    assert!(download.headers()["location"].to_str().unwrap().starts_with("/account/reauth"));
    // Nothing happened: one export (made above), no schedule, no bucket, no import.
    let (exports,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM store_exports WHERE store_id = $1")
        .bind(scope.store_key())
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(exports, 1);
    let settings = palisade_backup::store_exports::settings(&app.db, &scope).await.unwrap();
    assert_eq!(settings.schedule, palisade_backup::store_exports::Schedule::Off);
    let (audit,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE store_id = $1 AND action LIKE 'backup.%'")
            .bind(scope.store_key())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert_eq!(audit, 1, "only the export made above is in the audit log");
}

/// Malicious merchant: an archive of their own store, decrypted with their passphrase, edited to carry another
/// store's product id, re-sealed and uploaded. Preview and import refuse it (422); the other store is untouched.
#[tokio::test]
async fn an_uploaded_archive_cannot_take_another_stores_product() {
    use sha2::Digest;
    let app = TestApp::start().await;
    let (s, scope, cookie) = owner_of(&app, "alpha").await;
    let (_, other_scope, _) = owner_of(&app, "bravo").await;
    let mut ids = Vec::new();
    for (sc, slug) in [(&scope, "mine"), (&other_scope, "theirs")] {
        let p = listing(slug)
            .title(slug)
            .description("x")
            .sku(&slug.to_uppercase())
            .price(100)
            .stock(1)
            .create(&app, sc)
            .await;
        ids.push(p.id);
    }
    let base = format!("/admin/stores/{}/backups", s.id);
    post(&app, &format!("{base}/export"), &cookie, &[("passphrase", PASS), ("repeat", PASS)]).await;
    let export = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
    let bytes = palisade_backup::store_exports::archive_bytes(&app.db, &scope, &app.objects, &export.id).await.unwrap();
    let archive = Archive::open(bytes.as_slice(), SecretString::from(PASS.to_owned())).unwrap();

    // The attacker's edit: their product row now carries bravo's product id.
    let mut files = archive.files.clone();
    let products = String::from_utf8(files["tables/products.jsonl"].clone()).unwrap();
    files.insert(
        "tables/products.jsonl".into(),
        products.replace(&ids[0].to_string(), &ids[1].to_string()).into_bytes(),
    );
    let mut manifest = archive.manifest.clone();
    for f in &mut manifest.files {
        f.bytes = files[&f.path].len() as u64;
        f.sha256 = hex::encode(sha2::Sha256::digest(&files[&f.path]));
    }
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in files
        .iter()
        .map(|(p, d)| (p.clone(), d.clone()))
        .chain([("manifest.json".to_owned(), serde_json::to_vec(&manifest).unwrap())])
    {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, path, data.as_slice()).unwrap();
    }
    let plain = zstd::encode_all(tar.into_inner().unwrap().as_slice(), 3).unwrap();
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(PASS.to_owned()));
    recipient.set_work_factor(10);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut crafted = Vec::new();
    let mut w = encryptor.wrap_output(&mut crafted).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();

    assert_eq!(
        upload(&app, &s.id.to_string(), &cookie, "crafted.palx", &crafted).await.status(),
        StatusCode::SEE_OTHER
    );
    let up = palisade_backup::store_exports::list(&app.db, &scope, 1).await.unwrap().remove(0);
    for action in ["preview", "import"] {
        let res = post(&app, &format!("{base}/{}/{action}", up.id), &cookie, &[("passphrase", PASS)]).await;
        let status = res.status();
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{action}: {body}");
        assert!(body.contains("is not a row of this"), "{action}: {body}");
    }
    let theirs = catalog::get_product(&app.db, &other_scope, ids[1]).await.unwrap();
    assert_eq!(theirs.title, "theirs", "bravo's product is untouched");
    assert!(catalog::get_product(&app.db, &scope, ids[1]).await.is_err(), "and still not alpha's");
}

/// Sends the head of a large upload and only its first 64 KiB; returns the status line if the server answers
/// within five seconds without waiting for the rest (the body is never read), or `None` if it waits for it.
async fn answer_before_body(app: &TestApp, path: &str, cookie: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Above the default limit (so only a route that takes uploads accepts it), within every upload route's own.
    let declared = palisade_web::WebConfig::default().max_body_bytes + 256 * 1024;
    let cookie = crate::support::cookie_with_binding(cookie);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nOrigin: http://{}\r\nCookie: {cookie}\r\nx-csrf-token: {}\r\n\
         Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {declared}\r\n\r\n",
        app.addr,
        app.addr,
        app.csrf(&cookie),
    );
    let mut tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&vec![b'x'; 64 * 1024]).await.unwrap();
    let mut buf = vec![0u8; 512];
    match tokio::time::timeout(std::time::Duration::from_secs(5), tcp.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()),
        _ => None,
    }
}

/// The upload routes accept bodies of tens of MiB: one that is not a member's — signed out, or a member of
/// another store — is answered from its headers, before its body is read (the firewall would buffer it first).
#[tokio::test]
async fn an_upload_that_is_not_a_members_is_answered_before_its_body_is_read() {
    let app = TestApp::start().await;
    let (s, scope, _) = owner_of(&app, "alpha").await;
    let (_, _, other_cookie) = owner_of(&app, "bravo").await;
    // A member of the store without the archive upload's permission (customer data).
    let clerk = {
        use crate::support::{grant_exactly, login, staff};
        let a = staff("clerk@alpha.example")
            .named("Clerk")
            .member_of(&app, &scope, palisade_store::tenancy::Role::Staff)
            .await;
        grant_exactly(&app, &scope, a.id, &["orders"]).await;
        login(&app, "clerk@alpha.example").await
    };
    let store = s.id.to_string();
    let product = uuid::Uuid::now_v7();
    for path in [
        format!("/admin/stores/{store}/backups/upload"),
        format!("/admin/stores/{store}/products/import"),
        format!("/admin/stores/{store}/products/{product}/images"),
        format!("/admin/stores/{store}/verification/documents"),
    ] {
        let anonymous = answer_before_body(&app, &path, "").await;
        assert!(anonymous.as_deref().is_some_and(|l| !l.contains(" 200 ")), "{path}, signed out: {anonymous:?}");
        let foreign = answer_before_body(&app, &path, &other_cookie).await;
        assert!(foreign.as_deref().is_some_and(|l| l.contains(" 404 ")), "{path}, another store's owner: {foreign:?}");
        // The clerk's role may hold the products permission; it never holds customer data (the archives) nor
        // payouts (verification documents).
        if path.ends_with("/backups/upload") || path.ends_with("/verification/documents") {
            let unentitled = answer_before_body(&app, &path, &clerk).await;
            assert!(unentitled.as_deref().is_some_and(|l| l.contains(" 403 ")), "{path}, a clerk: {unentitled:?}");
        }
    }
}
