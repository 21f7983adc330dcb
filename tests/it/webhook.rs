//! Webhook tools against a local receiver and a local OAuth2 token endpoint, through the
//! real `agentdeck serve` (the client secret is in its environment): the payload checked
//! against the schema, the token fetched once, kept and renewed on a 401, and every
//! network rule — loopback by IP and by name, a redirect to a refused host, strict
//! domains, cloud metadata — refused before anything is sent.

use crate::support::*;
use agentdeck::client::Client;
use agentdeck::model::{ToolCall, ToolCallStatus};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_ID: &str = "agentdeck-test-client";
const CLIENT_SECRET: &str = "s3cret-from-the-environment";

#[derive(Default)]
struct Receiver {
    /// (Authorization header, payload) of every webhook call that arrived.
    hooks: Mutex<Vec<(Option<String>, Value)>>,
    tokens_issued: AtomicUsize,
    /// Tokens the receiver no longer accepts.
    revoked: Mutex<Vec<String>>,
}

async fn token(receiver: Arc<Receiver>, body: String) -> axum::response::Response {
    let form: std::collections::HashMap<String, String> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let expected = [
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("scope", "cases"),
    ];
    if expected
        .iter()
        .any(|(k, v)| form.get(*k).map(String::as_str) != Some(*v))
    {
        return (StatusCode::UNAUTHORIZED, format!("bad client: {form:?}")).into_response();
    }
    let n = receiver.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(
        json!({"access_token": format!("tok-{n}"), "token_type": "bearer", "expires_in": 3600}),
    )
    .into_response()
}

async fn hook(
    receiver: Arc<Receiver>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Some(auth) = &auth {
        if receiver
            .revoked
            .lock()
            .unwrap()
            .iter()
            .any(|t| auth == &format!("Bearer {t}"))
        {
            return (StatusCode::UNAUTHORIZED, "token revoked").into_response();
        }
    }
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    receiver.hooks.lock().unwrap().push((auth, payload));
    (StatusCode::CREATED, axum::Json(json!({"case": "created"}))).into_response()
}

/// The receiver on 127.0.0.1; returns its port.
async fn start_receiver(receiver: Arc<Receiver>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (r1, r2) = (receiver.clone(), receiver.clone());
    let app = axum::Router::new()
        .route("/token", post(move |body: String| token(r1.clone(), body)))
        .route(
            "/token-broken",
            post(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "token service down") }),
        )
        .route(
            "/hook",
            post(move |headers: HeaderMap, body: String| hook(r2.clone(), headers, body)),
        )
        .route("/big", post(|| async { "x".repeat(1024 * 1024) }))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
        .route(
            "/redirect",
            post(move || async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [("location", format!("http://localhost:{port}/hook"))],
                )
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    port
}

struct Setup {
    client: Client,
    port: u16,
}

impl Setup {
    /// An assistant with one webhook tool `case_update` (`tool` adjusts it) and `safety`.
    async fn assistant(&self, tool: impl FnOnce(&mut Value), safety: Value) -> String {
        let port = self.port;
        let mut webhook = json!({
            "type": "webhook",
            "name": "case_update",
            "description": "Update a case in the case system.",
            "parameters": {
                "type": "object",
                "properties": {"case_id": {"type": "string"}, "amount": {"type": "number"}},
                "required": ["case_id"],
                "additionalProperties": false
            },
            "endpoint": format!("http://127.0.0.1:{port}/hook"),
            "auth": {
                "type": "oauth2",
                "token_url": format!("http://127.0.0.1:{port}/token"),
                "client_id_env": "AGENTDECK_TEST_CLIENT_ID",
                "client_secret_env": "AGENTDECK_TEST_CLIENT_SECRET",
                "scope": "cases"
            },
            "timeout_ms": 3000
        });
        tool(&mut webhook);
        let mut body = serde_json::to_value(assistant("ops", json!([webhook]), vec![])).unwrap();
        body["safety"] = safety;
        let created: Value = self.client.post("/v2/assistants", &body).await.unwrap();
        created["id"].as_str().unwrap().to_string()
    }

    /// Has the assistant call `case_update` with `payload`; returns the finished call.
    async fn call(&self, assistant_id: &str, payload: Value) -> ToolCall {
        let thread = new_thread(&self.client, assistant_id).await;
        let reply = ask(
            &self.client,
            &thread,
            &format!("/tool case_update {payload}"),
        )
        .await;
        assert_eq!(reply.tool_calls.len(), 1, "{reply:?}");
        reply.tool_calls[0].clone()
    }
}

fn loopback() -> Value {
    json!({"strict": false, "allowed_domains": ["127.0.0.1"]})
}

fn failed_with(call: &ToolCall, words: &[&str]) {
    assert_eq!(call.status, ToolCallStatus::Failed, "{call:?}");
    let output = call.output.as_deref().unwrap_or_default();
    for word in words {
        assert!(output.contains(word), "{word:?} not in {output:?}");
    }
}

#[tokio::test]
async fn webhooks_send_checked_payloads_with_oauth2_and_keep_the_network_rules() {
    let receiver = Arc::new(Receiver::default());
    let port = start_receiver(receiver.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-admin-webhook-test";
    let (mut child, info) = spawn_serve_with_env(
        dir.path(),
        Some(key),
        &[
            ("AGENTDECK_TEST_CLIENT_ID", CLIENT_ID),
            ("AGENTDECK_TEST_CLIENT_SECRET", CLIENT_SECRET),
        ],
    )
    .await;
    let admin = Client::new(&info.url, key);
    let project: Value = admin
        .post("/v2/projects", &json!({"name": "webhooks"}))
        .await
        .unwrap();
    let setup = Setup {
        client: admin.with_project(Some(project["id"].as_str().unwrap().into())),
        port,
    };
    let hooks = || receiver.hooks.lock().unwrap().clone();

    // Sent, with a token fetched once and kept.
    let ops = setup.assistant(|_| {}, loopback()).await;
    let call = setup
        .call(&ops, json!({"case_id": "C-1", "amount": 49.9}))
        .await;
    assert_eq!(call.status, ToolCallStatus::Completed, "{call:?}");
    let output = call.output.clone().unwrap();
    assert!(output.starts_with("HTTP 201 Created"), "{output}");
    assert!(output.contains(r#"{"case":"created"}"#), "{output}");
    assert!(call.latency_ms.is_some());
    setup.call(&ops, json!({"case_id": "C-2"})).await;
    assert_eq!(
        hooks(),
        vec![
            (
                Some("Bearer tok-1".into()),
                json!({"case_id": "C-1", "amount": 49.9})
            ),
            (Some("Bearer tok-1".into()), json!({"case_id": "C-2"})),
        ]
    );
    assert_eq!(receiver.tokens_issued.load(Ordering::SeqCst), 1);

    // A revoked token: one new token, one more try.
    receiver.revoked.lock().unwrap().push("tok-1".into());
    let call = setup.call(&ops, json!({"case_id": "C-3"})).await;
    assert_eq!(call.status, ToolCallStatus::Completed, "{call:?}");
    assert_eq!(receiver.tokens_issued.load(Ordering::SeqCst), 2);
    assert_eq!(hooks().last().unwrap().0.as_deref(), Some("Bearer tok-2"));

    // A payload that breaks the schema is not sent.
    let sent = hooks().len();
    let call = setup
        .call(&ops, json!({"case_id": "C-4", "amount": "lots"}))
        .await;
    failed_with(&call, &["does not match", "/amount", "nothing was sent"]);
    let call = setup.call(&ops, json!({"case": "C-4"})).await;
    failed_with(&call, &["case_id"]);

    // Network rules, each refused before anything reaches the receiver.
    let not_listed = setup.assistant(|_| {}, json!({})).await;
    failed_with(
        &setup.call(&not_listed, json!({"case_id": "C-5"})).await,
        &["127.0.0.1", "loopback", "allowed_domains"],
    );
    // Names that resolve to loopback: `localhost` and every other loopback name in
    // /etc/hosts; listing 127.0.0.1 does not let a name through.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    let mut names: Vec<String> = hosts
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default())
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let ip: std::net::IpAddr = fields.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| fields.map(str::to_string).collect::<Vec<_>>())
        })
        .flatten()
        .collect();
    names.push("localhost".into());
    names.dedup();
    for name in names.iter().take(4) {
        let by_name = setup
            .assistant(
                |t| t["endpoint"] = json!(format!("http://{name}:{port}/hook")),
                loopback(),
            )
            .await;
        failed_with(
            &setup.call(&by_name, json!({"case_id": "C-6"})).await,
            &[name.as_str(), "loopback"],
        );
    }
    let redirected = setup
        .assistant(
            |t| t["endpoint"] = json!(format!("http://127.0.0.1:{port}/redirect")),
            loopback(),
        )
        .await;
    failed_with(
        &setup.call(&redirected, json!({"case_id": "C-7"})).await,
        &["localhost", "loopback"],
    );
    let strict = setup
        .assistant(
            |_| {},
            json!({"strict": true, "allowed_domains": ["*.lawfirm.com"]}),
        )
        .await;
    failed_with(
        &setup.call(&strict, json!({"case_id": "C-8"})).await,
        &["not in this assistant's safety.allowed_domains"],
    );
    let metadata = setup
        .assistant(
            |t| t["endpoint"] = json!("http://169.254.169.254/latest/meta-data"),
            loopback(),
        )
        .await;
    failed_with(
        &setup.call(&metadata, json!({"case_id": "C-9"})).await,
        &["cloud metadata"],
    );
    assert_eq!(hooks().len(), sent, "nothing refused reached the receiver");

    // A token endpoint that fails; one that is refused; a missing secret.
    let broken = setup
        .assistant(
            |t| t["auth"]["token_url"] = json!(format!("http://127.0.0.1:{port}/token-broken")),
            loopback(),
        )
        .await;
    failed_with(
        &setup.call(&broken, json!({"case_id": "C-10"})).await,
        &["token endpoint answered HTTP 500", "token service down"],
    );
    let token_by_name = setup
        .assistant(
            |t| t["auth"]["token_url"] = json!(format!("http://localhost:{port}/token")),
            loopback(),
        )
        .await;
    failed_with(
        &setup.call(&token_by_name, json!({"case_id": "C-10"})).await,
        &["OAuth2 token endpoint failed", "localhost", "loopback"],
    );
    let no_secret = setup
        .assistant(
            |t| t["auth"]["client_secret_env"] = json!("AGENTDECK_TEST_NOT_SET"),
            loopback(),
        )
        .await;
    failed_with(
        &setup.call(&no_secret, json!({"case_id": "C-11"})).await,
        &["AGENTDECK_TEST_NOT_SET", "not set"],
    );

    // Slow: the call's own time limit. Big: the answer cut for the model.
    let slow = setup
        .assistant(
            |t| {
                t["endpoint"] = json!(format!("http://127.0.0.1:{port}/slow"));
                t["timeout_ms"] = json!(300);
            },
            loopback(),
        )
        .await;
    let started = std::time::Instant::now();
    failed_with(
        &setup.call(&slow, json!({"case_id": "C-12"})).await,
        &["did not answer within 300 ms"],
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let big = setup
        .assistant(
            |t| t["endpoint"] = json!(format!("http://127.0.0.1:{port}/big")),
            loopback(),
        )
        .await;
    let thread = new_thread(&setup.client, &big).await;
    let reply = ask(
        &setup.client,
        &thread,
        r#"/tool case_update {"case_id": "C-13"}"#,
    )
    .await;
    let call = &reply.tool_calls[0];
    assert_eq!(call.status, ToolCallStatus::Completed);
    let output = call.output.clone().unwrap();
    assert!(
        output.contains(
            "[cut at 65536 of 1048588 bytes for the model; the operator can read it whole]"
        ),
        "{}",
        &output[output.len() - 100..]
    );
    assert!(output.len() < 70_000);
    // Kept whole for the operator.
    let whole = reqwest::Client::new()
        .get(format!(
            "{}/v2/threads/{thread}/tool_calls/{}/output",
            info.url, call.id
        ))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(whole.len(), 1_048_588);
    assert!(whole.starts_with("HTTP 200 OK\nxxxx"));

    // Bad tool definitions are refused when the assistant is made.
    for (field, value) in [
        ("endpoint", json!("file:///etc/passwd")),
        ("parameters", json!({"type": "no-such-type"})),
        ("timeout_ms", json!(0)),
    ] {
        let mut webhook = json!({"type": "webhook", "endpoint": "https://example.com/x"});
        webhook[field] = value;
        let body = assistant("bad", json!([webhook]), vec![]);
        let err = setup
            .client
            .post::<Value>("/v2/assistants", &body)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(field), "{field}: {err}");
    }

    child.kill().unwrap();
    child.wait().unwrap();
}
