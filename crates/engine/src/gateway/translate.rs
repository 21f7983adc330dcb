//! Calls between formats: a client that speaks one format and a model whose provider
//! speaks another. The request is read into the providers' common request and written in
//! the provider's format by the provider's own code; the provider's stream is read by
//! its own decoder and written in the client's format by the [`Renderer`]. What carries
//! across: instructions, the conversation's text, tool calls and results, tools, the
//! output bound, temperature and top_p. Images, structured output and tool choice reach
//! a provider of the client's own format only.

use super::{Renderer, Wire};
use agentdeck_model::sse::SseEvent;
use agentdeck_providers::http::Decoder;
use agentdeck_providers::{ContextItem, ContextToolCall, ModelRequest, ToolSpec};
use serde_json::Value;

/// The output bound of a request that names none (Anthropic's Messages require one).
const DEFAULT_OUTPUT_TOKENS: u32 = 4096;

/// One translated call: the provider's stream in, the client's out.
pub struct Translation {
    decoder: Box<dyn Decoder>,
    renderer: Renderer,
    /// What the provider's stream said went wrong.
    failure: Option<String>,
}

impl Translation {
    /// The provider's body for a client's request: the client's `body` in `client`'s
    /// format, for a provider of `provider`'s format, streaming.
    pub fn request_body(client: Wire, provider: Wire, body: &Value, model: &str) -> Value {
        let request = client.read_request(body, model);
        let (_, mut upstream) = provider.format().request(&request);
        for field in ["temperature", "top_p"] {
            if let Some(value) = body.get(field).filter(|v| v.is_number()) {
                upstream[field] = value.clone();
            }
        }
        upstream
    }

    /// Reads `provider`'s stream and writes `client`'s, the answer named `id`.
    pub fn new(client: Wire, provider: Wire, id: &str, model: &str) -> Translation {
        Translation {
            decoder: provider.decoder(),
            renderer: Renderer::new(client, id, model),
            failure: None,
        }
    }

    /// The client's events for one of the provider's.
    pub fn event(&mut self, event: &SseEvent) -> Vec<SseEvent> {
        match self.decoder.event(event) {
            Ok(model_events) => model_events
                .into_iter()
                .flat_map(|e| self.renderer.event(e))
                .collect(),
            Err(err) => {
                self.failure.get_or_insert(err.message);
                Vec::new()
            }
        }
    }

    /// The provider's stream ended: the client's closing events, or why it broke off.
    pub fn end(&mut self) -> Result<Vec<SseEvent>, String> {
        if let Some(failure) = self.failure.take() {
            return Err(failure);
        }
        let mut out: Vec<SseEvent> = match self.decoder.end() {
            Ok(model_events) => model_events
                .into_iter()
                .flat_map(|e| self.renderer.event(e))
                .collect(),
            Err(err) => return Err(err.message),
        };
        out.extend(self.renderer.finish());
        Ok(out)
    }

    /// What the provider's stream reported, as soon as it did.
    pub fn failure(&mut self) -> Option<String> {
        self.failure.take()
    }

    /// The whole answer in the client's format (for a client that did not stream).
    pub fn whole(&self) -> Value {
        self.renderer.whole()
    }
}

/// Text of a content value in any of the formats: a string, the text of its parts, or
/// (a tool's structured output) its JSON.
pub fn content_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

fn str_of(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The context being read, with the instructions apart and a model step's calls together.
#[derive(Default)]
struct Reading {
    instructions: Vec<String>,
    context: Vec<ContextItem>,
}

impl Reading {
    fn say(&mut self, user: bool, text: String) {
        if text.is_empty() {
            return;
        }
        self.context.push(if user {
            ContextItem::User(text)
        } else {
            ContextItem::Assistant(text)
        });
    }

    fn call(&mut self, id: String, name: String, arguments: String) {
        let call = ContextToolCall {
            id,
            name,
            arguments,
        };
        match self.context.last_mut() {
            Some(ContextItem::ToolCalls(calls)) => calls.push(call),
            _ => self.context.push(ContextItem::ToolCalls(vec![call])),
        }
    }

    fn result(&mut self, call_id: String, output: String) {
        let name = self
            .context
            .iter()
            .rev()
            .find_map(|item| match item {
                ContextItem::ToolCalls(calls) => calls
                    .iter()
                    .find(|c| c.id == call_id)
                    .map(|c| c.name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        self.context.push(ContextItem::ToolResult {
            call_id,
            name,
            output,
        });
    }
}

impl Wire {
    /// A client's request in this format, as the providers' common request.
    pub(crate) fn read_request(self, body: &Value, model: &str) -> ModelRequest {
        let mut reading = Reading::default();
        let items = |key: &str| {
            body.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let tools: Vec<ToolSpec>;
        let max_tokens;
        match self {
            Wire::Chat => {
                for message in items("messages") {
                    match message.get("role").and_then(Value::as_str).unwrap_or("") {
                        "system" | "developer" => {
                            reading
                                .instructions
                                .push(content_text(message.get("content")));
                        }
                        "user" => reading.say(true, content_text(message.get("content"))),
                        "assistant" => {
                            reading.say(false, content_text(message.get("content")));
                            let calls = message.get("tool_calls").and_then(Value::as_array);
                            for call in calls.into_iter().flatten() {
                                let function = call.get("function").cloned().unwrap_or_default();
                                reading.call(
                                    str_of(call, "id"),
                                    str_of(&function, "name"),
                                    str_of(&function, "arguments"),
                                );
                            }
                        }
                        "tool" => reading.result(
                            str_of(&message, "tool_call_id"),
                            content_text(message.get("content")),
                        ),
                        _ => {}
                    }
                }
                tools = items("tools")
                    .iter()
                    .filter_map(|t| t.get("function"))
                    .map(|f| tool(f, "parameters"))
                    .collect();
                max_tokens = body
                    .get("max_completion_tokens")
                    .or_else(|| body.get("max_tokens"));
            }
            Wire::Responses => {
                if let Some(instructions) = body.get("instructions").and_then(Value::as_str) {
                    reading.instructions.push(instructions.to_string());
                }
                match body.get("input") {
                    Some(Value::String(text)) => reading.say(true, text.clone()),
                    Some(Value::Array(input)) => {
                        for item in input {
                            match item.get("type").and_then(Value::as_str) {
                                Some("function_call") => reading.call(
                                    str_of(item, "call_id"),
                                    str_of(item, "name"),
                                    str_of(item, "arguments"),
                                ),
                                Some("function_call_output") => reading.result(
                                    str_of(item, "call_id"),
                                    content_text(item.get("output")),
                                ),
                                Some("message") | None => {
                                    let text = content_text(item.get("content"));
                                    match item.get("role").and_then(Value::as_str) {
                                        Some("system" | "developer") => {
                                            reading.instructions.push(text);
                                        }
                                        Some("assistant") => reading.say(false, text),
                                        _ => reading.say(true, text),
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
                tools = items("tools")
                    .iter()
                    .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
                    .map(|t| tool(t, "parameters"))
                    .collect();
                max_tokens = body.get("max_output_tokens");
            }
            Wire::Messages => {
                if let Some(system) = body.get("system") {
                    reading.instructions.push(content_text(Some(system)));
                }
                for message in items("messages") {
                    let role = message.get("role").and_then(Value::as_str).unwrap_or("");
                    // Newer clients (Claude Code) put system text among the messages.
                    if role == "system" {
                        reading
                            .instructions
                            .push(content_text(message.get("content")));
                        continue;
                    }
                    let user = role == "user";
                    let blocks = match message.get("content") {
                        Some(Value::String(text)) => {
                            reading.say(user, text.clone());
                            continue;
                        }
                        Some(Value::Array(blocks)) => blocks.clone(),
                        _ => continue,
                    };
                    for block in blocks {
                        match block.get("type").and_then(Value::as_str) {
                            Some("text") => reading.say(user, str_of(&block, "text")),
                            Some("tool_use") => reading.call(
                                str_of(&block, "id"),
                                str_of(&block, "name"),
                                block.get("input").map(Value::to_string).unwrap_or_default(),
                            ),
                            Some("tool_result") => reading.result(
                                str_of(&block, "tool_use_id"),
                                content_text(block.get("content")),
                            ),
                            _ => {}
                        }
                    }
                }
                tools = items("tools")
                    .iter()
                    .map(|t| tool(t, "input_schema"))
                    .collect();
                max_tokens = body.get("max_tokens");
            }
        }
        let max_output_tokens = max_tokens
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(DEFAULT_OUTPUT_TOKENS);
        ModelRequest {
            purpose: Default::default(),
            model: model.to_string(),
            assistant_name: String::new(),
            instructions: reading
                .instructions
                .into_iter()
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
                .join("\n\n"),
            context: reading.context,
            tools,
            routes: Vec::new(),
            max_output_tokens,
        }
    }
}

fn tool(spec: &Value, schema_key: &str) -> ToolSpec {
    ToolSpec {
        name: str_of(spec, "name"),
        description: str_of(spec, "description"),
        parameters: spec
            .get(schema_key)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_conversation_with_tools_reads_the_same_from_each_format() {
        let chat = json!({"max_tokens": 300, "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Refund ORD-1"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "refund", "arguments": "{\"order\":\"ORD-1\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "refunded"}],
            "tools": [{"type": "function", "function": {"name": "refund", "description": "Refunds",
                "parameters": {"type": "object"}}}]});
        let responses = json!({"max_output_tokens": 300, "instructions": "Be brief.", "input": [
            {"role": "user", "content": "Refund ORD-1"},
            {"type": "function_call", "call_id": "c1", "name": "refund", "arguments": "{\"order\":\"ORD-1\"}"},
            {"type": "function_call_output", "call_id": "c1", "output": "refunded"}],
            "tools": [{"type": "function", "name": "refund", "description": "Refunds",
                "parameters": {"type": "object"}}]});
        let messages = json!({"max_tokens": 300, "system": "Be brief.", "messages": [
            {"role": "user", "content": "Refund ORD-1"},
            {"role": "system", "content": [{"type": "text", "text": "Agents: billing."}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "c1", "name": "refund",
                "input": {"order": "ORD-1"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "refunded"}]}],
            "tools": [{"name": "refund", "description": "Refunds", "input_schema": {"type": "object"}}]});
        let read = [
            Wire::Chat.read_request(&chat, "m"),
            Wire::Responses.read_request(&responses, "m"),
            Wire::Messages.read_request(&messages, "m"),
        ];
        assert_eq!(read[2].instructions, "Be brief.\n\nAgents: billing.");
        for request in &read {
            assert!(request.instructions.starts_with("Be brief."));
            assert_eq!(request.max_output_tokens, 300);
            assert_eq!(request.tools[0].name, "refund");
            assert_eq!(request.context[0], ContextItem::User("Refund ORD-1".into()));
            assert_eq!(
                request.context[2],
                ContextItem::ToolResult {
                    call_id: "c1".into(),
                    name: "refund".into(),
                    output: "refunded".into()
                }
            );
        }
        // A Chat client's request for an Anthropic provider, in Anthropic's shape.
        let body = Translation::request_body(Wire::Chat, Wire::Messages, &chat, "claude-x");
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(body["stream"], true);
    }
}
