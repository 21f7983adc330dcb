//! Telemetry delivered to a project's `logs_webhook` that is slow, then down, then back:
//! every event arrives once, in order, and no run waits for the webhook.

use crate::support::*;
use agentdeck::config::Config;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const OK: u8 = 0;
const SLOW: u8 = 1;
const DOWN: u8 = 2;

#[derive(Default)]
struct Receiver {
    mode: AtomicU8,
    /// (Idempotency-Key, events) of every batch answered 2xx.
    accepted: Mutex<Vec<(String, Vec<Value>)>>,
    refused: AtomicU8,
}

#[tokio::test]
async fn a_slow_then_dead_then_back_webhook_gets_every_event_once() {
    let receiver = Arc::new(Receiver::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let r = receiver.clone();
    let app = axum::Router::new().route(
        "/logs",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let r = r.clone();
            async move {
                match r.mode.load(Ordering::SeqCst) {
                    DOWN => {
                        r.refused.fetch_add(1, Ordering::SeqCst);
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    SLOW => tokio::time::sleep(Duration::from_millis(1500)).await,
                    _ => {}
                }
                let key = headers
                    .get("idempotency-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let events: Vec<Value> = serde_json::from_str(&body).unwrap_or_default();
                r.accepted.lock().unwrap().push((key, events));
                StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let config = Config::parse("[telemetry]\nallowed_domains = [\"127.0.0.1\"]\n").unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await;
    let admin = server.admin();
    let project: Value = admin
        .post(
            "/v2/projects",
            &json!({"name": "shipped", "logs_webhook": format!("http://127.0.0.1:{port}/logs")}),
        )
        .await
        .unwrap();
    let client = admin.with_project(Some(project["id"].as_str().unwrap().to_string()));
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap()
        .id;

    let mut threads = Vec::new();
    for mode in [SLOW, DOWN, DOWN, DOWN] {
        receiver.mode.store(mode, Ordering::SeqCst);
        let thread = new_thread(&client, &a).await;
        let started = Instant::now();
        ask(&client, &thread, "hello").await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a run never waits for the webhook: {:?}",
            started.elapsed()
        );
        threads.push(thread);
    }
    eventually("the dead webhook to be tried", || async {
        receiver.refused.load(Ordering::SeqCst) >= 1
    })
    .await;
    receiver.mode.store(OK, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered: usize = receiver
            .accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, events)| events.len())
            .sum();
        if delivered >= 4 {
            break;
        }
        assert!(Instant::now() < deadline, "delivered {delivered} of 4");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let accepted = receiver.accepted.lock().unwrap().clone();
    let mut keys: Vec<&String> = accepted.iter().map(|(key, _)| key).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), accepted.len(), "no batch delivered twice");
    let delivered: Vec<&str> = accepted
        .iter()
        .flat_map(|(_, events)| events.iter().map(|e| e["thread_id"].as_str().unwrap()))
        .collect();
    let expected: Vec<&str> = threads.iter().map(String::as_str).collect();
    assert_eq!(delivered, expected, "every event once, in order");
    assert!(
        accepted
            .iter()
            .all(|(_, events)| events.iter().all(|e| e["event"] == "model_call"))
    );
}
