//! `patchbay`: the telephony routing engine's server and command line.
//!
//! `patchbay serve` runs the HTTP API over a data directory; the other commands work on a
//! data directory (or a snapshot file) directly. See `patchbay --help`.

#![forbid(unsafe_code)]

mod cli;
mod http;

use std::net::SocketAddr;
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
    Serve {
        #[command(flatten)]
        data: cli::DataArg,
        /// The address to listen on (loopback by default; use 0.0.0.0:PORT to expose it).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Read national-format numbers in this region (ISO 3166 code such as GB).
        #[arg(long, value_name = "CC")]
        region: Option<String>,
        /// Import numbers of a possible length even when the metadata does not know them
        /// as valid (for ranges newer than the metadata).
        #[arg(long)]
        accept_possible: bool,
        /// The most numbers or ids one bulk call may carry.
        #[arg(long, value_name = "N", default_value_t = 10_000)]
        max_bulk: usize,
        /// The largest request body, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = 8 << 20)]
        max_body: usize,
        /// Also answer SIP INVITEs on this address (UDP and TCP), from the server's own
        /// router; the counters join /metrics.
        #[arg(long, value_name = "ADDR")]
        sip: Option<SocketAddr>,
        /// The redirect target of `--sip` (placeholders: {number}, {connectorId},
        /// {projectId}, {accountId}, {clientEnv}, {variantId}, {asrLangCode}, {ttsLangCode},
        /// {voiceName}).
        #[arg(long, value_name = "TEMPLATE", default_value = patchbay_sip::ContactTemplate::DEFAULT)]
        contact: String,
    },
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
    /// Normalize numbers to E.164: from the arguments, or stdin one per line.
    ///
    /// Exits 1 if any input was rejected.
    Normalize(cli::NormalizeArgs),
    /// Export or inspect snapshot files.
    #[command(subcommand)]
    Snapshot(cli::SnapshotCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PATCHBAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            data,
            listen,
            region,
            accept_possible,
            max_bulk,
            max_body,
            sip,
            contact,
        } => cli::serve(cli::ServeOptions {
            data,
            listen,
            region,
            accept_possible,
            max_bulk,
            max_body,
            sip: sip.map(|addr| (addr, contact)),
        }),
        Command::Sip(args) => cli::sip(args),
        Command::Project(command) => cli::project(command),
        Command::Key(command) => cli::key(command),
        Command::Import(args) => cli::import(args),
        Command::Prefix(command) => cli::prefix(command),
        Command::Lookup(args) => cli::lookup(args),
        Command::Normalize(args) => cli::normalize(args),
        Command::Snapshot(command) => cli::snapshot(command),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("patchbay: {message}");
            ExitCode::from(2)
        }
    }
}
