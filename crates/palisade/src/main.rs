#![doc = include_str!("../README.md")]

mod backups;
mod cli;
mod commands;
mod config;
mod logging;
mod mail;
mod runtime;
mod upgrade;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a request allocates and frees many small objects on both cores, and
/// glibc's malloc spent about a quarter of the CPU of a `/healthz` load in its own bookkeeping (bench/storefront.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::usage_error(&e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
