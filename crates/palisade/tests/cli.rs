//! The binary, run as a person (or an orchestrator) would run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // Test helpers may panic.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use palisade_store::testing::TestDb;
use palisade_store::{Backend, jobs};

fn palisade(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.current_dir(cwd).stdin(Stdio::null()).env("PALISADE_LOG_FORMAT", "json");
    for (k, _) in std::env::vars() {
        if k.starts_with("PALISADE_") && k != "PALISADE_LOG_FORMAT" {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("palisade runs")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits until the server answers `/readyz`, or panics with its stderr.
fn wait_ready(port: u16, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early with {status}");
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
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

/// Starts the server `cmd` describes (`serve` and its flags) with its output discarded, and waits until it
/// answers on `port`.
fn start_quiet(cmd: &mut Command, port: u16) -> Child {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_ready(port, &mut child);
    child
}

/// Brings the database at `url` to the current schema, as an operator would before starting nodes.
fn migrate(dir: &Path, url: &str) {
    assert!(run(palisade(dir).args(["migrate", "--database-url", url])).status.success());
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["demo", "--help"],
        vec!["audit", "verify", "--help"],
        vec!["admin", "create-operator", "--help"],
        vec!["config", "check", "--help"],
        vec!["backup", "create", "--help"],
        vec!["backup", "restore", "--help"],
    ] {
        let out = run(palisade(dir.path()).args(&args));
        assert!(out.status.success(), "{args:?}");
        let (stdout, _) = text(&out);
        assert!(stdout.contains("Usage:"), "{args:?}: {stdout}");
    }
}

/// Usage errors keep clap's whole message (what is wrong, "did you mean", the valid values, the usage line) and
/// clap's exit code 2; nothing is created.
#[test]
fn wrong_flags_get_clap_whole_message_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for (args, expected) in [
        (vec!["serve", "--no-such-flag"], vec!["unexpected argument '--no-such-flag'"]),
        (vec!["serve", "--lisen", "127.0.0.1:9"], vec!["unexpected argument '--lisen'", "'--listen'"]),
        (vec!["frobnicate"], vec!["unrecognized subcommand 'frobnicate'"]),
        (vec!["sevre"], vec!["unrecognized subcommand 'sevre'", "'serve'"]),
        (vec!["admin", "create-operator"], vec!["required arguments were not provided", "--email <EMAIL>"]),
        (
            vec!["admin", "create-operator", "--email", "a@b.co", "--expires-days", "400"],
            vec!["'--expires-days <EXPIRES_DAYS>'", "400 is not in 1..=90"],
        ),
        (vec!["serve", "--shield-mode", "blok"], vec!["'blok'", "[possible values: block, detect, off]", "'block'"]),
        (vec!["serve", "--log-format", "yaml"], vec!["'yaml'", "[possible values: json, text]"]),
        (vec!["serve", "--shield-exception", "POST /s/*/contact message css"], vec!["--shield-exception", "css"]),
        (vec!["serve", "--shield-challenge-from", "5"], vec!["5 is not in 0..=4"]),
    ] {
        let out = run(palisade(dir.path()).args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let (stdout, stderr) = text(&out);
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{args:?}: {part:?} missing from {stderr}");
        }
        if !stderr.contains("invalid value") {
            assert!(stderr.contains("Usage: palisade"), "{args:?}: the usage line is kept: {stderr}");
        }
        assert!(stderr.contains("For more information, try '--help'."), "{args:?}: {stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a usage error creates nothing");
}

/// `serve` takes its port before it creates anything: with the port taken it says so in one line, names the
/// flag that moves it, exits 1, and leaves no data directory, database or token behind.
#[test]
fn serve_on_a_busy_port_says_so_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let data = dir.path().join("data");
    let out = run(palisade(dir.path())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&data));
    assert_eq!(out.status.code(), Some(1));
    let (stdout, stderr) = text(&out);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("error: cannot listen on 127.0.0.1:{port}: ")), "{stderr}");
    assert!(stderr.contains("already in use") && stderr.contains("--listen"), "{stderr}");
    assert!(stdout.is_empty(), "no ready message, no token: {stdout}");
    assert!(!data.exists(), "no data directory is created");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing at all is created");

    // The metrics listener too, and with the data dir given as an existing, empty directory.
    let out = run(palisade(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--metrics-listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path()));
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out).1;
    assert!(stderr.contains("already in use") && stderr.contains("--metrics-listen"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no database, no key: {stderr}");
    drop(taken);
}

/// Flags that parse but cannot work are refused before anything is created, each naming the flag.
#[test]
fn serve_checks_every_flag_before_creating_data() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, expected) in [
        (vec!["--trusted-proxy", "10.0.0.0/33"], "--trusted-proxy 10.0.0.0/33"),
        (vec!["--public-url", "shop.example"], "--public-url"),
        (vec!["--smtp-url", "gopher://mail"], "SMTP URL"),
        (vec!["--mail-from", "not an address"], "sender address"),
        (vec!["--geoip-db", "missing.mmdb"], "--geoip-db"),
        (vec!["--database-url", "mysql://root:hunter2@localhost/x"], "unsupported database URL"),
        (vec!["--listen", "localhost:8080"], "listen address"),
    ] {
        let out = run(palisade(dir.path()).args(["serve", "--demo", "--data-dir", "data"]).args(&flags));
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        let (stdout, stderr) = text(&out);
        assert!(stderr.contains(expected), "{flags:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(stdout.is_empty(), "{flags:?}: {stdout}");
        assert!(!dir.path().join("data").exists(), "{flags:?} created the data directory");
    }
}

/// Starts `serve` with `args`, waits until it answers, stops it, and returns its stdout and stderr.
fn serve_once(mut cmd: Command, port: u16) -> (String, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Drain both pipes while it runs, so a chatty server never blocks on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).unwrap();
        s
    });
    wait_ready(port, &mut child);
    let status = terminate(&mut child);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "{status}: {stderr}");
    (stdout, stderr)
}

/// The first `serve --demo` prints the marketplace, a buyer's and a merchant's sign-in and the console, all on one
/// host name, and an operator token; a restart prints no new token (the first still works) and mints none.
#[tokio::test]
async fn serve_demo_says_where_to_go_and_keeps_its_operator_token() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let start = || {
        let port = free_port();
        let mut cmd = palisade(dir.path());
        cmd.args(["serve", "--demo", "--data-dir", "d", "--database-url", &url])
            .args(["--listen", &format!("127.0.0.1:{port}")]);
        (serve_once(cmd, port).0, port)
    };
    let operator_tokens = || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
             WHERE a.email = 'ops@palisade.example' AND t.revoked_at IS NULL",
        )
        .fetch_one(t.pool())
        .await
        .unwrap();
        n
    };

    let (first, port) = start();
    let base = format!("http://localhost:{port}");
    for line in [
        format!("Marketplace       {base}/"),
        format!("Buyer sign-in     {base}/login  as wei.ling@buyer.example"),
        format!("Merchant sign-in  {base}/login  as meilin@lioncitytea.example"),
        format!("Operator console  {base}/console"),
    ] {
        assert!(first.contains(&line), "{line:?} missing from {first}");
    }
    assert_eq!(first.matches("http://").count(), first.matches(&format!("{base}/")).count(), "one host: {first}");
    assert!(first.contains("harbour lantern 2026"), "{first}");
    let token = first.split_whitespace().find(|w| w.starts_with("pal_op_")).expect("a token on the first start");
    let principal = palisade_store::tokens::authenticate_operator(&t, token, None).await.unwrap().unwrap();
    assert_eq!(principal.email(), "ops@palisade.example");
    assert_eq!(operator_tokens().await, 1);

    let (second, port) = start();
    assert!(!second.contains("pal_op_"), "no new token on a restart: {second}");
    assert!(second.contains("still works"), "{second}");
    assert!(
        second.contains("palisade admin create-operator --email ops@palisade.example --data-dir d --database-url URL"),
        "says how to get a new one: {second}"
    );
    assert!(second.contains(&format!("Operator console  http://localhost:{port}/console")), "{second}");
    assert_eq!(operator_tokens().await, 1, "the restart minted nothing");
    assert!(palisade_store::tokens::authenticate_operator(&t, token, None).await.unwrap().is_ok(), "still valid");
}

/// Logs are JSON lines when stderr is not a terminal (unless asked otherwise), text when asked, by flag or
/// by `PALISADE_LOG_FORMAT` (`pretty` is still understood).
#[test]
fn log_format_follows_the_flag_or_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |flags: &[&str], env: Option<&str>| {
        let port = free_port();
        let mut cmd = palisade(dir.path());
        cmd.env_remove("PALISADE_LOG_FORMAT");
        if let Some(format) = env {
            cmd.env("PALISADE_LOG_FORMAT", format);
        }
        cmd.args(["serve", "--no-jobs", "--listen", &format!("127.0.0.1:{port}")]).args(flags);
        serve_once(cmd, port).1
    };
    let is_json = |stderr: &str| {
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty() && !l.starts_with("***")).collect();
        assert!(lines.iter().any(|l| l.contains("palisade is serving")), "{stderr}");
        lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    };
    let is_text = |stderr: &str| {
        let serving = stderr.lines().find(|l| l.contains("palisade is serving")).unwrap_or_else(|| panic!("{stderr}"));
        serde_json::from_str::<serde_json::Value>(serving).is_err()
            && serving.contains("INFO")
            && !stderr.contains('\u{1b}')
    };
    let piped = serve(&[], None);
    assert!(is_json(&piped), "JSON when stderr is a pipe: {piped}");
    let asked = serve(&["--log-format", "json"], None);
    assert!(is_json(&asked), "{asked}");
    let text = serve(&["--log-format", "text"], None);
    assert!(is_text(&text), "text when asked, without colour codes in a pipe: {text}");
    let env = serve(&[], Some("pretty"));
    assert!(is_text(&env), "{env}");
    let flag_wins = serve(&["--log-format", "json"], Some("text"));
    assert!(is_json(&flag_wins), "{flag_wins}");
}

#[test]
fn zero_config_serve_creates_the_data_dir_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let mut child = palisade(dir.path())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--metrics-listen", &format!("127.0.0.1:{metrics_port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(port, &mut child);
    // Metrics: for operators on the public listener, open on their own one (for Prometheus).
    let get = |port: u16, path: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf
    };
    assert!(get(port, "/metrics").starts_with("HTTP/1.1 401"));
    let scraped = get(metrics_port, "/metrics");
    assert!(scraped.starts_with("HTTP/1.1 200") && scraped.contains("# TYPE"), "{scraped}");
    assert!(get(metrics_port, "/healthz").starts_with("HTTP/1.1 404"), "nothing else is served there");
    let data = dir.path().join("palisade-data");
    assert!(data.join("palisade.db").is_file());
    assert!(data.join("objects").is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let status = terminate(&mut child);
    assert!(status.success(), "graceful exit on SIGTERM, got {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(first).is_ok(), "logs are JSON lines: {first}");
    assert!(stderr.contains("palisade stopped"));
}

#[test]
fn a_toml_file_configures_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("palisade.toml");
    std::fs::write(&file, "data_dir = \"from-file\"\nlisten = \"127.0.0.1:9999\"\nbehind_tls = true\n").unwrap();
    let out = run(palisade(dir.path()).args(["config", "check", "--config"]).arg(&file));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("from-file"), "{stdout}");
    assert!(stdout.contains("127.0.0.1:9999"));
    assert!(!out.status.success(), "nothing created yet, so the check fails");
    let out = run(palisade(dir.path()).args(["config", "check", "--data-dir", "from-flag", "--config"]).arg(&file));
    assert!(text(&out).0.contains("from-flag"));
    std::fs::write(&file, "data_dir = 3\n").unwrap();
    let out = run(palisade(dir.path()).args(["config", "check", "--config"]).arg(&file));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("is not valid"));
    // The commerce policy comes from the file, validated.
    std::fs::write(&file, "platform_fee_bps = 250\nbuyer_protection_days = 14\n").unwrap();
    let out = run(palisade(dir.path()).args(["config", "check", "--config"]).arg(&file));
    assert!(text(&out).0.contains("platform fee 2.5%, buyer protection 14 days"), "{}", text(&out).0);
    std::fs::write(&file, "").unwrap();
    let out = run(palisade(dir.path()).args(["config", "check", "--config"]).arg(&file));
    assert!(text(&out).0.contains("platform fee 0%, buyer protection 7 days"), "defaults");
    for bad in ["platform_fee_bps = 5000\n", "buyer_protection_days = 0\n", "buyer_protection_days = 365\n"] {
        std::fs::write(&file, bad).unwrap();
        let out = run(palisade(dir.path()).args(["config", "check", "--config"]).arg(&file));
        assert_eq!(out.status.code(), Some(1), "{bad}");
        let stderr = text(&out).1;
        assert!(stderr.contains("platform_fee_bps, buyer_protection_days"), "{bad}: {stderr}");
    }
}

#[test]
fn bad_database_settings_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(palisade(dir.path()).args(["migrate", "--database-url", "mysql://root:hunter2@localhost/x"]));
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("unsupported database URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "passwords are never printed");

    let out = run(palisade(dir.path()).args(["migrate", "--database-url", "postgres://postgres@127.0.0.1:1/none"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("cannot reach the database"), "{}", text(&out).1);

    // A data directory nobody may write to (root ignores mode bits, so use a kernel directory then).
    let readonly = if is_root() {
        std::path::PathBuf::from("/sys/kernel")
    } else {
        let p = dir.path().join("ro");
        std::fs::create_dir(&p).unwrap();
        #[cfg(unix)]
        std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o500)).unwrap();
        p
    };
    let out = run(palisade(dir.path()).args(["migrate", "--data-dir"]).arg(&readonly));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("not writable"), "{}", text(&out).1);
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

#[tokio::test]
async fn a_database_from_a_newer_release_is_refused() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, installed_on, success, checksum, execution_time) \
         VALUES (99990101000000, 'future', CURRENT_TIMESTAMP, TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(t.pool())
    .await
    .unwrap();
    let out = run(palisade(dir.path()).args(["serve", "--listen", "127.0.0.1:0", "--database-url", &t.process_url()]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("newer than this binary"), "{}", text(&out).1);
}

/// `audit verify` passes on an honest log and names the first broken link after a direct database edit.
#[tokio::test]
async fn audit_verify_catches_a_direct_edit() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let out = run(palisade(dir.path()).args(["demo", "--database-url", &url]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("stores created      3"), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["audit", "verify", "--database-url", &url]));
    assert!(out.status.success(), "{}", text(&out).0);
    assert!(text(&out).0.contains("every link verifies"));

    match t.backend() {
        Backend::Sqlite => {
            sqlx::query("DROP TRIGGER audit_events_no_update").execute(t.pool()).await.unwrap();
        }
        Backend::Postgres => {
            sqlx::query("DROP TRIGGER audit_events_no_update_or_delete ON audit_events")
                .execute(t.pool())
                .await
                .unwrap();
        }
    }
    let (victim,): (String,) =
        sqlx::query_as("SELECT id FROM audit_events WHERE action = 'member.added' ORDER BY at, seq LIMIT 1")
            .fetch_one(t.pool())
            .await
            .unwrap();
    sqlx::query("UPDATE audit_events SET details = '{\"role\":\"staff\"}' WHERE id = $1")
        .bind(&victim)
        .execute(t.pool())
        .await
        .unwrap();

    let out = run(palisade(dir.path()).args(["audit", "verify", "--database-url", &url]));
    assert_eq!(out.status.code(), Some(1));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("BROKEN"), "{stdout}");
    assert!(stdout.contains(&format!("First broken link: event {victim}")), "{stdout}");
    let out = run(palisade(dir.path()).args(["audit", "verify", "--json", "--database-url", &url]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
}

/// A training completion is checked against its audit event: editing the record, or its event, fails
/// `audit verify`.
#[tokio::test]
async fn audit_verify_catches_an_edited_training_record() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let owner = palisade_store::tenancy::create_account(
        &t,
        palisade_store::tenancy::NewAccount {
            email: palisade_core::text::Email::parse("owner@alpha.example").unwrap(),
            display_name: "Owner".into(),
            kind: palisade_store::tenancy::AccountKind::Staff,
        },
    )
    .await
    .unwrap();
    let (store, _) = palisade_store::tenancy::create_store(
        &t,
        &palisade_store::scope::PlatformScope::system("test"),
        palisade_store::tenancy::NewStore {
            slug: palisade_core::text::Slug::parse("alpha").unwrap(),
            name: "Alpha".into(),
            currency: palisade_core::money::Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    let scope = palisade_store::tenancy::membership(&t, owner.id, store.id).await.unwrap().unwrap().scope;
    let attempt = palisade_store::training::open_attempt(&t, &scope, "phishing").await.unwrap();
    let module = palisade_store::training::module("phishing").unwrap();
    let sheet: Vec<(String, String)> = attempt
        .paper
        .questions
        .iter()
        .map(|q| {
            // Answers name a choice by its place on the paper (1, 2, …).
            let correct = module.question(&q.question).unwrap().correct_choice().unwrap();
            let place = q.choices.iter().position(|c| c == correct).unwrap() + 1;
            (q.question.clone(), place.to_string())
        })
        .collect();
    palisade_store::training::submit(&t, &scope, "phishing", attempt.id, &sheet, t.now()).await.unwrap();
    let out = run(palisade(dir.path()).args(["audit", "verify", "--database-url", &url]));
    assert!(out.status.success(), "{}", text(&out).0);

    sqlx::query("UPDATE training_completions SET score_percent = 80").execute(t.pool()).await.unwrap();
    let out = run(palisade(dir.path()).args(["audit", "verify", "--database-url", &url]));
    assert_eq!(out.status.code(), Some(1));
    let (stdout, _) = text(&out);
    assert!(stdout.contains("training record") && stdout.contains("differs from its audit event"), "{stdout}");
    let out = run(palisade(dir.path()).args(["audit", "verify", "--json", "--database-url", &url]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["training"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_operator_prints_a_token_once_that_the_api_accepts() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let out = run(palisade(dir.path()).args([
        "admin",
        "create-operator",
        "--email",
        "root@platform.example",
        "--database-url",
        &url,
    ]));
    assert!(out.status.success(), "{}", text(&out).1);
    let stdout = text(&out).0;
    let token = stdout.split_whitespace().find(|w| w.starts_with("pal_op_")).unwrap().to_owned();
    let principal = palisade_store::tokens::authenticate_operator(&t, &token, None).await.unwrap().unwrap();
    assert_eq!(principal.email(), "root@platform.example");
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1")
        .bind(&token)
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "the token itself is never stored");
}

/// Two `palisade serve` processes on one database: every scheduled slot becomes one job, run exactly once.
#[tokio::test]
async fn two_nodes_share_schedules_without_double_runs() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    migrate(dir.path(), &url);
    jobs::upsert_schedule(&t, "test-every-second", "* * * * * *", "system.ping", serde_json::Value::Null)
        .await
        .unwrap();
    let mut nodes = Vec::new();
    let started = std::time::Instant::now();
    for n in 0..2 {
        let port = free_port();
        let data = dir.path().join(format!("node{n}"));
        let mut serve = palisade(dir.path());
        serve
            .args(["serve", "--database-url", &url, "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data);
        nodes.push(start_quiet(&mut serve, port));
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    for child in &mut nodes {
        assert!(terminate(child).success());
    }
    // The first node schedules from the moment it is up, which on a loaded machine is well before the second is.
    let ran_for = started.elapsed().as_secs();
    let rows: Vec<(String, String, i64, Option<String>)> =
        sqlx::query_as("SELECT dedupe_key, status, attempts, locked_by FROM jobs WHERE kind = 'system.ping'")
            .fetch_all(t.pool())
            .await
            .unwrap();
    assert!(rows.len() >= 4, "about one job per second over six seconds, got {}", rows.len());
    let most = usize::try_from(ran_for + 2).unwrap();
    assert!(rows.len() <= most, "at most one job per second while a node ran ({ran_for} s), got {}", rows.len());
    let slots: std::collections::HashSet<_> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(slots.len(), rows.len(), "one job per slot");
    for (key, status, attempts, node) in &rows {
        assert_eq!(status, "succeeded", "{key}");
        assert_eq!(*attempts, 1, "{key} ran more than once");
        assert!(node.is_some());
    }
    let (n_nodes,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM nodes").fetch_one(t.pool()).await.unwrap();
    assert_eq!(n_nodes, 2);
}

#[tokio::test]
async fn set_password_reads_stdin_and_applies_the_policy() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    assert!(
        run(palisade(dir.path()).args([
            "admin",
            "create-operator",
            "--email",
            "root@platform.example",
            "--database-url",
            &url
        ]))
        .status
        .success()
    );
    let set = |pw: &'static str| {
        let mut child = palisade(dir.path())
            .args(["admin", "set-password", "--email", "root@platform.example", "--database-url", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(format!("{pw}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = set("password1234");
    assert_eq!(weak.status.code(), Some(1));
    assert!(text(&weak).1.contains("common"), "{}", text(&weak).1);
    let ok = set("granite pelican umbrella");
    assert!(ok.status.success(), "{}", text(&ok).1);
    assert!(text(&ok).0.contains("two-step verification"));
    let (hash,): (Option<String>,) =
        sqlx::query_as("SELECT password_hash FROM accounts WHERE email = 'root@platform.example'")
            .fetch_one(t.pool())
            .await
            .unwrap();
    assert!(hash.unwrap().starts_with("$argon2id$"));
}

/// A minimal SMTP server (RFC 5321's happy path: greeting, EHLO/HELO, MAIL, RCPT, DATA, QUIT) on a free port,
/// written here so the test needs nothing installed; what it receives is sent on the returned channel, one
/// message (envelope lines and data) per item. It is a real peer on a real socket: lettre speaks to it as to any
/// server that offers no STARTTLS.
fn smtp_sink() -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut out = conn.try_clone().unwrap();
                let mut lines = BufReader::new(conn);
                let mut say = |s: &str| out.write_all(format!("{s}\r\n").as_bytes()).is_ok();
                if !say("220 sink.test ESMTP") {
                    return;
                }
                let mut message = String::new();
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    match verb.as_str() {
                        "EHLO" => say("250-sink.test\r\n250 8BITMIME"),
                        "HELO" | "RSET" | "NOOP" => say("250 OK"),
                        "MAIL" | "RCPT" => {
                            message.push_str(&line);
                            say("250 OK")
                        }
                        "DATA" => {
                            say("354 end with <CRLF>.<CRLF>");
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                message.push_str(&line);
                            }
                            let _ = tx.send(std::mem::take(&mut message));
                            say("250 queued")
                        }
                        "QUIT" => {
                            say("221 bye");
                            return;
                        }
                        _ => say("502 not implemented"),
                    };
                }
            });
        }
    });
    (port, rx)
}

/// Mail goes through a real SMTP conversation (a sink in this test, so a fresh machine needs nothing installed).
#[tokio::test]
async fn queued_mail_is_delivered_over_smtp() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let (smtp_port, received) = smtp_sink();
    migrate(dir.path(), &url);
    let id = palisade_store::outbox::enqueue(
        &t,
        palisade_store::outbox::NewMail {
            store_id: None,
            to: "pat@shop.example",
            subject: "Hello from the outbox",
            body: "It works.".into(),
        },
    )
    .await
    .unwrap();
    let port = free_port();
    let mut node = start_quiet(
        palisade(dir.path()).args([
            "serve",
            "--database-url",
            &url,
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--smtp-url",
            &format!("smtp://127.0.0.1:{smtp_port}"),
        ]),
        port,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mail = palisade_store::outbox::get(&t, &id).await.unwrap().unwrap();
        if mail.sent_at.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {:?}", mail.last_error);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(terminate(&mut node).success());
    let printed = received.recv_timeout(Duration::from_secs(5)).expect("the sink received the message");
    assert!(printed.contains("Subject: Hello from the outbox"), "{printed}");
    assert!(printed.contains("RCPT TO:<pat@shop.example>"), "{printed}");
    assert!(printed.contains("It works."), "{printed}");
}

/// Writes `n` objects of incompressible bytes into a data dir's objects store (as uploads would).
fn random_objects(data_dir: &Path, n: usize, size: usize) {
    let dir = data_dir.join("objects/images");
    std::fs::create_dir_all(&dir).unwrap();
    for _ in 0..n {
        let bytes: Vec<u8> = (0..size).map(|_| rand::random::<u8>()).collect();
        let name = format!("{:064x}", rand::random::<u128>());
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

fn backup_ids(cwd: &Path, data: &str) -> Vec<String> {
    let out = run(palisade(cwd).args(["backup", "list", "--json", "--data-dir", data]));
    if !out.status.success() {
        // No repository yet (the first run was killed before writing its config).
        assert!(text(&out).1.contains("not a Palisade backup repository"), "{}", text(&out).1);
        return Vec::new();
    }
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    list.iter().map(|s| s["id"].as_str().expect("every listed snapshot parses").to_owned()).collect()
}

#[tokio::test]
async fn backup_create_verify_restore_drill_and_prune_from_the_cli() {
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let db = ["--data-dir", "d", "--database-url", url.as_str()];
    let out = run(palisade(dir.path()).args(["admin", "create-operator", "--email", "ops@example.com"]).args(db));
    assert!(out.status.success(), "{}", text(&out).1);
    random_objects(&dir.path().join("d"), 3, 10_000);

    let out = run(palisade(dir.path()).args(["backup", "create"]).args(db));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("RESTORE IDENTITY") && stderr.contains("restore-identity.txt"), "{stderr}");
    assert!(stdout.contains("verify: ok") && stdout.contains("3 objects"), "{stdout}");
    assert!(stdout.contains("add an S3 target"), "{stdout}");
    let ids = backup_ids(dir.path(), "d");
    assert_eq!(ids.len(), 1);

    let out = run(palisade(dir.path()).args(["backup", "verify", "--read-data"]).args(db));
    assert!(out.status.success(), "{}", text(&out).0);
    assert!(text(&out).0.contains("every chunk decrypted and checked: OK"), "{}", text(&out).0);

    // Restore into a new SQLite data dir, whatever the source backend, and start using it.
    let out = run(palisade(dir.path()).args(["backup", "restore", "latest", "--to", "r", "--data-dir", "d"]));
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    assert!(text(&out).0.contains("every table's checksum matched"), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["config", "check", "--data-dir", "r"]));
    assert!(out.status.success(), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["audit", "verify", "--data-dir", "r"]));
    assert!(out.status.success() && text(&out).0.contains("every link verifies"), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["backup", "restore", "latest", "--to", "r", "--data-dir", "d"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("not empty") && text(&out).1.contains("--force"), "{}", text(&out).1);

    let out = run(palisade(dir.path()).args(["backup", "drill"]).args(db));
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    assert!(text(&out).0.contains("Drill passed"), "{}", text(&out).0);
    let (runs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM backup_runs WHERE outcome = 'ok'").fetch_one(t.pool()).await.unwrap();
    assert_eq!(runs, 4, "snapshot, verify, prune and drill are recorded");

    let out = run(palisade(dir.path()).args(["backup", "prune", "--dry-run", "--data-dir", "d"]));
    assert!(out.status.success() && text(&out).0.contains("1 kept"), "{}", text(&out).0);

    // Damage one chunk: verify names it and fails.
    let chunks = dir.path().join("d/backups/repo/chunks");
    let sub = std::fs::read_dir(&chunks).unwrap().next().unwrap().unwrap().path();
    let victim = std::fs::read_dir(&sub).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let out = run(palisade(dir.path()).args(["backup", "verify", "--data-dir", "d"]));
    assert_eq!(out.status.code(), Some(1));
    let name = victim.file_name().unwrap().to_str().unwrap()[..16].to_owned();
    assert!(text(&out).0.contains(&format!("PROBLEM  {}", ids[0])) && text(&out).0.contains(&name), "{}", text(&out).0);
    assert!(text(&out).0.contains("truncated"), "{}", text(&out).0);
}

/// A snapshot made by hand stays beside a newer one of the same day (retention keeps one per day otherwise), and
/// the summary names what retention removed.
#[test]
fn snapshots_made_by_hand_are_not_pruned_the_same_day() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(palisade(dir.path()).args(["migrate", "--data-dir", "d"]));
    assert!(out.status.success(), "{}", text(&out).1);
    for _ in 0..2 {
        let out = run(palisade(dir.path()).args(["backup", "create", "--data-dir", "d"]));
        assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
        assert!(text(&out).0.contains("0 removed"), "{}", text(&out).0);
    }
    assert_eq!(backup_ids(dir.path(), "d").len(), 2, "both hand-made snapshots of today are kept");
    let out = run(palisade(dir.path()).args(["backup", "prune", "--dry-run", "--data-dir", "d"]));
    assert!(out.status.success() && text(&out).0.contains("2 kept, 0 would be removed"), "{}", text(&out).0);
}

#[test]
fn a_backup_killed_at_any_moment_never_lists_an_incomplete_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(palisade(dir.path()).args(["migrate", "--data-dir", "d"]));
    assert!(out.status.success(), "{}", text(&out).1);
    let mut killed = 0;
    for round in 0..12 {
        random_objects(&dir.path().join("d"), 20, 200_000);
        let mut child = palisade(dir.path())
            .args(["backup", "create", "--data-dir", "d"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rand::random_range(20..1500)));
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let ids = backup_ids(dir.path(), "d");
        if !ids.is_empty() {
            let out = run(palisade(dir.path()).args(["backup", "verify", "--data-dir", "d"]));
            assert!(out.status.success(), "round {round}: a listed snapshot is incomplete: {}", text(&out).0);
        }
    }
    assert!(killed >= 6, "only {killed} runs were interrupted; the test needs more data to kill runs mid-way");

    let out = run(palisade(dir.path()).args(["backup", "create", "--data-dir", "d"]));
    assert!(out.status.success(), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["backup", "verify", "--read-data", "--data-dir", "d"]));
    assert!(out.status.success(), "{}", text(&out).0);
    // Nothing of the killed runs is left: no pending markers, no half-written files, no unreferenced chunks.
    let repo = dir.path().join("d/backups/repo");
    assert_eq!(std::fs::read_dir(repo.join("pending")).map(|d| d.count()).unwrap_or(0), 0);
    let mut stored = std::collections::BTreeSet::new();
    for sub in std::fs::read_dir(repo.join("chunks")).unwrap().flatten() {
        for f in std::fs::read_dir(sub.path()).unwrap().flatten() {
            let name = f.file_name().to_str().unwrap().to_owned();
            assert!(!name.contains('#'), "a partial upload was left: {name}");
            stored.insert(name);
        }
    }
    let mut referenced = std::collections::BTreeSet::new();
    for m in std::fs::read_dir(repo.join("snapshots")).unwrap().flatten() {
        let manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(m.path()).unwrap()).unwrap();
        referenced.extend(manifest["chunks"].as_object().unwrap().keys().cloned());
    }
    assert_eq!(stored, referenced, "every stored chunk belongs to a snapshot");
}

/// An S3-compatible server for tests (CI starts one: `moto_server`), e.g. `http://127.0.0.1:5055`.
const TEST_S3_ENDPOINT: &str = "PALISADE_TEST_S3_ENDPOINT";

#[tokio::test]
async fn backups_reach_an_s3_compatible_target_and_restore_from_it() {
    let Ok(endpoint) = std::env::var(TEST_S3_ENDPOINT) else {
        eprintln!("skipped: set {TEST_S3_ENDPOINT} to an S3-compatible server (.ci/run starts moto_server)");
        return;
    };
    let bucket = format!("palisade-{}", rand::random::<u32>());
    let created = reqwest::Client::new().put(format!("{endpoint}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "creating bucket: {}", created.status());
    let target = format!("s3://{bucket}/node-a?endpoint={endpoint}&region=us-east-1&allow_http=true");
    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("palisade.toml"), format!("backup_targets = [\"{target}\"]\n")).unwrap();
    let url = t.process_url();
    let s3 = |cmd: &mut Command| {
        cmd.env("AWS_ACCESS_KEY_ID", "palisade-test").env("AWS_SECRET_ACCESS_KEY", "palisade-test-secret");
    };
    let mut create = palisade(dir.path());
    create.args(["backup", "create", "--config", "palisade.toml", "--data-dir", "d", "--database-url", &url]);
    s3(&mut create);
    let out = run(&mut create);
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    assert!(text(&out).0.contains(&format!("→ s3://{bucket}/node-a")), "{}", text(&out).0);
    assert!(!text(&out).0.contains("add an S3 target"), "{}", text(&out).0);
    let (off,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM backup_runs WHERE kind = 'snapshot' AND off_machine = 1")
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert_eq!(off, 1, "the S3 snapshot counts as off this machine");

    let mut restore = palisade(dir.path());
    restore.args(["backup", "restore", "latest", "--target", &target, "--to", "r", "--data-dir", "d"]);
    s3(&mut restore);
    let out = run(&mut restore);
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    let out = run(palisade(dir.path()).args(["config", "check", "--data-dir", "r"]));
    assert!(out.status.success(), "{}", text(&out).0);

    // A target that fails (no such bucket) is reported by name; the other targets still get their snapshot.
    let missing = format!("s3://{bucket}-missing/x?endpoint={endpoint}&region=us-east-1&allow_http=true");
    std::fs::write(dir.path().join("broken.toml"), format!("backup_targets = [\"{missing}\"]\n")).unwrap();
    let mut broken = palisade(dir.path());
    broken.args(["backup", "create", "--config", "broken.toml", "--data-dir", "d", "--database-url", &url]);
    s3(&mut broken);
    let out = run(&mut broken);
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains(&format!("FAILED s3://{bucket}-missing/x")), "{stdout}");
    assert!(stdout.contains("→ d/backups/repo") && stdout.contains("verify: ok"), "{stdout}");
    let (failed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM backup_runs WHERE kind = 'snapshot' AND outcome = 'failed'")
            .fetch_one(t.pool())
            .await
            .unwrap();
    assert_eq!(failed, 1);
}

fn staff(email: &str) -> palisade_store::tenancy::NewAccount {
    palisade_store::tenancy::NewAccount {
        email: palisade_core::text::Email::parse(email).unwrap(),
        display_name: "Staff".into(),
        kind: palisade_store::tenancy::AccountKind::Staff,
    }
}

/// The store "alpha" (Alpha Tea, SGD) owned by owner@alpha.example; returns the store's scope.
async fn alpha_store(t: &TestDb) -> palisade_store::StoreScope {
    use palisade_store::tenancy::{self, NewStore};
    let owner = tenancy::create_account(t, staff("owner@alpha.example")).await.unwrap();
    let (_, scope) = tenancy::create_store(
        t,
        &palisade_store::scope::PlatformScope::system("test"),
        NewStore {
            slug: palisade_core::text::Slug::parse("alpha").unwrap(),
            name: "Alpha Tea".into(),
            currency: palisade_core::money::Currency::SGD,
            owner: owner.id,
            security_contact: None,
        },
    )
    .await
    .unwrap();
    scope
}

#[tokio::test]
async fn an_operator_clones_a_merchant_export_into_a_new_store() {
    use palisade_store::tenancy;

    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let scope = alpha_store(&t).await;
    tenancy::create_account(&t, staff("new-owner@copy.example")).await.unwrap();
    sqlx::query(
        "INSERT INTO categories (id, store_id, slug, name, created_at) VALUES ('c1', $1, 'green', 'Green tea', 0)",
    )
    .bind(scope.store_key())
    .execute(t.pool())
    .await
    .unwrap();
    let objects = palisade_store::Objects::local(&dir.path().join("objects")).unwrap();
    let mut archive = Vec::new();
    let passphrase = secrecy::SecretString::from("a long merchant passphrase".to_owned());
    palisade_backup::export::export(&t, &scope, &objects, passphrase, 10, &mut archive).await.unwrap();
    std::fs::write(dir.path().join("alpha.palx"), &archive).unwrap();

    let import = |pass: &str| {
        let mut cmd = palisade(dir.path());
        cmd.args(["backup", "import-store", "--archive", "alpha.palx", "--slug", "alpha-copy"])
            .args(["--owner", "new-owner@copy.example", "--data-dir", "d", "--database-url", &url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(format!("{pass}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let wrong = import("not it");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).1.contains("decrypt"), "{}", text(&wrong).1);
    assert!(tenancy::store_id_by_slug(&t, "alpha-copy").await.unwrap().is_none(), "nothing is created");

    let out = import("a long merchant passphrase");
    assert!(out.status.success(), "{}{}", text(&out).0, text(&out).1);
    assert!(text(&out).0.contains("categories"), "{}", text(&out).0);
    let copy = tenancy::store_id_by_slug(&t, "alpha-copy").await.unwrap().expect("the new store exists");
    let (n, name): (i64, String) = sqlx::query_as("SELECT COUNT(*), MAX(name) FROM categories WHERE store_id = $1")
        .bind(copy.to_string())
        .fetch_one(t.pool())
        .await
        .unwrap();
    assert_eq!((n, name.as_str()), (1, "Green tea"));
}

/// A merchant's export schedule is carried out by the node's job runner: `serve` installs the hourly job, and the
/// job writes the due export with the sealed passphrase, readable with that passphrase.
#[tokio::test]
async fn serve_writes_a_merchants_scheduled_export() {
    use palisade_backup::store_exports::{self, Schedule};

    let t = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (master_key, _) = palisade_store::secrets::load_or_create(&data.join("master.key")).unwrap();
    let scope = alpha_store(&t).await;
    let sealer = store_exports::passphrase_sealer(master_key.expose());
    let passphrase = secrecy::SecretString::from("a long merchant passphrase".to_owned());
    store_exports::set_schedule(&t, &scope.to_staff().unwrap(), &sealer, Schedule::Daily, Some(passphrase.clone()))
        .await
        .unwrap();

    let port = free_port();
    let mut child = start_quiet(
        palisade(dir.path())
            .args(["serve", "--database-url", &url, "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(&data),
        port,
    );
    let (cron,): (String,) = sqlx::query_as("SELECT cron FROM schedules WHERE job_kind = 'backup.store_exports'")
        .fetch_one(t.pool())
        .await
        .expect("serve installs the store-exports schedule");
    assert!(cron.starts_with("0 "), "runs once an hour: {cron}");
    // Run the hourly slot now instead of waiting for it.
    jobs::enqueue(&t, jobs::NewJob::new("backup.store_exports")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let key = loop {
        let row: Option<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT outcome, trigger_kind, object_key FROM store_exports WHERE store_id = $1 AND kind = 'export'",
        )
        .bind(scope.store_key())
        .fetch_optional(t.pool())
        .await
        .unwrap();
        if let Some((outcome, trigger, key)) = row {
            assert_eq!((outcome.as_str(), trigger.as_str()), ("ok", "schedule"));
            break key.expect("the archive is kept for download");
        }
        assert!(Instant::now() < deadline, "the scheduled export was not written");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(terminate(&mut child).success());
    let archive = std::fs::read(data.join("objects").join(&key)).unwrap();
    let opened = palisade_backup::export::Archive::open(archive.as_slice(), passphrase)
        .expect("the merchant's passphrase opens it");
    assert_eq!(opened.manifest.store_slug, "alpha");
    // Due again only after a day: a second run writes nothing new.
    let exports = store_exports::due(&t).await.unwrap();
    assert!(exports.is_empty(), "nothing is due right after the export");
}

/// A database one migration behind this binary (the upgrade case): the newest migration and the version the
/// database is at (migration numbers may have gaps, so not always `known - 1`).
async fn database_one_behind() -> (TestDb, i64, i64) {
    let t = TestDb::unmigrated(std::sync::Arc::new(palisade_core::SystemClock)).await;
    let known = palisade_store::migrate::known_version(t.db.backend());
    palisade_store::migrate::run_to(&t.db, known - 1).await.unwrap();
    let previous = schema_version(&t).await.unwrap();
    assert!(previous < known);
    (t, known, previous)
}

async fn schema_version(t: &TestDb) -> Option<i64> {
    palisade_store::migrate::applied_version(&t.db).await.unwrap()
}

/// `migrate --check` lists what would change and exits 10 without changing it; `migrate` takes a verified
/// snapshot first, then applies exactly that; a second check says up to date (exit 0).
#[tokio::test]
async fn migrate_check_lists_pending_and_migrate_snapshots_first() {
    let (t, known, previous) = database_one_behind().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let db = ["--data-dir", "d", "--database-url", url.as_str()];

    let out = run(palisade(dir.path()).args(["migrate", "--check"]).args(db));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(10), "{stdout}{stderr}");
    assert!(stdout.contains("1 migration(s) pending") && stdout.contains(&format!("{known:04}  ")), "{stdout}");
    assert!(stdout.contains("takes a backup snapshot first"), "{stdout}");
    assert_eq!(schema_version(&t).await, Some(previous), "--check applies nothing");
    assert!(backup_ids(dir.path(), "d").is_empty(), "--check takes no snapshot");

    let out = run(palisade(dir.path()).args(["migrate"]).args(db));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("Backup snapshot") && stdout.contains("verified"), "{stdout}");
    assert!(stdout.contains(&format!("migrated schema from version {previous} to {known}")), "{stdout}");
    assert_eq!(schema_version(&t).await, Some(known));
    let ids = backup_ids(dir.path(), "d");
    assert_eq!(ids.len(), 1, "one snapshot, taken before migrating");
    let list = run(palisade(dir.path()).args(["backup", "list", "--json", "--data-dir", "d"]));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(list[0]["schema_version"], serde_json::json!(previous), "the snapshot holds the old schema");
    let (runs,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM backup_runs WHERE kind = 'snapshot'").fetch_one(t.pool()).await.unwrap();
    assert_eq!(runs, 1, "the pre-migration snapshot is in the backup matrix");

    let out = run(palisade(dir.path()).args(["migrate", "--check"]).args(db));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out).0);
    assert!(text(&out).0.contains("up to date"), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["migrate"]).args(db));
    assert!(out.status.success() && !text(&out).0.contains("Backup snapshot"), "{}", text(&out).0);
    assert_eq!(backup_ids(dir.path(), "d").len(), 1, "nothing pending: no new snapshot");
}

/// A fresh database has nothing to lose: `--check` lists every migration, `migrate` creates the schema without
/// a snapshot.
#[test]
fn a_fresh_database_is_migrated_without_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(palisade(dir.path()).args(["migrate", "--check", "--data-dir", "d"]));
    assert_eq!(out.status.code(), Some(10), "{}{}", text(&out).0, text(&out).1);
    assert!(text(&out).0.contains("empty (no schema yet)") && text(&out).0.contains("0001  "), "{}", text(&out).0);
    let out = run(palisade(dir.path()).args(["migrate", "--data-dir", "d"]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert!(text(&out).0.contains("created schema") && !text(&out).0.contains("Backup snapshot"), "{}", text(&out).0);
    assert!(!dir.path().join("d/backups/repo").exists(), "no snapshot of an empty database");
}

/// A snapshot that cannot be taken stops the migration; `--no-backup` overrides it and is audited.
#[tokio::test]
async fn a_failed_snapshot_stops_the_migration_unless_no_backup() {
    let (t, known, previous) = database_one_behind().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let db = ["--data-dir", "d", "--database-url", url.as_str()];
    // The primary repository's place is taken by a file: the snapshot cannot be written.
    std::fs::create_dir_all(dir.path().join("d/backups")).unwrap();
    std::fs::write(dir.path().join("d/backups/repo"), b"not a repository").unwrap();

    let out = run(palisade(dir.path()).args(["migrate"]).args(db));
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("nothing was migrated") && stderr.contains("--no-backup"), "{stderr}");
    assert_eq!(schema_version(&t).await, Some(previous), "a failed snapshot leaves the schema alone");

    let out = run(palisade(dir.path()).args(["migrate", "--no-backup"]).args(db));
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("No backup snapshot taken (--no-backup)"), "{stdout}");
    assert_eq!(schema_version(&t).await, Some(known));
    let (audited,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_events WHERE action = 'schema.migrated_without_backup'")
            .fetch_one(t.pool())
            .await
            .unwrap();
    assert_eq!(audited, 1, "--no-backup is in the audit log");
    let out = run(palisade(dir.path()).args(["migrate", "--check", "--no-backup"]).args(db));
    assert_eq!(out.status.code(), Some(2), "--check and --no-backup do not go together");
}

/// The commands that migrate at start (serve, admin, demo) take the same snapshot when the schema changes.
#[tokio::test]
async fn commands_that_migrate_at_start_snapshot_first() {
    let (t, known, _) = database_one_behind().await;
    let dir = tempfile::tempdir().unwrap();
    let url = t.process_url();
    let out = run(palisade(dir.path()).args(["admin", "create-operator", "--email", "ops@example.com"]).args([
        "--data-dir",
        "d",
        "--database-url",
        url.as_str(),
    ]));
    assert!(out.status.success(), "{}", text(&out).1);
    assert_eq!(schema_version(&t).await, Some(known));
    assert_eq!(backup_ids(dir.path(), "d").len(), 1, "snapshot taken before the start-up migration");
}
