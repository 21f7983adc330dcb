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

/// Processes whose command line holds `marker` (an argument no other process has).
fn processes_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(marker) && !stat.contains(") Z ") {
            found.push(pid);
        }
    }
    found
}

async fn wait_for_processes(marker: &str, present: bool) -> Vec<u32> {
    for _ in 0..200 {
        let found = processes_with(marker);
        if found.is_empty() != present {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "processes with {marker} {}: {:?}",
        if present {
            "never started"
        } else {
            "still run"
        },
        processes_with(marker)
    );
}

/// A command tool's whole process group ends when its run is cancelled and when the
/// runtime stops: a `sleep` a shell started does not outlive either.
#[tokio::test]
async fn cancel_and_shutdown_end_a_tools_grandchildren() {
    use crate::support::{assistant, new_thread, user};
    use serde_json::json;
    let server = TestServer::start().await;
    let (_, client) = server.project("groups").await;
    let tools = json!([{"type": "function",
        "function": {"name": "nap", "description": "Naps", "parameters": {"type": "object"}},
        "handler": {"command": ["sh", "-c", "sleep \"$(cat | sed 's/.*\"s\": *\"\\([0-9.]*\\)\".*/\\1/')\"; echo x"], "timeout_ms": 120000}}]);
    let napper = client
        .create_assistant(&assistant("napper", tools, vec![]))
        .await
        .unwrap();
    // Cancel: the run stops and so does the sleep the shell started.
    let thread = new_thread(&client, &napper.id).await;
    client
        .post_message(&thread, &user(r#"/tool nap {"s": "62.4242"}"#))
        .await
        .unwrap();
    wait_for_processes("62.4242", true).await;
    client.cancel(&thread).await.unwrap();
    wait_for_processes("62.4242", false).await;
    // Shutdown: the same for a call still running when the runtime stops.
    let other = new_thread(&client, &napper.id).await;
    client
        .post_message(&other, &user(r#"/tool nap {"s": "63.4343"}"#))
        .await
        .unwrap();
    wait_for_processes("63.4343", true).await;
    server.stop().await;
    wait_for_processes("63.4343", false).await;
}

/// The guide's "SSE with partial tool outputs": a command's rows, the interpreter's prints
/// and an MCP server's progress arrive as `tool_call.output.delta` while the call runs,
/// before its whole `tool_call.output`.
#[tokio::test]
async fn tool_output_streams_while_the_call_runs() {
    use crate::support::{assistant, new_thread, user};
    use agentdeck::model::EventPayload;
    use serde_json::json;
    let python = std::env::var("MCP_PYTHON").expect(
        "MCP_PYTHON is not set: this test needs the venv `bash .ci/run` installs (the mcp SDK)",
    );
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mcp/misbehaving.py");
    let server = TestServer::start().await;
    let (_, client) = server.project("streams").await;
    let tools = json!([
        {"type": "function",
         "function": {"name": "rows", "description": "Prints rows", "parameters": {"type": "object"}},
         "handler": {"command": ["sh", "-c", "for i in 1 2 3; do echo row $i; sleep 0.5; done"], "timeout_ms": 10000}},
        {"type": "code_interpreter", "timeout_ms": 10000},
        {"type": "mcp", "server_label": "odd", "command": [python, fixture],
         "env": {"PID_FILE": server.dir.path().join("mcp.pids")}, "timeout_ms": 10000}
    ]);
    let worker = client
        .create_assistant(&assistant("worker", tools, vec![]))
        .await
        .unwrap();
    for (directive, pieces) in [
        (r#"/tool rows {}"#, vec!["row 1", "row 2", "row 3"]),
        (
            r#"/tool code_interpreter {"code": "import time\nfor i in range(3):\n    print('step', i)\n    time.sleep(0.5)"}"#,
            vec!["step 0", "step 1", "step 2"],
        ),
        (
            r#"/tool count {"steps": 3}"#,
            vec!["[progress 1/3] counted 1", "[progress 3/3] counted 3"],
        ),
    ] {
        let thread = new_thread(&client, &worker.id).await;
        let events = client.events(&format!("/v2/threads/{thread}/events"), None);
        futures::pin_mut!(events);
        client
            .post_message(&thread, &user(directive))
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let mut deltas: Vec<(Duration, String)> = Vec::new();
        let output_at = loop {
            let event = tokio::time::timeout(Duration::from_secs(20), events.next())
                .await
                .unwrap_or_else(|_| panic!("{directive}: no tool output within 20 s: {deltas:?}"))
                .unwrap()
                .unwrap();
            match event.payload {
                EventPayload::ToolCallOutputDelta(d) => deltas.push((started.elapsed(), d.delta)),
                EventPayload::ToolCallOutput(o) if o.status.is_final() => break started.elapsed(),
                _ => {}
            }
        };
        let text: String = deltas.iter().map(|(_, d)| d.as_str()).collect();
        for piece in &pieces {
            assert!(
                text.contains(piece),
                "{directive}: {piece:?} not in {text:?}"
            );
        }
        // The first piece was whole while the call still ran, not only with its end.
        let mut so_far = String::new();
        let first = deltas
            .iter()
            .find(|(_, d)| {
                so_far.push_str(d);
                so_far.contains(pieces[0])
            })
            .unwrap_or_else(|| panic!("{directive}: {:?} never came: {deltas:?}", pieces[0]))
            .0;
        assert!(
            output_at.saturating_sub(first) >= Duration::from_millis(400),
            "{directive}: the first piece at {first:?}, the whole output at {output_at:?}"
        );
    }
    server.stop().await;
}

/// The command line's JSON printouts carry no character a terminal acts on: DEL, C1
/// controls (CSI, OSC) and bidi overrides from untrusted text are written as `\uXXXX`.
#[test]
fn json_printouts_escape_terminal_controls() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agentdeck"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("AGENTDECK_LOCAL_TPS", "0")
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("XDG_CONFIG_HOME", dir.path().join("config"))
            .env_remove("AGENTDECK_ADMIN_KEY")
            .env_remove("AGENTDECK_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let hostile = "evilmarker \u{9b}2J \u{9d}0;title\u{7} \u{202e}reversed \u{7f}del";
    let raw = ['\u{9b}', '\u{9d}', '\u{202e}', '\u{7f}', '\u{7}', '\u{1b}'];
    let check = |what: &str, text: &str| {
        for c in raw {
            assert!(!text.contains(c), "{what}: raw {c:?} in {text}");
        }
    };
    let (sent, stderr) = run(&["send", "--assistant", "billing", "--json", hostile]);
    check("send --json", &sent);
    for line in sent.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    assert!(sent.contains("\\u009b"), "{sent}");
    let thread = stderr
        .lines()
        .find_map(|l| l.strip_prefix("thread: "))
        .unwrap_or_else(|| panic!("no thread line in {stderr}"))
        .to_string();
    let (exported, _) = run(&["export", &thread, "--format", "json"]);
    check("export --format json", &exported);
    let doc: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert!(exported.contains("\\u009b"), "{exported}");
    assert!(
        doc["messages"][0]["content"]
            .as_str()
            .unwrap()
            .contains('\u{9b}'),
        "the same text for a JSON reader"
    );
    let (found, _) = run(&["search", "evilmarker", "--json"]);
    check("search --json", &found);
    let hits: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert!(!hits.as_array().unwrap().is_empty(), "{found}");
}

/// The guide's details, as written: a tool call's telemetry carries the tokens of the
/// model step that asked for it; reasoning steps stream apart; a passage in the
/// assistant's and the thread's store is cited once; a 404 under /v2 names the route.
#[tokio::test]
async fn the_guides_details_hold() {
    use crate::support::{ask, assistant, new_thread, upload, user, wait_reply};
    use serde_json::{Value, json};
    let server = TestServer::start().await;
    let (project, client) = server.project("details").await;
    let key = client.key().to_string();
    let tools = json!([{"type": "function",
        "function": {"name": "lookup_order", "description": "Looks an order up", "parameters": {"type": "object"}},
        "handler": {"command": ["sh", "-c", "echo shipped"], "timeout_ms": 5000}}]);
    let clerk = client
        .create_assistant(&assistant("clerk", tools, vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &clerk.id).await;
    let reply = ask(&client, &thread, "lookup order ORD-1234 please").await;
    assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
    // Telemetry: the tool call's tokens are its model step's.
    let logs: Value = client
        .get(&format!("/v2/projects/{}/logs?limit=50", project.id))
        .await
        .unwrap();
    let tool_call = logs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "tool_call" && e["thread_id"] == json!(thread))
        .unwrap_or_else(|| panic!("no tool_call event: {logs}"));
    assert!(
        tool_call["input_tokens"].as_u64().unwrap() > 0
            && tool_call["output_tokens"].as_u64().unwrap() > 0,
        "{tool_call}"
    );
    // Reasoning: the steps of a streamed reply come apart, an empty line between them.
    let posted = client
        .post_message(&thread, &user("and what about ORD-1235?"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let events = crate::support::collect(client.message_stream(&thread, &reply_id)).await;
    let streamed = crate::support::deltas(&events, "reasoning.delta");
    let reply = client.message(&thread, &reply_id).await.unwrap();
    assert!(reply.reasoning.len() >= 2, "{reply:?}");
    let steps: Vec<String> = reply.reasoning.iter().map(|s| s.text.clone()).collect();
    assert_eq!(streamed, steps.join("\n\n"));

    // A file in the assistant's store and attached to the thread: its passage once.
    let notes = "Section 9. Limitation of liability. Liability shall not exceed five million dollars per annum.\n";
    let (status, file) = upload(&server.url, &key, None, "terms.md", notes.as_bytes()).await;
    assert_eq!(status, 200, "{file}");
    let store: Value = client
        .post(
            "/v2/vector_stores",
            &json!({"name": "terms", "file_ids": [file["id"]]}),
        )
        .await
        .unwrap();
    let reader = client
        .create_assistant(&assistant(
            "reader",
            json!([{"type": "file_search", "vector_store_ids": [store["id"]]}]),
            vec![],
        ))
        .await
        .unwrap();
    let thread = new_thread(&client, &reader.id).await;
    let mut message = user("What does the liability clause say?");
    message.attachments = vec![
        serde_json::from_value(json!({"file_id": file["id"], "tools": [{"type": "file_search"}]}))
            .unwrap(),
    ];
    let posted = client.post_message(&thread, &message).await.unwrap();
    let reply = wait_reply(
        &client,
        &thread,
        posted.response_message_id.as_deref().unwrap(),
    )
    .await;
    let call = reply
        .tool_calls
        .iter()
        .find(|c| c.function.name == "file_search")
        .unwrap_or_else(|| panic!("{reply:?}"));
    let output: Value = serde_json::from_str(call.output.as_deref().unwrap()).unwrap();
    let results = output["results"].as_array().unwrap();
    assert!(!results.is_empty(), "{output}");
    let mut cited: Vec<(String, String)> = results
        .iter()
        .map(|r| (r["file_id"].to_string(), r["lines"].to_string()))
        .collect();
    let all = cited.len();
    cited.sort();
    cited.dedup();
    assert_eq!(cited.len(), all, "a passage cited twice: {output}");

    // A 404 under /v2 names the route asked for.
    let response = reqwest::Client::new()
        .get(format!("{}/v2/threadz", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("There is no route GET /v2/threadz"),
        "{message}"
    );
    assert!(!message.contains("lives under /v2"), "{message}");
    server.stop().await;
}

/// `serve` for others: its stderr is its log (warnings of dependencies, a line per request
/// and per run, no colour into a file, JSON with --log-format json), it says which
/// providers serve what and warns of an assistant that runs on `local` for want of one;
/// each command's help lists its own flags; completions and a man page come from the
/// CLI's definition; `assistants update` patches; `demo` with no runtime says what to do.
#[test]
fn serve_logs_plainly_and_the_command_line_explains_itself() {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_agentdeck");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        "[providers.openai]\nkind = \"openai-responses\"\nbase_url = \"http://127.0.0.1:9/v1\"\napi_key_env = \"NOT_SET_FOR_THIS_TEST\"\nmodels = [\"gpt-*\"]\n",
    )
    .unwrap();
    let plain = |args: &[&str]| {
        Command::new(bin)
            .args(args)
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env_remove("AGENTDECK_ADMIN_KEY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let text = |out: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    // Each command's help: its own flags.
    let help = text(&plain(&["serve", "--help"]));
    assert!(
        help.contains("--listen") && help.contains("--log-format"),
        "{help}"
    );
    assert!(help.contains("--data-dir"), "{help}");
    for foreign in ["--theme", "--keymap", "--mouse", "--remote"] {
        assert!(
            !help.contains(foreign),
            "serve --help lists {foreign}: {help}"
        );
    }
    let help = text(&plain(&["send", "--help"]));
    assert!(
        help.contains("--assistant") && help.contains("--remote"),
        "{help}"
    );
    for foreign in ["--theme", "--keymap", "--mouse", "--listen"] {
        assert!(
            !help.contains(foreign),
            "send --help lists {foreign}: {help}"
        );
    }
    // Completions and a man page.
    for shell in ["bash", "zsh", "fish"] {
        let out = plain(&["completions", shell]);
        assert!(out.status.success(), "{}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains("agentdeck") && script.contains("serve"),
            "{shell}"
        );
    }
    let man = plain(&["man"]);
    assert!(man.status.success());
    let man = String::from_utf8_lossy(&man.stdout);
    assert!(
        man.contains(".TH") && man.contains("agentdeck"),
        "{man:.300}"
    );
    // The demo with no runtime on the data dir: what to start first.
    let demo = plain(&[
        "demo",
        "--data-dir",
        dir.path().join("nobody").to_str().unwrap(),
    ]);
    assert_eq!(demo.status.code(), Some(2), "{}", text(&demo));
    assert!(text(&demo).contains("agentdeck serve"), "{}", text(&demo));

    for format in ["text", "json"] {
        let data = dir.path().join(format!("data-{format}"));
        let log = dir.path().join(format!("serve-{format}.log"));
        let mut serve = crate::support::KillOnDrop(
            Command::new(bin)
                .args(["serve", "--listen", "127.0.0.1:0", "--log-format", format])
                .arg("--data-dir")
                .arg(&data)
                .arg("--config")
                .arg(&config)
                .env("AGENTDECK_LOCAL_TPS", "0")
                .env("AGENTDECK_ADMIN_KEY", "log-test-admin-key-0123456789")
                .env_remove("RUST_LOG")
                .env_remove("AGENTDECK_LOG")
                .env_remove("AGENTDECK_DATABASE_URL")
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let info = loop {
            if let Some(info) = agentdeck::runtime::read_serve_info(&data) {
                break info;
            }
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        let as_admin = |args: &[&str]| {
            Command::new(bin)
                .args(args)
                .args(["--remote", &info.url])
                .env("AGENTDECK_API_KEY", "log-test-admin-key-0123456789")
                .env("AGENTDECK_LOCAL_TPS", "0")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let sent = as_admin(&["send", "--assistant", "billing", "hello from the log test"]);
        assert!(sent.status.success(), "{}", text(&sent));
        if format == "text" {
            // `assistants update` from a JSON file of the fields to change, and the warning
            // for a model no provider serves, on the next start.
            let patch = dir.path().join("patch.json");
            std::fs::write(
                &patch,
                r#"{"model": "claude-sonnet-x", "instructions": "Be brief."}"#,
            )
            .unwrap();
            let updated = as_admin(&[
                "assistants",
                "update",
                "billing",
                "--file",
                patch.to_str().unwrap(),
            ]);
            assert!(updated.status.success(), "{}", text(&updated));
            let json: serde_json::Value = serde_json::from_slice(&updated.stdout).unwrap();
            assert_eq!(json["model"], "claude-sonnet-x");
            assert_eq!(json["instructions"], "Be brief.");
        }
        // SIGTERM: a clean stop.
        let _ = Command::new("kill")
            .args(["-TERM", &serve.0.id().to_string()])
            .status();
        let _ = serve.0.wait();
        let written = std::fs::read_to_string(&log).unwrap();
        assert!(
            !written.contains('\u{1b}'),
            "colour codes in a file: {written}"
        );
        assert!(
            !written.contains("tantivy"),
            "dependencies' info: {written}"
        );
        assert!(written.contains("providers from"), "{written}");
        assert!(
            written.contains("openai (openai-responses, http://127.0.0.1:9/v1): models gpt-*"),
            "{written}"
        );
        let lines: Vec<&str> = written
            .lines()
            .filter(|l| l.contains("request") || l.contains("run ended"))
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l.contains("/v2/threads") && l.contains("200")),
            "a line per request: {written}"
        );
        assert!(
            lines.iter().any(|l| l.contains("run ended")),
            "a line per run: {written}"
        );
        if format == "json" {
            for line in written.lines().filter(|l| l.starts_with('{')) {
                let event: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
                assert!(event.get("level").is_some(), "{line}");
            }
            assert!(
                written
                    .lines()
                    .any(|l| l.starts_with('{') && l.contains("\"path\"")),
                "{written}"
            );
        }
    }
    // The updated billing asks for a model no provider serves: said at start.
    let data = dir.path().join("data-text");
    let log = dir.path().join("serve-again.log");
    let mut serve = crate::support::KillOnDrop(
        Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .arg("--config")
            .arg(&config)
            .env("AGENTDECK_ADMIN_KEY", "log-test-admin-key-0123456789")
            .env_remove("AGENTDECK_DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let written = std::fs::read_to_string(&log).unwrap_or_default();
        if written.contains("WARNING: assistant billing") {
            assert!(
                written.contains("claude-sonnet-x") && written.contains("built-in local model"),
                "{written}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no warning: {written}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = serve.0.kill();
}
