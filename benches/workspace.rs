//! The workspace under load (issue #3 targets):
//! - 50 assistants streaming at 100 tokens/s each through the multiplexer into the app
//!   state, frames drawn at the stream cap: under 25% of one core, no backlog growth;
//! - the first frame within 150 ms of start on a data dir with 10,000 threads;
//! - one ~2,500-word markdown reply, one word per event, drawn at 20 frames/s into a
//!   160x45 terminal: ≤ 100 ms CPU per 1,000 events, the last quarter costing what the
//!   first does, ≤ 100 KiB written to the terminal.
//!
//! CPU figures are utime + stime from /proc. For the 50 streams the server is the real
//! `agentdeck serve` in its own process, so the workspace's figure is its own.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use agentdeck::client::{Client, ServerEvent};
use agentdeck::config::Config;
use agentdeck::engine::{EngineOptions, Scope};
use agentdeck::model::EventPayload;
use agentdeck::model::event::TextDelta;
use agentdeck::model::requests::{MessageCreate, ProjectCreate, ThreadCreate};
use agentdeck::model::{Content, Message, MessageStatus, Role, Thread, ThreadStatus, Usage};
use agentdeck::runtime::{Runtime, RuntimeOptions};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use common::spawn_server;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::backend::{CrosstermBackend, TestBackend};
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

mod common;

/// CPU time (user + system) of a process so far, from its /proc/PID/stat.
fn cpu_in(stat_path: &str) -> Duration {
    let stat = std::fs::read_to_string(stat_path).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

fn process_cpu() -> Duration {
    cpu_in("/proc/self/stat")
}

fn cpu_of(pid: u32) -> Duration {
    cpu_in(&format!("/proc/{pid}/stat"))
}

/// Applies what the multiplexer sends until its first snapshot has arrived.
async fn until_snapshot(rx: &mut tokio::sync::mpsc::UnboundedReceiver<AppEvent>, app: &mut App) {
    loop {
        let event = rx.recv().await.unwrap();
        let snapshot = matches!(event, AppEvent::Snapshot { .. });
        app.apply(event);
        if snapshot {
            return;
        }
    }
}

fn runtime_options(dir: &std::path::Path, tps: f64) -> RuntimeOptions {
    RuntimeOptions {
        engine: EngineOptions {
            local_tps: tps,
            ..EngineOptions::default()
        },
        ..RuntimeOptions::new(dir.to_path_buf(), Config::default())
    }
}

fn user(text: &str) -> MessageCreate {
    MessageCreate {
        role: Role::User,
        content: Some(Content::Text(text.into())),
        attachments: vec![],
        tool_call_id: None,
    }
}

struct Session {
    cpu: Duration,
    wall: Duration,
    events: usize,
    frames: usize,
    largest_batch: usize,
    batches: usize,
}

/// 50 assistants, one thread each, all replying at once at 100 words/s; the workspace
/// side is the real multiplexer feeding an `App`, drawn at 20 frames/s at most.
async fn fifty_streams(client: &Client, assistants: &[String]) -> Session {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let multiplexer = agentdeck::tui::run::spawn_multiplexer(client.clone(), tx);
    let mut app = App::new("bench".into());
    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    // The snapshot first, so the streams are followed from before they start.
    until_snapshot(&mut rx, &mut app).await;
    let mut threads = Vec::new();
    for assistant in assistants {
        let thread = client
            .create_thread(&ThreadCreate {
                assistant_id: assistant.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        threads.push(thread.id);
    }
    let started = Instant::now();
    let cpu_before = process_cpu();
    for thread in &threads {
        client
            .post_message(thread, &user("/long 300 stream this"))
            .await
            .unwrap();
    }
    let frame = Duration::from_millis(50);
    let mut last_frame = Instant::now() - frame;
    let (mut events, mut frames, mut largest_batch, mut batches, mut done) = (0, 0, 0, 0, 0);
    let mut dirty = false;
    while done < threads.len() {
        let due = last_frame + frame;
        tokio::select! {
            Some(event) = rx.recv() => {
                let mut batch = vec![event];
                while let Ok(more) = rx.try_recv() {
                    batch.push(more);
                }
                largest_batch = largest_batch.max(batch.len());
                batches += 1;
                for event in batch {
                    if let AppEvent::Server(server_event) = &event {
                        events += 1;
                        if server_event.name() == "done" {
                            done += 1;
                        }
                    }
                    app.apply(event);
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(due.into()), if dirty => {
                terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
                frames += 1;
                last_frame = Instant::now();
                dirty = false;
            }
        }
    }
    let session = Session {
        cpu: process_cpu() - cpu_before,
        wall: started.elapsed(),
        events,
        frames,
        largest_batch,
        batches,
    };
    multiplexer.abort();
    session
}

fn bench_multiplexer(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = spawn_server(dir.path(), "100");
    let (client, assistants) = rt.block_on(async {
        let admin = Client::new(&server.url, &server.admin_key);
        let project = admin
            .create_project(&ProjectCreate {
                name: "fifty".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let client = admin.with_project(Some(project.id));
        let mut assistants = Vec::new();
        for i in 0..50 {
            let request = serde_json::from_value(
                serde_json::json!({"name": format!("agent-{i}"), "model": "local"}),
            )
            .unwrap();
            assistants.push(client.create_assistant(&request).await.unwrap().id);
        }
        (client, assistants)
    });
    let mut group = c.benchmark_group("workspace");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(40));
    group.bench_function("multiplexer_50_assistants_x_100_tok_s_cpu", |b| {
        b.iter_custom(|iterations| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iterations {
                let server_before = cpu_of(server.child.id());
                let session = rt.block_on(fifty_streams(&client, &assistants));
                let server_cpu = cpu_of(server.child.id()) - server_before;
                eprintln!(
                    "\n50 streams: {} events in {:.2} s wall; workspace {} ms CPU = {:.1}% of one core (server process: {:.1}%); {} frames ({:.1}/s); {} batches, largest {}",
                    session.events,
                    session.wall.as_secs_f64(),
                    session.cpu.as_millis(),
                    100.0 * session.cpu.as_secs_f64() / session.wall.as_secs_f64(),
                    100.0 * server_cpu.as_secs_f64() / session.wall.as_secs_f64(),
                    session.frames,
                    session.frames as f64 / session.wall.as_secs_f64(),
                    session.batches,
                    session.largest_batch,
                );
                cpu += session.cpu;
            }
            cpu
        })
    });
    group.finish();
    drop(server);
}

/// A data dir with 10,000 threads (and a message in each of the newest 500).
fn big_data_dir(rt: &tokio::runtime::Runtime) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let runtime = Runtime::start(runtime_options(dir.path(), 0.0))
            .await
            .unwrap();
        let engine = runtime.engine().clone();
        let project = engine
            .create_project(ProjectCreate {
                name: "big".into(),
                ..Default::default()
            })
            .unwrap();
        let scope = Scope::Project(project.id);
        let assistant = engine
            .create_assistant(
                &scope,
                serde_json::from_value(serde_json::json!({"name": "desk", "model": "local"}))
                    .unwrap(),
            )
            .unwrap();
        for i in 0..10_000 {
            let thread = engine
                .create_thread(
                    &scope,
                    ThreadCreate {
                        assistant_id: assistant.id.clone(),
                        metadata: BTreeMap::from([
                            ("case_id".to_string(), format!("CASE-{i:05}")),
                            ("priority".to_string(), "normal".to_string()),
                        ]),
                        ..Default::default()
                    },
                )
                .unwrap();
            if i >= 9_500 {
                engine
                    .post_message(&scope, &thread.id, user("hello"))
                    .await
                    .unwrap();
            }
        }
        // Let the replies finish before the runtime stops.
        tokio::time::sleep(Duration::from_millis(500)).await;
        runtime.stop().await;
    });
    dir
}

fn bench_first_frame(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = big_data_dir(&rt);
    let mut group = c.benchmark_group("workspace");
    group.sample_size(10);
    group.bench_function("first_frame_10000_threads", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let (elapsed, runtime) = rt.block_on(async {
                    // What `agentdeck` does without --remote: start the runtime in-process,
                    // then the multiplexer's snapshot, then the first frame.
                    // The last round's store may still be closing (sled lets go of its
                    // lock from a background thread): the clock starts at the start that
                    // opens it.
                    let mut attempts = 0;
                    let (start, runtime) = loop {
                        let start = Instant::now();
                        match Runtime::start(runtime_options(dir.path(), 0.0)).await {
                            Ok(runtime) => break (start, runtime),
                            Err(err) if attempts < 100 => {
                                attempts += 1;
                                let _ = err;
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            Err(err) => panic!("{err:#}"),
                        }
                    };
                    let client = Client::new(&runtime.url(), runtime.admin_key());
                    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
                    let multiplexer = agentdeck::tui::run::spawn_multiplexer(client, tx);
                    let mut app = App::new("bench".into());
                    until_snapshot(&mut rx, &mut app).await;
                    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
                    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
                    terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
                    let elapsed = start.elapsed();
                    assert_eq!(app.list.threads.len(), 500);
                    assert!(app.list.has_more);
                    multiplexer.abort();
                    (elapsed, runtime)
                });
                total += elapsed;
                rt.block_on(runtime.stop());
            }
            total
        })
    });
    group.finish();
}

/// Counts the bytes a frame writes to the terminal.
#[derive(Clone, Default)]
struct Counter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// About 2,500 words of markdown: paragraphs, lists, tables and code blocks.
fn long_reply_words() -> Vec<String> {
    let mut text = String::new();
    let prose = "The refund for the second charge was approved and the carrier confirmed that the parcel left the depot on Monday morning with a new tracking number";
    let mut section = 0;
    while text.split_whitespace().count() < 2_500 {
        section += 1;
        text.push_str(&format!("## Part {section}\n\n"));
        for _ in 0..3 {
            text.push_str(prose);
            text.push_str(". ");
            text.push_str(prose);
            text.push_str(".\n\n");
        }
        text.push_str("- first **point** to check\n- second point with `code`\n\n");
        text.push_str("| Item | Amount | Status |\n|---|---|---|\n| Charge 1 | 49.90 | kept |\n| Charge 2 | 49.90 | refunded |\n\n");
        text.push_str("```rust\nfn refund(order: &str) -> Result<(), Error> {\n    let charge = find(order)?;\n    charge.reverse()\n}\n```\n\n");
    }
    // One event per word, the whitespace going with it (as the local model streams).
    let mut words = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        if c.is_whitespace() && !current.trim().is_empty() {
            words.push(std::mem::take(&mut current));
        }
        current.push(c);
    }
    words.push(current);
    words
}

struct Reply {
    bytes: usize,
    quarters: [Duration; 4],
    events: usize,
}

/// Streams the reply into a 160x45 workspace, a frame every 10 events (200 events/s at
/// 20 frames/s), as the real loop does.
fn stream_long_reply(words: &[String]) -> Reply {
    let mut app = App::new("bench".into());
    let thread: Thread = Thread {
        id: "thread_1".into(),
        object: "thread".into(),
        project_id: "proj_1".into(),
        assistant_id: "asst_1".into(),
        created_at: 0,
        updated_at: 0,
        status: ThreadStatus::Running,
        metadata: BTreeMap::new(),
        title: Some("A long answer".into()),
        parent_thread_id: None,
        estimated_cost: 0.0,
        last_reply_status: None,
    };
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads: vec![thread],
        has_more: false,
    });
    app.apply(AppEvent::Messages {
        thread_id: "thread_1".into(),
        messages: vec![Message {
            id: "msg_1".into(),
            object: "thread.message".into(),
            thread_id: "thread_1".into(),
            assistant_id: Some("asst_1".into()),
            role: Role::Assistant,
            content: Some(Content::Text(String::new())),
            attachments: vec![],
            tool_calls: vec![],
            tool_call_id: None,
            reasoning: vec![],
            status: MessageStatus::InProgress,
            usage: Usage::default(),
            estimated_cost: 0.0,
            created_at: 0,
            error: None,
            files: Vec::new(),
            metadata: Default::default(),
        }],
    });
    let counter = Counter::default();
    let mut terminal = Terminal::with_options(
        CrosstermBackend::new(counter.clone()),
        TerminalOptions {
            viewport: Viewport::Fixed(Rect::new(0, 0, 160, 45)),
        },
    )
    .unwrap();
    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
    let mut quarters = [Duration::ZERO; 4];
    for (i, word) in words.iter().enumerate() {
        let start = Instant::now();
        app.apply(AppEvent::Server(ServerEvent {
            id: Some(i as u64),
            payload: EventPayload::MessageDelta(TextDelta {
                thread_id: "thread_1".into(),
                message_id: "msg_1".into(),
                delta: word.to_string(),
            }),
        }));
        if i % 10 == 9 || i + 1 == words.len() {
            terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
        }
        quarters[(i * 4 / words.len()).min(3)] += start.elapsed();
    }
    Reply {
        bytes: counter.0.load(std::sync::atomic::Ordering::Relaxed),
        quarters,
        events: words.len(),
    }
}

fn bench_long_reply(c: &mut Criterion) {
    let words = long_reply_words();
    let reply = stream_long_reply(&words);
    let per_thousand =
        |d: Duration| d.as_secs_f64() * 1000.0 / (reply.events as f64 / 4.0) * 1000.0;
    eprintln!(
        "\nlong reply: {} events, {} bytes to the terminal ({:.1} KiB); per 1,000 events: first quarter {:.1} ms, second {:.1} ms, third {:.1} ms, last {:.1} ms",
        reply.events,
        reply.bytes,
        reply.bytes as f64 / 1024.0,
        per_thousand(reply.quarters[0]),
        per_thousand(reply.quarters[1]),
        per_thousand(reply.quarters[2]),
        per_thousand(reply.quarters[3]),
    );
    let mut group = c.benchmark_group("workspace");
    group.sample_size(10);
    group.bench_function("long_reply_2500_words_160x45", |b| {
        b.iter(|| stream_long_reply(&words))
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_long_reply,
    bench_first_frame,
    bench_multiplexer
);
criterion_main!(benches);
