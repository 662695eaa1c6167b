//! Which node writes for all: the one that holds an advisory lock on a session of its own,
//! with the URL other nodes reach it at in `patchbay.leader`.
//!
//! Writers on several nodes take turns on the log's head, each turn a transaction with its
//! own commit: a group of changes shares a turn only on one node. So a node that does not
//! lead forwards the changes it is asked for to the leader (the HTTP layer does), and the
//! whole cluster's concurrent changes share the leader's turns. Leading is only that: any
//! node may still write (a forward that cannot reach the leader is written where it
//! arrived), and the head keeps every write in order whoever makes it.
//!
//! A thread keeps the session: every [`CHECK_EVERY`] it tries the lock (and, once it holds
//! it, records this node and its URL), or reads who holds it. The lock goes with the
//! session: a leader that dies or loses the database frees it, and the next node to try
//! takes it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use postgres::Client;

use super::Postgres;

/// The advisory lock the leader holds (apart from the one migrations take turns on).
const LEADER_LOCK: i64 = 7_071_746_368_626_180;
/// How often the lock is tried, or the leader read again.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);

/// This node's part in the election of the leader; stops when dropped.
pub struct Leadership {
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Whether this node holds the lock.
    leading: AtomicBool,
    /// The URL of the node that leads, when another does and gave one.
    leader: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl Postgres {
    /// Takes part in the election of the node that writes for all, on a connection of its
    /// own: this node leads while it holds the lock, and records `url` (where the other
    /// nodes reach its HTTP API; `None`: they cannot, and write themselves).
    pub fn lead(&self, url: Option<String>) -> Leadership {
        let state = Arc::new(State::default());
        let store = self.clone();
        let shared = Arc::clone(&state);
        let spawned = std::thread::Builder::new()
            .name("patchbay-lead".into())
            .spawn(move || elect(&store, url.as_deref(), &shared));
        if let Err(error) = spawned {
            tracing::error!(%error, "cannot take part in leading the writes; this node writes itself");
        }
        Leadership { state }
    }
}

impl Leadership {
    /// Whether this node leads.
    pub fn leading(&self) -> bool {
        self.state.leading.load(Ordering::Acquire)
    }

    /// The URL of the node to forward changes to: another node that leads and gave one.
    pub fn leader(&self) -> Option<String> {
        if self.leading() {
            return None;
        }
        self.state.leader.lock().clone()
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::Release);
    }
}

fn elect(store: &Postgres, url: Option<&str>, state: &State) {
    let mut client: Option<Client> = None;
    while !state.stop.load(Ordering::Acquire) {
        let session = match client.take() {
            Some(session) if !session.is_closed() => Some(session),
            _ => store.client().ok(),
        };
        client = session.and_then(|mut session| match turn(&mut session, store, url, state) {
            Ok(()) => Some(session),
            Err(error) => {
                tracing::debug!(error = %error, "leading the writes: the session failed");
                None
            }
        });
        if client.is_none() {
            // The lock, if this node held it, went with the session.
            state.leading.store(false, Ordering::Release);
            *state.leader.lock() = None;
        }
        std::thread::sleep(CHECK_EVERY);
    }
}

/// One check: keeps the session alive while leading; else tries the lock, taking the lead
/// when it is free, or reads who leads.
fn turn(
    client: &mut Client,
    store: &Postgres,
    url: Option<&str>,
    state: &State,
) -> Result<(), postgres::Error> {
    if state.leading.load(Ordering::Acquire) {
        return client.simple_query("SELECT 1").map(|_| ());
    }
    let taken: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&LEADER_LOCK])?
        .try_get(0)?;
    if taken {
        client.execute(
            "INSERT INTO patchbay.leader (node, url) VALUES ($1, $2) \
             ON CONFLICT (singleton) DO UPDATE SET node = excluded.node, url = excluded.url, \
             since = now()",
            &[&store.node, &url],
        )?;
        *state.leader.lock() = None;
        state.leading.store(true, Ordering::Release);
        tracing::info!(node = %store.node, "this node leads the writes");
        return Ok(());
    }
    let leader = client
        .query_opt("SELECT node, url FROM patchbay.leader", &[])?
        .and_then(|row| {
            let node: String = row.try_get(0).ok()?;
            let url: Option<String> = row.try_get(1).ok()?;
            (node != store.node).then_some(url).flatten()
        });
    *state.leader.lock() = leader;
    Ok(())
}
