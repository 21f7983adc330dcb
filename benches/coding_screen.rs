//! A coding agent as the operator sees it, all real processes: `agentdeck serve`, the
//! workspace (`agentdeck --remote`) in tmux at 160x45, and Codex (`CODEX_BIN`) pointed at
//! llmock, behind a tap (`benches/coding_tap.py`) that stamps each line as it reaches
//! the agent's stdin or leaves its stdout. `CODING_SCREEN_ROUNDS` (default 10) turns in
//! one thread, each a command that waits for a permission and then a reply with a marker:
//! - the keystroke: from just before `tmux send-keys a` (the Tools pane, the waiting
//!   command) until the approval's line reaches the agent's stdin;
//! - the screen: from the agent writing its first line with the round's marker until
//!   the marker is on the screen (tmux capture-pane, polled every ms or so).
//!
//! Targets (issue #30): an approval keystroke reaches the agent within 50 ms; a session's
//! first event on screen within 100 ms of the agent emitting it.
//! `cargo bench --bench coding_screen` (needs tmux, python3, CODEX_BIN and LLMOCK, as
//! `bash .ci/run` installs them).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

const SOCKET: &str = "agentdeck-coding-screen";
const SESSION: &str = "coding-screen";

fn tmux(args: &[&str]) -> String {
    common::tmux(SOCKET, args)
}

fn screen() -> String {
    tmux(&["capture-pane", "-p", "-t", SESSION])
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Polls `check` every `every` until it gives a value, for at most `within` (the screen
/// shown if not).
fn poll<T>(what: &str, within: Duration, every: Duration, check: impl Fn() -> Option<T>) -> T {
    common::poll(what, within, every, check, screen)
}

/// The time of the first tap line of `way` (in/out) after `since` that contains `text`.
fn tapped(log: &std::path::Path, way: &str, since: f64, text: &str) -> Option<f64> {
    let all = std::fs::read_to_string(log).ok()?;
    all.lines().find_map(|line| {
        let mut parts = line.splitn(3, ' ');
        let (w, at, rest) = (parts.next()?, parts.next()?, parts.next()?);
        let at: f64 = at.parse().ok()?;
        (w == way && at >= since && rest.contains(text)).then_some(at)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let codex = std::env::var("CODEX_BIN").expect("CODEX_BIN names Codex");
    let rounds: usize = common::setting("CODING_SCREEN_ROUNDS", 10);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_llmock, port) = rt.block_on(common::start_llmock(0, "off"));
    let mock = format!("http://127.0.0.1:{port}");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[providers.responses]\nkind = \"openai-responses\"\nbase_url = \"{mock}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n"),
    )
    .unwrap();
    let server = common::spawn_server_with_env(
        &dir.path().join("served"),
        "0",
        &[("AGENTDECK_CONFIG", config.to_str().unwrap())],
    );
    let tap_log = dir.path().join("tap.log");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (client, thread) = rt.block_on(async {
        let client = server.project_client("screen").await;
        let body: agentdeck::model::requests::AssistantCreate =
            serde_json::from_value(serde_json::json!({
                "name": "codex-coder", "model": "codex",
                "agent": {"workdir": repo.display().to_string(), "model": "gpt-5.1-codex",
                    "command": ["python3", concat!(env!("CARGO_MANIFEST_DIR"), "/benches/coding_tap.py"), codex],
                    "env": {"CODING_TAP_LOG": tap_log.display().to_string()}},
            }))
            .unwrap();
        let coder = client.create_assistant(&body).await.unwrap();
        let thread = common::new_thread(&client, &coder.id).await;
        (client, thread)
    });

    let key = client.key().to_string();
    let command = format!(
        "env AGENTDECK_API_KEY={key} XDG_STATE_HOME={state} XDG_CONFIG_HOME={state} {bin} --data-dir {data} --remote {url}",
        state = dir.path().join("state").display(),
        bin = env!("CARGO_BIN_EXE_agentdeck"),
        data = dir.path().join("workspace").display(),
        url = server.url,
    );
    tmux(&["kill-server"]);
    tmux(&[
        "new-session",
        "-d",
        "-s",
        SESSION,
        "-x",
        "160",
        "-y",
        "45",
        &command,
    ]);
    let shows = |text: &str| screen().contains(text);

    let mut keystroke = Vec::new();
    let mut on_screen = Vec::new();
    for round in 0..rounds {
        let marker = format!("MARK{round}X");
        rt.block_on(async {
            common::script_llmock(&mock, serde_json::json!([
                {"type": "reply", "match": {"tools": true}, "tool_calls": [
                    {"name": "exec_command", "arguments": {"cmd": format!("touch made{round}.txt")}}]},
                {"type": "reply", "match": {"tools": true}, "text": format!("{marker} done")}]))
            .await;
            client
                .post_message(&thread, &common::user("Make a file"))
                .await
                .unwrap();
        });
        if round == 0 {
            // The thread that needs the operator, then its Tools pane.
            poll(
                "the call waiting",
                Duration::from_secs(60),
                Duration::from_millis(50),
                || shows("⚑ 1 needs you").then_some(()),
            );
            tmux(&["send-keys", "-t", SESSION, "!"]);
            poll(
                "the thread opening",
                Duration::from_secs(10),
                Duration::from_millis(20),
                || shows("codex-coder").then_some(()),
            );
            tmux(&["send-keys", "-t", SESSION, "3"]);
        }
        poll(
            "the command waiting",
            Duration::from_secs(60),
            Duration::from_millis(2),
            || shows("Tools · 1 waiting").then_some(()),
        );
        let pressed = now();
        tmux(&["send-keys", "-t", SESSION, "a"]);
        let reached = poll(
            "the approval reaching Codex",
            Duration::from_secs(10),
            Duration::from_millis(1),
            || tapped(&tap_log, "in", pressed, "\"decision\""),
        );
        keystroke.push((reached - pressed) * 1000.0);
        let seen = poll(
            "the marker on screen",
            Duration::from_secs(30),
            Duration::from_millis(1),
            || shows(&marker).then(now),
        );
        let emitted = tapped(&tap_log, "out", pressed, &marker).expect("Codex wrote the marker");
        on_screen.push((seen - emitted) * 1000.0);
        poll(
            "the turn's end",
            Duration::from_secs(30),
            Duration::from_millis(20),
            || shows("Tools · 0 waiting").then_some(()),
        );
        // The turn ends (the agent's process with it) before the next one.
        rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let messages = client.all_messages(&thread).await.unwrap();
                if messages
                    .iter()
                    .all(|m| m.status != agentdeck::model::MessageStatus::InProgress)
                {
                    break;
                }
                assert!(Instant::now() < deadline, "the turn did not end");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
    }
    tmux(&["kill-server"]);
    keystroke.sort_by(f64::total_cmp);
    on_screen.sort_by(f64::total_cmp);
    println!(
        "approval keystroke → the agent's stdin ({rounds} rounds): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&keystroke, 0.5),
        percentile(&keystroke, 0.9),
        percentile(&keystroke, 1.0)
    );
    println!(
        "the agent's line → on screen ({rounds} rounds): p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        percentile(&on_screen, 0.5),
        percentile(&on_screen, 0.9),
        percentile(&on_screen, 1.0)
    );
}
