//! Accounts, projects and API keys.

use super::{check_name, check_text, now_secs, Admin, Caller, Replica};
use crate::api::Identity;
use crate::error::AdminError;
use crate::keys;
use crate::model::{Grant, KeyInfo, Mutation, Project};

impl Replica {
    /// Every project, in order.
    pub fn list_projects(&self, caller: &Caller) -> Result<Vec<Project>, AdminError> {
        Replica::operator_only(caller)?;
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

    /// Who the key `caller` presents is: its account, its id and the projects it grants
    /// (from the keys and projects lookups check, without the model's lock).
    ///
    /// # Errors
    ///
    /// `unauthorized` for a missing, unknown or revoked key, and for the operator (who has
    /// no key).
    pub fn whoami(&self, caller: &Caller) -> Result<Identity, AdminError> {
        self.access.identity(caller)
    }

    /// Every key (never a secret). Operator only.
    pub fn list_keys(&self, caller: &Caller) -> Result<Vec<KeyInfo>, AdminError> {
        Replica::operator_only(caller)?;
        Ok(self
            .model
            .read()
            .keys
            .values()
            .map(|k| k.info.clone())
            .collect())
    }
}

impl Admin {
    /// Creates `project` in `account` (the account is created if new). Operator only.
    pub fn create_project(
        &self,
        caller: &Caller,
        account: &str,
        project: &str,
    ) -> Result<Project, AdminError> {
        Replica::operator_only(caller)?;
        check_name("account", account)?;
        check_name("project", project)?;
        let (account, project) = (account.to_string(), project.to_string());
        self.change(self.actor_of(caller), move |_, model| {
            if let Some(owner) = model.account_of(&project) {
                return Err(AdminError::conflict(format!(
                    "project {project:?} already exists{}",
                    if **owner == *account {
                        ""
                    } else {
                        " in another account"
                    }
                )));
            }
            let mut change = Vec::new();
            if !model.accounts.contains(account.as_str()) {
                change.push(Mutation::PutAccount {
                    account_id: account.as_str().into(),
                });
            }
            change.push(Mutation::PutProject {
                project_id: project.as_str().into(),
                account_id: account.as_str().into(),
            });
            Ok((
                change,
                Project {
                    project_id: project,
                    account_id: account,
                },
            ))
        })
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
        Replica::operator_only(caller)?;
        check_text("label", label, true)?;
        let grant = if projects.is_empty() {
            Grant::AllProjects
        } else {
            Grant::Projects(projects.iter().cloned().collect())
        };
        let new = keys::generate(account, grant, label, now_secs())?;
        let (account, projects) = (account.to_string(), projects.to_vec());
        self.change(self.actor_of(caller), move |_, model| {
            if !model.accounts.contains(account.as_str()) {
                return Err(AdminError::not_found("account", &account));
            }
            for project in &projects {
                if model.account_of(project).is_none_or(|a| **a != *account) {
                    return Err(AdminError::not_found("project", project));
                }
            }
            let info = new.record.info.clone();
            Ok((
                vec![Mutation::PutKey { key: new.record }],
                (new.secret, info),
            ))
        })
    }

    /// Revokes a key: it authenticates nothing from the next call on. Operator only.
    pub fn revoke_key(&self, caller: &Caller, key_id: &str) -> Result<KeyInfo, AdminError> {
        Replica::operator_only(caller)?;
        let key_id = key_id.to_string();
        self.change(self.actor_of(caller), move |_, model| {
            let mut info = match model.keys.get(key_id.as_str()) {
                Some(record) => record.info.clone(),
                None => return Err(AdminError::not_found("key", &key_id)),
            };
            let mut change = Vec::new();
            if !info.revoked {
                change.push(Mutation::RevokeKey {
                    key_id: key_id.as_str().into(),
                });
                info.revoked = true;
            }
            Ok((change, info))
        })
    }

    /// On an empty store: creates account `default`, project `default` and a key for it,
    /// and returns that key (to show once). `None` when the store already has accounts, or
    /// another node of a shared store created the project first.
    pub fn bootstrap(&self) -> Result<Option<String>, AdminError> {
        if !self.model.read().accounts.is_empty() {
            return Ok(None);
        }
        match self.create_project(&Caller::Operator, "default", "default") {
            Err(error) if error.code() == crate::error::ErrorCode::Conflict => return Ok(None),
            created => created?,
        };
        let (secret, _) =
            self.create_key(&Caller::Operator, "default", &[], "created on first start")?;
        Ok(Some(secret))
    }
}
