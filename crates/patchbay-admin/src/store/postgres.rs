//! The shared store: one PostgreSQL database that every node writes through and follows.
//!
//! Everything lives in the schema `patchbay`:
//!
//! | table | what |
//! |---|---|
//! | `schema_migrations` | the migrations applied, by version |
//! | `head` | one row: the newest position of the log; writers lock it, so they take turns |
//! | `changes` | the log: one row per change, by position, with the node that made it and its mutations (JSON) |
//! | `accounts`, `projects`, `api_keys` | accounts, projects, and API keys (their SHA-256, never a secret) |
//! | `connectors` | each connector's id, project and whole record (JSON) |
//! | `numbers` | each number (`+` and digits), its project, environment and connector (`NULL`: none) |
//! | `prefixes` | each prefix (`+` and digits) and its connector |
//!
//! A write is one transaction: lock `head`, read the changes after the node's position (the
//! node applies them and plans against the result), insert the new changes into `changes`,
//! write their mutations to the tables, move `head`, notify `patchbay_changes`, commit.
//! Because every writer holds the head row from its first read to its commit, positions
//! commit in order with no gaps, and every plan is validated against every change before it.

use std::collections::BTreeMap;
use std::time::Duration;

use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, Statement};

use super::{Records, SharedError, SharedLog};
use crate::model::{Grant, KeyInfo, KeyRecord, Mutation};

/// The channel writers notify on commit and followers listen to.
const CHANNEL: &str = "patchbay_changes";

/// Migrations by version, applied in order, each once, in one transaction.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "CREATE TABLE patchbay.head (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        position bigint NOT NULL,
        cluster_id text NOT NULL
    );
    INSERT INTO patchbay.head (position, cluster_id)
        VALUES (0, md5(random()::text || clock_timestamp()::text));
    CREATE TABLE patchbay.changes (
        position bigint PRIMARY KEY,
        committed_at timestamptz NOT NULL DEFAULT now(),
        node text NOT NULL,
        change json NOT NULL
    );
    CREATE TABLE patchbay.accounts (account_id text PRIMARY KEY);
    CREATE TABLE patchbay.projects (
        project_id text PRIMARY KEY,
        account_id text NOT NULL
    );
    CREATE TABLE patchbay.api_keys (
        key_id text PRIMARY KEY,
        account_id text NOT NULL,
        grant_projects text[],
        label text NOT NULL,
        created_at bigint NOT NULL,
        revoked boolean NOT NULL,
        sha256 text NOT NULL
    );
    COMMENT ON COLUMN patchbay.api_keys.grant_projects IS 'NULL: every project of the account';
    CREATE TABLE patchbay.connectors (
        connector_id text PRIMARY KEY,
        project_id text NOT NULL,
        connector json NOT NULL
    );
    CREATE TABLE patchbay.numbers (
        number text PRIMARY KEY,
        project_id text NOT NULL,
        client_env text NOT NULL,
        connector_id text
    );
    CREATE INDEX numbers_by_connector ON patchbay.numbers (connector_id);
    CREATE TABLE patchbay.prefixes (
        prefix text PRIMARY KEY,
        connector_id text NOT NULL
    );",
)];

/// The newest schema version this build understands.
pub const SCHEMA_VERSION: i32 = 1;

/// The server's own message and SQLSTATE when it answered, else what the client saw.
fn describe(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => err.to_string(),
    }
}

fn unavailable(err: &postgres::Error) -> SharedError {
    SharedError::Unavailable(describe(err))
}

/// What a failed statement means: the connection (or a server that is shutting down,
/// starting, out of resources, or kept a lock too long) is `Unavailable`, which a retry
/// may get past; any other answer of the server is a refusal.
fn failed(err: postgres::Error) -> SharedError {
    let Some(code) = err.code() else {
        return unavailable(&err);
    };
    let code = code.code();
    let transient = ["08", "53", "57", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || matches!(code, "55P03" | "40001" | "40P01");
    if transient {
        unavailable(&err)
    } else {
        SharedError::Refused(describe(&err))
    }
}

/// Where the shared store is and who this node is: opens the connections nodes write and
/// follow through. Cheap to clone.
#[derive(Clone)]
pub struct Postgres {
    config: Config,
    node: String,
    cluster_id: String,
    retain: u64,
}

/// How many of the newest changes the log keeps by default: a node that was away for fewer
/// catches up from the log, one away longer reloads from the tables.
pub const DEFAULT_RETAIN: u64 = 1_000_000;
/// Writers prune the log once every this many positions.
const PRUNE_EVERY: u64 = 1_024;

impl std::fmt::Debug for Postgres {
    /// Never prints a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgres")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("node", &self.node)
            .finish()
    }
}

impl Postgres {
    /// Connects to the database at `url` (`postgresql://USER@HOST:PORT/DB`, or key=value
    /// settings), creates or migrates the schema, and names this node `node` in the log.
    /// Fails with a message that says what to do when the database cannot be reached or
    /// its schema is newer than this build understands.
    pub fn connect(url: &str, node: &str) -> Result<Postgres, String> {
        let mut config: Config = url
            .parse()
            .map_err(|e| format!("--store {}: {e}", redact(url)))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name(&format!("patchbay {node}"));
        let mut client = config
            .connect(NoTls)
            .map_err(|e| format!("cannot reach the store {}: {e}", redact(url)))?;
        migrate(&mut client).map_err(|e| format!("the store {}: {e}", redact(url)))?;
        let cluster_id: String = client
            .query_one("SELECT cluster_id FROM patchbay.head", &[])
            .map_err(|e| e.to_string())?
            .get(0);
        Ok(Postgres {
            config,
            node: node.to_string(),
            cluster_id,
            retain: DEFAULT_RETAIN,
        })
    }

    /// Keeps only the newest `changes` changes in the log (at least one): the writer whose
    /// commit crosses a multiple of 1,024 positions deletes the older ones.
    pub fn retain(mut self, changes: u64) -> Postgres {
        self.retain = changes.max(1);
        self
    }

    /// The id the database drew when its schema was created: a local cache of another
    /// database is refused by it.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// This node's name in the log.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn client(&self) -> Result<Client, SharedError> {
        self.config.connect(NoTls).map_err(|e| unavailable(&e))
    }

    pub(crate) fn writer(&self) -> PgWriter {
        PgWriter {
            store: self.clone(),
            session: None,
            head: None,
        }
    }

    pub(crate) fn feed(&self) -> PgFeed {
        PgFeed {
            store: self.clone(),
            client: None,
            statements: None,
        }
    }
}

/// `url` without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Applies the migrations the database lacks, one transaction, with nodes that start at the
/// same time taking turns on an advisory lock.
fn migrate(client: &mut Client) -> Result<(), String> {
    let mut tx = client.transaction().map_err(|e| e.to_string())?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7071746368626179);
         CREATE SCHEMA IF NOT EXISTS patchbay;
         CREATE TABLE IF NOT EXISTS patchbay.schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(|e| e.to_string())?;
    let newest: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM patchbay.schema_migrations",
            &[],
        )
        .map_err(|e| e.to_string())?
        .get(0);
    if newest > SCHEMA_VERSION {
        return Err(format!(
            "its schema is at version {newest}, newer than this patchbay understands \
             ({SCHEMA_VERSION}): upgrade patchbay"
        ));
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > newest) {
        tx.batch_execute(sql)
            .map_err(|e| format!("migration {version}: {e}"))?;
        tx.execute(
            "INSERT INTO patchbay.schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(|e| format!("migration {version}: {e}"))?;
    }
    tx.commit().map_err(|e| e.to_string())
}

fn position(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn records(rows: &[postgres::Row]) -> Result<Records, SharedError> {
    rows.iter()
        .map(|row| {
            let at: i64 = row.try_get(0).map_err(failed)?;
            let change: String = row.try_get(1).map_err(failed)?;
            Ok((at as u64, change.into_bytes()))
        })
        .collect()
}

const READ_AFTER: &str = "SELECT position, change::text FROM patchbay.changes \
                          WHERE position > $1 ORDER BY position LIMIT $2";

/// The write connection of a node, with its statements prepared.
pub(crate) struct PgWriter {
    store: Postgres,
    session: Option<Session>,
    /// The head read by `begin`, while a write is open.
    head: Option<u64>,
}

/// A connection and the statements prepared on it (one round trip each).
struct Session {
    client: Client,
    lock: Statement,
    read: Statement,
    append: Statement,
    move_head: Statement,
    tables: TableStatements,
}

/// Locks the head. The changes up to it are read by the next statement: under READ
/// COMMITTED a statement sees the database as it was when it began, so a read in the same
/// statement as a lock that waited would miss the change committed by the writer before.
const LOCK: &str = "SELECT position FROM patchbay.head FOR UPDATE";
const APPEND: &str = "INSERT INTO patchbay.changes (position, node, change) \
     SELECT p, $2, c::json FROM unnest($1::bigint[], $3::text[]) AS t(p, c)";

impl Session {
    fn open(store: &Postgres) -> Result<Session, SharedError> {
        let mut client = store.client()?;
        client
            .batch_execute("SET lock_timeout = '10s'")
            .map_err(failed)?;
        Ok(Session {
            lock: client.prepare(LOCK).map_err(failed)?,
            read: client.prepare(READ_AFTER).map_err(failed)?,
            append: client.prepare(APPEND).map_err(failed)?,
            move_head: client
                .prepare(&format!(
                    "UPDATE patchbay.head SET position = $1::bigint \
                     RETURNING pg_notify('{CHANNEL}', position::text)"
                ))
                .map_err(failed)?,
            tables: TableStatements::prepare(&mut client).map_err(failed)?,
            client,
        })
    }
}

impl PgWriter {
    fn connected(&mut self) -> Result<&mut Session, SharedError> {
        if self.session.as_ref().is_some_and(|s| s.client.is_closed()) {
            self.session = None;
        }
        if self.session.is_none() {
            self.session = Some(Session::open(&self.store)?);
        }
        self.session
            .as_mut()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))
    }

    /// Rolls back what is open, dropping the connection if even that fails.
    fn roll_back(&mut self) {
        self.head = None;
        if let Some(session) = self.session.as_mut() {
            if session.client.batch_execute("ROLLBACK").is_err() {
                self.session = None;
            }
        }
    }

    fn try_begin(&mut self, after: u64) -> Result<(u64, Records), SharedError> {
        let session = self.connected()?;
        session.client.batch_execute("BEGIN").map_err(failed)?;
        let head: i64 = session
            .client
            .query_one(&session.lock, &[])
            .map_err(failed)?
            .try_get(0)
            .map_err(failed)?;
        let head = head as u64;
        if head < after {
            return Err(SharedError::Refused(format!(
                "the store's log ends at {head}, but this node has applied {after}: its \
                 local cache belongs to another database, or the database was restored \
                 from an older backup (start the node with an empty --data directory)"
            )));
        }
        let rows = session
            .client
            .query(&session.read, &[&position(after), &position(head - after)])
            .map_err(failed)?;
        let missed = records(&rows)?;
        let expected = head - after;
        if missed.len() as u64 != expected {
            return Err(SharedError::Unavailable(format!(
                "the log holds {} of the {expected} changes after {after} (the rest were \
                 pruned): this node reloads from the tables",
                missed.len()
            )));
        }
        Ok((head, missed))
    }

    fn try_commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        changes: &[Vec<Mutation>],
    ) -> Result<(), SharedError> {
        let node = self.store.node.clone();
        let retain = self.store.retain;
        let head = self
            .head
            .take()
            .ok_or_else(|| SharedError::Refused("commit without begin".into()))?;
        let mut positions = Vec::with_capacity(records.len());
        let mut texts = Vec::with_capacity(records.len());
        let mut newest = head;
        for (at, payload) in records {
            if *at != newest + 1 {
                return Err(SharedError::Refused(format!(
                    "change {at} does not follow the log's head {newest}"
                )));
            }
            let text = std::str::from_utf8(payload)
                .map_err(|e| SharedError::Refused(format!("change {at}: {e}")))?;
            positions.push(position(*at));
            texts.push(text);
            newest = *at;
        }
        let session = self.connected()?;
        session
            .client
            .execute(&session.append, &[&positions, &node, &texts])
            .map_err(failed)?;
        for mutation in changes.iter().flatten() {
            session
                .tables
                .write(&mut session.client, mutation)
                .map_err(failed)?;
        }
        session
            .client
            .query(&session.move_head, &[&position(newest)])
            .map_err(failed)?;
        if newest / PRUNE_EVERY != head / PRUNE_EVERY && newest > retain {
            session
                .client
                .execute(
                    "DELETE FROM patchbay.changes WHERE position <= $1",
                    &[&position(newest - retain)],
                )
                .map_err(failed)?;
        }
        match session.client.batch_execute("COMMIT") {
            Ok(()) => Ok(()),
            // The server answered: the transaction is rolled back.
            Err(err) if err.as_db_error().is_some() => Err(failed(err)),
            Err(err) => {
                self.session = None;
                Err(SharedError::Unknown(err.to_string()))
            }
        }
    }
}

impl SharedLog for PgWriter {
    fn begin(&mut self, after: u64) -> Result<Records, SharedError> {
        match self.try_begin(after) {
            Ok((head, missed)) => {
                self.head = Some(head);
                Ok(missed)
            }
            Err(err) => {
                self.roll_back();
                Err(err)
            }
        }
    }

    fn commit(
        &mut self,
        records: &[(u64, Vec<u8>)],
        changes: &[Vec<Mutation>],
    ) -> Result<(), SharedError> {
        let outcome = self.try_commit(records, changes);
        if matches!(
            outcome,
            Err(SharedError::Refused(_) | SharedError::Unavailable(_))
        ) {
            self.roll_back();
        }
        outcome
    }

    fn abort(&mut self) {
        self.roll_back();
    }
}

fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The statements that write each kind of mutation to the tables, as
/// [`crate::model::Model::apply`] applies it.
struct TableStatements {
    put_account: Statement,
    put_project: Statement,
    put_key: Statement,
    revoke_key: Statement,
    put_connector: Statement,
    remove_connector: Statement,
    put_numbers: Statement,
    remove_numbers: Statement,
    put_prefixes: Statement,
    remove_prefixes: Statement,
}

impl TableStatements {
    fn prepare(client: &mut Client) -> Result<TableStatements, postgres::Error> {
        Ok(TableStatements {
            put_account: client.prepare(
                "INSERT INTO patchbay.accounts (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
            )?,
            put_project: client.prepare(
                "INSERT INTO patchbay.projects (project_id, account_id) VALUES ($1, $2) \
                 ON CONFLICT (project_id) DO UPDATE SET account_id = excluded.account_id",
            )?,
            put_key: client.prepare(
                "INSERT INTO patchbay.api_keys \
                 (key_id, account_id, grant_projects, label, created_at, revoked, sha256) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (key_id) DO UPDATE SET account_id = excluded.account_id, \
                 grant_projects = excluded.grant_projects, label = excluded.label, \
                 created_at = excluded.created_at, revoked = excluded.revoked, \
                 sha256 = excluded.sha256",
            )?,
            revoke_key: client
                .prepare("UPDATE patchbay.api_keys SET revoked = true WHERE key_id = $1")?,
            put_connector: client.prepare(
                "INSERT INTO patchbay.connectors (connector_id, project_id, connector) \
                 VALUES ($1, $2, $3::text::json) \
                 ON CONFLICT (connector_id) DO UPDATE SET project_id = excluded.project_id, \
                 connector = excluded.connector",
            )?,
            remove_connector: client
                .prepare("DELETE FROM patchbay.connectors WHERE connector_id = $1")?,
            put_numbers: client.prepare(
                "INSERT INTO patchbay.numbers (number, project_id, client_env, connector_id) \
                 SELECT n, $2, $3, $4 FROM unnest($1::text[]) AS n \
                 ON CONFLICT (number) DO UPDATE SET project_id = excluded.project_id, \
                 client_env = excluded.client_env, connector_id = excluded.connector_id",
            )?,
            remove_numbers: client
                .prepare("DELETE FROM patchbay.numbers WHERE number = ANY($1::text[])")?,
            put_prefixes: client.prepare(
                "INSERT INTO patchbay.prefixes (prefix, connector_id) \
                 SELECT p, $2 FROM unnest($1::text[]) AS p \
                 ON CONFLICT (prefix) DO UPDATE SET connector_id = excluded.connector_id",
            )?,
            remove_prefixes: client
                .prepare("DELETE FROM patchbay.prefixes WHERE prefix = ANY($1::text[])")?,
        })
    }

    /// Writes one mutation.
    fn write(&self, client: &mut Client, mutation: &Mutation) -> Result<(), postgres::Error> {
        match mutation {
            Mutation::PutAccount { account_id } => client.execute(&self.put_account, &[account_id]),
            Mutation::PutProject {
                project_id,
                account_id,
            } => client.execute(&self.put_project, &[project_id, account_id]),
            Mutation::PutKey { key } => {
                let grant: Option<Vec<String>> = match &key.info.grant {
                    Grant::AllProjects => None,
                    Grant::Projects(set) => Some(set.iter().cloned().collect()),
                };
                client.execute(
                    &self.put_key,
                    &[
                        &key.info.key_id,
                        &key.info.account_id,
                        &grant,
                        &key.info.label,
                        &position(key.info.created_at),
                        &key.info.revoked,
                        &key.hash,
                    ],
                )
            }
            Mutation::RevokeKey { key_id } => client.execute(&self.revoke_key, &[key_id]),
            Mutation::PutConnector { connector } => {
                let body = serde_json::to_string(connector).unwrap_or_default();
                client.execute(
                    &self.put_connector,
                    &[&connector.connector_id, &connector.project_id, &body],
                )
            }
            Mutation::RemoveConnector { connector_id } => {
                client.execute(&self.remove_connector, &[connector_id])
            }
            Mutation::PutNumbers {
                project_id,
                client_env,
                connector_id,
                numbers,
            } => client.execute(
                &self.put_numbers,
                &[
                    &texts(numbers),
                    project_id,
                    &client_env.as_str(),
                    connector_id,
                ],
            ),
            Mutation::RemoveNumbers { numbers } => {
                client.execute(&self.remove_numbers, &[&texts(numbers)])
            }
            Mutation::PutPrefixes {
                connector_id,
                prefixes,
            } => client.execute(&self.put_prefixes, &[&texts(prefixes), connector_id]),
            Mutation::RemovePrefixes { prefixes } => {
                client.execute(&self.remove_prefixes, &[&texts(prefixes)])
            }
        }
        .map(|_| ())
    }
}

/// The follow connection of a node: listens for commits and reads the log by position.
pub(crate) struct PgFeed {
    store: Postgres,
    client: Option<Client>,
    /// `READ_AFTER` and the head's position, prepared on `client`.
    statements: Option<(Statement, Statement)>,
}

impl PgFeed {
    fn connected(&mut self) -> Result<&mut Client, SharedError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            let mut client = self.store.client()?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(failed)?;
            self.statements = Some((
                client.prepare(READ_AFTER).map_err(failed)?,
                client
                    .prepare("SELECT position FROM patchbay.head")
                    .map_err(failed)?,
            ));
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))
    }

    /// Runs `f` on the connection, dropping it when it failed.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, SharedError> {
        let client = self.connected()?;
        match f(client) {
            Ok(value) => Ok(value),
            Err(err) => {
                if err.as_db_error().is_none() {
                    self.client = None;
                }
                Err(failed(err))
            }
        }
    }
}

impl super::Feed for PgFeed {
    fn read(&mut self, after: u64, limit: usize) -> Result<(Records, u64), SharedError> {
        self.connected()?;
        let (read, head) = self
            .statements
            .clone()
            .ok_or_else(|| SharedError::Unavailable("no connection".into()))?;
        let (rows, head) = self.with(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let head: i64 = tx.query_one(&head, &[])?.get(0);
            let rows = tx.query(&read, &[&position(after), &(limit as i64)])?;
            tx.commit()?;
            Ok((rows, head as u64))
        })?;
        Ok((records(&rows)?, head))
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, SharedError> {
        let client = self.connected()?;
        let outcome = {
            let mut notifications = client.notifications();
            let first = notifications.timeout_iter(timeout).next();
            if let Ok(Some(_)) = first {
                // Take whatever else came with it: one read covers them all.
                let mut rest = notifications.iter();
                while let Ok(Some(_)) = rest.next() {}
            }
            first
        };
        let closed = client.is_closed();
        match outcome {
            Ok(Some(_)) => Ok(true),
            Err(err) => {
                self.client = None;
                Err(failed(err))
            }
            Ok(None) if closed => {
                self.client = None;
                Err(SharedError::Unavailable("the connection closed".into()))
            }
            Ok(None) => Ok(false),
        }
    }

    fn oldest(&mut self) -> Result<u64, SharedError> {
        self.with(|client| {
            let oldest: i64 = client
                .query_one(
                    "SELECT coalesce(min(position), 0) FROM patchbay.changes",
                    &[],
                )?
                .get(0);
            Ok(oldest as u64)
        })
    }

    fn tables(&mut self) -> Result<(u64, Vec<Mutation>), SharedError> {
        let rows = self.with(|client| {
            let mut tx = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let head: i64 = tx
                .query_one("SELECT position FROM patchbay.head", &[])?
                .get(0);
            let tables = Tables {
                head: head as u64,
                accounts: tx.query("SELECT account_id FROM patchbay.accounts ORDER BY 1", &[])?,
                projects: tx.query(
                    "SELECT project_id, account_id FROM patchbay.projects ORDER BY 1",
                    &[],
                )?,
                keys: tx.query(
                    "SELECT key_id, account_id, grant_projects, label, created_at, revoked, \
                     sha256 FROM patchbay.api_keys ORDER BY 1",
                    &[],
                )?,
                connectors: tx.query(
                    "SELECT connector::text FROM patchbay.connectors ORDER BY connector_id",
                    &[],
                )?,
                numbers: tx.query(
                    "SELECT number, project_id, client_env, connector_id FROM patchbay.numbers",
                    &[],
                )?,
                prefixes: tx.query("SELECT prefix, connector_id FROM patchbay.prefixes", &[])?,
            };
            tx.commit()?;
            Ok(tables)
        })?;
        rows.mutations()
    }
}

/// The rows of every table, read in one snapshot of the database.
struct Tables {
    head: u64,
    accounts: Vec<postgres::Row>,
    projects: Vec<postgres::Row>,
    keys: Vec<postgres::Row>,
    connectors: Vec<postgres::Row>,
    numbers: Vec<postgres::Row>,
    prefixes: Vec<postgres::Row>,
}

fn bad_row(table: &str, what: impl std::fmt::Display) -> SharedError {
    SharedError::Refused(format!("patchbay.{table}: {what}"))
}

impl Tables {
    /// The mutations that build the model the tables hold, in the order a checkpoint has.
    fn mutations(self) -> Result<(u64, Vec<Mutation>), SharedError> {
        let mut out = Vec::new();
        for row in &self.accounts {
            out.push(Mutation::PutAccount {
                account_id: row.try_get(0).map_err(|e| bad_row("accounts", e))?,
            });
        }
        for row in &self.projects {
            out.push(Mutation::PutProject {
                project_id: row.try_get(0).map_err(|e| bad_row("projects", e))?,
                account_id: row.try_get(1).map_err(|e| bad_row("projects", e))?,
            });
        }
        for row in &self.keys {
            let bad = |e: postgres::Error| bad_row("api_keys", e);
            let grant: Option<Vec<String>> = row.try_get(2).map_err(bad)?;
            let created_at: i64 = row.try_get(4).map_err(bad)?;
            out.push(Mutation::PutKey {
                key: KeyRecord {
                    info: KeyInfo {
                        key_id: row.try_get(0).map_err(bad)?,
                        account_id: row.try_get(1).map_err(bad)?,
                        grant: match grant {
                            None => Grant::AllProjects,
                            Some(projects) => Grant::Projects(projects.into_iter().collect()),
                        },
                        label: row.try_get(3).map_err(bad)?,
                        created_at: created_at.max(0) as u64,
                        revoked: row.try_get(5).map_err(bad)?,
                    },
                    hash: row.try_get(6).map_err(bad)?,
                },
            });
        }
        for row in &self.connectors {
            let text: String = row.try_get(0).map_err(|e| bad_row("connectors", e))?;
            let connector: Connector =
                serde_json::from_str(&text).map_err(|e| bad_row("connectors", e))?;
            out.push(Mutation::PutConnector { connector });
        }
        type Group = (String, ClientEnv, Option<String>);
        let mut groups: BTreeMap<Group, Vec<E164>> = BTreeMap::new();
        for row in &self.numbers {
            let bad = |e: &dyn std::fmt::Display| bad_row("numbers", e);
            let number: &str = row.try_get(0).map_err(|e| bad(&e))?;
            let env: &str = row.try_get(2).map_err(|e| bad(&e))?;
            let env = ClientEnv::ALL
                .into_iter()
                .find(|e| e.as_str() == env)
                .ok_or_else(|| bad(&format!("unknown environment {env:?}")))?;
            groups
                .entry((
                    row.try_get(1).map_err(|e| bad(&e))?,
                    env,
                    row.try_get(3).map_err(|e| bad(&e))?,
                ))
                .or_default()
                .push(
                    number
                        .parse()
                        .map_err(|e| bad(&format!("{number:?}: {e}")))?,
                );
        }
        for ((project_id, client_env, connector_id), mut numbers) in groups {
            numbers.sort_unstable();
            out.push(Mutation::PutNumbers {
                project_id,
                client_env,
                connector_id,
                numbers,
            });
        }
        let mut by_connector: BTreeMap<String, Vec<Prefix>> = BTreeMap::new();
        for row in &self.prefixes {
            let bad = |e: &dyn std::fmt::Display| bad_row("prefixes", e);
            let prefix: &str = row.try_get(0).map_err(|e| bad(&e))?;
            by_connector
                .entry(row.try_get(1).map_err(|e| bad(&e))?)
                .or_default()
                .push(
                    prefix
                        .parse()
                        .map_err(|e| bad(&format!("{prefix:?}: {e}")))?,
                );
        }
        for (connector_id, mut prefixes) in by_connector {
            prefixes.sort_unstable();
            out.push(Mutation::PutPrefixes {
                connector_id,
                prefixes,
            });
        }
        Ok((self.head, out))
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redact("postgresql://app:s3cret@db:5432/patchbay"),
            "postgresql://app:***@db:5432/patchbay"
        );
        assert_eq!(
            redact("postgresql://app@db/patchbay"),
            "postgresql://app@db/patchbay"
        );
        assert_eq!(redact("host=/tmp dbname=x"), "host=/tmp dbname=x");
    }
}
