//! Where a command's data lives: a data directory (the embedded store), or a shared
//! PostgreSQL store with the data directory as the node's local cache.

use std::path::{Path, PathBuf};

use clap::Args;
use patchbay_admin::{Admin, AdminConfig, ConnectError, DataDir, MemoryStore, Postgres, Store};

/// The data directory when none is given and no shared store is.
const DEFAULT_DATA: &str = "./patchbay-data";
/// The file of a cache directory that names the shared store it caches.
const STORE_ID: &str = "store.id";

/// Where the data lives.
#[derive(Args, Clone)]
pub struct DataArg {
    /// The data directory: journal, checkpoint and snapshot files [default: ./patchbay-data].
    /// With --store, the node's local cache (optional): the node restarts from it and
    /// catches up instead of loading everything from the store.
    #[arg(long, value_name = "DIR", env = "PATCHBAY_DATA")]
    pub data: Option<PathBuf>,
    /// A PostgreSQL store that several nodes share, as a URL
    /// (postgresql://USER@HOST:PORT/DB) or key=value settings. Without it, the data
    /// directory is the store.
    #[arg(long, value_name = "URL", env = "PATCHBAY_STORE")]
    pub store: Option<String>,
    /// This node's name in the shared store's log and in logs [default: host name and
    /// process id].
    #[arg(long, value_name = "NAME", env = "PATCHBAY_NODE")]
    pub node: Option<String>,
}

impl DataArg {
    /// The data directory of the embedded store.
    pub fn dir(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA))
    }

    /// This node's name.
    pub fn node_name(&self) -> String {
        self.node.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "node".into());
            format!("{host}-{}", std::process::id())
        })
    }

    /// Says where the data is, for people: `data: DIR` or `store: URL, node NAME`.
    pub fn describe(&self) -> String {
        match &self.store {
            None => format!("data: {}", self.dir().display()),
            Some(_) => format!(
                "store: PostgreSQL, node {}{}",
                self.node_name(),
                self.data
                    .as_ref()
                    .map(|d| format!(", cache: {}", d.display()))
                    .unwrap_or_default()
            ),
        }
    }

    fn connect(&self, url: &str) -> Result<Postgres, String> {
        Postgres::connect(url, &self.node_name()).map_err(|e| match e {
            ConnectError::InvalidUrl { url, reason } => format!("--store {url}: {reason}"),
            other => other.to_string(),
        })
    }
}

/// Opens the store for changes with `config`: the data directory (taking its lock), or the
/// shared store with the data directory, if given, as the node's cache.
pub fn open_admin(data: &DataArg, config: AdminConfig) -> Result<Admin, String> {
    let admin = match &data.store {
        None => {
            let dir = data.dir();
            let store =
                DataDir::open(&dir).map_err(|e| format!("cannot change {}: {e}", dir.display()))?;
            Admin::open(Box::new(store), config).map_err(|e| format!("{}: {e}", dir.display()))?
        }
        Some(url) => {
            let shared = data.connect(url)?;
            let cache: Box<dyn Store> = match &data.data {
                Some(dir) => Box::new(open_cache(dir, &shared)?),
                None => Box::new(MemoryStore::default()),
            };
            Admin::open_shared(cache, shared, config)
                .map_err(|e| format!("the shared store: {e}"))?
        }
    };
    for warning in admin.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(admin)
}

/// Opens the store to read: the data directory without its lock (a server may own it), or
/// the shared store's tables as they are now. [`Admin::follow`] keeps either current.
pub fn open_read_only(data: &DataArg) -> Result<Admin, String> {
    if let Some(url) = &data.store {
        let shared = data.connect(url)?;
        return Admin::open_shared(
            Box::new(MemoryStore::default()),
            shared,
            AdminConfig::default(),
        )
        .map_err(|e| format!("the shared store: {e}"));
    }
    let dir = data.dir();
    if !DataDir::is_data_dir(&dir) {
        return Err(format!(
            "{} is not a patchbay data directory (no journal or checkpoint); run `patchbay serve --data {}` first",
            dir.display(),
            dir.display()
        ));
    }
    Admin::open_following(&dir, AdminConfig::default())
        .map_err(|e| format!("{}: {e}", dir.display()))
}

/// Opens `dir` as the local cache of `shared`: a new directory is marked with the store's
/// id; a directory that caches another store, or that is an embedded store, is refused.
fn open_cache(dir: &Path, shared: &Postgres) -> Result<DataDir, String> {
    let open = || DataDir::open(dir).map_err(|e| format!("cannot use {}: {e}", dir.display()));
    let marker = dir.join(STORE_ID);
    match std::fs::read_to_string(&marker) {
        Ok(id) if id.trim() == shared.store_id() => open(),
        Ok(id) => Err(format!(
            "{} caches another store (id {}; this one is {}): give the node another --data \
             directory, or empty this one",
            dir.display(),
            id.trim(),
            shared.store_id()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let cache = open()?;
            if DataDir::holds_changes(dir) {
                return Err(format!(
                    "{} is the data directory of an embedded store, not a cache of a shared \
                     one: give the node an empty --data directory",
                    dir.display()
                ));
            }
            patchbay_core::write_file_atomically(&marker, shared.store_id().as_bytes())
                .map_err(|e| format!("{}: {e}", marker.display()))?;
            Ok(cache)
        }
        Err(e) => Err(format!("{}: {e}", marker.display())),
    }
}
