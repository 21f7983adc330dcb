//! How an answer reaches the client: a stream event by event (translated, restored, held
//! for the operator when it asks for a held tool) or a whole body, while the call's
//! workspace side is fed the same events.

use super::formats::Format;
use super::{error_body, remember_chain};
use agentdeck_engine::gateway::{AnswerRestorer, GatewayCall, InFlight, Translation};
use agentdeck_model::sse::{SseEvent, SseParser};
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// How an answer reaches the client: in its format, its placeholders restored, held
/// for the operator when it asks for a held tool.
pub(super) struct Answering {
    pub(super) format: Format,
    pub(super) restorer: Option<AnswerRestorer>,
    /// `[gateway] hold_tools` names some: the tool calls a stream starts are looked at.
    pub(super) holds: bool,
    /// The provider speaks another format: its stream is rewritten in the client's.
    pub(super) translation: Option<Translation>,
    /// How long the provider may be silent before the call is given up.
    pub(super) idle: Duration,
    /// The call's place among its project's calls in flight, held until it ends.
    pub(super) in_flight: InFlight,
}

/// What a provider silent for `idle` has done to the call.
pub(super) fn silent(idle: Duration) -> String {
    format!(
        "The provider was silent for {} s; the call was given up.",
        idle.as_secs_f64()
    )
}

/// How often a held stream tells the client it is still there.
pub(super) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A streamed answer: each SSE event goes to the client as it comes and into the call.
/// The client going away drops the stream, and with it the upstream call. From an event
/// that starts a held tool call on, the events are kept until the operator has answered.
pub(super) fn streamed(
    open: Opening,
    answer: reqwest::Response,
    answering: Answering,
    client_wants_usage: bool,
) -> Response {
    let mut upstream = answer.bytes_stream();
    let Answering {
        format,
        mut restorer,
        holds,
        mut translation,
        idle,
        in_flight,
    } = answering;
    let events = async_stream::stream! {
        let _in_flight = in_flight;
        let mut call = Call::Opening(open);
        let mut parser = SseParser::new();
        let mut parsed = Vec::new();
        let mut restored = Vec::new();
        // Events kept back for the operator, from the first that starts a held call.
        let mut held: Option<Vec<SseEvent>> = None;
        let mut ended = false;
        let mut upstream_done = false;
        while !ended && !upstream_done {
            let broke = match tokio::time::timeout(idle, upstream.next()).await {
                Ok(Some(Ok(bytes))) => {
                    parser.feed(&bytes, &mut parsed);
                    None
                }
                Ok(Some(Err(err))) => Some(format!("The provider's stream broke off: {err}")),
                Ok(None) => {
                    upstream_done = true;
                    None
                }
                Err(_) => Some(silent(idle)),
            };
            // A provider of another format: its events become the client's.
            let broke = match translation.as_mut() {
                Some(translation) => {
                    let mut translated: Vec<SseEvent> =
                        parsed.drain(..).flat_map(|e| translation.event(&e)).collect();
                    let mut failure = broke.or_else(|| translation.failure());
                    if upstream_done && failure.is_none() {
                        match translation.end() {
                            Ok(closing) => translated.extend(closing),
                            Err(message) => failure = Some(message),
                        }
                    }
                    parsed = translated;
                    failure
                }
                None => broke,
            };
            if let Some(message) = broke {
                if let Some(open) = call.open().await {
                    open.feed_error(&message);
                }
                call.finish().await;
                yield Ok::<Bytes, std::io::Error>(Bytes::from(format.stream_error(&message)));
                return;
            }
            for event in parsed.drain(..) {
                match restorer.as_mut() {
                    Some(restorer) => restored.extend(restorer.event(event)),
                    None => restored.push(event),
                }
            }
            for event in restored.drain(..) {
                let terminal = format.is_terminal(&event);
                let mut holding = held.is_some();
                if holds && !holding {
                    let started = format.wire().started_tools(&event);
                    holding = !started.is_empty()
                        && call.open().await.is_some_and(|open| open.holds_any_of(&started));
                }
                if holding {
                    if let Some(open) = call.open().await {
                        open.feed(&event);
                    }
                    held.get_or_insert_with(Vec::new).push(event);
                    ended |= terminal;
                    continue;
                }
                let passed = client_wants_usage || !format.is_usage_only(&event.data);
                // Out first, into the reply after; but the end only once the reply has
                // ended, since a client may close the connection as soon as it has it.
                if passed && !terminal {
                    yield Ok(Bytes::from(sse_frame(&event)));
                }
                if let Some(open) = call.open().await {
                    open.feed(&event);
                    if format == Format::Responses && event.event == "response.created" {
                        if let Some(id) = serde_json::from_str::<Value>(&event.data)
                            .ok()
                            .and_then(|v| v.pointer("/response/id")?.as_str().map(str::to_string))
                        {
                            remember_chain(&id, open.thread_id());
                        }
                    }
                }
                if terminal {
                    call.finish().await;
                    if passed {
                        yield Ok(Bytes::from(sse_frame(&event)));
                    }
                    ended = true;
                }
            }
        }
        if let Some(mut held) = held {
            if let Some(restorer) = restorer.as_mut() {
                held.extend(restorer.finish());
            }
            // The operator decides; the client hears the connection is alive meanwhile.
            let mut denied = Vec::new();
            if let Some(open) = call.open().await {
                let decision = open.hold();
                tokio::pin!(decision);
                loop {
                    let decided = tokio::select! {
                        denied = &mut decision => Some(denied),
                        () = tokio::time::sleep(KEEP_ALIVE) => None,
                    };
                    match decided {
                        Some(decided) => {
                            denied = decided;
                            break;
                        }
                        None => yield Ok(Bytes::from_static(b": keep-alive\n\n")),
                    }
                }
            }
            let events = format.wire().deny_events(held, &denied);
            let (body, end): (Vec<_>, Vec<_>) =
                events.into_iter().partition(|event| !format.is_terminal(event));
            for event in body {
                if client_wants_usage || !format.is_usage_only(&event.data) {
                    yield Ok(Bytes::from(sse_frame(&event)));
                }
            }
            call.finish().await;
            for event in end {
                yield Ok(Bytes::from(sse_frame(&event)));
            }
            return;
        }
        // A stream that ended without its terminal event (the call says how it broke).
        call.finish().await;
    };
    crate::sse::event_stream(events)
}

/// The workspace's side of a call being opened.
pub(super) type Opening = tokio::task::JoinHandle<agentdeck_engine::EngineResult<GatewayCall>>;

/// The opened call, once its task has opened it.
pub(super) async fn opened(open: Opening) -> agentdeck_engine::EngineResult<GatewayCall> {
    open.await.unwrap_or_else(|err| {
        Err(agentdeck_engine::EngineError::Conflict(format!(
            "The call could not be opened: {err}"
        )))
    })
}

/// A streamed call's workspace side: opening, open, or ended (or never opened: the
/// stream still reaches the client, the workspace does not see it).
enum Call {
    Opening(Opening),
    Open(Box<GatewayCall>),
    Ended,
}

impl Call {
    async fn open(&mut self) -> Option<&mut GatewayCall> {
        if let Call::Opening(opening) = self {
            let result = opening.await.unwrap_or_else(|err| {
                Err(agentdeck_engine::EngineError::Conflict(format!(
                    "The call could not be opened: {err}"
                )))
            });
            *self = match result {
                Ok(call) => Call::Open(Box::new(call)),
                Err(err) => {
                    tracing::warn!("gateway: the call could not be shown in the workspace: {err}");
                    Call::Ended
                }
            };
        }
        match self {
            Call::Open(call) => Some(call),
            _ => None,
        }
    }

    async fn finish(&mut self) {
        self.open().await;
        if let Call::Open(call) = std::mem::replace(self, Call::Ended) {
            (*call).finish(None).await;
        }
    }
}

/// An SSE event as it came: its type (when it had one) and its data.
pub(super) fn sse_frame(event: &agentdeck_model::sse::SseEvent) -> String {
    let mut frame = String::with_capacity(event.data.len() + event.event.len() + 16);
    if !event.event.is_empty() {
        frame.push_str("event: ");
        frame.push_str(&event.event);
        frame.push('\n');
    }
    for line in event.data.split('\n') {
        frame.push_str("data: ");
        frame.push_str(line);
        frame.push('\n');
    }
    frame.push('\n');
    frame
}

/// A whole answer: read, recorded, passed on unchanged (but for placeholders restored
/// and calls the operator denied).
pub(super) async fn whole(
    mut call: GatewayCall,
    answer: reqwest::Response,
    answering: Answering,
) -> Result<Response, Response> {
    let format = answering.format;
    if let Some(translation) = answering.translation {
        let restorer = answering.restorer;
        let holds = answering.holds;
        return translated_whole(
            call,
            answer,
            restorer,
            holds,
            translation,
            format,
            answering.idle,
        )
        .await;
    }
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = match tokio::time::timeout(answering.idle, answer.bytes()).await {
        Ok(Ok(bytes)) => bytes,
        failed => {
            let message = match failed {
                Ok(Err(err)) => format!("The provider's answer broke off: {err}"),
                _ => silent(answering.idle),
            };
            call.finish(Some(error_body("upstream_error", &message)))
                .await;
            return Err(format.error(StatusCode::BAD_GATEWAY, "upstream_error", message));
        }
    };
    let mut bytes = bytes;
    if let Ok(mut answer) = serde_json::from_slice::<Value>(&bytes) {
        let restorer = answering.restorer.as_ref();
        let denied_any =
            settle_whole(&mut call, &mut answer, restorer, answering.holds, format).await;
        if restorer.is_some() || denied_any {
            bytes = Bytes::from(answer.to_string());
        }
    }
    call.finish(None).await;
    let mut response = (StatusCode::OK, bytes).into_response();
    if let Some(content_type) = content_type {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type);
    }
    Ok(response)
}

/// A whole answer from a provider of another format: its stream read to the end and
/// written whole in the client's format.
async fn translated_whole(
    mut call: GatewayCall,
    answer: reqwest::Response,
    restorer: Option<AnswerRestorer>,
    holds: bool,
    mut translation: Translation,
    format: Format,
    idle: Duration,
) -> Result<Response, Response> {
    let mut upstream = answer.bytes_stream();
    let mut parser = SseParser::new();
    let mut parsed = Vec::new();
    let failure = loop {
        let Ok(next) = tokio::time::timeout(idle, upstream.next()).await else {
            break Some(silent(idle));
        };
        match next {
            Some(Ok(bytes)) => {
                parser.feed(&bytes, &mut parsed);
                for event in parsed.drain(..) {
                    translation.event(&event);
                }
                if let Some(failure) = translation.failure() {
                    break Some(failure);
                }
            }
            Some(Err(err)) => break Some(format!("The provider's answer broke off: {err}")),
            None => break translation.end().err(),
        }
    };
    if let Some(message) = failure {
        call.finish(Some(error_body("upstream_error", &message)))
            .await;
        return Err(format.error(StatusCode::BAD_GATEWAY, "upstream_error", message));
    }
    let mut answer = translation.whole();
    settle_whole(&mut call, &mut answer, restorer.as_ref(), holds, format).await;
    call.finish(None).await;
    Ok(axum::Json(answer).into_response())
}

/// A whole answer made ready for the client and recorded: placeholders restored, into
/// the call, held for the operator if it asks for a held tool (true when a call was
/// denied and the answer rewritten), its Responses chain remembered.
async fn settle_whole(
    call: &mut GatewayCall,
    answer: &mut Value,
    restorer: Option<&AnswerRestorer>,
    holds: bool,
    format: Format,
) -> bool {
    if let Some(restorer) = restorer {
        restorer.whole(answer);
    }
    call.whole(answer);
    let mut denied_any = false;
    if holds && call.asks_for_held_tool() {
        let denied = call.hold().await;
        format.wire().deny_whole(answer, &denied);
        denied_any = !denied.is_empty();
    }
    if let Some(id) = answer
        .get("id")
        .and_then(Value::as_str)
        .filter(|_| format == Format::Responses)
    {
        remember_chain(id, call.thread_id());
    }
    denied_any
}
