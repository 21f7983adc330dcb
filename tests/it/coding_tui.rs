//! A coding agent operated from the keyboard: the real Claude Code as an assistant of a
//! real `serve` (llmock behind), its command waiting for a permission, found in the real
//! binary over `--remote` in tmux and approved with the real keys; the command then runs
//! in the repository.

use crate::tui_e2e::Session;
use agentdeck::client::Client;
use agentdeck::model::requests::ProjectCreate;
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
    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-*\"]\n",
            mock.url
        ),
    )
    .unwrap();
    let admin_key = "coding-tui-admin-key-0123456789abcdef";
    let config_path = config.display().to_string();
    let (server, info) = rt.block_on(crate::support::spawn_serve_with_env(
        &dir.path().join("served"),
        Some(admin_key),
        &[("AGENTDECK_CONFIG", &config_path)],
    ));
    let _server = crate::support::KillOnDrop(server);
    let admin = Client::new(&info.url, admin_key);
    let project: ProjectCreate =
        serde_json::from_value(serde_json::json!({"name": "repositories"})).unwrap();
    let project = rt.block_on(admin.create_project(&project)).unwrap();
    let key = rt
        .block_on(admin.create_key(&project.id, Some("operator".into())))
        .unwrap()
        .key;
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
    let scripted = rt
        .block_on(
            reqwest::Client::new()
                .post(format!("{}/_llmock/scenario", mock.url))
                .json(
                    &serde_json::json!({"behaviors": [{"type": "reply", "match": {"tools": true},
                "tool_calls": [{"name": "Bash", "arguments": {"command": "echo approved > ran.txt",
                    "description": "Leave a mark"}}]}]}),
                )
                .send(),
        )
        .unwrap();
    assert_eq!(scripted.status().as_u16(), 201);
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
