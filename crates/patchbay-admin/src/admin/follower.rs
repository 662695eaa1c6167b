//! [`Follower`]: a read-only [`Replica`] kept in step with a store that another process
//! changes: the data directory of a running server, or a shared PostgreSQL store. It has
//! no writer, no journal and no change operations: a `sip --data` front, or a command that
//! reads, cannot change the store by mistake, and the type says so.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::{Mutex, RwLockWriteGuard};

use super::follow::{self, Cluster, Follows, Source};
use super::publish::Effect;
use super::replica::Replica;
use super::{AdminConfig, FollowStatus};
use crate::error::AdminError;
use crate::model::Model;
use crate::store::postgres::Postgres;
use crate::store::tail::DirFeed;
use crate::store::{Feed, Records, SharedError};

/// A read-only replica of a store another process changes. Its reads are a [`Replica`]'s
/// (through `Deref`); [`Follower::follow`] keeps it current.
pub struct Follower {
    replica: Replica,
    /// The position of the last change applied, held while a read is applied, so that
    /// reads are applied one at a time and in order.
    position: Mutex<u64>,
    cluster: Cluster,
}

impl std::ops::Deref for Follower {
    type Target = Replica;

    fn deref(&self) -> &Replica {
        &self.replica
    }
}

impl Follower {
    /// Opens a follower of the data directory `dir`, which a running server may own: the
    /// directory is read whole (checkpoint and journal, consistently however the owner
    /// checkpoints meanwhile), and [`Follower::follow`] then applies every change the owner
    /// acknowledges, within a millisecond.
    ///
    /// # Errors
    ///
    /// `dir` is not a data directory, or what it holds cannot be read or is inconsistent.
    pub fn open_dir(dir: impl Into<PathBuf>, config: AdminConfig) -> Result<Follower, AdminError> {
        let dir = dir.into();
        let failed = |e: SharedError| AdminError::internal(e.reason());
        let mut feed = DirFeed::new(&dir).map_err(failed)?;
        let (position, model) = feed.whole().map_err(failed)?;
        let name = format!("follower of {}", dir.display());
        let source = Source::Dir {
            dir: dir.clone(),
            name,
        };
        Follower::assemble(source, position, model, config)
            .map_err(|e| AdminError::internal(format!("{}: {}", dir.display(), e.message())))
    }

    /// Opens a follower of the shared store `store`, from its tables as they are now;
    /// [`Follower::follow`] then applies every change any node commits.
    ///
    /// # Errors
    ///
    /// The store cannot be read, or what it holds is inconsistent.
    pub fn open_store(store: Postgres, config: AdminConfig) -> Result<Follower, AdminError> {
        let (position, model) = store.feed().whole().map_err(super::log::shared_error)?;
        Follower::assemble(Source::shared(store), position, model, config)
    }

    fn assemble(
        source: Source,
        position: u64,
        model: Model,
        config: AdminConfig,
    ) -> Result<Follower, AdminError> {
        model
            .check_loaded()
            .map_err(|e| AdminError::internal(format!("the stored model is inconsistent: {e}")))?;
        Ok(Follower {
            replica: Replica::new(model, position, None, config, Vec::new())?,
            position: Mutex::new(position),
            cluster: Cluster::new(source, position, position),
        })
    }

    /// Starts the thread that keeps this follower current; it ends once the follower is
    /// dropped. `None` when the thread cannot start or the store cannot be read.
    pub fn follow(self: &Arc<Follower>) -> Option<JoinHandle<()>> {
        follow::start(self)
    }

    /// Reads the store until this follower has applied everything committed when the call
    /// began: what a command that answers once and exits runs instead of
    /// [`Follower::follow`]. Returns the position reached.
    ///
    /// # Errors
    ///
    /// The store cannot be read, or what it holds cannot be applied.
    pub fn catch_up(&self) -> Result<u64, AdminError> {
        follow::catch_up(self, &self.cluster)
    }

    /// Where this follower stands against its store.
    pub fn follow_status(&self) -> FollowStatus {
        self.cluster.status()
    }

    /// Runs `read` over the model with the position of the last change it holds, with no
    /// read applied meanwhile.
    pub(super) fn at_position<T>(&self, read: impl FnOnce(&Model, u64) -> T) -> T {
        let position = self.position.lock();
        let model = self.replica.model.read();
        read(&model, *position)
    }
}

impl Follows for Follower {
    fn cluster(&self) -> Option<&Cluster> {
        Some(&self.cluster)
    }

    /// Applies and publishes what one read brought, as one group.
    fn apply_followed(&self, records: &Records) -> Result<(), AdminError> {
        let mut position = self.position.lock();
        let started = Instant::now();
        let mut model = self.model.write();
        let mut effect = Effect::default();
        let applied = Replica::apply_records(&mut model, *position, records, &mut effect)?;
        if let Some((at, _)) = applied.last() {
            *position = *at;
            self.cluster.set_applied(*at);
        }
        let model = RwLockWriteGuard::downgrade(model);
        let published = self.publish_group(effect, &model, started);
        drop(model);
        // A rebuilt index handed to a build is published once the build is done.
        self.finish_bulk(false);
        published
    }

    /// Replaces the model and publishes a snapshot built from it.
    fn reload(&self, cluster: &Cluster, at: u64, fresh: Model) -> Result<(), AdminError> {
        let mut position = self.position.lock();
        if *position >= at {
            return Ok(());
        }
        let snapshot = Arc::new(
            fresh
                .snapshot(self.router.version() + 1)
                .map_err(|e| AdminError::internal(e.to_string()))?,
        );
        let mut model = self.model.write();
        self.replace_model(&mut model, fresh, snapshot)?;
        *position = at;
        cluster.set_applied(at);
        Ok(())
    }
}
