//! The gateway with a real client: the `openai` Python SDK, its base URL and key pointed at
//! `serve`, llmock behind as the provider (and a second llmock that always answers 500).
//! What the client gets is the provider's answer; what the workspace gets is the call as
//! a thread of the calling agent.

use crate::support::{TestServer, eventually, user};
use agentdeck::client::Client;
use agentdeck::model::config::Config;
use agentdeck::model::{MessageStatus, Role, ToolCallStatus};
use std::time::Duration;

/// Runs `tests/fixtures/gateway/NAME` with the test venv's Python; its last line, as JSON.
fn run_client(name: &str, env: &[(&str, &str)]) -> serde_json::Value {
    let script = format!(
        "{}/tests/fixtures/gateway/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    crate::support::run_python(&[&script], env, Duration::from_secs(120))
}

/// A server with `config`, a project `name` on it, its client and a key of it (the key
/// the agent's SDK is given).
async fn gateway_server(config: Config, name: &str) -> (TestServer, Client, String) {
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let (project, client) = server.project(name).await;
    let key = server
        .admin()
        .create_key(&project.id, Some("agent".into()))
        .await
        .unwrap()
        .key;
    (server, client, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_calls_through_the_gateway_and_the_workspace_watches() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let broken = crate::llmock::start_llmock(&["--error-rate-500", "1.0"]).await;
    let config = Config::parse(&format!(
        "[providers.mock]\nkind = \"openai-chat\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n\n[providers.broken]\nkind = \"openai-chat\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"broken-*\"]\n",
        mock.url, broken.url
    ))
    .unwrap();
    let (server, client, key) = gateway_server(config, "gateway").await;
    // A project whose budget one call spends: the next is refused as OpenAI refuses it.
    let limited: agentdeck::model::requests::ProjectCreate = serde_json::from_value(
        serde_json::json!({"name": "tight", "limits": {"tokens_per_minute": 5, "concurrent_threads": 10}}),
    )
    .unwrap();
    let limited = server.admin().create_project(&limited).await.unwrap();
    let limited_key = server
        .admin()
        .create_key(&limited.id, Some("agent".into()))
        .await
        .unwrap()
        .key;
    let got = run_client(
        "openai_client.py",
        &[
            ("GATEWAY_URL", &server.url),
            ("GATEWAY_KEY", &key),
            ("GATEWAY_LIMITED_KEY", &limited_key),
        ],
    );

    // The client got the provider's answers, in its own format.
    let whole = &got["whole"];
    assert!(
        whole["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert!(whole["completion_tokens"].as_u64() > Some(0), "{got}");
    let streamed = &got["streamed"];
    assert!(
        streamed["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert!(streamed["completion_tokens"].as_u64() > Some(0), "{got}");
    assert!(
        streamed["chunks"].as_u64() > Some(2),
        "streamed in pieces: {got}"
    );
    // Usage was asked of the provider (the gateway counts it) but not shown to a client
    // that did not ask.
    assert_eq!(got["streamed_without_usage"]["usage_chunks"], 0, "{got}");
    assert_eq!(got["tool"]["name"], "lookup_order", "{got}");
    assert!(got["tool"]["arguments"]["order_id"].is_string(), "{got}");
    assert_eq!(got["streamed_tool"]["name"], "lookup_order", "{got}");
    let errors = &got["errors"];
    assert_eq!(errors["wrong_key"][0], 401, "{got}");
    assert_eq!(
        errors["unknown_model"],
        serde_json::json!([404, "model_not_found"]),
        "{got}"
    );
    assert_eq!(errors["upstream_500"][0], 500, "{got}");
    assert_eq!(errors["upstream_500_streamed"][0], 500, "{got}");
    assert_eq!(
        errors["over_the_limit"],
        serde_json::json!([429, "rate_limit_exceeded"]),
        "{got}"
    );

    // The workspace: one external assistant for the agent, the conversation as one
    // thread, each call a user message and its reply with the same text, tokens and
    // tool calls the client saw.
    let assistants = client.list_assistants().await.unwrap().data;
    let bot = assistants
        .iter()
        .find(|a| a.name == "support-bot")
        .unwrap_or_else(|| panic!("{assistants:#?}"));
    assert!(bot.external);
    assert_eq!(bot.source.as_ref().unwrap().via, "gateway");
    let threads = client.list_threads(&[("limit", "50")]).await.unwrap().data;
    let conversation = threads
        .iter()
        .find(|t| t.metadata.get("conversation_id").map(String::as_str) == Some("conv-7"))
        .unwrap_or_else(|| panic!("{threads:#?}"));
    assert_eq!(conversation.assistant_id, bot.id);
    assert_eq!(
        conversation.title.as_deref(),
        Some("Say hello to the customer")
    );
    eventually("every call ended in the thread", || async {
        let messages = client.all_messages(&conversation.id).await.unwrap();
        messages
            .iter()
            .filter(|m| m.role == Role::Assistant && m.status != MessageStatus::InProgress)
            .count()
            == 7
    })
    .await;
    let messages = client.all_messages(&conversation.id).await.unwrap();
    let replies: Vec<_> = messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .collect();
    assert_eq!(replies[0].text(), whole["text"].as_str().unwrap());
    assert_eq!(
        replies[0].usage.output_tokens,
        whole["completion_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        replies[0].metadata.get("model").map(String::as_str),
        Some("gpt-4o")
    );
    assert_eq!(replies[1].text(), streamed["text"].as_str().unwrap());
    assert_eq!(
        replies[1].usage.output_tokens,
        streamed["completion_tokens"].as_u64().unwrap()
    );
    assert!(
        replies[2].usage.output_tokens > 0,
        "counted though not shown: {:?}",
        replies[2]
    );
    for reply in &replies[3..5] {
        let call = &reply.tool_calls[0];
        assert_eq!(call.function.name, "lookup_order");
        assert!(call.function.arguments.contains("order_id"));
        assert_eq!(call.status, ToolCallStatus::Completed);
    }
    for reply in &replies[5..7] {
        assert_eq!(reply.status, MessageStatus::Failed, "{reply:?}");
        assert!(
            reply.error.as_ref().unwrap().message.contains("500"),
            "{reply:?}"
        );
    }
    let users: Vec<String> = messages
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.text())
        .collect();
    assert_eq!(users[3], "Where is order 1182?");
    // The thread is the agent's: the workspace watches it but does not post to it.
    let refused = client
        .post_message(&conversation.id, &user("from the workspace"))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(409), "{refused}");
    // The failed calls fail the thread's last reply, as a failed run does.
    let thread = client.thread(&conversation.id).await.unwrap();
    assert_eq!(thread.last_reply_status, Some(MessageStatus::Failed));
    assert!(thread.estimated_cost >= 0.0);
    server.stop().await;
}

/// Waits until `count` replies of the thread have completed.
async fn replies_completed(client: &Client, thread_id: &str, count: usize) {
    eventually(&format!("{count} replies completed"), || async {
        client
            .all_messages(thread_id)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.role == Role::Assistant && m.status == MessageStatus::Completed)
            .count()
            == count
    })
    .await;
}

/// A server whose providers are llmock's Responses and Anthropic Messages endpoints, and
/// a key of a new project on it.
async fn responses_and_messages_server(
    mock: &crate::llmock::Llmock,
) -> (TestServer, Client, String) {
    let config = Config::parse(&format!(
        "[providers.responses]\nkind = \"openai-responses\"\nbase_url = \"{0}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{0}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-*\"]\n",
        mock.url
    ))
    .unwrap();
    gateway_server(config, "formats").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_and_anthropic_messages_pass_through_with_their_own_sdks() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let (server, client, key) = responses_and_messages_server(&mock).await;
    let env = [
        ("GATEWAY_URL", server.url.as_str()),
        ("GATEWAY_KEY", key.as_str()),
    ];

    // Responses: whole, chained by previous_response_id, streamed, a function call.
    let got = run_client("responses_client.py", &env);
    assert!(
        got["whole"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert!(got["whole"]["output_tokens"].as_u64() > Some(0), "{got}");
    assert!(
        got["streamed"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert_eq!(got["tool"]["name"], "lookup_order", "{got}");
    let threads = client.list_threads(&[("limit", "50")]).await.unwrap().data;
    let researcher: Vec<_> = threads
        .iter()
        .filter(|t| t.metadata.get("format").map(String::as_str) == Some("responses"))
        .collect();
    // The chain (first call and its follow-up) is one thread; the other two are their own.
    assert_eq!(researcher.len(), 3, "{threads:#?}");
    let chained = researcher
        .iter()
        .find(|t| t.title.as_deref() == Some("Summarise the refund policy"))
        .unwrap();
    let messages = client.all_messages(&chained.id).await.unwrap();
    let texts: Vec<String> = messages.iter().map(|m| m.text()).collect();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert_eq!(texts[1], got["whole"]["text"].as_str().unwrap());
    assert_eq!(texts[2], "Shorter, please");
    assert_eq!(texts[3], got["chained"]["text"].as_str().unwrap());
    let streamed = researcher
        .iter()
        .find(|t| t.title.as_deref() == Some("Now the shipping policy"))
        .unwrap();
    let reply = client.all_messages(&streamed.id).await.unwrap().remove(1);
    assert_eq!(reply.text(), got["streamed"]["text"].as_str().unwrap());
    assert_eq!(
        reply.usage.output_tokens,
        got["streamed"]["output_tokens"].as_u64().unwrap()
    );

    // Anthropic Messages with `x-api-key`: whole, streamed, a tool use; its error shape.
    let got = run_client("anthropic_client.py", &env);
    assert!(
        got["whole"]["text"].as_str().is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert!(
        got["streamed"]["text"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{got}"
    );
    assert!(got["streamed"]["output_tokens"].as_u64() > Some(0), "{got}");
    assert_eq!(got["tool"]["name"], "lookup_order", "{got}");
    assert!(got["tool"]["input"]["order_id"].is_string(), "{got}");
    assert_eq!(
        got["errors"]["unknown_model"],
        serde_json::json!([404, "not_found_error"]),
        "{got}"
    );
    let threads = client.list_threads(&[("limit", "50")]).await.unwrap().data;
    let ticket = threads
        .iter()
        .find(|t| t.metadata.get("conversation_id").map(String::as_str) == Some("ticket-99"))
        .unwrap_or_else(|| panic!("{threads:#?}"));
    replies_completed(&client, &ticket.id, 3).await;
    let replies: Vec<_> = client
        .all_messages(&ticket.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Assistant)
        .collect();
    assert_eq!(replies[0].text(), got["whole"]["text"].as_str().unwrap());
    assert_eq!(replies[1].text(), got["streamed"]["text"].as_str().unwrap());
    assert_eq!(replies[2].tool_calls[0].function.name, "lookup_order");

    // /v1/models lists what the providers name (globs are not models).
    let models: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/models", server.url))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["object"], "list", "{models}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_goes_away_mid_stream_ends_the_reply_incomplete() {
    // A slow provider: the stream is still coming when the client leaves.
    let mock = crate::llmock::start_llmock(&["--stream-chunk-delay-ms", "200"]).await;
    let config = Config::parse(&format!(
        "[providers.mock]\nkind = \"openai-chat\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n",
        mock.url
    ))
    .unwrap();
    let (server, client, key) = gateway_server(config, "leaving").await;
    let body = serde_json::json!({"model": "gpt-4o", "stream": true,
        "messages": [{"role": "user", "content": "Write a long story about refunds"}]});
    let mut response = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&key)
        .header("x-agentdeck-agent", "impatient")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // Gone once some text has come (the first chunks carry only the role).
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("\"content\":\"").count() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), response.chunk())
            .await
            .expect("a chunk within 10 s")
            .unwrap()
            .expect("the stream still open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);

    // Polled gently: the client's key has a request rate of its own.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let threads = client.list_threads(&[("limit", "10")]).await.unwrap().data;
            if let Some(thread) = threads.first() {
                let messages = client.all_messages(&thread.id).await.unwrap();
                if let Some(reply) = messages
                    .into_iter()
                    .find(|m| m.role == Role::Assistant && m.status != MessageStatus::InProgress)
                {
                    return reply;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("the reply ended within 20 s of the client leaving");
    assert_eq!(ended.status, MessageStatus::Incomplete, "{ended:?}");
    assert_eq!(
        ended.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("client_disconnected"),
        "{ended:?}"
    );
    // What had streamed before the client left is kept.
    assert!(!ended.text().is_empty(), "{ended:?}");
    server.stop().await;
}

/// A server whose providers are llmock's three formats (Chat for `gpt-*`, Responses for
/// `o4-*`, Anthropic for `claude-*`), with `gateway` as its `[gateway]` section.
async fn three_format_server(
    mock: &crate::llmock::Llmock,
    gateway: &str,
    name: &str,
) -> (TestServer, Client, String) {
    let config = Config::parse(&format!(
        "[providers.chat]\nkind = \"openai-chat\"\nbase_url = \"{0}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n\n[providers.responses]\nkind = \"openai-responses\"\nbase_url = \"{0}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"o4-*\"]\n\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{0}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-*\"]\n\n[gateway]\n{gateway}\n",
        mock.url
    ))
    .unwrap();
    gateway_server(config, name).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_tool_call_waits_for_the_operator_who_approves_or_denies_it() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let (server, client, key) = three_format_server(
        &mock,
        "hold_tools = [\"refund\", \"delete_*\"]\nhold_timeout = \"6s\"",
        "holds",
    )
    .await;
    let env = [
        ("GATEWAY_URL", server.url.clone()),
        ("GATEWAY_KEY", key.clone()),
    ];
    let agent = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_client("hold_client.py", &env)
    });

    // The operator: each held call waits in the thread of its conversation; "approve-…"
    // ones are approved, "deny-…" ones denied, "ignore-…" left to time out.
    let mut decided = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    while !agent.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent's calls did not end within 150 s"
        );
        let threads = client.list_threads(&[("limit", "50")]).await.unwrap().data;
        for thread in threads
            .iter()
            .filter(|t| t.status == agentdeck::model::ThreadStatus::RequiresAction)
        {
            let conversation = thread.metadata["conversation_id"].clone();
            let messages = client.all_messages(&thread.id).await.unwrap();
            let waiting = messages
                .iter()
                .flat_map(|m| &m.tool_calls)
                .find(|c| c.status == ToolCallStatus::RequiresApproval);
            let Some(call) = waiting else { continue };
            assert_eq!(call.function.name, "refund");
            if conversation.starts_with("approve-") {
                client.approve(&thread.id, &call.id, None).await.unwrap();
            } else if conversation.starts_with("deny-") {
                client
                    .deny(
                        &thread.id,
                        &call.id,
                        Some("refunds over the phone only".into()),
                    )
                    .await
                    .unwrap();
            } else {
                continue;
            }
            decided.push(conversation);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let got = agent.await.unwrap();
    assert_eq!(
        decided,
        [
            "approve-chat-stream",
            "deny-chat-whole",
            "approve-responses",
            "deny-messages"
        ],
        "{got}"
    );

    // Approved: the client got the call as the provider sent it.
    let approved = &got["approved_chat_stream"];
    assert_eq!(approved["tools"], serde_json::json!(["refund"]), "{got}");
    assert_eq!(approved["finish"], "tool_calls", "{got}");
    assert_eq!(
        got["approved_responses_stream"]["tools"],
        serde_json::json!(["refund"]),
        "{got}"
    );
    // Denied: the answer says so in the call's place, and asks for nothing.
    let denied = &got["denied_chat_whole"];
    assert_eq!(denied["tools"], serde_json::json!([]), "{got}");
    assert_eq!(denied["finish"], "stop", "{got}");
    let text = denied["text"].as_str().unwrap();
    assert!(
        text.contains("`refund` was not made") && text.contains("refunds over the phone only"),
        "{got}"
    );
    let claude = &got["denied_messages_stream"];
    assert_eq!(claude["blocks"], serde_json::json!(["text"]), "{got}");
    assert_eq!(claude["stop"], "end_turn", "{got}");
    assert!(
        claude["text"].as_str().unwrap().contains("was not made"),
        "{got}"
    );
    // Unanswered: denied when the hold timed out.
    let unanswered = &got["unanswered_chat_stream"];
    assert_eq!(unanswered["tools"], serde_json::json!([]), "{got}");
    assert!(
        unanswered["text"]
            .as_str()
            .unwrap()
            .contains("No operator answered within 6s"),
        "{got}"
    );

    // The workspace keeps each decision on the call.
    let threads = client.list_threads(&[("limit", "50")]).await.unwrap().data;
    let status_of = |conversation: &str| {
        let thread = threads
            .iter()
            .find(|t| t.metadata.get("conversation_id").map(String::as_str) == Some(conversation))
            .unwrap_or_else(|| panic!("{conversation}: {threads:#?}"));
        (thread.id.clone(), thread.status)
    };
    for (conversation, expected) in [
        ("approve-chat-stream", ToolCallStatus::Completed),
        ("deny-chat-whole", ToolCallStatus::Denied),
        ("ignore-chat", ToolCallStatus::Denied),
    ] {
        let (thread, status) = status_of(conversation);
        assert_eq!(
            status,
            agentdeck::model::ThreadStatus::Active,
            "{conversation}"
        );
        let messages = client.all_messages(&thread).await.unwrap();
        let reply = messages.iter().find(|m| m.role == Role::Assistant).unwrap();
        assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
        assert_eq!(
            reply.tool_calls[0].status, expected,
            "{conversation}: {reply:?}"
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_is_redacted_for_the_provider_and_restored_for_the_client() {
    let mock = crate::llmock::start_llmock(&["--response-style", "echo"]).await;
    let (server, client, key) =
        three_format_server(&mock, "privacy = { mode = \"strict\" }", "privacy").await;
    let got = run_client(
        "privacy_client.py",
        &[("GATEWAY_URL", &server.url), ("GATEWAY_KEY", &key)],
    );
    // llmock echoes what it was told: the placeholders, which the client got back as
    // its own values.
    for field in ["chat_whole", "chat_streamed", "messages_streamed"] {
        let text = got[field].as_str().unwrap();
        assert!(
            text.contains("jane.doe@example.com") && text.contains("4111 1111 1111 1111"),
            "{field}: {got}"
        );
        assert!(!text.contains("[EMAIL_1]"), "{field}: {got}");
    }
    // The provider never saw them.
    let journal = mock.journal().await;
    // The bodies only: the journal's timings are numbers that may hold any digits.
    let received: String = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"].to_string())
        .collect();
    assert_eq!(journal["count"], 3, "{journal}");
    assert!(
        !received.contains("jane.doe") && !received.contains("4111"),
        "{received}"
    );
    assert!(
        received.contains("[EMAIL_1]") && received.contains("[CARD_1]"),
        "{received}"
    );
    // The workspace shows the call as the client saw it, and flags the redaction.
    let threads = client.list_threads(&[("limit", "10")]).await.unwrap().data;
    let thread = threads
        .iter()
        .find(|t| t.metadata.get("conversation_id").map(String::as_str) == Some("pii"))
        .unwrap_or_else(|| panic!("{threads:#?}"));
    replies_completed(&client, &thread.id, 3).await;
    let messages = client.all_messages(&thread.id).await.unwrap();
    assert!(messages[0].text().contains("jane.doe@example.com"));
    for reply in messages.iter().filter(|m| m.role == Role::Assistant) {
        assert!(reply.text().contains("4111 1111 1111 1111"), "{reply:?}");
    }
    let logs: serde_json::Value = client
        .get(&format!("/v2/projects/{}/logs", thread.project_id))
        .await
        .unwrap();
    assert_eq!(logs["data"][0]["safety_flag"], "pii_redacted", "{logs}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agentdeck_assistant_answers_as_a_model_in_each_format() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let (server, client, key) = three_format_server(&mock, "", "concierge").await;
    let mut body = crate::support::assistant("concierge", serde_json::json!([]), vec![]);
    body.model = "local-demo".into();
    body.instructions = "You are the shop's concierge.".into();
    let concierge = client.create_assistant(&body).await.unwrap();
    let got = run_client(
        "assistant_client.py",
        &[("GATEWAY_URL", &server.url), ("GATEWAY_KEY", &key)],
    );
    assert_eq!(
        got["unknown"],
        serde_json::json!([404, "model_not_found"]),
        "{got}"
    );
    assert!(
        got["models"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("assistant/concierge")),
        "{got}"
    );
    assert_eq!(got["chat_whole"]["finish"], "stop", "{got}");
    assert_eq!(got["messages"]["stop"], "end_turn", "{got}");
    assert_eq!(got["messages"]["text"], got["messages"]["whole"], "{got}");

    // Each call ran as the assistant's own reply: what the client got is the reply.
    let threads = client.list_threads(&[("limit", "20")]).await.unwrap().data;
    let mine: Vec<_> = threads
        .iter()
        .filter(|t| t.assistant_id == concierge.id)
        .collect();
    // The Responses chain is one thread; the others each their own.
    assert_eq!(mine.len(), 4, "{threads:#?}");
    let mut replies = std::collections::HashMap::new();
    for thread in &mine {
        assert_eq!(
            thread.metadata.get("via").map(String::as_str),
            Some("gateway")
        );
        let messages = client.all_messages(&thread.id).await.unwrap();
        for pair in messages.chunks(2) {
            assert_eq!(pair[1].status, MessageStatus::Completed, "{pair:?}");
            replies.insert(pair[0].text(), pair[1].clone());
        }
    }
    let reply_to = |asked: &str| {
        replies
            .get(asked)
            .unwrap_or_else(|| panic!("{asked}: {replies:#?}"))
            .clone()
    };
    let hours = reply_to("What are your opening hours?");
    assert!(
        !hours.text().is_empty() && hours.usage.output_tokens > 0,
        "{hours:?}"
    );
    assert_eq!(got["chat_whole"]["text"], hours.text(), "{got}");
    assert_eq!(
        got["chat_whole"]["completion_tokens"], hours.usage.output_tokens,
        "{got}"
    );
    let shipping = reply_to("Do you ship abroad?");
    assert!(
        got["chat_streamed"]["text"].as_str().unwrap().len() > 20,
        "streamed whole: {got}"
    );
    assert_eq!(got["chat_streamed"]["text"], shipping.text(), "{got}");
    assert_eq!(
        got["chat_streamed"]["completion_tokens"], shipping.usage.output_tokens,
        "{got}"
    );
    assert_eq!(
        got["responses"]["first"],
        reply_to("Remember my order ORD-9").text()
    );
    let chained = reply_to("Which order did I mention?");
    assert_eq!(got["responses"]["chained"], chained.text());
    let first = reply_to("Remember my order ORD-9");
    assert_eq!(
        first.thread_id, chained.thread_id,
        "one thread for the chain"
    );
    assert_eq!(got["messages"]["text"], reply_to("Say goodbye").text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_reaches_a_model_whose_provider_speaks_another_format() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let (server, client, key) = three_format_server(&mock, "", "translated").await;
    let got = run_client(
        "translate_client.py",
        &[("GATEWAY_URL", &server.url), ("GATEWAY_KEY", &key)],
    );
    let non_empty = |pointer: &str| {
        assert!(
            got.pointer(pointer)
                .and_then(serde_json::Value::as_str)
                .is_some_and(|t| !t.is_empty()),
            "{pointer}: {got}"
        );
    };
    non_empty("/chat_to_anthropic/text");
    non_empty("/anthropic_to_chat/text");
    non_empty("/responses_to_anthropic/text");
    assert_eq!(got["chat_to_anthropic"]["finish"], "stop", "{got}");
    assert!(
        got["chat_to_anthropic"]["completion_tokens"].as_u64() > Some(0),
        "{got}"
    );
    assert!(
        got["anthropic_to_chat"]["output_tokens"].as_u64() > Some(0),
        "{got}"
    );
    assert!(
        got["responses_to_anthropic"]["output_tokens"].as_u64() > Some(0),
        "{got}"
    );
    assert_eq!(got["anthropic_to_chat"]["stop"], "end_turn", "{got}");
    let tool = &got["chat_to_anthropic_tool"];
    assert_eq!(tool["name"], "lookup_order", "{got}");
    assert!(tool["arguments"]["order_id"].is_string(), "{got}");
    assert_eq!(tool["finish"], "tool_calls", "{got}");
    let tool = &got["anthropic_to_responses_tool"];
    assert_eq!(tool["name"], "lookup_order", "{got}");
    assert!(tool["input"]["order_id"].is_string(), "{got}");
    assert_eq!(tool["stop"], "tool_use", "{got}");

    // Each provider was asked in its own format.
    let journal = mock.journal().await;
    let paths: Vec<&str> = journal["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/anthropic/v1/messages",
            "/anthropic/v1/messages",
            "/v1/chat/completions",
            "/v1/responses",
            "/anthropic/v1/messages"
        ],
        "{journal}"
    );
    // The workspace shows each call as the client got it.
    let threads = client.list_threads(&[("limit", "20")]).await.unwrap().data;
    assert_eq!(threads.len(), 5, "{threads:#?}");
    let mut texts = Vec::new();
    for thread in &threads {
        let messages = client.all_messages(&thread.id).await.unwrap();
        texts.push(messages[1].text());
        assert_eq!(messages[1].status, MessageStatus::Completed, "{messages:?}");
    }
    for pointer in [
        "/chat_to_anthropic/text",
        "/anthropic_to_chat/text",
        "/responses_to_anthropic/text",
    ] {
        let text = got.pointer(pointer).unwrap().as_str().unwrap().to_string();
        assert!(texts.contains(&text), "{pointer}: {texts:?}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_are_bounded_and_a_silent_provider_is_given_up() {
    // A slow provider (calls stay in flight) whose stream stalls when told to.
    let mock = crate::llmock::start_llmock(&["--stream-chunk-delay-ms", "100"]).await;
    let config = Config::parse(&format!(
        "[providers.mock]\nkind = \"openai-chat\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\nidle_timeout_ms = 1500\n",
        mock.url
    ))
    .unwrap();
    let server = TestServer::start_with(tempfile::tempdir().unwrap(), |o| o.config = config).await;
    let narrow: agentdeck::model::requests::ProjectCreate = serde_json::from_value(
        serde_json::json!({"name": "narrow", "limits": {"tokens_per_minute": 100000, "concurrent_threads": 1}}),
    )
    .unwrap();
    let narrow = server.admin().create_project(&narrow).await.unwrap();
    let key = server
        .admin()
        .create_key(&narrow.id, Some("agent".into()))
        .await
        .unwrap()
        .key;
    let http = reqwest::Client::new();
    let call = |text: &str| {
        http.post(format!("{}/v1/chat/completions", server.url))
            .bearer_auth(&key)
            .json(&serde_json::json!({"model": "gpt-4o", "stream": true,
                "messages": [{"role": "user", "content": text}]}))
    };
    let mut first = call("Tell me a long story").send().await.unwrap();
    assert_eq!(first.status().as_u16(), 200);
    tokio::time::timeout(Duration::from_secs(10), first.chunk())
        .await
        .expect("a first chunk within 10 s")
        .unwrap();
    // One in flight: the second is refused as OpenAI refuses a rate-limited call.
    let second = call("And another").send().await.unwrap();
    assert_eq!(second.status().as_u16(), 429);
    assert!(second.headers().contains_key("retry-after"));
    let body: serde_json::Value = second.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("concurrent_threads"),
        "{body}"
    );
    // The first one ended (read to its end): there is room again.
    let rest = tokio::time::timeout(Duration::from_secs(60), first.text())
        .await
        .expect("the first call ended within 60 s")
        .unwrap();
    assert!(rest.contains("[DONE]"), "{rest}");

    // The provider stalls mid-stream longer than its idle_timeout_ms: the client gets the
    // format's error event, and the reply ends incomplete.
    mock.script(serde_json::json!([{"type": "stream_fault", "kind": "stall",
        "after_chunks": 2, "stall_seconds": 8.0}]))
        .await;
    let started = std::time::Instant::now();
    let stalled = eventually_admitted(&call).await;
    let body = tokio::time::timeout(Duration::from_secs(20), stalled.text())
        .await
        .expect("the stalled call ended within 20 s")
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "given up after the idle timeout, not the stall"
    );
    assert!(body.contains("silent for 1.5 s"), "{body}");
    server.stop().await;
}

/// The call, sent until the project has room for it (a call that just ended gives its
/// place back as its stream is dropped).
async fn eventually_admitted(call: &impl Fn(&str) -> reqwest::RequestBuilder) -> reqwest::Response {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = call("A story that stalls").send().await.unwrap();
        if response.status().as_u16() != 429 {
            assert_eq!(response.status().as_u16(), 200);
            return response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no room for a call 10 s after the last one ended"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_traced_and_calling_through_the_gateway_is_one_run() {
    let mock = crate::llmock::start_llmock(&[]).await;
    let config = Config::parse(&format!(
        "[providers.openai]\nkind = \"openai-responses\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n",
        mock.url
    ))
    .unwrap();
    let (server, client, key) = gateway_server(config, "traced").await;
    let script = format!(
        "{}/tests/fixtures/gateway/agents_traced.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let env = [
        ("OPENAI_BASE_URL", format!("{}/v1", server.url)),
        ("OPENAI_API_KEY", key.clone()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", server.url.clone()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            format!("Authorization=Bearer {key}"),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
        ("CONVERSATION", "case-88".to_string()),
    ];
    let got = tokio::task::spawn_blocking(move || {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::support::run_python(&[&script], &env, Duration::from_secs(150))
    })
    .await
    .unwrap();
    assert_eq!(got["refunds"].as_array().map(Vec::len), Some(1), "{got}");

    // The spans settle onto the calls: every reply the gateway carried gets its span.
    // Polled gently: the key has a request rate of its own.
    let listed = || async {
        let threads = client.list_threads(&[("limit", "20")]).await.ok()?.data;
        let mut replies = Vec::new();
        for thread in &threads {
            let messages = client.all_messages(&thread.id).await.ok()?;
            replies.extend(messages.into_iter().filter(|m| m.role == Role::Assistant));
        }
        Some((threads, replies))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let threads = loop {
        let listing = listed().await;
        if let Some((threads, replies)) = &listing {
            if replies.len() == 3 && replies.iter().all(|r| r.metadata.contains_key("span_id")) {
                break threads.clone();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the three model calls were not matched with their spans within 30 s: {listing:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    // One assistant per agent, one thread each, billing's handed from triage's.
    let assistants = client.list_assistants().await.unwrap().data;
    let mut names: Vec<&str> = assistants.iter().map(|a| a.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["billing", "triage"], "{assistants:#?}");
    assert_eq!(threads.len(), 2, "{threads:#?}");
    let thread_of = |name: &str| {
        let assistant = assistants.iter().find(|a| a.name == name).unwrap();
        threads
            .iter()
            .find(|t| t.assistant_id == assistant.id)
            .unwrap()
            .clone()
    };
    let (triage, billing) = (thread_of("triage"), thread_of("billing"));
    assert_eq!(
        billing.parent_thread_id.as_deref(),
        Some(triage.id.as_str())
    );
    let roles = |messages: Vec<agentdeck::model::Message>| -> Vec<Role> {
        messages.iter().map(|m| m.role).collect()
    };
    assert_eq!(
        roles(client.all_messages(&triage.id).await.unwrap()),
        [Role::User, Role::Assistant]
    );
    let billing_messages = client.all_messages(&billing.id).await.unwrap();
    assert_eq!(
        roles(billing_messages.clone()),
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    let refund = billing_messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.function.name == "refund")
        .unwrap();
    assert!(
        refund
            .output
            .as_deref()
            .is_some_and(|o| o.contains("refunded")),
        "{refund:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_calls_are_exported_with_the_runtimes_own_runs() {
    let receiver = TestServer::start().await;
    let (project, watcher) = receiver.project("watch").await;
    let receiver_key = receiver
        .admin()
        .create_key(&project.id, Some("export".into()))
        .await
        .unwrap()
        .key;
    let mock = crate::llmock::start_llmock(&[]).await;
    let config = Config::parse(&format!(
        "[providers.mock]\nkind = \"openai-chat\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n\n[telemetry]\notlp_endpoint = \"{}\"\notlp_headers = {{ \"Authorization\" = \"Bearer {receiver_key}\" }}\n",
        mock.url, receiver.url
    ))
    .unwrap();
    let (server, _, key) = gateway_server(config, "exporting").await;
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .bearer_auth(&key)
        .header("x-agentdeck-agent", "exported-bot")
        .json(&serde_json::json!({"model": "gpt-4o",
            "messages": [{"role": "user", "content": "Say hello"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    // The last spans leave when the server stops.
    server.stop().await;

    // The receiver shows the calling agent and its call: the model, the tokens.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let threads = crate::otlp::external_threads(&watcher).await;
        let mut found = None;
        for thread in &threads {
            let messages = watcher.all_messages(&thread.id).await.unwrap();
            found = found.or(messages.into_iter().find(|m| m.role == Role::Assistant));
        }
        if let Some(reply) = found {
            break reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exported call never reached the receiver: {threads:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let assistants = watcher.list_assistants().await.unwrap().data;
    assert!(
        assistants.iter().any(|a| a.name == "exported-bot"),
        "{assistants:#?}"
    );
    assert_eq!(
        reply.metadata.get("model").map(String::as_str),
        Some("gpt-4o"),
        "{reply:?}"
    );
    assert!(reply.usage.output_tokens > 0, "{reply:?}");
    assert!(!text.is_empty());
    receiver.stop().await;
}
