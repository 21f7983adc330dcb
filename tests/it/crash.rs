//! kill -9 of `agentdeck serve` mid-generation loses no completed message.

use crate::support::*;
use agentdeck::client::Client;
use agentdeck::model::MessageStatus;
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_killed_server_keeps_completed_messages_and_marks_the_cut_reply_incomplete() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, info) = spawn_serve(dir.path(), Some("sk-admin-crash-test")).await;
    assert_eq!(info.pid, child.id());
    let client = Client::new(&info.url, "sk-admin-crash-test");
    let project = client
        .create_project(&agentdeck::model::requests::ProjectCreate {
            name: "crash".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = client.with_project(Some(project.id.clone()));
    let a = client
        .create_assistant(&assistant("writer", json!([]), vec![]))
        .await
        .unwrap();
    let done_thread = new_thread(&client, &a.id).await;
    let completed = ask(&client, &done_thread, "a short answer please").await;
    assert_eq!(completed.status, MessageStatus::Completed);

    let cut_thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&cut_thread, &user("/slow 100 /long 3000"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let stream = client.message_stream(&cut_thread, &reply_id);
    futures::pin_mut!(stream);
    let mut streamed = String::new();
    let mut deltas = 0;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        if event.name() == "message.delta" {
            streamed.push_str(event.data()["delta"].as_str().unwrap());
            deltas += 1;
            if deltas == 60 {
                break;
            }
        }
    }
    // Let the periodic save of the partial reply reach the disk, then kill without warning.
    tokio::time::sleep(Duration::from_millis(700)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let server = TestServer::start_in(dir).await;
    let admin = server.admin();
    let kept = admin.message(&done_thread, &completed.id).await.unwrap();
    assert_eq!(kept, completed, "the completed message survived whole");
    let cut = admin.message(&cut_thread, &reply_id).await.unwrap();
    assert_eq!(cut.status, MessageStatus::Incomplete);
    assert_eq!(
        cut.error.as_ref().unwrap().code.as_deref(),
        Some("interrupted")
    );
    let text = cut.text();
    assert!(!text.is_empty(), "the text received so far is kept");
    assert!(
        text.starts_with(&streamed) || streamed.starts_with(&text),
        "kept text is the reply's beginning"
    );
    assert!(text.split_whitespace().count() < 3000);
    let thread = admin.thread(&cut_thread).await.unwrap();
    assert_eq!(thread.status, agentdeck::model::ThreadStatus::Active);
    // The thread goes on.
    let next = ask(&admin, &cut_thread, "still there?").await;
    assert_eq!(next.status, MessageStatus::Completed);
    // A finished replay of the cut reply ends instead of waiting forever.
    let replay = collect(admin.message_stream(&cut_thread, &reply_id)).await;
    assert!(replay.iter().any(|e| e.name() == "message.delta"));
    server.stop().await;
}
