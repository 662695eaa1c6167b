//! Phone numbers: list, import, read, assign, delete.

use std::collections::{BTreeSet, HashSet};

use patchbay_core::{ClientEnv, E164};
use rayon::prelude::*;

use super::{check_limit, keyset_page, Admin, Caller, Replica};
use crate::api::{Deleted, ImportRequest, Imported, NumberError, NumbersFound, NumbersPage};
use crate::error::AdminError;
use crate::model::{Model, Mutation, PhoneNumber};
use crate::validity;

/// Imports of at least this many numbers are checked on every core.
const PARALLEL_FROM: usize = 512;

/// What an import plan decided: the numbers imported, and the index in the request of
/// each refused one with its error.
struct ImportPlan {
    imported: Vec<PhoneNumber>,
    refused: Vec<(usize, AdminError)>,
}

/// The change that imports the numbers `parsed` (the request's, already parsed and checked,
/// in order) into `project`, and what was decided for each.
fn plan_import(
    model: &Model,
    project: &str,
    client_env: Option<ClientEnv>,
    connector_id: Option<String>,
    parsed: Vec<Result<E164, AdminError>>,
) -> Result<(Vec<Mutation>, ImportPlan), AdminError> {
    let connector = match &connector_id {
        Some(id) => Some(Replica::connector_in(model, project, id)?),
        None => None,
    };
    let env = match (client_env, connector) {
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
    let mut plan = ImportPlan {
        imported: Vec::with_capacity(parsed.len()),
        refused: Vec::new(),
    };
    let mut fresh = Vec::new();
    let mut seen = HashSet::with_capacity(parsed.len());
    for (at, result) in parsed.into_iter().enumerate() {
        let number = match result {
            Ok(number) => number,
            Err(error) => {
                plan.refused.push((at, error));
                continue;
            }
        };
        let mut refuse = |message: String| plan.refused.push((at, AdminError::conflict(message)));
        if !seen.insert(number) {
            refuse(format!("{number} is listed more than once in this request"));
            continue;
        }
        let existing = model.numbers.get(&number);
        match existing {
            None => fresh.push(number),
            Some(existing) if **existing.project != *project => {
                refuse(format!("{number} belongs to another project"));
                continue;
            }
            Some(existing)
                if existing.env == env
                    && (connector_id.is_none()
                        || existing.connector.map(|c| &**c) == connector_id.as_deref()) => {}
            Some(existing) => {
                refuse(format!(
                    "{number} is already in this project (environment {}, connector {}): \
                     reassign it with PATCH /phone-numbers/{number}",
                    existing.env,
                    existing.connector.map_or("none", |c| &**c)
                ));
                continue;
            }
        }
        plan.imported.push(PhoneNumber {
            number,
            project_id: project.into(),
            account_id: account.clone(),
            client_env: existing.map_or(env, |e| e.env),
            connector_id: existing
                .and_then(|e| e.connector.as_ref().map(|c| c.to_string()))
                .or_else(|| connector_id.clone()),
        });
    }
    let mut change = Vec::new();
    if !fresh.is_empty() {
        change.push(Mutation::PutNumbers {
            project_id: project.into(),
            client_env: env,
            connector_id,
            numbers: fresh,
        });
    }
    Ok((change, plan))
}

impl Replica {
    /// Every number of `project`, optionally only those of one connector, sorted.
    pub fn list_numbers(
        &self,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
    ) -> Result<Vec<PhoneNumber>, AdminError> {
        let model = self.model.read();
        let numbers = self.numbers_of(&model, caller, project, connector)?;
        Ok(numbers
            .into_iter()
            .flatten()
            .filter_map(|n| model.numbers.get(n).map(|e| model.phone_number(*n, e)))
            .collect())
    }

    /// The numbers of `project` (optionally one connector's) after `after`, sorted, at most
    /// `limit` (1 to [`MAX_PAGE`](crate::MAX_PAGE)): keyset pages, each O(`limit`) however large the project.
    /// Each page reads the model as it is then, so a number that is in the project from the
    /// first page to the last is listed exactly once, in order; one added or removed in
    /// between may or may not be.
    pub fn list_numbers_page(
        &self,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
        after: Option<E164>,
        limit: usize,
    ) -> Result<NumbersPage, AdminError> {
        check_limit(limit, "numbers")?;
        let model = self.model.read();
        let numbers = self.numbers_of(&model, caller, project, connector)?;
        let (page, next) = keyset_page(numbers, after, limit);
        Ok(NumbersPage {
            next,
            phone_numbers: page
                .into_iter()
                .filter_map(|n| model.numbers.get(&n).map(|e| model.phone_number(n, e)))
                .collect(),
        })
    }

    /// The ordered set of numbers a listing walks, after the access checks.
    fn numbers_of<'m>(
        &self,
        model: &'m Model,
        caller: &Caller,
        project: &str,
        connector: Option<&str>,
    ) -> Result<Option<&'m BTreeSet<E164>>, AdminError> {
        self.authorize(model, caller, project)?;
        Ok(match connector {
            Some(id) => {
                Replica::connector_in(model, project, id)?;
                model.by_connector.get(id)
            }
            None => model.by_project.get(project),
        })
    }

    pub(super) fn number_in(
        &self,
        model: &Model,
        project: &str,
        input: &str,
    ) -> Result<(E164, PhoneNumber), AdminError> {
        let number = self.normalize(input)?;
        match model.numbers.get(&number) {
            Some(entry) if **entry.project == *project => {
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
}

impl Admin {
    /// Imports numbers into `project` in one change; per-number failures are reported, the
    /// rest applied. Re-importing a number the project already has, unchanged, succeeds.
    pub fn import_numbers(
        &self,
        caller: &Caller,
        project: &str,
        request: &ImportRequest,
    ) -> Result<Imported, AdminError> {
        self.check_list("phoneNumbers", "number", request.phone_numbers.len())?;
        // Parse and check validity before the change is queued: this is the slow part.
        let parsed = self.check_numbers(&request.phone_numbers);
        let (caller, project) = (caller.clone(), project.to_string());
        let (client_env, connector_id) = (request.client_env, request.connector_id.clone());
        let weight = parsed.len();
        let plan = self.change_bulk(weight, self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            plan_import(model, &project, client_env, connector_id, parsed)
        })?;
        // The inputs stayed with the caller: only refused ones are copied, into the answer.
        let errors = plan
            .refused
            .into_iter()
            .map(|(at, error)| NumberError {
                phone_number: request.phone_numbers.get(at).cloned().unwrap_or_default(),
                error,
            })
            .collect();
        Ok(Imported {
            imported: plan.imported,
            errors,
        })
    }

    /// Normalizes and checks `inputs`, answering in their order. The metadata's check costs
    /// microseconds a number, so large imports spread it over every core, and check in the
    /// numbers' order rather than the input's: numbers of one country and one range then
    /// follow each other and the metadata's patterns for them stay in the processor's
    /// caches (a mix of every country otherwise touches a different set for each number).
    fn check_numbers(&self, inputs: &[String]) -> Vec<Result<E164, AdminError>> {
        let level = self.config.number_check;
        if inputs.len() < PARALLEL_FROM {
            return inputs
                .iter()
                .map(|input| {
                    let number = self.normalize(input)?;
                    validity::check(number, level).map(|()| number)
                })
                .collect();
        }
        let mut parsed: Vec<Result<E164, AdminError>> = inputs
            .par_iter()
            .with_min_len(PARALLEL_FROM / 2)
            .map(|input| self.normalize(input))
            .collect();
        let mut order: Vec<(E164, usize)> = parsed
            .iter()
            .enumerate()
            .filter_map(|(at, number)| Some((*number.as_ref().ok()?, at)))
            .collect();
        order.par_sort_unstable();
        let verdicts: Vec<Result<(), AdminError>> = order
            .par_iter()
            .with_min_len(PARALLEL_FROM / 2)
            .map(|(number, _)| validity::check(*number, level))
            .collect();
        for ((_, at), verdict) in order.into_iter().zip(verdicts) {
            if let (Err(error), Some(slot)) = (verdict, parsed.get_mut(at)) {
                *slot = Err(error);
            }
        }
        parsed
    }

    /// Imports a stream of requests into `project`, two at a time: while one request's
    /// numbers are checked (on every core), the other is being stored, and concurrent
    /// requests share group commits. Each request is one change, as with
    /// [`Admin::import_numbers`]; `report` receives each request's answer with the context
    /// it came with and the request itself, in the order they finish. Memory holds at most
    /// three requests. Stops at the first error of a whole request (access, an unknown
    /// connector, the store) and returns it; the requests stored before it stay stored.
    pub fn import_batches<T: Send>(
        &self,
        caller: &Caller,
        project: &str,
        requests: impl Iterator<Item = (ImportRequest, T)> + Send,
        report: impl Fn(T, &ImportRequest, Imported) + Sync,
    ) -> Result<(), AdminError> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(ImportRequest, T)>(1);
        let receiver = parking_lot::Mutex::new(receiver);
        let failure = parking_lot::Mutex::new(None::<AdminError>);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| loop {
                    let Ok((request, context)) = receiver.lock().recv() else {
                        return;
                    };
                    if failure.lock().is_some() {
                        continue; // draining after a failure
                    }
                    match self.import_numbers(caller, project, &request) {
                        Ok(imported) => report(context, &request, imported),
                        Err(error) => {
                            failure.lock().get_or_insert(error);
                        }
                    }
                });
            }
            for item in requests {
                if failure.lock().is_some() || sender.send(item).is_err() {
                    break;
                }
            }
            drop(sender);
        });
        failure.into_inner().map_or(Ok(()), Err)
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
        let (caller, project) = (caller.clone(), project.to_string());
        let (phone_number, connector) = (phone_number.to_string(), connector.map(str::to_string));
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let (number, mut current) = admin.number_in(model, &project, &phone_number)?;
            if let Some(id) = &connector {
                let c = Replica::connector_in(model, &project, id)?;
                if c.client_env != current.client_env {
                    return Err(AdminError::conflict(format!(
                        "{number} is a {} number and connector {id} is {}: environments must match",
                        current.client_env, c.client_env
                    )));
                }
            }
            let mut change = Vec::new();
            if current.connector_id != connector {
                change.push(Mutation::PutNumbers {
                    project_id: project.clone(),
                    client_env: current.client_env,
                    connector_id: connector.clone(),
                    numbers: vec![number],
                });
                current.connector_id = connector;
            }
            Ok((change, current))
        })
    }

    /// Deletes one number of `project`.
    pub fn delete_number(
        &self,
        caller: &Caller,
        project: &str,
        phone_number: &str,
    ) -> Result<E164, AdminError> {
        let (caller, project, phone_number) = (
            caller.clone(),
            project.to_string(),
            phone_number.to_string(),
        );
        self.change(self.actor_of(&caller), move |admin, model| {
            admin.authorize(model, &caller, &project)?;
            let number = admin.number_in(model, &project, &phone_number)?.0;
            let change = vec![Mutation::RemoveNumbers {
                numbers: vec![number],
            }];
            Ok((change, number))
        })
    }

    /// Deletes numbers of `project` in one change; per-number failures are reported.
    pub fn delete_numbers(
        &self,
        caller: &Caller,
        project: &str,
        phone_numbers: &[String],
    ) -> Result<Deleted, AdminError> {
        self.check_list("phoneNumbers", "number", phone_numbers.len())?;
        let (caller, project, phone_numbers) =
            (caller.clone(), project.to_string(), phone_numbers.to_vec());
        self.change_bulk(
            phone_numbers.len(),
            self.actor_of(&caller),
            move |admin, model| {
                admin.authorize(model, &caller, &project)?;
                let mut out = Deleted::default();
                let mut seen = BTreeSet::new();
                for input in phone_numbers {
                    match admin.number_in(model, &project, &input) {
                        Ok((number, _)) if seen.insert(number) => out.deleted.push(number),
                        Ok((number, _)) => out.errors.push(NumberError {
                            phone_number: input,
                            error: AdminError::conflict(format!(
                                "{number} is listed more than once in this request"
                            )),
                        }),
                        Err(error) => out.errors.push(NumberError {
                            phone_number: input,
                            error,
                        }),
                    }
                }
                let mut change = Vec::new();
                if !out.deleted.is_empty() {
                    change.push(Mutation::RemoveNumbers {
                        numbers: out.deleted.clone(),
                    });
                }
                Ok((change, out))
            },
        )
    }
}
