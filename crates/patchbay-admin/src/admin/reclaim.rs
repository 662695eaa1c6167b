//! Replaced snapshots freed by a thread of their own.
//!
//! Readers never free a snapshot the router replaced: the router keeps it until no reader
//! holds it, and by default the next publish frees it. Here that publish is the writer's,
//! and what a bulk change replaces is most of the index (hundreds of megabytes at ten
//! million numbers, tens of milliseconds to free) while every change behind it waits. So
//! the admin's router leaves the freeing to this thread ([`Router::defer_reclaim`]), which
//! frees what no reader holds any more every [`EVERY`], below the threads that answer and
//! commit.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use patchbay_core::Router;

/// How often replaced snapshots are looked at.
const EVERY: Duration = Duration::from_millis(20);

/// The thread that frees replaced snapshots; stopped (and what is left freed) on drop.
pub(super) struct Reclaimer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Reclaimer {
    /// Starts the thread for `router`, and has its publishes leave the freeing to it. If
    /// the thread cannot be started, publishes go on freeing as they do by default.
    pub(super) fn start(router: &Router) -> Reclaimer {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let signal = Arc::clone(&stop);
        let reclaimed = router.clone();
        let spawned = std::thread::Builder::new()
            .name("patchbay-reclaim".into())
            .spawn(move || {
                super::background_priority();
                let (stopped, wake) = &*signal;
                let mut stopped = stopped.lock();
                while !*stopped {
                    wake.wait_for(&mut stopped, EVERY);
                    parking_lot::MutexGuard::unlocked(&mut stopped, || reclaimed.reclaim());
                }
            });
        let thread = match spawned {
            Ok(thread) => {
                router.defer_reclaim();
                Some(thread)
            }
            Err(error) => {
                tracing::warn!(%error, "replaced snapshots are freed by the writer");
                None
            }
        };
        Reclaimer { stop, thread }
    }
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use crate::api::NewConnector;
    use crate::store::MemoryStore;
    use crate::{Admin, AdminConfig, Caller};

    fn connector(admin: &Admin, name: &str) {
        admin
            .create_connector(
                &Caller::Operator,
                "p",
                NewConnector {
                    name: name.into(),
                    client_env: patchbay_core::ClientEnv::Live,
                    asr_lang_code: "en-US".into(),
                    voice_name: "en-US-Neural2-A".into(),
                    variant_id: None,
                    disable_handoff: None,
                },
            )
            .expect("connector");
    }

    /// A snapshot the admin replaced lives on after the publish (the writer frees nothing)
    /// and is freed soon after by the reclaiming thread, unless a reader holds it.
    #[test]
    fn replaced_snapshots_are_freed_beside_the_writer() {
        let admin =
            Admin::open(Box::new(MemoryStore::default()), AdminConfig::default()).expect("open");
        admin
            .create_project(&Caller::Operator, "acme", "p")
            .expect("project");
        connector(&admin, "a");
        let replaced = std::sync::Arc::downgrade(&admin.router().snapshot());
        let held = admin.router().snapshot();
        connector(&admin, "b");
        assert_ne!(admin.router().version(), held.version(), "a publish");
        // Held here, it stays, however long the thread runs.
        std::thread::sleep(super::EVERY * 5);
        assert!(replaced.strong_count() > 0);
        drop(held);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while replaced.strong_count() > 0 {
            assert!(
                Instant::now() < deadline,
                "a replaced snapshot was never freed"
            );
            std::thread::sleep(super::EVERY);
        }
        // Dropping the admin stops its thread.
        drop(admin);
    }
}
