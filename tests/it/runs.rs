//! Runs: tool handlers, approvals, routing loops, failures, cancel, parallel runs.

use crate::support::*;
use agentdeck::model::{MessageStatus, ThreadStatus, ToolCallStatus};
use serde_json::json;

fn handler_tool(name: &str, script: &str, timeout_ms: u64) -> serde_json::Value {
    json!({"type": "function", "function": {"name": name, "description": format!("The {name} tool")},
           "handler": {"command": ["sh", "-c", script], "timeout_ms": timeout_ms}})
}

#[tokio::test]
async fn tool_commands_answer_fail_time_out_and_print_garbage_without_harm() {
    let server = TestServer::start().await;
    let (_, client) = server.project("tools").await;
    let tools = json!([
        handler_tool("echo_args", "cat", 5000),
        handler_tool("hang", "sleep 30", 300),
        handler_tool("broken", "echo 'disk on fire' >&2; exit 7", 5000),
        handler_tool("garbage", "printf '\\033[2J\\377\\376 ok'", 5000),
    ]);
    let a = client
        .create_assistant(&assistant("worker", tools, vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply = ask(
        &client,
        &thread,
        "/tool echo_args {\"x\": 1} /tool hang {} /tool broken {} /tool garbage {}",
    )
    .await;
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    let calls = &reply.tool_calls;
    assert_eq!(calls.len(), 4);
    assert_eq!(
        (calls[0].status, calls[0].output.as_deref()),
        (ToolCallStatus::Completed, Some(r#"{"x":1}"#))
    );
    assert_eq!(calls[1].status, ToolCallStatus::Failed);
    assert!(
        calls[1]
            .output
            .as_deref()
            .unwrap()
            .contains("timed out after 300 ms")
    );
    assert!(
        calls[1].latency_ms.unwrap() < 5000,
        "a hanging tool is stopped at its timeout"
    );
    assert_eq!(calls[2].status, ToolCallStatus::Failed);
    assert!(
        calls[2]
            .output
            .as_deref()
            .unwrap()
            .contains("status 7: disk on fire")
    );
    assert_eq!(calls[3].status, ToolCallStatus::Completed);
    assert!(calls[3].output.as_deref().unwrap().ends_with(" ok"));
    assert!(reply.text().contains("`echo_args`: {\"x\":1}"));
    assert_eq!(
        client.thread(&thread).await.unwrap().status,
        ThreadStatus::Active
    );

    // Invalid arguments and unknown tools become failed calls the model can read.
    let reply = ask(&client, &thread, "/tool echo_args {not json /tool nope {}").await;
    assert_eq!(reply.tool_calls[0].status, ToolCallStatus::Failed);
    assert!(
        reply.tool_calls[0]
            .output
            .as_deref()
            .unwrap()
            .contains("not a JSON object")
    );
    assert!(
        reply.tool_calls[1]
            .output
            .as_deref()
            .unwrap()
            .contains("There is no tool 'nope'")
    );
    server.stop().await;
}

#[tokio::test]
async fn approvals_hold_the_thread_until_approved_with_edits_or_denied() {
    let server = TestServer::start().await;
    let (_, client) = server.project("approvals").await;
    let mut body = assistant(
        "cautious",
        json!([handler_tool("pay", "cat", 5000)]),
        vec![],
    );
    body.approval = agentdeck::model::Approval::Always;
    let a = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &a.id).await;

    let posted = client
        .post_message(&thread, &user("/tool pay {\"amount\": 100}"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    eventually("approval wait", || async {
        client.thread(&thread).await.unwrap().status == ThreadStatus::RequiresAction
    })
    .await;
    let waiting = client.message(&thread, &reply_id).await.unwrap();
    assert_eq!(
        waiting.tool_calls[0].status,
        ToolCallStatus::RequiresApproval
    );
    let conflict = client
        .post_message(&thread, &user("hello?"))
        .await
        .unwrap_err();
    assert_eq!(conflict.status(), Some(409));
    client
        .approve(
            &thread,
            &waiting.tool_calls[0].id,
            Some(json!({"amount": 5})),
        )
        .await
        .unwrap();
    let done = wait_reply(&client, &thread, &reply_id).await;
    assert_eq!(done.status, MessageStatus::Completed);
    assert_eq!(
        done.tool_calls[0].output.as_deref(),
        Some(r#"{"amount":5}"#),
        "runs with the edited arguments"
    );

    let posted = client
        .post_message(&thread, &user("/tool pay {\"amount\": 1000000}"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    eventually("approval wait", || async {
        client.thread(&thread).await.unwrap().status == ThreadStatus::RequiresAction
    })
    .await;
    let waiting = client.message(&thread, &reply_id).await.unwrap();
    let err = client
        .approve(&thread, "call_unknown", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    client
        .deny(&thread, &waiting.tool_calls[0].id, Some("too much".into()))
        .await
        .unwrap();
    let done = wait_reply(&client, &thread, &reply_id).await;
    assert_eq!(done.tool_calls[0].status, ToolCallStatus::Denied);
    assert!(done.text().contains("denied this call: too much"));
    server.stop().await;
}

#[tokio::test]
async fn a_routing_loop_is_cut_off_and_reported() {
    let server = TestServer::start().await;
    let (_, client) = server.project("loop").await;
    let alpha = client
        .create_assistant(&assistant("alpha", json!([]), vec![]))
        .await
        .unwrap();
    let beta = client
        .create_assistant(&assistant("beta", json!([]), vec![alpha.id.clone()]))
        .await
        .unwrap();
    let patch = agentdeck::model::requests::AssistantPatch {
        routes_to: Some(vec!["beta".into()]),
        ..Default::default()
    };
    client
        .patch::<agentdeck::model::Assistant>(&format!("/v2/assistants/{}", alpha.id), &patch)
        .await
        .unwrap();
    let thread = new_thread(&client, &alpha.id).await;
    let reply = ask(&client, &thread, "/route beta please check this with alpha").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    let hop = &reply.tool_calls[0];
    assert_eq!(hop.status, ToolCallStatus::Completed);
    let linked = hop.thread_id.clone().unwrap();
    let beta_messages = client.all_messages(&linked).await.unwrap();
    let beta_reply = &beta_messages[1];
    assert_eq!(beta_reply.assistant_id.as_deref(), Some(beta.id.as_str()));
    let back = &beta_reply.tool_calls[0];
    assert_eq!(back.status, ToolCallStatus::Failed);
    assert_eq!(
        back.output.as_deref(),
        Some("Routing loop cut off: alpha → beta → alpha.")
    );

    // A route to an assistant that is not in routes_to fails plainly.
    let reply = ask(&client, &thread, "/route gamma hi").await;
    assert!(
        reply.tool_calls[0]
            .output
            .as_deref()
            .unwrap()
            .contains("'gamma' is not one of alpha's routes (beta)")
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_model_fails_the_reply_and_the_thread_goes_on() {
    let server = TestServer::start().await;
    let (_, client) = server.project("fail").await;
    let a = client
        .create_assistant(&assistant("flaky", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&thread, &user("/fail 500"))
        .await
        .unwrap();
    let events =
        collect(client.message_stream(&thread, posted.response_message_id.as_deref().unwrap()))
            .await;
    let error = events
        .iter()
        .find(|e| e.name() == "error")
        .expect("an error event");
    assert_eq!(error.data()["error"]["code"], "server_error");
    let reply = client
        .message(&thread, posted.response_message_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(reply.status, MessageStatus::Failed);
    assert_eq!(reply.error.unwrap().code.as_deref(), Some("server_error"));
    let next = ask(&client, &thread, "hello again").await;
    assert_eq!(next.status, MessageStatus::Completed);
    server.stop().await;
}

#[tokio::test]
async fn cancel_keeps_the_text_so_far_and_frees_the_thread() {
    let server = TestServer::start().await;
    let (_, client) = server.project("cancel").await;
    let a = client
        .create_assistant(&assistant("slow", json!([]), vec![]))
        .await
        .unwrap();
    let thread = new_thread(&client, &a.id).await;
    let posted = client
        .post_message(&thread, &user("/slow 200 /long 5000"))
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let busy = client
        .post_message(&thread, &user("another"))
        .await
        .unwrap_err();
    assert_eq!(busy.status(), Some(409));
    eventually("some text", || async {
        client
            .message(&thread, &reply_id)
            .await
            .unwrap()
            .text()
            .len()
            > 20
    })
    .await;
    client.cancel(&thread).await.unwrap();
    let reply = wait_reply(&client, &thread, &reply_id).await;
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(
        reply.error.as_ref().unwrap().code.as_deref(),
        Some("cancelled")
    );
    assert!(reply.text().split_whitespace().count() < 5000);
    assert!(!reply.text().is_empty());
    eventually("thread active", || async {
        client.thread(&thread).await.unwrap().status == ThreadStatus::Active
    })
    .await;
    assert_eq!(
        client.cancel(&thread).await.unwrap_err().status(),
        Some(409)
    );
    server.stop().await;
}

#[tokio::test]
async fn many_threads_run_at_once() {
    let server = TestServer::start().await;
    let (project, client) = server.project("parallel").await;
    let a = client
        .create_assistant(&assistant("busy", json!([]), vec![]))
        .await
        .unwrap();
    let mut threads = Vec::new();
    for i in 0..24 {
        let thread = new_thread(&client, &a.id).await;
        client
            .post_message(&thread, &user(&format!("/slow 20 /long 400 request {i}")))
            .await
            .unwrap();
        threads.push(thread);
    }
    // All 24 replies stream at the same time: none waits for another to finish.
    let running = client
        .list_threads(&[("status", "running"), ("limit", "100")])
        .await
        .unwrap();
    assert_eq!(running.data.len(), 24);
    assert_eq!(
        client.limits(&project.id).await.unwrap().running_threads,
        24
    );
    for thread in &threads {
        client.cancel(thread).await.unwrap();
    }
    eventually("all runs to stop", || async {
        client
            .list_threads(&[("status", "running")])
            .await
            .unwrap()
            .data
            .is_empty()
    })
    .await;
    server.stop().await;
}
