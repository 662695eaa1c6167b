//! `patchbay snapshot`: export a store's routing snapshot to a file, or inspect a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use patchbay_core::Snapshot;

use super::{open_read_only, CliResult, DataArg};

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
