//! Telemetry (one event per model call and tool call, in the seed's shape: kept, served
//! by `/logs`, streamed, written as JSON lines) and `/metrics`, read by the Prometheus
//! project's own parser (PyPI `prometheus-client`, installed by `.ci/run`).

use crate::support::*;
use futures::StreamExt;
use serde_json::{Value, json};

#[tokio::test]
async fn calls_become_telemetry_events_and_metrics() {
    let python = std::env::var("TEST_PYTHON").unwrap_or_else(|_| {
        panic!("TEST_PYTHON is not set: the venv python with prometheus-client (`bash .ci/run` installs it)")
    });
    let server = TestServer::start().await;
    let (project, client) = server.project("observed").await;
    let tools = json!([{"type": "function",
        "function": {"name": "lookup_order", "description": "lookup order", "parameters": {"type": "object", "properties": {}}},
        "handler": {"command": ["sh", "-c", "cat >/dev/null; printf shipped"], "timeout_ms": 5000}}]);
    let a = client
        .create_assistant(&assistant("clerk", tools, vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply = ask(&client, &thread, "/tool lookup_order {}").await;
    assert_eq!(reply.tool_calls.len(), 1);

    // Kept per project, newest first, in the seed's shape.
    let logs: Value = client
        .get(&format!("/v2/projects/{}/logs?limit=10", project.id))
        .await
        .unwrap();
    let events = logs["data"].as_array().unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["model_call", "tool_call", "model_call"], "{logs}");
    let tool = &events[1];
    assert_eq!(tool["tool"], "lookup_order");
    assert_eq!(tool["assistant_id"], a.id.as_str());
    assert_eq!(tool["thread_id"], thread.as_str());
    assert!(tool["latency_ms"].is_u64());
    assert_eq!(tool["safety_flag"], Value::Null);
    let timestamp = events[0]["timestamp"].as_str().unwrap();
    assert!(
        timestamp.len() == 20 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
        "RFC 3339: {timestamp}"
    );
    assert!(events[0]["output_tokens"].as_u64().unwrap() > 0);
    let limited: Value = client
        .get(&format!("/v2/projects/{}/logs?limit=1", project.id))
        .await
        .unwrap();
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);

    // Streamed as `telemetry` events of the thread.
    let stream = client.events(&format!("/v2/threads/{thread}/events"), Some(0));
    futures::pin_mut!(stream);
    let mut telemetry = 0;
    while telemetry < 3 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("three telemetry events on the thread's stream")
            .unwrap()
            .unwrap();
        if event.name() == "telemetry" {
            assert_eq!(event.data()["thread_id"], thread.as_str());
            telemetry += 1;
        }
    }

    // Written as JSON lines in the data dir.
    let file = server.dir.path().join("logs/telemetry.jsonl");
    eventually("the telemetry file to have the three lines", || async {
        std::fs::read_to_string(&file).is_ok_and(|text| text.lines().count() >= 3)
    })
    .await;
    let line: Value = serde_json::from_str(
        std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(line["project_id"], project.id.as_str());

    // /metrics: admin only, and valid for Prometheus' own parser.
    let http = reqwest::Client::new();
    let metrics_url = format!("{}/metrics", server.url);
    let denied = client.get::<Value>("/metrics").await.unwrap_err();
    assert!(denied.to_string().contains("admin key"), "{denied}");
    let text = http
        .get(&metrics_url)
        .bearer_auth(&server.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let parse = "import json, sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\nout = {}\nfor family in text_string_to_metric_families(sys.stdin.read()):\n    for s in family.samples:\n        out.setdefault(s.name, []).append([s.labels, s.value])\nprint(json.dumps(out))";
    let mut child = std::process::Command::new(python)
        .args(["-c", parse])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "Prometheus' parser refused it: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let samples: Value = serde_json::from_slice(&output.stdout).unwrap();
    let value = |name: &str, labels: Value| -> f64 {
        samples[name]
            .as_array()
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .iter()
            .find(|s| {
                labels
                    .as_object()
                    .unwrap()
                    .iter()
                    .all(|(k, v)| s[0][k] == *v)
            })
            .unwrap_or_else(|| panic!("no {name} {labels} in {text}"))[1]
            .as_f64()
            .unwrap()
    };
    let mine = |more: Value| {
        let mut labels = json!({"project": project.id});
        labels
            .as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        labels
    };
    assert_eq!(
        value(
            "agentdeck_model_calls_total",
            mine(json!({"assistant": a.id}))
        ),
        2.0
    );
    assert_eq!(
        value(
            "agentdeck_tool_calls_total",
            mine(json!({"type": "function", "status": "completed"}))
        ),
        1.0
    );
    assert_eq!(
        value(
            "agentdeck_runs_total",
            mine(json!({"outcome": "completed"}))
        ),
        1.0
    );
    assert!(value("agentdeck_tokens_total", mine(json!({"kind": "output"}))) > 0.0);
    assert_eq!(
        value("agentdeck_model_call_seconds_count", mine(json!({}))),
        2.0
    );
    assert_eq!(value("agentdeck_queued_runs", mine(json!({}))), 0.0);
    assert!(value("agentdeck_store_bytes", json!({})) > 0.0);
}
