//! The live wall (issue #12). Target: 9 tiles each streaming 100 tokens a second cost the
//! UI at most 10% of a core, with frames capped (20 a second for streamed text). Measured
//! as one second of that: 900 deltas applied to the app state and 20 frames of the wall
//! drawn at 200x50; the time per iteration is the share of a core (100 ms = 10%).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::client::ServerEvent;
use agentdeck::model::event::TextDelta;
use agentdeck::model::{EventPayload, Thread, ThreadStatus};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::{Action, Keymap};
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;

const TILES: usize = 9;
const TOKENS_PER_SECOND: usize = 100;
const FRAMES_PER_SECOND: usize = 20;

fn thread(i: usize) -> Thread {
    Thread {
        id: format!("thread_{i:04}"),
        object: "thread".into(),
        project_id: "proj_1".into(),
        assistant_id: "asst_1".into(),
        created_at: 1_795_000_000,
        updated_at: 1_795_000_000 + i as u64,
        status: ThreadStatus::Running,
        metadata: BTreeMap::new(),
        title: Some(format!("Customer ticket {i}")),
        parent_thread_id: None,
        estimated_cost: 0.0,
        last_reply_status: None,
    }
}

fn delta(tile: usize, word: &str) -> AppEvent {
    AppEvent::Server(ServerEvent {
        id: None,
        payload: EventPayload::MessageDelta(TextDelta {
            thread_id: format!("thread_{tile:04}"),
            message_id: format!("msg_{tile}"),
            delta: word.to_string(),
        }),
    })
}

fn bench_wall(c: &mut Criterion) {
    let mut app = App::new("local bench".into());
    // 500 threads loaded; the wall shows the 9 most recently active.
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads: (0..500).rev().map(thread).collect(),
        has_more: false,
    });
    app.act(Action::Wall);
    let words = [
        "The ",
        "refund ",
        "of ",
        "**49.90 EUR** ",
        "goes ",
        "out ",
        "today; ",
        "see ",
        "`ORD-4521`.\n",
    ];
    // Every tile starts full, so each frame wraps a whole tail.
    for round in 0..2_000 {
        for tile in 0..TILES {
            app.apply(delta(tile, words[round % words.len()]));
        }
    }
    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut round = 0usize;
    c.bench_function("wall/one_second_of_9_tiles_at_100_tokens_per_second", |b| {
        b.iter(|| {
            for frame in 0..FRAMES_PER_SECOND {
                for _ in 0..TOKENS_PER_SECOND / FRAMES_PER_SECOND {
                    round += 1;
                    for tile in 0..TILES {
                        app.apply(delta(tile, words[round % words.len()]));
                    }
                }
                let _ = frame;
                terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
            }
        })
    });
}

criterion_group!(benches, bench_wall);
criterion_main!(benches);
