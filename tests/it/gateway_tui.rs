//! An agent built elsewhere, its model calls through the gateway and its spans to the
//! OTLP receiver, operated from the workspace: the OpenAI Agents SDK (only its base URL,
//! key and exporter pointed at a real `serve`, llmock behind) runs a triage agent that
//! hands off to billing, whose `refund` call the gateway holds. The operator finds it in the real binary over `--remote` in tmux and
//! approves it with the real keys; the agent then refunds, and the handoff is one run:
//! billing's thread nested under triage's, the edge in the routing graph.

use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::{Role, ToolCallStatus, ToolCallType};
use std::time::{Duration, Instant};

#[test]
fn an_agents_sdk_handoff_through_the_gateway_is_held_and_approved_from_the_tools_pane() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mock = rt.block_on(crate::llmock::start_llmock(&[]));
    let admin_key = "gateway-tui-admin-key-0123456789abcdef";
    let (_server, info, project, key) = crate::support::serve_with_project(
        &rt,
        dir.path(),
        &format!(
            "[providers.openai]\nkind = \"openai-responses\"\nbase_url = \"{}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n\n[gateway]\nhold_tools = [\"refund\"]\nhold_timeout = \"2m\"\n",
            mock.url
        ),
        admin_key,
        "support desk",
    );

    // The agent runs on its own; it waits on the gateway until the operator answers.
    let script = format!(
        "{}/tests/fixtures/gateway/agents_traced.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let base_url = format!("{}/v1", info.url);
    let otlp_headers = format!("Authorization=Bearer {key}");
    let otlp_endpoint = info.url.clone();
    // The operator's key sees the project only (not the examples a new server has).
    let env = format!("AGENTDECK_API_KEY={key}");
    let agent = std::thread::spawn(move || {
        crate::support::run_python(
            &[&script],
            &[
                ("OPENAI_BASE_URL", &base_url),
                ("OPENAI_API_KEY", &key),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp_endpoint),
                ("OTEL_EXPORTER_OTLP_HEADERS", &otlp_headers),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("CONVERSATION", "case-77"),
            ],
            Duration::from_secs(150),
        )
    });

    let remote = format!("--remote {}", info.url);
    let session = Session::start_with_args(&dir, "gateway", &env, &remote, "", (120, 36));
    session.wait_for("Threads ");
    // The held refund needs the operator: `!` opens its thread, the Tools pane has it.
    session.wait_for("⚑ 1 needs you");
    session.keys(&["!"]);
    session.wait_for("billing");
    session.keys(&["3"]);
    let screen = session.wait_for("Tools · 1 waiting");
    assert!(screen.contains("refund"), "{screen}");
    session.keys(&["a"]);

    let deadline = Instant::now() + Duration::from_secs(60);
    while !agent.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the agent did not finish within 60 s of the approval:\n{}",
            session.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = agent.join().unwrap();
    assert_eq!(
        got["refunds"].as_array().map(Vec::len),
        Some(1),
        "the approved refund ran: {got}"
    );
    session.wait_for("Tools · 0 waiting");

    // One run, though both its calls and its spans came: two agents, two threads,
    // billing's triage's routed child through the handoff call, and every reply the
    // gateway carried matched with its span.
    let scoped = Client::new(&info.url, admin_key).with_project(Some(project.id.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let threads = loop {
        let threads = rt
            .block_on(scoped.list_threads(&[("limit", "10")]))
            .unwrap()
            .data;
        let replies: Vec<_> = threads
            .iter()
            .flat_map(|t| rt.block_on(scoped.all_messages(&t.id)).unwrap())
            .filter(|m| m.role == Role::Assistant)
            .collect();
        if replies.len() == 3 && replies.iter().all(|r| r.metadata.contains_key("span_id")) {
            break threads;
        }
        assert!(
            Instant::now() < deadline,
            "the spans never settled onto the calls: {threads:#?} {replies:#?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(threads.len(), 2, "{threads:#?}");
    let assistants = rt.block_on(scoped.list_assistants()).unwrap().data;
    assert_eq!(assistants.len(), 2, "{assistants:#?}");
    let named = |name: &str| {
        let assistant = assistants
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name}: {assistants:#?}"));
        threads
            .iter()
            .find(|t| t.assistant_id == assistant.id)
            .unwrap_or_else(|| panic!("{name}'s thread: {threads:#?}"))
            .clone()
    };
    let (triage, billing) = (named("triage"), named("billing"));
    assert_eq!(
        billing.parent_thread_id.as_deref(),
        Some(triage.id.as_str())
    );
    let triage_calls: Vec<_> = rt
        .block_on(scoped.all_messages(&triage.id))
        .unwrap()
        .into_iter()
        .flat_map(|m| m.tool_calls)
        .collect();
    let hop = triage_calls
        .iter()
        .find(|c| c.function.name == "transfer_to_billing")
        .unwrap_or_else(|| panic!("{triage_calls:#?}"));
    assert_eq!(hop.kind, ToolCallType::AgentRouting);
    assert_eq!(hop.thread_id.as_deref(), Some(billing.id.as_str()));
    let billing_messages = rt.block_on(scoped.all_messages(&billing.id)).unwrap();
    // Billing's second call brought the refund's result back: a tool message, not the
    // user's question again, and the result on the call.
    let roles: Vec<Role> = billing_messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant]
    );
    let refund = billing_messages
        .iter()
        .flat_map(|m| &m.tool_calls)
        .find(|c| c.function.name == "refund")
        .unwrap();
    assert!(refund.approved, "{refund:?}");
    assert_eq!(refund.status, ToolCallStatus::Completed);
    assert!(
        refund
            .output
            .as_deref()
            .is_some_and(|o| o.contains("\"refunded\": true")),
        "{refund:?}"
    );

    // The threads tree nests billing under triage; the graph draws the edge.
    session.keys(&["1"]);
    session.wait_for("triage");
    session.keys(&["4"]);
    let screen = session.wait_until("the triage → billing edge", |s| {
        s.contains("triage") && s.contains("billing") && s.contains("×1")
    });
    assert!(!screen.contains("panicked"), "{screen}");
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}
