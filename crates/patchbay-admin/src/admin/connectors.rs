//! Connectors: create, read, update (one or a batch), delete, and the lookup of the
//! connector that serves a number.

use std::collections::HashSet;

use patchbay_core::{Connector, Match, Prefix, E164};

use super::{check_text, Admin, Caller, Replica};
use crate::api::{
    ConnectorPatch, ConnectorUpdate, ConnectorsFound, DeletedConnector, NewConnector, Patch,
    UpdateOutcome,
};
use crate::error::{AdminError, ErrorCode};
use crate::keys;
use crate::lang::check_language_tag;
use crate::model::{Model, Mutation};
use crate::voices::tts_lang_code;

impl Replica {
    /// Every connector of `project`.
    pub fn list_connectors(
        &self,
        caller: &Caller,
        project: &str,
    ) -> Result<Vec<Connector>, AdminError> {
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        Ok(model
            .connectors
            .values()
            .filter(|c| c.project_id == project)
            .cloned()
            .collect())
    }

    pub(super) fn connector_in<'m>(
        model: &'m Model,
        project: &str,
        id: &str,
    ) -> Result<&'m Connector, AdminError> {
        model
            .connectors
            .get(id)
            .filter(|c| c.project_id == project)
            .ok_or_else(|| AdminError::not_found("connector", id))
    }

    /// One connector of `project`.
    pub fn get_connector(
        &self,
        caller: &Caller,
        project: &str,
        id: &str,
    ) -> Result<Connector, AdminError> {
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        Replica::connector_in(&model, project, id).cloned()
    }

    /// The connectors of `project` among `ids` (at least one).
    pub fn batch_get_connectors(
        &self,
        caller: &Caller,
        project: &str,
        ids: &[String],
    ) -> Result<ConnectorsFound, AdminError> {
        self.check_list("connectorIds", "connector", ids.len())?;
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        let mut out = ConnectorsFound {
            found: Vec::new(),
            not_found: Vec::new(),
        };
        for id in ids {
            match Replica::connector_in(&model, project, id) {
                Ok(c) => out.found.push(c.clone()),
                Err(_) => out.not_found.push(id.clone()),
            }
        }
        Ok(out)
    }

    /// The connector of `project` that serves `phone_number`, from the published snapshot.
    pub fn lookup_connector(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<Connector, AdminError> {
        self.lookup_route(caller, project, phone_number)
            .map(|(connector, _)| connector)
    }

    /// [`Replica::lookup_connector`], and how the number matched: its own entry, or which
    /// prefix. Routing is global; the project check comes after (a number another project
    /// routes is not found here).
    pub fn lookup_route(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<(Connector, Match), AdminError> {
        // The published keys, not the model: a lookup never waits for a change.
        self.access.authorize(caller, project)?;
        let number = self.normalize(phone_number)?;
        let route = self.router.get(number);
        match route {
            Some(route) if route.connector().project_id == project => {
                Ok((route.connector().clone(), route.matched()))
            }
            _ => Err(AdminError::new(
                ErrorCode::NotFound,
                format!("no connector of this project serves {number}"),
            )),
        }
    }
}

impl Admin {
    fn check_voice(&self, voice: &str) -> Result<String, AdminError> {
        self.config
            .voices
            .check(voice)
            .map_err(|why| AdminError::validation(format!("voiceName {voice:?}: {why}")))?;
        tts_lang_code(voice).map(str::to_string).ok_or_else(|| {
            AdminError::validation(format!("voiceName {voice:?} has no language prefix"))
        })
    }

    fn check_asr(code: &str) -> Result<(), AdminError> {
        check_language_tag(code)
            .map_err(|why| AdminError::validation(format!("asrLangCode {code:?}: {why}")))
    }

    /// Creates a connector in `project` with a generated id.
    pub fn create_connector(
        &self,
        caller: &Caller,
        project: &str,
        new: NewConnector,
    ) -> Result<Connector, AdminError> {
        check_text("name", &new.name, false)?;
        Self::check_asr(&new.asr_lang_code)?;
        let tts = self.check_voice(&new.voice_name)?;
        let variant = new.variant_id.unwrap_or_default();
        check_text("variantId", &variant, true)?;
        let connector_id = keys::new_id("conn_")?;
        let (caller, project) = (caller.clone(), project.to_string());
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let connector = Connector {
                connector_id,
                name: new.name,
                account_id: model
                    .account_of(&project)
                    .map(|a| a.to_string())
                    .unwrap_or_default(),
                project_id: project,
                client_env: new.client_env,
                variant_id: variant,
                asr_lang_code: new.asr_lang_code,
                tts_lang_code: tts,
                voice_name: new.voice_name,
                disable_handoff: new.disable_handoff.unwrap_or(false),
            };
            let change = vec![Mutation::PutConnector {
                connector: connector.clone(),
            }];
            Ok((change, connector))
        })
    }

    /// The mutations that apply `patch` to connector `id`, and the updated connector.
    fn plan_update(
        &self,
        model: &Model,
        caller: &Caller,
        project: &str,
        id: &str,
        patch: &ConnectorPatch,
    ) -> Result<(Connector, Vec<Mutation>), AdminError> {
        let mut next = Replica::connector_in(model, project, id)?.clone();
        let required = |field: &str| {
            AdminError::validation(format!("{field} cannot be cleared (null): send a value"))
        };
        match &patch.variant_id {
            Patch::Absent => {}
            Patch::Null => next.variant_id.clear(),
            Patch::Value(v) => {
                check_text("variantId", v, true)?;
                next.variant_id.clone_from(v);
            }
        }
        match &patch.asr_lang_code {
            Patch::Absent => {}
            Patch::Null => return Err(required("asrLangCode")),
            Patch::Value(code) => {
                Self::check_asr(code)?;
                next.asr_lang_code.clone_from(code);
            }
        }
        match &patch.voice_name {
            Patch::Absent => {}
            Patch::Null => return Err(required("voiceName")),
            Patch::Value(voice) => {
                next.tts_lang_code = self.check_voice(voice)?;
                next.voice_name.clone_from(voice);
            }
        }
        match &patch.name {
            Patch::Absent => {}
            Patch::Null => return Err(required("name")),
            Patch::Value(name) => {
                check_text("name", name, false)?;
                next.name.clone_from(name);
            }
        }
        match patch.disable_handoff {
            Patch::Absent => {}
            Patch::Null => return Err(required("disableHandoff")),
            Patch::Value(flag) => next.disable_handoff = flag,
        }
        let mut change = Vec::new();
        match &patch.project_id {
            Patch::Absent => {}
            Patch::Null => return Err(required("projectId")),
            Patch::Value(target) if target == project => {}
            Patch::Value(target) => {
                self.authorize(model, caller, target)?;
                let account = model
                    .account_of(target)
                    .map(|a| a.to_string())
                    .unwrap_or_default();
                next.project_id.clone_from(target);
                next.account_id = account;
                let numbers: Vec<E164> = model
                    .by_connector
                    .get(id)
                    .map(|set| set.iter().copied().collect())
                    .unwrap_or_default();
                change.push(Mutation::PutConnector {
                    connector: next.clone(),
                });
                if !numbers.is_empty() {
                    change.push(Mutation::PutNumbers {
                        project_id: target.clone(),
                        client_env: next.client_env,
                        connector_id: Some(id.to_string()),
                        numbers,
                    });
                }
                return Ok((next, change));
            }
        }
        if model.connectors.get(id) != Some(&next) {
            change.push(Mutation::PutConnector {
                connector: next.clone(),
            });
        }
        Ok((next, change))
    }

    /// Applies a partial update to connector `id` of `project`.
    pub fn update_connector(
        &self,
        caller: &Caller,
        project: &str,
        id: &str,
        patch: &ConnectorPatch,
    ) -> Result<Connector, AdminError> {
        let (caller, project, id, patch) = (
            caller.clone(),
            project.to_string(),
            id.to_string(),
            patch.clone(),
        );
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let (next, change) = admin.plan_update(model, &caller, &project, &id, &patch)?;
            Ok((change, next))
        })
    }

    /// Applies each update independently (partial success); the successes are one change.
    /// A connector named twice in one batch gets an error for the second update.
    pub fn batch_update_connectors(
        &self,
        caller: &Caller,
        project: &str,
        updates: &[ConnectorUpdate],
    ) -> Result<Vec<UpdateOutcome>, AdminError> {
        self.check_bulk(updates.len())?;
        let (caller, project, updates) = (caller.clone(), project.to_string(), updates.to_vec());
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let mut change = Vec::new();
            let mut outcomes = Vec::with_capacity(updates.len());
            let mut seen = HashSet::new();
            for update in &updates {
                let id = &update.connector_id;
                let result = if seen.insert(id.as_str()) {
                    admin
                        .plan_update(model, &caller, &project, id, &update.patch)
                        .map(|(next, mutations)| {
                            change.extend(mutations);
                            next
                        })
                } else {
                    Err(AdminError::invalid_request(format!(
                        "connector {id:?} is updated twice in this batch: merge the updates"
                    )))
                };
                outcomes.push(UpdateOutcome {
                    connector_id: id.clone(),
                    result,
                });
            }
            Ok((change, outcomes))
        })
    }

    /// Deletes connector `id` and releases (deletes) all of its numbers in the same change.
    pub fn delete_connector(
        &self,
        caller: &Caller,
        project: &str,
        id: &str,
    ) -> Result<DeletedConnector, AdminError> {
        let (caller, project, id) = (caller.clone(), project.to_string(), id.to_string());
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            Replica::connector_in(model, &project, &id)?;
            let numbers: Vec<E164> = model
                .by_connector
                .get(id.as_str())
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default();
            let prefixes: Vec<Prefix> = model
                .prefixes_by_connector
                .get(id.as_str())
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default();
            let mut change = Vec::new();
            if !numbers.is_empty() {
                change.push(Mutation::RemoveNumbers {
                    numbers: numbers.clone(),
                });
            }
            if !prefixes.is_empty() {
                change.push(Mutation::RemovePrefixes {
                    prefixes: prefixes.clone(),
                });
            }
            change.push(Mutation::RemoveConnector {
                connector_id: id.clone(),
            });
            Ok((
                change,
                DeletedConnector {
                    deleted_connector: id,
                    deleted_phone_numbers: numbers,
                    deleted_prefixes: prefixes,
                },
            ))
        })
    }
}
