//! The reducer of the runtime's events: each `EventPayload` changes the workspace state.

use super::{App, Effect, LiveCall};
use agentdeck_client::ServerEvent;
use agentdeck_model::{EventPayload, ToolCall};

/// Output of a running call kept in the workspace, at most (its newest part): what it
/// prints last is what the panes show.
const RUNNING_OUTPUT_KEPT: usize = 16 * 1024;

fn append_output(call: &mut ToolCall, delta: &str) {
    if call.status.is_final() {
        return;
    }
    let output = call.output.get_or_insert_with(String::new);
    output.push_str(delta);
    if output.len() > 2 * RUNNING_OUTPUT_KEPT {
        let mut cut = output.len() - RUNNING_OUTPUT_KEPT;
        while !output.is_char_boundary(cut) {
            cut += 1;
        }
        output.drain(..cut);
    }
}

impl App {
    /// A reply ended: its thread remembers how (a failed run needs the operator), before
    /// the thread's own update says so.
    fn note_reply_ended(&mut self, thread_id: &str, message: &agentdeck_model::Message) {
        if message.role != agentdeck_model::Role::Assistant {
            return;
        }
        if let Some(thread) = self.list.threads.iter_mut().find(|t| t.id == thread_id) {
            if thread.last_reply_status != Some(message.status) {
                thread.last_reply_status = Some(message.status);
                self.list.rev += 1;
            }
        }
    }

    /// An assistant an event names that the workspace does not know (made after it
    /// started): fetched once, so its name shows in every pane and the graph.
    fn ask_for_assistant(&mut self, id: &str) -> Vec<Effect> {
        if id.is_empty() || self.assistants.contains_key(id) {
            return Vec::new();
        }
        if self.assistants_asked.insert(id.to_string()) {
            vec![Effect::LoadAssistant(id.to_string())]
        } else {
            Vec::new()
        }
    }

    /// Applies one event of the runtime to the state (the reducer of the event protocol).
    pub(super) fn apply_server(&mut self, event: ServerEvent) -> Vec<Effect> {
        self.notice_attention(&event.payload);
        self.wall.feed(&event.payload);
        self.feed_trace(&event);
        if let EventPayload::MessageCompleted(e) = &event.payload {
            self.note_reply_ended(&e.thread_id, &e.message);
        }
        match event.payload {
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => {
                let mut effects = self.ask_for_assistant(&e.thread.assistant_id);
                effects.extend(self.upsert_thread(e.thread));
                if self.mode == super::Mode::Wall {
                    // A thread that comes onto the wall brings its last words.
                    effects.extend(self.load_wall_tails());
                }
                return effects;
            }
            EventPayload::MessageCreated(e) => {
                if self.conversation.is_open(&e.thread_id) {
                    let message = e.message;
                    match self.conversation.message_mut(&message.id) {
                        // A snapshot (after a long disconnect) is the message as far as it
                        // got: it replaces what the pane had, when it is further along.
                        Some(slot) if event.id.is_none() => {
                            if message.text_len() >= slot.text_len() {
                                let id = message.id.clone();
                                *slot = message;
                                self.conversation.track_reply(&id);
                            }
                        }
                        Some(_) => {}
                        None => {
                            let id = message.id.clone();
                            self.conversation.messages.push(message);
                            self.conversation.track_reply(&id);
                        }
                    }
                } else {
                    *self.attention.unread.entry(e.thread_id).or_default() += 1;
                }
            }
            EventPayload::MessageDelta(e) if self.conversation.is_open(&e.thread_id) => {
                self.conversation.append_reply_text(&e.message_id, &e.delta);
            }
            EventPayload::ReasoningDelta(e) if self.conversation.is_open(&e.thread_id) => {
                if let Some(message) = self.conversation.message_mut(&e.message_id) {
                    // An empty line first: the next step of the reasoning begins.
                    let (new_step, text) = match e.delta.strip_prefix("\n\n") {
                        Some(rest)
                            if message.reasoning.last().is_some_and(|s| !s.text.is_empty()) =>
                        {
                            (true, rest)
                        }
                        _ => (message.reasoning.is_empty(), e.delta.as_str()),
                    };
                    if new_step {
                        message.reasoning.push(Default::default());
                    }
                    if let Some(step) = message.reasoning.last_mut() {
                        step.text.push_str(text);
                    }
                }
            }
            EventPayload::ToolCallCreated(e) => {
                if self.conversation.is_open(&e.thread_id) {
                    if let Some(message) = self.conversation.message_mut(&e.message_id) {
                        message.tool_calls.push(e.tool_call.clone());
                    }
                }
                self.tools.started(LiveCall {
                    thread_id: e.thread_id,
                    call: e.tool_call,
                });
            }
            EventPayload::ToolCallDelta(e) => {
                if let Some(live) = self.tools.get_mut(&e.tool_call_id) {
                    live.call.function.arguments.push_str(&e.delta);
                }
                if let Some(call) =
                    self.conversation
                        .call_mut(&e.thread_id, &e.message_id, &e.tool_call_id)
                {
                    call.function.arguments.push_str(&e.delta);
                }
            }
            EventPayload::ToolCallOutputDelta(e) => {
                if let Some(live) = self.tools.get_mut(&e.tool_call_id) {
                    append_output(&mut live.call, &e.delta);
                }
                if let Some(call) =
                    self.conversation
                        .call_mut(&e.thread_id, &e.message_id, &e.tool_call_id)
                {
                    append_output(call, &e.delta);
                }
            }
            EventPayload::ToolCallOutput(e) => {
                let update = |call: &mut ToolCall| {
                    call.status = e.status;
                    call.output = e.output.clone();
                    call.latency_ms = e.latency_ms;
                };
                if let Some(live) = self.tools.get_mut(&e.tool_call_id) {
                    update(&mut live.call);
                }
                if let Some(call) =
                    self.conversation
                        .call_mut(&e.thread_id, &e.message_id, &e.tool_call_id)
                {
                    update(call);
                }
                if e.status.is_final() {
                    self.routes.call_ended(&e.tool_call_id);
                }
            }
            EventPayload::Routing(e) => {
                let mut effects = self.ask_for_assistant(&e.from_assistant_id);
                effects.extend(self.ask_for_assistant(&e.to_assistant_id));
                self.routes
                    .count(&e.to_thread_id, &e.from_assistant_id, &e.to_assistant_id);
                self.routes
                    .set_out(e.tool_call_id, e.from_assistant_id, e.to_assistant_id);
                return effects;
            }
            EventPayload::MemoryUpdated(e) if self.conversation.is_open(&e.thread_id) => {
                self.conversation.memory = Some(e.memory);
            }
            EventPayload::MessageCompleted(e) if self.conversation.is_open(&e.thread_id) => {
                let message = e.message;
                self.conversation.replies.remove(&message.id);
                match self.conversation.message_mut(&message.id) {
                    Some(slot) => *slot = message,
                    None => self.conversation.messages.push(message),
                }
            }
            _ => {}
        }
        Vec::new()
    }
}
