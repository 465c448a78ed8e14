//! Command-line interface.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Palisade: a multi-tenant marketplace where platform and merchants share security, visibly.
#[derive(Debug, Parser)]
#[command(name = "palisade", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// TOML configuration file (flags and environment variables override it).
    #[arg(long, global = true, env = "PALISADE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where Palisade keeps its SQLite database, master key and objects [default: ./palisade-data].
    #[arg(long, global = true, env = "PALISADE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB [default: SQLite in the data dir].
    #[arg(long, global = true, env = "PALISADE_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Master key file [default: DATA_DIR/master.key]. Share the same key between nodes of one platform.
    #[arg(long, global = true, env = "PALISADE_MASTER_KEY_FILE", value_name = "FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The address people use to reach Palisade, for links in emails [default: http://LISTEN].
    #[arg(long, global = true, env = "PALISADE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Directory of Pwned Passwords range files (5-hex-digit SHA-1 prefix per file, `SUFFIX:COUNT` lines):
    /// new passwords found there are refused, on top of the bundled common-password list.
    #[arg(long, global = true, env = "PALISADE_PWNED_PASSWORDS_DIR", value_name = "DIR")]
    pub pwned_passwords_dir: Option<PathBuf>,
    /// Log format on stderr [default: text on a terminal, JSON otherwise].
    #[arg(long, global = true, env = "PALISADE_LOG_FORMAT", value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines (`pretty`, its earlier name, is still accepted).
    #[value(alias = "pretty")]
    #[serde(alias = "pretty")]
    Text,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web server and the background job runner.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit (a backup snapshot is taken first when the database has data).
    Migrate(MigrateArgs),
    /// Fill the database with a believable demo marketplace.
    Demo,
    /// Inspect the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Platform administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Platform backups: encrypted, deduplicated snapshots of the database and objects.
    #[command(subcommand)]
    Backup(BackupCommand),
    /// Personal data (PDPA): retention runs and their reports.
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// The extension catalog: publishers' keys and signed releases.
    #[command(subcommand)]
    Extensions(ExtensionsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ExtensionsCommand {
    /// Register a publisher's minisign public key (the `.pub` file `minisign -G` wrote), or rotate it.
    Publisher {
        /// The publisher's handle, as its manifests name it (e.g. `example-labs`).
        handle: String,
        /// The public key file.
        key: std::path::PathBuf,
    },
    /// Verify a signed release (archive + `.minisig`) against its publisher's key and add it to the catalog.
    Publish {
        /// The publisher's handle.
        publisher: String,
        /// The release archive (`.tar.gz`).
        archive: std::path::PathBuf,
        /// The minisign signature (default: the archive's name + `.minisig`).
        #[arg(long)]
        signature: Option<std::path::PathBuf>,
    },
    /// List the catalog: every release, newest first per extension.
    List,
}

#[derive(Debug, Subcommand)]
pub enum PrivacyCommand {
    /// Run personal-data retention now (abandoned carts, expired sign-in state, firewall events, refused requests
    /// past their keep-until, inactive buyers: notice then erasure) and print the counts per class, then the
    /// recent runs. The daily job `privacy.retention` does the same.
    Retention {
        /// Count what would be done; change nothing (recorded as a dry run).
        #[arg(long)]
        dry_run: bool,
    },
}

/// Exit status of `palisade migrate --check` when migrations are pending (0 means up to date).
pub const EXIT_MIGRATIONS_PENDING: u8 = 10;

#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Only list the pending migrations (number and name); apply nothing. Exits 0 when none are pending, 10 when
    /// some are.
    #[arg(long)]
    pub check: bool,
    /// Migrate without taking a backup snapshot first (recorded in the audit log). For when the snapshot cannot
    /// be taken and you have another copy.
    #[arg(long, conflicts_with = "check")]
    pub no_backup: bool,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take a snapshot on every target (DATA_DIR/backups/repo and configured ones), verify it, apply retention.
    /// The first run creates the key pair.
    Create,
    /// List the snapshots in a repository.
    List {
        /// A directory or s3://bucket/prefix [default: DATA_DIR/backups/repo].
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check every snapshot's chunks (sizes and hashes); with --read-data also decrypt and check every chunk.
    Verify {
        #[arg(long)]
        target: Option<String>,
        /// Only this snapshot (an id or `latest`).
        #[arg(long)]
        snapshot: Option<String>,
        /// Decrypt and check every chunk (needs the restore identity).
        #[arg(long)]
        read_data: bool,
        /// The restore identity file [default: backup_identity, or DATA_DIR/backups/restore-identity.txt].
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Restore a snapshot into a new data directory (and database). Refuses a non-empty target without --force.
    Restore {
        /// A snapshot id from `backup list`, or `latest`.
        snapshot: String,
        /// The new data directory (objects, master key, and the SQLite database unless --to-database-url).
        #[arg(long, value_name = "DIR")]
        to: std::path::PathBuf,
        /// Restore the database into this PostgreSQL (or SQLite) database instead.
        #[arg(long, value_name = "URL")]
        to_database_url: Option<String>,
        #[arg(long)]
        target: Option<String>,
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
        /// Replace a target database that already holds data.
        #[arg(long)]
        force: bool,
    },
    /// Delete snapshots outside the retention policy (newest; one per day, week, month; snapshots made by hand for
    /// the daily window) and the chunks only they used.
    Prune {
        #[arg(long)]
        target: Option<String>,
        #[arg(long)]
        keep_daily: Option<u32>,
        #[arg(long)]
        keep_weekly: Option<u32>,
        #[arg(long)]
        keep_monthly: Option<u32>,
        /// Show what would be deleted, delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Clone a merchant's export archive into a new store (passphrase on standard input).
    ImportStore {
        /// The `.palx` archive a merchant exported.
        #[arg(long, value_name = "FILE")]
        archive: std::path::PathBuf,
        /// The new store's slug.
        #[arg(long)]
        slug: String,
        /// The new store's owner (an existing staff account).
        #[arg(long, value_name = "EMAIL")]
        owner: String,
        /// The new store's name [default: the archived store's name].
        #[arg(long)]
        name: Option<String>,
    },
    /// Restore the latest snapshot into a scratch database and compare every table (recorded for the matrix).
    Drill {
        #[arg(long)]
        target: Option<String>,
        #[arg(long, value_name = "FILE")]
        identity: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "PALISADE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Create demo data first if the database has no stores yet, and print a console sign-in token.
    #[arg(long)]
    pub demo: bool,
    /// Palisade is reached over HTTPS (directly or via a TLS proxy): send HSTS and mark cookies Secure.
    #[arg(long, env = "PALISADE_BEHIND_TLS")]
    pub behind_tls: bool,
    /// Do not run background jobs on this node (it still serves HTTP).
    #[arg(long, env = "PALISADE_NO_JOBS")]
    pub no_jobs: bool,
    /// SMTP server for outgoing mail: smtp://host:port or smtps://user:password@host:465. Without it, mail
    /// stays in the development outbox shown in the operator console.
    #[arg(long, env = "PALISADE_SMTP_URL", value_name = "URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of outgoing mail.
    #[arg(long, env = "PALISADE_MAIL_FROM", value_name = "ADDRESS")]
    pub mail_from: Option<String>,
    /// Web application firewall: block (default), detect (log only) or off.
    #[arg(long, env = "PALISADE_SHIELD_MODE", value_name = "MODE", default_value = "block", value_parser = ["block", "detect", "off"])]
    pub shield_mode: String,
    /// Firewall paranoia level, 1 (fewest false positives) to 4 (most thorough), as the OWASP CRS.
    #[arg(long, env = "PALISADE_SHIELD_PARANOIA", value_name = "LEVEL", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub shield_paranoia: u8,
    /// Anomaly score (1–4, below the block threshold of 5) from which a page view is challenged with a proof of
    /// work instead of let through; 0 never challenges, as the OWASP CRS.
    #[arg(long, env = "PALISADE_SHIELD_CHALLENGE_FROM", value_name = "SCORE", default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=4))]
    pub shield_challenge_from: u32,
    /// A firewall exception for one field of one route, `METHOD PATH FIELD FAMILIES` (path segments may be `*`,
    /// a trailing `**` any rest; families comma-separated or `all`), e.g. `POST /s/*/contact message xss`; repeat
    /// for several. Palisade's own (product descriptions, theme sources, passwords) are always on.
    #[arg(long = "shield-exception", env = "PALISADE_SHIELD_EXCEPTIONS", value_name = "SPEC", value_delimiter = ';', value_parser = parse_exception)]
    pub shield_exceptions: Vec<palisade_shield::Exception>,
    /// Share rate limits between nodes through this Redis (redis://host:port); without it each node limits alone.
    #[arg(long, env = "PALISADE_REDIS_URL", value_name = "URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// A proxy (CIDR) whose X-Forwarded-For is believed for the client address; repeat for several.
    #[arg(long = "trusted-proxy", env = "PALISADE_TRUSTED_PROXIES", value_name = "CIDR", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Turn the rate limits off (they are on by default).
    #[arg(long, env = "PALISADE_NO_RATE_LIMITS")]
    pub no_rate_limits: bool,
    /// Storefront requests per second (sustained over 10 s) that switch "under attack" mode on by themselves;
    /// 0 never does.
    #[arg(long, env = "PALISADE_AUTO_ATTACK_MODE_RPS", value_name = "N", default_value_t = palisade_web::edge::challenge::AUTO_THRESHOLD_PER_SEC)]
    pub auto_attack_mode_rps: u64,
    /// Requests per second to one store's pages (sustained over 10 s) that switch that store's "under attack" mode
    /// on by itself; 0 never does.
    #[arg(long, env = "PALISADE_AUTO_ATTACK_MODE_STORE_RPS", value_name = "N", default_value_t = palisade_web::edge::challenge::AUTO_STORE_THRESHOLD_PER_SEC)]
    pub auto_attack_mode_store_rps: u64,
    /// Let merchants deliver exports to S3 endpoints on private addresses or plain HTTP (on-premises storage).
    #[arg(long, env = "PALISADE_EXPORTS_ALLOW_PRIVATE_S3")]
    pub exports_allow_private_s3: bool,
    /// Let installed apps' webhooks go to private addresses and plain HTTP (a receiver on a development machine).
    /// Never in production: an app's URL is its publisher's choice.
    #[arg(long, env = "PALISADE_WEBHOOKS_ALLOW_PRIVATE")]
    pub webhooks_allow_private: bool,
    /// A directory of OSV advisory files (and an optional `releases.json`, `{"latest": "X.Y.Z"}`): the console's
    /// Updates page checks the running version against it on each visit, and this node matches it against every
    /// store's installed extensions at start and hourly. No network needed. `--demo` brings its own.
    #[arg(long, env = "PALISADE_ADVISORIES_DIR", value_name = "DIR")]
    pub advisories_dir: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics without authentication on this address (e.g. 127.0.0.1:9464), apart from the
    /// public listener, where /metrics needs an operator token.
    #[arg(long, env = "PALISADE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// A MaxMind-format country database (e.g. GeoLite2-Country.mmdb) for merchants' country rules.
    #[arg(long, env = "PALISADE_GEOIP_DB", value_name = "PATH")]
    pub geoip_db: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify every hash chain (or one) and report the first broken link. Exits 1 if any chain is broken.
    Verify {
        /// Only this chain: `platform` or a store id.
        #[arg(long)]
        chain: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a platform operator (or reuse an existing one) and print a new API token for them, once.
    CreateOperator {
        /// The operator's email address.
        #[arg(long)]
        email: String,
        /// Display name [default: the email address].
        #[arg(long)]
        name: Option<String>,
        /// Days until the token expires (1–90).
        #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=90))]
        expires_days: u32,
    },
    /// Set an account's password, read from standard input (one line), after the password policy check.
    SetPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Record that the platform's fraud scoring rules of this release were reviewed (the matrix control
    /// `platform.fraud-rules-reviewed` compares the recorded version with the running one).
    FraudRulesReviewed {
        /// Who reviewed them (name or email), as the audit log and the control show it.
        #[arg(long)]
        by: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the effective configuration and check that it works (data dir, key, database, schema).
    Check,
}

/// Prints clap's message whole (what is missing or wrong, "did you mean", the valid values, the usage line) and
/// returns clap's exit code: 2 for a usage error, 0 for `--help` and `--version`.
pub fn usage_error(e: &clap::Error) -> ExitCode {
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}

fn parse_exception(spec: &str) -> Result<palisade_shield::Exception, String> {
    palisade_shield::Exception::parse(spec).map_err(|e| e.to_string())
}
