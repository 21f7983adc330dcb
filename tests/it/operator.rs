//! The operator's day (issue "The operator's day"): what a workspace relies on, through
//! the real server and the real client.

use crate::support::TestServer;
use agentdeck::client::follow::{Followed, follow};
use futures::StreamExt;
use std::time::Duration;

/// After `serve` restarts, a follower says it is connected as soon as the runtime answers,
/// not when an event happens to arrive.
#[tokio::test]
async fn a_follower_is_connected_again_as_soon_as_the_runtime_answers() {
    let server = TestServer::start().await;
    let url = server.url.clone();
    let listen: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .parse()
        .expect("the test server's address");
    let key = server.admin_key.clone();
    let followed = follow(agentdeck::client::Client::new(&url, &key));
    futures::pin_mut!(followed);
    let mut seen = Vec::new();
    // The snapshot, then the stream's answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(&"connected") {
        let item = tokio::time::timeout_at(deadline, followed.next())
            .await
            .expect("no snapshot and connection within 10 s")
            .expect("the follower ended");
        seen.push(match item {
            Followed::Snapshot { .. } => "snapshot",
            Followed::Connected => "connected",
            Followed::Event(_) => "event",
            Followed::Reconnecting(_) => "reconnecting",
        });
    }
    assert_eq!(seen.first(), Some(&"snapshot"), "{seen:?}");
    // The runtime stops: the follower says so.
    let dir = server.stop().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let item = tokio::time::timeout_at(deadline, followed.next())
            .await
            .expect("the follower never noticed the runtime stopped")
            .expect("the follower ended");
        if matches!(item, Followed::Reconnecting(_)) {
            break;
        }
    }
    // It comes back on the same address, and nothing happens in it: connected anyway.
    let server = TestServer::start_with(dir, |options| options.listen = listen).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let item = tokio::time::timeout_at(deadline, followed.next())
            .await
            .expect("the follower did not say it was connected within 15 s of the restart")
            .expect("the follower ended");
        match item {
            Followed::Connected => break,
            Followed::Event(event) => {
                panic!("an event came before the connection was told: {event:?}")
            }
            _ => {}
        }
    }
    server.stop().await;
}

/// The README's `--remote URL` with `AGENTDECK_API_KEY` works when the config also has a
/// `[[remotes]]` entry for that URL (whose own variable is not set).
#[tokio::test]
async fn remote_url_takes_agentdeck_api_key_beside_a_remotes_entry() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[[remotes]]\nname = \"prod\"\nurl = \"{}\"\napi_key_env = \"PROD_KEY_FOR_THIS_TEST\"\n",
            server.url
        ),
    )
    .unwrap();
    let run = move |key_env: Option<(&str, &str)>, remote: &str| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"));
        command
            .args(["--config"])
            .arg(&config)
            .args(["--remote", remote, "projects", "list"])
            .env_remove("AGENTDECK_API_KEY")
            .env_remove("PROD_KEY_FOR_THIS_TEST")
            .stdin(std::process::Stdio::null());
        if let Some((name, value)) = key_env {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let key = server.admin_key.clone();
    let url = server.url.clone();
    let (by_url, by_name, none) = tokio::task::spawn_blocking(move || {
        (
            run(Some(("AGENTDECK_API_KEY", &key)), &url),
            run(Some(("PROD_KEY_FOR_THIS_TEST", &key)), "prod"),
            run(None, &url),
        )
    })
    .await
    .unwrap();
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    assert!(by_url.status.success(), "{}", text(&by_url));
    assert!(
        text(&by_url).contains("Getting started"),
        "{}",
        text(&by_url)
    );
    assert!(by_name.status.success(), "{}", text(&by_name));
    assert!(!none.status.success());
    assert!(
        text(&none).contains("PROD_KEY_FOR_THIS_TEST or AGENTDECK_API_KEY"),
        "{}",
        text(&none)
    );
    server.stop().await;
}

/// What the runtime takes in is checked at the door: each of these is a clear 4xx, and
/// nothing is stored.
#[tokio::test]
async fn hostile_definitions_titles_and_project_headers_are_refused_plainly() {
    use serde_json::{Value, json};
    let server = TestServer::start().await;
    let (project, client) = server.project("door").await;
    let http = reqwest::Client::new();
    let send = |method: reqwest::Method, path: &str, key: &str, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{}{path}", server.url))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    };
    let key = client.key().to_string();
    let refused = |status: u16, body: &Value, words: &[&str]| {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        for word in words {
            assert!(message.contains(word), "{word:?} not in {message}");
        }
    };
    let assistant = |tools: Value| json!({"name": "door", "instructions": "", "model": "local", "tools": tools});
    for (tools, words) in [
        (
            json!([{"type": "mcp", "server_label": "x", "command": []}]),
            vec!["tools[0].command", "name a program"],
        ),
        (
            json!([{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]),
            vec!["tools[0].function.parameters", "JSON Schema"],
        ),
        (
            json!([{"type": "webhook", "endpoint": "https://api.salesforce.com/v57.0/sobjects/Case",
                "auth": {"type": "oauth2", "token_url": "https://login.salesforce.com/services/oauth2/token"}}]),
            vec![
                "client_id_env and client_secret_env",
                "AGENTDECK_OAUTH_CLIENT_ID",
            ],
        ),
    ] {
        let response = send(
            reqwest::Method::POST,
            "/v2/assistants",
            &key,
            Some(assistant(tools)),
        )
        .send()
        .await
        .unwrap();
        let status = response.status().as_u16();
        refused(status, &response.json().await.unwrap(), &words);
    }
    assert!(
        client.list_assistants().await.unwrap().data.is_empty(),
        "nothing refused was stored"
    );
    // A webhook left unnamed says its default name back.
    let created: Value = client
        .post(
            "/v2/assistants",
            &assistant(json!([{"type": "webhook", "endpoint": "https://hooks.example.com/in"}])),
        )
        .await
        .unwrap();
    assert_eq!(created["tools"][0]["name"], "webhook", "{created}");
    // A title is one line of at most 512 characters, kept whole.
    let long = "x".repeat(100 * 1024);
    let response = send(
        reqwest::Method::POST,
        "/v2/threads",
        &key,
        Some(json!({"assistant_id": created["id"], "title": long})),
    )
    .send()
    .await
    .unwrap();
    let status = response.status().as_u16();
    refused(
        status,
        &response.json().await.unwrap(),
        &["title is 102400 characters"],
    );
    let title = format!("Refund request {}", "y".repeat(200));
    let thread: Value = client
        .post(
            "/v2/threads",
            &json!({"assistant_id": created["id"], "title": title}),
        )
        .await
        .unwrap();
    assert_eq!(thread["title"], title.as_str());
    // The admin key naming a project that is not there: 404 on every route alike.
    for (method, path, body) in [
        (reqwest::Method::GET, "/v2/threads", None),
        (reqwest::Method::GET, "/v2/assistants", None),
        (reqwest::Method::GET, "/v2/files", None),
        (reqwest::Method::GET, "/v2/search?q=refund", None),
        (
            reqwest::Method::POST,
            "/v2/assistants",
            Some(assistant(json!([]))),
        ),
    ] {
        let response = send(method.clone(), path, &server.admin_key, body)
            .header("OpenAI-Project", "proj_nonexistent")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["type"], "not_found_error", "{body}");
    }
    let _ = project;
    server.stop().await;
}

/// Sends raw bytes on a new connection and reads the whole answer (5 s at most).
async fn raw_answer(address: &str, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed within 5 s");
    String::from_utf8_lossy(&answer).into_owned()
}

fn json_error_of(answer: &str) -> serde_json::Value {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON error body in {answer:?}"))
}

/// What the HTTP layer refuses before any route sees it still answers in the API's JSON
/// error shape, on a connection's first request and on a later one alike.
#[tokio::test]
async fn the_http_layer_refuses_bad_heads_with_json_errors() {
    let server = TestServer::start().await;
    let address = server.url.trim_start_matches("http://").to_string();
    let many: String = (0..1000).map(|i| format!("X-Filler-{i}: y\r\n")).collect();
    for (request, status, code) in [
        (
            "POST /v2/projects HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_string(),
            "400",
            "bad_content_length",
        ),
        ("abc\r\n\r\n".to_string(), "400", "bad_request_line"),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n"),
            "431",
            "too_many_headers",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n".to_string(),
            "400",
            "bad_header",
        ),
    ] {
        let answer = raw_answer(&address, request.as_bytes()).await;
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{request:.60?} → {answer}"
        );
        let body = json_error_of(&answer);
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    }
    // A good first request, then a bad one on the same kept-alive connection: hyper's own
    // answer to it is rewritten into JSON too.
    let answer = raw_answer(
        &address,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    )
    .await;
    let second = answer
        .match_indices("HTTP/1.1 ")
        .nth(1)
        .map(|(at, _)| &answer[at..])
        .unwrap_or_else(|| panic!("no second answer in {answer:?}"));
    assert!(second.starts_with("HTTP/1.1 400"), "{second}");
    assert_eq!(
        json_error_of(second)["error"]["type"],
        "invalid_request_error"
    );
    server.stop().await;
}

/// Idle sockets cannot take every file descriptor: past the cap a connection is answered
/// 503 in JSON at once, and the server serves again as soon as one goes.
#[tokio::test]
async fn connections_past_the_cap_are_answered_503_and_the_rest_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir, |options| options.max_connections = 8).await;
    let address = server.url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(tokio::net::TcpStream::connect(&address).await.unwrap());
    }
    // Give the server a moment to count them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = raw_answer(&address, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.to_lowercase().contains("retry-after: 1"), "{answer}");
    let body = json_error_of(&answer);
    assert_eq!(body["error"]["code"], "too_many_connections", "{body}");
    // One idle socket goes: the next request is served.
    drop(idle.pop());
    let mut served = false;
    for _ in 0..50 {
        let answer = raw_answer(
            &address,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        if answer.starts_with("HTTP/1.1 200") {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        served,
        "no request was served after an idle connection closed"
    );
    drop(idle);
    server.stop().await;
}

/// Uploads stream to disk a few at a time: many large ones at once all arrive whole, an
/// oversize one is refused (413) with nothing left behind, and the files folder holds
/// no half-written upload afterwards.
#[tokio::test]
async fn many_large_uploads_at_once_arrive_whole_and_oversize_ones_leave_nothing() {
    use sha2::{Digest, Sha256};
    let server = TestServer::start().await;
    let (_, client) = server.project("uploads").await;
    let key = client.key().to_string();
    let size = 30 * 1024 * 1024;
    let body = |seed: u8| -> Vec<u8> {
        (0..size)
            .map(|i: usize| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let uploads = (0..10u8).map(|seed| {
        let (url, key) = (server.url.clone(), key.clone());
        let contents = body(seed);
        async move {
            let digest = hex::encode(Sha256::digest(&contents));
            let (status, file) =
                crate::support::upload(&url, &key, None, &format!("big-{seed}.bin"), &contents)
                    .await;
            (status, file, digest)
        }
    });
    let results = futures::future::join_all(uploads).await;
    for (status, file, digest) in results {
        assert_eq!(status, 200, "{file}");
        assert_eq!(file["bytes"], size as u64, "{file}");
        let id = file["id"].as_str().unwrap();
        let stored = reqwest::Client::new()
            .get(format!("{}/v2/files/{id}/content", server.url))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(hex::encode(Sha256::digest(&stored)), digest, "{id}");
    }
    let oversize = vec![b'x'; 33 * 1024 * 1024];
    let (status, body) =
        crate::support::upload(&server.url, &key, None, "huge.txt", &oversize).await;
    assert_eq!(status, 413, "{body}");
    let leftovers: Vec<_> = std::fs::read_dir(server.dir.path().join("files"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(client.list_files().await.unwrap().data.len(), 10);
    server.stop().await;
}
