//! Change history: every applied change, with when it committed, who made it and each thing
//! it changed, before and after.
//!
//! A change's *stamp* (its commit time, actor and node) travels in its journal record or
//! shared-log entry beside its mutations (`model/change.rs`), so the history is derived
//! from what is durable. Its *events* are the mutations read against the model they applied
//! to ([`describe`]): which numbers, prefixes and connectors changed and what each was before
//! and after, numbers grouped by what they were before, so an import of a million new
//! numbers is one event over a packed list. An [`Entry`] (position, stamp, events) is what a
//! history store keeps (`embedded.rs`: redb, derived from the journal and rebuilt from it;
//! the shared store's tables, written with the change), indexed by what it touched
//! (`keys.rs`), and what queries read back (`query.rs`: the pages of `GET /changes`, and a
//! subject's state at a past position).

pub(crate) mod embedded;
mod keys;
pub(crate) mod query;
pub(crate) mod recorder;
pub(crate) mod time;

pub(crate) use keys::{holds, number_key, row_keys, subject_key, subject_rows};

use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use serde::{Deserialize, Serialize};

use crate::model::change::{get_numbers, put_numbers, put_str, put_varint, Reader};
use crate::model::{Model, Mutation, NumberPrefix, PhoneNumber};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Actor {
    /// A request with an API key (over HTTP), named by the key's id.
    Key {
        /// The key's public id (never the secret).
        #[serde(rename = "keyId")]
        key_id: String,
    },
    /// The `patchbay` command line.
    Cli,
    /// A program that links the library.
    Library,
}

/// When a change committed, who made it and, on a shared store, on which node: kept with
/// the change in the journal and the shared log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Stamp {
    /// The commit time, milliseconds since the Unix epoch (never before the change
    /// before it).
    pub(crate) at: i64,
    pub(crate) actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) node: Option<String>,
}

/// What a change did to one thing, as the history names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    NumberImported,
    NumberAssigned,
    NumberUnassigned,
    NumberDeleted,
    NumberMoved,
    PrefixImported,
    PrefixReassigned,
    PrefixMoved,
    PrefixDeleted,
    ConnectorCreated,
    ConnectorUpdated,
    ConnectorMoved,
    ConnectorDeleted,
}

impl Op {
    const ALL: [Op; 13] = [
        Op::NumberImported,
        Op::NumberAssigned,
        Op::NumberUnassigned,
        Op::NumberDeleted,
        Op::NumberMoved,
        Op::PrefixImported,
        Op::PrefixReassigned,
        Op::PrefixMoved,
        Op::PrefixDeleted,
        Op::ConnectorCreated,
        Op::ConnectorUpdated,
        Op::ConnectorMoved,
        Op::ConnectorDeleted,
    ];

    /// Its name in the API (`number.imported`, ...).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::NumberImported => "number.imported",
            Op::NumberAssigned => "number.assigned",
            Op::NumberUnassigned => "number.unassigned",
            Op::NumberDeleted => "number.deleted",
            Op::NumberMoved => "number.moved",
            Op::PrefixImported => "prefix.imported",
            Op::PrefixReassigned => "prefix.reassigned",
            Op::PrefixMoved => "prefix.moved",
            Op::PrefixDeleted => "prefix.deleted",
            Op::ConnectorCreated => "connector.created",
            Op::ConnectorUpdated => "connector.updated",
            Op::ConnectorMoved => "connector.moved",
            Op::ConnectorDeleted => "connector.deleted",
        }
    }

    fn code(self) -> u8 {
        Op::ALL.iter().position(|op| *op == self).unwrap_or(0) as u8
    }

    fn from_code(code: u8) -> Option<Op> {
        Op::ALL.get(usize::from(code)).copied()
    }
}

/// Where a number or prefix stood: its project, account, environment and connector (a
/// prefix always has one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) project: String,
    pub(crate) account: String,
    pub(crate) env: ClientEnv,
    pub(crate) connector: Option<String>,
}

impl Placement {
    /// The number's record as the API shows it, placed here.
    pub(crate) fn number(&self, number: E164) -> PhoneNumber {
        PhoneNumber {
            number,
            project_id: self.project.clone(),
            account_id: self.account.clone(),
            client_env: self.env,
            connector_id: self.connector.clone(),
        }
    }

    /// The prefix's record as the API shows it, placed here.
    pub(crate) fn prefix(&self, prefix: Prefix) -> NumberPrefix {
        NumberPrefix {
            prefix,
            project_id: self.project.clone(),
            account_id: self.account.clone(),
            client_env: self.env,
            connector_id: self.connector.clone().unwrap_or_default(),
        }
    }
}

/// What one change did, to numbers (grouped by what they were before and became), to
/// prefixes, or to one connector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Numbers {
        op: Op,
        before: Option<Placement>,
        after: Option<Placement>,
        numbers: Vec<E164>,
    },
    Prefixes {
        op: Op,
        before: Option<Placement>,
        after: Option<Placement>,
        prefixes: Vec<Prefix>,
    },
    Connector {
        op: Op,
        id: String,
        before: Option<Box<Connector>>,
        after: Option<Box<Connector>>,
    },
}

impl Event {
    /// The projects it shows in: where its subject was, and where it went.
    pub(crate) fn projects(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Event::Numbers { before, after, .. } | Event::Prefixes { before, after, .. } => (
                before.as_ref().map(|p| p.project.as_str()),
                after.as_ref().map(|p| p.project.as_str()),
            ),
            Event::Connector { before, after, .. } => (
                before.as_ref().map(|c| c.project_id.as_str()),
                after.as_ref().map(|c| c.project_id.as_str()),
            ),
        }
    }

    /// Whether project `project` sees it.
    pub(crate) fn shows_in(&self, project: &str) -> bool {
        let (before, after) = self.projects();
        before == Some(project) || after == Some(project)
    }

    /// The connectors it concerns: the connector itself, or those its numbers or prefixes
    /// were and are routed to.
    pub(crate) fn connectors(&self) -> Vec<&str> {
        match self {
            Event::Numbers { before, after, .. } | Event::Prefixes { before, after, .. } => {
                let mut ids: Vec<&str> = [before, after]
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.connector.as_deref())
                    .collect();
                ids.dedup();
                ids
            }
            Event::Connector { id, .. } => vec![id.as_str()],
        }
    }

    /// How many mutations it counts as: one a number or prefix.
    pub(crate) fn count(&self) -> usize {
        match self {
            Event::Numbers { numbers, .. } => numbers.len(),
            Event::Prefixes { prefixes, .. } => prefixes.len(),
            Event::Connector { .. } => 1,
        }
    }
}

/// One recorded change: its position in the journal or the shared log (its `changeId`),
/// its stamp, and what it did.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub(crate) position: u64,
    pub(crate) stamp: Stamp,
    pub(crate) events: Vec<Event>,
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn placement(model: &Model, project: &str, env: ClientEnv, connector: Option<&str>) -> Placement {
    Placement {
        project: project.to_string(),
        account: model
            .account_of(project)
            .map(|a| a.to_string())
            .unwrap_or_default(),
        env,
        connector: connector.map(str::to_string),
    }
}

/// Where prefixes routed to connector `id` stand, as `model` has it.
fn prefix_placement(model: &Model, id: &str) -> Option<Placement> {
    let connector = model.connectors.get(id)?;
    Some(placement(
        model,
        &connector.project_id,
        connector.client_env,
        Some(id),
    ))
}

/// Groups `prefixes` by where each is routed in `model` (`None`: not there), keeping their
/// order within a group.
fn group_prefixes(model: &Model, prefixes: &[Prefix]) -> Vec<(Option<Placement>, Vec<Prefix>)> {
    let mut groups: Vec<(Option<Placement>, Vec<Prefix>)> = Vec::new();
    for &prefix in prefixes {
        let before = model
            .prefixes
            .get(&prefix)
            .and_then(|c| prefix_placement(model, c));
        match groups.iter_mut().find(|(b, _)| *b == before) {
            Some((_, group)) => group.push(prefix),
            None => groups.push((before, vec![prefix])),
        }
    }
    groups
}

/// Groups `numbers` by where each is in `model` (`None`: not there), keeping their order
/// within a group. A number's entry is compared by its interned ids, and a run of numbers
/// with the same entry (an import's sorted block) costs one lookup each and no hashing.
fn group_numbers(model: &Model, numbers: &[E164]) -> Vec<(Option<Placement>, Vec<E164>)> {
    type Key = Option<(usize, ClientEnv, usize)>;
    let mut groups: Vec<(Option<Placement>, Vec<E164>)> = Vec::new();
    let mut index: rustc_hash::FxHashMap<Key, usize> = rustc_hash::FxHashMap::default();
    let mut last: Option<(Key, usize)> = None;
    for &number in numbers {
        let entry = model.numbers.get(&number);
        let key: Key = entry.map(|e| {
            (
                e.project.address(),
                e.env,
                e.connector.map_or(0, |c| c.address()),
            )
        });
        let at = match last {
            Some((k, at)) if k == key => at,
            _ => {
                let at = *index.entry(key).or_insert_with(|| {
                    let before = entry
                        .map(|e| placement(model, e.project, e.env, e.connector.map(|c| &**c)));
                    groups.push((before, Vec::new()));
                    groups.len() - 1
                });
                last = Some((key, at));
                at
            }
        };
        if let Some((_, group)) = groups.get_mut(at) {
            if group.is_empty() && at == 0 {
                group.reserve(numbers.len());
            }
            group.push(number);
        }
    }
    groups
}

/// What moving a number or prefix from `before` to `after` is called.
fn placed_op(before: Option<&Placement>, after: &Placement, prefix: bool) -> Op {
    match (before, prefix) {
        (None, false) => Op::NumberImported,
        (None, true) => Op::PrefixImported,
        (Some(b), false) if b.project != after.project => Op::NumberMoved,
        (Some(b), true) if b.project != after.project => Op::PrefixMoved,
        (Some(_), false) if after.connector.is_none() => Op::NumberUnassigned,
        (Some(_), false) => Op::NumberAssigned,
        (Some(_), true) => Op::PrefixReassigned,
    }
}

/// What `mutation` does to `model`, read before it is applied: the events the history
/// shows. Accounts, projects and keys are not in the history.
pub(crate) fn describe(model: &Model, mutation: &Mutation, events: &mut Vec<Event>) {
    match mutation {
        Mutation::PutNumbers {
            project_id,
            client_env,
            connector_id,
            numbers,
        } => {
            let after = placement(model, project_id, *client_env, connector_id.as_deref());
            for (before, numbers) in group_numbers(model, numbers) {
                if before.as_ref() == Some(&after) {
                    continue;
                }
                events.push(Event::Numbers {
                    op: placed_op(before.as_ref(), &after, false),
                    before,
                    after: Some(after.clone()),
                    numbers,
                });
            }
        }
        Mutation::RemoveNumbers { numbers } => {
            for (before, numbers) in group_numbers(model, numbers) {
                if before.is_some() {
                    events.push(Event::Numbers {
                        op: Op::NumberDeleted,
                        before,
                        after: None,
                        numbers,
                    });
                }
            }
        }
        Mutation::PutPrefixes {
            connector_id,
            prefixes,
        } => {
            let Some(after) = prefix_placement(model, connector_id) else {
                return;
            };
            for (before, prefixes) in group_prefixes(model, prefixes) {
                if before.as_ref() == Some(&after) {
                    continue;
                }
                events.push(Event::Prefixes {
                    op: placed_op(before.as_ref(), &after, true),
                    before,
                    after: Some(after.clone()),
                    prefixes,
                });
            }
        }
        Mutation::RemovePrefixes { prefixes } => {
            for (before, prefixes) in group_prefixes(model, prefixes) {
                if before.is_some() {
                    events.push(Event::Prefixes {
                        op: Op::PrefixDeleted,
                        before,
                        after: None,
                        prefixes,
                    });
                }
            }
        }
        Mutation::PutConnector { connector } => {
            let id = connector.connector_id.as_str();
            let before = model.connectors.get(id);
            if before == Some(connector) {
                return;
            }
            let moved = before.is_some_and(|old| old.project_id != connector.project_id);
            let op = match before {
                None => Op::ConnectorCreated,
                Some(_) if moved => Op::ConnectorMoved,
                Some(_) => Op::ConnectorUpdated,
            };
            events.push(Event::Connector {
                op,
                id: id.to_string(),
                before: before.cloned().map(Box::new),
                after: Some(Box::new(connector.clone())),
            });
            if moved {
                // Its prefixes move with it (its numbers by mutations of their own).
                let prefixes: Vec<Prefix> = model
                    .prefixes_by_connector
                    .get(id)
                    .map(|set| set.iter().copied().collect())
                    .unwrap_or_default();
                if !prefixes.is_empty() {
                    events.push(Event::Prefixes {
                        op: Op::PrefixMoved,
                        before: prefix_placement(model, id),
                        after: Some(placement(
                            model,
                            &connector.project_id,
                            connector.client_env,
                            Some(id),
                        )),
                        prefixes,
                    });
                }
            }
        }
        Mutation::RemoveConnector { connector_id } => {
            if let Some(before) = model.connectors.get(connector_id.as_str()) {
                events.push(Event::Connector {
                    op: Op::ConnectorDeleted,
                    id: connector_id.clone(),
                    before: Some(Box::new(before.clone())),
                    after: None,
                });
            }
        }
        Mutation::PutAccount { .. }
        | Mutation::PutProject { .. }
        | Mutation::PutKey { .. }
        | Mutation::RevokeKey { .. } => {}
    }
}

/// Describes and applies a whole change to `model`: its events.
pub(crate) fn apply_described(model: &mut Model, change: Vec<Mutation>) -> Vec<Event> {
    let mut events = Vec::new();
    for mutation in change {
        describe(model, &mutation, &mut events);
        model.apply(mutation);
    }
    events
}

// ---- an entry's bytes -----------------------------------------------------------------------
//
// "PBHE", u8 version (1), varint position, varint length + the stamp's JSON, varint n events:
//   u8 0  numbers: u8 op, placement before, placement after, numbers (as a change packs them)
//   u8 1  prefixes: u8 op, placement before, placement after, varint n, n × prefix text
//   u8 2  connector: u8 op, id, u8 0 | 1 + connector JSON before, the same after
// placement: u8 0 (none) | 1, project, account, u8 environment, u8 0 | 1 + connector

const MAGIC: &[u8; 4] = b"PBHE";
const VERSION: u8 = 1;

fn put_placement(out: &mut Vec<u8>, placement: Option<&Placement>) {
    let Some(p) = placement else {
        out.push(0);
        return;
    };
    out.push(1);
    put_str(out, &p.project);
    put_str(out, &p.account);
    out.push(crate::model::checkpoint::env_code(p.env));
    match &p.connector {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            put_str(out, id);
        }
    }
}

fn get_placement(r: &mut Reader<'_>) -> Result<Option<Placement>, String> {
    match r.u8()? {
        0 => return Ok(None),
        1 => {}
        other => return Err(r.fail(format!("{other} is not a flag"))),
    }
    let project = r.str()?;
    let account = r.str()?;
    let env = r.env()?;
    let connector = match r.u8()? {
        0 => None,
        1 => Some(r.str()?),
        other => return Err(r.fail(format!("{other} is not a flag"))),
    };
    Ok(Some(Placement {
        project,
        account,
        env,
        connector,
    }))
}

fn put_connector(out: &mut Vec<u8>, connector: Option<&Connector>) -> Result<(), String> {
    match connector {
        None => out.push(0),
        Some(c) => {
            out.push(1);
            let json = serde_json::to_vec(c).map_err(|e| format!("encoding history: {e}"))?;
            put_varint(out, json.len() as u64);
            out.extend_from_slice(&json);
        }
    }
    Ok(())
}

fn get_connector(r: &mut Reader<'_>) -> Result<Option<Box<Connector>>, String> {
    match r.u8()? {
        0 => Ok(None),
        1 => {
            let len = r.count(1)?;
            let at = r.at;
            serde_json::from_slice(r.take(len)?)
                .map(|c| Some(Box::new(c)))
                .map_err(|e| format!("byte {at}: a connector that does not read ({e})"))
        }
        other => Err(r.fail(format!("{other} is not a flag"))),
    }
}

fn op_of(r: &mut Reader<'_>) -> Result<Op, String> {
    let code = r.u8()?;
    Op::from_code(code).ok_or_else(|| r.fail(format!("{code} is not an operation")))
}

impl Entry {
    /// The entry's bytes, as a history store keeps them.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        put_varint(&mut out, self.position);
        let stamp =
            serde_json::to_vec(&self.stamp).map_err(|e| format!("encoding history: {e}"))?;
        put_varint(&mut out, stamp.len() as u64);
        out.extend_from_slice(&stamp);
        put_varint(&mut out, self.events.len() as u64);
        for event in &self.events {
            match event {
                Event::Numbers {
                    op,
                    before,
                    after,
                    numbers,
                } => {
                    out.push(0);
                    out.push(op.code());
                    put_placement(&mut out, before.as_ref());
                    put_placement(&mut out, after.as_ref());
                    put_numbers(&mut out, numbers);
                }
                Event::Prefixes {
                    op,
                    before,
                    after,
                    prefixes,
                } => {
                    out.push(1);
                    out.push(op.code());
                    put_placement(&mut out, before.as_ref());
                    put_placement(&mut out, after.as_ref());
                    put_varint(&mut out, prefixes.len() as u64);
                    for prefix in prefixes {
                        put_str(&mut out, &prefix.to_string());
                    }
                }
                Event::Connector {
                    op,
                    id,
                    before,
                    after,
                } => {
                    out.push(2);
                    out.push(op.code());
                    put_str(&mut out, id);
                    put_connector(&mut out, before.as_deref())?;
                    put_connector(&mut out, after.as_deref())?;
                }
            }
        }
        Ok(out)
    }

    /// Reads an entry's bytes; an error says at which byte they stopped making sense.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Entry, String> {
        if !bytes.starts_with(MAGIC) {
            return Err("not a history entry".into());
        }
        let mut r = Reader::new(bytes, MAGIC.len());
        let version = r.u8()?;
        if version != VERSION {
            return Err(format!(
                "a history entry of version {version}, which this build does not read"
            ));
        }
        let position = r.varint()?;
        let len = r.count(1)?;
        let stamp: Stamp = serde_json::from_slice(r.take(len)?)
            .map_err(|e| format!("a stamp that does not read ({e})"))?;
        let n = r.count(2)?;
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let event = match r.u8()? {
                0 => Event::Numbers {
                    op: op_of(&mut r)?,
                    before: get_placement(&mut r)?,
                    after: get_placement(&mut r)?,
                    numbers: get_numbers(&mut r)?,
                },
                1 => {
                    let op = op_of(&mut r)?;
                    let before = get_placement(&mut r)?;
                    let after = get_placement(&mut r)?;
                    let count = r.count(2)?;
                    let mut prefixes = Vec::with_capacity(count);
                    for _ in 0..count {
                        let text = r.str()?;
                        prefixes.push(
                            Prefix::parse(&text)
                                .map_err(|e| r.fail(format!("prefix {text:?}: {e}")))?,
                        );
                    }
                    Event::Prefixes {
                        op,
                        before,
                        after,
                        prefixes,
                    }
                }
                2 => Event::Connector {
                    op: op_of(&mut r)?,
                    id: r.str()?,
                    before: get_connector(&mut r)?,
                    after: get_connector(&mut r)?,
                },
                other => return Err(r.fail(format!("{other} is not a kind of event"))),
            };
            events.push(event);
        }
        if r.at != bytes.len() {
            return Err(r.fail("bytes after the last event"));
        }
        Ok(Entry {
            position,
            stamp,
            events,
        })
    }
}

#[cfg(test)]
mod tests;
