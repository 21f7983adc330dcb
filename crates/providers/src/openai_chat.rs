//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, `stream: true`):
//! OpenAI, Ollama, vLLM, llama.cpp, LiteLLM, OpenRouter, ...

use super::http::{Decoder, WireFormat, json_of, str_at, u64_at};
use super::{ContextItem, ModelEvent, ModelRequest, ProviderError};
use agentdeck_model::sse::SseEvent;
use serde_json::{Value, json};
use std::collections::HashSet;

pub struct OpenAiChat;

impl WireFormat for OpenAiChat {
    fn request(&self, request: &ModelRequest) -> (&'static str, Value) {
        let mut messages: Vec<Value> = Vec::new();
        if !request.instructions.is_empty() {
            messages.push(json!({"role": "system", "content": request.instructions}));
        }
        for item in &request.context {
            match item {
                ContextItem::User(text) => messages.push(json!({"role": "user", "content": text})),
                ContextItem::Image(image) => {
                    let part = json!({"type": "image_url", "image_url": {"url": image.data_url()}});
                    match messages.last_mut() {
                        Some(last) if last["role"] == "user" => {
                            if let Some(text) = last["content"].as_str().map(str::to_string) {
                                last["content"] = json!([{"type": "text", "text": text}]);
                            }
                            if let Some(parts) = last["content"].as_array_mut() {
                                parts.push(part);
                            }
                        }
                        _ => messages.push(json!({"role": "user", "content": [part]})),
                    }
                }
                ContextItem::Assistant(text) => {
                    messages.push(json!({"role": "assistant", "content": text}))
                }
                ContextItem::ToolCalls(calls) => {
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|c| json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}))
                        .collect();
                    // Text the model wrote before its calls belongs to the same message.
                    match messages.last_mut() {
                        Some(last)
                            if last["role"] == "assistant" && last.get("tool_calls").is_none() =>
                        {
                            last["tool_calls"] = json!(calls);
                        }
                        _ => messages.push(
                            json!({"role": "assistant", "content": null, "tool_calls": calls}),
                        ),
                    }
                }
                ContextItem::ToolResult {
                    call_id, output, ..
                } => messages
                    .push(json!({"role": "tool", "tool_call_id": call_id, "content": output})),
            }
        }
        let mut body = json!({
            "model": request.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": request.max_output_tokens,
        });
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}))
                .collect();
        }
        ("/chat/completions", body)
    }

    fn headers(&self, api_key: Option<&str>) -> Vec<(&'static str, String)> {
        api_key
            .map(|key| vec![("Authorization", format!("Bearer {key}"))])
            .unwrap_or_default()
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(ChatDecoder::default())
    }
}

#[derive(Default)]
struct ChatDecoder {
    started_calls: HashSet<usize>,
    reasoning_started: bool,
    finish_reason: Option<String>,
    done: bool,
}

/// The common chunk, a text or reasoning delta, read without building a JSON tree:
/// most of a stream is these. Anything else (tool calls, errors) takes the general path.
#[derive(serde::Deserialize)]
struct TextChunk<'a> {
    #[serde(borrow)]
    choices: Vec<TextChoice<'a>>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(serde::Deserialize)]
struct TextChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<TextDeltaPart<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TextDeltaPart<'a> {
    #[serde(default)]
    #[allow(dead_code)]
    role: Option<&'a str>,
    #[serde(borrow, default)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    #[allow(dead_code)]
    refusal: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct ChunkUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
}

impl ChatDecoder {
    /// A delta's reasoning (the first opens a step) and text, whichever is not empty.
    fn text_and_reasoning(
        &mut self,
        reasoning: Option<&str>,
        content: Option<&str>,
        out: &mut Vec<ModelEvent>,
    ) {
        if let Some(reasoning) = reasoning.filter(|r| !r.is_empty()) {
            if !self.reasoning_started {
                self.reasoning_started = true;
                out.push(ModelEvent::ReasoningStep);
            }
            out.push(ModelEvent::ReasoningDelta(reasoning.to_string()));
        }
        if let Some(text) = content.filter(|t| !t.is_empty()) {
            out.push(ModelEvent::TextDelta(text.to_string()));
        }
    }

    /// The fast path: `None` when the chunk is not a plain text/reasoning delta.
    fn text_chunk(&mut self, data: &str) -> Option<Vec<ModelEvent>> {
        if data.contains("\"error\"") {
            return None;
        }
        let chunk: TextChunk = serde_json::from_str(data).ok()?;
        let mut out = Vec::new();
        if let Some(choice) = chunk.choices.first() {
            if let Some(delta) = &choice.delta {
                let reasoning = delta
                    .reasoning_content
                    .as_deref()
                    .or(delta.reasoning.as_deref());
                self.text_and_reasoning(reasoning, delta.content.as_deref(), &mut out);
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.clone());
            }
        }
        if let Some(input_tokens) = chunk.usage.as_ref().and_then(|u| u.prompt_tokens) {
            out.push(ModelEvent::Usage {
                input_tokens,
                output_tokens: chunk
                    .usage
                    .as_ref()
                    .and_then(|u| u.completion_tokens)
                    .unwrap_or(0),
            });
        }
        Some(out)
    }
}

impl Decoder for ChatDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ProviderError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Vec::new());
        }
        if let Some(out) = self.text_chunk(&event.data) {
            return Ok(out);
        }
        let value = json_of(event)?;
        if let Some(error) = value.get("error") {
            let code = error
                .get("code")
                .or_else(|| error.get("type"))
                .and_then(Value::as_str)
                .unwrap_or("server_error");
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the provider reported an error");
            return Err(ProviderError::coded(code, message.to_string()));
        }
        let mut out = Vec::new();
        if let Some(delta) = value.pointer("/choices/0/delta") {
            let reasoning =
                str_at(delta, "/reasoning_content").or_else(|| str_at(delta, "/reasoning"));
            self.text_and_reasoning(reasoning, str_at(delta, "/content"), &mut out);
            for (position, call) in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let index = u64_at(call, "/index").map_or(position, |i| i as usize);
                if self.started_calls.insert(index) {
                    out.push(ModelEvent::ToolCallStart {
                        index,
                        id: str_at(call, "/id").unwrap_or("").to_string(),
                        name: str_at(call, "/function/name").unwrap_or("").to_string(),
                    });
                }
                // Arguments arrive as text, or whole as an object (some servers).
                let arguments = match call.pointer("/function/arguments") {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                if !arguments.is_empty() {
                    out.push(ModelEvent::ToolCallArguments {
                        index,
                        delta: arguments,
                    });
                }
            }
        }
        if let Some(reason) = str_at(&value, "/choices/0/finish_reason") {
            self.finish_reason = Some(reason.to_string());
        }
        if let Some(input_tokens) = u64_at(&value, "/usage/prompt_tokens") {
            out.push(ModelEvent::Usage {
                input_tokens,
                output_tokens: u64_at(&value, "/usage/completion_tokens").unwrap_or(0),
            });
        }
        Ok(out)
    }

    fn end(&mut self) -> Result<Vec<ModelEvent>, ProviderError> {
        match self.finish_reason.as_deref() {
            Some("length") => Err(ProviderError {
                retryable: false,
                ..ProviderError::coded("incomplete", "the model stopped early (max tokens)")
            }),
            Some(_) => Ok(Vec::new()),
            None if self.done => Ok(Vec::new()),
            None => Err(ProviderError {
                retryable: true,
                ..ProviderError::coded("stream_cut", "the stream ended before the model finished")
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{decode_all_splits, fixture};

    fn make() -> Box<dyn Decoder> {
        OpenAiChat.decoder()
    }

    #[test]
    fn reasoning_text_and_two_interleaved_tool_calls_with_crlf() {
        let (events, error) =
            decode_all_splits(&fixture("openai_chat_reasoning_two_tools_crlf.sse"), make);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ModelEvent::ReasoningStep,
                ModelEvent::ReasoningDelta("Need the flight prefs first.".into()),
                ModelEvent::TextDelta("Checking your preferences.".into()),
                ModelEvent::ToolCallStart {
                    index: 0,
                    id: "call_a1".into(),
                    name: "search_flights".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 0,
                    delta: "{\"from\": \"NYC\", ".into()
                },
                ModelEvent::ToolCallStart {
                    index: 1,
                    id: "call_b2".into(),
                    name: "get_preferences".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 1,
                    delta: "{}".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 0,
                    delta: "\"to\": \"TYO\", \"date\": \"2026-12-10\", \"cabin\": \"business\"}"
                        .into()
                },
                ModelEvent::Usage {
                    input_tokens: 212,
                    output_tokens: 57
                },
            ]
        );
    }

    #[test]
    fn a_markdown_table_and_usage() {
        let (events, error) = decode_all_splits(&fixture("openai_chat_text.sse"), make);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ModelEvent::TextDelta("| Clause | Cap |\n|---|---|\n| Liability | $5M |\n".into()),
                ModelEvent::Usage {
                    input_tokens: 40,
                    output_tokens: 18
                },
            ]
        );
    }

    #[test]
    fn hostile_content_passes_raw_and_a_truncated_event_is_a_clear_error() {
        let (events, error) = decode_all_splits(&fixture("malformed_and_hostile.sse"), make);
        // Escape sequences are kept as data here; the terminal layer never prints them.
        assert_eq!(
            events,
            vec![ModelEvent::TextDelta(
                "safe \u{1b}]52;c;ZXZpbA==\u{7}text \u{1b}[2J\u{1b}]0;pwned\u{7} end".into()
            )]
        );
        let error = error.unwrap();
        assert_eq!(error.code, "malformed_event");
        assert!(error.message.contains("not valid JSON"));
    }

    #[test]
    fn a_whole_tool_call_in_one_chunk_like_ollama() {
        let chunk = "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"lookup\",\"arguments\":{\"id\":7}}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
        let (events, error) = decode_all_splits(chunk.as_bytes(), make);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ModelEvent::ToolCallStart {
                    index: 0,
                    id: String::new(),
                    name: "lookup".into()
                },
                ModelEvent::ToolCallArguments {
                    index: 0,
                    delta: "{\"id\":7}".into()
                },
            ]
        );
    }
}
