//! The model: accounts, projects, API keys, connectors, phone numbers and number prefixes.
//!
//! The model changes only through [`Mutation`]s, grouped into one change per operation. The
//! journal stores exactly these changes and start-up replays them through the same
//! [`Model::apply`], so a replayed model is the model that acknowledged the change.
//! Operations validate everything before they produce mutations; `apply` itself cannot fail.
//! The records the API shows are in `records.rs`, the invariant checker in `invariants.rs`.

pub(crate) mod change;
pub(crate) mod checkpoint;
mod invariants;
mod numbers;
mod records;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use patchbay_core::{ClientEnv, Connector, Prefix, Snapshot, SnapshotBuilder, E164};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub(crate) use numbers::NumberMap;

pub use invariants::InvariantError;
pub(crate) use records::KeyRecord;
pub use records::{Grant, KeyInfo, NumberPrefix, PhoneNumber, Project};

/// A shared, immutable id string (an account, project or connector id), one pointer wide:
/// every number's entry holds two, so at ten million numbers each byte here is 20 MB. It
/// hashes, compares and borrows as the `str` it holds, so maps keyed by it answer `&str`.
#[derive(Clone, Eq, PartialOrd, Ord)]
pub(crate) struct Id(Arc<String>);

impl PartialEq for Id {
    /// Ids are interned, so the same id is most often the same pointer: compared first.
    fn eq(&self, other: &Id) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Id {
    /// Where the text lives: ids that share it (one interned id) have the same address.
    pub(crate) fn address(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::hash::Hash for Id {
    /// As the text: equal ids, interned or not, hash alike (and as `str`, for `Borrow`).
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

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

/// A number's project, environment and connector, as put into the table of numbers (which
/// keeps them as two indexes, 8 bytes: `numbers.rs`; it reads them back as an
/// [`numbers::Entry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberEntry {
    pub(crate) project: Id,
    pub(crate) env: ClientEnv,
    pub(crate) connector: Option<Id>,
}

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

/// Numbers read whole from a store, under one project, environment and connector (or
/// none): what [`Model::load_numbers`] takes.
pub(crate) type NumberGroup = (String, ClientEnv, Option<String>, Vec<E164>);

/// The whole state of one patchbay deployment.
#[derive(Debug, Default, Clone)]
pub(crate) struct Model {
    pub(crate) accounts: BTreeSet<Id>,
    /// project → account
    pub(crate) projects: BTreeMap<Id, Id>,
    pub(crate) keys: BTreeMap<String, KeyRecord>,
    pub(crate) connectors: BTreeMap<Id, Connector>,
    pub(crate) numbers: NumberMap,
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
                let slot = self.numbers.slot(&NumberEntry {
                    project: project.clone(),
                    env: client_env,
                    connector: connector.clone(),
                });
                // No reserve: each shard of the table grows when an insert fills it.
                for &number in &numbers {
                    self.detach(number);
                    self.numbers.insert_slot(number, slot);
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

    /// Puts numbers read whole from a store (a node loading the shared store's tables)
    /// into a model that holds none yet: each group is a project, an environment, a
    /// connector or none, and its numbers. The table is filled as a checkpoint's restore
    /// fills it, a large batch at a time sorted out by shard, each shard on a core
    /// (`NumberMap::insert_all`), and the project and connector indexes are built from
    /// sorted lists; one insert at a time would grow each shard's table again and again.
    /// A model that holds numbers already takes them one at a time instead.
    pub(crate) fn load_numbers(&mut self, groups: Vec<NumberGroup>) {
        if self.numbers.len() > 0 {
            for (project_id, client_env, connector_id, numbers) in groups {
                self.apply(Mutation::PutNumbers {
                    project_id,
                    client_env,
                    connector_id,
                    numbers,
                });
            }
            return;
        }
        const BATCH: usize = 1 << 20;
        let mut of_project: FxHashMap<Id, Vec<E164>> = FxHashMap::default();
        let mut of_connector: FxHashMap<Id, Vec<E164>> = FxHashMap::default();
        let mut replaced = false;
        let mut batch = Vec::with_capacity(BATCH);
        for (project, env, connector, numbers) in groups {
            let project = self.intern(&project);
            let connector = connector.map(|id| self.intern(&id));
            for &number in &numbers {
                batch.push((
                    number,
                    NumberEntry {
                        project: project.clone(),
                        env,
                        connector: connector.clone(),
                    },
                ));
                if batch.len() >= BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    replaced |= self.numbers.insert_all(full);
                }
            }
            if let Some(connector) = connector {
                of_connector
                    .entry(connector)
                    .or_default()
                    .extend_from_slice(&numbers);
            }
            of_project.entry(project).or_default().extend(numbers);
        }
        replaced |= self.numbers.insert_all(batch);
        let sort = |lists: &mut FxHashMap<Id, Vec<E164>>| {
            use rayon::prelude::*;
            lists.values_mut().for_each(|list| list.par_sort_unstable());
        };
        rayon::join(|| sort(&mut of_project), || sort(&mut of_connector));
        self.index_lists(of_project, of_connector, replaced);
    }

    /// Removes `number` from its connector's set and its project's, where it is.
    fn detach(&mut self, number: E164) {
        let Some(old) = self.numbers.get(&number) else {
            return;
        };
        let (project, connector) = (old.project.clone(), old.connector.cloned());
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

    pub(crate) fn phone_number(&self, number: E164, entry: numbers::Entry<'_>) -> PhoneNumber {
        PhoneNumber {
            number,
            project_id: entry.project.to_string(),
            account_id: self
                .account_of(entry.project)
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
        for (number, entry) in self.numbers.iter() {
            groups
                .entry((entry.project.clone(), entry.env, entry.connector.cloned()))
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
}
