//! `palisade serve`

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use palisade_store::jobs::{self, RunnerConfig};
use palisade_web::edge::{geoip::GeoIp, limits};
use palisade_web::{AppState, WebConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{demo, jobs as builtin};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::config::{self, Settings};
use crate::mail::Mailer;
use crate::runtime;

/// What the flags asked for, checked: nothing here has touched the data directory or the database.
struct Checked {
    settings: Settings,
    mailer: Arc<Mailer>,
    trusted: Vec<ipnet::IpNet>,
    limits: limits::LimitsConfig,
    limiter: Option<limits::Limiter>,
    geoip: Option<GeoIp>,
}

/// Reads and checks every flag (and the config file) without creating anything.
async fn check_flags(global: &GlobalArgs, args: &ServeArgs) -> anyhow::Result<Checked> {
    let mut settings =
        config::resolve(global, config::ServeFlags { listen: args.listen.as_deref(), behind_tls: args.behind_tls })?;
    if args.smtp_url.is_some() {
        settings.smtp_url = args.smtp_url.clone();
    }
    if let Some(from) = &args.mail_from {
        settings.mail_from = from.clone();
    }
    palisade_store::Backend::from_url(&settings.database_url).map_err(runtime::explain)?;
    if let Some(url) = &settings.public_url {
        check_public_url(url)?;
    }
    let mailer = Arc::new(Mailer::new(settings.smtp_url.as_deref(), &settings.mail_from)?);
    let mut trusted = Vec::new();
    for cidr in &args.trusted_proxies {
        trusted.push(cidr.parse::<ipnet::IpNet>().map_err(|e| anyhow::anyhow!("--trusted-proxy {cidr}: {e}"))?);
    }
    if let Some(dir) = args.advisories_dir.as_deref().filter(|d| !d.is_dir()) {
        anyhow::bail!("--advisories-dir {}: not a readable directory", dir.display());
    }
    let geoip = match &args.geoip_db {
        Some(path) => Some(GeoIp::open(path).map_err(|e| anyhow::anyhow!("--geoip-db {e}"))?),
        None => None,
    };
    let limits = limits::LimitsConfig {
        enabled: !args.no_rate_limits,
        redis_url: args.redis_url.clone(),
        trusted_proxies: trusted.clone(),
        ..limits::LimitsConfig::default()
    };
    // An unreachable Redis is a start-up error, found before anything is created.
    let limiter = match limits.redis_url {
        Some(_) => Some(limits::Limiter::new(limits.clone()).await.map_err(|e| anyhow::anyhow!(e))?),
        None => None,
    };
    Ok(Checked { settings, mailer, trusted, limits, limiter, geoip })
}

/// `--public-url` is where people are sent (links in emails, passkeys): an absolute http(s) URL with a host.
fn check_public_url(url: &str) -> anyhow::Result<()> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    match rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default()) {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => bail!(
            "--public-url `{url}` is not an http:// or https:// address with a host name (e.g. https://shop.example)"
        ),
    }
}

/// Binds `addr`, or says in one line why not and which flag chooses another address.
async fn bind(addr: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| bind_error(addr, flag, &e))
}

fn bind_error(addr: &str, flag: &str, e: &std::io::Error) -> anyhow::Error {
    let another = addr
        .parse::<SocketAddr>()
        .ok()
        .filter(|a| a.port() != 0)
        .map(|mut a| {
            a.set_port(a.port().checked_add(1).unwrap_or(8080));
            format!(", e.g. {flag} {a}")
        })
        .unwrap_or_default();
    match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is already in use (another Palisade or another program); \
             choose another with {flag}{another}"
        ),
        std::io::ErrorKind::PermissionDenied => anyhow::anyhow!(
            "cannot listen on {addr}: permission denied (ports below 1024 need privileges); choose another with \
             {flag}{another}"
        ),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}; choose another with {flag}{another}"),
    }
}

/// Starts this node's job runner (schedules, backups, mail, payment page checks); it stops when `stop_rx` turns true.
fn start_jobs(
    inst: &runtime::Installation,
    args: &ServeArgs,
    mailer: &Arc<Mailer>,
    public_url: &str,
    node: &str,
    stop_rx: &watch::Receiver<bool>,
    web_state: &Arc<std::sync::OnceLock<AppState>>,
) -> tokio::task::JoinHandle<()> {
    let registry = Arc::new(inst.registry.clone());
    let facts = Arc::new(inst.facts.clone());
    let cfg = RunnerConfig {
        node: node.to_owned(),
        hostname: hostname(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        poll: Duration::from_millis(500),
        lease: Duration::from_secs(300),
    };
    tracing::info!(node = %node, "job runner started");
    let backup_jobs = Arc::new(crate::backups::BackupJobs {
        settings: inst.settings.clone(),
        outbound: if args.exports_allow_private_s3 {
            palisade_store::outbound::OutboundPolicy::allow_private_networks()
        } else {
            palisade_store::outbound::OutboundPolicy::public_only()
        },
    });
    let policy = inst.settings.commerce;
    let links = Arc::new(palisade_identity::links::LinkSigner::new(inst.master_key.expose()));
    let mut handlers =
        builtin::handlers(registry, facts, Arc::clone(mailer), public_url.to_owned(), backup_jobs, policy, links);
    builtin::register_store_scans(&mut handlers, Arc::clone(web_state));
    builtin::register_extension_updates(&mut handlers, Arc::clone(web_state));
    builtin::register_webhook_deliveries(&mut handlers, Arc::clone(web_state));
    let mut rx = stop_rx.clone();
    let db = inst.db.clone();
    tokio::spawn(async move {
        jobs::run(db, handlers, cfg, async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
        .await;
    })
}

/// The demo brings its own advisories feed (in the data directory), so the extension advisories have something to
/// show.
fn demo_feed(data_dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let dir = data_dir.join("advisories");
    super::demo_extensions::write_feed(&dir)?;
    Ok(dir)
}

/// A node with an advisories feed matches it once at start (in the background); the hourly job keeps it fresh.
fn sync_advisories_at_start(db: &palisade_store::Db, dir: Option<std::path::PathBuf>) {
    let Some(dir) = dir else { return };
    let db = db.clone();
    tokio::spawn(async move {
        match palisade_web::extensions::sync_feed(&db, Some(&dir)).await {
            Ok(run) => tracing::info!(
                advisories = run.advisories,
                matches = run.matches,
                opened = run.opened,
                "extension advisories synced at start"
            ),
            Err(e) => tracing::warn!(error = %e, "extension advisories not synced at start"),
        }
    });
}

/// What the web layer runs with: the settings, and the firewall, limits and export flags given to `serve`.
fn web_config(settings: &Settings, args: &ServeArgs, public_url: &str, limits: limits::LimitsConfig) -> WebConfig {
    WebConfig {
        behind_tls: settings.behind_tls,
        request_timeout: settings.request_timeout,
        max_body_bytes: settings.max_body_bytes,
        public_url: public_url.to_owned(),
        shield: palisade_web::edge::shield::ShieldConfig {
            policy: palisade_shield::Policy {
                mode: palisade_shield::Mode::parse(&args.shield_mode).unwrap_or(palisade_shield::Mode::Block),
                paranoia: args.shield_paranoia,
                challenge_from: (args.shield_challenge_from > 0).then_some(args.shield_challenge_from),
                exceptions: palisade_shield::BUILTIN_EXCEPTIONS
                    .iter()
                    .cloned()
                    .chain(args.shield_exceptions.iter().cloned())
                    .collect(),
                ..palisade_shield::Policy::default()
            },
            ..palisade_web::edge::shield::ShieldConfig::default()
        },
        limits,
        shedding: palisade_web::edge::shedding::SheddingConfig::default(),
        auto_attack_rps: args.auto_attack_mode_rps,
        auto_attack_store_rps: args.auto_attack_mode_store_rps,
        exports_allow_private_s3: args.exports_allow_private_s3,
        webhooks_allow_private: args.webhooks_allow_private,
        commerce: settings.commerce,
        advisories_dir: args.advisories_dir.clone(),
        ..palisade_web::WebConfig::default()
    }
}

/// Renews this node's firewall report while it runs, and withdraws it when `stop` is set.
fn spawn_reporter(
    db: palisade_store::Db,
    node: String,
    web: WebConfig,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(palisade_web::edge::shield::NODE_REPORT_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => break,
            }
            if let Err(e) = palisade_web::edge::shield::report_node(&db, &node, &web).await {
                tracing::warn!(error = %e, "could not renew this node's firewall report");
            }
        }
        if let Err(e) = palisade_web::edge::shield::forget_node(&db, &node).await {
            tracing::warn!(error = %e, "could not withdraw this node's firewall report");
        }
    })
}

/// The state with the services only some installations have: a GeoIP database, rate limits shared through Redis.
fn with_optional_services(state: AppState, geoip: Option<GeoIp>, limiter: Option<limits::Limiter>) -> AppState {
    let state = match geoip {
        Some(geo) => {
            tracing::info!("GeoIP database loaded: country rules available");
            state.with_geoip(geo)
        }
        None => state,
    };
    match limiter {
        Some(shared) => {
            tracing::info!("rate limits shared through Redis");
            state.with_limiter(shared)
        }
        None => state,
    }
}

/// Serves metrics on their own listener until `stop` turns true.
fn spawn_metrics(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let addr = listener.local_addr().context("reading the metrics address")?;
    tracing::info!(metrics.listen = %addr, "metrics served without authentication on their own listener");
    Ok(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        palisade_web::serve_metrics(listener, shutdown).await
    }))
}

/// The identity service, with passkeys when the public URL allows them (a warning says why not otherwise).
fn identity_service(
    db: &palisade_store::Db,
    master_key: &palisade_store::secrets::MasterKey,
    public_url: &str,
) -> palisade_identity::Identity {
    let identity = palisade_identity::Identity::new(db.clone(), master_key, "Palisade");
    match identity.clone().with_passkeys(public_url) {
        Ok(with) => with,
        Err(why) => {
            tracing::warn!(public_url = %public_url, "passkeys disabled: {why}");
            identity
        }
    }
}

pub async fn run(global: &GlobalArgs, mut args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Every flag is checked and the ports are taken before anything is created or migrated: a mistyped flag or
    // a busy port leaves no data directory behind and prints no token.
    let checked = check_flags(global, &args).await?;
    let listener = bind(&checked.settings.listen, "--listen").await?;
    let listen_addr = listener.local_addr().context("reading the listening address")?;
    let metrics_listener = match args.metrics_listen {
        Some(addr) => Some(bind(&addr.to_string(), "--metrics-listen").await?),
        None => None,
    };
    let Checked { mut settings, mailer, trusted, limits, limiter, geoip } = checked;
    // With port 0 the system chose one: from here on the address is the one actually bound.
    settings.listen = listen_addr.to_string();
    let inst = runtime::open(settings, runtime::Schema::Migrate).await?;
    let db = inst.db.clone();
    let listen = inst.settings.listen.clone();
    let public_url = inst.settings.public_url.clone().unwrap_or_else(|| default_public_url(listen_addr));
    let public_url = public_url.trim_end_matches('/').to_owned();

    let demo_access = if args.demo { Some(demo::ensure(&inst).await?) } else { None };
    if args.demo && args.advisories_dir.is_none() {
        args.advisories_dir = Some(demo_feed(&inst.settings.data_dir)?);
    }

    builtin::install_schedules(&db).await?;
    // Zero-config backups: the key pair exists from the first start, so the daily snapshot can run.
    if let (_, Some(identity)) = crate::backups::recipients(&inst.settings)? {
        tracing::warn!("{}", crate::backups::identity_warning(&identity));
        eprintln!("\n*** {} ***\n", crate::backups::identity_warning(&identity));
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let node = format!("{}-{}", hostname(), std::process::id());
    // The weekly store scan drives the web router in process: the job gets this node's web state once it exists.
    let web_state = Arc::new(std::sync::OnceLock::new());
    let runner = if args.no_jobs {
        None
    } else {
        Some(start_jobs(&inst, &args, &mailer, &public_url, &node, &stop_rx, &web_state))
    };
    let web = web_config(&inst.settings, &args, &public_url, limits);
    if web.shield.policy.mode != palisade_shield::Mode::Block {
        tracing::warn!(mode = web.shield.policy.mode.as_str(), "the web application firewall is not blocking");
    }
    let identity = identity_service(&db, &inst.master_key, &web.public_url);
    let objects = palisade_store::Objects::local(&inst.settings.objects_dir)?;
    // What this node runs, reported once it is listening.
    let reported = web.clone();
    let state = AppState::new(db.clone(), inst.registry, inst.facts, web, identity, objects)
        .context("loading page templates")?
        .with_master_key(inst.master_key.expose())
        .with_tombstone_journal(Arc::new(crate::backups::tombstone_journal(&inst.settings, &inst.master_key)?));
    let state = with_optional_services(state, geoip, limiter);
    let _ = web_state.set(state.clone());
    sync_advisories_at_start(&db, args.advisories_dir.clone());
    let app = palisade_web::router(state);
    // What this node runs, for the firewall controls of the responsibility matrix: renewed while it runs,
    // withdrawn when it stops.
    palisade_web::edge::shield::report_node(&db, &node, &reported).await?;
    let reporter = spawn_reporter(db.clone(), node.clone(), reported.clone(), stop_rx.clone());
    let metrics_server = match metrics_listener {
        Some(listener) => Some(spawn_metrics(listener, stop_rx.clone())?),
        None => None,
    };
    tracing::info!(listen = %listen, database = db.display_url(), smtp = mailer.is_configured(), "palisade is serving");
    print!("{}", welcome(&public_url, demo_access.as_ref(), global));

    let mut http_stop = stop_rx.clone();
    // Trusted proxies hold many clients' connections: the per-address connection cap is for clients.
    let conn_limits = palisade_web::edge::server::ConnLimits {
        uncapped: trusted,
        ..palisade_web::edge::server::ConnLimits::default()
    };
    let server = palisade_web::edge::server::serve_with(listener, app, conn_limits, async move {
        let _ = http_stop.wait_for(|stop| *stop).await;
    });
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested: finishing in-flight requests and the current job");
        let _ = stop_tx.send(true);
    });
    server.await.context("HTTP server failed")?;
    if let Some(runner) = runner {
        let _ = runner.await;
    }
    let _ = reporter.await;
    if let Some(metrics_server) = metrics_server {
        let _ = metrics_server.await;
    }
    db.close().await;
    tracing::info!("palisade stopped");
    Ok(ExitCode::SUCCESS)
}

/// What a person reads once the server answers: where the marketplace, the sign-ins and the console are, all on
/// one host name; with `--demo`, who to sign in as, and the operator token when one was made now.
fn welcome(base: &str, demo_access: Option<&demo::ConsoleAccess>, global: &GlobalArgs) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "\nPalisade is ready.\n");
    let _ = writeln!(out, "  Marketplace       {base}/");
    let Some(access) = demo_access else {
        let _ = writeln!(out, "  Sign in           {base}/login");
        let _ = writeln!(out, "  Operator console  {base}/console");
        let _ = writeln!(
            out,
            "\nAn operator token for the console: palisade admin create-operator --email YOU@EXAMPLE.COM{}\n",
            same_installation(global)
        );
        return out;
    };
    let (buyer, _) = super::demo_shop::BUYERS.first().copied().unwrap_or(("wei.ling@buyer.example", ""));
    let _ = writeln!(out, "  Buyer sign-in     {base}/login  as {buyer}");
    let _ = writeln!(
        out,
        "  Merchant sign-in  {base}/login  as {} (owner of {})",
        demo::DEMO_MERCHANT.0,
        demo::DEMO_MERCHANT.1
    );
    let _ = writeln!(out, "  Operator console  {base}/console");
    let _ = writeln!(
        out,
        "  Demo password     \"{}\" (every demo buyer and staff account; never use it for a real one)",
        demo::DEMO_PASSWORD
    );
    match access {
        demo::ConsoleAccess::Created { token, days } => {
            let _ = writeln!(
                out,
                "\nSign in to the console with this operator token (valid {days} days, shown only now):\n\n    {token}\n"
            );
        }
        demo::ConsoleAccess::Kept { until } => {
            let until = until.and_then(|t| t.to_datetime()).map_or_else(
                || "does not expire".to_owned(),
                |d| format!("valid until {}", d.format("%Y-%m-%d %H:%M UTC")),
            );
            let _ = writeln!(
                out,
                "\nAn operator token printed earlier still works ({until}). For a new one:\n    \
                 palisade admin create-operator --email {}{}\n",
                demo::DEMO_OPERATOR,
                same_installation(global)
            );
        }
    }
    out
}

/// The flags that name this installation, for a command printed to run against it (never a database URL: it
/// may hold a password).
fn same_installation(global: &GlobalArgs) -> String {
    let mut flags = String::new();
    if let Some(file) = &global.config {
        flags.push_str(&format!(" --config {}", file.display()));
    }
    if let Some(dir) = &global.data_dir {
        flags.push_str(&format!(" --data-dir {}", dir.display()));
    }
    if global.database_url.is_some() {
        flags.push_str(" --database-url URL");
    }
    flags
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "node".to_owned())
}

/// How the server is reached when `--public-url` is not given: `http://localhost:PORT` when listening on loopback or
/// on every address (browsers accept passkeys for localhost, not for IPs, and 0.0.0.0 is no address to visit),
/// otherwise `http://ADDRESS:PORT`.
fn default_public_url(listen: SocketAddr) -> String {
    if listen.ip().is_loopback() || listen.ip().is_unspecified() {
        format!("http://localhost:{}", listen.port())
    } else {
        format!("http://{listen}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unwrap_used)]
    fn one_host_name_for_every_printed_address() {
        let url = |s: &str| default_public_url(s.parse().unwrap());
        assert_eq!(url("127.0.0.1:8080"), "http://localhost:8080");
        assert_eq!(url("0.0.0.0:8080"), "http://localhost:8080");
        assert_eq!(url("[::]:8080"), "http://localhost:8080");
        assert_eq!(url("[::1]:9000"), "http://localhost:9000");
        assert_eq!(url("192.0.2.7:8080"), "http://192.0.2.7:8080");
        assert_eq!(url("[2001:db8::1]:8080"), "http://[2001:db8::1]:8080");
    }

    #[test]
    fn public_urls_need_a_scheme_and_a_host() {
        assert!(check_public_url("https://shop.example").is_ok());
        assert!(check_public_url("http://localhost:8080/").is_ok());
        for bad in ["shop.example", "https://", "ftp://shop.example", "https:///path", "http://a b"] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_busy_port_is_named_with_the_flag_that_moves_it() {
        let e = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let text = bind_error("127.0.0.1:8080", "--listen", &e).to_string();
        assert_eq!(
            text,
            "cannot listen on 127.0.0.1:8080: the address is already in use (another Palisade or another program); \
             choose another with --listen, e.g. --listen 127.0.0.1:8081"
        );
        assert!(!text.contains('\n'));
    }
}
