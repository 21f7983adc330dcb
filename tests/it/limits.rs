//! Project limits, enforced: `concurrent_threads` as a first-come queue and
//! `tokens_per_minute` as a budget runs wait for, their threads `queued` meanwhile.

use crate::support::*;
use agentdeck::client::Client;
use agentdeck::model::{MessageStatus, ThreadStatus};
use serde_json::{Value, json};
use std::time::Duration;

async fn limited_project(server: &TestServer, name: &str, limits: Value) -> (String, Client) {
    let admin = server.admin();
    let project: Value = admin
        .post("/v2/projects", &json!({"name": name, "limits": limits}))
        .await
        .unwrap();
    let id = project["id"].as_str().unwrap().to_string();
    (id.clone(), admin.with_project(Some(id)))
}

#[tokio::test]
async fn no_more_than_the_allowed_runs_at_once_and_the_rest_queue_in_order() {
    let server = TestServer::start().await;
    let (project, client) = limited_project(
        &server,
        "two at a time",
        json!({"tokens_per_minute": 10_000_000, "concurrent_threads": 2}),
    )
    .await;
    let a = client
        .create_assistant(&assistant("worker", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    let mut runs = Vec::new();
    for _ in 0..8 {
        let thread = new_thread(&client, &a).await;
        let reply = post(&client, &thread, "/slow 300 /long 60 go").await;
        runs.push((thread, reply));
    }
    let (mut most_running, mut most_queued, mut saw_queued_status) = (0, 0, false);
    loop {
        let limits = client.limits(&project).await.unwrap();
        assert!(
            limits.running_threads <= 2,
            "never more than 2 running: {limits:?}"
        );
        most_running = most_running.max(limits.running_threads);
        most_queued = most_queued.max(limits.queued_threads);
        let threads = client.list_threads(&[("limit", "100")]).await.unwrap().data;
        saw_queued_status |= threads.iter().any(|t| t.status == ThreadStatus::Queued);
        if threads.iter().all(|t| t.status == ThreadStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(most_running, 2);
    assert!(most_queued >= 4, "runs waited: {most_queued}");
    assert!(saw_queued_status, "threads showed `queued`");
    for (thread, reply) in &runs {
        let message = client.message(thread, reply).await.unwrap();
        assert_eq!(message.status, MessageStatus::Completed, "{message:?}");
    }
    let limits = client.limits(&project).await.unwrap();
    assert_eq!((limits.running_threads, limits.queued_threads), (0, 0));
}

#[tokio::test]
async fn a_spent_token_budget_holds_runs_queued_until_cancelled() {
    let server = TestServer::start().await;
    let (project, client) = limited_project(
        &server,
        "tiny budget",
        json!({"tokens_per_minute": 1, "concurrent_threads": 10}),
    )
    .await;
    let a = client
        .create_assistant(&assistant("worker", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    // The first run may start (nothing used yet) and spends the minute's budget.
    let first = new_thread(&client, &a).await;
    let done = ask(&client, &first, "hello").await;
    assert_eq!(done.status, MessageStatus::Completed);
    let second = new_thread(&client, &a).await;
    let reply = post(&client, &second, "hello again").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        client.thread(&second).await.unwrap().status,
        ThreadStatus::Queued
    );
    let limits = client.limits(&project).await.unwrap();
    assert_eq!(limits.queued_threads, 1, "{limits:?}");
    assert!(limits.tokens_used_last_minute >= 1);
    client.cancel(&second).await.unwrap();
    let cut = wait_reply(&client, &second, &reply).await;
    assert_eq!(cut.status, MessageStatus::Incomplete);
    eventually("the thread to be free", || async {
        client.thread(&second).await.unwrap().status == ThreadStatus::Active
    })
    .await;
    assert_eq!(client.limits(&project).await.unwrap().queued_threads, 0);
}

/// Cost: usage times the price table, per reply, per thread, per assistant and project.
#[tokio::test]
async fn replies_threads_and_assistants_add_up_their_cost() {
    let config =
        agentdeck::config::Config::parse("[prices.local]\ninput = 1000.0\noutput = 2000.0\n")
            .unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await;
    let (project, client) = server.project("priced").await;
    let a = client
        .create_assistant(&assistant("writer", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    let b = client
        .create_assistant(&assistant("reader", json!([]), vec![]))
        .await
        .unwrap()
        .id;
    let mut expected_a = 0.0;
    let thread = new_thread(&client, &a).await;
    for text in ["hello", "tell me more"] {
        let reply = ask(&client, &thread, text).await;
        let price = (reply.usage.input_tokens as f64 * 1000.0
            + reply.usage.output_tokens as f64 * 2000.0)
            / 1_000_000.0;
        assert!(price > 0.0);
        assert!((reply.estimated_cost - price).abs() < 1e-9, "{reply:?}");
        expected_a += price;
    }
    let thread_cost = client.thread(&thread).await.unwrap().estimated_cost;
    assert!(
        (thread_cost - expected_a).abs() < 1e-9,
        "{thread_cost} vs {expected_a}"
    );
    let other = new_thread(&client, &b).await;
    let expected_b = ask(&client, &other, "hi").await.estimated_cost;
    let costs: Value = client
        .get(&format!("/v2/projects/{}/costs", project.id))
        .await
        .unwrap();
    let rows = costs["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{costs}");
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap().clone();
    assert_eq!(row("writer")["threads"], 1);
    assert!((row("writer")["estimated_cost"].as_f64().unwrap() - expected_a).abs() < 1e-9);
    assert!((row("reader")["estimated_cost"].as_f64().unwrap() - expected_b).abs() < 1e-9);
    let total = costs["estimated_cost"].as_f64().unwrap();
    assert!((total - expected_a - expected_b).abs() < 1e-9, "{costs}");
    assert!((client.limits(&project.id).await.unwrap().estimated_cost - total).abs() < 1e-9);
}

/// A run that spent the minute's budget waits, `queued`, before its next model call.
#[tokio::test]
async fn a_run_past_its_budget_waits_before_the_next_model_call() {
    let server = TestServer::start().await;
    let (_, client) = limited_project(
        &server,
        "spent mid-run",
        json!({"tokens_per_minute": 1, "concurrent_threads": 10}),
    )
    .await;
    let tools = json!([{"type": "function",
        "function": {"name": "lookup_order", "description": "lookup order", "parameters": {"type": "object", "properties": {}}},
        "handler": {"command": ["sh", "-c", "cat >/dev/null; printf shipped"], "timeout_ms": 5000}}]);
    let a = client
        .create_assistant(&assistant("worker", tools, vec![]))
        .await
        .unwrap()
        .id;
    let thread = new_thread(&client, &a).await;
    let reply = post(&client, &thread, "/tool lookup_order {}").await;
    eventually("the run to wait after its tool call", || async {
        client.thread(&thread).await.unwrap().status == ThreadStatus::Queued
    })
    .await;
    let waiting = client.message(&thread, &reply).await.unwrap();
    assert_eq!(waiting.tool_calls.len(), 1);
    assert_eq!(waiting.tool_calls[0].output.as_deref(), Some("shipped"));
    client.cancel(&thread).await.unwrap();
    let cut = wait_reply(&client, &thread, &reply).await;
    assert_eq!(cut.status, MessageStatus::Incomplete);
}
