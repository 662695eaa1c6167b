//! Following a shared store: every change any node commits, applied here in commit order.
//! The same follower keeps a read-only process beside a running server in step with the
//! server's data directory (there the feed polls the directory every few milliseconds).
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

    /// What the node does when its position fell out of what the feed can replay.
    fn reload(&self) -> &'static str {
        match self {
            Source::Shared { .. } => {
                "the log no longer holds the changes after this node's position: reloading \
                 from the tables"
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

    /// Why this node refuses changes: it follows another process's data directory
    /// (`conflict`), or it has not reached its shared store since it started
    /// (`unavailable`).
    pub(crate) fn refusal(&self) -> Option<AdminError> {
        match &self.source {
            Source::Shared { store, .. } if store.get().is_some() => None,
            Source::Shared { .. } => Some(AdminError::unavailable(UNREACHED)),
            Source::Dir { dir, .. } => Some(AdminError::conflict(format!(
                "this process follows {} read-only: make changes through the server that \
                 owns it",
                dir.display()
            ))),
        }
    }
}

impl Admin {
    /// This node's name in its shared store's log; `None` for an embedded store or a
    /// follower of a data directory.
    pub fn node_name(&self) -> Option<&str> {
        match &self.cluster.as_ref()?.source {
            Source::Shared { node, .. } => Some(node),
            Source::Dir { .. } => None,
        }
    }

    /// Where this node stands against the store it follows (a shared store, or the data
    /// directory of [`Admin::open_following`]); `None` for an embedded store.
    pub fn follow_status(&self) -> Option<FollowStatus> {
        self.cluster.as_ref().map(|c| {
            let reachable = c.reachable.load(Ordering::Acquire) && c.reached();
            let ready = c.ready.load(Ordering::Acquire);
            FollowStatus {
                applied: c.applied.load(Ordering::Acquire),
                newest: c.newest.load(Ordering::Acquire),
                reachable,
                ready,
                freshness: match (reachable, ready) {
                    (false, _) => Freshness::CacheOnly,
                    (true, true) => Freshness::Fresh,
                    (true, false) => Freshness::CatchingUp,
                },
                stale: c.confirmed.lock().unwrap_or(c.started).elapsed(),
            }
        })
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
    pub fn attach(self: &Arc<Admin>, store: Postgres) -> Result<(), AdminError> {
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

    /// Starts the thread that keeps this node in step with the store it follows; `None`
    /// for an embedded store. The thread ends once the admin is dropped.
    pub fn follow(self: &Arc<Admin>) -> Option<JoinHandle<()>> {
        let cluster = self.cluster.as_ref()?;
        let feed = match cluster.source.feed() {
            Ok(feed) => feed,
            Err(error) => {
                tracing::error!(%error, "cannot follow the store");
                return None;
            }
        };
        let admin = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("patchbay-follow".into())
            .spawn(move || follow_loop(admin, feed))
            .ok()
    }

    /// Reads the shared log until this node has applied everything committed when the call
    /// began: what a command that answers once and exits runs instead of [`Admin::follow`].
    pub fn catch_up(&self) -> Result<u64, AdminError> {
        let Some(cluster) = &self.cluster else {
            return Ok(self.writer.lock().position);
        };
        let mut feed = cluster.source.feed()?;
        loop {
            let newest = self.follow_step(cluster, &mut *feed)?;
            if cluster.applied.load(Ordering::Acquire) >= newest {
                return Ok(newest);
            }
        }
    }

    /// One read of the log, applied; when the log no longer holds the changes right after
    /// this node's position (pruned, or past a data directory's checkpoint), the node
    /// reloads from the tables instead. Returns the newest position seen.
    fn follow_step(&self, cluster: &Cluster, feed: &mut dyn Feed) -> Result<u64, AdminError> {
        let applied = cluster.applied.load(Ordering::Acquire);
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
            self.reload_from_tables(cluster, feed)?;
        } else {
            self.apply_followed(&records)?;
        }
        let applied = cluster.applied.load(Ordering::Acquire);
        if applied >= newest {
            cluster.confirm();
        }
        // A reload may reach past what the read saw.
        cluster.newest.fetch_max(applied, Ordering::AcqRel);
        Ok(newest.max(applied))
    }

    /// Replaces the model with the tables' (read in one snapshot of the database), caches
    /// it, and publishes a snapshot built from it.
    fn reload_from_tables(&self, cluster: &Cluster, feed: &mut dyn Feed) -> Result<(), AdminError> {
        let (at, fresh) = feed.tables().map_err(shared_error)?;
        fresh.check_loaded().map_err(|e| {
            AdminError::internal(format!("what the store holds is inconsistent: {e}"))
        })?;
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
                *model = fresh;
                self.access.publish(&model);
                writer.position = at;
                cluster.set_applied(at);
                let published = self
                    .router
                    .publish_arc(snapshot)
                    .map_err(|e| AdminError::internal(e.to_string()));
                // The snapshot built from the tables shows every change this node made
                // (they are in the log before `at`): bulk changes waiting to be published
                // and an index being rebuilt from an older snapshot are dropped, and the
                // bulk changes answered.
                *self.regrow.lock() = None;
                for job in self.bulk.supersede() {
                    job.settle(published.clone());
                }
                published
            }
        };
        self.nudge_next();
        reloaded
    }

    /// Applies changes read from the log, as one group, under the writer lock.
    fn apply_followed(&self, records: &Records) -> Result<(), AdminError> {
        let applied = self
            .cluster
            .as_ref()
            .map_or(0, |c| c.applied.load(Ordering::Acquire));
        if records.last().is_none_or(|(newest, _)| *newest <= applied) {
            return Ok(()); // nothing new (this node's own commits, say): no lock taken
        }
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
}

fn follow_loop(admin: Weak<Admin>, mut feed: Box<dyn Feed>) {
    let mut backoff = Duration::from_millis(50);
    let mut logged_down = false;
    loop {
        let Some(node) = admin.upgrade() else {
            return;
        };
        let Some(cluster) = node.cluster.as_ref() else {
            return;
        };
        let before = cluster.applied.load(Ordering::Acquire);
        match node.follow_step(cluster, &mut *feed) {
            Ok(newest) => {
                if logged_down {
                    tracing::info!(node = cluster.source.node(), "the store is reachable again");
                    logged_down = false;
                }
                backoff = Duration::from_millis(50);
                let applied = cluster.applied.load(Ordering::Acquire);
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
