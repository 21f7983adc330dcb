//! The model gateway under `/v1`: clients that speak OpenAI's Chat Completions point their
//! base URL at `serve` and their key is a project key. A `model` of a configured
//! `openai-chat` provider is forwarded to it as sent (tools, structured output and every
//! other field unchanged), with the provider's key, which the client never sees; the
//! answer — streamed or not — comes back as the provider sent it, while the engine shows
//! the call live as a thread of the calling agent. Errors are OpenAI's shape.

use super::AppState;
use crate::error::ApiError;
use agentdeck_engine::gateway::{GatewayCall, GatewayOpening};
use agentdeck_model::ErrorBody;
use agentdeck_model::config::ProviderKind;
use agentdeck_model::sse::{SseEvent, SseParser};
use agentdeck_providers::http::WireFormat;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::Duration;

/// A request body's bound: a long conversation with images inlined.
pub(crate) const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// An upstream error body kept for the reply's error (the client gets all of it).
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The upstream HTTP client: one pool for every call.
fn upstream() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default()
    })
}

fn openai_error(
    status: StatusCode,
    kind: &str,
    code: &str,
    message: impl Into<String>,
) -> Response {
    let body = serde_json::json!({"error": {
        "message": message.into(), "type": kind, "param": null, "code": code,
    }});
    (status, axum::Json(body)).into_response()
}

pub async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    match forward_chat(&state, request).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

async fn forward_chat(state: &AppState, request: Request) -> Result<Response, Response> {
    let (mut parts, body) = request.into_parts();
    let caller = crate::extract::Caller::authenticate(&mut parts, state, true)
        .await
        .map_err(IntoResponse::into_response)?;
    let project = caller.scope.project().map(str::to_string).ok_or_else(|| {
        openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "project_required",
            "Gateway calls belong to a project: use a project key (or the admin key with an OpenAI-Project header).",
        )
    })?;
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        openai_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!(
                "The request body is over {} MiB.",
                BODY_LIMIT / (1024 * 1024)
            ),
        )
    })?;
    let mut body: Value = serde_json::from_slice(&bytes).map_err(|err| {
        openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            format!("The body is not JSON: {err}"),
        )
    })?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            openai_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "missing_model",
                "The request names no `model`.",
            )
        })?
        .to_string();
    let config = state.engine.config();
    let resolved = config.resolve_model(&model).to_string();
    let Some((provider_name, provider)) = config.provider_for(&resolved) else {
        return Err(openai_error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "model_not_found",
            format!("The model `{model}` does not exist: no provider in the config claims it."),
        ));
    };
    if provider.kind != ProviderKind::OpenaiChat {
        return Err(openai_error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "model_not_supported",
            format!(
                "The model `{model}` is served by provider '{provider_name}', which does not speak Chat Completions; the gateway forwards chat calls to openai-chat providers only."
            ),
        ));
    }
    let Some(base_url) = provider.base_url.as_deref().filter(|u| !u.is_empty()) else {
        return Err(openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "provider_unconfigured",
            format!("Provider '{provider_name}' has no base_url."),
        ));
    };
    let key = provider
        .api_key_env
        .as_deref()
        .and_then(|name| std::env::var(name).ok());
    body["model"] = Value::String(resolved.clone());
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    // Usage is what the cost and limits count: asked of the provider always, passed to
    // the client only if it asked.
    let client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    if stream {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    let (agent, conversation) = (
        agent_name(&parts.headers, &body),
        conversation(&parts.headers, &body),
    );
    let opening = GatewayOpening {
        project_id: &project,
        agent: &agent,
        conversation: conversation.as_deref(),
        format: "chat.completions",
        model: &resolved,
        asked: newest_user_text(&body),
    };
    let call = state
        .engine
        .open_gateway_call(opening)
        .await
        .map_err(|err| ApiError::from(err).into_response())?;
    let mut upstream_request = upstream()
        .post(format!(
            "{}/chat/completions",
            base_url.trim_end_matches('/')
        ))
        .json(&body);
    if let Some(key) = &key {
        upstream_request = upstream_request.bearer_auth(key);
    }
    let answer = match upstream_request.send().await {
        Ok(answer) => answer,
        Err(err) => {
            let message = format!("The provider '{provider_name}' could not be reached: {err}");
            call.finish(Some(error_body("upstream_unreachable", &message)))
                .await;
            return Err(openai_error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_unreachable",
                message,
            ));
        }
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let passed_headers = rate_limit_headers(answer.headers());
    if !status.is_success() {
        let text = answer.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.chars().take(ERROR_BODY_LIMIT).collect());
        call.finish(Some(error_body(
            "upstream_error",
            &format!("The provider answered {}: {message}", status.as_u16()),
        )))
        .await;
        let mut response = (status, text).into_response();
        if let Some(content_type) = content_type {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type);
        }
        response.headers_mut().extend(passed_headers);
        return Ok(response);
    }
    let mut response = if stream {
        streamed(call, answer, client_wants_usage).into_response()
    } else {
        whole(call, answer).await?
    };
    response.headers_mut().extend(passed_headers);
    Ok(response)
}

/// A streamed answer: each SSE event goes to the client as it comes and into the call.
fn streamed(
    mut call: GatewayCall,
    answer: reqwest::Response,
    client_wants_usage: bool,
) -> Response {
    let mut upstream = answer.bytes_stream();
    let events = async_stream::stream! {
        let mut parser = SseParser::new();
        let mut decoder = agentdeck_providers::openai_chat::OpenAiChat.decoder();
        let mut parsed = Vec::new();
        let mut failure: Option<ErrorBody> = None;
        while let Some(chunk) = upstream.next().await {
            let bytes = match chunk {
                Ok(bytes) => bytes,
                Err(err) => {
                    let message = format!("The provider's stream broke off: {err}");
                    failure = Some(error_body("upstream_error", &message));
                    // Chat Completions' own error event, so the client's SDK raises it.
                    let event = serde_json::json!({"error": {
                        "message": message, "type": "server_error", "param": null, "code": "upstream_error",
                    }});
                    yield Ok::<Bytes, std::io::Error>(Bytes::from(format!("data: {event}\n\n")));
                    break;
                }
            };
            parser.feed(&bytes, &mut parsed);
            for event in parsed.drain(..) {
                match decoder.event(&event) {
                    Ok(model_events) => {
                        for model_event in model_events {
                            call.apply(model_event);
                        }
                    }
                    Err(err) => {
                        failure.get_or_insert_with(|| error_body("upstream_error", &err.message));
                    }
                }
                if !client_wants_usage && is_usage_only(&event) {
                    continue;
                }
                yield Ok(Bytes::from(format!("data: {}\n\n", event.data)));
            }
        }
        if failure.is_none() {
            if let Err(err) = decoder.end() {
                failure = Some(error_body("upstream_error", &err.message));
            }
        }
        call.finish(failure).await;
    };
    let mut response = Body::from_stream(events).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// A whole answer: read, recorded, passed on unchanged.
async fn whole(mut call: GatewayCall, answer: reqwest::Response) -> Result<Response, Response> {
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = match answer.bytes().await {
        Ok(bytes) => bytes,
        Err(err) => {
            let message = format!("The provider's answer broke off: {err}");
            call.finish(Some(error_body("upstream_error", &message)))
                .await;
            return Err(openai_error(
                StatusCode::BAD_GATEWAY,
                "server_error",
                "upstream_error",
                message,
            ));
        }
    };
    if let Ok(completion) = serde_json::from_slice::<Value>(&bytes) {
        for event in completion_events(&completion) {
            call.apply(event);
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

/// A whole completion as the events a stream of it would have carried.
fn completion_events(completion: &Value) -> Vec<agentdeck_providers::ModelEvent> {
    use agentdeck_providers::ModelEvent;
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
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (index, call) in calls.iter().enumerate() {
        events.push(ModelEvent::ToolCallStart {
            index,
            id: call
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        });
        if let Some(arguments) = call.pointer("/function/arguments").and_then(Value::as_str) {
            events.push(ModelEvent::ToolCallArguments {
                index,
                delta: arguments.to_string(),
            });
        }
    }
    if let Some(usage) = completion.get("usage") {
        let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
        events.push(ModelEvent::Usage {
            input_tokens: count("prompt_tokens"),
            output_tokens: count("completion_tokens"),
        });
    }
    events
}

/// The usage chunk a stream ends with when `include_usage` is on: no choices, a usage.
fn is_usage_only(event: &SseEvent) -> bool {
    serde_json::from_str::<Value>(&event.data).is_ok_and(|chunk| {
        chunk.get("usage").is_some_and(|u| !u.is_null())
            && chunk
                .get("choices")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
    })
}

/// The provider's rate-limit headers, which clients pace themselves by.
fn rate_limit_headers(headers: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut passed = HeaderMap::new();
    for (name, value) in headers {
        let name_text = name.as_str();
        if name_text.starts_with("x-ratelimit-") || name_text == "retry-after" {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name_text.as_bytes()),
                header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                passed.insert(name, value);
            }
        }
    }
    passed
}

/// The calling agent: `X-Agentdeck-Agent`, else the body's `user`, else "gateway".
fn agent_name(headers: &HeaderMap, body: &Value) -> String {
    headers
        .get("x-agentdeck-agent")
        .and_then(|v| v.to_str().ok())
        .or_else(|| body.get("user").and_then(Value::as_str))
        .filter(|name| !name.trim().is_empty())
        .unwrap_or("gateway")
        .chars()
        .take(128)
        .collect()
}

/// Calls that belong together: `X-Agentdeck-Conversation`, else the body's
/// `metadata.conversation_id`.
fn conversation(headers: &HeaderMap, body: &Value) -> Option<String> {
    headers
        .get("x-agentdeck-conversation")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            body.pointer("/metadata/conversation_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|id| !id.trim().is_empty())
}

/// The newest user message's text (string content, or its text parts).
fn newest_user_text(body: &Value) -> Option<String> {
    let messages = body.get("messages")?.as_array()?;
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))?;
    match user.get("content")? {
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

fn error_body(code: &str, message: &str) -> ErrorBody {
    ErrorBody {
        message: message.to_string(),
        kind: "server_error".into(),
        code: Some(code.into()),
        param: None,
    }
}
