//! Where a command's data lives: a data directory (the embedded store), or a shared
//! PostgreSQL store with the data directory as the node's local cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use patchbay_admin::{
    Admin, AdminConfig, ConnectError, DataDir, Follower, MemoryStore, Postgres, Store,
};

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

    /// Connects to the shared store at `url` as this node.
    pub(crate) fn connect(&self, url: &str) -> Result<Postgres, String> {
        Postgres::connect(url, &self.node_name()).map_err(|e| self.connect_error(e))
    }

    /// The command line's words for a failed connection.
    fn connect_error(&self, error: ConnectError) -> String {
        match error {
            ConnectError::InvalidUrl { url, reason } => format!("--store {url}: {reason}"),
            other => other.to_string(),
        }
    }
}

/// Opens the store for changes with `config`: the data directory (taking its lock), or the
/// shared store with the data directory, if given, as the node's cache.
pub fn open_admin(data: &DataArg, config: AdminConfig) -> Result<Admin, String> {
    // What the operator changes through a command is the command line's in the history.
    let config = AdminConfig {
        actor: patchbay_admin::Actor::Cli,
        ..config
    };
    let admin = match &data.store {
        None => {
            let dir = data.dir();
            let store =
                DataDir::open(&dir).map_err(|e| format!("cannot change {}: {e}", dir.display()))?;
            Admin::open(Box::new(store), config).map_err(|e| format!("{}: {e}", dir.display()))?
        }
        Some(url) => open_node(data, data.connect(url)?, config)?,
    };
    for warning in admin.warnings() {
        tracing::warn!("{warning}");
    }
    Ok(admin)
}

/// A node of the shared store `shared`, with the data directory, if given, as its cache.
fn open_node(data: &DataArg, shared: Postgres, config: AdminConfig) -> Result<Admin, String> {
    let cache: Box<dyn Store> = match &data.data {
        Some(dir) => Box::new(open_cache(dir, &shared)?),
        None => Box::new(MemoryStore::default()),
    };
    Admin::open_shared(cache, shared, config).map_err(|e| format!("the shared store: {e}"))
}

/// The longest pause between attempts to reach an unreachable shared store.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Opens the store for a process that keeps running (`serve`, `sip --store`) and starts
/// following it. A shared store that cannot be reached does not stop it: with a cache of
/// that store (`--data`, marked with its id), the node routes from the cache at once and a
/// thread connects it once the store is back; with none, it waits, saying why, until the
/// store answers.
pub fn open_serving(data: &DataArg, config: AdminConfig) -> Result<Arc<Admin>, String> {
    let Some(url) = &data.store else {
        return Ok(Arc::new(open_admin(data, config)?));
    };
    let node = data.node_name();
    let mut pause = Duration::from_millis(500);
    loop {
        let (shown, reason) = match Postgres::connect(url, &node) {
            Ok(shared) => {
                let admin = Arc::new(open_node(data, shared, config)?);
                for warning in admin.warnings() {
                    tracing::warn!("{warning}");
                }
                admin.follow();
                admin.offer_checkpoint();
                tracing::info!(node = %node, "following the shared store");
                return Ok(admin);
            }
            Err(ConnectError::Unreachable { url, reason }) => (url, reason),
            Err(other) => return Err(data.connect_error(other)),
        };
        if let Some((dir, id)) = data.data.as_deref().and_then(cache_of_a_store) {
            let cache =
                DataDir::open(dir).map_err(|e| format!("cannot use {}: {e}", dir.display()))?;
            let admin = Admin::open_cached(Box::new(cache), &node, config)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            let admin = Arc::new(admin);
            for warning in admin.warnings() {
                tracing::warn!("{warning}");
            }
            tracing::warn!(store = %shown, error = %reason, "the shared store cannot be reached");
            let reconnect = Reconnect {
                admin: Arc::downgrade(&admin),
                url: url.clone(),
                node,
                id,
            };
            std::thread::Builder::new()
                .name("patchbay-reconnect".into())
                .spawn(move || reconnect.run())
                .map_err(|e| format!("cannot start the thread that reaches the store: {e}"))?;
            return Ok(admin);
        }
        tracing::warn!(
            store = %shown,
            error = %reason,
            retry_in_seconds = pause.as_secs_f64(),
            "waiting for the shared store: it cannot be reached, and this node has no cache of \
             it to route from (give one with --data)"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// `dir` and the id of the store it caches, when it is a cache of a shared store that
/// holds changes (a node can route from it).
fn cache_of_a_store(dir: &Path) -> Option<(&Path, String)> {
    let id = std::fs::read_to_string(dir.join(STORE_ID)).ok()?;
    DataDir::holds_changes(dir).then(|| (dir, id.trim().to_string()))
}

/// Connects a node that started from its cache to its store once the store answers.
struct Reconnect {
    admin: std::sync::Weak<Admin>,
    url: String,
    node: String,
    /// The id of the store the cache belongs to.
    id: String,
}

impl Reconnect {
    fn run(self) {
        let mut pause = Duration::from_millis(500);
        let mut said_refused = false;
        loop {
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
            let Some(admin) = self.admin.upgrade() else {
                return;
            };
            let shared = match Postgres::connect(&self.url, &self.node) {
                Ok(shared) => shared,
                Err(error @ ConnectError::Refused { .. }) => {
                    // The store is back but turns this node away (its certificate, the
                    // password, pg_hba.conf): said once, loudly; the node keeps routing
                    // from its cache and tries again in case the settings are mended.
                    if !std::mem::replace(&mut said_refused, true) {
                        tracing::error!(%error, "the shared store refuses this node");
                    }
                    continue;
                }
                Err(error) => {
                    tracing::debug!(%error, "the shared store still cannot be reached");
                    continue;
                }
            };
            if shared.store_id() != self.id {
                tracing::error!(
                    cache = %self.id,
                    store = %shared.store_id(),
                    "the store now at this URL is not the one this node's cache belongs to: \
                     the node keeps routing from its cache and takes no change; restart it \
                     with an empty --data directory"
                );
                return;
            }
            match admin.attach(shared) {
                Ok(()) => {
                    admin.offer_checkpoint();
                    return;
                }
                Err(error) => tracing::error!(%error, "cannot connect to the shared store"),
            }
        }
    }
}

/// Opens the store to read, as a [`Follower`] that cannot change it: the data directory
/// without its lock (a server may own it), or the shared store's tables as they are now.
/// [`Follower::follow`] keeps either current.
pub fn open_read_only(data: &DataArg) -> Result<Follower, String> {
    if let Some(url) = &data.store {
        let shared = data.connect(url)?;
        return Follower::open_store(shared, AdminConfig::default())
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
    Follower::open_dir(&dir, AdminConfig::default()).map_err(|e| e.to_string())
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
