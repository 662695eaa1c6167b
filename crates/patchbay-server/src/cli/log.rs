//! How the long-running commands (`serve`, `sip`) log: to standard error, as text for people
//! (coloured only when standard error is a terminal) or as one JSON object per line for a
//! log shipper. `RUST_LOG` filters (`PATCHBAY_LOG` overrides it); the default is `info`.

use std::io::IsTerminal;

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// The log line format. (The variants have plain comments: clap would turn doc comments
/// into a long list under `--help`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    // Text for people: time, level, target, message and fields on one line.
    #[default]
    Text,
    // One JSON object per line: `timestamp`, `level`, `target`, `message`, the event's
    // fields beside them, and the enclosing span (`span`) when there is one.
    Json,
}

/// The logging options of `serve` and `sip`.
#[derive(Args, Clone, Debug, Default)]
pub struct LogArgs {
    /// Log lines as text for people, or as JSON, one object per line.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        env = "PATCHBAY_LOG_FORMAT",
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// The filter: `PATCHBAY_LOG`, else `RUST_LOG`, else `info`; with the complaint about a
/// directive that does not parse, which is logged once the subscriber is installed (the
/// default is used then, so a typo never silences the log).
fn filter() -> (EnvFilter, Option<String>) {
    for var in ["PATCHBAY_LOG", "RUST_LOG"] {
        let Ok(directives) = std::env::var(var) else {
            continue;
        };
        if directives.trim().is_empty() {
            continue;
        }
        return match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(e) => (
                EnvFilter::new("info"),
                Some(format!(
                    "{var}={directives:?} is not a log filter ({e}); logging at info"
                )),
            ),
        };
    }
    (EnvFilter::new("info"), None)
}

/// Installs the process's subscriber. Colour only on a terminal, and never with `NO_COLOR`.
pub fn init(format: LogFormat) {
    let (filter, complaint) = filter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init();
        }
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    if let Some(complaint) = complaint {
        tracing::warn!("{complaint}");
    }
}
