//! The commands: `serve` and the operator's commands on a data directory or snapshot file
//! (prefixes in `prefix`).

mod prefix;
mod sip;
mod store;

pub use prefix::{prefix, PrefixCommand};
pub use sip::{sip, start_sip, SipArgs};
pub use store::{open_admin, open_read_only, DataArg};

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

use clap::{Args, Subcommand};
use patchbay_admin::{AdminConfig, Caller, ImportRequest, NumberCheck};
use patchbay_core::{normalize_in, ClientEnv, Region, Router, Snapshot};
use serde_json::json;

use crate::http::{self, AppState, Limits};

/// Options of `patchbay serve`.
pub struct ServeOptions {
    pub data: DataArg,
    pub listen: SocketAddr,
    pub region: Option<String>,
    pub accept_possible: bool,
    pub max_bulk: usize,
    pub max_body: usize,
    /// Answer SIP on this address too, with this contact template.
    pub sip: Option<(SocketAddr, String)>,
}

type CliResult = Result<ExitCode, String>;

fn parse_region(region: Option<&str>) -> Result<Option<Region>, String> {
    region
        .map(|r| {
            r.parse::<Region>()
                .map_err(|e| format!("--region {r:?}: {e}"))
        })
        .transpose()
}

pub fn serve(opts: ServeOptions) -> CliResult {
    let config = AdminConfig {
        number_check: if opts.accept_possible {
            NumberCheck::Possible
        } else {
            NumberCheck::Valid
        },
        default_region: parse_region(opts.region.as_deref())?,
        max_bulk: opts.max_bulk,
        ..AdminConfig::default()
    };
    let admin = Arc::new(open_admin(&opts.data, config)?);
    if admin.follow().is_some() {
        tracing::info!(node = %opts.data.node_name(), "following the shared store");
    }
    // Load the numbering metadata now, not on the first caller's import.
    let _ = normalize_in("020 7946 0958", "GB".parse().ok());
    let new_key = admin.bootstrap().map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let sip_front = match &opts.sip {
        Some((addr, contact)) => Some(start_sip(
            admin.router().clone(),
            *addr,
            contact,
            parse_region(opts.region.as_deref())?,
        )?),
        None => None,
    };
    let state = Arc::new(AppState {
        admin: Arc::clone(&admin),
        metrics: http::metrics::Metrics::default(),
        ready: AtomicBool::new(true),
        sip: sip_front.as_ref().map(|(_, counters)| counters.clone()),
    });
    let limits = Limits {
        body_bytes: opts.max_body,
        ..Limits::default()
    };
    let data = opts.data.clone();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", opts.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        // Install the handlers before announcing the address: a signal that arrives right
        // after must stop the server gracefully, not kill it.
        let shutdown = shutdown_signal().map_err(|e| format!("cannot install signal handlers: {e}"))?;
        let mut out = std::io::stdout().lock();
        if let Some(key) = new_key {
            let _ = writeln!(
                out,
                "Created account `default`, project `default` and this API key (shown once, keep it):\n\n    {key}\n\nTry it:\n\n    curl -s http://{addr}/v1/agents/default/telephony/connectors -H 'x-api-key: {key}'\n"
            );
        }
        if let Some((front, _)) = &sip_front {
            let _ = writeln!(out, "patchbay sip on {} (udp, tcp)", front.local_addr());
        }
        // Last line of the start-up output: scripts wait for it.
        let _ = writeln!(out, "patchbay listening on http://{addr} ({})", opts.data.describe());
        let _ = out.flush();
        drop(out);
        axum::serve(listener, http::app(state, limits))
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|e| format!("server error: {e}"))
    })?;
    admin.checkpoint().map_err(|e| {
        format!("stopped, but the final checkpoint failed (the journal is intact): {e}")
    })?;
    eprintln!("patchbay: stopped; data is durable ({})", data.describe());
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM; the handlers are installed when this is called.
pub(crate) fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    })
}

// ---- project -----------------------------------------------------------------------------

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project (the account is created if new).
    Create {
        #[command(flatten)]
        data: DataArg,
        /// The account that owns the project.
        #[arg(long)]
        account: String,
        /// The project id (used as `{agentId}` in the HTTP paths).
        project: String,
    },
    /// List projects.
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

pub fn project(command: ProjectCommand) -> CliResult {
    match command {
        ProjectCommand::Create {
            data,
            account,
            project,
        } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            admin
                .create_project(&Caller::Operator, &account, &project)
                .map_err(|e| e.to_string())?;
            println!("created project {project} in account {account}");
        }
        ProjectCommand::List { data } => {
            let admin = open_read_only(&data)?;
            for p in admin
                .list_projects(&Caller::Operator)
                .map_err(|e| e.to_string())?
            {
                println!("{}\t{}", p.account_id, p.project_id);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---- key ---------------------------------------------------------------------------------

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key; prints the key alone on stdout (it is shown only this once).
    Create {
        #[command(flatten)]
        data: DataArg,
        /// The account the key belongs to.
        #[arg(long)]
        account: String,
        /// A project the key grants (repeat for several); none: every project of the account.
        #[arg(long = "project", value_name = "PROJECT")]
        projects: Vec<String>,
        /// A note for people (who or what uses the key).
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        #[command(flatten)]
        data: DataArg,
        /// The key id (`key_...`, as `key list` shows it).
        id: String,
    },
}

pub fn key(command: KeyCommand) -> CliResult {
    match command {
        KeyCommand::Create {
            data,
            account,
            projects,
            label,
        } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            let (secret, _) = admin
                .create_key(&Caller::Operator, &account, &projects, &label)
                .map_err(|e| e.to_string())?;
            println!("{secret}");
        }
        KeyCommand::List { data } => {
            let admin = open_read_only(&data)?;
            for key in admin
                .list_keys(&Caller::Operator)
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{}",
                    serde_json::to_string(&key).map_err(|e| e.to_string())?
                );
            }
        }
        KeyCommand::Revoke { data, id } => {
            let admin = open_admin(&data, AdminConfig::default())?;
            admin
                .revoke_key(&Caller::Operator, &id)
                .map_err(|e| e.to_string())?;
            println!("revoked {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---- import ------------------------------------------------------------------------------

#[derive(Args)]
pub struct ImportArgs {
    #[command(flatten)]
    data: DataArg,
    /// The project to import into.
    #[arg(long)]
    project: String,
    /// The numbers' environment: sandbox, pre-release or live (default: the connector's,
    /// or live).
    #[arg(long)]
    env: Option<ClientEnv>,
    /// Assign every number to this connector.
    #[arg(long)]
    connector: Option<String>,
    /// Read national-format numbers in this region (ISO 3166 code such as GB).
    #[arg(long, value_name = "CC")]
    region: Option<String>,
    /// Accept numbers of a possible length that the metadata does not know as valid.
    #[arg(long)]
    accept_possible: bool,
    /// Numbers per change (each change is one durable, atomic publish).
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// The file: one number per line, or CSV whose first column is the number; `-` is stdin.
    file: PathBuf,
}

/// The numbers of a file, `batch` at a time: the first CSV column of each non-empty,
/// non-comment line, with its line number. A first line without digits is a header and is
/// skipped. Only one batch is held at a time, so memory stays bounded however long the file.
struct Batches<R> {
    lines: std::io::Lines<R>,
    at: usize,
    batch: usize,
}

impl<R: BufRead> Iterator for Batches<R> {
    type Item = Result<Vec<(usize, String)>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut out = Vec::new();
        while out.len() < self.batch {
            let line = match self.lines.next() {
                None => break,
                Some(Ok(line)) => line,
                Some(Err(e)) => return Some(Err(format!("line {}: {e}", self.at + 1))),
            };
            self.at += 1;
            let first = line
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches('"')
                .trim();
            if first.is_empty() || first.starts_with('#') {
                continue;
            }
            if self.at == 1 && !first.chars().any(|c| c.is_ascii_digit()) {
                continue;
            }
            out.push((self.at, first.to_string()));
        }
        (!out.is_empty()).then_some(Ok(out))
    }
}

/// A bar over the file's bytes, or a spinner when the size is unknown (standard input).
fn import_progress(size: Option<u64>) -> indicatif::ProgressBar {
    match size {
        Some(size) => indicatif::ProgressBar::new(size).with_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left) {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} importing {bytes} read {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        ),
    }
}

pub fn import(args: ImportArgs) -> CliResult {
    let config = AdminConfig {
        number_check: if args.accept_possible {
            NumberCheck::Possible
        } else {
            NumberCheck::Valid
        },
        default_region: parse_region(args.region.as_deref())?,
        max_bulk: args.batch.max(1),
        ..AdminConfig::default()
    };
    let (input, size) = open_input(&args.file)?;
    let admin = open_admin(&args.data, config)?;
    let progress = import_progress(size);
    let reader = std::io::BufReader::with_capacity(1 << 20, progress.wrap_read(input));
    let read_error = std::sync::Mutex::new(None);
    let read = AtomicUsize::new(0);
    let requests = Batches {
        lines: reader.lines(),
        at: 0,
        batch: args.batch.max(1),
    }
    .map_while(|batch| match batch {
        Ok(chunk) => Some(chunk),
        Err(e) => {
            if let Ok(mut first) = read_error.lock() {
                first.get_or_insert(e);
            }
            None
        }
    })
    .map(|chunk| {
        read.fetch_add(chunk.len(), Relaxed);
        let (lines, numbers): (Vec<usize>, Vec<String>) = chunk.into_iter().unzip();
        let request = ImportRequest {
            phone_numbers: numbers,
            client_env: args.env,
            connector_id: args.connector.clone(),
        };
        (request, lines)
    });
    let imported = AtomicUsize::new(0);
    let errors = std::sync::Mutex::new(Vec::new());
    let stored = admin.import_batches(
        &Caller::Operator,
        &args.project,
        requests,
        |lines, request, result| {
            let total = imported.fetch_add(result.imported.len(), Relaxed) + result.imported.len();
            progress.set_message(format!("{total} numbers"));
            // Errors come in input order: match each to the next line with its text, so
            // that a number listed twice is reported at the line of its second listing.
            let mut listed = lines.iter().zip(&request.phone_numbers);
            let located = result.errors.into_iter().map(|failure| {
                let line = listed
                    .find(|(_, text)| **text == failure.phone_number)
                    .map_or(0, |(line, _)| *line);
                (line, failure)
            });
            if let Ok(mut errors) = errors.lock() {
                errors.extend(located);
            }
        },
    );
    let read_error = read_error.into_inner().ok().flatten();
    if let Err(e) = stored {
        progress.abandon();
        return Err(format!(
            "import into {}: {e} ({} numbers were imported before this)",
            args.project,
            imported.load(Relaxed)
        ));
    }
    if let Some(e) = read_error {
        progress.abandon();
        return Err(format!(
            "{}: {e} ({} numbers were imported before this)",
            args.file.display(),
            imported.load(Relaxed)
        ));
    }
    progress.finish_and_clear();
    admin.checkpoint().map_err(|e| e.to_string())?;
    let mut errors = errors
        .into_inner()
        .map_err(|_| "an import thread failed".to_string())?;
    errors.sort_by_key(|(line, _)| *line);
    let summary = format!(
        "imported {} of {} numbers into project {}",
        imported.into_inner(),
        read.into_inner(),
        args.project
    );
    let lines = errors
        .iter()
        .map(|(line, f)| (*line, f.phone_number.as_str(), &f.error));
    Ok(report_import(&summary, lines))
}

/// The file to import, or standard input for `-`, with its size when known.
fn open_input(path: &Path) -> Result<(Box<dyn std::io::Read + Send>, Option<u64>), String> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), size))
}

/// Prints an import's summary, its error count, then each refused input with its line; the
/// exit status is 1 if any was refused.
fn report_import<'a>(
    summary: &str,
    errors: impl ExactSizeIterator<Item = (usize, &'a str, &'a patchbay_admin::AdminError)>,
) -> ExitCode {
    let count = errors.len();
    println!("{summary} ({count} errors)");
    for (line, input, error) in errors {
        println!(
            "  line {line}: {input:?}: {}: {}",
            error.code(),
            error.message()
        );
    }
    if count == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

// ---- lookup ------------------------------------------------------------------------------

#[derive(Args)]
pub struct LookupSource {
    /// Look up in this data directory (read-only: a running server may own it).
    #[arg(long, value_name = "DIR", conflicts_with = "snapshot")]
    data: Option<PathBuf>,
    /// Look up in this snapshot file.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// Look up in this shared PostgreSQL store, as it is now.
    #[arg(long, value_name = "URL", env = "PATCHBAY_STORE")]
    store: Option<String>,
}

#[derive(Args)]
pub struct LookupArgs {
    #[command(flatten)]
    source: LookupSource,
    /// Numbers in any accepted form.
    #[arg(required = true)]
    numbers: Vec<String>,
}

pub fn lookup(args: LookupArgs) -> CliResult {
    let source = &args.source;
    let router = match (&source.snapshot, &source.store, &source.data) {
        (Some(file), _, _) => Router::new(Snapshot::open(file).map_err(|e| e.to_string())?),
        (None, None, None) => return Err("give --data DIR, --snapshot FILE or --store URL".into()),
        (None, store, data) => open_read_only(&DataArg {
            data: data.clone(),
            store: store.clone(),
            node: None,
        })?
        .router()
        .clone(),
    };
    let mut reader = router.reader();
    let mut all_found = true;
    for input in &args.numbers {
        let line = match reader.lookup(input) {
            Ok(Some(route)) => {
                json!({"input": input, "phoneNumber": route.number, "match": route.matched.to_string(), "connector": route.connector, "version": route.version})
            }
            Ok(None) => {
                all_found = false;
                json!({"input": input, "error": {"code": "not_found", "message": "no connector serves this number"}})
            }
            Err(e) => {
                all_found = false;
                json!({"input": input, "error": {"code": "invalid_phone_number", "reason": e.reason(), "message": e.to_string()}})
            }
        };
        println!("{line}");
    }
    Ok(if all_found {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

// ---- normalize ---------------------------------------------------------------------------

#[derive(Args)]
pub struct NormalizeArgs {
    /// Read national-format numbers in this region (ISO 3166 code such as GB).
    #[arg(long, value_name = "CC")]
    region: Option<String>,
    /// One JSON object per line: {"input":…,"e164":…} or {"input":…,"error":{…}}.
    #[arg(long)]
    json: bool,
    /// Numbers; when none are given, stdin is read one number per line.
    numbers: Vec<String>,
}

pub fn normalize(args: NormalizeArgs) -> CliResult {
    let region = parse_region(args.region.as_deref())?;
    let inputs: Vec<String> = if args.numbers.is_empty() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("stdin: {e}"))?
    } else {
        args.numbers
    };
    let mut rejected = false;
    let mut out = std::io::stdout().lock();
    for input in &inputs {
        let result = normalize_in(input, region);
        rejected |= result.is_err();
        let written = match (&result, args.json) {
            (Ok(n), false) => writeln!(out, "{n}"),
            (Ok(n), true) => writeln!(out, "{}", json!({"input": input, "e164": n})),
            (Err(e), false) => {
                eprintln!("patchbay: {input:?}: {e}");
                Ok(())
            }
            (Err(e), true) => writeln!(
                out,
                "{}",
                json!({"input": input, "error": {"code": e.reason(), "message": e.to_string()}})
            ),
        };
        written.map_err(|e| format!("stdout: {e}"))?;
    }
    Ok(if rejected {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

// ---- snapshot ----------------------------------------------------------------------------

#[derive(Subcommand)]
pub enum SnapshotCommand {
    /// Write the data directory's current routing snapshot to a file (atomically).
    Export {
        #[command(flatten)]
        data: DataArg,
        /// The file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a snapshot file's version, counts, checksum and size (after validating it).
    Inspect {
        /// The snapshot file.
        file: PathBuf,
    },
}

pub fn snapshot(command: SnapshotCommand) -> CliResult {
    match command {
        SnapshotCommand::Export { data, out } => {
            let admin = open_read_only(&data)?;
            let snapshot = admin.router().snapshot();
            let size = snapshot.write_to(&out).map_err(|e| e.to_string())?;
            println!(
                "wrote snapshot version {} ({} numbers, {} connectors, {size} bytes) to {}",
                snapshot.version(),
                snapshot.len(),
                snapshot.connector_count(),
                out.display()
            );
        }
        SnapshotCommand::Inspect { file } => {
            let snapshot = Snapshot::open(&file).map_err(|e| e.to_string())?;
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            // `open` validated the header, so the stored checksum is the file's.
            let checksum = bytes
                .get(patchbay_core::CHECKSUM_AT..patchbay_core::CHECKSUM_AT + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_le_bytes);
            let published = snapshot
                .published_at()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            println!("file: {}", file.display());
            println!("format: {}", patchbay_core::FORMAT_VERSION);
            println!("version: {}", snapshot.version());
            println!("published_at_unix: {published}");
            println!("numbers: {}", snapshot.len());
            println!("connectors: {}", snapshot.connector_count());
            println!("checksum: crc32:{checksum:08x}");
            println!("size_bytes: {}", bytes.len());
            println!("index_bytes: {}", snapshot.index_bytes());
            if !snapshot.is_empty() {
                println!(
                    "bytes_per_number: {:.1}",
                    bytes.len() as f64 / snapshot.len() as f64
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
