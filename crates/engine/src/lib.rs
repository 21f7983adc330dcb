//! The runtime: projects, assistants, threads and messages, and the runs that answer them.
//!
//! The API layer calls these operations with a [`Scope`] (which projects the caller may
//! see); an object outside the scope is reported as not found, never shown.

mod admission;
mod bus;
mod catalog;
pub mod cluster;
mod export;
pub(crate) mod files;
pub mod gateway;
mod images;
mod ingest;
mod interpreter;
mod leases;
mod mcp;
mod memory;
mod metrics;
mod models;
mod net;
mod privacy;
mod published;
mod recovery;
mod run;
pub mod search;
mod shipper;
mod telemetry;
mod threads;
mod tools;
mod usage;
mod validate;
mod vectors;
mod webhook;

pub use bus::{EventBus, EventFilter, EventScope};
pub use ingest::IngestReport;
pub use published::Published;
pub use recovery::Recovery;

use agentdeck_model::config::Config;
use agentdeck_model::requests::{MessageCreate, MessagePosted};
use agentdeck_model::sync::lock;
use agentdeck_model::{
    Content, ErrorBody, EventPayload, List, Message, MessageStatus, Role, Thread, ThreadStatus,
    ToolCallStatus, Usage, new_id, now_secs,
};
use agentdeck_providers::Provider;
use agentdeck_providers::local::LocalProvider;
use agentdeck_store::{Store, StoreError};
use models::Models;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("No {kind} found with id '{id}'.")]
    NotFound { kind: &'static str, id: String },
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// A limit of the project is reached now (it frees up with time).
    #[error("{0}")]
    RateLimited(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Search(#[from] agentdeck_search::index::IndexError),
}

impl EngineError {
    /// The database cannot be reached now (the same request may work shortly).
    pub fn storage_unavailable(&self) -> bool {
        matches!(self, EngineError::Store(StoreError::Unavailable(_)))
    }

    pub fn invalid(message: impl Into<String>, param: impl Into<Option<&'static str>>) -> Self {
        EngineError::Invalid {
            message: message.into(),
            param: param.into().map(str::to_string),
        }
    }

    fn not_found(kind: &'static str, id: &str) -> Self {
        EngineError::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

pub type EngineResult<T> = Result<T, EngineError>;

/// What a caller may see: one project, or (the admin key without a project header) all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Project(String),
}

impl Scope {
    pub fn sees(&self, project_id: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Project(id) => id == project_id,
        }
    }

    pub fn project(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Project(id) => Some(id),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Model calls per run before it stops with an incomplete answer.
    pub max_steps: u32,
    /// Hops of agent-to-agent routing below the first assistant.
    pub max_routing_depth: usize,
    /// Messages of a thread sent to the model as context.
    pub context_messages: usize,
    /// Bytes of a tool's output kept.
    pub tool_output_limit: usize,
    /// Words per second of the local model (0 = unlimited).
    pub local_tps: f64,
    /// Recent events kept in memory for exact resumes.
    pub event_ring: usize,
    /// The other nodes on the same database, through Redis (none: this node is alone).
    pub cluster: Option<Arc<cluster::Cluster>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            max_steps: 8,
            max_routing_depth: 4,
            context_messages: 40,
            tool_output_limit: 64 * 1024,
            local_tps: LocalProvider::from_env_tps(),
            event_ring: bus::RING_EVENTS,
            cluster: None,
        }
    }
}

struct ActiveRun {
    cancel: CancellationToken,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

/// The engine's state, by the job each part does.
struct EngineInner {
    store: Store,
    bus: EventBus,
    config: Config,
    options: EngineOptions,
    /// Cancelled when the runtime shuts down; every run and background task listens.
    shutdown: CancellationToken,
    models: Models,
    runs: Runs,
    tools: ToolHosts,
    documents: Documents,
    search: Search,
    telemetry: Telemetry,
    /// Traces of agents that run elsewhere, being assembled from their spans.
    ingest: ingest::Ingest,
    /// The runs as OpenTelemetry spans, to `[telemetry] otlp_endpoint`.
    export: std::sync::OnceLock<export::SpanExport>,
    /// Gateway calls: each conversation's newest call, the external agents by name, the
    /// calls in flight.
    gateway: gateway::GatewayState,
}

/// The runs: one task per thread, the limits they wait on, the locks they share.
struct Runs {
    /// Threads with a run task alive, one run per thread.
    active: Mutex<HashMap<String, ActiveRun>>,
    /// Serialises read-modify-write of threads between runs and API calls.
    thread_lock: Mutex<()>,
    /// Threads whose memory is being updated → whether another update was asked for.
    memory_updates: Mutex<HashMap<String, bool>>,
    /// Project limits: slots, queues and the token budget runs wait for.
    admission: Arc<admission::Admission>,
    /// Tokens used per project and minute, for the limits.
    usage: usage::UsageBook,
    /// Replies whose calls wait for an operator while their work goes on elsewhere (a
    /// gateway call, a coding agent's turn): reply id → wakes it when one is answered.
    held: Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<()>>>,
}

/// What tool calls run on, kept between calls.
#[derive(Default)]
struct ToolHosts {
    /// The process groups of tool processes running now.
    processes: tools::ProcessGroups,
    /// HTTP clients and OAuth2 tokens of webhook tools.
    webhooks: webhook::Webhooks,
    /// The MCP servers of the assistants, started on first use.
    mcp: mcp::McpServers,
}

/// Vector stores' documents: their chunks and vectors, and their ingestion.
struct Documents {
    /// The chunks of every vector store's files.
    chunks: Arc<agentdeck_search::stores::ChunkIndex>,
    /// Serialises read-modify-write of vector stores (ingestions finish concurrently).
    vector_lock: Mutex<()>,
    /// Bumped whenever a file's ingestion ends, for `file_search` waiting on one.
    ingested: tokio::sync::watch::Sender<u64>,
    /// Text to vectors, when a provider names an `embeddings_model`.
    embedder: Option<agentdeck_providers::embeddings::Embedder>,
    /// Chunk vectors read for `file_search`, by file (dropped when rewritten).
    vector_cache: Mutex<HashMap<std::path::PathBuf, Arc<agentdeck_search::vectors::ChunkVectors>>>,
    /// In a cluster: the (store, file) pairs this node's chunk index holds (another
    /// node may have read a file; this one reads it when a search first needs it).
    indexed_here: Mutex<std::collections::HashSet<(String, String)>>,
}

/// The index of every thread's messages, and the feed that keeps it.
struct Search {
    index: search::ThreadSearch,
    /// The bus rounds the search feed reads, subscribed at once so that nothing
    /// emitted before the feed starts is missed.
    rounds: Mutex<Option<bus::Rounds>>,
}

/// What the runtime tells about itself: model and tool call events, counters, shipping.
struct Telemetry {
    /// Model and tool call events, kept per project and written to the data dir.
    log: telemetry::TelemetryLog,
    /// Counters for `/metrics`.
    metrics: metrics::Metrics,
    /// Telemetry on its way to projects' `logs_webhook`s.
    shipper: shipper::Shipper,
}

impl Engine {
    pub fn new(store: Store, config: Config, options: EngineOptions) -> EngineResult<Engine> {
        let bus = EventBus::new(store.clone(), options.event_ring, options.cluster.clone())?;
        let usage = usage::UsageBook::load(&store, options.cluster.clone())?;
        let admission = Arc::new(admission::Admission::new(options.cluster.clone()));
        let models = Models::new(&config, options.local_tps);
        let telemetry = telemetry::TelemetryLog::open(store.dir());
        let chunks = Arc::new(agentdeck_search::stores::ChunkIndex::open(
            &store.dir().join("search").join("chunks"),
        )?);
        let search = search::ThreadSearch::start(&store, bus.last_id())?;
        let search_rounds = Mutex::new(Some(bus.receiver()));
        let embedder = config.embeddings().and_then(|(name, provider, model)| {
            match provider.base_url.as_deref().filter(|url| !url.is_empty()) {
                Some(url) => Some(agentdeck_providers::embeddings::Embedder::new(
                    name,
                    url,
                    model,
                    provider.api_key_env.clone(),
                )),
                None => {
                    tracing::warn!("provider '{name}' names an embeddings_model but no base_url");
                    None
                }
            }
        });
        Ok(Engine {
            inner: Arc::new(EngineInner {
                store,
                bus,
                config,
                options,
                shutdown: CancellationToken::new(),
                models,
                runs: Runs {
                    active: Mutex::new(HashMap::new()),
                    thread_lock: Mutex::new(()),
                    memory_updates: Mutex::new(HashMap::new()),
                    admission,
                    usage,
                    held: Mutex::new(HashMap::new()),
                },
                tools: ToolHosts::default(),
                documents: Documents {
                    chunks,
                    vector_lock: Mutex::new(()),
                    ingested: tokio::sync::watch::Sender::new(0),
                    embedder,
                    vector_cache: Mutex::new(HashMap::new()),
                    indexed_here: Mutex::new(std::collections::HashSet::new()),
                },
                search: Search {
                    index: search,
                    rounds: search_rounds,
                },
                telemetry: Telemetry {
                    log: telemetry,
                    metrics: metrics::Metrics::default(),
                    shipper: shipper::Shipper::default(),
                },
                ingest: ingest::Ingest::default(),
                export: std::sync::OnceLock::new(),
                gateway: gateway::GatewayState::default(),
            }),
        })
    }

    /// The provider that serves a model name (after aliases); `local` when none does.
    /// A model call's tokens: added to the reply with their cost (`model` as configured)
    /// and counted against the project's budget.
    pub(crate) fn count_usage(
        &self,
        reply: &mut Message,
        project_id: &str,
        model: &str,
        usage: Usage,
    ) {
        reply.usage.input_tokens += usage.input_tokens;
        reply.usage.output_tokens += usage.output_tokens;
        let config = self.config();
        reply.estimated_cost += config.cost(
            config.resolve_model(model),
            usage.input_tokens,
            usage.output_tokens,
        );
        self.inner.runs.usage.record(project_id, model, usage);
    }

    pub(crate) fn provider_for(&self, model: &str) -> Arc<dyn Provider> {
        self.inner.models.serving(self.config(), model)
    }

    /// The id of the first event of a message, where its stream replays from.
    pub fn message_first_event(&self, message_id: &str) -> EngineResult<Option<u64>> {
        Ok(self.inner.store.message_first_event(message_id)?)
    }

    /// The store: the engine's own (nothing outside it reaches storage).
    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Where the state is kept, for people: a data dir, or a database.
    pub fn storage_location(&self) -> String {
        self.inner.store.location()
    }

    /// Writes what is pending to disk (the last thing a stopping runtime does).
    pub async fn flush(&self) -> EngineResult<()> {
        Ok(self.inner.store.flush().await?)
    }

    /// A flag kept with the state (that the Getting-started project was made, say).
    pub fn meta_flag(&self, name: &str) -> EngineResult<bool> {
        Ok(self.inner.store.meta_flag(name)?)
    }

    pub fn set_meta_flag(&self, name: &str) -> EngineResult<()> {
        Ok(self.inner.store.set_meta_flag(name)?)
    }

    pub fn bus(&self) -> &EventBus {
        &self.inner.bus
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Waits until everything written so far is on disk: events queued (a commit round)
    /// and catalog writes made straight to the store (a flush). The API awaits it before
    /// it answers a change, so what it reports as done survives a crash one instant
    /// later. Concurrent callers share flushes.
    pub async fn durable(&self) -> EngineResult<()> {
        self.inner.bus.sync().await;
        if !self.inner.bus.storage_ok() {
            return Err(
                StoreError::Unavailable("writes are waiting for the database".into()).into(),
            );
        }
        Ok(self.inner.store.flush().await?)
    }

    /// Starts what works in the background for the whole runtime: delivery of telemetry
    /// to the projects' `logs_webhook`s.
    /// Starts sending runs to `[telemetry] otlp_endpoint`, if it names one. Inside the
    /// server's runtime; an error (a header's variable unset, an endpoint the exporter
    /// cannot use) is the config's.
    pub fn start_span_export(&self) -> Result<(), String> {
        if let Some(export) = export::SpanExport::start(&self.config().telemetry)? {
            let _ = self.inner.export.set(export);
        }
        Ok(())
    }

    /// The span exporter, when `[telemetry] otlp_endpoint` is set.
    pub(crate) fn span_export(&self) -> Option<&export::SpanExport> {
        self.inner.export.get()
    }

    pub fn start_background(&self) {
        let swept = self
            .inner
            .store
            .sweep_uploads(std::time::Duration::from_secs(3600));
        if swept > 0 {
            tracing::info!("removed {swept} uploads left half-written by an earlier process");
        }
        self.inner.telemetry.shipper.start(self.clone());
        self.start_search_feed();
        self.watch_storage();
        self.start_leases();
        self.start_span_settling();
        if let Err(err) = self.resume_ingestion() {
            tracing::warn!("vector stores: {err}");
        }
    }

    /// Number of threads with a run in progress.
    pub fn running_count(&self) -> usize {
        lock(&self.inner.runs.active).len()
    }

    /// Stops every run: they end `incomplete` with the text they had. Waits up to `grace`
    /// for them to finish writing.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        self.inner.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + grace;
        while self.running_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // The runs' last spans go out (bounded by the exporter's timeout), off the runtime.
        if self.inner.export.get().is_some() {
            let engine = self.clone();
            let _ = tokio::task::spawn_blocking(move || {
                if let Some(export) = engine.inner.export.get() {
                    export.flush();
                }
            })
            .await;
        }
        self.inner.tools.mcp.stop_all().await;
        // What the runs left running (a tool's children among them) ends with them.
        let ended = self.inner.tools.processes.end_all();
        if ended > 0 {
            tracing::info!("ended {ended} tool process groups at shutdown");
        }
        self.inner.bus.close().await;
        self.inner.search.index.stop().await;
        if let Err(err) = self.inner.store.flush().await {
            tracing::error!("flush at shutdown failed: {err}");
        }
    }

    /// Ends the event streams of replies that a crash cut off, so every reply's log
    /// ends with `message.completed` and `done`.
    pub async fn close_recovered(&self, replies: &[Message]) {
        for reply in replies {
            let Some(thread) = self.inner.store.thread(&reply.thread_id) else {
                continue;
            };
            let scope = Self::thread_scope(&thread, Some(&reply.id));
            if let Some(error) = &reply.error {
                self.emit(&scope, EventPayload::error(reply, error));
            }
            self.emit(&scope, EventPayload::message_completed(reply));
            self.emit(&scope, EventPayload::done(reply));
        }
        self.inner.bus.sync().await;
    }

    fn emit(&self, scope: &EventScope, payload: EventPayload) -> u64 {
        self.inner.bus.emit(scope, payload)
    }

    fn thread_scope(thread: &Thread, message_id: Option<&str>) -> EventScope {
        EventScope {
            project_id: thread.project_id.clone(),
            thread_id: thread.id.clone(),
            assistant_id: Some(thread.assistant_id.clone()),
            message_id: message_id.map(str::to_string),
        }
    }

    // --- messages ------------------------------------------------------------------------

    pub fn message(&self, scope: &Scope, thread_id: &str, id: &str) -> EngineResult<Message> {
        self.thread(scope, thread_id)?;
        match self.inner.store.message(id)? {
            Some(m) if m.thread_id == thread_id => Ok(m),
            _ => Err(EngineError::not_found("message", id)),
        }
    }

    pub fn list_messages(
        &self,
        scope: &Scope,
        thread_id: &str,
        after: Option<&str>,
        limit: usize,
        ascending: bool,
    ) -> EngineResult<List<Message>> {
        self.thread(scope, thread_id)?;
        if let Some(after) = after {
            self.message(scope, thread_id, after)?;
        }
        let (messages, has_more) = self
            .inner
            .store
            .list_messages(thread_id, after, limit, ascending)?;
        Ok(List::new(messages, has_more))
    }

    /// Stores a message. A user message starts the assistant's reply; a tool message
    /// answers a pending tool call and resumes the run.
    pub async fn post_message(
        &self,
        scope: &Scope,
        thread_id: &str,
        request: MessageCreate,
    ) -> EngineResult<MessagePosted> {
        let thread = self.thread(scope, thread_id)?;
        validate::message(&request)?;
        self.check_files(&thread.project_id, &request)?;
        match request.role {
            Role::User => self.post_user_message(thread, request).await,
            Role::Tool => self.answer_tool_call(thread, request).await,
            Role::Assistant | Role::System => Err(EngineError::invalid(
                "role must be 'user' (starts a reply) or 'tool' (answers a tool call).",
                "role",
            )),
        }
    }

    async fn post_user_message(
        &self,
        thread: Thread,
        request: MessageCreate,
    ) -> EngineResult<MessagePosted> {
        if thread.status == ThreadStatus::Closed {
            return Err(EngineError::Conflict(format!(
                "Thread '{}' is closed; reopen it (PATCH status 'active') to continue.",
                thread.id
            )));
        }
        let assistant = self
            .inner
            .store
            .assistant(&thread.assistant_id)?
            .ok_or_else(|| {
                EngineError::Conflict(format!(
                    "The thread's assistant '{}' was deleted; reassign the thread first.",
                    thread.assistant_id
                ))
            })?;
        if assistant.external {
            let (service, via) = assistant
                .source
                .as_ref()
                .map_or(("", ""), |s| (s.service.as_str(), s.via.as_str()));
            let how = if via == "gateway" {
                "its model calls come through the gateway"
            } else {
                "its spans arrive over OpenTelemetry"
            };
            return Err(EngineError::Conflict(format!(
                "Assistant '{}' runs elsewhere (service '{service}'; {how}): agentdeck shows its threads but cannot post to it.",
                assistant.name
            )));
        }
        // Documents go into the thread's own store before the run looks for it.
        if let Err(err) =
            self.index_message_files(&thread, &request.attachments, request.content.as_ref())
        {
            tracing::warn!("documents of {}: {err}", thread.id);
        }
        let cancel = self.inner.shutdown.child_token();
        let (message, reply) = self
            .start_reply(
                &thread,
                &assistant.id,
                request.content,
                request.attachments,
                cancel,
            )
            .await?;
        self.spawn_run(run::RunSpec {
            thread_id: thread.id.clone(),
            reply_id: reply.id.clone(),
            chain: vec![assistant.id.clone()],
        });
        Ok(MessagePosted {
            message,
            response_message_id: Some(reply.id),
        })
    }

    /// Stores a user message and an in-progress reply on a thread with no run, registers
    /// the run (stopped by `cancel`) and announces both; the caller spawns the run. A
    /// thread that is running or waiting for an operator is a conflict.
    pub(crate) async fn start_reply(
        &self,
        thread: &Thread,
        assistant_id: &str,
        content: Option<Content>,
        attachments: Vec<agentdeck_model::Attachment>,
        cancel: CancellationToken,
    ) -> EngineResult<(Message, Message)> {
        self.start_reply_after(thread, assistant_id, content, attachments, cancel, None)
            .await
    }

    /// [`Engine::start_reply`] whose first message, when `answers` names a call, is the
    /// tool message answering it (a gateway call that brings its tools' results back).
    pub(crate) async fn start_reply_after(
        &self,
        thread: &Thread,
        assistant_id: &str,
        content: Option<Content>,
        attachments: Vec<agentdeck_model::Attachment>,
        cancel: CancellationToken,
        answers: Option<String>,
    ) -> EngineResult<(Message, Message)> {
        let (message, reply) = {
            let mut runs = lock(&self.inner.runs.active);
            let current = self
                .inner
                .store
                .thread(&thread.id)
                .unwrap_or(thread.clone());
            if runs.contains_key(&thread.id) || current.status == ThreadStatus::RequiresAction {
                return Err(EngineError::Conflict(format!(
                    "Thread '{}' already has a run in progress ({}); wait for it or cancel it.",
                    thread.id,
                    current.status.as_str()
                )));
            }
            let role = if answers.is_some() {
                Role::Tool
            } else {
                Role::User
            };
            let mut message = self.new_message(
                thread,
                role,
                None,
                content,
                attachments,
                MessageStatus::Completed,
            );
            message.tool_call_id = answers;
            let reply = self.new_message(
                thread,
                Role::Assistant,
                Some(assistant_id),
                None,
                Vec::new(),
                MessageStatus::InProgress,
            );
            self.claim_run(&thread.id)?;
            self.inner.bus.put_message(message.clone());
            self.inner.bus.put_message(reply.clone());
            runs.insert(thread.id.clone(), ActiveRun { cancel });
            (message, reply)
        };
        if let Err(err) = self.begin_reply(thread, &message, &reply).await {
            self.forget_run(&thread.id);
            return Err(err);
        }
        Ok((message, reply))
    }

    /// Announces a user message and its reply, and waits until both are durable.
    async fn begin_reply(
        &self,
        thread: &Thread,
        message: &Message,
        reply: &Message,
    ) -> EngineResult<()> {
        let first_message = thread.title.is_none();
        // Titles read as people wrote: the local model's directives are left out.
        let title = validate::clip_title(&agentdeck_providers::local::without_directives(
            &message.text(),
        ));
        let thread = self.update_thread(&thread.id, |t| {
            t.status = ThreadStatus::Running;
            if first_message && !title.is_empty() {
                t.title = Some(title);
            }
        })?;
        self.emit(
            &Self::thread_scope(&thread, Some(&message.id)),
            EventPayload::message_created(message),
        );
        self.emit(
            &Self::thread_scope(&thread, Some(&reply.id)),
            EventPayload::message_created(reply),
        );
        self.inner.bus.sync().await;
        Ok(())
    }

    fn new_message(
        &self,
        thread: &Thread,
        role: Role,
        assistant_id: Option<&str>,
        content: Option<Content>,
        attachments: Vec<agentdeck_model::Attachment>,
        status: MessageStatus,
    ) -> Message {
        let files = agentdeck_model::file_ids(&attachments, content.as_ref())
            .into_iter()
            .filter_map(|id| self.inner.store.file(id).ok().flatten())
            .map(|file| agentdeck_model::FileSummary::from(&file))
            .collect();
        Message {
            files,
            id: new_id("msg_"),
            object: "thread.message".into(),
            thread_id: thread.id.clone(),
            assistant_id: assistant_id.map(str::to_string),
            role,
            content,
            attachments,
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning: Vec::new(),
            status,
            usage: Usage::default(),
            estimated_cost: 0.0,
            created_at: now_secs(),
            error: None,
            metadata: Default::default(),
        }
    }

    fn spawn_run(&self, spec: run::RunSpec) {
        let cancel = lock(&self.inner.runs.active)
            .get(&spec.thread_id)
            .map(|run| run.cancel.clone())
            .unwrap_or_else(|| self.inner.shutdown.child_token());
        let engine = self.clone();
        tokio::spawn(async move { run::run(engine, spec, cancel).await });
    }

    /// Finds the paused reply that holds `call_id`, under the runs lock so no run task is
    /// writing it, applies `change` to the call and resumes the run when nothing waits.
    async fn resolve_pending_call(
        &self,
        thread: &Thread,
        call_id: &str,
        expected: ToolCallStatus,
        change: impl FnOnce(&mut agentdeck_model::ToolCall) -> EngineResult<()>,
    ) -> EngineResult<Message> {
        let reply = {
            let mut runs = lock(&self.inner.runs.active);
            let paused = self.paused_reply(&thread.id)?;
            // A reply held for the operator waits while its work goes on (a coding
            // agent's turn): its run is active, and the answer is what it waits for.
            let held = paused
                .as_ref()
                .is_some_and(|r| lock(&self.inner.runs.held).contains_key(&r.id));
            if runs.contains_key(&thread.id) && !held {
                return Err(EngineError::Conflict(format!(
                    "Tool call '{call_id}' is not waiting: the run is still working."
                )));
            }
            let Some(mut reply) = paused else {
                return Err(EngineError::not_found("pending tool call", call_id));
            };
            let Some(call) = reply.tool_calls.iter_mut().find(|c| c.id == call_id) else {
                return Err(EngineError::not_found("pending tool call", call_id));
            };
            if call.status != expected {
                return Err(EngineError::Conflict(format!(
                    "Tool call '{call_id}' is {:?}, not waiting for this.",
                    call.status
                )));
            }
            change(call)?;
            let call = call.clone();
            self.inner.bus.put_message(reply.clone());
            let scope = Self::thread_scope(thread, Some(&reply.id));
            if call.status.is_final() {
                self.emit(&scope, EventPayload::tool_call_output(&reply, &call));
            }
            let still_waiting = reply.tool_calls.iter().any(|c| c.status.is_waiting());
            // A held gateway answer goes on in the call that holds it, not in a run.
            let held = gateway::is_gateway_thread(thread)
                || lock(&self.inner.runs.held).contains_key(&reply.id);
            if !still_waiting && !held {
                self.claim_run(&thread.id)?;
                runs.insert(
                    thread.id.clone(),
                    ActiveRun {
                        cancel: self.inner.shutdown.child_token(),
                    },
                );
            }
            reply.status = MessageStatus::InProgress;
            reply
        };
        // The run task reads the reply back: it must find this change written.
        self.inner.bus.sync().await;
        let wake = lock(&self.inner.runs.held).get(&reply.id).cloned();
        if let Some(wake) = wake {
            let _ = wake.send(());
            return Ok(reply);
        }
        if gateway::is_gateway_thread(thread) {
            return Ok(reply);
        }
        if !reply.tool_calls.iter().any(|c| c.status.is_waiting()) {
            self.update_thread(&thread.id, |t| t.status = ThreadStatus::Running)?;
            let chain = vec![thread.assistant_id.clone()];
            self.spawn_run(run::RunSpec {
                thread_id: thread.id.clone(),
                reply_id: reply.id.clone(),
                chain,
            });
        }
        Ok(reply)
    }

    async fn answer_tool_call(
        &self,
        thread: Thread,
        request: MessageCreate,
    ) -> EngineResult<MessagePosted> {
        let Some(call_id) = request.tool_call_id.clone() else {
            return Err(EngineError::invalid(
                "A tool message needs tool_call_id.",
                "tool_call_id",
            ));
        };
        let output = request
            .content
            .as_ref()
            .map(Content::to_text)
            .unwrap_or_default();
        let reply = self
            .resolve_pending_call(&thread, &call_id, ToolCallStatus::RequiresAction, |call| {
                call.status = ToolCallStatus::Completed;
                call.output = Some(output);
                Ok(())
            })
            .await?;
        let mut message = self.new_message(
            &thread,
            Role::Tool,
            None,
            request.content,
            request.attachments,
            MessageStatus::Completed,
        );
        message.tool_call_id = Some(call_id);
        self.inner.bus.put_message(message.clone());
        let scope = Self::thread_scope(&thread, Some(&message.id));
        self.emit(&scope, EventPayload::message_created(&message));
        self.inner.bus.sync().await;
        Ok(MessagePosted {
            message,
            response_message_id: Some(reply.id),
        })
    }

    pub async fn approve(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
        arguments: Option<serde_json::Value>,
    ) -> EngineResult<Message> {
        let thread = self.thread(scope, thread_id)?;
        let arguments = match arguments {
            None => None,
            Some(serde_json::Value::String(text)) => Some(text),
            Some(value @ serde_json::Value::Object(_)) => Some(value.to_string()),
            Some(_) => {
                return Err(EngineError::invalid(
                    "arguments must be a JSON object or a JSON string.",
                    "arguments",
                ));
            }
        };
        if let Some(text) = &arguments {
            if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text).is_err() {
                return Err(EngineError::invalid(
                    "arguments must encode a JSON object.",
                    "arguments",
                ));
            }
        }
        self.resolve_pending_call(&thread, call_id, ToolCallStatus::RequiresApproval, |call| {
            if let Some(arguments) = arguments {
                call.function.arguments = arguments;
            }
            call.status = ToolCallStatus::InProgress;
            call.approved = true;
            Ok(())
        })
        .await
    }

    pub async fn deny(
        &self,
        scope: &Scope,
        thread_id: &str,
        call_id: &str,
        reason: Option<String>,
    ) -> EngineResult<Message> {
        let thread = self.thread(scope, thread_id)?;
        self.resolve_pending_call(&thread, call_id, ToolCallStatus::RequiresApproval, |call| {
            call.status = ToolCallStatus::Denied;
            call.output = Some(match reason {
                Some(reason) => format!("The operator denied this call: {reason}"),
                None => "The operator denied this call.".to_string(),
            });
            Ok(())
        })
        .await
    }

    /// Waits until the message is final (and durable) and returns it.
    pub async fn wait_for_message(&self, message_id: &str) -> EngineResult<Message> {
        let mut rx = self.inner.bus.receiver();
        loop {
            if let Some(message) = self.inner.store.message(message_id)? {
                if message.status.is_final() {
                    return Ok(message);
                }
            } else {
                return Err(EngineError::not_found("message", message_id));
            }
            loop {
                match rx.recv().await {
                    Ok(batch)
                        if batch.iter().any(|event| {
                            event.kind == agentdeck_model::EventKind::MessageCompleted
                                && event.message_id.as_deref() == Some(message_id)
                        }) =>
                    {
                        break;
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return Err(EngineError::Conflict("the runtime is shutting down".into()));
                    }
                }
            }
        }
    }

    /// An error body for failed replies.
    pub(crate) fn error_body(kind: &str, code: &str, message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            kind: kind.into(),
            code: Some(code.into()),
            param: None,
        }
    }
}
