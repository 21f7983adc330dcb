//! The three wire formats as the engine sees them: the provider kind that speaks each, the
//! upstream request's URL and headers (the provider's key, never the client's), and how
//! an answer — a stream's events or a whole body — becomes the model events a reply is
//! built from (the providers' own decoders for streams).

use crate::Engine;
use agentdeck_model::config::ProviderKind;
use agentdeck_providers::ModelEvent;
use agentdeck_providers::http::{Decoder, WireFormat};
use serde_json::Value;

/// A provider's silence the gateway waits through when its config names no
/// `idle_timeout_ms` (as the runtime's own calls do).
const DEFAULT_IDLE_MS: u64 = 120_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wire {
    /// OpenAI Chat Completions.
    Chat,
    /// OpenAI Responses.
    Responses,
    /// Anthropic Messages.
    Messages,
}

/// Where a call goes: the provider's URL for it, the headers that carry its key, and
/// the format it speaks.
pub struct Upstream {
    pub provider: String,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub wire: Wire,
    /// How long the provider may be silent (before its answer starts, or mid-stream)
    /// before the call is given up: the provider's `idle_timeout_ms`.
    pub idle_timeout: std::time::Duration,
}

/// Why a call has nowhere to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoUpstream {
    /// No provider claims the model.
    UnknownModel,
    /// The provider that claims it is the built-in local model, which is not forwarded to.
    Local { provider: String },
    /// The provider has no base URL.
    NoBaseUrl { provider: String },
}

impl Wire {
    /// The name the thread's metadata gives it.
    pub fn name(self) -> &'static str {
        match self {
            Wire::Chat => "chat.completions",
            Wire::Responses => "responses",
            Wire::Messages => "messages",
        }
    }

    /// The format a provider kind speaks (the local model speaks none).
    fn of_kind(kind: ProviderKind) -> Option<Wire> {
        match kind {
            ProviderKind::OpenaiChat => Some(Wire::Chat),
            ProviderKind::OpenaiResponses => Some(Wire::Responses),
            ProviderKind::Anthropic => Some(Wire::Messages),
            ProviderKind::Local => None,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Wire::Chat => "/chat/completions",
            Wire::Responses => "/responses",
            Wire::Messages => "/messages",
        }
    }

    pub(super) fn format(self) -> Box<dyn WireFormat> {
        match self {
            Wire::Chat => Box::new(agentdeck_providers::openai_chat::OpenAiChat),
            Wire::Responses => Box::new(agentdeck_providers::openai_responses::OpenAiResponses),
            Wire::Messages => Box::new(agentdeck_providers::anthropic::Anthropic),
        }
    }

    pub(super) fn decoder(self) -> Box<dyn Decoder> {
        self.format().decoder()
    }

    /// A whole answer as the events a stream of it would have carried.
    pub(super) fn whole_events(self, answer: &Value) -> Vec<ModelEvent> {
        match self {
            Wire::Chat => chat_events(answer),
            Wire::Responses => responses_events(answer),
            Wire::Messages => messages_events(answer),
        }
    }
}

impl Engine {
    /// Where a call for `model` (as the client named it, aliases resolved) goes: the
    /// configured provider that claims it, in that provider's format.
    pub fn gateway_upstream(&self, model: &str) -> Result<Upstream, NoUpstream> {
        let config = self.config();
        let model = config.resolve_model(model);
        let (name, provider) = config.provider_for(model).ok_or(NoUpstream::UnknownModel)?;
        let wire = Wire::of_kind(provider.kind).ok_or_else(|| NoUpstream::Local {
            provider: name.to_string(),
        })?;
        let base = provider
            .base_url
            .as_deref()
            .filter(|url| !url.is_empty())
            .ok_or_else(|| NoUpstream::NoBaseUrl {
                provider: name.to_string(),
            })?;
        let key = provider
            .api_key_env
            .as_deref()
            .and_then(|variable| std::env::var(variable).ok());
        Ok(Upstream {
            provider: name.to_string(),
            url: format!("{}{}", base.trim_end_matches('/'), wire.path()),
            headers: wire.format().headers(key.as_deref()),
            wire,
            idle_timeout: std::time::Duration::from_millis(
                provider.idle_timeout_ms.unwrap_or(DEFAULT_IDLE_MS),
            ),
        })
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
            Wire::Chat.whole_events(&chat),
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
        let events = Wire::Responses.whole_events(&responses);
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
        let events = Wire::Messages.whole_events(&messages);
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
}
