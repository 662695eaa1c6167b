//! patchbay-admin: the change side of patchbay. Accounts, projects, API keys, connectors and
//! phone numbers; every operation of the HTTP contract as a typed Rust API; a durable store;
//! and publishing of each accepted change into a [`patchbay_core::Router`].
//!
//! - [`Admin`] runs the operations. Each takes a [`Caller`] (an API key, or the operator) and
//!   checks its grants; errors carry the contract's codes ([`ErrorCode`]).
//! - [`Replica`] is what an admin and a [`Follower`] share: the model, the router and the
//!   path from applied changes to a published snapshot, with every read of the contract. A
//!   follower is a read-only replica of a store another process changes (a running server's
//!   data directory, or a shared store): it has no change operations at all.
//! - A change is validated, appended to the [`Store`] (durable before it is acknowledged),
//!   applied, and published as one snapshot: readers see all of it or none of it, and the
//!   caller's next lookup sees it.
//! - [`DataDir`] is the embedded store (journal + checkpoints in a directory, one process at
//!   a time); [`MemoryStore`] keeps nothing.
//!
//! ```
//! use patchbay_admin::{Admin, AdminConfig, Caller, MemoryStore, NewConnector, ImportRequest};
//! use patchbay_core::ClientEnv;
//!
//! let admin = Admin::open(Box::new(MemoryStore::default()), AdminConfig::default())?;
//! let key = admin.bootstrap()?.expect("a new store");
//! let caller = Caller::Key(key);
//! let connector = admin.create_connector(&caller, "default", NewConnector {
//!     name: "Support".into(), client_env: ClientEnv::Live, asr_lang_code: "en-US".into(),
//!     voice_name: "en-US-Neural2-A".into(), variant_id: None, disable_handoff: None,
//! })?;
//! admin.import_numbers(&caller, "default", &ImportRequest {
//!     phone_numbers: vec!["+1 415 555 2671".into()], client_env: None,
//!     connector_id: Some(connector.connector_id.clone()),
//! })?;
//! let mut reader = admin.router().reader();
//! let route = reader.lookup("+14155552671")?.expect("routed");
//! assert_eq!(route.connector.tts_lang_code, "en-US");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admin;
mod api;
mod error;
mod history;
mod keys;
mod lang;
mod model;
mod store;
mod validity;
mod voices;

pub use admin::PublishStats;
pub use admin::{
    Admin, AdminConfig, Caller, FollowStatus, Follower, Freshness, HistoryFile, Replica,
};
pub use api::{
    AsOf, Change, ChangeMutation, ChangesPage, ChangesQuery, Record, MAX_CHANGES,
    MAX_MUTATIONS_SHOWN,
};
pub use api::{
    ConnectorPatch, ConnectorUpdate, ConnectorsFound, Deleted, DeletedConnector, Explanation,
    Identity, ImportRequest, Imported, MatchKind, NewConnector, NumberError, NumbersFound,
    NumbersPage, Outcome, Patch, PrefixError, PrefixImportRequest, PrefixesDeleted,
    PrefixesImported, PrefixesPage, UpdateOutcome, MAX_PAGE,
};
pub use error::{AdminError, ErrorCode};
pub use history::Actor;
pub use keys::new_id as random_id;
pub use lang::{check_language_tag, ForbiddenCharKind, LanguageTagError, SubtagKind};
pub use model::{Grant, InvariantError, KeyInfo, NumberPrefix, PhoneNumber, Project};
pub use patchbay_core;
pub use store::postgres::{
    ConnectError, Leadership, Postgres, StoredRoutes, DEFAULT_RETAIN, SCHEMA_VERSION,
};
pub use store::{
    Checkpoint, CheckpointWriter, DataDir, Loaded, MemoryStore, Records, Store, StoreError,
};
pub use validity::NumberCheck;
pub use voices::{
    tts_lang_code, CatalogDefect, CatalogError, VoiceCatalog, VoiceError, VoiceValidator,
};
