//! Tool-call overhead (issue #9): a whole exchange through the API (thread, post, a model
//! step that calls the tool, the tool, a second model step, the answer) on the local
//! model, for a no-op webhook (a local receiver that answers 204), a no-op MCP call (the
//! `echo` tool of tests/fixtures/mcp/misbehaving.py, a real `mcp` SDK server over
//! stdio) and a `print(1)` in the code interpreter, against the same exchange with no
//! tool. The overhead of a tool is its median minus the baseline's.
//!
//! `cargo bench --bench tools` (needs `MCP_PYTHON`, the venv python `.ci/run` installs
//! the `mcp` SDK into).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::model::ToolCallStatus;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::time::Duration;

mod common;

async fn assistant(f: &common::Local, tools: serde_json::Value) -> String {
    f.client
        .create_assistant(
            &serde_json::from_value(json!({
                "name": "bench", "model": "local", "tools": tools,
                "safety": {"allowed_domains": ["127.0.0.1"]}
            }))
            .unwrap(),
        )
        .await
        .unwrap()
        .id
}

/// One whole exchange; checks the tool call completed when there was one.
async fn exchange(f: &common::Local, assistant_id: &str, text: &str) {
    let thread = common::new_thread(&f.client, assistant_id).await;
    let message = common::ask(&f.client, &thread, text).await;
    for call in &message.tool_calls {
        assert_eq!(call.status, ToolCallStatus::Completed, "{call:?}");
    }
}

async fn noop_receiver() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/noop",
        axum::routing::post(|| async { axum::http::StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

fn bench_tools(c: &mut Criterion) {
    let python = std::env::var("MCP_PYTHON")
        .expect("MCP_PYTHON: the venv python with the mcp SDK (`bash .ci/run` installs it)");
    let fixture_server =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/misbehaving.py");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let f = rt.block_on(common::local_runtime("tools bench"));
    let pids = f.dir.path().join("pids");
    let (plain, webhook, mcp, code) = rt.block_on(async {
        let port = noop_receiver().await;
        (
            assistant(&f, json!([])).await,
            assistant(
                &f,
                json!([{"type": "webhook", "name": "noop",
                        "endpoint": format!("http://127.0.0.1:{port}/noop")}]),
            )
            .await,
            assistant(
                &f,
                json!([{"type": "mcp", "server_label": "odd",
                        "command": [python, fixture_server], "env": {"PID_FILE": pids}}]),
            )
            .await,
            assistant(&f, json!([{"type": "code_interpreter"}])).await,
        )
    });
    let mut group = c.benchmark_group("tool_call_exchange");
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("no_tool", |b| {
        b.to_async(&rt)
            .iter(|| exchange(&f, &plain, "Where is my order?"))
    });
    group.bench_function("noop_webhook", |b| {
        b.to_async(&rt)
            .iter(|| exchange(&f, &webhook, "/tool noop {}"))
    });
    group.bench_function("noop_mcp", |b| {
        b.to_async(&rt)
            .iter(|| exchange(&f, &mcp, r#"/tool odd__echo {"text": "x"}"#))
    });
    group.sample_size(30);
    group.bench_function("code_interpreter_print", |b| {
        b.to_async(&rt)
            .iter(|| exchange(&f, &code, r#"/tool code_interpreter {"code": "print(1)"}"#))
    });
    group.finish();
}

criterion_group!(benches, bench_tools);
criterion_main!(benches);
