//! The objects spans become: external assistants, threads and messages, made on first
//! sight under ids derived from the spans, and the events that announce them.

use super::place::{
    METADATA_ENTRIES, METADATA_VALUE_CHARS, Placer, ThreadChange, clip, derived_id,
};
use super::{Placed, semconv};
use crate::EventScope;
use agentdeck_model::spans::Span;
use agentdeck_model::{
    Content, EventPayload, Message, MessageStatus, Role, Thread, ThreadStatus, Usage, now_secs,
};
use std::collections::BTreeMap;

/// How many messages of a gateway thread a traced model call is looked for among.
const GATEWAY_REPLIES_LOOKED_AT: usize = 1000;

impl Placer<'_> {
    // --- the objects -----------------------------------------------------------------

    /// The thread and assistant a span inside an agent goes to: its parent's, else the
    /// trace's own thread under the service's assistant.
    pub(super) fn context(&mut self, span: &Span, inherited: Option<Placed>) -> (String, String) {
        if let Some(Placed {
            thread_id: Some(thread_id),
            assistant_id: Some(assistant_id),
            ..
        }) = inherited
        {
            return (thread_id, assistant_id);
        }
        let assistant_id = self.ensure_assistant(&span.service, &span.service);
        let thread_id = self.root_thread(span, &assistant_id);
        (thread_id, assistant_id)
    }

    /// The trace's own thread: its conversation's, else the trace's; made on first use.
    pub(super) fn root_thread(&mut self, span: &Span, assistant_id: &str) -> String {
        if let Some(id) = &self.trace.root_thread {
            return id.clone();
        }
        let id = match self.trace.conversation.clone() {
            Some(conversation) => derived_id("thread_", &[self.project_id, "conv", &conversation]),
            None => derived_id("thread_", &[self.project_id, "trace", self.trace_id]),
        };
        let title = semconv::agent_input(span);
        self.ensure_thread(&id, assistant_id, None, title.as_deref(), span);
        self.trace.root_thread = Some(id.clone());
        id
    }

    /// Makes the thread unless it exists; true when it was made.
    pub(super) fn ensure_thread(
        &mut self,
        id: &str,
        assistant_id: &str,
        parent: Option<&str>,
        title: Option<&str>,
        span: &Span,
    ) -> bool {
        if self.engine.inner.store.thread(id).is_some() {
            return false;
        }
        let created_at = span.start_secs();
        let mut metadata = BTreeMap::new();
        metadata.insert("source".to_string(), "otlp".to_string());
        metadata.insert("trace_id".to_string(), self.trace_id.to_string());
        metadata.insert(
            "service".to_string(),
            clip(&agentdeck_model::text::sanitize(&span.service), 256),
        );
        if let Some(conversation) = &self.trace.conversation {
            metadata.insert("conversation_id".into(), clip(conversation, 256));
        }
        let thread = Thread {
            id: id.to_string(),
            object: "thread".into(),
            project_id: self.project_id.to_string(),
            assistant_id: assistant_id.to_string(),
            created_at,
            updated_at: created_at.max(now_secs()),
            status: ThreadStatus::Active,
            metadata,
            title: title
                .map(|t| crate::validate::clip_title(&agentdeck_model::text::sanitize(t)))
                .filter(|t| !t.is_empty()),
            parent_thread_id: parent.map(str::to_string),
            estimated_cost: 0.0,
            last_reply_status: None,
        };
        if let Err(err) = self.engine.add_thread(&thread) {
            tracing::error!(
                "could not store thread {id} of trace {}: {err}",
                self.trace_id
            );
            return false;
        }
        true
    }

    /// The external assistant `agent` of `service`, made on first sight.
    pub(super) fn ensure_assistant(&mut self, service: &str, agent: &str) -> String {
        let service = agentdeck_model::text::sanitize(service);
        let agent = agentdeck_model::text::sanitize(agent);
        let id = derived_id("asst_", &[self.project_id, &service, &agent]);
        if let Some(known) = self.assistants.get(&id) {
            return known.clone();
        }
        match self
            .engine
            .external_assistant(self.project_id, "otlp", &service, &agent)
        {
            Ok(assistant) => {
                self.assistants.insert(id, assistant.id.clone());
                assistant.id
            }
            Err(err) => {
                tracing::error!("could not store external assistant {agent}: {err}");
                id
            }
        }
    }

    /// Whether a model call is one the gateway carried: a reply of the same agent in the
    /// thread, not matched to a span yet, with the same tool calls or the same text. That
    /// reply is then the call's message (shown live as it streamed; counted once); the
    /// span only says where it sits in the trace.
    pub(super) fn gateway_reply(
        &mut self,
        span: &Span,
        thread_id: &str,
        assistant_id: &str,
    ) -> bool {
        let through_gateway = self
            .engine
            .inner
            .store
            .thread(thread_id)
            .is_some_and(|t| t.metadata.get("source").map(String::as_str) == Some("gateway"));
        if !through_gateway {
            return false;
        }
        let output = semconv::output(span);
        let text = agentdeck_model::text::sanitize(&output.text);
        let ids: Vec<&str> = output
            .calls
            .iter()
            .filter_map(|c| c.id.as_deref())
            .collect();
        let Ok((messages, _)) =
            self.engine
                .inner
                .store
                .list_messages(thread_id, None, GATEWAY_REPLIES_LOOKED_AT, true)
        else {
            return false;
        };
        let matched = messages.into_iter().find(|m| {
            m.role == Role::Assistant
                && m.assistant_id.as_deref() == Some(assistant_id)
                && m.status != MessageStatus::InProgress
                // Not matched yet, or matched to this span (a batch sent again).
                && m.metadata.get("span_id").is_none_or(|id| *id == span.span_id)
                && (m.tool_calls.iter().any(|c| ids.contains(&c.id.as_str()))
                    || (!text.is_empty() && m.text() == text))
        });
        let Some(mut reply) = matched else {
            return false;
        };
        reply
            .metadata
            .insert("trace_id".into(), self.trace_id.to_string());
        reply
            .metadata
            .insert("span_id".into(), span.span_id.clone());
        self.trace
            .threads
            .entry(thread_id.to_string())
            .or_default()
            .last_model_message = Some(reply.id.clone());
        self.store_message(reply);
        true
    }

    /// A user message: what an agent was asked.
    pub(super) fn user_message(&mut self, thread_id: &str, span: &Span, text: &str) -> Message {
        let mut message = self.new_message(thread_id, Role::User, None, span, "user");
        message.content = Some(Content::Text(agentdeck_model::text::sanitize(text)));
        let change = self.change(thread_id);
        if change.title.is_none() {
            change.title = Some(crate::validate::clip_title(&message.text()));
        }
        self.trace
            .threads
            .entry(thread_id.to_string())
            .or_default()
            .last_user_text = Some(text.to_string());
        self.put_message(message.clone(), true);
        message
    }

    pub(super) fn new_message(
        &self,
        thread_id: &str,
        role: Role,
        assistant_id: Option<&str>,
        span: &Span,
        part: &str,
    ) -> Message {
        let mut metadata = BTreeMap::new();
        metadata.insert("trace_id".to_string(), self.trace_id.to_string());
        metadata.insert("span_id".to_string(), span.span_id.clone());
        if role == Role::Assistant {
            for (key, value) in span
                .attributes
                .iter()
                .filter(|(key, _)| !semconv::mapped(key))
                .take(METADATA_ENTRIES)
            {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                metadata.insert(
                    clip(&agentdeck_model::text::sanitize(key), 128),
                    clip(
                        &agentdeck_model::text::sanitize(&text),
                        METADATA_VALUE_CHARS,
                    ),
                );
            }
        }
        Message {
            id: derived_id(
                "msg_",
                &[self.project_id, self.trace_id, &span.span_id, part],
            ),
            object: "thread.message".into(),
            thread_id: thread_id.to_string(),
            assistant_id: assistant_id.map(str::to_string),
            role,
            content: None,
            attachments: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            reasoning: Vec::new(),
            status: MessageStatus::Completed,
            usage: Usage::default(),
            estimated_cost: 0.0,
            created_at: span.start_secs(),
            error: None,
            files: Vec::new(),
            metadata,
        }
    }

    /// A message of this trace, as last placed (or as stored, for a trace let go).
    pub(super) fn message(&mut self, id: &str) -> Option<Message> {
        if let Some(message) = self.trace.messages.get(id) {
            return Some(message.clone());
        }
        self.engine.inner.store.message(id).ok().flatten()
    }

    /// Queues the message's write and announces it: new, or whole again.
    pub(super) fn put_message(&mut self, message: Message, new: bool) {
        let thread_id = message.thread_id.clone();
        if new {
            self.emit(
                &thread_id,
                &message.id,
                EventPayload::message_created(&message),
            );
        }
        self.emit(
            &thread_id,
            &message.id,
            EventPayload::message_completed(&message),
        );
        self.store_message(message);
    }

    /// Queues the write of a message whose change its own events told (a tool call's
    /// output, a call become a hop): the whole message is not announced again.
    pub(super) fn store_message(&mut self, message: Message) {
        self.engine.inner.bus.put_message(message.clone());
        if message.role == Role::Assistant {
            self.trace.messages.insert(message.id.clone(), message);
        }
    }

    pub(super) fn change(&mut self, thread_id: &str) -> &mut ThreadChange {
        self.changes.entry(thread_id.to_string()).or_default()
    }

    pub(super) fn scope(&self, thread_id: &str, message_id: &str) -> EventScope {
        let assistant_id = self
            .engine
            .inner
            .store
            .thread(thread_id)
            .map(|t| t.assistant_id);
        EventScope {
            project_id: self.project_id.to_string(),
            thread_id: thread_id.to_string(),
            assistant_id,
            message_id: Some(message_id.to_string()),
        }
    }

    pub(super) fn emit(&self, thread_id: &str, message_id: &str, payload: EventPayload) {
        self.engine
            .emit(&self.scope(thread_id, message_id), payload);
    }
}
