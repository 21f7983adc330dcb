//! Writing one commit round to the store.

use super::{Published, RETAINED_EVENT_IDS, Work};
use agentdeck_model::sse::frame;
use agentdeck_model::{EventKind, EventPayload, LoggedData, LoggedEvent, Message, MessageStatus};
use agentdeck_store::{ReplyPart, Store, StoreError, StoreResult};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// Whether a round waits for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    Now,
    AtCheckpoint,
}

/// Writes that failed because the database was away (PostgreSQL unreachable), kept in
/// order to be made again by the next rounds; nothing a round wrote after them is tried
/// before they are. At most [`MAX_PENDING`] are kept.
#[derive(Default)]
pub(super) struct Pending {
    writes: VecDeque<Write>,
}

/// Writes kept while the database is away; past this the oldest are dropped, loudly.
const MAX_PENDING: usize = 100_000;

enum Write {
    Message(Box<Message>),
    Event(LoggedEvent),
    Start(String, u64),
    Part(String, u64, ReplyPart),
    Prune(u64),
}

impl Write {
    fn apply(&self, store: &Store) -> StoreResult<()> {
        match self {
            Write::Message(message) => store.put_message(message),
            Write::Event(event) => store.log_event(event),
            Write::Start(message_id, id) => store.note_message_start(message_id, *id),
            Write::Part(message_id, seq, part) => store.append_reply_part(message_id, *seq, part),
            Write::Prune(keep_from) => store.prune_events_before(*keep_from).map(drop),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Write::Message(_) => "a message",
            Write::Event(_) => "an event",
            Write::Start(..) => "a message start",
            Write::Part(..) => "a reply part",
            Write::Prune(_) => "the pruned log",
        }
    }
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
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
            // The whole message holds its earlier writes and parts.
            self.writes.retain(|kept| match kept {
                Write::Message(m) => m.id != message.id,
                Write::Part(id, ..) => *id != message.id,
                _ => true,
            });
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

/// Writes one round: whole messages, reply parts (adjacent fragments merged), structural
/// events; flushes if asked; returns the round's events ready to publish. Writes the
/// database could not take now wait in `pending` (made again first, next round).
pub(super) fn write_round(
    store: &Store,
    work: Vec<Work>,
    flush: Flush,
    pending: &mut Pending,
) -> Vec<Arc<Published>> {
    let mut writes = Vec::with_capacity(work.len());
    let mut published = Vec::with_capacity(work.len());
    // Fragments waiting to be appended, per message: (seq, part).
    let mut parts: HashMap<String, Vec<(u64, ReplyPart)>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut message_writes: HashMap<String, usize> = HashMap::new();
    let report = |what: &str, err: agentdeck_store::StoreError| {
        tracing::error!("could not write {what}: {err}");
    };
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
                        let logged = LoggedEvent {
                            id: event.id,
                            event: name.clone(),
                            project_id: event.project_id.clone(),
                            thread_id: thread_id.clone(),
                            assistant_id: event.assistant_id.clone(),
                            message_id: message_id.clone(),
                            data: LoggedData::of(&event.payload, &data),
                        };
                        writes.push(Write::Event(logged));
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
    for id in order {
        for (seq, part) in parts.remove(&id).unwrap_or_default() {
            writes.push(Write::Part(id.clone(), seq, part));
        }
    }
    if let Some(last) = published.last() {
        if last.id > RETAINED_EVENT_IDS && last.id % 4096 < published.len() as u64 {
            writes.push(Write::Prune(last.id - RETAINED_EVENT_IDS));
        }
    }
    pending.apply(store, writes);
    if flush == Flush::Now {
        if let Err(err) = store.flush_blocking() {
            report("to disk (flush)", err);
        }
    }
    published
}
