//! Thread memory: the window, reflection summaries, retrieval with scores, the endpoint
//! and `memory.updated` events.

use crate::support::*;
use agentdeck::client::ClientError;
use agentdeck::model::Role;
use agentdeck::model::memory::MemoryView;
use futures::StreamExt;
use serde_json::{Value, json};

fn remembering(name: &str, window_tokens: u32) -> agentdeck::model::requests::AssistantCreate {
    serde_json::from_value(json!({
        "name": name, "instructions": "You help customers.", "model": "local",
        "memory": {"enabled": true, "summary_method": "reflection", "window_tokens": window_tokens},
    }))
    .unwrap()
}

#[tokio::test]
async fn turns_leave_the_window_into_a_summary_and_come_back_by_similarity() {
    let server = TestServer::start().await;
    let (_, client) = server.project("memory").await;
    let a = client
        .create_assistant(&remembering("keeper", 120))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let mut updates = Box::pin(client.events(&format!("/v2/threads/{thread}/events"), Some(0)));

    let turns = [
        "Order ORD-4521 was charged twice and I want the second charge refunded",
        "My password reset email never arrives in my inbox",
        "What time does the support desk open on Sundays",
    ];
    for (i, text) in turns.iter().enumerate() {
        ask(&client, &thread, text).await;
        // Each run indexes its two turns after it ends, and the summary covers them (from
        // the first run on: reflection does not wait for turns to leave the window).
        let want = 2 * (i + 1);
        eventually("the turns to be indexed and reflected on", || async {
            let memory = client.memory(&thread).await.unwrap();
            memory.indexed_turns == want && memory.folded_turns == want
        })
        .await;
        if i == 0 {
            let memory = client.memory(&thread).await.unwrap();
            let summary = memory.summary.expect("a summary after the first run");
            assert!(summary.contains("ORD-4521"), "{summary}");
        }
    }
    let memory = client.memory(&thread).await.unwrap();
    assert!(memory.enabled);
    assert_eq!(memory.summary_method.as_deref(), Some("reflection"));
    assert!(
        memory.folded_turns >= 2,
        "turns left a 120-token window: {memory:?}"
    );
    let summary = memory
        .summary
        .clone()
        .expect("a summary of what left the window");
    assert!(summary.contains("ORD-4521"), "{summary}");
    assert!(memory.window.turns >= 1 && memory.window.budget_tokens == 120);
    assert!(
        memory
            .changes
            .iter()
            .any(|c| c.what.starts_with("summary rewritten")),
        "{:?}",
        memory.changes
    );

    // A new message about the first order retrieves the turn about it, with a score.
    let reply = ask(
        &client,
        &thread,
        "Any news on the refund of the second charge for order ORD-4521?",
    )
    .await;
    let memory = client.memory(&thread).await.unwrap();
    let best = memory.vector_context.first().expect("a retrieved turn");
    assert!(
        best.text.contains("ORD-4521"),
        "{:?}",
        memory.vector_context
    );
    assert!(best.score > 0.2 && best.score <= 1.0, "{}", best.score);
    // Roles as the guide shows them; an assistant's turn says which assistant.
    for turn in &memory.vector_context {
        match turn.role {
            Role::User => assert_eq!(turn.assistant, None),
            Role::Assistant => assert_eq!(turn.assistant.as_deref(), Some("keeper")),
            other => panic!("role {other:?}: {:?}", memory.vector_context),
        }
    }
    assert!(
        memory
            .vector_context
            .windows(2)
            .all(|w| w[0].score >= w[1].score),
        "best first"
    );
    let reasoning: String = reply.reasoning.iter().map(|s| s.text.clone()).collect();
    assert!(
        reasoning.contains("Memory gives me a summary of the earlier conversation and"),
        "the model got the summary and the retrieved turns: {reasoning}"
    );

    // Every change was announced with the memory as the endpoint shows it.
    let mut seen = Vec::new();
    while let Ok(Some(Ok(event))) =
        tokio::time::timeout(std::time::Duration::from_millis(500), updates.next()).await
    {
        if event.name() == "memory.updated" {
            assert_eq!(event.data()["thread_id"], json!(thread));
            let view: MemoryView = serde_json::from_value(event.data()["memory"].clone()).unwrap();
            seen.push(view);
        }
    }
    assert!(seen.len() >= 4, "{} memory.updated events", seen.len());
    assert!(seen.iter().any(|v| v.summary.is_some()));
    assert!(seen.iter().any(|v| !v.vector_context.is_empty()));

    // Memory survives a restart (once the last run is reflected on).
    eventually("the last run reflected on", || async {
        let memory = client.memory(&thread).await.unwrap();
        memory.folded_turns == 8 && memory.indexed_turns == 8
    })
    .await;
    let memory = client.memory(&thread).await.unwrap();
    let dir = server.stop().await;
    let server = TestServer::start_in(dir).await;
    let again: MemoryView = server.admin().memory(&thread).await.unwrap();
    assert_eq!(again.summary, memory.summary);
    assert_eq!(again.indexed_turns, memory.indexed_turns);
}

#[tokio::test]
async fn without_memory_nothing_is_kept_and_bad_settings_are_refused() {
    let server = TestServer::start().await;
    let (_, client) = server.project("forgetful").await;
    let a = client
        .create_assistant(&assistant("plain", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    ask(&client, &thread, "Order ORD-1 is late").await;
    let memory = client.memory(&thread).await.unwrap();
    assert!(!memory.enabled);
    assert_eq!(memory.summary, None);
    assert!(memory.vector_context.is_empty() && memory.changes.is_empty());
    assert_eq!(memory.updated_at, None);

    let err = client.memory("thread_nope").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    for (memory, param) in [
        (
            json!({"enabled": true, "summary_method": "magic"}),
            "memory.summary_method",
        ),
        (
            json!({"enabled": true, "window_tokens": 3}),
            "memory.window_tokens",
        ),
    ] {
        let err = client
            .post::<Value>(
                "/v2/assistants",
                &json!({"name": "x", "model": "local", "memory": memory}),
            )
            .await
            .unwrap_err();
        match err {
            ClientError::Api { status, body } => {
                assert_eq!(status, 400);
                assert_eq!(body.param.as_deref(), Some(param));
            }
            other => panic!("{other}"),
        }
    }
    // Another project's thread is not found.
    let (_, other) = server.project("other").await;
    assert_eq!(other.memory(&thread).await.unwrap_err().status(), Some(404));
}
