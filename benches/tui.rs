//! Frame cost. Targets:
//! - one frame of a 200x50 workspace with a 10,000-message thread open under 2 ms median,
//!   and not growing with thread length (issue #3);
//! - a markdown reply streaming one word per event into a 160x45 workspace: one word
//!   applied and one frame drawn costs the same at 20,000 words as at 200 (ratio ≤ 1.2,
//!   issue #8).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::client::ServerEvent;
use agentdeck::model::EventPayload;
use agentdeck::model::event::TextDelta;
use agentdeck::model::{Content, Message, MessageStatus, Role, Thread, ThreadStatus, Usage};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn workspace(messages: usize) -> App {
    workspace_of(messages, 500)
}

/// A workspace holding `threads` threads, the first open with `messages` messages.
fn workspace_of(messages: usize, threads: usize) -> App {
    let mut app = App::new("local bench".into());
    let threads: Vec<Thread> = (0..threads)
        .map(|i| Thread {
            id: format!("thread_{i:06}"),
            object: "thread".into(),
            project_id: "proj_1".into(),
            assistant_id: "asst_1".into(),
            created_at: 1_795_000_000,
            updated_at: 1_795_000_000,
            status: ThreadStatus::Active,
            metadata: BTreeMap::from([("priority".to_string(), "high".to_string())]),
            title: Some(format!("Customer ticket {i}")),
            parent_thread_id: None,
            estimated_cost: 0.0,
            last_reply_status: None,
        })
        .collect();
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads,
        has_more: false,
    });
    let text = "The liability clause caps damages at **$5M** annually; see the contract for the full wording of section 12.";
    app.conversation.messages = (0..messages)
        .map(|i| Message {
            id: format!("msg_{i}"),
            object: "thread.message".into(),
            thread_id: "thread_000000".into(),
            assistant_id: None,
            role: if i % 2 == 0 {
                Role::User
            } else {
                Role::Assistant
            },
            content: Some(Content::Text(format!("{i}: {text}"))),
            attachments: vec![],
            tool_calls: vec![],
            tool_call_id: None,
            reasoning: vec![],
            status: MessageStatus::Completed,
            usage: Usage::default(),
            estimated_cost: 0.0,
            created_at: 1_795_000_000,
            error: None,
            files: Vec::new(),
            metadata: Default::default(),
        })
        .collect();
    app
}

fn bench_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_200x50");
    // The growth tables of docs/PERFORMANCE.md: thread length, then number of threads.
    for messages in [10, 1_000, 10_000, 100_000] {
        let app = workspace(messages);
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        group.bench_with_input(BenchmarkId::new("messages", messages), &messages, |b, _| {
            b.iter(|| {
                terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
            })
        });
    }
    for threads in [100, 1_000, 10_000, 100_000] {
        let app = workspace_of(10, threads);
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| {
                terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
            })
        });
    }
    group.finish();
}

/// About `words` words of the markdown a model writes: headings, paragraphs with inline
/// marks, lists, a table and a code block per section.
fn markdown_reply(words: usize) -> String {
    let mut text = String::new();
    let mut section = 0;
    while text.split_whitespace().count() < words {
        section += 1;
        text.push_str(&format!(
            "## Step {section}: what the contract says\n\nThe liability clause caps damages at **$5M** a year, and the `indemnity` section names both parties; see [section 12](https://example.com/c) for the full wording of what applies when a delivery is late.\n\n- the buyer pays within *30 days*\n- the seller ships within 5 working days\n- disputes go to arbitration first\n\n| Party | Cap | Notice |\n|---|---|---|\n| Buyer | $5M | 30 days |\n| Seller | $2M | 14 days |\n\n```rust\nfn cap(year: u32) -> u64 {{\n    let base = 5_000_000;\n    base * u64::from(year.min(3))\n}}\n```\n\n"
        ));
    }
    text
}

fn delta(word: &str) -> AppEvent {
    AppEvent::Server(ServerEvent {
        id: Some(1),
        payload: EventPayload::MessageDelta(TextDelta {
            thread_id: "thread_000000".into(),
            message_id: "msg_reply".into(),
            delta: word.into(),
        }),
    })
}

/// The workspace with a two-message thread open, the reply streaming and `words` of
/// `pieces` already applied.
fn streaming_workspace(pieces: &[&str], words: usize) -> App {
    let mut app = workspace(2);
    let mut reply = app.conversation.messages[1].clone();
    reply.id = "msg_reply".into();
    reply.content = Some(Content::Text(String::new()));
    reply.status = MessageStatus::InProgress;
    app.conversation.messages[1] = reply;
    app.conversation.open_thread = Some("thread_000000".into());
    for piece in &pieces[..words] {
        app.apply(delta(piece));
    }
    app
}

fn bench_streaming_reply(c: &mut Criterion) {
    let mut group = c.benchmark_group("streaming_reply_160x45");
    // Enough words for the longest reply and every word the bench adds to it.
    let text = markdown_reply(30_000);
    let pieces: Vec<&str> = text.split_inclusive([' ', '\n']).collect();
    for words in [200, 2_000, 20_000] {
        // The reply grows by one word per iteration; every 500 words it is set back to
        // `words` (outside the timed part, with one untimed frame to lay it out again).
        let template = streaming_workspace(&pieces, words);
        group.bench_with_input(BenchmarkId::new("words", words), &words, |b, _| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let mut app = streaming_workspace(&pieces, 0);
                    app.conversation.messages = template.conversation.messages.clone();
                    app.conversation.replies = template.conversation.replies.clone();
                    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
                    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
                    terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
                    for piece in pieces[words..]
                        .iter()
                        .take((iters - done).min(500) as usize)
                    {
                        let start = Instant::now();
                        app.apply(delta(piece));
                        terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
                        spent += start.elapsed();
                        done += 1;
                    }
                }
                spent
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_frame, bench_streaming_reply);
criterion_main!(benches);
