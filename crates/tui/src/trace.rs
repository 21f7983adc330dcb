//! A run's trace, free of terminal types: the tree of what happened in a thread and the
//! threads it routed to — replies, model steps (with their reasoning), tool calls and
//! routed hops, recursively — each with its status, start offset, duration, tokens and
//! cost, built from the threads' structural events (logged or live, in event-id order).
//!
//! Times: a message's `created_at` (seconds) anchors its reply; inside it, model steps
//! follow one another by their measured latency (`telemetry` `model_call`), a step's tool
//! calls start when it ends and last their `latency_ms`, and the next step starts when
//! the last of them is done. A routed thread starts with the call that routed to it.

use agentdeck_client::ServerEvent;
use agentdeck_model::event::TelemetryKind;
use agentdeck_model::text::clip;
use agentdeck_model::{EventPayload, MessageStatus, Role, ToolCallStatus, ToolCallType};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A message someone wrote (an instant).
    User,
    Reply,
    Step,
    Tool,
    /// A routing call: the thread it opened hangs below it.
    Hop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    Running,
    /// Waiting for the operator (an answer or an approval).
    Waiting,
    Done,
    Failed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub kind: SpanKind,
    /// One line, sanitized.
    pub label: String,
    pub thread_id: String,
    pub message_id: Option<String>,
    /// The routed thread, for a hop.
    pub child_thread: Option<String>,
    pub status: SpanStatus,
    /// Milliseconds from the first message of the traced thread.
    pub start_ms: u64,
    /// `None` while it runs.
    pub end_ms: Option<u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost: f64,
    /// Measured duration (a step's or a tool's), once known.
    latency_ms: Option<u64>,
    children: Vec<usize>,
}

/// One row of the trace: a span at its depth in the tree, with its guides ("│ ├─").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRow {
    pub span: usize,
    pub guides: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceView {
    pub spans: Vec<Span>,
    pub rows: Vec<TraceRow>,
    /// The end of the last span that has ended (milliseconds).
    pub ended_ms: u64,
    /// Unix seconds of the time axis' zero.
    pub origin_secs: u64,
    /// When each event happened on the time axis (non-decreasing), for replay.
    pub event_ms: Vec<u64>,
}

impl TraceView {
    /// Unix seconds as a time on the axis.
    pub fn at(&self, now_secs: u64) -> u64 {
        now_secs.saturating_sub(self.origin_secs) * 1000
    }

    /// The time axis' length: the last end, or `now_ms` while something runs.
    pub fn total_ms(&self, now_ms: u64) -> u64 {
        let running = self.spans.iter().any(|s| s.end_ms.is_none());
        if running {
            self.ended_ms.max(now_ms).max(1)
        } else {
            self.ended_ms.max(1)
        }
    }

    /// A span's end for drawing: its own, or `now_ms` (not before its start) while it runs.
    pub fn end_of(&self, span: &Span, now_ms: u64) -> u64 {
        span.end_ms.unwrap_or(now_ms.max(span.start_ms))
    }
}

/// Per thread while the events are read.
#[derive(Debug, Default)]
struct ThreadTrack {
    /// Its top spans (messages and replies), in order.
    top: Vec<usize>,
    /// The hop that routed to it.
    parent: Option<usize>,
}

/// Where an event shows on the time axis: at a span's start or at its end.
#[derive(Debug, Clone, Copy)]
enum At {
    Start(usize),
    End(usize),
    Before,
}

fn call_status(status: ToolCallStatus) -> SpanStatus {
    match status {
        ToolCallStatus::InProgress => SpanStatus::Running,
        ToolCallStatus::RequiresAction | ToolCallStatus::RequiresApproval => SpanStatus::Waiting,
        ToolCallStatus::Completed => SpanStatus::Done,
        ToolCallStatus::Failed | ToolCallStatus::Denied | ToolCallStatus::Cancelled => {
            SpanStatus::Failed
        }
    }
}

/// The trace of `root` from `events` (its threads' structural events in id order), as far
/// as the first `upto` of them; `name` gives an assistant's name.
pub fn build(
    root: &str,
    events: &[ServerEvent],
    upto: usize,
    name: &dyn Fn(&str) -> String,
) -> TraceView {
    let mut builder = Builder {
        name,
        spans: Vec::new(),
        threads: HashMap::new(),
        replies: HashMap::new(),
        steps: HashMap::new(),
        calls: HashMap::new(),
        created: HashMap::new(),
        origin: None,
    };
    builder.threads.entry(root.to_string()).or_default();
    let at: Vec<At> = events
        .iter()
        .take(upto)
        .map(|event| builder.event(&event.payload))
        .collect();
    let Builder {
        mut spans,
        threads,
        steps,
        created,
        origin,
        ..
    } = builder;
    let origin = origin.unwrap_or(0);
    place_times(&mut spans, &threads, root, &created, &steps, origin);
    let ended_ms = spans.iter().filter_map(|s| s.end_ms).max().unwrap_or(0);
    // Events on the axis, never going back (replay plays them in this order).
    let mut event_ms = Vec::with_capacity(at.len());
    let mut last = 0u64;
    for mark in at {
        let time = match mark {
            At::Start(s) => spans[s].start_ms,
            At::End(s) => spans[s].end_ms.unwrap_or(spans[s].start_ms),
            At::Before => last,
        };
        last = last.max(time);
        event_ms.push(last);
    }
    let rows = flatten(&spans, &threads, root);
    TraceView {
        spans,
        rows,
        ended_ms,
        origin_secs: origin,
        event_ms,
    }
}

/// The spans as the events make them, and the indexes that find a span by what an
/// event names.
struct Builder<'n> {
    name: &'n dyn Fn(&str) -> String,
    spans: Vec<Span>,
    threads: HashMap<String, ThreadTrack>,
    /// Reply message id → its span.
    replies: HashMap<String, usize>,
    /// Reply span → its model steps' spans, in order.
    steps: HashMap<usize, Vec<usize>>,
    /// Tool call id → its span.
    calls: HashMap<String, usize>,
    /// Span → when its message was created (Unix seconds).
    created: HashMap<usize, u64>,
    /// When the first message was created: time zero.
    origin: Option<u64>,
}

impl Builder<'_> {
    fn new_span(
        &mut self,
        kind: SpanKind,
        label: String,
        thread_id: &str,
        message_id: Option<String>,
    ) -> usize {
        self.spans.push(Span {
            kind,
            label,
            thread_id: thread_id.to_string(),
            message_id,
            child_thread: None,
            status: SpanStatus::Running,
            start_ms: 0,
            end_ms: None,
            input_tokens: 0,
            output_tokens: 0,
            cost: 0.0,
            latency_ms: None,
            children: Vec::new(),
        });
        self.spans.len() - 1
    }

    /// The step of a reply a model call or a tool call belongs to, made when first
    /// needed.
    fn step_of(&mut self, reply: usize, index: usize) -> usize {
        while self.steps.get(&reply).map_or(0, Vec::len) <= index {
            let made = self.steps.get(&reply).map_or(0, Vec::len);
            let thread_id = self.spans[reply].thread_id.clone();
            let message_id = self.spans[reply].message_id.clone();
            let label = format!("model step {}", made + 1);
            let step = self.new_span(SpanKind::Step, label, &thread_id, message_id);
            self.spans[reply].children.push(step);
            self.steps.entry(reply).or_default().push(step);
        }
        self.steps[&reply][index]
    }

    /// Where an event puts its mark on the axis, making or changing the spans it names.
    fn event(&mut self, payload: &EventPayload) -> At {
        match payload {
            EventPayload::MessageCreated(e) => self.message_created(&e.thread_id, &e.message),
            EventPayload::ToolCallCreated(e) => {
                self.tool_call_created(&e.thread_id, &e.message_id, &e.tool_call)
            }
            EventPayload::ToolCallOutput(e) => match self.calls.get(&e.tool_call_id) {
                Some(&span) => {
                    self.spans[span].status = call_status(e.status);
                    if e.status.is_final() {
                        self.spans[span].latency_ms = Some(e.latency_ms.unwrap_or(0));
                        At::End(span)
                    } else {
                        At::Start(span)
                    }
                }
                None => At::Before,
            },
            EventPayload::Routing(e) => match self.calls.get(&e.tool_call_id) {
                Some(&span) => {
                    let target = clip(&(self.name)(&e.to_assistant_id), 24);
                    self.spans[span].kind = SpanKind::Hop;
                    self.spans[span].label = format!("→ {target}");
                    self.spans[span].child_thread = Some(e.to_thread_id.clone());
                    self.threads
                        .entry(e.to_thread_id.clone())
                        .or_default()
                        .parent = Some(span);
                    At::Start(span)
                }
                None => At::Before,
            },
            EventPayload::Telemetry(t) if t.event == TelemetryKind::ModelCall => self.model_call(t),
            EventPayload::MessageCompleted(e) => self.message_completed(&e.message),
            EventPayload::Error(e) => match self.replies.get(&e.message_id) {
                Some(&reply) => {
                    self.spans[reply].status = SpanStatus::Failed;
                    At::End(reply)
                }
                None => At::Before,
            },
            _ => At::Before,
        }
    }

    fn message_created(&mut self, thread_id: &str, message: &agentdeck_model::Message) -> At {
        self.origin.get_or_insert(message.created_at);
        let span = match message.role {
            Role::User => {
                let label = format!("you: {}", clip(&message.text(), 60));
                let span =
                    self.new_span(SpanKind::User, label, thread_id, Some(message.id.clone()));
                self.spans[span].status = SpanStatus::Done;
                span
            }
            Role::Assistant => {
                let who = message
                    .assistant_id
                    .as_deref()
                    .map(self.name)
                    .unwrap_or_else(|| "assistant".into());
                let span = self.new_span(
                    SpanKind::Reply,
                    format!("reply by {}", clip(&who, 24)),
                    thread_id,
                    Some(message.id.clone()),
                );
                self.replies.insert(message.id.clone(), span);
                span
            }
            Role::Tool | Role::System => return At::Before,
        };
        self.created.insert(span, message.created_at);
        self.threads
            .entry(thread_id.to_string())
            .or_default()
            .top
            .push(span);
        At::Start(span)
    }

    fn tool_call_created(
        &mut self,
        thread_id: &str,
        message_id: &str,
        call: &agentdeck_model::ToolCall,
    ) -> At {
        let Some(&reply) = self.replies.get(message_id) else {
            return At::Before;
        };
        let step = self.step_of(reply, call.step as usize);
        let label = match (call.kind, call.target_assistant_id.as_deref()) {
            (ToolCallType::AgentRouting, Some(target)) => {
                format!("→ {}", clip(&(self.name)(target), 24))
            }
            _ => clip(&call.function.name, 40),
        };
        let span = self.new_span(
            SpanKind::Tool,
            label,
            thread_id,
            Some(message_id.to_string()),
        );
        self.spans[span].status = call_status(call.status);
        self.spans[step].children.push(span);
        self.calls.insert(call.id.clone(), span);
        At::Start(span)
    }

    /// A model call measured: the first step of its thread's open reply not measured yet.
    fn model_call(&mut self, t: &agentdeck_model::event::Telemetry) -> At {
        let spans = &self.spans;
        let reply = self.threads.get(&t.thread_id).and_then(|track| {
            track.top.iter().rev().copied().find(|&s| {
                spans[s].kind == SpanKind::Reply && spans[s].status == SpanStatus::Running
            })
        });
        let Some(reply) = reply else {
            return At::Before;
        };
        let measured = self.steps.get(&reply).map_or(0, |list| {
            list.iter()
                .take_while(|&&s| self.spans[s].latency_ms.is_some())
                .count()
        });
        let step = self.step_of(reply, measured);
        let span = &mut self.spans[step];
        span.latency_ms = Some(t.latency_ms);
        span.input_tokens = t.input_tokens;
        span.output_tokens = t.output_tokens;
        span.status = SpanStatus::Done;
        At::End(step)
    }

    fn message_completed(&mut self, message: &agentdeck_model::Message) -> At {
        let Some(&reply) = self.replies.get(&message.id) else {
            return At::Before;
        };
        let span = &mut self.spans[reply];
        span.status = match message.status {
            MessageStatus::Completed => SpanStatus::Done,
            MessageStatus::InProgress => SpanStatus::Running,
            MessageStatus::Incomplete | MessageStatus::Failed => SpanStatus::Failed,
        };
        span.input_tokens = message.usage.input_tokens;
        span.output_tokens = message.usage.output_tokens;
        span.cost = message.estimated_cost;
        // Each model step's reasoning, where the reply kept it.
        let list = self.steps.get(&reply).cloned().unwrap_or_default();
        for (step, reasoning) in list.iter().zip(&message.reasoning) {
            let thought = clip(&reasoning.text, 48);
            if !thought.is_empty() {
                self.spans[*step].label = format!("{}: {thought}", self.spans[*step].label);
            }
        }
        At::End(reply)
    }
}

/// Start and end times, thread by thread from the root down through its hops.
fn place_times(
    spans: &mut [Span],
    threads: &HashMap<String, ThreadTrack>,
    root: &str,
    created: &HashMap<usize, u64>,
    steps: &HashMap<usize, Vec<usize>>,
    origin: u64,
) {
    let mut pending: Vec<(String, u64)> = vec![(root.to_string(), 0)];
    let mut placed: std::collections::HashSet<String> = Default::default();
    // Threads no hop leads to (their routing event is not loaded) start where they say.
    for (id, track) in threads {
        if id != root && track.parent.is_none() {
            pending.push((id.clone(), 0));
        }
    }
    while let Some((thread, base)) = pending.pop() {
        if !placed.insert(thread.clone()) {
            continue;
        }
        let Some(track) = threads.get(&thread) else {
            continue;
        };
        let mut cursor = base;
        for &top in &track.top {
            let written = created
                .get(&top)
                .map_or(0, |&secs| secs.saturating_sub(origin) * 1000);
            let start = cursor.max(written);
            spans[top].start_ms = start;
            if spans[top].kind == SpanKind::User {
                spans[top].end_ms = Some(start);
                cursor = start;
                continue;
            }
            let mut t = start;
            for &step in steps.get(&top).map(Vec::as_slice).unwrap_or_default() {
                spans[step].start_ms = t;
                let step_end = spans[step].latency_ms.map(|l| t + l);
                spans[step].end_ms = step_end;
                let tools_start = step_end.unwrap_or(t);
                let mut next = tools_start;
                for k in 0..spans[step].children.len() {
                    let tool = spans[step].children[k];
                    spans[tool].start_ms = tools_start;
                    let end = spans[tool].latency_ms.map(|l| tools_start + l);
                    spans[tool].end_ms = end;
                    if let Some(end) = end {
                        next = next.max(end);
                    }
                    if let Some(child) = spans[tool].child_thread.clone() {
                        pending.push((child, tools_start));
                    }
                }
                t = next;
            }
            let finished = matches!(spans[top].status, SpanStatus::Done | SpanStatus::Failed);
            spans[top].end_ms = finished.then_some(t);
            cursor = t;
        }
    }
}

/// The rows in tree order: the root thread's messages and replies; under a reply its
/// steps, under a step its tool calls, under a hop the routed thread's own.
fn flatten(spans: &[Span], threads: &HashMap<String, ThreadTrack>, root: &str) -> Vec<TraceRow> {
    let mut rows = Vec::new();
    let mut seen: std::collections::HashSet<String> = Default::default();
    let top = |thread: &str| {
        threads
            .get(thread)
            .map(|t| t.top.clone())
            .unwrap_or_default()
    };
    let mut roots = vec![(root.to_string(), top(root))];
    // Threads no loaded hop leads to still show, after the root's.
    let mut others: Vec<&String> = threads
        .iter()
        .filter(|(id, t)| id.as_str() != root && t.parent.is_none())
        .map(|(id, _)| id)
        .collect();
    others.sort();
    for id in others {
        roots.push((id.clone(), top(id)));
    }
    for (thread, list) in roots {
        seen.insert(thread);
        let count = list.len();
        for (k, span) in list.into_iter().enumerate() {
            push(
                spans,
                threads,
                span,
                String::new(),
                k + 1 == count,
                true,
                &mut seen,
                &mut rows,
            );
        }
    }
    rows
}

#[allow(clippy::too_many_arguments)]
fn push(
    spans: &[Span],
    threads: &HashMap<String, ThreadTrack>,
    span: usize,
    prefix: String,
    last: bool,
    top: bool,
    seen: &mut std::collections::HashSet<String>,
    rows: &mut Vec<TraceRow>,
) {
    let guides = if top {
        String::new()
    } else {
        format!("{prefix}{}", if last { "└─" } else { "├─" })
    };
    rows.push(TraceRow { span, guides });
    let inner = if top {
        String::new()
    } else {
        format!("{prefix}{}", if last { "  " } else { "│ " })
    };
    let mut children: Vec<usize> = spans[span].children.clone();
    if let Some(child) = spans[span].child_thread.as_ref() {
        if seen.insert(child.clone()) {
            children.extend(
                threads
                    .get(child)
                    .map(|t| t.top.clone())
                    .unwrap_or_default(),
            );
        }
    }
    let count = children.len();
    for (k, child) in children.into_iter().enumerate() {
        push(
            spans,
            threads,
            child,
            inner.clone(),
            k + 1 == count,
            false,
            seen,
            rows,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::routed_run_events;

    fn name(id: &str) -> String {
        id.trim_start_matches("asst_").to_string()
    }

    fn rows(view: &TraceView) -> Vec<String> {
        view.rows
            .iter()
            .map(|r| {
                let s = &view.spans[r.span];
                format!("{}{} {}-{:?}", r.guides, s.label, s.start_ms, s.end_ms)
            })
            .collect()
    }

    #[test]
    fn a_routed_run_is_a_tree_on_one_time_axis() {
        let events = routed_run_events();
        let view = build("thread_0456", &events, events.len(), &name);
        assert_eq!(
            rows(&view),
            vec![
                "you: Order ORD-4521 was charged twice 0-Some(0)",
                "reply by triage 0-Some(3700)",
                "├─model step 1: Look the order up first. 0-Some(800)",
                "│ ├─lookup_order 800-Some(920)",
                "│ └─→ billing 800-Some(3200)",
                "│   ├─you: Refund the duplicate charge 1000-Some(1000)",
                "│   └─reply by billing 1000-Some(2300)",
                "│     ├─model step 1 1000-Some(1600)",
                "│     │ └─refund_status 1600-Some(1900)",
                "│     └─model step 2 1900-Some(2300)",
                "└─model step 2 3200-Some(3700)",
            ]
        );
        let reply = &view.spans[view.rows[1].span];
        assert_eq!((reply.input_tokens, reply.output_tokens), (240, 60));
        assert_eq!(reply.status, SpanStatus::Done);
        assert_eq!(view.spans[view.rows[4].span].kind, SpanKind::Hop);
        assert_eq!(view.ended_ms, 3700);
        // Replay times never go back, and the last event is at the run's end.
        assert!(view.event_ms.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(view.event_ms.last(), Some(&3700));
    }

    #[test]
    fn part_of_a_run_shows_what_runs_and_no_end_for_it() {
        let events = routed_run_events();
        // Up to the child's first model call: triage's reply and the hop still run.
        let view = build("thread_0456", &events, 10, &name);
        let reply = &view.spans[view.rows[1].span];
        assert_eq!(reply.status, SpanStatus::Running);
        assert_eq!(reply.end_ms, None);
        let hop = view
            .rows
            .iter()
            .map(|r| &view.spans[r.span])
            .find(|s| s.kind == SpanKind::Hop)
            .unwrap();
        assert_eq!(hop.end_ms, None);
        assert!(
            view.total_ms(view.at(crate::fixtures::NOW)) >= 10_000,
            "now is 10 s after the start"
        );
        // Nothing in the events breaks the build: any prefix, shuffled or not.
        for upto in 0..=events.len() {
            build("thread_0456", &events, upto, &name);
        }
        let mut reversed = events.clone();
        reversed.reverse();
        build("thread_0456", &reversed, reversed.len(), &name);
    }
}
