//! The runtime's cost per chunk of a real provider's stream, on the real `serve` process:
//! llmock (from PyPI; `.ci/run` installs it) streams a scripted ~2,500-word markdown reply
//! (its scenario API) one word per chunk through an `openai-chat` provider, at 5 ms and at 20 ms per chunk, one stream
//! and then 20 at once. Reported: the server's CPU time (user + system, from /proc) per
//! 1,000 chunks. Targets: ≤ 30 ms per 1,000 chunks for one stream, ≤ 20 with 20 at once.
//!
//! `cargo bench --bench provider_stream` (`AGENTDECK_BIN=path` measures another build;
//! `PROVIDER_STREAM_CASES="20x1 5x20"` runs only those cases, delay in ms x streams).
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use agentdeck::client::Client;
use agentdeck::model::requests::{AssistantCreate, MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, Role};
use common::{Child, start_llmock};
use futures::StreamExt;
use std::time::{Duration, Instant};

mod common;

const KEY: &str = "sk-admin-provider-stream";

/// A markdown reply of about 2,500 words: headings, lists, tables and code.
fn markdown_reply() -> String {
    let mut text = String::new();
    for section in 0..25 {
        text.push_str(&format!("## Section {section}: how the pieces fit\n\n"));
        text.push_str("The runtime streams each reply as it is written, and every **delta** travels from the provider to the terminal without waiting for the rest. ");
        text.push_str("Operators watch several assistants at once, so the cost per chunk matters more than the cost per reply.\n\n");
        text.push_str("- first, the provider's bytes are parsed\n- then the run appends the text\n- finally the event reaches every subscriber\n\n");
        text.push_str("| step | cost | note |\n|---|---|---|\n| parse | low | one pass |\n| commit | one fsync | per round |\n\n");
        text.push_str("```rust\nfn main() {\n    let reply = stream.next().await;\n    println!(\"{reply:?}\");\n}\n```\n\n");
    }
    text
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0);
    let stime: u64 = fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    utime + stime
}

fn ticks_per_second() -> f64 {
    // CLK_TCK is 100 on every Linux this runs on.
    100.0
}

async fn start_serve(dir: &std::path::Path, llmock_port: u16) -> (Child, Client) {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[providers.mock]\nkind = \"openai-chat\"\nbase_url = \"http://127.0.0.1:{llmock_port}/v1\"\napi_key_env = \"LLMOCK_KEY\"\nmodels = [\"mock*\"]\n"
        ),
    )
    .unwrap();
    let bin = common::agentdeck_bin();
    let data = dir.join("data");
    let child = std::process::Command::new(bin)
        .arg("--data-dir")
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("AGENTDECK_ADMIN_KEY", KEY)
        .env("LLMOCK_KEY", "test")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let info = loop {
        if let Some(info) = agentdeck::runtime::read_serve_info(&data) {
            break info;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let admin = Client::new(&info.url, KEY);
    // Let the Getting-started threads finish first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let project = admin
        .create_project(&ProjectCreate {
            name: "stream".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    (Child(child), admin.with_project(Some(project.id)))
}

/// Streams `count` replies at once; returns the chunks (deltas) the server sent.
async fn streams(client: &Client, assistant_id: &str, count: usize, text: &str) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..count {
        let (client, assistant_id, text) =
            (client.clone(), assistant_id.to_string(), text.to_string());
        tasks.push(tokio::spawn(async move {
            let thread = client
                .create_thread(&ThreadCreate {
                    assistant_id,
                    ..Default::default()
                })
                .await
                .unwrap()
                .id;
            let posted = client
                .post_message(
                    &thread,
                    &MessageCreate {
                        role: Role::User,
                        content: Some(Content::Text(text.chars().take(200).collect())),
                        attachments: vec![],
                        tool_call_id: None,
                    },
                )
                .await
                .unwrap();
            let reply = posted.response_message_id.unwrap();
            let stream = client.message_stream(&thread, &reply);
            futures::pin_mut!(stream);
            let mut deltas = 0;
            while let Some(event) = stream.next().await {
                if event.is_ok_and(|e| e.name() == "message.delta") {
                    deltas += 1;
                }
            }
            deltas
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let benching = std::env::args().any(|a| a == "--bench");
    if !benching {
        return;
    }
    runtime.block_on(async {
        let text = markdown_reply();
        println!(
            "reply: {} words of markdown, one word per chunk",
            text.split_whitespace().count()
        );
        let cases: Vec<(u64, usize)> = std::env::var("PROVIDER_STREAM_CASES")
            .unwrap_or_else(|_| "5x1 5x20 20x1 20x20".into())
            .split_whitespace()
            .filter_map(|case| {
                let (delay, count) = case.split_once('x')?;
                Some((delay.parse().ok()?, count.parse().ok()?))
            })
            .collect();
        let mut delays: Vec<u64> = cases.iter().map(|(d, _)| *d).collect();
        delays.dedup();
        for delay in delays {
            let (_llmock, port) = start_llmock(delay, "off").await;
            let dir = tempfile::tempdir().unwrap();
            let (server, client) = start_serve(dir.path(), port).await;
            let request: AssistantCreate = serde_json::from_value(serde_json::json!({
                "name": "echo", "instructions": "Repeat.", "model": "mock-1"
            }))
            .unwrap();
            let assistant = client.create_assistant(&request).await.unwrap();
            let pid = server.0.id();
            let counts = cases.iter().filter(|(d, _)| *d == delay).map(|(_, c)| *c);
            for count in counts {
                let scripted = reqwest::Client::new()
                    .post(format!("http://127.0.0.1:{port}/_llmock/scenario"))
                    .json(&serde_json::json!({"behaviors": [{"type": "reply", "text": text, "times": count}]}))
                    .send()
                    .await
                    .unwrap();
                assert!(scripted.status().is_success(), "llmock took the scenario");
                let before = cpu_ticks(pid);
                let started = Instant::now();
                let chunks = streams(&client, &assistant.id, count, &text).await;
                let cpu = (cpu_ticks(pid) - before) as f64 / ticks_per_second();
                println!(
                    "{delay} ms/chunk, {count} stream(s): {chunks} chunks in {:.1?}; server CPU {:.0} ms = {:.1} ms per 1,000 chunks",
                    started.elapsed(),
                    cpu * 1000.0,
                    cpu * 1000.0 / (chunks.max(1) as f64 / 1000.0)
                );
            }
        }
    });
}
