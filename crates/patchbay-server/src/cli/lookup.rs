//! `patchbay lookup`: which connector serves each number, and how it matched.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use patchbay_core::{Router, Snapshot};
use serde_json::json;

use super::{open_read_only, CliResult, DataArg};

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
