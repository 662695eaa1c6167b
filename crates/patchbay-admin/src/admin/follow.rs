//! Following a store: every change committed there, applied here in commit order. An
//! [`Admin`] of a shared store follows what the other nodes commit; a read-only
//! [`Follower`](super::Follower) follows a shared store, or the data directory of a running
//! server (there the feed wakes when the journal changes). Both go through [`Follows`].
//!
//! A follower thread reads the log by position after the last change this node applied,
//! applies what it finds as one group (each change whole, in order, each once: a change at
//! or below the node's position is skipped, a gap is read again), then waits for the
//! store's notification of the next commit. A notification may be lost; the log cannot,
//! so the wait ends after [`SAFETY_NET`] anyway and the log is read again. While the store
//! is unreachable the follower retries with a growing pause, and lookups answer from the
//! last state applied.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLockWriteGuard};

use super::checkpoint::checkpoint_now;
use super::log::shared_error;
use super::publish::Effect;
use super::{store_error, Admin};
use crate::error::{AdminError, ErrorCode};
use crate::model::Model;
use crate::store::postgres::Postgres;
use crate::store::tail::DirFeed;
use crate::store::{Feed, Records};

/// What a node follows.
pub(crate) enum Source {
    /// A shared PostgreSQL store: the node commits its own changes there too. The store is
    /// unset while a node that started from its cache has not reached it yet.
    Shared {
        /// What logs and the log call the node.
        node: String,
        /// The store, once reached.
        store: Box<OnceLock<Postgres>>,
    },
    /// The data directory of another process, read-only: the node changes nothing.
    Dir {
        /// The directory.
        dir: std::path::PathBuf,
        /// What logs call the node.
        name: String,
    },
}

impl Source {
    /// A shared store, reached.
    pub(crate) fn shared(store: Postgres) -> Source {
        Source::Shared {
            node: store.node().to_string(),
            store: Box::new(OnceLock::from(store)),
        }
    }

    /// What logs call this node.
    pub(crate) fn node(&self) -> &str {
        match self {
            Source::Shared { node, .. } => node,
            Source::Dir { name, .. } => name,
        }
    }

    /// The shared store, once reached.
    pub(crate) fn store(&self) -> Option<Postgres> {
        match self {
            Source::Shared { store, .. } => store.get().cloned(),
            Source::Dir { .. } => None,
        }
    }

    /// What the node does when its position fell out of what the feed can replay.
    fn reload(&self) -> &'static str {
        match self {
            Source::Shared { .. } => {
                "the log no longer holds the changes after this node's position: reloading \
                 from the store's checkpoint or its tables"
            }
            Source::Dir { .. } => {
                "the journal no longer holds the changes after this node's position: reading \
                 the directory whole"
            }
        }
    }

    fn feed(&self) -> Result<Box<dyn Feed>, AdminError> {
        Ok(match self {
            Source::Shared { store, .. } => match store.get() {
                Some(store) => Box::new(store.feed()),
                None => return Err(AdminError::unavailable(UNREACHED)),
            },
            Source::Dir { dir, .. } => Box::new(DirFeed::new(dir).map_err(shared_error)?),
        })
    }
}

/// Why a node that started from its cache takes no change yet.
const UNREACHED: &str = "the shared store has not been reached since this node started: it \
                         routes calls from its cache and takes changes once the store is back; \
                         nothing was applied: retry";

/// The longest a follower waits for a notification before it reads the log anyway.
pub const SAFETY_NET: Duration = Duration::from_millis(500);
/// The most changes one read of the log applies as one group.
const READ_LIMIT: usize = 1_000;
/// The longest pause between attempts to reach an unreachable store.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Where this node stands against the shared store.
pub(crate) struct Cluster {
    pub(crate) source: Source,
    applied: AtomicU64,
    /// Wakes those waiting for a position to be applied (`Admin::wait_applied`).
    applied_now: (Mutex<()>, parking_lot::Condvar),
    newest: AtomicU64,
    reachable: AtomicBool,
    ready: AtomicBool,
    /// When the node last saw that it had applied everything in the store (`None`: not
    /// since it started).
    confirmed: Mutex<Option<Instant>>,
    started: Instant,
}

/// How current a node of a shared store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// It has caught up with the store since it started, and reaches it.
    Fresh,
    /// It reaches the store and is applying what it missed.
    CatchingUp,
    /// It cannot reach the store (or has not yet since it started): it routes from what it
    /// has, and refuses changes.
    CacheOnly,
}

impl Freshness {
    /// The word `/readyz` answers with.
    pub fn as_str(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::CatchingUp => "catching_up",
            Freshness::CacheOnly => "cache_only",
        }
    }
}

/// A node's position against the shared store, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowStatus {
    /// The position of the last change this node applied.
    pub applied: u64,
    /// The newest position this node has seen in the store.
    pub newest: u64,
    /// Whether the last attempt to reach the store succeeded.
    pub reachable: bool,
    /// Whether the node has caught up with the store once since it started.
    pub ready: bool,
    /// How current it is.
    pub freshness: Freshness,
    /// How long since the node last saw it had applied everything in the store (since it
    /// started, when it has not yet): how stale its answers may be.
    pub stale: Duration,
}

impl Cluster {
    pub(crate) fn new(source: Source, applied: u64, newest: u64) -> Cluster {
        let reached = match &source {
            Source::Shared { store, .. } => store.get().is_some(),
            Source::Dir { .. } => true,
        };
        let caught_up = reached && applied >= newest;
        let now = Instant::now();
        Cluster {
            source,
            applied: AtomicU64::new(applied),
            applied_now: (Mutex::new(()), parking_lot::Condvar::new()),
            newest: AtomicU64::new(newest),
            reachable: AtomicBool::new(reached),
            ready: AtomicBool::new(caught_up),
            confirmed: Mutex::new(caught_up.then_some(now)),
            started: now,
        }
    }

    pub(crate) fn set_applied(&self, at: u64) {
        self.applied.store(at, Ordering::Release);
        self.newest.fetch_max(at, Ordering::AcqRel);
        // Under the lock, so that a waiter that has just seen an older position is
        // waiting by now.
        let (lock, applied) = &self.applied_now;
        let _held = lock.lock();
        applied.notify_all();
    }

    /// Waits until `position` is applied, or `timeout` has passed; whether it is.
    fn wait_applied(&self, position: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, applied) = &self.applied_now;
        let mut held = lock.lock();
        while self.applied.load(Ordering::Acquire) < position {
            if applied.wait_until(&mut held, deadline).timed_out() {
                return self.applied.load(Ordering::Acquire) >= position;
            }
        }
        true
    }

    pub(crate) fn set_reachable(&self, reachable: bool) {
        self.reachable.store(reachable, Ordering::Release);
    }

    /// Notes that the node has applied everything the store holds.
    fn confirm(&self) {
        self.ready.store(true, Ordering::Release);
        *self.confirmed.lock() = Some(Instant::now());
    }

    /// Whether the store has been reached since the node started.
    fn reached(&self) -> bool {
        match &self.source {
            Source::Shared { store, .. } => store.get().is_some(),
            Source::Dir { .. } => true,
        }
    }

    /// Why an admin refuses changes: it has not reached its shared store since it started
    /// (`unavailable`). A follower takes no change at all, so its source never refuses.
    pub(crate) fn refusal(&self) -> Option<AdminError> {
        match &self.source {
            Source::Shared { store, .. } if store.get().is_none() => {
                Some(AdminError::unavailable(UNREACHED))
            }
            Source::Shared { .. } | Source::Dir { .. } => None,
        }
    }

    /// Where the node stands now.
    pub(crate) fn status(&self) -> FollowStatus {
        let reachable = self.reachable.load(Ordering::Acquire) && self.reached();
        let ready = self.ready.load(Ordering::Acquire);
        FollowStatus {
            applied: self.applied.load(Ordering::Acquire),
            newest: self.newest.load(Ordering::Acquire),
            reachable,
            ready,
            freshness: match (reachable, ready) {
                (false, _) => Freshness::CacheOnly,
                (true, true) => Freshness::Fresh,
                (true, false) => Freshness::CatchingUp,
            },
            stale: self.confirmed.lock().unwrap_or(self.started).elapsed(),
        }
    }

    pub(crate) fn applied(&self) -> u64 {
        self.applied.load(Ordering::Acquire)
    }
}

/// A replica kept in step with a [`Feed`]: an admin of a shared store (which also commits
/// there), or a [`Follower`](super::Follower). The reading, the retries and the reload
/// when the feed no longer reaches back are the same for both; what each does with what
/// it read is its own.
pub(super) trait Follows: Send + Sync + 'static {
    /// Where it stands; `None` when it follows nothing (an embedded store).
    fn cluster(&self) -> Option<&Cluster>;
    /// Applies changes read from the feed, as one group.
    fn apply_followed(&self, records: &Records) -> Result<(), AdminError>;
    /// Replaces the model with `fresh`, read whole from the feed at position `at`, unless
    /// the replica got as far meanwhile.
    fn reload(&self, cluster: &Cluster, at: u64, fresh: Model) -> Result<(), AdminError>;
}

/// Starts the thread that keeps `node` in step with what it follows; `None` when it
/// follows nothing. The thread ends once `node` is dropped.
pub(super) fn start<T: Follows>(node: &Arc<T>) -> Option<JoinHandle<()>> {
    let cluster = node.cluster()?;
    let feed = match cluster.source.feed() {
        Ok(feed) => feed,
        Err(error) => {
            tracing::error!(%error, "cannot follow the store");
            return None;
        }
    };
    let node = Arc::downgrade(node);
    std::thread::Builder::new()
        .name("patchbay-follow".into())
        .spawn(move || follow_loop(node, feed))
        .ok()
}

/// Reads the feed until `node` has applied everything it held when the call began: what a
/// command that answers once and exits runs instead of a follower thread. Returns the
/// position reached.
pub(super) fn catch_up(node: &impl Follows, cluster: &Cluster) -> Result<u64, AdminError> {
    let mut feed = cluster.source.feed()?;
    loop {
        let newest = follow_step(node, cluster, &mut *feed)?;
        if cluster.applied() >= newest {
            return Ok(newest);
        }
    }
}

/// One read of the feed, applied; when the feed no longer holds the changes right after
/// the node's position (pruned, or past a data directory's checkpoint), the node reloads
/// from the tables instead. Returns the newest position seen.
fn follow_step(
    node: &impl Follows,
    cluster: &Cluster,
    feed: &mut dyn Feed,
) -> Result<u64, AdminError> {
    let applied = cluster.applied();
    let (records, newest) = feed.read(applied, READ_LIMIT).map_err(|e| {
        cluster.set_reachable(false);
        shared_error(e)
    })?;
    cluster.set_reachable(true);
    cluster.newest.fetch_max(newest, Ordering::AcqRel);
    let pruned = match records.first() {
        Some((first, _)) => *first > applied + 1,
        None => newest > applied,
    };
    if pruned {
        tracing::warn!(
            node = cluster.source.node(),
            applied,
            "{}",
            cluster.source.reload()
        );
        let (at, fresh) = feed.whole().map_err(shared_error)?;
        fresh.check_loaded().map_err(|e| {
            AdminError::internal(format!("what the store holds is inconsistent: {e}"))
        })?;
        node.reload(cluster, at, fresh)?;
    } else if records.last().is_some_and(|(last, _)| *last > applied) {
        node.apply_followed(&records)?;
    }
    let applied = cluster.applied();
    if applied >= newest {
        cluster.confirm();
    }
    // A reload may reach past what the read saw.
    cluster.newest.fetch_max(applied, Ordering::AcqRel);
    Ok(newest.max(applied))
}

fn follow_loop<T: Follows>(node: Weak<T>, mut feed: Box<dyn Feed>) {
    let mut backoff = Duration::from_millis(50);
    let mut logged_down = false;
    loop {
        let Some(node) = node.upgrade() else {
            return;
        };
        let Some(cluster) = node.cluster() else {
            return;
        };
        let before = cluster.applied();
        match follow_step(&*node, cluster, &mut *feed) {
            Ok(newest) => {
                if logged_down {
                    tracing::info!(node = cluster.source.node(), "the store is reachable again");
                    logged_down = false;
                }
                backoff = Duration::from_millis(50);
                let applied = cluster.applied();
                // More is waiting when this read filled up: read on at once.
                if applied < newest && applied >= before + READ_LIMIT as u64 {
                    continue;
                }
                drop(node);
                if let Err(error) = feed.wait(SAFETY_NET) {
                    tracing::debug!(%error, "waiting for the store's notification failed");
                }
            }
            Err(error) if error.code() == ErrorCode::Unavailable => {
                if !logged_down {
                    tracing::warn!(
                        node = cluster.source.node(),
                        %error,
                        "lost the store: lookups answer from the last state; retrying"
                    );
                    logged_down = true;
                }
                drop(node);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => {
                tracing::error!(node = cluster.source.node(), %error, "applying the log failed");
                drop(node);
                std::thread::sleep(MAX_BACKOFF);
            }
        }
    }
}

impl Follows for Admin {
    fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }

    /// Applies under the writer lock, caches what it applied, and checkpoints the cache
    /// when due.
    fn apply_followed(&self, records: &Records) -> Result<(), AdminError> {
        let applied = {
            let mut writer = self.writer.lock();
            let writer = &mut *writer;
            let mut model = self.model.write();
            let mut effect = Effect::default();
            let started = std::time::Instant::now();
            let applied = self.apply_committed(writer, &mut model, records, &mut effect);
            let model = RwLockWriteGuard::downgrade(model);
            let published = self.publish_group(effect, &model, started);
            drop(model);
            if applied.is_ok() && published.is_ok() {
                self.start_checkpoint_if_due(writer);
            }
            applied.and(published)
        };
        self.nudge_next();
        applied
    }

    /// Replaces the model, caches it, and publishes a snapshot built from it.
    fn reload(&self, cluster: &Cluster, at: u64, fresh: Model) -> Result<(), AdminError> {
        let reloaded = {
            let mut writer = self.writer.lock();
            let writer = &mut *writer;
            if writer.position >= at {
                Ok(()) // this node got as far on its own meanwhile
            } else {
                let mut model = self.model.write();
                let snapshot = Arc::new(
                    fresh
                        .snapshot(self.router.version() + 1)
                        .map_err(|e| AdminError::internal(e.to_string()))?,
                );
                let cached = checkpoint_now(writer.log.local(), at, &fresh, Arc::clone(&snapshot));
                if let Err(error) = cached {
                    tracing::error!(%error, "the local cache failed; keeping it in memory instead");
                    let mut memory = crate::store::MemoryStore::default();
                    checkpoint_now(&mut memory, at, &fresh, Arc::clone(&snapshot))
                        .map_err(store_error)?;
                    writer.log.replace_local(Box::new(memory));
                }
                writer.position = at;
                cluster.set_applied(at);
                // The snapshot built from the tables shows every change this node made
                // (they are in the log before `at`).
                self.replace_model(&mut model, fresh, snapshot)
            }
        };
        self.nudge_next();
        reloaded
    }
}

impl Admin {
    /// This node's name in its shared store's log; `None` for an embedded store.
    pub fn node_name(&self) -> Option<&str> {
        match &self.cluster.as_ref()?.source {
            Source::Shared { node, .. } => Some(node),
            Source::Dir { .. } => None,
        }
    }

    /// Where this node stands against its shared store; `None` for an embedded store.
    pub fn follow_status(&self) -> Option<FollowStatus> {
        self.cluster.as_ref().map(Cluster::status)
    }

    /// Waits (blocking) until this node has applied the shared store's log up to
    /// `position` and its router shows it, or `timeout` has passed: whether it has. An
    /// embedded store has applied everything it holds.
    pub fn wait_applied(&self, position: u64, timeout: Duration) -> bool {
        let Some(cluster) = &self.cluster else {
            return true;
        };
        if !cluster.wait_applied(position, timeout) {
            return false;
        }
        // A position counts as applied once its changes are in the model, and they are
        // published before the writer is let go: waiting for the writer waits for that.
        drop(self.writer.lock());
        true
    }

    /// Connects a node that started from its cache (see [`Admin::open_cached`]) to its
    /// shared store, now reached: from here on changes commit there, and the follower
    /// thread starts and catches up (from the log, or from the tables if the log no longer
    /// reaches back to the cache).
    ///
    /// # Errors
    ///
    /// The store's log ends before the cache's position (the cache belongs to another
    /// database, or the database was restored from an older backup), or this node is not a
    /// node of a shared store that is yet to be reached. The node stays as it was.
    pub fn attach(self: &Arc<Admin>, mut store: Postgres) -> Result<(), AdminError> {
        store.retain_history(self.config.history_retain);
        let Some(cluster) = &self.cluster else {
            return Err(AdminError::internal(
                "this node has no shared store to attach",
            ));
        };
        let Source::Shared { store: cell, .. } = &cluster.source else {
            return Err(AdminError::internal("this node follows a data directory"));
        };
        {
            let mut writer = self.writer.lock();
            let mut feed = store.feed();
            let (_, head) = feed.read(writer.position, 0).map_err(shared_error)?;
            if head < writer.position {
                return Err(AdminError::internal(format!(
                    "the store's log ends at {head}, but the local cache has applied {}: the \
                     cache belongs to another database, or the database was restored from an \
                     older backup (start the node with an empty --data directory)",
                    writer.position
                )));
            }
            cluster.newest.fetch_max(head, Ordering::AcqRel);
            writer.log.attach(Box::new(store.writer()))?;
            let _ = self.shared_history.set(store.history());
            if cell.set(store).is_err() {
                return Err(AdminError::internal("this node reached its store already"));
            }
        }
        cluster.set_reachable(true);
        tracing::info!(
            node = cluster.source.node(),
            "reached the store: catching up"
        );
        self.nudge_next();
        self.follow();
        Ok(())
    }

    /// Starts the thread that keeps this node in step with its shared store; `None` for an
    /// embedded store. The thread ends once the admin is dropped.
    pub fn follow(self: &Arc<Admin>) -> Option<JoinHandle<()>> {
        start(self)
    }

    /// Reads the shared log until this node has applied everything committed when the call
    /// began: what a command that answers once and exits runs instead of [`Admin::follow`].
    pub fn catch_up(&self) -> Result<u64, AdminError> {
        match &self.cluster {
            Some(cluster) => catch_up(self, cluster),
            None => Ok(self.writer.lock().position),
        }
    }
}
