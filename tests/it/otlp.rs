//! Traces in: real OTLP exporters (the OpenTelemetry Python SDK's, under the OpenAI
//! Agents SDK with OpenInference's instrumentation, and by hand) send their spans to
//! `POST /v1/traces`; the API then shows external assistants, threads, messages, tool
//! calls and routes. Bad bodies get OTLP's error answers.

use crate::support::{TestServer, ask, assistant, eventually, new_thread, user};
use agentdeck::client::Client;
use agentdeck::model::config::Config;
use agentdeck::model::{Message, MessageStatus, Thread, ToolCallStatus, ToolCallType};
use std::time::Duration;

pub fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/otel/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs a fixture script with the exporter pointed at `server` under `key`; its last
/// line of output, as JSON.
pub fn run_exporter(
    url: &str,
    key: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> serde_json::Value {
    let headers = format!("Authorization=Bearer {key}");
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_HEADERS", headers.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "20"),
    ];
    env.extend_from_slice(extra_env);
    crate::support::run_python(args, &env, Duration::from_secs(240))
}

pub(crate) async fn external_threads(client: &Client) -> Vec<Thread> {
    client
        .list_threads(&[("limit", "100")])
        .await
        .unwrap()
        .data
        .into_iter()
        .filter(|t| t.metadata.get("source").map(String::as_str) == Some("otlp"))
        .collect()
}

async fn key_of(server: &TestServer, project: &str) -> String {
    server
        .admin()
        .create_key(project, Some("otlp".into()))
        .await
        .unwrap()
        .key
}

fn server_config(extra: &str) -> Config {
    Config::parse(extra).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_sdk_run_shows_its_agents_thread_route_and_tool_calls() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let server = TestServer::start().await;
    let (project, client) = server.project("traces").await;
    let key = key_of(&server, &project.id).await;
    let model_url = format!("{}/v1", mock.url);
    let model_env = [
        ("OPENAI_BASE_URL", model_url.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
    ];

    // A handoff: triage passes the conversation to billing.
    let script = fixture("agents_run.py");
    run_exporter(&server.url, &key, &[&script, "handoff", "http"], &model_env);
    let threads = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let threads = external_threads(&client).await;
            if threads.len() == 2 {
                return threads;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the run's two threads within 20 s");
    let assistants = client.list_assistants().await.unwrap().data;
    let named = |name: &str| {
        assistants
            .iter()
            .find(|a| a.name == name && a.external)
            .unwrap_or_else(|| panic!("an external assistant {name}: {assistants:?}"))
    };
    let (triage, billing) = (named("triage"), named("billing"));
    let source = triage.source.as_ref().unwrap();
    assert_eq!(
        (source.service.as_str(), source.via.as_str()),
        ("support-desk", "otlp")
    );
    let root = threads
        .iter()
        .find(|t| t.parent_thread_id.is_none())
        .unwrap();
    let child = threads
        .iter()
        .find(|t| t.parent_thread_id.is_some())
        .unwrap();
    assert_eq!(root.assistant_id, triage.id);
    assert_eq!(child.assistant_id, billing.id);
    assert_eq!(child.parent_thread_id.as_deref(), Some(root.id.as_str()));
    assert_eq!(
        root.title.as_deref(),
        Some("Order ORD-4521 was charged twice, please refund it")
    );
    let root_messages = client.all_messages(&root.id).await.unwrap();
    let route = root_messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.kind == ToolCallType::AgentRouting)
        .unwrap_or_else(|| panic!("a route in {root_messages:#?}"));
    assert_eq!(
        route.target_assistant_id.as_deref(),
        Some(billing.id.as_str())
    );
    assert_eq!(route.thread_id.as_deref(), Some(child.id.as_str()));
    assert_eq!(route.status, ToolCallStatus::Completed);
    let child_messages = client.all_messages(&child.id).await.unwrap();
    let answer = child_messages
        .iter()
        .rev()
        .find(|m| m.assistant_id.as_deref() == Some(billing.id.as_str()))
        .unwrap();
    assert!(
        answer.usage.input_tokens > 0 && answer.usage.output_tokens > 0,
        "{answer:?}"
    );
    assert!(!answer.text().is_empty(), "{answer:?}");
    assert_eq!(
        answer.metadata.get("model").map(String::as_str),
        Some("gpt-5.6-luna"),
        "{answer:?}"
    );
    // Read-only: posting to an external agent's thread is refused, and says why.
    let refused = client
        .post_message(&root.id, &user("hello?"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("runs elsewhere"), "{refused}");

    // Delegation through a tool: billing's agent span sits under triage's tool span.
    // Over gRPC this time, on the API's own port (h2c).
    run_exporter(
        &server.url,
        &key,
        &[&script, "delegate", "grpc"],
        &model_env,
    );
    eventually("the delegated run's threads", || async {
        external_threads(&client).await.len() == 4
    })
    .await;
    let threads = external_threads(&client).await;
    let delegated = threads
        .iter()
        .find(|t| t.parent_thread_id.is_some() && t.id != child.id)
        .unwrap();
    let parent = delegated.parent_thread_id.clone().unwrap();
    let calls: Vec<_> = client
        .all_messages(&parent)
        .await
        .unwrap()
        .into_iter()
        .flat_map(|m| m.tool_calls)
        .collect();
    let ask = calls
        .iter()
        .find(|c| c.function.name == "ask_billing")
        .unwrap();
    assert_eq!(ask.kind, ToolCallType::AgentRouting);
    assert_eq!(ask.thread_id.as_deref(), Some(delegated.id.as_str()));
    assert!(
        ask.output.as_deref().is_some_and(|o| !o.is_empty()),
        "{ask:?}"
    );
    assert!(ask.latency_ms.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_genai_spans_settle_out_of_order_and_bad_bodies_get_otlp_errors() {
    // Children come before their parent, one request each: the parent must arrive within
    // the settle time for them to join its conversation, which on a loaded CI machine can
    // be well over the few milliseconds it takes here.
    let config = server_config(
        "[otlp]\nsettle_ms = 3000\nmax_body_bytes = 4194304\nmax_spans_per_request = 10000\n",
    );
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let (project, client) = server.project("genai").await;
    let key = key_of(&server, &project.id).await;

    let printed = run_exporter(&server.url, &key, &[&fixture("genai_spans.py")], &[]);
    let exports = printed["exports"].as_array().unwrap().clone();
    assert!(
        exports.iter().all(|e| e[1] == true),
        "every export taken: {exports:?}"
    );
    assert!(exports.iter().any(|e| e[0] == 10_000), "{exports:?}");

    // The conversation id names the thread; children sent before their parent settled
    // into it, in the order they ran.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let threads = external_threads(&client).await;
        if threads.len() == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the conversation's thread and the orphan's, not: {threads:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let threads = external_threads(&client).await;
    let conversation = threads
        .iter()
        .find(|t| t.metadata.get("conversation_id").map(String::as_str) == Some("conv-42"))
        .unwrap_or_else(|| panic!("{threads:#?}"));
    assert_eq!(
        conversation.title.as_deref(),
        Some("Find the refund policy")
    );
    assert_eq!(conversation.last_reply_status, Some(MessageStatus::Failed));
    let messages: Vec<Message> = client.all_messages(&conversation.id).await.unwrap();
    let texts: Vec<String> = messages.iter().map(Message::text).collect();
    assert_eq!(texts[0], "Find the refund policy", "{texts:?}");
    // Escape sequences in span text never reach a terminal.
    assert!(
        texts
            .iter()
            .any(|t| t.contains("Searching") && !t.contains('\x1b')),
        "{texts:?}"
    );
    let asked = messages.iter().find(|m| !m.tool_calls.is_empty()).unwrap();
    let search = &asked.tool_calls[0];
    assert_eq!(search.id, "call_search_1");
    assert_eq!(search.status, ToolCallStatus::Completed);
    assert_eq!(search.output.as_deref(), Some("Refunds within 30 days."));
    assert_eq!(asked.usage.input_tokens, 120);
    assert_eq!(
        asked.metadata.get("custom.team").map(String::as_str),
        Some("support")
    );
    let failed = messages
        .iter()
        .find(|m| m.status == MessageStatus::Failed)
        .unwrap();
    assert!(
        failed
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("model overloaded")
    );
    // The span whose parent never came was placed after settle_ms, in its trace's thread.
    let orphan = threads.iter().find(|t| t.id != conversation.id).unwrap();
    let orphan_messages = client.all_messages(&orphan.id).await.unwrap();
    assert!(
        orphan_messages.iter().any(|m| m.text() == "orphan answer"),
        "{orphan_messages:?}"
    );

    // Bad bodies: OTLP's error shape, nothing taken.
    let http = reqwest::Client::new();
    let url = format!("{}/v1/traces", server.url);
    let send = |body: Vec<u8>, content_type: &str, encoding: Option<&str>, auth: bool| {
        let mut request = http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        if auth {
            request = request.bearer_auth(&key);
        }
        if let Some(encoding) = encoding {
            request = request.header("content-encoding", encoding);
        }
        request.send()
    };
    let json_status = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap();
        (
            status,
            body["code"].as_i64().unwrap_or(-1),
            body["message"].as_str().unwrap_or("").to_string(),
        )
    };
    let (status, code, message) = json_status(
        send(b"{not json".to_vec(), "application/json", None, true)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (400, 3), "{message}");
    let response = send(
        b"\xff\xff\xff".to_vec(),
        "application/x-protobuf",
        None,
        true,
    )
    .await
    .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(response.headers()["content-type"], "application/x-protobuf");
    let (status, _, message) = json_status(
        send(b"{}".to_vec(), "text/plain", None, true)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415, "{message}");
    let (status, code, _) = json_status(
        send(b"{}".to_vec(), "application/json", None, false)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (401, 16));
    // A body declared larger than max_body_bytes is refused before any of it is read.
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        5 * 1024 * 1024
    );
    tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::io::AsyncReadExt::read(&mut stream, &mut answer),
    )
    .await
    .expect("an answer within 10 s")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A gzip bomb: 64 MiB of zeros in a small body.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, &vec![0u8; 64 * 1024 * 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    let (status, code, message) = json_status(
        send(bomb, "application/json", Some("gzip"), true)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, code), (413, 8), "{message}");
    // More spans than a request may carry.
    let spans: Vec<serde_json::Value> = (0..10_001)
        .map(|i| serde_json::json!({"traceId": "5b8efff798038103d269b633813fc60c", "spanId": format!("{:016x}", i + 1), "name": "x"}))
        .collect();
    let body =
        serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).to_string();
    let (status, _, message) = json_status(
        send(body.into_bytes(), "application/json", None, true)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "{message}");
    assert!(message.contains("10001 spans"), "{message}");
    // JSON and a partial success: a span with a bad id is refused, the other taken.
    let body = serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"spans": [
            {"traceId": "00000000000000000000000000000000", "spanId": "eee19b7ec3c1b174", "name": "bad"},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175", "name": "chat gpt-4o",
             "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
             "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}}],
             "status": {}}]}]}]})
    .to_string();
    let response = send(body.into_bytes(), "application/json", None, true)
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], 1, "{answer}");
    eventually("the JSON span's thread", || async {
        external_threads(&client).await.len() == 3
    })
    .await;
    server.stop().await;

    // Over the project's rate: 429 with Retry-After.
    let config = server_config("[otlp]\nspans_per_second = 1\n");
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let (project, _) = server.project("slow").await;
    let key = key_of(&server, &project.id).await;
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b176", "name": "a"},
        {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b177", "name": "b"},
        {"traceId": "5b8efff798038103d269b633813fc60d", "spanId": "eee19b7ec3c1b178", "name": "c"}]}]}]})
    .to_string();
    let url = format!("{}/v1/traces", server.url);
    let post = || {
        http.post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };
    assert_eq!(post().await.unwrap().status().as_u16(), 200);
    let limited = post().await.unwrap();
    assert_eq!(limited.status().as_u16(), 429);
    assert_eq!(limited.headers()["retry-after"], "1");

    // The same errors over gRPC, as gRPC statuses: no key, and over the rate with a
    // RetryInfo (which is what makes an exporter come back rather than drop the batch).
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let request: ExportTraceServiceRequest = serde_json::from_str(&body).unwrap();
    let mut grpc = tokio::time::timeout(
        Duration::from_secs(10),
        TraceServiceClient::connect(server.url.clone()),
    )
    .await
    .expect("the gRPC connection within 10 s")
    .unwrap();
    let unkeyed = grpc.export(request.clone()).await.unwrap_err();
    assert_eq!(unkeyed.code(), tonic::Code::Unauthenticated, "{unkeyed:?}");
    let mut keyed = tonic::Request::new(request);
    keyed
        .metadata_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let throttled = grpc.export(keyed).await.unwrap_err();
    assert_eq!(
        throttled.code(),
        tonic::Code::ResourceExhausted,
        "{throttled:?}"
    );
    assert!(
        String::from_utf8_lossy(throttled.details()).contains("google.rpc.RetryInfo"),
        "{throttled:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_threads_are_deleted_after_the_retention() {
    // 0.00003 days: about 2.6 s; the sweep runs every second.
    let config = server_config("[otlp]\nretention_days = 0.00003\n");
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let (project, client) = server.project("kept-briefly").await;
    let key = key_of(&server, &project.id).await;
    let native = client
        .create_assistant(&assistant("native", serde_json::json!([]), vec![]))
        .await
        .unwrap();
    let native_thread = new_thread(&client, &native.id).await;
    ask(&client, &native_thread, "stay").await;
    let body = serde_json::json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
    "traceId": "6b8efff798038103d269b633813fc60d", "spanId": "aee19b7ec3c1b176",
    "name": "chat gpt-4o", "startTimeUnixNano": "1800000000000000000",
    "endTimeUnixNano": "1800000000500000000",
    "attributes": [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.output.messages", "value": {"stringValue":
            "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"brief\"}]}]"}}
    ]}]}]}]})
    .to_string();
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/traces", server.url))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let thread = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(thread) = external_threads(&client).await.into_iter().next() {
                return thread;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the span's thread within 10 s");
    let message = client.all_messages(&thread.id).await.unwrap().remove(0);
    tokio::time::timeout(Duration::from_secs(20), async {
        while !external_threads(&client).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the external thread deleted within 20 s");
    // Gone with its messages; the native thread, as old, stays.
    assert_eq!(
        client.thread(&thread.id).await.unwrap_err().status(),
        Some(404)
    );
    assert!(client.message(&thread.id, &message.id).await.is_err());
    assert!(client.thread(&native_thread).await.is_ok());
    assert_eq!(client.all_messages(&native_thread).await.unwrap().len(), 2);
    server.stop().await;
}
