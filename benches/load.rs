//! The headline load (issue #14): STREAMS concurrent threads (default 500) across
//! ASSISTANTS assistants (default 20), each replying WORDS words (default 1,000) at TPS
//! tokens/s (default 100) on the `local` model. The server is the real `agentdeck serve` in
//! its own process; this process is the workspace: the real multiplexer following the SSE
//! stream, every event applied to the app state, frames drawn to a 200x50 `TestBackend` at
//! the streaming cap (one per 50 ms while something changed).
//!
//! ```sh
//! cargo bench --bench load                       # 500 streams
//! STREAMS=2000 cargo bench --bench load          # where it bends
//! ```
//!
//! `AGENTDECK_BIN=path` runs another build's server the same way (the workspace side is
//! this build's), to compare commits.
//!
//! Reported: CPU per 1,000 tokens (server, workspace, together) and as a share of a core;
//! event latency p50/p99 from generation to the app state; frame time p50/p99; RSS of both
//! (now and peak); events lost or duplicated against the stored replies (must be 0).
//!
//! Latency: the local model writes word k of a reply at start + k/TPS (a schedule it
//! catches up with when late). The start is unknown to a client, so each reply's schedule
//! is anchored on its least-delayed word; the latency of a word is its arrival in the app
//! state minus its place on that schedule, so lateness in generating counts too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use agentdeck::client::Client;
use agentdeck::model::requests::{MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, EventPayload, Limits, MessageStatus, Role};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// (VmRSS, VmHWM) of a process, in MiB.
fn rss_mib(pid: &str) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// What the workspace saw of one reply.
#[derive(Default)]
struct Reply {
    thread: String,
    text: String,
    /// (word index of the delta's first word, arrival in the app state, seconds since the
    /// run began).
    words: Vec<(usize, f64)>,
    ids: Vec<u64>,
}

impl Reply {
    /// Each delta's arrival (s) and latency (ms): its arrival minus its word's place on
    /// the model's schedule, anchored on the reply's least-delayed word.
    fn latencies(&self, tps: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
        let interval = 1.0 / tps.max(1) as f64;
        let anchor = self
            .words
            .iter()
            .map(|(k, at)| at - *k as f64 * interval)
            .fold(f64::INFINITY, f64::min);
        self.words
            .iter()
            .map(move |(k, at)| (*at, (at - (anchor + *k as f64 * interval)) * 1000.0))
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run it as a test.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let streams = env_number("STREAMS", 500);
    let assistants = env_number("ASSISTANTS", 20);
    let words = env_number("WORDS", 1000);
    let tps = env_number("TPS", 100);
    let dir = tempfile::tempdir().unwrap();
    let server = common::spawn_server(dir.path(), &tps.to_string());
    let server_pid = server.child.id().to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let admin = Client::new(&server.url, &server.admin_key);
        let project = admin
            .create_project(&ProjectCreate {
                name: "load".into(),
                limits: Some(Limits {
                    tokens_per_minute: 1_000_000_000_000,
                    concurrent_threads: 100_000,
                }),
                ..Default::default()
            })
            .await
            .unwrap();
        let client = admin.with_project(Some(project.id));
        let mut assistant_ids = Vec::new();
        for i in 0..assistants {
            let request = serde_json::from_value(
                serde_json::json!({"name": format!("agent-{i:02}"), "model": "local"}),
            )
            .unwrap();
            assistant_ids.push(client.create_assistant(&request).await.unwrap().id);
        }
        let mut threads = Vec::new();
        for i in 0..streams {
            let thread = client
                .create_thread(&ThreadCreate {
                    assistant_id: assistant_ids[i % assistants].clone(),
                    ..Default::default()
                })
                .await
                .unwrap();
            threads.push(thread.id);
        }

        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let multiplexer = agentdeck::tui::run::spawn_multiplexer(client.clone(), tx);
        let mut app = App::new("load".into());
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        loop {
            let event = rx.recv().await.unwrap();
            let snapshot = matches!(event, AppEvent::Snapshot { .. });
            app.apply(event);
            if snapshot {
                break;
            }
        }

        let (server_rss_before, _) = rss_mib(&server_pid);
        let started = Instant::now();
        let server_cpu_before = cpu_seconds(&server_pid);
        let own_cpu_before = cpu_seconds("self");
        // Posted from a task of its own: the replies of the first threads stream while
        // the last are posted, as they would.
        let poster = {
            let client = client.clone();
            let threads = threads.clone();
            let text = format!("/long {words} go");
            tokio::spawn(async move {
                for thread in &threads {
                    let message = MessageCreate {
                        role: Role::User,
                        content: Some(Content::Text(text.clone())),
                        attachments: vec![],
                        tool_call_id: None,
                    };
                    client.post_message(thread, &message).await.unwrap();
                }
            })
        };

        let frame_every = Duration::from_millis(50);
        let mut last_frame = Instant::now() - frame_every;
        let mut frame_times = Vec::new();
        let mut replies: HashMap<String, Reply> = HashMap::new();
        let (mut done, mut events, mut batches, mut largest_batch) = (0, 0usize, 0usize, 0usize);
        let mut dirty = false;
        let deadline = Instant::now()
            + Duration::from_secs_f64(words as f64 / tps.max(1) as f64 * 4.0 + 60.0);
        while done < streams && Instant::now() < deadline {
            let due = last_frame + frame_every;
            tokio::select! {
                Some(event) = rx.recv() => {
                    let mut batch = vec![event];
                    while let Ok(more) = rx.try_recv() {
                        batch.push(more);
                    }
                    largest_batch = largest_batch.max(batch.len());
                    batches += 1;
                    let mut seen = Vec::new();
                    for event in batch {
                        if let AppEvent::Server(server_event) = &event {
                            events += 1;
                            match &server_event.payload {
                                EventPayload::MessageDelta(delta) => seen.push((
                                    delta.message_id.clone(),
                                    delta.thread_id.clone(),
                                    delta.delta.clone(),
                                    server_event.id.unwrap_or(0),
                                )),
                                EventPayload::Done(_) => done += 1,
                                _ => {}
                            }
                        }
                        app.apply(event);
                    }
                    // In the app state now.
                    let at = started.elapsed().as_secs_f64();
                    for (message, thread, delta, id) in seen {
                        let reply = replies.entry(message).or_default();
                        reply.thread = thread;
                        let index = reply.text.split_whitespace().count();
                        reply.text.push_str(&delta);
                        reply.words.push((index, at));
                        reply.ids.push(id);
                    }
                    dirty = true;
                }
                _ = tokio::time::sleep_until(due.into()), if dirty => {
                    let drawn = Instant::now();
                    terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
                    frame_times.push(drawn.elapsed().as_secs_f64() * 1000.0);
                    last_frame = Instant::now();
                    dirty = false;
                }
            }
        }
        let wall = started.elapsed().as_secs_f64();
        let server_cpu = cpu_seconds(&server_pid) - server_cpu_before;
        let own_cpu = cpu_seconds("self") - own_cpu_before;
        let (server_rss, server_peak) = rss_mib(&server_pid);
        let (own_rss, own_peak) = rss_mib("self");
        poster.await.unwrap();
        multiplexer.abort();

        // Each reply as the workspace saw it against the stored one.
        let (mut lost, mut duplicated, mut unfinished) = (0usize, 0usize, 0usize);
        let mut tokens = 0usize;
        let mut latencies = Vec::new();
        for (message_id, reply) in &replies {
            let stored = client.message(&reply.thread, message_id).await.unwrap();
            if stored.status != MessageStatus::Completed {
                unfinished += 1;
            }
            let stored_text = stored.text();
            if stored_text != reply.text {
                if reply.text.len() > stored_text.len() {
                    duplicated += 1;
                } else {
                    lost += 1;
                }
            }
            let mut ids = reply.ids.clone();
            ids.sort_unstable();
            let before = ids.len();
            ids.dedup();
            duplicated += before - ids.len();
            tokens += reply.words.len();
            latencies.extend(reply.latencies(tps).map(|(_, latency)| latency));
        }
        if std::env::var_os("LOAD_DEBUG").is_some() {
            // The worst latency of what arrived in each second: where a backlog formed.
            let mut by_second: std::collections::BTreeMap<u64, (f64, usize)> = Default::default();
            for reply in replies.values() {
                for (at, latency) in reply.latencies(tps) {
                    let entry = by_second.entry(at as u64).or_default();
                    entry.0 = entry.0.max(latency);
                    entry.1 += 1;
                }
            }
            for (second, (worst, count)) in by_second {
                eprintln!("  second {second:3}: {count:6} words, worst latency {worst:7.1} ms");
            }
        }
        let missing = streams.saturating_sub(replies.len());
        latencies.sort_by(f64::total_cmp);
        frame_times.sort_by(f64::total_cmp);
        let per_k = |cpu: f64| cpu * 1000.0 / tokens.max(1) as f64 * 1000.0;
        println!(
            "load: {streams} streams x {words} words at {tps} tokens/s over {assistants} assistants, {wall:.1} s wall, {tokens} tokens in {events} events ({batches} batches, largest {largest_batch})"
        );
        println!(
            "  CPU per 1,000 tokens: server {:.1} ms, workspace {:.1} ms, together {:.1} ms",
            per_k(server_cpu),
            per_k(own_cpu),
            per_k(server_cpu + own_cpu)
        );
        println!(
            "  CPU as a share of one core: server {:.1}%, workspace {:.1}%, together {:.1}%",
            100.0 * server_cpu / wall,
            100.0 * own_cpu / wall,
            100.0 * (server_cpu + own_cpu) / wall
        );
        println!(
            "  latency generation -> app state: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(f64::NAN)
        );
        println!(
            "  frames: {} drawn, p50 {:.2} ms, p99 {:.2} ms",
            frame_times.len(),
            percentile(&frame_times, 0.5),
            percentile(&frame_times, 0.99)
        );
        println!(
            "  RSS: server {server_rss:.0} MiB (peak {server_peak:.0}, {server_rss_before:.0} before), workspace {own_rss:.0} MiB (peak {own_peak:.0})"
        );
        println!(
            "  replies: {} seen, {missing} never seen, {unfinished} not completed, {lost} lost text, {duplicated} duplicated",
            replies.len()
        );
        assert_eq!(
            (missing, lost, duplicated, unfinished),
            (0, 0, 0, 0),
            "events lost or duplicated"
        );
    });
    drop(server);
}
