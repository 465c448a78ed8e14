//! Effective configuration: flags > environment (`PALISADE_*`, handled by clap) > TOML file > defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cli::{GlobalArgs, LogFormat};

/// The TOML file's shape. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key_file: Option<PathBuf>,
    pub listen: Option<String>,
    pub behind_tls: Option<bool>,
    pub log_format: Option<LogFormat>,
    pub request_timeout_secs: Option<u64>,
    pub max_body_bytes: Option<usize>,
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    pub public_url: Option<String>,
    pub pwned_passwords_dir: Option<PathBuf>,
    /// Extra backup targets besides DATA_DIR/backups/repo: directories or `s3://bucket/prefix`.
    pub backup_targets: Option<Vec<String>>,
    /// The age recipients file backups are encrypted to [default: DATA_DIR/backups/recipients.txt].
    pub backup_recipients: Option<PathBuf>,
    /// A restore identity this node may read, for the scheduled restore drill (keep it off the data dir).
    pub backup_identity: Option<PathBuf>,
    pub backup_keep_daily: Option<u32>,
    pub backup_keep_weekly: Option<u32>,
    pub backup_keep_monthly: Option<u32>,
    /// The platform's fee on each completed order, in basis points (250 = 2.5%) [default: 0, at most 3000].
    pub platform_fee_bps: Option<u32>,
    /// Days a delivered order's money stays in escrow for buyer protection [default: 7, 1 to 90].
    pub buyer_protection_days: Option<u64>,
}

/// Where backups go and how long they stay.
#[derive(Debug, Clone)]
pub struct BackupSettings {
    /// Keys and the primary repository live here.
    pub dir: PathBuf,
    pub recipients: PathBuf,
    pub identity: Option<PathBuf>,
    pub extra_targets: Vec<String>,
    pub retention: palisade_backup::retention::Retention,
}

/// What the program runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: String,
    /// The database lives in the data dir (SQLite default), so the dir must be writable.
    pub database_in_data_dir: bool,
    pub master_key_file: PathBuf,
    pub objects_dir: PathBuf,
    pub listen: String,
    pub behind_tls: bool,
    pub log_format: LogFormat,
    pub request_timeout: Duration,
    pub max_body_bytes: usize,
    pub config_file: Option<PathBuf>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    /// How people reach this installation (links in emails); defaults to http://LISTEN.
    pub public_url: Option<String>,
    pub pwned_passwords_dir: Option<PathBuf>,
    pub backup: BackupSettings,
    /// The marketplace's business policy (platform fee, buyer-protection window), validated.
    pub commerce: palisade_commerce::policy::Policy,
}

/// Reads the TOML file, if one was named.
pub fn read_file(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else { return Ok(FileConfig::default()) };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config file {} is not valid", path.display()))
}

/// Merges flags/environment over the file over defaults.
/// The flags only `palisade serve` takes that override the configuration file; other commands pass
/// [`ServeFlags::NONE`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeFlags<'a> {
    /// `--listen`.
    pub listen: Option<&'a str>,
    /// `--behind-tls`: only ever turns the file's setting on.
    pub behind_tls: bool,
}

impl ServeFlags<'_> {
    pub const NONE: ServeFlags<'static> = ServeFlags { listen: None, behind_tls: false };
}

pub fn resolve(global: &GlobalArgs, flags: ServeFlags<'_>) -> anyhow::Result<Settings> {
    let ServeFlags { listen, behind_tls: behind_tls_flag } = flags;
    let file = read_file(global.config.as_deref())?;
    let data_dir = global.data_dir.clone().or(file.data_dir).unwrap_or_else(|| PathBuf::from("palisade-data"));
    let (database_url, database_in_data_dir) = match global.database_url.clone().or(file.database_url) {
        Some(url) => (url, false),
        None => (format!("sqlite://{}", data_dir.join("palisade.db").display()), true),
    };
    let master_key_file =
        global.master_key_file.clone().or(file.master_key_file).unwrap_or_else(|| data_dir.join("master.key"));
    let listen = listen.map(str::to_owned).or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    if listen.parse::<std::net::SocketAddr>().is_err() {
        bail!("listen address `{listen}` is not HOST:PORT with an IP address (e.g. 127.0.0.1:8080 or 0.0.0.0:8080)");
    }
    let request_timeout = Duration::from_secs(file.request_timeout_secs.unwrap_or(30).clamp(1, 600));
    let backup_dir = data_dir.join("backups");
    let defaults = palisade_backup::retention::Retention::default();
    let backup = BackupSettings {
        recipients: file.backup_recipients.unwrap_or_else(|| backup_dir.join(palisade_backup::keys::RECIPIENTS_FILE)),
        identity: file.backup_identity,
        extra_targets: file.backup_targets.unwrap_or_default(),
        retention: palisade_backup::retention::Retention {
            daily: file.backup_keep_daily.unwrap_or(defaults.daily),
            weekly: file.backup_keep_weekly.unwrap_or(defaults.weekly),
            monthly: file.backup_keep_monthly.unwrap_or(defaults.monthly),
        },
        dir: backup_dir,
    };
    let defaults = palisade_commerce::policy::Policy::default();
    let commerce = palisade_commerce::policy::Policy::new(
        file.platform_fee_bps.unwrap_or(defaults.platform_fee_bps()),
        file.buyer_protection_days
            .map_or(defaults.protection_window(), |d| Duration::from_secs(d.saturating_mul(24 * 3600))),
    )
    .context("the commerce policy in the config file (platform_fee_bps, buyer_protection_days) is not accepted")?;
    Ok(Settings {
        commerce,
        backup,
        objects_dir: data_dir.join("objects"),
        data_dir,
        database_url,
        database_in_data_dir,
        master_key_file,
        listen,
        behind_tls: behind_tls_flag || file.behind_tls.unwrap_or(false),
        log_format: crate::logging::for_stderr(global.log_format.or(file.log_format)),
        request_timeout,
        max_body_bytes: file.max_body_bytes.unwrap_or(1024 * 1024).clamp(1024, 64 * 1024 * 1024),
        config_file: global.config.clone(),
        smtp_url: file.smtp_url,
        public_url: global.public_url.clone().or(file.public_url),
        pwned_passwords_dir: global.pwned_passwords_dir.clone().or(file.pwned_passwords_dir),
        mail_from: file.mail_from.unwrap_or_else(|| "Palisade <no-reply@palisade.localhost>".to_owned()),
    })
}

/// The log format, resolved before anything else so that early failures are logged in the chosen format.
pub fn log_format(global: &GlobalArgs) -> LogFormat {
    crate::logging::for_stderr(
        global.log_format.or_else(|| read_file(global.config.as_deref()).ok().and_then(|f| f.log_format)),
    )
}
