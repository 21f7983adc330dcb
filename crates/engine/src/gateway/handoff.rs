//! Handoffs between agents that call through the gateway: agent A's answer asks for
//! `transfer_to_b` (as the Agents SDK names a handoff), and the next call of the same
//! conversation comes from agent B. B's thread is then A's routed child — the threads
//! tree nests it, the routing graph draws the edge, the trace shows the hop — as a
//! native route or a traced handoff is shown.

use super::GatewayState;
use crate::Engine;
use agentdeck_model::event::Routing;
use agentdeck_model::sync::lock;
use agentdeck_model::{EventPayload, Message, Thread, ToolCallType};
use std::collections::HashMap;

/// Conversations remembered (their newest call), at most.
const CONVERSATIONS_KEPT: usize = 100_000;

/// A conversation's newest call.
#[derive(Clone, Debug)]
pub(crate) struct LatestCall {
    pub thread_id: String,
    pub assistant_id: String,
    pub reply_id: String,
}

/// Where a handoff came from: the call that asked for it.
pub(crate) struct HandoffSource {
    pub thread_id: String,
    pub assistant_id: String,
    reply_id: String,
    call_id: String,
}

impl GatewayState {
    pub(crate) fn remember_call(&self, project_id: &str, conversation: &str, call: LatestCall) {
        let mut conversations = lock(&self.conversations);
        if conversations.len() >= CONVERSATIONS_KEPT {
            conversations.clear();
        }
        conversations.insert((project_id.to_string(), conversation.to_string()), call);
    }
}

/// A tool name as the Agents SDK makes one of an agent's name: lower case, anything but
/// letters and digits an underscore.
fn function_style(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

impl Engine {
    /// The call of another agent in this conversation that handed it to `agent`.
    pub(crate) fn handoff_source(
        &self,
        project_id: &str,
        conversation: &str,
        agent: &str,
        assistant_id: &str,
    ) -> Option<HandoffSource> {
        let latest = lock(&self.inner.gateway.conversations)
            .get(&(project_id.to_string(), conversation.to_string()))
            .cloned()?;
        if latest.assistant_id == assistant_id {
            return None;
        }
        let reply = self.inner.store.message(&latest.reply_id).ok().flatten()?;
        let wanted = function_style(&format!("transfer_to_{agent}"));
        let call = reply
            .tool_calls
            .iter()
            .find(|call| function_style(&call.function.name) == wanted)?;
        Some(HandoffSource {
            thread_id: latest.thread_id,
            assistant_id: latest.assistant_id,
            reply_id: reply.id,
            call_id: call.id.clone(),
        })
    }

    /// The handoff call becomes the route to `thread`, whose first message is `user`.
    pub(crate) fn route_handoff(&self, source: &HandoffSource, thread: &Thread, user: &Message) {
        let Ok(Some(mut reply)) = self.inner.store.message(&source.reply_id) else {
            return;
        };
        let Some(call) = reply.tool_calls.iter_mut().find(|c| c.id == source.call_id) else {
            return;
        };
        call.kind = ToolCallType::AgentRouting;
        call.target_assistant_id = Some(thread.assistant_id.clone());
        call.thread_id = Some(thread.id.clone());
        let call = call.clone();
        self.inner.bus.put_message(reply.clone());
        let Some(parent) = self.inner.store.thread(&source.thread_id) else {
            return;
        };
        let scope = Self::thread_scope(&parent, Some(&reply.id));
        self.emit(
            &scope,
            EventPayload::Routing(Routing {
                thread_id: parent.id.clone(),
                message_id: Some(reply.id.clone()),
                tool_call_id: call.id.clone(),
                from_assistant_id: source.assistant_id.clone(),
                to_assistant_id: thread.assistant_id.clone(),
                from_thread_id: parent.id.clone(),
                to_thread_id: thread.id.clone(),
                to_message_id: user.id.clone(),
            }),
        );
        self.emit(&scope, EventPayload::tool_call_output(&reply, &call));
    }
}

/// The map's type, for the state's default.
pub(crate) type Conversations = HashMap<(String, String), LatestCall>;

#[cfg(test)]
mod tests {
    #[test]
    fn handoff_names_are_compared_as_the_agents_sdk_writes_them() {
        assert_eq!(
            super::function_style("transfer_to_Billing Desk"),
            "transfer_to_billing_desk"
        );
    }
}
