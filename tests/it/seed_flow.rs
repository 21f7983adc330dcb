//! The seed guide's calls, with its JSON as written, against the real server.

use crate::support::*;
use futures::StreamExt;
use serde_json::{Value, json};

/// One raw HTTP call, the way the guide's curl examples make it.
async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    key: &str,
    project: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", server.url))
        .header("Authorization", format!("Bearer {key}"));
    if let Some(project) = project {
        request = request.header("OpenAI-Project", project);
    }
    if let Some(body) = body {
        request = request
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn the_seed_guide_flow_works_as_written() {
    let server = TestServer::start().await;
    let admin = server.admin_key.clone();
    let post = reqwest::Method::POST;
    let get = reqwest::Method::GET;

    // 1. A project.
    let (status, project) = call(&server, post.clone(), "/v2/projects", &admin, None, Some(json!(
        {"name": "Customer Support AI", "description": "Handles 10k+ daily tickets", "assistant_type": "customer_service"}
    ))).await;
    assert_eq!(status, 200, "{project}");
    let project_id = project["id"].as_str().unwrap().to_string();
    assert!(project_id.starts_with("proj_"));
    assert_eq!(project["object"], "project");
    assert_eq!(project["assistant_type"], "customer_service");

    // A project key; from here on the guide's OPENAI_API_KEY is this key.
    let (status, key) = call(
        &server,
        post.clone(),
        &format!("/v2/projects/{project_id}/keys"),
        &admin,
        None,
        Some(json!({"name": "support"})),
    )
    .await;
    assert_eq!(status, 200, "{key}");
    assert_eq!(key["object"], "api_key");
    let api_key = key["key"].as_str().unwrap().to_string();

    // 2. The Legal Advisor assistant, exactly the guide's JSON.
    let (status, legal) = call(&server, post.clone(), "/v2/assistants", &api_key, Some(&project_id), Some(json!({
        "name": "Legal Advisor AI",
        "instructions": "You are a senior legal advisor. Answer only based on the provided documents. Cite sources. Never give medical or financial advice.",
        "model": "gpt-4-reasoner-2026",
        "tools": [{"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]},
                  {"type": "code_interpreter", "enabled": true}],
        "memory": {"enabled": true, "summary_method": "reflection"},
        "safety": {"strict": true, "allowed_domains": ["*.lawfirm.com", "*.court.gov"]}
    }))).await;
    assert_eq!(status, 200, "{legal}");
    let legal_id = legal["id"].as_str().unwrap().to_string();
    assert!(legal_id.starts_with("asst_"));
    assert_eq!(legal["object"], "assistant");
    assert_eq!(legal["project_id"], project_id.as_str());
    assert_eq!(
        legal["tools"][0],
        json!({"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]})
    );
    assert_eq!(
        legal["tools"][1],
        json!({"type": "code_interpreter", "enabled": true})
    );
    assert_eq!(
        legal["memory"],
        json!({"enabled": true, "summary_method": "reflection"})
    );
    assert_eq!(
        legal["safety"]["allowed_domains"],
        json!(["*.lawfirm.com", "*.court.gov"])
    );
    assert_eq!(legal["privacy"]["mode"], "off");
    assert_eq!(legal["routes_to"], json!([]));

    // 5 needs a function tool the operator answers: add `retrieve_clauses`.
    let (status, patched) = call(&server, reqwest::Method::PATCH, &format!("/v2/assistants/{legal_id}"), &api_key, None, Some(json!({
        "tools": [{"type": "file_search", "vector_store_ids": ["vs_legal_docs_2026"]},
                  {"type": "code_interpreter", "enabled": true},
                  {"type": "function", "function": {"name": "retrieve_clauses", "description": "Retrieve contract clauses",
                   "parameters": {"type": "object", "properties": {"section": {"type": "string"}}, "required": ["section"]}}}]
    }))).await;
    assert_eq!(status, 200, "{patched}");

    // 3. A thread with the guide's metadata.
    let (status, thread) = call(&server, post.clone(), "/v2/threads", &api_key, Some(&project_id), Some(json!(
        {"assistant_id": legal_id, "metadata": {"case_id": "CASE-2026-0456", "priority": "high"}}
    ))).await;
    assert_eq!(status, 200, "{thread}");
    let thread_id = thread["id"].as_str().unwrap().to_string();
    assert!(thread_id.starts_with("thread_"));
    assert_eq!(thread["object"], "thread");
    assert_eq!(thread["status"], "active");
    assert!(thread["created_at"].as_u64().unwrap() > 1_700_000_000);

    // 4. A message with an attachment (the contract uploaded first: an unknown file id
    // is a 404), and 11. its reply streamed.
    let (status, unknown) = call(
        &server,
        post.clone(),
        &format!("/v2/threads/{thread_id}/messages"),
        &api_key,
        None,
        Some(json!(
            {"role": "user", "content": "Summarize the contract",
             "attachments": [{"file_id": "file_contract_2026", "tools": [{"type": "file_search"}]}]}
        )),
    )
    .await;
    assert_eq!(status, 404, "{unknown}");
    let (status, contract) = upload(
        &server.url,
        &api_key,
        None,
        "acme-contract.txt",
        b"Liability shall not exceed $5M per annum.",
    )
    .await;
    assert_eq!(status, 200, "{contract}");
    let contract_id = contract["id"].as_str().unwrap().to_string();
    let (status, message) = call(&server, post.clone(), &format!("/v2/threads/{thread_id}/messages"), &api_key, None, Some(json!(
        {"role": "user", "content": "Can you summarize the key clauses in our contract with Acme Corp?",
         "attachments": [{"file_id": contract_id, "tools": [{"type": "file_search"}]}]}
    ))).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["object"], "thread.message");
    assert_eq!(message["role"], "user");
    assert_eq!(message["attachments"][0]["file_id"], contract_id.as_str());
    let reply_id = message["response_message_id"].as_str().unwrap().to_string();
    let client = agentdeck::client::Client::new(&server.url, &api_key);
    let events = collect(client.message_stream(&thread_id, &reply_id)).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.name()).collect();
    assert_eq!(kinds.first(), Some(&"message.created"));
    assert!(kinds.contains(&"reasoning.delta"), "{kinds:?}");
    assert_eq!(kinds[kinds.len() - 2..], ["message.completed", "done"]);
    let reply = client.message(&thread_id, &reply_id).await.unwrap();
    assert_eq!(deltas(&events, "message.delta"), reply.text());
    // The attachment asked for file_search: the answer comes from the contract, cited.
    assert_eq!(
        serde_json::to_value(reply.tool_calls[0].kind).unwrap(),
        "file_search"
    );
    assert!(
        reply.text().contains("[acme-contract.txt line 1]")
            && reply.text().contains("$5M per annum"),
        "{}",
        reply.text()
    );
    // Streamed, each step after the first begins with an empty line.
    assert_eq!(
        reply
            .reasoning
            .iter()
            .map(|r| r.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
        deltas(&events, "reasoning.delta")
    );
    for event in &events {
        assert_eq!(
            event.data()["thread_id"],
            thread_id.as_str(),
            "every event names its thread"
        );
    }

    // 5. The model's tool call, answered by a role "tool" message; then the final answer.
    let posted = client
        .post_message(
            &thread_id,
            &user("/tool retrieve_clauses {\"section\": \"liability\"}"),
        )
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let stream = client.message_stream(&thread_id, &reply_id);
    futures::pin_mut!(stream);
    let mut call_id = None;
    while let Some(event) = stream.next().await {
        let event = event.unwrap();
        if event.name() == "tool_call.created" {
            assert_eq!(event.data()["tool_call"]["type"], "function");
            assert_eq!(
                event.data()["tool_call"]["function"]["name"],
                "retrieve_clauses"
            );
            call_id = event.data()["tool_call"]["id"].as_str().map(str::to_string);
        }
        if event.name() == "tool_call.output" && event.data()["status"] == "requires_action" {
            break;
        }
    }
    let call_id = call_id.unwrap();
    assert!(call_id.starts_with("call_"));
    eventually("thread to require action", || async {
        client.thread(&thread_id).await.unwrap().status
            == agentdeck::model::ThreadStatus::RequiresAction
    })
    .await;
    let waiting = client.message(&thread_id, &reply_id).await.unwrap();
    assert_eq!(
        waiting.tool_calls[0].function.arguments,
        r#"{"section":"liability"}"#
    );
    let (status, answer) = call(&server, post.clone(), &format!("/v2/threads/{thread_id}/messages"), &api_key, None, Some(json!(
        {"role": "tool", "tool_call_id": call_id, "content": "The liability clause caps damages at $5M annually."}
    ))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["role"], "tool");
    assert_eq!(answer["response_message_id"], reply_id.as_str());
    let rest: Vec<_> = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    assert_eq!(rest.last().unwrap().as_ref().unwrap().name(), "done");
    let reply = client.message(&thread_id, &reply_id).await.unwrap();
    assert_eq!(reply.status, agentdeck::model::MessageStatus::Completed);
    assert!(
        reply.text().contains("caps damages at $5M"),
        "{}",
        reply.text()
    );
    assert_eq!(
        reply.tool_calls[0].output.as_deref(),
        Some("The liability clause caps damages at $5M annually.")
    );

    // 10. Agent-to-agent routing: a triage assistant hands the question to the Legal Advisor.
    let (status, triage) = call(&server, post.clone(), "/v2/assistants", &api_key, None, Some(json!(
        {"name": "triage", "instructions": "Route legal questions.", "model": "local", "routes_to": [legal_id]}
    ))).await;
    assert_eq!(status, 200, "{triage}");
    let triage_id = triage["id"].as_str().unwrap().to_string();
    let triage_thread = new_thread(&client, &triage_id).await;
    let posted = client
        .post_message(
            &triage_thread,
            &user(&format!("/route {legal_id} Is our liability capped?")),
        )
        .await
        .unwrap();
    let reply_id = posted.response_message_id.unwrap();
    let events = collect(client.message_stream(&triage_thread, &reply_id)).await;
    let routing = events
        .iter()
        .find(|e| e.name() == "routing")
        .expect("a routing event");
    assert_eq!(routing.data()["from_assistant_id"], triage_id.as_str());
    assert_eq!(routing.data()["to_assistant_id"], legal_id.as_str());
    assert_eq!(routing.data()["from_thread_id"], triage_thread.as_str());
    let linked = routing.data()["to_thread_id"].as_str().unwrap().to_string();
    let reply = client.message(&triage_thread, &reply_id).await.unwrap();
    let hop = &reply.tool_calls[0];
    assert_eq!(hop.kind, agentdeck::model::ToolCallType::AgentRouting);
    assert_eq!(hop.target_assistant_id.as_deref(), Some(legal_id.as_str()));
    assert_eq!(hop.thread_id.as_deref(), Some(linked.as_str()));
    let child = client.thread(&linked).await.unwrap();
    assert_eq!(
        child.parent_thread_id.as_deref(),
        Some(triage_thread.as_str())
    );
    assert_eq!(child.assistant_id, legal_id);
    let child_messages = client.all_messages(&linked).await.unwrap();
    assert_eq!(child_messages[0].text(), "Is our liability capped?");
    assert_eq!(
        hop.output.as_deref(),
        Some(child_messages[1].text().as_str()),
        "the target's final answer is the tool output"
    );
    assert!(reply.text().contains("Routed answer"));

    // 12. Limits.
    let (status, limits) = call(
        &server,
        get.clone(),
        &format!("/v2/projects/{project_id}/limits"),
        &api_key,
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["tokens_per_minute"], 100000);
    assert_eq!(limits["concurrent_threads"], 500);
    assert!(limits["estimated_cost"].is_number());
    assert!(limits["tokens_used_last_minute"].as_u64().unwrap() > 0);

    // 7. Content as parts.
    let (status, parts) = call(&server, post.clone(), &format!("/v2/threads/{thread_id}/messages"), &api_key, None, Some(json!(
        {"role": "user", "content": [{"type": "text", "text": "Review this contract for exclusivity clauses."},
                                     {"type": "file", "file_id": contract_id}]}
    ))).await;
    assert_eq!(status, 200, "{parts}");
    assert_eq!(
        parts["content"][1],
        json!({"type": "file", "file_id": contract_id})
    );
    server.stop().await;
}
