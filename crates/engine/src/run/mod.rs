//! One run: context → model stream → tool calls (several per step, chained until a final
//! answer, bounded) → final message. A run pauses (its task ends) when a tool call waits
//! for an operator; answering it starts a new task that continues the same reply.
//!
//! Here: the run's life (admission, the step loop, one model call, its end). `calls`:
//! the tool calls; `kinds`: the kinds of tool, one file each (routing among them);
//! `limits`: the project's limits; `context`: what a model call is given.

mod calls;
mod coding;
mod context;
mod kinds;
mod limits;

pub(crate) use calls::whole_output_path;
use kinds::OfferedMcp;
pub(crate) use kinds::{check_definition, complete_definition};

use super::privacy::{Redactor, Restorer};
use super::{Engine, EngineError, EventScope};
use agentdeck_model::event::{SafetyFlag, TelemetryKind, TextDelta};
use agentdeck_model::{
    Assistant, ErrorBody, EventPayload, FunctionCall, Message, MessageStatus, ReasoningStep,
    Thread, ThreadStatus, ToolCall, ToolCallStatus, Usage, new_id,
};
use agentdeck_providers::{ModelEvent, ProviderError};
use futures::StreamExt;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub(crate) struct RunSpec {
    pub thread_id: String,
    pub reply_id: String,
    /// Assistants from the first of a routing chain to this one, to cut loops.
    pub chain: Vec<String>,
}

enum Outcome {
    Completed,
    Paused,
    Failed(ErrorBody),
    /// Cut short — a coding agent's process ended mid-turn: incomplete, whatever it gave.
    Incomplete(ErrorBody),
    Cancelled,
    StepLimit,
}

pub(crate) fn cancelled_error() -> ErrorBody {
    Engine::error_body("cancelled", "cancelled", "The run was cancelled.")
}

struct Run {
    engine: Engine,
    thread: Thread,
    assistant: Assistant,
    reply: Message,
    scope: EventScope,
    chain: Vec<String>,
    cancel: CancellationToken,
    /// The memory window and prelude, fixed when the run starts.
    memory: Option<crate::memory::RunMemory>,
    /// The MCP tools offered at the last model call, and the servers that did not start.
    mcp_tools: Vec<OfferedMcp>,
    mcp_unavailable: Vec<(String, String)>,
    mcp_listed: bool,
    /// Privacy "strict": the values behind the last model call's placeholders, for the
    /// tools the operator trusts with them.
    placeholders: Option<crate::privacy::Restorer>,
    /// The tokens of each model step of this run, by step: a tool call's telemetry
    /// carries its share of the step that asked for it.
    step_usage: std::collections::HashMap<u32, Usage>,
}

impl Run {
    /// A run that mirrors a reply made elsewhere — a coding agent's sub-agent — rather
    /// than calling a model: no memory, tools or privacy of its own; it shares the
    /// writes, events and end of every run.
    fn mirror(
        engine: Engine,
        thread: Thread,
        assistant: Assistant,
        reply: Message,
        chain: Vec<String>,
        cancel: CancellationToken,
    ) -> Run {
        let scope = Engine::thread_scope(&thread, Some(&reply.id));
        Run {
            engine,
            thread,
            assistant,
            reply,
            scope,
            chain,
            cancel,
            memory: None,
            mcp_tools: Vec::new(),
            mcp_unavailable: Vec::new(),
            mcp_listed: false,
            placeholders: None,
            step_usage: std::collections::HashMap::new(),
        }
    }
}

/// A model call's request, and what privacy made of it.
struct StepRequest {
    request: agentdeck_providers::ModelRequest,
    /// What puts the placeholders back in the answer's text and reasoning.
    restorers: Option<(Restorer, Restorer)>,
    safety_flag: Option<SafetyFlag>,
}

/// A model call's state while it streams.
struct StepState {
    step: u32,
    /// The model as configured (what its tokens cost).
    model: String,
    usage: Usage,
    /// The next reasoning fragment starts a new step.
    reasoning_break: bool,
    /// Provider tool-call index → index into the reply's tool calls.
    call_slots: Vec<(usize, usize)>,
    /// This call's text has begun (a reply's later text is set off from earlier text).
    text_started: bool,
    /// Privacy "strict": what puts the placeholders back in the text and the reasoning.
    restorers: Option<(Restorer, Restorer)>,
}

/// Arguments the provider streamed for its tool call `index` (`slots`: provider index →
/// index into the reply's calls): appended to that call, and the `tool_call.delta` that
/// announces them; none for an index no call started.
pub(crate) fn stream_arguments(
    reply: &mut Message,
    slots: &[(usize, usize)],
    index: usize,
    delta: String,
) -> Option<EventPayload> {
    let &(_, slot) = slots.iter().find(|(i, _)| *i == index)?;
    let call = reply.tool_calls.get_mut(slot)?;
    call.function.arguments.push_str(&delta);
    let tool_call_id = call.id.clone();
    Some(EventPayload::tool_call_delta(reply, &tool_call_id, delta))
}

/// What sets a reasoning step apart from the one before it in a stream of
/// `reasoning.delta` events (the steps themselves are stored apart).
pub const REASONING_STEP_BREAK: &str = "\n\n";

pub(crate) async fn run(engine: Engine, spec: RunSpec, cancel: CancellationToken) {
    let loaded = load(&engine, &spec, cancel).await;
    let mut run = match loaded {
        Ok(run) => run,
        Err(err) => {
            tracing::error!("run of {} could not start: {err}", spec.thread_id);
            fail_unloadable(&engine, &spec, &err.to_string()).await;
            return;
        }
    };
    if let Some(export) = engine.span_export() {
        export.run_started(&spec.reply_id);
    }
    let slot = match run.admit().await {
        Ok(slot) => slot,
        Err(outcome) => {
            run.finish(outcome).await;
            return;
        }
    };
    let outcome = run.drive().await;
    run.finish(outcome).await;
    drop(slot);
}

/// A run whose thread, reply or assistant is gone still ends its reply, so streams end.
async fn fail_unloadable(engine: &Engine, spec: &RunSpec, why: &str) {
    match engine.store().message(&spec.reply_id) {
        Ok(Some(mut reply)) if !reply.status.is_final() => {
            reply.status = MessageStatus::Failed;
            reply.error = Some(Engine::error_body("server_error", "run_failed", why));
            engine.end_reply(&spec.thread_id, &reply).await;
        }
        _ => {
            engine.forget_run(&spec.thread_id);
        }
    }
}

async fn load(
    engine: &Engine,
    spec: &RunSpec,
    cancel: CancellationToken,
) -> Result<Run, EngineError> {
    let store = engine.store();
    let thread = store
        .thread(&spec.thread_id)
        .ok_or_else(|| EngineError::not_found("thread", &spec.thread_id))?;
    let reply = store
        .message(&spec.reply_id)?
        .ok_or_else(|| EngineError::not_found("message", &spec.reply_id))?;
    let mut assistant = store
        .assistant(
            reply
                .assistant_id
                .as_deref()
                .unwrap_or(&thread.assistant_id),
        )?
        .ok_or_else(|| EngineError::not_found("assistant", &thread.assistant_id))?;
    // The thread's own documents are searchable in this run, whatever the assistant has.
    if let Some(own) = engine.thread_vector_store(&thread) {
        with_thread_documents(&mut assistant.tools, own.id);
    }
    let scope = Engine::thread_scope(&thread, Some(&reply.id));
    // Memory that cannot be read leaves the run without it, not without an answer.
    let memory = engine
        .run_memory(&thread, &assistant, &reply.id)
        .await
        .unwrap_or_else(|err| {
            tracing::error!("memory of {}: {err}", thread.id);
            None
        });
    Ok(Run {
        engine: engine.clone(),
        thread,
        assistant,
        reply,
        scope,
        chain: spec.chain.clone(),
        cancel,
        memory,
        mcp_tools: Vec::new(),
        mcp_unavailable: Vec::new(),
        mcp_listed: false,
        placeholders: None,
        step_usage: std::collections::HashMap::new(),
    })
}

/// Adds a thread's own vector store to the run's `file_search` tool (made if missing).
fn with_thread_documents(tools: &mut Vec<agentdeck_model::Tool>, store_id: String) {
    use agentdeck_model::{FileSearchTool, Tool};
    match tools.iter_mut().find_map(|tool| match tool {
        Tool::FileSearch(search) => Some(search),
        _ => None,
    }) {
        Some(search) => search.vector_store_ids.push(store_id),
        None => tools.push(Tool::FileSearch(FileSearchTool {
            vector_store_ids: vec![store_id],
        })),
    }
}

impl Run {
    fn emit(&self, payload: EventPayload) {
        self.engine.emit(&self.scope, payload);
    }

    /// Writes the reply whole, in order with its events. Streamed fragments need no call:
    /// the bus keeps them as parts of the reply as it commits their events.
    fn persist(&self) {
        self.engine.bus().put_message(self.reply.clone());
    }

    /// The output tokens this reply may still produce: the assistant's bound (or the
    /// server's default), never above the server's ceiling, less what earlier model
    /// calls of the reply used.
    fn output_budget(&self) -> u32 {
        let ceiling = self.engine.config().limits.max_output_tokens;
        let bound = self
            .assistant
            .max_output_tokens
            .unwrap_or(agentdeck_model::config::DEFAULT_REPLY_OUTPUT_TOKENS)
            .min(ceiling);
        let used = u32::try_from(self.reply.usage.output_tokens).unwrap_or(u32::MAX);
        bound.saturating_sub(used)
    }

    fn has_output(&self) -> bool {
        !self.reply.text().is_empty()
            || !self.reply.tool_calls.is_empty()
            || !self.reply.reasoning.is_empty()
    }

    async fn drive(&mut self) -> Outcome {
        // A coding agent runs its own loop: one turn of its session is the reply.
        if self.assistant.model == agentdeck_model::CLAUDE_CODE_MODEL {
            return self.drive_claude_code().await;
        }
        if self.assistant.model == agentdeck_model::CODEX_MODEL {
            return self.drive_codex().await;
        }
        let max_steps = self.engine.inner.options.max_steps;
        loop {
            if self.cancel.is_cancelled() {
                return Outcome::Cancelled;
            }
            let ready: Vec<usize> = (0..self.reply.tool_calls.len())
                .filter(|&i| self.reply.tool_calls[i].status == ToolCallStatus::InProgress)
                .collect();
            if !ready.is_empty() {
                match self.execute_calls(ready).await {
                    Some(outcome) => return outcome,
                    None => continue,
                }
            }
            let step = self
                .reply
                .tool_calls
                .iter()
                .map(|c| c.step + 1)
                .max()
                .unwrap_or(0);
            if step >= max_steps {
                return Outcome::StepLimit;
            }
            // Each model call after the first waits for the project's token budget too: a
            // run that has spent the minute's tokens does not go on spending.
            if step > 0 {
                if let Err(outcome) = self.wait_for_tokens().await {
                    return outcome;
                }
            }
            match self.model_step(step).await {
                Ok(true) => continue,
                Ok(false) => return Outcome::Completed,
                Err(outcome) => return outcome,
            }
        }
    }

    /// One model call. `Ok(true)`: it asked for tools; `Ok(false)`: it gave its answer.
    async fn model_step(&mut self, step: u32) -> Result<bool, Outcome> {
        let provider = self.engine.provider_for(&self.assistant.model);
        self.refresh_mcp_tools().await;
        let StepRequest {
            request,
            restorers,
            safety_flag,
        } = self.step_request()?;
        let started = Instant::now();
        let model = self
            .engine
            .config()
            .resolve_model(&self.assistant.model)
            .to_string();
        let budget = request.max_output_tokens;
        if budget == 0 {
            return Err(Outcome::Failed(output_bound_error()));
        }
        // A backstop for a provider that ignores the bound: no tokenizer spends more than
        // 16 bytes of output on one token.
        let byte_ceiling = u64::from(budget).saturating_mul(16);
        let mut step_bytes = 0u64;
        let mut stream = provider.stream(request);
        let mut state = StepState {
            step,
            model,
            usage: Usage::default(),
            reasoning_break: false,
            call_slots: Vec::new(),
            text_started: false,
            restorers,
        };
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Outcome::Cancelled),
                next = stream.next() => next,
            };
            let event = match next {
                None | Some(Ok(ModelEvent::Finished)) => break,
                Some(Ok(event)) => event,
                Some(Err(err)) => {
                    self.export_chat(&state, started.elapsed(), Some(&err.message));
                    return Err(Outcome::Failed(provider_error(&err)));
                }
            };
            if let ModelEvent::TextDelta(delta)
            | ModelEvent::ReasoningDelta(delta)
            | ModelEvent::ToolCallArguments { delta, .. } = &event
            {
                step_bytes += delta.len() as u64;
                if step_bytes > byte_ceiling {
                    return Err(Outcome::Failed(output_bound_error()));
                }
            }
            self.on_model_event(&mut state, event);
        }
        self.end_step(&mut state, started.elapsed(), safety_flag);
        Ok(!state.call_slots.is_empty())
    }

    /// The request of a model call; under privacy "strict" with personal data as
    /// placeholders, the restorers that put them back in the answer's text and
    /// reasoning, and the safety flag that says so.
    fn step_request(&mut self) -> Result<StepRequest, Outcome> {
        let mut request = self.build_request().map_err(|err| {
            Outcome::Failed(Engine::error_body(
                "server_error",
                "context",
                err.to_string(),
            ))
        })?;
        let mut restorers = None;
        let mut safety_flag = None;
        if let Some(mut redactor) = Redactor::new(&self.assistant.privacy) {
            redactor.redact_request(&mut request);
            if redactor.replaced_any() {
                safety_flag = Some(SafetyFlag::PiiRedacted);
            }
            restorers = Some((redactor.restorer(), redactor.restorer()));
            self.placeholders = Some(redactor.restorer());
        }
        Ok(StepRequest {
            request,
            restorers,
            safety_flag,
        })
    }

    fn on_model_event(&mut self, state: &mut StepState, event: ModelEvent) {
        match event {
            ModelEvent::TextDelta(delta) => self.on_text(state, delta),
            ModelEvent::ReasoningStep => {
                // On the wire, steps after the first are set off by an empty line (a
                // stream of `reasoning.delta` reads as the steps, apart).
                state.reasoning_break |= self.reply.reasoning.iter().any(|s| !s.text.is_empty());
                self.reply.reasoning.push(ReasoningStep::default());
                // A new step is written whole; fragments then extend the last step.
                self.persist();
            }
            ModelEvent::ReasoningDelta(delta) => self.on_reasoning(state, delta),
            ModelEvent::ToolCallStart { index, id, name } => {
                self.on_tool_call_start(state, index, id, name)
            }
            ModelEvent::ToolCallArguments { index, delta } => {
                match stream_arguments(&mut self.reply, &state.call_slots, index, delta) {
                    Some(payload) => self.emit(payload),
                    None => tracing::warn!("arguments for unknown tool call index {index}"),
                }
            }
            ModelEvent::Usage {
                input_tokens,
                output_tokens,
            } => {
                let usage = Usage {
                    input_tokens,
                    output_tokens,
                };
                self.engine.count_usage(
                    &mut self.reply,
                    &self.thread.project_id,
                    &state.model,
                    usage,
                );
                state.usage.input_tokens += input_tokens;
                state.usage.output_tokens += output_tokens;
            }
            ModelEvent::Finished => {}
        }
    }

    fn on_text(&mut self, state: &mut StepState, delta: String) {
        let delta = match &mut state.restorers {
            Some((text, _)) => text.push(&delta),
            None => delta,
        };
        self.add_text(&mut state.text_started, delta);
    }

    /// Text of the reply, announced; the first of a model step's (`started` unset) is set
    /// off from the reply's earlier text as a paragraph of its own.
    fn add_text(&mut self, started: &mut bool, mut delta: String) {
        if delta.is_empty() {
            return;
        }
        if !*started {
            *started = true;
            if !self.reply.text().is_empty() {
                delta.insert_str(0, "\n\n");
            }
        }
        self.reply.append_text(&delta);
        self.emit_text(delta);
    }

    fn on_reasoning(&mut self, state: &mut StepState, delta: String) {
        let delta = match &mut state.restorers {
            Some((_, reasoning)) => reasoning.push(&delta),
            None => delta,
        };
        if delta.is_empty() {
            return;
        }
        if self.reply.reasoning.is_empty() {
            self.reply.reasoning.push(ReasoningStep::default());
        }
        if let Some(last) = self.reply.reasoning.last_mut() {
            last.text.push_str(&delta);
        }
        let delta = if std::mem::take(&mut state.reasoning_break) {
            format!("{REASONING_STEP_BREAK}{delta}")
        } else {
            delta
        };
        self.emit_reasoning(delta);
    }

    fn on_tool_call_start(
        &mut self,
        state: &mut StepState,
        index: usize,
        id: String,
        name: String,
    ) {
        let id = if id.is_empty() || self.reply.tool_calls.iter().any(|c| c.id == id) {
            new_id("call_")
        } else {
            id
        };
        let call = ToolCall {
            id,
            kind: self.call_kind(&name),
            function: FunctionCall {
                name,
                arguments: String::new(),
            },
            target_assistant_id: None,
            thread_id: None,
            status: ToolCallStatus::InProgress,
            output: None,
            latency_ms: None,
            step: state.step,
            approved: false,
        };
        state.call_slots.push((index, self.reply.tool_calls.len()));
        self.reply.tool_calls.push(call.clone());
        // Written whole before its argument fragments, which extend it.
        self.persist();
        self.emit(EventPayload::tool_call_created(&self.reply, &call));
    }

    fn emit_text(&self, delta: String) {
        self.emit(EventPayload::MessageDelta(TextDelta {
            thread_id: self.thread.id.clone(),
            message_id: self.reply.id.clone(),
            delta,
        }));
    }

    fn emit_reasoning(&self, delta: String) {
        self.emit(EventPayload::ReasoningDelta(TextDelta {
            thread_id: self.thread.id.clone(),
            message_id: self.reply.id.clone(),
            delta,
        }));
    }

    /// A model call ended: its metrics and telemetry, and what the restorers held back.
    fn end_step(
        &mut self,
        state: &mut StepState,
        latency: std::time::Duration,
        safety_flag: Option<SafetyFlag>,
    ) {
        let usage = state.usage;
        self.step_usage.insert(state.step, usage);
        self.export_chat(state, latency, None);
        self.engine.inner.telemetry.metrics.model_call(
            &self.thread.project_id,
            &self.assistant.id,
            latency.as_secs_f64(),
            usage.input_tokens,
            usage.output_tokens,
        );
        self.engine.telemetry(
            &self.scope,
            &self.thread.project_id,
            agentdeck_model::event::Telemetry {
                event: TelemetryKind::ModelCall,
                timestamp: agentdeck_model::rfc3339(agentdeck_model::now_secs()),
                assistant_id: Some(self.assistant.id.clone()),
                thread_id: self.thread.id.clone(),
                tool: None,
                latency_ms: latency.as_millis() as u64,
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                safety_flag,
            },
        );
        // What a restorer held back (a `[` that never became a placeholder) is text too.
        if let Some((text, reasoning)) = &mut state.restorers {
            let rest = reasoning.finish();
            if let Some(last) = self.reply.reasoning.last_mut().filter(|_| !rest.is_empty()) {
                last.text.push_str(&rest);
                self.emit_reasoning(rest);
            }
            let rest = text.finish();
            if !rest.is_empty() {
                self.reply.append_text(&rest);
                self.emit_text(rest);
            }
        }
    }

    /// The user's message this reply answers: the newest one before it.
    fn asked(&self) -> Option<String> {
        let recent = self
            .engine
            .store()
            .recent_messages(&self.thread.id, 16)
            .ok()?;
        let before = recent.iter().take_while(|m| m.id != self.reply.id);
        before
            .filter(|m| m.role == agentdeck_model::Role::User)
            .last()
            .map(Message::text)
    }

    /// A model call's `chat` span, when runs are exported.
    fn export_chat(&self, state: &StepState, latency: std::time::Duration, error: Option<&str>) {
        if let Some(export) = self.engine.span_export() {
            let span = crate::export::ChatSpan {
                project_id: &self.thread.project_id,
                thread_id: &self.thread.id,
                reply_id: &self.reply.id,
                assistant: &self.assistant,
                step: state.step,
                model: &state.model,
                usage: state.usage,
                latency,
                error,
            };
            export.chat(&span, self.engine.config());
        }
    }

    async fn finish(mut self, outcome: Outcome) {
        let engine = self.engine.clone();
        // Stopped because the database went away, not by anyone's cancel.
        let outcome = match outcome {
            Outcome::Cancelled if !engine.inner.bus.storage_ok() => {
                Outcome::Failed(crate::recovery::storage_unavailable_error())
            }
            outcome => outcome,
        };
        let ended = match &outcome {
            Outcome::Completed => "completed",
            Outcome::Paused => "paused",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed(_) if self.has_output() => "incomplete",
            Outcome::Failed(_) => "failed",
            Outcome::StepLimit | Outcome::Incomplete(_) => "incomplete",
        };
        engine
            .inner
            .telemetry
            .metrics
            .run_ended(&self.thread.project_id, ended);
        if let Outcome::Paused = outcome {
            self.persist();
            engine.bus().sync().await;
            engine.forget_run(&self.thread.id);
            let _ = engine.update_thread(&self.thread.id, |t| {
                if t.status != ThreadStatus::Closed {
                    t.status = ThreadStatus::RequiresAction;
                }
            });
            return;
        }
        let error = match outcome {
            Outcome::Completed => {
                self.reply.status = MessageStatus::Completed;
                None
            }
            Outcome::Failed(error) => {
                self.reply.status = if self.has_output() {
                    MessageStatus::Incomplete
                } else {
                    MessageStatus::Failed
                };
                Some(error)
            }
            Outcome::Incomplete(error) => {
                self.reply.status = MessageStatus::Incomplete;
                Some(error)
            }
            Outcome::Cancelled => {
                self.reply.status = MessageStatus::Incomplete;
                Some(cancelled_error())
            }
            Outcome::StepLimit => {
                self.reply.status = MessageStatus::Incomplete;
                Some(Engine::error_body(
                    "server_error",
                    "max_steps",
                    format!(
                        "The run stopped after {} model calls without a final answer.",
                        engine.inner.options.max_steps
                    ),
                ))
            }
            Outcome::Paused => None,
        };
        for call in &mut self.reply.tool_calls {
            if !call.status.is_final() {
                call.status = ToolCallStatus::Cancelled;
            }
        }
        self.reply.error = error;
        engine.end_reply(&self.thread.id, &self.reply).await;
        if let Some(export) = engine.span_export() {
            let asked = export.captures_content().then(|| self.asked()).flatten();
            export.run_ended(
                &self.thread.project_id,
                &self.reply,
                &self.assistant,
                asked.as_deref(),
            );
        }
        if self.memory.is_some() {
            engine.schedule_memory_update(&self.thread.id);
        }
    }
}

fn output_bound_error() -> ErrorBody {
    Engine::error_body(
        "server_error",
        "max_output_tokens",
        "The reply reached its output bound (max_output_tokens).",
    )
}

fn provider_error(err: &ProviderError) -> ErrorBody {
    let kind = match err.status {
        Some(429) => "rate_limit_error",
        Some(400..=499) => "invalid_request_error",
        _ => "server_error",
    };
    Engine::error_body(kind, &err.code, err.message.clone())
}
