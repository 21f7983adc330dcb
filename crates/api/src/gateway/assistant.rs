//! `model = "assistant/NAME"` on the gateway: one of the project's assistants answers.
//! Its reply runs as any reply does (instructions, tools, memory, approvals, routes); its
//! text reaches the client in the client's format — streamed from the reply's
//! `message.delta` events, or whole once it is done. The tools it calls are its own; the
//! client sees the answer.

use super::AppState;
use super::answer::{KEEP_ALIVE, sse_frame};
use super::formats::Format;
use agentdeck_engine::gateway::Renderer;
use agentdeck_engine::{EventFilter, Scope};
use agentdeck_model::{EventKind, Message, MessageStatus};
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;

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
    let mut renderer = Renderer::new(format.wire(), &reply_id, &request.model);
    if format == Format::Responses {
        super::remember_chain(renderer.id(), &call.thread_id);
    }
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
        renderer.text(&reply.text());
        renderer.usage(reply.usage.input_tokens, reply.usage.output_tokens);
        return Ok(axum::Json(renderer.whole()).into_response());
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
        loop {
            let batch = match tokio::time::timeout(KEEP_ALIVE, events.next()).await {
                Ok(Some(batch)) => batch,
                Ok(None) => break,
                // An approval or a long tool call: the client hears the stream is alive.
                Err(_) => {
                    yield Ok::<Bytes, std::io::Error>(Bytes::from_static(b": keep-alive\n\n"));
                    continue;
                }
            };
            for event in batch {
                let rendered = match event.kind {
                    EventKind::MessageDelta => {
                        let Some(delta) = frame_data(&event.frame)
                            .and_then(|d| d.get("delta")?.as_str().map(str::to_string))
                        else {
                            continue;
                        };
                        renderer.text(&delta)
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
                        renderer.usage(reply.usage.input_tokens, reply.usage.output_tokens);
                        renderer.finish()
                    }
                    _ => continue,
                };
                let ending = event.kind == EventKind::MessageCompleted;
                for frame in rendered {
                    if include_usage || !format.is_usage_only(&frame.data) {
                        yield Ok(Bytes::from(sse_frame(&frame)));
                    }
                }
                if ending {
                    return;
                }
            }
        }
    };
    Ok(crate::sse::event_stream(frames))
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
