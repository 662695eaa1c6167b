//! The shared store: one PostgreSQL database that every node writes through and follows.
//!
//! Everything lives in the schema `patchbay`:
//!
//! | table | what |
//! |---|---|
//! | `schema_migrations` | the migrations applied, by version |
//! | `head` | one row: the newest position of the log (writers lock it, so they take turns) and the store's id |
//! | `changes` | the log: one row per change, by position, with the node that made it and its mutations (JSON, or packed when it carries many numbers: `model/change.rs`) |
//! | `accounts`, `projects`, `api_keys` | accounts, projects, and API keys (their SHA-256, never a secret) |
//! | `connectors` | each connector's id, project and whole record (JSON) |
//! | `numbers` | each number (`+` and digits), its project, environment and connector (`NULL`: none) |
//! | `prefixes` | each prefix (`+` and digits) and its connector |
//! | `leader` | one row: the node that leads the writes (`lead.rs`) and the URL of its HTTP API |
//! | `checkpoints`, `checkpoint_parts` | the model as a checkpoint at a position, in parts, which a new node loads with the log after it (`checkpoint.rs`) |
//! | `history`, `history_subjects` | the change history, written with each change, and what each change touched, indexed (`history.rs`) |
//!
//! A write is one transaction: lock `head`, read the changes after the node's position (the
//! node applies them and plans against the result), insert the new changes into `changes`,
//! write their mutations to the tables, move `head`, notify `patchbay_changes`, commit.
//! Because every writer holds the head row from its first read to its commit, positions
//! commit in order with no gaps, and every plan is validated against every change before it.
//!
//! One module per concern: `schema.rs` (the schema and its migrations), `writer.rs` (the
//! writer's transaction), `rows.rs` (mutations as table writes, and the tables read back as
//! mutations, the numbers through `copy.rs`, a reader of binary `COPY` streams),
//! `feed.rs` (the follower's connection, and the whole model: the stored checkpoint and
//! the log after it, or the tables), `checkpoint.rs` (the model stored as a checkpoint),
//! `lead.rs` (the node that writes for all),
//! `point.rs` (a few numbers' routes
//! read with indexed queries, for commands that answer once) and `security.rs` (TLS and
//! the password, read as libpq reads them).

mod checkpoint;
mod copy;
mod feed;
pub(crate) mod history;
mod lead;
mod point;
mod rows;
mod schema;
mod security;
mod writer;

use std::time::Duration;

use postgres::{Client, Config, NoTls};

/// Opens a connection with `config`, over TLS unless `security` says plain text only or
/// every host is a Unix socket (which, as in libpq, never carries TLS).
fn open(config: &Config, security: &security::Security) -> Result<Client, postgres::Error> {
    let network = !config.get_hostaddrs().is_empty()
        || config
            .get_hosts()
            .iter()
            .any(|host| matches!(host, postgres::config::Host::Tcp(_)));
    match &security.tls {
        Some(tls) if network => config.connect(tls.clone()),
        Some(_) => {
            let mut local = config.clone();
            local.ssl_mode(postgres::config::SslMode::Disable);
            local.connect(NoTls)
        }
        None => config.connect(NoTls),
    }
}

/// What a failed first connection means: a refusal that trying again cannot change (the
/// server's certificate, the password, the server's rules for this client), or a database
/// that cannot be reached now (a database not created yet counts as one).
fn refusal(url: &str, error: &postgres::Error) -> ConnectError {
    let reason = with_causes(error);
    let refused = |hint: &str| ConnectError::Refused {
        url: url.to_string(),
        reason: format!("{reason}{hint}"),
    };
    if reason.contains("invalid peer certificate") {
        return refused(if reason.contains("UnknownIssuer") {
            " (the server's certificate is not signed by the CA of sslrootcert)"
        } else if reason.contains("not valid for name") || reason.contains("NotValidForName") {
            " (sslmode=verify-full: the server's certificate must name the host connected to)"
        } else {
            ""
        });
    }
    if reason.contains("password missing") {
        return refused(" (give it in the URL, PGPASSWORD or a password file)");
    }
    match error.code().map(|code| code.code()) {
        Some(code) if code.starts_with("28") => refused(if reason.contains("no encryption") {
            " (the server takes only encrypted connections: use sslmode=require or stronger)"
        } else {
            ""
        }),
        _ => ConnectError::Unreachable {
            url: url.to_string(),
            reason,
        },
    }
}

pub(crate) use checkpoint::Upload;
pub(crate) use feed::PgFeed;
pub use lead::Leadership;
pub use point::StoredRoutes;
pub use schema::SCHEMA_VERSION;
pub(crate) use writer::PgWriter;

use super::{Records, SharedError};

/// The channel writers notify on commit and followers listen to.
const CHANNEL: &str = "patchbay_changes";

const READ_AFTER: &str = "SELECT position, change::text, packed FROM patchbay.changes \
                          WHERE position > $1 ORDER BY position LIMIT $2";

/// A read-only REPEATABLE READ transaction on `client`: one snapshot of the database for
/// every statement in it.
fn read_snapshot(client: &mut Client) -> Result<postgres::Transaction<'_>, SharedError> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .map_err(failed)
}

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
    security: security::Security,
    node: String,
    store_id: String,
    retain: u64,
    /// How long the change history keeps a change (`None`: for ever).
    history_retain: Option<std::time::Duration>,
}

/// How many of the newest changes the log keeps by default: a node that was away for fewer
/// catches up from the log, one away longer reloads the whole model (the stored checkpoint
/// and the log after it, or the tables).
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
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: the URL does not parse, the database cannot be reached, its schema
    /// is newer than this build understands, or creating or migrating it failed. Every
    /// variant carries the URL without its password.
    pub fn connect(url: &str, node: &str) -> Result<Postgres, ConnectError> {
        let shown = redact(url);
        let invalid = |reason: String| ConnectError::InvalidUrl {
            url: shown.clone(),
            reason,
        };
        let (rest, taken) = security::split(url).map_err(invalid)?;
        let mut config: Config = rest
            .parse()
            .map_err(|e: postgres::Error| invalid(e.to_string()))?;
        let security =
            security::configure(&mut config, &taken, &security::Env::current()).map_err(invalid)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name(&format!("patchbay {node}"));
        if config.get_options().is_none() {
            // The schema's `IF NOT EXISTS` notices on every start are not news.
            config.options("-c client_min_messages=warning");
        }
        let mut client = open(&config, &security).map_err(|e| refusal(&shown, &e))?;
        schema::migrate(&mut client).map_err(|e| match e {
            schema::SchemaError::TooNew(found) => ConnectError::SchemaTooNew {
                url: shown.clone(),
                found,
            },
            schema::SchemaError::Failed(migration, e) => ConnectError::Schema {
                url: shown.clone(),
                migration,
                reason: e.to_string(),
            },
        })?;
        let store_id: String = client
            .query_one("SELECT store_id FROM patchbay.head", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| ConnectError::Schema {
                url: shown.clone(),
                migration: None,
                reason: e.to_string(),
            })?;
        Ok(Postgres {
            config,
            security,
            node: node.to_string(),
            store_id,
            retain: DEFAULT_RETAIN,
            history_retain: Some(std::time::Duration::from_secs(90 * 86_400)),
        })
    }

    /// Keeps only the newest `changes` changes in the log (at least one): the writer whose
    /// commit crosses a multiple of 1,024 positions deletes the older ones.
    pub fn retain(mut self, changes: u64) -> Postgres {
        self.retain = changes.max(1);
        self
    }

    /// The store's id, drawn when its schema was created: a node's local cache is marked
    /// with it, so a cache of another store is refused.
    pub fn store_id(&self) -> &str {
        &self.store_id
    }

    /// This node's name in the log.
    pub fn node(&self) -> &str {
        &self.node
    }

    fn client(&self) -> Result<Client, SharedError> {
        open(&self.config, &self.security).map_err(|e| unavailable(&e))
    }

    pub(crate) fn writer(&self) -> PgWriter {
        PgWriter::new(self.clone())
    }

    pub(crate) fn feed(&self) -> PgFeed {
        PgFeed::new(self.clone())
    }

    /// The store's change history, read with a connection of its own.
    pub(crate) fn history(&self) -> history::PgHistory {
        history::PgHistory::new(self.clone())
    }

    /// Keeps the store's change history for `retain` (`None`: for ever): the writers drop
    /// what is older as they prune the log.
    pub(crate) fn retain_history(&mut self, retain: Option<std::time::Duration>) {
        self.history_retain = retain;
    }
}

/// Why [`Postgres::connect`] failed. Every variant carries the URL with its password
/// masked, so the error can be shown and logged as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is neither `postgresql://USER@HOST:PORT/DB` nor key=value settings: correct
    /// it as `reason` says.
    InvalidUrl {
        /// The URL, password masked.
        url: String,
        /// What the parser objected to.
        reason: String,
    },
    /// The database could not be reached: check that it runs at that address. Trying
    /// again may succeed.
    Unreachable {
        /// The URL, password masked.
        url: String,
        /// What the client saw.
        reason: String,
    },
    /// The database, or the connection's TLS, refused this client: the server's
    /// certificate did not pass the checks `sslmode` asks for, or the password or the
    /// server's rules for this client (`pg_hba.conf`) are wrong. Trying again changes
    /// nothing until the settings do.
    Refused {
        /// The URL, password masked.
        url: String,
        /// Why, in the words of TLS or of the server, with what to change.
        reason: String,
    },
    /// The database's schema is newer than this build understands: upgrade patchbay to
    /// the version that created it.
    SchemaTooNew {
        /// The URL, password masked.
        url: String,
        /// The database's schema version.
        found: i32,
    },
    /// Creating or migrating the schema failed (the user may lack the rights to create
    /// schema `patchbay`), or its `head` row could not be read.
    Schema {
        /// The URL, password masked.
        url: String,
        /// The migration that failed, when one did.
        migration: Option<i32>,
        /// The database's own message.
        reason: String,
    },
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::InvalidUrl { url, reason } => {
                write!(f, "{url} is not a PostgreSQL URL: {reason}")
            }
            ConnectError::Unreachable { url, reason } => {
                write!(f, "cannot reach the store {url}: {reason}")
            }
            ConnectError::Refused { url, reason } => {
                write!(f, "the store {url} refused the connection: {reason}")
            }
            ConnectError::SchemaTooNew { url, found } => write!(
                f,
                "the store {url}: its schema is at version {found}, newer than this \
                 patchbay understands ({SCHEMA_VERSION}): upgrade patchbay"
            ),
            ConnectError::Schema {
                url,
                migration: Some(version),
                reason,
            } => write!(f, "the store {url}: migration {version}: {reason}"),
            ConnectError::Schema {
                url,
                migration: None,
                reason,
            } => write!(f, "the store {url}: {reason}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// `error` and what caused it, as far down as it goes ("error connecting to server: No
/// such file or directory (os error 2)"): the client's own words alone rarely say why.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = inner.source();
    }
    text
}

/// `url` without its password: the URL's own, a `password` query parameter, or a
/// `password=` setting.
fn redact(url: &str) -> String {
    let url = match (url.find("://"), url.rfind('@')) {
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
    };
    mask_setting(&url, "password")
}

/// `text` with the value of every `key=` setting (a URL's query parameter, or a key=value
/// setting, quoted or not) replaced by `***`.
fn mask_setting(text: &str, key: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find(key) {
        let before = rest[..found].chars().next_back();
        let after = rest[found + key.len()..].trim_start();
        let starts_setting = before.is_none_or(|c| matches!(c, '?' | '&' | ' ' | '\t'));
        if !(starts_setting && after.starts_with('=')) {
            out.push_str(&rest[..found + key.len()]);
            rest = &rest[found + key.len()..];
            continue;
        }
        out.push_str(&rest[..found]);
        out.push_str(key);
        out.push_str("=***");
        let value = after[1..].trim_start();
        let end = if let Some(quoted) = value.strip_prefix('\'') {
            let mut escaped = false;
            let close = quoted.char_indices().find_map(|(i, c)| {
                let close = c == '\'' && !escaped;
                escaped = c == '\\' && !escaped;
                close.then_some(i)
            });
            close.map_or(value.len(), |i| i + 2)
        } else {
            value
                .find(|c: char| c == '&' || c.is_whitespace())
                .unwrap_or(value.len())
        };
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

fn position(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn records(rows: &[postgres::Row]) -> Result<Records, SharedError> {
    rows.iter()
        .map(|row| {
            let at: i64 = row.try_get(0).map_err(failed)?;
            let json: Option<String> = row.try_get(1).map_err(failed)?;
            let packed: Option<Vec<u8>> = row.try_get(2).map_err(failed)?;
            let change = json.map(String::into_bytes).or(packed).ok_or_else(|| {
                SharedError::Refused(format!("change {at} is empty in the store's log"))
            })?;
            Ok((at as u64, change))
        })
        .collect()
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
        assert_eq!(
            redact("host=db password='a b\\' c' user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(redact("host=db password = s3cret"), "host=db password=***");
        assert_eq!(
            redact("postgresql://app@db/x?sslmode=require&password=s3cret&user=app"),
            "postgresql://app@db/x?sslmode=require&password=***&user=app"
        );
        assert_eq!(
            redact("host=db dbname=passwords"),
            "host=db dbname=passwords"
        );
    }
}
