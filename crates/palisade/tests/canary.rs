//! The sensitive-data canary. A real `palisade serve` process (SQLite, or PostgreSQL when
//! `PALISADE_TEST_DATABASE_URL` is set) goes through a whole journey with marker values: a buyer registers and
//! turns on two-step verification, a guest pays with a known card (declined first, then approved), an app orders
//! through the JSON API with the card, an attack carries the card into the firewall, the merchant signs in and
//! test-runs firewall rules, the merchant exports the store and the operator takes a platform backup. Then the
//! whole database, the logs, the object store, the decrypted export and the restored backup are searched for the
//! card numbers, the CVC, the passwords and the TOTP secret: none may be found anywhere.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palisade_core::money::{Currency, Money};
use palisade_core::text::{Email, Slug};
use palisade_store::scope::StaffScope;
use palisade_store::testing::TestDb;
use palisade_store::{Backend, tenancy};
use serde_json::{Value, json};

const CARD: &str = "5555555555554444";
const CARD_GROUPED: &str = "5555 5555 5555 4444";
const DECLINED: &str = "4000000000000002";
const CVC: &str = "917";
const BUYER_PW: &str = "kestrel violet lantern 71";
const OWNER_PW: &str = "granite heron meadow 38";
const EXPORT_PW: &str = "copper willow drift 52";

fn palisade(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.current_dir(cwd).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("PALISADE_LOG_FORMAT", "json").env("PALISADE_LOG", "debug,hyper=info,h2=info,rustls=info");
    cmd
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_ready(base: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = base.trim_start_matches("http://").to_owned();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            use std::io::{Read, Write};
            let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut buf = String::new();
            let _ = s.read_to_string(&mut buf);
            if buf.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server did not become ready");
}

/// The `name=value` of a Set-Cookie for `name`.
fn cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The store "canary", its owner (password from the CLI, as an operator would set it) and one product.
async fn shop(t: &TestDb, cwd: &Path, url: &str) -> (StaffScope, String) {
    let owner = tenancy::create_account(
        t,
        tenancy::NewAccount {
            email: Email::parse("owner@canary.example").unwrap(),
            display_name: "Owner".into(),
            kind: tenancy::AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    let (store, _) = tenancy::create_store(
        t,
        &palisade_store::scope::PlatformScope::system("test"),
        tenancy::NewStore {
            slug: Slug::parse("canary").unwrap(),
            name: "Canary Tea".into(),
            currency: Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    let scope = palisade_store::scope::StaffScope::system(store.id, "test");
    let product = palisade_commerce::catalog::create_product(
        t,
        &scope,
        palisade_commerce::catalog::NewProduct {
            slug: Slug::parse("oolong").unwrap(),
            title: "Oolong".into(),
            description: "Roasted.".into(),
            status: palisade_commerce::catalog::ProductStatus::Published,
            category: None,
            variants: vec![palisade_commerce::catalog::NewVariant {
                sku: "oolong-1".into(),
                options: json!({}),
                price: Money::new(1200, Currency::SGD),
                stock: 50,
            }],
        },
    )
    .await
    .unwrap();
    let mut set = palisade(cwd)
        .args(["admin", "set-password", "--email", "owner@canary.example", "--database-url", url])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        set.stdin.take().unwrap().write_all(format!("{OWNER_PW}\n").as_bytes()).unwrap();
    }
    let out = set.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (scope, product.variants[0].id.to_string())
}

/// A browser, as far as the journey needs one: a cookie jar, and forms posted with the synchronizer token of the
/// page they were on.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

impl Browser {
    fn new(base: &str) -> Browser {
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, base: base.to_owned(), cookies: std::collections::BTreeMap::new() }
    }

    fn jar(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for c in res.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
    }

    async fn get(&mut self, path: &str) -> (reqwest::StatusCode, String) {
        let res = self.http.get(format!("{}{path}", self.base)).header("cookie", self.jar()).send().await.unwrap();
        self.keep(&res);
        (res.status(), res.text().await.unwrap())
    }

    /// Loads `page`, then posts `fields` and its form token to `action`.
    async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let (status, html) = self.get(page).await;
        assert_eq!(status, 200, "{page}");
        let token = html
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_else(|| panic!("{page} has a form token"))
            .to_owned();
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        form.push(("csrf", &token));
        let res = self
            .http
            .post(format!("{}{action}", self.base))
            .header("cookie", self.jar())
            .form(&form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }
}

/// Everything a person does in the journey, over HTTP against the running node.
#[allow(clippy::too_many_lines, reason = "one canary journey, walked step by step in the order a person takes it")]
async fn journey(base: &str, store_id: &str, variant: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let url = |p: &str| format!("{base}{p}");

    // A buyer registers, signs in and turns two-step verification on.
    let mut buyer = Browser::new(base);
    let reg = buyer
        .submit(
            "/register",
            "/register",
            &[("name", "Canary Buyer"), ("email", "buyer@canary.example"), ("password", BUYER_PW)],
        )
        .await;
    assert!(reg.status().is_redirection() || reg.status().is_success(), "register: {}", reg.status());
    let login = http
        .post(url("/api/v1/auth/login"))
        .json(&json!({"email": "buyer@canary.example", "password": BUYER_PW}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "buyer signs in");
    let session = cookie(&login, "palisade_session").expect("a session");
    let start: Value = http
        .post(url("/api/v1/auth/totp/start"))
        .header("cookie", &session)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp_secret = start["secret"].as_str().expect("a TOTP secret").to_owned();
    let bytes = totp_rs::Secret::Encoded(totp_secret.clone()).to_bytes().unwrap();
    let now = palisade_core::Timestamp(
        i64::try_from(std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().as_millis()).unwrap(),
    );
    let code = palisade_identity::totp::code_at(&bytes, now).unwrap();
    let done = http
        .post(url("/api/v1/auth/totp/confirm"))
        .header("cookie", &session)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200, "TOTP confirmed");

    // A guest pays on the HTML checkout: declined first, then approved.
    let mut guest = Browser::new(base);
    let add = guest.submit("/s/canary/p/oolong", "/cart/add", &[("variant_id", variant), ("quantity", "1")]).await;
    assert!(add.status().is_redirection(), "added to the cart: {}", add.status());
    for (key, card) in [("canary-declined", DECLINED), ("canary-paid", CARD_GROUPED)] {
        let paid = guest
            .submit(
                "/checkout/canary",
                "/checkout/canary",
                &[
                    ("idempotency_key", key),
                    ("email", "guest@canary.example"),
                    ("name", "Guest"),
                    ("line1", "1 Harbour Road"),
                    ("city", "Singapore"),
                    ("postcode", "018956"),
                    ("country", "Singapore"),
                    ("card_number", card),
                    ("expiry", "11/33"),
                    ("cvc", CVC),
                ],
            )
            .await;
        assert!(paid.status().is_redirection() || paid.status() == 402, "{key}: {}", paid.status());
    }

    // An app orders through the JSON API with the card.
    let order = http
        .post(url("/api/v1/stores/canary/orders"))
        .header("idempotency-key", "canary-api")
        .json(&json!({"email": "app@canary.example",
            "address": {"name": "A", "line1": "1 Road", "city": "SG", "postcode": "1", "country": "SG"},
            "lines": [{"variant_id": variant, "quantity": 1}],
            "card": {"number": CARD, "expiry": "11/33", "cvc": CVC}}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201, "the API order is paid");

    // Attacks carry the card into the firewall (blocked, recorded as events).
    let attack = format!("/s/canary?q=%3Cscript%3Ealert(1)%3C/script%3E+{CARD}");
    assert_eq!(guest.get(&attack).await.0, 403);
    let add = guest.submit("/s/canary/p/oolong", "/cart/add", &[("variant_id", variant), ("quantity", "1")]).await;
    assert!(add.status().is_redirection());
    let sqli = format!("{CARD}' OR 1=1--");
    let blocked =
        guest.submit("/checkout/canary", "/checkout/canary", &[("card_number", sqli.as_str()), ("cvc", CVC)]).await;
    assert_eq!(blocked.status(), 403);

    // The merchant signs in and test-runs firewall rules over the store's recent requests.
    let mut owner = Browser::new(base);
    let signed_in =
        owner.submit("/login", "/login", &[("email", "owner@canary.example"), ("password", OWNER_PW)]).await;
    assert_eq!(signed_in.status(), 303, "the owner signs in");
    let security = format!("/admin/stores/{store_id}/security");
    for source in
        [format!("log if arg \"card_number\" contains \"{}\"", &CARD[..4]), "log if arg \"cvc\" = \"917\"".into()]
    {
        let action = format!("/admin/stores/{store_id}/security/rules/test");
        let run = owner.submit(&security, &action, &[("source", source.as_str())]).await;
        assert_eq!(run.status(), 200, "test-run of {source}");
    }
    totp_secret
}

/// Every place a secret could have been kept, as text.
async fn everything_kept(t: &TestDb, data: &Path, logs: &str, export: &[u8], restored: &Path) -> Vec<(String, String)> {
    let mut places = vec![("logs".to_owned(), logs.to_owned())];
    match t.backend() {
        Backend::Sqlite => {}
        Backend::Postgres => {
            let schema = t.pg_schema.clone().unwrap();
            let tables: Vec<(String,)> =
                sqlx::query_as("SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1")
                    .bind(&schema)
                    .fetch_all(t.pool())
                    .await
                    .unwrap();
            for (table,) in tables {
                let sql = format!("SELECT COALESCE(string_agg(t::text, E'\\n'), '') FROM \"{schema}\".\"{table}\" t");
                let (rows,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_one(t.pool()).await.unwrap();
                places.push((format!("postgres table {table}"), rows));
            }
        }
    }
    let mut files = Vec::new();
    walk(data, &mut files);
    walk(restored, &mut files);
    if let Some(sqlite) = t.url.strip_prefix("sqlite://") {
        let path = PathBuf::from(sqlite.split('?').next().unwrap());
        for suffix in ["", "-wal", "-shm"] {
            files.push(PathBuf::from(format!("{}{suffix}", path.display())));
        }
    }
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            places.push((f.display().to_string(), String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    let archive =
        palisade_backup::export::Archive::open(export, secrecy::SecretString::from(EXPORT_PW.to_owned())).unwrap();
    for (path, bytes) in &archive.files {
        places.push((format!("export {path}"), String::from_utf8_lossy(bytes).into_owned()));
    }
    places
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() { walk(&p, out) } else { out.push(p) }
    }
}

#[tokio::test]
async fn a_whole_journey_leaves_no_card_cvc_password_or_totp_secret_anywhere() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let migrate = palisade(dir.path()).args(["migrate", "--database-url", &url]).output().unwrap();
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    let (scope, variant) = shop(&t, dir.path(), &url).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let mut node = palisade(dir.path())
        .args(["serve", "--database-url", &url, "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    wait_ready(&base, &mut node);
    let totp_secret = journey(&base, &scope.store_id().to_string(), &variant).await;
    // Let the firewall's event writer and the job runner catch up, then stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = Command::new("kill").arg("-TERM").arg(node.id().to_string()).status();
    assert!(node.wait().unwrap().success());

    // The merchant's export and the operator's backup, restored.
    let objects = palisade_store::Objects::local(&dir.path().join("palisade-data/objects")).unwrap();
    let mut export = Vec::new();
    let passphrase = secrecy::SecretString::from(EXPORT_PW.to_owned());
    palisade_backup::export::export(&t, &scope, &objects, passphrase, 10, &mut export).await.unwrap();
    let db = ["--database-url", url.as_str()];
    let backup = palisade(dir.path()).args(["backup", "create"]).args(db).output().unwrap();
    assert!(backup.status.success(), "{}", String::from_utf8_lossy(&backup.stderr));
    let restore = palisade(dir.path()).args(["backup", "restore", "latest", "--to", "restored"]).output().unwrap();
    assert!(restore.status.success(), "{}", String::from_utf8_lossy(&restore.stderr));

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("palisade is serving") && logs.lines().count() > 20, "the logs were captured");
    let places =
        everything_kept(&t, &dir.path().join("palisade-data"), &logs, &export, &dir.path().join("restored")).await;
    // The search reads real data: the database (as stored), the restored copy and the export each hold the shop.
    let holds = |prefix: &str, needle: &str| places.iter().any(|(p, text)| p.contains(prefix) && text.contains(needle));
    let database = if t.pg_schema.is_some() { "postgres table" } else { "test.db" };
    assert!(holds(database, "guest@canary.example"), "the database is searched");
    assert!(holds("restored", "guest@canary.example"), "the restored backup is searched");
    assert!(holds("export tables/", "oolong-1"), "the export is searched");
    assert!(holds("logs", "/checkout/canary"), "the logs are searched");
    let needles = [
        CARD.to_owned(),
        CARD_GROUPED.to_owned(),
        CARD_GROUPED.replace(' ', "-"),
        DECLINED.to_owned(),
        format!("cvc={CVC}"),
        format!("\"cvc\":\"{CVC}\""),
        BUYER_PW.to_owned(),
        BUYER_PW.replace(' ', "+"),
        OWNER_PW.to_owned(),
        OWNER_PW.replace(' ', "+"),
        EXPORT_PW.to_owned(),
        totp_secret,
    ];
    for (place, text) in &places {
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "{needle:?} found in {place}");
        }
    }
}
