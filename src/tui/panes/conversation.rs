//! The conversation pane: the open thread's messages as markdown, reasoning folded to a
//! line (Enter shows it whole), tool calls inline, the live tail streaming.
//!
//! Finished messages are laid out once per width and kept; a frame lays out only the
//! messages it shows, from the newest back, so it costs the same at message 10 and
//! message 10,000. Selection and search marks are put on the visible lines only.

use super::{block, call_icon, clip};
use crate::model::{Message, MessageStatus, Role};
use crate::text::sanitize;
use crate::tui::app::{App, Pane, ago};
use crate::tui::markdown;
use crate::tui::ui::{Ui, WrappedMessage};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::sync::Arc;

/// Finished messages kept laid out; beyond this the cache starts again.
const WRAP_CACHE_LIMIT: usize = 4096;

/// The lines of one message at a width.
fn layout(app: &App, ui: &mut Ui, message: &Message, width: usize) -> WrappedMessage {
    let theme = &ui.theme;
    let mut lines = Vec::new();
    let (who, style) = match message.role {
        Role::User => ("user".to_string(), theme.fg("user")),
        Role::Assistant => (
            message
                .assistant_id
                .as_deref()
                .map_or("assistant".into(), |id| app.assistant_name(id)),
            theme.fg("assistant"),
        ),
        Role::Tool => ("tool answer".to_string(), theme.fg("tool")),
        Role::System => ("system".to_string(), theme.fg("dim")),
    };
    let state = match message.status {
        MessageStatus::InProgress => " …",
        MessageStatus::Completed => "",
        MessageStatus::Incomplete => " (incomplete)",
        MessageStatus::Failed => " (failed)",
    };
    lines.push(Line::from(vec![
        Span::styled(
            format!("▌{}", clip(&who, 30)),
            style.add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{state} · {}", ago(app.now, message.created_at)),
            theme.fg("dim"),
        ),
    ]));
    let steps: Vec<&str> = message
        .reasoning
        .iter()
        .map(|s| s.text.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    if app.expanded.contains(&message.id) {
        lines.push(Line::styled(
            format!("  ▾ reasoning ({} steps)", steps.len()),
            theme.fg("reasoning"),
        ));
        for step in &steps {
            for (i, piece) in markdown::wrap(&sanitize(step), width.saturating_sub(6))
                .into_iter()
                .enumerate()
            {
                let lead = if i == 0 { "    · " } else { "      " };
                lines.push(Line::styled(
                    format!("{lead}{piece}"),
                    theme.fg("reasoning").add_modifier(Modifier::ITALIC),
                ));
            }
        }
    } else if let Some(step) = steps.last() {
        let summary = clip(step, width.saturating_sub(20));
        lines.push(Line::styled(
            format!("  ▸ reasoning ({}): {summary}", steps.len()),
            theme.fg("reasoning"),
        ));
    }
    for call in &message.tool_calls {
        let head = format!(
            "  {} {}({})",
            call_icon(call.status),
            clip(&call.function.name, 40),
            clip(&call.function.arguments, 60)
        );
        let latency = call
            .latency_ms
            .map_or(String::new(), |ms| format!(" {ms}ms"));
        lines.push(Line::from(vec![
            Span::styled(
                clip(&head, width.saturating_sub(latency.len())),
                theme.fg("tool"),
            ),
            Span::styled(latency, theme.fg("dim")),
        ]));
        if let Some(output) = &call.output {
            lines.push(Line::styled(
                clip(&format!("    → {output}"), width),
                theme.fg("dim"),
            ));
        }
    }
    let text = sanitize(&message.text());
    let blocks = markdown::render(&text, width, &ui.theme, &mut ui.highlighter, &mut lines);
    if let Some(error) = &message.error {
        lines.push(Line::styled(
            clip(&format!("  ✗ {}", error.message), width),
            ui.theme.fg("error"),
        ));
    }
    lines.push(Line::raw(""));
    WrappedMessage {
        lines,
        code_blocks: blocks.iter().map(|b| (b.first_line, b.last_line)).collect(),
    }
}

/// Marks every (ASCII case-insensitive) occurrence of `needle` in a line.
fn mark_matches(line: Line<'static>, needle: &str, style: Style) -> Line<'static> {
    if needle.is_empty() {
        return line;
    }
    let mut spans = Vec::new();
    for span in line.spans {
        let content = span.content.to_string();
        let lower = content.to_ascii_lowercase();
        let mut at = 0;
        while let Some(found) = lower[at..].find(needle) {
            let start = at + found;
            let end = start + needle.len();
            if start > at {
                spans.push(Span::styled(content[at..start].to_string(), span.style));
            }
            spans.push(Span::styled(
                content[start..end].to_string(),
                span.style.patch(style),
            ));
            at = end;
        }
        if at < content.len() {
            spans.push(Span::styled(content[at..].to_string(), span.style));
        }
    }
    Line::from(spans).style(line.style)
}

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let mut title = match app.selected_thread() {
        Some(thread) => format!(
            "{} · {}",
            clip(&app.assistant_name(&thread.assistant_id), 20),
            clip(thread.title.as_deref().unwrap_or(&thread.id), 50)
        ),
        None => "Conversation".to_string(),
    };
    if !app.search.is_empty() {
        title.push_str(&format!(" · /{}", clip(&app.search, 20)));
    }
    let block = block(app, ui, Pane::Conversation, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width;
    let height = inner.height as usize;
    if app.messages.is_empty() {
        let text = if app.open_thread.is_some() {
            "No messages yet."
        } else {
            "Select a thread."
        };
        frame.render_widget(Paragraph::new(text).style(ui.theme.fg("dim")), inner);
        return;
    }
    // The cache holds finished messages of every thread looked at; a long session would
    // grow it without end, and laying out what is visible again is cheap.
    if ui.wrapped.len() > WRAP_CACHE_LIMIT {
        ui.wrapped.clear();
    }
    let selected = app.selection.as_ref();
    let following = app.follow_selection && selected.is_some();
    let needed = height + app.scroll;
    let mut tail: Vec<Line<'static>> = Vec::new();
    let mut newest_len = None;
    // Where the selection is, counted from the end of the tail (stable as lines are
    // put in front): lines from its top line to the end.
    let mut selected_from_end: Option<usize> = None;
    for message in app.messages.iter().rev() {
        let expanded = app.expanded.contains(&message.id);
        let wrapped = if message.status.is_final() {
            let key = (message.id.clone(), width, expanded);
            match ui.wrapped.get(&key) {
                Some(cached) => cached.clone(),
                None => {
                    let laid = Arc::new(layout(app, ui, message, width as usize));
                    ui.wrapped.insert(key, laid.clone());
                    laid
                }
            }
        } else {
            Arc::new(layout(app, ui, message, width as usize))
        };
        let mut lines = wrapped.lines.clone();
        if let Some(selection) = selected.filter(|s| s.message_id == message.id) {
            let marked = ui.theme.selected();
            let top = match selection
                .code_block
                .and_then(|i| wrapped.code_blocks.get(i))
            {
                Some(&(first, last)) => {
                    for line in &mut lines[first..=last.min(wrapped.lines.len() - 1)] {
                        line.style = marked;
                    }
                    first
                }
                None => {
                    lines[0].style = marked;
                    0
                }
            };
            selected_from_end = Some(lines.len() - top + tail.len());
        }
        newest_len.get_or_insert(lines.len());
        tail.splice(0..0, lines);
        let found = !following || selected_from_end.is_some();
        if tail.len() >= needed && found {
            break;
        }
    }
    // The view follows a growing reply in steps of two thirds of the pane, not line by
    // line: between steps a frame only adds the new words, instead of shifting (and so
    // repainting) the whole pane for every line. Over SSH this is most of the bytes.
    // Only while a reply streams and the conversation overflows: content that fits never
    // shifts, and a finished conversation settles at the bottom.
    let streaming = app
        .messages
        .last()
        .is_some_and(|m| m.status == MessageStatus::InProgress);
    let step = (height * 2 / 3).max(1);
    let at_bottom = app.scroll == 0 && !following;
    if let Some(len) = newest_len.filter(|_| streaming && at_bottom && tail.len() > height) {
        tail.extend(std::iter::repeat_n(
            Line::raw(""),
            (step - len % step) % step,
        ));
    }
    let max_scroll = tail.len().saturating_sub(height.min(tail.len()));
    let scroll = match selected_from_end.filter(|_| following) {
        // The selection's top line a third of the way down the pane.
        Some(top) => (top + height / 3).saturating_sub(height).min(max_scroll),
        None => app.scroll.min(max_scroll),
    };
    ui.scroll_used = scroll;
    let end = tail.len() - scroll;
    let start = end.saturating_sub(height);
    let needle = app.search.to_ascii_lowercase();
    let highlight = ui.theme.fg("search_match").add_modifier(Modifier::REVERSED);
    let shown: Vec<Line> = tail[start..end]
        .iter()
        .cloned()
        .map(|line| mark_matches(line, &needle, highlight))
        .collect();
    frame.render_widget(Paragraph::new(shown), inner);
}

#[cfg(test)]
mod tests {
    use super::super::testing::render_pane;
    use crate::model::Role;
    use crate::model::{Content, MessageStatus};
    use crate::tui::app::Pane;
    use crate::tui::fixtures::{message, workspace};
    use crate::tui::keymap::Action;

    #[test]
    fn conversation_pane_with_markdown_reasoning_and_tools() {
        let app = workspace();
        insta::assert_snapshot!(render_pane(&app, Pane::Conversation, 80, 24));
    }

    #[test]
    fn reasoning_expands_and_items_are_selected_for_copying() {
        let mut app = workspace();
        app.focus = Pane::Conversation;
        app.act(Action::ToggleReasoning);
        insta::assert_snapshot!(
            "conversation_reasoning_expanded",
            render_pane(&app, Pane::Conversation, 80, 24)
        );
        // [ from nothing selects the newest item: the reply's code block.
        app.act(Action::PrevItem);
        let copied = app.act(Action::Copy);
        assert_eq!(
            copied,
            vec![crate::tui::app::Effect::Copy("tracking PN-778120".into())]
        );
        app.act(Action::PrevItem);
        assert_eq!(
            app.act(Action::Copy),
            vec![crate::tui::app::Effect::Copy(app.messages[1].text())]
        );
        app.act(Action::PrevItem);
        app.act(Action::PrevItem);
        assert_eq!(
            app.selection.as_ref().map(|s| s.message_id.as_str()),
            Some("msg_1"),
            "stops at the oldest"
        );
        app.act(Action::NextItem);
        app.act(Action::NextItem);
        app.act(Action::NextItem);
        assert_eq!(
            app.selection, None,
            "past the newest the view follows again"
        );
    }

    #[test]
    fn search_selects_the_matching_message_and_scrolls_to_it() {
        let mut app = workspace();
        let mut many: Vec<_> = (0..200)
            .map(|i| message(&format!("msg_n{i}"), Role::User, &format!("note {i}")))
            .collect();
        many[20].content = Some(Content::Text("the refund of ORD-77 went through".into()));
        many.iter_mut()
            .for_each(|m| m.status = MessageStatus::Completed);
        app.messages = many;
        app.set_search("ord-77".into());
        assert_eq!(
            app.selection.as_ref().map(|s| s.message_id.as_str()),
            Some("msg_n20")
        );
        let screen = render_pane(&app, Pane::Conversation, 70, 12);
        assert!(screen.contains("the refund of ORD-77"), "{screen}");
        insta::assert_snapshot!("conversation_search", screen);
    }
}
