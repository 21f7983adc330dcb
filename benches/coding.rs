//! Coding agents at once: `CODING_BENCH_SESSIONS` (default 20) Claude Code sessions of one
//! claude-code assistant, each a turn that streams a long answer from llmock (`--stream-
//! chunk-delay-ms` `CODING_BENCH_DELAY_MS`, default 20), run by the runtime in this
//! process. Prints the wall time until every turn ended and this process's CPU over it
//! (the runtime and the bench's client; the agents' own processes are children and not
//! counted), as a share of one core.
//! Then `CODING_BENCH_APPROVALS` (default 5) turns whose command waits for a permission:
//! from the approve call until the command's result is in the workspace.
//! Targets (issue #30): the workspace ≤ 5 % of a core beyond the agents' own processes;
//! an approval reaches the agent within 50 ms.
//! `CODING_BENCH_AGENT=codex` runs the sessions on Codex (`CODEX_BIN`) instead, without the
//! approvals (`benches/coding_screen.rs` times Codex's, keystroke to agent).
//! Needs CLAUDE_CODE_BIN and LLMOCK (as `bash .ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use agentdeck::config::Config;
use std::time::{Duration, Instant};

mod common;

fn main() {
    // `CODING_BENCH_AGENT=codex`: the sessions are Codex's (`CODEX_BIN`) instead.
    let codex = std::env::var("CODING_BENCH_AGENT").is_ok_and(|a| a == "codex");
    let bin = if codex {
        std::env::var("CODEX_BIN").expect("CODEX_BIN names Codex")
    } else {
        std::env::var("CLAUDE_CODE_BIN").expect("CLAUDE_CODE_BIN names Claude Code")
    };
    let sessions: usize = common::setting("CODING_BENCH_SESSIONS", 20);
    let delay: u64 = common::setting("CODING_BENCH_DELAY_MS", 20);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_llmock, port) = common::start_llmock(delay, "off").await;
        let url = format!("http://127.0.0.1:{port}");
        // A second one whose model always asks for a tool first (Claude Code's Bash, which
        // needs a permission): for the approvals.
        let (_asking, asking_port) = common::start_llmock(0, "auto").await;
        let asking_url = format!("http://127.0.0.1:{asking_port}");
        // Every turn streams the same long answer.
        let words: Vec<String> = (0..300).map(|i| format!("word{i}")).collect();
        common::script_llmock(
            &url,
            serde_json::json!([{"type": "reply", "times": null,
                "match": {"tools": true}, "text": words.join(" ")}]),
        )
        .await;
        let config = Config::parse(&format!(
            "[providers.asking]\nkind = \"anthropic\"\nbase_url = \"{asking_url}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-asking-*\"]\n\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{url}/anthropic/v1\"\napi_key_env = \"HOME\"\nmodels = [\"claude-*\"]\n\n[providers.responses]\nkind = \"openai-responses\"\nbase_url = \"{url}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n"
        ))
        .unwrap();
        let local = common::local_runtime_with("coding", config).await;
        let body = if codex {
            serde_json::json!({"name": "coder", "model": "codex",
                "agent": {"command": [bin], "model": "gpt-5.1-codex"}})
        } else {
            serde_json::json!({"name": "coder", "model": "claude-code",
                "agent": {"command": [bin], "model": "claude-sonnet-4-5", "tools": ["Read"]}})
        };
        let body: agentdeck::model::requests::AssistantCreate =
            serde_json::from_value(body).unwrap();
        let coder = local.client.create_assistant(&body).await.unwrap();
        let mut threads = Vec::new();
        for _ in 0..sessions {
            threads.push(common::new_thread(&local.client, &coder.id).await);
        }
        let cpu = common::cpu_seconds(&[]);
        let started = Instant::now();
        let turns = threads.iter().map(|thread| {
            let client = local.client.clone();
            let thread = thread.clone();
            async move { common::ask(&client, &thread, "Explain the code base").await }
        });
        let replies = futures::future::join_all(turns).await;
        let wall = started.elapsed();
        let cpu = common::cpu_seconds(&[]) - cpu;
        let completed = replies
            .iter()
            .filter(|r| r.status == agentdeck::model::MessageStatus::Completed)
            .count();
        let words: usize = replies.iter().map(|r| r.text().split_whitespace().count()).sum();
        println!(
            "{sessions} {} sessions at once, {completed} completed, {words} words streamed: {wall:.2?} wall, {cpu:.2} s CPU in this process = {:.1} % of one core",
            if codex { "Codex" } else { "Claude Code" },
            cpu / wall.as_secs_f64() * 100.0
        );
        if codex {
            // The approvals below are Claude Code's; the screen bench times Codex's.
            return;
        }

        // The operator's approval: from the approve call until the command's result is in
        // the workspace — an upper bound of the approval reaching the agent, since the
        // agent's own run of the command is inside it.
        let body: agentdeck::model::requests::AssistantCreate =
            serde_json::from_value(serde_json::json!({
                "name": "careful-coder", "model": "claude-code",
                "agent": {"command": [std::env::var("CLAUDE_CODE_BIN").unwrap()],
                    "model": "claude-asking-sonnet", "tools": ["Bash"]},
            }))
            .unwrap();
        let careful = local.client.create_assistant(&body).await.unwrap();
        let mut lags = Vec::new();
        for _ in 0..common::setting("CODING_BENCH_APPROVALS", 5) {
            let thread = common::new_thread(&local.client, &careful.id).await;
            let posted = local
                .client
                .post_message(&thread, &common::user("Run it"))
                .await
                .unwrap();
            let reply = posted.response_message_id.unwrap();
            let call_status = |message: &agentdeck::model::Message| {
                message.tool_calls.first().map(|c| (c.id.clone(), c.status))
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            let waiting = loop {
                let message = local.client.message(&thread, &reply).await.unwrap();
                assert!(
                    Instant::now() < deadline,
                    "no call waited for approval within 60 s: {message:?}"
                );
                if let Some((id, agentdeck::model::ToolCallStatus::RequiresApproval)) =
                    call_status(&message)
                {
                    break id;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            };
            let approved = Instant::now();
            local.client.approve(&thread, &waiting, None).await.unwrap();
            loop {
                assert!(Instant::now() < deadline, "the approved command did not end within 60 s");
                let message = local.client.message(&thread, &reply).await.unwrap();
                if matches!(
                    call_status(&message),
                    Some((_, agentdeck::model::ToolCallStatus::Completed))
                ) {
                    lags.push(approved.elapsed());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        lags.sort();
        println!(
            "approval → the command's result in the workspace ({} approvals): p50 {:.1?}, max {:.1?}",
            lags.len(),
            lags[lags.len() / 2],
            lags[lags.len() - 1]
        );
    });
}
