//! The model as checkpoint bytes, and back: a binary, versioned format read straight into
//! the model's tables (no JSON, no per-number mutation).
//!
//! A checkpoint is written while changes go on, so it is *fuzzy*: it starts at a log
//! position `P` (everything up to `P` is in it) and its parts are read from the model one
//! at a time, each as it is when read, so a part may hold changes made after `P`. Loading
//! it and then replaying every change after `P` gives exactly the model at the end of the
//! log: every change writes whole entries (a number's project, environment and connector;
//! a connector; a key), so replaying a change over an entry that already has it, or a
//! later one, leaves the entry as the last change in the log left it.
//!
//! Layout, integers little-endian, strings as a `u32` length and UTF-8 bytes:
//!
//! ```text
//! "PBMD", u32 version (1)
//! sections: u8 kind, u64 length, body
//!   1 accounts     u32 n, n × account
//!   2 projects     u32 n, n × (project, account)
//!   3 keys         u32 n, n × (id, account, u8 grant [0 all | 1 + u32 n + n × project],
//!                  label, u64 created, u8 revoked, sha256 hex)
//!   4 connectors   u32 n, n × (id, name, account, project, u8 env, variant, asr, tts,
//!                  voice, u8 handoff)
//!   5 prefixes     u32 n, n × (prefix, connector)
//!   6 numbers      project, u32 c, c × connector, u32 n, n × (u64 packed number, u8 env,
//!                  u32 connector index, or u32::MAX for none): one project's numbers from
//!                  one point on, in order; any number of these sections
//!   7 hint         u64 numbers the model had when the head was written (to size the
//!                  table once)
//!   255 end        u64 numbers written
//! ```
//!
//! The sections before the numbers are written under one hold of the model's lock, so they
//! agree with each other; each numbers section under one more.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use patchbay_core::{ClientEnv, Connector, Prefix, E164};
use rustc_hash::FxHashMap;

use super::{Grant, Id, KeyInfo, KeyRecord, Model, Mutation, NumberEntry};
use crate::history::Stamp;

/// The first bytes of a model checkpoint.
pub(crate) const MAGIC: &[u8; 4] = b"PBMD";
/// The format's version; a reader refuses any other.
pub(crate) const VERSION: u32 = 1;

const ACCOUNTS: u8 = 1;
const PROJECTS: u8 = 2;
const KEYS: u8 = 3;
const CONNECTORS: u8 = 4;
const PREFIXES: u8 = 5;
const NUMBERS: u8 = 6;
const HINT: u8 = 7;
const END: u8 = 255;

const NO_CONNECTOR: u32 = u32::MAX;

/// Why checkpoint bytes could not be read: where, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("model checkpoint, byte {offset}: {what}")]
pub(crate) struct DecodeError {
    /// The offset in the model's bytes.
    pub(crate) offset: usize,
    /// What was wrong there.
    pub(crate) what: String,
}

// ---- writing ------------------------------------------------------------------------------

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, value: &str) {
    put_u32(out, value.len() as u32);
    out.extend_from_slice(value.as_bytes());
}

fn put_count(out: &mut Vec<u8>, count: usize) {
    put_u32(out, u32::try_from(count).unwrap_or(u32::MAX));
}

pub(crate) fn env_code(env: ClientEnv) -> u8 {
    ClientEnv::ALL
        .iter()
        .position(|e| *e == env)
        .map_or(u8::MAX, |i| i as u8)
}

/// Appends one section: its kind, the length `body` writes, and the body.
fn section(out: &mut Vec<u8>, kind: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(kind);
    let length_at = out.len();
    put_u64(out, 0);
    let start = out.len();
    body(out);
    let length = (out.len() - start) as u64;
    out.splice(length_at..start, length.to_le_bytes());
}

impl Model {
    /// The format's header and every section but the numbers: accounts, projects, keys,
    /// connectors and prefixes, as the model has them now.
    pub(crate) fn encode_head(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        put_u32(out, VERSION);
        section(out, ACCOUNTS, |out| {
            put_count(out, self.accounts.len());
            self.accounts.iter().for_each(|a| put_str(out, a));
        });
        section(out, PROJECTS, |out| {
            put_count(out, self.projects.len());
            for (project, account) in &self.projects {
                put_str(out, project);
                put_str(out, account);
            }
        });
        section(out, KEYS, |out| {
            put_count(out, self.keys.len());
            for key in self.keys.values() {
                let info = &key.info;
                put_str(out, &info.key_id);
                put_str(out, &info.account_id);
                match &info.grant {
                    Grant::AllProjects => out.push(0),
                    Grant::Projects(projects) => {
                        out.push(1);
                        put_count(out, projects.len());
                        projects.iter().for_each(|p| put_str(out, p));
                    }
                }
                put_str(out, &info.label);
                put_u64(out, info.created_at);
                out.push(u8::from(info.revoked));
                put_str(out, &key.hash);
            }
        });
        section(out, CONNECTORS, |out| {
            put_count(out, self.connectors.len());
            for c in self.connectors.values() {
                put_str(out, &c.connector_id);
                put_str(out, &c.name);
                put_str(out, &c.account_id);
                put_str(out, &c.project_id);
                out.push(env_code(c.client_env));
                put_str(out, &c.variant_id);
                put_str(out, &c.asr_lang_code);
                put_str(out, &c.tts_lang_code);
                put_str(out, &c.voice_name);
                out.push(u8::from(c.disable_handoff));
            }
        });
        section(out, HINT, |out| put_u64(out, self.numbers.len() as u64));
        section(out, PREFIXES, |out| {
            put_count(out, self.prefixes.len());
            for (prefix, connector) in &self.prefixes {
                put_str(out, &prefix.to_string());
                put_str(out, connector);
            }
        });
    }

    /// The projects that have numbers, for [`Model::encode_numbers`].
    pub(crate) fn numbered_projects(&self) -> Vec<Id> {
        self.by_project.keys().cloned().collect()
    }

    /// One numbers section: at most `limit` numbers of `project` after `after`, in order.
    /// Returns how many it holds, and the last of them when more follow.
    pub(crate) fn encode_numbers(
        &self,
        project: &str,
        after: Option<E164>,
        limit: usize,
        out: &mut Vec<u8>,
    ) -> (u64, Option<E164>) {
        let Some(set) = self.by_project.get(project) else {
            return (0, None);
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut connectors: Vec<&Id> = Vec::new();
        let mut slots: FxHashMap<&Id, u32> = FxHashMap::default();
        let mut entries: Vec<(E164, ClientEnv, u32)> = Vec::with_capacity(limit.min(set.len()));
        let mut last = None;
        for &number in set.range((from, Bound::Unbounded)).take(limit) {
            last = Some(number);
            let Some(entry) = self.numbers.get(&number) else {
                continue;
            };
            let slot = match &entry.connector {
                None => NO_CONNECTOR,
                Some(id) => *slots.entry(id).or_insert_with(|| {
                    connectors.push(id);
                    connectors.len() as u32 - 1
                }),
            };
            entries.push((number, entry.env, slot));
        }
        section(out, NUMBERS, |out| {
            put_str(out, project);
            put_count(out, connectors.len());
            connectors.iter().for_each(|c| put_str(out, c));
            put_count(out, entries.len());
            for (number, env, slot) in &entries {
                put_u64(out, number.to_packed());
                out.push(env_code(*env));
                put_u32(out, *slot);
            }
        });
        let more = last.filter(|&last| {
            set.range((Bound::Excluded(last), Bound::Unbounded))
                .next()
                .is_some()
        });
        (entries.len() as u64, more)
    }

    /// The closing section, with how many numbers the sections before it hold.
    pub(crate) fn encode_end(numbers: u64, out: &mut Vec<u8>) {
        section(out, END, |out| put_u64(out, numbers));
    }

    /// The whole model as one checkpoint, read at once.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_head(&mut out);
        let mut written = 0u64;
        for project in self.by_project.keys() {
            let mut after = None;
            loop {
                let (count, next) = self.encode_numbers(project, after, 1 << 16, &mut out);
                written += count;
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
        }
        Model::encode_end(written, &mut out);
        out
    }
}

// ---- reading ------------------------------------------------------------------------------

/// Reads `bytes` from `at`; errors name the offset in the whole checkpoint (`base` + `at`).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], base: usize) -> Reader<'a> {
        Reader { bytes, at: 0, base }
    }

    fn fail(&self, what: impl Into<String>) -> DecodeError {
        DecodeError {
            offset: self.base + self.at,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n);
        let bytes = end
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| self.fail(format!("{n} bytes expected, the data ends first")))?;
        self.at += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.fail(format!("{other} is not a flag"))),
        }
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.u32()? as usize;
        let at = self.at;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError {
            offset: self.base + at,
            what: format!("a string that is not UTF-8 ({e})"),
        })
    }

    fn env(&mut self) -> Result<ClientEnv, DecodeError> {
        let code = self.u8()?;
        ClientEnv::ALL
            .get(usize::from(code))
            .copied()
            .ok_or_else(|| self.fail(format!("{code} is not an environment")))
    }

    /// A count of items each at least `min` bytes long: no more than the bytes left hold,
    /// so a damaged count cannot ask for a huge allocation.
    fn count(&mut self, min: usize) -> Result<usize, DecodeError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len().saturating_sub(self.at);
        if n.saturating_mul(min) > left {
            return Err(self.fail(format!("{n} items cannot fit in the {left} bytes left")));
        }
        Ok(n)
    }
}

impl Model {
    /// The model a checkpoint holds, with every index built. The caller replays the log
    /// after the checkpoint's position, then checks the invariants.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Model, DecodeError> {
        let mut r = Reader::new(bytes, 0);
        if r.take(4)? != MAGIC {
            return Err(DecodeError {
                offset: 0,
                what: "not a model checkpoint".into(),
            });
        }
        let version = r.u32()?;
        if version != VERSION {
            return Err(r.fail(format!(
                "format version {version}; this patchbay reads version {VERSION}: upgrade it"
            )));
        }
        let mut model = Model::default();
        // Each project's numbers, and each connector's, as the sections list them.
        let mut listed = Listed::default();
        let mut written = None;
        while written.is_none() {
            let kind = r.u8()?;
            let len = r.u64()?;
            let start = r.at;
            let body = r.take(usize::try_from(len).unwrap_or(usize::MAX))?;
            let mut s = Reader::new(body, start);
            match kind {
                ACCOUNTS => {
                    for _ in 0..s.count(4)? {
                        model.accounts.insert(Id::from(s.str()?));
                    }
                }
                PROJECTS => {
                    for _ in 0..s.count(8)? {
                        let project_id = s.str()?.to_string();
                        let account_id = s.str()?.to_string();
                        model.apply(Mutation::PutProject {
                            project_id,
                            account_id,
                        });
                    }
                }
                KEYS => {
                    for _ in 0..s.count(30)? {
                        let key_id = s.str()?.to_string();
                        let account_id = s.str()?.to_string();
                        let grant = match s.u8()? {
                            0 => Grant::AllProjects,
                            1 => {
                                let mut projects = BTreeSet::new();
                                for _ in 0..s.count(4)? {
                                    projects.insert(s.str()?.to_string());
                                }
                                Grant::Projects(projects)
                            }
                            other => return Err(s.fail(format!("{other} is not a grant"))),
                        };
                        let label = s.str()?.to_string();
                        let created_at = s.u64()?;
                        let revoked = s.bool()?;
                        let hash = s.str()?.to_string();
                        model.apply(Mutation::PutKey {
                            key: KeyRecord {
                                info: KeyInfo {
                                    key_id,
                                    account_id,
                                    grant,
                                    label,
                                    created_at,
                                    revoked,
                                },
                                hash,
                            },
                        });
                    }
                }
                CONNECTORS => {
                    for _ in 0..s.count(34)? {
                        let connector = Connector {
                            connector_id: s.str()?.into(),
                            name: s.str()?.into(),
                            account_id: s.str()?.into(),
                            project_id: s.str()?.into(),
                            client_env: s.env()?,
                            variant_id: s.str()?.into(),
                            asr_lang_code: s.str()?.into(),
                            tts_lang_code: s.str()?.into(),
                            voice_name: s.str()?.into(),
                            disable_handoff: s.bool()?,
                        };
                        model.apply(Mutation::PutConnector { connector });
                    }
                }
                PREFIXES => {
                    let mut by_connector: BTreeMap<String, Vec<Prefix>> = BTreeMap::new();
                    for _ in 0..s.count(8)? {
                        let text = s.str()?;
                        let prefix: Prefix = text
                            .parse()
                            .map_err(|e| s.fail(format!("prefix {text:?}: {e}")))?;
                        by_connector
                            .entry(s.str()?.to_string())
                            .or_default()
                            .push(prefix);
                    }
                    for (connector_id, prefixes) in by_connector {
                        model.apply(Mutation::PutPrefixes {
                            connector_id,
                            prefixes,
                        });
                    }
                }
                NUMBERS => model.decode_numbers(&mut s, &mut listed)?,
                // At most what the bytes can hold (13 a number): a damaged hint cannot ask
                // for more memory than the checkpoint's size.
                HINT => model
                    .numbers
                    .reserve(usize::try_from(s.u64()?).unwrap_or(0).min(bytes.len() / 13)),
                END => written = Some(s.u64()?),
                other => return Err(s.fail(format!("unknown section kind {other}"))),
            }
            if s.at != body.len() {
                return Err(s.fail(format!(
                    "section {kind} ends here, {} bytes before its length says",
                    body.len() - s.at
                )));
            }
        }
        if r.at != bytes.len() {
            return Err(r.fail("bytes follow the closing section"));
        }
        model.insert_pending(&mut listed);
        model.index_numbers(listed);
        Ok(model)
    }

    /// Reads one numbers section into the table (a later section's entry for a number
    /// replaces an earlier one's, and `replaced` notes that it happened), noting each number
    /// under its project and connector.
    fn decode_numbers(
        &mut self,
        s: &mut Reader<'_>,
        listed: &mut Listed,
    ) -> Result<(), DecodeError> {
        let project = self.intern(s.str()?);
        let connectors: Vec<Id> = (0..s.count(4)?)
            .map(|_| s.str().map(|c| self.intern(c)))
            .collect::<Result<_, _>>()?;
        let n = s.count(13)?;
        let mut of_slot: Vec<Vec<E164>> = vec![Vec::new(); connectors.len()];
        let numbers = listed.of_project.entry(project.clone()).or_default();
        numbers.reserve(n);
        for _ in 0..n {
            let packed = s.u64()?;
            let number = E164::from_packed(packed)
                .ok_or_else(|| s.fail(format!("{packed:#x} is not a packed number")))?;
            let env = s.env()?;
            let slot = s.u32()?;
            let connector = match slot {
                NO_CONNECTOR => None,
                slot => {
                    let (Some(id), Some(of)) = (
                        connectors.get(slot as usize),
                        of_slot.get_mut(slot as usize),
                    ) else {
                        return Err(s.fail(format!("connector {slot} of {}", connectors.len())));
                    };
                    of.push(number);
                    Some(id.clone())
                }
            };
            numbers.push(number);
            let entry = NumberEntry {
                project: project.clone(),
                env,
                connector,
            };
            listed.pending.push((number, entry));
        }
        if listed.pending.len() >= BATCH {
            self.insert_pending(listed);
        }
        for (id, numbers) in connectors.into_iter().zip(of_slot) {
            if !numbers.is_empty() {
                listed.of_connector.entry(id).or_default().extend(numbers);
            }
        }
        Ok(())
    }

    /// Puts the entries decoded so far in the table.
    fn insert_pending(&mut self, listed: &mut Listed) {
        let batch = std::mem::take(&mut listed.pending);
        listed.replaced |= self.numbers.insert_all(batch);
    }

    /// Builds the project and connector indexes from the numbers the sections listed, both
    /// at once (they are independent). Sections list each project's numbers in order, so
    /// each set is built from an already sorted run. A number listed twice (moved while the
    /// checkpoint was written) is indexed only where its final entry puts it; when no
    /// number was, every listing is the final one and none is looked up again.
    fn index_numbers(&mut self, listed: Listed) {
        self.index_lists(listed.of_project, listed.of_connector, listed.replaced);
    }

    /// Builds the project and connector indexes from lists of their numbers (each best
    /// sorted already), both at once; with `replaced`, a number some list holds but whose
    /// final entry is elsewhere is left out.
    pub(super) fn index_lists(
        &mut self,
        of_project: FxHashMap<Id, Vec<E164>>,
        of_connector: FxHashMap<Id, Vec<E164>>,
        replaced: bool,
    ) {
        let numbers = &self.numbers;
        let build =
            |lists: FxHashMap<Id, Vec<E164>>,
             owns: &(dyn Fn(super::numbers::Entry<'_>, &Id) -> bool + Sync)| {
                lists
                    .into_iter()
                    .filter_map(|(id, listed)| {
                        let set: BTreeSet<E164> = if replaced {
                            listed
                                .into_iter()
                                .filter(|n| numbers.get(n).is_some_and(|e| owns(e, &id)))
                                .collect()
                        } else {
                            listed.into_iter().collect()
                        };
                        (!set.is_empty()).then_some((id, set))
                    })
                    .collect::<FxHashMap<Id, BTreeSet<E164>>>()
            };
        let (by_project, by_connector) = rayon::join(
            || build(of_project, &|e, id| e.project == id),
            || build(of_connector, &|e, id| e.connector == Some(id)),
        );
        self.by_project = by_project;
        self.by_connector = by_connector;
    }
}

/// The numbers the sections listed, by project and by connector, as read.
#[derive(Default)]
struct Listed {
    of_project: FxHashMap<Id, Vec<E164>>,
    of_connector: FxHashMap<Id, Vec<E164>>,
    /// Entries decoded and not yet in the table.
    pending: Vec<(E164, NumberEntry)>,
    /// Whether a number was listed more than once.
    replaced: bool,
}

/// How many decoded entries are put in the table at a time. Entries are decoded a batch
/// at a time and then inserted (see `NumberMap::insert_all`); apart, each goes faster:
/// the reference counts taken while decoding are atomic, and an atomic waits for every
/// store before it, so interleaved with the inserts it would wait out their cache misses
/// one by one.
const BATCH: usize = 1 << 20;

// ---- restoring ---------------------------------------------------------------------------

/// The model of checkpoint bytes of either format: this one, or the first layout's JSON
/// list of mutations.
pub(crate) fn read_model(bytes: &[u8]) -> Result<Model, String> {
    if bytes.starts_with(MAGIC) {
        return Model::decode(bytes).map_err(|e| e.to_string());
    }
    let mutations: Vec<Mutation> =
        serde_json::from_slice(bytes).map_err(|e| format!("unreadable checkpoint: {e}"))?;
    let mut model = Model::default();
    mutations.into_iter().for_each(|m| model.apply(m));
    Ok(model)
}

/// The model a checkpoint (if any) and the records after it make, and the position of its
/// last change; `replayed` sees each change after the checkpoint before it is applied.
/// Every record must follow the one before it; the invariants are the caller's to check.
pub(crate) fn restore(
    checkpoint: Option<(u64, &[u8])>,
    records: &[(u64, Vec<u8>)],
    mut replayed: impl FnMut(&[Mutation]),
) -> Result<(Model, u64), String> {
    restore_with(checkpoint, records, |model, _, _, change| {
        replayed(&change);
        change.into_iter().for_each(|m| model.apply(m));
    })
}

/// [`restore`], with `apply` applying each record's change (at its position, with its
/// stamp) to the model: for a replay that reads the model before each change too.
pub(crate) fn restore_with(
    checkpoint: Option<(u64, &[u8])>,
    records: &[(u64, Vec<u8>)],
    mut apply: impl FnMut(&mut Model, u64, Option<Stamp>, Vec<Mutation>),
) -> Result<(Model, u64), String> {
    let (mut model, mut position) = match checkpoint {
        Some((at, bytes)) => (read_model(bytes)?, at),
        None => (Model::default(), 0),
    };
    for (at, bytes) in records {
        if *at != position + 1 {
            return Err(format!(
                "journal record {at} follows {position}: a record is missing"
            ));
        }
        let (stamp, change) = super::change::decode_stamped(*at, bytes)?;
        apply(&mut model, *at, stamp, change);
        position = *at;
    }
    Ok((model, position))
}

#[cfg(test)]
mod tests;
