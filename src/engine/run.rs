//! One run: context → model stream → tool calls (several per step, chained until a final
//! answer, bounded) → final message. A run pauses (its task ends) when a tool call waits
//! for an operator; answering it starts a new task that continues the same reply.

use super::{Engine, EngineError, EventScope, lock, tools};
use crate::model::event::{TextDelta, ToolCallCreated, ToolCallDelta};
use crate::model::{
    Assistant, Content, ErrorBody, EventPayload, FunctionCall, Message, MessageStatus,
    ReasoningStep, Role, Thread, ThreadStatus, Tool, ToolCall, ToolCallStatus, ToolCallType, Usage,
    new_id, now_secs,
};
use crate::providers::{
    ContextItem, ContextToolCall, ModelEvent, ModelRequest, ProviderError, ROUTING_TOOL,
    RouteTarget, ToolSpec,
};
use futures::StreamExt;
use serde_json::{Value, json};
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
    Cancelled,
    StepLimit,
}

pub(crate) fn cancelled_error() -> ErrorBody {
    Engine::error_body("cancelled", "cancelled", "The run was cancelled.")
}

struct CallResult {
    index: usize,
    status: ToolCallStatus,
    output: Option<String>,
    latency_ms: Option<u64>,
    target_assistant_id: Option<String>,
    thread_id: Option<String>,
}

impl CallResult {
    fn new(index: usize, status: ToolCallStatus, output: Option<String>) -> Self {
        CallResult {
            index,
            status,
            output,
            latency_ms: None,
            target_assistant_id: None,
            thread_id: None,
        }
    }
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
    memory: Option<super::memory::RunMemory>,
}

pub(crate) async fn run(engine: Engine, spec: RunSpec, cancel: CancellationToken) {
    let loaded = load(&engine, &spec, cancel);
    let mut run = match loaded {
        Ok(run) => run,
        Err(err) => {
            tracing::error!("run of {} could not start: {err}", spec.thread_id);
            fail_unloadable(&engine, &spec, &err.to_string()).await;
            return;
        }
    };
    let outcome = run.drive().await;
    run.finish(outcome).await;
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
            lock(&engine.inner.runs).remove(&spec.thread_id);
        }
    }
}

fn load(engine: &Engine, spec: &RunSpec, cancel: CancellationToken) -> Result<Run, EngineError> {
    let store = engine.store();
    let thread = store
        .thread(&spec.thread_id)
        .ok_or_else(|| EngineError::not_found("thread", &spec.thread_id))?;
    let reply = store
        .message(&spec.reply_id)?
        .ok_or_else(|| EngineError::not_found("message", &spec.reply_id))?;
    let assistant = store
        .assistant(
            reply
                .assistant_id
                .as_deref()
                .unwrap_or(&thread.assistant_id),
        )?
        .ok_or_else(|| EngineError::not_found("assistant", &thread.assistant_id))?;
    let scope = Engine::thread_scope(&thread, Some(&reply.id));
    // Memory that cannot be read leaves the run without it, not without an answer.
    let memory = engine
        .run_memory(&thread, &assistant, &reply.id)
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
    })
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
            .unwrap_or(crate::config::DEFAULT_REPLY_OUTPUT_TOKENS)
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
        let request = self.build_request().map_err(|err| {
            Outcome::Failed(Engine::error_body(
                "server_error",
                "context",
                err.to_string(),
            ))
        })?;
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
        // Provider tool-call index → index into the reply's tool calls.
        let mut call_slots: Vec<(usize, usize)> = Vec::new();
        let mut text_started = false;
        loop {
            let next = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return Err(Outcome::Cancelled),
                next = stream.next() => next,
            };
            let event = match next {
                None | Some(Ok(ModelEvent::Finished)) => break,
                Some(Ok(event)) => event,
                Some(Err(err)) => return Err(Outcome::Failed(provider_error(&err))),
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
            match event {
                ModelEvent::TextDelta(delta) => {
                    let mut delta = delta;
                    if !text_started {
                        text_started = true;
                        if !self.reply.text().is_empty() {
                            delta.insert_str(0, "\n\n");
                        }
                    }
                    self.reply.append_text(&delta);
                    self.emit(EventPayload::MessageDelta(TextDelta {
                        thread_id: self.thread.id.clone(),
                        message_id: self.reply.id.clone(),
                        delta,
                    }));
                }
                ModelEvent::ReasoningStep => {
                    self.reply.reasoning.push(ReasoningStep::default());
                    // A new step is written whole; fragments then extend the last step.
                    self.persist();
                }
                ModelEvent::ReasoningDelta(delta) => {
                    if self.reply.reasoning.is_empty() {
                        self.reply.reasoning.push(ReasoningStep::default());
                    }
                    if let Some(last) = self.reply.reasoning.last_mut() {
                        last.text.push_str(&delta);
                    }
                    self.emit(EventPayload::ReasoningDelta(TextDelta {
                        thread_id: self.thread.id.clone(),
                        message_id: self.reply.id.clone(),
                        delta,
                    }));
                }
                ModelEvent::ToolCallStart { index, id, name } => {
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
                        step,
                        approved: false,
                    };
                    call_slots.push((index, self.reply.tool_calls.len()));
                    self.reply.tool_calls.push(call.clone());
                    // Written whole before its argument fragments, which extend it.
                    self.persist();
                    self.emit(EventPayload::ToolCallCreated(Box::new(ToolCallCreated {
                        thread_id: self.thread.id.clone(),
                        message_id: self.reply.id.clone(),
                        tool_call: call,
                    })));
                }
                ModelEvent::ToolCallArguments { index, delta } => {
                    let Some(&(_, slot)) = call_slots.iter().find(|(i, _)| *i == index) else {
                        tracing::warn!("arguments for unknown tool call index {index}");
                        continue;
                    };
                    let call = &mut self.reply.tool_calls[slot];
                    call.function.arguments.push_str(&delta);
                    let tool_call_id = call.id.clone();
                    self.emit(EventPayload::ToolCallDelta(ToolCallDelta {
                        thread_id: self.thread.id.clone(),
                        message_id: self.reply.id.clone(),
                        tool_call_id,
                        delta,
                    }));
                }
                ModelEvent::Usage {
                    input_tokens,
                    output_tokens,
                } => {
                    let usage = Usage {
                        input_tokens,
                        output_tokens,
                    };
                    self.reply.usage.input_tokens += input_tokens;
                    self.reply.usage.output_tokens += output_tokens;
                    self.engine
                        .inner
                        .usage
                        .record(&self.thread.project_id, &model, usage);
                }
                ModelEvent::Finished => break,
            }
        }
        Ok(!call_slots.is_empty())
    }

    fn call_kind(&self, name: &str) -> ToolCallType {
        if name == ROUTING_TOOL {
            return ToolCallType::AgentRouting;
        }
        match self.find_tool(name) {
            Some(Tool::FileSearch(_)) => ToolCallType::FileSearch,
            Some(Tool::CodeInterpreter(_)) => ToolCallType::CodeInterpreter,
            Some(Tool::Webhook(_)) => ToolCallType::Webhook,
            Some(Tool::Mcp(_)) => ToolCallType::Mcp,
            Some(Tool::Function(_)) | None => ToolCallType::Function,
        }
    }

    fn find_tool(&self, name: &str) -> Option<&Tool> {
        self.assistant
            .tools
            .iter()
            .find(|t| t.call_name() == Some(name))
    }

    /// Runs the ready calls at once. `Some(outcome)` ends the run (paused or cancelled).
    async fn execute_calls(&mut self, ready: Vec<usize>) -> Option<Outcome> {
        let mut immediate = Vec::new();
        let mut running = Vec::new();
        for index in ready {
            // A call without arguments (some providers send none) has empty ones.
            if self.reply.tool_calls[index]
                .function
                .arguments
                .trim()
                .is_empty()
            {
                self.reply.tool_calls[index].function.arguments = "{}".into();
            }
            let call = self.reply.tool_calls[index].clone();
            let arguments_ok =
                serde_json::from_str::<serde_json::Map<String, Value>>(&call.function.arguments);
            if let Err(err) = arguments_ok {
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::Failed,
                    Some(format!("The arguments are not a JSON object: {err}")),
                ));
                continue;
            }
            if call.kind == ToolCallType::AgentRouting {
                running.push(futures::future::Either::Left(self.route(index, call)));
                continue;
            }
            let tool = self.find_tool(&call.function.name).cloned();
            let Some(tool) = tool else {
                let offered: Vec<&str> = self
                    .assistant
                    .tools
                    .iter()
                    .filter_map(Tool::call_name)
                    .collect();
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::Failed,
                    Some(format!(
                        "There is no tool '{}'. This assistant offers: {}.",
                        call.function.name,
                        if offered.is_empty() {
                            "none".to_string()
                        } else {
                            offered.join(", ")
                        }
                    )),
                ));
                continue;
            };
            let approval = tool.approval().unwrap_or(self.assistant.approval);
            let read_only = matches!(&tool, Tool::Function(f) if f.read_only);
            let needs_approval = !call.approved
                && match approval {
                    crate::model::Approval::Never => false,
                    crate::model::Approval::Always => true,
                    crate::model::Approval::OnWrite => !read_only,
                };
            if needs_approval {
                immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::RequiresApproval,
                    None,
                ));
                continue;
            }
            match tool {
                Tool::Function(f) => match f.handler {
                    Some(handler) => {
                        let limit = self.engine.inner.options.tool_output_limit;
                        let arguments = call.function.arguments.clone();
                        running.push(futures::future::Either::Right(async move {
                            let started = Instant::now();
                            let result = tools::run_command(&handler, &arguments, limit).await;
                            let latency = started.elapsed().as_millis() as u64;
                            let mut outcome = match result {
                                Ok(output) => {
                                    CallResult::new(index, ToolCallStatus::Completed, Some(output))
                                }
                                Err(why) => {
                                    CallResult::new(index, ToolCallStatus::Failed, Some(why))
                                }
                            };
                            outcome.latency_ms = Some(latency);
                            outcome
                        }));
                    }
                    None => {
                        immediate.push(CallResult::new(index, ToolCallStatus::RequiresAction, None))
                    }
                },
                other => immediate.push(CallResult::new(
                    index,
                    ToolCallStatus::Failed,
                    Some(format!(
                        "The {} tool is not available in this build yet.",
                        other.call_name().unwrap_or("mcp")
                    )),
                )),
            }
        }
        for result in immediate {
            self.apply(result);
        }
        let results = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => return Some(Outcome::Cancelled),
            results = futures::future::join_all(running) => results,
        };
        for result in results {
            self.apply(result);
        }
        self.persist();
        if self.reply.tool_calls.iter().any(|c| c.status.is_waiting()) {
            return Some(Outcome::Paused);
        }
        None
    }

    fn apply(&mut self, result: CallResult) {
        let call = &mut self.reply.tool_calls[result.index];
        call.status = result.status;
        call.output = result.output;
        call.latency_ms = result.latency_ms;
        if result.target_assistant_id.is_some() {
            call.target_assistant_id = result.target_assistant_id;
        }
        if result.thread_id.is_some() {
            call.thread_id = result.thread_id;
        }
        let payload =
            EventPayload::tool_call_output(&self.reply, &self.reply.tool_calls[result.index]);
        self.emit(payload);
    }

    /// Hands the message of a routing call to a `routes_to` assistant in a linked thread,
    /// and returns that assistant's final answer as the call's output.
    fn route(
        &self,
        index: usize,
        call: ToolCall,
    ) -> impl std::future::Future<Output = CallResult> + Send + 'static {
        let engine = self.engine.clone();
        let parent = self.thread.clone();
        let assistant = self.assistant.clone();
        let chain = self.chain.clone();
        let scope = self.scope.clone();
        let cancel = self.cancel.clone();
        async move {
            let started = Instant::now();
            let mut result = match route_inner(
                &engine, &parent, &assistant, &chain, &scope, &call, cancel,
            )
            .await
            {
                Ok(result) => result,
                Err(why) => CallResult::new(index, ToolCallStatus::Failed, Some(why)),
            };
            result.index = index;
            result.latency_ms = Some(started.elapsed().as_millis() as u64);
            result
        }
    }

    fn build_request(&self) -> Result<ModelRequest, EngineError> {
        let store = self.engine.store();
        // With memory, the window decides what goes verbatim, not a message count.
        let count = match &self.memory {
            Some(_) => super::memory::WINDOW_SCAN,
            None => self.engine.inner.options.context_messages,
        };
        let mut messages = store.recent_messages(&self.thread.id, count)?;
        let mut instructions = self.assistant.instructions.clone();
        if let Some(memory) = &self.memory {
            if let Some(first) = &memory.first_message_id {
                if let Some(at) = messages.iter().position(|m| &m.id == first) {
                    messages.drain(..at);
                }
            }
            instructions.push_str(&memory.prelude);
        }
        let mut context = Vec::new();
        for message in &messages {
            let message = if message.id == self.reply.id {
                &self.reply
            } else {
                message
            };
            match message.role {
                Role::User => context.push(ContextItem::User(message.text())),
                Role::Assistant => {
                    push_assistant(&mut context, message, message.id == self.reply.id)
                }
                Role::Tool | Role::System => {}
            }
        }
        let mut tools: Vec<ToolSpec> = self
            .assistant
            .tools
            .iter()
            .filter_map(|tool| match tool {
                Tool::Function(f) => Some(ToolSpec {
                    name: f.function.name.clone(),
                    description: f.function.description.clone().unwrap_or_default(),
                    parameters: f.function.parameters.clone(),
                }),
                _ => None,
            })
            .collect();
        let mut routes = Vec::new();
        for id in &self.assistant.routes_to {
            if let Some(target) = store.assistant(id)? {
                routes.push(RouteTarget {
                    id: target.id,
                    name: target.name,
                });
            }
        }
        if !routes.is_empty() {
            let names: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
            tools.push(ToolSpec {
                name: ROUTING_TOOL.into(),
                description: "Hand the request to a colleague assistant and get its answer back.".into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "assistant": {"type": "string", "enum": names},
                        "message": {"type": "string", "description": "What the colleague should do."}
                    },
                    "required": ["assistant", "message"]
                }),
            });
        }
        Ok(ModelRequest {
            purpose: Default::default(),
            model: self
                .engine
                .config()
                .resolve_model(&self.assistant.model)
                .to_string(),
            assistant_name: self.assistant.name.clone(),
            instructions,
            context,
            tools,
            routes,
            max_output_tokens: self.output_budget(),
        })
    }

    async fn finish(mut self, outcome: Outcome) {
        let engine = self.engine.clone();
        if let Outcome::Paused = outcome {
            self.persist();
            engine.bus().sync().await;
            lock(&engine.inner.runs).remove(&self.thread.id);
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

/// Adds a stored assistant message to the context: each step's calls with their results,
/// and its text. For the reply being written, its text so far comes first.
fn push_assistant(context: &mut Vec<ContextItem>, message: &Message, current: bool) {
    let text = message.text();
    if current && !text.is_empty() {
        context.push(ContextItem::Assistant(text.clone()));
    }
    let mut steps: Vec<u32> = message.tool_calls.iter().map(|c| c.step).collect();
    steps.dedup();
    for step in steps {
        let calls: Vec<&ToolCall> = message
            .tool_calls
            .iter()
            .filter(|c| c.step == step && c.status.is_final())
            .collect();
        if calls.is_empty() {
            continue;
        }
        context.push(ContextItem::ToolCalls(
            calls
                .iter()
                .map(|c| ContextToolCall {
                    id: c.id.clone(),
                    name: c.function.name.clone(),
                    arguments: c.function.arguments.clone(),
                })
                .collect(),
        ));
        for call in calls {
            let output = match (&call.output, call.status) {
                (Some(output), ToolCallStatus::Completed) => output.clone(),
                (Some(output), status) => format!("[{status:?}] {output}"),
                (None, status) => format!("[{status:?}]"),
            };
            context.push(ContextItem::ToolResult {
                call_id: call.id.clone(),
                name: call.function.name.clone(),
                output,
            });
        }
    }
    if !current && !text.is_empty() {
        context.push(ContextItem::Assistant(text));
    }
}

fn normalise(name: &str) -> String {
    name.to_lowercase().replace(['_', '-'], " ")
}

async fn route_inner(
    engine: &Engine,
    parent: &Thread,
    assistant: &Assistant,
    chain: &[String],
    scope: &EventScope,
    call: &ToolCall,
    cancel: CancellationToken,
) -> Result<CallResult, String> {
    #[derive(serde::Deserialize)]
    struct RouteArgs {
        assistant: String,
        message: String,
    }
    let args: RouteArgs = serde_json::from_str(&call.function.arguments)
        .map_err(|err| format!("Routing needs {{\"assistant\", \"message\"}}: {err}"))?;
    if args.message.trim().is_empty() {
        return Err("Routing needs a non-empty message.".into());
    }
    let store = engine.store();
    let mut target = None;
    let mut names = Vec::new();
    for id in &assistant.routes_to {
        if let Some(candidate) = store.assistant(id).map_err(|e| e.to_string())? {
            names.push(candidate.name.clone());
            if candidate.id == args.assistant
                || normalise(&candidate.name) == normalise(&args.assistant)
            {
                target = Some(candidate);
            }
        }
    }
    let Some(target) = target else {
        return Err(format!(
            "'{}' is not one of {}'s routes ({}).",
            args.assistant,
            assistant.name,
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    };
    if chain.contains(&target.id) {
        let mut path: Vec<String> = chain
            .iter()
            .map(|id| {
                store
                    .assistant(id)
                    .ok()
                    .flatten()
                    .map_or(id.clone(), |a| a.name)
            })
            .collect();
        path.push(target.name.clone());
        return Err(format!("Routing loop cut off: {}.", path.join(" → ")));
    }
    if chain.len() > engine.inner.options.max_routing_depth {
        return Err(format!(
            "Routing deeper than {} hops is not allowed.",
            engine.inner.options.max_routing_depth
        ));
    }
    let now = now_secs();
    let child = Thread {
        id: new_id("thread_"),
        object: "thread".into(),
        project_id: parent.project_id.clone(),
        assistant_id: target.id.clone(),
        created_at: now,
        updated_at: now,
        status: ThreadStatus::Active,
        metadata: parent.metadata.clone(),
        title: Some(super::validate::clip_title(&args.message)),
        parent_thread_id: Some(parent.id.clone()),
    };
    store.put_thread(&child).map_err(|e| e.to_string())?;
    engine.emit(
        &Engine::thread_scope(&child, None),
        EventPayload::thread_created(&child),
    );
    let child_cancel = cancel.child_token();
    let (message, reply) = engine
        .start_reply(
            &child,
            &target.id,
            Some(Content::Text(args.message)),
            Vec::new(),
            child_cancel.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
    engine.emit(
        scope,
        EventPayload::Routing(crate::model::event::Routing {
            thread_id: parent.id.clone(),
            message_id: scope.message_id.clone(),
            tool_call_id: call.id.clone(),
            from_assistant_id: assistant.id.clone(),
            to_assistant_id: target.id.clone(),
            from_thread_id: parent.id.clone(),
            to_thread_id: child.id.clone(),
            to_message_id: message.id.clone(),
        }),
    );
    let mut child_chain = chain.to_vec();
    child_chain.push(target.id.clone());
    let child_engine = engine.clone();
    let spec = RunSpec {
        thread_id: child.id.clone(),
        reply_id: reply.id.clone(),
        chain: child_chain,
    };
    tokio::spawn(async move { run(child_engine, spec, child_cancel).await });
    let answer = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Err("Cancelled with the routing run.".into()),
        answer = engine.wait_for_message(&reply.id) => answer.map_err(|e| e.to_string())?,
    };
    let mut result = CallResult::new(0, ToolCallStatus::Completed, Some(answer.text()));
    if answer.status != MessageStatus::Completed {
        result.status = ToolCallStatus::Failed;
        let why = answer
            .error
            .map_or_else(|| format!("{:?}", answer.status), |e| e.message);
        result.output = Some(format!("{} could not answer: {why}", target.name));
    }
    result.target_assistant_id = Some(target.id);
    result.thread_id = Some(child.id);
    Ok(result)
}
