//! One module per command.

mod admin;
mod audit;
mod backup;
mod config_check;
mod demo;
mod demo_extensions;
mod demo_history;
mod demo_images;
mod demo_shop;
mod extensions;
mod jobs;
mod migrate;
mod privacy;
mod serve;

use std::process::ExitCode;

use crate::cli::{AdminCommand, AuditCommand, Cli, Command, ConfigCommand, PrivacyCommand};
use crate::{config, logging};

/// How a command prints its result: for a person, or as JSON for a script (`--json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let format = config::log_format(&cli.global);
    // The server logs its work; one-shot commands print their own summary and log only problems
    // (Long reads such as backup dumps are expected to be slow: sqlx's slow-statement warnings are noise there.)
    let level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn,sqlx::query=error" };
    logging::init(format, level);
    match cli.command {
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Migrate(args) => migrate::run(&cli.global, &args).await,
        Command::Demo => demo::run(&cli.global).await,
        Command::Audit(AuditCommand::Verify { chain, json }) => {
            audit::verify(&cli.global, chain, if json { Output::Json } else { Output::Text }).await
        }
        Command::Admin(AdminCommand::CreateOperator { email, name, expires_days }) => {
            admin::create_operator(&cli.global, &email, name, expires_days).await
        }
        Command::Admin(AdminCommand::SetPassword { email }) => admin::set_password(&cli.global, &email).await,
        Command::Admin(AdminCommand::FraudRulesReviewed { by }) => admin::fraud_rules_reviewed(&cli.global, &by).await,
        Command::Config(ConfigCommand::Check) => config_check::run(&cli.global).await,
        Command::Backup(command) => backup::run(&cli.global, command).await,
        Command::Extensions(command) => extensions::run(&cli.global, command).await,
        Command::Privacy(PrivacyCommand::Retention { dry_run }) => {
            use palisade_commerce::retention::Mode;
            privacy::retention(&cli.global, if dry_run { Mode::DryRun } else { Mode::Apply }).await
        }
    }
}
