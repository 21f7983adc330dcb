//! `model = "assistant/NAME"`: a gateway call answered by one of the project's own
//! assistants. The call is a user message on the assistant's thread — its instructions,
//! tools, memory, approvals and routing run as for any message — and the client gets
//! the reply (the API turns its events into the client's format).

use crate::{Engine, EngineError, EngineResult, Scope};
use agentdeck_model::requests::{MessageCreate, MessagePosted};
use agentdeck_model::{Assistant, Content, Role, ThreadStatus};
use std::collections::BTreeMap;

/// The prefix of a `model` that names an assistant.
pub const ASSISTANT_MODEL_PREFIX: &str = "assistant/";

/// A call to an assistant, opened: its thread and the posted message (with the reply's id).
pub struct AssistantCall {
    pub thread_id: String,
    pub posted: MessagePosted,
}

impl Engine {
    /// The project's own (not external) assistants, as gateway models.
    pub fn gateway_assistants(&self, scope: &Scope) -> EngineResult<Vec<Assistant>> {
        Ok(self
            .list_assistants(scope)?
            .into_iter()
            .filter(|a| !a.external)
            .collect())
    }

    /// Posts what the client asked to assistant `name`'s thread for `conversation` (or
    /// the thread `continues` names, or a new one), starting its reply.
    pub async fn open_assistant_call(
        &self,
        scope: &Scope,
        name: &str,
        conversation: Option<&str>,
        continues: Option<&str>,
        asked: String,
    ) -> EngineResult<AssistantCall> {
        let assistant = self
            .gateway_assistants(scope)?
            .into_iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| EngineError::not_found("assistant", name))?;
        let project_id = assistant.project_id.clone();
        let known = continues
            .and_then(|id| self.inner.store.thread(id))
            .filter(|t| t.assistant_id == assistant.id);
        let id = match (&known, conversation) {
            (Some(thread), _) => thread.id.clone(),
            (None, Some(conversation)) => crate::ingest::derived_id(
                "thread_",
                &[
                    &project_id,
                    "gateway-assistant",
                    &assistant.id,
                    conversation,
                ],
            ),
            (None, None) => agentdeck_model::new_id("thread_"),
        };
        let thread = match self.inner.store.thread(&id) {
            Some(thread) if thread.status != ThreadStatus::Closed => thread,
            Some(_) => {
                return Err(EngineError::Conflict(format!(
                    "The conversation's thread '{id}' is closed; reopen it to go on."
                )));
            }
            None => {
                let mut metadata = BTreeMap::new();
                metadata.insert("via".to_string(), "gateway".to_string());
                if let Some(conversation) = conversation {
                    metadata.insert(
                        "conversation_id".into(),
                        agentdeck_model::text::sanitize(conversation)
                            .chars()
                            .take(256)
                            .collect(),
                    );
                }
                self.new_gateway_thread(id, &project_id, &assistant.id, metadata, None)?
            }
        };
        let posted = self
            .post_message(
                scope,
                &thread.id,
                MessageCreate {
                    role: Role::User,
                    content: Some(Content::Text(asked)),
                    attachments: Vec::new(),
                    tool_call_id: None,
                },
            )
            .await?;
        Ok(AssistantCall {
            thread_id: thread.id,
            posted,
        })
    }
}
