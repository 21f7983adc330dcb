//! An agent built elsewhere, watched in the workspace: the OpenAI Agents SDK's handoff run
//! (its model served by llmock, its spans exported over OTLP/HTTP to a real `serve`) shows
//! in the real binary, over `--remote` in tmux, with the real keys: the external thread
//! found by the filter, its trace with the routed child nested under the hop, and the
//! edge in the routing graph.

use crate::otlp::{fixture, run_exporter};
use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::requests::ProjectCreate;
use std::time::{Duration, Instant};

#[test]
fn an_external_handoff_shows_in_the_trace_and_the_routing_graph() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let admin_key = "otlp-tui-admin-key-0123456789abcdef";
    let (server, info) = rt.block_on(crate::support::spawn_serve(
        &dir.path().join("served"),
        Some(admin_key),
    ));
    let _server = server;
    let admin = Client::new(&info.url, admin_key);
    let project: ProjectCreate =
        serde_json::from_value(serde_json::json!({"name": "agents elsewhere"})).unwrap();
    let project = rt.block_on(admin.create_project(&project)).unwrap();
    let key = rt
        .block_on(admin.create_key(&project.id, Some("exporter".into())))
        .unwrap()
        .key;
    let mock = rt.block_on(crate::llmock::start_llmock(&[]));
    let model_url = format!("{}/v1", mock.url);
    run_exporter(
        &info.url,
        &key,
        &[&fixture("agents_run.py"), "handoff", "http"],
        &[
            ("OPENAI_BASE_URL", model_url.as_str()),
            ("OPENAI_API_KEY", "sk-test"),
            ("AGENT_NAMES", "frontdesk,refunds"),
        ],
    );
    // Both agents' threads are in before the workspace looks (spans settle in ms).
    let scoped = Client::new(&info.url, admin_key).with_project(Some(project.id.clone()));
    let deadline = Instant::now() + Duration::from_secs(20);
    while rt
        .block_on(scoped.list_threads(&[("limit", "10")]))
        .map_or(0, |page| page.data.len())
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "the run's two threads within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let env = format!("AGENTDECK_API_KEY={admin_key}");
    let remote = format!("--remote {}", info.url);
    let session = Session::start_with_args(&dir, "otlp", &env, &remote, "", (120, 36));
    session.wait_for("Threads ");
    // The filter finds the external agent's thread by its metadata and agent name.
    session.keys(&["/"]);
    session.type_text("source:otlp assistant:frontdesk");
    session.keys(&["Enter", "t"]);
    session.wait_for("Trace ·");
    let screen = session.wait_until("the handoff and refunds' reply nested under it", |s| {
        s.contains("⇢ → refunds") && s.contains("reply by refunds")
    });
    // Each agent's model call is measured (not left running), the handoff is the hop
    // itself (not a second row beside it), and the trace is over, not live.
    assert_eq!(screen.matches("model step 1").count(), 2, "{screen}");
    assert_eq!(
        screen.matches("→ refunds").count(),
        2,
        "the hop and the Conversation's: {screen}"
    );
    assert!(!screen.contains("· live"), "{screen}");
    session.press_apart(&["Escape", "Escape"]);
    session.wait_until("the trace closed", |s| !s.contains("Trace ·"));

    // The routing graph draws the edge between the two external agents.
    session.keys(&["4"]);
    let screen = session.wait_until("the frontdesk → refunds edge", |s| {
        s.contains("frontdesk") && s.contains("refunds") && s.contains("×1")
    });
    assert!(!screen.contains("panicked"), "{screen}");
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}
