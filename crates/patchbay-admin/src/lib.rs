//! patchbay-admin: the change side of patchbay (accounts, projects, keys, connectors and
//! numbers, their durable store, and publishing snapshots into a
//! [`patchbay_core::Router`]). Not built yet: this crate only reserves its place in the
//! workspace so that dependencies point one way (server → admin → core).

#![forbid(unsafe_code)]

pub use patchbay_core;
