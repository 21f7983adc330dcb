//! The event log and its live fan-out, on two clocks: streamed text goes out at once
//! and reaches the disk at checkpoints; anything else is durable before it is shown.
//!
//! `emit` gives an event the next id and queues it with the writes it stands for; a
//! committer task takes each round of queued work, writes it (structural events to the
//! durable log, whole messages; streamed fragments are held in memory as parts of their
//! reply) and then publishes: each event is serialised into its SSE frame once, kept in
//! an in-memory ring for resumes and broadcast to subscribers in batches.
//!
//! Durability, the checkpoint rule: a round holding anything but streamed fragments
//! (a message created or completed, a tool call, a status, a caller waiting on `sync`) is
//! written and flushed to disk before it is published, so nothing reported done or
//! created can be taken back by a crash. Rounds of fragments alone touch no storage: they
//! are published at most [`DELTA_INTERVAL`] after the first of them arrived, and their
//! parts are written and flushed by the next checkpoint, at most [`CHECKPOINT_INTERVAL`]
//! later. A crash loses at most the text streamed in that last interval (the reply comes
//! back `incomplete` with the text up to the checkpoint).
//! Readers of messages see the written parts joined with the held ones (the store folds
//! both), and hold [`EventBus::committed_view`], so an API answer never shows a
//! half-written round.
//!
//! Resuming (`Last-Event-ID`): ids still in the ring replay exactly. Older ones replay the
//! structural events from the durable log; a reply that was still streaming then comes
//! as a snapshot (a `message.created` without an id, the message as far as it got) before
//! the live tail, and a whole reply replayed from the log gets its text as one delta.

use super::cluster::Cluster;
use super::published::Published;
use agentdeck_model::sync::lock;
use agentdeck_model::{Event, EventKind, EventPayload, Message};
use agentdeck_store::{Store, StoreResult};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, RwLock, broadcast, watch};
use tokio_util::sync::CancellationToken;
use write::{Durability, Pending, write_round};

mod feed;
mod replay;
mod write;

/// Batches of published events buffered per subscriber before it counts as lagging.
const BROADCAST_CAPACITY: usize = 1024;
/// Durable events read per step of a replay.
const REPLAY_BATCH: usize = 512;
/// While only deltas keep coming, at most one round per this interval (the first after a
/// quiet spell goes at once): deltas this close share a batch, and a subscriber wakes once
/// for them. Anything else (a message, a status, a caller waiting on `sync`) goes at once.
/// 10 ms: at 500 streams, event latency p50 8.5 / p99 21.7 ms (5 ms: 4.7 / 20.4, but a
/// lone fast stream then costs 13 % more CPU; 20 ms: p50 14.5).
pub const DELTA_INTERVAL: Duration = Duration::from_millis(10);
/// Streamed fragments reach the disk at most this long after they were published (the
/// flush itself adds its few milliseconds): the most text a crash can take back.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);
/// Recent events kept in memory for exact resumes, by count and by frame bytes.
pub const RING_EVENTS: usize = 16_384;
const RING_BYTES: usize = 8 * 1024 * 1024;
/// Event ids are reserved durably in blocks of this many.
const ID_BLOCK: u64 = 100_000;
/// How often writes kept while the database is away are tried again.
const RETRY_INTERVAL: Duration = Duration::from_millis(500);
/// The retention rule: the durable log keeps the structural events among the newest
/// this many ids (deltas take ids too, so this is an upper bound on what is kept).
pub const RETAINED_EVENT_IDS: u64 = 5_000_000;

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
    /// In a cluster: the highest id this node knows was handed out (the floor of the
    /// next round's ids, should Redis have lost its counter).
    allocated: u64,
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
    /// Writes the database could not take yet (it was away), made again first.
    pending: Arc<Mutex<Pending>>,
    /// Whether every write so far reached the database (false while some wait).
    storage_ok: watch::Sender<bool>,
    /// With other nodes: rounds are numbered and streamed through Redis, and what is
    /// published comes from that stream (`cluster`).
    cluster: Option<Arc<Cluster>>,
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

impl EventBus {
    /// The bus of a store, with its committer task (needs a tokio runtime).
    pub fn new(
        store: Store,
        ring_events: usize,
        cluster: Option<Arc<Cluster>>,
    ) -> StoreResult<Self> {
        // Ids are handed out above every id used before (reserved ones included).
        let floor = store.event_id_floor()?;
        // What this node has published: in a cluster, the stream as it joined it (its
        // feed starts there); alone, everything so far.
        let published = match &cluster {
            Some(cluster) => cluster.top_at_start().max(store.last_logged_event_id()?),
            None => floor,
        };
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        let (durable, _) = watch::channel(0);
        let bus = EventBus {
            inner: Arc::new(BusInner {
                store,
                state: Mutex::new(BusState {
                    last_id: floor,
                    reserved: floor,
                    allocated: floor,
                    ring_events: ring_events.max(1),
                    queue: Vec::new(),
                    queued: 0,
                    urgent: false,
                    ring: VecDeque::new(),
                    ring_bytes: 0,
                    ring_floor: published,
                    published,
                    open_replies: HashMap::new(),
                }),
                work: Notify::new(),
                tx,
                durable,
                gate: RwLock::new(()),
                closed: CancellationToken::new(),
                committer_done: Notify::new(),
                committer_stopped: std::sync::atomic::AtomicBool::new(false),
                pending: Arc::new(Mutex::new(Pending::default())),
                storage_ok: watch::channel(true).0,
                cluster,
            }),
        };
        let committer = bus.clone();
        tokio::spawn(async move { committer.commit_loop().await });
        if let Some(cluster) = bus.inner.cluster.clone() {
            let feeder = bus.clone();
            tokio::spawn(async move { feeder.feed_from(cluster, published).await });
        }
        Ok(bus)
    }

    /// Queues an event; it is published once durable. Returns its id.
    pub fn emit(&self, scope: &EventScope, payload: EventPayload) -> u64 {
        let mut state = lock(&self.inner.state);
        state.last_id += 1;
        let id = state.last_id;
        // In a cluster the ids are the cluster's, given at commit (these are provisional).
        if id > state.reserved && self.inner.cluster.is_none() {
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
        // Nor for a database that is away: the caller learns it from `storage_ok`.
        let mut health = self.inner.storage_ok.subscribe();
        tokio::select! {
            _ = rx.wait_for(|done| *done >= target) => {}
            // A stopped committer publishes nothing more: do not wait for it.
            _ = stopped => {}
            _ = health.wait_for(|ok| !ok) => {}
        }
    }

    /// Holds off commit rounds while a caller reads messages, so what it reads is durable.
    pub async fn committed_view(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.inner.gate.read().await
    }

    /// Whether every write so far reached the database; false while some wait for it
    /// to come back.
    pub fn storage_ok(&self) -> bool {
        *self.inner.storage_ok.borrow()
    }

    /// Changes of [`EventBus::storage_ok`].
    pub fn storage_health(&self) -> watch::Receiver<bool> {
        self.inner.storage_ok.subscribe()
    }

    /// Event streams subscribed now.
    pub fn subscribers(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// The last id handed out: a listing read now is current as of it. In a cluster,
    /// the last id this node has published.
    pub fn last_id(&self) -> u64 {
        let state = lock(&self.inner.state);
        match self.inner.cluster {
            Some(_) => state.published,
            None => state.last_id,
        }
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
        // Parts held (or rounds written) since the last checkpoint: since when, and the
        // work count they cover.
        let mut unwritten: Option<(tokio::time::Instant, u64)> = None;
        loop {
            let closing = self.inner.closed.is_cancelled();
            let (has_work, waited_on) = {
                let mut state = lock(&self.inner.state);
                let waited_on = state.queue.is_empty() && std::mem::take(&mut state.urgent);
                (!state.queue.is_empty(), waited_on)
            };
            if !has_work {
                if let Some((since, queued)) = unwritten {
                    // The stream paused or ended: the checkpoint still comes on time, and
                    // at once for a caller waiting on `sync`.
                    let deadline = since + CHECKPOINT_INTERVAL;
                    if closing || waited_on || tokio::time::Instant::now() >= deadline {
                        self.checkpoint(queued).await;
                        unwritten = None;
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
                if !self.storage_ok() {
                    // Writes wait for the database: try them again twice a second.
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = self.inner.work.notified() => {}
                        _ = self.inner.closed.cancelled() => {}
                    }
                    self.commit_round(true).await;
                    unwritten = None;
                    continue;
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
                let deadline = at + DELTA_INTERVAL;
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
                closing || unwritten.is_some_and(|(since, _)| now >= since + CHECKPOINT_INTERVAL);
            let (round, queued) = self.commit_round(checkpoint_due).await;
            unwritten = match round {
                Durability::Checkpoint => None,
                // Its own writes are on disk; only held parts would still wait.
                Durability::Flush if !self.inner.store.has_held_parts() => None,
                _ => Some((unwritten.map_or(now, |(since, _)| since), queued)),
            };
            last_round = Some(tokio::time::Instant::now());
        }
        self.inner
            .committer_stopped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.committer_done.notify_waiters();
    }

    /// Writes and publishes the queued work, as a checkpoint if `checkpoint` asks. A round
    /// of streamed fragments alone is held in memory on this task; any other round is
    /// written and flushed on the blocking pool before it is published, except the deltas
    /// of threads it holds nothing else for, which go out first. Returns how durable the
    /// round was made, and the work count it covers.
    async fn commit_round(&self, checkpoint: bool) -> (Durability, u64) {
        if let Some(cluster) = self.inner.cluster.clone() {
            return self.commit_cluster_round(&cluster).await;
        }
        let (work, queued, urgent) = {
            let mut state = lock(&self.inner.state);
            let urgent = std::mem::take(&mut state.urgent);
            (std::mem::take(&mut state.queue), state.queued, urgent)
        };
        let durability = match (checkpoint, urgent) {
            (true, _) => Durability::Checkpoint,
            (false, true) => Durability::Flush,
            (false, false) => Durability::Memory,
        };
        let gate = self.inner.gate.write().await;
        // A round of deltas alone is all free; otherwise the deltas of threads with
        // nothing else in the round go first, held in memory, with no thread hop.
        let (free, rest) = match durability {
            Durability::Memory => (work, Vec::new()),
            _ => write::free_deltas_first(work),
        };
        if !free.is_empty() {
            let published = {
                let mut pending = lock(&self.inner.pending);
                write_round(&self.inner.store, free, Durability::Memory, &mut pending)
            };
            self.publish(published);
        }
        let written = if durability == Durability::Memory {
            Ok(Vec::new())
        } else {
            let store = self.inner.store.clone();
            let pending = self.inner.pending.clone();
            tokio::task::spawn_blocking(move || {
                write_round(&store, rest, durability, &mut lock(&pending))
            })
            .await
        };
        match written {
            Ok(published) => {
                self.set_storage_ok(lock(&self.inner.pending).healthy());
                if !published.is_empty() {
                    self.publish(published);
                }
            }
            Err(err) => tracing::error!("commit round failed: {err}"),
        }
        drop(gate);
        if durability != Durability::Memory {
            self.inner.durable.send_replace(queued);
        }
        (durability, queued)
    }

    /// Writes the parts held since the last checkpoint and flushes; `queued` is the work
    /// they cover.
    async fn checkpoint(&self, queued: u64) {
        let store = self.inner.store.clone();
        let pending = self.inner.pending.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut pending = lock(&pending);
            write::checkpoint(&store, &mut pending);
            pending.healthy()
        })
        .await;
        match done {
            Ok(healthy) => self.set_storage_ok(healthy),
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
}
