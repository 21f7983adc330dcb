//! A real peer: the `llmock` server (PyPI) speaking the OpenAI Responses, Chat Completions
//! and Anthropic formats, with its scripted tool calls and its disconnect fault.

use crate::support::*;
use agentdeck::config::Config;
use agentdeck::model::{MessageStatus, ToolCallStatus};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) struct Llmock {
    child: Child,
    pub(crate) url: String,
}

impl Llmock {
    /// Scripts its next answers (`behaviors` as its scenario API takes them).
    pub(crate) async fn script(&self, behaviors: serde_json::Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/_llmock/scenario", self.url))
            .json(&json!({ "behaviors": behaviors }))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 201, "{:?}", answer.text().await);
    }

    /// What it was asked, from its journal.
    pub(crate) async fn journal(&self) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/_llmock/requests", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

impl Llmock {
    /// What it was asked, a line per request (for a failure's message): its order, path,
    /// whether it streamed and offered tools, its status and the chunks sent.
    pub(crate) async fn summary(&self) -> String {
        let journal = self.journal().await;
        let requests = journal["requests"].as_array().cloned().unwrap_or_default();
        requests
            .iter()
            .map(|r| {
                let tools = r["body"]["tools"].as_array().map_or(0, Vec::len);
                format!(
                    "#{} {} stream={} tools={tools} status={} chunks={} completed={}",
                    r["seq"], r["path"], r["stream"], r["status"], r["chunks_sent"], r["completed"]
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The body of the last request it was sent, from its journal.
    pub(crate) async fn last_request_body(&self) -> serde_json::Value {
        let journal = self.journal().await;
        let requests = journal["requests"].as_array().unwrap();
        requests.last().unwrap()["body"].clone()
    }
}

impl Drop for Llmock {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn llmock_binary() -> std::path::PathBuf {
    let path = std::env::var_os("LLMOCK")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/llmock")
        });
    assert!(
        path.exists(),
        "llmock is required by this test and was not found at {} (set LLMOCK, or run `bash .ci/run`, which installs it into target/pyenv)",
        path.display()
    );
    path
}

pub(crate) async fn start_llmock(extra: &[&str]) -> Llmock {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(llmock_binary())
        .args([
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "warning",
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mock = Llmock {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return mock;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("llmock did not start listening on port {port} within 15 s");
}

async fn server_for(kind: &str, base_url: &str) -> TestServer {
    let config = Config::parse(&format!(
        "[providers.mock]\nkind = \"{kind}\"\nbase_url = \"{base_url}\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\", \"claude-*\"]\nattempts = 2\nretry_base_ms = 10\nidle_timeout_ms = 5000\n"
    ))
    .unwrap();
    TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await
}

#[tokio::test]
async fn three_wire_formats_against_llmock_call_a_tool_then_answer() {
    let mock = start_llmock(&[]).await;
    for (kind, base, model) in [
        ("openai-responses", format!("{}/v1", mock.url), "gpt-4o"),
        ("openai-chat", format!("{}/v1", mock.url), "gpt-4o"),
        (
            "anthropic",
            format!("{}/anthropic/v1", mock.url),
            "claude-sonnet-4-5",
        ),
    ] {
        let server = server_for(kind, &base).await;
        let (_, client) = server.project(kind).await;
        let tool = json!({"type": "function",
            "function": {"name": "lookup_order", "description": "Look up an order", "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}},
            "handler": {"command": ["sh", "-c", "cat >/dev/null; echo 'Order 1182: shipped'"], "timeout_ms": 5000}});
        let mut body = assistant("remote", json!([tool]), vec![]);
        body.model = model.into();
        let a = client.create_assistant(&body).await.unwrap();
        let thread = new_thread(&client, &a.id).await;
        let reply = ask(&client, &thread, "Where is order 1182?").await;
        assert_eq!(reply.status, MessageStatus::Completed, "{kind}: {reply:?}");
        let call = reply
            .tool_calls
            .first()
            .unwrap_or_else(|| panic!("{kind}: llmock calls the offered tool: {reply:?}"));
        assert_eq!(call.function.name, "lookup_order", "{kind}");
        assert!(
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(
                &call.function.arguments
            )
            .is_ok(),
            "{kind}: full JSON arguments"
        );
        assert_eq!(call.status, ToolCallStatus::Completed, "{kind}");
        assert_eq!(call.output.as_deref(), Some("Order 1182: shipped\n"));
        assert!(
            !reply.text().trim().is_empty(),
            "{kind}: a final answer after the tool result"
        );
        assert!(reply.usage.output_tokens > 0, "{kind}: usage recorded");
        server.stop().await;
    }
}

#[tokio::test]
async fn llmock_disconnects_end_in_a_clear_error_not_a_hang() {
    let mock = start_llmock(&["--stream-fault", "disconnect=1.0", "--tool-mode", "off"]).await;
    let server = server_for("openai-chat", &format!("{}/v1", mock.url)).await;
    let (_, client) = server.project("faults").await;
    let mut body = assistant("remote", json!([]), vec![]);
    body.model = "gpt-4o".into();
    let a = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply = ask(&client, &thread, "hello").await;
    assert_ne!(reply.status, MessageStatus::Completed, "{reply:?}");
    let error = reply.error.expect("a reason");
    assert!(
        matches!(
            error.code.as_deref(),
            Some("stream_cut") | Some("connection_error")
        ),
        "{error:?}"
    );
    assert_eq!(
        client.thread(&thread).await.unwrap().status,
        agentdeck::model::ThreadStatus::Active
    );
    server.stop().await;
}
