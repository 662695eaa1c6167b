//! The invariants the model holds after every change: those of `docs/api.md` (a number in
//! one project, with its connector's project and environment; every prefix routed to a
//! connector), and those of its indexes (by project and by connector, of numbers and of
//! prefixes, each holding exactly what the model says). [`Replica::check_invariants`] adds the
//! published snapshot's agreement with the model.
//!
//! [`Replica::check_invariants`]: crate::Replica::check_invariants

use std::collections::BTreeSet;

use patchbay_core::{ClientEnv, Prefix, E164};
use rustc_hash::FxHashSet;

use super::{Id, Model};

/// An invariant that does not hold: the first one found, with the entities it concerns.
///
/// It reports a defect of patchbay or a store whose contents were changed by other means,
/// never bad input (operations refuse what would break an invariant). Keep the store as it
/// is and report the message; a node that loaded it refuses to serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvariantError {
    /// A project belongs to an account that does not exist.
    #[error("project {project} has unknown account {account}")]
    ProjectAccount {
        /// The project.
        project: String,
        /// Its missing account.
        account: String,
    },
    /// A connector is kept under an id that is not its own.
    #[error("connector {connector} is stored under another id")]
    ConnectorMisfiled {
        /// The id it is kept under.
        connector: String,
    },
    /// A connector's project does not exist or is of another account.
    #[error("connector {connector} has a wrong project or account")]
    ConnectorOwner {
        /// The connector.
        connector: String,
    },
    /// The index of numbers by project does not hold every number exactly once.
    #[error("the project index holds {listed} numbers, the model {numbers}")]
    ProjectIndexSize {
        /// Numbers in the index.
        listed: usize,
        /// Numbers in the model.
        numbers: usize,
    },
    /// The index of numbers by project names a project that does not exist.
    #[error("project {project} of the number index is unknown")]
    IndexedProjectUnknown {
        /// The project.
        project: String,
    },
    /// A number is in a project's index but belongs to another project, or to none.
    #[error("{number} is in project {project}'s index but not its")]
    NumberNotInProject {
        /// The number.
        number: E164,
        /// The project whose index holds it.
        project: String,
    },
    /// The index of numbers by connector does not hold every assigned number exactly once.
    #[error("the connector index holds {indexed} numbers, {assigned} are assigned")]
    ConnectorIndexSize {
        /// Numbers in the index.
        indexed: usize,
        /// Numbers assigned in the model.
        assigned: usize,
    },
    /// Numbers route to a connector that does not exist.
    #[error("numbers route to missing connector {connector}")]
    NumbersToMissingConnector {
        /// The missing connector.
        connector: String,
    },
    /// A number is in a connector's index but is not assigned to it, or differs from it in
    /// project or environment.
    #[error(
        "{number} is in connector {connector}'s index but is not its, or differs from it in \
         project or environment"
    )]
    NumberNotOfConnector {
        /// The number.
        number: E164,
        /// The connector whose index holds it.
        connector: String,
    },
    /// An API key belongs to an account that does not exist.
    #[error("key {key} has an unknown account")]
    KeyAccount {
        /// The key's id.
        key: String,
    },
    /// A prefix routes to a connector that does not exist.
    #[error("{prefix} routes to missing connector {connector}")]
    PrefixToMissingConnector {
        /// The prefix.
        prefix: Prefix,
        /// The missing connector.
        connector: String,
    },
    /// A prefix is missing from the index of its connector's, or its project's, prefixes.
    #[error("{prefix} is missing from {index} {owner}'s index")]
    PrefixNotIndexed {
        /// The prefix.
        prefix: Prefix,
        /// Which index: `connector` or `project`.
        index: &'static str,
        /// The connector or project whose index lacks it.
        owner: String,
    },
    /// An index of prefixes does not hold every prefix exactly once.
    #[error("the {index} prefix index holds {listed} prefixes, the model {prefixes}")]
    PrefixIndexSize {
        /// Which index: `connector` or `project`.
        index: &'static str,
        /// Prefixes in the index.
        listed: usize,
        /// Prefixes in the model.
        prefixes: usize,
    },
    /// The published snapshot routes another count of numbers or prefixes than the model.
    #[error("the snapshot routes {snapshot} {what}, the model {model}")]
    SnapshotRoutes {
        /// `numbers` or `prefixes`.
        what: &'static str,
        /// How many the snapshot routes.
        snapshot: usize,
        /// How many the model routes.
        model: usize,
    },
    /// The published snapshot routes a number elsewhere than the model.
    #[error("{number} routes to {routed:?}, the model says {model:?}")]
    SnapshotNumber {
        /// The number.
        number: E164,
        /// Its connector in the snapshot.
        routed: Option<String>,
        /// Its connector in the model.
        model: Option<String>,
    },
    /// The published snapshot routes a prefix elsewhere than the model.
    #[error("{prefix} routes to {routed:?}, the model says {model}")]
    SnapshotPrefix {
        /// The prefix.
        prefix: Prefix,
        /// Its connector in the snapshot.
        routed: Option<String>,
        /// Its connector in the model.
        model: String,
    },
    /// A connector of the published snapshot differs from the model's.
    #[error("connector {connector} differs in the snapshot")]
    SnapshotConnector {
        /// The connector.
        connector: String,
    },
    /// The published snapshot holds another count of connectors than the model.
    #[error("the snapshot holds {snapshot} connectors, the model {model}")]
    SnapshotConnectors {
        /// Connectors in the snapshot.
        snapshot: usize,
        /// Connectors in the model.
        model: usize,
    },
    /// Publishes rebuilt the snapshot instead of patching the one before.
    #[error("{rebuilds} publishes had to rebuild the snapshot")]
    Rebuilds {
        /// How many.
        rebuilds: u64,
    },
}

impl Model {
    /// Checks the invariants of `docs/api.md` and of the model's indexes; `Err` names the
    /// first that is broken.
    pub(crate) fn check_invariants(&self) -> Result<(), InvariantError> {
        self.check_owners()?;
        // Each number belongs to exactly one project's index and, when assigned, to exactly
        // its connector's: every indexed number's entry names that project (or connector),
        // and the indexes hold as many numbers as the model (or as it assigns). Walking the
        // indexes checks each number with one hash probe, where looking every number up in
        // its indexes would take a tree search for each.
        let listed: usize = self.by_project.values().map(BTreeSet::len).sum();
        if listed != self.numbers.len() {
            return Err(InvariantError::ProjectIndexSize {
                listed,
                numbers: self.numbers.len(),
            });
        }
        let assigned = self
            .numbers
            .values()
            .filter(|e| e.connector.is_some())
            .count();
        let indexed: usize = self.by_connector.values().map(BTreeSet::len).sum();
        if indexed != assigned {
            return Err(InvariantError::ConnectorIndexSize { indexed, assigned });
        }
        // The two walks read the model only: on two cores they take the time of one.
        let (projects, connectors) = rayon::join(
            || self.check_project_index(),
            || self.check_connector_index(),
        );
        projects?;
        connectors?;
        self.check_keys()?;
        self.check_prefixes()
    }

    /// The invariants of `docs/api.md` (a number's project exists; an assigned number has
    /// its connector's project and environment; accounts, connectors, keys and prefixes as
    /// [`Model::check_invariants`] checks them), with the numbers read in one pass in memory
    /// order instead of through the indexes: what a model read from a store is checked with
    /// before it serves, at ten million numbers a fraction of the full check. Its indexes
    /// were just built from its numbers (or kept by `apply`, which the property tests hold
    /// to the full check), so only their sizes are compared.
    pub(crate) fn check_loaded(&self) -> Result<(), InvariantError> {
        self.check_owners()?;
        let listed: usize = self.by_project.values().map(BTreeSet::len).sum();
        if listed != self.numbers.len() {
            return Err(InvariantError::ProjectIndexSize {
                listed,
                numbers: self.numbers.len(),
            });
        }
        // Entries share their ids' allocations: each distinct (project, connector,
        // environment) is checked once.
        let mut checked: FxHashSet<(usize, usize, ClientEnv)> = FxHashSet::default();
        let mut assigned = 0;
        for (number, entry) in self.numbers.iter() {
            assigned += usize::from(entry.connector.is_some());
            let key = (
                entry.project.address(),
                entry.connector.map_or(0, Id::address),
                entry.env,
            );
            if checked.contains(&key) {
                continue;
            }
            if self.account_of(entry.project).is_none() {
                return Err(InvariantError::IndexedProjectUnknown {
                    project: entry.project.to_string(),
                });
            }
            if let Some(cid) = entry.connector {
                let Some(c) = self.connectors.get(cid) else {
                    return Err(InvariantError::NumbersToMissingConnector {
                        connector: cid.to_string(),
                    });
                };
                if *c.project_id != **entry.project || c.client_env != entry.env {
                    return Err(InvariantError::NumberNotOfConnector {
                        number: *number,
                        connector: cid.to_string(),
                    });
                }
            }
            checked.insert(key);
        }
        let indexed: usize = self.by_connector.values().map(BTreeSet::len).sum();
        if indexed != assigned {
            return Err(InvariantError::ConnectorIndexSize { indexed, assigned });
        }
        self.check_keys()?;
        self.check_prefixes()
    }

    /// Every project's account exists; every connector is filed under its id, in a project
    /// of its account.
    fn check_owners(&self) -> Result<(), InvariantError> {
        for (project, account) in &self.projects {
            if !self.accounts.contains(account) {
                return Err(InvariantError::ProjectAccount {
                    project: project.to_string(),
                    account: account.to_string(),
                });
            }
        }
        for (id, c) in &self.connectors {
            if **id != *c.connector_id {
                return Err(InvariantError::ConnectorMisfiled {
                    connector: id.to_string(),
                });
            }
            match self.account_of(&c.project_id) {
                Some(account) if **account == *c.account_id => {}
                _ => {
                    return Err(InvariantError::ConnectorOwner {
                        connector: id.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    /// Every key's account exists.
    fn check_keys(&self) -> Result<(), InvariantError> {
        for key in self.keys.values() {
            if !self.accounts.contains(key.info.account_id.as_str()) {
                return Err(InvariantError::KeyAccount {
                    key: key.info.key_id.clone(),
                });
            }
        }
        Ok(())
    }

    /// Every number of a project's index is that project's.
    fn check_project_index(&self) -> Result<(), InvariantError> {
        for (project, numbers) in &self.by_project {
            if self.account_of(project).is_none() {
                return Err(InvariantError::IndexedProjectUnknown {
                    project: project.to_string(),
                });
            }
            if let Some(n) = numbers
                .iter()
                .find(|n| self.numbers.get(n).is_none_or(|e| e.project != project))
            {
                return Err(InvariantError::NumberNotInProject {
                    number: *n,
                    project: project.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Every number of a connector's index is assigned to it, with its project and
    /// environment.
    fn check_connector_index(&self) -> Result<(), InvariantError> {
        for (cid, numbers) in &self.by_connector {
            let Some(c) = self.connectors.get(cid) else {
                return Err(InvariantError::NumbersToMissingConnector {
                    connector: cid.to_string(),
                });
            };
            let wrong = numbers.iter().find(|n| {
                self.numbers.get(n).is_none_or(|e| {
                    e.connector != Some(cid)
                        || *c.project_id != **e.project
                        || c.client_env != e.env
                })
            });
            if let Some(n) = wrong {
                return Err(InvariantError::NumberNotOfConnector {
                    number: *n,
                    connector: cid.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Prefixes: each routes to a connector that exists, and the connector and project
    /// indexes hold exactly the prefixes of their connectors and projects.
    fn check_prefixes(&self) -> Result<(), InvariantError> {
        for (prefix, connector) in &self.prefixes {
            let Some(c) = self.connectors.get(connector) else {
                return Err(InvariantError::PrefixToMissingConnector {
                    prefix: *prefix,
                    connector: connector.to_string(),
                });
            };
            if !self
                .prefixes_by_connector
                .get(connector)
                .is_some_and(|set| set.contains(prefix))
            {
                return Err(InvariantError::PrefixNotIndexed {
                    prefix: *prefix,
                    index: "connector",
                    owner: connector.to_string(),
                });
            }
            if !self
                .prefixes_by_project
                .get(c.project_id.as_str())
                .is_some_and(|set| set.contains(prefix))
            {
                return Err(InvariantError::PrefixNotIndexed {
                    prefix: *prefix,
                    index: "project",
                    owner: c.project_id.clone(),
                });
            }
        }
        for (what, index) in [
            ("connector", &self.prefixes_by_connector),
            ("project", &self.prefixes_by_project),
        ] {
            let listed: usize = index.values().map(BTreeSet::len).sum();
            if listed != self.prefixes.len() {
                return Err(InvariantError::PrefixIndexSize {
                    index: what,
                    listed,
                    prefixes: self.prefixes.len(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::numbers::Entry;
    use crate::model::{Model, Mutation, NumberEntry};
    use patchbay_core::{ClientEnv, Connector, E164};

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
                if let Some(e) = m.numbers.get(&number(1)).map(Entry::to_entry) {
                    m.numbers.insert(
                        number(1),
                        NumberEntry {
                            env: ClientEnv::Sandbox,
                            ..e
                        },
                    );
                }
            }),
        ];
        assert_eq!(model().check_loaded(), Ok(()));
        for (what, break_it) in breakages {
            let mut broken = model();
            break_it(&mut broken);
            assert!(broken.check_invariants().is_err(), "{what}");
            assert!(broken.check_loaded().is_err(), "{what}, checked as loaded");
        }
        let mut broken = model();
        broken.connectors.clear();
        assert_eq!(
            broken.check_invariants(),
            Err(InvariantError::NumbersToMissingConnector {
                connector: "c".into()
            })
        );
        assert_eq!(
            broken.check_invariants().map_err(|e| e.to_string()),
            Err("numbers route to missing connector c".into())
        );
    }
}
