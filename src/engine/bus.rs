//! The event log and its live fan-out.
//!
//! Every event gets the next id, is appended to the log in sled and broadcast, all under one
//! lock so that ids reach subscribers in order. A subscriber that resumes (Last-Event-ID) or
//! falls behind the broadcast buffer reads the gap from the log, so it sees every event once.

use crate::model::{Event, EventKind};
use crate::store::Store;
use futures::Stream;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

const BROADCAST_CAPACITY: usize = 4096;
const REPLAY_BATCH: usize = 512;

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

struct BusInner {
    store: Store,
    tx: broadcast::Sender<Arc<Event>>,
    last_id: Mutex<u64>,
    /// Cancelled at shutdown: every subscription ends, so clients reconnect elsewhere.
    closed: tokio_util::sync::CancellationToken,
}

/// Which events a subscriber wants; `None` fields match everything.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub project_id: Option<String>,
    pub thread_id: Option<String>,
    pub assistant_id: Option<String>,
    pub message_id: Option<String>,
}

impl EventFilter {
    pub fn matches(&self, event: &Event) -> bool {
        self.project_id
            .as_ref()
            .is_none_or(|p| *p == event.project_id)
            && self
                .thread_id
                .as_ref()
                .is_none_or(|t| *t == event.thread_id)
            && self
                .assistant_id
                .as_ref()
                .is_none_or(|a| event.assistant_id.as_ref() == Some(a))
            && self
                .message_id
                .as_ref()
                .is_none_or(|m| event.message_id.as_ref() == Some(m))
    }
}

/// Where an event belongs: its project, thread, assistant and reply message.
#[derive(Debug, Clone)]
pub struct EventScope {
    pub project_id: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    pub message_id: Option<String>,
}

impl EventBus {
    pub fn new(store: Store) -> crate::store::StoreResult<Self> {
        let last_id = store.last_event_id()?;
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Ok(EventBus {
            inner: Arc::new(BusInner {
                store,
                tx,
                last_id: Mutex::new(last_id),
                closed: tokio_util::sync::CancellationToken::new(),
            }),
        })
    }

    pub fn emit(&self, kind: EventKind, scope: &EventScope, mut data: Value) -> Arc<Event> {
        if let Value::Object(map) = &mut data {
            map.entry("thread_id")
                .or_insert_with(|| Value::String(scope.thread_id.clone()));
        }
        let mut last_id = self
            .inner
            .last_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *last_id += 1;
        let event = Arc::new(Event {
            id: *last_id,
            kind,
            project_id: scope.project_id.clone(),
            thread_id: scope.thread_id.clone(),
            assistant_id: scope.assistant_id.clone(),
            message_id: scope.message_id.clone(),
            data,
        });
        if let Err(err) = self.inner.store.append_event(&event) {
            // Live subscribers still get it; only a later resume could miss it.
            tracing::error!("could not log event {}: {err}", event.id);
        }
        let _ = self.inner.tx.send(event.clone());
        event
    }

    pub fn last_id(&self) -> u64 {
        *self
            .inner
            .last_id
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ends every subscription (the runtime is stopping).
    pub fn close(&self) {
        self.inner.closed.cancel();
    }

    /// A live receiver, for waiting on one event inside the runtime.
    pub fn receiver(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.tx.subscribe()
    }

    /// Logged events matching `filter` with ids in `after+1..=upto`; never waits.
    pub fn replay(
        &self,
        filter: EventFilter,
        after: u64,
        upto: u64,
    ) -> impl Stream<Item = Arc<Event>> + Send + use<> {
        let store = self.inner.store.clone();
        async_stream::stream! {
            let mut last = after;
            while last < upto {
                let batch = match store.events_after(last, REPLAY_BATCH) {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::error!("event replay failed: {err}");
                        break;
                    }
                };
                if batch.is_empty() {
                    break;
                }
                for event in batch {
                    if event.id > upto {
                        return;
                    }
                    last = event.id;
                    if filter.matches(&event) {
                        yield Arc::new(event);
                    }
                }
            }
        }
    }

    /// Events matching `filter` with ids above `after` (or from now, if `None`): first
    /// those already logged, then live ones, without gaps or duplicates.
    pub fn subscribe(
        &self,
        filter: EventFilter,
        after: Option<u64>,
    ) -> impl Stream<Item = Arc<Event>> + Send + use<> {
        let bus = self.clone();
        async_stream::stream! {
            let mut rx = bus.inner.tx.subscribe();
            let mut last = after.unwrap_or_else(|| bus.last_id());
            let mut replay = true;
            loop {
                if replay {
                    loop {
                        let batch = match bus.inner.store.events_after(last, REPLAY_BATCH) {
                            Ok(batch) => batch,
                            Err(err) => {
                                tracing::error!("event replay failed: {err}");
                                Vec::new()
                            }
                        };
                        if batch.is_empty() {
                            break;
                        }
                        for event in batch {
                            last = event.id;
                            if filter.matches(&event) {
                                yield Arc::new(event);
                            }
                        }
                    }
                    replay = false;
                }
                let received = tokio::select! {
                    biased;
                    _ = bus.inner.closed.cancelled() => break,
                    received = rx.recv() => received,
                };
                match received {
                    Ok(event) => {
                        if event.id > last {
                            last = event.id;
                            if filter.matches(&event) {
                                yield event;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => replay = true,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        }
    }
}
