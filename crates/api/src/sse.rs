//! Server-Sent Events: a thread's events, everything a key may see, and one reply.
//!
//! Every event carries its id; `Last-Event-ID` (header or `last_event_id` query) resumes
//! exactly after it. Frames are serialised once by the bus and shared by every
//! subscriber; the events ready at once go out as one write. A `: ping` comment every
//! 15 s keeps idle connections open.

use super::extract::{Caller, Params, Path};
use super::{ApiError, ApiResult, AppState};
use agentdeck_engine::{EventFilter, Published};
use agentdeck_model::{EventKind, EventPayload};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use std::convert::Infallible;
use std::sync::Arc;

const PING: &[u8] = b": ping\n\n";

/// An SSE response from batches of published events, with keep-alive comments.
fn respond(
    keepalive: std::time::Duration,
    batches: impl Stream<Item = Vec<Arc<Published>>> + Send + 'static,
) -> Response {
    let body = async_stream::stream! {
        futures::pin_mut!(batches);
        loop {
            let next = tokio::time::timeout(keepalive, batches.next()).await;
            match next {
                Ok(Some(batch)) => {
                    let bytes = match batch.as_slice() {
                        [one] => one.frame.clone(),
                        many => {
                            let mut joined = BytesMut::with_capacity(many.iter().map(|e| e.frame.len()).sum());
                            for event in many {
                                joined.extend_from_slice(&event.frame);
                            }
                            joined.freeze()
                        }
                    };
                    yield Ok::<Bytes, Infallible>(bytes);
                }
                Ok(None) => break,
                Err(_) => yield Ok(Bytes::from_static(PING)),
            }
        }
    };
    event_stream(body)
}

/// A `text/event-stream` answer whose body is `frames`, not cached.
pub(crate) fn event_stream<E>(
    frames: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
) -> Response
where
    E: Into<axum::BoxError> + 'static,
{
    let mut response = Body::from_stream(frames).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The `Last-Event-ID` to resume after: a number this server has handed out. One that
/// is not a number, or is ahead of the newest event, is refused: resuming from it would
/// silently skip what comes until then.
fn last_event_id(state: &AppState, headers: &HeaderMap, params: &Params) -> ApiResult<Option<u64>> {
    let text = match headers.get("last-event-id") {
        Some(value) => Some(value.to_str().unwrap_or("\u{0}").trim().to_string()),
        None => params.get("last_event_id").map(str::to_string),
    };
    let invalid = |message: String| ApiError::invalid(message, Some("Last-Event-ID".into()));
    match text {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => {
            let id = text
                .parse::<u64>()
                .map_err(|_| invalid("Last-Event-ID must be an event id (a number).".into()))?;
            let newest = state.engine.bus().last_id();
            if id > newest {
                return Err(invalid(format!(
                    "Last-Event-ID {id} is ahead of this server's newest event ({newest})."
                )));
            }
            Ok(Some(id))
        }
    }
}

pub async fn thread_events(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let thread = state.engine.thread(&caller.scope, &id)?;
    let after = last_event_id(&state, &headers, &params)?;
    let filter = EventFilter {
        thread_id: Some(thread.id),
        ..Default::default()
    };
    // `live=false`: what was logged (from the start, or after `Last-Event-ID`), then the
    // end — the history of a run, for a trace or a replay.
    if params.get("live") == Some("false") {
        return Ok(respond(
            state.sse_keepalive,
            state.engine.bus().replay(filter, after.unwrap_or(0)),
        ));
    }
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
) -> ApiResult<Response> {
    let after = last_event_id(&state, &headers, &params)?;
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
    stream: impl Stream<Item = Vec<Arc<Published>>> + Send + 'static,
    message_id: String,
) -> impl Stream<Item = Vec<Arc<Published>>> + Send + 'static {
    async_stream::stream! {
        futures::pin_mut!(stream);
        while let Some(mut batch) = stream.next().await {
            let done = batch.iter().position(|event| {
                event.kind == EventKind::Done && event.message_id.as_deref() == Some(message_id.as_str())
            });
            if let Some(at) = done {
                batch.truncate(at + 1);
                yield batch;
                break;
            }
            yield batch;
        }
    }
}

/// The answer to `POST .../messages?stream=true`: the thread's events from just before the
/// post until the reply is done.
pub fn reply_stream(state: &AppState, thread_id: &str, reply_id: &str, after: u64) -> Response {
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
) -> ApiResult<Response> {
    let message = {
        let _durable = state.engine.bus().committed_view().await;
        state.engine.message(&caller.scope, &id, &msg_id)?
    };
    let bus = state.engine.bus();
    let first = state.engine.message_first_event(&message.id)?;
    let resumed = last_event_id(&state, &headers, &params)?;
    let after = match resumed {
        Some(id) => id,
        None => first.map_or(0, |id| id.saturating_sub(1)),
    };
    let filter = EventFilter {
        thread_id: Some(message.thread_id.clone()),
        message_id: Some(message.id.clone()),
        ..Default::default()
    };
    let pruned = first.is_none_or(|first| first < bus.retained_from());
    if message.status.is_final() && pruned && resumed.is_none() {
        // Its events left the log under the retention rule: the message whole, then done.
        // Sent straight to this caller, so no filter looks at its project.
        let unnumbered = |payload: &EventPayload| {
            Arc::new(Published::unnumbered(
                "",
                message.assistant_id.as_deref(),
                payload,
            ))
        };
        let mut batch = vec![unnumbered(&EventPayload::message_completed(&message))];
        if message.role == agentdeck_model::Role::Assistant {
            batch.push(unnumbered(&EventPayload::done(&message)));
        }
        return Ok(respond(state.sse_keepalive, futures::stream::iter([batch])));
    }
    if message.role != agentdeck_model::Role::Assistant {
        // Only replies stream; any other message replays what was logged of it and ends.
        return Ok(respond(state.sse_keepalive, bus.replay(filter, after)));
    }
    // Every reply's log ends with `done` (replies cut by a crash get theirs on restart).
    let events = bus.subscribe(filter, Some(after));
    Ok(respond(
        state.sse_keepalive,
        until_done(events, message.id.clone()),
    ))
}
