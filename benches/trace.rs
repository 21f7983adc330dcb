//! The run trace (issue #12). Target: with a run of 1,000 model steps (each calling a tool)
//! in the trace, a frame of the trace view at 200x50 under 2 ms. The trace is built once
//! per new event (measured too), not per frame.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::client::ServerEvent;
use agentdeck::model::{EventPayload, Thread, ThreadStatus};
use agentdeck::tui::app::{App, AppEvent};
use agentdeck::tui::keymap::{Action, Keymap};
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;
use std::collections::BTreeMap;

const STEPS: usize = 1_000;
const T0: u64 = 1_795_000_000;

fn message(id: &str, role: &str, status: &str) -> serde_json::Value {
    json!({"id": id, "object": "thread.message", "thread_id": "thread_1", "assistant_id": "asst_1",
        "role": role, "content": "Look the order up, then refund it.", "attachments": [], "tool_calls": [],
        "tool_call_id": null, "reasoning": [], "status": status,
        "usage": {"input_tokens": 120_000, "output_tokens": 30_000}, "created_at": T0})
}

/// A run of `STEPS` model steps, each calling `lookup_order`.
fn events() -> Vec<ServerEvent> {
    let mut out = Vec::new();
    let mut id = 0u64;
    let mut push = |name: &str, data: serde_json::Value| {
        id += 1;
        out.push(ServerEvent {
            id: Some(id),
            payload: EventPayload::decode(name, &data.to_string()),
        });
    };
    push(
        "message.created",
        json!({"thread_id": "thread_1", "message_id": "msg_u", "message": message("msg_u", "user", "completed")}),
    );
    push(
        "message.created",
        json!({"thread_id": "thread_1", "message_id": "msg_r", "message": message("msg_r", "assistant", "in_progress")}),
    );
    for step in 0..STEPS {
        let call = format!("call_{step}");
        push(
            "tool_call.created",
            json!({"thread_id": "thread_1", "message_id": "msg_r", "tool_call": {
            "id": call, "type": "function", "function": {"name": "lookup_order", "arguments": "{}"},
            "target_assistant_id": null, "thread_id": null, "status": "in_progress", "output": null,
            "latency_ms": null, "step": step}}),
        );
        push(
            "telemetry",
            json!({"event": "model_call", "timestamp": "2026-11-25T10:00:00Z",
            "assistant_id": "asst_1", "thread_id": "thread_1", "tool": null, "latency_ms": 300 + step % 7 * 50,
            "input_tokens": 120, "output_tokens": 30, "safety_flag": null}),
        );
        push(
            "tool_call.output",
            json!({"thread_id": "thread_1", "message_id": "msg_r", "tool_call_id": call,
            "output": "ok", "latency_ms": 20 + step % 5 * 10, "status": "completed"}),
        );
    }
    push(
        "message.completed",
        json!({"thread_id": "thread_1", "message_id": "msg_r", "message": message("msg_r", "assistant", "completed")}),
    );
    out
}

fn bench_trace(c: &mut Criterion) {
    let mut app = App::new("local bench".into());
    app.now = T0 + 600;
    app.apply(AppEvent::Snapshot {
        assistants: vec![],
        threads: vec![Thread {
            id: "thread_1".into(),
            object: "thread".into(),
            project_id: "proj_1".into(),
            assistant_id: "asst_1".into(),
            created_at: T0,
            updated_at: T0,
            status: ThreadStatus::Active,
            metadata: BTreeMap::new(),
            title: Some("A long run".into()),
            parent_thread_id: None,
            estimated_cost: 0.0,
            last_reply_status: None,
        }],
        has_more: false,
    });
    app.act(Action::Trace);
    let events = events();
    assert_eq!(events.len(), 3 * STEPS + 3);
    c.bench_function("trace/build_1000_steps", |b| {
        b.iter(|| {
            agentdeck::tui::trace::build("thread_1", &events, events.len(), &|id| id.to_string())
        })
    });
    app.apply(AppEvent::TraceLoaded {
        root: "thread_1".into(),
        events: Ok(events),
    });
    // Half way down, so the rows drawn are from the middle of the run.
    for _ in 0..STEPS {
        app.trace_act(Action::Down);
    }
    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
    c.bench_function("trace/frame_200x50_1000_steps", |b| {
        b.iter(|| {
            terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
        })
    });
}

criterion_group!(benches, bench_trace);
criterion_main!(benches);
