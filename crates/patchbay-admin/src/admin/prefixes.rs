//! Number prefixes: list, import, read, reassign, delete (the `docs/api.md` extension).
//!
//! A prefix always routes to a connector and belongs to that connector's project: it has no
//! project or environment of its own to keep in step, so moving a connector moves its
//! prefixes by construction, and deleting one deletes them in the same change.

use std::collections::BTreeSet;

use patchbay_core::Prefix;

use super::{check_limit, keyset_page, Admin, Caller, Replica};
use crate::api::{
    PrefixError, PrefixImportRequest, PrefixesDeleted, PrefixesImported, PrefixesPage,
};
use crate::error::AdminError;
use crate::model::{Model, Mutation, NumberPrefix};

/// Reads a prefix as a request gives it.
fn parse(input: &str) -> Result<Prefix, AdminError> {
    Ok(Prefix::parse(input)?)
}

impl Replica {
    /// Every prefix of `project`, optionally only one connector's, in order.
    pub fn list_prefixes(
        &self,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
    ) -> Result<Vec<NumberPrefix>, AdminError> {
        let model = self.model.read();
        let prefixes = self.prefixes_of(&model, caller, project, connector)?;
        Ok(prefixes
            .into_iter()
            .flatten()
            .filter_map(|p| model.prefixes.get(p).map(|c| model.number_prefix(*p, c)))
            .collect())
    }

    /// The prefixes of `project` (optionally one connector's) after `after`, in order, at
    /// most `limit` (1 to [`MAX_PAGE`](crate::MAX_PAGE)): keyset pages, as for numbers.
    pub fn list_prefixes_page(
        &self,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
        after: Option<Prefix>,
        limit: usize,
    ) -> Result<PrefixesPage, AdminError> {
        check_limit(limit, "prefixes")?;
        let model = self.model.read();
        let set = self.prefixes_of(&model, caller, project, connector)?;
        let (page, next) = keyset_page(set, after, limit);
        Ok(PrefixesPage {
            next,
            prefixes: page
                .into_iter()
                .filter_map(|p| model.prefixes.get(&p).map(|c| model.number_prefix(p, c)))
                .collect(),
        })
    }

    /// The ordered set of prefixes a listing walks, after the access checks.
    fn prefixes_of<'m>(
        &self,
        model: &'m Model,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
    ) -> Result<Option<&'m BTreeSet<Prefix>>, AdminError> {
        self.authorize(model, caller, project)?;
        Ok(match connector {
            Some(id) => {
                Replica::connector_in(model, project, id)?;
                model.prefixes_by_connector.get(id)
            }
            None => model.prefixes_by_project.get(project),
        })
    }

    /// The prefix `input` names if `project` has it.
    fn prefix_in(model: &Model, project: &str, input: &str) -> Result<NumberPrefix, AdminError> {
        let prefix = parse(input)?;
        match model.prefixes.get(&prefix) {
            Some(connector)
                if model
                    .connectors
                    .get(connector)
                    .is_some_and(|c| c.project_id == project) =>
            {
                Ok(model.number_prefix(prefix, connector))
            }
            _ => Err(AdminError::not_found("number prefix", &prefix.to_string())),
        }
    }

    /// One prefix of `project`.
    pub fn get_prefix(
        &self,
        caller: &Caller,
        project: &str,
        prefix: &str,
    ) -> Result<NumberPrefix, AdminError> {
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        Replica::prefix_in(&model, project, prefix)
    }
}

impl Admin {
    /// Routes prefixes of `project` to one of its connectors in one change; per-prefix
    /// failures are reported, the rest applied. Routing a prefix again to the connector it
    /// already routes to succeeds and changes nothing.
    pub fn import_prefixes(
        &self,
        caller: &Caller,
        project: &str,
        request: &PrefixImportRequest,
    ) -> Result<PrefixesImported, AdminError> {
        self.check_list("prefixes", "prefix", request.prefixes.len())?;
        let parsed: Vec<Result<Prefix, AdminError>> =
            request.prefixes.iter().map(|p| parse(p)).collect();
        let (caller, project) = (caller.clone(), project.to_string());
        let connector_id = request.connector_id.clone();
        let weight = parsed.len();
        let (imported, refused) =
            self.change_bulk(weight, self.actor_of(&caller), move |admin, model| {
                admin.authorize(model, &caller, &project)?;
                Replica::connector_in(model, &project, &connector_id)?;
                let mut imported = Vec::new();
                let mut refused: Vec<(usize, AdminError)> = Vec::new();
                let mut fresh = Vec::new();
                let mut seen = BTreeSet::new();
                for (at, result) in parsed.into_iter().enumerate() {
                    let prefix = match result {
                        Ok(prefix) => prefix,
                        Err(error) => {
                            refused.push((at, error));
                            continue;
                        }
                    };
                    if !seen.insert(prefix) {
                        let message = format!("{prefix} is listed more than once in this request");
                        refused.push((at, AdminError::conflict(message)));
                        continue;
                    }
                    match model.prefixes.get(&prefix) {
                        None => fresh.push(prefix),
                        Some(owner) if **owner == *connector_id => {}
                        Some(owner) => {
                            let in_project = model
                                .connectors
                                .get(owner)
                                .is_some_and(|c| c.project_id == project);
                            let message = if in_project {
                                format!(
                                "{prefix} already routes to connector {owner}: reassign it with \
                                 PATCH /number-prefixes/{prefix}"
                            )
                            } else {
                                format!("{prefix} belongs to another project")
                            };
                            refused.push((at, AdminError::conflict(message)));
                            continue;
                        }
                    }
                    imported.push(model.number_prefix(prefix, &connector_id));
                }
                // The imported ones carry the connector's fields as the model has them now.
                let mut change = Vec::new();
                if !fresh.is_empty() {
                    change.push(Mutation::PutPrefixes {
                        connector_id: connector_id.clone(),
                        prefixes: fresh,
                    });
                }
                Ok((change, (imported, refused)))
            })?;
        let errors = refused
            .into_iter()
            .map(|(at, error)| PrefixError {
                prefix: request.prefixes.get(at).cloned().unwrap_or_default(),
                error,
            })
            .collect();
        Ok(PrefixesImported { imported, errors })
    }

    /// Routes a prefix of `project` to another of its connectors, of the same environment.
    pub fn reassign_prefix(
        &self,
        caller: &Caller,
        project: &str,
        prefix: &str,
        connector_id: &str,
    ) -> Result<NumberPrefix, AdminError> {
        let (caller, project) = (caller.clone(), project.to_string());
        let (prefix, connector_id) = (prefix.to_string(), connector_id.to_string());
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let current = Replica::prefix_in(model, &project, &prefix)?;
            let target = Replica::connector_in(model, &project, &connector_id)?;
            if target.client_env != current.client_env {
                return Err(AdminError::conflict(format!(
                    "{} is a {} prefix and connector {connector_id} is {}: environments must \
                     match",
                    current.prefix, current.client_env, target.client_env
                )));
            }
            let mut change = Vec::new();
            if current.connector_id != connector_id {
                change.push(Mutation::PutPrefixes {
                    connector_id: connector_id.clone(),
                    prefixes: vec![current.prefix],
                });
            }
            Ok((change, model.number_prefix(current.prefix, &connector_id)))
        })
    }

    /// Deletes one prefix of `project`.
    pub fn delete_prefix(
        &self,
        caller: &Caller,
        project: &str,
        prefix: &str,
    ) -> Result<Prefix, AdminError> {
        let (caller, project, prefix) = (caller.clone(), project.to_string(), prefix.to_string());
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let found = Replica::prefix_in(model, &project, &prefix)?.prefix;
            let change = vec![Mutation::RemovePrefixes {
                prefixes: vec![found],
            }];
            Ok((change, found))
        })
    }

    /// Deletes prefixes of `project` in one change; per-prefix failures are reported.
    pub fn delete_prefixes(
        &self,
        caller: &Caller,
        project: &str,
        prefixes: &[String],
    ) -> Result<PrefixesDeleted, AdminError> {
        self.check_list("prefixes", "prefix", prefixes.len())?;
        let (caller, project, inputs) = (caller.clone(), project.to_string(), prefixes.to_vec());
        self.change_bulk(inputs.len(), self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let mut out = PrefixesDeleted::default();
            let mut seen = BTreeSet::new();
            for input in inputs {
                match Replica::prefix_in(model, &project, &input) {
                    Ok(found) if seen.insert(found.prefix) => out.deleted.push(found.prefix),
                    Ok(found) => out.errors.push(PrefixError {
                        prefix: input,
                        error: AdminError::conflict(format!(
                            "{} is listed more than once in this request",
                            found.prefix
                        )),
                    }),
                    Err(error) => out.errors.push(PrefixError {
                        prefix: input,
                        error,
                    }),
                }
            }
            let mut change = Vec::new();
            if !out.deleted.is_empty() {
                change.push(Mutation::RemovePrefixes {
                    prefixes: out.deleted.clone(),
                });
            }
            Ok((change, out))
        })
    }
}
