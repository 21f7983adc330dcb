//! Anthropic Messages API: `POST {base}/messages` with `stream: true`.

use super::http::{Decoder, WireFormat, json_of, str_at, u64_at};
use super::{ContextItem, ModelEvent, ModelRequest, ProviderError};
use agentdeck_model::sse::SseEvent;
use serde_json::{Value, json};
use std::collections::HashSet;

pub const API_VERSION: &str = "2023-06-01";

pub struct Anthropic;

/// Appends a content block, merging into the last message when the role repeats (the API
/// wants user and assistant turns to alternate).
fn push_block(messages: &mut Vec<Value>, role: &str, block: Value) {
    match messages.last_mut() {
        Some(last) if last["role"] == role => {
            if let Some(content) = last["content"].as_array_mut() {
                content.push(block);
            }
        }
        _ => messages.push(json!({"role": role, "content": [block]})),
    }
}

impl WireFormat for Anthropic {
    fn request(&self, request: &ModelRequest) -> (&'static str, Value) {
        let mut messages = Vec::new();
        for item in &request.context {
            match item {
                ContextItem::User(text) => {
                    push_block(&mut messages, "user", json!({"type": "text", "text": text}))
                }
                ContextItem::Image(image) => push_block(
                    &mut messages,
                    "user",
                    json!({"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": &*image.base64}}),
                ),
                ContextItem::Assistant(text) => push_block(
                    &mut messages,
                    "assistant",
                    json!({"type": "text", "text": text}),
                ),
                ContextItem::ToolCalls(calls) => {
                    for call in calls {
                        let input: Value = serde_json::from_str(&call.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| json!({}));
                        push_block(
                            &mut messages,
                            "assistant",
                            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
                        );
                    }
                }
                ContextItem::ToolResult {
                    call_id, output, ..
                } => push_block(
                    &mut messages,
                    "user",
                    json!({"type": "tool_result", "tool_use_id": call_id, "content": output}),
                ),
            }
        }
        let mut body = json!({"model": request.model, "max_tokens": request.max_output_tokens, "messages": messages, "stream": true});
        if !request.instructions.is_empty() {
            body["system"] = json!(request.instructions);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
                .collect();
        }
        ("/messages", body)
    }

    fn headers(&self, api_key: Option<&str>) -> Vec<(&'static str, String)> {
        let mut headers = vec![("anthropic-version", API_VERSION.to_string())];
        if let Some(key) = api_key {
            headers.push(("x-api-key", key.to_string()));
        }
        headers
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(AnthropicDecoder::default())
    }
}

#[derive(Default)]
struct AnthropicDecoder {
    input_tokens: u64,
    output_tokens: u64,
    /// Tool-use blocks that got no argument text yet (a call without arguments).
    tool_blocks_without_input: HashSet<usize>,
    stop_reason: Option<String>,
    stopped: bool,
}

impl Decoder for AnthropicDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ProviderError> {
        let value = json_of(event)?;
        let kind = str_at(&value, "/type").unwrap_or(event.event.as_str());
        let index = u64_at(&value, "/index").unwrap_or(0) as usize;
        Ok(match kind {
            "message_start" => {
                self.input_tokens = u64_at(&value, "/message/usage/input_tokens").unwrap_or(0);
                self.output_tokens = u64_at(&value, "/message/usage/output_tokens").unwrap_or(0);
                Vec::new()
            }
            "content_block_start" => match str_at(&value, "/content_block/type") {
                Some("thinking") => vec![ModelEvent::ReasoningStep],
                Some("tool_use") => {
                    self.tool_blocks_without_input.insert(index);
                    vec![ModelEvent::ToolCallStart {
                        index,
                        id: str_at(&value, "/content_block/id")
                            .unwrap_or("")
                            .to_string(),
                        name: str_at(&value, "/content_block/name")
                            .unwrap_or("")
                            .to_string(),
                    }]
                }
                _ => Vec::new(),
            },
            "content_block_delta" => match str_at(&value, "/delta/type") {
                Some("text_delta") => vec![ModelEvent::TextDelta(
                    str_at(&value, "/delta/text").unwrap_or("").to_string(),
                )],
                Some("thinking_delta") => vec![ModelEvent::ReasoningDelta(
                    str_at(&value, "/delta/thinking").unwrap_or("").to_string(),
                )],
                Some("input_json_delta") => {
                    let partial = str_at(&value, "/delta/partial_json").unwrap_or("");
                    if partial.is_empty() {
                        Vec::new()
                    } else {
                        self.tool_blocks_without_input.remove(&index);
                        vec![ModelEvent::ToolCallArguments {
                            index,
                            delta: partial.to_string(),
                        }]
                    }
                }
                _ => Vec::new(),
            },
            "content_block_stop" if self.tool_blocks_without_input.remove(&index) => {
                vec![ModelEvent::ToolCallArguments {
                    index,
                    delta: "{}".into(),
                }]
            }
            "message_delta" => {
                if let Some(tokens) = u64_at(&value, "/usage/output_tokens") {
                    self.output_tokens = tokens;
                }
                if let Some(reason) = str_at(&value, "/delta/stop_reason") {
                    self.stop_reason = Some(reason.to_string());
                }
                Vec::new()
            }
            "message_stop" => {
                self.stopped = true;
                vec![ModelEvent::Usage {
                    input_tokens: self.input_tokens,
                    output_tokens: self.output_tokens,
                }]
            }
            "error" => {
                let code = str_at(&value, "/error/type").unwrap_or("api_error");
                let message =
                    str_at(&value, "/error/message").unwrap_or("the provider reported an error");
                return Err(ProviderError::coded(code, message.to_string()));
            }
            _ => Vec::new(),
        })
    }

    fn end(&mut self) -> Result<Vec<ModelEvent>, ProviderError> {
        if !self.stopped {
            return Err(ProviderError {
                retryable: true,
                ..ProviderError::coded("stream_cut", "the stream ended before the message stopped")
            });
        }
        if self.stop_reason.as_deref() == Some("max_tokens") {
            return Err(ProviderError {
                retryable: false,
                ..ProviderError::coded("incomplete", "the model stopped early (max tokens)")
            });
        }
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{decode_all_splits, fixture};

    fn make() -> Box<dyn Decoder> {
        Anthropic.decoder()
    }

    #[test]
    fn thinking_ping_text_and_a_tool_use_with_partial_json() {
        let (events, error) = decode_all_splits(&fixture("anthropic_thinking_tool_use.sse"), make);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ModelEvent::ReasoningStep,
                ModelEvent::ReasoningDelta("The billing question belongs to the billing assistant.".into()),
                ModelEvent::TextDelta("Forwarding to billing.".into()),
                ModelEvent::ToolCallStart { index: 2, id: "toolu_01".into(), name: "route_to_assistant".into() },
                ModelEvent::ToolCallArguments { index: 2, delta: "{\"assistant\": \"billing\", \"message\": \"Refund request for order 1182\"}".into() },
                ModelEvent::Usage { input_tokens: 310, output_tokens: 89 },
            ]
        );
    }

    #[test]
    fn overloaded_after_the_first_delta() {
        let (events, error) =
            decode_all_splits(&fixture("anthropic_overloaded_midstream.sse"), make);
        assert_eq!(events, vec![ModelEvent::TextDelta("Let me".into())]);
        let error = error.unwrap();
        assert_eq!(error.code, "overloaded_error");
        assert!(
            error.retryable,
            "retryable by kind; the transport does not retry once a delta went out"
        );
    }

    #[test]
    fn requests_alternate_roles_and_carry_tool_results() {
        let request = ModelRequest {
            purpose: Default::default(),
            model: "claude-x".into(),
            assistant_name: "a".into(),
            instructions: "be brief".into(),
            context: vec![
                ContextItem::User("hi".into()),
                ContextItem::Assistant("checking".into()),
                ContextItem::ToolCalls(vec![crate::ContextToolCall {
                    id: "toolu_1".into(),
                    name: "f".into(),
                    arguments: "{\"a\":1}".into(),
                }]),
                ContextItem::ToolResult {
                    call_id: "toolu_1".into(),
                    name: "f".into(),
                    output: "42".into(),
                },
            ],
            tools: vec![],
            routes: vec![],
            max_output_tokens: 4096,
        };
        let (path, body) = Anthropic.request(&request);
        assert_eq!(path, "/messages");
        assert_eq!(body["system"], "be brief");
        let roles: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(body["messages"][1]["content"][1]["input"], json!({"a": 1}));
        assert_eq!(body["messages"][2]["content"][0]["tool_use_id"], "toolu_1");
    }
}
