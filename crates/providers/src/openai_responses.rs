//! OpenAI Responses API: `POST {base}/responses` with `stream: true`.

use super::http::{Decoder, WireFormat, json_of, str_at, u64_at};
use super::{ContextItem, ModelEvent, ModelRequest, ProviderError};
use agentdeck_model::sse::SseEvent;
use serde_json::{Value, json};

pub struct OpenAiResponses;

impl WireFormat for OpenAiResponses {
    fn request(&self, request: &ModelRequest) -> (&'static str, Value) {
        let mut input = Vec::new();
        for item in &request.context {
            match item {
                ContextItem::User(text) => input.push(json!({"role": "user", "content": text})),
                ContextItem::Image(image) => {
                    let part = json!({"type": "input_image", "image_url": image.data_url()});
                    match input.last_mut() {
                        Some(last) if last["role"] == "user" => {
                            if let Some(text) = last["content"].as_str().map(str::to_string) {
                                last["content"] = json!([{"type": "input_text", "text": text}]);
                            }
                            if let Some(parts) = last["content"].as_array_mut() {
                                parts.push(part);
                            }
                        }
                        _ => input.push(json!({"role": "user", "content": [part]})),
                    }
                }
                ContextItem::Assistant(text) => input.push(json!({"role": "assistant", "content": text})),
                ContextItem::ToolCalls(calls) => input.extend(calls.iter().map(|call| {
                    json!({"type": "function_call", "call_id": call.id, "name": call.name, "arguments": call.arguments})
                })),
                ContextItem::ToolResult { call_id, output, .. } => {
                    input.push(json!({"type": "function_call_output", "call_id": call_id, "output": output}))
                }
            }
        }
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| json!({"type": "function", "name": tool.name, "description": tool.description, "parameters": tool.parameters}))
            .collect();
        let mut body = json!({"model": request.model, "input": input, "stream": true, "store": false, "max_output_tokens": request.max_output_tokens});
        if !request.instructions.is_empty() {
            body["instructions"] = json!(request.instructions);
        }
        if !tools.is_empty() {
            body["tools"] = json!(tools);
        }
        ("/responses", body)
    }

    fn headers(&self, api_key: Option<&str>) -> Vec<(&'static str, String)> {
        api_key
            .map(|key| vec![("Authorization", format!("Bearer {key}"))])
            .unwrap_or_default()
    }

    fn decoder(&self) -> Box<dyn Decoder> {
        Box::new(ResponsesDecoder::default())
    }
}

#[derive(Default)]
struct ResponsesDecoder {
    done: bool,
}

fn failure(value: &Value, error: Option<&Value>) -> ProviderError {
    let error = error.or_else(|| value.get("error"));
    let code = error
        .and_then(|e| e.get("code").or_else(|| e.get("type")))
        .and_then(Value::as_str)
        .unwrap_or("server_error");
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("the response failed");
    let mut err = ProviderError::coded(code, message.to_string());
    if code == "insufficient_quota" {
        err.retryable = false;
    }
    err
}

fn usage(response: &Value) -> Option<ModelEvent> {
    Some(ModelEvent::Usage {
        input_tokens: u64_at(response, "/usage/input_tokens")?,
        output_tokens: u64_at(response, "/usage/output_tokens").unwrap_or(0),
    })
}

impl Decoder for ResponsesDecoder {
    fn event(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ProviderError> {
        if event.data.trim() == "[DONE]" {
            return Ok(Vec::new());
        }
        let value = json_of(event)?;
        // Streams with and without `event:` lines: the type is also in the data.
        let kind = str_at(&value, "/type").unwrap_or(event.event.as_str());
        let index = || u64_at(&value, "/output_index").unwrap_or(0) as usize;
        let delta = || str_at(&value, "/delta").unwrap_or("").to_string();
        Ok(match kind {
            "response.output_text.delta" | "response.refusal.delta" => {
                vec![ModelEvent::TextDelta(delta())]
            }
            "response.reasoning_summary_part.added" => vec![ModelEvent::ReasoningStep],
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                vec![ModelEvent::ReasoningDelta(delta())]
            }
            "response.output_item.added"
                if str_at(&value, "/item/type") == Some("function_call") =>
            {
                let mut events = vec![ModelEvent::ToolCallStart {
                    index: index(),
                    id: str_at(&value, "/item/call_id").unwrap_or("").to_string(),
                    name: str_at(&value, "/item/name").unwrap_or("").to_string(),
                }];
                if let Some(arguments) = str_at(&value, "/item/arguments").filter(|a| !a.is_empty())
                {
                    events.push(ModelEvent::ToolCallArguments {
                        index: index(),
                        delta: arguments.to_string(),
                    });
                }
                events
            }
            "response.function_call_arguments.delta" => vec![ModelEvent::ToolCallArguments {
                index: index(),
                delta: delta(),
            }],
            "response.completed" => {
                self.done = true;
                value.get("response").and_then(usage).into_iter().collect()
            }
            "response.incomplete" => {
                self.done = true;
                let reason =
                    str_at(&value, "/response/incomplete_details/reason").unwrap_or("unknown");
                return Err(ProviderError {
                    retryable: false,
                    ..ProviderError::coded(
                        "incomplete",
                        format!("the model stopped early ({reason})"),
                    )
                });
            }
            "response.failed" => return Err(failure(&value, value.pointer("/response/error"))),
            "error" => {
                return Err(failure(
                    &value,
                    value
                        .get("error")
                        .filter(|e| e.is_object())
                        .or(Some(&value)),
                ));
            }
            _ => Vec::new(),
        })
    }

    fn end(&mut self) -> Result<Vec<ModelEvent>, ProviderError> {
        if self.done {
            Ok(Vec::new())
        } else {
            Err(ProviderError {
                retryable: true,
                ..ProviderError::coded(
                    "stream_cut",
                    "the stream ended before the response was complete",
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{decode_all_splits, fixture};

    fn make() -> Box<dyn Decoder> {
        OpenAiResponses.decoder()
    }

    #[test]
    fn reasoning_then_a_function_call() {
        let (events, error) =
            decode_all_splits(&fixture("openai_responses_text_reasoning_tool.sse"), make);
        assert_eq!(error, None);
        assert_eq!(
            events,
            vec![
                ModelEvent::ReasoningStep,
                ModelEvent::ReasoningDelta("**Finding the liability clause**\n\nThe user wants the key clauses; I should retrieve the liability section first.".into()),
                ModelEvent::ToolCallStart { index: 1, id: "call_1234".into(), name: "retrieve_clauses".into() },
                ModelEvent::ToolCallArguments { index: 1, delta: "{\"section\": \"liability\"}".into() },
                ModelEvent::Usage { input_tokens: 245, output_tokens: 98 },
            ]
        );
    }

    #[test]
    fn markdown_answer_after_a_tool_and_without_event_lines() {
        let bytes = fixture("openai_responses_text_after_tool.sse");
        let (events, error) = decode_all_splits(&bytes, make);
        assert_eq!(error, None);
        assert_eq!(events[0], ModelEvent::TextDelta("The liability clause caps damages at **$5M** annually.\n\n```text\nLiability shall not exceed $5M per annum.\n```".into()));
        // The same stream without `event:` lines and with a final [DONE].
        let text = String::from_utf8(bytes).unwrap();
        let bare: String = text
            .lines()
            .filter(|l| !l.starts_with("event:"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
            + "data: [DONE]\n\n";
        assert_eq!(decode_all_splits(bare.as_bytes(), make), (events, None));
    }

    #[test]
    fn a_failed_response_before_any_delta_is_a_retryable_rate_limit() {
        let (events, error) =
            decode_all_splits(&fixture("openai_responses_failed_rate_limit.sse"), make);
        assert!(events.is_empty());
        let error = error.unwrap();
        assert_eq!(error.code, "rate_limit_exceeded");
        assert!(error.retryable);
    }

    #[test]
    fn a_cut_stream_is_an_error() {
        let bytes = fixture("openai_responses_text_after_tool.sse");
        let (events, error) = decode_all_splits(&bytes[..bytes.len() / 2], make);
        assert!(matches!(events.first(), Some(ModelEvent::TextDelta(_))));
        assert_eq!(error.unwrap().code, "stream_cut");
    }
}
