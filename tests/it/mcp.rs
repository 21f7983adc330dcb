//! MCP tools against real servers: PyPI's reference `mcp-server-time`, and a server
//! written with the `mcp` SDK that crashes, hangs and writes garbage on request
//! (tests/fixtures/mcp/misbehaving.py). Both are installed into the venv by `.ci/run`.

use crate::support::*;
use agentdeck::model::{Approval, ToolCall, ToolCallStatus};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A program from the test venv, named by an environment variable `.ci/run` sets.
fn venv_program(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: the MCP tests need the venv `bash .ci/run` installs (mcp, mcp-server-time)")
    });
    assert!(
        path.is_file(),
        "{var}={} does not exist: run `bash .ci/run` to install it",
        path.display()
    );
    path
}

async fn call(client: &agentdeck::client::Client, assistant_id: &str, text: &str) -> ToolCall {
    let thread = new_thread(client, assistant_id).await;
    let reply = ask(client, &thread, text).await;
    assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
    reply.tool_calls[0].clone()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| !stat.contains(") Z "))
}

#[tokio::test]
async fn mcp_servers_are_started_listed_called_restarted_and_stopped() {
    let time_server = venv_program("MCP_SERVER_TIME");
    let python = venv_program("MCP_PYTHON");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/misbehaving.py");
    let mut server = TestServer::start().await;
    let (_, client) = server.project("mcp").await;
    let pid_file = server.dir.path().join("mcp.pids");

    let mut body = assistant(
        "clerk",
        json!([
            {"type": "mcp", "server_label": "clock",
             "command": [time_server, "--local-timezone", "UTC"],
             "allowed_tools": ["get_current_time"]},
            {"type": "mcp", "server_label": "odd",
             "command": [python, fixture],
             "env": {"PID_FILE": pid_file},
             "timeout_ms": 1500}
        ]),
        vec![],
    );
    // Writes ask first; the time server's tools are marked read-only.
    body.approval = Approval::OnWrite;
    let clerk = client.create_assistant(&body).await.unwrap().id;

    // Listed with its schema, offered as LABEL__TOOL, called by its bare name.
    let time = call(
        &client,
        &clerk,
        r#"/tool get_current_time {"timezone": "Europe/Paris"}"#,
    )
    .await;
    assert_eq!(time.function.name, "clock__get_current_time");
    assert_eq!(time.status, ToolCallStatus::Completed, "{time:?}");
    let output: Value = serde_json::from_str(time.output.as_deref().unwrap()).unwrap();
    assert_eq!(output["timezone"], "Europe/Paris");
    assert!(output["datetime"].as_str().unwrap().starts_with("20"));

    // allowed_tools filters.
    let hidden = call(
        &client,
        &clerk,
        r#"/tool clock__convert_time {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}"#,
    )
    .await;
    assert_eq!(hidden.status, ToolCallStatus::Failed);
    assert!(hidden.output.unwrap().contains("There is no tool"));

    // A tool not marked read-only waits for approval under on-write.
    let thread = new_thread(&client, &clerk).await;
    let posted = post(&client, &thread, r#"/tool odd__echo {"text": "hi"}"#).await;
    eventually("the echo call to wait for approval", || async {
        client.message(&thread, &posted).await.is_ok_and(|m| {
            m.tool_calls
                .iter()
                .any(|c| c.status == ToolCallStatus::RequiresApproval)
        })
    })
    .await;
    let waiting = client.message(&thread, &posted).await.unwrap();
    client
        .approve(&thread, &waiting.tool_calls[0].id, None)
        .await
        .unwrap();
    let done = wait_reply(&client, &thread, &posted).await;
    assert_eq!(
        done.tool_calls[0].status,
        ToolCallStatus::Completed,
        "{:?}",
        done.tool_calls[0]
    );
    assert_eq!(done.tool_calls[0].output.as_deref(), Some("echo: hi"));

    // The rest run without asking.
    let _: Value = client
        .patch(
            &format!("/v2/assistants/{clerk}"),
            &json!({"approval": "never"}),
        )
        .await
        .unwrap();

    // A crash mid-call fails that call clearly; the next call starts the server again.
    let crashed = call(&client, &clerk, "/tool odd__crash {}").await;
    assert_eq!(crashed.status, ToolCallStatus::Failed);
    let why = crashed.output.unwrap();
    assert!(why.contains("'odd' stopped during the call"), "{why}");
    let again = call(&client, &clerk, r#"/tool odd__echo {"text": "back"}"#).await;
    assert_eq!(again.output.as_deref(), Some("echo: back"), "{again:?}");

    // A hang ends at the call's time limit; the runtime carries on.
    let started = Instant::now();
    let hung = call(&client, &clerk, "/tool odd__hang {}").await;
    assert_eq!(hung.status, ToolCallStatus::Failed);
    assert!(
        hung.output
            .unwrap()
            .contains("did not answer within 1500 ms")
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Garbage on stdout: a failed call or an answer, never a stuck run.
    let garbage = call(&client, &clerk, "/tool odd__garbage {}").await;
    assert!(garbage.status.is_final(), "{garbage:?}");
    let after = call(&client, &clerk, r#"/tool odd__echo {"text": "still here"}"#).await;
    assert_eq!(
        after.output.as_deref(),
        Some("echo: still here"),
        "{after:?}"
    );

    // Every server stops with the runtime.
    let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(pids.len() >= 2, "the crash made a second server: {pids:?}");
    server.runtime.take().unwrap().stop().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) {
        assert!(
            Instant::now() < deadline,
            "MCP servers outlived the runtime: {pids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A streamable-HTTP MCP server (the same `mcp` SDK server, started by the test) is
/// reached by URL under the assistant's network rules: refused on loopback unless the
/// host is listed.
#[tokio::test]
async fn an_mcp_server_by_url_obeys_the_network_rules() {
    let python = venv_program("MCP_PYTHON");
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/misbehaving.py");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::start().await;
    let mut http_server = std::process::Command::new(python)
        .arg(fixture)
        .env("MCP_HTTP_PORT", port.to_string())
        .env("PID_FILE", server.dir.path().join("http.pids"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/mcp");
    eventually("the HTTP MCP server to listen", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;
    let (_, client) = server.project("mcp-http").await;
    let make = |allowed: Value| {
        let mut body = assistant(
            "remote",
            json!([{"type": "mcp", "server_label": "web", "url": url}]),
            vec![],
        );
        body.safety = serde_json::from_value(json!({"allowed_domains": allowed})).unwrap();
        body
    };
    let listed = client
        .create_assistant(&make(json!(["127.0.0.1"])))
        .await
        .unwrap()
        .id;
    let echo = call(&client, &listed, r#"/tool web__echo {"text": "over http"}"#).await;
    assert_eq!(echo.status, ToolCallStatus::Completed, "{echo:?}");
    assert_eq!(echo.output.as_deref(), Some("echo: over http"));

    let unlisted = client.create_assistant(&make(json!([]))).await.unwrap().id;
    let refused = call(&client, &unlisted, r#"/tool web__echo {"text": "x"}"#).await;
    assert_eq!(refused.status, ToolCallStatus::Failed);
    let why = refused.output.unwrap();
    assert!(
        why.contains("'web' is not available") && why.contains("loopback"),
        "{why}"
    );
    let _ = http_server.kill();
    let _ = http_server.wait();
}
