//! The commands, one module each: `serve`, `sip`, `project`, `key`, `import`, `prefix`,
//! `history`, `lookup`, `normalize` and `snapshot`. `store.rs` says where a command's data lives
//! (`--data`, `--store`, `--node`) and `log.rs` how the long-running commands log.

mod history;
mod import;
mod key;
pub mod log;
mod lookup;
mod normalize;
mod prefix;
mod project;
mod serve;
mod sip;
mod snapshot;
mod store;

pub use history::{history, HistoryArgs};
pub use import::{import, ImportArgs};
pub use key::{key, KeyCommand};
pub use log::{LogArgs, LogFormat};
pub use lookup::{lookup, LookupArgs};
pub use normalize::{normalize, NormalizeArgs};
pub use prefix::{prefix, PrefixCommand};
pub use project::{project, ProjectCommand};
pub use serve::{serve, ServeArgs};
pub use sip::{sip, start_sip, SipArgs};
pub use snapshot::{snapshot, SnapshotCommand};
pub use store::{open_admin, open_read_only, open_serving, DataArg};

use patchbay_core::Region;

/// A command's exit status, or the message to print before exiting 2.
pub type CliResult = Result<std::process::ExitCode, String>;

/// `--region CC`, checked.
fn parse_region(region: Option<&str>) -> Result<Option<Region>, String> {
    region
        .map(|r| {
            r.parse::<Region>()
                .map_err(|e| format!("--region {r:?}: {e}"))
        })
        .transpose()
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
