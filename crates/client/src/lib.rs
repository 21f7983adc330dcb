//! The typed v2 API client, and SSE subscriptions that reconnect with `Last-Event-ID`.

pub mod demo;
pub mod follow;

use agentdeck_model::requests::{
    ApproveRequest, AssistantCreate, DenyRequest, KeyCreate, KeyCreated, MessageCreate,
    MessagePosted, ProjectCreate, ThreadCreate, ThreadPatch,
};
use agentdeck_model::sse::SseParser;
use agentdeck_model::{
    Assistant, ErrorBody, EventKind, EventPayload, LimitsView, List, Message, Project, Thread,
};
use futures::{Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{status} {}: {}", .body.kind, .body.message)]
    Api { status: u16, body: ErrorBody },
    #[error("cannot reach {url}: {message}")]
    Connection { url: String, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Decode { url: String, message: String },
}

impl ClientError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type ClientResult<T> = Result<T, ClientError>;

/// One event of an SSE stream of the API, decoded into the protocol's enum.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEvent {
    /// `None` for a snapshot, which cannot be resumed from.
    pub id: Option<u64>,
    pub payload: EventPayload,
}

impl ServerEvent {
    /// The SSE event name.
    pub fn name(&self) -> &str {
        self.payload.name()
    }

    pub fn kind(&self) -> EventKind {
        self.payload.kind()
    }

    /// The event's data as JSON, as it came on the wire (for scripts and `--json`).
    pub fn data(&self) -> Value {
        serde_json::from_str(&self.payload.to_json()).unwrap_or(Value::Null)
    }
}

/// An event as it came over SSE, decoded. A snapshot has no id of its own (it cannot be
/// resumed from): its `id` is `None`.
fn decoded(event: agentdeck_model::sse::SseEvent) -> ServerEvent {
    let id = event
        .id
        .as_deref()
        .filter(|_| event.own_id)
        .and_then(|id| id.parse::<u64>().ok());
    ServerEvent {
        id,
        payload: EventPayload::decode(&event.event, &event.data),
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    project: Option<String>,
}

impl Client {
    pub fn new(base_url: &str, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            key: key.to_string(),
            project: None,
        }
    }

    /// Scopes calls to a project (the `OpenAI-Project` header), for the admin key.
    pub fn with_project(mut self, project_id: Option<String>) -> Self {
        self.project = project_id;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The API key it sends.
    pub fn key(&self) -> &str {
        &self.key
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(project) = &self.project {
            request = request.header("OpenAI-Project", project);
        }
        request
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> ClientResult<T> {
        self.send_with_headers(request, path)
            .await
            .map(|(value, _)| value)
    }

    /// Sends a request and decodes its JSON answer, keeping the answer's headers.
    async fn send_with_headers<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> ClientResult<(T, reqwest::header::HeaderMap)> {
        let url = format!("{}{path}", self.base);
        let connection_error = |err: reqwest::Error| ClientError::Connection {
            url: url.clone(),
            message: err.to_string(),
        };
        let response = request.send().await.map_err(connection_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(connection_error)?;
        if !status.is_success() {
            return Err(api_error(status.as_u16(), &bytes));
        }
        let value = serde_json::from_slice(&bytes).map_err(|err| ClientError::Decode {
            url: url.clone(),
            message: err.to_string(),
        })?;
        Ok((value, headers))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.send(self.request(reqwest::Method::GET, path), path)
            .await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> ClientResult<T> {
        self.send(self.request(reqwest::Method::POST, path).json(body), path)
            .await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> ClientResult<T> {
        self.send(self.request(reqwest::Method::PATCH, path).json(body), path)
            .await
    }

    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> ClientResult<T> {
        self.send(self.request(reqwest::Method::DELETE, path), path)
            .await
    }

    pub async fn healthz(&self) -> ClientResult<Value> {
        self.get("/healthz").await
    }

    pub async fn create_project(&self, body: &ProjectCreate) -> ClientResult<Project> {
        self.post("/v2/projects", body).await
    }

    pub async fn list_projects(&self) -> ClientResult<List<Project>> {
        self.get("/v2/projects?limit=1000").await
    }

    pub async fn create_key(
        &self,
        project_id: &str,
        name: Option<String>,
    ) -> ClientResult<KeyCreated> {
        self.post(
            &format!("/v2/projects/{}/keys", enc(project_id)),
            &KeyCreate { name },
        )
        .await
    }

    pub async fn limits(&self, project_id: &str) -> ClientResult<LimitsView> {
        self.get(&format!("/v2/projects/{}/limits", enc(project_id)))
            .await
    }

    /// Uploads a file (`POST /v2/files`, multipart `purpose` and `file`).
    pub async fn upload_file(
        &self,
        name: &str,
        contents: &[u8],
        purpose: &str,
    ) -> ClientResult<agentdeck_model::FileObject> {
        let boundary = format!("agentdeck-{}", agentdeck_model::new_id("b"));
        // The name goes in a quoted header parameter: no quotes or line breaks in it.
        let name: String = name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        let mut body = Vec::with_capacity(contents.len() + 512);
        body.extend_from_slice(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{name}\"\r\ncontent-type: application/octet-stream\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(contents);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .request(reqwest::Method::POST, "/v2/files")
            .header(
                reqwest::header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        self.send(request, "/v2/files").await
    }

    /// The files the key sees, newest first.
    pub async fn list_files(&self) -> ClientResult<List<agentdeck_model::FileObject>> {
        self.get("/v2/files").await
    }

    /// `GET /v2/search`: matches across every thread the key may see, best first.
    pub async fn search(
        &self,
        q: &str,
        assistant_id: Option<&str>,
        status: Option<&str>,
        limit: usize,
    ) -> ClientResult<Vec<agentdeck_model::SearchHit>> {
        let limit = limit.to_string();
        let mut pairs = vec![("q", q), ("limit", limit.as_str())];
        if let Some(id) = assistant_id {
            pairs.push(("assistant_id", id));
        }
        if let Some(status) = status {
            pairs.push(("status", status));
        }
        #[derive(serde::Deserialize)]
        struct Hits {
            data: Vec<agentdeck_model::SearchHit>,
        }
        let hits: Hits = self
            .get(&format!("/v2/search?{}", query_string(&pairs)))
            .await?;
        Ok(hits.data)
    }

    /// What a project's assistants cost: `{data: [{assistant_id, name, threads,
    /// estimated_cost}], estimated_cost}`.
    pub async fn costs(&self, project_id: &str) -> ClientResult<Value> {
        self.get(&format!("/v2/projects/{}/costs", enc(project_id)))
            .await
    }

    pub async fn memory(
        &self,
        thread_id: &str,
    ) -> ClientResult<agentdeck_model::memory::MemoryView> {
        self.get(&format!("/v2/threads/{}/memory", enc(thread_id)))
            .await
    }

    pub async fn create_assistant(&self, body: &AssistantCreate) -> ClientResult<Assistant> {
        self.post("/v2/assistants", body).await
    }

    pub async fn assistant(&self, id: &str) -> ClientResult<Assistant> {
        self.get(&format!("/v2/assistants/{}", enc(id))).await
    }

    pub async fn list_assistants(&self) -> ClientResult<List<Assistant>> {
        self.get("/v2/assistants?limit=1000").await
    }

    pub async fn create_thread(&self, body: &ThreadCreate) -> ClientResult<Thread> {
        self.post("/v2/threads", body).await
    }

    pub async fn thread(&self, id: &str) -> ClientResult<Thread> {
        self.get(&format!("/v2/threads/{}", enc(id))).await
    }

    /// `GET /v2/threads` with query pairs such as `("status", "running")`.
    pub async fn list_threads(&self, query: &[(&str, &str)]) -> ClientResult<List<Thread>> {
        self.get(&format!("/v2/threads?{}", query_string(query)))
            .await
    }

    /// Like [`Client::list_threads`], with the event id the list is current as of, to
    /// subscribe from without a gap.
    pub async fn list_threads_as_of(
        &self,
        query: &[(&str, &str)],
    ) -> ClientResult<(List<Thread>, Option<u64>)> {
        let path = format!("/v2/threads?{}", query_string(query));
        let request = self.request(reqwest::Method::GET, &path);
        let (list, headers) = self.send_with_headers(request, &path).await?;
        let as_of = headers
            .get(agentdeck_model::EVENT_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        Ok((list, as_of))
    }

    pub async fn patch_thread(&self, id: &str, body: &ThreadPatch) -> ClientResult<Thread> {
        self.patch(&format!("/v2/threads/{}", enc(id)), body).await
    }

    pub async fn cancel(&self, id: &str) -> ClientResult<Thread> {
        self.post(
            &format!("/v2/threads/{}/cancel", enc(id)),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn post_message(
        &self,
        thread_id: &str,
        body: &MessageCreate,
    ) -> ClientResult<MessagePosted> {
        self.post(&format!("/v2/threads/{}/messages", enc(thread_id)), body)
            .await
    }

    pub async fn message(&self, thread_id: &str, id: &str) -> ClientResult<Message> {
        self.get(&format!(
            "/v2/threads/{}/messages/{}",
            enc(thread_id),
            enc(id)
        ))
        .await
    }

    pub async fn list_messages(
        &self,
        thread_id: &str,
        query: &[(&str, &str)],
    ) -> ClientResult<List<Message>> {
        self.get(&format!(
            "/v2/threads/{}/messages?{}",
            enc(thread_id),
            query_string(query)
        ))
        .await
    }

    /// Every message of a thread, oldest first.
    pub async fn all_messages(&self, thread_id: &str) -> ClientResult<Vec<Message>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut query = vec![("order", "asc"), ("limit", "1000")];
            if let Some(after) = &after {
                query.push(("after", after));
            }
            let page = self.list_messages(thread_id, &query).await?;
            after = page.last_id.clone();
            let more = page.has_more;
            all.extend(page.data);
            if !more {
                return Ok(all);
            }
        }
    }

    pub async fn approve(
        &self,
        thread_id: &str,
        call_id: &str,
        arguments: Option<Value>,
    ) -> ClientResult<Message> {
        let path = format!(
            "/v2/threads/{}/tool_calls/{}/approve",
            enc(thread_id),
            enc(call_id)
        );
        self.post(&path, &ApproveRequest { arguments }).await
    }

    pub async fn deny(
        &self,
        thread_id: &str,
        call_id: &str,
        reason: Option<String>,
    ) -> ClientResult<Message> {
        let path = format!(
            "/v2/threads/{}/tool_calls/{}/deny",
            enc(thread_id),
            enc(call_id)
        );
        self.post(&path, &DenyRequest { reason }).await
    }

    /// The events of one reply, ending after its `done`.
    pub fn message_stream(
        &self,
        thread_id: &str,
        message_id: &str,
    ) -> impl Stream<Item = ClientResult<ServerEvent>> + Send + use<> {
        let path = format!(
            "/v2/threads/{}/messages/{}/stream",
            enc(thread_id),
            enc(message_id)
        );
        self.subscribe(path, None, Subscription::UntilEnd { give_up_after: 20 })
    }

    /// A thread's logged events from its start (`live=false`): the history of its runs,
    /// at most `limit` events (the newest are left out past it).
    pub async fn thread_log(
        &self,
        thread_id: &str,
        limit: usize,
    ) -> ClientResult<Vec<ServerEvent>> {
        let path = format!("/v2/threads/{}/events?live=false", enc(thread_id));
        let url = format!("{}{path}", self.base);
        let response = self
            .request(reqwest::Method::GET, &path)
            .header("Accept", "text/event-stream")
            .header("Last-Event-ID", "0")
            .send()
            .await
            .map_err(|err| ClientError::Connection {
                url: url.clone(),
                message: err.to_string(),
            })?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(api_error(status, &bytes));
        }
        let mut parser = SseParser::new();
        let mut parsed = Vec::new();
        let mut events = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(bytes) = body.next().await {
            let bytes = bytes.map_err(|err| ClientError::Connection {
                url: url.clone(),
                message: err.to_string(),
            })?;
            parser.feed(&bytes, &mut parsed);
            events.extend(parsed.drain(..).map(decoded));
            if events.len() >= limit {
                events.truncate(limit);
                break;
            }
        }
        Ok(events)
    }

    /// An endless event stream (`/v2/events?...`, `/v2/threads/{id}/events`).
    pub fn events(
        &self,
        path: &str,
        last_event_id: Option<u64>,
    ) -> impl Stream<Item = ClientResult<ServerEvent>> + Send + use<> {
        self.subscribe(path.to_string(), last_event_id, Subscription::Endless)
    }

    /// [`Client::events`], also saying each time the server answers (the first time and
    /// after every reconnect), so a watcher knows it is connected before any event comes.
    pub fn watch(
        &self,
        path: &str,
        last_event_id: Option<u64>,
    ) -> impl Stream<Item = ClientResult<Watched>> + Send + use<> {
        self.subscribe_watched(path.to_string(), last_event_id, Subscription::Endless)
    }

    /// Streams `path`, reconnecting with `Last-Event-ID` when the connection drops.
    /// Connection problems (an endless stream that ends among them) are yielded as `Err`
    /// items and retried with backoff; an API error (a 4xx answer) is yielded and ends
    /// the stream.
    fn subscribe(
        &self,
        path: String,
        last_id: Option<u64>,
        kind: Subscription,
    ) -> impl Stream<Item = ClientResult<ServerEvent>> + Send + use<> {
        self.subscribe_watched(path, last_id, kind)
            .filter_map(|item| {
                futures::future::ready(match item {
                    Ok(Watched::Open) => None,
                    Ok(Watched::Event(event)) => Some(Ok(event)),
                    Err(err) => Some(Err(err)),
                })
            })
    }

    /// [`Client::subscribe`], with [`Watched::Open`] each time a connection is answered.
    fn subscribe_watched(
        &self,
        path: String,
        mut last_id: Option<u64>,
        kind: Subscription,
    ) -> impl Stream<Item = ClientResult<Watched>> + Send + use<> {
        let client = self.clone();
        async_stream::stream! {
            let url = format!("{}{path}", client.base);
            let mut backoff = Duration::from_millis(100);
            let mut failures = 0u32;
            loop {
                let mut request = client.request(reqwest::Method::GET, &path).header("Accept", "text/event-stream");
                if let Some(id) = last_id {
                    request = request.header("Last-Event-ID", id.to_string());
                }
                let mut ended_cleanly = false;
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        yield Ok(Watched::Open);
                        let mut parser = SseParser::new();
                        let mut parsed = Vec::new();
                        let mut body = response.bytes_stream();
                        let mut saw_done = false;
                        let mut received = 0usize;
                        loop {
                            match body.next().await {
                                Some(Ok(bytes)) => {
                                    failures = 0;
                                    backoff = Duration::from_millis(100);
                                    parser.feed(&bytes, &mut parsed);
                                    for event in parsed.drain(..).map(decoded) {
                                        if event.id.is_some() {
                                            last_id = event.id;
                                        }
                                        saw_done |= event.payload.kind() == EventKind::Done;
                                        received += 1;
                                        yield Ok(Watched::Event(event));
                                    }
                                }
                                Some(Err(err)) => {
                                    yield Err(ClientError::Connection { url: url.clone(), message: err.to_string() });
                                    break;
                                }
                                None => {
                                    ended_cleanly = true;
                                    break;
                                }
                            }
                        }
                        if matches!(kind, Subscription::UntilEnd { .. }) {
                            // A reply's stream ends with `done`. Ended without it: the server
                            // stopped, so resume, unless a whole connection brought nothing
                            // new (a replay that has no `done`, such as a user message's).
                            if saw_done || (ended_cleanly && received == 0) {
                                return;
                            }
                        } else if ended_cleanly {
                            // An endless stream that ends means the server went away.
                            yield Err(ClientError::Connection { url: url.clone(), message: "the server closed the stream".into() });
                        }
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let bytes = response.bytes().await.unwrap_or_default();
                        let err = api_error(status, &bytes);
                        if status < 500 {
                            yield Err(err);
                            return;
                        }
                        yield Err(err);
                    }
                    Err(err) => {
                        yield Err(ClientError::Connection { url: url.clone(), message: err.to_string() });
                    }
                }
                if !ended_cleanly {
                    failures += 1;
                }
                if let Subscription::UntilEnd { give_up_after } = kind {
                    if failures >= give_up_after {
                        return;
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One item of a watched stream (an event as it is passed on: the marker is rare).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Watched {
    /// The server answered: the stream is live (again).
    Open,
    Event(ServerEvent),
}

#[derive(Clone, Copy)]
enum Subscription {
    Endless,
    UntilEnd { give_up_after: u32 },
}

fn api_error(status: u16, bytes: &[u8]) -> ClientError {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: ErrorBody,
    }
    let body = serde_json::from_slice::<Envelope>(bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| ErrorBody {
            message: String::from_utf8_lossy(bytes).chars().take(500).collect(),
            kind: "http_error".into(),
            code: None,
            param: None,
        });
    ClientError::Api { status, body }
}

fn enc(segment: &str) -> String {
    form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}
