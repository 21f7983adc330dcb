//! Server-Sent Events: a thread's events, everything a key may see, and one reply.
//!
//! Every event carries its log id; `Last-Event-ID` (header or `last_event_id` query) resumes
//! exactly after it. A `: ping` comment every 15 s keeps idle connections open.

use super::extract::{Caller, Params};
use super::{ApiError, ApiResult, AppState};
use crate::engine::EventFilter;
use crate::model::{Event, EventKind};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;

fn to_sse(event: &Event) -> SseEvent {
    SseEvent::default()
        .id(event.id.to_string())
        .event(event.kind.as_str())
        .data(event.data.to_string())
}

fn respond(
    keepalive: std::time::Duration,
    stream: impl Stream<Item = Arc<Event>> + Send + 'static,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    Sse::new(stream.map(|event| Ok(to_sse(&event))))
        .keep_alive(KeepAlive::new().interval(keepalive).text("ping"))
}

fn last_event_id(headers: &HeaderMap, params: &Params) -> ApiResult<Option<u64>> {
    let text = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().unwrap_or("").trim().to_string()),
        None => params.get("last_event_id").map(str::to_string),
    };
    match text {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => text.parse::<u64>().map(Some).map_err(|_| {
            ApiError::invalid(
                "Last-Event-ID must be an event id (a number).",
                Some("Last-Event-ID".into()),
            )
        }),
    }
}

pub async fn thread_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<impl axum::response::IntoResponse> {
    let thread = state.engine.thread(&caller.scope, &id)?;
    let after = last_event_id(&headers, &params)?;
    let filter = EventFilter {
        thread_id: Some(thread.id),
        ..Default::default()
    };
    Ok(respond(
        state.sse_keepalive,
        state.engine.bus().subscribe(filter, after),
    ))
}

pub async fn all_events(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<impl axum::response::IntoResponse> {
    let after = last_event_id(&headers, &params)?;
    let thread_id = params.get("thread_id").filter(|s| !s.is_empty());
    if let Some(thread_id) = thread_id {
        state.engine.thread(&caller.scope, thread_id)?;
    }
    let assistant_id = params.get("assistant_id").filter(|s| !s.is_empty());
    if let Some(assistant_id) = assistant_id {
        state.engine.assistant(&caller.scope, assistant_id)?;
    }
    if let Some(project) = caller.scope.project() {
        state.engine.project(&caller.scope, project)?;
    }
    let filter = EventFilter {
        project_id: caller.scope.project().map(str::to_string),
        thread_id: thread_id.map(str::to_string),
        assistant_id: assistant_id.map(str::to_string),
        message_id: None,
    };
    Ok(respond(
        state.sse_keepalive,
        state.engine.bus().subscribe(filter, after),
    ))
}

/// The events of one reply, from `after`, ending with its `done`.
fn until_done(
    stream: impl Stream<Item = Arc<Event>> + Send + 'static,
    message_id: String,
) -> impl Stream<Item = Arc<Event>> + Send + 'static {
    async_stream::stream! {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            let done = event.kind == EventKind::Done && event.message_id.as_deref() == Some(message_id.as_str());
            yield event;
            if done {
                break;
            }
        }
    }
}

/// The answer to `POST .../messages?stream=true`: the thread's events from just before the
/// post until the reply is done.
pub fn reply_stream(
    state: &AppState,
    thread_id: &str,
    reply_id: &str,
    after: u64,
) -> impl axum::response::IntoResponse {
    let filter = EventFilter {
        thread_id: Some(thread_id.to_string()),
        ..Default::default()
    };
    let events = state.engine.bus().subscribe(filter, Some(after));
    respond(
        state.sse_keepalive,
        until_done(events, reply_id.to_string()),
    )
}

pub async fn message_stream(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, msg_id)): Path<(String, String)>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let message = state.engine.message(&caller.scope, &id, &msg_id)?;
    let store = state.engine.store();
    let first = store
        .message_first_event(&message.id)
        .map_err(|e| ApiError::from(crate::engine::EngineError::from(e)))?;
    let after = match last_event_id(&headers, &params)? {
        Some(id) => id,
        None => first.map_or(0, |id| id.saturating_sub(1)),
    };
    let filter = EventFilter {
        thread_id: Some(message.thread_id.clone()),
        message_id: Some(message.id.clone()),
        ..Default::default()
    };
    if message.role != crate::model::Role::Assistant {
        // Only replies stream; any other message replays what was logged of it and ends.
        let upto = state.engine.bus().last_id();
        return Ok(respond(
            state.sse_keepalive,
            state.engine.bus().replay(filter, after, upto),
        )
        .into_response());
    }
    // Every reply's log ends with `done` (replies cut by a crash get theirs on restart).
    let events = state.engine.bus().subscribe(filter, Some(after));
    Ok(respond(state.sse_keepalive, until_done(events, message.id.clone())).into_response())
}
