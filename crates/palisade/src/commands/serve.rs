//! `palisade serve`

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_store::jobs::{self, RunnerConfig};
use palisade_web::{AppState, WebConfig};
use tokio::sync::watch;

use super::{demo, jobs as builtin};
use crate::cli::{GlobalArgs, ServeArgs};
use crate::{config, runtime};

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut settings = config::resolve(global, args.listen.as_deref(), args.behind_tls)?;
    if args.smtp_url.is_some() {
        settings.smtp_url = args.smtp_url.clone();
    }
    if let Some(from) = &args.mail_from {
        settings.mail_from = from.clone();
    }
    let mailer = Arc::new(crate::mail::Mailer::new(settings.smtp_url.as_deref(), &settings.mail_from)?);
    let inst = runtime::open(settings, true).await?;
    let db = inst.db.clone();
    let listen = inst.settings.listen.clone();

    if args.demo {
        let token = demo::ensure(&inst).await?;
        println!("\nDemo marketplace ready. Operator console: {}/console", default_public_url(&listen));
        println!("Sign in with this operator token (valid 7 days, shown once):\n\n    {token}\n");
        println!(
            "Merchant staff: sign in at http://{listen}/login as meilin@lioncitytea.example with the password {:?}",
            demo::DEMO_PASSWORD
        );
        println!("(owner of Lion City Tea House; every demo staff account uses that password).\n");
    }

    builtin::install_schedules(&db).await?;
    // Zero-config backups: the key pair exists from the first start, so the daily snapshot can run.
    if let (_, Some(identity)) = crate::backups::recipients(&inst.settings)? {
        tracing::warn!("{}", crate::backups::identity_warning(&identity));
        eprintln!("\n*** {} ***\n", crate::backups::identity_warning(&identity));
    }
    let registry = Arc::new(inst.registry.clone());
    let facts = Arc::new(inst.facts.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let public_url = inst.settings.public_url.clone().unwrap_or_else(|| default_public_url(&listen));

    let node = format!("{}-{}", hostname(), std::process::id());
    let runner = if args.no_jobs {
        None
    } else {
        let cfg = RunnerConfig {
            node: node.clone(),
            hostname: hostname(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            poll: Duration::from_millis(500),
            lease: Duration::from_secs(300),
        };
        tracing::info!(node = %node, "job runner started");
        let backup_jobs = Arc::new(crate::backups::BackupJobs {
            settings: inst.settings.clone(),
            outbound: palisade_store::outbound::OutboundPolicy::from_operator_flag(args.exports_allow_private_s3),
        });
        let policy = inst.settings.commerce;
        let handlers =
            builtin::handlers(registry.clone(), facts.clone(), mailer.clone(), public_url.clone(), backup_jobs, policy);
        let mut rx = stop_rx.clone();
        let db = db.clone();
        Some(tokio::spawn(async move {
            jobs::run(db, handlers, cfg, async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await;
        }))
    };

    let web = WebConfig {
        behind_tls: inst.settings.behind_tls,
        request_timeout: inst.settings.request_timeout,
        max_body_bytes: inst.settings.max_body_bytes,
        public_url: public_url.clone(),
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
        limits: palisade_web::edge::limits::LimitsConfig::default(),
        shedding: palisade_web::edge::shedding::SheddingConfig::default(),
        auto_attack_rps: args.auto_attack_mode_rps,
        auto_attack_store_rps: args.auto_attack_mode_store_rps,
        exports_allow_private_s3: args.exports_allow_private_s3,
        commerce: inst.settings.commerce,
    };
    let mut trusted = Vec::new();
    for cidr in &args.trusted_proxies {
        trusted.push(cidr.parse::<ipnet::IpNet>().map_err(|e| anyhow::anyhow!("--trusted-proxy {cidr}: {e}"))?);
    }
    let limits = palisade_web::edge::limits::LimitsConfig {
        enabled: !args.no_rate_limits,
        redis_url: args.redis_url.clone(),
        trusted_proxies: trusted.clone(),
        ..palisade_web::edge::limits::LimitsConfig::default()
    };
    let mut web = web;
    web.limits = limits.clone();
    if web.shield.policy.mode != palisade_shield::Mode::Block {
        tracing::warn!(mode = web.shield.policy.mode.as_str(), "the web application firewall is not blocking");
    }
    let identity = palisade_identity::Identity::new(db.clone(), &inst.master_key, "Palisade");
    let identity = match identity.clone().with_passkeys(&web.public_url) {
        Ok(with) => with,
        Err(why) => {
            tracing::warn!(public_url = %web.public_url, "passkeys disabled: {why}");
            identity
        }
    };
    let objects = palisade_store::Objects::local(&inst.settings.objects_dir)?;
    // What this node runs, reported once it is listening.
    let reported = web.clone();
    let state = AppState::new(db.clone(), inst.registry, inst.facts, web, identity, objects)
        .context("loading page templates")?
        .with_master_key(inst.master_key.expose());
    let state = match &args.geoip_db {
        Some(path) => {
            let geo = palisade_web::edge::geoip::GeoIp::open(path).map_err(|e| anyhow::anyhow!("--geoip-db {e}"))?;
            tracing::info!(path = %path.display(), "GeoIP database loaded: country rules available");
            state.with_geoip(geo)
        }
        None => state,
    };
    let state = if limits.redis_url.is_some() {
        let shared = palisade_web::edge::limits::Limiter::new(limits).await.map_err(|e| anyhow::anyhow!(e))?;
        tracing::info!("rate limits shared through Redis");
        state.with_limiter(shared)
    } else {
        state
    };
    let app = palisade_web::router(state);
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    // What this node runs, for the firewall controls of the responsibility matrix: renewed while it runs,
    // withdrawn when it stops.
    palisade_web::edge::shield::report_node(&db, &node, &reported).await?;
    let reporter = {
        let (db, node, web, mut stop) = (db.clone(), node.clone(), reported.clone(), stop_rx.clone());
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
    };
    let metrics_server = match args.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen for metrics on {addr}"))?;
            tracing::info!(metrics.listen = %addr, "metrics served without authentication on their own listener");
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stop| *stop).await;
                };
                palisade_web::serve_metrics(listener, shutdown).await
            }))
        }
        None => None,
    };
    tracing::info!(listen = %listen, database = db.display_url(), smtp = mailer.is_configured(), "palisade is serving");

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

/// `http://localhost:PORT` when listening on loopback (browsers accept passkeys for localhost, not for IPs),
/// otherwise `http://LISTEN`.
fn default_public_url(listen: &str) -> String {
    match listen.parse::<std::net::SocketAddr>() {
        Ok(addr) if addr.ip().is_loopback() => format!("http://localhost:{}", addr.port()),
        _ => format!("http://{listen}"),
    }
}
