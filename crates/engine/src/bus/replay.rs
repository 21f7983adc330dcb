//! Reading the bus back: subscriptions that start from an id (the durable log, then
//! snapshots of replies still streaming, then the ring, then the live tail, without gaps
//! or duplicates), and logged events rebuilt into their payloads.

use super::{EventBus, EventFilter, Published, REPLAY_BATCH, lock};
use agentdeck_model::event::TextDelta;
use agentdeck_model::sse::frame;
use agentdeck_model::{
    EventKind, EventPayload, LoggedData, LoggedEvent, MessageStatus, ToolCallStatus,
};
use agentdeck_store::Store;
use futures::Stream;
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast;

impl Published {
    /// A logged event as it goes on the wire again: its JSON as written, or the payload
    /// rebuilt from what it refers to. `None` if that is gone.
    fn from_logged(logged: &LoggedEvent, store: &Store) -> Option<Published> {
        let data = match &logged.data {
            LoggedData::Json(json) => json.clone(),
            reference => rebuild(logged, reference, store)?.to_json(),
        };
        Some(Published {
            id: logged.id,
            kind: EventKind::from_name(&logged.event),
            project_id: logged.project_id.clone(),
            thread_id: logged.thread_id.clone(),
            assistant_id: logged.assistant_id.clone(),
            message_id: logged.message_id.clone(),
            frame: frame(logged.id, &logged.event, &data),
            opens_reply: false,
        })
    }
}

impl EventBus {
    /// Events matching `filter` with ids above `after` (or from now, if `None`): first
    /// those already published, then live ones, without gaps or duplicates.
    pub fn subscribe(
        &self,
        filter: EventFilter,
        after: Option<u64>,
    ) -> impl Stream<Item = Vec<Arc<Published>>> + Send + use<> {
        self.stream(filter, after, true)
    }

    /// What was published after `after`, then the end: no live tail.
    pub fn replay(
        &self,
        filter: EventFilter,
        after: u64,
    ) -> impl Stream<Item = Vec<Arc<Published>>> + Send + use<> {
        self.stream(filter, Some(after), false)
    }

    fn stream(
        &self,
        filter: EventFilter,
        after: Option<u64>,
        live: bool,
    ) -> impl Stream<Item = Vec<Arc<Published>>> + Send + use<> {
        let bus = self.clone();
        async_stream::stream! {
            let mut last = after;
            'resync: loop {
                let catch_up = bus.catch_up(&filter, last).await;
                let mut rx = catch_up.rx;
                // The durable log first (older than the ring), in batches.
                let mut from = catch_up.log_from;
                let mut compaction = Compaction::new(bus.inner.store.clone());
                while from < catch_up.log_upto {
                    let batch = match bus.inner.store.logged_events(from, catch_up.log_upto, REPLAY_BATCH) {
                        Ok(batch) => batch,
                        Err(err) => {
                            tracing::error!("event replay failed: {err}");
                            break;
                        }
                    };
                    let Some(end) = batch.last().map(|e| e.id) else { break };
                    from = end;
                    let mut out = Vec::new();
                    for logged in &batch {
                        let Some(event) = Published::from_logged(logged, &bus.inner.store) else {
                            continue;
                        };
                        if filter.matches(&event) {
                            compaction.pass(Arc::new(event), &mut out);
                        }
                    }
                    if !out.is_empty() {
                        yield out;
                    }
                }
                if !catch_up.snapshots.is_empty() {
                    yield catch_up.snapshots.clone();
                }
                let skip: HashSet<&str> = catch_up.snapshot_ids.iter().map(String::as_str).collect();
                let keep = |event: &Published| {
                    filter.matches(event)
                        && !(is_content(event.kind)
                            && event.message_id.as_deref().is_some_and(|m| skip.contains(m)))
                };
                let mut ring = Vec::new();
                for event in catch_up.ring.into_iter().filter(|e| keep(e)) {
                    compaction.pass(event, &mut ring);
                }
                if !ring.is_empty() {
                    yield ring;
                }
                if !live {
                    break 'resync;
                }
                last = Some(catch_up.upto);
                loop {
                    let received = tokio::select! {
                        biased;
                        _ = bus.inner.closed.cancelled() => break 'resync,
                        received = rx.recv() => received,
                    };
                    match received {
                        Ok(batch) => {
                            let upto = last.unwrap_or(0);
                            let out: Vec<Arc<Published>> = batch
                                .iter()
                                .filter(|e| e.id > upto && filter.matches(e))
                                .cloned()
                                .collect();
                            if let Some(end) = batch.last() {
                                last = Some(end.id.max(upto));
                            }
                            if !out.is_empty() {
                                yield out;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue 'resync,
                        Err(broadcast::error::RecvError::Closed) => break 'resync,
                    }
                }
            }
        }
    }

    /// What a subscriber starting after `after` must be sent before the live tail.
    async fn catch_up(&self, filter: &EventFilter, after: Option<u64>) -> CatchUp {
        let _view = self.inner.gate.read().await;
        let state = lock(&self.inner.state);
        let rx = self.inner.tx.subscribe();
        let upto = state.published;
        let start = after.unwrap_or(upto).min(upto);
        // The ring's ids rise in the order it was published: the events after `start`
        // are its tail, found by halving, not by visiting all of it under the lock.
        let from = state.ring.partition_point(|e| e.id <= start);
        let ring: Vec<Arc<Published>> = state.ring.range(from..).cloned().collect();
        let floor = state.ring_floor;
        let mut catch_up = CatchUp {
            rx,
            log_from: start,
            log_upto: if start < floor { floor } else { start },
            snapshots: Vec::new(),
            snapshot_ids: Vec::new(),
            ring,
            upto,
        };
        if start < floor {
            // Deltas between `start` and the ring are gone: replies still streaming
            // come whole, as far as they got (durable and published: the gate is held).
            let open: Vec<(String, Arc<Published>)> = state
                .open_replies
                .iter()
                .filter(|(_, (created, event))| *created <= floor && filter.matches(event))
                .map(|(id, (_, event))| (id.clone(), event.clone()))
                .collect();
            drop(state);
            for (id, created) in open {
                match self.inner.store.message(&id) {
                    Ok(Some(message)) if message.status == MessageStatus::InProgress => {
                        let payload = EventPayload::message_created(&message);
                        catch_up.snapshots.push(Arc::new(Published::unnumbered(
                            &created.project_id,
                            created.assistant_id.as_deref(),
                            &payload,
                        )));
                        catch_up.snapshot_ids.push(id);
                    }
                    Ok(_) => {}
                    Err(err) => tracing::error!("snapshot of {id} failed: {err}"),
                }
            }
        }
        catch_up
    }
}

struct CatchUp {
    rx: broadcast::Receiver<Arc<Vec<Arc<Published>>>>,
    log_from: u64,
    log_upto: u64,
    snapshots: Vec<Arc<Published>>,
    snapshot_ids: Vec<String>,
    ring: Vec<Arc<Published>>,
    upto: u64,
}

/// Events that build a message's content, which a snapshot of it already contains.
fn is_content(kind: EventKind) -> bool {
    kind.is_delta() || matches!(kind, EventKind::ToolCallCreated | EventKind::ToolCallOutput)
}

/// The text of a completed message whose deltas a replay cannot send (they were
/// compacted into it), read from the store, as one unnumbered `message.delta`.
fn compacted_text(event: &Published, store: &Store) -> Option<Published> {
    let message = store.message(event.message_id.as_deref()?).ok()??;
    let text = message.text();
    if text.is_empty() {
        return None;
    }
    let payload = EventPayload::MessageDelta(TextDelta {
        thread_id: message.thread_id,
        message_id: message.id,
        delta: text,
    });
    Some(Published::unnumbered(
        &event.project_id,
        event.assistant_id.as_deref(),
        &payload,
    ))
}

/// Tracks, during a catch-up, which replies were shown from their creation and which
/// got deltas, so a reply whose deltas were compacted gets its text in one piece.
struct Compaction {
    store: Store,
    created: HashSet<String>,
    with_deltas: HashSet<String>,
}

impl Compaction {
    fn new(store: Store) -> Self {
        Compaction {
            store,
            created: HashSet::new(),
            with_deltas: HashSet::new(),
        }
    }

    fn pass(&mut self, event: Arc<Published>, out: &mut Vec<Arc<Published>>) {
        if let Some(id) = &event.message_id {
            match event.kind {
                EventKind::MessageCreated if event.id != 0 => {
                    self.created.insert(id.clone());
                }
                EventKind::MessageDelta => {
                    self.with_deltas.insert(id.clone());
                }
                EventKind::MessageCompleted
                    if self.created.contains(id) && !self.with_deltas.contains(id) =>
                {
                    if let Some(delta) = compacted_text(&event, &self.store) {
                        out.push(Arc::new(delta));
                    }
                }
                _ => {}
            }
        }
        out.push(event);
    }
}

/// The payload a logged reference stands for, read from the store now.
fn rebuild(logged: &LoggedEvent, reference: &LoggedData, store: &Store) -> Option<EventPayload> {
    let kind = EventKind::from_name(&logged.event);
    let message = || {
        let id = logged.message_id.as_deref()?;
        store.message(id).ok().flatten()
    };
    match reference {
        LoggedData::Json(json) => Some(EventPayload::decode(&logged.event, json)),
        LoggedData::Message => {
            let mut message = message()?;
            if kind == EventKind::MessageCompleted {
                return Some(EventPayload::message_completed(&message));
            }
            if message.role == agentdeck_model::Role::Assistant {
                // A reply as it was created: what it became streams after it.
                message.content = None;
                message.reasoning.clear();
                message.tool_calls.clear();
                message.status = MessageStatus::InProgress;
                message.usage = Default::default();
                message.error = None;
            }
            Some(EventPayload::message_created(&message))
        }
        LoggedData::ToolCall { call_id, status } => {
            let message = message()?;
            let mut call = message
                .tool_calls
                .iter()
                .find(|c| &c.id == call_id)?
                .clone();
            call.status = *status;
            if kind == EventKind::ToolCallCreated {
                call.output = None;
                call.latency_ms = None;
                return Some(EventPayload::ToolCallCreated(Box::new(
                    agentdeck_model::event::ToolCallCreated {
                        thread_id: message.thread_id.clone(),
                        message_id: message.id.clone(),
                        tool_call: call,
                    },
                )));
            }
            if !status.is_final() && *status != ToolCallStatus::InProgress {
                call.output = None;
            }
            Some(EventPayload::tool_call_output(&message, &call))
        }
        LoggedData::Thread { status } => {
            let mut thread = store.thread(&logged.thread_id)?;
            thread.status = *status;
            Some(if kind == EventKind::ThreadCreated {
                EventPayload::thread_created(&thread)
            } else {
                EventPayload::thread_updated(&thread)
            })
        }
        LoggedData::Memory => {
            let thread = store.thread(&logged.thread_id)?;
            let config = store
                .assistant(&thread.assistant_id)
                .ok()
                .flatten()
                .map(|a| a.memory)
                .unwrap_or_default();
            let state = store.memory(&thread.id).ok().flatten();
            Some(EventPayload::MemoryUpdated(Box::new(
                agentdeck_model::event::MemoryUpdated {
                    thread_id: thread.id.clone(),
                    memory: agentdeck_model::memory::MemoryView::new(
                        &thread.id,
                        &config,
                        state.as_ref(),
                    ),
                },
            )))
        }
    }
}
