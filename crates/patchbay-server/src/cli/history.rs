//! `patchbay history`: the change history, newest first, one JSON line a change, as
//! `GET /changes` shows it (of every project, or of one).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use patchbay_admin::{
    Admin, AdminConfig, Caller, ChangesPage, ChangesQuery, DataDir, HistoryFile, StoreError,
};

use super::{open_read_only, CliResult, DataArg};

#[derive(Args)]
pub struct HistoryArgs {
    /// The data directory (a running server may own it: its history is read beside it).
    #[arg(
        long,
        value_name = "DIR",
        env = "PATCHBAY_DATA",
        conflicts_with = "store"
    )]
    data: Option<PathBuf>,
    /// A shared PostgreSQL store: its history is read with indexed queries, without
    /// loading its model.
    #[arg(long, value_name = "URL", env = "PATCHBAY_STORE")]
    store: Option<String>,
    /// Only this project's changes, and of each only its mutations [default: every
    /// project's].
    #[arg(long, value_name = "PROJECT")]
    project: Option<String>,
    /// Only the changes to this number (any accepted form).
    #[arg(long, value_name = "NUMBER")]
    number: Option<String>,
    /// Only the changes to this prefix.
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Only the changes to this connector, its numbers and its prefixes.
    #[arg(long, value_name = "ID")]
    connector: Option<String>,
    /// Only changes committed at or after this instant (RFC 3339, 2026-12-01T15:00:00Z).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Only changes committed at or before this instant (RFC 3339).
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// At most this many changes.
    #[arg(long, default_value_t = 100, value_name = "N")]
    limit: usize,
}

pub fn history(args: HistoryArgs) -> CliResult {
    let data = DataArg {
        data: args.data.clone(),
        store: args.store.clone(),
        node: None,
    };
    if args.limit == 0 {
        return Err("--limit must be at least 1".into());
    }
    let mut query = ChangesQuery {
        number: args.number.clone(),
        prefix: args.prefix.clone(),
        connector_id: args.connector.clone(),
        since: args.since.clone(),
        until: args.until.clone(),
        limit: Some(args.limit.clamp(1, patchbay_admin::MAX_CHANGES)),
        cursor: None,
    };
    let source = match &args.store {
        Some(url) => Source::Store(Box::new(data.connect(url)?)),
        None => Source::open(&data)?,
    };
    let mut left = args.limit;
    while left > 0 {
        query.limit = Some(left.min(patchbay_admin::MAX_CHANGES));
        let page = source
            .page(args.project.as_deref(), &query)
            .map_err(|e| e.to_string())?;
        left = left.saturating_sub(page.changes.len());
        for change in &page.changes {
            println!(
                "{}",
                serde_json::to_string(change).map_err(|e| e.to_string())?
            );
        }
        match page.next_cursor {
            Some(next) => query.cursor = Some(next),
            None => break,
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the history is read: the directory opened here, or the history file of the
/// server that owns it, with a read-only replica of its model.
pub(super) enum Source {
    Own(Box<Admin>),
    Beside(Box<patchbay_admin::Follower>, HistoryFile),
    Store(Box<patchbay_admin::Postgres>),
}

impl Source {
    /// The directory's history: brought up to its journal here when no process owns it;
    /// while a server does, read beside it (that server keeps it up to its journal).
    pub(super) fn open(data: &DataArg) -> Result<Source, String> {
        let dir = data.dir();
        match DataDir::open(&dir) {
            Ok(store) => {
                let config = AdminConfig {
                    actor: patchbay_admin::Actor::Cli,
                    ..AdminConfig::default()
                };
                Ok(Source::Own(Box::new(
                    Admin::open(Box::new(store), config)
                        .map_err(|e| format!("{}: {e}", dir.display()))?,
                )))
            }
            Err(StoreError::Locked { .. }) => Ok(Source::Beside(
                Box::new(open_read_only(data)?),
                HistoryFile::open(&dir).map_err(|e| e.to_string())?,
            )),
            Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
        }
    }

    /// How `input` routed at `at`, in `project` or any project.
    pub(super) fn lookup_at(
        &self,
        project: Option<&str>,
        input: &str,
        at: &str,
    ) -> Result<patchbay_admin::AsOf, patchbay_admin::AdminError> {
        match self {
            Source::Own(admin) => admin.lookup_at(&Caller::Operator, project, input, at),
            Source::Beside(follower, file) => file.lookup_at(follower, project, input, at),
            Source::Store(_) => Err(patchbay_admin::AdminError::new(
                patchbay_admin::ErrorCode::InvalidRequest,
                "a lookup at a past instant reads a data directory: give --data DIR, or ask a \
                 node (POST /connectors/lookup with at)",
            )),
        }
    }

    fn page(
        &self,
        project: Option<&str>,
        query: &ChangesQuery,
    ) -> Result<ChangesPage, patchbay_admin::AdminError> {
        match (self, project) {
            (Source::Own(admin), Some(project)) => admin.changes(&Caller::Operator, project, query),
            (Source::Own(admin), None) => admin.all_changes(&Caller::Operator, query),
            (Source::Beside(follower, file), project) => file.changes(follower, project, query),
            (Source::Store(store), project) => store.changes(project, query),
        }
    }
}
