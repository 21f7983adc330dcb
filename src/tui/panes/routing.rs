//! The routing pane: assistants and the hops between them, with counts; an edge is lit
//! while a routed message is in flight; declared routes not used yet are dotted.

use super::{block, clip};
use crate::tui::app::{App, Pane};
use crate::tui::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::Line;

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let block = block(app, ui, Pane::Routing, "Routing".to_string());
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let theme = &ui.theme;
    let width = inner.width as usize;
    let mut lines: Vec<Line> = Vec::new();
    for ((from, to), edge) in &app.edges {
        let live = edge.in_flight > 0;
        let arrow = if live { "━━▶" } else { "──▶" };
        let text = format!(
            "{} {arrow} {}  ×{}{}",
            clip(&app.assistant_name(from), 14),
            clip(&app.assistant_name(to), 14),
            edge.count,
            if live { " ●" } else { "" }
        );
        lines.push(Line::styled(
            clip(&text, width),
            if live {
                theme.fg("running").add_modifier(Modifier::BOLD)
            } else {
                theme.fg("text")
            },
        ));
    }
    // Declared routes that have not carried anything yet.
    for assistant in app.assistants.values() {
        for to in &assistant.routes_to {
            if !app.edges.contains_key(&(assistant.id.clone(), to.clone())) {
                let text = format!(
                    "{} ··▶ {}",
                    clip(&assistant.name, 14),
                    clip(&app.assistant_name(to), 14)
                );
                lines.push(Line::styled(clip(&text, width), theme.fg("dim")));
            }
        }
    }
    frame.render_widget(super::lines_or(lines, "No routes.", theme), inner);
}

#[cfg(test)]
mod tests {
    use super::super::testing::render_pane;
    use crate::tui::app::Pane;
    use crate::tui::fixtures::workspace;

    #[test]
    fn routing_pane() {
        insta::assert_snapshot!(render_pane(&workspace(), Pane::Routing, 60, 6));
    }
}
