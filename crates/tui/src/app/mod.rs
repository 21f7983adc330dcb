//! The workspace state and its logic, free of terminal types: events from the runtime and
//! actions from the keyboard go in, effects (API calls to make) come out as data.

mod actions;
mod attention;
mod composer;
mod line;
pub use line::{LineInput, LineKey};
mod global_search;
mod routing;
mod runtimes;
mod trace;
pub use runtimes::RuntimeView;
mod conversation;
mod tools;
pub use composer::{Attachment, Composer};
pub use conversation::{Conversation, MessageRef};
mod tree;
mod wall;
pub use routing::{Load, Routes, RoutingGraph, RoutingNode, edge_label};
pub use tools::{LiveCall, Tools};
pub use trace::{Replay, TRACE_EVENTS, TRACE_THREADS, Trace};
pub use tree::{ThreadList, TreeRow};
pub use wall::{Tail, TailEntry, WALL_TILES, Wall};

pub use attention::{Alert, Attention};
pub use global_search::GlobalSearch;
mod selection;
mod server_events;
mod tool_decisions;

use super::filter::Filter;
use super::keymap::Action;
use super::markdown::StreamingText;
pub use super::pane::Pane;
use agentdeck_client::ServerEvent;
use agentdeck_model::memory::MemoryView;
use agentdeck_model::{Assistant, LimitsView, Message, Thread, ThreadStatus, ToolCallStatus};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Writing a message to the selected thread, or an answer to a tool call.
    Compose(ComposeTarget),
    Filter,
    /// Searching the open thread.
    Search,
    Help,
    /// The command palette, with what was typed so far.
    Palette(String),
    /// The table of what each assistant cost (`:cost`).
    Costs,
    /// Searching every thread (`ctrl-f`, `:search`).
    GlobalSearch,
    /// The live wall of the most recently active threads (`w`).
    Wall,
    /// The trace of a run, and its replay (`t`).
    Trace,
    /// One tool call whole: whose it is, its arguments and output (`Enter` in Tools).
    CallDetail(String),
    /// A question before an action that cannot be taken back (`y` goes ahead).
    Confirm(Confirm),
}

/// What waits for the operator's `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirm {
    /// Close these threads.
    Close(Vec<String>),
}

/// The threads the runtime's search found for the filter's free words (the filter
/// matches words in text the workspace does not hold: messages, whole titles).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FilterHits {
    /// The words asked for.
    pub query: String,
    /// Bumped by every search sent; an answer to an older one is dropped.
    pub seq: u64,
    pub threads: HashSet<String>,
    /// Bumped by every change (the visible list depends on it).
    rev: u64,
}

/// The `:cost` table: each assistant's cost, dearest first, and their total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CostTable {
    pub rows: Vec<CostRow>,
    pub total: f64,
}

/// One assistant's row of the `:cost` table.
#[derive(Debug, Clone, PartialEq)]
pub struct CostRow {
    pub assistant: String,
    pub threads: u64,
    pub cost: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComposeTarget {
    Thread,
    /// A new thread with this assistant.
    NewThread(String),
    ToolAnswer {
        thread_id: String,
        call_id: String,
    },
}

/// How the threads list is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    Activity,
    Priority,
    Status,
}

impl SortOrder {
    pub fn name(self) -> &'static str {
        match self {
            SortOrder::Activity => "activity",
            SortOrder::Priority => "priority",
            SortOrder::Status => "status",
        }
    }

    fn next(self) -> SortOrder {
        match self {
            SortOrder::Activity => SortOrder::Priority,
            SortOrder::Priority => SortOrder::Status,
            SortOrder::Status => SortOrder::Activity,
        }
    }
}

/// Something selected in the conversation: a message, or one of its code blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub message_id: String,
    pub code_block: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Connected,
    Reconnecting(String),
}

/// What the app asks the outside world to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    LoadMessages(String),
    LoadMemory(String),
    /// The next page of threads, after this one.
    LoadMoreThreads(String),
    /// Tool calls of these threads from before the workspace started, for the Tools pane.
    LoadToolHistory(Vec<String>),
    /// What each assistant costs, for `:cost`.
    LoadCosts,
    /// Search every thread the key may see (the answer names `seq`).
    SearchAll {
        query: String,
        seq: u64,
    },
    /// The threads whose text holds the filter's free words (the answer names `seq`).
    FilterSearch {
        query: String,
        seq: u64,
    },
    /// Fetch a thread that is not loaded and open it.
    FetchThread(String),
    /// Fetch an assistant the workspace has not seen (made after it started).
    LoadAssistant(String),
    /// The last messages of these threads, for their tiles on the wall.
    LoadTails(Vec<String>),
    /// The logged events of a thread and of the threads it routed to, for its trace.
    LoadTrace(String),
    Post {
        thread_id: String,
        text: String,
    },
    NewThread {
        assistant_id: String,
        text: String,
    },
    AnswerTool {
        thread_id: String,
        call_id: String,
        text: String,
    },
    Approve {
        thread_id: String,
        call_id: String,
        /// Edited arguments to run the call with.
        arguments: Option<String>,
    },
    /// Edit a waiting call's answer (or its arguments, for an approval) in $EDITOR.
    EditTool {
        thread_id: String,
        call_id: String,
        approval: bool,
        text: String,
    },
    /// Read a file to send with the next message.
    Attach(String),
    /// Panic on purpose (tests prove the terminal is restored); only when the
    /// environment allows it, see `run`.
    DebugPanic,
    Deny {
        thread_id: String,
        call_id: String,
    },
    Cancel(String),
    Close(String),
    /// Hand a thread to another assistant.
    Reassign {
        thread_id: String,
        assistant_id: String,
    },
    /// Play the support-desk demo through the API.
    Demo,
    /// Switch the theme (a UI matter, carried out by the loop).
    Theme(String),
    /// Put text on the clipboard of the terminal (OSC 52).
    Copy(String),
    Quit,
}

impl Effect {
    /// The thread this effect changes, if any: such effects run in order per thread.
    pub fn changed_thread(&self) -> Option<&str> {
        match self {
            Effect::Post { thread_id, .. }
            | Effect::AnswerTool { thread_id, .. }
            | Effect::Approve { thread_id, .. }
            | Effect::Deny { thread_id, .. }
            | Effect::Reassign { thread_id, .. }
            | Effect::Cancel(thread_id)
            | Effect::Close(thread_id) => Some(thread_id),
            _ => None,
        }
    }
}

/// What the outside world tells the app.
#[derive(Debug, Clone)]
pub enum AppEvent {
    /// What runtime `k`'s background tasks (or an effect sent to it) report.
    From(usize, Box<AppEvent>),
    Server(ServerEvent),
    Connection(Connection),
    Snapshot {
        assistants: Vec<Assistant>,
        threads: Vec<Thread>,
        /// The server has older threads than these.
        has_more: bool,
    },
    Messages {
        thread_id: String,
        messages: Vec<Message>,
    },
    Memory(MemoryView),
    /// An assistant fetched because an event named it.
    Assistant(Assistant),
    /// A further page of threads (older activity).
    MoreThreads {
        threads: Vec<Thread>,
        has_more: bool,
    },
    /// A file read for the next message.
    Attached {
        name: String,
        text: String,
    },
    Limits(LimitsView),
    /// Tool calls from before the workspace started, newest first.
    ToolHistory(Vec<LiveCall>),
    /// What each assistant cost (most first), and the total, for `:cost`.
    Costs {
        rows: Vec<CostRow>,
        total: f64,
    },
    /// The answer to a search across threads.
    SearchResults {
        seq: u64,
        hits: Result<Vec<agentdeck_model::SearchHit>, String>,
    },
    /// The threads a runtime's search found for the filter's words.
    FilterHits {
        seq: u64,
        threads: Vec<String>,
    },
    Notice(String),
    /// Show, select and open this thread (one the user just started; its thread.created
    /// event may still be on its way).
    Open(Thread),
    /// Sending failed: give the text back to the composer.
    RestoreDraft(String),
    /// The logged events of a traced thread and the threads it routed to.
    TraceLoaded {
        root: String,
        events: Result<Vec<ServerEvent>, String>,
    },
    /// A thread's last messages (oldest first), for its tile on the wall.
    Tail {
        thread_id: String,
        messages: Vec<Message>,
    },
    /// A code block's highlighting is ready (for the UI; the app state ignores it).
    Highlighted {
        key: u64,
        lines: super::highlight::Highlighted,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edge {
    pub count: u32,
    pub in_flight: u32,
}

/// Threads whose earlier tool calls are loaded into the Tools pane at start.
const TOOL_HISTORY_THREADS: usize = 20;

#[derive(Debug)]
pub struct App {
    pub origin: String,
    pub connection: Connection,
    pub assistants: BTreeMap<String, Assistant>,
    /// The threads list: the threads loaded, the cursor, filter, order, marks and folds.
    pub list: ThreadList,
    pub focus: Pane,
    pub mode: Mode,
    pub zoom: bool,
    /// The open thread: its messages, streaming replies, selection, scroll and memory.
    pub conversation: Conversation,
    /// The Tools pane: the calls seen, its cursor and marks, the detail view's scroll.
    pub tools: Tools,
    /// Lines scrolled in the help view.
    pub help_scroll: usize,
    /// The hops between assistants, their counts, and the routing graph's cursor.
    pub routes: Routes,
    /// Assistants asked for (named by an event before the workspace knew them).
    assistants_asked: HashSet<String>,
    /// Unread counts, failures seen, alerts for the host.
    pub attention: Attention,
    pub limits: Option<LimitsView>,
    pub notice: Option<String>,
    /// Unix seconds "now", for relative times (set by the loop; fixed in tests).
    pub now: u64,
    /// The `:cost` table, as last loaded.
    pub costs: CostTable,
    /// The search across every thread.
    pub global_search: GlobalSearch,
    /// The composer's attachments and failed draft, the palette's history and names.
    pub composer: Composer,
    /// The cursor of the one-line field being typed (filter, search, palette), in
    /// characters.
    pub line_cursor: usize,
    /// The filtered, sorted list, computed once per change rather than per pane per frame.
    visible: std::cell::RefCell<VisibleThreads>,
    /// The live wall: the last words of the threads active last, and its cursor.
    pub wall: Wall,
    /// The open trace, if any.
    pub trace: Option<Trace>,
    /// The runtimes watched, when the workspace was given them (empty: one, unnamed).
    pub runtimes: Vec<RuntimeView>,
    /// Which runtime owns each thread and assistant (by id).
    owners: HashMap<String, usize>,
}

/// Indices into `threads` that pass the filter, in display order (children under their
/// parent, folded ones left out), their rows of the tree, and what they were computed from.
#[derive(Debug, Default)]
struct VisibleThreads {
    key: Option<VisibleKey>,
    indices: Vec<usize>,
    rows: Vec<TreeRow>,
    /// The threads of the live wall (see `wall_threads`), and their ids in tile order
    /// (a tile keeps its place while its thread stays on the wall).
    wall: Vec<usize>,
    wall_ids: Vec<String>,
    /// Running, waiting and queued threads among all (the status bar's counts).
    counts: (usize, usize, usize),
    /// The threads that need the operator (see `attention::needing`).
    attention: Vec<usize>,
    /// Each thread's index into `threads`, by id.
    by_id: HashMap<String, usize>,
}

/// What the visible threads are computed from: a change to any of these recomputes them.
#[derive(Debug, Clone, PartialEq)]
struct VisibleKey {
    threads_rev: u64,
    threads: usize,
    assistants: usize,
    filter: String,
    sort: SortOrder,
    folded_rev: u64,
    seen_rev: u64,
    filter_hits_rev: u64,
    wall_tiles: usize,
}

impl App {
    pub fn new(origin: String) -> App {
        App {
            origin,
            connection: Connection::Connecting,
            assistants: BTreeMap::new(),
            list: ThreadList::default(),
            focus: Pane::Threads,
            mode: Mode::Normal,
            zoom: false,
            conversation: Conversation::default(),
            tools: Tools::default(),
            help_scroll: 0,
            routes: Routes::default(),
            assistants_asked: HashSet::new(),
            attention: Attention::default(),
            limits: None,
            notice: None,
            now: agentdeck_model::now_secs(),
            costs: CostTable::default(),
            global_search: GlobalSearch::default(),
            composer: Composer::default(),
            line_cursor: 0,
            visible: Default::default(),
            wall: Wall::default(),
            trace: None,
            runtimes: Vec::new(),
            owners: HashMap::new(),
        }
    }

    pub fn assistant_name(&self, id: &str) -> String {
        self.assistants
            .get(id)
            .map_or_else(|| short_id(id), |a| a.name.clone())
    }

    /// The threads that pass the filter, newest activity first.
    pub fn visible_threads(&self) -> Vec<&Thread> {
        self.with_visible(|indices| indices.iter().map(|&i| &self.list.threads[i]).collect())
    }

    pub fn selected_thread(&self) -> Option<&Thread> {
        self.with_visible(|indices| indices.get(self.list.selected).copied())
            .map(|i| &self.list.threads[i])
    }

    /// Whose call it is, for its row: "assistant · thread title".
    pub fn call_owner(&self, live: &LiveCall) -> String {
        match self.thread_by_id(&live.thread_id) {
            Some(thread) => format!(
                "{} · {}",
                self.assistant_name(&thread.assistant_id),
                thread.title.clone().unwrap_or_else(|| short_id(&thread.id))
            ),
            None => short_id(&live.thread_id),
        }
    }

    /// The call the detail view shows (`Enter` in the Tools pane), if it is open.
    pub fn detail_call(&self) -> Option<&LiveCall> {
        match &self.mode {
            Mode::CallDetail(id) => self.tools.get(id),
            _ => None,
        }
    }

    fn open_selected(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_thread().map(|t| t.id.clone()) else {
            return Vec::new();
        };
        if self.conversation.open_thread.as_deref() == Some(id.as_str()) {
            return Vec::new();
        }
        self.conversation.open(&id);
        self.attention.unread.remove(&id);
        vec![Effect::LoadMessages(id.clone()), Effect::LoadMemory(id)]
    }

    pub fn apply(&mut self, event: AppEvent) -> Vec<Effect> {
        match event {
            AppEvent::From(k, event) => self.apply_from(k, *event),
            AppEvent::Connection(state) => {
                self.connection = state;
                Vec::new()
            }
            AppEvent::Snapshot {
                assistants,
                threads,
                has_more,
            } => self.snapshot_loaded(assistants, threads, has_more),
            AppEvent::Messages {
                thread_id,
                messages,
            } => {
                if self.conversation.open_thread.as_deref() == Some(thread_id.as_str()) {
                    self.conversation.merge_loaded(messages);
                    self.select_pending();
                }
                Vec::new()
            }
            AppEvent::Memory(view) => {
                if self.conversation.open_thread.as_deref() == Some(view.thread_id.as_str()) {
                    self.conversation.memory = Some(view);
                }
                Vec::new()
            }
            AppEvent::MoreThreads { threads, has_more } => {
                self.more_threads(threads, has_more);
                Vec::new()
            }
            AppEvent::Assistant(assistant) => {
                self.assistants.insert(assistant.id.clone(), assistant);
                Vec::new()
            }
            AppEvent::Attached { name, text } => {
                self.notice = Some(format!(
                    "Attached {name} ({} bytes): it goes with the next message.",
                    text.len()
                ));
                self.composer.attachments.push(Attachment { name, text });
                Vec::new()
            }
            AppEvent::SearchResults { seq, hits } => {
                self.search_results(seq, hits);
                Vec::new()
            }
            AppEvent::FilterHits { seq, threads } => self.filter_hits_found(seq, threads),
            AppEvent::Costs { rows, total } => {
                self.costs = CostTable { rows, total };
                self.notice = None;
                self.mode = Mode::Costs;
                Vec::new()
            }
            AppEvent::ToolHistory(calls) => {
                self.tools.history_loaded(calls);
                Vec::new()
            }
            AppEvent::Limits(limits) => {
                self.limits = Some(limits);
                Vec::new()
            }
            AppEvent::Notice(text) => {
                self.notice = Some(text);
                Vec::new()
            }
            AppEvent::Highlighted { .. } => Vec::new(),
            AppEvent::TraceLoaded { root, events } => {
                self.trace_loaded(&root, events);
                Vec::new()
            }
            AppEvent::Tail {
                thread_id,
                messages,
            } => {
                self.wall.tail_loaded(&thread_id, messages);
                Vec::new()
            }
            AppEvent::RestoreDraft(text) => {
                self.composer.restored_draft = Some(text);
                Vec::new()
            }
            AppEvent::Open(thread) => self.open_thread_from(thread),
            AppEvent::Server(event) => {
                if self.connection != Connection::Connected {
                    self.connection = Connection::Connected;
                }
                self.apply_server(event)
            }
        }
    }

    /// The catalog and the first page of threads, on connecting (again).
    fn snapshot_loaded(
        &mut self,
        assistants: Vec<Assistant>,
        threads: Vec<Thread>,
        has_more: bool,
    ) -> Vec<Effect> {
        self.assistants = assistants.into_iter().map(|a| (a.id.clone(), a)).collect();
        self.list.loaded(threads, has_more);
        self.count_routed_threads();
        self.connection = Connection::Connected;
        if let Some(id) = self.list.want_selected.take() {
            if let Some(position) = self.visible_threads().iter().position(|t| t.id == id) {
                self.list.selected = position;
            }
        }
        self.list.selected = self
            .list
            .selected
            .min(self.visible_threads().len().saturating_sub(1));
        let mut effects = self.open_selected();
        // The newest threads' calls, so the Tools pane is not empty at start.
        let recent: Vec<String> = self
            .list
            .threads
            .iter()
            .take(TOOL_HISTORY_THREADS)
            .map(|t| t.id.clone())
            .collect();
        if !recent.is_empty() {
            effects.push(Effect::LoadToolHistory(recent));
        }
        // A remembered filter's words are looked for in the runtime's text too.
        effects.extend(self.search_filter_words());
        effects
    }

    /// The next page of threads; a thread already listed is kept once.
    fn more_threads(&mut self, threads: Vec<Thread>, has_more: bool) {
        self.list.page_loaded(threads, has_more);
        self.count_routed_threads();
    }

    /// Threads the runtime's search found a filter's words in.
    fn filter_hits_found(&mut self, seq: u64, threads: Vec<String>) -> Vec<Effect> {
        if seq == self.list.filter_hits.seq {
            let selected = self.selected_thread().map(|t| t.id.clone());
            self.list.filter_hits.threads.extend(threads);
            self.list.filter_hits.rev += 1;
            // The cursor stays on its thread as more rows come in.
            if let Some(id) = selected {
                if let Some(at) = self.visible_threads().iter().position(|t| t.id == id) {
                    self.list.selected = at;
                }
            } else {
                return self.open_selected();
            }
        }
        Vec::new()
    }

    /// Opens a thread asked for by id (`!`, a search hit, a new thread), listing it first
    /// if the list does not hold it.
    fn open_thread_from(&mut self, thread: Thread) -> Vec<Effect> {
        let thread_id = thread.id.clone();
        if !self.list.threads.iter().any(|t| t.id == thread_id) {
            self.list.threads.insert(0, thread);
            self.list.rev += 1;
        }
        if !self.visible_threads().iter().any(|t| t.id == thread_id) {
            self.list.filter_text.clear();
        }
        match self
            .visible_threads()
            .iter()
            .position(|t| t.id == thread_id)
        {
            Some(position) => {
                self.list.selected = position;
                self.focus = Pane::Threads;
                let effects = self.open_selected();
                // Opened on purpose (`!`, a hit, a new thread): its failure is seen.
                self.clear_attention(&thread_id);
                effects
            }
            None => Vec::new(),
        }
    }

    fn upsert_thread(&mut self, thread: Thread) -> Vec<Effect> {
        let selected_id = self.selected_thread().map(|t| t.id.clone());
        self.list.upsert(thread);
        // Keep the cursor on the same thread while others move to the top.
        if let Some(id) = selected_id {
            if let Some(pos) = self.visible_threads().iter().position(|t| t.id == id) {
                self.list.selected = pos;
            }
            Vec::new()
        } else {
            self.list.selected = 0;
            self.open_selected()
        }
    }
}

pub fn short_id(id: &str) -> String {
    match id.split_once('_') {
        Some((prefix, rest)) => format!("{prefix}_{}", rest.chars().take(6).collect::<String>()),
        None => id.chars().take(10).collect(),
    }
}

impl App {
    /// What of this workspace is worth remembering across runs.
    pub fn ui_state(&self, draft: String) -> super::state::UiState {
        super::state::UiState {
            filter: self.list.filter_text.clone(),
            focus: self.focus,
            zoom: self.zoom,
            selected_thread: self
                .selected_thread()
                .map(|t| t.id.clone())
                .or_else(|| self.list.want_selected.clone()),
            draft,
            unread: self.attention.unread.clone(),
            seen_failures: self.attention.seen_failures.clone(),
            palette_history: self.composer.history.clone(),
        }
    }

    /// Takes back remembered state (before the threads are loaded).
    pub fn restore(&mut self, state: super::state::UiState) {
        self.list.filter_text = state.filter;
        self.focus = state.focus;
        self.zoom = state.zoom;
        self.list.want_selected = state.selected_thread;
        self.attention.restore(state.unread, state.seen_failures);
        self.composer.history = state.palette_history;
    }
}

/// "3s", "5m", "2h", "4d" since `then`.
/// When the label [`ago`] gives `then` next changes (Unix seconds): each second in the
/// first minute, then at most once a minute, an hour, a day.
pub fn ago_changes_at(now: u64, then: u64) -> u64 {
    let secs = now.saturating_sub(then);
    let unit = match secs {
        0..=59 => 1,
        60..=3599 => 60,
        3600..=86_399 => 3600,
        _ => 86_400,
    };
    then + (secs / unit + 1) * unit
}

pub fn ago(now: u64, then: u64) -> String {
    let secs = now.saturating_sub(then);
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    }
}

#[cfg(test)]
mod tests;
