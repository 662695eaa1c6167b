//! `patchbay import`: numbers from a file or standard input, a batch at a time, with a
//! progress bar and each refused line reported; the file reading and the report are shared
//! with `patchbay prefix import`.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use clap::Args;
use patchbay_admin::{AdminConfig, Caller, ImportRequest, NumberCheck};
use patchbay_core::ClientEnv;

use super::{open_admin, parse_region, CliResult, DataArg};

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
pub(super) struct Batches<R> {
    pub(super) lines: std::io::Lines<R>,
    pub(super) at: usize,
    pub(super) batch: usize,
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

/// About how many numbers the file at `path`, of `size` bytes, holds: its size over the
/// length of its first lines (the first 64 KiB).
fn numbers_in(path: &std::path::Path, size: u64) -> Option<usize> {
    let mut head = Vec::with_capacity(1 << 16);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(path).ok()?, 1 << 16),
        &mut head,
    )
    .ok()?;
    let lines = head.iter().filter(|&&b| b == b'\n').count().max(1) as u64;
    let per_line = (head.len() as u64 / lines).max(1);
    usize::try_from(size / per_line).ok()
}

/// A bar over the file's bytes, or a spinner when the size is unknown (standard input).
pub(super) fn import_progress(size: Option<u64>) -> indicatif::ProgressBar {
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
    if let Some(expected) = size.and_then(|size| numbers_in(&args.file, size)) {
        if let Err(error) = admin.expect_numbers(expected) {
            tracing::warn!(%error, "cannot make room for the numbers ahead; importing anyway");
        }
    }
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
    // A checkpoint lets the next start skip replaying the import: of a data directory, the
    // store's own or a node's cache. Without one (a node of a shared store with no cache)
    // there is nothing to keep it in, and it would only cost time.
    if args.data.store.is_none() || args.data.data.is_some() {
        admin.checkpoint().map_err(|e| e.to_string())?;
    }
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
pub(super) fn open_input(
    path: &Path,
) -> Result<(Box<dyn std::io::Read + Send>, Option<u64>), String> {
    if path.as_os_str() == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file.metadata().ok().map(|m| m.len());
    Ok((Box::new(file), size))
}

/// Prints an import's summary, its error count, then each refused input with its line; the
/// exit status is 1 if any was refused.
pub(super) fn report_import<'a>(
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

#[cfg(test)]
mod tests {
    use super::numbers_in;

    #[test]
    fn a_file_is_sized_up_from_its_first_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plain = dir.path().join("plain.txt");
        let lines: String = (0..20_000).map(|i| format!("+1415{:07}\n", i)).collect();
        std::fs::write(&plain, &lines).expect("write");
        assert_eq!(numbers_in(&plain, lines.len() as u64), Some(20_000));
        // Wider lines: as many numbers, fewer a byte.
        let csv = dir.path().join("numbers.csv");
        let lines: String = (0..20_000)
            .map(|i| format!("+1415{:07},support,\"a label of some length\"\n", i))
            .collect();
        std::fs::write(&csv, &lines).expect("write");
        let estimate = numbers_in(&csv, lines.len() as u64).expect("an estimate");
        assert!((19_000..=21_000).contains(&estimate), "{estimate}");
        assert_eq!(numbers_in(&dir.path().join("missing"), 100), None);
    }
}
