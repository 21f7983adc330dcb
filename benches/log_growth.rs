//! The event log and bounded runs, measured on the real `agentdeck serve` process:
//!
//! - `replies`: N short replies (default 3,000, 5 at a time), then N/30 replies of 1,000
//!   words, on the local model: words
//!   streamed, data dir growth (bytes on disk) per 1,000 words and against the text's own
//!   size, and the server's RSS fresh and after. Target: growth ≤ 2× the text, RSS after
//!   within 2× of a fresh server.
//! - `runaway`: `/long 1000000000` on an assistant with the server's ceiling as its bound,
//!   and `/long 1000000` with the default: time to `done`, words kept, peak RSS; then a
//!   cancel of a paced huge reply: how long until the thread is free.
//!
//! `cargo bench --bench log_growth` (`LOG_GROWTH_REPLIES=N`; `AGENTDECK_BIN=path` measures
//! another build of the binary, e.g. an older commit's, the same way).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use agentdeck::client::Client;
use agentdeck::model::requests::{AssistantCreate, MessageCreate, ProjectCreate};
use agentdeck::model::{Content, Role, ThreadStatus};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::{ask, new_thread};

const KEY: &str = "sk-admin-log-growth";

fn dir_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                total += dir_bytes(&entry.path());
            } else {
                total += meta.blocks() * 512;
            }
        }
    }
    total
}

/// Bytes on disk per entry of the data dir, and per index under `search/`.
fn part_bytes(dir: &Path) -> std::collections::BTreeMap<String, u64> {
    let mut parts = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "search" {
            for inner in std::fs::read_dir(entry.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                let inner_name = inner.file_name().to_string_lossy().to_string();
                parts.insert(format!("search/{inner_name}"), dir_bytes(&inner.path()));
            }
        } else if entry.path().is_dir() {
            parts.insert(name, dir_bytes(&entry.path()));
        }
    }
    parts
}

struct Server {
    child: std::process::Child,
    client: Client,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let bin = common::agentdeck_bin();
    let child = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_LOCAL_TPS", "0")
        .env("AGENTDECK_ADMIN_KEY", KEY)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = loop {
        if let Some(info) = agentdeck::runtime::read_serve_info(dir.path()) {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let admin = Client::new(&info.url, KEY);
    let project = admin
        .create_project(&ProjectCreate {
            name: "growth".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Let the Getting-started threads finish, so they are not counted.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let threads = admin.list_threads(&[("limit", "100")]).await.unwrap();
        if threads
            .data
            .iter()
            .all(|t| t.status != ThreadStatus::Running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server {
        child,
        client: admin.with_project(Some(project.id)),
        dir,
    }
}

async fn assistant(client: &Client, name: &str, bound: Option<u32>) -> String {
    let mut request: AssistantCreate = serde_json::from_value(serde_json::json!({
        "name": name, "instructions": "Answer.", "model": "local"
    }))
    .unwrap();
    request.max_output_tokens = bound;
    match client.create_assistant(&request).await {
        Ok(a) => a.id,
        // An older build without max_output_tokens refuses the field: create it plain.
        Err(_) => {
            request.max_output_tokens = None;
            client.create_assistant(&request).await.unwrap().id
        }
    }
}

async fn replies(count: usize, prompt: &'static str) {
    let server = start().await;
    let pid = server.child.id();
    let assistant_id = assistant(&server.client, "writer", None).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (dir0, rss0) = (
        dir_bytes(server.dir.path()),
        common::status_kib(pid, "VmRSS:"),
    );
    let parts0 = part_bytes(server.dir.path());
    let started = Instant::now();
    let lanes = 5;
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let client = server.client.clone();
        let assistant_id = assistant_id.clone();
        tasks.push(tokio::spawn(async move {
            let (mut words, mut bytes) = (0usize, 0usize);
            let mut thread = new_thread(&client, &assistant_id).await;
            for i in (lane..count).step_by(lanes) {
                if i % 20 == lane {
                    thread = new_thread(&client, &assistant_id).await;
                }
                let reply = ask(&client, &thread, &format!("{prompt} (question {i})")).await;
                let text = reply.text();
                words += text.split_whitespace().count()
                    + reply
                        .reasoning
                        .iter()
                        .map(|r| r.text.split_whitespace().count())
                        .sum::<usize>();
                bytes += text.len() + reply.reasoning.iter().map(|r| r.text.len()).sum::<usize>();
            }
            (words, bytes)
        }));
    }
    let (mut words, mut bytes) = (0, 0);
    for task in tasks {
        let (w, b) = task.await.unwrap();
        words += w;
        bytes += b;
    }
    let elapsed = started.elapsed();
    // Let the background flush settle before measuring the disk.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (dir1, rss1) = (
        dir_bytes(server.dir.path()),
        common::status_kib(pid, "VmRSS:"),
    );
    let growth = dir1.saturating_sub(dir0);
    println!(
        "replies: {count} × {prompt:?} in {elapsed:.1?}, {words} words ({bytes} bytes of text and reasoning)"
    );
    println!(
        "  data dir {:.1} MiB -> {:.1} MiB: +{:.1} MiB, {:.1} KiB per 1,000 words, {:.2}x the text",
        dir0 as f64 / 1048576.0,
        dir1 as f64 / 1048576.0,
        growth as f64 / 1048576.0,
        growth as f64 / 1024.0 / (words as f64 / 1000.0),
        growth as f64 / bytes.max(1) as f64
    );
    println!(
        "  server RSS {:.1} MiB fresh -> {:.1} MiB after ({:.2}x)",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0,
        rss1 as f64 / rss0.max(1) as f64
    );
    let mut line = String::from("  growth per part of the data dir (KiB):");
    for (name, bytes) in part_bytes(server.dir.path()) {
        let before = parts0.get(&name).copied().unwrap_or(0);
        line.push_str(&format!(" {name}=+{}", bytes.saturating_sub(before) / 1024));
    }
    println!("{line}");
    // What the bytes are: the live keys and values per tree, against the files.
    let mut server = server;
    let _ = server.child.kill();
    let _ = server.child.wait();
    if let Ok(db) = sled::open(server.dir.path().join("db")) {
        let mut line = String::from("  live data per tree (KiB):");
        for name in db.tree_names() {
            let Ok(tree) = db.open_tree(&name) else {
                continue;
            };
            let bytes: usize = tree.iter().flatten().map(|(k, v)| k.len() + v.len()).sum();
            if bytes > 0 {
                line.push_str(&format!(
                    " {}={}",
                    String::from_utf8_lossy(&name),
                    bytes / 1024
                ));
            }
        }
        println!("{line}");
    }
}

async fn runaway() {
    let server = start().await;
    let pid = server.child.id();
    let ceiling = agentdeck::config::DEFAULT_MAX_OUTPUT_TOKENS;
    for (label, bound, text) in [
        ("/long 1000000 (default bound)", None, "/long 1000000 go"),
        (
            "/long 1000000000 (bound = ceiling)",
            Some(ceiling),
            "/long 1000000000 go",
        ),
    ] {
        let assistant_id = assistant(&server.client, "runaway", bound).await;
        let thread = new_thread(&server.client, &assistant_id).await;
        let started = Instant::now();
        let reply = ask(&server.client, &thread, text).await;
        println!(
            "runaway {label}: done in {:.2?}, {:?}, {} words kept, server RSS {:.1} MiB (peak {:.1} MiB)",
            started.elapsed(),
            reply.status,
            reply.text().split_whitespace().count(),
            common::status_kib(pid, "VmRSS:") as f64 / 1024.0,
            common::status_kib(pid, "VmHWM:") as f64 / 1024.0
        );
    }
    let assistant_id = assistant(&server.client, "paced", None).await;
    let thread = new_thread(&server.client, &assistant_id).await;
    server
        .client
        .post_message(
            &thread,
            &MessageCreate {
                role: Role::User,
                content: Some(Content::Text("/slow 50 /long 1000000000 go".into())),
                attachments: vec![],
                tool_call_id: None,
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    let _ = server.client.cancel(&thread).await;
    loop {
        let status = server.client.thread(&thread).await.unwrap().status;
        if status != ThreadStatus::Running {
            break;
        }
        if asked.elapsed() > Duration::from_secs(30) {
            println!("cancel: the thread still runs after 30 s");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "cancel: thread free {:.1?} after the request",
        asked.elapsed()
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let count = std::env::var("LOG_GROWTH_REPLIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3000);
    // `cargo bench` passes `--bench`; `cargo test` runs benches with no flag: keep it short.
    let benching = std::env::args().any(|a| a == "--bench");
    // `LOG_GROWTH_ONLY=replies` skips the runaway replies (an older build may not survive them).
    let only_replies = std::env::var("LOG_GROWTH_ONLY").is_ok_and(|v| v == "replies");
    runtime.block_on(async {
        replies(if benching { count } else { 20 }, "how is it going?").await;
        if benching {
            replies(count / 30, "/long 1000 tell me everything").await;
        }
        if benching && !only_replies {
            runaway().await;
        }
    });
}
