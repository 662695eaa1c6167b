//! The change history's reads: a project's changes (`GET /changes`) and a lookup at a past
//! instant (`at` on `POST /connectors/lookup`), each within what the caller's project may
//! see, and each after the history has recorded every change the model holds.

use std::time::{Duration, Instant};

use patchbay_core::{normalize_in, Connector, Prefix, E164};

use super::{check_name, Admin, Caller, Follower, Replica};
use crate::api::{
    AsOf, Change, ChangeMutation, ChangesPage, ChangesQuery, Explanation, MatchKind, Outcome,
    Record, MAX_CHANGES, MAX_MUTATIONS_SHOWN,
};
use crate::error::{AdminError, ErrorCode};
use crate::history::query::{self, Filter, HistoryRead};
use crate::history::{now_ms, time, Actor, Entry, Event, Stamp};
use crate::model::Model;

/// How long a read waits for the history to record what the model holds.
const CATCH_UP: Duration = Duration::from_secs(10);

/// How far ahead of this node's clock an instant may be (another node's clock, a client's).
const CLOCK_SLACK_MS: i64 = 5_000;

/// The history's id of the change at `position`: its position, zero-padded so that ids
/// order as text as they do as numbers.
fn change_id(position: u64) -> String {
    format!("{position:016}")
}

impl Admin {
    /// Who `caller` is in the history: a key by its id, or whom the operator is
    /// ([`crate::AdminConfig::actor`]: the command line, or the library).
    pub(super) fn actor_of(&self, caller: &Caller) -> Actor {
        match caller {
            Caller::Key(key) => Actor::Key {
                key_id: crate::keys::key_id_of(key).unwrap_or("?").to_string(),
            },
            Caller::Operator => self.config.actor.clone(),
        }
    }

    /// The stamp of a change committed now by `actor`: never before the change before it,
    /// whatever the clock did.
    pub(super) fn stamp(&self, writer: &mut super::Writer, actor: &Actor) -> Stamp {
        let at = now_ms().max(writer.last_at);
        writer.last_at = at;
        Stamp {
            at,
            actor: actor.clone(),
            node: self.node_name().map(str::to_string),
        }
    }

    /// Runs `read` over the history once it has recorded every change the model holds,
    /// with the model as of that change.
    fn with_history<T>(
        &self,
        read: impl FnOnce(&dyn HistoryRead, &Model) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let deadline = Instant::now() + CATCH_UP;
        if let Some(shared) = self.shared_history.get() {
            // Everything committed is in the store's history; read as of what this node has
            // applied, so that what no change up to there touched is read from its model.
            let head = shared.recorded().map_err(AdminError::unavailable)?;
            if !self.wait_applied(head, CATCH_UP) {
                return Err(AdminError::unavailable(
                    "this node is still catching up with the store's history: retry",
                ));
            }
            let model = self.model.read();
            let through = self
                .cluster
                .as_ref()
                .map_or(head, |cluster| cluster.applied());
            let bounded = query::Bounded {
                inner: shared,
                through,
            };
            return read(&bounded, &model);
        }
        let recorder = self.history.as_ref().ok_or_else(|| {
            if self.cluster.is_some() {
                AdminError::unavailable("the shared store has not been reached yet: retry")
            } else {
                AdminError::new(ErrorCode::NotFound, "this node keeps no change history")
            }
        })?;
        loop {
            let model = self.model.read();
            let sent = recorder.sent();
            if recorder.wait_for(sent, Duration::ZERO).is_ok() {
                return read(recorder.history(), &model);
            }
            drop(model);
            recorder
                .wait_for(sent, deadline.saturating_duration_since(Instant::now()))
                .map_err(AdminError::unavailable)?;
        }
    }

    /// The changes of `project` that `query` asks for, newest first: each with the
    /// mutations the project sees (a connector moved between projects shows in both) and
    /// the filter keeps.
    ///
    /// # Errors
    ///
    /// The key (`401`, `403`); a filter, instant, limit or cursor that does not read (`400`);
    /// an instant in the future or older than retention (`422`, naming the oldest retained
    /// instant).
    pub fn changes(
        &self,
        caller: &Caller,
        project: &str,
        query: &ChangesQuery,
    ) -> Result<ChangesPage, AdminError> {
        self.access.authorize(caller, project)?;
        self.with_history(|history, _| self.config.changes_in(history, Some(project), query))
    }

    /// Every change `query` asks for, of every project: the operator's view (the command
    /// line's `patchbay history`).
    ///
    /// # Errors
    ///
    /// A caller other than the operator (`403`), and as [`Admin::changes`].
    pub fn all_changes(
        &self,
        caller: &Caller,
        query: &ChangesQuery,
    ) -> Result<ChangesPage, AdminError> {
        Replica::operator_only(caller)?;
        self.with_history(|history, _| self.config.changes_in(history, None, query))
    }

    /// The connector of `project` that served `phone_number` at the instant `at` (RFC
    /// 3339): the number's own route then, else the longest prefix routed then, and the
    /// connector as it was then. The operator may leave the project out (any project's).
    ///
    /// # Errors
    ///
    /// As [`Replica::lookup_route`], and an instant that does not read (`400`), in the
    /// future or older than retention (`422`); `404` when nothing of this project served
    /// the number then.
    pub fn lookup_at(
        &self,
        caller: &Caller,
        project: Option<&str>,
        phone_number: &str,
        at: &str,
    ) -> Result<AsOf, AdminError> {
        match project {
            Some(project) => self.access.authorize(caller, project)?,
            None => Replica::operator_only(caller)?,
        }
        let number = self.normalize(phone_number)?;
        self.with_history(|history, model| {
            self.config
                .lookup_at_in(history, model, project, number, at)
        })
    }
}

impl Admin {
    /// [`Replica::explain`] at the past instant `at` (RFC 3339): how the input reads, and
    /// what it matched, which connector (as it was) served it and the number's own entry,
    /// as they were then; `snapshotVersion` is the version that instant's newest change
    /// published.
    ///
    /// # Errors
    ///
    /// As [`Replica::explain`], and an instant that does not read (`400`), in the future or
    /// older than retention (`422`).
    pub fn explain_at(
        &self,
        caller: &Caller,
        project: &str,
        input: &str,
        at: &str,
    ) -> Result<Explanation, AdminError> {
        let mut explained = self.explain(caller, project, input)?;
        self.with_history(|history, model| {
            let at = self.config.instant(history, "at", at)?;
            let position = history
                .position_at(at)
                .map_err(AdminError::internal)?
                .unwrap_or(0);
            explained.snapshot_version = position + 1;
            let Some(number) = explained.normalized else {
                return Ok(());
            };
            explained.matched = MatchKind::None;
            explained.prefix = None;
            explained.connector = None;
            explained.number = None;
            explained.outcome = Outcome::NotRouted;
            if let Some((id, prefix)) = route_at(history, model, number, position)? {
                let connector = match query::connector_at(history, &id, position)
                    .map_err(AdminError::internal)?
                {
                    Some(then) => then,
                    None => model.connectors.get(id.as_str()).cloned(),
                };
                if let Some(connector) = connector.filter(|c| c.project_id == project) {
                    explained.matched = match prefix {
                        Some(_) => MatchKind::Prefix,
                        None => MatchKind::Exact,
                    };
                    explained.prefix = prefix;
                    explained.connector = Some(connector);
                    explained.outcome = Outcome::Routed;
                }
            }
            let own =
                match query::number_at(history, number, position).map_err(AdminError::internal)? {
                    Some(then) => then.map(|p| p.number(number)),
                    None => model
                        .numbers
                        .get(&number)
                        .map(|entry| model.phone_number(number, entry)),
                };
            if let Some(own) = own.filter(|n| n.project_id == project) {
                if explained.connector.is_none() {
                    explained.outcome = Outcome::Unassigned;
                }
                explained.number = Some(own);
            }
            Ok(())
        })?;
        Ok(explained)
    }
}

/// The history's reads need only the settings: a command reading the shared store's
/// history has no model to load.
impl super::AdminConfig {
    /// The oldest instant the history answers for (ms): retention's, or the oldest change
    /// kept when older ones were dropped or never recorded.
    fn oldest_instant(&self, history: &dyn HistoryRead) -> Result<i64, AdminError> {
        let mut floor = match self.history_retain {
            Some(retain) => {
                now_ms().saturating_sub(i64::try_from(retain.as_millis()).unwrap_or(i64::MAX))
            }
            None => i64::MIN,
        };
        if let Some((position, at)) = history.oldest().map_err(AdminError::internal)? {
            if position > 1 {
                floor = floor.max(at);
            }
        }
        Ok(floor)
    }

    /// Reads an instant given as `field`: RFC 3339, not past this node's clock (with a few
    /// seconds' slack), and not older than the history keeps.
    fn instant(
        &self,
        history: &dyn HistoryRead,
        field: &str,
        text: &str,
    ) -> Result<i64, AdminError> {
        let at = time::parse(text)
            .map_err(|why| AdminError::invalid_request(format!("{field}: {why}")))?;
        let now = now_ms();
        if at > now.saturating_add(CLOCK_SLACK_MS) {
            return Err(AdminError::validation(format!(
                "{field} {text} is in the future (it is {} here)",
                time::format(now)
            )));
        }
        let oldest = self.oldest_instant(history)?;
        if at < oldest {
            return Err(AdminError::validation(format!(
                "{field} {text} is older than the history keeps: the oldest retained instant \
                 is {}",
                time::format(oldest)
            )));
        }
        Ok(at)
    }

    /// A page of the changes of `project` (every project's, for `None`) that `query` asks
    /// for, read from `history`.
    pub(crate) fn changes_in(
        &self,
        history: &dyn HistoryRead,
        project: Option<&str>,
        query: &ChangesQuery,
    ) -> Result<ChangesPage, AdminError> {
        let limit = query.limit.unwrap_or(100);
        if !(1..=MAX_CHANGES).contains(&limit) {
            return Err(AdminError::invalid_request(format!(
                "limit {limit} is out of range: ask for 1 to {MAX_CHANGES} changes a page"
            )));
        }
        let filter = self.filter_of(query)?;
        let tag = cursor_tag(project, query);
        let below = match &query.cursor {
            None => u64::MAX,
            Some(cursor) => parse_cursor(cursor, &tag)?,
        };
        let above = match &query.since {
            Some(since) => {
                let at = self.instant(history, "since", since)?;
                history
                    .position_at(at.saturating_sub(1))
                    .map_err(AdminError::internal)?
                    .unwrap_or(0)
            }
            None => 0,
        };
        let below = match &query.until {
            Some(until) => {
                let at = self.instant(history, "until", until)?;
                let last = history.position_at(at).map_err(AdminError::internal)?;
                below.min(last.map_or(0, |p| p.saturating_add(1)))
            }
            None => below,
        };
        let (entries, next) = query::page(history, project, &filter, above, below, limit)
            .map_err(AdminError::internal)?;
        Ok(ChangesPage {
            changes: entries.iter().map(render).collect(),
            next_cursor: next.map(|position| format!("h1.{position}.{tag}")),
        })
    }

    /// The filter a query names: a number (any accepted form), a prefix, or a connector id.
    fn filter_of(&self, query: &ChangesQuery) -> Result<Filter, AdminError> {
        let number = query
            .number
            .as_deref()
            .map(|text| {
                normalize_in(text, self.default_region).map_err(|e| {
                    AdminError::invalid_request(format!(
                        "number {text:?} is not a phone number: {e}"
                    ))
                })
            })
            .transpose()?;
        let prefix = query
            .prefix
            .as_deref()
            .map(|text| {
                Prefix::parse(text).map_err(|e| {
                    AdminError::invalid_request(format!("prefix {text:?} is not a prefix: {e}"))
                })
            })
            .transpose()?;
        if let Some(id) = &query.connector_id {
            check_name("connector", id)?;
        }
        Ok(Filter {
            number,
            prefix,
            connector: query.connector_id.clone(),
        })
    }

    /// How `number` routed at the instant `at`, read from `history` and, for what no
    /// change since touched, from `model`.
    fn lookup_at_in(
        &self,
        history: &dyn HistoryRead,
        model: &Model,
        project: Option<&str>,
        number: E164,
        at: &str,
    ) -> Result<AsOf, AdminError> {
        let at = self.instant(history, "at", at)?;
        let position = history
            .position_at(at)
            .map_err(AdminError::internal)?
            .unwrap_or(0);
        let not_found = || {
            AdminError::new(
                ErrorCode::NotFound,
                format!(
                    "no connector {}served {number} at {}",
                    if project.is_some() {
                        "of this project "
                    } else {
                        ""
                    },
                    time::format(at)
                ),
            )
        };
        let (connector_id, prefix) =
            route_at(history, model, number, position)?.ok_or_else(not_found)?;
        let connector = match query::connector_at(history, &connector_id, position)
            .map_err(AdminError::internal)?
        {
            Some(then) => then,
            None => model.connectors.get(connector_id.as_str()).cloned(),
        }
        .filter(|c: &Connector| project.is_none_or(|p| c.project_id == p))
        .ok_or_else(not_found)?;
        Ok(AsOf {
            connector,
            prefix,
            change_id: if position == 0 {
                String::new()
            } else {
                change_id(position)
            },
        })
    }
}

/// The connector `number` routed to after the change at `position`, and the prefix it
/// matched (none for its own route).
fn route_at(
    history: &dyn HistoryRead,
    model: &Model,
    number: E164,
    position: u64,
) -> Result<Option<(String, Option<Prefix>)>, AdminError> {
    let own = match query::number_at(history, number, position).map_err(AdminError::internal)? {
        Some(then) => then.and_then(|p| p.connector),
        None => model
            .numbers
            .get(&number)
            .and_then(|e| e.connector.map(|c| c.to_string())),
    };
    if let Some(id) = own {
        return Ok(Some((id, None)));
    }
    let digits = number.to_string().len().saturating_sub(1);
    for len in (1..digits.min(15)).rev() {
        let Some(prefix) = Prefix::of(number, len) else {
            continue;
        };
        let routed =
            match query::prefix_at(history, prefix, position).map_err(AdminError::internal)? {
                Some(then) => then.and_then(|p| p.connector),
                None => model.prefixes.get(&prefix).map(|c| c.to_string()),
            };
        if let Some(id) = routed {
            return Ok(Some((id, Some(prefix))));
        }
    }
    Ok(None)
}

/// The tag that ties a cursor to its listing: the project and every filter.
fn cursor_tag(project: Option<&str>, query: &ChangesQuery) -> String {
    let mut hasher = crc32fast::Hasher::new();
    for part in [
        project,
        query.number.as_deref(),
        query.prefix.as_deref(),
        query.connector_id.as_deref(),
        query.since.as_deref(),
        query.until.as_deref(),
    ] {
        hasher.update(part.unwrap_or("\u{0}").as_bytes());
        hasher.update(b"\x1f");
    }
    format!("{:08x}", hasher.finalize())
}

fn parse_cursor(cursor: &str, tag: &str) -> Result<u64, AdminError> {
    let refused = |why: &str| {
        AdminError::invalid_request(format!(
            "cursor {cursor:?} {why}: pass back nextCursor as it came, with the same filters, \
             or leave cursor out to start from the newest change"
        ))
    };
    let mut parts = cursor.split('.');
    let (Some("h1"), Some(position), Some(of), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused("is not one this listing gave out"));
    };
    let position: u64 = position
        .parse()
        .map_err(|_| refused("is not one this listing gave out"))?;
    if of != tag {
        return Err(refused("belongs to a listing with other filters"));
    }
    Ok(position)
}

/// A recorded change as the API shows it.
fn render(entry: &Entry) -> Change {
    let mut mutations = Vec::new();
    let mut count = 0;
    for event in &entry.events {
        count += event.count();
        let room = MAX_MUTATIONS_SHOWN.saturating_sub(mutations.len());
        match event {
            Event::Numbers {
                op,
                before,
                after,
                numbers,
            } => mutations.extend(numbers.iter().take(room).map(|&n| ChangeMutation {
                op: op.name().to_string(),
                number: Some(n),
                prefix: None,
                connector_id: None,
                before: before.as_ref().map(|p| Record::Number(p.number(n))),
                after: after.as_ref().map(|p| Record::Number(p.number(n))),
            })),
            Event::Prefixes {
                op,
                before,
                after,
                prefixes,
            } => mutations.extend(prefixes.iter().take(room).map(|&p| ChangeMutation {
                op: op.name().to_string(),
                number: None,
                prefix: Some(p),
                connector_id: None,
                before: before.as_ref().map(|b| Record::Prefix(b.prefix(p))),
                after: after.as_ref().map(|a| Record::Prefix(a.prefix(p))),
            })),
            Event::Connector {
                op,
                id,
                before,
                after,
            } => {
                if room > 0 {
                    mutations.push(ChangeMutation {
                        op: op.name().to_string(),
                        number: None,
                        prefix: None,
                        connector_id: Some(id.clone()),
                        before: before.as_deref().cloned().map(Record::Connector),
                        after: after.as_deref().cloned().map(Record::Connector),
                    });
                }
            }
        }
    }
    Change {
        change_id: change_id(entry.position),
        at: time::format(entry.stamp.at),
        actor: entry.stamp.actor.clone(),
        node: entry.stamp.node.clone(),
        mutation_count: count,
        mutations,
    }
}

/// Opens the history at `path` (in memory without one). A file that cannot be opened is
/// set aside (`history.redb.damaged`) and the history rebuilt from the journal.
pub(super) fn open(
    path: Option<&std::path::Path>,
) -> Result<crate::history::embedded::EmbeddedHistory, AdminError> {
    use crate::history::embedded::EmbeddedHistory;
    match EmbeddedHistory::open(path) {
        Ok(history) => Ok(history),
        Err(error) => {
            let Some(path) = path else {
                return Err(AdminError::internal(error));
            };
            let aside = path.with_extension("redb.damaged");
            tracing::warn!(%error, path = %path.display(), aside = %aside.display(),
                "the change history cannot be opened: setting it aside and rebuilding it \
                 from the journal");
            std::fs::rename(path, &aside).map_err(|e| {
                AdminError::internal(format!("setting aside {}: {e}", path.display()))
            })?;
            EmbeddedHistory::open(Some(path)).map_err(AdminError::internal)
        }
    }
}

/// Brings the history up to what was loaded (`opened`: the changes replayed after
/// `recorded`, read into entries), and starts its thread.
pub(super) fn catch_up(
    history: crate::history::embedded::EmbeddedHistory,
    recorded: u64,
    opened: &mut super::commit::Opened,
    config: &super::AdminConfig,
) -> Result<std::sync::Arc<crate::history::recorder::Recorder>, AdminError> {
    let position = opened.position;
    if recorded > position {
        // A data directory put back from an older copy: what it no longer holds goes.
        tracing::warn!(
            recorded,
            position,
            "the change history is ahead of the journal; dropping what the journal lacks"
        );
        history
            .reset_to(position, None)
            .map_err(AdminError::internal)?;
    } else if recorded < position {
        if opened.replayed_from > recorded {
            let missing = opened.replayed_from;
            tracing::warn!(
                from = recorded + 1,
                to = missing,
                "the change history lacks changes older than the journal keeps (its file was \
                 new or lost); it answers from change {} on",
                missing + 1
            );
            history
                .reset_to(recorded, Some(missing + 1))
                .map_err(AdminError::internal)?;
        }
        let entries = std::mem::take(&mut opened.entries);
        history
            .record(&entries, position)
            .map_err(AdminError::internal)?;
    }
    Ok(std::sync::Arc::new(
        crate::history::recorder::Recorder::start(
            std::sync::Arc::new(history),
            position,
            config.history_retain,
        ),
    ))
}

impl crate::history::embedded::EmbeddedHistory {
    /// The last position recorded, for the open.
    pub(super) fn recorded_position(&self) -> Result<u64, AdminError> {
        HistoryRead::recorded(self).map_err(AdminError::internal)
    }
}

/// The change history of a data directory that another process (a running server) owns,
/// read beside it: what `patchbay history --data` and `patchbay lookup --at --data` read
/// while a server runs. It is as recent as that process has recorded, a moment behind its
/// journal at most.
pub struct HistoryFile {
    history: crate::history::embedded::EmbeddedHistory,
}

impl HistoryFile {
    /// Opens the history of data directory `dir` to read.
    ///
    /// # Errors
    ///
    /// There is none (`history.redb` is written by the process that owns the directory), or
    /// it cannot be read.
    pub fn open(dir: &std::path::Path) -> Result<HistoryFile, AdminError> {
        let path = dir.join("history.redb");
        if !path.exists() {
            return Err(AdminError::new(
                ErrorCode::NotFound,
                format!(
                    "{} has no change history yet: it is written by the process that owns the \
                     directory (patchbay serve)",
                    dir.display()
                ),
            ));
        }
        crate::history::embedded::EmbeddedHistory::open_read_only(&path)
            .map(|history| HistoryFile { history })
            .map_err(AdminError::internal)
    }

    /// Runs `read` over the history as of the change `follower`'s model is at, once the
    /// file holds it: the process that owns the directory records each change within
    /// moments ([`crate::history::recorder::LINGER`]).
    fn with_follower<T>(
        &self,
        follower: &Follower,
        read: impl FnOnce(&dyn HistoryRead, &Model) -> Result<T, AdminError>,
    ) -> Result<T, AdminError> {
        let deadline = Instant::now() + CATCH_UP;
        follower.at_position(|model, position| loop {
            let recorded = self.history.recorded().map_err(AdminError::internal)?;
            if recorded >= position {
                let bounded = query::Bounded {
                    inner: &self.history,
                    through: position,
                };
                return read(&bounded, model);
            }
            if Instant::now() >= deadline {
                return Err(AdminError::unavailable(format!(
                    "the change history holds changes up to {recorded}, the journal up to \
                     {position}: the process that owns the directory has not recorded the \
                     rest (is it running?); retry"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        })
    }

    /// The changes `query` asks for, of `project` or of every project, with `follower`'s
    /// settings (retention, the region of national numbers).
    ///
    /// # Errors
    ///
    /// As [`Admin::changes`]; `503` when the file does not reach the follower's position
    /// within seconds.
    pub fn changes(
        &self,
        follower: &Follower,
        project: Option<&str>,
        query: &ChangesQuery,
    ) -> Result<ChangesPage, AdminError> {
        self.with_follower(follower, |history, _| {
            follower.config.changes_in(history, project, query)
        })
    }

    /// How `phone_number` routed at `at`, in `project` or any project, with what no change
    /// since touched read from `follower`'s model.
    ///
    /// # Errors
    ///
    /// As [`Admin::lookup_at`]; `503` as [`HistoryFile::changes`].
    pub fn lookup_at(
        &self,
        follower: &Follower,
        project: Option<&str>,
        phone_number: &str,
        at: &str,
    ) -> Result<AsOf, AdminError> {
        let number = follower.normalize(phone_number)?;
        self.with_follower(follower, |history, model| {
            follower
                .config
                .lookup_at_in(history, model, project, number, at)
        })
    }
}
