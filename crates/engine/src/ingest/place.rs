//! Placing one span: the assistant, thread, message, tool call or route it becomes, and
//! the events that announce them.

use super::semconv::{self, SpanRole};
use super::{Placed, Trace};
use crate::Engine;
use agentdeck_model::event::{Routing, Telemetry, TelemetryKind};
use agentdeck_model::spans::{Span, SpanStatus};
use agentdeck_model::{
    Content, ErrorBody, EventPayload, FunctionCall, Message, MessageStatus, Role, ToolCall,
    ToolCallStatus, ToolCallType, Usage, hash_key, rfc3339,
};
use std::collections::HashMap;

/// Unmapped attributes kept in a message's metadata, and the length of each value.
pub(super) const METADATA_ENTRIES: usize = 32;
pub(super) const METADATA_VALUE_CHARS: usize = 512;
/// A tool call's output kept.
const OUTPUT_CHARS: usize = 64 * 1024;

/// What changed in a thread during one placement round: applied once at the end.
#[derive(Default)]
pub(super) struct ThreadChange {
    pub(super) cost: f64,
    pub(super) last_reply: Option<MessageStatus>,
    pub(super) title: Option<String>,
}

pub(super) struct Placer<'a> {
    pub(super) engine: &'a Engine,
    pub(super) project_id: &'a str,
    pub(super) trace_id: &'a str,
    pub(super) trace: &'a mut Trace,
    pub(super) assistants: &'a mut HashMap<String, String>,
    pub(super) changes: HashMap<String, ThreadChange>,
    /// Agents whose span came this round: settled once their children are placed.
    pub(super) ended: Vec<(Box<Span>, String, String)>,
}

/// An id derived from the project and `parts`: the same span always makes the same one.
pub(crate) fn derived_id(prefix: &str, parts: &[&str]) -> String {
    let hash = hash_key(&parts.join("\u{1f}"));
    format!("{prefix}{}", &hash[..24])
}

impl<'a> Placer<'a> {
    pub(super) fn new(
        engine: &'a Engine,
        project_id: &'a str,
        trace_id: &'a str,
        trace: &'a mut Trace,
        assistants: &'a mut HashMap<String, String>,
    ) -> Placer<'a> {
        Placer {
            engine,
            project_id,
            trace_id,
            trace,
            assistants,
            changes: HashMap::new(),
            ended: Vec::new(),
        }
    }

    /// Places one span whose parent is placed (or that has none, or waited long enough).
    pub(super) fn place(&mut self, span_id: &str) {
        let Some(node) = self.trace.nodes.get_mut(span_id) else {
            return;
        };
        let Some(span) = node.span.take() else {
            node.placed = Some(Placed::default());
            return;
        };
        let role = node.role.clone();
        let parent = (!node.forced).then(|| node.parent.clone()).flatten();
        let inherited = parent
            .and_then(|p| self.trace.nodes.get(&p))
            .and_then(|p| p.placed.clone());
        let placed = match role {
            SpanRole::Agent { name } => self.place_agent(&span, &name, inherited),
            SpanRole::ModelCall => self.place_model_call(&span, inherited),
            SpanRole::Tool { name } => self.place_tool(&span, &name, None, inherited),
            SpanRole::Handoff { to } => self.place_tool(&span, "handoff", Some(to), inherited),
            SpanRole::Other => inherited.unwrap_or_default(),
        };
        if let Some(node) = self.trace.nodes.get_mut(span_id) {
            node.placed = Some(Placed {
                call: placed.call.clone(),
                ..placed
            });
        }
    }

    /// Settles the agents that ended, then applies the round's changes to threads, once
    /// per thread.
    pub(super) fn finish(mut self) {
        for (span, thread_id, assistant_id) in std::mem::take(&mut self.ended) {
            self.agent_ended(&span, &thread_id, &assistant_id);
        }
        for (thread_id, change) in self.changes {
            let _ = self.engine.update_thread(&thread_id, |thread| {
                thread.estimated_cost += change.cost;
                if let Some(status) = change.last_reply {
                    thread.last_reply_status = Some(status);
                }
                if thread.title.is_none() {
                    thread.title = change.title;
                }
            });
        }
    }

    // --- agents ----------------------------------------------------------------------

    fn place_agent(&mut self, span: &Span, name: &str, inherited: Option<Placed>) -> Placed {
        let assistant_id = self.ensure_assistant(&span.service, name);
        // Who handed this agent its work: the agent above it (through a tool call of
        // that agent, or directly), else the agent a handoff names.
        let source = inherited
            .as_ref()
            .filter(|p| p.thread_id.is_some() && p.assistant_id.is_some())
            .cloned()
            .or_else(|| self.handoff_source(span, name));
        let own_conversation =
            semconv::conversation(span).filter(|c| Some(c) != self.trace.conversation.as_ref());
        let Some(source) = source else {
            let thread_id = self.root_thread(span, &assistant_id);
            self.ended.push((
                Box::new(span.clone()),
                thread_id.clone(),
                assistant_id.clone(),
            ));
            return Placed {
                thread_id: Some(thread_id),
                assistant_id: Some(assistant_id),
                call: None,
            };
        };
        let (Some(parent_thread), Some(parent_assistant)) =
            (source.thread_id.clone(), source.assistant_id.clone())
        else {
            return Placed::default();
        };
        // The thread its calls through the gateway made, when there is one.
        let through_gateway = self.trace.conversation.as_deref().map(|conversation| {
            derived_id(
                "thread_",
                &[self.project_id, "gateway", &assistant_id, conversation],
            )
        });
        let thread_id = match (&own_conversation, through_gateway) {
            (Some(conversation), _) => {
                derived_id("thread_", &[self.project_id, "conv", conversation])
            }
            (None, Some(id)) if self.engine.inner.store.thread(&id).is_some() => id,
            (None, _) => derived_id("thread_", &[self.project_id, self.trace_id, &span.span_id]),
        };
        // What it was handed: its own input, else what the parent was asked (a handoff
        // passes the conversation on).
        let input = semconv::agent_input(span)
            .or_else(|| self.delegated_input(source.call.as_ref()))
            .or_else(|| {
                self.trace
                    .threads
                    .get(&parent_thread)
                    .and_then(|t| t.last_user_text.clone())
            })
            .unwrap_or_else(|| name.to_string());
        let created = self.ensure_thread(
            &thread_id,
            &assistant_id,
            Some(&parent_thread),
            Some(&input),
            span,
        );
        if created {
            let user = self.user_message(&thread_id, span, &input);
            self.route(
                &parent_thread,
                &parent_assistant,
                source.call.as_ref(),
                span,
                name,
                &assistant_id,
                &thread_id,
                &user,
            );
        }
        self.ended.push((
            Box::new(span.clone()),
            thread_id.clone(),
            assistant_id.clone(),
        ));
        Placed {
            thread_id: Some(thread_id),
            assistant_id: Some(assistant_id),
            call: None,
        }
    }

    /// What a tool call that delegated to an agent gave it: the arguments' `input` (or
    /// `message`, `query`, `request`), else arguments that are not JSON, as they are.
    fn delegated_input(&mut self, call: Option<&(String, String)>) -> Option<String> {
        let (message_id, call_id) = call?;
        let message = self.message(message_id)?;
        let arguments = &message
            .tool_calls
            .iter()
            .find(|c| c.id == *call_id)?
            .function
            .arguments;
        match serde_json::from_str::<serde_json::Value>(arguments) {
            Ok(value) => ["input", "message", "query", "request"]
                .iter()
                .find_map(|key| value.get(key)?.as_str())
                .map(str::to_string),
            Err(_) => (!arguments.trim().is_empty()).then(|| arguments.clone()),
        }
    }

    /// The agent a handoff to `name` came from, with the handoff's call.
    fn handoff_source(&self, span: &Span, name: &str) -> Option<Placed> {
        let handoff = self.trace.nodes.values().find(|n| {
            matches!(&n.role, SpanRole::Handoff { to } if to == name)
                && n.placed.as_ref().is_some_and(|p| p.thread_id.is_some())
        });
        if let Some(placed) = handoff.and_then(|n| n.placed.clone()) {
            return Some(placed);
        }
        let from = semconv::handed_from(span)?;
        self.trace
            .nodes
            .values()
            .filter(|n| matches!(&n.role, SpanRole::Agent { name } if *name == from))
            .find_map(|n| n.placed.clone().filter(|p| p.thread_id.is_some()))
    }

    /// An agent's span came (it ended): an error fails its reply; calls it asked for that
    /// no tool span answered are settled.
    fn agent_ended(&mut self, span: &Span, thread_id: &str, assistant_id: &str) {
        let open: Vec<String> = self
            .trace
            .messages
            .values()
            .filter(|m| m.thread_id == thread_id)
            .filter(|m| {
                m.tool_calls
                    .iter()
                    .any(|c| c.status == ToolCallStatus::InProgress)
            })
            .map(|m| m.id.clone())
            .collect();
        for id in open {
            if let Some(mut message) = self.trace.messages.remove(&id) {
                let mut settled = Vec::new();
                for call in &mut message.tool_calls {
                    if call.status == ToolCallStatus::InProgress {
                        call.status = ToolCallStatus::Completed;
                        settled.push(call.clone());
                    }
                }
                for call in &settled {
                    self.emit(
                        thread_id,
                        &message.id,
                        EventPayload::tool_call_output(&message, call),
                    );
                }
                self.put_message(message, false);
            }
        }
        if let SpanStatus::Error(why) = &span.status {
            let error = error_body(why);
            let failed_reply = self
                .trace
                .threads
                .get(thread_id)
                .and_then(|t| t.last_model_message.clone())
                .and_then(|id| self.trace.messages.remove(&id));
            let mut reply = failed_reply.unwrap_or_else(|| {
                self.new_message(thread_id, Role::Assistant, Some(assistant_id), span, "err")
            });
            reply.status = MessageStatus::Failed;
            reply.error = Some(error.clone());
            self.emit(thread_id, &reply.id, EventPayload::error(&reply, &error));
            self.put_message(reply, true);
            self.change(thread_id).last_reply = Some(MessageStatus::Failed);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn route(
        &mut self,
        parent_thread: &str,
        parent_assistant: &str,
        via_call: Option<&(String, String)>,
        span: &Span,
        name: &str,
        assistant_id: &str,
        thread_id: &str,
        user: &Message,
    ) {
        // Through a tool call of the parent (delegation, a handoff): that call is the
        // route; else one is added to the parent's newest model call in this trace.
        let (message_id, call_id) = match via_call {
            Some((message_id, call_id)) => (message_id.clone(), call_id.clone()),
            None => {
                let message_id = self
                    .trace
                    .threads
                    .get(parent_thread)
                    .and_then(|t| t.last_model_message.clone())
                    .unwrap_or_else(|| {
                        let message = self.new_message(
                            parent_thread,
                            Role::Assistant,
                            Some(parent_assistant),
                            span,
                            "route",
                        );
                        let id = message.id.clone();
                        self.put_message(message, true);
                        id
                    });
                (
                    message_id,
                    derived_id(
                        "call_",
                        &[self.project_id, self.trace_id, &span.span_id, "route"],
                    ),
                )
            }
        };
        let Some(mut message) = self.message(&message_id) else {
            return;
        };
        let arguments =
            serde_json::json!({ "assistant": name, "message": user.text() }).to_string();
        let fresh = !message.tool_calls.iter().any(|c| c.id == call_id);
        let call = match message.tool_calls.iter_mut().find(|c| c.id == call_id) {
            Some(call) => call,
            None => {
                let mut call = span_call(
                    call_id.clone(),
                    ToolCallType::AgentRouting,
                    "route_to_assistant",
                    &arguments,
                );
                call.status = ToolCallStatus::Completed;
                call.latency_ms = Some(span.duration_ms());
                message.tool_calls.push(call);
                let Some(call) = message.tool_calls.last_mut() else {
                    return;
                };
                call
            }
        };
        call.kind = ToolCallType::AgentRouting;
        call.target_assistant_id = Some(assistant_id.to_string());
        call.thread_id = Some(thread_id.to_string());
        let call = call.clone();
        // A call the model asked for (a handoff's `transfer_to_X`) is announced already:
        // it becomes the hop, and its end is told again with the target it now has.
        if fresh {
            self.emit(
                parent_thread,
                &message.id,
                EventPayload::tool_call_created(&message, &call),
            );
        }
        self.emit(
            parent_thread,
            &message.id,
            EventPayload::Routing(Routing {
                thread_id: parent_thread.to_string(),
                message_id: Some(message.id.clone()),
                tool_call_id: call.id.clone(),
                from_assistant_id: parent_assistant.to_string(),
                to_assistant_id: assistant_id.to_string(),
                from_thread_id: parent_thread.to_string(),
                to_thread_id: thread_id.to_string(),
                to_message_id: user.id.clone(),
            }),
        );
        if call.status.is_final() {
            self.emit(
                parent_thread,
                &message.id,
                EventPayload::tool_call_output(&message, &call),
            );
        }
        self.store_message(message);
    }

    // --- model calls -----------------------------------------------------------------

    fn place_model_call(&mut self, span: &Span, inherited: Option<Placed>) -> Placed {
        let (thread_id, assistant_id) = self.context(span, inherited);
        let message_id = derived_id("msg_", &[self.project_id, self.trace_id, &span.span_id]);
        if self
            .engine
            .inner
            .store
            .message(&message_id)
            .ok()
            .flatten()
            .is_some()
        {
            return Placed {
                thread_id: Some(thread_id),
                assistant_id: Some(assistant_id),
                call: None,
            };
        }
        if self.gateway_reply(span, &thread_id, &assistant_id) {
            return Placed {
                thread_id: Some(thread_id),
                assistant_id: Some(assistant_id),
                call: None,
            };
        }
        if let Some(text) = semconv::user_input(span) {
            let trail = self.trace.threads.entry(thread_id.clone()).or_default();
            if trail.last_user_text.as_deref() != Some(text.as_str()) {
                trail.last_user_text = Some(text.clone());
                self.user_message(&thread_id, span, &text);
            }
        }
        let output = semconv::output(span);
        let (input_tokens, output_tokens) = semconv::usage(span);
        let model = semconv::model(span).unwrap_or_default();
        let mut message =
            self.new_message(&thread_id, Role::Assistant, Some(&assistant_id), span, "");
        message.content = (!output.text.is_empty())
            .then(|| Content::Text(agentdeck_model::text::sanitize(&output.text)));
        message.usage = Usage {
            input_tokens,
            output_tokens,
        };
        message.estimated_cost = self.engine.config().cost(
            self.engine.config().resolve_model(&model),
            input_tokens,
            output_tokens,
        );
        message.tool_calls = output
            .calls
            .iter()
            .enumerate()
            .map(|(index, call)| {
                let id = call.id.clone().unwrap_or_else(|| {
                    derived_id(
                        "call_",
                        &[self.project_id, &span.span_id, &index.to_string()],
                    )
                });
                span_call(id, ToolCallType::Function, &call.name, &call.arguments)
            })
            .collect();
        if !model.is_empty() {
            message.metadata.insert("model".into(), model.clone());
        }
        message
            .metadata
            .insert("latency_ms".into(), span.duration_ms().to_string());
        if let SpanStatus::Error(why) = &span.status {
            message.status = MessageStatus::Failed;
            message.error = Some(error_body(why));
        }
        if input_tokens + output_tokens > 0 {
            self.engine.inner.runs.usage.record(
                self.project_id,
                if model.is_empty() { "unknown" } else { &model },
                message.usage,
            );
        }
        // In the runtime's own order: the reply, its calls, the call's measure, its end
        // (a pane that measures a reply's step looks for the reply first).
        self.emit(
            &thread_id,
            &message.id,
            EventPayload::message_created(&message),
        );
        let change = self.change(&thread_id);
        change.cost += message.estimated_cost;
        change.last_reply = Some(message.status);
        self.trace
            .threads
            .entry(thread_id.clone())
            .or_default()
            .last_model_message = Some(message.id.clone());
        for call in &message.tool_calls {
            self.emit(
                &thread_id,
                &message.id,
                EventPayload::tool_call_created(&message, call),
            );
        }
        self.telemetry(
            span,
            &message,
            &assistant_id,
            TelemetryKind::ModelCall,
            None,
            message.usage,
        );
        if let Some(error) = message.error.clone() {
            self.emit(
                &thread_id,
                &message.id,
                EventPayload::error(&message, &error),
            );
        }
        self.put_message(message, false);
        Placed {
            thread_id: Some(thread_id),
            assistant_id: Some(assistant_id),
            call: None,
        }
    }

    /// A model or tool call's telemetry line, at the span's own time.
    fn telemetry(
        &self,
        span: &Span,
        message: &Message,
        assistant_id: &str,
        event: TelemetryKind,
        tool: Option<String>,
        usage: Usage,
    ) {
        self.engine.telemetry(
            &self.scope(&message.thread_id, &message.id),
            self.project_id,
            Telemetry {
                event,
                timestamp: rfc3339(span.start_secs()),
                assistant_id: Some(assistant_id.to_string()),
                thread_id: message.thread_id.clone(),
                tool,
                latency_ms: span.duration_ms(),
                input_tokens: usage.input_tokens,
                output_tokens: usage.output_tokens,
                safety_flag: None,
            },
        );
    }

    // --- tool calls ------------------------------------------------------------------

    fn place_tool(
        &mut self,
        span: &Span,
        name: &str,
        handoff_to: Option<String>,
        inherited: Option<Placed>,
    ) -> Placed {
        let (thread_id, assistant_id) = self.context(span, inherited);
        let (call_id, mut arguments, result) = semconv::tool_call(span);
        if let Some(to) = &handoff_to {
            arguments = serde_json::json!({ "assistant": to }).to_string();
        }
        // The model call that asked for it: by its id, else by name, else the newest.
        let asked = self.trace.messages.values().find_map(|m| {
            (m.thread_id == thread_id)
                .then(|| {
                    m.tool_calls.iter().find(|c| {
                        c.status == ToolCallStatus::InProgress
                            && match &call_id {
                                Some(id) => c.id == *id,
                                None => false,
                            }
                    })
                })
                .flatten()
                .map(|c| (m.id.clone(), c.id.clone()))
        });
        let asked = asked.or_else(|| {
            let newest = self
                .trace
                .threads
                .get(&thread_id)?
                .last_model_message
                .clone()?;
            let message = self.trace.messages.get(&newest)?;
            let wanted = handoff_to
                .as_ref()
                .map(|to| format!("transfer_to_{}", to.to_lowercase().replace(' ', "_")));
            message
                .tool_calls
                .iter()
                .find(|c| {
                    c.status == ToolCallStatus::InProgress
                        && (c.function.name == name || Some(&c.function.name) == wanted.as_ref())
                })
                .map(|c| (newest.clone(), c.id.clone()))
        });
        let (message_id, id) = match asked {
            Some(found) => found,
            None => {
                let message_id = self
                    .trace
                    .threads
                    .get(&thread_id)
                    .and_then(|t| t.last_model_message.clone())
                    .filter(|id| self.trace.messages.contains_key(id))
                    .unwrap_or_else(|| {
                        let message = self.new_message(
                            &thread_id,
                            Role::Assistant,
                            Some(&assistant_id),
                            span,
                            "tool",
                        );
                        let id = message.id.clone();
                        self.trace
                            .threads
                            .entry(thread_id.clone())
                            .or_default()
                            .last_model_message = Some(id.clone());
                        self.put_message(message, true);
                        id
                    });
                let id = call_id.unwrap_or_else(|| {
                    derived_id("call_", &[self.project_id, self.trace_id, &span.span_id])
                });
                (message_id, id)
            }
        };
        let Some(mut message) = self.message(&message_id) else {
            return Placed::default();
        };
        let status = match span.status {
            SpanStatus::Error(_) => ToolCallStatus::Failed,
            _ => ToolCallStatus::Completed,
        };
        let output = match (&span.status, result) {
            (SpanStatus::Error(why), None) => Some(why.clone()),
            (_, result) => result,
        }
        .map(|text| clip(&agentdeck_model::text::sanitize(&text), OUTPUT_CHARS));
        let fresh = !message.tool_calls.iter().any(|c| c.id == id);
        if fresh {
            let kind = if handoff_to.is_some() {
                ToolCallType::AgentRouting
            } else {
                ToolCallType::Function
            };
            message
                .tool_calls
                .push(span_call(id.clone(), kind, name, &arguments));
        }
        let Some(call) = message.tool_calls.iter_mut().find(|c| c.id == id) else {
            return Placed::default();
        };
        call.status = status;
        call.output = output;
        call.latency_ms = Some(span.duration_ms());
        if handoff_to.is_some() {
            call.kind = ToolCallType::AgentRouting;
        }
        let call = call.clone();
        if fresh {
            self.emit(
                &thread_id,
                &message.id,
                EventPayload::tool_call_created(&message, &call),
            );
        }
        self.emit(
            &thread_id,
            &message.id,
            EventPayload::tool_call_output(&message, &call),
        );
        self.telemetry(
            span,
            &message,
            &assistant_id,
            TelemetryKind::ToolCall,
            Some(call.function.name.clone()),
            Usage::default(),
        );
        self.store_message(message);
        Placed {
            thread_id: Some(thread_id),
            assistant_id: Some(assistant_id),
            call: Some((message_id, id)),
        }
    }
}

fn error_body(why: &str) -> ErrorBody {
    Engine::error_body(
        "external_error",
        "span_error",
        if why.is_empty() {
            "The agent's span ended with an error.".to_string()
        } else {
            clip(&agentdeck_model::text::sanitize(why), 2_000)
        },
    )
}

/// A call a span names, in progress, its name and arguments sanitized.
pub(crate) fn span_call(id: String, kind: ToolCallType, name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        id,
        kind,
        function: FunctionCall {
            name: agentdeck_model::text::sanitize(name),
            arguments: agentdeck_model::text::sanitize(arguments),
        },
        target_assistant_id: None,
        thread_id: None,
        status: ToolCallStatus::InProgress,
        output: None,
        latency_ms: None,
        step: 0,
        approved: false,
    }
}

pub(super) fn clip(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
