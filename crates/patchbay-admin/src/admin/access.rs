//! Who may do what: API keys checked against the projects they grant.
//!
//! The rules are written once, over a [`Directory`] (the keys and which account owns each
//! project). The model is one directory, for operations that read it anyway; [`Access`] is
//! another, a copy of just those two maps published through an `ArcSwap` beside the
//! router, so that a lookup checks its key without touching the model's lock: a lookup
//! never waits for a change, however long the change holds the model.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustc_hash::FxHashMap;

use super::Caller;
use crate::api::Identity;
use crate::error::{AdminError, ErrorCode};
use crate::keys;
use crate::model::{Grant, KeyInfo, KeyRecord, Model};

/// The keys and the accounts of projects, as access checks read them.
pub(super) trait Directory {
    /// The stored key whose id is `id`.
    fn key(&self, id: &str) -> Option<&KeyRecord>;
    /// The account that owns `project`, if it exists.
    fn account_of(&self, project: &str) -> Option<&str>;
}

impl Directory for Model {
    fn key(&self, id: &str) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    fn account_of(&self, project: &str) -> Option<&str> {
        Model::account_of(self, project).map(|account| &**account)
    }
}

/// What lookups check keys against: the model's keys and projects as of the last change
/// that touched them.
#[derive(Default)]
pub(super) struct Access {
    keys: FxHashMap<String, KeyRecord>,
    projects: FxHashMap<String, String>,
}

impl Access {
    fn of(model: &Model) -> Access {
        Access {
            keys: model
                .keys
                .iter()
                .map(|(id, record)| (id.clone(), record.clone()))
                .collect(),
            projects: model
                .projects
                .iter()
                .map(|(project, account)| (project.to_string(), account.to_string()))
                .collect(),
        }
    }
}

impl Directory for Access {
    fn key(&self, id: &str) -> Option<&KeyRecord> {
        self.keys.get(id)
    }

    fn account_of(&self, project: &str) -> Option<&str> {
        self.projects.get(project).map(String::as_str)
    }
}

/// The published [`Access`]: replaced whole, read without a lock.
pub(super) struct PublishedAccess(ArcSwap<Access>);

impl PublishedAccess {
    pub(super) fn new(model: &Model) -> PublishedAccess {
        PublishedAccess(ArcSwap::from_pointee(Access::of(model)))
    }

    /// Publishes the keys and projects of `model` (after a change that touched them).
    pub(super) fn publish(&self, model: &Model) {
        self.0.store(Arc::new(Access::of(model)));
    }

    /// Who the key `caller` presents is, from the published keys and projects.
    pub(super) fn identity(&self, caller: &Caller) -> Result<Identity, AdminError> {
        let Caller::Key(key) = caller else {
            return Err(AdminError::new(
                ErrorCode::Unauthorized,
                "the operator has no API key: send one in x-api-key",
            ));
        };
        let access = self.0.load();
        let info = authenticate(&**access, key)?;
        let mut projects: Vec<String> = access
            .projects
            .iter()
            .filter(|(project, account)| {
                **account == info.account_id
                    && match &info.grant {
                        Grant::AllProjects => true,
                        Grant::Projects(set) => set.contains(project.as_str()),
                    }
            })
            .map(|(project, _)| project.clone())
            .collect();
        projects.sort_unstable();
        Ok(Identity {
            account_id: info.account_id.clone(),
            key_id: info.key_id.clone(),
            projects,
        })
    }

    /// Checks `caller` on `project` as [`authorize`] does, without the model.
    pub(super) fn authorize(&self, caller: &Caller, project: &str) -> Result<(), AdminError> {
        authorize(&**self.0.load(), caller, project)
    }
}

/// Whether `caller` may use `project`: 401 for a bad key, 403 for a key that does not grant
/// the project (existing or not), 404 for the operator and a project that does not exist.
pub(super) fn authorize(
    directory: &impl Directory,
    caller: &Caller,
    project: &str,
) -> Result<(), AdminError> {
    match caller {
        Caller::Operator => match directory.account_of(project) {
            Some(_) => Ok(()),
            None => Err(AdminError::not_found("project", project)),
        },
        Caller::Key(key) => {
            let info = authenticate(directory, key)?;
            let granted = directory.account_of(project).is_some_and(|account| {
                account == info.account_id
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

/// The stored key `key` presents, if it is valid and not revoked.
pub(super) fn authenticate<'d>(
    directory: &'d impl Directory,
    key: &str,
) -> Result<&'d KeyInfo, AdminError> {
    let unauthorized = || {
        AdminError::new(
            ErrorCode::Unauthorized,
            "missing, unknown or revoked API key: send a valid key in x-api-key",
        )
    };
    let id = keys::key_id_of(key).ok_or_else(unauthorized)?;
    let record = directory.key(id).ok_or_else(unauthorized)?;
    if record.info.revoked || !keys::matches(key, record) {
        return Err(unauthorized());
    }
    Ok(&record.info)
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use patchbay_core::ClientEnv;

    use super::*;
    use crate::api::{ImportRequest, NewConnector};
    use crate::store::MemoryStore;
    use crate::{Admin, AdminConfig};

    /// A lookup is answered while a change holds the model's write lock (here, the test
    /// holds it for as long as it likes): with the model's lock in the path it would wait
    /// for as long as the lock is held, so the answer could not come.
    #[test]
    fn a_lookup_does_not_wait_for_the_models_lock() {
        let admin = Arc::new(
            Admin::open(Box::new(MemoryStore::default()), AdminConfig::default()).expect("open"),
        );
        let key = Caller::Key(admin.bootstrap().expect("bootstrap").expect("a key"));
        let connector = admin
            .create_connector(
                &key,
                "default",
                NewConnector {
                    name: "c".into(),
                    client_env: ClientEnv::Live,
                    asr_lang_code: "en-US".into(),
                    voice_name: "en-US-Neural2-A".into(),
                    variant_id: None,
                    disable_handoff: None,
                },
            )
            .expect("connector");
        admin
            .import_numbers(
                &key,
                "default",
                &ImportRequest {
                    phone_numbers: vec!["+14155552671".into()],
                    client_env: None,
                    connector_id: Some(connector.connector_id.clone()),
                },
            )
            .expect("import");
        let held = admin.model.write();
        let (answer, answered) = mpsc::channel();
        let looker = Arc::clone(&admin);
        let lookup = key.clone();
        std::thread::spawn(move || {
            let routed = looker.lookup_connector(&lookup, "default", "+14155552671");
            let refused = looker.lookup_connector(
                &Caller::Key("pb_key_0_x".into()),
                "default",
                "+14155552671",
            );
            let _ = answer.send((routed, refused));
        });
        let (routed, refused) = answered
            .recv_timeout(Duration::from_secs(30))
            .expect("the lookups were answered while the model was locked");
        drop(held);
        assert_eq!(routed.expect("routed").connector_id, connector.connector_id);
        assert_eq!(
            refused.map_err(|e| e.code()).err(),
            Some(ErrorCode::Unauthorized)
        );
    }
}
