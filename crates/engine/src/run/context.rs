//! The context of a model call: instructions, memory, the thread's messages, the tools
//! and colleagues offered.

use super::super::EngineError;
use super::Run;
use super::kinds::{self, ToolKind};
use agentdeck_model::{Message, Role, ToolCall, ToolCallStatus};
use agentdeck_providers::{
    ContextItem, ContextToolCall, ImageInput, ModelRequest, RouteTarget, ToolSpec,
};

impl Run {
    /// What the model is offered: the assistant's tools, the MCP tools listed for this
    /// call, and routing when it has colleagues.
    fn offered_tools(&self, routes: &[RouteTarget]) -> Vec<ToolSpec> {
        let mut tools: Vec<ToolSpec> = self
            .assistant
            .tools
            .iter()
            .filter_map(kinds::of)
            .map(|kind| kind.describe())
            .collect();
        tools.extend(self.mcp_tools.iter().map(|offered| offered.describe()));
        if !routes.is_empty() {
            tools.push(kinds::Routing::to(routes).describe());
        }
        tools
    }

    /// A user message's text with its files, and its images: the text of a small text
    /// file inline, a document the thread's store holds named as searchable, an image
    /// given to a model that takes images (else named, with a note), any other file
    /// named with its type and size (what the model cannot read is said, never dropped
    /// in silence).
    fn with_files(&self, message: &Message) -> (String, Vec<ImageInput>) {
        use crate::files::{inline_readable, searchable};
        let mut text = message.text();
        let mut images = Vec::new();
        let ids = agentdeck_model::file_ids(&message.attachments, message.content.as_ref());
        let store = self.engine.store();
        let config = self.engine.config();
        let takes_images = config.takes_images(config.resolve_model(&self.assistant.model));
        for id in ids {
            let Ok(Some(file)) = store.file(id) else {
                continue;
            };
            let described = format!(
                "{} ({}, {} bytes)",
                file.filename, file.content_type, file.bytes
            );
            if crate::images::is_image(&file.content_type) {
                let size = format!(
                    "{}\u{d7}{}",
                    file.width.unwrap_or(0),
                    file.height.unwrap_or(0)
                );
                if !takes_images {
                    text.push_str(&format!(
                        "\n\n[image {} ({}, {size}): this model does not take images; it was not sent]",
                        file.filename, file.content_type
                    ));
                    continue;
                }
                match crate::images::prepare(store, &file) {
                    Ok(image) => images.push(image),
                    Err(why) => text.push_str(&format!(
                        "\n\n[image {} ({}, {size}): not sent: {why}]",
                        file.filename, file.content_type
                    )),
                }
                continue;
            }
            let contents = inline_readable(&file)
                .then(|| store.file_contents(&file.id).ok())
                .flatten()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            match contents {
                Some(contents) => text.push_str(&format!(
                    "\n\n[file {described}]\n{contents}\n[end of {}]",
                    file.filename
                )),
                None if searchable(&file) => text.push_str(&format!(
                    "\n\n[file {described}: in this thread's documents; file_search finds passages in it]"
                )),
                None => text.push_str(&format!(
                    "\n\n[file {described}: its contents are not readable here]"
                )),
            }
        }
        (text, images)
    }

    pub(super) fn build_request(&self) -> Result<ModelRequest, EngineError> {
        let store = self.engine.store();
        // With memory, the window decides what goes verbatim, not a message count.
        let count = match &self.memory {
            Some(_) => crate::memory::WINDOW_SCAN,
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
                Role::User => {
                    let (text, images) = self.with_files(message);
                    context.push(ContextItem::User(text));
                    context.extend(images.into_iter().map(ContextItem::Image));
                }
                Role::Assistant => {
                    push_assistant(&mut context, message, message.id == self.reply.id)
                }
                Role::Tool | Role::System => {}
            }
        }
        let mut routes = Vec::new();
        for id in &self.assistant.routes_to {
            if let Some(target) = store.assistant(id)? {
                routes.push(RouteTarget {
                    id: target.id,
                    name: target.name,
                });
            }
        }
        let tools = self.offered_tools(&routes);
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
