//! The event log and its live fan-out, with one rule: nothing that reports a change is
//! shown before it is durable, and streamed text is durable within one checkpoint.
//!
//! `emit` gives an event the next id and queues it with the writes it stands for; a
//! committer task writes each round of queued work to sled (structural events to the
//! durable log, streamed fragments as parts of their reply, whole messages) and then
//! publishes: each event is serialised into its SSE frame once, kept in an in-memory ring
//! for resumes and broadcast to subscribers in batches.
//!
//! Durability, the checkpoint rule: a round holding anything but streamed fragments
//! (a message created or completed, a tool call, a status, a caller waiting on `sync`) is
//! flushed to disk before it is published, so nothing reported done or created can be
//! taken back by a crash. Rounds of fragments alone are written and published at once
//! and flushed by the next checkpoint, at most [`CHECKPOINT_INTERVAL`] later: a crash
//! loses at most the text streamed in that last interval (the reply comes back
//! `incomplete` with the text up to the checkpoint). Readers of messages hold
//! [`EventBus::committed_view`], so an API answer never shows a half-written round.
//!
//! Resuming (`Last-Event-ID`): ids still in the ring replay exactly. Older ones replay the
//! structural events from the durable log; a reply that was still streaming then comes
//! as a snapshot (a `message.created` without an id, the message as far as it got) before
//! the live tail, and a whole reply replayed from the log gets its text as one delta.

use crate::model::event::TextDelta;
use crate::model::{
    Event, EventKind, EventPayload, LoggedData, LoggedEvent, Message, MessageStatus, ToolCallStatus,
};
use crate::store::{ReplyPart, Store, StoreResult};
use bytes::Bytes;
use futures::Stream;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, RwLock, broadcast, watch};
use tokio_util::sync::CancellationToken;

/// Batches of published events buffered per subscriber before it counts as lagging.
const BROADCAST_CAPACITY: usize = 1024;
/// Durable events read per step of a replay.
const REPLAY_BATCH: usize = 512;
/// While only deltas keep coming, at most one commit round per this interval; anything
/// else (a message, a status, a caller waiting on `sync`) is committed at once.
const COMMIT_INTERVAL: Duration = Duration::from_millis(40);
/// Streamed fragments reach the disk at most this long after they were published (the
/// flush itself adds its few milliseconds): the most text a crash can take back.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);
/// Recent events kept in memory for exact resumes, by count and by frame bytes.
pub const RING_EVENTS: usize = 16_384;
const RING_BYTES: usize = 8 * 1024 * 1024;
/// Event ids are reserved durably in blocks of this many.
const ID_BLOCK: u64 = 100_000;
/// The retention rule: the durable log keeps the structural events among the newest
/// this many ids (deltas take ids too, so this is an upper bound on what is kept).
pub const RETAINED_EVENT_IDS: u64 = 5_000_000;

/// One published event: where it belongs and its SSE frame, serialised once.
#[derive(Debug)]
pub struct Published {
    /// 0 for a snapshot, which carries no `id:` line (resuming from it is not possible).
    pub id: u64,
    pub kind: EventKind,
    pub project_id: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    pub message_id: Option<String>,
    pub frame: Bytes,
    /// A `message.created` of a reply that will stream (tracked until it completes).
    pub opens_reply: bool,
}

use crate::sse::frame;

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

    /// An event made for one subscriber (a snapshot), without an id; its thread and
    /// message come from the payload.
    pub fn unnumbered(
        project_id: &str,
        assistant_id: Option<&str>,
        payload: &EventPayload,
    ) -> Published {
        Published {
            id: 0,
            kind: payload.kind(),
            project_id: project_id.to_string(),
            thread_id: payload.thread_id().to_string(),
            assistant_id: assistant_id.map(str::to_string),
            message_id: payload.message_id().map(str::to_string),
            frame: frame(0, payload.name(), &payload.to_json()),
            opens_reply: false,
        }
    }
}

/// A subscription to the committed rounds of events.
pub type Rounds = broadcast::Receiver<Arc<Vec<Arc<Published>>>>;

#[derive(Clone)]
pub struct EventBus {
    inner: Arc<BusInner>,
}

enum Work {
    Event(Event),
    /// A message written whole (its parts so far are folded into it).
    Message(Message),
}

struct BusState {
    /// The last id handed out.
    last_id: u64,
    /// Ids up to here are reserved durably.
    reserved: u64,
    /// Events the ring keeps at most.
    ring_events: usize,
    queue: Vec<Work>,
    /// Work items queued so far; the committer reports how many it made durable.
    queued: u64,
    /// The queue holds more than deltas: commit without waiting out the interval.
    urgent: bool,
    ring: VecDeque<Arc<Published>>,
    ring_bytes: usize,
    /// Every published event with an id above this is in the ring.
    ring_floor: u64,
    /// The last id published.
    published: u64,
    /// Replies published as created and not yet completed, with their creation id.
    open_replies: HashMap<String, (u64, Arc<Published>)>,
}

struct BusInner {
    store: Store,
    state: Mutex<BusState>,
    work: Notify,
    tx: broadcast::Sender<Arc<Vec<Arc<Published>>>>,
    durable: watch::Sender<u64>,
    /// Held for writing while a round is written, flushed and published.
    gate: RwLock<()>,
    /// Cancelled at shutdown: every subscription ends, so clients reconnect elsewhere.
    closed: CancellationToken,
    committer_done: Notify,
    committer_stopped: std::sync::atomic::AtomicBool,
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
    pub fn matches(&self, event: &Published) -> bool {
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

/// Where an event belongs: its project, thread, assistant and message.
#[derive(Debug, Clone)]
pub struct EventScope {
    pub project_id: String,
    pub thread_id: String,
    pub assistant_id: Option<String>,
    pub message_id: Option<String>,
}

fn lock(state: &Mutex<BusState>) -> std::sync::MutexGuard<'_, BusState> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl EventBus {
    /// The bus of a store, with its committer task (needs a tokio runtime).
    pub fn new(store: Store, ring_events: usize) -> StoreResult<Self> {
        let floor = store.event_id_floor()?;
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (durable, _) = watch::channel(0);
        let bus = EventBus {
            inner: Arc::new(BusInner {
                store,
                state: Mutex::new(BusState {
                    last_id: floor,
                    reserved: floor,
                    ring_events: ring_events.max(1),
                    queue: Vec::new(),
                    queued: 0,
                    urgent: false,
                    ring: VecDeque::new(),
                    ring_bytes: 0,
                    ring_floor: floor,
                    published: floor,
                    open_replies: HashMap::new(),
                }),
                work: Notify::new(),
                tx,
                durable,
                gate: RwLock::new(()),
                closed: CancellationToken::new(),
                committer_done: Notify::new(),
                committer_stopped: std::sync::atomic::AtomicBool::new(false),
            }),
        };
        let committer = bus.clone();
        tokio::spawn(async move { committer.commit_loop().await });
        Ok(bus)
    }

    /// Queues an event; it is published once durable. Returns its id.
    pub fn emit(&self, scope: &EventScope, payload: EventPayload) -> u64 {
        let mut state = lock(&self.inner.state);
        state.last_id += 1;
        let id = state.last_id;
        if id > state.reserved {
            let upto = id + ID_BLOCK;
            match self.inner.store.reserve_event_ids(upto) {
                Ok(()) => state.reserved = upto,
                Err(err) => tracing::error!("could not reserve event ids: {err}"),
            }
        }
        // Wake the committer only when this changes what it does: the first work after
        // a quiet spell, or the first item that cannot wait. A delta joining a queue the
        // committer is already pacing costs no wake-up.
        let urgent = !payload.kind().is_delta();
        let wake = state.queue.is_empty() || (urgent && !state.urgent);
        state.urgent |= urgent;
        state.queue.push(Work::Event(Event {
            id,
            project_id: scope.project_id.clone(),
            assistant_id: scope.assistant_id.clone(),
            payload,
        }));
        state.queued += 1;
        drop(state);
        if wake {
            self.inner.work.notify_one();
        }
        id
    }

    /// Queues a whole write of a message, in order with the events around it.
    pub fn put_message(&self, message: Message) {
        let mut state = lock(&self.inner.state);
        state.queue.push(Work::Message(message));
        state.queued += 1;
        state.urgent = true;
        drop(state);
        self.inner.work.notify_one();
    }

    /// Waits until everything queued before this call is durable and published.
    pub async fn sync(&self) {
        let target = {
            let mut state = lock(&self.inner.state);
            state.urgent = true;
            state.queued
        };
        self.inner.work.notify_one();
        let mut rx = self.inner.durable.subscribe();
        let stopped = self.inner.committer_done.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        if self.committer_stopped() {
            return;
        }
        tokio::select! {
            _ = rx.wait_for(|done| *done >= target) => {}
            // A stopped committer publishes nothing more: do not wait for it.
            _ = stopped => {}
        }
    }

    /// Holds off commit rounds while a caller reads messages, so what it reads is durable.
    pub async fn committed_view(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.inner.gate.read().await
    }

    /// Event streams subscribed now.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// The last id handed out: a listing read now is current as of it.
    pub fn last_id(&self) -> u64 {
        lock(&self.inner.state).last_id
    }

    /// The oldest id a replay of the durable log can still start from.
    pub fn retained_from(&self) -> u64 {
        self.inner
            .store
            .first_logged_event_id()
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// Ends every subscription and stops the committer once the queue is written.
    pub async fn close(&self) {
        let stopped = self.inner.committer_done.notified();
        tokio::pin!(stopped);
        stopped.as_mut().enable();
        self.inner.closed.cancel();
        self.inner.work.notify_one();
        if !self.committer_stopped() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stopped).await;
        }
    }

    fn committer_stopped(&self) -> bool {
        self.inner
            .committer_stopped
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Live batches, for waiting on one event inside the runtime.
    pub fn receiver(&self) -> Rounds {
        self.inner.tx.subscribe()
    }

    async fn commit_loop(self) {
        let mut last_round: Option<tokio::time::Instant> = None;
        // Rounds written but not yet flushed: since when, and the work count they cover.
        let mut unflushed: Option<(tokio::time::Instant, u64)> = None;
        loop {
            let closing = self.inner.closed.is_cancelled();
            let (has_work, waited_on) = {
                let mut state = lock(&self.inner.state);
                let waited_on = state.queue.is_empty() && std::mem::take(&mut state.urgent);
                (!state.queue.is_empty(), waited_on)
            };
            if !has_work {
                if let Some((since, queued)) = unflushed {
                    // The stream paused or ended: the checkpoint still comes on time, and
                    // at once for a caller waiting on `sync`.
                    let deadline = since + CHECKPOINT_INTERVAL;
                    if closing || waited_on || tokio::time::Instant::now() >= deadline {
                        self.checkpoint(queued).await;
                        unflushed = None;
                        continue;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = self.inner.work.notified() => {}
                        _ = self.inner.closed.cancelled() => {}
                    }
                    continue;
                }
                if closing {
                    break;
                }
                tokio::select! {
                    _ = self.inner.work.notified() => {}
                    _ = self.inner.closed.cancelled() => {}
                }
                continue;
            }
            // Pace rounds of deltas: a stream then costs one round per interval, not one
            // per delta. Anything else goes at once, and so does the first write after a
            // quiet spell.
            if let Some(at) = last_round {
                let deadline = at + COMMIT_INTERVAL;
                while !closing
                    && !lock(&self.inner.state).urgent
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = self.inner.work.notified() => {}
                    }
                }
            }
            let now = tokio::time::Instant::now();
            let checkpoint_due =
                closing || unflushed.is_some_and(|(since, _)| now >= since + CHECKPOINT_INTERVAL);
            let (flushed, queued) = self.commit_round(checkpoint_due).await;
            unflushed = if flushed {
                None
            } else {
                Some((unflushed.map_or(now, |(since, _)| since), queued))
            };
            last_round = Some(tokio::time::Instant::now());
        }
        self.inner
            .committer_stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.committer_done.notify_waiters();
    }

    /// Writes and publishes the queued work. A round of streamed fragments alone is
    /// written on this task and left to the next checkpoint, unless `flush` asks for it;
    /// any other round is written and flushed on the blocking pool before it is
    /// published. Returns whether the round was flushed, and the work count it covers.
    async fn commit_round(&self, flush: bool) -> (bool, u64) {
        let (work, queued, urgent) = {
            let mut state = lock(&self.inner.state);
            let urgent = std::mem::take(&mut state.urgent);
            (std::mem::take(&mut state.queue), state.queued, urgent)
        };
        let flush = flush || urgent;
        let gate = self.inner.gate.write().await;
        let published = if flush {
            let store = self.inner.store.clone();
            let written =
                tokio::task::spawn_blocking(move || write_round(&store, work, Flush::Now)).await;
            match written {
                Ok(published) => published,
                Err(err) => {
                    tracing::error!("commit round failed: {err}");
                    Vec::new()
                }
            }
        } else {
            // Small writes into sled's in-memory log: no disk wait, no thread hop.
            write_round(&self.inner.store, work, Flush::AtCheckpoint)
        };
        if !published.is_empty() {
            self.publish(published);
        }
        drop(gate);
        if flush {
            self.inner.durable.send_replace(queued);
        }
        (flush, queued)
    }

    /// Flushes the rounds written since the last flush; `queued` is the work they cover.
    async fn checkpoint(&self, queued: u64) {
        let store = self.inner.store.clone();
        match tokio::task::spawn_blocking(move || store.flush_blocking()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!("could not write to disk (flush): {err}"),
            Err(err) => tracing::error!("checkpoint failed: {err}"),
        }
        self.inner.durable.send_replace(queued);
    }

    fn publish(&self, published: Vec<Arc<Published>>) {
        let mut state = lock(&self.inner.state);
        for event in &published {
            match event.kind {
                EventKind::MessageCreated if event.opens_reply => {
                    if let Some(id) = &event.message_id {
                        state
                            .open_replies
                            .entry(id.clone())
                            .or_insert((event.id, event.clone()));
                    }
                }
                EventKind::MessageCompleted => {
                    if let Some(id) = &event.message_id {
                        state.open_replies.remove(id);
                    }
                }
                _ => {}
            }
            state.published = event.id;
            state.ring_bytes += event.frame.len();
            state.ring.push_back(event.clone());
            while state.ring.len() > state.ring_events || state.ring_bytes > RING_BYTES {
                let Some(old) = state.ring.pop_front() else {
                    break;
                };
                state.ring_bytes -= old.frame.len();
                state.ring_floor = old.id;
            }
        }
        // Sent under the state lock, so a subscriber that copies the ring under it sees
        // each event exactly once: in its copy, or in a batch after it.
        let _ = self.inner.tx.send(Arc::new(published));
    }

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
        let ring: Vec<Arc<Published>> = state
            .ring
            .iter()
            .filter(|e| e.id > start)
            .cloned()
            .collect();
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

/// Whether a round waits for the disk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    Now,
    AtCheckpoint,
}

/// Writes one round: whole messages, reply parts (adjacent fragments merged), structural
/// events; flushes if asked; returns the round's events ready to publish.
fn write_round(store: &Store, work: Vec<Work>, flush: Flush) -> Vec<Arc<Published>> {
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
            if message.role == crate::model::Role::Assistant {
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
                    crate::model::event::ToolCallCreated {
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
                crate::model::event::MemoryUpdated {
                    thread_id: thread.id.clone(),
                    memory: crate::model::memory::MemoryView::new(
                        &thread.id,
                        &config,
                        state.as_ref(),
                    ),
                },
            )))
        }
    }
}
