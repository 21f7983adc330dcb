//! Real provider formats replayed from a local server through real runs, with faults.

use crate::fake_provider::{Answer, FakeProvider, fixture};
use crate::support::*;
use agentdeck::config::Config;
use agentdeck::model::{Message, MessageStatus};
use serde_json::json;

/// A server whose model `test-model` is served by `kind` at the fake provider.
async fn server_with(kind: &str, provider: &FakeProvider, extra: &str) -> TestServer {
    server_with_idle(kind, provider, extra, 500).await
}

/// [`server_with`], giving up on a silent stream after `idle_ms`.
async fn server_with_idle(
    kind: &str,
    provider: &FakeProvider,
    extra: &str,
    idle_ms: u64,
) -> TestServer {
    let config = Config::parse(&format!(
        "[providers.fake]\nkind = \"{kind}\"\nbase_url = \"{}\"\nmodels = [\"test-*\"]\nretry_base_ms = 10\nidle_timeout_ms = {idle_ms}\n{extra}",
        provider.url
    ))
    .unwrap();
    TestServer::start_with(tempfile::tempdir().unwrap(), |options| {
        options.config = config
    })
    .await
}

fn echo_tool(name: &str, output: &str) -> serde_json::Value {
    json!({"type": "function", "function": {"name": name, "description": name, "parameters": {"type": "object", "properties": {}}},
           "handler": {"command": ["sh", "-c", format!("cat >/dev/null; printf '%s' '{output}'")], "timeout_ms": 5000}})
}

async fn run_once(
    server: &TestServer,
    tools: serde_json::Value,
    text: &str,
) -> (agentdeck::client::Client, String, Message) {
    let (_, client) = server.project("providers").await;
    let mut body = assistant("remote", tools, vec![]);
    body.model = "test-model".into();
    let a = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &a.id).await;
    let reply = ask(&client, &thread, text).await;
    (client, thread, reply)
}

#[tokio::test]
async fn openai_responses_reasoning_tool_and_answer_in_every_delivery() {
    for variant in ["whole", "bytes", "crlf"] {
        let shape = |a: Answer| match variant {
            "bytes" => a.chunked(1),
            "crlf" => a.crlf().chunked(5),
            _ => a,
        };
        let provider = FakeProvider::start(vec![
            shape(Answer::fixture("openai_responses_text_reasoning_tool.sse")),
            shape(Answer::fixture("openai_responses_text_after_tool.sse")),
        ])
        .await;
        let server = server_with("openai-responses", &provider, "").await;
        let tools = json!([echo_tool(
            "retrieve_clauses",
            "Liability shall not exceed $5M per annum."
        )]);
        let (_, _, reply) = run_once(&server, tools, "Summarize the key clauses").await;
        assert_eq!(
            reply.status,
            MessageStatus::Completed,
            "{variant}: {reply:?}"
        );
        assert_eq!(
            reply.reasoning[0].text,
            "**Finding the liability clause**\n\nThe user wants the key clauses; I should retrieve the liability section first."
        );
        let call = &reply.tool_calls[0];
        assert_eq!(
            (
                call.id.as_str(),
                call.function.name.as_str(),
                call.function.arguments.as_str()
            ),
            (
                "call_1234",
                "retrieve_clauses",
                "{\"section\": \"liability\"}"
            )
        );
        assert_eq!(
            call.output.as_deref(),
            Some("Liability shall not exceed $5M per annum.")
        );
        assert_eq!(
            reply.text(),
            "The liability clause caps damages at **$5M** annually.\n\n```text\nLiability shall not exceed $5M per annum.\n```"
        );
        assert_eq!(reply.usage.input_tokens, 245 + 380, "{variant}");
        let sent = provider.received();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].path, "/v1/responses");
        assert_eq!(sent[0].body["stream"], true);
        assert_eq!(sent[0].body["tools"][0]["name"], "retrieve_clauses");
        assert_eq!(sent[0].body["instructions"], "You are remote.");
        let input = sent[1].body["input"].as_array().unwrap();
        assert!(
            input
                .iter()
                .any(|i| i["type"] == "function_call" && i["call_id"] == "call_1234")
        );
        assert!(input.iter().any(|i| i["type"] == "function_call_output"
            && i["call_id"] == "call_1234"
            && i["output"] == "Liability shall not exceed $5M per annum."));
        server.stop().await;
    }
}

#[tokio::test]
async fn chat_completions_two_interleaved_tools_then_a_table() {
    let provider = FakeProvider::start(vec![
        Answer::fixture("openai_chat_reasoning_two_tools_crlf.sse").chunked(3),
        Answer::fixture("openai_chat_text.sse"),
    ])
    .await;
    // The key comes from the environment variable the config names (HOME is always set).
    let server = server_with("openai-chat", &provider, "api_key_env = \"HOME\"").await;
    let tools = json!([
        echo_tool("search_flights", "JL5 at 11:00"),
        echo_tool("get_preferences", "aisle seat")
    ]);
    let (_, _, reply) = run_once(&server, tools, "Find me a flight").await;
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert_eq!(reply.reasoning[0].text, "Need the flight prefs first.");
    let calls: Vec<(&str, &str, &str)> = reply
        .tool_calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.function.name.as_str(),
                c.function.arguments.as_str(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "call_a1",
                "search_flights",
                "{\"from\": \"NYC\", \"to\": \"TYO\", \"date\": \"2026-12-10\", \"cabin\": \"business\"}"
            ),
            ("call_b2", "get_preferences", "{}"),
        ]
    );
    assert_eq!(
        reply.text(),
        "Checking your preferences.\n\n| Clause | Cap |\n|---|---|\n| Liability | $5M |\n"
    );
    assert_eq!(
        reply.usage,
        agentdeck::model::Usage {
            input_tokens: 252,
            output_tokens: 75
        }
    );
    let sent = provider.received();
    assert_eq!(sent[0].path, "/v1/chat/completions");
    assert_eq!(
        sent[0].headers["authorization"],
        format!("Bearer {}", std::env::var("HOME").unwrap()).as_str()
    );
    assert_eq!(sent[0].body["stream_options"]["include_usage"], true);
    assert_eq!(sent[0].body["messages"][0]["role"], "system");
    let messages = sent[1].body["messages"].as_array().unwrap();
    let assistant_turn = messages.iter().find(|m| m["role"] == "assistant").unwrap();
    assert_eq!(assistant_turn["content"], "Checking your preferences.");
    assert_eq!(assistant_turn["tool_calls"].as_array().unwrap().len(), 2);
    let results: Vec<&str> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["tool_call_id"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["call_a1", "call_b2"]);
    server.stop().await;
}

#[tokio::test]
async fn anthropic_thinking_and_tool_use_route_to_a_colleague() {
    let answer = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":400,\"output_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Billing is on it.\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":6}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let provider = FakeProvider::start(vec![
        Answer::fixture("anthropic_thinking_tool_use.sse").chunked(1),
        Answer::sse(answer),
    ])
    .await;
    let server = server_with("anthropic", &provider, "").await;
    let (_, client) = server.project("anthropic").await;
    let billing = client
        .create_assistant(&assistant("billing", json!([]), vec![]))
        .await
        .unwrap();
    let mut body = assistant("triage", json!([]), vec![billing.id.clone()]);
    body.model = "test-claude".into();
    let triage = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &triage.id).await;
    let reply = ask(&client, &thread, "I want a refund for order 1182").await;
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert_eq!(
        reply.reasoning[0].text,
        "The billing question belongs to the billing assistant."
    );
    let hop = &reply.tool_calls[0];
    assert_eq!(hop.id, "toolu_01");
    assert_eq!(hop.kind, agentdeck::model::ToolCallType::AgentRouting);
    assert_eq!(
        hop.target_assistant_id.as_deref(),
        Some(billing.id.as_str())
    );
    assert_eq!(reply.text(), "Forwarding to billing.\n\nBilling is on it.");
    let sent = provider.received();
    assert_eq!(sent[0].path, "/v1/messages");
    assert_eq!(sent[0].headers["anthropic-version"], "2023-06-01");
    assert_eq!(sent[0].body["tools"][0]["name"], "route_to_assistant");
    let last = sent[1].body["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["role"], "user");
    assert_eq!(last["content"][0]["type"], "tool_result");
    assert_eq!(last["content"][0]["tool_use_id"], "toolu_01");
    server.stop().await;
}

#[tokio::test]
async fn retries_before_the_first_delta_honour_retry_after() {
    let ok = || Answer::fixture("openai_chat_text.sse");
    let provider = FakeProvider::start(vec![
        Answer::error(
            429,
            r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        )
        .header("retry-after", "1"),
        ok(),
    ])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    let sent = provider.received();
    assert_eq!(sent.len(), 2);
    assert!(
        sent[1].at.duration_since(sent[0].at) >= std::time::Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
    server.stop().await;

    let provider = FakeProvider::start(vec![
        Answer::error(500, "oops"),
        Answer::error(502, "<html>bad gateway</html>"),
        ok(),
    ])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    assert_eq!(provider.received().len(), 3);
    server.stop().await;

    // HTTP 200 whose stream fails before any delta is retried too.
    let provider = FakeProvider::start(vec![
        Answer::fixture("openai_responses_failed_rate_limit.sse"),
        Answer::fixture("openai_responses_text_after_tool.sse"),
    ])
    .await;
    let server = server_with("openai-responses", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    assert!(reply.text().starts_with("The liability clause"));
    assert_eq!(provider.received().len(), 2);
    server.stop().await;

    // A stream that stays silent is given up after the idle timeout, then retried. (The
    // retry's stream must not look silent on a loaded machine: 1.5 s, not 0.5 s.)
    let provider = FakeProvider::start(vec![
        Answer::fixture("openai_chat_text.sse").stall_after(0),
        ok(),
    ])
    .await;
    let server = server_with_idle("openai-chat", &provider, "", 1500).await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    assert_eq!(provider.received().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn no_retry_after_a_delta_or_for_insufficient_quota() {
    // Overloaded after "Let me": the text is kept and the reply is incomplete.
    let provider = FakeProvider::start(vec![
        Answer::fixture("anthropic_overloaded_midstream.sse"),
        Answer::fixture("openai_chat_text.sse"),
    ])
    .await;
    let server = server_with("anthropic", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert_eq!(reply.text(), "Let me");
    assert_eq!(
        reply.error.as_ref().unwrap().code.as_deref(),
        Some("overloaded_error")
    );
    assert_eq!(provider.received().len(), 1);
    server.stop().await;

    let provider = FakeProvider::start(vec![
        Answer::error(429, r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#),
        Answer::fixture("openai_chat_text.sse"),
    ])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Failed);
    let error = reply.error.unwrap();
    assert_eq!(error.code.as_deref(), Some("insufficient_quota"));
    assert!(error.message.contains("exceeded your current quota"));
    assert_eq!(provider.received().len(), 1);
    server.stop().await;

    // Cut part-way, and stalled after the first delta: text kept, a clear error, no retry.
    let text = String::from_utf8(fixture("openai_responses_text_after_tool.sse")).unwrap();
    let first_delta = text.find("event: response.output_text.delta").unwrap();
    let second_delta = first_delta
        + 1
        + text[first_delta + 1..]
            .find("event: response.output_text.delta")
            .unwrap();
    for answer in [
        Answer::fixture("openai_responses_text_after_tool.sse").cut_at(second_delta),
        Answer::fixture("openai_responses_text_after_tool.sse").stall_after(second_delta),
    ] {
        let stalled = answer.stall;
        let provider = FakeProvider::start(vec![
            answer,
            Answer::fixture("openai_responses_text_after_tool.sse"),
        ])
        .await;
        let server = server_with("openai-responses", &provider, "").await;
        let (_, _, reply) = run_once(&server, json!([]), "hi").await;
        assert_eq!(
            reply.status,
            MessageStatus::Incomplete,
            "stalled={stalled} requests={} {reply:?}",
            provider.received().len()
        );
        assert_eq!(reply.text(), "The liability clause ");
        let code = reply.error.unwrap().code.unwrap();
        assert_eq!(
            code,
            if stalled {
                "idle_timeout"
            } else {
                "stream_cut"
            }
        );
        assert_eq!(provider.received().len(), 1);
        server.stop().await;
    }

    // Hostile output: escapes are stored as sent (the terminal layer strips them), and a
    // truncated event is a clear error.
    let provider = FakeProvider::start(vec![Answer::fixture("malformed_and_hostile.sse")]).await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Incomplete);
    assert!(reply.text().starts_with("safe "));
    assert_eq!(
        agentdeck::text::sanitize(&reply.text()),
        "safe ]52;c;ZXZpbA==text [2J]0;pwned end"
    );
    assert_eq!(
        reply.error.unwrap().code.as_deref(),
        Some("malformed_event")
    );
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_headers_reach_the_limits_view_and_a_missing_key_is_named() {
    let provider = FakeProvider::start(vec![
        Answer::fixture("openai_chat_text.sse")
            .header("x-ratelimit-remaining-tokens", "99000")
            .header("x-ratelimit-limit-requests", "500"),
    ])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (client, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Completed);
    let project = client.list_projects().await.unwrap().data[0].id.clone();
    let limits = client.limits(&project).await.unwrap();
    assert_eq!(
        limits.provider_rate_limits["fake"]["x-ratelimit-remaining-tokens"],
        "99000"
    );
    server.stop().await;

    let provider = FakeProvider::start(vec![]).await;
    let server = server_with(
        "openai-responses",
        &provider,
        "api_key_env = \"AGENTDECK_TEST_UNSET_KEY\"",
    )
    .await;
    let (_, _, reply) = run_once(&server, json!([]), "hi").await;
    assert_eq!(reply.status, MessageStatus::Failed);
    assert!(
        reply
            .error
            .unwrap()
            .message
            .contains("AGENTDECK_TEST_UNSET_KEY")
    );
    assert!(
        provider.received().is_empty(),
        "nothing is sent without a key"
    );
    server.stop().await;
}

/// Every fixture through the real transport: byte by byte and CRLF give exactly what the
/// whole file gives; cut off part-way gives a prefix of it and a clear error.
#[tokio::test]
async fn every_fixture_replays_whole_bytewise_crlf_and_cut() {
    use agentdeck::providers::http::{HttpProvider, RateLimitBook, RetryPolicy, WireFormat};
    use agentdeck::providers::{ModelEvent, ModelRequest, Provider};
    use futures::StreamExt;
    use std::sync::Arc;

    async fn replay(
        format: Arc<dyn WireFormat>,
        answer: Answer,
    ) -> (Vec<ModelEvent>, Option<String>) {
        let provider = FakeProvider::start(vec![answer]).await;
        let policy = RetryPolicy {
            attempts: 1,
            idle_timeout: std::time::Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let http = HttpProvider::new(
            "fake",
            &provider.url,
            None,
            None,
            format,
            policy,
            Arc::new(RateLimitBook::default()),
        );
        let request = ModelRequest {
            purpose: Default::default(),
            model: "m".into(),
            assistant_name: "a".into(),
            instructions: String::new(),
            context: vec![agentdeck::providers::ContextItem::User("hi".into())],
            tools: vec![],
            routes: vec![],
            max_output_tokens: 1000,
        };
        let mut events: Vec<ModelEvent> = Vec::new();
        let mut error = None;
        let mut stream = http.stream(request);
        while let Some(item) = stream.next().await {
            match item {
                Ok(event) => match (events.last_mut(), event) {
                    (Some(ModelEvent::TextDelta(a)), ModelEvent::TextDelta(b)) => a.push_str(&b),
                    (Some(ModelEvent::ReasoningDelta(a)), ModelEvent::ReasoningDelta(b)) => {
                        a.push_str(&b)
                    }
                    (
                        Some(ModelEvent::ToolCallArguments { index: i, delta: a }),
                        ModelEvent::ToolCallArguments { index: j, delta: b },
                    ) if *i == j => a.push_str(&b),
                    (_, event) => events.push(event),
                },
                Err(err) => error = Some(err.code),
            }
        }
        (events, error)
    }

    let chat: Arc<dyn WireFormat> = Arc::new(agentdeck::providers::openai_chat::OpenAiChat);
    let responses: Arc<dyn WireFormat> =
        Arc::new(agentdeck::providers::openai_responses::OpenAiResponses);
    let anthropic: Arc<dyn WireFormat> = Arc::new(agentdeck::providers::anthropic::Anthropic);
    let cases = [
        (
            "openai_responses_text_reasoning_tool.sse",
            responses.clone(),
            None,
        ),
        (
            "openai_responses_text_after_tool.sse",
            responses.clone(),
            None,
        ),
        (
            "openai_responses_failed_rate_limit.sse",
            responses.clone(),
            Some("rate_limit_exceeded"),
        ),
        (
            "openai_chat_reasoning_two_tools_crlf.sse",
            chat.clone(),
            None,
        ),
        ("openai_chat_text.sse", chat.clone(), None),
        (
            "malformed_and_hostile.sse",
            chat.clone(),
            Some("malformed_event"),
        ),
        ("anthropic_thinking_tool_use.sse", anthropic.clone(), None),
        (
            "anthropic_overloaded_midstream.sse",
            anthropic.clone(),
            Some("overloaded_error"),
        ),
    ];
    for (name, format, expected_error) in cases {
        let whole = replay(format.clone(), Answer::fixture(name)).await;
        assert_eq!(whole.1.as_deref(), expected_error, "{name}");
        assert!(!whole.0.is_empty() || expected_error.is_some(), "{name}");
        assert_eq!(
            replay(format.clone(), Answer::fixture(name).chunked(1)).await,
            whole,
            "{name} byte by byte"
        );
        assert_eq!(
            replay(format.clone(), Answer::fixture(name).crlf().chunked(7)).await,
            whole,
            "{name} with CRLF"
        );
        let half = fixture(name).len() / 2;
        let (cut_events, cut_error) =
            replay(format.clone(), Answer::fixture(name).cut_at(half)).await;
        assert!(cut_error.is_some(), "{name} cut off: an error");
        assert!(
            cut_events.len() <= whole.0.len(),
            "{name} cut off: no more than whole"
        );
        for (got, full) in cut_events.iter().zip(&whole.0) {
            match (got, full) {
                (ModelEvent::TextDelta(a), ModelEvent::TextDelta(b))
                | (ModelEvent::ReasoningDelta(a), ModelEvent::ReasoningDelta(b)) => {
                    assert!(b.starts_with(a.as_str()), "{name}: cut text is a prefix")
                }
                (
                    ModelEvent::ToolCallArguments { delta: a, .. },
                    ModelEvent::ToolCallArguments { delta: b, .. },
                ) => {
                    assert!(
                        b.starts_with(a.as_str()),
                        "{name}: cut arguments are a prefix"
                    )
                }
                (a, b) => assert_eq!(a, b, "{name}"),
            }
        }
    }
}

/// Privacy "strict": what the provider receives has placeholders for personal data (but
/// not for a kind the assistant allows); its answer's placeholders, split across chunks,
/// come back as the values for the operator. The instructions are redacted first, so
/// their address is `[EMAIL_1]` and the customer's `[EMAIL_2]`.
#[tokio::test]
async fn strict_privacy_sends_placeholders_and_restores_the_answer() {
    let answer = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"I will write to [EMA\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"IL_2] about [CARD_1] [\"}}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"from 10.0.0.7].\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    let provider = FakeProvider::start(vec![Answer::sse(answer).chunked(7)]).await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, client) = server.project("privacy").await;
    let mut body = assistant("careful", json!([]), vec![]);
    body.model = "test-model".into();
    body.instructions = "Escalate to legal@lawfirm.example when unsure.".into();
    body.privacy =
        serde_json::from_value(json!({"mode": "strict", "allowed_entities": ["ip"]})).unwrap();
    let careful = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &careful.id).await;
    let said = "I am jane.doe@example.com, card 4111 1111 1111 1111, server 10.0.0.7, call +1 415 555 0100, SSN 123-45-6789.";
    let reply = ask(&client, &thread, said).await;

    let sent = provider.received()[0].body.to_string();
    for leaked in [
        "jane.doe",
        "4111",
        "415 555",
        "123-45-6789",
        "legal@lawfirm",
    ] {
        assert!(
            !sent.contains(leaked),
            "{leaked} reached the provider: {sent}"
        );
    }
    for placeholder in ["[EMAIL_1]", "[EMAIL_2]", "[CARD_1]", "[PHONE_1]", "[SSN_1]"] {
        assert!(sent.contains(placeholder), "{placeholder} in {sent}");
    }
    assert!(
        sent.contains("10.0.0.7"),
        "an allowed kind is sent as it is"
    );
    assert_eq!(reply.status, MessageStatus::Completed, "{reply:?}");
    assert_eq!(
        reply.text(),
        "I will write to jane.doe@example.com about 4111 1111 1111 1111 [from 10.0.0.7]."
    );
    // The operator's view of the thread keeps what was said.
    let messages = client.all_messages(&thread).await.unwrap();
    assert_eq!(messages[0].text(), said);
    // The redaction is flagged in the model call's telemetry.
    let project = careful.project_id;
    let logs: serde_json::Value = client
        .get(&format!("/v2/projects/{project}/logs"))
        .await
        .unwrap();
    assert_eq!(logs["data"][0]["event"], "model_call");
    assert_eq!(logs["data"][0]["safety_flag"], "pii_redacted");
}

/// Privacy "strict" and tools: a tool the operator marked `trusted` gets the values
/// behind the placeholders of the model's arguments, another gets the placeholders; what
/// the tools answer goes back to the model redacted.
#[tokio::test]
async fn strict_privacy_gives_values_only_to_trusted_tools() {
    let calls = concat!(
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"tool_calls\":[{\"index\":0,\"id\":\"call_t\",\"type\":\"function\",\"function\":{\"name\":\"notify\",\"arguments\":\"{\\\"to\\\":\\\"[EMAIL_1]\\\"}\"}}]}}]}\n\n",
        "data: {\"id\":\"c2\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"call_u\",\"type\":\"function\",\"function\":{\"name\":\"archive\",\"arguments\":\"{\\\"to\\\":\\\"[EMAIL_1]\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
        "data: [DONE]\n\n"
    );
    let provider = FakeProvider::start(vec![
        Answer::sse(calls),
        Answer::fixture("openai_chat_text.sse"),
    ])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, client) = server.project("privacy-tools").await;
    let echo = |name: &str, trusted: bool| {
        json!({"type": "function", "trusted": trusted,
               "function": {"name": name, "description": name, "parameters": {"type": "object", "properties": {}}},
               "handler": {"command": ["cat"], "timeout_ms": 5000}})
    };
    let mut body = assistant(
        "careful",
        json!([echo("notify", true), echo("archive", false)]),
        vec![],
    );
    body.model = "test-model".into();
    body.privacy = serde_json::from_value(json!({"mode": "strict"})).unwrap();
    let careful = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &careful.id).await;
    let reply = ask(&client, &thread, "Tell jane.doe@example.com it shipped").await;
    let output = |name: &str| {
        reply
            .tool_calls
            .iter()
            .find(|c| c.function.name == name)
            .and_then(|c| c.output.clone())
            .unwrap_or_else(|| panic!("{name}: {reply:?}"))
    };
    assert_eq!(output("notify"), r#"{"to":"jane.doe@example.com"}"#);
    assert_eq!(output("archive"), r#"{"to":"[EMAIL_1]"}"#);
    let second = provider.received()[1].body.to_string();
    assert!(
        !second.contains("jane.doe"),
        "tool outputs go back redacted: {second}"
    );
}

/// Files a message names reach the model: a small text file inline, another named with
/// its type and size (never dropped in silence).
#[tokio::test]
async fn attached_files_reach_the_model() {
    // Each wire format gets the image in its own shape, in the user's message.
    let formats = [
        (
            "openai-chat",
            "openai_chat_text.sse",
            "\"type\":\"image_url\"",
        ),
        (
            "openai-responses",
            "openai_responses_text_after_tool.sse",
            "\"type\":\"input_image\"",
        ),
        (
            "anthropic",
            "anthropic_thinking_tool_use.sse",
            "\"media_type\":\"image/png\"",
        ),
    ];
    for (kind, fixture_name, image_shape) in formats {
        let provider = FakeProvider::start(vec![Answer::fixture(fixture_name)]).await;
        let server = server_with(kind, &provider, "").await;
        let sent = ask_with_files(&server).await;
        let sent = sent(&provider);
        assert!(
            sent.contains("Liability shall not exceed $5M per annum."),
            "{kind}: {sent}"
        );
        assert!(
            sent.contains("[file contract.txt (text/plain, 41 bytes)]"),
            "{kind}: {sent}"
        );
        assert!(sent.contains(image_shape), "{kind}: {sent}");
        assert!(
            sent.contains("iVBORw0KGgo"),
            "{kind}: the PNG's base64: {sent}"
        );
        assert!(
            !sent.contains("scan.png (image/png"),
            "{kind}: sent, not noted"
        );
    }
    // A provider whose models take no images gets a note instead.
    let provider = FakeProvider::start(vec![Answer::fixture("openai_chat_text.sse")]).await;
    let server = server_with("openai-chat", &provider, "images = false\n").await;
    let sent = ask_with_files(&server).await;
    let sent = sent(&provider);
    assert!(
        sent.contains("[image scan.png (image/png, 4\u{d7}3): this model does not take images; it was not sent]"),
        "{sent}"
    );
    assert!(!sent.contains("iVBORw0KGgo"), "{sent}");
}

/// Posts a question with a text file and an image attached; returns what reads the
/// provider's first request body.
async fn ask_with_files(server: &TestServer) -> impl Fn(&FakeProvider) -> String {
    let (project, client) = server.project("files").await;
    let (status, contract) = upload(
        &server.url,
        &server.admin_key,
        Some(&project.id),
        "contract.txt",
        b"Liability shall not exceed $5M per annum.",
    )
    .await;
    assert_eq!(status, 200, "{contract}");
    let (_, scan) = upload(
        &server.url,
        &server.admin_key,
        Some(&project.id),
        "scan.png",
        &png(4, 3),
    )
    .await;
    let mut body = assistant("reader", json!([]), vec![]);
    body.model = "test-model".into();
    let reader = client.create_assistant(&body).await.unwrap();
    let thread = new_thread(&client, &reader.id).await;
    let mut message = user("What is the liability cap?");
    message.attachments = vec![
        serde_json::from_value(json!({"file_id": contract["id"]})).unwrap(),
        serde_json::from_value(json!({"file_id": scan["id"]})).unwrap(),
    ];
    let posted = client.post_message(&thread, &message).await.unwrap();
    wait_reply(&client, &thread, &posted.response_message_id.unwrap()).await;
    |provider: &FakeProvider| provider.received()[0].body.to_string()
}

/// A provider's 404 (a base_url without its /v1, a model it does not serve) says where
/// the request went.
#[tokio::test]
async fn a_providers_404_names_the_url_it_tried() {
    let provider = FakeProvider::start(vec![Answer::error(
        404,
        r#"{"error":{"message":"Not Found","type":"invalid_request_error"}}"#,
    )])
    .await;
    let server = server_with("openai-chat", &provider, "").await;
    let (_, _, reply) = run_once(&server, json!([]), "hello").await;
    assert_eq!(reply.status, MessageStatus::Failed, "{reply:?}");
    let error = reply.error.expect("the reply says why it failed");
    assert!(
        error
            .message
            .contains(&format!("POST {}/chat/completions", provider.url))
            && error.message.contains("base_url")
            && error.message.contains("test-model"),
        "{}",
        error.message
    );
}
