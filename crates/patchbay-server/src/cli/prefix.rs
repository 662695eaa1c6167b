//! `patchbay prefix`: the operator's commands for number prefixes on a data directory.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use patchbay_admin::{AdminConfig, Caller, PrefixImportRequest};
use serde_json::json;

use super::import::{import_progress, open_input, report_import, Batches};
use super::{open_admin, open_read_only, CliResult, DataArg};

/// Manage number prefixes (DID blocks, ranges, whole countries).
#[derive(Subcommand)]
pub enum PrefixCommand {
    /// Route the prefixes of a file to a connector: one prefix per line (or the first CSV
    /// column; `-` for stdin), wildcards allowed (`+44 20 7946 00xx`, `+4420794600*`).
    ///
    /// Prints one line per refused prefix with its line number, and exits 1 if any was.
    Import(ImportArgs),
    /// List the prefixes of a project: one JSON line each, in order.
    List(ListArgs),
    /// Delete prefixes of a project.
    ///
    /// Exits 1 if any of them was not deleted (not found, or not a prefix).
    Delete(DeleteArgs),
}

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataArg,
    /// The project of the connector.
    #[arg(long)]
    project: String,
    /// The connector the prefixes route to (they take its environment).
    #[arg(long)]
    connector: String,
    /// Prefixes per change (each change is one durable, atomic publish).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// The file: one prefix per line, or CSV whose first column is the prefix; `-` is stdin.
    file: PathBuf,
}

#[derive(Args)]
pub struct ListArgs {
    /// Where the data is (a data directory is read without its lock: a server may own it).
    #[command(flatten)]
    data: DataArg,
    /// The project.
    #[arg(long)]
    project: String,
    /// Only this connector's prefixes.
    #[arg(long)]
    connector: Option<String>,
}

#[derive(Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    data: DataArg,
    /// The project.
    #[arg(long)]
    project: String,
    /// The prefixes, in any accepted form.
    #[arg(required = true)]
    prefixes: Vec<String>,
}

pub fn prefix(command: PrefixCommand) -> CliResult {
    match command {
        PrefixCommand::Import(args) => import(args),
        PrefixCommand::List(args) => list(args),
        PrefixCommand::Delete(args) => delete(args),
    }
}

fn import(args: ImportArgs) -> CliResult {
    let batch = args.batch.max(1);
    let config = AdminConfig {
        max_bulk: batch,
        ..AdminConfig::default()
    };
    let (input, size) = open_input(&args.file)?;
    let admin = open_admin(&args.data, config)?;
    let progress = import_progress(size);
    let reader = std::io::BufReader::new(progress.wrap_read(input));
    let batches = Batches {
        lines: reader.lines(),
        at: 0,
        batch,
    };
    let (mut read, mut imported) = (0usize, 0usize);
    let mut errors = Vec::new();
    for chunk in batches {
        let chunk = chunk.map_err(|e| {
            progress.abandon();
            format!(
                "{}: {e} ({imported} prefixes were imported before this)",
                args.file.display()
            )
        })?;
        read += chunk.len();
        let (lines, prefixes): (Vec<usize>, Vec<String>) = chunk.into_iter().unzip();
        let request = PrefixImportRequest {
            prefixes,
            connector_id: args.connector.clone(),
        };
        let result = admin
            .import_prefixes(&Caller::Operator, &args.project, &request)
            .map_err(|e| {
                progress.abandon();
                format!(
                    "import into {}: {e} ({imported} prefixes were imported before this)",
                    args.project
                )
            })?;
        imported += result.imported.len();
        progress.set_message(format!("{imported} prefixes"));
        // Errors come in input order: each is the next line with its text.
        let mut listed = lines.iter().zip(&request.prefixes);
        for failure in result.errors {
            let line = listed
                .find(|(_, text)| **text == failure.prefix)
                .map_or(0, |(line, _)| *line);
            errors.push((line, failure));
        }
    }
    progress.finish_and_clear();
    admin.checkpoint().map_err(|e| e.to_string())?;
    let summary = format!(
        "imported {imported} of {read} prefixes into project {}",
        args.project
    );
    let lines = errors
        .iter()
        .map(|(line, f)| (*line, f.prefix.as_str(), &f.error));
    Ok(report_import(&summary, lines))
}

fn list(args: ListArgs) -> CliResult {
    let admin = open_read_only(&args.data)?;
    let prefixes = admin
        .list_prefixes(&Caller::Operator, &args.project, args.connector.as_deref())
        .map_err(|e| e.to_string())?;
    for prefix in prefixes {
        println!("{}", json!(prefix));
    }
    Ok(ExitCode::SUCCESS)
}

fn delete(args: DeleteArgs) -> CliResult {
    let admin = open_admin(&args.data, AdminConfig::default())?;
    let result = admin
        .delete_prefixes(&Caller::Operator, &args.project, &args.prefixes)
        .map_err(|e| e.to_string())?;
    admin.checkpoint().map_err(|e| e.to_string())?;
    for prefix in &result.deleted {
        println!("{}", json!({"deleted": prefix}));
    }
    for failure in &result.errors {
        println!(
            "{}",
            json!({"prefix": failure.prefix, "error": {"code": failure.error.code().as_str(), "message": failure.error.message()}})
        );
    }
    Ok(if result.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
