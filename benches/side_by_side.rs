//! The whole product against a line-mode client, all real binaries in a real terminal
//! (issue #31's side-by-side run, as a bench): the same long markdown reply
//! (`SIDE_WORDS` words, default 2,527) streamed by llmock through an OpenAI-compatible
//! Chat Completions provider, `SIDE_DELAYS` ms apart per chunk (default "5,20"), into a
//! 160x45 tmux pane. CPU from /proc (utime + stime), less the process's idle rate just
//! before; medians of `SIDE_ROUNDS` (default 3); per 1,000 chunks (a chunk is a word).
//! - agentdeck with the runtime in its process (`agentdeck`, the thread open in the
//!   workspace; the message sent with `agentdeck send`);
//! - `agentdeck serve` alone and the workspace alone (`agentdeck --remote`), in one run;
//! - aichat's REPL (`AICHAT`, else `target/aichat/bin/aichat`: `cargo install aichat
//!   --version 0.30.0 --locked --root target/aichat`; skipped with a note when missing).
//!
//! Targets (issue #31): the whole process ≤ 0.8× aichat's at 5 and at 20 ms per chunk;
//! the workspace alone ≤ 40 ms per 1,000 events at 5 ms per chunk; the in-process
//! workspace's RSS high-water (`VmHWM`, at the stream's end) ≤ 40 MiB.
//! `cargo bench --bench side_by_side` (needs tmux and LLMOCK, as `bash .ci/run` installs;
//! `AGENTDECK_BIN=path` measures another build of the binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

const SOCKET: &str = "agentdeck-side-by-side";

fn tmux(args: &[&str]) -> String {
    common::tmux(SOCKET, args)
}

fn screen(session: &str) -> String {
    tmux(&["capture-pane", "-p", "-t", session])
}

/// A 160x45 session `session` running `command`.
fn new_session(session: &str, command: &str) {
    tmux(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "160",
        "-y",
        "45",
        command,
    ]);
}

/// Until the reply's last word is on the screen of `session`.
fn wait_for_the_end(session: &str, within: Duration) {
    wait_for("the end on screen", within, || {
        screen(session).contains("END-OF-REPLY")
    });
}

/// The process whose command line has every one of `words` (and is not a shell or
/// `env` running it).
fn pid_of(words: &[&str]) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = line
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let first = args.first().map(String::as_str).unwrap_or("");
            if first.ends_with("sh") || first.ends_with("env") || first.ends_with("tmux") {
                continue;
            }
            if words.iter().all(|w| args.iter().any(|a| a.contains(w))) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "no process {words:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_for(what: &str, within: Duration, check: impl Fn() -> bool) {
    let every = Duration::from_millis(50);
    common::poll(what, within, every, || check().then_some(()), String::new);
}

/// The long reply: headings, paragraphs, lists and code, `words` words, ending in a
/// marker.
fn markdown(words: usize) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut section = 0;
    while n < words.saturating_sub(1) {
        section += 1;
        out.push_str(&format!("## Section {section}\n\n"));
        n += 2;
        for sentence in 0..6 {
            out.push_str(&format!(
                "The **runtime** keeps thread {section}.{sentence} in `order` while the workspace draws it. "
            ));
            n += 12;
        }
        out.push_str("\n\n- first point of the list\n- second point, with `code`\n\n");
        n += 10;
        out.push_str("```rust\nfn main() { println!(\"hello\"); }\n```\n\n");
        n += 5;
    }
    let mut text: Vec<&str> = out.split(' ').collect();
    text.truncate(words.saturating_sub(1));
    format!("{} END-OF-REPLY", text.join(" "))
}

fn config(dir: &Path, mock: &str) -> PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!("[providers.chat]\nkind = \"openai-chat\"\nbase_url = \"{mock}/v1\"\napi_key_env = \"HOME\"\nmodels = [\"gpt-*\"]\n"),
    )
    .unwrap();
    path
}

/// Opens the newest thread in the workspace of `session` (the threads pane, its top).
fn open_newest(session: &str) {
    tmux(&["send-keys", "-t", session, "1"]);
    std::thread::sleep(Duration::from_millis(200));
    tmux(&["send-keys", "-t", session, "g"]);
    std::thread::sleep(Duration::from_millis(500));
}

/// CPU of `pids` over `run`, less each one's idle rate over the second before.
fn measured(pids: &[u32], run: impl FnOnce()) -> Vec<Duration> {
    let idle_from: Vec<Duration> = pids.iter().map(|p| common::process_cpu(*p)).collect();
    std::thread::sleep(Duration::from_secs(1));
    let from: Vec<Duration> = pids.iter().map(|p| common::process_cpu(*p)).collect();
    let idle: Vec<Duration> = from.iter().zip(&idle_from).map(|(a, b)| *a - *b).collect();
    let started = Instant::now();
    run();
    let wall = started.elapsed();
    pids.iter()
        .zip(from.iter().zip(&idle))
        .map(|(pid, (from, idle))| {
            (common::process_cpu(*pid) - *from).saturating_sub(idle.mul_f64(wall.as_secs_f64()))
        })
        .collect()
}

/// The workspace with the runtime in its process: the CPU of that process, and its peak
/// resident memory (KiB) at the stream's end.
fn in_process(rt: &tokio::runtime::Runtime, mock: &str, text: &str) -> (Duration, u64) {
    let bin = common::agentdeck_bin();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path(), mock);
    let session = "in-process";
    let command = format!(
        "env AGENTDECK_CONFIG={config} XDG_STATE_HOME={state} XDG_CONFIG_HOME={state} AGENTDECK_LOCAL_TPS=0 {bin} --data-dir {data}",
        config = config.display(),
        state = dir.path().join("state").display(),
        data = data.display(),
    );
    new_session(session, &command);
    wait_for(
        "the runtime's announcement",
        Duration::from_secs(30),
        || agentdeck::runtime::read_serve_info(&data).is_some(),
    );
    let workspace = pid_of(&[&bin, &data.display().to_string()]);
    let cli = |args: &[&str], input: &str| {
        let mut child = Command::new(&bin)
            .arg("--data-dir")
            .arg(&data)
            .args(args)
            .env("AGENTDECK_CONFIG", &config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "agentdeck {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    cli(
        &["assistants", "create", "--file", "-"],
        r#"{"name": "writer", "model": "gpt-4o", "instructions": "Write."}"#,
    );
    rt.block_on(common::script_llmock(
        mock,
        serde_json::json!([{"type": "reply", "text": "ready"}]),
    ));
    // `send` says its thread on stderr.
    let said = cli(&["send", "--assistant", "writer", "hello"], "");
    let thread = said
        .lines()
        .find_map(|l| l.strip_prefix("thread: "))
        .expect("send names its thread")
        .trim()
        .to_string();
    open_newest(session);
    rt.block_on(common::script_llmock(
        mock,
        serde_json::json!([{"type": "reply", "text": text}]),
    ));
    let spent = measured(&[workspace], || {
        cli(&["send", "--thread", &thread, "Write the long one"], "");
        wait_for_the_end(session, Duration::from_secs(30));
    });
    let peak = common::status_kib(workspace, "VmHWM:");
    tmux(&["kill-session", "-t", session]);
    (spent[0], peak)
}

/// `serve` alone and the workspace alone (`--remote`): their CPU, in that order.
fn remote(rt: &tokio::runtime::Runtime, mock: &str, text: &str) -> (Duration, Duration) {
    let bin = common::agentdeck_bin();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), mock);
    let served = dir.path().join("served");
    let server = common::spawn_server_with_env(
        &served,
        "0",
        &[("AGENTDECK_CONFIG", config.to_str().unwrap())],
    );
    let (client, thread) = rt.block_on(async {
        let client = server.project_client("side").await;
        let body: agentdeck::model::requests::AssistantCreate = serde_json::from_value(
            serde_json::json!({"name": "writer", "model": "gpt-4o", "instructions": "Write."}),
        )
        .unwrap();
        let writer = client.create_assistant(&body).await.unwrap();
        let thread = common::new_thread(&client, &writer.id).await;
        common::script_llmock(
            mock,
            serde_json::json!([{"type": "reply", "text": "ready"}]),
        )
        .await;
        common::ask(&client, &thread, "hello").await;
        (client, thread)
    });
    let session = "remote";
    let data = dir.path().join("workspace").display().to_string();
    let command = format!(
        "env AGENTDECK_API_KEY={key} XDG_STATE_HOME={state} XDG_CONFIG_HOME={state} {bin} --data-dir {data} --remote {url}",
        key = client.key(),
        state = dir.path().join("state").display(),
        url = server.url,
    );
    new_session(session, &command);
    wait_for("the workspace", Duration::from_secs(30), || {
        screen(session).contains("writer")
    });
    let workspace = pid_of(&[&bin, &data, "--remote"]);
    open_newest(session);
    rt.block_on(common::script_llmock(
        mock,
        serde_json::json!([{"type": "reply", "text": text}]),
    ));
    let spent = measured(&[server.child.id(), workspace], || {
        rt.block_on(common::ask(&client, &thread, "Write the long one"));
        wait_for_the_end(session, Duration::from_secs(30));
    });
    tmux(&["kill-session", "-t", session]);
    (spent[0], spent[1])
}

/// aichat's REPL on the same provider: its CPU.
fn aichat(aichat: &Path, mock: &str, rt: &tokio::runtime::Runtime, text: &str) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        format!("model: mock:gpt-4o\nstream: true\nsave: false\nclients:\n- type: openai-compatible\n  name: mock\n  api_base: {mock}/v1\n  api_key: unused\n  models:\n  - name: gpt-4o\n"),
    )
    .unwrap();
    let session = "aichat";
    let command = format!(
        "env AICHAT_CONFIG_DIR={config} {aichat}",
        config = dir.path().display(),
        aichat = aichat.display(),
    );
    new_session(session, &command);
    wait_for("aichat's prompt", Duration::from_secs(20), || {
        screen(session).contains('>')
    });
    let pid = pid_of(&[&aichat.display().to_string()]);
    rt.block_on(common::script_llmock(
        mock,
        serde_json::json!([{"type": "reply", "text": text}]),
    ));
    let spent = measured(&[pid], || {
        tmux(&["send-keys", "-t", session, "Write the long one", "Enter"]);
        wait_for_the_end(session, Duration::from_secs(60));
    });
    tmux(&["kill-session", "-t", session]);
    spent[0]
}

fn median(mut all: Vec<Duration>) -> Duration {
    all.sort();
    all[all.len() / 2]
}

fn main() {
    let words: usize = common::setting("SIDE_WORDS", 2527);
    let rounds: usize = common::setting("SIDE_ROUNDS", 3);
    let delays: Vec<u64> = std::env::var("SIDE_DELAYS")
        .unwrap_or_else(|_| "5,20".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let aichat_bin = std::env::var("AICHAT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/aichat/bin/aichat"
            ))
        });
    let has_aichat = aichat_bin.is_file();
    if !has_aichat {
        println!(
            "no aichat at {} (see this bench's header): its column is skipped",
            aichat_bin.display()
        );
    }
    let text = markdown(words);
    let per_thousand = |d: Duration| d.as_secs_f64() * 1000.0 / (words as f64 / 1000.0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    tmux(&["kill-server"]);
    for delay in delays {
        let (_llmock, port) = rt.block_on(common::start_llmock(delay, "off"));
        let mock = format!("http://127.0.0.1:{port}");
        let (mut whole, mut serve, mut workspace, mut line, mut peaks) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (spent, peak) = in_process(&rt, &mock, &text);
            whole.push(spent);
            peaks.push(peak);
            let (s, w) = remote(&rt, &mock, &text);
            serve.push(s);
            workspace.push(w);
            if has_aichat {
                line.push(aichat(&aichat_bin, &mock, &rt, &text));
            }
        }
        let whole = per_thousand(median(whole));
        let mut row = format!(
            "{delay} ms per chunk, {words} words, medians of {rounds}: CPU ms per 1,000 chunks — agentdeck (runtime in-process) {whole:.0}, `serve` alone {:.0}, workspace alone (--remote) {:.0}",
            per_thousand(median(serve)),
            per_thousand(median(workspace)),
        );
        if has_aichat {
            let line = per_thousand(median(line));
            row.push_str(&format!(
                ", aichat REPL {line:.0} (agentdeck / aichat = {:.2}×)",
                whole / line
            ));
        }
        peaks.sort_unstable();
        row.push_str(&format!(
            "; in-process RSS high-water {:.1} MiB (median)",
            peaks[peaks.len() / 2] as f64 / 1024.0
        ));
        println!("{row}");
    }
    tmux(&["kill-server"]);
}
