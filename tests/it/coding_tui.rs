//! Coding agents operated from the keyboard: the real Claude Code and the real Codex as
//! assistants of a real `serve` (llmock behind), each with an action waiting for a
//! permission, found in the real binary over `--remote` in tmux and approved with the
//! real keys; the action then happens in the repository.

use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::{Message, MessageStatus, ToolCallStatus};
use std::time::{Duration, Instant};

/// Starts `serve` with `config`, makes the assistant `body` wants (its workdir `repo`),
/// scripts llmock with `script`, posts a message and, in the workspace in tmux, opens the
/// thread that needs the operator (`!`), the Tools pane (`3`) — where `waiting` shows —
/// and approves (`a`). The reply once its turn ended.
fn approve_from_the_tools_pane(
    name: &str,
    config: impl Fn(&str) -> String,
    body: agentdeck::model::requests::AssistantCreate,
    script: serde_json::Value,
    waiting: &str,
) -> Message {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mock = rt.block_on(crate::llmock::start_llmock(&[]));
    let (_server, info, _, key) = crate::support::serve_with_project(
        &rt,
        dir.path(),
        &config(&mock.url),
        "coding-tui-admin-key-0123456789abcdef",
        "repositories",
    );
    let client = Client::new(&info.url, &key);
    let coder = rt.block_on(client.create_assistant(&body)).unwrap();
    let thread = rt.block_on(crate::support::new_thread(&client, &coder.id));
    rt.block_on(mock.script(script));
    let reply = rt.block_on(crate::support::post(&client, &thread, "Leave a mark"));

    let env = format!("AGENTDECK_API_KEY={key}");
    let remote = format!("--remote {}", info.url);
    let session = Session::start_with_args(&dir, name, &env, &remote, "", (120, 36));
    session.wait_for("Threads ");
    // The action waits for the operator: `!` opens its thread, the Tools pane has it.
    session.wait_for("⚑ 1 needs you");
    session.keys(&["!"]);
    session.wait_for(&coder.name);
    session.keys(&["3"]);
    let screen = session.wait_for("Tools · 1 waiting");
    assert!(screen.contains(waiting), "{screen}");
    session.keys(&["a"]);

    let deadline = Instant::now() + Duration::from_secs(60);
    let ended = loop {
        let message = rt.block_on(client.message(&thread, &reply)).unwrap();
        if message.status != MessageStatus::InProgress {
            break message;
        }
        assert!(
            Instant::now() < deadline,
            "the turn did not end within 60 s of the approval:\n{}",
            session.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    session.wait_for("Tools · 0 waiting");
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
    ended
}

#[test]
fn a_claude_code_command_waits_in_the_tools_pane_and_runs_once_approved() {
    let repo = tempfile::tempdir().unwrap();
    let ended = approve_from_the_tools_pane(
        "coding",
        crate::coding::claude_config,
        crate::coding::claude_coder(
            "coder",
            repo.path(),
            serde_json::json!({"tools": ["Bash", "Read", "Edit", "Write"]}),
        ),
        serde_json::json!([{"type": "reply", "match": {"tools": true},
            "tool_calls": [{"name": "Bash", "arguments": {"command": "echo approved > ran.txt",
                "description": "Leave a mark"}}]}]),
        "Bash",
    );
    assert_eq!(ended.status, MessageStatus::Completed, "{ended:?}");
    let command = &ended.tool_calls[0];
    assert!(command.approved, "{command:?}");
    assert_eq!(command.status, ToolCallStatus::Completed, "{command:?}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("ran.txt"))
            .unwrap()
            .trim(),
        "approved"
    );
}

#[test]
fn a_codex_patch_waits_in_the_tools_pane_and_is_made_once_approved() {
    let repo = crate::coding::repository();
    let ended = approve_from_the_tools_pane(
        "codex",
        crate::codex::codex_config,
        crate::codex::coder(repo.path(), "codex-coder"),
        serde_json::json!([{"type": "reply", "match": {"tools": true},
            "tool_calls": [{"name": "exec_command", "arguments": crate::codex::apply_patch()}]}]),
        "apply_patch",
    );
    assert_eq!(ended.status, MessageStatus::Completed, "{ended:?}");
    let patch = &ended.tool_calls[0];
    assert!(patch.approved, "{patch:?}");
    assert_eq!(patch.status, ToolCallStatus::Completed, "{patch:?}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "hello world\n"
    );
}
