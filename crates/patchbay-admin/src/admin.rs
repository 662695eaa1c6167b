//! [`Admin`]: every operation of the contract, with access control, validation, durable
//! journaling and publishing.
//!
//! A change runs under the writer lock: validate against the model, append to the store
//! (durable before anything else happens), apply to the model, build the next snapshot and
//! publish it into the [`Router`]. So a caller that got a success sees its change in the very
//! next lookup, and a bulk call or a batch is one snapshot: readers see all of it or none.
//! Lookup readers never take the lock; a slow build delays only other admin calls.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use patchbay_core::{normalize_in, ClientEnv, Connector, Region, Router, E164};

use crate::api::{
    ConnectorPatch, ConnectorUpdate, ConnectorsFound, Deleted, DeletedConnector, ImportRequest,
    Imported, NewConnector, NumberError, NumbersFound, Patch, UpdateOutcome,
};
use crate::error::{AdminError, ErrorCode};
use crate::keys;
use crate::lang::check_language_tag;
use crate::model::{Grant, KeyInfo, Model, Mutation, PhoneNumber, Project};
use crate::store::{Store, StoreError};
use crate::validity::{self, NumberCheck};
use crate::voices::{tts_lang_code, VoiceCatalog, VoiceValidator};

/// Who is calling: an API key as presented, or the operator (the command line, with access
/// to the data directory and so to everything).
#[derive(Clone, PartialEq, Eq)]
pub enum Caller {
    /// A presented API key (checked on every call).
    Key(String),
    /// The operator.
    Operator,
}

impl std::fmt::Debug for Caller {
    /// Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Key(key) => write!(f, "Key({})", keys::key_id_of(key).unwrap_or("?")),
            Caller::Operator => f.write_str("Operator"),
        }
    }
}

/// Settings of an [`Admin`].
pub struct AdminConfig {
    /// How imports check numbers (default: valid per the metadata).
    pub number_check: NumberCheck,
    /// The region national-format numbers are read in, if any.
    pub default_region: Option<Region>,
    /// The most numbers or ids one bulk call may carry (default 10,000).
    pub max_bulk: usize,
    /// Write a checkpoint once the journal exceeds this many bytes (default 64 MiB).
    pub checkpoint_after: u64,
    /// Checks `voiceName` (default: the built-in offline catalog).
    pub voices: Arc<dyn VoiceValidator>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            number_check: NumberCheck::Valid,
            default_region: None,
            max_bulk: 10_000,
            checkpoint_after: 64 << 20,
            voices: Arc::new(VoiceCatalog::builtin().clone()),
        }
    }
}

/// Publishing figures since start, for monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Changes published.
    pub publishes: u64,
    /// Time from the start of the store append to the publish of the last change.
    pub last: std::time::Duration,
    /// The same, summed over every change.
    pub total: std::time::Duration,
}

struct Writer {
    store: Box<dyn Store>,
    seq: u64,
}

/// The change side of patchbay. Cheap to share behind an `Arc`; every method is safe to
/// call from many threads.
pub struct Admin {
    model: RwLock<Model>,
    writer: Mutex<Writer>,
    router: Router,
    config: AdminConfig,
    warnings: Vec<String>,
    stats: Mutex<PublishStats>,
}

const MAX_TEXT: usize = 256;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn encode(change: &[Mutation]) -> Result<Vec<u8>, AdminError> {
    serde_json::to_vec(change).map_err(|e| AdminError::internal(format!("encoding a change: {e}")))
}

fn store_error(err: StoreError) -> AdminError {
    AdminError::internal(format!("the change was not stored: {err}"))
}

/// Checks an id chosen by a person (accounts, projects): 1 to 64 of `A-Z a-z 0-9 _ - .`.
fn check_name(kind: &str, id: &str) -> Result<(), AdminError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(AdminError::invalid_request(format!(
            "{kind} id {id:?} must be 1 to 64 characters of letters, digits, '_', '-' or '.'"
        )))
    }
}

fn check_text(field: &str, value: &str, allow_empty: bool) -> Result<(), AdminError> {
    if (!allow_empty && value.trim().is_empty())
        || value.len() > MAX_TEXT
        || value.chars().any(char::is_control)
    {
        return Err(AdminError::validation(format!(
            "{field} must be {}at most {MAX_TEXT} bytes without control characters",
            if allow_empty { "" } else { "non-empty, " }
        )));
    }
    Ok(())
}

impl Admin {
    /// Opens an admin over `store`: loads the checkpoint, replays the journal, and publishes
    /// the resulting snapshot. A torn journal tail is dropped (see [`Admin::warnings`]).
    pub fn open(mut store: Box<dyn Store>, config: AdminConfig) -> Result<Admin, AdminError> {
        let loaded = store
            .load()
            .map_err(|e| AdminError::internal(e.to_string()))?;
        let mut model = Model::default();
        let mut seq = 0;
        if let Some((at, bytes)) = &loaded.checkpoint {
            let mutations: Vec<Mutation> = serde_json::from_slice(bytes)
                .map_err(|e| AdminError::internal(format!("unreadable checkpoint: {e}")))?;
            mutations.into_iter().for_each(|m| model.apply(m));
            seq = *at;
        }
        for (at, bytes) in &loaded.records {
            if *at != seq + 1 {
                return Err(AdminError::internal(format!(
                    "journal record {at} follows {seq}: a record is missing"
                )));
            }
            let mutations: Vec<Mutation> = serde_json::from_slice(bytes).map_err(|e| {
                AdminError::internal(format!("unreadable journal record {at}: {e}"))
            })?;
            mutations.into_iter().for_each(|m| model.apply(m));
            seq = *at;
        }
        model
            .check_invariants()
            .map_err(|e| AdminError::internal(format!("the stored model is inconsistent: {e}")))?;
        let snapshot = model
            .snapshot(seq + 1)
            .map_err(|e| AdminError::internal(e.to_string()))?;
        Ok(Admin {
            model: RwLock::new(model),
            writer: Mutex::new(Writer { store, seq }),
            router: Router::new(snapshot),
            config,
            warnings: loaded.warnings,
            stats: Mutex::new(PublishStats::default()),
        })
    }

    /// What start-up dropped or noticed (a torn journal tail, say).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Publishing figures since start.
    pub fn publish_stats(&self) -> PublishStats {
        *self.stats.lock()
    }

    /// The router this admin publishes into: hand readers out of it.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Applies `change` durably and publishes it. Called with the writer lock held.
    fn commit(&self, writer: &mut Writer, change: Vec<Mutation>) -> Result<(), AdminError> {
        if change.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let payload = encode(&change)?;
        writer
            .store
            .append(writer.seq + 1, &payload)
            .map_err(store_error)?;
        writer.seq += 1;
        // Only number changes and connector removals change which number routes where;
        // anything else reuses the published index.
        let reroutes = change.iter().any(|m| {
            matches!(
                m,
                Mutation::PutNumbers { .. }
                    | Mutation::RemoveNumbers { .. }
                    | Mutation::RemoveConnector { .. }
            )
        });
        let connectors: Vec<Connector> = change
            .iter()
            .filter_map(|m| match m {
                Mutation::PutConnector { connector } => Some(connector.clone()),
                _ => None,
            })
            .collect();
        let mut model = self.model.write();
        for mutation in change {
            model.apply(mutation);
        }
        let model = parking_lot::RwLockWriteGuard::downgrade(model);
        let version = self.router.version() + 1;
        let snapshot = if reroutes {
            Some(model.snapshot(version))
        } else if connectors.is_empty() {
            None
        } else {
            Some(self.router.snapshot().with_connectors(version, connectors))
        };
        if let Some(snapshot) = snapshot {
            let snapshot = snapshot.map_err(|e| AdminError::internal(e.to_string()))?;
            self.router
                .publish(snapshot)
                .map_err(|e| AdminError::internal(e.to_string()))?;
        }
        {
            let elapsed = started.elapsed();
            let mut stats = self.stats.lock();
            stats.publishes += 1;
            stats.last = elapsed;
            stats.total += elapsed;
        }
        if writer.store.journal_len() > self.config.checkpoint_after {
            Self::checkpoint_locked(writer, &model, &self.router)?;
        }
        Ok(())
    }

    fn checkpoint_locked(
        writer: &mut Writer,
        model: &Model,
        router: &Router,
    ) -> Result<(), AdminError> {
        let bytes = encode(&model.to_mutations())?;
        writer
            .store
            .checkpoint(writer.seq, &bytes, &router.snapshot())
            .map_err(store_error)
    }

    /// Writes a checkpoint now (the whole model and its snapshot) and empties the journal.
    pub fn checkpoint(&self) -> Result<(), AdminError> {
        let mut writer = self.writer.lock();
        let model = self.model.read();
        Self::checkpoint_locked(&mut writer, &model, &self.router)
    }

    /// The account of `project` if `caller` may use it: 401 for a bad key, 403 for a key
    /// that does not grant the project (existing or not), 404 for the operator.
    fn authorize(&self, model: &Model, caller: &Caller, project: &str) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => match model.account_of(project) {
                Some(_) => Ok(()),
                None => Err(AdminError::not_found("project", project)),
            },
            Caller::Key(key) => {
                let info = self.authenticate(model, key)?;
                let granted = model.account_of(project).is_some_and(|account| {
                    **account == *info.account_id
                        && match &info.grant {
                            Grant::AllProjects => true,
                            Grant::Projects(set) => set.contains(project),
                        }
                });
                if granted {
                    Ok(())
                } else {
                    Err(AdminError::new(
                        ErrorCode::Forbidden,
                        format!("this API key does not grant project {project:?}"),
                    ))
                }
            }
        }
    }

    fn authenticate<'m>(&self, model: &'m Model, key: &str) -> Result<&'m KeyInfo, AdminError> {
        let unauthorized = || {
            AdminError::new(
                ErrorCode::Unauthorized,
                "missing, unknown or revoked API key: send a valid key in x-api-key",
            )
        };
        let id = keys::key_id_of(key).ok_or_else(unauthorized)?;
        let record = model.keys.get(id).ok_or_else(unauthorized)?;
        if record.info.revoked || !keys::matches(key, record) {
            return Err(unauthorized());
        }
        Ok(&record.info)
    }

    /// Checks that `caller` is a valid key (or the operator) without naming a project.
    pub fn authenticate_caller(&self, caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(key) => self.authenticate(&self.model.read(), key).map(|_| ()),
        }
    }

    fn operator_only(caller: &Caller) -> Result<(), AdminError> {
        match caller {
            Caller::Operator => Ok(()),
            Caller::Key(_) => Err(AdminError::new(
                ErrorCode::Forbidden,
                "only the operator (the command line) manages projects and keys",
            )),
        }
    }

    fn check_bulk(&self, count: usize) -> Result<(), AdminError> {
        if count > self.config.max_bulk {
            return Err(AdminError::new(
                ErrorCode::PayloadTooLarge,
                format!(
                    "{count} items in one call; the limit is {}: split the call",
                    self.config.max_bulk
                ),
            ));
        }
        Ok(())
    }

    /// A bulk call's list: at least one item, at most the bulk limit.
    fn check_list(&self, field: &str, items: &str, count: usize) -> Result<(), AdminError> {
        if count == 0 {
            return Err(AdminError::invalid_request(format!(
                "{field} must list at least one {items}"
            )));
        }
        self.check_bulk(count)
    }

    fn normalize(&self, input: &str) -> Result<E164, AdminError> {
        Ok(normalize_in(input, self.config.default_region)?)
    }

    // ---- accounts, projects, keys -------------------------------------------------------

    /// Creates `project` in `account` (the account is created if new). Operator only.
    pub fn create_project(
        &self,
        caller: &Caller,
        account: &str,
        project: &str,
    ) -> Result<Project, AdminError> {
        Self::operator_only(caller)?;
        check_name("account", account)?;
        check_name("project", project)?;
        let mut writer = self.writer.lock();
        let mut change = Vec::new();
        {
            let model = self.model.read();
            if let Some(owner) = model.account_of(project) {
                return Err(AdminError::conflict(format!(
                    "project {project:?} already exists{}",
                    if **owner == *account {
                        ""
                    } else {
                        " in another account"
                    }
                )));
            }
            if !model.accounts.contains(account) {
                change.push(Mutation::PutAccount {
                    account_id: account.into(),
                });
            }
        }
        change.push(Mutation::PutProject {
            project_id: project.into(),
            account_id: account.into(),
        });
        self.commit(&mut writer, change)?;
        Ok(Project {
            project_id: project.into(),
            account_id: account.into(),
        })
    }

    /// Every project, in order.
    pub fn list_projects(&self, caller: &Caller) -> Result<Vec<Project>, AdminError> {
        Self::operator_only(caller)?;
        Ok(self
            .model
            .read()
            .projects
            .iter()
            .map(|(p, a)| Project {
                project_id: p.to_string(),
                account_id: a.to_string(),
            })
            .collect())
    }

    /// Creates a key for `account` granting `projects` (all of the account's when empty).
    /// Returns the secret, shown this once, and the stored record. Operator only.
    pub fn create_key(
        &self,
        caller: &Caller,
        account: &str,
        projects: &[String],
        label: &str,
    ) -> Result<(String, KeyInfo), AdminError> {
        Self::operator_only(caller)?;
        check_text("label", label, true)?;
        let mut writer = self.writer.lock();
        {
            let model = self.model.read();
            if !model.accounts.contains(account) {
                return Err(AdminError::not_found("account", account));
            }
            for project in projects {
                if model.account_of(project).is_none_or(|a| **a != *account) {
                    return Err(AdminError::not_found("project", project));
                }
            }
        }
        let grant = if projects.is_empty() {
            Grant::AllProjects
        } else {
            Grant::Projects(projects.iter().cloned().collect())
        };
        let new = keys::generate(account, grant, label, now_secs())?;
        let info = new.record.info.clone();
        self.commit(&mut writer, vec![Mutation::PutKey { key: new.record }])?;
        Ok((new.secret, info))
    }

    /// Every key (never a secret). Operator only.
    pub fn list_keys(&self, caller: &Caller) -> Result<Vec<KeyInfo>, AdminError> {
        Self::operator_only(caller)?;
        Ok(self
            .model
            .read()
            .keys
            .values()
            .map(|k| k.info.clone())
            .collect())
    }

    /// Revokes a key: it authenticates nothing from the next call on. Operator only.
    pub fn revoke_key(&self, caller: &Caller, key_id: &str) -> Result<KeyInfo, AdminError> {
        Self::operator_only(caller)?;
        let mut writer = self.writer.lock();
        let mut info = match self.model.read().keys.get(key_id) {
            Some(record) => record.info.clone(),
            None => return Err(AdminError::not_found("key", key_id)),
        };
        if !info.revoked {
            self.commit(
                &mut writer,
                vec![Mutation::RevokeKey {
                    key_id: key_id.into(),
                }],
            )?;
            info.revoked = true;
        }
        Ok(info)
    }

    /// On an empty store: creates account `default`, project `default` and a key for it,
    /// and returns that key (to show once). `None` when the store already has accounts.
    pub fn bootstrap(&self) -> Result<Option<String>, AdminError> {
        if !self.model.read().accounts.is_empty() {
            return Ok(None);
        }
        self.create_project(&Caller::Operator, "default", "default")?;
        let (secret, _) =
            self.create_key(&Caller::Operator, "default", &[], "created on first start")?;
        Ok(Some(secret))
    }

    // ---- connectors ---------------------------------------------------------------------

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
        let mut writer = self.writer.lock();
        let account = {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            model
                .account_of(project)
                .map(|a| a.to_string())
                .unwrap_or_default()
        };
        let connector = Connector {
            connector_id: keys::new_id("conn_")?,
            name: new.name,
            account_id: account,
            project_id: project.into(),
            client_env: new.client_env,
            variant_id: variant,
            asr_lang_code: new.asr_lang_code,
            tts_lang_code: tts,
            voice_name: new.voice_name,
            disable_handoff: new.disable_handoff.unwrap_or(false),
        };
        self.commit(
            &mut writer,
            vec![Mutation::PutConnector {
                connector: connector.clone(),
            }],
        )?;
        Ok(connector)
    }

    fn connector_in<'m>(
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
        Self::connector_in(&model, project, id).cloned()
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
            match Self::connector_in(&model, project, id) {
                Ok(c) => out.found.push(c.clone()),
                Err(_) => out.not_found.push(id.clone()),
            }
        }
        Ok(out)
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
        let mut next = Self::connector_in(model, project, id)?.clone();
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
        let mut writer = self.writer.lock();
        let (next, change) = {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            self.plan_update(&model, caller, project, id, patch)?
        };
        self.commit(&mut writer, change)?;
        Ok(next)
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
        let mut writer = self.writer.lock();
        let mut change = Vec::new();
        let mut outcomes = Vec::with_capacity(updates.len());
        {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            let mut seen = HashSet::new();
            for update in updates {
                let id = &update.connector_id;
                let result = if seen.insert(id.as_str()) {
                    self.plan_update(&model, caller, project, id, &update.patch)
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
        }
        self.commit(&mut writer, change)?;
        Ok(outcomes)
    }

    /// Deletes connector `id` and releases (deletes) all of its numbers in the same change.
    pub fn delete_connector(
        &self,
        caller: &Caller,
        project: &str,
        id: &str,
    ) -> Result<DeletedConnector, AdminError> {
        let mut writer = self.writer.lock();
        let numbers: Vec<E164> = {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            Self::connector_in(&model, project, id)?;
            model
                .by_connector
                .get(id)
                .map(|set| set.iter().copied().collect())
                .unwrap_or_default()
        };
        let mut change = Vec::new();
        if !numbers.is_empty() {
            change.push(Mutation::RemoveNumbers {
                numbers: numbers.clone(),
            });
        }
        change.push(Mutation::RemoveConnector {
            connector_id: id.into(),
        });
        self.commit(&mut writer, change)?;
        Ok(DeletedConnector {
            deleted_connector: id.into(),
            deleted_phone_numbers: numbers,
        })
    }

    /// The connector of `project` that serves `phone_number`, from the published snapshot.
    pub fn lookup_connector(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<Connector, AdminError> {
        {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
        }
        let number = self.normalize(phone_number)?;
        let route = self.router.get(number);
        match route {
            Some(route) if route.connector().project_id == project => Ok(route.connector().clone()),
            _ => Err(AdminError::new(
                ErrorCode::NotFound,
                format!("no connector of this project serves {number}"),
            )),
        }
    }

    // ---- phone numbers ------------------------------------------------------------------

    /// Every number of `project`, optionally only those of one connector, sorted.
    pub fn list_numbers(
        &self,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
    ) -> Result<Vec<PhoneNumber>, AdminError> {
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        let mut out: Vec<PhoneNumber> = match connector {
            Some(id) => {
                Self::connector_in(&model, project, id)?;
                model
                    .by_connector
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter_map(|n| model.numbers.get(n).map(|e| model.phone_number(*n, e)))
                    .collect()
            }
            None => model
                .numbers
                .iter()
                .filter(|(_, e)| *e.project == *project)
                .map(|(n, e)| model.phone_number(*n, e))
                .collect(),
        };
        out.sort_by_key(|p| p.number);
        Ok(out)
    }

    /// Imports numbers into `project` in one change; per-number failures are reported, the
    /// rest applied. Re-importing a number the project already has, unchanged, succeeds.
    pub fn import_numbers(
        &self,
        caller: &Caller,
        project: &str,
        request: &ImportRequest,
    ) -> Result<Imported, AdminError> {
        self.check_list("phoneNumbers", "number", request.phone_numbers.len())?;
        // Parse and check validity before taking any lock: this is the slow part.
        let parsed: Vec<Result<E164, AdminError>> = request
            .phone_numbers
            .iter()
            .map(|input| {
                let number = self.normalize(input)?;
                validity::check(number, self.config.number_check)?;
                Ok(number)
            })
            .collect();
        let mut writer = self.writer.lock();
        let mut out = Imported::default();
        let mut fresh = Vec::new();
        let env;
        {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            let connector = match &request.connector_id {
                Some(id) => Some(Self::connector_in(&model, project, id)?),
                None => None,
            };
            env = match (request.client_env, connector) {
                (Some(env), Some(c)) if env != c.client_env => {
                    return Err(AdminError::conflict(format!(
                        "clientEnv {env} does not match connector {}'s environment {}",
                        c.connector_id, c.client_env
                    )))
                }
                (Some(env), _) => env,
                (None, Some(c)) => c.client_env,
                (None, None) => ClientEnv::Live,
            };
            let account = model
                .account_of(project)
                .map(|a| a.to_string())
                .unwrap_or_default();
            let mut seen = HashSet::with_capacity(parsed.len());
            for (input, result) in request.phone_numbers.iter().zip(parsed) {
                let number = match result {
                    Ok(number) => number,
                    Err(error) => {
                        out.errors.push(NumberError {
                            phone_number: input.clone(),
                            error,
                        });
                        continue;
                    }
                };
                let refuse = |message: String| NumberError {
                    phone_number: input.clone(),
                    error: AdminError::conflict(message),
                };
                if !seen.insert(number) {
                    out.errors.push(refuse(format!(
                        "{number} is listed more than once in this request"
                    )));
                    continue;
                }
                let existing = model.numbers.get(&number);
                match existing {
                    None => fresh.push(number),
                    Some(existing) if *existing.project != *project => {
                        out.errors
                            .push(refuse(format!("{number} belongs to another project")));
                        continue;
                    }
                    Some(existing)
                        if existing.env == env
                            && (request.connector_id.is_none()
                                || existing.connector.as_deref()
                                    == request.connector_id.as_deref()) => {}
                    Some(existing) => {
                        out.errors.push(refuse(format!(
                            "{number} is already in this project (environment {}, connector {}): \
                             reassign it with PATCH /phone-numbers/{number}",
                            existing.env,
                            existing.connector.as_deref().unwrap_or("none")
                        )));
                        continue;
                    }
                }
                out.imported.push(PhoneNumber {
                    number,
                    project_id: project.into(),
                    account_id: account.clone(),
                    client_env: existing.map_or(env, |e| e.env),
                    connector_id: existing
                        .and_then(|e| e.connector.as_ref().map(|c| c.to_string()))
                        .or_else(|| request.connector_id.clone()),
                });
            }
        }
        if !fresh.is_empty() {
            self.commit(
                &mut writer,
                vec![Mutation::PutNumbers {
                    project_id: project.into(),
                    client_env: env,
                    connector_id: request.connector_id.clone(),
                    numbers: fresh,
                }],
            )?;
        }
        Ok(out)
    }

    fn number_in(
        &self,
        model: &Model,
        project: &str,
        input: &str,
    ) -> Result<(E164, PhoneNumber), AdminError> {
        let number = self.normalize(input)?;
        match model.numbers.get(&number) {
            Some(entry) if *entry.project == *project => {
                Ok((number, model.phone_number(number, entry)))
            }
            _ => Err(AdminError::not_found("phone number", &number.to_string())),
        }
    }

    /// One number of `project`.
    pub fn get_number(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<PhoneNumber, AdminError> {
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        self.number_in(&model, project, phone_number)
            .map(|(_, p)| p)
    }

    /// The numbers of `project` among `phone_numbers` (at least one); the rest (and
    /// unreadable ones) are `not_found`, as given.
    pub fn batch_get_numbers(
        &self,
        caller: &Caller,
        project: &str,
        phone_numbers: &[String],
    ) -> Result<NumbersFound, AdminError> {
        self.check_list("phoneNumbers", "number", phone_numbers.len())?;
        let model = self.model.read();
        self.authorize(&model, caller, project)?;
        let mut out = NumbersFound {
            found: Vec::new(),
            not_found: Vec::new(),
        };
        for input in phone_numbers {
            match self.number_in(&model, project, input) {
                Ok((_, p)) => out.found.push(p),
                Err(_) => out.not_found.push(input.clone()),
            }
        }
        Ok(out)
    }

    /// Assigns a number of `project` to a connector of the same project and environment,
    /// or unassigns it (`None`).
    pub fn assign_number(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
        connector: Option<&str>,
    ) -> Result<PhoneNumber, AdminError> {
        let mut writer = self.writer.lock();
        let (number, mut current) = {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            let found = self.number_in(&model, project, phone_number)?;
            if let Some(id) = connector {
                let c = Self::connector_in(&model, project, id)?;
                if c.client_env != found.1.client_env {
                    return Err(AdminError::conflict(format!(
                        "{} is a {} number and connector {id} is {}: environments must match",
                        found.0, found.1.client_env, c.client_env
                    )));
                }
            }
            found
        };
        if current.connector_id.as_deref() != connector {
            self.commit(
                &mut writer,
                vec![Mutation::PutNumbers {
                    project_id: project.into(),
                    client_env: current.client_env,
                    connector_id: connector.map(str::to_string),
                    numbers: vec![number],
                }],
            )?;
            current.connector_id = connector.map(str::to_string);
        }
        Ok(current)
    }

    /// Deletes one number of `project`.
    pub fn delete_number(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<E164, AdminError> {
        let mut writer = self.writer.lock();
        let number = {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            self.number_in(&model, project, phone_number)?.0
        };
        self.commit(
            &mut writer,
            vec![Mutation::RemoveNumbers {
                numbers: vec![number],
            }],
        )?;
        Ok(number)
    }

    /// Deletes numbers of `project` in one change; per-number failures are reported.
    pub fn delete_numbers(
        &self,
        caller: &Caller,
        project: &str,
        phone_numbers: &[String],
    ) -> Result<Deleted, AdminError> {
        self.check_list("phoneNumbers", "number", phone_numbers.len())?;
        let mut writer = self.writer.lock();
        let mut out = Deleted::default();
        {
            let model = self.model.read();
            self.authorize(&model, caller, project)?;
            let mut seen = BTreeSet::new();
            for input in phone_numbers {
                match self.number_in(&model, project, input) {
                    Ok((number, _)) if seen.insert(number) => out.deleted.push(number),
                    Ok((number, _)) => out.errors.push(NumberError {
                        phone_number: input.clone(),
                        error: AdminError::conflict(format!(
                            "{number} is listed more than once in this request"
                        )),
                    }),
                    Err(error) => out.errors.push(NumberError {
                        phone_number: input.clone(),
                        error,
                    }),
                }
            }
        }
        if !out.deleted.is_empty() {
            self.commit(
                &mut writer,
                vec![Mutation::RemoveNumbers {
                    numbers: out.deleted.clone(),
                }],
            )?;
        }
        Ok(out)
    }

    /// Checks the model's invariants (for tests and diagnostics).
    pub fn check_invariants(&self) -> Result<(), String> {
        let model = self.model.read();
        model.check_invariants()?;
        // The published snapshot is exactly what the model routes.
        let snapshot = self.router.snapshot();
        let assigned = model
            .numbers
            .values()
            .filter(|e| e.connector.is_some())
            .count();
        if snapshot.len() != assigned {
            return Err(format!(
                "the snapshot routes {} numbers, the model {assigned}",
                snapshot.len()
            ));
        }
        for (number, entry) in &model.numbers {
            let routed = snapshot.get(*number).map(|c| c.connector_id.as_str());
            if routed != entry.connector.as_deref() {
                return Err(format!(
                    "{number} routes to {routed:?}, the model says {:?}",
                    entry.connector
                ));
            }
        }
        for (id, connector) in &model.connectors {
            if snapshot.connector(id) != Some(connector) {
                return Err(format!("connector {id} differs in the snapshot"));
            }
        }
        Ok(())
    }

    /// How many numbers the store holds.
    pub fn number_count(&self) -> usize {
        self.model.read().numbers.len()
    }
}
