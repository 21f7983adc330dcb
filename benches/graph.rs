//! The routing graph (issue #12). Targets: a graph of 50 assistants and 200 edges laid out
//! in under 5 ms (done once per change of the graph), and a frame of the zoomed routing pane
//! drawing it at 200x50 in under 0.5 ms (every frame, with a live edge moving).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentdeck::model::Assistant;
use agentdeck::tui::app::{App, AppEvent, Edge, Pane};
use agentdeck::tui::graph::layout::{EdgeSpec, NodeSpec, layout, node_width};
use agentdeck::tui::keymap::Keymap;
use agentdeck::tui::screen::draw;
use agentdeck::tui::theme::Theme;
use agentdeck::tui::ui::Ui;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeSet;

const NODES: usize = 50;
const EDGES: usize = 200;

/// 200 distinct edges among 50 nodes, cycles included, spread like a real routing table
/// (each assistant hands off to a few others, some back upstream).
fn edges() -> Vec<(usize, usize)> {
    let mut set = BTreeSet::new();
    let mut seed = 7u64;
    while set.len() < EDGES {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let from = (seed >> 33) as usize % NODES;
        let hop = 1 + (seed >> 17) as usize % 6;
        let to = if (seed >> 5).is_multiple_of(7) {
            from.saturating_sub(hop)
        } else {
            (from + hop) % NODES
        };
        if from != to {
            set.insert((from, to));
        }
    }
    set.into_iter().collect()
}

fn bench_layout(c: &mut Criterion) {
    let nodes: Vec<NodeSpec> = (0..NODES)
        .map(|i| NodeSpec {
            width: node_width(&format!("assistant-{i}"), "gpt-4.1-mini"),
            min_inner: 1,
        })
        .collect();
    let specs: Vec<EdgeSpec> = edges()
        .into_iter()
        .map(|(from, to)| EdgeSpec {
            from,
            to,
            label_width: 3,
        })
        .collect();
    c.bench_function("graph/layout_50_nodes_200_edges", |b| {
        b.iter(|| layout(&nodes, &specs))
    });
}

fn assistant(i: usize, routes_to: Vec<String>) -> Assistant {
    serde_json::from_value(serde_json::json!({
        "id": format!("asst_{i:03}"), "object": "assistant", "project_id": "proj_1",
        "name": format!("assistant-{i}"), "instructions": "", "model": "gpt-4.1-mini",
        "tools": [], "memory": {"enabled": false, "summary_method": null},
        "safety": {"strict": false, "allowed_domains": []},
        "privacy": {"mode": "off", "allowed_entities": []}, "routes_to": routes_to,
        "approval": "never", "created_at": 1_795_000_000u64
    }))
    .unwrap()
}

fn bench_frame(c: &mut Criterion) {
    let edges = edges();
    let assistants = (0..NODES)
        .map(|i| {
            let routes = edges
                .iter()
                .filter(|e| e.0 == i)
                .map(|e| format!("asst_{:03}", e.1))
                .collect();
            assistant(i, routes)
        })
        .collect();
    let mut app = App::new("local bench".into());
    app.apply(AppEvent::Snapshot {
        assistants,
        threads: Vec::new(),
        has_more: false,
    });
    for (k, &(from, to)) in edges.iter().enumerate().filter(|(k, _)| k % 2 == 0) {
        app.routes.edges.insert(
            (format!("asst_{from:03}"), format!("asst_{to:03}")),
            Edge {
                count: 1 + k as u32 % 40,
                in_flight: u32::from(k % 10 == 0),
            },
        );
    }
    app.focus = Pane::Routing;
    app.zoom = true;
    let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    // The first frame lays the graph out; the ones measured only draw it.
    terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
    c.bench_function("graph/frame_200x50_50_nodes_200_edges", |b| {
        b.iter(|| {
            ui.phase += 1;
            terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
        })
    });
}

criterion_group!(benches, bench_layout, bench_frame);
criterion_main!(benches);
