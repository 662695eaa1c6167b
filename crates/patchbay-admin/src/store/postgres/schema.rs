//! The schema `patchbay` and its migrations: numbered, applied in order, each once, in one
//! transaction, with nodes that start together taking turns on an advisory lock.

use postgres::Client;

/// Migrations by version, applied in order, each once, in one transaction.
///
/// A migration is never edited once released: a database at version N has run exactly the
/// migrations up to N, so a change to the schema is a new migration.
const MIGRATIONS: &[(i32, &str)] = &[
    (
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
    ),
    (
        2,
        "ALTER TABLE patchbay.head RENAME COLUMN cluster_id TO store_id;",
    ),
    // A bulk change is kept packed (`model/change.rs`) in `packed`, a small one as JSON in
    // `change`. No statement reads the numbers by connector (the model answers that), and
    // keeping that index took a third of a bulk insert's time. Numbers and prefixes are
    // compared byte by byte (collation "C"): they are `+` and digits, which every collation
    // orders alike, and the database's collation (en_US.UTF-8, say) made each comparison
    // of the primary keys' indexes a call to the C library.
    (
        3,
        "ALTER TABLE patchbay.changes ALTER COLUMN change DROP NOT NULL,
        ADD COLUMN packed bytea,
        ADD CONSTRAINT changes_json_or_packed CHECK ((change IS NULL) <> (packed IS NULL));
    DROP INDEX patchbay.numbers_by_connector;
    ALTER TABLE patchbay.numbers ALTER COLUMN number TYPE text COLLATE \"C\";
    ALTER TABLE patchbay.prefixes ALTER COLUMN prefix TYPE text COLLATE \"C\";",
    ),
    // The node that leads the writes (`lead.rs`) and where the others reach it.
    (
        4,
        "CREATE TABLE patchbay.leader (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        node text NOT NULL,
        url text,
        since timestamptz NOT NULL DEFAULT now()
    );",
    ),
    // The model as a checkpoint at a position (`checkpoint.rs`), in parts, with its size and
    // CRC-32: a new node loads it and the log after it instead of every row of the tables. Its parts are stored
    // uncompressed and out of line (a checkpoint compresses little, and each part is read
    // whole).
    (
        5,
        "CREATE TABLE patchbay.checkpoints (
        position bigint PRIMARY KEY,
        node text NOT NULL,
        written_at timestamptz NOT NULL DEFAULT now(),
        size bigint NOT NULL,
        crc32 bigint NOT NULL
    );
    CREATE TABLE patchbay.checkpoint_parts (
        position bigint NOT NULL REFERENCES patchbay.checkpoints ON DELETE CASCADE,
        part integer NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (position, part)
    );
    ALTER TABLE patchbay.checkpoint_parts ALTER COLUMN bytes SET STORAGE EXTERNAL;",
    ),
    // The change history (`history.rs`), written in the transaction of its change: each
    // change's entry by position, its commit time (ms) indexed, and the subjects it touched
    // (a number by its block of 256, with which of them) indexed by subject and position.
    (
        6,
        "CREATE TABLE patchbay.history (
        position bigint PRIMARY KEY,
        at_ms bigint NOT NULL,
        entry bytea NOT NULL
    );
    CREATE INDEX history_by_time ON patchbay.history (at_ms, position);
    CREATE TABLE patchbay.history_subjects (
        subject bytea NOT NULL,
        position bigint NOT NULL,
        bits bytea,
        PRIMARY KEY (subject, position)
    );
    CREATE INDEX history_subjects_by_position ON patchbay.history_subjects (position);",
    ),
    // Retention finds a dropped change's subjects' rows from its entry, by their primary
    // key: the index by position cost every change three or four index inserts.
    (7, "DROP INDEX patchbay.history_subjects_by_position;"),
];

/// The newest schema version this build understands.
pub const SCHEMA_VERSION: i32 = 7;

/// Why the schema could not be brought to [`SCHEMA_VERSION`].
pub(super) enum SchemaError {
    /// The database's schema is newer than this build.
    TooNew(i32),
    /// A statement failed: in migration `Some(version)`, or around them.
    Failed(Option<i32>, postgres::Error),
}

/// Applies the migrations the database lacks, one transaction, with nodes that start at the
/// same time taking turns on an advisory lock.
pub(super) fn migrate(client: &mut Client) -> Result<(), SchemaError> {
    let failed = |e| SchemaError::Failed(None, e);
    let mut tx = client.transaction().map_err(failed)?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(7071746368626179);
         CREATE SCHEMA IF NOT EXISTS patchbay;
         CREATE TABLE IF NOT EXISTS patchbay.schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(failed)?;
    let newest: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM patchbay.schema_migrations",
            &[],
        )
        .map_err(failed)?
        .get(0);
    if newest > SCHEMA_VERSION {
        return Err(SchemaError::TooNew(newest));
    }
    for &(version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > newest) {
        tx.batch_execute(sql)
            .map_err(|e| SchemaError::Failed(Some(version), e))?;
        tx.execute(
            "INSERT INTO patchbay.schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .map_err(|e| SchemaError::Failed(Some(version), e))?;
    }
    tx.commit().map_err(failed)
}
