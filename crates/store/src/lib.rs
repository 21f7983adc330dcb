//! Persistent state on sled: projects, keys (hashed), assistants, threads, messages in order
//! per thread, and the event log SSE resumes from.
//!
//! Threads are also held in memory, ordered by last activity, so listing and filtering
//! 10,000+ of them needs no disk reads. Messages are never loaded in bulk: open time does
//! not depend on how many there are.

mod codec;
mod copy;
mod files;
mod kv;
mod leases;
mod log;
mod pg;
#[cfg(test)]
mod tests;
mod threads;

pub use copy::TreeCopy;
pub use leases::Lease;
pub use log::ReplyPart;
pub use pg::CALL_TIMEOUT as DATABASE_CALL_TIMEOUT;

use agentdeck_model::sync::{self, lock};
use kv::Tree;

use agentdeck_model::memory::MemoryState;
use agentdeck_model::{
    ApiKeyRecord, Assistant, Message, MessageStatus, Project, Thread, ThreadQuery, ThreadStatus,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use threads::ThreadIndex;

/// Bumped whenever the on-disk layout changes incompatibly: 2 added the compressed and
/// binary forms of `codec`, which builds that know 1 cannot read; 3 logs a round's
/// events as one record.
pub const SCHEMA_VERSION: u64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data dir {0} is in use by another agentdeck process")]
    Locked(PathBuf),
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("stored {tree} record {key} is unreadable: {reason}")]
    Corrupt {
        tree: &'static str,
        key: String,
        reason: String,
    },
    #[error(
        "the data dir was written by a newer agentdeck (schema {found}, this build knows {SCHEMA_VERSION})"
    )]
    SchemaTooNew { found: u64 },
    #[error("could not encode a record: {0}")]
    Encode(serde_json::Error),
    #[error("file storage: {0}")]
    Io(#[from] std::io::Error),
    /// The database cannot be reached now; the same call may work once it is back.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("the database refused: {0}")]
    Postgres(String),
    #[error("{0}")]
    Config(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A key and its value, as both backends' trees hold them.
type Entry = (Vec<u8>, Vec<u8>);

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// What the trees are kept in.
enum Backend {
    Sled(sled::Db),
    Postgres(std::sync::Arc<pg::PgDb>),
}

struct Inner {
    backend: Backend,
    meta: Tree,
    projects: Tree,
    keys: Tree,
    assistants: Tree,
    threads: Tree,
    messages: Tree,
    message_loc: Tree,
    inflight: Tree,
    /// Structural events by id (deltas are not logged: see `log`).
    events: Tree,
    message_events: Tree,
    /// Fragments streamed into replies in progress since they were last written whole.
    reply_parts: Tree,
    /// Removes the parts of replies now final, off the writer's path.
    part_sweeper: log::PartSweeper,
    /// Parts not yet written to `reply_parts`, held in memory until the next checkpoint
    /// (see [`Store::hold_reply_part`]); readers fold them in after the written ones.
    held_parts: Mutex<log::HeldParts>,
    usage: Tree,
    /// Thread memory (summary, index of past turns), by thread id.
    memory: Tree,
    /// Uploaded files' metadata, by id (contents in `DATA_DIR/files/ID`).
    files: Tree,
    /// Vector stores (their chunks live in the search index), by id.
    vector_stores: Tree,
    /// A thread's own vector store id, by thread id (a run looks it up at its start).
    thread_stores: Tree,
    /// Which node runs a thread's reply, and until when (nodes sharing a database).
    leases: Tree,
    thread_index: RwLock<ThreadIndex>,
    /// Next message sequence number per thread, filled lazily from the last stored key.
    message_seq: Mutex<HashMap<String, u64>>,
    /// On PostgreSQL, what never changes once written, kept to save a round trip: where
    /// each message is (its key), and the API keys found.
    found_locations: Mutex<HashMap<String, Vec<u8>>>,
    found_keys: Mutex<HashMap<String, ApiKeyRecord>>,
    /// Flush requests handed out so far (group commit, see [`Store::flush`]).
    flush_requested: std::sync::atomic::AtomicU64,
    /// The highest request a finished flush covered; held while a flush runs.
    flush_done: tokio::sync::Mutex<u64>,
    /// The data dir the store lives in.
    dir: std::path::PathBuf,
}

/// Message locations remembered at most (PostgreSQL): beyond it the memory starts over,
/// so it stays bounded however many messages a node writes.
const LOCATIONS_KEPT: usize = 100_000;

/// Notes where a message is, forgetting every noted location first when `kept` are
/// noted already (what is forgotten is read from the database again when asked).
fn remember_location(found: &mut HashMap<String, Vec<u8>>, id: &str, key: Vec<u8>, kept: usize) {
    if found.len() >= kept && !found.contains_key(id) {
        found.clear();
    }
    found.insert(id.to_string(), key);
}

/// A record in any form a build wrote it (see `codec`).
fn decode<T: DeserializeOwned>(tree: &'static str, key: &[u8], bytes: &[u8]) -> StoreResult<T> {
    let corrupt = |reason: String| StoreError::Corrupt {
        tree,
        key: String::from_utf8_lossy(key).into_owned(),
        reason,
    };
    let json = codec::unpack(bytes).map_err(corrupt)?;
    serde_json::from_slice(&json).map_err(|err| corrupt(err.to_string()))
}

fn message_prefix(thread_id: &str) -> Vec<u8> {
    let mut key = thread_id.as_bytes().to_vec();
    key.push(b'/');
    key
}

fn message_key(thread_id: &str, seq: u64) -> Vec<u8> {
    let mut key = message_prefix(thread_id);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Whether the sled database at `path` is written zstd-compressed: only data dirs made
/// while that was the default (sled refuses to open a dir with another setting). New
/// ones are not: sled compresses every write with a fresh zstd context, which was half
/// the server's CPU under 500 streams and held up commit rounds (docs/PERFORMANCE.md);
/// the price is a data dir about 2.4 times larger.
fn compressed(path: &Path) -> bool {
    // sled's `conf`: text lines, then a 4-byte checksum.
    match std::fs::read(path.join("conf")) {
        Ok(conf) => !String::from_utf8_lossy(&conf)
            .lines()
            .any(|line| line.trim() == "use_compression: false"),
        Err(_) => false,
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`. What a crash left in progress is the
    /// engine's to settle ([`Store::inflight_messages`]).
    pub fn open(dir: &Path) -> StoreResult<Store> {
        let path = dir.join("db");
        // The lock of a store this process just closed can outlive it for a moment (a
        // child process forked meanwhile holds a copy of its descriptor until it execs):
        // a lock still held after a second is another process's.
        let mut attempts = 0;
        let db = loop {
            match Store::open_sled(dir, &path) {
                Err(StoreError::Locked(_)) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                other => break other?,
            }
        };
        Store::assemble(Backend::Sled(db.clone()), dir, |name| {
            Ok(Tree::Sled(db.open_tree(name)?))
        })
    }

    fn open_sled(dir: &Path, path: &Path) -> StoreResult<sled::Db> {
        sled::Config::new()
            .path(path)
            // No periodic flusher (a thread waking five times a second even when idle):
            // every write is flushed by whoever made it before it is reported done,
            // the bus's commit rounds and `Engine::durable` for the API's changes.
            .flush_every_ms(None)
            // Reads of hot data are served by the in-memory thread index and the bus's
            // ring; sled's own page cache (1 GiB by default) need not grow with the data.
            .cache_capacity(8 * 1024 * 1024)
            .use_compression(compressed(path))
            // zstd's fastest level: most of the gain on JSON, little CPU per commit round.
            .compression_factor(1)
            .open()
            .map_err(|err| match &err {
                sled::Error::Io(io) if io.to_string().contains("lock") => {
                    StoreError::Locked(dir.to_path_buf())
                }
                _ => StoreError::Sled(err),
            })
    }

    /// Opens the store on PostgreSQL (`url`), applying the migrations it lacks; `dir`
    /// keeps what lives beside the database (uploaded files' contents, tool scratch
    /// dirs). `sole`: this node runs alone on the database, and takes a lock that keeps
    /// a second node out.
    pub fn open_postgres(dir: &Path, url: &str, sole: bool) -> StoreResult<Store> {
        let db = pg::PgDb::connect(url, sole)?;
        Store::assemble(Backend::Postgres(db.clone()), dir, |name| {
            Ok(Tree::Pg(pg::PgTree::new(&db, name)))
        })
    }

    fn assemble(
        backend: Backend,
        dir: &Path,
        tree: impl Fn(&'static str) -> StoreResult<Tree>,
    ) -> StoreResult<Store> {
        let meta = tree("meta")?;
        // Always plain JSON, so that an older build can read it and refuse clearly.
        let found = match meta.get(b"schema_version")? {
            Some(bytes) => decode::<u64>("meta", b"schema_version", &bytes)?,
            None => 0,
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found });
        }
        let inner = Inner {
            meta,
            projects: tree("projects")?,
            keys: tree("api_keys")?,
            assistants: tree("assistants")?,
            threads: tree("threads")?,
            messages: tree("messages")?,
            message_loc: tree("message_loc")?,
            inflight: tree("inflight")?,
            events: tree("events")?,
            message_events: tree("message_events")?,
            part_sweeper: log::PartSweeper::start(tree("reply_parts")?),
            reply_parts: tree("reply_parts")?,
            usage: tree("usage")?,
            memory: tree("memory")?,
            files: tree("files")?,
            vector_stores: tree("vector_stores")?,
            thread_stores: tree("thread_stores")?,
            leases: tree("leases")?,
            thread_index: RwLock::new(ThreadIndex::default()),
            held_parts: Mutex::new(log::HeldParts::default()),
            message_seq: Mutex::new(HashMap::new()),
            found_locations: Mutex::new(HashMap::new()),
            found_keys: Mutex::new(HashMap::new()),
            flush_requested: std::sync::atomic::AtomicU64::new(0),
            flush_done: tokio::sync::Mutex::new(0),
            dir: dir.to_path_buf(),
            backend,
        };
        let store = Store {
            inner: Arc::new(inner),
        };
        if found < SCHEMA_VERSION {
            if store.is_postgres() {
                // Schema 2 wrote compressed and binary records, which the `v_*` views
                // cannot read: rewritten once, before the mark says this schema.
                let rewritten = store.rewrite_in_json_form()?;
                if rewritten > 0 {
                    tracing::info!("rewrote {rewritten} records of schema {found} as JSON");
                }
            }
            // Records of an older schema still read; the new forms written from now on
            // would not read in the build that wrote them, which the mark tells it.
            let current = serde_json::to_vec(&SCHEMA_VERSION).map_err(StoreError::Encode)?;
            store.inner.meta.insert(b"schema_version", &current)?;
        }
        store.load_thread_index()?;
        store.drop_stray_parts()?;
        Ok(store)
    }

    /// Bytes the database takes on disk (0 when it cannot tell).
    pub fn size_on_disk(&self) -> u64 {
        match &self.inner.backend {
            Backend::Sled(db) => db.size_on_disk().unwrap_or(0),
            Backend::Postgres(db) => db.size_on_disk().unwrap_or(0),
        }
    }

    /// Where the state lives, for messages: the data dir, or the database's address.
    pub fn location(&self) -> String {
        match &self.inner.backend {
            Backend::Sled(_) => self.inner.dir.display().to_string(),
            Backend::Postgres(db) => format!("postgres://{}", db.name()),
        }
    }

    /// Runs `writes` as one transaction on PostgreSQL (every store call it makes on this
    /// thread joins it; one commit at the end, all or nothing); on sled, just runs it.
    pub fn transaction<R>(&self, writes: impl FnOnce() -> StoreResult<R>) -> StoreResult<R> {
        match &self.inner.backend {
            Backend::Sled(_) => writes(),
            Backend::Postgres(db) => {
                let result = db.transaction(writes);
                if result.is_err() {
                    // Locations noted inside it may be of rows rolled back.
                    lock(&self.inner.found_locations).clear();
                }
                result
            }
        }
    }

    /// Whether the state is in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.backend, Backend::Postgres(_))
    }

    /// A record as it is written: on sled, JSON compressed when that pays (see `codec`);
    /// on PostgreSQL, JSON, which the database compresses itself (values over 2 KB) and
    /// its `v_*` views read.
    fn encode<T: Serialize>(&self, value: &T) -> StoreResult<Vec<u8>> {
        let json = serde_json::to_vec(value).map_err(StoreError::Encode)?;
        Ok(if self.is_postgres() {
            json
        } else {
            codec::pack(json)
        })
    }

    /// The data dir: files that live beside the database (tool scratch dirs) go here.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// Makes every write made before this call durable. On PostgreSQL each write
    /// committed as it was made, so there is nothing left to do.
    ///
    /// One flush runs at a time, and callers that arrive while it runs share the next
    /// one (group commit): many replies completing together cost one fsync, not one each.
    /// sled's own `flush_async` is not used: concurrent calls of it deadlock sled 0.34's
    /// IO pool (spacejam/sled#1308, fixed only on its unreleased main branch).
    pub async fn flush(&self) -> StoreResult<()> {
        use std::sync::atomic::Ordering;
        let Backend::Sled(db) = &self.inner.backend else {
            return Ok(());
        };
        let ticket = self.inner.flush_requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut done = self.inner.flush_done.lock().await;
        if *done >= ticket {
            return Ok(());
        }
        // Every request handed out so far was made after its writes, so this flush,
        // which starts now, covers them all.
        let covers = self.inner.flush_requested.load(Ordering::SeqCst);
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.flush()).await {
            Ok(result) => {
                result?;
            }
            Err(join) => {
                return Err(StoreError::Sled(sled::Error::ReportableBug(format!(
                    "flush task failed: {join}"
                ))));
            }
        }
        *done = covers;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        name: &'static str,
        key: &[u8],
    ) -> StoreResult<Option<T>> {
        match tree.get(key)? {
            Some(bytes) => decode(name, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn all<T: DeserializeOwned>(&self, tree: &Tree, name: &'static str) -> StoreResult<Vec<T>> {
        tree.range(kv::ALL, false, usize::MAX)?
            .into_iter()
            .map(|(key, value)| decode(name, &key, &value))
            .collect()
    }

    // --- meta --------------------------------------------------------------------------

    pub fn meta_flag(&self, name: &str) -> StoreResult<bool> {
        self.inner.meta.contains_key(name.as_bytes())
    }

    pub fn set_meta_flag(&self, name: &str) -> StoreResult<()> {
        self.inner.meta.insert(name.as_bytes(), b"1")
    }

    // --- projects and keys ---------------------------------------------------------------

    pub fn put_project(&self, project: &Project) -> StoreResult<()> {
        self.inner
            .projects
            .insert(project.id.as_bytes(), &self.encode(project)?)?;
        Ok(())
    }

    pub fn project(&self, id: &str) -> StoreResult<Option<Project>> {
        self.get(&self.inner.projects, "projects", id.as_bytes())
    }

    pub fn projects(&self) -> StoreResult<Vec<Project>> {
        self.all(&self.inner.projects, "projects")
    }

    pub fn put_key(&self, secret_hash: &str, record: &ApiKeyRecord) -> StoreResult<()> {
        self.inner
            .keys
            .insert(secret_hash.as_bytes(), &self.encode(record)?)?;
        Ok(())
    }

    /// A key's record. Keys never change once made (nor are they removed), so on
    /// PostgreSQL one found is kept: a request's authentication costs no round trip.
    pub fn key_by_hash(&self, secret_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        if !self.is_postgres() {
            return self.get(&self.inner.keys, "api_keys", secret_hash.as_bytes());
        }
        if let Some(record) = lock(&self.inner.found_keys).get(secret_hash) {
            return Ok(Some(record.clone()));
        }
        let record: Option<ApiKeyRecord> =
            self.get(&self.inner.keys, "api_keys", secret_hash.as_bytes())?;
        if let Some(record) = &record {
            let mut found = lock(&self.inner.found_keys);
            if found.len() >= 100_000 {
                found.clear();
            }
            found.insert(secret_hash.to_string(), record.clone());
        }
        Ok(record)
    }

    // --- assistants ----------------------------------------------------------------------

    pub fn put_assistant(&self, assistant: &Assistant) -> StoreResult<()> {
        self.inner
            .assistants
            .insert(assistant.id.as_bytes(), &self.encode(assistant)?)?;
        Ok(())
    }

    pub fn assistant(&self, id: &str) -> StoreResult<Option<Assistant>> {
        self.get(&self.inner.assistants, "assistants", id.as_bytes())
    }

    pub fn assistants(&self) -> StoreResult<Vec<Assistant>> {
        self.all(&self.inner.assistants, "assistants")
    }

    pub fn delete_assistant(&self, id: &str) -> StoreResult<bool> {
        Ok(self.inner.assistants.remove(id.as_bytes())?.is_some())
    }

    // --- threads -------------------------------------------------------------------------

    fn load_thread_index(&self) -> StoreResult<()> {
        let mut index = ThreadIndex::default();
        for (key, value) in self.inner.threads.range(kv::ALL, false, usize::MAX)? {
            let record: threads::ThreadRecord = decode("threads", &key, &value)?;
            index.insert(record.thread, record.activity);
        }
        *self.write_index() = index;
        Ok(())
    }

    fn write_index(&self) -> std::sync::RwLockWriteGuard<'_, ThreadIndex> {
        // A poisoned lock only means another thread panicked mid-update of plain data;
        // the index is rebuilt from sled on the next open, so keep serving.
        sync::write(&self.inner.thread_index)
    }

    fn read_index(&self) -> std::sync::RwLockReadGuard<'_, ThreadIndex> {
        sync::read(&self.inner.thread_index)
    }

    /// Stores a thread and moves it to the top of the activity order.
    pub fn put_thread(&self, thread: &Thread) -> StoreResult<()> {
        let mut index = self.write_index();
        let activity = index.next_activity();
        let record = threads::ThreadRecordRef { thread, activity };
        self.inner
            .threads
            .insert(thread.id.as_bytes(), &self.encode(&record)?)?;
        index.insert(thread.clone(), activity);
        Ok(())
    }

    /// Deletes a thread and everything kept under it: its messages (with their
    /// locations, event starts and streamed parts), memory, vector-store link and lease.
    /// Its structural events stay until the event log's own retention drops them. True
    /// if it was there. Safe to repeat, and on several nodes at once.
    pub fn delete_thread(&self, id: &str) -> StoreResult<bool> {
        let prefix = message_prefix(id);
        let mut message_ids = Vec::new();
        self.inner
            .messages
            .scan_prefix(&prefix, false, 256, |(key, value)| {
                // One that does not read is removed with the rest, only its id is not known.
                if let Ok(message) = decode::<Message>("messages", &key, &value) {
                    message_ids.push(message.id);
                }
                Ok(true)
            })?;
        for message_id in &message_ids {
            self.inner.message_loc.remove(message_id.as_bytes())?;
            self.inner.inflight.remove(message_id.as_bytes())?;
            self.inner.message_events.remove(message_id.as_bytes())?;
            let parts = log::part_prefix(message_id);
            self.inner
                .reply_parts
                .remove_range(Some(&parts), &prefix_end(&parts))?;
            lock(&self.inner.held_parts).remove(message_id);
        }
        {
            let mut found = lock(&self.inner.found_locations);
            for message_id in &message_ids {
                found.remove(message_id);
            }
        }
        self.inner
            .messages
            .remove_range(Some(&prefix), &prefix_end(&prefix))?;
        self.inner.memory.remove(id.as_bytes())?;
        self.inner.thread_stores.remove(id.as_bytes())?;
        self.inner.leases.remove(id.as_bytes())?;
        lock(&self.inner.message_seq).remove(id);
        let existed = self.inner.threads.remove(id.as_bytes())?.is_some();
        let indexed = self.write_index().remove(id).is_some();
        Ok(existed || indexed)
    }

    /// Takes in a thread another node wrote (it is in the database already), so that this
    /// node lists it as it is now, at the top of the activity order.
    pub fn index_thread(&self, thread: Thread) {
        let mut index = self.write_index();
        let activity = index.next_activity();
        index.insert(thread, activity);
    }

    pub fn thread(&self, id: &str) -> Option<Thread> {
        self.read_index().get(id).cloned()
    }

    pub fn list_threads(&self, query: &ThreadQuery) -> (Vec<Thread>, bool) {
        self.read_index().list(query)
    }

    pub fn thread_count(&self) -> usize {
        self.read_index().len()
    }

    /// The threads `pick` chooses, from the index (no database read).
    pub fn threads_where(&self, pick: impl Fn(&Thread) -> bool) -> Vec<Thread> {
        self.read_index().matching(pick)
    }

    /// Threads in the given status, for counting running work and recovery.
    pub fn threads_with_status(&self, status: ThreadStatus) -> Vec<Thread> {
        self.read_index().with_status(status)
    }

    // --- messages ------------------------------------------------------------------------

    fn next_message_seq(&self, thread_id: &str) -> StoreResult<u64> {
        let mut seqs = sync::lock(&self.inner.message_seq);
        if let Some(next) = seqs.get_mut(thread_id) {
            let seq = *next;
            *next += 1;
            return Ok(seq);
        }
        let prefix = message_prefix(thread_id);
        let last = self
            .inner
            .messages
            .range(kv::between(&prefix, &prefix_end(&prefix)), true, 1)?
            .into_iter()
            .next();
        let seq = match last {
            Some((key, _)) => {
                let tail: [u8; 8] = key[key.len() - 8..].try_into().unwrap_or([0; 8]);
                u64::from_be_bytes(tail) + 1
            }
            None => 0,
        };
        seqs.insert(thread_id.to_string(), seq + 1);
        Ok(seq)
    }

    /// Appends a message to its thread. An `in_progress` message is tracked so that a
    /// crash leaves it `incomplete` rather than forever in progress.
    pub fn insert_message(&self, message: &Message) -> StoreResult<()> {
        let value = self.encode(message)?;
        loop {
            let seq = self.next_message_seq(&message.thread_id)?;
            let key = message_key(&message.thread_id, seq);
            // The location goes first: a location without a message reads as "not found",
            // never as a half-written message.
            self.inner
                .message_loc
                .insert(message.id.as_bytes(), key.as_slice())?;
            if message.status == MessageStatus::InProgress {
                self.inner
                    .inflight
                    .insert(message.id.as_bytes(), key.as_slice())?;
            }
            if !self.is_postgres() {
                return self.inner.messages.insert(&key, &value);
            }
            // Another node may have appended to the thread since this one last did: a
            // place taken means reading the thread's end again.
            if self
                .inner
                .messages
                .compare_and_swap(&key, None, Some(&value))?
            {
                remember_location(
                    &mut lock(&self.inner.found_locations),
                    &message.id,
                    key,
                    LOCATIONS_KEPT,
                );
                return Ok(());
            }
            sync::lock(&self.inner.message_seq).remove(&message.thread_id);
        }
    }

    pub fn update_message(&self, message: &Message) -> StoreResult<()> {
        let Some(key) = self.message_location(&message.id)? else {
            return self.insert_message(message);
        };
        self.inner
            .messages
            .insert(key.as_ref(), &self.encode(message)?)?;
        if message.status.is_final() {
            self.inner.inflight.remove(message.id.as_bytes())?;
        }
        Ok(())
    }

    /// Where a message is (its key in `messages`). A message never moves, so on
    /// PostgreSQL a location found is kept (up to 100,000 of them).
    fn message_location(&self, id: &str) -> StoreResult<Option<Vec<u8>>> {
        if !self.is_postgres() {
            return self.inner.message_loc.get(id.as_bytes());
        }
        if let Some(key) = lock(&self.inner.found_locations).get(id) {
            return Ok(Some(key.clone()));
        }
        let key = self.inner.message_loc.get(id.as_bytes())?;
        if let Some(key) = &key {
            remember_location(
                &mut lock(&self.inner.found_locations),
                id,
                key.clone(),
                LOCATIONS_KEPT,
            );
        }
        Ok(key)
    }

    /// A message as far as it is stored: for a reply in progress, with the parts
    /// streamed into it.
    pub fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        match self.message_record(id)? {
            Some(message) => self.with_parts(message).map(Some),
            None => Ok(None),
        }
    }

    /// A message as last written whole.
    fn message_record(&self, id: &str) -> StoreResult<Option<Message>> {
        let Some(key) = self.message_location(id)? else {
            return Ok(None);
        };
        self.get(&self.inner.messages, "messages", &key)
    }

    /// A page of a thread's messages, newest first unless `ascending`; `after` is the id of
    /// the last message of the previous page.
    pub fn list_messages(
        &self,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        ascending: bool,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let prefix = message_prefix(thread_id);
        let end = prefix_end(&prefix);
        let cursor = match after {
            Some(id) => match self.message_location(id)? {
                Some(key) if key.starts_with(&prefix) => Some(key.to_vec()),
                _ => return Ok((Vec::new(), false)),
            },
            None => None,
        };
        let range = match (&cursor, ascending) {
            (Some(key), true) => (Bound::Excluded(key.as_slice()), Bound::Excluded(&end[..])),
            (Some(key), false) => kv::between(&prefix, key),
            (None, _) => kv::between(&prefix, &end),
        };
        // One more than the page, to tell whether another follows.
        let entries = self
            .inner
            .messages
            .range(range, !ascending, limit.saturating_add(1))?;
        let mut page = Vec::with_capacity(limit.min(1000));
        let mut has_more = false;
        for (key, value) in entries {
            if page.len() == limit {
                has_more = true;
                break;
            }
            page.push(self.with_parts(decode("messages", &key, &value)?)?);
        }
        Ok((page, has_more))
    }

    /// The newest message of a thread that satisfies `wanted`, reading newest first and
    /// decoding only as far as needed.
    pub fn latest_message(
        &self,
        thread_id: &str,
        wanted: impl Fn(&Message) -> bool,
    ) -> StoreResult<Option<Message>> {
        let mut found = None;
        self.inner
            .messages
            .scan_prefix(&message_prefix(thread_id), true, 16, |(key, value)| {
                let message = self.with_parts(decode("messages", &key, &value)?)?;
                if wanted(&message) {
                    found = Some(message);
                    return Ok(false);
                }
                Ok(true)
            })?;
        Ok(found)
    }

    /// The last `count` messages of a thread, oldest first.
    pub fn recent_messages(&self, thread_id: &str, count: usize) -> StoreResult<Vec<Message>> {
        let (mut newest_first, _) = self.list_messages(thread_id, None, count, false)?;
        newest_first.reverse();
        Ok(newest_first)
    }

    /// Replies stored as in progress (with their streamed parts): after a stop, the
    /// engine decides what becomes of them. Entries whose message is gone are dropped.
    pub fn inflight_messages(&self) -> StoreResult<Vec<Message>> {
        let mut found = Vec::new();
        for (id, key) in self.inner.inflight.range(kv::ALL, false, usize::MAX)? {
            match self.get::<Message>(&self.inner.messages, "messages", &key)? {
                Some(record) => found.push(self.with_parts(record)?),
                None => {
                    self.inner.inflight.remove(&id)?;
                }
            }
        }
        Ok(found)
    }

    // --- usage ---------------------------------------------------------------------------

    /// Adds tokens to a project's running total for a model.
    pub fn add_usage(
        &self,
        project_id: &str,
        model: &str,
        usage: agentdeck_model::Usage,
    ) -> StoreResult<()> {
        let key = format!("{project_id}/{model}");
        self.inner.usage.update(key.as_bytes(), |old| {
            let mut total: agentdeck_model::Usage = old
                .and_then(|bytes| decode("usage", key.as_bytes(), bytes).ok())
                .unwrap_or_default();
            total.input_tokens += usage.input_tokens;
            total.output_tokens += usage.output_tokens;
            self.encode(&total).map(Some)
        })?;
        Ok(())
    }

    /// Every (project, model, total usage) recorded.
    pub fn usage_totals(&self) -> StoreResult<Vec<(String, String, agentdeck_model::Usage)>> {
        let mut totals = Vec::new();
        for (key, value) in self.inner.usage.range(kv::ALL, false, usize::MAX)? {
            let key_text = String::from_utf8_lossy(&key).into_owned();
            if let Some((project, model)) = key_text.split_once('/') {
                let usage = decode("usage", &key, &value)?;
                totals.push((project.to_string(), model.to_string(), usage));
            }
        }
        Ok(totals)
    }

    // --- memory --------------------------------------------------------------------------

    pub fn memory(&self, thread_id: &str) -> StoreResult<Option<MemoryState>> {
        match self.inner.memory.get(thread_id.as_bytes())? {
            Some(bytes) => Ok(Some(decode("memory", thread_id.as_bytes(), &bytes)?)),
            None => Ok(None),
        }
    }

    /// Changes a thread's memory in place. Two writers (a run retrieving, an update
    /// summarising) each change only their part, and neither loses the other's.
    pub fn update_memory(
        &self,
        thread_id: &str,
        mut change: impl FnMut(&mut MemoryState),
    ) -> StoreResult<MemoryState> {
        let key = thread_id.as_bytes();
        let mut state = MemoryState::default();
        self.inner.memory.update(key, |old| {
            state = match old {
                Some(bytes) => decode("memory", key, bytes)?,
                None => MemoryState::default(),
            };
            change(&mut state);
            self.encode(&state).map(Some)
        })?;
        Ok(state)
    }
}
