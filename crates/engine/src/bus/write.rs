//! Writing one commit round to the store.

use super::{Published, RETAINED_EVENT_IDS, Work};
use agentdeck_model::sse::frame;
use agentdeck_model::{EventKind, EventPayload, LoggedData, LoggedEvent, Message, MessageStatus};
use agentdeck_store::{ReplyPart, Store, StoreError, StoreResult};
use std::collections::VecDeque;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What a round makes durable before it is published.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Nothing: streamed fragments alone, held in memory for the next checkpoint.
    Memory,
    /// Its own writes, flushed to disk; the held parts wait for their checkpoint.
    Flush,
    /// A checkpoint: its writes and every held part, flushed.
    Checkpoint,
}

/// Writes that failed because the database was away (PostgreSQL unreachable), kept in
/// order to be made again by the next rounds; nothing a round wrote after them is tried
/// before they are. At most [`MAX_PENDING`] are kept.
#[derive(Default)]
pub(super) struct Pending {
    writes: VecDeque<Write>,
    /// The last checkpoint could not write the held reply parts (the database was away).
    parts_waiting: bool,
}

/// Writes kept while the database is away; past this the oldest are dropped, loudly.
const MAX_PENDING: usize = 100_000;

enum Write {
    Message(Box<Message>),
    /// A round's structural events, in id order: one record.
    Events(Vec<LoggedEvent>),
    Start(String, u64),
    Prune(u64),
}

impl Write {
    fn apply(&self, store: &Store) -> StoreResult<()> {
        match self {
            Write::Message(message) => store.put_message(message),
            Write::Events(events) => store.log_events(events),
            Write::Start(message_id, id) => store.note_message_start(message_id, *id),
            Write::Prune(keep_from) => store.prune_events_before(*keep_from).map(drop),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Write::Message(_) => "a message",
            Write::Events(_) => "a round's events",
            Write::Start(..) => "a message start",
            Write::Prune(_) => "the pruned log",
        }
    }
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Whether everything so far reached the database, or is held for the next
    /// checkpoint with nothing failing.
    pub(super) fn healthy(&self) -> bool {
        self.writes.is_empty() && !self.parts_waiting
    }

    /// Makes the kept writes again, in order, until one still fails.
    fn retry(&mut self, store: &Store) {
        while let Some(write) = self.writes.front() {
            match write.apply(store) {
                Ok(()) => {}
                Err(StoreError::Unavailable(_)) => return,
                Err(err) => tracing::error!("could not write {}: {err}", write.what()),
            }
            self.writes.pop_front();
        }
    }

    /// Makes a round's writes: on PostgreSQL in one transaction (one commit, not one per
    /// write); should that fail, one by one, keeping what the database cannot take.
    fn apply(&mut self, store: &Store, writes: Vec<Write>) {
        self.retry(store);
        if self.writes.is_empty() && store.is_postgres() && writes.len() > 1 {
            match store.transaction(|| writes.iter().try_for_each(|write| write.apply(store))) {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!("a round's transaction failed ({err}); writing it one by one");
                }
            }
        }
        for write in writes {
            self.write(store, write);
        }
    }

    /// Makes a write, or keeps it when the database is away (or writes before it wait).
    fn write(&mut self, store: &Store, write: Write) {
        if self.writes.is_empty() {
            match write.apply(store) {
                Ok(()) => return,
                Err(StoreError::Unavailable(reason)) => {
                    tracing::warn!("keeping {} to write again: {reason}", write.what());
                }
                Err(err) => {
                    tracing::error!("could not write {}: {err}", write.what());
                    return;
                }
            }
        }
        if let Write::Message(message) = &write {
            // The whole message holds its earlier writes.
            self.writes
                .retain(|kept| !matches!(kept, Write::Message(m) if m.id == message.id));
        }
        if self.writes.len() >= MAX_PENDING {
            if let Some(dropped) = self.writes.pop_front() {
                tracing::error!(
                    "the database has been away too long: dropped {} kept to write again",
                    dropped.what()
                );
            }
        }
        self.writes.push_back(write);
    }
}

/// Writes one round: whole messages and structural events; streamed fragments are held
/// as reply parts (adjacent ones merged) for the next checkpoint; then makes it as
/// durable as `durability` asks. Returns the round's events ready to publish. Writes the
/// database could not take now wait in `pending` (made again first, next round).
pub(super) fn write_round(
    store: &Store,
    work: Vec<Work>,
    durability: Durability,
    pending: &mut Pending,
) -> Vec<Arc<Published>> {
    let mut writes = Vec::with_capacity(work.len());
    let mut logged = Vec::new();
    let mut published = Vec::with_capacity(work.len());
    // Fragments to hold, per message: (seq, part).
    let mut parts: HashMap<String, Vec<(u64, ReplyPart)>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut message_writes: HashMap<String, usize> = HashMap::new();
    for item in work {
        match item {
            Work::Message(message) => {
                // Earlier fragments are inside the whole message, and so is an earlier
                // version of it queued in this round: one write, the newest.
                parts.remove(&message.id);
                match message_writes.get(&message.id) {
                    Some(&at) => writes[at] = Write::Message(Box::new(message)),
                    None => {
                        message_writes.insert(message.id.clone(), writes.len());
                        writes.push(Write::Message(Box::new(message)));
                    }
                }
            }
            Work::Event(event) => {
                let data = event.payload.to_json();
                let name = event.payload.name().to_string();
                let thread_id = event.thread_id().to_string();
                let message_id = event.message_id().map(str::to_string);
                let fragment = match &event.payload {
                    EventPayload::MessageDelta(d) => Some(ReplyPart::Text(d.delta.clone())),
                    EventPayload::ReasoningDelta(d) => Some(ReplyPart::Reasoning(d.delta.clone())),
                    EventPayload::ToolCallDelta(d) => Some(ReplyPart::Arguments {
                        call_id: d.tool_call_id.clone(),
                        delta: d.delta.clone(),
                    }),
                    EventPayload::ToolCallOutputDelta(d) => Some(ReplyPart::Output {
                        call_id: d.tool_call_id.clone(),
                        delta: d.delta.clone(),
                    }),
                    _ => None,
                };
                match (fragment, &message_id) {
                    (Some(part), Some(mid)) => {
                        let list = parts.entry(mid.clone()).or_insert_with(|| {
                            order.push(mid.clone());
                            Vec::new()
                        });
                        let merged = match list.last_mut() {
                            Some((seq, last)) => {
                                let merged = last.absorb(&part);
                                if merged {
                                    *seq = event.id;
                                }
                                merged
                            }
                            None => false,
                        };
                        if !merged {
                            list.push((event.id, part));
                        }
                    }
                    _ => {
                        logged.push(LoggedEvent {
                            id: event.id,
                            event: name.clone(),
                            project_id: event.project_id.clone(),
                            thread_id: thread_id.clone(),
                            assistant_id: event.assistant_id.clone(),
                            message_id: message_id.clone(),
                            data: LoggedData::of(&event.payload, &data),
                        });
                        if let (EventKind::MessageCreated, Some(mid)) = (event.kind(), &message_id)
                        {
                            writes.push(Write::Start(mid.clone(), event.id));
                        }
                    }
                }
                let opens_reply = matches!(
                    &event.payload,
                    EventPayload::MessageCreated(e) if e.message.status == MessageStatus::InProgress
                );
                published.push(Arc::new(Published {
                    opens_reply,
                    id: event.id,
                    kind: event.kind(),
                    project_id: event.project_id,
                    thread_id,
                    assistant_id: event.assistant_id,
                    message_id,
                    frame: frame(event.id, &name, &data),
                }));
            }
        }
    }
    if !logged.is_empty() {
        writes.push(Write::Events(logged));
    }
    if let Some(last) = published.last() {
        if last.id > RETAINED_EVENT_IDS && last.id % 4096 < published.len() as u64 {
            writes.push(Write::Prune(last.id - RETAINED_EVENT_IDS));
        }
    }
    if !writes.is_empty() || !pending.is_empty() {
        pending.apply(store, writes);
    }
    // After the round's whole messages, which drop the parts they hold.
    for id in order {
        for (seq, part) in parts.remove(&id).unwrap_or_default() {
            store.hold_reply_part(&id, seq, part);
        }
    }
    match durability {
        Durability::Memory => {}
        Durability::Flush => {
            if let Err(err) = store.flush_blocking() {
                tracing::error!("could not write to disk (flush): {err}");
            }
        }
        Durability::Checkpoint => checkpoint(store, pending),
    }
    published
}

/// Puts first the deltas of threads with nothing else in the round, renumbered so that
/// ids still rise in the order events are published: those can go out before the rest
/// of the round reaches the disk. Returns (the deltas, the rest in its order).
pub(super) fn free_deltas_first(work: Vec<Work>) -> (Vec<Work>, Vec<Work>) {
    let held_back: HashSet<String> = work
        .iter()
        .filter_map(|item| match item {
            Work::Message(message) => Some(message.thread_id.clone()),
            Work::Event(event) if !event.payload.kind().is_delta() => {
                Some(event.thread_id().to_string())
            }
            Work::Event(_) => None,
        })
        .collect();
    let ids: Vec<u64> = work
        .iter()
        .filter_map(|item| match item {
            Work::Event(event) => Some(event.id),
            Work::Message(_) => None,
        })
        .collect();
    let (mut free, mut rest): (Vec<Work>, Vec<Work>) = work.into_iter().partition(
        |item| matches!(item, Work::Event(event) if !held_back.contains(event.thread_id())),
    );
    let mut ids = ids.into_iter();
    for item in free.iter_mut().chain(rest.iter_mut()) {
        if let Work::Event(event) = item {
            event.id = ids.next().unwrap_or(event.id);
        }
    }
    (free, rest)
}

/// Makes what was published so far durable: writes kept for the database first, then the
/// held reply parts (after them, as a kept whole message would drop parts written
/// before it), then a flush.
pub(super) fn checkpoint(store: &Store, pending: &mut Pending) {
    pending.retry(store);
    if pending.is_empty() {
        pending.parts_waiting = match store.write_held_parts() {
            Ok(()) => false,
            Err(StoreError::Unavailable(reason)) => {
                tracing::warn!("reply parts wait for the next checkpoint: {reason}");
                true
            }
            Err(err) => {
                tracing::error!("could not write reply parts: {err}");
                false
            }
        };
    }
    if let Err(err) = store.flush_blocking() {
        tracing::error!("could not write to disk (flush): {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentdeck_model::Event;
    use agentdeck_model::event::{Done, TextDelta};

    fn event(id: u64, payload: EventPayload) -> Work {
        Work::Event(Event {
            id,
            project_id: "p".into(),
            assistant_id: None,
            payload,
        })
    }

    fn delta(id: u64, thread: &str, text: &str) -> Work {
        event(
            id,
            EventPayload::MessageDelta(TextDelta {
                thread_id: thread.into(),
                message_id: format!("{thread}-reply"),
                delta: text.into(),
            }),
        )
    }

    /// (id, thread, delta text or "done") of each event, in order.
    fn shape(work: &[Work]) -> Vec<(u64, String, String)> {
        work.iter()
            .filter_map(|item| match item {
                Work::Event(event) => Some((
                    event.id,
                    event.thread_id().to_string(),
                    match &event.payload {
                        EventPayload::MessageDelta(d) => d.delta.clone(),
                        _ => "done".into(),
                    },
                )),
                Work::Message(_) => None,
            })
            .collect()
    }

    #[test]
    fn deltas_of_threads_with_nothing_else_go_first_with_ids_still_rising() {
        let work = vec![
            delta(11, "a", "1"),
            delta(12, "b", "2"),
            event(
                13,
                EventPayload::Done(Done {
                    thread_id: "b".into(),
                    message_id: "b-reply".into(),
                }),
            ),
            delta(14, "a", "3"),
            delta(15, "b", "4"),
        ];
        let (free, rest) = free_deltas_first(work);
        let owned = |v: Vec<(u64, &str, &str)>| -> Vec<(u64, String, String)> {
            v.into_iter()
                .map(|(id, t, d)| (id, t.to_string(), d.to_string()))
                .collect()
        };
        // Thread a has only deltas: they go out first. Thread b keeps its order around
        // its `done`, after them; the ids are the round's own, rising in that order.
        assert_eq!(shape(&free), owned(vec![(11, "a", "1"), (12, "a", "3")]));
        assert_eq!(
            shape(&rest),
            owned(vec![(13, "b", "2"), (14, "b", "done"), (15, "b", "4")])
        );
    }
}
