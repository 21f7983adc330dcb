//! The tools pane: live tool calls across threads (name, arguments as they stream,
//! status, latency, output) and the approvals inbox: `a` approve or answer, `d` deny,
//! `e` edit the answer or the arguments.

use super::{block, call_icon, clip};
use crate::model::ToolCallStatus;
use crate::tui::app::{App, Pane};
use crate::tui::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let waiting = app
        .live_calls
        .iter()
        .filter(|c| c.call.status.is_waiting())
        .count();
    let block = block(app, ui, Pane::Tools, format!("Tools · {waiting} waiting"));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let offset = app.tools_selected.saturating_sub(height.saturating_sub(1));
    let theme = &ui.theme;
    let lines: Vec<Line> = app
        .live_calls
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(index, live)| {
            let call = &live.call;
            let style = match call.status {
                ToolCallStatus::InProgress => theme.fg("running"),
                ToolCallStatus::RequiresAction | ToolCallStatus::RequiresApproval => {
                    theme.fg("waiting")
                }
                ToolCallStatus::Completed => theme.fg("ok"),
                ToolCallStatus::Failed | ToolCallStatus::Denied => theme.fg("error"),
                ToolCallStatus::Cancelled => theme.fg("dim"),
            };
            let latency = call
                .latency_ms
                .map_or(String::new(), |ms| format!(" {ms}ms"));
            let spinner = if call.status == ToolCallStatus::InProgress {
                ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][(app.now % 10) as usize]
            } else {
                call_icon(call.status)
            };
            let output = call
                .output
                .as_deref()
                .map_or(String::new(), |o| format!(" → {}", clip(o, 40)));
            let text = format!(
                "{spinner} {:<16} {}{}{}",
                clip(&call.function.name, 16),
                clip(&call.function.arguments, 40),
                latency,
                output
            );
            let mut line = Line::styled(clip(&text, width), style);
            if index == app.tools_selected && app.focus == Pane::Tools {
                line = line.style(theme.selected());
            }
            line
        })
        .collect();
    frame.render_widget(super::lines_or(lines, "No tool calls yet.", theme), inner);
}

#[cfg(test)]
mod tests {
    use super::super::testing::render_pane;
    use crate::tui::app::Pane;
    use crate::tui::fixtures::workspace;

    #[test]
    fn tools_pane() {
        let mut app = workspace();
        app.focus = Pane::Tools;
        insta::assert_snapshot!(render_pane(&app, Pane::Tools, 100, 6));
    }
}
