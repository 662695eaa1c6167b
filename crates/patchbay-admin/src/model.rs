//! The model: accounts, projects, API keys, connectors, phone numbers and number prefixes.
//!
//! The model changes only through [`Mutation`]s, grouped into one change per operation. The
//! journal stores exactly these changes and start-up replays them through the same
//! [`Model::apply`], so a replayed model is the model that acknowledged the change.
//! Operations validate everything before they produce mutations; `apply` itself cannot fail.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use patchbay_core::{ClientEnv, Connector, Prefix, Snapshot, SnapshotBuilder, E164};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// A shared, immutable id string (an account, project or connector id), one pointer wide:
/// every number's entry holds two, so at ten million numbers each byte here is 20 MB. It
/// hashes, compares and borrows as the `str` it holds, so maps keyed by it answer `&str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Id(Arc<String>);

impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Id {
    fn from(id: &str) -> Id {
        Id(Arc::new(id.to_string()))
    }
}

impl From<String> for Id {
    fn from(id: String) -> Id {
        Id(Arc::new(id))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

/// A phone number owned by a project, and the connector it routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PhoneNumber {
    /// The number, canonical E.164.
    pub number: E164,
    /// The project that owns it.
    pub project_id: String,
    /// The account of that project.
    pub account_id: String,
    /// Its environment.
    pub client_env: ClientEnv,
    /// The connector it routes to; absent when unassigned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub connector_id: Option<String>,
}

/// A number prefix (a DID block or range, or a whole country) and the connector every number
/// that starts with it routes to, unless the number has a route of its own or a longer
/// prefix does. It carries its connector's project, account and environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NumberPrefix {
    /// The prefix, `+` and 1 to 14 digits.
    pub prefix: Prefix,
    /// The project of its connector.
    pub project_id: String,
    /// The account of that project.
    pub account_id: String,
    /// The environment of its connector.
    pub client_env: ClientEnv,
    /// The connector it routes to.
    pub connector_id: String,
}

/// A project and the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// The project id (the `{agentId}` of the HTTP paths).
    pub project_id: String,
    /// The account that owns it.
    pub account_id: String,
}

/// What an API key grants: every project of its account, or a listed set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind", content = "projects")]
pub enum Grant {
    /// Every project of the account, present and future.
    AllProjects,
    /// Only these projects.
    Projects(BTreeSet<String>),
}

/// An API key as stored: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    /// The public part of the key, shown in listings.
    pub key_id: String,
    /// The account the key belongs to.
    pub account_id: String,
    /// What it grants.
    pub grant: Grant,
    /// A note for people.
    pub label: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// Whether it was revoked (a revoked key authenticates nothing).
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeyRecord {
    pub(crate) info: KeyInfo,
    /// SHA-256 of the whole secret key, hex.
    pub(crate) hash: String,
}

/// One step of a change. A change is a list of these, applied together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(crate) enum Mutation {
    PutAccount {
        account_id: String,
    },
    PutProject {
        project_id: String,
        account_id: String,
    },
    PutKey {
        key: KeyRecord,
    },
    RevokeKey {
        key_id: String,
    },
    PutConnector {
        connector: Connector,
    },
    RemoveConnector {
        connector_id: String,
    },
    PutNumbers {
        project_id: String,
        client_env: ClientEnv,
        connector_id: Option<String>,
        numbers: Vec<E164>,
    },
    RemoveNumbers {
        numbers: Vec<E164>,
    },
    /// Routes each prefix to the connector (new prefixes, or reassigned ones).
    PutPrefixes {
        connector_id: String,
        prefixes: Vec<Prefix>,
    },
    RemovePrefixes {
        prefixes: Vec<Prefix>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberEntry {
    pub(crate) project: Id,
    pub(crate) env: ClientEnv,
    pub(crate) connector: Option<Id>,
}

// Two one-pointer ids and the environment: a number costs 8 + 24 bytes in the model's table.
const _: () = assert!(std::mem::size_of::<NumberEntry>() == 24);

/// Adds `numbers` to `set`: one by one when they are few beside it (O(k log n), in order,
/// so that consecutive inserts walk the same nodes while they are in cache), merged in one
/// pass when they are many (O(n + k), as when a checkpoint is loaded).
fn add_all(set: &mut BTreeSet<E164>, numbers: &[E164]) {
    if numbers.len() < set.len() / 8 + 64 {
        let mut sorted = numbers.to_vec();
        sorted.sort_unstable();
        set.extend(sorted);
    } else {
        let mut more: BTreeSet<E164> = numbers.iter().copied().collect();
        set.append(&mut more);
    }
}

/// Removes `items` from the set of `key` in `index`, and the set when it empties.
fn remove_all<T: Ord>(index: &mut FxHashMap<Id, BTreeSet<T>>, key: &Id, items: &[T]) {
    if let Some(set) = index.get_mut(key) {
        for item in items {
            set.remove(item);
        }
        if set.is_empty() {
            index.remove(key);
        }
    }
}

/// The whole state of one patchbay deployment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Model {
    pub(crate) accounts: BTreeSet<Id>,
    /// project → account
    pub(crate) projects: BTreeMap<Id, Id>,
    pub(crate) keys: BTreeMap<String, KeyRecord>,
    pub(crate) connectors: BTreeMap<Id, Connector>,
    pub(crate) numbers: FxHashMap<E164, NumberEntry>,
    /// connector → the numbers assigned to it
    pub(crate) by_connector: FxHashMap<Id, BTreeSet<E164>>,
    /// project → its numbers, in order: pages of a project's numbers cost O(page)
    pub(crate) by_project: FxHashMap<Id, BTreeSet<E164>>,
    /// prefix → the connector it routes to (a prefix always has one)
    pub(crate) prefixes: BTreeMap<Prefix, Id>,
    /// connector → its prefixes
    pub(crate) prefixes_by_connector: FxHashMap<Id, BTreeSet<Prefix>>,
    /// project → the prefixes of its connectors, in order
    pub(crate) prefixes_by_project: FxHashMap<Id, BTreeSet<Prefix>>,
}

impl Model {
    /// The interned id equal to `id`, from the project or connector tables when present.
    fn intern(&self, id: &str) -> Id {
        self.projects
            .get_key_value(id)
            .map(|(k, _)| k.clone())
            .or_else(|| self.connectors.get_key_value(id).map(|(k, _)| k.clone()))
            .unwrap_or_else(|| Id::from(id))
    }

    pub(crate) fn apply(&mut self, mutation: Mutation) {
        match mutation {
            Mutation::PutAccount { account_id } => {
                self.accounts.insert(account_id.into());
            }
            Mutation::PutProject {
                project_id,
                account_id,
            } => {
                let account = self
                    .accounts
                    .get(account_id.as_str())
                    .cloned()
                    .unwrap_or_else(|| account_id.into());
                self.projects.insert(project_id.into(), account);
            }
            Mutation::PutKey { key } => {
                self.keys.insert(key.info.key_id.clone(), key);
            }
            Mutation::RevokeKey { key_id } => {
                if let Some(key) = self.keys.get_mut(&key_id) {
                    key.info.revoked = true;
                }
            }
            Mutation::PutConnector { connector } => {
                let id = self.intern(&connector.connector_id);
                let moved_from = self
                    .connectors
                    .get(&id)
                    .filter(|old| old.project_id != connector.project_id)
                    .map(|old| self.intern(&old.project_id));
                if let Some(from) = moved_from {
                    // A connector's prefixes are its project's: they move with it.
                    let to = self.intern(&connector.project_id);
                    let moved: Vec<Prefix> = self
                        .prefixes_by_connector
                        .get(&id)
                        .map(|set| set.iter().copied().collect())
                        .unwrap_or_default();
                    remove_all(&mut self.prefixes_by_project, &from, &moved);
                    self.prefixes_by_project
                        .entry(to)
                        .or_default()
                        .extend(moved);
                }
                self.connectors.insert(id, connector);
            }
            Mutation::RemoveConnector { connector_id } => {
                self.connectors.remove(connector_id.as_str());
                self.by_connector.remove(connector_id.as_str());
            }
            Mutation::PutPrefixes {
                connector_id,
                prefixes,
            } => {
                let connector = self.intern(&connector_id);
                let project = self
                    .connectors
                    .get(&connector)
                    .map(|c| self.intern(&c.project_id));
                for &prefix in &prefixes {
                    self.detach_prefix(prefix);
                    self.prefixes.insert(prefix, connector.clone());
                }
                self.prefixes_by_connector
                    .entry(connector)
                    .or_default()
                    .extend(prefixes.iter().copied());
                if let Some(project) = project {
                    self.prefixes_by_project
                        .entry(project)
                        .or_default()
                        .extend(prefixes);
                }
            }
            Mutation::RemovePrefixes { prefixes } => {
                for prefix in prefixes {
                    self.detach_prefix(prefix);
                }
            }
            Mutation::PutNumbers {
                project_id,
                client_env,
                connector_id,
                numbers,
            } => {
                let project = self.intern(&project_id);
                let connector = connector_id.map(|id| self.intern(&id));
                self.numbers.reserve(numbers.len());
                for &number in &numbers {
                    self.detach(number);
                    self.numbers.insert(
                        number,
                        NumberEntry {
                            project: project.clone(),
                            env: client_env,
                            connector: connector.clone(),
                        },
                    );
                }
                add_all(self.by_project.entry(project).or_default(), &numbers);
                if let Some(connector) = connector {
                    add_all(self.by_connector.entry(connector).or_default(), &numbers);
                }
            }
            Mutation::RemoveNumbers { numbers } => {
                for number in numbers {
                    self.detach(number);
                    self.numbers.remove(&number);
                }
            }
        }
    }

    /// Removes `number` from its connector's set and its project's, where it is.
    fn detach(&mut self, number: E164) {
        let Some(old) = self.numbers.get(&number) else {
            return;
        };
        let (project, connector) = (old.project.clone(), old.connector.clone());
        for (index, key) in [
            (&mut self.by_project, Some(project)),
            (&mut self.by_connector, connector),
        ] {
            let Some(key) = key else { continue };
            if let Some(set) = index.get_mut(&key) {
                set.remove(&number);
                if set.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }

    /// Removes `prefix` and its entries in the connector and project indexes, where it is.
    fn detach_prefix(&mut self, prefix: Prefix) {
        let Some(connector) = self.prefixes.remove(&prefix) else {
            return;
        };
        let project = self
            .connectors
            .get(&connector)
            .map(|c| self.intern(&c.project_id));
        remove_all(&mut self.prefixes_by_connector, &connector, &[prefix]);
        if let Some(project) = project {
            remove_all(&mut self.prefixes_by_project, &project, &[prefix]);
        }
    }

    /// The prefix as the API shows it.
    pub(crate) fn number_prefix(&self, prefix: Prefix, connector: &str) -> NumberPrefix {
        let c = self.connectors.get(connector);
        NumberPrefix {
            prefix,
            project_id: c.map(|c| c.project_id.clone()).unwrap_or_default(),
            account_id: c.map(|c| c.account_id.clone()).unwrap_or_default(),
            client_env: c.map_or(ClientEnv::Live, |c| c.client_env),
            connector_id: connector.to_string(),
        }
    }

    pub(crate) fn account_of(&self, project: &str) -> Option<&Id> {
        self.projects.get(project)
    }

    pub(crate) fn phone_number(&self, number: E164, entry: &NumberEntry) -> PhoneNumber {
        PhoneNumber {
            number,
            project_id: entry.project.to_string(),
            account_id: self
                .account_of(&entry.project)
                .map(|a| a.to_string())
                .unwrap_or_default(),
            client_env: entry.env,
            connector_id: entry.connector.as_ref().map(|c| c.to_string()),
        }
    }

    /// The model as the mutations that rebuild it (a checkpoint).
    pub(crate) fn to_mutations(&self) -> Vec<Mutation> {
        let mut out = Vec::new();
        out.extend(self.accounts.iter().map(|a| Mutation::PutAccount {
            account_id: a.to_string(),
        }));
        out.extend(self.projects.iter().map(|(p, a)| Mutation::PutProject {
            project_id: p.to_string(),
            account_id: a.to_string(),
        }));
        out.extend(
            self.keys
                .values()
                .map(|k| Mutation::PutKey { key: k.clone() }),
        );
        out.extend(self.connectors.values().map(|c| Mutation::PutConnector {
            connector: c.clone(),
        }));
        // Numbers grouped by (project, environment, connector): one entry per group.
        let mut groups: BTreeMap<(Id, ClientEnv, Option<Id>), Vec<E164>> = BTreeMap::new();
        for (number, entry) in &self.numbers {
            groups
                .entry((entry.project.clone(), entry.env, entry.connector.clone()))
                .or_default()
                .push(*number);
        }
        for ((project, env, connector), mut numbers) in groups {
            numbers.sort_unstable();
            out.push(Mutation::PutNumbers {
                project_id: project.to_string(),
                client_env: env,
                connector_id: connector.map(|c| c.to_string()),
                numbers,
            });
        }
        let mut by_connector: BTreeMap<&Id, Vec<Prefix>> = BTreeMap::new();
        for (&prefix, connector) in &self.prefixes {
            by_connector.entry(connector).or_default().push(prefix);
        }
        out.extend(
            by_connector
                .into_iter()
                .map(|(connector, prefixes)| Mutation::PutPrefixes {
                    connector_id: connector.to_string(),
                    prefixes,
                }),
        );
        out
    }

    /// The snapshot of everything routable: every connector, and every number assigned to
    /// one.
    pub(crate) fn snapshot(&self, version: u64) -> Result<Snapshot, patchbay_core::BuildError> {
        let mut builder =
            SnapshotBuilder::with_capacity(version, self.numbers.len(), self.connectors.len());
        let mut slots =
            FxHashMap::with_capacity_and_hasher(self.connectors.len(), Default::default());
        for (id, connector) in &self.connectors {
            slots.insert(id.clone(), builder.connector(connector.clone())?);
        }
        for (id, numbers) in &self.by_connector {
            if let Some(&slot) = slots.get(id) {
                for &number in numbers {
                    builder.route(number, slot)?;
                }
            }
        }
        for (&prefix, id) in &self.prefixes {
            if let Some(&slot) = slots.get(id) {
                builder.route_prefix(prefix, slot)?;
            }
        }
        builder.build()
    }

    /// Checks the invariants of `spec/api.md`; `Err` names the first that is broken.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        for (project, account) in &self.projects {
            if !self.accounts.contains(account) {
                return Err(format!("project {project} has unknown account {account}"));
            }
        }
        for (id, c) in &self.connectors {
            if **id != *c.connector_id {
                return Err(format!("connector {id} is stored under another id"));
            }
            match self.account_of(&c.project_id) {
                Some(account) if **account == *c.account_id => {}
                _ => return Err(format!("connector {id} has a wrong project or account")),
            }
        }
        // Each number belongs to exactly one project's index and, when assigned, to exactly
        // its connector's: every indexed number's entry names that project (or connector),
        // and the indexes hold as many numbers as the model (or as it assigns). Walking the
        // indexes checks each number with one hash probe, where looking every number up in
        // its indexes would take a tree search for each.
        let listed: usize = self.by_project.values().map(BTreeSet::len).sum();
        if listed != self.numbers.len() {
            return Err(format!(
                "the project index holds {listed} numbers, the model {}",
                self.numbers.len()
            ));
        }
        for (project, numbers) in &self.by_project {
            if self.account_of(project).is_none() {
                return Err(format!("project {project} of the number index is unknown"));
            }
            if let Some(n) = numbers
                .iter()
                .find(|n| self.numbers.get(n).is_none_or(|e| e.project != *project))
            {
                return Err(format!("{n} is in project {project}'s index but not its"));
            }
        }
        let assigned = self
            .numbers
            .values()
            .filter(|e| e.connector.is_some())
            .count();
        let indexed: usize = self.by_connector.values().map(BTreeSet::len).sum();
        if indexed != assigned {
            return Err(format!(
                "the connector index holds {indexed} numbers, {assigned} are assigned"
            ));
        }
        for (cid, numbers) in &self.by_connector {
            let Some(c) = self.connectors.get(cid) else {
                return Err(format!("numbers route to missing connector {cid}"));
            };
            let wrong = numbers.iter().find(|n| {
                self.numbers.get(n).is_none_or(|e| {
                    e.connector.as_ref() != Some(cid)
                        || *c.project_id != *e.project
                        || c.client_env != e.env
                })
            });
            if let Some(n) = wrong {
                return Err(format!(
                    "{n} is in connector {cid}'s index but is not its, or differs from it in \
                     project or environment"
                ));
            }
        }
        for key in self.keys.values() {
            if !self.accounts.contains(key.info.account_id.as_str()) {
                return Err(format!("key {} has an unknown account", key.info.key_id));
            }
        }
        self.check_prefixes()
    }

    /// Prefixes: each routes to a connector that exists, and the connector and project
    /// indexes hold exactly the prefixes of their connectors and projects.
    fn check_prefixes(&self) -> Result<(), String> {
        for (prefix, connector) in &self.prefixes {
            let Some(c) = self.connectors.get(connector) else {
                return Err(format!("{prefix} routes to missing connector {connector}"));
            };
            if !self
                .prefixes_by_connector
                .get(connector)
                .is_some_and(|set| set.contains(prefix))
            {
                return Err(format!(
                    "{prefix} is missing from connector {connector}'s index"
                ));
            }
            if !self
                .prefixes_by_project
                .get(c.project_id.as_str())
                .is_some_and(|set| set.contains(prefix))
            {
                return Err(format!(
                    "{prefix} is missing from project {}'s index",
                    c.project_id
                ));
            }
        }
        for (what, index) in [
            ("connector", &self.prefixes_by_connector),
            ("project", &self.prefixes_by_project),
        ] {
            let listed: usize = index.values().map(BTreeSet::len).sum();
            if listed != self.prefixes.len() {
                return Err(format!(
                    "the {what} prefix index holds {listed} prefixes, the model {}",
                    self.prefixes.len()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model with project p, connector c of p, and two numbers, one assigned to c.
    fn model() -> Model {
        let mut model = Model::default();
        for mutation in [
            Mutation::PutAccount {
                account_id: "a".into(),
            },
            Mutation::PutProject {
                project_id: "p".into(),
                account_id: "a".into(),
            },
            Mutation::PutConnector {
                connector: Connector {
                    connector_id: "c".into(),
                    name: "c".into(),
                    account_id: "a".into(),
                    project_id: "p".into(),
                    client_env: ClientEnv::Live,
                    variant_id: String::new(),
                    asr_lang_code: "en-US".into(),
                    tts_lang_code: "en-US".into(),
                    voice_name: "en-US-Neural2-A".into(),
                    disable_handoff: false,
                },
            },
            Mutation::PutNumbers {
                project_id: "p".into(),
                client_env: ClientEnv::Live,
                connector_id: Some("c".into()),
                numbers: vec![number(1)],
            },
            Mutation::PutNumbers {
                project_id: "p".into(),
                client_env: ClientEnv::Live,
                connector_id: None,
                numbers: vec![number(2)],
            },
        ] {
            model.apply(mutation);
        }
        model
    }

    fn number(i: u64) -> E164 {
        E164::from_u64(442_079_460_000 + i).expect("valid")
    }

    #[test]
    fn invariants_catch_every_broken_index() {
        assert_eq!(model().check_invariants(), Ok(()));
        type Breakage = (&'static str, fn(&mut Model));
        let breakages: [Breakage; 6] = [
            ("missing from its connector's index", |m| {
                m.by_connector.clear();
            }),
            ("in a connector's index it is not on", |m| {
                let c = m.connectors.keys().next().cloned().expect("c");
                m.by_connector.entry(c).or_default().insert(number(2));
            }),
            ("missing from its project's index", |m| {
                m.by_project.values_mut().for_each(|s| {
                    s.remove(&number(2));
                });
            }),
            ("in the index of another project", |m| {
                m.by_project
                    .insert("q".into(), [number(9)].into_iter().collect());
            }),
            ("routed to a missing connector", |m| {
                m.connectors.clear();
            }),
            ("in another environment than its connector", |m| {
                if let Some(e) = m.numbers.get_mut(&number(1)) {
                    e.env = ClientEnv::Sandbox;
                }
            }),
        ];
        for (what, break_it) in breakages {
            let mut broken = model();
            break_it(&mut broken);
            assert!(broken.check_invariants().is_err(), "{what}");
        }
    }
}
