//! What differs between the three wire formats the gateway speaks, as the HTTP side sees
//! it: each one's error shape and error event, where a request keeps the user's words,
//! and which stream events end a stream or carry only usage.

use agentdeck_engine::gateway::Wire;
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
    /// The engine's name for the same format.
    pub fn wire(self) -> Wire {
        match self {
            Format::Chat => Wire::Chat,
            Format::Responses => Wire::Responses,
            Format::Messages => Wire::Messages,
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

    /// The tool results a request ends with (call id, output): the client ran the tools
    /// the last answer asked for and brings their results, with no new user message.
    pub fn answered(self, body: &Value) -> Vec<(String, String)> {
        let text = agentdeck_engine::gateway::content_text;
        let id = |item: &Value, key: &str| {
            item.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let items = match self {
            Format::Chat => body.get("messages"),
            Format::Responses => body.get("input"),
            Format::Messages => body
                .get("messages")
                .and_then(Value::as_array)
                .and_then(|m| m.last())
                .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
                .and_then(|m| m.get("content")),
        };
        let Some(items) = items.and_then(Value::as_array) else {
            return Vec::new();
        };
        let kind =
            |item: &Value, key: &str| item.get(key).and_then(Value::as_str).map(str::to_string);
        let mut results: Vec<(String, String)> = items
            .iter()
            .rev()
            .map_while(|item| match self {
                Format::Chat => (kind(item, "role").as_deref() == Some("tool"))
                    .then(|| (id(item, "tool_call_id"), text(item.get("content")))),
                Format::Responses => (kind(item, "type").as_deref()
                    == Some("function_call_output"))
                .then(|| (id(item, "call_id"), text(item.get("output")))),
                Format::Messages => (kind(item, "type").as_deref() == Some("tool_result"))
                    .then(|| (id(item, "tool_use_id"), text(item.get("content")))),
            })
            .collect();
        results.reverse();
        results
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn tool_results_a_request_ends_with_are_found_in_each_format() {
        let chat = serde_json::json!({"messages": [{"role": "user", "content": "Refund it"},
            {"role": "assistant", "tool_calls": [{"id": "c1"}, {"id": "c2"}]},
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "ok"}]}]});
        assert_eq!(
            Format::Chat.answered(&chat),
            vec![("c1".into(), "done".into()), ("c2".into(), "ok".into())]
        );
        let asked = serde_json::json!({"messages": [{"role": "user", "content": "Hi"}]});
        assert!(Format::Chat.answered(&asked).is_empty());
        let responses = serde_json::json!({"input": [{"role": "user", "content": "Refund it"},
            {"type": "function_call", "call_id": "c1"},
            {"type": "function_call_output", "call_id": "c1", "output": "{\"refunded\": true}"}]});
        assert_eq!(
            Format::Responses.answered(&responses),
            vec![("c1".into(), "{\"refunded\": true}".into())]
        );
        let messages = serde_json::json!({"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "done"}]}]});
        assert_eq!(
            Format::Messages.answered(&messages),
            vec![("t1".into(), "done".into())]
        );
    }
}
