//! Rows both ways: each mutation as the table writes that apply it (prepared once per
//! connection), and every table read back as the mutations that build the same model.

use std::collections::BTreeMap;

use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use postgres::{Client, Statement};

use super::copy::{CopyError, CopyReader};
use super::{failed, position};
use crate::model::{Grant, KeyInfo, KeyRecord, Model, Mutation};
use crate::store::SharedError;

fn texts<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

/// The statements that write each kind of mutation to the tables, as
/// [`crate::model::Model::apply`] applies it.
pub(super) struct TableStatements {
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
    pub(super) fn prepare(client: &mut Client) -> Result<TableStatements, postgres::Error> {
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
    pub(super) fn write(
        &self,
        client: &mut Client,
        mutation: &Mutation,
    ) -> Result<(), postgres::Error> {
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

/// The rows of every table, read in one snapshot of the database. The numbers, which are
/// nearly all of it, come as one binary `COPY` stream (`copy.rs`) and go straight into
/// their groups: 8 bytes a number, where holding each row would take over a hundred.
pub(super) struct Tables {
    head: u64,
    accounts: Vec<postgres::Row>,
    projects: Vec<postgres::Row>,
    keys: Vec<postgres::Row>,
    connectors: Vec<postgres::Row>,
    numbers: NumberGroups,
    prefixes: Vec<postgres::Row>,
}

/// A project, environment and connector (or none): the numbers of one `PutNumbers`.
type Group = (String, ClientEnv, Option<String>);

/// The numbers table, grouped as it streams in.
#[derive(Default)]
struct NumberGroups {
    groups: Vec<(Group, Vec<E164>)>,
    index: rustc_hash::FxHashMap<Group, usize>,
    /// The group of the row before: rows of one group tend to come together.
    last: Option<usize>,
}

impl NumberGroups {
    /// Adds the row `copy` read last (number, project, environment, connector).
    fn add<R: std::io::Read>(&mut self, copy: &CopyReader<R>) -> Result<(), SharedError> {
        let bad = |e: &dyn std::fmt::Display| bad_row("numbers", e);
        let text = |at: usize, column: &str| -> Result<Option<&str>, SharedError> {
            copy.field(at)
                .map(|bytes| {
                    std::str::from_utf8(bytes).map_err(|_| bad(&format!("{column} is not UTF-8")))
                })
                .transpose()
        };
        let needed = |at: usize, column: &str| {
            text(at, column)?.ok_or_else(|| bad(&format!("{column} is NULL")))
        };
        let number = needed(0, "number")?;
        let project = needed(1, "project_id")?;
        let env = needed(2, "client_env")?;
        let connector = text(3, "connector_id")?;
        let number: E164 = number
            .parse()
            .map_err(|e| bad(&format!("{number:?}: {e}")))?;
        let same = |(project_id, client_env, connector_id): &Group| {
            project_id == project
                && client_env.as_str() == env
                && connector_id.as_deref() == connector
        };
        let at = match self
            .last
            .filter(|&at| self.groups.get(at).is_some_and(|(g, _)| same(g)))
        {
            Some(at) => at,
            None => {
                let env = ClientEnv::ALL
                    .into_iter()
                    .find(|e| e.as_str() == env)
                    .ok_or_else(|| bad(&format!("unknown environment {env:?}")))?;
                let group = (project.to_string(), env, connector.map(str::to_string));
                match self.index.get(&group) {
                    Some(&at) => at,
                    None => {
                        self.index.insert(group.clone(), self.groups.len());
                        self.groups.push((group, Vec::new()));
                        self.groups.len() - 1
                    }
                }
            }
        };
        self.last = Some(at);
        if let Some((_, numbers)) = self.groups.get_mut(at) {
            numbers.push(number);
        }
        Ok(())
    }
}

fn bad_row(table: &str, what: impl std::fmt::Display) -> SharedError {
    SharedError::Refused(format!("patchbay.{table}: {what}"))
}

impl Tables {
    /// Reads every table in one snapshot of the database (a read-only REPEATABLE READ
    /// transaction), with the head it holds.
    pub(super) fn read(client: &mut Client) -> Result<Tables, SharedError> {
        let mut tx = super::read_snapshot(client)?;
        let mut query = |sql: &str| tx.query(sql, &[]).map_err(failed);
        let head: i64 = query("SELECT position FROM patchbay.head")?
            .first()
            .ok_or_else(|| bad_row("head", "no row"))?
            .try_get(0)
            .map_err(failed)?;
        let mut tables = Tables {
            head: u64::try_from(head).unwrap_or(0),
            accounts: query("SELECT account_id FROM patchbay.accounts ORDER BY 1")?,
            projects: query("SELECT project_id, account_id FROM patchbay.projects ORDER BY 1")?,
            keys: query(
                "SELECT key_id, account_id, grant_projects, label, created_at, revoked, \
                 sha256 FROM patchbay.api_keys ORDER BY 1",
            )?,
            connectors: query(
                "SELECT connector::text FROM patchbay.connectors ORDER BY connector_id",
            )?,
            numbers: NumberGroups::default(),
            prefixes: query("SELECT prefix, connector_id FROM patchbay.prefixes")?,
        };
        let stream = tx
            .copy_out(
                "COPY patchbay.numbers (number, project_id, client_env, connector_id) \
                 TO STDOUT (FORMAT binary)",
            )
            .map_err(failed)?;
        let unreadable = |error: CopyError| match error {
            CopyError::Io(error) => SharedError::Unavailable(error.to_string()),
            format => bad_row("numbers", format),
        };
        let mut copy = CopyReader::new(stream, 4).map_err(unreadable)?;
        while copy.next().map_err(unreadable)? {
            tables.numbers.add(&copy)?;
        }
        drop(copy);
        tx.commit().map_err(failed)?;
        Ok(tables)
    }
}

impl Tables {
    /// The model the tables hold, with the head: accounts, projects, keys, connectors and
    /// prefixes applied as mutations, in the order a checkpoint has, and the numbers put in
    /// whole ([`Model::load_numbers`]).
    pub(super) fn model(self) -> Result<(u64, Model), SharedError> {
        let mutations = self.mutations()?;
        let mut model = Model::default();
        let (rest, prefixes): (Vec<_>, Vec<_>) = mutations
            .into_iter()
            .partition(|m| !matches!(m, Mutation::PutPrefixes { .. }));
        rest.into_iter().for_each(|m| model.apply(m));
        let groups = self
            .numbers
            .groups
            .into_iter()
            .map(|((project, env, connector), numbers)| (project, env, connector, numbers))
            .collect();
        model.load_numbers(groups);
        prefixes.into_iter().for_each(|m| model.apply(m));
        Ok((self.head, model))
    }

    /// The mutations that build the model the tables hold but its numbers, in the order a
    /// checkpoint has.
    fn mutations(&self) -> Result<Vec<Mutation>, SharedError> {
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
        Ok(out)
    }
}
