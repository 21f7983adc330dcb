//! The conversation pane: the open thread's messages as markdown, reasoning folded to a
//! line (Enter shows it whole), tool calls inline, the live tail streaming.
//!
//! Finished messages are laid out once per width and kept; a frame lays out only the
//! messages it shows, from the newest back, so it costs the same at message 10 and
//! message 10,000. Selection and search marks are put on the visible lines only.

use super::{block, call_icon, clip};
use crate::app::{App, Pane};
use crate::markdown;
use crate::markdown::StreamingText;
use crate::ui::{StreamingPrefix, Ui, WrappedMessage};
use agentdeck_model::text::sanitize;
use agentdeck_model::{Message, MessageStatus, Role};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::sync::Arc;

/// Finished messages kept laid out; beyond this the cache starts again.
const WRAP_CACHE_LIMIT: usize = 4096;

/// A message's first line: who, its state, how long ago. Built at every frame, never
/// cached, so the relative time goes on ticking in a cached layout.
fn header(app: &App, ui: &Ui, message: &Message) -> Line<'static> {
    let theme = &ui.theme;
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
    Line::from(vec![
        Span::styled(
            format!("▌{}", clip(&who, 30)),
            style.add_modifier(Modifier::BOLD),
        ),
        Span::styled(
            format!("{state} · {}", ui.ago(app.now, message.created_at)),
            theme.fg("dim"),
        ),
    ])
}

/// The lines of one message at a width.
fn layout(app: &App, ui: &mut Ui, message: &Message, width: usize) -> WrappedMessage {
    let theme = &ui.theme;
    let mut lines = vec![header(app, ui, message)];
    for file in &message.files {
        let what = match (file.width, file.height) {
            (Some(w), Some(h)) => format!("image {} · {w}\u{d7}{h}", file.filename),
            _ => format!("file {} · {}", file.filename, human_bytes(file.bytes)),
        };
        lines.push(Line::styled(
            clip(&format!("  ↳ {what} · {}", file.content_type), width),
            theme.fg("dim"),
        ));
    }
    let steps: Vec<&str> = message
        .reasoning
        .iter()
        .map(|s| s.text.as_str())
        .filter(|t| !t.is_empty())
        .collect();
    if app.conversation.expanded.contains(&message.id) {
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
        match &call.output {
            // Running: its last lines, as they come.
            Some(output) if call.status == agentdeck_model::ToolCallStatus::InProgress => {
                let tail: Vec<&str> = output
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .rev()
                    .take(3)
                    .collect();
                for line in tail.into_iter().rev() {
                    lines.push(Line::styled(
                        clip(&format!("    │ {line}"), width),
                        theme.fg("dim"),
                    ));
                }
            }
            Some(output) => {
                let shown = super::citations(call).unwrap_or_else(|| output.clone());
                lines.push(Line::styled(
                    clip(&format!("    → {shown}"), width),
                    theme.fg("dim"),
                ));
            }
            None => {}
        }
    }
    let mut parts = Vec::new();
    let blocks = if message.status.is_final() {
        let text = sanitize(&message.text());
        markdown::render(&text, width, &ui.theme, &mut ui.highlighter, &mut lines)
            .iter()
            .map(|b| (b.first_line, b.last_line))
            .collect()
    } else {
        // The head, the kept finished lines (shared, not copied), the line being written.
        // The text comes from the reply's collector, sanitized as it arrived; a message
        // without one in step (only in tests that set messages directly) gets its own.
        let built;
        let reply = match app.conversation.replies.get(&message.id) {
            Some(reply) if reply.fed() == message.text_len() => reply,
            _ => {
                built = StreamingText::new(&message.text());
                &built
            }
        };
        let offset = lines.len();
        let mut blocks = Vec::new();
        let mut prefix_len = 0;
        parts.push(Arc::new(std::mem::take(&mut lines)));
        if let Some(prefix) = streaming_prefix(ui, &message.id, reply, width) {
            blocks.extend(
                prefix
                    .blocks
                    .iter()
                    .map(|&(first, last)| (first + offset, last + offset)),
            );
            prefix_len = prefix.lines.len();
            parts.push(prefix.lines);
        }
        let rest = &reply.text()[reply.settled()..];
        let shift = offset + prefix_len;
        for block in markdown::render_after(
            rest,
            prefix_len > 0,
            width,
            &ui.theme,
            &mut ui.highlighter,
            &mut lines,
        ) {
            blocks.push((block.first_line + shift, block.last_line + shift));
        }
        blocks
    };
    if let Some(error) = &message.error {
        lines.push(Line::styled(
            clip(&format!("  ✗ {}", error.message), width),
            ui.theme.fg("error"),
        ));
    }
    lines.push(Line::raw(""));
    parts.push(Arc::new(lines));
    WrappedMessage::new(parts, blocks)
}

/// 1234 → "1.2 KB".
fn human_bytes(bytes: u64) -> String {
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} KB", bytes as f64 / 1e3),
        _ => format!("{:.1} MB", bytes as f64 / 1e6),
    }
}

/// A reply that is still streaming: its finished lines are laid out once and kept (so a
/// frame costs the same at word 100 and word 20,000); only the line being written is
/// laid out again. Returns the kept lines and their code blocks (none before the first
/// line is finished).
fn streaming_prefix(
    ui: &mut Ui,
    id: &str,
    reply: &StreamingText,
    width: usize,
) -> Option<StreamingPrefix> {
    let text = reply.text();
    let split = reply.settled();
    if split == 0 {
        return None;
    }
    let kept = ui
        .streaming
        .remove(id)
        .filter(|kept| kept.width == width && kept.prefix_len <= split);
    let mut kept = kept.unwrap_or_else(|| StreamingPrefix {
        width,
        prefix_len: 0,
        lines: Arc::default(),
        blocks: Arc::default(),
    });
    if kept.prefix_len < split {
        // Lines were finished since: lay out only those, after the kept ones (without the
        // last newline: the rest starts on the line after it). The last frame's copy is
        // gone by now, so the lines are extended in place.
        let mut more = Vec::new();
        let blocks = markdown::render_after(
            &text[kept.prefix_len..split - 1],
            !kept.lines.is_empty(),
            width,
            &ui.theme,
            &mut ui.highlighter,
            &mut more,
        );
        let lines = Arc::make_mut(&mut kept.lines);
        let offset = lines.len();
        Arc::make_mut(&mut kept.blocks).extend(
            blocks
                .iter()
                .map(|b| (b.first_line + offset, b.last_line + offset)),
        );
        lines.extend(more);
        kept.prefix_len = split;
    }
    let shared = kept.clone();
    ui.streaming.insert(id.to_string(), kept);
    Some(shared)
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
    if !app.conversation.search.is_empty() {
        title.push_str(&format!(" · /{}", clip(&app.conversation.search, 20)));
    }
    let block = block(app, ui, Pane::Conversation, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width;
    let height = inner.height as usize;
    if app.conversation.messages.is_empty() {
        let text = if app.conversation.open_thread.is_some() {
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
    // Replies that finished (or whose thread was closed) need their kept lines no more.
    ui.streaming
        .retain(|id, _| app.conversation.replies.contains_key(id));
    let selected = app.conversation.selection.as_ref();
    let following = app.conversation.follow_selection && selected.is_some();
    let needed = height + app.conversation.scroll;
    let mut tail: Vec<Line<'static>> = Vec::new();
    let mut newest_len = None;
    let mut total_lines = 0;
    // Where the selection is, counted from the end of the tail (stable as lines are
    // put in front): lines from its top line to the end.
    let mut selected_from_end: Option<usize> = None;
    for message in app.conversation.messages.iter().rev() {
        let expanded = app.conversation.expanded.contains(&message.id);
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
        let len = wrapped.len();
        let is_selected = selected.filter(|s| s.message_id == message.id);
        // Only the lines the pane shows are copied, unless the selection is still to be
        // found above them.
        let take = if following && selected_from_end.is_none() {
            len
        } else {
            len.min(needed.saturating_sub(tail.len()))
        };
        let skipped = len - take;
        let mut lines = wrapped.lines_from(skipped);
        if skipped == 0 {
            if let Some(first) = lines.first_mut() {
                *first = header(app, ui, message);
            }
        }
        if let Some(selection) = is_selected {
            let theme = &ui.theme;
            let (top, bottom) = match selection
                .code_block
                .and_then(|i| wrapped.code_blocks.get(i))
            {
                Some(&(first, last)) => (first, last.min(len.saturating_sub(1))),
                None => (0, 0),
            };
            for index in top.max(skipped)..=bottom {
                if index >= skipped {
                    let line = std::mem::take(&mut lines[index - skipped]);
                    lines[index - skipped] = theme.select_line(line);
                }
            }
            selected_from_end = Some(len - top + tail.len());
        }
        newest_len.get_or_insert(len);
        total_lines += len;
        tail.splice(0..0, lines);
        let found = !following || selected_from_end.is_some();
        if tail.len() >= needed && found {
            break;
        }
    }
    // The view follows a growing reply in steps of five sixths of the pane, not line by
    // line: between steps a frame only adds the new words, instead of shifting (and so
    // repainting) the whole pane for every line. Over SSH this is most of the bytes.
    // Only while a reply streams and the conversation overflows: content that fits never
    // shifts, and a finished conversation settles at the bottom.
    let streaming = app
        .conversation
        .messages
        .last()
        .is_some_and(|m| m.status == MessageStatus::InProgress);
    let step = (height * 5 / 6).max(1);
    let at_bottom = app.conversation.scroll == 0 && !following;
    if let Some(len) = newest_len.filter(|_| streaming && at_bottom && total_lines > height) {
        tail.extend(std::iter::repeat_n(
            Line::raw(""),
            (step - len % step) % step,
        ));
    }
    let max_scroll = tail.len().saturating_sub(height.min(tail.len()));
    let scroll = match selected_from_end.filter(|_| following) {
        // The selection's top line a third of the way down the pane.
        Some(top) => (top + height / 3).saturating_sub(height).min(max_scroll),
        None => app.conversation.scroll.min(max_scroll),
    };
    ui.scroll_used = scroll;
    let end = tail.len() - scroll;
    let start = end.saturating_sub(height);
    let needle = app.conversation.search.to_ascii_lowercase();
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
    use crate::app::Pane;
    use crate::fixtures::{message, workspace};
    use crate::keymap::Action;
    use crate::screen::testing::render_pane;
    use agentdeck_model::Role;
    use agentdeck_model::{Content, MessageStatus};

    #[test]
    fn a_streaming_reply_keeps_its_finished_lines_laid_out() {
        // Laying out in two parts gives the same lines as in one.
        let text = "# Head\n\n- a\n- b\n\n| x | y |\n|---|---|\n| 1 | 2 |\n\n```rust\nfn a() {}\n\nfn b() {}\n```\n\nlast words so";
        let mut app = workspace();
        let mut streaming = app.conversation.messages[1].clone();
        streaming.content = Some(Content::Text(text.into()));
        streaming.status = MessageStatus::InProgress;
        app.conversation.messages[1] = streaming;
        let live = render_pane(&app, Pane::Conversation, 60, 30);
        app.conversation.messages[1].status = MessageStatus::Completed;
        let done = render_pane(&app, Pane::Conversation, 60, 30);
        let body = |screen: &str| -> Vec<String> {
            screen
                .lines()
                .filter(|l| !l.contains("▌triage"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(body(&live), body(&done));

        // Grown word by word with one UI (kept paragraphs extended in place), the last
        // frame is the same as the finished message's.
        let mut ui = crate::ui::Ui::new(
            crate::keymap::Keymap::default_keymap(),
            crate::theme::Theme::default_theme(),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(60, 30)).unwrap();
        app.conversation.messages[1].status = MessageStatus::InProgress;
        let mut grown = String::new();
        let id = app.conversation.messages[1].id.clone();
        app.conversation.replies.remove(&id);
        for piece in text.split_inclusive(' ') {
            grown.push_str(piece);
            app.conversation.messages[1].content = Some(Content::Text(grown.clone()));
            app.conversation
                .replies
                .entry(id.clone())
                .or_default()
                .push(piece);
            terminal
                .draw(|f| super::super::draw(f, &app, &mut ui, Pane::Conversation, f.area()))
                .unwrap();
        }
        assert_eq!(body(&format!("{}", terminal.backend())), body(&live));
        let kept = ui.streaming.get(&id).expect("the finished lines were kept");
        assert_eq!(kept.prefix_len, app.conversation.replies[&id].settled());
    }

    #[test]
    fn relative_times_tick_in_cached_layouts() {
        use crate::keymap::Keymap;
        use crate::theme::Theme;
        use crate::ui::Ui;
        use ratatui::Terminal;
        use ratatui::backend::TestBackend;
        let mut app = workspace();
        // One Ui across frames: finished messages come from its layout cache.
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut frame_at = |app: &crate::app::App| {
            let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
            terminal
                .draw(|frame| super::draw(frame, app, &mut ui, frame.area()))
                .unwrap();
            format!("{}", terminal.backend())
        };
        let first = frame_at(&app);
        app.now += 3 * 3600;
        let later = frame_at(&app);
        assert_ne!(first, later, "the headers' ages moved on");
        assert!(
            later.contains("user · 3h"),
            "a cached message ages too: {later}"
        );
        insta::assert_snapshot!("conversation_three_hours_later", later);
    }

    #[test]
    fn attached_files_show_with_name_type_and_size_or_pixels() {
        let mut app = workspace();
        let mut asked = message("msg_files", Role::User, "What is in these?");
        asked.files = vec![
            agentdeck_model::FileSummary {
                file_id: "file_1".into(),
                filename: "receipt.png".into(),
                content_type: "image/png".into(),
                bytes: 48_213,
                width: Some(1280),
                height: Some(720),
            },
            agentdeck_model::FileSummary {
                file_id: "file_2".into(),
                filename: "contract\u{1b}[2J.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: 1_234_567,
                width: None,
                height: None,
            },
        ];
        app.conversation.messages = vec![asked];
        let screen = render_pane(&app, Pane::Conversation, 80, 8);
        assert!(
            screen.contains("image receipt.png · 1280×720 · image/png"),
            "{screen}"
        );
        assert!(!screen.contains('\u{1b}'));
        insta::assert_snapshot!("conversation_attached_files", screen);
    }

    #[test]
    fn conversation_pane_with_markdown_reasoning_and_tools() {
        let app = workspace();
        insta::assert_snapshot!(render_pane(&app, Pane::Conversation, 80, 24));
    }

    /// A reply streamed in pieces that end in and around a loose list and an empty
    /// block draws as the whole would: no gap left behind, the list kept together.
    #[test]
    fn a_streamed_loose_list_draws_as_the_whole_reply_would() {
        let mut app = workspace();
        app.focus = Pane::Conversation;
        for piece in [
            "\n\nNext steps:\n\n- refund charge",
            " 2\n",
            "\n- keep charge 1\n\n",
            "> \n\nDone",
            ".",
        ] {
            app.apply(crate::app::AppEvent::Server(
                agentdeck_client::ServerEvent {
                    id: None,
                    payload: agentdeck_model::EventPayload::MessageDelta(
                        agentdeck_model::event::TextDelta {
                            thread_id: "thread_0456".into(),
                            message_id: "msg_2".into(),
                            delta: piece.into(),
                        },
                    ),
                },
            ));
        }
        insta::assert_snapshot!(
            "conversation_streamed_loose_list",
            render_pane(&app, Pane::Conversation, 80, 40)
        );
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
            vec![crate::app::Effect::Copy("tracking PN-778120".into())]
        );
        app.act(Action::PrevItem);
        assert_eq!(
            app.act(Action::Copy),
            vec![crate::app::Effect::Copy(
                app.conversation.messages[1].text()
            )]
        );
        app.act(Action::PrevItem);
        app.act(Action::PrevItem);
        assert_eq!(
            app.conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_1"),
            "stops at the oldest"
        );
        app.act(Action::NextItem);
        app.act(Action::NextItem);
        app.act(Action::NextItem);
        assert_eq!(
            app.conversation.selection, None,
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
        app.conversation.messages = many;
        app.set_search("ord-77".into());
        assert_eq!(
            app.conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_n20")
        );
        let screen = render_pane(&app, Pane::Conversation, 70, 12);
        assert!(screen.contains("the refund of ORD-77"), "{screen}");
        insta::assert_snapshot!("conversation_search", screen);
    }
}
