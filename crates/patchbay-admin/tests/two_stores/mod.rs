//! One suite, two stores: a test written once runs on the embedded store and on a node of a
//! shared PostgreSQL store (a database of its own in the test binary's cluster).

#![allow(dead_code)]

use patchbay_admin::{Admin, AdminConfig, MemoryStore, Postgres};

use crate::pg::PgCluster;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store, in memory.
    Memory,
    /// A node of a new PostgreSQL database, with a cache in memory.
    Postgres,
}

/// An admin of a test. On PostgreSQL, when the test ends without a failure, a second node
/// loads the database's tables and must hold exactly the model this one holds.
pub struct Node {
    admin: Admin,
    url: Option<String>,
}

impl std::ops::Deref for Node {
    type Target = Admin;

    fn deref(&self) -> &Admin {
        &self.admin
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let Some(url) = &self.url else {
            return;
        };
        if std::thread::panicking() {
            return;
        }
        let store = Postgres::connect(url, "check").expect("connect");
        let fresh = Admin::open_shared(
            Box::new(MemoryStore::default()),
            store,
            AdminConfig::default(),
        )
        .expect("a node from the tables");
        fresh.check_invariants().expect("the tables' invariants");
        assert_eq!(
            fresh.model_fingerprint(),
            self.admin.model_fingerprint(),
            "the tables hold another model than the node that wrote them"
        );
    }
}

/// An admin over a new, empty store of `backend`.
pub fn open(backend: Backend, config: AdminConfig) -> Node {
    match backend {
        Backend::Memory => Node {
            admin: Admin::open(Box::new(MemoryStore::default()), config).expect("open"),
            url: None,
        },
        Backend::Postgres => {
            let url = PgCluster::shared().database();
            let store = Postgres::connect(&url, "test").expect("connect");
            Node {
                admin: Admin::open_shared(Box::new(MemoryStore::default()), store, config)
                    .expect("open"),
                url: Some(url),
            }
        }
    }
}

/// Runs each named `fn(Backend)` as two tests, `memory` and `postgres`, in a module of its
/// name.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn memory() {
                super::$name($crate::two_stores::Backend::Memory)
            }
            #[test]
            fn postgres() {
                super::$name($crate::two_stores::Backend::Postgres)
            }
        }
    )*};
}
