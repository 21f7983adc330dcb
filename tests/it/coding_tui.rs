//! A coding agent operated from the keyboard: the real Claude Code as an assistant of a
//! real `serve` (llmock behind), its command waiting for a permission, found in the real
//! binary over `--remote` in tmux and approved with the real keys; the command then runs
//! in the repository.

use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::{MessageStatus, ToolCallStatus};
use std::time::{Duration, Instant};

#[test]
fn a_claude_code_command_waits_in_the_tools_pane_and_runs_once_approved() {
    let bin = std::env::var("CLAUDE_CODE_BIN").expect(
        "CLAUDE_CODE_BIN is not set: this test needs the Claude Code that `bash .ci/run` installs",
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mock = rt.block_on(crate::llmock::start_llmock(&[]));
    let (_server, info, _, key) = crate::support::serve_with_project(
        &rt,
        dir.path(),
        &crate::coding::claude_config(&mock),
        "coding-tui-admin-key-0123456789abcdef",
        "repositories",
    );
    let client = Client::new(&info.url, &key);
    let repo = tempfile::tempdir().unwrap();
    let body: agentdeck::model::requests::AssistantCreate =
        serde_json::from_value(serde_json::json!({
            "name": "coder",
            "model": "claude-code",
            "agent": {"workdir": repo.path().display().to_string(), "command": [bin],
                "model": "claude-sonnet-4-5", "tools": ["Bash", "Read", "Edit", "Write"]},
        }))
        .unwrap();
    let coder = rt.block_on(client.create_assistant(&body)).unwrap();
    let thread = rt.block_on(crate::support::new_thread(&client, &coder.id));
    rt.block_on(mock.script(
        serde_json::json!([{"type": "reply", "match": {"tools": true},
        "tool_calls": [{"name": "Bash", "arguments": {"command": "echo approved > ran.txt",
            "description": "Leave a mark"}}]}]),
    ));
    let reply = rt.block_on(crate::support::post(&client, &thread, "Leave a mark"));

    let env = format!("AGENTDECK_API_KEY={key}");
    let remote = format!("--remote {}", info.url);
    let session = Session::start_with_args(&dir, "coding", &env, &remote, "", (120, 36));
    session.wait_for("Threads ");
    // The command waits for the operator: `!` opens its thread, the Tools pane has it.
    session.wait_for("⚑ 1 needs you");
    session.keys(&["!"]);
    session.wait_for("coder");
    session.keys(&["3"]);
    let screen = session.wait_for("Tools · 1 waiting");
    assert!(screen.contains("Bash"), "{screen}");
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
    session.wait_for("Tools · 0 waiting");
    session.keys(&["q"]);
    session.wait_for("EXITED-0");
}
