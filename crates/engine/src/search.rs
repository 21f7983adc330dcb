//! Search across every thread: the message index kept current from the event bus (each
//! committed round names the threads and messages that changed; the indexer reads them
//! from the store), caught up at start, rebuilt from the store when missing.

use super::{Engine, EngineResult, Scope};
use agentdeck_model::event::EventKind;
use agentdeck_model::sync;
use agentdeck_model::{Message, MessageStatus, Role, Thread, ThreadQuery, ThreadStatus};
use agentdeck_search::messages::{HitKind, MessageDoc, MessageIndex, SearchFilter, SearchHit};
use agentdeck_store::Store;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Changes gathered into one index commit at most this long after the first.
const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Documents per commit while rebuilding.
const REBUILD_BATCH: usize = 5_000;
/// At start, threads changed this long before the index's last commit are read again
/// (what a crash kept from being committed).
const CATCH_UP_MARGIN_SECS: u64 = 5;
/// The most hits one search returns.
pub const MAX_SEARCH_LIMIT: usize = 100;

pub(super) enum Change {
    Thread(String),
    Message(String),
    /// Every thread changed since this time (unix seconds): after a start, or when the
    /// feed fell behind the bus.
    Since(u64),
    Rebuild,
    /// The bus's events up to this id have been fed: once committed, a search started
    /// after them sees them.
    Through(u64),
    /// Commit what is gathered and end (the runtime stops).
    Stop,
}

/// The index and the channel to its indexer thread.
pub(super) struct ThreadSearch {
    pub(super) index: Arc<MessageIndex>,
    feed: Sender<Change>,
    /// The last bus event id whose changes are committed to the index (raised by the
    /// indexer, and by the feed past rounds that change nothing it indexes).
    indexed_through: Arc<tokio::sync::watch::Sender<u64>>,
    /// The mark sent with the first catch-up (the bus's last id at start).
    first_mark: u64,
    worker: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ThreadSearch {
    /// Opens the index and starts the indexer thread; a new index is filled from the
    /// store, an existing one catches up with what changed since its last commit.
    /// `published` is the bus's last id now: the feed starts after it.
    pub(super) fn start(
        store: &Store,
        published: u64,
    ) -> agentdeck_search::index::IndexResult<ThreadSearch> {
        let index = Arc::new(MessageIndex::open(
            &store.dir().join("search").join("messages"),
        )?);
        let (feed, changes) = std::sync::mpsc::channel();
        let first = match (index.fresh, index.indexed_at()) {
            (false, Some(at)) => Change::Since(at.saturating_sub(CATCH_UP_MARGIN_SECS)),
            _ => Change::Rebuild,
        };
        let _ = feed.send(first);
        // A search waits for this first catch-up too (up to its bound).
        let _ = feed.send(Change::Through(published));
        let indexed_through = Arc::new(tokio::sync::watch::Sender::new(0));
        let through = indexed_through.clone();
        let worker_index = index.clone();
        let worker_store = store.clone();
        let worker = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || indexer(worker_index, worker_store, changes, through))?;
        Ok(ThreadSearch {
            index,
            feed,
            indexed_through,
            first_mark: published,
            worker: std::sync::Mutex::new(Some(worker)),
        })
    }

    pub(super) fn sender(&self) -> Sender<Change> {
        self.feed.clone()
    }

    /// The mark of what the index holds, for the feed to raise past unchanged rounds,
    /// and the last mark fed to the indexer so far.
    fn marks(&self) -> (Arc<tokio::sync::watch::Sender<u64>>, u64) {
        (self.indexed_through.clone(), self.first_mark)
    }

    /// Stops the indexer once it has committed what it gathered, and waits for it: it
    /// lets go of the store and the index (a runtime started next on the data dir
    /// finds them free).
    pub(super) async fn stop(&self) {
        let _ = self.feed.send(Change::Stop);
        let worker = sync::lock(&self.worker).take();
        if let Some(worker) = worker {
            let _ = tokio::task::spawn_blocking(move || worker.join()).await;
        }
    }

    /// Waits (a bounded time) until the index holds every change of the bus's events
    /// up to `id`.
    pub(super) async fn caught_up(&self, id: u64) {
        let mut through = self.indexed_through.subscribe();
        let wait = through.wait_for(|done| *done >= id);
        let _ = tokio::time::timeout(CATCH_UP_WAIT, wait).await;
    }
}

impl Drop for ThreadSearch {
    /// An engine dropped without a shutdown still ends its indexer (without waiting).
    fn drop(&mut self) {
        let _ = self.feed.send(Change::Stop);
    }
}

/// Marks the bus's events up to `id` as indexed if the indexer has committed every
/// change fed before them (`fed` is the last mark sent to it): a round that changes
/// nothing indexed then costs the indexer thread no wake-up. False if it has not.
fn pass_unchanged(marks: &tokio::sync::watch::Sender<u64>, id: u64, fed: u64) -> bool {
    let mut caught_up = false;
    marks.send_if_modified(|done| {
        caught_up = *done >= fed;
        let raise = caught_up && id > *done;
        if raise {
            *done = id;
        }
        raise
    });
    caught_up
}

/// How long a search waits for the index to catch up with what happened before it.
const CATCH_UP_WAIT: Duration = Duration::from_secs(2);

/// The indexer thread: gathers changes for a moment, reads them from the store and
/// commits them as one batch.
fn indexer(
    index: Arc<MessageIndex>,
    store: Store,
    changes: Receiver<Change>,
    through: Arc<tokio::sync::watch::Sender<u64>>,
) {
    loop {
        let Ok(first) = changes.recv() else { return };
        let started = Instant::now();
        let mut batch = Batch::default();
        batch.take(first);
        let mut open = true;
        while open && !batch.stop {
            let left = BATCH_WINDOW.saturating_sub(started.elapsed());
            match changes.recv_timeout(left) {
                Ok(change) => batch.take(change),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        let Batch {
            threads,
            messages,
            since,
            rebuild,
            fed_through,
            stop,
        } = batch;
        let now = agentdeck_model::now_secs();
        let result = if rebuild {
            reindex_threads(&index, &store, |_| true, now)
        } else if let Some(at) = since {
            reindex_threads(&index, &store, |thread| thread.updated_at >= at, now)
        } else if threads.is_empty() && messages.is_empty() {
            Ok(())
        } else {
            let mut docs = Vec::new();
            for id in &threads {
                if let Some(thread) = store.thread(id) {
                    docs.push(title_doc(&thread));
                }
            }
            for id in &messages {
                if let Ok(Some(message)) = store.message(id) {
                    if let Some(thread) = store.thread(&message.thread_id) {
                        message_docs(&thread, &message, &mut docs);
                    }
                }
            }
            index.upsert(&docs, now)
        };
        if let Err(err) = result {
            tracing::warn!("the search index could not be updated: {err}");
        }
        if let Some(id) = fed_through {
            through.send_if_modified(|done| {
                let newer = id > *done;
                *done = (*done).max(id);
                newer
            });
        }
        if !open || stop {
            return;
        }
    }
}

/// The changes one commit takes in.
#[derive(Default)]
struct Batch {
    threads: BTreeSet<String>,
    messages: BTreeSet<String>,
    since: Option<u64>,
    rebuild: bool,
    fed_through: Option<u64>,
    stop: bool,
}

impl Batch {
    fn take(&mut self, change: Change) {
        match change {
            Change::Thread(id) => {
                self.threads.insert(id);
            }
            Change::Message(id) => {
                self.messages.insert(id);
            }
            Change::Since(at) => self.since = Some(self.since.map_or(at, |s| s.min(at))),
            Change::Rebuild => self.rebuild = true,
            Change::Through(id) => self.fed_through = Some(id),
            Change::Stop => self.stop = true,
        }
    }
}

/// Indexes every message and title of the threads `wanted` picks, in batches.
fn reindex_threads(
    index: &MessageIndex,
    store: &Store,
    wanted: impl Fn(&Thread) -> bool,
    now: u64,
) -> agentdeck_search::index::IndexResult<()> {
    let (threads, _) = store.list_threads(&ThreadQuery {
        limit: usize::MAX,
        ..Default::default()
    });
    let mut docs = Vec::new();
    for thread in threads.iter().filter(|t| wanted(t)) {
        docs.push(title_doc(thread));
        let mut after: Option<String> = None;
        loop {
            let Ok((page, more)) = store.list_messages(&thread.id, after.as_deref(), 500, true)
            else {
                break;
            };
            for message in &page {
                message_docs(thread, message, &mut docs);
            }
            after = page.last().map(|m| m.id.clone());
            if docs.len() >= REBUILD_BATCH {
                index.upsert(&docs, now)?;
                docs.clear();
            }
            if !more {
                break;
            }
        }
    }
    index.upsert(&docs, now)
}

fn title_doc(thread: &Thread) -> MessageDoc {
    MessageDoc {
        key: format!("title/{}", thread.id),
        kind: HitKind::Title,
        project_id: thread.project_id.clone(),
        assistant_id: thread.assistant_id.clone(),
        thread_id: thread.id.clone(),
        message_id: String::new(),
        created_at: thread.created_at,
        text: thread.title.clone().unwrap_or_default(),
    }
}

/// A final message's text and its tool calls' outputs (a message still streaming is
/// indexed when it completes).
fn message_docs(thread: &Thread, message: &Message, docs: &mut Vec<MessageDoc>) {
    if message.status == MessageStatus::InProgress || message.role == Role::System {
        return;
    }
    let doc = |key: String, kind, text: String| MessageDoc {
        key,
        kind,
        project_id: thread.project_id.clone(),
        assistant_id: message
            .assistant_id
            .clone()
            .unwrap_or_else(|| thread.assistant_id.clone()),
        thread_id: thread.id.clone(),
        message_id: message.id.clone(),
        created_at: message.created_at,
        text,
    };
    docs.push(doc(message.id.clone(), HitKind::Message, message.text()));
    for call in &message.tool_calls {
        if let Some(output) = &call.output {
            docs.push(doc(
                format!("call/{}", call.id),
                HitKind::ToolOutput,
                output.clone(),
            ));
        }
    }
}

/// What `GET /v2/search` asks.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    pub assistant_id: Option<String>,
    pub status: Option<ThreadStatus>,
    pub limit: usize,
}

impl Engine {
    /// Feeds the indexer from the bus: every committed round's thread and message
    /// changes, then the round's last id. Runs until the engine shuts down.
    pub(super) fn start_search_feed(&self) {
        let taken = sync::lock(&self.inner.search.rounds).take();
        let Some(mut rounds) = taken else { return };
        let feed = self.inner.search.index.sender();
        let (marks, mut fed) = self.inner.search.index.marks();
        let shutdown = self.inner.shutdown.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => return,
                    received = rounds.recv() => received,
                };
                let round = match received {
                    Ok(round) => round,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let since = agentdeck_model::now_secs().saturating_sub(60);
                        let _ = feed.send(Change::Since(since));
                        continue;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let mut changed = false;
                for event in round.iter() {
                    let change = match event.kind {
                        EventKind::ThreadCreated | EventKind::ThreadUpdated => {
                            Change::Thread(event.thread_id.clone())
                        }
                        EventKind::MessageCreated | EventKind::MessageCompleted => {
                            match &event.message_id {
                                Some(id) if !event.opens_reply => Change::Message(id.clone()),
                                _ => continue,
                            }
                        }
                        _ => continue,
                    };
                    changed = true;
                    let _ = feed.send(change);
                }
                let Some(last) = round.iter().map(|event| event.id).max() else {
                    continue;
                };
                // Deltas alone change nothing indexed (a reply is indexed once complete).
                if changed || !pass_unchanged(&marks, last, fed) {
                    let _ = feed.send(Change::Through(last));
                    fed = last;
                }
            }
        });
    }

    /// Matches across every thread the caller may see, best first.
    pub async fn search(&self, scope: &Scope, query: SearchQuery) -> EngineResult<Vec<SearchHit>> {
        let filter = SearchFilter {
            project_id: scope.project().map(str::to_string),
            assistant_id: query.assistant_id.clone(),
        };
        let limit = query.limit.clamp(1, MAX_SEARCH_LIMIT);
        // What happened before the search is in it (read your writes).
        self.inner
            .search
            .index
            .caught_up(self.inner.bus.last_id())
            .await;
        let index = self.inner.search.index.index.clone();
        let store = self.inner.store.clone();
        let status = query.status;
        let scope = scope.clone();
        tokio::task::spawn_blocking(move || {
            index.search(&query.q, &filter, limit, |thread_id| {
                store.thread(thread_id).is_some_and(|thread| {
                    scope.sees(&thread.project_id) && status.is_none_or(|s| thread.status == s)
                })
            })
        })
        .await
        .map_err(|_| super::EngineError::Conflict("the search failed".into()))?
        .map_err(super::EngineError::from)
    }

    /// Messages and titles in the search index.
    pub fn search_documents(&self) -> u64 {
        self.inner.search.index.index.count()
    }
}
