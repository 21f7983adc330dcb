//! `model = "assistant/NAME"` on the gateway: one of the project's assistants answers.
//! Its reply runs as any reply does (instructions, tools, memory, approvals, routes); its
//! text reaches the client in the client's format — streamed from the reply's
//! `message.delta` events, or whole once it is done. The tools it calls are its own; the
//! client sees the answer.

use super::formats::Format;
use super::{AppState, KEEP_ALIVE};
use agentdeck_engine::{EventFilter, Scope};
use agentdeck_model::{EventKind, Message, MessageStatus, now_secs};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};

/// What the call needs from the request.
pub(super) struct AssistantRequest {
    pub name: String,
    pub model: String,
    pub asked: Option<String>,
    pub conversation: Option<String>,
    pub continues: Option<String>,
    pub stream: bool,
    pub include_usage: bool,
}

pub(super) async fn answer(
    state: &AppState,
    scope: &Scope,
    format: Format,
    request: AssistantRequest,
) -> Result<Response, Response> {
    let asked = request.asked.clone().ok_or_else(|| {
        format.error(
            StatusCode::BAD_REQUEST,
            "missing_user_message",
            "An assistant answers a user message; the request has none.",
        )
    })?;
    let refused = |err: agentdeck_engine::EngineError| {
        let err = crate::error::ApiError::from(err);
        let code = err
            .body
            .code
            .as_deref()
            .unwrap_or("assistant_error")
            .to_string();
        let code = if err.status == StatusCode::NOT_FOUND {
            "model_not_found".to_string()
        } else {
            code
        };
        format.error(err.status, &code, err.body.message)
    };
    // Subscribed before posting, so the stream starts with the reply's first event.
    let from = state.engine.bus().last_id();
    let call = state
        .engine
        .open_assistant_call(
            scope,
            &request.name,
            request.conversation.as_deref(),
            request.continues.as_deref(),
            asked,
        )
        .await
        .map_err(refused)?;
    let reply_id = call.posted.response_message_id.clone().unwrap_or_default();
    if format == Format::Responses {
        super::remember_chain(&response_id(format, &reply_id), &call.thread_id);
    }
    let render = Render {
        format,
        id: response_id(format, &reply_id),
        model: request.model,
        created: now_secs(),
    };
    if !request.stream {
        let reply = state
            .engine
            .wait_for_message(&reply_id)
            .await
            .map_err(refused)?;
        if reply.status == MessageStatus::Failed {
            let message = reply.error.map_or_else(
                || "The assistant's reply failed.".to_string(),
                |e| e.message,
            );
            return Err(format.error(StatusCode::BAD_GATEWAY, "assistant_failed", message));
        }
        return Ok(axum::Json(render.whole(&reply)).into_response());
    }
    let filter = EventFilter {
        thread_id: Some(call.thread_id.clone()),
        message_id: Some(reply_id.clone()),
        ..Default::default()
    };
    let events = state.engine.bus().subscribe(filter, Some(from));
    let include_usage = request.include_usage;
    let frames = async_stream::stream! {
        futures::pin_mut!(events);
        let mut sequence = 0u64;
        for frame in render.opening(&mut sequence) {
            yield Ok::<Bytes, std::io::Error>(Bytes::from(frame));
        }
        let mut text = String::new();
        loop {
            let batch = match tokio::time::timeout(KEEP_ALIVE, events.next()).await {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                // An approval or a long tool call: the client hears the stream is alive.
                Err(_) => {
                    yield Ok(Bytes::from_static(b": keep-alive\n\n"));
                    continue;
                }
            };
            for event in batch {
                match event.kind {
                    EventKind::MessageDelta => {
                        let Some(delta) = frame_data(&event.frame)
                            .and_then(|d| d.get("delta")?.as_str().map(str::to_string))
                        else {
                            continue;
                        };
                        text.push_str(&delta);
                        yield Ok(Bytes::from(render.delta(&delta, &mut sequence)));
                    }
                    EventKind::MessageCompleted => {
                        let reply = frame_data(&event.frame)
                            .and_then(|d| serde_json::from_value::<Message>(d.get("message")?.clone()).ok());
                        let Some(reply) = reply else { continue };
                        if reply.status == MessageStatus::Failed {
                            let message = reply.error.map_or_else(
                                || "The assistant's reply failed.".to_string(),
                                |e| e.message,
                            );
                            yield Ok(Bytes::from(format.stream_error(&message)));
                            return;
                        }
                        for frame in render.closing(&reply, &text, include_usage, &mut sequence) {
                            yield Ok(Bytes::from(frame));
                        }
                        return;
                    }
                    _ => {}
                }
            }
        }
    };
    Ok(crate::sse::event_stream(frames))
}

fn response_id(format: Format, reply_id: &str) -> String {
    let bare = reply_id.trim_start_matches("msg_");
    match format {
        Format::Chat => format!("chatcmpl-{bare}"),
        Format::Responses => format!("resp_{bare}"),
        Format::Messages => format!("msg_{bare}"),
    }
}

/// The JSON of an SSE frame's `data:` lines.
fn frame_data(frame: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(frame).ok()?;
    let data: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .map(|line| line.strip_prefix(' ').unwrap_or(line))
        .collect();
    serde_json::from_str(&data.join("\n")).ok()
}

/// Writes the reply in the client's format.
struct Render {
    format: Format,
    id: String,
    model: String,
    created: u64,
}

fn sse(event: &str, data: &Value) -> String {
    if event.is_empty() {
        format!("data: {data}\n\n")
    } else {
        format!("event: {event}\ndata: {data}\n\n")
    }
}

impl Render {
    fn item_id(&self) -> String {
        format!("{}_item", self.id)
    }

    /// A Responses event, numbered.
    fn responses_event(&self, kind: &str, mut data: Value, sequence: &mut u64) -> String {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(*sequence);
        *sequence += 1;
        sse(kind, &data)
    }

    fn chat_chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    }

    fn response_object(&self, status: &str, output: Value, usage: Option<Value>) -> Value {
        json!({"id": self.id, "object": "response", "created_at": self.created, "model": self.model,
            "status": status, "output": output, "usage": usage})
    }

    fn message_item(&self, status: &str, text: Option<&str>) -> Value {
        let content = match text {
            Some(text) => json!([{"type": "output_text", "text": text, "annotations": []}]),
            None => json!([]),
        };
        json!({"type": "message", "id": self.item_id(), "role": "assistant", "status": status,
            "content": content})
    }

    fn opening(&self, sequence: &mut u64) -> Vec<String> {
        match self.format {
            Format::Chat => vec![sse(
                "",
                &self.chat_chunk(json!({"role": "assistant", "content": ""}), None),
            )],
            Format::Responses => {
                let part = json!({"type": "output_text", "text": "", "annotations": []});
                vec![
                    self.responses_event(
                        "response.created",
                        json!({"response": self.response_object("in_progress", json!([]), None)}),
                        sequence,
                    ),
                    self.responses_event(
                        "response.output_item.added",
                        json!({"output_index": 0, "item": self.message_item("in_progress", None)}),
                        sequence,
                    ),
                    self.responses_event(
                        "response.content_part.added",
                        json!({"output_index": 0, "item_id": self.item_id(), "content_index": 0, "part": part}),
                        sequence,
                    ),
                ]
            }
            Format::Messages => vec![
                sse(
                    "message_start",
                    &json!({"type": "message_start", "message": {"id": self.id, "type": "message",
                        "role": "assistant", "model": self.model, "content": [], "stop_reason": null,
                        "stop_sequence": null, "usage": {"input_tokens": 0, "output_tokens": 0}}}),
                ),
                sse(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                ),
            ],
        }
    }

    fn delta(&self, text: &str, sequence: &mut u64) -> String {
        match self.format {
            Format::Chat => sse("", &self.chat_chunk(json!({"content": text}), None)),
            Format::Responses => self.responses_event(
                "response.output_text.delta",
                json!({"output_index": 0, "item_id": self.item_id(), "content_index": 0,
                    "delta": text, "logprobs": []}),
                sequence,
            ),
            Format::Messages => sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}}),
            ),
        }
    }

    fn closing(
        &self,
        reply: &Message,
        text: &str,
        include_usage: bool,
        sequence: &mut u64,
    ) -> Vec<String> {
        let (input, output) = (reply.usage.input_tokens, reply.usage.output_tokens);
        let complete = reply.status == MessageStatus::Completed;
        match self.format {
            Format::Chat => {
                let finish = if complete { "stop" } else { "length" };
                let mut frames = vec![sse("", &self.chat_chunk(json!({}), Some(finish)))];
                if include_usage {
                    let mut usage = self.chat_chunk(json!({}), None);
                    usage["choices"] = json!([]);
                    usage["usage"] = json!({"prompt_tokens": input, "completion_tokens": output,
                        "total_tokens": input + output});
                    frames.push(sse("", &usage));
                }
                frames.push("data: [DONE]\n\n".to_string());
                frames
            }
            Format::Responses => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                let item = self.message_item("completed", Some(text));
                let usage = json!({"input_tokens": input, "output_tokens": output,
                    "total_tokens": input + output});
                let (kind, status) = if complete {
                    ("response.completed", "completed")
                } else {
                    ("response.incomplete", "incomplete")
                };
                vec![
                    self.responses_event(
                        "response.output_text.done",
                        json!({"output_index": 0, "item_id": self.item_id(), "content_index": 0,
                            "text": text, "logprobs": []}),
                        sequence,
                    ),
                    self.responses_event(
                        "response.content_part.done",
                        json!({"output_index": 0, "item_id": self.item_id(), "content_index": 0, "part": part}),
                        sequence,
                    ),
                    self.responses_event(
                        "response.output_item.done",
                        json!({"output_index": 0, "item": item}),
                        sequence,
                    ),
                    self.responses_event(
                        kind,
                        json!({"response": self.response_object(status, json!([item]), Some(usage))}),
                        sequence,
                    ),
                ]
            }
            Format::Messages => {
                let stop = if complete { "end_turn" } else { "max_tokens" };
                vec![
                    sse(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": 0}),
                    ),
                    sse(
                        "message_delta",
                        &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                            "usage": {"input_tokens": input, "output_tokens": output}}),
                    ),
                    sse("message_stop", &json!({"type": "message_stop"})),
                ]
            }
        }
    }

    /// The whole answer, for a call that did not stream.
    fn whole(&self, reply: &Message) -> Value {
        let text = reply.text();
        let (input, output) = (reply.usage.input_tokens, reply.usage.output_tokens);
        let complete = reply.status == MessageStatus::Completed;
        match self.format {
            Format::Chat => {
                json!({"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model, "choices": [{"index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": if complete { "stop" } else { "length" }}],
                "usage": {"prompt_tokens": input, "completion_tokens": output,
                    "total_tokens": input + output}})
            }
            Format::Responses => self.response_object(
                if complete { "completed" } else { "incomplete" },
                json!([self.message_item("completed", Some(&text))]),
                Some(json!({"input_tokens": input, "output_tokens": output,
                    "total_tokens": input + output})),
            ),
            Format::Messages => json!({"id": self.id, "type": "message", "role": "assistant",
                "model": self.model, "content": [{"type": "text", "text": text}],
                "stop_reason": if complete { "end_turn" } else { "max_tokens" }, "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output}}),
        }
    }
}
