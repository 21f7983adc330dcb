//! The v2 HTTP API (SPEC §3) on axum: routes, auth, errors and SSE.

mod error;
mod extract;
mod gateway;
mod otlp;
mod rate;
mod screen;
mod sse;

pub use screen::{json_answer, screen as screen_request_line};

pub use error::ApiError;
pub use extract::BODY_LIMIT;

use agentdeck_engine::Engine;
use agentdeck_model::requests::{
    ApproveRequest, AssistantCreate, AssistantPatch, DenyRequest, KeyCreate, MessageCreate,
    ProjectCreate, ProjectPatch, ThreadCreate, ThreadPatch, VectorStoreCreate, VectorStoreFileAdd,
};
use agentdeck_model::{EVENT_ID_HEADER, ThreadQuery};
use agentdeck_model::{HasId, List, ThreadStatus};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use extract::{Caller, JsonBody, OptionalJsonBody, Params, Path};

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    /// SHA-256 of the admin key.
    pub admin_key_hash: String,
    /// How often idle SSE streams get a `: ping` comment.
    pub sse_keepalive: std::time::Duration,
    /// Request rate limits of project keys.
    pub rates: std::sync::Arc<rate::KeyRates>,
    /// Spans per second each project may send to the OTLP receiver.
    pub span_rates: std::sync::Arc<rate::KeyRates>,
    /// Uploads being received at once, at most [`UPLOADS_AT_ONCE`]; the others wait.
    pub uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Uploads received at once (each streams to disk; the others wait their turn).
pub const UPLOADS_AT_ONCE: usize = 4;
/// How long an upload waits for its turn before it is told to come back.
const UPLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl AppState {
    pub fn new(engine: Engine, admin_key_hash: String, sse_keepalive: std::time::Duration) -> Self {
        let limits = engine.config().api;
        let rates = std::sync::Arc::new(rate::KeyRates::new(
            limits.requests_per_second,
            limits.request_burst,
        ));
        let otlp = engine.config().otlp;
        let span_rates = std::sync::Arc::new(rate::KeyRates::new(
            otlp.spans_per_second,
            (otlp.spans_per_second * 2.0).clamp(1.0, f64::from(u32::MAX)) as u32,
        ));
        AppState {
            engine,
            admin_key_hash,
            sse_keepalive,
            rates,
            span_rates,
            uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

pub fn router(state: AppState) -> Router {
    // An upload may be as large as the file limit and its multipart framing.
    let upload_limit = usize::try_from(state.engine.config().limits.max_file_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/traces", post(otlp::export_traces))
        .route("/v1/chat/completions", post(gateway::chat_completions))
        .route("/v1/responses", post(gateway::responses))
        .route("/v1/messages", post(gateway::messages))
        .route("/v1/models", get(gateway::models))
        .route_service(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            otlp::grpc_service(state.clone()),
        )
        .route("/metrics", get(metrics))
        .route("/v2/projects", post(create_project).get(list_projects))
        .route("/v2/projects/{id}", get(get_project).patch(patch_project))
        .route("/v2/projects/{id}/keys", post(create_key))
        .route("/v2/projects/{id}/limits", get(get_limits))
        .route("/v2/projects/{id}/logs", get(get_logs))
        .route("/v2/projects/{id}/costs", get(get_costs))
        .route(
            "/v2/assistants",
            post(create_assistant).get(list_assistants),
        )
        .route(
            "/v2/assistants/{id}",
            get(get_assistant)
                .patch(patch_assistant)
                .delete(delete_assistant),
        )
        .route(
            "/v2/files",
            post(create_file)
                .get(list_files)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v2/files/{id}", get(get_file).delete(delete_file))
        .route(
            "/v2/vector_stores",
            post(create_vector_store).get(list_vector_stores),
        )
        .route(
            "/v2/vector_stores/{id}",
            get(get_vector_store).delete(delete_vector_store),
        )
        .route("/v2/vector_stores/{id}/files", post(add_vector_store_file))
        .route(
            "/v2/vector_stores/{id}/files/{file_id}",
            axum::routing::delete(remove_vector_store_file),
        )
        .route("/v2/search", get(search))
        .route("/v2/files/{id}/content", get(get_file_content))
        .route("/v2/threads", post(create_thread).get(list_threads))
        .route("/v2/threads/{id}", get(get_thread).patch(patch_thread))
        .route("/v2/threads/{id}/cancel", post(cancel_thread))
        .route("/v2/threads/{id}/memory", get(get_memory))
        .route(
            "/v2/threads/{id}/messages",
            post(post_message).get(list_messages),
        )
        .route("/v2/threads/{id}/messages/{msg_id}", get(get_message))
        .route(
            "/v2/threads/{id}/messages/{msg_id}/stream",
            get(sse::message_stream),
        )
        .route(
            "/v2/threads/{id}/tool_calls/{call_id}/approve",
            post(approve_call),
        )
        .route(
            "/v2/threads/{id}/tool_calls/{call_id}/deny",
            post(deny_call),
        )
        .route(
            "/v2/threads/{id}/tool_calls/{call_id}/output",
            get(get_call_output),
        )
        .route(
            "/v2/threads/{id}/tool_calls/{call_id}/files",
            get(list_call_files),
        )
        .route(
            "/v2/threads/{id}/tool_calls/{call_id}/files/{*name}",
            get(get_call_file),
        )
        .route("/v2/threads/{id}/events", get(sse::thread_events))
        .route("/v2/events", get(sse::all_events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            (upload_limit, state.engine.config().otlp.max_body_bytes),
            extract::refuse_oversize,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            durable_changes,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// One line per request at info: method, path (not the query, which may hold what
/// someone searched for), status and how long the answer took to start.
async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path: String = request.uri().path().chars().take(256).collect();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        target: "agentdeck::http",
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    response
}

/// A change the API answers as done is on disk first: every successful request that
/// is not a read waits for [`Engine::durable`] before its answer goes out.
async fn durable_changes(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
    );
    // A gateway call's answer is the provider's: the client does not wait for the
    // workspace's record of it to reach the disk (it is written as a run's is).
    let path = request.uri().path();
    let gateway = path.starts_with("/v1/") && path != "/v1/traces";
    let response = next.run(request).await;
    if reads || gateway || !response.status().is_success() {
        return response;
    }
    match state.engine.durable().await {
        Ok(()) => response,
        Err(err) => ApiError::from(err).into_response(),
    }
}

async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let path: String = uri.path().chars().take(200).collect();
    if path == "/v2" || path.starts_with("/v2/") {
        ApiError::not_found(format!(
            "There is no route {method} {path}. The v2 routes begin /v2/projects, /v2/assistants, /v2/threads, /v2/files, /v2/vector_stores, /v2/search and /v2/events (SPEC §3)."
        ))
    } else {
        ApiError::not_found(format!(
            "There is no route {method} {path}. The API lives under /v2 (SPEC §3)."
        ))
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        "This route does not accept that method.",
    )
}

/// Prometheus (OpenMetrics) text; the admin key only.
async fn metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    caller.require_admin()?;
    let text = state.engine.metrics_text()?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

/// Pages a list already sorted newest first, the way every list endpoint pages.
fn page<T: HasId>(mut items: Vec<T>, params: &Params) -> ApiResult<List<T>> {
    let limit = params.limit(20, 1000)?;
    if params.ascending()? {
        items.reverse();
    }
    if let Some(after) = params.get("after") {
        let Some(position) = items.iter().position(|item| item.id() == after) else {
            return Err(ApiError::not_found(format!(
                "No object found with id '{after}' to page after."
            )));
        };
        items.drain(..=position);
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    Ok(List::new(items, has_more))
}

/// What the project's assistants cost so far, most first, and the project's total.
async fn get_costs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let costs = state.engine.costs(&caller.scope, &id)?;
    let total = state.engine.limits(&caller.scope, &id)?.estimated_cost;
    let data: Vec<serde_json::Value> = costs
        .into_iter()
        .map(|(assistant_id, threads, cost)| {
            let name = state
                .engine
                .assistant(&caller.scope, &assistant_id)
                .map(|a| a.name)
                .unwrap_or_default();
            serde_json::json!({"object": "assistant.cost", "assistant_id": assistant_id,
                "name": name, "threads": threads, "estimated_cost": cost})
        })
        .collect();
    Ok(
        Json(serde_json::json!({"object": "list", "data": data, "estimated_cost": total}))
            .into_response(),
    )
}

/// The project's newest telemetry events (`limit`, default 100, at most 1000), newest
/// first.
async fn get_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let limit = params.limit(100, 1000)?;
    let events = state.engine.logs(&caller.scope, &id, limit)?;
    Ok(
        Json(serde_json::json!({"object": "list", "data": events, "has_more": false}))
            .into_response(),
    )
}

async fn create_project(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ProjectCreate>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    let project = state.engine.create_project(body)?;
    Ok((StatusCode::OK, Json(project)).into_response())
}

async fn list_projects(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let projects = state.engine.list_projects(&caller.scope)?;
    Ok(Json(page(projects, &params)?).into_response())
}

async fn get_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.project(&caller.scope, &id)?).into_response())
}

async fn patch_project(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProjectPatch>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    Ok(Json(state.engine.patch_project(&caller.scope, &id, body)?).into_response())
}

async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJsonBody(body): OptionalJsonBody<KeyCreate>,
) -> ApiResult<Response> {
    caller.require_admin()?;
    Ok(Json(
        state
            .engine
            .create_key(&caller.scope, &id, body.name)
            .await?,
    )
    .into_response())
}

async fn get_limits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.limits(&caller.scope, &id)?).into_response())
}

async fn create_assistant(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<AssistantCreate>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.create_assistant(&caller.scope, body)?).into_response())
}

async fn list_assistants(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let assistants = state.engine.list_assistants(&caller.scope)?;
    Ok(Json(page(assistants, &params)?).into_response())
}

async fn get_assistant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.assistant(&caller.scope, &id)?).into_response())
}

async fn patch_assistant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AssistantPatch>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.patch_assistant(&caller.scope, &id, body)?).into_response())
}

async fn delete_assistant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.delete_assistant(&caller.scope, &id)?).into_response())
}

async fn create_thread(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<ThreadCreate>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.create_thread(&caller.scope, body)?).into_response())
}

/// The `status` a thread listing or a search asks for, if any.
fn status_param(params: &Params) -> ApiResult<Option<ThreadStatus>> {
    match params.get("status") {
        None | Some("") => Ok(None),
        Some(text) => ThreadStatus::parse(text).map(Some).ok_or_else(|| {
            ApiError::invalid(
                "status must be one of active, queued, running, requires_action, closed.",
                Some("status".into()),
            )
        }),
    }
}

async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let status = status_param(&params)?;
    let metadata = params
        .0
        .iter()
        .filter_map(|(key, value)| {
            key.strip_prefix("metadata.")
                .map(|k| (k.to_string(), value.clone()))
        })
        .collect();
    let query = ThreadQuery {
        project_id: None,
        assistant_id: params
            .get("assistant_id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status,
        parent_thread_id: params
            .get("parent_thread_id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        metadata,
        q: params
            .get("q")
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string),
        limit: params.limit(20, 1000)?,
        after: params
            .get("after")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        ascending: params.ascending()?,
    };
    // The list is current as of this event id (read first): a client that subscribes from
    // it misses nothing that happened while it listed.
    let as_of = state.engine.bus().last_id();
    let list = state.engine.list_threads(&caller.scope, query)?;
    Ok(([(EVENT_ID_HEADER, as_of.to_string())], Json(list)).into_response())
}

async fn get_thread(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.thread(&caller.scope, &id)?).into_response())
}

async fn get_memory(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.memory(&caller.scope, &id)?).into_response())
}

async fn patch_thread(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ThreadPatch>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.patch_thread(&caller.scope, &id, body).await?).into_response())
}

async fn cancel_thread(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.cancel(&caller.scope, &id).await?).into_response())
}

async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
    JsonBody(body): JsonBody<MessageCreate>,
) -> ApiResult<Response> {
    let stream = params.flag("stream")?;
    // Subscribe before posting, so the stream starts with this message's first event.
    let from = state.engine.bus().last_id();
    let posted = state.engine.post_message(&caller.scope, &id, body).await?;
    if stream {
        let reply = posted.response_message_id.clone().unwrap_or_default();
        return Ok(sse::reply_stream(&state, &id, &reply, from).into_response());
    }
    Ok(Json(posted).into_response())
}

async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    // Only what a crash cannot take back: no commit round is half-written while this reads.
    let _durable = state.engine.bus().committed_view().await;
    let list = state.engine.list_messages(
        &caller.scope,
        &id,
        params.get("after").filter(|s| !s.is_empty()),
        params.limit(20, 1000)?,
        params.ascending()?,
    )?;
    Ok(Json(list).into_response())
}

async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, msg_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let _durable = state.engine.bus().committed_view().await;
    Ok(Json(state.engine.message(&caller.scope, &id, &msg_id)?).into_response())
}

/// `POST /v2/files`: multipart `purpose` and `file` (with its file name). The file
/// streams to disk as it arrives (never whole in memory), a few uploads at a time.
async fn create_file(
    State(state): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    mut form: axum::extract::Multipart,
) -> ApiResult<Response> {
    use tokio::io::AsyncWriteExt;
    let invalid = |message: String| ApiError::invalid(message, Some("file".into()));
    let _turn = match tokio::time::timeout(UPLOAD_WAIT, state.uploads.clone().acquire_owned()).await
    {
        Ok(Ok(permit)) => permit,
        _ => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "too_many_uploads",
                "The server is receiving as many uploads as it takes at once; try again in a moment.",
            ));
        }
    };
    let limit = state.engine.config().limits.max_file_bytes;
    let too_large = || ApiError::too_large(usize::try_from(limit).unwrap_or(usize::MAX));
    // Whatever happens below, a half-written upload does not stay.
    struct Written(Option<std::path::PathBuf>);
    impl Drop for Written {
        fn drop(&mut self) {
            if let Some(path) = self.0.take() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
    let (mut purpose, mut file) = (None, None);
    while let Some(mut field) = form
        .next_field()
        .await
        .map_err(|err| invalid(format!("The multipart body is not valid: {err}")))?
    {
        match field.name() {
            Some("purpose") => {
                purpose = Some(
                    field
                        .text()
                        .await
                        .map_err(|err| invalid(format!("purpose: {err}")))?,
                )
            }
            Some("file") if file.is_none() => {
                let name = field.file_name().unwrap_or("upload").to_string();
                let path = state.engine.upload_path()?;
                let written = Written(Some(path.clone()));
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|err| ApiError::internal(format!("cannot write the upload: {err}")))?;
                let mut bytes: u64 = 0;
                while let Some(chunk) = field.chunk().await.map_err(|err| {
                    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        too_large()
                    } else {
                        invalid(format!("file: {err}"))
                    }
                })? {
                    bytes += chunk.len() as u64;
                    if bytes > limit {
                        return Err(too_large());
                    }
                    out.write_all(&chunk).await.map_err(|err| {
                        ApiError::internal(format!("cannot write the upload: {err}"))
                    })?;
                }
                out.flush()
                    .await
                    .map_err(|err| ApiError::internal(format!("cannot write the upload: {err}")))?;
                file = Some((name, written));
            }
            _ => {}
        }
    }
    let Some((name, mut written)) = file else {
        return Err(invalid("A multipart field `file` is required.".into()));
    };
    let purpose = purpose.unwrap_or_else(|| "assistants".into());
    let project = headers
        .get("openai-project")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let Some(path) = written.0.take() else {
        return Err(ApiError::internal("the upload was lost"));
    };
    let engine = state.engine.clone();
    let scope = caller.scope.clone();
    let file = tokio::task::spawn_blocking(move || {
        engine.create_file_written(&scope, project.as_deref(), &name, &purpose, &path)
    })
    .await
    .map_err(|err| ApiError::internal(format!("the upload could not be kept: {err}")))??;
    Ok(Json(file).into_response())
}

async fn list_files(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let files = state.engine.files(&caller.scope)?;
    Ok(Json(page(files, &params)?).into_response())
}

async fn get_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.file(&caller.scope, &id)?).into_response())
}

async fn delete_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state.engine.delete_file(&caller.scope, &id).await?;
    Ok(Json(deleted(&id, "file")).into_response())
}

fn deleted(id: &str, object: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "object": format!("{object}.deleted"), "deleted": true})
}

async fn create_vector_store(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<VectorStoreCreate>,
) -> ApiResult<Response> {
    let store = state
        .engine
        .create_vector_store(&caller.scope, body)
        .await?;
    Ok(Json(store).into_response())
}

async fn list_vector_stores(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let stores = state.engine.vector_stores(&caller.scope)?;
    Ok(Json(page(stores, &params)?).into_response())
}

async fn get_vector_store(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.engine.vector_store(&caller.scope, &id)?).into_response())
}

async fn delete_vector_store(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    state.engine.delete_vector_store(&caller.scope, &id).await?;
    Ok(Json(deleted(&id, "vector_store")).into_response())
}

async fn add_vector_store_file(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VectorStoreFileAdd>,
) -> ApiResult<Response> {
    let store = state
        .engine
        .add_vector_store_file(&caller.scope, &id, &body.file_id)
        .await?;
    Ok(Json(store).into_response())
}

async fn remove_vector_store_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, file_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let store = state
        .engine
        .remove_vector_store_file(&caller.scope, &id, &file_id)
        .await?;
    Ok(Json(store).into_response())
}

/// `GET /v2/search?q=&assistant_id=&status=&limit=`: matches across every thread the key
/// may see, best first.
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let q = params.get("q").unwrap_or("").trim().to_string();
    if q.is_empty() {
        return Err(ApiError::invalid(
            "q is required: the words to search for.",
            Some("q".into()),
        ));
    }
    if q.chars().count() > 1_000 {
        return Err(ApiError::invalid(
            "q is longer than 1000 characters.",
            Some("q".into()),
        ));
    }
    let status = status_param(&params)?;
    let query = agentdeck_engine::search::SearchQuery {
        q,
        assistant_id: params
            .get("assistant_id")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        status,
        limit: params.limit(20, agentdeck_engine::search::MAX_SEARCH_LIMIT)?,
    };
    let hits = state.engine.search(&caller.scope, query).await?;
    Ok(
        Json(serde_json::json!({"object": "list", "data": hits, "has_more": false}))
            .into_response(),
    )
}

/// A file's bytes, never rendered by a browser (`attachment`, no sniffing).
async fn get_file_content(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let (_, contents) = state.engine.file_contents(&caller.scope, &id)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment"),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        contents,
    )
        .into_response())
}

/// A tool call's whole output (the model may have had only its beginning).
async fn get_call_output(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, call_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let _durable = state.engine.bus().committed_view().await;
    let output = state.engine.whole_output(&caller.scope, &id, &call_id)?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        output,
    )
        .into_response())
}

/// The files a code_interpreter call left in its scratch directory.
async fn list_call_files(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, call_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let files = state
        .engine
        .interpreter_files(&caller.scope, &id, &call_id)?;
    let data: Vec<serde_json::Value> = files
        .into_iter()
        .map(|(name, bytes)| serde_json::json!({"object": "tool_call.file", "name": name, "bytes": bytes}))
        .collect();
    Ok(
        Json(serde_json::json!({"object": "list", "data": data, "has_more": false}))
            .into_response(),
    )
}

/// One of those files, as bytes (never rendered: `attachment`, no sniffing).
async fn get_call_file(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, call_id, name)): Path<(String, String, String)>,
) -> ApiResult<Response> {
    let bytes = state
        .engine
        .interpreter_file(&caller.scope, &id, &call_id, &name)?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/octet-stream"),
            (axum::http::header::CONTENT_DISPOSITION, "attachment"),
            (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}

async fn approve_call(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, call_id)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<ApproveRequest>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .engine
            .approve(&caller.scope, &id, &call_id, body.arguments)
            .await?,
    )
    .into_response())
}

async fn deny_call(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, call_id)): Path<(String, String)>,
    OptionalJsonBody(body): OptionalJsonBody<DenyRequest>,
) -> ApiResult<Response> {
    Ok(Json(
        state
            .engine
            .deny(&caller.scope, &id, &call_id, body.reason)
            .await?,
    )
    .into_response())
}
