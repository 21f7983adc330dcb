//! Frame cost. Target (issue #3): one frame of a 200x50 workspace with a 10,000-message
//! thread open under 2 ms median, and not growing with thread length.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::model::{Content, Message, MessageStatus, Role, Thread, ThreadStatus, Usage};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::{Ui, draw};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;

fn workspace(messages: usize) -> App {
    let mut app = App::new("local bench".into());
    let threads: Vec<Thread> = (0..500)
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
        })
        .collect();
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads,
        has_more: false,
    });
    let text = "The liability clause caps damages at **$5M** annually; see the contract for the full wording of section 12.";
    app.messages = (0..messages)
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
            created_at: 1_795_000_000,
            error: None,
        })
        .collect();
    app
}

fn bench_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame_200x50");
    for messages in [10, 10_000] {
        let app = workspace(messages);
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
        group.bench_with_input(BenchmarkId::new("messages", messages), &messages, |b, _| {
            b.iter(|| {
                terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_frame);
criterion_main!(benches);
