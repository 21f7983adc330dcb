//! The routing pane: the assistants as a drawn graph (boxes with live counts, edges with
//! how many messages they carried; lit and moving while a routed message is in flight;
//! dashed while only declared). When the graph does not fit, a zoomed or large pane
//! scrolls it to keep the cursor's node in view; a small one lists every edge instead.

use super::{block, clip};
use crate::app::{App, Pane, RoutingGraph as Graph, edge_label};
use crate::graph::{
    EdgeState, EdgeView, GraphLayout, GraphStyles, NodeView, RoutingGraph, scroll_to,
};
use crate::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;

/// A view at least this large scrolls a graph that does not fit rather than list it.
const SCROLL_MIN: (u16, u16) = (60, 16);

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let graph = app.routing_graph();
    let inner = Rect {
        x: area.x + 1,
        y: area.y + 1,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2),
    };
    let fits = |layout: &GraphLayout| layout.width <= inner.width && layout.height <= inner.height;
    let large = app.zoom || (inner.width >= SCROLL_MIN.0 && inner.height >= SCROLL_MIN.1);
    let chosen = if graph.nodes.is_empty() {
        None
    } else if fits(&graph.full) {
        Some(&graph.full)
    } else if fits(&graph.slim) || large {
        Some(&graph.slim)
    } else {
        None
    };
    let title = match chosen {
        Some(layout) if !fits(layout) => "Routing (scrolls with the cursor)",
        None if !graph.edges.is_empty() => "Routing (z: graph)",
        _ => "Routing",
    };
    let block = block(app, ui, Pane::Routing, title.to_string());
    frame.render_widget(block, area);
    match chosen {
        Some(layout) => draw_graph(frame, app, ui, &graph, layout, inner),
        None => draw_list(frame, app, ui, &graph, inner),
    }
}

fn draw_graph(
    frame: &mut Frame,
    app: &App,
    ui: &mut Ui,
    graph: &Graph,
    layout: &GraphLayout,
    area: Rect,
) {
    let theme = &ui.theme;
    let load = app.assistant_load();
    let nodes: Vec<NodeView> = graph
        .nodes
        .iter()
        .map(|node| {
            let counts = load.get(&node.id).copied().unwrap_or_default();
            let mut badges = Vec::new();
            for (icon, count, colour) in [
                ("●", counts.running, "running"),
                ("!", counts.waiting, "waiting"),
                ("◌", counts.queued, "waiting"),
            ] {
                if count > 0 {
                    badges.push((format!("{icon}{count}"), theme.fg(colour)));
                }
            }
            if badges.is_empty() {
                badges.push(("idle".to_string(), theme.fg("dim")));
            }
            NodeView {
                name: node.name.clone(),
                detail: node.model.clone(),
                badges,
            }
        })
        .collect();
    let mut live = false;
    let edges: Vec<EdgeView> = graph
        .edges
        .iter()
        .map(|edge| {
            let counts = app.routes.edges.get(&edge.key).copied().unwrap_or_default();
            let state = if counts.in_flight > 0 {
                live = true;
                EdgeState::Live
            } else if counts.count > 0 {
                EdgeState::Used
            } else {
                EdgeState::Declared
            };
            EdgeView {
                label: edge_label(&counts),
                state,
            }
        })
        .collect();
    let focused = app.focus == Pane::Routing;
    let selected = if focused {
        app.routing_selected(graph)
    } else {
        None
    };
    let scroll = scroll_to(layout, selected, area, ui.routing_scroll);
    ui.routing_scroll = scroll;
    let styles = GraphStyles {
        border: theme.fg("border"),
        selected: theme.fg("border_focused").add_modifier(Modifier::BOLD),
        name: theme.fg("assistant"),
        detail: theme.fg("dim"),
        declared: theme.fg("dim"),
        used: theme.fg("text"),
        live: theme.fg("running"),
    };
    frame.render_widget(
        RoutingGraph {
            layout,
            nodes: &nodes,
            edges: &edges,
            selected,
            phase: ui.phase,
            scroll,
            styles: &styles,
        },
        area,
    );
    // A live edge moves: the loop draws again a little later while one is on screen.
    ui.animating.set(ui.animating.get() || live);
}

/// Every edge on a line of its own (routed ones first), for panes too small for the graph.
fn draw_list(frame: &mut Frame, app: &App, ui: &Ui, graph: &Graph, area: Rect) {
    let theme = &ui.theme;
    let width = area.width as usize;
    let focused = app.focus == Pane::Routing;
    let cursor = app
        .routing_selected(graph)
        .map(|i| graph.nodes[i].id.clone());
    let mut routed: Vec<Line> = Vec::new();
    let mut declared: Vec<Line> = Vec::new();
    for edge in &graph.edges {
        let (from, to) = (&graph.nodes[edge.from].name, &graph.nodes[edge.to].name);
        let counts = app.routes.edges.get(&edge.key).copied().unwrap_or_default();
        let (text, style, list) = if counts.count == 0 {
            (
                format!("{} ··▶ {}", clip(from, 14), clip(to, 14)),
                theme.fg("dim"),
                &mut declared,
            )
        } else {
            let live = counts.in_flight > 0;
            let text = format!(
                "{} {} {}  {}{}",
                clip(from, 14),
                if live { "━━▶" } else { "──▶" },
                clip(to, 14),
                edge_label(&counts),
                if live { " ●" } else { "" }
            );
            let style = if live {
                theme.fg("running").add_modifier(Modifier::BOLD)
            } else {
                theme.fg("text")
            };
            (text, style, &mut routed)
        };
        let mut line = Line::styled(clip(&text, width), style);
        if focused && cursor.as_deref() == Some(edge.key.0.as_str()) {
            line = theme.select_line(line);
        }
        list.push(line);
    }
    routed.append(&mut declared);
    frame.render_widget(super::lines_or(routed, "No routes.", theme), area);
}

#[cfg(test)]
mod tests {
    use crate::app::{App, Pane};
    use crate::fixtures::workspace;
    use crate::keymap::Action;
    use crate::screen::testing::render_pane;

    #[test]
    fn routing_pane() {
        insta::assert_snapshot!(render_pane(&workspace(), Pane::Routing, 60, 6));
    }

    #[test]
    fn routing_pane_draws_the_graph_when_it_fits() {
        insta::assert_snapshot!(render_pane(&workspace(), Pane::Routing, 60, 16));
    }

    #[test]
    fn the_cursor_walks_the_nodes_and_enter_shows_that_assistants_threads() {
        let mut app: App = workspace();
        app.focus = Pane::Routing;
        let graph = app.routing_graph();
        let first = app.routing_selected(&graph).unwrap();
        assert_eq!(graph.nodes[first].name, "triage");
        app.act(Action::Down);
        let graph = app.routing_graph();
        let second = app.routing_selected(&graph).unwrap();
        assert_ne!(second, first);
        let name = graph.nodes[second].name.clone();
        let id = graph.nodes[second].id.clone();
        app.act(Action::Open);
        assert_eq!(app.focus, Pane::Threads);
        assert_eq!(app.list.filter_text, format!("assistant:{name}"));
        let visible = app.visible_threads();
        assert!(!visible.is_empty());
        assert!(visible.iter().all(|t| t.assistant_id == id), "{name}");
        let screen = render_pane(&app, Pane::Routing, 60, 16);
        assert!(screen.contains(&name), "{screen}");
    }
}
