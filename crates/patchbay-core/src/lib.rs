//! patchbay-core: the per-call side of patchbay, the part a SIP or call-handling process
//! links to answer "which connector serves the number that was dialled?".
//!
//! - [`E164`] and [`normalize`]: every accepted way of writing a number becomes one
//!   canonical integer; every rejection is a [`NormalizeError`] that names its reason.
//! - [`Snapshot`]: an immutable table of numbers and the [`Connector`] each routes to,
//!   built in O(n) or opened from a checksummed, memory-mapped snapshot file.
//! - [`Router`]: holds the current snapshot behind an atomic pointer. Publishing is one
//!   swap; lookups never lock, never allocate and never wait for a publish.
//!
//! ```
//! use patchbay_core::{ClientEnv, Connector, Router, Snapshot};
//!
//! let support = Connector {
//!     connector_id: "c1".into(), name: "Support".into(), account_id: "acme".into(),
//!     project_id: "support".into(), client_env: ClientEnv::Live, variant_id: String::new(),
//!     asr_lang_code: "en-US".into(), tts_lang_code: "en-US".into(),
//!     voice_name: "en-US-Neural2-A".into(), disable_handoff: false,
//! };
//! let router = Router::new(Snapshot::from_routes(1, [("+14155552671".parse()?, &support)])?);
//!
//! let mut reader = router.reader(); // one per call-handling thread
//! let route = reader.lookup("sip:+1-415-555-2671@pbx.example.com")?.expect("routed");
//! assert_eq!((route.connector.name.as_str(), route.version), ("Support", 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The crate does no I/O beyond reading and writing snapshot files, and has no async
//! runtime. The only `unsafe` is the file mapping, in one module.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod connector;
mod number;
mod router;
mod snapshot;

pub use connector::{ClientEnv, Connector, UnknownClientEnv};
pub use number::{
    input_form, normalize, normalize_bytes, normalize_in, InputForm, NormalizeError, Prefix,
    Region, E164, MAX_DIGITS, MAX_INPUT_LEN, MAX_PREFIX_DIGITS,
};
pub use router::{Follower, PublishError, Reader, Route, RouteGuard, Router};
pub use snapshot::{
    write_atomically as write_file_atomically, BuildError, ConnectorSlot, FileErrorKind, Match,
    Snapshot, SnapshotBuilder, SnapshotFileError, SnapshotPatch, CHECKSUM_AT, FORMAT_VERSION,
    HEADER_LEN, MAGIC,
};
