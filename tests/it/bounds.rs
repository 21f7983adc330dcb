//! Every run is bounded: output per reply, cancel that reaches routed children, and a
//! server that stops on SIGTERM in time, keeping what it wrote.

use crate::support::*;
use agentdeck::model::{MessageStatus, ThreadStatus};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_runaway_reply_ends_incomplete_at_its_output_bound() {
    let server = TestServer::start().await;
    let (_, client) = server.project("bounds").await;
    let mut capped = assistant("capped", json!([]), vec![]);
    capped.max_output_tokens = Some(300);
    let capped = client.create_assistant(&capped).await.unwrap();
    assert_eq!(capped.max_output_tokens, Some(300));
    let thread = new_thread(&client, &capped.id).await;
    let started = Instant::now();
    let reply = ask(&client, &thread, "/long 1000000000 go").await;
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(
        reply.error.as_ref().unwrap().code.as_deref(),
        Some("max_output_tokens")
    );
    let words = reply.text().split_whitespace().count();
    assert!((200..=300).contains(&words), "{words} words");
    assert!(reply.usage.output_tokens <= 300);

    // Without a bound of its own, an assistant gets the server's default.
    let plain = client
        .create_assistant(&assistant("plain", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &plain.id).await;
    let reply = ask(&client, &thread, "/long 1000000000 go").await;
    assert_eq!(reply.status, MessageStatus::Incomplete);
    let words = reply.text().split_whitespace().count();
    let default = agentdeck::config::DEFAULT_REPLY_OUTPUT_TOKENS as usize;
    assert!(words <= default && words > default - 100, "{words} words");

    // Bounds outside 1..=ceiling are refused, naming the field.
    for bad in [0, agentdeck::config::DEFAULT_MAX_OUTPUT_TOKENS + 1] {
        let mut request = assistant("bad", json!([]), vec![]);
        request.max_output_tokens = Some(bad);
        let err = client.create_assistant(&request).await.unwrap_err();
        assert_eq!(err.status(), Some(400));
        assert!(err.to_string().contains("max_output_tokens"), "{err}");
    }
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_a_huge_reply_and_its_routed_child_within_a_second() {
    let server = TestServer::start().await;
    let (_, client) = server.project("cancel cascade").await;
    // The child waits in a tool that would take a minute.
    let tools = json!([{
        "type": "function",
        "function": {"name": "slow_lookup", "description": "", "parameters": {"type": "object"}},
        "handler": {"command": ["sleep", "60"], "timeout_ms": 120000}
    }]);
    let writer = client
        .create_assistant(&assistant("writer", tools, vec![]))
        .await
        .unwrap();
    let lead = client
        .create_assistant(&assistant("lead", json!([]), vec![writer.id.clone()]))
        .await
        .unwrap();
    let thread = new_thread(&client, &lead.id).await;
    let posted = client
        .post_message(&thread, &user("/route writer please do a slow lookup"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    // Wait until the child runs its tool.
    let mut child = None;
    for _ in 0..500 {
        let children = client
            .list_threads(&[("parent_thread_id", thread.as_str())])
            .await
            .unwrap();
        if let Some(found) = children.data.first() {
            let streaming = client
                .list_messages(&found.id, &[("limit", "1")])
                .await
                .unwrap()
                .data
                .first()
                .is_some_and(|m| !m.tool_calls.is_empty());
            if streaming {
                child = Some(found.id.clone());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let child = child.expect("the routed child calls its tool within 10 s");
    let asked = Instant::now();
    client.cancel(&thread).await.unwrap();
    let reply = wait_reply(&client, &thread, &reply_id).await;
    assert_eq!(reply.status, MessageStatus::Incomplete);
    eventually("both threads stop", || async {
        client.thread(&thread).await.unwrap().status == ThreadStatus::Active
            && client.thread(&child).await.unwrap().status == ThreadStatus::Active
    })
    .await;
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    let child_reply = client
        .list_messages(&child, &[("limit", "1")])
        .await
        .unwrap()
        .data
        .remove(0);
    assert_eq!(child_reply.status, MessageStatus::Incomplete);
    assert_eq!(
        child_reply.tool_calls[0].status,
        agentdeck::model::ToolCallStatus::Cancelled
    );
    server.stop().await;
}

#[tokio::test]
async fn sigterm_stops_the_server_within_five_seconds_and_keeps_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let key = "sk-admin-sigterm";
    let (mut child, info) = spawn_serve(dir.path(), Some(key)).await;
    let admin = agentdeck::client::Client::new(&info.url, key);
    let project = admin
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "sigterm".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = admin.with_project(Some(project.id));
    let a = client
        .create_assistant(&assistant("a", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply_id = post(&client, &thread, "/slow 50 /long 1000000000 go").await;
    eventually("text streams", || async {
        client
            .message(&thread, &reply_id)
            .await
            .unwrap()
            .text()
            .len()
            > 40
    })
    .await;
    let read = client.message(&thread, &reply_id).await.unwrap().text();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) is needed by this test");
    assert!(status.success());
    let asked = Instant::now();
    let exited = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "still running 5 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exited.success(), "{exited:?}");
    let server = TestServer::start_in(dir).await;
    let reply = server.admin().message(&thread, &reply_id).await.unwrap();
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert!(reply.text().starts_with(&read), "the text read survives");
    server.stop().await;
}
