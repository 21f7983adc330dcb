//! One run: context → model stream → tool calls (several per step, chained until a final
//! answer, bounded) → final message. A run pauses (its task ends) when a tool call waits
//! for an operator; answering it starts a new task that continues the same reply.

mod context;
mod routing;

use super::net::NetRules;
use super::privacy::Redactor;
use super::{Engine, EngineError, EventScope, lock, tools};
use crate::model::event::{TextDelta, ToolCallCreated, ToolCallDelta};
use crate::model::{
    Assistant, ErrorBody, EventPayload, FunctionCall, Message, MessageStatus, ReasoningStep,
    Thread, ThreadStatus, Tool, ToolCall, ToolCallStatus, ToolCallType, Usage, new_id,
};
use crate::providers::{ModelEvent, ProviderError, ROUTING_TOOL};
use futures::StreamExt;
use serde_json::Value;
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

/// A tool call under way: it ends with its result.
type RunningCall = std::pin::Pin<Box<dyn std::future::Future<Output = CallResult> + Send>>;

/// How much of a tool's output a tool reads at most (the whole output the operator can
/// fetch); the model gets `tool_output_limit` of it.
pub(super) const WHOLE_OUTPUT_LIMIT: usize = 16 * 1024 * 1024;

/// Where a call's output is cut for the model and the whole of it kept for the operator.
struct OutputCut {
    /// Bytes the model gets.
    limit: usize,
    /// `DATA_DIR/outputs/CALL_ID`, written when the output is longer.
    whole: std::path::PathBuf,
}

impl OutputCut {
    /// The output as the model sees it: whole when short, else its beginning and a note
    /// that says where the rest is (written to disk first, so the note is true).
    fn apply(&self, output: String) -> String {
        if output.len() <= self.limit {
            return output;
        }
        let kept = self
            .whole
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let mut file = std::fs::File::create(&self.whole)?;
                std::io::Write::write_all(&mut file, output.as_bytes())?;
                file.sync_all()
            });
        let mut cut = self.limit;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        let total = output.len();
        let mut shown = output;
        shown.truncate(cut);
        match kept {
            Ok(()) => shown.push_str(&format!(
                "\n[cut at {cut} of {total} bytes for the model; the operator can read it whole]"
            )),
            Err(err) => {
                tracing::warn!("the whole output could not be kept: {err}");
                shown.push_str(&format!("\n[cut at {cut} of {total} bytes]"));
            }
        }
        shown
    }
}

/// A tool call whose work ends in its output (`Ok`) or the reason it failed (`Err`),
/// timed, its output cut for the model.
fn timed(
    index: usize,
    cut: OutputCut,
    work: impl std::future::Future<Output = Result<String, String>> + Send + 'static,
) -> RunningCall {
    Box::pin(async move {
        let started = Instant::now();
        let result = work.await;
        let latency = started.elapsed().as_millis() as u64;
        // Writing a long output whole is file I/O: off the async threads.
        let shown = tokio::task::spawn_blocking(move || match result {
            Ok(output) => Ok(cut.apply(output)),
            Err(why) => Err(cut.apply(why)),
        })
        .await
        .unwrap_or_else(|err| Err(format!("the tool's output was lost: {err}")));
        let mut outcome = match shown {
            Ok(output) => CallResult::new(index, ToolCallStatus::Completed, Some(output)),
            Err(why) => CallResult::new(index, ToolCallStatus::Failed, Some(why)),
        };
        outcome.latency_ms = Some(latency);
        outcome
    })
}

/// Where the whole output of a call is kept when the model got only its beginning.
pub(crate) fn whole_output_path(data_dir: &std::path::Path, call_id: &str) -> std::path::PathBuf {
    data_dir
        .join("outputs")
        .join(crate::model::path_segment(call_id))
}

/// An MCP tool offered to the model in this run.
#[derive(Clone)]
struct OfferedMcp {
    /// `LABEL__TOOL`.
    offered_name: String,
    info: crate::engine::mcp::McpToolInfo,
    tool: crate::model::McpTool,
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
    memory: Option<crate::engine::memory::RunMemory>,
    /// The MCP tools offered at the last model call, and the servers that did not start.
    mcp_tools: Vec<OfferedMcp>,
    mcp_unavailable: Vec<(String, String)>,
    mcp_listed: bool,
    /// Privacy "strict": the values behind the last model call's placeholders, for the
    /// tools the operator trusts with them.
    placeholders: Option<crate::engine::privacy::Restorer>,
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
        mcp_tools: Vec::new(),
        mcp_unavailable: Vec::new(),
        mcp_listed: false,
        placeholders: None,
    })
}

impl Run {
    /// Waits for the project's limits to let the run start (a free slot, tokens left
    /// this minute), the thread `queued` meanwhile. A routed run uses its parent's slot:
    /// the parent waits on it, so making it queue behind the parent could never end.
    async fn admit(&self) -> Result<Option<super::admission::Slot>, Outcome> {
        if self.chain.len() > 1 {
            return Ok(None);
        }
        let Ok(Some(project)) = self.engine.store().project(&self.thread.project_id) else {
            return Ok(None);
        };
        let was_queued = std::sync::atomic::AtomicBool::new(false);
        let entered = self
            .engine
            .inner
            .admission
            .enter(
                &project.id,
                &project.limits,
                || self.engine.inner.usage.tokens_last_minute(&project.id),
                || {
                    was_queued.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = self.engine.update_thread(&self.thread.id, |t| {
                        if t.status == ThreadStatus::Running {
                            t.status = ThreadStatus::Queued;
                        }
                    });
                },
                &self.cancel,
            )
            .await;
        match entered {
            Ok(slot) => {
                if was_queued.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = self.engine.update_thread(&self.thread.id, |t| {
                        if t.status == ThreadStatus::Queued {
                            t.status = ThreadStatus::Running;
                        }
                    });
                }
                Ok(Some(slot))
            }
            Err(super::admission::Refused::Cancelled) => Err(Outcome::Cancelled),
        }
    }

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

    /// Waits, the thread `queued`, while the project has used its minute's tokens.
    async fn wait_for_tokens(&self) -> Result<(), Outcome> {
        let Ok(Some(project)) = self.engine.store().project(&self.thread.project_id) else {
            return Ok(());
        };
        let spent = || {
            self.engine.inner.usage.tokens_last_minute(&project.id)
                >= project.limits.tokens_per_minute
        };
        if !spent() {
            return Ok(());
        }
        let set_status = |from: ThreadStatus, to: ThreadStatus| {
            let _ = self.engine.update_thread(&self.thread.id, |t| {
                if t.status == from {
                    t.status = to;
                }
            });
        };
        set_status(ThreadStatus::Running, ThreadStatus::Queued);
        while spent() {
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(Outcome::Cancelled),
                _ = tokio::time::sleep(super::admission::TOKEN_RECHECK) => {}
            }
        }
        set_status(ThreadStatus::Queued, ThreadStatus::Running);
        Ok(())
    }

    /// One model call. `Ok(true)`: it asked for tools; `Ok(false)`: it gave its answer.
    async fn model_step(&mut self, step: u32) -> Result<bool, Outcome> {
        let provider = self.engine.provider_for(&self.assistant.model);
        self.refresh_mcp_tools().await;
        let mut request = self.build_request().map_err(|err| {
            Outcome::Failed(Engine::error_body(
                "server_error",
                "context",
                err.to_string(),
            ))
        })?;
        // Privacy "strict": personal data leaves as placeholders; the answer's
        // placeholders are put back before anyone sees it.
        let mut restorers = None;
        let mut safety_flag = None;
        if let Some(mut redactor) = Redactor::new(&self.assistant.privacy) {
            redactor.redact_request(&mut request);
            if redactor.replaced_any() {
                safety_flag = Some("pii_redacted".to_string());
            }
            restorers = Some((redactor.restorer(), redactor.restorer()));
            self.placeholders = Some(redactor.restorer());
        }
        let started = Instant::now();
        let mut step_usage = Usage::default();
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
                    let mut delta = match &mut restorers {
                        Some((text, _)) => text.push(&delta),
                        None => delta,
                    };
                    if delta.is_empty() {
                        continue;
                    }
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
                    let delta = match &mut restorers {
                        Some((_, reasoning)) => reasoning.push(&delta),
                        None => delta,
                    };
                    if delta.is_empty() {
                        continue;
                    }
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
                    self.reply.estimated_cost +=
                        self.engine
                            .config()
                            .cost(&model, input_tokens, output_tokens);
                    step_usage.input_tokens += input_tokens;
                    step_usage.output_tokens += output_tokens;
                    self.engine
                        .inner
                        .usage
                        .record(&self.thread.project_id, &model, usage);
                }
                ModelEvent::Finished => break,
            }
        }
        let latency = started.elapsed();
        self.engine.inner.metrics.model_call(
            &self.thread.project_id,
            &self.assistant.id,
            latency.as_secs_f64(),
            step_usage.input_tokens,
            step_usage.output_tokens,
        );
        self.engine.telemetry(
            &self.scope,
            &self.thread.project_id,
            crate::model::event::Telemetry {
                event: "model_call".into(),
                timestamp: crate::model::rfc3339(crate::model::now_secs()),
                assistant_id: Some(self.assistant.id.clone()),
                thread_id: self.thread.id.clone(),
                tool: None,
                latency_ms: latency.as_millis() as u64,
                input_tokens: step_usage.input_tokens,
                output_tokens: step_usage.output_tokens,
                safety_flag,
            },
        );
        // What a restorer held back (a `[` that never became a placeholder) is text too.
        if let Some((mut text, mut reasoning)) = restorers {
            let rest = reasoning.finish();
            if let Some(last) = self.reply.reasoning.last_mut().filter(|_| !rest.is_empty()) {
                last.text.push_str(&rest);
                self.emit(EventPayload::ReasoningDelta(TextDelta {
                    thread_id: self.thread.id.clone(),
                    message_id: self.reply.id.clone(),
                    delta: rest,
                }));
            }
            let rest = text.finish();
            if !rest.is_empty() {
                self.reply.append_text(&rest);
                self.emit(EventPayload::MessageDelta(TextDelta {
                    thread_id: self.thread.id.clone(),
                    message_id: self.reply.id.clone(),
                    delta: rest,
                }));
            }
        }
        Ok(!call_slots.is_empty())
    }

    fn call_kind(&self, name: &str) -> ToolCallType {
        if name == ROUTING_TOOL {
            return ToolCallType::AgentRouting;
        }
        if self.find_mcp(name).is_some() {
            return ToolCallType::Mcp;
        }
        match self.find_tool(name) {
            Some(Tool::FileSearch(_)) => ToolCallType::FileSearch,
            Some(Tool::CodeInterpreter(_)) => ToolCallType::CodeInterpreter,
            Some(Tool::Webhook(_)) => ToolCallType::Webhook,
            Some(Tool::Mcp(_)) => ToolCallType::Mcp,
            Some(Tool::Function(_)) | None => ToolCallType::Function,
        }
    }

    /// An MCP tool by the name offered (`LABEL__TOOL`), or by its bare name when only
    /// one server has a tool of that name.
    fn find_mcp(&self, name: &str) -> Option<&OfferedMcp> {
        if let Some(offered) = self.mcp_tools.iter().find(|t| t.offered_name == name) {
            return Some(offered);
        }
        let mut bare = self.mcp_tools.iter().filter(|t| t.info.name == name);
        match (bare.next(), bare.next()) {
            (Some(only), None) => Some(only),
            _ => None,
        }
    }

    /// Why a call names no tool: what is offered, and which MCP servers did not start.
    fn no_such_tool(&self, name: &str) -> String {
        let mut offered: Vec<&str> = self
            .assistant
            .tools
            .iter()
            .filter_map(Tool::call_name)
            .collect();
        offered.extend(self.mcp_tools.iter().map(|t| t.offered_name.as_str()));
        let mut text = format!(
            "There is no tool '{name}'. This assistant offers: {}.",
            if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            }
        );
        for (label, why) in &self.mcp_unavailable {
            text.push_str(&format!(
                " The MCP server '{label}' is not available: {why}"
            ));
        }
        text
    }

    /// Starts (or reuses) the assistant's MCP servers and lists their tools, so this
    /// model call is offered them.
    async fn refresh_mcp_tools(&mut self) {
        let servers: Vec<crate::model::McpTool> = self
            .assistant
            .tools
            .iter()
            .filter_map(|t| match t {
                Tool::Mcp(m) => Some(m.clone()),
                _ => None,
            })
            .collect();
        if servers.is_empty() {
            return;
        }
        let rules = NetRules::of(&self.assistant.safety);
        self.mcp_listed = true;
        self.mcp_tools.clear();
        self.mcp_unavailable.clear();
        for server in servers {
            let listed = tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                listed = self.engine.inner.mcp.tools(&self.assistant.id, &server, &rules) => listed,
            };
            match listed {
                Ok(tools) => self
                    .mcp_tools
                    .extend(tools.into_iter().map(|info| OfferedMcp {
                        offered_name: format!(
                            "{}{}{}",
                            server.server_label,
                            crate::engine::mcp::NAME_SEPARATOR,
                            info.name
                        ),
                        info,
                        tool: server.clone(),
                    })),
                Err(why) => {
                    tracing::warn!("{why}");
                    self.mcp_unavailable
                        .push((server.server_label.clone(), why));
                }
            }
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
        // A run resumed after an approval calls tools before any model call lists them.
        if !self.mcp_listed {
            self.refresh_mcp_tools().await;
        }
        let mut immediate = Vec::new();
        let mut running: Vec<RunningCall> = Vec::new();
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
                running.push(Box::pin(self.route(index, call)));
                continue;
            }
            let mcp = self.find_mcp(&call.function.name).cloned();
            let tool = self.find_tool(&call.function.name).cloned();
            let (approval, read_only) = match (&mcp, &tool) {
                (Some(offered), _) => (offered.tool.approval, offered.info.read_only),
                (None, Some(tool)) => (
                    tool.approval(),
                    matches!(tool, Tool::Function(f) if f.read_only),
                ),
                (None, None) => {
                    immediate.push(CallResult::new(
                        index,
                        ToolCallStatus::Failed,
                        Some(self.no_such_tool(&call.function.name)),
                    ));
                    continue;
                }
            };
            let needs_approval = !call.approved
                && match approval.unwrap_or(self.assistant.approval) {
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
            let limit = WHOLE_OUTPUT_LIMIT;
            // Placeholders stay placeholders unless the operator trusts the tool.
            let trusted = match (&mcp, &tool) {
                (Some(offered), _) => offered.tool.trusted,
                (None, Some(tool)) => tool.trusted(),
                (None, None) => false,
            };
            let arguments = match (&self.placeholders, trusted) {
                (Some(placeholders), true) => placeholders.restore(&call.function.arguments),
                _ => call.function.arguments.clone(),
            };
            let cut = OutputCut {
                limit: self.engine.inner.options.tool_output_limit,
                whole: whole_output_path(self.engine.store().dir(), &call.id),
            };
            if let Some(offered) = mcp {
                let engine = self.engine.clone();
                let rules = NetRules::of(&self.assistant.safety);
                let assistant_id = self.assistant.id.clone();
                let map: serde_json::Map<String, Value> =
                    serde_json::from_str(&arguments).unwrap_or_default();
                running.push(timed(index, cut, async move {
                    engine
                        .inner
                        .mcp
                        .call(
                            &assistant_id,
                            &offered.tool,
                            &rules,
                            &offered.info.name,
                            map,
                            limit,
                        )
                        .await
                }));
                continue;
            }
            let Some(tool) = tool else { continue };
            match tool {
                Tool::Function(f) => match f.handler {
                    Some(handler) => running.push(timed(index, cut, async move {
                        tools::run_command(&handler, &arguments, limit).await
                    })),
                    None => {
                        immediate.push(CallResult::new(index, ToolCallStatus::RequiresAction, None))
                    }
                },
                Tool::Webhook(webhook) => {
                    let engine = self.engine.clone();
                    let rules = NetRules::of(&self.assistant.safety);
                    running.push(timed(index, cut, async move {
                        engine
                            .inner
                            .webhooks
                            .call(&webhook, &rules, &arguments, limit)
                            .await
                    }));
                }
                Tool::CodeInterpreter(interpreter) => {
                    let code = serde_json::from_str::<Value>(&arguments)
                        .ok()
                        .and_then(|v| v.get("code").and_then(Value::as_str).map(str::to_string));
                    let Some(code) = code else {
                        immediate.push(CallResult::new(
                            index,
                            ToolCallStatus::Failed,
                            Some(
                                "code_interpreter takes {\"code\": \"...\"} (Python 3 source)."
                                    .into(),
                            ),
                        ));
                        continue;
                    };
                    let scratch =
                        super::interpreter::scratch_dir(self.engine.store().dir(), &call.id);
                    let timeout = std::time::Duration::from_millis(interpreter.timeout_ms());
                    running.push(timed(index, cut, async move {
                        super::interpreter::run(&code, &scratch, timeout, limit).await
                    }));
                }
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
        // A call that ran (not one waiting for an operator) is a telemetry event.
        if let Some(latency_ms) = result.latency_ms {
            let call = &self.reply.tool_calls[result.index];
            // The wire names (`code_interpreter`, `failed`) as metric labels.
            let wire_name = |value: serde_json::Result<Value>| {
                value
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            self.engine.inner.metrics.tool_call(
                &self.thread.project_id,
                &wire_name(serde_json::to_value(call.kind)),
                &wire_name(serde_json::to_value(call.status)),
                latency_ms as f64 / 1000.0,
            );
            let tool = call.function.name.clone();
            self.engine.telemetry(
                &self.scope,
                &self.thread.project_id,
                crate::model::event::Telemetry {
                    event: "tool_call".into(),
                    timestamp: crate::model::rfc3339(crate::model::now_secs()),
                    assistant_id: Some(self.assistant.id.clone()),
                    thread_id: self.thread.id.clone(),
                    tool: Some(tool),
                    latency_ms,
                    input_tokens: 0,
                    output_tokens: 0,
                    safety_flag: None,
                },
            );
        }
    }

    async fn finish(mut self, outcome: Outcome) {
        let engine = self.engine.clone();
        let ended = match &outcome {
            Outcome::Completed => "completed",
            Outcome::Paused => "paused",
            Outcome::Cancelled => "cancelled",
            Outcome::Failed(_) if self.has_output() => "incomplete",
            Outcome::Failed(_) => "failed",
            Outcome::StepLimit => "incomplete",
        };
        engine
            .inner
            .metrics
            .run_ended(&self.thread.project_id, ended);
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
