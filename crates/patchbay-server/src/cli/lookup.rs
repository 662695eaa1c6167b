//! `patchbay lookup`: which connector serves each number, and how it matched.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use patchbay_core::{normalize, Connector, Match, NormalizeError, Router, Snapshot, E164};
use serde_json::{json, Value};

use super::{open_read_only, CliResult, DataArg};

#[derive(Args)]
pub struct LookupSource {
    /// Look up in this data directory (read-only: a running server may own it).
    #[arg(long, value_name = "DIR", conflicts_with = "snapshot")]
    data: Option<PathBuf>,
    /// Look up in this snapshot file.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// Look up in this shared PostgreSQL store, as it is now: one indexed query a number,
    /// whatever the store holds.
    #[arg(
        long,
        value_name = "URL",
        env = "PATCHBAY_STORE",
        conflicts_with = "data"
    )]
    store: Option<String>,
}

#[derive(Args)]
pub struct LookupArgs {
    #[command(flatten)]
    source: LookupSource,
    /// Explain each lookup in this project instead: how the input read (or why it did
    /// not), what it matched, the number's own entry and what a lookup comes to, as
    /// `POST /connectors/lookup/explain` answers (with --data or --store).
    #[arg(long, value_name = "PROJECT", conflicts_with = "at")]
    explain: Option<String>,
    /// Look up as the routes were at this past instant (RFC 3339, 2026-12-01T15:00:00Z),
    /// from the change history (with --data): each line says which change it read as of.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// With --at: only this project's connectors [default: any project's].
    #[arg(long, value_name = "PROJECT", requires = "at")]
    project: Option<String>,
    /// Numbers in any accepted form.
    #[arg(required = true)]
    numbers: Vec<String>,
}

pub fn lookup(args: LookupArgs) -> CliResult {
    let source = &args.source;
    if let Some(project) = &args.explain {
        return explain(source, project, &args.numbers);
    }
    if let Some(at) = &args.at {
        return lookup_at(source, args.project.as_deref(), at, &args.numbers);
    }
    let router = match (&source.snapshot, &source.store, &source.data) {
        (Some(file), _, _) => Router::new(Snapshot::open(file).map_err(|e| e.to_string())?),
        (None, None, None) => return Err("give --data DIR, --snapshot FILE or --store URL".into()),
        (None, Some(url), _) => return lookup_in_store(url, &args.numbers),
        (None, None, data) => open_read_only(&DataArg {
            data: data.clone(),
            store: None,
            node: None,
        })?
        .router()
        .clone(),
    };
    let mut reader = router.reader();
    let mut all_found = true;
    for input in &args.numbers {
        let line = match reader.lookup(input) {
            Ok(Some(route)) => found(
                input,
                route.number,
                route.matched,
                route.connector,
                route.version,
            ),
            Ok(None) => {
                all_found = false;
                not_found(input)
            }
            Err(e) => {
                all_found = false;
                invalid(input, &e)
            }
        };
        println!("{line}");
    }
    Ok(exit(all_found))
}

/// `lookup --explain PROJECT`: one explanation a line; exits 1 unless every input routes.
fn explain(source: &LookupSource, project: &str, inputs: &[String]) -> CliResult {
    if source.snapshot.is_some() || (source.data.is_none() && source.store.is_none()) {
        return Err(
            "--explain reads a store's projects and numbers: give --data DIR or --store URL".into(),
        );
    }
    let follower = open_read_only(&DataArg {
        data: source.data.clone(),
        store: source.store.clone(),
        node: None,
    })?;
    let mut all_routed = true;
    for input in inputs {
        let explained = follower
            .explain(&patchbay_admin::Caller::Operator, project, input)
            .map_err(|e| e.to_string())?;
        all_routed &= explained.outcome == patchbay_admin::Outcome::Routed;
        println!(
            "{}",
            serde_json::to_string(&explained).map_err(|e| e.to_string())?
        );
    }
    Ok(exit(all_routed))
}

/// `lookup --at TIME`: each number as it routed then, from the data directory's history;
/// exits 1 unless every number routed.
fn lookup_at(
    source: &LookupSource,
    project: Option<&str>,
    at: &str,
    inputs: &[String],
) -> CliResult {
    if source.data.is_none() || source.snapshot.is_some() || source.store.is_some() {
        return Err("--at reads a data directory's change history: give --data DIR".into());
    }
    let history = super::history::Source::open(&DataArg {
        data: source.data.clone(),
        store: None,
        node: None,
    })?;
    let mut all_found = true;
    for input in inputs {
        let line = match history.lookup_at(project, input, at) {
            Ok(then) => {
                let matched = then
                    .prefix
                    .map_or_else(|| "exact".to_string(), |p| format!("prefix {p}"));
                json!({"input": input, "match": matched, "connector": then.connector, "asOf": then.change_id})
            }
            Err(e) if e.code() == patchbay_admin::ErrorCode::NotFound => {
                all_found = false;
                json!({"input": input, "error": {"code": "not_found", "message": e.message()}})
            }
            Err(e) if e.code() == patchbay_admin::ErrorCode::InvalidPhoneNumber => {
                all_found = false;
                json!({"input": input, "error": {"code": "invalid_phone_number", "message": e.message()}})
            }
            Err(e) => return Err(e.to_string()),
        };
        println!("{line}");
    }
    Ok(exit(all_found))
}

/// Looks the numbers up in the shared store with one indexed query each, instead of loading
/// the store's model: as fast at ten million numbers as at ten. `version` is the one a node
/// that loaded the store now would answer with (its position, plus one).
fn lookup_in_store(url: &str, inputs: &[String]) -> CliResult {
    let data = DataArg {
        data: None,
        store: Some(url.to_string()),
        node: None,
    };
    let store = data.connect(url)?;
    let parsed: Vec<Result<E164, NormalizeError>> = inputs.iter().map(|i| normalize(i)).collect();
    let numbers: Vec<E164> = parsed
        .iter()
        .filter_map(|n| n.as_ref().ok().copied())
        .collect();
    let stored = store.routes(&numbers).map_err(|e| e.to_string())?;
    let mut routes = stored.routes.into_iter();
    let mut all_found = true;
    for (input, number) in inputs.iter().zip(&parsed) {
        let line = match number {
            Ok(number) => match routes.next().flatten() {
                Some((matched, connector)) => {
                    found(input, *number, matched, &connector, stored.position + 1)
                }
                None => {
                    all_found = false;
                    not_found(input)
                }
            },
            Err(e) => {
                all_found = false;
                invalid(input, e)
            }
        };
        println!("{line}");
    }
    Ok(exit(all_found))
}

fn found(input: &str, number: E164, matched: Match, connector: &Connector, version: u64) -> Value {
    json!({"input": input, "phoneNumber": number, "match": matched.to_string(), "connector": connector, "version": version})
}

fn not_found(input: &str) -> Value {
    json!({"input": input, "error": {"code": "not_found", "message": "no connector serves this number"}})
}

fn invalid(input: &str, e: &NormalizeError) -> Value {
    json!({"input": input, "error": {"code": "invalid_phone_number", "reason": e.reason(), "message": e.to_string()}})
}

/// 0 when every number was found, 1 otherwise.
fn exit(all_found: bool) -> ExitCode {
    if all_found {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
