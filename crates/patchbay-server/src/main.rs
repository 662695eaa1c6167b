//! `patchbay`: the telephony routing engine's server and command line.
//!
//! `patchbay serve` runs the HTTP API over a data directory; the other commands work on a
//! data directory (or a snapshot file) directly. See `patchbay --help`.

#![forbid(unsafe_code)]

mod cli;
mod http;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Routes phone calls to connectors: one number format, lock-free lookups, durable changes.
#[derive(Parser)]
#[command(name = "patchbay", version, propagate_version = true)]
#[command(
    after_help = "Start with `patchbay serve`: it creates a data directory, a default project and an API key, and prints a curl example."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    ///
    /// On first start with an empty data directory it creates account `default`, project
    /// `default` and an API key for it, and prints the key once. Stops gracefully on
    /// SIGINT/SIGTERM: finishes requests in flight, writes a checkpoint, exits 0.
    Serve(cli::ServeArgs),
    /// Answer SIP INVITEs as a stateless redirect server, from a snapshot file or a shared
    /// store it follows.
    Sip(cli::SipArgs),
    /// Manage projects.
    #[command(subcommand)]
    Project(cli::ProjectCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(cli::KeyCommand),
    /// Import numbers from a file (one per line, or the first CSV column; `-` for stdin).
    Import(cli::ImportArgs),
    /// Manage number prefixes: import from a file, list, delete.
    #[command(subcommand)]
    Prefix(cli::PrefixCommand),
    /// Look numbers up: one JSON line per number, with its connector and how it matched
    /// (`exact`, or `prefix +4420794600`), or an error.
    Lookup(cli::LookupArgs),
    /// Show the change history: one JSON line a change, newest first, with its time, actor
    /// and each mutation before and after.
    History(cli::HistoryArgs),
    /// Normalize numbers to E.164: from the arguments, or stdin one per line.
    ///
    /// Exits 1 if any input was rejected.
    Normalize(cli::NormalizeArgs),
    /// Export or inspect snapshot files.
    #[command(subcommand)]
    Snapshot(cli::SnapshotCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match &cli.command {
        Command::Serve(args) => args.log.log_format,
        Command::Sip(args) => args.log.log_format,
        _ => cli::LogFormat::Text,
    };
    cli::log::init(log_format);
    let result = match cli.command {
        Command::Serve(args) => cli::serve(args),
        Command::Sip(args) => cli::sip(args),
        Command::Project(command) => cli::project(command),
        Command::Key(command) => cli::key(command),
        Command::Import(args) => cli::import(args),
        Command::Prefix(command) => cli::prefix(command),
        Command::Lookup(args) => cli::lookup(args),
        Command::History(args) => cli::history(args),
        Command::Normalize(args) => cli::normalize(args),
        Command::Snapshot(command) => cli::snapshot(command),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            // A log shipper reads every line of a JSON log as JSON, the last one included.
            if log_format == cli::LogFormat::Json {
                tracing::error!("{message}");
            } else {
                eprintln!("patchbay: {message}");
            }
            ExitCode::from(2)
        }
    }
}
