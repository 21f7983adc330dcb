//! Writing one commit round to the store.

use super::{Published, RETAINED_EVENT_IDS, Work};
use crate::model::{EventKind, EventPayload, LoggedData, LoggedEvent, MessageStatus};
use crate::sse::frame;
use crate::store::{ReplyPart, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Whether a round waits for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Flush {
    Now,
    AtCheckpoint,
}

/// Writes one round: whole messages, reply parts (adjacent fragments merged), structural
/// events; flushes if asked; returns the round's events ready to publish.
pub(super) fn write_round(store: &Store, work: Vec<Work>, flush: Flush) -> Vec<Arc<Published>> {
    let mut published = Vec::with_capacity(work.len());
    // Fragments waiting to be appended, per message: (seq, part).
    let mut parts: HashMap<String, Vec<(u64, ReplyPart)>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let report = |what: &str, err: crate::store::StoreError| {
        tracing::error!("could not write {what}: {err}");
    };
    for item in work {
        match item {
            Work::Message(message) => {
                // Earlier fragments are inside the whole message.
                parts.remove(&message.id);
                if let Err(err) = store.put_message(&message) {
                    report("a message", err);
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
                        if let Err(err) = store.log_event(&logged) {
                            report("an event", err);
                        }
                        if let (EventKind::MessageCreated, Some(mid)) = (event.kind(), &message_id)
                        {
                            if let Err(err) = store.note_message_start(mid, event.id) {
                                report("a message start", err);
                            }
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
            if let Err(err) = store.append_reply_part(&id, seq, &part) {
                report("a reply part", err);
            }
        }
    }
    if let Some(last) = published.last() {
        if last.id > RETAINED_EVENT_IDS && last.id % 4096 < published.len() as u64 {
            if let Err(err) = store.prune_events_before(last.id - RETAINED_EVENT_IDS) {
                report("the pruned log", err);
            }
        }
    }
    if flush == Flush::Now {
        if let Err(err) = store.flush_blocking() {
            report("to disk (flush)", err);
        }
    }
    published
}
