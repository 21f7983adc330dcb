//! The memory pane: the open thread's summary, what the latest run retrieved (with
//! scores), how full the short-term window is, and how memory changed. Refreshed live by
//! `memory.updated` events.

use super::{block, clip};
use crate::app::{App, Pane};
use crate::markdown::wrap;
use crate::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let theme = &ui.theme;
    let title = match &app.conversation.memory {
        Some(memory) if memory.enabled => format!(
            "Memory · window {} turns {}/{} tok · {} indexed{}",
            memory.window.turns,
            memory.window.tokens,
            memory.window.budget_tokens,
            memory.indexed_turns,
            memory
                .updated_at
                .map_or(String::new(), |at| format!(" · {}", ui.ago(app.now, at)))
        ),
        _ => "Memory".to_string(),
    };
    let block = block(app, ui, Pane::Memory, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    let height = inner.height as usize;
    let Some(memory) = &app.conversation.memory else {
        let text = if app.conversation.open_thread.is_some() {
            "Loading…"
        } else {
            "Select a thread."
        };
        frame.render_widget(Paragraph::new(text).style(theme.fg("dim")), inner);
        return;
    };
    if !memory.enabled {
        let assistant = app
            .selected_thread()
            .map(|t| app.assistant_name(&t.assistant_id))
            .unwrap_or_default();
        frame.render_widget(
            Paragraph::new(format!(
                "Memory is off for {} (memory.enabled).",
                clip(&assistant, 30)
            ))
            .style(theme.fg("dim")),
            inner,
        );
        return;
    }
    let label = |text: &str| Span::styled(text.to_string(), theme.fg("title"));
    let mut lines: Vec<Line> = Vec::new();
    match &memory.summary {
        Some(summary) => {
            lines.push(Line::from(vec![
                label("Summary"),
                Span::styled(
                    format!(" of {} earlier turns", memory.folded_turns),
                    theme.fg("dim"),
                ),
            ]));
            // Most of the room goes to retrieval and changes when the pane is small.
            let room = height.saturating_sub(4).max(2);
            let wrapped = wrap(
                &agentdeck_model::text::sanitize(summary),
                width.saturating_sub(2),
            );
            let shown = wrapped.len().min(room);
            for (i, piece) in wrapped.iter().take(shown).enumerate() {
                let text = if i + 1 == shown && wrapped.len() > shown {
                    format!("  {}…", clip(piece, width.saturating_sub(4)))
                } else {
                    format!("  {piece}")
                };
                lines.push(Line::styled(text, theme.fg("text")));
            }
        }
        None => lines.push(Line::styled(
            match memory.summary_method.as_deref() {
                Some("reflection") => "No summary yet: every turn still fits the window.",
                _ => "No summary (summary_method is not reflection).",
            },
            theme.fg("dim"),
        )),
    }
    if memory.vector_context.is_empty() {
        lines.push(Line::styled(
            "Retrieved: nothing similar enough for the latest message.",
            theme.fg("dim"),
        ));
    } else {
        lines.push(Line::from(label("Retrieved for the latest message")));
        for turn in &memory.vector_context {
            lines.push(Line::from(vec![
                Span::styled(
                    format!("  {:.2} ", turn.score),
                    theme.fg("ok").add_modifier(Modifier::BOLD),
                ),
                Span::styled(
                    format!("{}: ", clip(turn.speaker(), 14)),
                    theme.fg("assistant"),
                ),
                Span::raw(clip(&turn.text, width.saturating_sub(22))),
            ]));
        }
    }
    if !memory.changes.is_empty() {
        lines.push(Line::from(label("Changes")));
        for change in memory.changes.iter().rev() {
            lines.push(Line::styled(
                clip(
                    &format!("  {:>3} {}", ui.ago(app.now, change.at), change.what),
                    width,
                ),
                theme.fg("dim"),
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::fixtures::{NOW, workspace};
    use crate::screen::testing::render_pane;

    #[test]
    fn memory_pane_states() {
        let mut app = workspace();
        insta::assert_snapshot!("memory_live", render_pane(&app, Pane::Memory, 90, 12));
        if let Some(memory) = &mut app.conversation.memory {
            memory.enabled = false;
        }
        insta::assert_snapshot!("memory_off", render_pane(&app, Pane::Memory, 60, 4));
        app.conversation.memory = None;
        insta::assert_snapshot!("memory_loading", render_pane(&app, Pane::Memory, 60, 4));
        let _ = NOW;
    }
}
