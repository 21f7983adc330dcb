//! What differs between the three wire formats the gateway speaks: the provider kind that
//! serves each, its path, its error shape, where a request keeps the user's words, and
//! how a whole (not streamed) answer reads as the events a stream would have carried.

use agentdeck_model::config::ProviderKind;
use agentdeck_providers::ModelEvent;
use agentdeck_providers::http::WireFormat;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// OpenAI Chat Completions, `/v1/chat/completions`.
    Chat,
    /// OpenAI Responses, `/v1/responses`.
    Responses,
    /// Anthropic Messages, `/v1/messages`.
    Messages,
}

impl Format {
    /// The name the thread's metadata gives it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Chat => "chat.completions",
            Format::Responses => "responses",
            Format::Messages => "messages",
        }
    }

    /// The provider kind that speaks it: a call is forwarded as sent, so only there.
    pub fn kind(self) -> ProviderKind {
        match self {
            Format::Chat => ProviderKind::OpenaiChat,
            Format::Responses => ProviderKind::OpenaiResponses,
            Format::Messages => ProviderKind::Anthropic,
        }
    }

    /// The config's name of that kind.
    pub fn kind_name(self) -> &'static str {
        match self {
            Format::Chat => "openai-chat",
            Format::Responses => "openai-responses",
            Format::Messages => "anthropic",
        }
    }

    /// The path under the provider's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Format::Chat => "/chat/completions",
            Format::Responses => "/responses",
            Format::Messages => "/messages",
        }
    }

    /// The provider's own wire format: its headers (its key) and its stream's decoder.
    pub fn wire(self) -> Box<dyn WireFormat> {
        match self {
            Format::Chat => Box::new(agentdeck_providers::openai_chat::OpenAiChat),
            Format::Responses => Box::new(agentdeck_providers::openai_responses::OpenAiResponses),
            Format::Messages => Box::new(agentdeck_providers::anthropic::Anthropic),
        }
    }

    /// An error in the format's own shape, so the client's SDK raises its own error type.
    pub fn error(self, status: StatusCode, code: &str, message: impl Into<String>) -> Response {
        let message = message.into();
        let body = match self {
            Format::Chat | Format::Responses => serde_json::json!({"error": {
                "message": message,
                "type": openai_type(status),
                "param": null,
                "code": code,
            }}),
            Format::Messages => serde_json::json!({
                "type": "error",
                "error": {"type": anthropic_type(status), "message": message},
            }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        // A client's SDK waits this long before it tries again.
        if matches!(status.as_u16(), 429 | 503) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
        response
    }

    /// The same error as a stream's event, for a stream that breaks off after it began.
    pub fn stream_error(self, message: &str) -> String {
        match self {
            Format::Chat => {
                let body = serde_json::json!({"error": {
                    "message": message, "type": "server_error", "param": null, "code": "upstream_error",
                }});
                format!("data: {body}\n\n")
            }
            Format::Responses => {
                let body = serde_json::json!({
                    "type": "error", "code": "upstream_error", "message": message, "param": null,
                });
                format!("event: error\ndata: {body}\n\n")
            }
            Format::Messages => {
                let body = serde_json::json!({
                    "type": "error", "error": {"type": "api_error", "message": message},
                });
                format!("event: error\ndata: {body}\n\n")
            }
        }
    }

    /// The newest user message's text: what the agent was asked this time.
    pub fn asked(self, body: &Value) -> Option<String> {
        let (list, content_key) = match self {
            Format::Chat | Format::Messages => (body.get("messages")?, "content"),
            Format::Responses => match body.get("input")? {
                Value::String(text) => return Some(text.clone()),
                list => (list, "content"),
            },
        };
        let user = list
            .as_array()?
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
        match user.get(content_key)? {
            Value::String(text) => Some(text.clone()),
            Value::Array(parts) => Some(
                parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => None,
        }
    }

    /// A whole answer as the events a stream of it would have carried.
    pub fn whole_events(self, answer: &Value) -> Vec<ModelEvent> {
        match self {
            Format::Chat => chat_events(answer),
            Format::Responses => responses_events(answer),
            Format::Messages => messages_events(answer),
        }
    }

    /// The event that ends a stream: the call is ended before it is passed on, since a
    /// client may close the connection as soon as it has it.
    pub fn is_terminal(self, event: &agentdeck_model::sse::SseEvent) -> bool {
        match self {
            Format::Chat => event.data.trim() == "[DONE]",
            Format::Responses => matches!(
                event.event.as_str(),
                "response.completed" | "response.failed" | "response.incomplete"
            ),
            Format::Messages => event.event == "message_stop",
        }
    }

    /// Whether a stream event is only the usage the gateway asked for on the client's
    /// behalf (Chat Completions' `include_usage` chunk), not to be passed on.
    pub fn is_usage_only(self, data: &str) -> bool {
        self == Format::Chat
            && serde_json::from_str::<Value>(data).is_ok_and(|chunk| {
                chunk.get("usage").is_some_and(|u| !u.is_null())
                    && chunk
                        .get("choices")
                        .and_then(Value::as_array)
                        .is_some_and(Vec::is_empty)
            })
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        429 => "rate_limit_error",
        400..=499 => "invalid_request_error",
        _ => "server_error",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 | 503 => "overloaded_error",
        _ => "api_error",
    }
}

fn text_of(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn count(usage: Option<&Value>, key: &str) -> u64 {
    usage
        .and_then(|u| u.get(key))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn chat_events(completion: &Value) -> Vec<ModelEvent> {
    let mut events = Vec::new();
    let message = completion.pointer("/choices/0/message");
    if let Some(text) = message
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
    {
        events.push(ModelEvent::TextDelta(text.to_string()));
    }
    let calls = message
        .and_then(|m| m.get("tool_calls"))
        .and_then(Value::as_array);
    for (index, call) in calls.into_iter().flatten().enumerate() {
        events.push(ModelEvent::ToolCallStart {
            index,
            id: text_of(call.get("id")),
            name: text_of(call.pointer("/function/name")),
        });
        events.push(ModelEvent::ToolCallArguments {
            index,
            delta: text_of(call.pointer("/function/arguments")),
        });
    }
    let usage = completion.get("usage");
    events.push(ModelEvent::Usage {
        input_tokens: count(usage, "prompt_tokens"),
        output_tokens: count(usage, "completion_tokens"),
    });
    events
}

fn responses_events(response: &Value) -> Vec<ModelEvent> {
    let mut events = Vec::new();
    let items = response.get("output").and_then(Value::as_array);
    for (index, item) in items.into_iter().flatten().enumerate() {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        events.push(ModelEvent::TextDelta(text.to_string()));
                    }
                }
            }
            Some("function_call") => {
                events.push(ModelEvent::ToolCallStart {
                    index,
                    id: text_of(item.get("call_id")),
                    name: text_of(item.get("name")),
                });
                events.push(ModelEvent::ToolCallArguments {
                    index,
                    delta: text_of(item.get("arguments")),
                });
            }
            _ => {}
        }
    }
    let usage = response.get("usage");
    events.push(ModelEvent::Usage {
        input_tokens: count(usage, "input_tokens"),
        output_tokens: count(usage, "output_tokens"),
    });
    events
}

fn messages_events(message: &Value) -> Vec<ModelEvent> {
    let mut events = Vec::new();
    let blocks = message.get("content").and_then(Value::as_array);
    for (index, block) in blocks.into_iter().flatten().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => events.push(ModelEvent::TextDelta(text_of(block.get("text")))),
            Some("thinking") => {
                events.push(ModelEvent::ReasoningDelta(text_of(block.get("thinking"))));
            }
            Some("tool_use") => {
                events.push(ModelEvent::ToolCallStart {
                    index,
                    id: text_of(block.get("id")),
                    name: text_of(block.get("name")),
                });
                events.push(ModelEvent::ToolCallArguments {
                    index,
                    delta: block.get("input").map(Value::to_string).unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
    let usage = message.get("usage");
    events.push(ModelEvent::Usage {
        input_tokens: count(usage, "input_tokens"),
        output_tokens: count(usage, "output_tokens"),
    });
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_answers_read_as_their_streams_would() {
        let chat = serde_json::json!({"choices": [{"message": {"content": "Hi", "tool_calls": [
            {"id": "c1", "function": {"name": "lookup", "arguments": "{\"id\":1}"}}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3}});
        assert_eq!(
            Format::Chat.whole_events(&chat),
            vec![
                ModelEvent::TextDelta("Hi".into()),
                ModelEvent::ToolCallStart {
                    index: 0,
                    id: "c1".into(),
                    name: "lookup".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 0,
                    delta: "{\"id\":1}".into()
                },
                ModelEvent::Usage {
                    input_tokens: 5,
                    output_tokens: 3
                },
            ]
        );
        let responses = serde_json::json!({"output": [
            {"type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
            {"type": "function_call", "call_id": "c2", "name": "lookup", "arguments": "{}"}],
            "usage": {"input_tokens": 7, "output_tokens": 2}});
        let events = Format::Responses.whole_events(&responses);
        assert_eq!(events[0], ModelEvent::TextDelta("Hi".into()));
        assert_eq!(
            events[1],
            ModelEvent::ToolCallStart {
                index: 1,
                id: "c2".into(),
                name: "lookup".into()
            }
        );
        let messages = serde_json::json!({"content": [
            {"type": "text", "text": "Hi"},
            {"type": "tool_use", "id": "t1", "name": "lookup", "input": {"id": 1}}],
            "usage": {"input_tokens": 4, "output_tokens": 6}});
        let events = Format::Messages.whole_events(&messages);
        assert_eq!(
            events[2],
            ModelEvent::ToolCallArguments {
                index: 1,
                delta: "{\"id\":1}".into()
            }
        );
        assert_eq!(
            events[3],
            ModelEvent::Usage {
                input_tokens: 4,
                output_tokens: 6
            }
        );
    }

    #[test]
    fn the_users_words_are_found_in_each_format() {
        let chat = serde_json::json!({"messages": [{"role": "system", "content": "Be brief"},
            {"role": "user", "content": [{"type": "text", "text": "Where is"}, {"type": "text", "text": "my order"}]}]});
        assert_eq!(
            Format::Chat.asked(&chat).as_deref(),
            Some("Where is\nmy order")
        );
        let responses = serde_json::json!({"input": "Refund it"});
        assert_eq!(
            Format::Responses.asked(&responses).as_deref(),
            Some("Refund it")
        );
        let items = serde_json::json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]});
        assert_eq!(Format::Responses.asked(&items).as_deref(), Some("Hi"));
        assert!(!Format::Messages.is_usage_only("{}"));
        assert!(Format::Chat.is_usage_only(r#"{"choices": [], "usage": {"total_tokens": 3}}"#));
    }
}
