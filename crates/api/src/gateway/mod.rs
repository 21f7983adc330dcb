//! The model gateway under `/v1`: clients point their base URL at `serve` and use a
//! project key as their API key. OpenAI Chat Completions, OpenAI Responses and Anthropic
//! Messages are taken; a `model` of a configured provider that speaks the same format is
//! forwarded to it as sent (tools, structured output and every other field unchanged),
//! with the provider's key, which the client never sees. The answer — streamed or not —
//! comes back as the provider sent it, while the engine shows the call live as a thread
//! of the calling agent. Errors are each format's own shape.

mod answer;
mod assistant;
mod formats;

use super::AppState;
use agentdeck_engine::gateway::{
    ASSISTANT_MODEL_PREFIX, GatewayOpening, NoUpstream, Redaction, Translation,
};
use agentdeck_model::ErrorBody;
use answer::{Answering, Opening, opened, streamed, whole};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use formats::Format;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// A request body's bound: a long conversation with images inlined.
pub(crate) const BODY_LIMIT: usize = 32 * 1024 * 1024;
/// How much of an upstream error body the reply's error keeps (the client gets it all).
const ERROR_TEXT_CHARS: usize = 2000;
/// Responses chains remembered (response id → the thread it continues).
const CHAINS_KEPT: usize = 100_000;

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

/// A Responses call's id → the thread of its chain, so `previous_response_id` continues
/// the thread the chain began in.
fn chains() -> &'static Mutex<HashMap<String, String>> {
    static CHAINS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    CHAINS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The thread a Responses `previous_response_id` continues, when this server answered it.
fn previous_response(body: &Value, format: Format) -> Option<String> {
    body.get("previous_response_id")
        .and_then(Value::as_str)
        .filter(|_| format == Format::Responses)
        .and_then(|id| agentdeck_model::sync::lock(chains()).get(id).cloned())
}

fn remember_chain(response_id: &str, thread_id: &str) {
    let mut chains = agentdeck_model::sync::lock(chains());
    if chains.len() >= CHAINS_KEPT {
        chains.clear();
    }
    chains.insert(response_id.to_string(), thread_id.to_string());
}

pub async fn chat_completions(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, request, Format::Chat)
        .await
        .unwrap_or_else(|response| response)
}

pub async fn responses(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, request, Format::Responses)
        .await
        .unwrap_or_else(|response| response)
}

pub async fn messages(State(state): State<AppState>, request: Request) -> Response {
    forward(&state, request, Format::Messages)
        .await
        .unwrap_or_else(|response| response)
}

/// `GET /v1/models`: the models the config's providers claim by name (globs are not
/// models) and the project's assistants as `assistant/NAME`, in OpenAI's list shape.
pub async fn models(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let caller = match crate::extract::Caller::authenticate(&mut parts, &state, true).await {
        Ok(caller) => caller,
        Err(err) => return Format::Chat.error(err.status, "invalid_api_key", err.body.message),
    };
    let config = state.engine.config();
    let mut data = Vec::new();
    for (name, provider) in &config.providers {
        for model in provider.models.iter().filter(|m| !m.contains(['*', '?'])) {
            data.push(serde_json::json!({
                "id": model, "object": "model", "created": 0, "owned_by": name,
            }));
        }
    }
    for alias in config.model_aliases.keys() {
        data.push(serde_json::json!({
            "id": alias, "object": "model", "created": 0, "owned_by": "agentdeck",
        }));
    }
    // The project's own assistants answer as models too.
    for assistant in state
        .engine
        .gateway_assistants(&caller.scope)
        .unwrap_or_default()
    {
        data.push(serde_json::json!({
            "id": format!("{ASSISTANT_MODEL_PREFIX}{}", assistant.name), "object": "model",
            "created": assistant.created_at, "owned_by": "agentdeck",
        }));
    }
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

async fn forward(state: &AppState, request: Request, format: Format) -> Result<Response, Response> {
    let (mut parts, body) = request.into_parts();
    // Anthropic's SDK sends its key as `x-api-key`.
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        if let Some(key) = parts.headers.get("x-api-key").cloned() {
            let bearer = format!("Bearer {}", key.to_str().unwrap_or_default());
            if let Ok(value) = HeaderValue::from_str(&bearer) {
                parts.headers.insert(header::AUTHORIZATION, value);
            }
        }
    }
    let caller = crate::extract::Caller::authenticate(&mut parts, state, true)
        .await
        .map_err(|err| format.error(err.status, "invalid_api_key", err.body.message))?;
    let project = caller.scope.project().map(str::to_string).ok_or_else(|| {
        format.error(
            StatusCode::BAD_REQUEST,
            "project_required",
            "Gateway calls belong to a project: use a project key (or the admin key with an OpenAI-Project header).",
        )
    })?;
    let bytes = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        format.error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!(
                "The request body is over {} MiB.",
                BODY_LIMIT / (1024 * 1024)
            ),
        )
    })?;
    let mut body: Value = serde_json::from_slice(&bytes).map_err(|err| {
        format.error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("The body is not JSON: {err}"),
        )
    })?;
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format.error(
                StatusCode::BAD_REQUEST,
                "missing_model",
                "The request names no `model`.",
            )
        })?
        .to_string();
    let stream = body.get("stream").and_then(Value::as_bool) == Some(true);
    if let Some(name) = model.strip_prefix(ASSISTANT_MODEL_PREFIX) {
        let request = assistant::AssistantRequest {
            name: name.to_string(),
            model: model.clone(),
            asked: format.asked(&body),
            conversation: conversation(&parts.headers, &body),
            continues: previous_response(&body, format),
            stream,
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true),
        };
        return assistant::answer(state, &caller.scope, format, request).await;
    }
    let resolved = state.engine.config().resolve_model(&model).to_string();
    let upstream_call = match state.engine.gateway_upstream(&model) {
        Ok(upstream) => upstream,
        Err(NoUpstream::UnknownModel) => {
            return Err(format.error(
                StatusCode::NOT_FOUND,
                "model_not_found",
                format!("The model `{model}` does not exist: no provider in the config claims it."),
            ));
        }
        Err(NoUpstream::Local { provider }) => {
            return Err(format.error(
                StatusCode::BAD_REQUEST,
                "model_not_supported",
                format!(
                    "The model `{model}` is served by provider '{provider}', the built-in local model, which the gateway does not forward to."
                ),
            ));
        }
        Err(NoUpstream::NoBaseUrl { provider }) => {
            return Err(format.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "provider_unconfigured",
                format!("Provider '{provider}' has no base_url."),
            ));
        }
    };
    body["model"] = Value::String(resolved.clone());
    // Usage is what cost and limits count: asked of a Chat provider always, passed on to
    // the client only if it asked (the other formats always stream it).
    let client_wants_usage = body
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    if stream && format == Format::Chat {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    let (agent, conversation) = (
        agent_name(&parts.headers, &body),
        conversation(&parts.headers, &body),
    );
    let continues = previous_response(&body, format);
    // What the operator sees is what the client asked; what the provider gets is
    // redacted, when `[gateway] privacy` asks for it.
    let answered = format.answered(&body);
    let asked = format.asked(&body);
    let mut redaction = Redaction::new(&state.engine.config().gateway.privacy);
    if let Some(redaction) = redaction.as_mut() {
        redaction.redact_request(format.wire(), &mut body);
    }
    let restorer = redaction
        .filter(Redaction::replaced_any)
        .map(|redaction| redaction.restorer(format.wire()));
    // A provider of another format gets the request in its own, and its answer is
    // written back in the client's.
    let translated = upstream_call.wire != format.wire();
    let (upstream_body, translation) = if translated {
        let upstream_body =
            Translation::request_body(format.wire(), upstream_call.wire, &body, &resolved);
        let id = agentdeck_model::new_id("msg_");
        let translation = Translation::new(format.wire(), upstream_call.wire, &id, &model);
        (upstream_body, Some(translation))
    } else {
        (body, None)
    };
    let opening = GatewayOpening {
        project_id: project.clone(),
        agent,
        conversation,
        continues,
        wire: format.wire(),
        model: resolved.clone(),
        asked,
        redacted: restorer.is_some(),
        answered,
    };
    let refused = |err: agentdeck_engine::EngineError| {
        let err = crate::error::ApiError::from(err);
        let code = err.body.code.as_deref().unwrap_or("gateway_error");
        format.error(err.status, code, err.body.message)
    };
    state.engine.gateway_budget(&project).map_err(refused)?;
    let in_flight = state.engine.gateway_admit(&project).map_err(refused)?;
    // The client's own Anthropic version and beta flags go on as it sent them, in place
    // of the provider's default.
    let client_sent =
        |name: &str| format == Format::Messages && !translated && parts.headers.contains_key(name);
    let mut upstream_request = upstream().post(&upstream_call.url).json(&upstream_body);
    for (name, value) in &upstream_call.headers {
        if !client_sent(name) {
            upstream_request = upstream_request.header(*name, value);
        }
    }
    for name in ["anthropic-version", "anthropic-beta"] {
        if let Some(value) = parts.headers.get(name).filter(|_| client_sent(name)) {
            upstream_request = upstream_request.header(name, value.as_bytes());
        }
    }
    // The call opens in the workspace while the provider answers: the client's first
    // bytes do not wait for the thread to be written (a stream opens it behind them).
    // A task of its own: a client leaving early cannot cut the opening off half-way.
    let engine = state.engine.clone();
    let open: Opening = tokio::spawn(async move { engine.open_gateway_call(opening).await });
    let idle = upstream_call.idle_timeout;
    let sent = tokio::time::timeout(idle, upstream_request.send()).await;
    let answer = match sent {
        Ok(Ok(answer)) => answer,
        failed => {
            let message = match failed {
                Ok(Err(err)) => format!(
                    "The provider '{}' could not be reached: {err}",
                    upstream_call.provider
                ),
                _ => format!(
                    "The provider '{}' did not answer within {} s.",
                    upstream_call.provider,
                    idle.as_secs_f64()
                ),
            };
            let call = opened(open).await.map_err(refused)?;
            call.finish(Some(error_body("upstream_unreachable", &message)))
                .await;
            return Err(format.error(StatusCode::BAD_GATEWAY, "upstream_unreachable", message));
        }
    };
    let status = answer.status();
    let passed_headers = passed_headers(answer.headers());
    if !status.is_success() {
        let text = tokio::time::timeout(idle, answer.text())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let text = match &restorer {
            Some(restorer) => restorer.text(&text),
            None => text,
        };
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| text.chars().take(ERROR_TEXT_CHARS).collect());
        let call = opened(open).await.map_err(refused)?;
        call.finish(Some(error_body(
            "upstream_error",
            &format!("The provider answered {}: {message}", status.as_u16()),
        )))
        .await;
        let response = if translated {
            // The client's SDK reads errors in its own format.
            let mut response = format.error(status, "upstream_error", message);
            response
                .headers_mut()
                .extend(retry_headers(&passed_headers));
            response
        } else {
            let mut response = (status, text).into_response();
            response.headers_mut().extend(passed_headers);
            response
        };
        return Ok(response);
    }
    let answering = Answering {
        format,
        restorer,
        holds: !state.engine.config().gateway.hold_tools.is_empty(),
        translation,
        idle,
        in_flight,
    };
    let mut response = if stream {
        streamed(open, answer, answering, client_wants_usage)
    } else {
        whole(opened(open).await.map_err(refused)?, answer, answering).await?
    };
    let passed_headers = if translated {
        retry_headers(&passed_headers)
    } else {
        passed_headers
    };
    response.headers_mut().extend(passed_headers);
    Ok(response)
}

/// The provider's headers a client reads: its content type, rate limits, request id.
fn passed_headers(headers: &reqwest::header::HeaderMap) -> HeaderMap {
    let mut passed = HeaderMap::new();
    for (name, value) in headers {
        let name_text = name.as_str();
        let pass = name_text.starts_with("x-ratelimit-")
            || name_text.starts_with("anthropic-ratelimit-")
            || matches!(
                name_text,
                "retry-after" | "x-request-id" | "request-id" | "content-type"
            );
        if pass {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name_text.as_bytes()),
                HeaderValue::from_bytes(value.as_bytes()),
            ) {
                passed.insert(name, value);
            }
        }
    }
    passed
}

/// The provider's headers that mean the same in every format: its rate limits' retry
/// advice (a translated answer's other headers are the provider's format's own).
fn retry_headers(passed: &HeaderMap) -> HeaderMap {
    passed
        .iter()
        .filter(|(name, _)| name.as_str() == "retry-after")
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
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

fn error_body(code: &str, message: &str) -> ErrorBody {
    ErrorBody {
        message: message.to_string(),
        kind: "server_error".into(),
        code: Some(code.into()),
        param: None,
    }
}
