//! Drawing: a pure function of the app state (plus the composer and a wrap cache). Every
//! piece of untrusted text goes through `text::sanitize`; finished messages are wrapped
//! once per width and only the visible tail of a conversation is laid out.

use super::app::{App, ComposeTarget, Connection, Mode, Pane, ago, short_id};
use super::keymap::{Context, Keymap};
use super::theme::Theme;
use crate::model::{Message, MessageStatus, Role, ThreadStatus, ToolCallStatus};
use crate::text::sanitize;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui_textarea::TextArea;
use std::collections::HashMap;

/// Finished messages kept wrapped; beyond this the cache starts again.
const WRAP_CACHE_LIMIT: usize = 4096;

/// UI-only state: what the app state does not need to know.
pub struct Ui {
    pub keymap: Keymap,
    pub theme: Theme,
    pub composer: TextArea<'static>,
    /// Wrapped lines of finished messages, by (message id, width).
    wrapped: HashMap<(String, u16), Vec<Line<'static>>>,
}

impl Ui {
    pub fn new(keymap: Keymap, theme: Theme) -> Ui {
        Ui {
            keymap,
            theme,
            composer: TextArea::default(),
            wrapped: HashMap::new(),
        }
    }

    /// Switches the theme; cached lines carry the old colours, so they go.
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.wrapped.clear();
    }
}

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui) {
    let area = frame.area();
    if area.width < 20 || area.height < 5 {
        frame.render_widget(Paragraph::new("agentdeck: enlarge the window"), area);
        return;
    }
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    if app.zoom {
        draw_pane(frame, app, ui, app.focus, main);
    } else {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(38), Constraint::Percentage(62)])
                .areas(main);
        let [threads, tools, routing] = Layout::vertical([
            Constraint::Percentage(50),
            Constraint::Percentage(25),
            Constraint::Percentage(25),
        ])
        .areas(left);
        let composer_height = if matches!(app.mode, Mode::Compose(_)) {
            6
        } else {
            3
        };
        let [conversation, composer] =
            Layout::vertical([Constraint::Min(3), Constraint::Length(composer_height)])
                .areas(right);
        draw_pane(frame, app, ui, Pane::Threads, threads);
        draw_pane(frame, app, ui, Pane::Tools, tools);
        draw_pane(frame, app, ui, Pane::Routing, routing);
        draw_pane(frame, app, ui, Pane::Conversation, conversation);
        draw_composer(frame, app, ui, composer);
    }
    draw_status(frame, app, ui, status);
    if app.mode == Mode::Help {
        draw_help(frame, ui, area);
    }
}

fn block<'a>(app: &App, ui: &Ui, pane: Pane, title: String) -> Block<'a> {
    let number = Pane::ALL.iter().position(|p| *p == pane).unwrap_or(0) + 1;
    Block::default()
        .borders(Borders::ALL)
        .border_style(ui.theme.border(app.focus == pane))
        .title(Span::styled(
            format!(" {number} {title} "),
            ui.theme.fg("title"),
        ))
}

fn draw_pane(frame: &mut Frame, app: &App, ui: &mut Ui, pane: Pane, area: Rect) {
    match pane {
        Pane::Threads => draw_threads(frame, app, ui, area),
        Pane::Conversation => draw_conversation(frame, app, ui, area),
        Pane::Tools => draw_tools(frame, app, ui, area),
        Pane::Routing => draw_routing(frame, app, ui, area),
    }
}

fn clip(text: &str, width: usize) -> String {
    let clean = sanitize(text).replace('\n', " ");
    let count = clean.chars().count();
    if count <= width {
        clean
    } else if width == 0 {
        String::new()
    } else {
        clean
            .chars()
            .take(width.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect()
    }
}

fn draw_threads(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let visible = app.visible_threads();
    let mut title = format!("Threads {}/{}", visible.len(), app.threads.len());
    if app.mode == Mode::Filter || !app.filter_text.is_empty() {
        title.push_str(&format!(" /{}", clip(&app.filter_text, 30)));
        if app.mode == Mode::Filter {
            title.push('█');
        }
    }
    let block = block(app, ui, Pane::Threads, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let offset = app.selected.saturating_sub(height.saturating_sub(1));
    let theme = &ui.theme;
    let lines: Vec<Line> = visible
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(index, thread)| {
            let (icon, style) = match thread.status {
                ThreadStatus::Active => ("·", theme.fg("dim")),
                ThreadStatus::Running => ("●", theme.fg("running")),
                ThreadStatus::RequiresAction => ("!", theme.fg("waiting")),
                ThreadStatus::Closed => ("✓", theme.fg("dim")),
            };
            let unread = app.unread.get(&thread.id).copied().unwrap_or(0);
            let mut chips = String::new();
            for key in ["priority", "case_id"] {
                if let Some(value) = thread.metadata.get(key) {
                    chips.push_str(&format!(" [{}]", clip(value, 16)));
                }
            }
            let right = format!(
                "{}{} {}",
                chips,
                if unread > 0 {
                    format!(" ({unread})")
                } else {
                    String::new()
                },
                ago(app.now, thread.updated_at)
            );
            let assistant = clip(&app.assistant_name(&thread.assistant_id), 12);
            let title = thread.title.clone().unwrap_or_else(|| short_id(&thread.id));
            let used = 2 + 13 + right.chars().count() + 1;
            let title = clip(&title, width.saturating_sub(used));
            let pad = width.saturating_sub(2 + 13 + title.chars().count() + right.chars().count());
            let mark = if app.marked.contains(&thread.id) {
                "*"
            } else {
                " "
            };
            let mut line = Line::from(vec![
                Span::styled(format!("{icon}{mark}"), style),
                Span::styled(format!("{assistant:<12} "), theme.fg("assistant")),
                Span::raw(title),
                Span::raw(" ".repeat(pad)),
                Span::styled(right, theme.fg("dim")),
            ]);
            if index == app.selected {
                line = line.style(if app.focus == Pane::Threads {
                    theme.selected()
                } else {
                    Style::default().add_modifier(Modifier::REVERSED)
                });
            }
            line
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new(if app.threads.is_empty() {
            "No threads yet: press n to start one."
        } else {
            "No thread matches the filter."
        })
        .style(theme.fg("dim"))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body, inner);
}

/// Splits `text` into lines of at most `width` characters, breaking at spaces when it can.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    for raw in text.split('\n') {
        let mut line = String::new();
        let mut len = 0;
        for word in raw.split_inclusive(' ') {
            let word_len = word.chars().count();
            // A trailing space may hang past the edge; only the letters have to fit.
            let visible = word.trim_end_matches(' ').chars().count();
            if len + visible > width && len > 0 {
                out.push(std::mem::take(&mut line).trim_end().to_string());
                len = 0;
            }
            if word_len > width {
                for c in word.chars() {
                    if len == width {
                        out.push(std::mem::take(&mut line));
                        len = 0;
                    }
                    line.push(c);
                    len += 1;
                }
            } else {
                line.push_str(word);
                len += word_len;
            }
        }
        out.push(line.trim_end().to_string());
    }
    out
}

/// The lines of one message at a width.
fn message_lines(app: &App, theme: &Theme, message: &Message, width: usize) -> Vec<Line<'static>> {
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
    if let Some(step) = message.reasoning.iter().rev().find(|s| !s.text.is_empty()) {
        let steps = message.reasoning.len();
        let summary = clip(&step.text, width.saturating_sub(16));
        lines.push(Line::styled(
            format!("  ▸ reasoning ({steps}): {summary}"),
            theme.fg("reasoning"),
        ));
    }
    for call in &message.tool_calls {
        let icon = call_icon(call.status);
        let head = format!(
            "  {icon} {}({})",
            clip(&call.function.name, 40),
            clip(&call.function.arguments, 60)
        );
        lines.push(Line::styled(clip(&head, width), theme.fg("tool")));
        if let Some(output) = &call.output {
            lines.push(Line::styled(
                clip(&format!("    → {output}"), width),
                theme.fg("dim"),
            ));
        }
    }
    let mut in_code = false;
    let text = sanitize(&message.text());
    let raw_lines: Vec<&str> = text.split('\n').collect();
    let mut index = 0;
    while index < raw_lines.len() {
        let raw = raw_lines[index];
        index += 1;
        if !in_code && is_table_row(raw) {
            // A markdown table: its rows, aligned in columns.
            let mut rows = vec![raw];
            while index < raw_lines.len() && is_table_row(raw_lines[index]) {
                rows.push(raw_lines[index]);
                index += 1;
            }
            for row in table_lines(&rows) {
                lines.push(Line::styled(
                    clip(&format!("  {row}"), width),
                    theme.fg("text"),
                ));
            }
            continue;
        }
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
            lines.push(Line::styled(format!("  {}", raw.trim()), theme.fg("dim")));
            continue;
        }
        let style = if in_code {
            theme.fg("code")
        } else if raw.starts_with('#') {
            Style::default().add_modifier(Modifier::BOLD)
        } else if raw.starts_with('>') {
            theme.fg("dim")
        } else {
            theme.fg("text")
        };
        let shown = if in_code {
            raw.to_string()
        } else {
            raw.replace("**", "")
        };
        for piece in wrap(&shown, width.saturating_sub(2)) {
            lines.push(Line::styled(format!("  {piece}"), style));
        }
    }
    if let Some(error) = &message.error {
        lines.push(Line::styled(
            clip(&format!("  ✗ {}", error.message), width),
            theme.fg("error"),
        ));
    }
    lines.push(Line::raw(""));
    lines
}

fn is_table_row(line: &str) -> bool {
    let line = line.trim();
    line.len() > 1 && line.starts_with('|') && line.ends_with('|')
}

/// Lays out markdown table rows in aligned columns; the `|---|` row becomes a rule.
fn table_lines(rows: &[&str]) -> Vec<String> {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().replace("**", ""))
                .collect()
        })
        .collect();
    let is_rule = |row: &Vec<String>| {
        row.iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| ch == '-' || ch == ':'))
    };
    let columns = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in cells.iter().filter(|r| !is_rule(r)) {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    cells
        .iter()
        .map(|row| {
            if is_rule(row) {
                widths
                    .iter()
                    .map(|w| "─".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("─┼─")
            } else {
                (0..columns)
                    .map(|i| {
                        let cell = row.get(i).map_or("", String::as_str);
                        format!(
                            "{cell}{}",
                            " ".repeat(widths[i].saturating_sub(cell.chars().count()))
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" │ ")
            }
        })
        .collect()
}

fn call_icon(status: ToolCallStatus) -> &'static str {
    match status {
        ToolCallStatus::InProgress => "⟳",
        ToolCallStatus::RequiresAction => "?",
        ToolCallStatus::RequiresApproval => "!",
        ToolCallStatus::Completed => "✓",
        ToolCallStatus::Failed => "✗",
        ToolCallStatus::Denied => "⊘",
        ToolCallStatus::Cancelled => "-",
    }
}

fn draw_conversation(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let title = match app.selected_thread() {
        Some(thread) => format!(
            "{} · {}",
            clip(&app.assistant_name(&thread.assistant_id), 20),
            clip(thread.title.as_deref().unwrap_or(&thread.id), 50)
        ),
        None => "Conversation".to_string(),
    };
    let block = block(app, ui, Pane::Conversation, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width;
    let height = inner.height as usize;
    // Lay out from the newest message back, only as far as the screen (and scroll) needs.
    // The cache holds finished messages of every thread looked at; a long session would
    // grow it without end, and re-wrapping what is visible is cheap.
    if ui.wrapped.len() > WRAP_CACHE_LIMIT {
        ui.wrapped.clear();
    }
    let needed = height + app.scroll;
    let mut tail: Vec<Line<'static>> = Vec::new();
    let mut newest_len = None;
    for message in app.messages.iter().rev() {
        let lines = if message.status.is_final() {
            let key = (message.id.clone(), width);
            ui.wrapped
                .entry(key)
                .or_insert_with(|| message_lines(app, &ui.theme, message, width as usize))
                .clone()
        } else {
            message_lines(app, &ui.theme, message, width as usize)
        };
        newest_len.get_or_insert(lines.len());
        tail.splice(0..0, lines);
        if tail.len() >= needed {
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
    if let Some(len) = newest_len.filter(|_| streaming && tail.len() > height) {
        tail.extend(std::iter::repeat_n(
            Line::raw(""),
            (step - len % step) % step,
        ));
    }
    let end = tail.len().saturating_sub(
        app.scroll
            .min(tail.len().saturating_sub(height.min(tail.len()))),
    );
    let start = end.saturating_sub(height);
    let shown: Vec<Line> = tail[start..end].to_vec();
    let body = if app.messages.is_empty() {
        Paragraph::new(if app.open_thread.is_some() {
            "No messages yet."
        } else {
            "Select a thread."
        })
        .style(ui.theme.fg("dim"))
    } else {
        Paragraph::new(shown)
    };
    frame.render_widget(body, inner);
}

fn draw_tools(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
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
            let text = format!(
                "{} {:<16} {}{}",
                call_icon(call.status),
                clip(&call.function.name, 16),
                clip(&call.function.arguments, 40),
                latency
            );
            let mut line = Line::styled(clip(&text, width), style);
            if index == app.tools_selected && app.focus == Pane::Tools {
                line = line.style(theme.selected());
            }
            line
        })
        .collect();
    let body = if lines.is_empty() {
        Paragraph::new("No tool calls yet.").style(theme.fg("dim"))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body, inner);
}

fn draw_routing(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
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
    let body = if lines.is_empty() {
        Paragraph::new("No routes.").style(theme.fg("dim"))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body, inner);
}

fn draw_composer(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let title = match &app.mode {
        Mode::Compose(ComposeTarget::Thread) => {
            "Message · Enter send · Alt-Enter new line · Esc leave".to_string()
        }
        Mode::Compose(ComposeTarget::NewThread(assistant)) => format!(
            "New thread with {} · Enter send · Esc leave",
            app.assistant_name(assistant)
        ),
        Mode::Compose(ComposeTarget::ToolAnswer { call_id, .. }) => {
            format!("Answer to {} · Enter send · Esc leave", short_id(call_id))
        }
        _ => format!(
            "Composer · {} to write",
            ui.keymap
                .key_for(Context::Global, super::keymap::Action::Compose)
                .unwrap_or_else(|| "i".into())
        ),
    };
    let focused = matches!(app.mode, Mode::Compose(_));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(ui.theme.border(focused))
        .title(Span::styled(format!(" {title} "), ui.theme.fg("title")));
    ui.composer.set_block(block);
    ui.composer.set_cursor_line_style(Style::default());
    ui.composer.set_cursor_style(if focused {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    });
    frame.render_widget(&ui.composer, area);
}

fn draw_status(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let connection = match &app.connection {
        Connection::Connecting => "○ connecting".to_string(),
        Connection::Connected => "● connected".to_string(),
        Connection::Reconnecting(why) => format!("◌ reconnecting ({})", clip(why, 30)),
    };
    let (running, waiting) = app.counts();
    let context = match app.focus {
        Pane::Threads => Context::Threads,
        Pane::Conversation => Context::Conversation,
        Pane::Tools => Context::Tools,
        Pane::Routing => Context::Routing,
    };
    let mut hints: Vec<String> = Vec::new();
    for action in [
        super::keymap::Action::Compose,
        super::keymap::Action::NewThread,
        super::keymap::Action::Approve,
        super::keymap::Action::Deny,
        super::keymap::Action::Filter,
        super::keymap::Action::Help,
        super::keymap::Action::Quit,
    ] {
        if let Some(key) = ui.keymap.key_for(context, action) {
            hints.push(format!("{key} {}", action.describe()));
        }
    }
    let limits = app.limits.as_ref().map_or(String::new(), |l| {
        format!(
            " │ tok/min {}/{} · ${:.4}",
            compact(l.tokens_used_last_minute),
            compact(l.tokens_per_minute),
            l.estimated_cost
        )
    });
    let mut text = format!(
        " {connection} {}{limits} │ {running} running · {waiting} waiting │ {}",
        app.origin,
        hints.join(" · ")
    );
    if let Mode::Palette(line) = &app.mode {
        text = format!(
            ":{}█   (theme NAME · demo · filter TEXT · reassign NAME · help · quit; Enter runs, Esc leaves)",
            sanitize(line)
        );
    }
    if let Some(notice) = &app.notice {
        text = format!(" {} │ {text}", clip(notice, 60));
    }
    frame.render_widget(
        Paragraph::new(clip(&text, area.width as usize)).style(ui.theme.status()),
        area,
    );
}

/// 950, 12.3k, 1.2M.
fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

fn draw_help(frame: &mut Frame, ui: &Ui, area: Rect) {
    let width = area.width.min(70);
    let height = area.height.min(30);
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let mut lines = vec![Line::styled(
        "Keys (from the keymap; any key closes this)",
        ui.theme.fg("title"),
    )];
    let mut last = None;
    for (context, key, action) in ui.keymap.bindings() {
        if last != Some(context) {
            lines.push(Line::styled(
                format!("[{}]", context.name()),
                ui.theme.fg("dim"),
            ));
            last = Some(context);
        }
        lines.push(Line::raw(format!("  {key:<12} {}", action.describe())));
    }
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(ui.theme.border(true))
                .title(" Help "),
        ),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ServerEvent;
    use crate::model::{
        Assistant, Content, FunctionCall, ReasoningStep, Thread, ToolCall, ToolCallType, Usage,
    };
    use crate::tui::app::{AppEvent, LiveCall};
    use crate::tui::keymap::Action;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use serde_json::json;
    use std::collections::BTreeMap;

    const NOW: u64 = 1_795_560_000;

    fn assistant(id: &str, name: &str, routes_to: &[&str]) -> Assistant {
        serde_json::from_value(json!({
            "id": id, "object": "assistant", "project_id": "proj_1", "name": name, "instructions": "", "model": "local",
            "tools": [], "memory": {"enabled": false, "summary_method": null}, "safety": {"strict": false, "allowed_domains": []},
            "privacy": {"mode": "off", "allowed_entities": []}, "routes_to": routes_to, "approval": "never", "created_at": NOW
        }))
        .unwrap()
    }

    fn thread(
        id: &str,
        assistant: &str,
        status: ThreadStatus,
        title: &str,
        priority: &str,
        age: u64,
    ) -> Thread {
        Thread {
            id: id.into(),
            object: "thread".into(),
            project_id: "proj_1".into(),
            assistant_id: assistant.into(),
            created_at: NOW - age,
            updated_at: NOW - age,
            status,
            metadata: BTreeMap::from([
                ("priority".to_string(), priority.to_string()),
                ("case_id".to_string(), format!("CASE-{}", &id[7..])),
            ]),
            title: Some(title.into()),
            parent_thread_id: None,
        }
    }

    fn message(id: &str, role: Role, text: &str) -> Message {
        Message {
            id: id.into(),
            object: "thread.message".into(),
            thread_id: "thread_0456".into(),
            assistant_id: (role == Role::Assistant).then(|| "asst_triage".to_string()),
            role,
            content: Some(Content::Text(text.into())),
            attachments: vec![],
            tool_calls: vec![],
            tool_call_id: None,
            reasoning: vec![],
            status: MessageStatus::Completed,
            usage: Usage::default(),
            created_at: NOW - 60,
            error: None,
        }
    }

    fn call(
        id: &str,
        name: &str,
        args: &str,
        status: ToolCallStatus,
        output: Option<&str>,
    ) -> ToolCall {
        ToolCall {
            id: id.into(),
            kind: ToolCallType::Function,
            function: FunctionCall {
                name: name.into(),
                arguments: args.into(),
            },
            target_assistant_id: None,
            thread_id: None,
            status,
            output: output.map(str::to_string),
            latency_ms: output.map(|_| 12),
            step: 0,
            approved: false,
        }
    }

    /// A support desk in mid-morning: every pane has something.
    fn workspace() -> App {
        let mut app = App::new("local http://127.0.0.1:7878".into());
        app.now = NOW;
        app.apply(AppEvent::Snapshot {
            assistants: vec![
                assistant("asst_triage", "triage", &["asst_legal", "asst_billing"]),
                assistant("asst_legal", "legal-review", &[]),
                assistant("asst_billing", "billing", &[]),
            ],
            threads: vec![
                thread(
                    "thread_0456",
                    "asst_triage",
                    ThreadStatus::Running,
                    "Order ORD-4521 never arrived, charged twice",
                    "high",
                    5,
                ),
                thread(
                    "thread_0457",
                    "asst_legal",
                    ThreadStatus::RequiresAction,
                    "Liability clauses in the Acme contract",
                    "normal",
                    120,
                ),
                thread(
                    "thread_0458",
                    "asst_billing",
                    ThreadStatus::Active,
                    "Which payment methods do you accept?",
                    "low",
                    4000,
                ),
                thread(
                    "thread_0459",
                    "asst_triage",
                    ThreadStatus::Closed,
                    "Password reset loop \u{1b}[2J",
                    "low",
                    90_000,
                ),
            ],
        });
        let mut reply = message(
            "msg_2",
            Role::Assistant,
            "Here is what I found:\n\n- **Order ORD-4521**: shipped on 2026-11-20.\n\n| Item | Refund |\n|---|---|\n| Charge 2 | **49.90 EUR** |\n\n```text\ntracking PN-778120\n```",
        );
        reply.reasoning = vec![ReasoningStep {
            text: "The user asks about an order and a refund.".into(),
        }];
        reply.tool_calls = vec![call(
            "call_a",
            "lookup_order",
            "{\"order_id\":\"ORD-4521\"}",
            ToolCallStatus::Completed,
            Some("Order ORD-4521: shipped"),
        )];
        reply.status = MessageStatus::InProgress;
        app.apply(AppEvent::Messages {
            thread_id: "thread_0456".into(),
            messages: vec![
                message(
                    "msg_1",
                    Role::User,
                    "Hi, order ORD-4521 never arrived and I was charged twice.",
                ),
                reply,
            ],
        });
        app.live_calls.push_front(LiveCall {
            thread_id: "thread_0456".into(),
            call: call(
                "call_a",
                "lookup_order",
                "{\"order_id\":\"ORD-4521\"}",
                ToolCallStatus::Completed,
                Some("ok"),
            ),
        });
        app.live_calls.push_front(LiveCall {
            thread_id: "thread_0457".into(),
            call: call(
                "call_b",
                "retrieve_clauses",
                "{\"section\":\"liability\"}",
                ToolCallStatus::RequiresAction,
                None,
            ),
        });
        app.apply(AppEvent::Server(ServerEvent {
            id: Some(1),
            event: "routing".into(),
            data: json!({"thread_id": "thread_0456", "from_assistant_id": "asst_triage", "to_assistant_id": "asst_billing", "tool_call_id": "call_r"}),
        }));
        app
    }

    fn render(app: &App, width: u16, height: u16) -> String {
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, app, &mut ui)).unwrap();
        format!("{}", terminal.backend())
    }

    #[test]
    fn workspace_with_every_pane() {
        insta::assert_snapshot!(render(&workspace(), 140, 36));
    }

    #[test]
    fn each_pane_zoomed() {
        for pane in Pane::ALL {
            let mut app = workspace();
            app.focus = pane;
            app.zoom = true;
            insta::assert_snapshot!(
                format!("zoom_{}", pane.title().to_lowercase()),
                render(&app, 100, 20)
            );
        }
    }

    #[test]
    fn filter_help_and_composer_views() {
        let mut app = workspace();
        app.act(Action::Filter);
        app.set_filter("status:requires_action legal".into());
        insta::assert_snapshot!("filter", render(&app, 120, 16));
        let mut app = workspace();
        app.act(Action::Help);
        insta::assert_snapshot!("help", render(&app, 100, 30));
        let mut app = workspace();
        app.act(Action::Compose);
        insta::assert_snapshot!("composer", render(&app, 100, 20));
        let mut app = workspace();
        app.act(Action::Palette);
        app.mode = Mode::Palette("theme li".into());
        app.limits = Some(crate::model::LimitsView {
            tokens_per_minute: 100_000,
            concurrent_threads: 500,
            estimated_cost: 0.000456,
            tokens_used_last_minute: 1234,
            running_threads: 1,
            queued_threads: 0,
            provider_rate_limits: Default::default(),
        });
        insta::assert_snapshot!("palette", render(&app, 120, 16));
        app.mode = Mode::Normal;
        insta::assert_snapshot!("status_with_limits", render(&app, 160, 12));
    }

    #[test]
    fn tiny_sizes_and_resize_storms_never_panic() {
        let app = workspace();
        for width in [1, 5, 19, 20, 21, 33, 60] {
            for height in [1, 2, 4, 5, 6, 9, 12] {
                let screen = render(&app, width, height);
                assert!(
                    !screen.contains('\u{1b}'),
                    "no escape from model output reaches the screen"
                );
            }
        }
        insta::assert_snapshot!("tiny_20x5", render(&app, 20, 5));
    }

    #[test]
    fn a_long_conversation_lays_out_only_its_tail() {
        let mut app = workspace();
        let messages: Vec<Message> = (0..10_000)
            .map(|i| {
                message(
                    &format!("msg_{i}"),
                    Role::User,
                    &format!("message number {i}"),
                )
            })
            .collect();
        app.messages = messages;
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
        assert!(
            ui.wrapped.len() < 30,
            "only visible messages were wrapped: {}",
            ui.wrapped.len()
        );
        let screen = format!("{}", terminal.backend());
        assert!(screen.contains("message number 9999"));
    }

    #[test]
    fn markdown_tables_line_up() {
        assert_eq!(
            table_lines(&["| Clause | Cap |", "|---|---|", "| Liability | **$5M** |"]),
            vec!["Clause    │ Cap", "──────────┼────", "Liability │ $5M"]
        );
    }

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_long_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\n\nb", 5), vec!["a", "", "b"]);
    }
}
