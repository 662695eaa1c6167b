//! Reading the history, over any store of it ([`HistoryRead`]): a project's pages of
//! changes, newest first, filtered by a number, a prefix or a connector; and where a number,
//! a prefix or a connector stood after a given change (what an as-of lookup reads).

use patchbay_core::{Connector, Prefix, E164};

use super::{Entry, Event, Placement};

/// What the history is kept about: each is one indexed range of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A number.
    Number(E164),
    /// A prefix.
    Prefix(Prefix),
    /// Anything about a connector: itself, and its numbers and prefixes coming and going.
    Connector(String),
    /// A connector's own record only (created, updated, moved, deleted).
    ConnectorRecord(String),
    /// Everything a project saw.
    Project(String),
    /// Every change.
    All,
}

/// What a store of history answers.
pub(crate) trait HistoryRead: Send + Sync {
    /// The last position recorded.
    fn recorded(&self) -> Result<u64, String>;
    /// The oldest change retained: its position and commit time (ms).
    fn oldest(&self) -> Result<Option<(u64, i64)>, String>;
    /// The newest change committed at or before `at` (ms).
    fn position_at(&self, at: i64) -> Result<Option<u64>, String>;
    /// The changes that touched `subject` below position `below`, newest first, at most
    /// `limit`.
    fn touching(&self, subject: &Subject, below: u64, limit: usize) -> Result<Vec<u64>, String>;
    /// The oldest change that touched `subject` after position `above`.
    fn first_touching_after(&self, subject: &Subject, above: u64) -> Result<Option<u64>, String>;
    /// The change at `position`, if retained.
    fn entry(&self, position: u64) -> Result<Option<Entry>, String>;
    /// The changes at `positions` that are retained, in the order asked: one read where a
    /// read is a round trip (the shared store), else one [`HistoryRead::entry`] each.
    fn entries(&self, positions: &[u64]) -> Result<Vec<Entry>, String> {
        positions
            .iter()
            .filter_map(|&position| self.entry(position).transpose())
            .collect()
    }
}

/// A history read as of position `through`: what came after it is not there (so that what
/// no change up to it touched is read from a model at that position).
pub(crate) struct Bounded<'a> {
    pub(crate) inner: &'a dyn HistoryRead,
    pub(crate) through: u64,
}

impl HistoryRead for Bounded<'_> {
    fn recorded(&self) -> Result<u64, String> {
        Ok(self.inner.recorded()?.min(self.through))
    }

    fn oldest(&self) -> Result<Option<(u64, i64)>, String> {
        Ok(self.inner.oldest()?.filter(|(p, _)| *p <= self.through))
    }

    fn position_at(&self, at: i64) -> Result<Option<u64>, String> {
        match self.inner.position_at(at)? {
            Some(p) if p > self.through => Ok(Some(self.through).filter(|t| *t > 0)),
            found => Ok(found),
        }
    }

    fn touching(&self, subject: &Subject, below: u64, limit: usize) -> Result<Vec<u64>, String> {
        let below = below.min(self.through.saturating_add(1));
        self.inner.touching(subject, below, limit)
    }

    fn first_touching_after(&self, subject: &Subject, above: u64) -> Result<Option<u64>, String> {
        Ok(self
            .inner
            .first_touching_after(subject, above)?
            .filter(|p| *p <= self.through))
    }

    fn entry(&self, position: u64) -> Result<Option<Entry>, String> {
        if position > self.through {
            return Ok(None);
        }
        self.inner.entry(position)
    }

    fn entries(&self, positions: &[u64]) -> Result<Vec<Entry>, String> {
        let within: Vec<u64> = positions
            .iter()
            .copied()
            .filter(|p| *p <= self.through)
            .collect();
        self.inner.entries(&within)
    }
}

/// Which of a change's events a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) number: Option<E164>,
    pub(crate) prefix: Option<Prefix>,
    pub(crate) connector: Option<String>,
}

impl Filter {
    /// The subject whose index drives the listing (the project's, or every change's, without
    /// a filter).
    fn subject(&self, project: Option<&str>) -> Subject {
        if let Some(n) = self.number {
            Subject::Number(n)
        } else if let Some(p) = self.prefix {
            Subject::Prefix(p)
        } else if let Some(c) = &self.connector {
            Subject::Connector(c.clone())
        } else {
            project.map_or(Subject::All, |p| Subject::Project(p.to_string()))
        }
    }

    /// `event` cut down to what the filter and the project (any, for `None`) show, if
    /// anything.
    fn apply(&self, project: Option<&str>, event: &Event) -> Option<Event> {
        if project.is_some_and(|p| !event.shows_in(p)) {
            return None;
        }
        if let Some(c) = &self.connector {
            if !event.connectors().contains(&c.as_str()) {
                return None;
            }
        }
        if let Some(n) = self.number {
            let Event::Numbers {
                op,
                before,
                after,
                numbers,
            } = event
            else {
                return None;
            };
            return numbers.contains(&n).then(|| Event::Numbers {
                op: *op,
                before: before.clone(),
                after: after.clone(),
                numbers: vec![n],
            });
        }
        if let Some(p) = self.prefix {
            let Event::Prefixes {
                op,
                before,
                after,
                prefixes,
            } = event
            else {
                return None;
            };
            return prefixes.contains(&p).then(|| Event::Prefixes {
                op: *op,
                before: before.clone(),
                after: after.clone(),
                prefixes: vec![p],
            });
        }
        Some(event.clone())
    }
}

/// One page of a project's changes (of every change, for `None`): positions below `below` and above `above`, newest
/// first, at most `limit`, each with only the events the project and the filter show. The
/// second value is the cursor of the next page (the last change's position), when more
/// follow.
pub(crate) fn page(
    history: &dyn HistoryRead,
    project: Option<&str>,
    filter: &Filter,
    above: u64,
    below: u64,
    limit: usize,
) -> Result<(Vec<Entry>, Option<u64>), String> {
    let subject = filter.subject(project);
    let mut found: Vec<Entry> = Vec::with_capacity(limit.min(64));
    let mut below = below;
    let batch = limit.saturating_add(16).min(1_024);
    'scan: loop {
        let positions = history.touching(&subject, below, batch)?;
        let exhausted = positions.len() < batch;
        let mut rest = positions.as_slice();
        while !rest.is_empty() {
            // As many changes as could fill the page and tell whether another follows,
            // read at once.
            let want = (limit + 1).saturating_sub(found.len()).clamp(1, rest.len());
            let (chunk, tail) = rest.split_at(want);
            rest = tail;
            let wanted: Vec<u64> = chunk.iter().copied().take_while(|p| *p > above).collect();
            for entry in history.entries(&wanted)? {
                let events: Vec<Event> = entry
                    .events
                    .iter()
                    .filter_map(|e| filter.apply(project, e))
                    .collect();
                if events.is_empty() {
                    continue;
                }
                if found.len() == limit {
                    let next = found.last().map(|e| e.position);
                    return Ok((found, next));
                }
                found.push(Entry { events, ..entry });
            }
            if wanted.len() < chunk.len() {
                break 'scan;
            }
            if let Some(last) = chunk.last() {
                below = *last;
            }
        }
        if exhausted {
            break;
        }
    }
    Ok((found, None))
}

/// Where something stood after the change at `position`: as a change after it found it
/// (`Some`), or unchanged since (`None`: as it is now).
pub(crate) type Then<T> = Option<Option<T>>;

/// Where a subject stood after the change at `position`: its state after the newest change
/// at or before `position` that touched it, or else its state before the oldest after it.
/// `states` gives, for an event about the subject, its state before and after.
fn state_at<T>(
    history: &dyn HistoryRead,
    subject: &Subject,
    position: u64,
    states: impl Fn(&Event) -> Option<(Option<T>, Option<T>)>,
) -> Result<Then<T>, String> {
    for at in history.touching(subject, position.saturating_add(1), 16)? {
        if let Some(entry) = history.entry(at)? {
            // The last of the change's events about it says where it ended.
            if let Some((_, after)) = entry.events.iter().filter_map(&states).last() {
                return Ok(Some(after));
            }
        }
    }
    let mut above = position;
    while let Some(at) = history.first_touching_after(subject, above)? {
        if let Some(entry) = history.entry(at)? {
            // The first of the change's events about it says where it was.
            if let Some((before, _)) = entry.events.iter().find_map(&states) {
                return Ok(Some(before));
            }
        }
        above = at;
    }
    Ok(None)
}

/// Where number `number` stood after the change at `position`.
pub(crate) fn number_at(
    history: &dyn HistoryRead,
    number: E164,
    position: u64,
) -> Result<Then<Placement>, String> {
    state_at(history, &Subject::Number(number), position, |e| match e {
        Event::Numbers {
            before,
            after,
            numbers,
            ..
        } if numbers.contains(&number) => Some((before.clone(), after.clone())),
        _ => None,
    })
}

/// Where prefix `prefix` stood after the change at `position`.
pub(crate) fn prefix_at(
    history: &dyn HistoryRead,
    prefix: Prefix,
    position: u64,
) -> Result<Then<Placement>, String> {
    state_at(history, &Subject::Prefix(prefix), position, |e| match e {
        Event::Prefixes {
            before,
            after,
            prefixes,
            ..
        } if prefixes.contains(&prefix) => Some((before.clone(), after.clone())),
        _ => None,
    })
}

/// Connector `id` as it was after the change at `position`.
pub(crate) fn connector_at(
    history: &dyn HistoryRead,
    id: &str,
    position: u64,
) -> Result<Then<Connector>, String> {
    let subject = Subject::ConnectorRecord(id.to_string());
    state_at(history, &subject, position, |e| match e {
        Event::Connector {
            id: of,
            before,
            after,
            ..
        } if of == id => Some((before.as_deref().cloned(), after.as_deref().cloned())),
        _ => None,
    })
}
