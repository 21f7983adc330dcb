//! Traces in: spans that agents built elsewhere send over OTLP become external
//! assistants, threads, messages, tool calls and routes, published as the same events
//! the native runtime emits, so no pane knows the difference.
//!
//! Exporters send a span when it ends, so a parent comes after its children, and
//! batches from several processes interleave. Each trace is assembled here: a span is
//! placed (mapped and published) once its parent is placed, or it is a root; one whose
//! parent has not come within `[otlp] settle_ms` is placed by what is known. Objects
//! take ids derived from the span ids, so a batch sent twice changes nothing.

mod objects;
mod place;
pub(crate) use place::{derived_id, span_call};
mod retention;
mod semconv;

use crate::{Engine, EngineResult};
use agentdeck_model::spans::Span;
use agentdeck_model::sync::lock;
use semconv::SpanRole;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Traces assembled at once; beyond it, those untouched longest are let go (a span of
/// one still arriving is then placed by what the store holds).
const TRACES_KEPT: usize = 10_000;
/// Spans of one trace assembled; beyond it, new spans are placed at once.
const SPANS_PER_TRACE: usize = 20_000;
/// A trace untouched for this long is let go.
const TRACE_IDLE: Duration = Duration::from_secs(600);

/// What one export request came to.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IngestReport {
    /// Spans refused (the count OTLP's partial success reports).
    pub rejected: usize,
    /// Why, when some were.
    pub message: Option<String>,
}

/// The traces being assembled, per project.
#[derive(Default)]
pub(crate) struct Ingest {
    state: Mutex<IngestState>,
}

#[derive(Default)]
struct IngestState {
    traces: HashMap<(String, String), Trace>,
    /// Bumped per batch: which traces were touched last.
    clock: u64,
    /// External assistants known to exist (skip the store's lookup): the id derived
    /// from a span's service and agent → the assistant's (another when the agent came
    /// through the gateway first).
    assistants: HashMap<String, String>,
    /// When idle traces were last let go (a sweep visits every trace: not per request).
    swept_at: Option<Instant>,
}

/// One trace as far as it has arrived.
struct Trace {
    nodes: HashMap<String, Node>,
    /// The thread of the trace's top-level agent (its conversation, else the trace).
    root_thread: Option<String>,
    conversation: Option<String>,
    touched: u64,
    touched_at: Instant,
    /// Messages placed in this trace, by id: tool spans attach to them.
    messages: HashMap<String, agentdeck_model::Message>,
    /// Per thread: the newest model-call message placed, and the newest user text.
    threads: HashMap<String, ThreadTrail>,
}

#[derive(Default, Clone)]
struct ThreadTrail {
    last_model_message: Option<String>,
    last_user_text: Option<String>,
}

struct Node {
    parent: Option<String>,
    /// When the span started: siblings are placed in the order they ran.
    start: u64,
    role: SpanRole,
    /// The span, until it is placed.
    span: Option<Box<Span>>,
    arrived: Instant,
    /// Its parent is not coming in time: place it as if it had none.
    forced: bool,
    placed: Option<Placed>,
}

/// Where a placed span went: what its children inherit.
#[derive(Debug, Clone, Default)]
struct Placed {
    thread_id: Option<String>,
    assistant_id: Option<String>,
    /// A tool or handoff span's call (message id, call id): an agent under it was
    /// delegated to through that call.
    call: Option<(String, String)>,
}

impl Trace {
    fn new(clock: u64) -> Trace {
        Trace {
            nodes: HashMap::new(),
            root_thread: None,
            conversation: None,
            touched: clock,
            touched_at: Instant::now(),
            messages: HashMap::new(),
            threads: HashMap::new(),
        }
    }

    /// Keeps only the messages a later span may still change: one with a call whose
    /// result has not come, and each thread's newest model call (a tool span that names
    /// no call joins it). The others are read back from the store if ever needed, so a
    /// long trace holds a few messages, not all it made.
    fn keep_open_messages(&mut self) {
        let threads = &self.threads;
        self.messages.retain(|id, message| {
            message.tool_calls.iter().any(|c| !c.status.is_final())
                || threads
                    .values()
                    .any(|t| t.last_model_message.as_deref() == Some(id.as_str()))
        });
    }

    /// Spans ready to place, parents before children: a root, a forced span, or one
    /// whose parent is placed.
    fn ready(&self) -> Vec<String> {
        let mut ready: Vec<(usize, u64, String)> = self
            .nodes
            .iter()
            .filter(|(_, node)| node.placed.is_none())
            .filter(|(_, node)| {
                node.forced
                    || (match &node.parent {
                        None => true,
                        Some(parent) => self.nodes.get(parent).is_some_and(|p| p.placed.is_some()),
                    } && !self.handoff_waiting(&node.role))
            })
            .map(|(id, node)| (self.depth(id), node.start, id.clone()))
            .collect();
        ready.sort();
        ready.into_iter().map(|(_, _, id)| id).collect()
    }

    /// An agent a handoff of this trace names waits for that handoff: it is the route.
    fn handoff_waiting(&self, role: &SpanRole) -> bool {
        let SpanRole::Agent { name } = role else {
            return false;
        };
        self.nodes.values().any(|n| {
            n.placed.is_none() && matches!(&n.role, SpanRole::Handoff { to } if to == name)
        })
    }

    fn depth(&self, id: &str) -> usize {
        let mut depth = 0;
        let mut at = self.nodes.get(id).and_then(|n| n.parent.as_deref());
        while let Some(parent) = at {
            depth += 1;
            if depth > 1_000 {
                break;
            }
            at = self.nodes.get(parent).and_then(|n| n.parent.as_deref());
        }
        depth
    }

    /// Forces the topmost waiting ancestor of every span that waited past `settle`: its
    /// parent is not coming in time.
    fn force_expired(&mut self, settle: Duration, now: Instant) {
        let expired: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.placed.is_none() && now.duration_since(n.arrived) >= settle)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            let mut top = id;
            let mut steps = 0;
            while let Some(parent) = self.nodes.get(&top).and_then(|n| n.parent.clone()) {
                match self.nodes.get(&parent) {
                    Some(p) if p.placed.is_none() && steps < 1_000 => {
                        top = parent;
                        steps += 1;
                    }
                    _ => break,
                }
            }
            let parent_missing = self
                .nodes
                .get(&top)
                .and_then(|n| n.parent.as_ref())
                .is_some_and(|p| !self.nodes.contains_key(p));
            if let Some(node) = self.nodes.get_mut(&top).filter(|_| parent_missing) {
                node.forced = true;
            }
        }
    }

    fn waiting(&self) -> bool {
        self.nodes.values().any(|n| n.placed.is_none())
    }
}

impl Engine {
    /// Takes a batch of spans of `project_id`: assembles them into their traces, places
    /// what can be placed, and waits until what was placed is durable.
    pub async fn ingest_spans(
        &self,
        project_id: &str,
        spans: Vec<Span>,
    ) -> EngineResult<IngestReport> {
        self.project(&crate::Scope::All, project_id)?;
        let mut report = IngestReport::default();
        {
            let mut state = lock(&self.inner.ingest.state);
            state.clock += 1;
            let clock = state.clock;
            let now = Instant::now();
            let mut touched: Vec<(String, String)> = Vec::new();
            for span in spans {
                if !valid_ids(&span) {
                    report.rejected += 1;
                    report.message = Some(
                        "A span's trace_id must be 16 bytes and its span_id 8, not all zero."
                            .into(),
                    );
                    continue;
                }
                let key = (project_id.to_string(), span.trace_id.clone());
                let trace = state
                    .traces
                    .entry(key.clone())
                    .or_insert_with(|| Trace::new(clock));
                trace.touched = clock;
                trace.touched_at = now;
                if trace.nodes.contains_key(&span.span_id) {
                    continue; // sent again (an exporter's retry)
                }
                if trace.conversation.is_none() {
                    trace.conversation = semconv::conversation(&span);
                }
                let forced = trace.nodes.len() >= SPANS_PER_TRACE;
                trace.nodes.insert(
                    span.span_id.clone(),
                    Node {
                        parent: span.parent_span_id.clone(),
                        start: span.start_unix_nano,
                        role: semconv::role(&span),
                        span: Some(Box::new(span)),
                        arrived: now,
                        forced,
                        placed: None,
                    },
                );
                if !touched.contains(&key) {
                    touched.push(key);
                }
            }
            for key in touched {
                self.place_ready(&mut state, &key);
            }
            self.forget_old(&mut state, now);
        }
        self.inner.bus.sync().await;
        Ok(report)
    }

    /// Places the spans that waited past `[otlp] settle_ms` for a parent that did not
    /// come; the background task calls it a few times a second.
    pub(crate) async fn settle_waiting_spans(&self) {
        let settle = Duration::from_millis(self.config().otlp.settle_ms);
        let now = Instant::now();
        let placed_any = {
            let mut state = lock(&self.inner.ingest.state);
            let keys: Vec<(String, String)> = state
                .traces
                .iter()
                .filter(|(_, trace)| trace.waiting())
                .map(|(key, _)| key.clone())
                .collect();
            self.place_expired(&mut state, &keys, settle, now);
            !keys.is_empty()
        };
        if placed_any {
            self.inner.bus.sync().await;
        }
    }

    /// Every quarter of `settle_ms` (at least every 100 ms), places the spans that waited
    /// long enough for a parent.
    pub(crate) fn start_span_settling(&self) {
        let engine = self.clone();
        let every = Duration::from_millis((self.config().otlp.settle_ms / 4).clamp(100, 5_000));
        let shutdown = self.inner.shutdown.clone();
        let sweep_every = self.retention_sweep_every();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut swept = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => engine.settle_waiting_spans().await,
                }
                if sweep_every.is_some_and(|every| swept.elapsed() >= every) {
                    swept = tokio::time::Instant::now();
                    let engine = engine.clone();
                    // Deleting touches the store: off the runtime's threads.
                    let _ =
                        tokio::task::spawn_blocking(move || engine.sweep_external_threads()).await;
                }
            }
        });
    }

    /// Places the spans of the traces `keys` that waited past `settle` for a parent (by
    /// what is known), and what they let through.
    fn place_expired(
        &self,
        state: &mut IngestState,
        keys: &[(String, String)],
        settle: Duration,
        now: Instant,
    ) {
        for key in keys {
            if let Some(trace) = state.traces.get_mut(key) {
                trace.force_expired(settle, now);
            }
            self.place_ready(state, key);
        }
    }

    /// Places every span of the trace that is ready, parents first, until none is.
    fn place_ready(&self, state: &mut IngestState, key: &(String, String)) {
        let IngestState {
            traces, assistants, ..
        } = state;
        let Some(trace) = traces.get_mut(key) else {
            return;
        };
        let mut placer = place::Placer::new(self, &key.0, &key.1, trace, assistants);
        loop {
            let ready = placer.trace.ready();
            if ready.is_empty() {
                break;
            }
            for id in ready {
                placer.place(&id);
            }
        }
        placer.finish();
        trace.keep_open_messages();
    }
}

impl Engine {
    /// Lets go of idle traces, and of the oldest when too many are kept. A trace let go
    /// while spans of it still wait for a parent has them placed first, by what is known:
    /// a burst of new traces must not lose a span that is waiting out its settle time.
    fn forget_old(&self, state: &mut IngestState, now: Instant) {
        let due = state
            .swept_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1));
        if due {
            state.swept_at = Some(now);
            state.traces.retain(|_, trace| {
                trace.waiting() || now.duration_since(trace.touched_at) < TRACE_IDLE
            });
        }
        // Cut to nine tenths, so the sort runs once per thousand new traces, not per
        // request.
        if state.traces.len() > TRACES_KEPT {
            let mut ages: Vec<u64> = state.traces.values().map(|t| t.touched).collect();
            ages.sort_unstable();
            let cut = ages[state.traces.len() - TRACES_KEPT * 9 / 10];
            let waiting: Vec<(String, String)> = state
                .traces
                .iter()
                .filter(|(_, trace)| trace.touched < cut && trace.waiting())
                .map(|(key, _)| key.clone())
                .collect();
            self.place_expired(state, &waiting, Duration::ZERO, now);
            state.traces.retain(|_, trace| trace.touched >= cut);
        }
    }
}

fn valid_ids(span: &Span) -> bool {
    let hex_of = |id: &str, len: usize| {
        id.len() == len
            && id.bytes().all(|b| b.is_ascii_hexdigit())
            && id.bytes().any(|b| b != b'0')
    };
    hex_of(&span.trace_id, 32) && hex_of(&span.span_id, 16)
}
