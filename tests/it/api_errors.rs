//! Bad input gets a clear OpenAI-style error and changes nothing.

use crate::support::*;
use serde_json::{Value, json};

async fn raw(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .bearer_auth(&server.admin_key);
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")),
        headers,
    )
}

fn assert_error(body: &Value, kind: &str) {
    let error = &body["error"];
    assert_eq!(error["type"], kind, "{body}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    for field in ["message", "type", "code", "param"] {
        assert!(
            error.get(field).is_some(),
            "error.{field} is present: {body}"
        );
    }
}

#[tokio::test]
async fn malformed_wrong_typed_unknown_and_oversize_bodies() {
    let server = TestServer::start().await;
    let post = reqwest::Method::POST;

    let (status, body, _) = raw(
        &server,
        post.clone(),
        "/v2/projects",
        Some(b"{\"name\": ".to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let (status, body, _) = raw(
        &server,
        post.clone(),
        "/v2/projects",
        Some(br#"{"name": 5}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "name");

    let (status, body, _) = raw(
        &server,
        post.clone(),
        "/v2/projects",
        Some(
            br#"{"name": "x", "limits": {"tokens_per_minute": "lots", "concurrent_threads": 1}}"#
                .to_vec(),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "limits.tokens_per_minute");

    let (status, body, _) = raw(
        &server,
        post.clone(),
        "/v2/projects",
        Some(br#"{"name": "x", "colour": "red"}"#.to_vec()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour")
    );

    let (status, body, _) = raw(&server, post.clone(), "/v2/projects", Some(Vec::new())).await;
    assert_eq!(status, 400, "{body}");

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, body, _) = raw(
        &server,
        post.clone(),
        "/v2/projects",
        Some(big.into_bytes()),
    )
    .await;
    assert_eq!(status, 413);
    assert_error(&body, "invalid_request_error");

    let projects = server.admin().list_projects().await.unwrap();
    assert!(
        projects.data.iter().all(|p| p.name == "Getting started"),
        "nothing was half-written: {projects:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_ids_routes_methods_and_queries() {
    let server = TestServer::start().await;
    let (project, client) = server.project("errors").await;
    let get = reqwest::Method::GET;
    for path in [
        "/v2/threads/thread_nope",
        "/v2/assistants/asst_nope",
        "/v2/projects/proj_nope",
        "/v2/threads/thread_nope/messages",
        "/v2/nothing-here",
    ] {
        let (status, body, _) = raw(&server, get.clone(), path, None).await;
        assert_eq!(status, 404, "{path}");
        assert_error(&body, "not_found_error");
    }
    let (status, body, _) = raw(&server, reqwest::Method::DELETE, "/v2/threads", None).await;
    assert_eq!(status, 405);
    assert_error(&body, "invalid_request_error");
    for (query, param) in [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("status=bogus", "status"),
        ("order=sideways", "order"),
    ] {
        let (status, body, _) =
            raw(&server, get.clone(), &format!("/v2/threads?{query}"), None).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["param"], param);
    }

    // A bad tool definition stores nothing.
    let bad =
        json!({"name": "x", "tools": [{"type": "function", "function": {"name": "has space"}}]});
    let (status, body, _) = raw(
        &server,
        reqwest::Method::POST,
        "/v2/assistants",
        Some(
            serde_json::to_vec(
                &json!({"project_id": project.id, "name": "x", "tools": bad["tools"]}),
            )
            .unwrap(),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "tools[0].function.name");
    let (status, body, _) = raw(
        &server,
        reqwest::Method::POST,
        "/v2/assistants",
        Some(
            serde_json::to_vec(
                &json!({"project_id": project.id, "name": "x", "tools": [{"type": "teleport"}]}),
            )
            .unwrap(),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("teleport")
    );
    assert!(client.list_assistants().await.unwrap().data.is_empty());

    // Messages: wrong role, empty content, unknown tool call, closed thread.
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let err = client
        .post::<Value>(
            &format!("/v2/threads/{thread}/messages"),
            &json!({"role": "wizard", "content": "hi"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let err = client
        .post::<Value>(
            &format!("/v2/threads/{thread}/messages"),
            &json!({"role": "user", "content": "  "}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    let err = client
        .post::<Value>(
            &format!("/v2/threads/{thread}/messages"),
            &json!({"role": "tool", "tool_call_id": "call_x", "content": "42"}),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let patch = agentdeck::model::requests::ThreadPatch {
        status: Some(agentdeck::model::ThreadStatus::Closed),
        ..Default::default()
    };
    client.patch_thread(&thread, &patch).await.unwrap();
    let err = client
        .post_message(&thread, &user("hello"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert!(client.all_messages(&thread).await.unwrap().is_empty());
    let patch = agentdeck::model::requests::ThreadPatch {
        status: Some(agentdeck::model::ThreadStatus::Running),
        ..Default::default()
    };
    assert_eq!(
        client
            .patch_thread(&thread, &patch)
            .await
            .unwrap_err()
            .status(),
        Some(400)
    );
    server.stop().await;
}

#[tokio::test]
async fn thread_listing_filters_and_pages() {
    let server = TestServer::start().await;
    let (_, client) = server.project("listing").await;
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let b = client
        .create_assistant(&assistant("b", json!([]), vec![]))
        .await
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..30 {
        let owner = if i % 3 == 0 { &b.id } else { &a.id };
        let priority = if i % 2 == 0 { "high" } else { "low" };
        let thread = client
            .create_thread(&agentdeck::model::requests::ThreadCreate {
                assistant_id: owner.clone(),
                metadata: [
                    ("priority".to_string(), priority.to_string()),
                    ("case_id".to_string(), format!("CASE-{i}")),
                ]
                .into(),
                title: Some(format!("ticket number {i}")),
            })
            .await
            .unwrap();
        ids.push(thread.id);
    }
    let page = client.list_threads(&[("limit", "7")]).await.unwrap();
    assert_eq!(page.data.len(), 7);
    assert!(page.has_more);
    assert_eq!(page.data[0].id, ids[29], "newest activity first");
    let mut seen: Vec<String> = page.data.iter().map(|t| t.id.clone()).collect();
    let mut after = page.last_id.clone().unwrap();
    loop {
        let next = client
            .list_threads(&[("limit", "7"), ("after", &after)])
            .await
            .unwrap();
        seen.extend(next.data.iter().map(|t| t.id.clone()));
        if !next.has_more {
            break;
        }
        after = next.last_id.unwrap();
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected, "pages cover every thread once");

    let high_b = client
        .list_threads(&[
            ("assistant_id", &b.id),
            ("metadata.priority", "high"),
            ("limit", "100"),
        ])
        .await
        .unwrap();
    assert_eq!(high_b.data.len(), 5);
    assert!(
        high_b
            .data
            .iter()
            .all(|t| t.assistant_id == b.id && t.metadata["priority"] == "high")
    );
    let found = client.list_threads(&[("q", "CASE-17")]).await.unwrap();
    assert_eq!(found.data.len(), 1);
    let asc = client
        .list_threads(&[("order", "asc"), ("limit", "1")])
        .await
        .unwrap();
    assert_eq!(asc.data[0].id, ids[0]);

    // Activity moves a thread to the top.
    ask(&client, &ids[0], "bump").await;
    assert_eq!(
        client.list_threads(&[("limit", "1")]).await.unwrap().data[0].id,
        ids[0]
    );
    server.stop().await;
}

/// Limits at the edges of their type are refused, not stored.
#[tokio::test]
async fn limits_beyond_reason_are_refused() {
    let server = TestServer::start().await;
    for limits in [
        json!({"tokens_per_minute": u64::MAX, "concurrent_threads": 1}),
        json!({"tokens_per_minute": 1000, "concurrent_threads": u64::MAX}),
        json!({"tokens_per_minute": 0, "concurrent_threads": 1}),
    ] {
        let (status, body, _) = raw(
            &server,
            reqwest::Method::POST,
            "/v2/projects",
            Some(serde_json::to_vec(&json!({"name": "x", "limits": limits})).unwrap()),
        )
        .await;
        assert_eq!(status, 400, "{limits}: {body}");
        assert_error(&body, "invalid_request_error");
    }
}

/// What a hostile client found: a path that is not UTF-8, a body announced huge and never
/// sent, and resume ids that are not ids. Each gets a JSON error, at once.
#[tokio::test]
async fn hostile_paths_bodies_and_resume_ids_get_json_errors() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start().await;
    let (status, body, _) = raw(&server, reqwest::Method::GET, "/v2/threads/%FF", None).await;
    assert_eq!(status, 400);
    assert_error(&body, "invalid_request_error");

    // Content-Length: 1000000000 and no body: 413 without waiting for it.
    let address = server.url.trim_start_matches("http://").to_string();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v2/projects HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n",
        server.admin_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("answered before any body arrived")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"error\""), "a JSON error: {answer}");

    // What hyper would refuse with an empty body: a raw 0xFF byte in the target, and a
    // target of 100,000 characters.
    let long = format!(
        "GET /v2/threads/{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "x".repeat(100_000)
    );
    for (request, status) in [
        (
            b"GET /v2/threads/\xff HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            "400",
        ),
        (long.into_bytes(), "414"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        let _ = stream.write_all(&request).await;
        let mut answer = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_end(&mut answer),
        )
        .await
        .expect("answered at once")
        .unwrap();
        let answer = String::from_utf8_lossy(&answer).to_string();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{answer}"
        );
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_error(&body, "invalid_request_error");
    }

    let (_, client) = server.project("resume").await;
    let assistant = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &assistant.id).await;
    for bad in ["abc", "-1", "99999999999999"] {
        let response = reqwest::Client::new()
            .get(format!("{}/v2/threads/{thread}/events", server.url))
            .bearer_auth(&server.admin_key)
            .header("Last-Event-ID", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "Last-Event-ID {bad}");
        let body: Value = response.json().await.unwrap();
        assert_error(&body, "invalid_request_error");
    }
}

/// A client that sends half its headers, or keeps a connection idle, is cut off after
/// the header timeout (1 s here; 30 s by default).
#[tokio::test]
async fn slow_and_silent_connections_are_closed() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir, |options| {
        options.header_timeout = Duration::from_secs(1);
    })
    .await;
    let address = server.url.trim_start_matches("http://").to_string();
    let closed_within = |mut stream: tokio::net::TcpStream| async move {
        let started = Instant::now();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest))
            .await
            .expect("the server closed the connection");
        started.elapsed()
    };
    // Half the headers, then silence.
    let mut partial = tokio::net::TcpStream::connect(&address).await.unwrap();
    partial
        .write_all(b"POST /v2/projects HTTP/1.1\r\nHost: x\r\nContent-")
        .await
        .unwrap();
    assert!(closed_within(partial).await < Duration::from_secs(5));
    // One whole request, then an idle kept-alive connection.
    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 64];
    let n = idle.read(&mut first).await.unwrap();
    assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
    assert!(closed_within(idle).await < Duration::from_secs(5));
}
