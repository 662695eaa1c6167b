//! [`Admin`]: every operation of the contract, with access control, validation, durable
//! journaling and publishing; the operations live one module per resource (`projects`,
//! `connectors`, `numbers`, `prefixes`), the path every change takes in `commit`.
//!
//! A change is a plan: validate against the model, then name the mutations. Plans run in
//! group commits (`commit`): concurrent changes share one journal write, one fsync and one
//! published snapshot, and each caller is answered only once its change is durable and
//! published. So a caller that got a success sees its change in the very next lookup, and a
//! bulk call or a batch is one snapshot: readers see all of it or none. Lookup readers never
//! take a lock; a slow build delays only other admin calls.

mod access;
mod bulk;
mod checkpoint;
mod commit;
mod connectors;
mod follow;
mod log;
mod numbers;
mod prefixes;
mod projects;
mod publish;
mod reclaim;
mod regrow;

/// The throwaway PostgreSQL clusters of the integration tests, for the unit tests.
#[cfg(test)]
#[path = "../../tests/pg/mod.rs"]
mod pg;

pub use follow::{FollowStatus, Freshness};

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use patchbay_core::{normalize_in, Region, Router, E164};

use crate::api::MAX_PAGE;
use crate::error::{AdminError, ErrorCode};
use crate::keys;
use crate::model::{InvariantError, Model, Mutation};
use crate::store::postgres::Postgres;
use crate::store::{Feed, SharedLog, Store, StoreError};
use crate::validity::NumberCheck;
use crate::voices::{VoiceCatalog, VoiceValidator};

/// Who is calling: an API key as presented, or the operator (the command line, with access
/// to the data directory and so to everything).
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// A presented API key (checked on every call).
    Key(String),
    /// The operator.
    Operator,
}

impl std::fmt::Debug for Caller {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Key(key) => write!(f, "Key({})", keys::key_id_of(key).unwrap_or("?")),
            Caller::Operator => f.write_str("Operator"),
        }
    }
}

/// Settings of an [`Admin`].
#[derive(Clone)]
pub struct AdminConfig {
    /// How imports check numbers (default: valid per the metadata).
    pub number_check: NumberCheck,
    /// The region national-format numbers are read in, if any.
    pub default_region: Option<Region>,
    /// The most numbers or ids one bulk call may carry (default 10,000).
    pub max_bulk: usize,
    /// Start a checkpoint, in the background, once the journal has grown by this many bytes
    /// since the last one (default 64 MiB).
    pub checkpoint_after: u64,
    /// Checks `voiceName` (default: the built-in offline catalog).
    pub voices: Arc<dyn VoiceValidator>,
    /// How long after a checkpoint failed (a full disk, say) the next is tried (default
    /// 10 s); the journal keeps every change meanwhile.
    pub checkpoint_retry: std::time::Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            number_check: NumberCheck::Valid,
            default_region: None,
            max_bulk: 10_000,
            checkpoint_after: 64 << 20,
            voices: Arc::new(VoiceCatalog::builtin().clone()),
            checkpoint_retry: std::time::Duration::from_secs(10),
        }
    }
}

/// Publishing figures since start, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Changes published.
    pub publishes: u64,
    /// Time from the start of the store append to the publish of the last change.
    pub last: std::time::Duration,
    /// The same, summed over every change.
    pub total: std::time::Duration,
    /// Publishes that rebuilt the whole snapshot because a patch was refused (none while
    /// the model keeps its invariants; a rise means a bug worth reporting).
    pub rebuilds: u64,
}

struct Writer {
    /// Where changes become durable: the embedded store's journal, or the shared store's
    /// log with the node's cache of it.
    log: Box<dyn log::Log>,
    /// The position of the last change applied: in the journal, or in the shared log.
    position: u64,
    /// Why reloading failed, when a failed append left the model ahead of the store and
    /// the store could not be read back: every later change is refused.
    poisoned: Option<String>,
}

/// The change side of patchbay. Cheap to share behind an `Arc`; every method is safe to
/// call from many threads.
pub struct Admin {
    /// Shared with the thread that writes a checkpoint in the background.
    model: Arc<RwLock<Model>>,
    writer: Mutex<Writer>,
    /// Changes waiting for the next group commit.
    queue: Mutex<Vec<Arc<dyn commit::Job>>>,
    router: Router,
    config: AdminConfig,
    warnings: Vec<String>,
    stats: Mutex<PublishStats>,
    /// The shared store and where this node stands in its log, when it follows one.
    cluster: Option<follow::Cluster>,
    /// The keys and projects lookups are checked against, published with every change to
    /// them, so that a lookup never waits for the model's lock.
    access: access::PublishedAccess,
    /// The checkpoint being written in the background, if any.
    checkpoints: Arc<checkpoint::Checkpoints>,
    /// The index being rebuilt with more shards in the background, if it is.
    regrow: Mutex<Option<regrow::Regrow>>,
    /// Bulk changes durable and waiting to be published; shared with the checkpoint thread.
    bulk: Arc<bulk::Bulk>,
    /// Frees the snapshots publishes replace, so that the writer does not.
    _reclaimer: reclaim::Reclaimer,
}

const MAX_TEXT: usize = 256;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn encode(change: &[Mutation]) -> Result<Vec<u8>, AdminError> {
    crate::model::checkpoint::encode_change(change).map_err(AdminError::internal)
}

fn store_error(err: StoreError) -> AdminError {
    AdminError::internal(format!("the change was not stored: {err}"))
}

/// Lowers the calling thread's priority below the threads that answer and commit: for work
/// done beside them (checkpoints, index rebuilds), which on a busy machine should take
/// longer rather than them.
fn background_priority() {
    let tid = rustix::thread::gettid();
    if let Err(error) = rustix::process::setpriority_process(Some(tid), 10) {
        tracing::debug!(%error, "a background thread keeps its priority");
    }
}

/// Checks an id chosen by a person (accounts, projects): 1 to 64 of `A-Z a-z 0-9 _ - .`.
fn check_name(kind: &str, id: &str) -> Result<(), AdminError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::invalid_request(format!(
            "{kind} id {id:?} must be 1 to 64 characters of letters, digits, '_', '-' or '.'"
        )))
    }
}

/// Refuses a page size outside 1 to [`MAX_PAGE`] (`items` names what the page holds).
fn check_limit(limit: usize, items: &str) -> Result<(), AdminError> {
    if (1..=MAX_PAGE).contains(&limit) {
        return Ok(());
    }
    Err(AdminError::invalid_request(format!(
        "limit {limit} is out of range: ask for 1 to {MAX_PAGE} {items} a page"
    )))
}

/// One keyset page of `set`: at most `limit` items after `after`, in order, and the last
/// of them when more follow. O(`limit`) however large the set.
fn keyset_page<K: Ord + Copy>(
    set: Option<&BTreeSet<K>>,
    after: Option<K>,
    limit: usize,
) -> (Vec<K>, Option<K>) {
    let from = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut page: Vec<K> = set
        .into_iter()
        .flat_map(|set| set.range((from, Bound::Unbounded)))
        .take(limit + 1)
        .copied()
        .collect();
    let more = page.len() > limit;
    page.truncate(limit);
    let next = if more { page.last().copied() } else { None };
    (page, next)
}

fn check_text(field: &str, value: &str, allow_empty: bool) -> Result<(), AdminError> {
    if (!allow_empty && value.trim().is_empty())
        || value.len() > MAX_TEXT
        || value.chars().any(char::is_control)
    {
        return Err(AdminError::validation(format!(
            "{field} must be {}at most {MAX_TEXT} bytes without control characters",
            if allow_empty { "" } else { "non-empty, " }
        )));
    }
    Ok(())
}

impl Admin {
    /// Opens an admin over `store`: loads the checkpoint, replays the journal, and publishes
    /// the resulting snapshot. A torn journal tail is dropped (see [`Admin::warnings`]).
    pub fn open(mut store: Box<dyn Store>, config: AdminConfig) -> Result<Admin, AdminError> {
        let opened = commit::load(&mut *store)?;
        Admin::assemble(store, opened, config, None)
    }

    /// Opens a node of the shared store `shared`, with `cache` as its local cache (a
    /// [`crate::DataDir`] to restart from, or a [`crate::MemoryStore`]). The node starts
    /// from the cache, or from the store's tables when the cache is empty or older than the
    /// log reaches back; [`Admin::follow`] then keeps it in step, and every change commits
    /// in the shared store before it is applied here.
    pub fn open_shared(
        mut cache: Box<dyn Store>,
        shared: Postgres,
        config: AdminConfig,
    ) -> Result<Admin, AdminError> {
        let mut opened = commit::load(&mut *cache)?;
        let mut feed = shared.feed();
        let oldest = feed.oldest().map_err(log::shared_error)?;
        let (_, head) = feed.read(opened.position, 0).map_err(log::shared_error)?;
        if head < opened.position {
            return Err(AdminError::internal(format!(
                "the store's log ends at {head}, but the local cache has applied {}: the \
                 cache belongs to another database, or the database was restored from an \
                 older backup (start the node with an empty --data directory)",
                opened.position
            )));
        }
        if head > opened.position && (opened.position == 0 || oldest > opened.position + 1) {
            // Nothing cached, or the log no longer reaches back: start from the tables.
            let (at, model) = feed.tables().map_err(log::shared_error)?;
            model.check_loaded().map_err(|e| {
                AdminError::internal(format!("the store's tables are inconsistent: {e}"))
            })?;
            let snapshot = Arc::new(
                model
                    .snapshot(at + 1)
                    .map_err(|e| AdminError::internal(e.to_string()))?,
            );
            checkpoint::checkpoint_now(&mut *cache, at, &model, Arc::clone(&snapshot))
                .map_err(store_error)?;
            opened.model = model;
            opened.position = at;
            opened.snapshot = Some(snapshot);
        }
        let cluster = follow::Cluster::new(follow::Source::shared(shared), opened.position, head);
        Admin::assemble(cache, opened, config, Some(cluster))
    }

    /// Opens a node of a shared store that cannot be reached right now from its `cache`
    /// alone, as `node`: it routes calls from what the cache holds at once, refuses changes
    /// (`unavailable`) until [`Admin::attach`] connects it to the store, and says so in
    /// [`Admin::follow_status`].
    ///
    /// # Errors
    ///
    /// The cache cannot be read, or holds nothing (a node with no cache must wait for the
    /// store: it has nothing to route from).
    pub fn open_cached(
        mut cache: Box<dyn Store>,
        node: &str,
        config: AdminConfig,
    ) -> Result<Admin, AdminError> {
        let opened = commit::load(&mut *cache)?;
        if opened.position == 0 {
            return Err(AdminError::unavailable(
                "the cache holds nothing to route from: wait for the shared store",
            ));
        }
        tracing::warn!(
            node,
            position = opened.position,
            "the shared store is unreachable: routing from the cache at its position; changes \
             are refused until the store is back"
        );
        let source = follow::Source::Shared {
            node: node.to_string(),
            store: Box::default(),
        };
        let cluster = follow::Cluster::new(source, opened.position, opened.position);
        Admin::assemble(cache, opened, config, Some(cluster))
    }

    /// Opens a read-only follower of the data directory `dir`, which a running server may
    /// own: the directory is read whole (checkpoint and journal, consistently however the
    /// owner checkpoints meanwhile), and [`Admin::follow`] then applies every change the
    /// owner acknowledges, within milliseconds. Changes through this admin are refused; it
    /// keeps nothing of its own.
    pub fn open_following(
        dir: impl Into<std::path::PathBuf>,
        config: AdminConfig,
    ) -> Result<Admin, AdminError> {
        let dir = dir.into();
        let failed = |e: crate::store::SharedError| AdminError::internal(e.reason());
        let mut feed = crate::store::tail::DirFeed::new(&dir).map_err(failed)?;
        let (position, model) = crate::store::Feed::tables(&mut feed).map_err(failed)?;
        model.check_loaded().map_err(|e| {
            AdminError::internal(format!(
                "{}: the stored model is inconsistent: {e}",
                dir.display()
            ))
        })?;
        let name = format!("follower of {}", dir.display());
        let cluster = follow::Cluster::new(follow::Source::Dir { dir, name }, position, position);
        let store = Box::new(crate::store::Discard);
        let opened = commit::Opened {
            model,
            position,
            snapshot: None,
            warnings: Vec::new(),
        };
        Admin::assemble(store, opened, config, Some(cluster))
    }

    fn assemble(
        store: Box<dyn Store>,
        opened: commit::Opened,
        config: AdminConfig,
        cluster: Option<follow::Cluster>,
    ) -> Result<Admin, AdminError> {
        let commit::Opened {
            model,
            position,
            snapshot,
            warnings,
        } = opened;
        let snapshot = match snapshot {
            Some(snapshot) => snapshot,
            None => Arc::new(
                model
                    .snapshot(position + 1)
                    .map_err(|e| AdminError::internal(e.to_string()))?,
            ),
        };
        let log: Box<dyn log::Log> = match cluster.as_ref().map(|c| &c.source) {
            Some(follow::Source::Shared { store: shared, .. }) => Box::new(log::SharedJournal {
                shared: shared
                    .get()
                    .map(|shared| Box::new(shared.writer()) as Box<dyn SharedLog>),
                cache: store,
            }),
            _ => Box::new(log::Journal(store)),
        };
        let router = Router::from_arc(snapshot);
        Ok(Admin {
            access: access::PublishedAccess::new(&model),
            model: Arc::new(RwLock::new(model)),
            writer: Mutex::new(Writer {
                log,
                position,
                poisoned: None,
            }),
            queue: Mutex::new(Vec::new()),
            _reclaimer: reclaim::Reclaimer::start(&router),
            router,
            config,
            warnings,
            stats: Mutex::new(PublishStats::default()),
            cluster,
            checkpoints: Arc::default(),
            regrow: Mutex::new(None),
            bulk: Arc::default(),
        })
    }

    /// What start-up dropped or noticed (a torn journal tail, say).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Publishing figures since start.
    pub fn publish_stats(&self) -> PublishStats {
        *self.stats.lock()
    }

    /// The router this admin publishes into: hand readers out of it.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Whether `caller` may use `project` (see [`access::authorize`]).
    fn authorize(&self, model: &Model, caller: &Caller, project: &str) -> Result<(), AdminError> {
        access::authorize(model, caller, project)
    }

    /// Checks that `caller` is a valid key (or the operator) without naming a project.
    pub fn authenticate_caller(&self, caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(key) => access::authenticate(&*self.model.read(), key).map(|_| ()),
        }
    }

    fn operator_only(caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(_) => Err(AdminError::new(
                ErrorCode::Forbidden,
                "only the operator (the command line) manages projects and keys",
            )),
        }
    }

    fn check_bulk(&self, count: usize) -> Result<(), AdminError> {
        if count > self.config.max_bulk {
            return Err(AdminError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{count} items in one call; the limit is {}: split the call",
                    self.config.max_bulk
                ),
            ));
        }
        Ok(())
    }

    /// A bulk call's list: at least one item, at most the bulk limit.
    fn check_list(&self, field: &str, items: &str, count: usize) -> Result<(), AdminError> {
        if count == 0 {
            return Err(AdminError::invalid_request(format!(
                "{field} must list at least one {items}"
            )));
        }
        self.check_bulk(count)
    }

    fn normalize(&self, input: &str) -> Result<E164, AdminError> {
        Ok(normalize_in(input, self.config.default_region)?)
    }

    /// Checks the model's invariants, and that the published snapshot routes exactly what
    /// the model says (for tests and diagnostics).
    ///
    /// # Errors
    ///
    /// The first [`InvariantError`] found.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let model = self.model.read();
        model.check_invariants()?;
        // The published snapshot is exactly what the model routes.
        let snapshot = self.router.snapshot();
        let assigned = model
            .numbers
            .values()
            .filter(|e| e.connector.is_some())
            .count();
        if snapshot.len() != assigned {
            return Err(InvariantError::SnapshotRoutes {
                what: "numbers",
                snapshot: snapshot.len(),
                model: assigned,
            });
        }
        for (number, entry) in model.numbers.iter() {
            let routed = snapshot.exact(*number).map(|c| c.connector_id.as_str());
            if routed != entry.connector.as_deref() {
                return Err(InvariantError::SnapshotNumber {
                    number: *number,
                    routed: routed.map(str::to_string),
                    model: entry.connector.as_ref().map(|c| c.to_string()),
                });
            }
        }
        if snapshot.prefix_count() != model.prefixes.len() {
            return Err(InvariantError::SnapshotRoutes {
                what: "prefixes",
                snapshot: snapshot.prefix_count(),
                model: model.prefixes.len(),
            });
        }
        for (prefix, connector) in &model.prefixes {
            let routed = snapshot.prefix(*prefix).map(|c| c.connector_id.as_str());
            if routed != Some(&**connector) {
                return Err(InvariantError::SnapshotPrefix {
                    prefix: *prefix,
                    routed: routed.map(str::to_string),
                    model: connector.to_string(),
                });
            }
        }
        for (id, connector) in &model.connectors {
            if snapshot.connector(id) != Some(connector) {
                return Err(InvariantError::SnapshotConnector {
                    connector: id.to_string(),
                });
            }
        }
        if snapshot.connector_count() != model.connectors.len() {
            return Err(InvariantError::SnapshotConnectors {
                snapshot: snapshot.connector_count(),
                model: model.connectors.len(),
            });
        }
        // Every publish patched the snapshot before it: none fell back to a rebuild.
        let rebuilds = self.stats.lock().rebuilds;
        if rebuilds > 0 {
            return Err(InvariantError::Rebuilds { rebuilds });
        }
        Ok(())
    }

    /// A digest of the whole model (accounts, projects, keys, connectors, numbers, prefixes):
    /// two admins, on one node or two, hold the same model exactly when their fingerprints
    /// agree. O(model): for checks and diagnostics, not for every call.
    pub fn model_fingerprint(&self) -> String {
        use sha2::Digest;
        let bytes = encode(&self.model.read().to_mutations()).unwrap_or_default();
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// How many numbers the store holds.
    pub fn number_count(&self) -> usize {
        self.model.read().numbers.len()
    }
}
