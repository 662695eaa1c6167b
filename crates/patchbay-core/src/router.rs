//! The router: the current [`Snapshot`] behind an atomic pointer, and readers of it.
//!
//! [`Router::publish`] swaps in a new snapshot with one atomic store; readers never wait for
//! it and never see a mix of two snapshots. [`Router::lookup`] works from any thread through
//! a shared reference; a [`Reader`] (one per thread) caches the current snapshot and costs
//! one atomic load to revalidate it, plus the probe. Neither path locks or allocates.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::{ArcSwap, Cache, Guard};
use parking_lot::Mutex;

use crate::connector::Connector;
use crate::number::{NormalizeError, E164};
use crate::snapshot::{Match, Snapshot, SnapshotFileError};

/// The answer to a lookup: the connector and the version of the snapshot it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Route<'a> {
    /// The normalized number that was looked up.
    pub number: E164,
    /// The connector that serves it.
    pub connector: &'a Connector,
    /// The version of the snapshot that answered.
    pub version: u64,
    /// How it matched: the number's own entry, or a prefix of it.
    pub matched: Match,
}

/// A route that keeps its snapshot alive, returned by [`Router::lookup`]. Hold it briefly:
/// while it lives, the snapshot it came from cannot be freed.
pub struct RouteGuard {
    snapshot: Guard<Arc<Snapshot>>,
    number: E164,
    matched: Match,
    slot: u32,
}

impl RouteGuard {
    /// The route.
    pub fn route(&self) -> Route<'_> {
        Route {
            number: self.number,
            connector: self.connector(),
            version: self.snapshot.version(),
            matched: self.matched,
        }
    }

    /// How the number matched.
    pub fn matched(&self) -> Match {
        self.matched
    }

    /// The connector that serves the number.
    pub fn connector(&self) -> &Connector {
        // `slot` came from `Snapshot::slot_of` or `Snapshot::probe` on this very snapshot,
        // which only return slots below its connector count: the fallback is never taken.
        self.snapshot
            .slot_connector(self.slot)
            .unwrap_or(&crate::snapshot::HOLE)
    }

    /// The version of the snapshot that answered.
    pub fn version(&self) -> u64 {
        self.snapshot.version()
    }
}

impl std::fmt::Debug for RouteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.route().fmt(f)
    }
}

struct Shared {
    current: ArcSwap<Snapshot>,
    /// Serializes publishers (only): the version check and the swap are one step. Holds
    /// the snapshots replaced so far that readers may still hold: they are freed here, by a
    /// publisher, once no reader does, so a call-handling thread never pays for freeing a
    /// large snapshot.
    publish: Mutex<Vec<Arc<Snapshot>>>,
    /// Set by [`Router::defer_reclaim`]: publishing frees nothing, [`Router::reclaim`] does.
    deferred: AtomicBool,
}

/// `Cache` needs something that dereferences to the `ArcSwap`.
#[derive(Clone)]
struct SharedSwap(Arc<Shared>);

impl Deref for SharedSwap {
    type Target = ArcSwap<Snapshot>;
    fn deref(&self) -> &ArcSwap<Snapshot> {
        &self.0.current
    }
}

/// Holds the current snapshot; cheap to clone (clones share it).
///
/// ```
/// use patchbay_core::{Router, Snapshot};
/// let router = Router::new(Snapshot::empty(1));
/// assert_eq!(router.version(), 1);
/// router.publish(Snapshot::empty(2))?;
/// assert!(router.publish(Snapshot::empty(2)).is_err()); // versions only move forward
/// let mut reader = router.reader();
/// assert!(reader.lookup("+14155552671")?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Router {
    shared: SharedSwap,
}

impl Default for Router {
    /// A router holding an empty snapshot of version 0.
    fn default() -> Self {
        Router::new(Snapshot::empty(0))
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("current", &**self.shared.load())
            .finish()
    }
}

impl Router {
    /// A router serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Router {
        Router {
            shared: SharedSwap(Arc::new(Shared {
                current: ArcSwap::from_pointee(snapshot),
                publish: Mutex::new(Vec::new()),
                deferred: AtomicBool::new(false),
            })),
        }
    }

    /// A router serving a snapshot that is already shared (one a store kept, say).
    pub fn from_arc(snapshot: Arc<Snapshot>) -> Router {
        Router {
            shared: SharedSwap(Arc::new(Shared {
                current: ArcSwap::new(snapshot),
                publish: Mutex::new(Vec::new()),
                deferred: AtomicBool::new(false),
            })),
        }
    }

    /// Makes `snapshot` current in one atomic swap, if its version is higher than the
    /// current one. Readers see the old snapshot or the new one, whole.
    pub fn publish(&self, snapshot: Snapshot) -> Result<(), PublishError> {
        self.publish_arc(Arc::new(snapshot))
    }

    /// [`Router::publish`] for a snapshot that is already shared.
    pub fn publish_arc(&self, snapshot: Arc<Snapshot>) -> Result<(), PublishError> {
        let mut retired = self.shared.0.publish.lock();
        let current = self.shared.load().version();
        if snapshot.version() <= current {
            return Err(PublishError::Stale {
                current,
                offered: snapshot.version(),
            });
        }
        let old = self.shared.swap(snapshot);
        retired.push(old);
        if !self.shared.0.deferred.load(Ordering::Relaxed) {
            // A retired snapshot is unreachable from the router, so its count only falls;
            // at one, this list holds the last reference and dropping it here frees it here.
            retired.retain(|snapshot| Arc::strong_count(snapshot) > 1);
        }
        Ok(())
    }

    /// Frees replaced snapshots that no reader holds any more (publishing does this too,
    /// unless [`Router::defer_reclaim`] was called). Returns how many replaced snapshots
    /// are still held by readers. Publishers wait for it only while it sorts the list out,
    /// not while it frees.
    pub fn reclaim(&self) -> usize {
        let (free, held): (Vec<_>, Vec<_>) = {
            let mut retired = self.shared.0.publish.lock();
            std::mem::take(&mut *retired)
                .into_iter()
                .partition(|snapshot| Arc::strong_count(snapshot) == 1)
        };
        let still_held = held.len();
        // Put back before freeing, so that a publisher meanwhile finds the list whole.
        self.shared.0.publish.lock().extend(held);
        drop(free);
        still_held
    }

    /// Leaves the freeing of replaced snapshots to [`Router::reclaim`]: publishing then
    /// frees nothing. For a publisher that must not pay for freeing what it replaced (a
    /// large index copied by a bulk change is hundreds of megabytes, freed in tens of
    /// milliseconds), with a thread of its own that reclaims. Readers never free a
    /// replaced snapshot either way.
    pub fn defer_reclaim(&self) {
        self.shared.0.deferred.store(true, Ordering::Relaxed);
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.load_full()
    }

    /// The current snapshot's version.
    pub fn version(&self) -> u64 {
        self.shared.load().version()
    }

    /// Normalizes `input` (no default region) and looks it up in the current snapshot.
    #[inline]
    pub fn lookup(&self, input: &str) -> Result<Option<RouteGuard>, NormalizeError> {
        let snapshot = self.shared.load();
        Ok(snapshot
            .probe(input)?
            .map(|(number, matched, slot)| RouteGuard {
                snapshot,
                number,
                matched,
                slot,
            }))
    }

    /// Looks `number` up in the current snapshot.
    #[inline]
    pub fn get(&self, number: E164) -> Option<RouteGuard> {
        let snapshot = self.shared.load();
        let (matched, slot) = snapshot.slot_of(number)?;
        Some(RouteGuard {
            snapshot,
            number,
            matched,
            slot,
        })
    }

    /// A reader for one thread: lookups through it cost one atomic load plus the probe.
    pub fn reader(&self) -> Reader {
        Reader {
            cache: Cache::new(self.shared.clone()),
        }
    }

    /// Follows the snapshot file at `path`: publishes it now, then checks every `interval`
    /// whether it was replaced (a new inode, size or time) and publishes the new file when
    /// its version is higher. A file that fails to open is reported by
    /// [`Follower::last_error`] and the router keeps serving what it has. Stops when the
    /// [`Follower`] is dropped.
    pub fn follow(
        &self,
        path: impl Into<PathBuf>,
        interval: Duration,
    ) -> Result<Follower, SnapshotFileError> {
        let path = path.into();
        let first = Snapshot::open(&path)?;
        // An older file than what is served is not an error: the router keeps its own.
        let _ = self.publish(first);
        let state = Arc::new(FollowState::default());
        let (stop, stopped) = mpsc::channel::<()>();
        let router = self.clone();
        let thread_state = Arc::clone(&state);
        let thread_path = path.clone();
        let mut seen = file_identity(&path);
        let handle = std::thread::Builder::new()
            .name("patchbay-follow".into())
            .spawn(move || loop {
                match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                let identity = file_identity(&thread_path);
                if identity.is_none() || identity == seen {
                    continue;
                }
                seen = identity;
                match Snapshot::open(&thread_path) {
                    Ok(snapshot) => {
                        // Status first, then publish under the counter's lock: whoever sees
                        // the new version also sees the cleared error and the count.
                        *thread_state.last_error.lock() = None;
                        let mut reloads = thread_state.reloads.lock();
                        if router.publish(snapshot).is_ok() {
                            *reloads += 1;
                        }
                    }
                    Err(err) => *thread_state.last_error.lock() = Some(err.to_string()),
                }
            })
            .map_err(|e| SnapshotFileError::io(&path, e))?;
        Ok(Follower {
            stop: Some(stop),
            handle: Some(handle),
            state,
        })
    }
}

/// What identifies one version of a file on disk: device, inode, size and change time.
type FileIdentity = Option<(u64, u64, u64, i64, i64)>;

fn file_identity(path: &Path) -> FileIdentity {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    Some((
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

#[derive(Default)]
struct FollowState {
    reloads: Mutex<u64>,
    last_error: Mutex<Option<String>>,
}

/// Follows a snapshot file for a [`Router`]; stops following when dropped.
pub struct Follower {
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<()>>,
    state: Arc<FollowState>,
}

impl Follower {
    /// How many replacement files were published so far.
    pub fn reloads(&self) -> u64 {
        *self.state.reloads.lock()
    }

    /// Why the latest replacement file could not be opened, if it could not.
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error.lock().clone()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// A per-thread reader of a [`Router`]. It keeps the current snapshot and revalidates it
/// with one atomic load per lookup; it holds an old snapshot alive until its next lookup.
///
/// ```
/// # use patchbay_core::Router;
/// let router = Router::default();
/// let mut reader = router.reader();
/// std::thread::spawn(move || {
///     let answer = reader.lookup("+14155552671");
///     assert!(matches!(answer, Ok(None)));
/// }).join().unwrap();
/// ```
pub struct Reader {
    cache: Cache<SharedSwap, Arc<Snapshot>>,
}

impl Reader {
    /// Normalizes `input` (no default region) and looks it up.
    #[inline(always)]
    pub fn lookup(&mut self, input: &str) -> Result<Option<Route<'_>>, NormalizeError> {
        let snapshot: &Snapshot = self.cache.load();
        Ok(snapshot
            .route(input)?
            .map(|(number, matched, connector)| Route {
                number,
                connector,
                version: snapshot.version(),
                matched,
            }))
    }

    /// Looks `number` up in the current snapshot.
    #[inline]
    pub fn get(&mut self, number: E164) -> Option<Route<'_>> {
        let snapshot: &Snapshot = self.cache.load();
        let (matched, connector) = snapshot.get_match(number)?;
        Some(Route {
            number,
            connector,
            version: snapshot.version(),
            matched,
        })
    }

    /// The current snapshot.
    pub fn snapshot(&mut self) -> &Snapshot {
        self.cache.load()
    }
}

/// Why a snapshot was not published.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// Its version is not above the current one; versions only move forward.
    #[error("snapshot version {offered} is not newer than the current version {current}: build it with a higher version")]
    Stale {
        /// The version being served.
        current: u64,
        /// The version offered.
        offered: u64,
    },
}
