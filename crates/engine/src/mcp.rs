//! MCP tools: Model Context Protocol servers, reached with `rmcp` (the official Rust SDK).
//!
//! A stdio server (`command`) is started on first use and kept per assistant; a
//! streamable-HTTP server (`url`) is reached under the assistant's network rules. Its
//! tools are listed with their schemas and offered to the model as `LABEL__TOOL`
//! (filtered by `allowed_tools`). A call has a time limit; a server that died is started
//! again on the next call, the call in flight failing with a clear error. Every server
//! stops with the runtime.

use super::net::NetRules;
use agentdeck_model::McpTool;
use agentdeck_model::sync::lock;
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RoleClient, RunningService, ServiceError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a server may take to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Environment variables a stdio server gets from the runtime's own; others only when
/// the tool's `env` names them.
const PASSED_ENV: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR"];

/// What the model is offered as `LABEL__TOOL`.
pub const NAME_SEPARATOR: &str = "__";

/// One tool of a server.
#[derive(Debug, Clone)]
pub struct McpToolInfo {
    pub name: String,
    pub description: String,
    pub schema: serde_json::Value,
    /// The server marks it read-only (`readOnlyHint`): `approval: "on-write"` lets it run.
    pub read_only: bool,
}

struct Connection {
    service: RunningService<RoleClient, Progress>,
    tools: Vec<McpToolInfo>,
    progress: Progress,
}

/// The client side of a server's connection: its progress notifications go to the call
/// that asked for them (by progress token), as output of that call as it runs.
#[derive(Clone, Default)]
struct Progress {
    calls: Arc<Mutex<HashMap<String, super::tools::OutputSink>>>,
}

impl rmcp::ClientHandler for Progress {
    fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) -> impl std::future::Future<Output = ()> + Send + '_ {
        let token = token_key(&params.progress_token);
        if let Some(sink) = lock(&self.calls).get(&token) {
            let amount = match params.total {
                Some(total) => format!("{}/{}", params.progress, total),
                None => params.progress.to_string(),
            };
            let line = match &params.message {
                Some(message) => format!("[progress {amount}] {message}\n"),
                None => format!("[progress {amount}]\n"),
            };
            sink.send(&agentdeck_model::text::sanitize(&line));
        }
        std::future::ready(())
    }
}

fn token_key(token: &rmcp::model::ProgressToken) -> String {
    match &token.0 {
        rmcp::model::NumberOrString::Number(n) => n.to_string(),
        rmcp::model::NumberOrString::String(s) => s.to_string(),
    }
}

/// A call's place among those waiting for progress: removed when the call ends.
struct Listening<'a> {
    progress: &'a Progress,
    token: String,
}

impl Drop for Listening<'_> {
    fn drop(&mut self) {
        lock(&self.progress.calls).remove(&self.token);
    }
}

/// A server of one assistant: its connection once started.
#[derive(Default)]
struct Slot {
    connection: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

/// Every MCP server of the runtime, by assistant and tool definition.
#[derive(Default)]
pub struct McpServers {
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// The key of a server: the assistant and everything that defines the server, so a
/// changed definition starts a new one.
fn key(assistant_id: &str, tool: &McpTool) -> String {
    format!(
        "{assistant_id}\u{0}{}",
        serde_json::to_string(tool).unwrap_or_default()
    )
}

impl McpServers {
    fn slot(&self, assistant_id: &str, tool: &McpTool) -> Arc<Slot> {
        lock(&self.slots)
            .entry(key(assistant_id, tool))
            .or_default()
            .clone()
    }

    /// The server's connection, started now if it is not running.
    async fn connection(
        &self,
        assistant_id: &str,
        tool: &McpTool,
        rules: &NetRules,
    ) -> Result<Arc<Connection>, String> {
        let slot = self.slot(assistant_id, tool);
        let mut current = slot.connection.lock().await;
        if let Some(connection) = current.as_ref() {
            if !connection.service.is_closed() {
                return Ok(connection.clone());
            }
        }
        let started = tokio::time::timeout(START_TIMEOUT, start(tool, rules))
            .await
            .map_err(|_| {
                format!(
                    "the MCP server '{}' did not start within {} s",
                    tool.server_label,
                    START_TIMEOUT.as_secs()
                )
            })??;
        let connection = Arc::new(started);
        *current = Some(connection.clone());
        Ok(connection)
    }

    /// The tools of a server the model may use (after `allowed_tools`).
    pub async fn tools(
        &self,
        assistant_id: &str,
        tool: &McpTool,
        rules: &NetRules,
    ) -> Result<Vec<McpToolInfo>, String> {
        let connection = self.connection(assistant_id, tool, rules).await?;
        Ok(connection
            .tools
            .iter()
            .filter(|t| {
                tool.allowed_tools
                    .as_ref()
                    .is_none_or(|allowed| allowed.iter().any(|a| a == &t.name))
            })
            .cloned()
            .collect())
    }

    /// Calls `name` with `arguments`. `Ok` is the text the tool gave; `Err` why it failed.
    /// The server's progress notifications for the call go to `sink` as they come.
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        assistant_id: &str,
        tool: &McpTool,
        rules: &NetRules,
        name: &str,
        arguments: serde_json::Map<String, serde_json::Value>,
        limit: usize,
        sink: &super::tools::OutputSink,
    ) -> Result<String, String> {
        let label = &tool.server_label;
        let connection = self.connection(assistant_id, tool, rules).await?;
        let timeout = Duration::from_millis(tool.timeout_ms());
        let request = CallToolRequestParams::new(name.to_string()).with_arguments(arguments);
        // The SDK gives every request a progress token of its own: the call's sink is
        // listed under it as soon as it is sent, before the server can report anything
        // it does.
        let calling = async {
            let handle = connection
                .service
                .peer()
                .send_cancellable_request(
                    rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(
                        request,
                    )),
                    rmcp::service::PeerRequestOptions::no_options(),
                )
                .await?;
            let token = token_key(&handle.progress_token);
            lock(&connection.progress.calls).insert(token.clone(), sink.clone());
            let _listening = Listening {
                progress: &connection.progress,
                token,
            };
            match handle.await_response().await? {
                rmcp::model::ServerResult::CallToolResult(result) => Ok(result),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        };
        let result = tokio::time::timeout(timeout, calling).await;
        let result = match result {
            Err(_) => {
                return Err(format!(
                    "the MCP server '{label}' did not answer within {} ms",
                    timeout.as_millis()
                ));
            }
            Ok(Err(err)) => {
                let gone = matches!(
                    err,
                    ServiceError::TransportClosed | ServiceError::TransportSend(_)
                ) || connection.service.is_closed();
                if gone {
                    // Forget it: the next call starts the server again.
                    let slot = self.slot(assistant_id, tool);
                    let mut current = slot.connection.lock().await;
                    if current
                        .as_ref()
                        .is_some_and(|c| Arc::ptr_eq(c, &connection))
                    {
                        *current = None;
                    }
                    return Err(format!(
                        "the MCP server '{label}' stopped during the call ({err}); it is \
                         started again on the next call"
                    ));
                }
                return Err(format!("the MCP server '{label}' refused the call: {err}"));
            }
            Ok(Ok(result)) => result,
        };
        let mut text = String::new();
        for block in &result.content {
            if !text.is_empty() {
                text.push('\n');
            }
            match block.as_text() {
                Some(part) => text.push_str(&part.text),
                None => text.push_str(&serde_json::to_string(block).unwrap_or_default()),
            }
        }
        if text.is_empty() {
            if let Some(structured) = &result.structured_content {
                text = structured.to_string();
            }
        }
        if text.len() > limit {
            let mut cut = limit;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let total = text.len();
            text.truncate(cut);
            text.push_str(&format!(
                "\n[cut at {limit} of {total} bytes for the model; the operator sees the call]"
            ));
        }
        if result.is_error == Some(true) {
            Err(text)
        } else {
            Ok(text)
        }
    }

    /// Stops every server (the runtime is shutting down).
    pub async fn stop_all(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for slot in slots {
            let connection = slot.connection.lock().await.take();
            if let Some(connection) = connection.and_then(|c| Arc::try_unwrap(c).ok()) {
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), connection.service.cancel()).await;
            }
        }
    }
}

async fn start(tool: &McpTool, rules: &NetRules) -> Result<Connection, String> {
    let label = &tool.server_label;
    let progress = Progress::default();
    let service = match (&tool.command, &tool.url) {
        (Some(command), _) => {
            let Some((program, args)) = command.split_first() else {
                return Err(format!("the MCP server '{label}' names no command"));
            };
            let mut cmd = tokio::process::Command::new(program);
            cmd.args(args).env_clear();
            for name in PASSED_ENV {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
            cmd.envs(&tool.env);
            let (transport, _stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|err| {
                    format!("the MCP server '{label}' could not start `{program}`: {err}")
                })?;
            progress
                .clone()
                .serve(transport)
                .await
                .map_err(|err| format!("the MCP server '{label}' failed to start: {err}"))?
        }
        (None, Some(url)) => {
            let parsed = reqwest::Url::parse(url)
                .map_err(|err| format!("the MCP server '{label}' URL {url:?}: {err}"))?;
            rules.check_url(&parsed)?;
            let client = rules.client(Duration::from_secs(300))?;
            let transport = rmcp::transport::StreamableHttpClientTransport::with_client(
                client,
                rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                    url.as_str(),
                ),
            );
            progress.clone().serve(transport).await.map_err(|err| {
                format!("the MCP server '{label}' at {url} failed to start: {err}")
            })?
        }
        (None, None) => return Err(format!("the MCP server '{label}' has no command or url")),
    };
    let listed = service
        .list_all_tools()
        .await
        .map_err(|err| format!("the MCP server '{label}' could not list its tools: {err}"))?;
    let tools = listed
        .into_iter()
        .map(|t| McpToolInfo {
            name: t.name.to_string(),
            description: t.description.map(|d| d.to_string()).unwrap_or_default(),
            schema: serde_json::Value::Object((*t.input_schema).clone()),
            read_only: t
                .annotations
                .as_ref()
                .and_then(|a| a.read_only_hint)
                .unwrap_or(false),
        })
        .collect();
    Ok(Connection {
        service,
        tools,
        progress,
    })
}
