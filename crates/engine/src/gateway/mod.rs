//! Gateway calls: a client's model call through `/v1/…` (its base URL pointed at `serve`)
//! as a live thread of the calling agent. The call opens a reply on the agent's thread,
//! every event the upstream stream carries is applied to it as the run loop applies its
//! own (the same `message.delta`, `tool_call.*` events), and it ends as a run ends. The
//! bytes the client receives are the upstream's; nothing here holds a second copy of the
//! stream beyond the reply being built.

use crate::{Engine, EngineError, EngineResult, EventScope};
use agentdeck_model::event::{TelemetryKind, TextDelta};
use agentdeck_model::sse::SseEvent;
use agentdeck_model::{
    Assistant, AssistantSource, Content, ErrorBody, EventPayload, Message, MessageStatus,
    ReasoningStep, Thread, ThreadStatus, ToolCallStatus, ToolCallType, Usage, now_secs,
};
use agentdeck_providers::ModelEvent;
use agentdeck_providers::http::Decoder;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

mod assistant;
mod deny;
mod handoff;
mod hold;
mod privacy;
mod render;
mod translate;
mod wire;
pub use assistant::{ASSISTANT_MODEL_PREFIX, AssistantCall};
pub use hold::Denied;
pub use privacy::{AnswerRestorer, Redaction};
pub use render::Renderer;
pub use translate::{Translation, content_text};
pub use wire::{NoUpstream, Upstream, Wire};

/// The gateway's state in the engine.
#[derive(Default)]
pub(crate) struct GatewayState {
    /// Each conversation's newest call, so the next agent of a handoff is routed from the
    /// agent that handed off.
    conversations: std::sync::Mutex<handoff::Conversations>,
    /// External assistants by project and lower-cased name, so an agent seen both ways
    /// (its calls through the gateway, its spans) is one assistant.
    agents: std::sync::Mutex<std::collections::HashMap<(String, String), String>>,
    /// Calls in flight per project, held to its `concurrent_threads`.
    in_flight: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
}

/// A call's place among its project's calls in flight; given back when dropped.
pub struct InFlight {
    counts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, u64>>>,
    project_id: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut counts = agentdeck_model::sync::lock(&self.counts);
        if let Some(count) = counts.get_mut(&self.project_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.project_id);
            }
        }
    }
}

/// Whether a thread is one of gateway calls (its replies are the calls, not runs).
pub(crate) fn is_gateway_thread(thread: &Thread) -> bool {
    thread.metadata.get("source").map(String::as_str) == Some("gateway")
}

/// Who is calling and what: read from the request by the API.
pub struct GatewayOpening {
    pub project_id: String,
    /// The agent's name (the `X-Agentdeck-Agent` header), else "gateway".
    pub agent: String,
    /// Calls that carry the same conversation are one thread.
    pub conversation: Option<String>,
    /// The thread of the call this one continues (a Responses `previous_response_id`).
    pub continues: Option<String>,
    /// The wire format the client speaks.
    pub wire: Wire,
    pub model: String,
    /// The newest user message of the request: what the agent was asked this time.
    pub asked: Option<String>,
    /// Personal data was replaced before the call left (its telemetry says so).
    pub redacted: bool,
    /// The results of tool calls an earlier answer asked for, when the request brings
    /// them (call id, output) in place of a new user message.
    pub answered: Vec<(String, String)>,
}

/// How much of a tool's result the workspace keeps of a gateway call.
const RESULT_CHARS: usize = 64 * 1024;

/// One call in flight. Dropped before [`GatewayCall::finish`] (the client went away),
/// it ends the reply `incomplete`.
pub struct GatewayCall {
    engine: Engine,
    thread: Thread,
    reply: Message,
    scope: EventScope,
    model: String,
    started: Instant,
    /// Provider tool-call index → index into the reply's tool calls.
    slots: Vec<(usize, usize)>,
    /// Reads the provider's stream into model events.
    decoder: Box<dyn Decoder>,
    wire: Wire,
    /// Events came from a stream (whose decoder must see its end).
    streamed: bool,
    /// What the provider's stream reported failed.
    failure: Option<String>,
    redacted: bool,
    /// What the agent was asked this time (exported spans carry it when content is).
    asked: Option<String>,
    ended: bool,
}

impl Engine {
    /// Opens a call: the agent's external assistant and its thread (made on first use),
    /// the user's message and a reply in progress, announced like a run's.
    pub async fn open_gateway_call(&self, opening: GatewayOpening) -> EngineResult<GatewayCall> {
        self.gateway_budget(&opening.project_id)?;
        let agent = agentdeck_model::text::sanitize(&opening.agent);
        let assistant = self.external_assistant(&opening.project_id, "gateway", &agent, &agent)?;
        let (mut thread, handoff) =
            self.gateway_thread(&opening.project_id, &assistant, &agent, &opening)?;
        // A call that brings tool results back shows them (on the calls and as the tool
        // message it answers), not the user's words again.
        // (Results of calls this thread did not make — a handoff's, in the next agent's
        // first call — are not this thread's: the user's words are shown.)
        let answered = self.record_tool_results(&thread, &opening.answered);
        let answers = answered.first().map(|(id, _)| id.clone());
        let content = if answered.is_empty() {
            opening
                .asked
                .as_deref()
                .map(|text| Content::Text(agentdeck_model::text::sanitize(text)))
        } else {
            let outputs: Vec<&str> = answered.iter().map(|(_, o)| o.as_str()).collect();
            Some(Content::Text(clip(
                &agentdeck_model::text::sanitize(&outputs.join("\n")),
                RESULT_CHARS,
            )))
        };
        let cancel = CancellationToken::new();
        let started = match self
            .start_reply_after(
                &thread,
                &assistant.id,
                content.clone(),
                Vec::new(),
                cancel.clone(),
                answers.clone(),
            )
            .await
        {
            Ok(started) => started,
            // Calls of one conversation may overlap; the workspace never fails a client's
            // call for it: the overlapping one gets a thread of its own under the first.
            Err(EngineError::Conflict(_)) => {
                thread = self.overlapping_thread(&thread)?;
                self.start_reply_after(&thread, &assistant.id, content, Vec::new(), cancel, answers)
                    .await?
            }
            Err(err) => return Err(err),
        };
        let (asked, reply) = started;
        if let Some(export) = self.span_export() {
            export.run_started(&reply.id);
        }
        if let Some(source) = &handoff {
            self.route_handoff(source, &thread, &asked);
        }
        if let Some(conversation) = opening.conversation.as_deref() {
            self.inner.gateway.remember_call(
                &opening.project_id,
                conversation,
                handoff::LatestCall {
                    thread_id: thread.id.clone(),
                    assistant_id: assistant.id.clone(),
                    reply_id: reply.id.clone(),
                },
            );
        }
        let scope = Self::thread_scope(&thread, Some(&reply.id));
        Ok(GatewayCall {
            engine: self.clone(),
            thread,
            reply,
            scope,
            model: opening.model.clone(),
            started: Instant::now(),
            slots: Vec::new(),
            decoder: opening.wire.decoder(),
            wire: opening.wire,
            streamed: false,
            failure: None,
            redacted: opening.redacted,
            asked: opening.asked.clone(),
            ended: false,
        })
    }

    /// A place for one more call of the project, or why there is none: the project's
    /// `concurrent_threads` bounds its calls in flight through the gateway.
    pub fn gateway_admit(&self, project_id: &str) -> EngineResult<InFlight> {
        let limit = self
            .inner
            .store
            .project(project_id)?
            .map_or(u64::MAX, |p| p.limits.concurrent_threads);
        let counts = self.inner.gateway.in_flight.clone();
        {
            let mut in_flight = agentdeck_model::sync::lock(&counts);
            let count = in_flight.entry(project_id.to_string()).or_default();
            if *count >= limit {
                return Err(EngineError::RateLimited(format!(
                    "The project has {count} calls in flight, its limit (concurrent_threads) is {limit}; try again shortly."
                )));
            }
            *count += 1;
        }
        Ok(InFlight {
            counts,
            project_id: project_id.to_string(),
        })
    }

    /// Whether the project may make a call now: its token budget holds for its agents'
    /// calls as for its own runs.
    pub fn gateway_budget(&self, project_id: &str) -> EngineResult<()> {
        if let Some(project) = self.inner.store.project(project_id)? {
            let spent = self.inner.runs.usage.tokens_last_minute(&project.id);
            if spent >= project.limits.tokens_per_minute {
                return Err(EngineError::RateLimited(format!(
                    "Project '{}' used {spent} tokens in the last minute, its limit is {}; try again shortly.",
                    project.name, project.limits.tokens_per_minute
                )));
            }
        }
        Ok(())
    }

    /// The external assistant `agent` of `service` (reached `via` otlp or the gateway),
    /// made on first sight.
    pub(crate) fn external_assistant(
        &self,
        project_id: &str,
        via: &str,
        service: &str,
        agent: &str,
    ) -> EngineResult<Assistant> {
        let id = crate::ingest::derived_id("asst_", &[project_id, service, agent]);
        if let Some(assistant) = self.inner.store.assistant(&id)? {
            return Ok(assistant);
        }
        // The agent seen the other way — its spans, or its calls through the gateway — is
        // the same assistant.
        let other_way = if via == "gateway" { "otlp" } else { "gateway" };
        if let Some(assistant) = self.external_named(project_id, agent, other_way)? {
            return Ok(assistant);
        }
        let assistant = Assistant {
            id,
            object: "assistant".into(),
            project_id: project_id.to_string(),
            name: clip(agent, 128),
            instructions: String::new(),
            model: "external".into(),
            tools: Vec::new(),
            memory: Default::default(),
            safety: Default::default(),
            privacy: Default::default(),
            routes_to: Vec::new(),
            approval: Default::default(),
            max_output_tokens: None,
            created_at: now_secs(),
            external: true,
            source: Some(AssistantSource {
                service: clip(service, 256),
                via: via.into(),
            }),
            agent: None,
        };
        self.inner.store.put_assistant(&assistant)?;
        agentdeck_model::sync::lock(&self.inner.gateway.agents).insert(
            (project_id.to_string(), assistant.name.to_lowercase()),
            assistant.id.clone(),
        );
        Ok(assistant)
    }

    /// The project's external assistant named `name` (any case) that came `via` the
    /// gateway or OTLP.
    fn external_named(
        &self,
        project_id: &str,
        name: &str,
        via: &str,
    ) -> EngineResult<Option<Assistant>> {
        let came_via = |a: &Assistant| a.source.as_ref().is_some_and(|s| s.via == via);
        let key = (project_id.to_string(), name.to_lowercase());
        let known = agentdeck_model::sync::lock(&self.inner.gateway.agents)
            .get(&key)
            .cloned();
        if let Some(id) = known {
            if let Some(assistant) = self.inner.store.assistant(&id)?.filter(|a| came_via(a)) {
                return Ok(Some(assistant));
            }
        }
        let found = self.inner.store.assistants()?.into_iter().find(|a| {
            a.project_id == project_id
                && a.external
                && came_via(a)
                && a.name.eq_ignore_ascii_case(name)
        });
        if let Some(assistant) = &found {
            agentdeck_model::sync::lock(&self.inner.gateway.agents)
                .insert(key, assistant.id.clone());
        }
        Ok(found)
    }

    /// The conversation's thread (made on first use), or a new thread for a call that
    /// names no conversation; and, for a thread made now, the handoff that leads to it.
    fn gateway_thread(
        &self,
        project_id: &str,
        assistant: &Assistant,
        agent: &str,
        opening: &GatewayOpening,
    ) -> EngineResult<(Thread, Option<handoff::HandoffSource>)> {
        if let Some(thread) = opening
            .continues
            .as_deref()
            .and_then(|id| self.inner.store.thread(id))
            .filter(|t| t.project_id == project_id && t.assistant_id == assistant.id)
        {
            return Ok((thread, None));
        }
        let mut handoff = None;
        let id = match opening.conversation.as_deref() {
            Some(conversation) => {
                // The agent's thread of the conversation, once made; else the
                // conversation's own thread (where a trace of the same conversation is
                // placed too) while it is this agent's or not made yet; an agent handed
                // the conversation, or a second agent in it, gets one of its own.
                let own = crate::ingest::derived_id(
                    "thread_",
                    &[project_id, "gateway", &assistant.id, conversation],
                );
                if let Some(thread) = self.inner.store.thread(&own) {
                    return Ok((thread, None));
                }
                handoff = self.handoff_source(project_id, conversation, agent, &assistant.id);
                let shared =
                    crate::ingest::derived_id("thread_", &[project_id, "conv", conversation]);
                match self.inner.store.thread(&shared) {
                    Some(thread) if thread.assistant_id == assistant.id => {
                        return Ok((thread, None));
                    }
                    None if handoff.is_none() => shared,
                    _ => own,
                }
            }
            None => agentdeck_model::new_id("thread_"),
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("source".to_string(), "gateway".to_string());
        metadata.insert("service".to_string(), assistant.name.clone());
        metadata.insert("format".to_string(), opening.wire.name().to_string());
        if let Some(conversation) = opening.conversation.as_deref() {
            metadata.insert(
                "conversation_id".into(),
                clip(&agentdeck_model::text::sanitize(conversation), 256),
            );
        }
        let parent = handoff.as_ref().map(|source| source.thread_id.clone());
        let thread = self.new_gateway_thread(id, project_id, &assistant.id, metadata, parent)?;
        Ok((thread, handoff))
    }

    /// The client ran the tools an earlier answer asked for: their results go on those
    /// calls, as a run's tool results go on its calls. Returns the results that answered
    /// a call of the thread's last reply.
    fn record_tool_results<'a>(
        &self,
        thread: &Thread,
        results: &'a [(String, String)],
    ) -> Vec<&'a (String, String)> {
        if results.is_empty() {
            return Vec::new();
        }
        let Ok(Some(mut reply)) = self
            .inner
            .store
            .latest_message(&thread.id, |m| m.role == agentdeck_model::Role::Assistant)
        else {
            return Vec::new();
        };
        let mut matched = Vec::new();
        for result in results {
            let (call_id, output) = result;
            if let Some(call) = reply.tool_calls.iter_mut().find(|c| c.id == *call_id) {
                call.output = Some(clip(&agentdeck_model::text::sanitize(output), RESULT_CHARS));
                matched.push(result);
            }
        }
        if matched.is_empty() {
            return matched;
        }
        self.inner.bus.put_message(reply.clone());
        let scope = Self::thread_scope(thread, Some(&reply.id));
        for call in reply
            .tool_calls
            .iter()
            .filter(|c| matched.iter().any(|(id, _)| *id == c.id))
        {
            self.emit(&scope, EventPayload::tool_call_output(&reply, call));
        }
        matched
    }

    fn overlapping_thread(&self, first: &Thread) -> EngineResult<Thread> {
        self.new_gateway_thread(
            agentdeck_model::new_id("thread_"),
            &first.project_id,
            &first.assistant_id,
            first.metadata.clone(),
            Some(first.id.clone()),
        )
    }

    fn new_gateway_thread(
        &self,
        id: String,
        project_id: &str,
        assistant_id: &str,
        metadata: BTreeMap<String, String>,
        parent: Option<String>,
    ) -> EngineResult<Thread> {
        let now = now_secs();
        let thread = Thread {
            id,
            object: "thread".into(),
            project_id: project_id.to_string(),
            assistant_id: assistant_id.to_string(),
            created_at: now,
            updated_at: now,
            status: ThreadStatus::Active,
            metadata,
            title: None,
            parent_thread_id: parent,
            estimated_cost: 0.0,
            last_reply_status: None,
        };
        self.add_thread(&thread)?;
        Ok(thread)
    }
}

impl GatewayCall {
    pub fn thread_id(&self) -> &str {
        &self.thread.id
    }

    pub fn reply_id(&self) -> &str {
        &self.reply.id
    }

    /// One event of the provider's stream, as it came.
    pub fn feed(&mut self, event: &SseEvent) {
        self.streamed = true;
        match self.decoder.event(event) {
            Ok(events) => {
                for event in events {
                    self.apply(event);
                }
            }
            Err(err) => {
                self.failure.get_or_insert(err.message);
            }
        }
    }

    /// The provider's stream broke off with `message`: the call ends failed with it.
    pub fn feed_error(&mut self, message: &str) {
        self.failure.get_or_insert_with(|| message.to_string());
    }

    /// A whole (not streamed) answer.
    pub fn whole(&mut self, answer: &Value) {
        for event in self.wire.whole_events(answer) {
            self.apply(event);
        }
    }

    /// One model event, applied as the run loop applies its own.
    fn apply(&mut self, event: ModelEvent) {
        match event {
            ModelEvent::TextDelta(delta) => {
                if delta.is_empty() {
                    return;
                }
                self.reply.append_text(&delta);
                self.emit(EventPayload::MessageDelta(TextDelta {
                    thread_id: self.thread.id.clone(),
                    message_id: self.reply.id.clone(),
                    delta,
                }));
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
            ModelEvent::ReasoningStep => self.reply.reasoning.push(ReasoningStep::default()),
            ModelEvent::ToolCallStart { index, id, name } => {
                let id = if id.is_empty() {
                    agentdeck_model::new_id("call_")
                } else {
                    id
                };
                let call = crate::ingest::span_call(id, ToolCallType::Function, &name, "");
                self.slots.push((index, self.reply.tool_calls.len()));
                self.reply.tool_calls.push(call.clone());
                self.engine.bus().put_message(self.reply.clone());
                self.emit(EventPayload::tool_call_created(&self.reply, &call));
            }
            ModelEvent::ToolCallArguments { index, delta } => {
                let streamed =
                    crate::run::stream_arguments(&mut self.reply, &self.slots, index, delta);
                if let Some(payload) = streamed {
                    self.emit(payload);
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
                    &self.model,
                    usage,
                );
            }
            ModelEvent::Finished => {}
        }
    }

    /// The call ended: completed, or failed with `error` (the upstream's, or the client's
    /// going away). The tool calls the model asked for are the client's to run: they end
    /// with the call.
    pub async fn finish(mut self, error: Option<ErrorBody>) {
        self.ended = true;
        let error = error.or_else(|| self.stream_failure());
        let (engine, reply) = self.ended_reply(error);
        engine.end_reply(&reply.thread_id, &reply).await;
    }

    /// What the stream itself said went wrong, or that it ended before its end.
    fn stream_failure(&mut self) -> Option<ErrorBody> {
        let failure = match self.failure.take() {
            Some(failure) => Some(failure),
            None if self.streamed => self.decoder.end().err().map(|err| err.message),
            None => None,
        };
        failure.map(|message| Engine::error_body("server_error", "upstream_error", message))
    }

    fn ended_reply(&mut self, error: Option<ErrorBody>) -> (Engine, Message) {
        let has_output = !self.reply.text().is_empty() || !self.reply.tool_calls.is_empty();
        self.reply.status = match (&error, has_output) {
            (None, _) => MessageStatus::Completed,
            (Some(_), true) => MessageStatus::Incomplete,
            (Some(_), false) => MessageStatus::Failed,
        };
        self.reply.error = error;
        // A call the operator denied stays denied; the others end with the call, and
        // say so as a run's calls do when they end.
        let mut ended_calls = Vec::new();
        for call in self
            .reply
            .tool_calls
            .iter_mut()
            .filter(|c| !c.status.is_final())
        {
            call.status = if self.reply.status == MessageStatus::Completed {
                ToolCallStatus::Completed
            } else {
                ToolCallStatus::Cancelled
            };
            ended_calls.push(call.id.clone());
        }
        for call in self
            .reply
            .tool_calls
            .iter()
            .filter(|c| ended_calls.contains(&c.id))
        {
            self.emit(EventPayload::tool_call_output(&self.reply, call));
        }
        let latency = self.started.elapsed();
        self.engine.inner.telemetry.metrics.model_call(
            &self.thread.project_id,
            &self.thread.assistant_id,
            latency.as_secs_f64(),
            self.reply.usage.input_tokens,
            self.reply.usage.output_tokens,
        );
        self.engine.telemetry(
            &self.scope,
            &self.thread.project_id,
            agentdeck_model::event::Telemetry {
                event: TelemetryKind::ModelCall,
                timestamp: agentdeck_model::rfc3339(now_secs()),
                assistant_id: Some(self.thread.assistant_id.clone()),
                thread_id: self.thread.id.clone(),
                tool: None,
                latency_ms: latency.as_millis() as u64,
                input_tokens: self.reply.usage.input_tokens,
                output_tokens: self.reply.usage.output_tokens,
                safety_flag: self
                    .redacted
                    .then_some(agentdeck_model::event::SafetyFlag::PiiRedacted),
            },
        );
        self.reply
            .metadata
            .insert("model".into(), clip(&self.model, 256));
        self.reply
            .metadata
            .insert("latency_ms".into(), latency.as_millis().to_string());
        self.export(latency);
        (self.engine.clone(), self.reply.clone())
    }

    fn emit(&self, payload: EventPayload) {
        self.engine.emit(&self.scope, payload);
    }

    /// The call as the runtime's own runs go out, when `[telemetry] otlp_endpoint` is
    /// set: an `invoke_agent` span of the calling agent with the `chat` span in it.
    fn export(&self, latency: std::time::Duration) {
        let Some(export) = self.engine.span_export() else {
            return;
        };
        let Ok(Some(assistant)) = self.engine.inner.store.assistant(&self.thread.assistant_id)
        else {
            return;
        };
        let error = self.reply.error.as_ref().map(|e| e.message.as_str());
        export.chat(
            &crate::export::ChatSpan {
                project_id: &self.thread.project_id,
                thread_id: &self.thread.id,
                reply_id: &self.reply.id,
                assistant: &assistant,
                step: 1,
                model: &self.model,
                usage: self.reply.usage,
                latency,
                error,
            },
            self.engine.config(),
        );
        let asked = export
            .captures_content()
            .then_some(self.asked.as_deref())
            .flatten();
        export.run_ended(&self.thread.project_id, &self.reply, &assistant, asked);
    }
}

impl Drop for GatewayCall {
    fn drop(&mut self) {
        agentdeck_model::sync::lock(&self.engine.inner.runs.held).remove(&self.reply.id);
        if self.ended {
            return;
        }
        let error = Engine::error_body(
            "client_gone",
            "client_disconnected",
            "The client went away before the call ended; the upstream call was cancelled.",
        );
        let (engine, reply) = self.ended_reply(Some(error));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move { engine.end_reply(&reply.thread_id, &reply).await });
        }
    }
}

fn clip(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}
