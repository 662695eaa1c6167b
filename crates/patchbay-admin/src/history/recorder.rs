//! The thread that writes the embedded store's history: the group commit hands it each
//! group's entries once they are durable in the journal, and it records them in redb
//! beside the changes that follow (never on a change's path), pruning what retention no
//! longer keeps. It gathers what comes within [`LINGER`] into one commit (one fsync for many
//! one-number changes, beside the journal's), unless someone waits: readers wait for it to
//! reach the position they read at, so a change acknowledged is in the history its caller
//! reads next, and say so, so that it records at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::embedded::EmbeddedHistory;
use super::Entry;

/// How often retention is applied.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long entries wait for more to share their commit, when no one waits for them.
pub(crate) const LINGER: Duration = Duration::from_millis(20);
/// The most changes one pruning pass drops.
const PRUNE_STEP: usize = 10_000;

/// A committed group's entries, and the position it reaches.
type Group = (Vec<Entry>, u64);

#[derive(Default)]
struct Progress {
    /// The last position it recorded.
    recorded: u64,
    /// Why it stopped, when recording failed.
    failed: Option<String>,
    /// Someone waits for a position not yet recorded: record without lingering.
    urgent: bool,
}

/// The history's writer thread and where it stands.
pub(crate) struct Recorder {
    history: Arc<EmbeddedHistory>,
    /// The last position handed to the thread: an atomic, so that a change's path never
    /// waits on a lock the thread (at a lower priority) may hold.
    sent: AtomicU64,
    sender: Mutex<Option<Sender<Group>>>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    /// Wakes the thread from its lingering, when someone waits.
    wake: Arc<Condvar>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Recorder {
    /// Starts the thread over `history`, which has recorded up to `recorded`; retention is
    /// `retain` (none: keep everything).
    pub(crate) fn start(
        history: Arc<EmbeddedHistory>,
        recorded: u64,
        retain: Option<Duration>,
    ) -> Recorder {
        let (sender, receiver) = channel();
        let progress = Arc::new((
            Mutex::new(Progress {
                recorded,
                failed: None,
                urgent: false,
            }),
            Condvar::new(),
        ));
        let wake = Arc::new(Condvar::new());
        let thread = {
            let (history, progress, wake) = (
                Arc::clone(&history),
                Arc::clone(&progress),
                Arc::clone(&wake),
            );
            std::thread::Builder::new()
                .name("patchbay-history".into())
                .spawn(move || run(&history, &receiver, &progress, &wake, retain))
                .ok()
        };
        Recorder {
            history,
            sent: AtomicU64::new(recorded),
            sender: Mutex::new(Some(sender)),
            progress,
            wake,
            thread: Mutex::new(thread),
        }
    }

    /// The history it writes, to read.
    pub(crate) fn history(&self) -> &EmbeddedHistory {
        &self.history
    }

    /// The commit time of the newest change recorded (ms; 0 when none is).
    pub(crate) fn last_at(&self) -> i64 {
        self.history.newest_at().ok().flatten().unwrap_or(0)
    }

    /// Hands over a committed group's entries (in order), up to `position`. Called with
    /// the model's write lock held, so that a reader of the model knows what the history
    /// must reach ([`Recorder::sent`]).
    pub(crate) fn send(&self, entries: Vec<Entry>, position: u64) {
        self.sent.store(position, Ordering::Release);
        if let Some(sender) = self.sender.lock().as_ref() {
            if sender.send((entries, position)).is_err() {
                self.progress.0.lock().failed = Some("the history thread stopped".into());
            }
        }
    }

    /// The last position handed over.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Acquire)
    }

    /// Waits until everything up to `position` is recorded (or `timeout` passes).
    pub(crate) fn wait_for(&self, position: u64, timeout: Duration) -> Result<(), String> {
        let (lock, ready) = &*self.progress;
        let deadline = Instant::now() + timeout;
        let mut progress = lock.lock();
        if progress.recorded < position && !progress.urgent && !timeout.is_zero() {
            // Wakes the thread from its lingering.
            progress.urgent = true;
            self.wake.notify_one();
        }
        loop {
            if let Some(why) = &progress.failed {
                return Err(why.clone());
            }
            if progress.recorded >= position {
                return Ok(());
            }
            if ready.wait_until(&mut progress, deadline).timed_out() {
                return Err(format!(
                    "the history is still recording change {position} (at {}): retry",
                    progress.recorded
                ));
            }
        }
    }
}

impl Drop for Recorder {
    /// Records what was handed over, then stops the thread.
    fn drop(&mut self) {
        self.sender.lock().take();
        self.progress.0.lock().urgent = true;
        self.wake.notify_one();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

fn run(
    history: &EmbeddedHistory,
    receiver: &Receiver<Group>,
    progress: &(Mutex<Progress>, Condvar),
    wake: &Condvar,
    retain: Option<Duration>,
) {
    crate::admin::background_priority();
    let mut pruned = Instant::now() - PRUNE_EVERY;
    let (lock, ready) = progress;
    loop {
        let (mut entries, mut through) = match receiver.recv_timeout(PRUNE_EVERY) {
            Ok(group) => group,
            Err(RecvTimeoutError::Timeout) => (Vec::new(), 0),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Linger for more to share the commit, asleep (what is sent meanwhile waits in the
        // channel and wakes no one), unless someone waits for it.
        if through > 0 {
            let deadline = Instant::now() + LINGER;
            let mut progress = lock.lock();
            while !progress.urgent && !wake.wait_until(&mut progress, deadline).timed_out() {}
        }
        let mut closed = false;
        loop {
            match receiver.try_recv() {
                Ok((more, to)) => {
                    entries.extend(more);
                    through = through.max(to);
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if through > 0 {
            let last = through;
            match history.record(&entries, through) {
                Ok(()) => {
                    let mut progress = lock.lock();
                    progress.recorded = last;
                    progress.urgent = false;
                }
                Err(error) => {
                    tracing::error!(%error, "the history could not be written; it is rebuilt \
                        from the journal at the next start");
                    lock.lock().failed = Some(format!("the history could not be written: {error}"));
                    ready.notify_all();
                    return;
                }
            }
            ready.notify_all();
        } else {
            lock.lock().urgent = false;
        }
        if closed {
            return;
        }
        if let Some(retain) = retain {
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = Instant::now();
                let cutoff = super::now_ms()
                    .saturating_sub(i64::try_from(retain.as_millis()).unwrap_or(i64::MAX));
                if let Err(error) = history.prune_before(cutoff, PRUNE_STEP) {
                    tracing::warn!(%error, "the history could not be pruned");
                }
            }
        }
    }
}
