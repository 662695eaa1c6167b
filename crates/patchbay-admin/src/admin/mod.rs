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
mod explain;
mod follow;
mod follower;
mod history;
mod log;
mod numbers;
mod prefixes;
mod projects;
mod publish;
mod reclaim;
mod regrow;
mod replica;

/// The throwaway PostgreSQL clusters of the integration tests, for the unit tests.
#[cfg(test)]
#[path = "../../tests/pg/mod.rs"]
mod pg;

pub use follow::{FollowStatus, Freshness};
pub use follower::Follower;
pub use history::HistoryFile;
pub use replica::Replica;

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use patchbay_core::Region;

use crate::api::MAX_PAGE;
use crate::error::AdminError;
use crate::history::{Actor, Stamp};
use crate::keys;
use crate::model::Mutation;
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
    /// since the last one (default 16 MiB: about four million numbers of bulk changes,
    /// packed, or a hundred thousand one-number changes; what a restart replays).
    pub checkpoint_after: u64,
    /// Checks `voiceName` (default: the built-in offline catalog).
    pub voices: Arc<dyn VoiceValidator>,
    /// How long after a checkpoint failed (a full disk, say) the next is tried (default
    /// 10 s); the journal keeps every change meanwhile.
    pub checkpoint_retry: std::time::Duration,
    /// Who [`Caller::Operator`] is in the change history (default: the library; the
    /// command line says it is the command line).
    pub actor: Actor,
    /// How long the change history keeps a change (default 90 days; `None`: for ever).
    pub history_retain: Option<std::time::Duration>,
    /// Whether an embedded store keeps a change history at all (default yes). Without it,
    /// the history's reads answer `404` (what the history costs is measured against this).
    pub record_history: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            number_check: NumberCheck::Valid,
            default_region: None,
            max_bulk: 10_000,
            checkpoint_after: 16 << 20,
            voices: Arc::new(VoiceCatalog::builtin().clone()),
            checkpoint_retry: std::time::Duration::from_secs(10),
            actor: Actor::Library,
            history_retain: Some(std::time::Duration::from_secs(90 * 86_400)),
            record_history: true,
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
    /// The commit time of the last change stamped here (ms): the next is never before it.
    last_at: i64,
    /// Why reloading failed, when a failed append left the model ahead of the store and
    /// the store could not be read back: every later change is refused.
    poisoned: Option<String>,
}

/// The change side of patchbay: a [`Replica`] (its reads are an admin's through `Deref`)
/// with a writer in front of it, the journal or the shared store's log. Cheap to share
/// behind an `Arc`; every method is safe to call from many threads.
pub struct Admin {
    replica: Replica,
    writer: Mutex<Writer>,
    /// Changes waiting for the next group commit.
    queue: Mutex<Vec<Arc<dyn commit::Job>>>,
    /// The shared store and where this node stands in its log, when it is a node of one.
    cluster: Option<follow::Cluster>,
    /// The checkpoint being written in the background, if any.
    checkpoints: Arc<checkpoint::Checkpoints>,
    /// The change history and the thread that records it (an embedded store's).
    history: Option<Arc<crate::history::recorder::Recorder>>,
    /// A shared store's change history, once the store is reached.
    shared_history: std::sync::OnceLock<crate::store::postgres::history::PgHistory>,
}

impl std::ops::Deref for Admin {
    type Target = Replica;

    fn deref(&self) -> &Replica {
        &self.replica
    }
}

const MAX_TEXT: usize = 256;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn encode(stamp: Option<&Stamp>, change: &[Mutation]) -> Result<Vec<u8>, AdminError> {
    crate::model::change::encode_change(stamp, change).map_err(AdminError::internal)
}

fn store_error(err: StoreError) -> AdminError {
    AdminError::internal(format!("the change was not stored: {err}"))
}

/// Lowers the calling thread's priority below the threads that answer and commit: for work
/// done beside them (checkpoints, index rebuilds), which on a busy machine should take
/// longer rather than them.
pub(crate) fn background_priority() {
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
    /// the resulting snapshot. A torn journal tail is dropped (see [`Replica::warnings`]).
    pub fn open(mut store: Box<dyn Store>, config: AdminConfig) -> Result<Admin, AdminError> {
        if !config.record_history {
            let opened = commit::load(&mut *store, None)?;
            return Admin::assemble(store, opened, config, None);
        }
        let history = history::open(store.history_path().as_deref())?;
        let recorded = history.recorded_position()?;
        let mut opened = commit::load(&mut *store, Some(recorded))?;
        let recorder = history::catch_up(history, recorded, &mut opened, &config)?;
        let mut admin = Admin::assemble(store, opened, config, None)?;
        admin.writer.get_mut().last_at = recorder.last_at();
        admin.history = Some(recorder);
        Ok(admin)
    }

    /// Opens a node of the shared store `shared`, with `cache` as its local cache (a
    /// [`crate::DataDir`] to restart from, or a [`crate::MemoryStore`]). The node starts
    /// from the cache, or from the store's tables when the cache is empty or older than the
    /// log reaches back; [`Admin::follow`] then keeps it in step, and every change commits
    /// in the shared store before it is applied here.
    pub fn open_shared(
        mut cache: Box<dyn Store>,
        mut shared: Postgres,
        config: AdminConfig,
    ) -> Result<Admin, AdminError> {
        shared.retain_history(config.history_retain);
        let mut opened = commit::load(&mut *cache, None)?;
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
            // Nothing cached, or the log no longer reaches back: start from the store's
            // checkpoint and the log after it, or from its tables.
            let started = std::time::Instant::now();
            let whole = feed.load().map_err(log::shared_error)?;
            let read = started.elapsed();
            let (at, model) = (whole.position, whole.model);
            model.check_loaded().map_err(|e| {
                AdminError::internal(format!("what the store holds is inconsistent: {e}"))
            })?;
            // The cache's checkpoint is written while the snapshot is built: the stored
            // checkpoint's bytes as they are, and the changes after them (what an embedded
            // node's store holds after a checkpoint and a few changes), or the model.
            let cached_at = whole
                .checkpoint
                .as_ref()
                .map_or(at, |stored| stored.position);
            let (snapshot, writer) = std::thread::scope(|scope| {
                let writing = scope.spawn(|| {
                    let mut writer = cache.begin_checkpoint(cached_at)?;
                    match &whole.checkpoint {
                        Some(stored) => writer.write(&stored.bytes)?,
                        None => checkpoint::write_model(|| &model, &mut *writer)?,
                    }
                    Ok::<_, crate::StoreError>(writer)
                });
                let snapshot = model.snapshot(at + 1);
                (snapshot, writing.join())
            });
            let snapshot = Arc::new(snapshot.map_err(|e| AdminError::internal(e.to_string()))?);
            let built = started.elapsed();
            writer
                .map_err(|_| AdminError::internal("writing the cache's checkpoint panicked"))?
                .and_then(|writer| writer.finish(Arc::clone(&snapshot)))
                .map_err(store_error)?;
            if let Some(stored) = whole.checkpoint.as_ref().filter(|s| !s.after.is_empty()) {
                cache.append_group(&stored.after).map_err(store_error)?;
            }
            tracing::info!(
                position = at,
                numbers = model.numbers.len(),
                from = match &whole.checkpoint {
                    Some(_) => "checkpoint",
                    None => "tables",
                },
                read_seconds = read.as_secs_f64(),
                built_seconds = built.as_secs_f64(),
                seconds = started.elapsed().as_secs_f64(),
                "loaded the store's model"
            );
            opened.model = model;
            opened.position = at;
            opened.snapshot = Some(snapshot);
        }
        let history = shared.history();
        let cluster = follow::Cluster::new(follow::Source::shared(shared), opened.position, head);
        let admin = Admin::assemble(cache, opened, config, Some(cluster))?;
        let _ = admin.shared_history.set(history);
        Ok(admin)
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
        let opened = commit::load(&mut *cache, None)?;
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
            ..
        } = opened;
        let log: Box<dyn log::Log> = match cluster.as_ref().map(|c| &c.source) {
            Some(follow::Source::Shared { store: shared, .. }) => Box::new(log::SharedJournal {
                shared: shared
                    .get()
                    .map(|shared| Box::new(shared.writer()) as Box<dyn SharedLog>),
                cache: store,
            }),
            _ => Box::new(log::Journal(store)),
        };
        Ok(Admin {
            replica: Replica::new(model, position, snapshot, config, warnings)?,
            writer: Mutex::new(Writer {
                log,
                position,
                last_at: 0,
                poisoned: None,
            }),
            queue: Mutex::new(Vec::new()),
            cluster,
            checkpoints: Arc::default(),
            history: None,
            shared_history: std::sync::OnceLock::new(),
        })
    }
}
