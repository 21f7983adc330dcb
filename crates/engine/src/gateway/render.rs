//! Model events written as an answer in a client's wire format: the events of a stream
//! as they come, or the whole answer at the end. For calls whose answer is not the
//! provider's own bytes: a provider of another format (translated), or an agentdeck
//! assistant answering as a model.

use super::Wire;
use agentdeck_model::sse::SseEvent;
use agentdeck_providers::ModelEvent;
use serde_json::{Value, json};

/// One part of the answer, in order.
enum Part {
    Text(String),
    Tool {
        provider_index: usize,
        id: String,
        name: String,
        arguments: String,
    },
}

/// Writes one answer in `wire`'s format.
pub struct Renderer {
    wire: Wire,
    id: String,
    model: String,
    created: u64,
    sequence: u64,
    started: bool,
    parts: Vec<Part>,
    /// The part being written (its output index or content block is open).
    open: Option<usize>,
    usage: (u64, u64),
    finished: bool,
}

fn event(kind: &str, data: Value) -> SseEvent {
    SseEvent {
        event: kind.to_string(),
        data: data.to_string(),
        ..SseEvent::default()
    }
}

impl Renderer {
    /// `id` is the answer's id (without a format's prefix); `model` as the client named it.
    pub fn new(wire: Wire, id: &str, model: &str) -> Renderer {
        let bare = id.trim_start_matches("msg_");
        let id = match wire {
            Wire::Chat => format!("chatcmpl-{bare}"),
            Wire::Responses => format!("resp_{bare}"),
            Wire::Messages => format!("msg_{bare}"),
        };
        Renderer {
            wire,
            id,
            model: model.to_string(),
            created: agentdeck_model::now_secs(),
            sequence: 0,
            started: false,
            parts: Vec::new(),
            open: None,
            usage: (0, 0),
            finished: false,
        }
    }

    /// The answer's id, as the client sees it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The stream events a piece of the answer's text becomes.
    pub fn text(&mut self, delta: &str) -> Vec<SseEvent> {
        self.event(ModelEvent::TextDelta(delta.to_string()))
    }

    /// The answer's tokens (told in the closing events and the whole answer).
    pub fn usage(&mut self, input_tokens: u64, output_tokens: u64) {
        self.event(ModelEvent::Usage {
            input_tokens,
            output_tokens,
        });
    }

    /// The stream events one model event becomes.
    pub fn event(&mut self, model_event: ModelEvent) -> Vec<SseEvent> {
        let mut out = self.start();
        match model_event {
            ModelEvent::TextDelta(delta) if !delta.is_empty() => {
                let at = match self
                    .open
                    .filter(|&i| matches!(self.parts[i], Part::Text(_)))
                {
                    Some(at) => at,
                    None => {
                        out.extend(self.close());
                        self.parts.push(Part::Text(String::new()));
                        let at = self.parts.len() - 1;
                        self.open = Some(at);
                        out.extend(self.opened(at));
                        at
                    }
                };
                if let Part::Text(text) = &mut self.parts[at] {
                    text.push_str(&delta);
                }
                out.push(self.text_delta(at, &delta));
            }
            ModelEvent::ToolCallStart { index, id, name } => {
                out.extend(self.close());
                self.parts.push(Part::Tool {
                    provider_index: index,
                    id,
                    name,
                    arguments: String::new(),
                });
                let at = self.parts.len() - 1;
                self.open = Some(at);
                out.extend(self.opened(at));
            }
            ModelEvent::ToolCallArguments { index, delta } => {
                let at = self.parts.iter().position(
                    |p| matches!(p, Part::Tool { provider_index, .. } if *provider_index == index),
                );
                if let Some(at) = at {
                    if let Part::Tool { arguments, .. } = &mut self.parts[at] {
                        arguments.push_str(&delta);
                    }
                    out.push(self.arguments_delta(at, &delta));
                }
            }
            ModelEvent::Usage {
                input_tokens,
                output_tokens,
            } => {
                self.usage.0 = self.usage.0.max(input_tokens);
                self.usage.1 = self.usage.1.max(output_tokens);
            }
            // Reasoning is the provider's own; the client's format may have no place for it.
            ModelEvent::TextDelta(_)
            | ModelEvent::ReasoningDelta(_)
            | ModelEvent::ReasoningStep
            | ModelEvent::Finished => {}
        }
        out
    }

    /// The closing events, the stream's last (its terminal event) among them.
    pub fn finish(&mut self) -> Vec<SseEvent> {
        if self.finished {
            return Vec::new();
        }
        let mut out = self.start();
        out.extend(self.close());
        self.finished = true;
        let (input, output) = self.usage;
        let calls = self.parts.iter().any(|p| matches!(p, Part::Tool { .. }));
        match self.wire {
            Wire::Chat => {
                let finish = if calls { "tool_calls" } else { "stop" };
                out.push(event("", self.chunk(json!({}), Some(finish))));
                let mut usage = self.chunk(json!({}), None);
                usage["choices"] = json!([]);
                usage["usage"] = json!({"prompt_tokens": input, "completion_tokens": output,
                    "total_tokens": input + output});
                out.push(event("", usage));
                out.push(SseEvent {
                    data: "[DONE]".into(),
                    ..SseEvent::default()
                });
            }
            Wire::Responses => {
                let response = self.whole();
                out.push(self.numbered("response.completed", json!({"response": response})));
            }
            Wire::Messages => {
                let stop = if calls { "tool_use" } else { "end_turn" };
                out.push(event(
                    "message_delta",
                    json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                        "usage": {"input_tokens": input, "output_tokens": output}}),
                ));
                out.push(event("message_stop", json!({"type": "message_stop"})));
            }
        }
        out
    }

    /// The whole answer, from the events so far.
    pub fn whole(&self) -> Value {
        let (input, output) = self.usage;
        let calls = self.parts.iter().any(|p| matches!(p, Part::Tool { .. }));
        match self.wire {
            Wire::Chat => {
                let text: String = self
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(text) => Some(text.as_str()),
                        Part::Tool { .. } => None,
                    })
                    .collect();
                let mut message = json!({"role": "assistant",
                    "content": if text.is_empty() && calls { Value::Null } else { json!(text) }});
                let tool_calls: Vec<Value> = self
                    .parts
                    .iter()
                    .filter_map(|p| match p {
                        Part::Tool { id, name, arguments, .. } => Some(json!({"id": id,
                            "type": "function", "function": {"name": name, "arguments": arguments}})),
                        Part::Text(_) => None,
                    })
                    .collect();
                if calls {
                    message["tool_calls"] = json!(tool_calls);
                }
                json!({"id": self.id, "object": "chat.completion", "created": self.created,
                    "model": self.model, "choices": [{"index": 0, "message": message,
                        "finish_reason": if calls { "tool_calls" } else { "stop" }}],
                    "usage": {"prompt_tokens": input, "completion_tokens": output,
                        "total_tokens": input + output}})
            }
            Wire::Responses => {
                let output_items: Vec<Value> = (0..self.parts.len())
                    .map(|at| self.item(at, true))
                    .collect();
                json!({"id": self.id, "object": "response", "created_at": self.created,
                    "model": self.model, "status": "completed", "output": output_items,
                    "usage": {"input_tokens": input, "output_tokens": output,
                        "total_tokens": input + output}})
            }
            Wire::Messages => {
                let content: Vec<Value> = (0..self.parts.len()).map(|at| self.block(at)).collect();
                json!({"id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": content, "stop_reason": if calls { "tool_use" } else { "end_turn" },
                    "stop_sequence": null, "usage": {"input_tokens": input, "output_tokens": output}})
            }
        }
    }

    fn start(&mut self) -> Vec<SseEvent> {
        if self.started {
            return Vec::new();
        }
        self.started = true;
        match self.wire {
            Wire::Chat => vec![event(
                "",
                self.chunk(json!({"role": "assistant", "content": ""}), None),
            )],
            Wire::Responses => {
                let response = json!({"id": self.id, "object": "response",
                    "created_at": self.created, "model": self.model, "status": "in_progress",
                    "output": [], "usage": null});
                vec![self.numbered("response.created", json!({"response": response}))]
            }
            Wire::Messages => vec![event(
                "message_start",
                json!({"type": "message_start", "message": {"id": self.id, "type": "message",
                    "role": "assistant", "model": self.model, "content": [], "stop_reason": null,
                    "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
            )],
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    fn numbered(&mut self, kind: &str, mut data: Value) -> SseEvent {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        event(kind, data)
    }

    /// The Chat index of a tool part: its place among the tool parts.
    fn chat_index(&self, at: usize) -> usize {
        self.parts[..at]
            .iter()
            .filter(|p| matches!(p, Part::Tool { .. }))
            .count()
    }

    fn item_id(&self, at: usize) -> String {
        match &self.parts[at] {
            Part::Text(_) => format!("{}_{at}", self.id.replace("resp_", "msg_")),
            Part::Tool { id, .. } => format!("fc_{id}"),
        }
    }

    /// A Responses output item of part `at`.
    fn item(&self, at: usize, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match &self.parts[at] {
            Part::Text(text) => {
                let content = if done {
                    json!([{"type": "output_text", "text": text, "annotations": []}])
                } else {
                    json!([])
                };
                json!({"type": "message", "id": self.item_id(at), "role": "assistant",
                    "status": status, "content": content})
            }
            Part::Tool {
                id,
                name,
                arguments,
                ..
            } => json!({"type": "function_call", "id": self.item_id(at), "call_id": id,
                "name": name, "arguments": if done { arguments.as_str() } else { "" },
                "status": status}),
        }
    }

    /// An Anthropic content block of part `at`, whole.
    fn block(&self, at: usize) -> Value {
        match &self.parts[at] {
            Part::Text(text) => json!({"type": "text", "text": text}),
            Part::Tool {
                id,
                name,
                arguments,
                ..
            } => {
                let input = serde_json::from_str::<Value>(arguments)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({}));
                json!({"type": "tool_use", "id": id, "name": name, "input": input})
            }
        }
    }

    /// The events that open part `at`.
    fn opened(&mut self, at: usize) -> Vec<SseEvent> {
        match self.wire {
            Wire::Chat => match &self.parts[at] {
                Part::Text(_) => Vec::new(),
                Part::Tool { id, name, .. } => vec![event(
                    "",
                    self.chunk(
                        json!({"tool_calls": [{"index": self.chat_index(at), "id": id,
                            "type": "function", "function": {"name": name, "arguments": ""}}]}),
                        None,
                    ),
                )],
            },
            Wire::Responses => {
                let item = self.item(at, false);
                let mut out = vec![self.numbered(
                    "response.output_item.added",
                    json!({"output_index": at, "item": item}),
                )];
                if matches!(self.parts[at], Part::Text(_)) {
                    let item_id = self.item_id(at);
                    out.push(self.numbered(
                        "response.content_part.added",
                        json!({"output_index": at, "item_id": item_id, "content_index": 0,
                            "part": {"type": "output_text", "text": "", "annotations": []}}),
                    ));
                }
                out
            }
            Wire::Messages => {
                let block = match &self.parts[at] {
                    Part::Text(_) => json!({"type": "text", "text": ""}),
                    Part::Tool { id, name, .. } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                vec![event(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": at, "content_block": block}),
                )]
            }
        }
    }

    fn text_delta(&mut self, at: usize, delta: &str) -> SseEvent {
        match self.wire {
            Wire::Chat => event("", self.chunk(json!({"content": delta}), None)),
            Wire::Responses => {
                let item_id = self.item_id(at);
                self.numbered(
                    "response.output_text.delta",
                    json!({"output_index": at, "item_id": item_id, "content_index": 0,
                        "delta": delta, "logprobs": []}),
                )
            }
            Wire::Messages => event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": at,
                    "delta": {"type": "text_delta", "text": delta}}),
            ),
        }
    }

    fn arguments_delta(&mut self, at: usize, delta: &str) -> SseEvent {
        match self.wire {
            Wire::Chat => event(
                "",
                self.chunk(
                    json!({"tool_calls": [{"index": self.chat_index(at),
                        "function": {"arguments": delta}}]}),
                    None,
                ),
            ),
            Wire::Responses => {
                let item_id = self.item_id(at);
                self.numbered(
                    "response.function_call_arguments.delta",
                    json!({"output_index": at, "item_id": item_id, "delta": delta}),
                )
            }
            Wire::Messages => event(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": at,
                    "delta": {"type": "input_json_delta", "partial_json": delta}}),
            ),
        }
    }

    /// The events that close the open part.
    fn close(&mut self) -> Vec<SseEvent> {
        let Some(at) = self.open.take() else {
            return Vec::new();
        };
        match self.wire {
            Wire::Chat => Vec::new(),
            Wire::Responses => {
                let item_id = self.item_id(at);
                let mut out = Vec::new();
                match &self.parts[at] {
                    Part::Text(text) => {
                        let text = text.clone();
                        out.push(self.numbered(
                            "response.output_text.done",
                            json!({"output_index": at, "item_id": item_id, "content_index": 0,
                                "text": text, "logprobs": []}),
                        ));
                        out.push(self.numbered(
                            "response.content_part.done",
                            json!({"output_index": at, "item_id": item_id, "content_index": 0,
                                "part": {"type": "output_text", "text": text, "annotations": []}}),
                        ));
                    }
                    Part::Tool { arguments, .. } => {
                        let arguments = arguments.clone();
                        out.push(self.numbered(
                            "response.function_call_arguments.done",
                            json!({"output_index": at, "item_id": item_id, "arguments": arguments}),
                        ));
                    }
                }
                let item = self.item(at, true);
                out.push(self.numbered(
                    "response.output_item.done",
                    json!({"output_index": at, "item": item}),
                ));
                out
            }
            Wire::Messages => vec![event(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": at}),
            )],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(wire: Wire) -> (Vec<SseEvent>, Value) {
        let mut renderer = Renderer::new(wire, "msg_abc", "gpt-4o");
        let mut events = Vec::new();
        for model_event in [
            ModelEvent::TextDelta("Let me ".into()),
            ModelEvent::TextDelta("check.".into()),
            ModelEvent::ToolCallStart {
                index: 3,
                id: "call_1".into(),
                name: "lookup".into(),
            },
            ModelEvent::ToolCallArguments {
                index: 3,
                delta: "{\"id\":".into(),
            },
            ModelEvent::ToolCallArguments {
                index: 3,
                delta: "7}".into(),
            },
            ModelEvent::Usage {
                input_tokens: 9,
                output_tokens: 4,
            },
            ModelEvent::Finished,
        ] {
            events.extend(renderer.event(model_event));
        }
        events.extend(renderer.finish());
        (events, renderer.whole())
    }

    #[test]
    fn each_format_reads_back_as_what_was_rendered() {
        for wire in [Wire::Chat, Wire::Responses, Wire::Messages] {
            let (events, whole) = answer(wire);
            // The format's own decoder reads the stream back into the same answer.
            let mut decoder = wire.decoder();
            let mut decoded = Vec::new();
            for event in &events {
                decoded.extend(
                    decoder
                        .event(event)
                        .unwrap_or_else(|e| panic!("{wire:?}: {e}")),
                );
            }
            decoded.extend(decoder.end().unwrap());
            let text: String = decoded
                .iter()
                .filter_map(|e| match e {
                    ModelEvent::TextDelta(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(text, "Let me check.", "{wire:?}");
            let arguments: String = decoded
                .iter()
                .filter_map(|e| match e {
                    ModelEvent::ToolCallArguments { delta, .. } => Some(delta.as_str()),
                    _ => None,
                })
                .collect();
            assert_eq!(arguments, "{\"id\":7}", "{wire:?}");
            assert!(
                decoded.iter().any(|e| matches!(e, ModelEvent::ToolCallStart { name, id, .. } if name == "lookup" && id == "call_1")),
                "{wire:?}: {decoded:?}"
            );
            assert!(
                decoded.contains(&ModelEvent::Usage {
                    input_tokens: 9,
                    output_tokens: 4
                }) || wire == Wire::Messages,
                "{wire:?}: {decoded:?}"
            );
            // And the whole answer reads as the stream does.
            let from_whole = wire.whole_events(&whole);
            assert!(
                from_whole.contains(&ModelEvent::TextDelta("Let me check.".into())),
                "{wire:?}: {whole}"
            );
        }
    }
}
