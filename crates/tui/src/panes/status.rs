//! The status bar (connection, origin, tokens per minute against the limit, cost,
//! running and waiting threads, the focused pane's key hints), the palette and search
//! lines, and the help overlay generated from the keymap.

use super::{clip, compact};
use crate::app::{App, Connection, CostTable, Mode};
use crate::keymap::{Action, Context};
use crate::ui::Ui;
use agentdeck_model::text::sanitize;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// The keys worth a hint in each pane, most important first (as many as fit are shown,
/// then "? help", which always is).
fn pane_hints(context: Context) -> &'static [Action] {
    match context {
        Context::Threads => &[
            Action::Compose,
            Action::NewThread,
            Action::Filter,
            Action::NextAttention,
            Action::Mark,
            Action::CloseThread,
            Action::Sort,
            Action::Fold,
            Action::Trace,
            Action::Wall,
            Action::Quit,
        ],
        Context::Conversation => &[
            Action::Compose,
            Action::Search,
            Action::PrevItem,
            Action::Copy,
            Action::ToggleReasoning,
            Action::SearchNext,
            Action::Trace,
            Action::Quit,
        ],
        Context::Tools => &[
            Action::Approve,
            Action::Deny,
            Action::Open,
            Action::Mark,
            Action::EditTool,
            Action::NextAttention,
            Action::Quit,
        ],
        Context::Routing => &[Action::Open, Action::Down, Action::Zoom, Action::Quit],
        _ => &[Action::Compose, Action::Zoom, Action::Quit],
    }
}

/// Joins parts with a separator, keeping whole parts while they fit in `room` characters.
fn fitting(parts: &[String], separator: &str, room: usize) -> String {
    let mut out = String::new();
    for part in parts {
        let extra = if out.is_empty() {
            part.chars().count()
        } else {
            separator.chars().count() + part.chars().count()
        };
        if out.chars().count() + extra > room {
            break;
        }
        if !out.is_empty() {
            out.push_str(separator);
        }
        out.push_str(part);
    }
    out
}

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let width = area.width as usize;
    let text = status_text(app, ui, width);
    frame.render_widget(
        Paragraph::new(clip(&text, width)).style(ui.theme.status()),
        area,
    );
}

/// The status bar's text at `width` columns. What needs the operator and "? help" always
/// show; then, as room allows: the connection, the focused pane's keys (most important
/// first), the running and waiting counts, tokens and cost, and where the runtime is.
pub fn status_text(app: &App, ui: &Ui, width: usize) -> String {
    let help_key = ui
        .keymap
        .key_for(Context::Global, Action::Help)
        .unwrap_or_else(|| "?".into());
    let help = format!("{help_key} help");
    if let Some(line) = typing_line(app, width) {
        return line;
    }
    let connection = connection_part(app);
    let counts = counts_part(app);
    let limits = app.limits.as_ref().map_or(String::new(), |l| {
        format!(
            "tok/min {}/{} · {}",
            compact(l.tokens_used_last_minute),
            compact(l.tokens_per_minute),
            usd(l.estimated_cost)
        )
    });
    let attention = attention_part(app, ui);
    let (name, context_hints) = mode_hints(app);
    let hints: Vec<String> = context_hints
        .iter()
        .filter_map(|(context, action, what)| {
            ui.keymap
                .key_for(*context, *action)
                .map(|key| format!("{key} {what}"))
        })
        .collect();
    let notice = app.notice.as_deref().map(|n| clip(n, 60));
    // The parts that always show, and the room they leave.
    let mut fixed: Vec<String> = Vec::new();
    if let Some(notice) = &notice {
        fixed.push(notice.clone());
    }
    if !attention.is_empty() {
        fixed.push(attention);
    }
    if let Some(name) = name {
        fixed.push(name.to_string());
    }
    let used = |parts: &[String]| -> usize {
        parts.iter().map(|p| p.chars().count() + 3).sum::<usize>() + 1
    };
    let mut room = width.saturating_sub(used(&fixed) + help.chars().count());
    // What else shows, most important first: the connection (at least its mark), the
    // pane's first two keys, the counts, the limits, the origin, the pane's other keys.
    let take = |part: &str, room: &mut usize| -> bool {
        let len = part.chars().count() + 3;
        if len <= *room {
            *room -= len;
            true
        } else {
            false
        }
    };
    let connection = if take(&connection, &mut room) {
        connection
    } else if take("●", &mut room) {
        connection.chars().take(1).collect()
    } else {
        String::new()
    };
    let first_keys = fitting(&hints[..hints.len().min(2)], " · ", room.saturating_sub(3));
    if !first_keys.is_empty() {
        room = room.saturating_sub(first_keys.chars().count() + 3);
    }
    let counts = if take(&counts, &mut room) {
        counts
    } else {
        String::new()
    };
    let limits = if !limits.is_empty() && take(&limits, &mut room) {
        limits
    } else {
        String::new()
    };
    let origin = if app.is_multi_runtime() || !take(&app.origin, &mut room) {
        String::new()
    } else {
        app.origin.clone()
    };
    let more_keys = if first_keys.is_empty() || hints.len() <= 2 {
        String::new()
    } else {
        fitting(&hints[2..], " · ", room.saturating_sub(3))
    };
    let mut parts = fixed;
    for part in [connection, origin, limits, counts] {
        if !part.is_empty() {
            parts.push(part);
        }
    }
    let mut keys = first_keys;
    if !more_keys.is_empty() {
        keys.push_str(" · ");
        keys.push_str(&more_keys);
    }
    if keys.is_empty() {
        keys = help;
    } else {
        keys.push_str(" · ");
        keys.push_str(&help);
    }
    parts.push(keys);
    format!(" {}", parts.join(" │ "))
}

/// Questions, and fields being typed, take the bar whole.
fn typing_line(app: &App, width: usize) -> Option<String> {
    if let Some(question) = app.confirm_question() {
        return Some(format!(" {question}"));
    }
    match &app.mode {
        Mode::Palette(line) => Some(palette_line(app, line, width)),
        Mode::Search => Some(format!(
            " search: {}█   (Enter keeps it: n older, N newer; Esc leaves)",
            sanitize(&app.conversation.search)
        )),
        Mode::Filter => {
            let typed = sanitize(&app.list.filter_text);
            // The end of a long filter shows: that is where the typing is.
            let room = width.saturating_sub(12);
            let count = typed.chars().count();
            let shown: String = typed.chars().skip(count.saturating_sub(room)).collect();
            Some(format!(
                " filter: {shown}█   (status:waiting|failed|running… assistant:NAME priority:high words; Enter keeps it, Esc leaves, ctrl-u clears)"
            ))
        }
        _ => None,
    }
}

/// Each runtime's connection (or the one runtime's, in words).
fn connection_part(app: &App) -> String {
    if app.is_multi_runtime() {
        app.runtimes
            .iter()
            .map(|r| match &r.connection {
                Connection::Connecting => format!("○ {}", clip(&r.name, 16)),
                Connection::Connected => format!("● {}", clip(&r.name, 16)),
                Connection::Reconnecting(why) => {
                    format!("◌ {} ({})", clip(&r.name, 16), clip(why, 24))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        match &app.connection {
            Connection::Connecting => "○ connecting".to_string(),
            Connection::Connected => "● connected".to_string(),
            Connection::Reconnecting(why) => format!("◌ reconnecting ({})", clip(why, 30)),
        }
    }
}

fn counts_part(app: &App) -> String {
    let (running, waiting, queued) = app.counts();
    // Shown only when there are some: most projects never queue.
    let queued = if queued > 0 {
        format!(" · {queued} queued")
    } else {
        String::new()
    };
    format!("{running} running · {waiting} waiting{queued}")
}

/// What needs the operator, with the key that goes there; empty when nothing does.
fn attention_part(app: &App, ui: &Ui) -> String {
    match app.attention_count() {
        0 => String::new(),
        n => format!(
            "⚑ {n} need{} you ({})",
            if n == 1 { "s" } else { "" },
            ui.keymap
                .key_for(Context::Global, Action::NextAttention)
                .unwrap_or_else(|| "!".into())
        ),
    }
}

/// A key hint: where the key is bound, what it does, and the word shown for it.
type Hint = (Context, Action, &'static str);

/// The name of a full-screen mode, if one is on, and the keys worth a hint in it.
fn mode_hints(app: &App) -> (Option<&'static str>, Vec<Hint>) {
    match app.mode {
        Mode::Wall => (
            Some("wall"),
            vec![
                (Context::Wall, Action::Open, "open"),
                (Context::Wall, Action::Leave, "leave"),
                (Context::Wall, Action::NextItem, "next"),
                (Context::Wall, Action::PrevItem, "previous"),
            ],
        ),
        Mode::Trace => (
            Some("trace"),
            vec![
                (Context::Trace, Action::Play, "play"),
                (Context::Trace, Action::StepForward, "step"),
                (Context::Trace, Action::StepBack, "step back"),
                (Context::Trace, Action::Leave, "leave"),
                (Context::Trace, Action::Open, "open"),
                (Context::Trace, Action::Speed, "1×/4×"),
            ],
        ),
        Mode::CallDetail(_) => {
            let answer = app
                .detail_call()
                .is_some_and(|c| c.call.status == agentdeck_model::ToolCallStatus::RequiresAction);
            let keys = if answer {
                vec![
                    (Context::Tools, Action::Approve, "answer"),
                    (Context::Tools, Action::EditTool, "answer in $EDITOR"),
                    (Context::Tools, Action::Down, "scroll"),
                ]
            } else {
                vec![
                    (Context::Tools, Action::Approve, "approve"),
                    (Context::Tools, Action::Deny, "deny"),
                    (Context::Tools, Action::EditTool, "edit"),
                    (Context::Tools, Action::Down, "scroll"),
                ]
            };
            (Some("tool call"), keys)
        }
        _ => {
            let context = app.focus.context();
            (
                None,
                pane_hints(context)
                    .iter()
                    .map(|a| (context, *a, a.hint()))
                    .collect(),
            )
        }
    }
}

/// The palette's line: what is typed (its end, if long), then what the commands are.
fn palette_line(app: &App, line: &str, width: usize) -> String {
    let typed = sanitize(line);
    let room = width.saturating_sub(4);
    let count = typed.chars().count();
    let shown: String = typed.chars().skip(count.saturating_sub(room)).collect();
    let completions = app.palette_completions(line);
    let help = if completions.len() > 1 {
        format!("Tab: {}", completions.join(" "))
    } else {
        "theme NAME · demo · cost · filter TEXT · search WORDS · reassign NAME · attach PATH · detach · help · quit; Tab completes, ↑ history, Enter runs, Esc leaves".to_string()
    };
    format!(":{shown}█   ({help})")
}

/// Dollars for people: four decimals, or two significant figures below a cent's hundredth
/// (so a small cost never reads 0.0000 beside a total that is not).
pub fn usd(amount: f64) -> String {
    if amount == 0.0 {
        return "$0".into();
    }
    if amount.abs() >= 0.01 {
        return format!("${amount:.4}");
    }
    // Enough decimals for two significant digits.
    let digits = (-amount.abs().log10()).floor() as usize + 2;
    let text = format!("{amount:.digits$}", digits = digits.min(12));
    format!("${}", text.trim_end_matches('0'))
}

/// A box of `lines` in the middle of `area`, at most `width` x `height`, over the panes.
pub(super) fn overlay(
    frame: &mut Frame,
    ui: &Ui,
    area: Rect,
    size: (u16, u16),
    title: &str,
    lines: Vec<Line>,
) {
    let (width, height) = (area.width.min(size.0), area.height.min(size.1));
    let rect = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(ui.theme.border(true))
                .title(format!(" {title} ")),
        ),
        rect,
    );
}

/// The help view's lines: each context's keys from the keymap (several keys for one
/// action on one line), the line-editing keys and the filter's terms.
pub fn help_lines(ui: &Ui) -> Vec<Line<'static>> {
    let sections = [
        (Context::Global, "Everywhere (outside the composer)"),
        (Context::Threads, "1 Threads"),
        (Context::Conversation, "2 Conversation"),
        (Context::Tools, "3 Tools: the approvals inbox"),
        (Context::Routing, "4 Routing"),
        (Context::Memory, "5 Memory"),
        (Context::Composer, "Composer"),
        (Context::Wall, "Wall (w)"),
        (Context::Trace, "Trace and replay (t)"),
    ];
    let mut lines = vec![Line::styled(
        "Keys, from the keymap. A pane's keys work when it has the focus; the others everywhere.",
        ui.theme.fg("dim"),
    )];
    for (context, title) in sections {
        // Keys of one action together, in the keymap's order.
        let mut actions: Vec<(Action, Vec<String>)> = Vec::new();
        for (c, key, action) in ui.keymap.bindings() {
            if c != context {
                continue;
            }
            match actions.iter_mut().find(|(a, _)| *a == action) {
                Some((_, keys)) => keys.push(key),
                None => actions.push((action, vec![key])),
            }
        }
        if actions.is_empty() {
            continue;
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(title.to_string(), ui.theme.fg("title")));
        for (action, keys) in actions {
            lines.push(Line::raw(format!(
                "  {:<14} {}",
                keys.join(" "),
                action.describe()
            )));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Typing a line (filter, palette, searches)",
        ui.theme.fg("title"),
    ));
    for (keys, what) in [
        (
            "← → ctrl-b ctrl-f",
            "move by a character (alt-b alt-f: by a word)",
        ),
        ("Home End ctrl-a ctrl-e", "to the start, to the end"),
        ("ctrl-u ctrl-k", "delete to the start, to the end"),
        ("ctrl-w alt-Bksp", "delete the word before the cursor"),
        ("Tab ↑ ↓", "palette: complete, and the commands run before"),
        ("Enter Esc", "keep, leave"),
    ] {
        lines.push(Line::raw(format!("  {keys:<22} {what}")));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Filter (/)", ui.theme.fg("title")));
    for (term, what) in [
        ("status:waiting", "waiting for you (also requires_action)"),
        (
            "status:failed",
            "the last run failed (also running, queued, active, closed)",
        ),
        ("assistant:NAME", "by the assistant's name or id"),
        ("runtime:NAME", "with several runtimes, by runtime"),
        ("priority:high", "any metadata key:value"),
        (
            "words",
            "in titles, ids, names, metadata and (searched) messages",
        ),
    ] {
        lines.push(Line::raw(format!("  {term:<16} {what}")));
    }
    lines
}

pub fn draw_help(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let lines = help_lines(ui);
    let width = area.width.min(100);
    let height = area.height.saturating_sub(2).max(3);
    // Inside the borders, with the last line for the keys.
    let body = height.saturating_sub(3) as usize;
    let max_scroll = lines.len().saturating_sub(body);
    let scroll = app.help_scroll.min(max_scroll);
    let total = lines.len();
    let mut shown: Vec<Line> = lines.into_iter().skip(scroll).take(body).collect();
    let key = |action| {
        ui.keymap
            .key_for(Context::Global, action)
            .unwrap_or_default()
    };
    shown.push(Line::styled(
        format!(
            "{}/{} scroll · {}/{} page · lines {}-{} of {total} · Esc closes",
            key(Action::Down),
            key(Action::Up),
            key(Action::PageDown),
            key(Action::PageUp),
            scroll + 1,
            (scroll + body).min(total)
        ),
        ui.theme.fg("dim"),
    ));
    overlay(frame, ui, area, (width, height), "Help", shown);
}

/// The `:cost` table: each assistant's threads and cost, most first, and the total.
pub fn draw_costs(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let CostTable { rows, total } = &app.costs;
    let width = area.width.min(60);
    let name_width = (width as usize).saturating_sub(2 + 10 + 12 + 2).max(4);
    let mut lines = vec![Line::styled(
        format!(
            "{:<name_width$} {:>9} {:>12}",
            "assistant", "threads", "USD"
        ),
        ui.theme.fg("title"),
    )];
    for row in rows {
        lines.push(Line::raw(format!(
            "{:<name_width$} {:>9} {:>12}",
            clip(&row.assistant, name_width),
            row.threads,
            usd(row.cost)
        )));
    }
    if rows.is_empty() {
        lines.push(Line::styled("No assistants yet.", ui.theme.fg("dim")));
    }
    lines.push(Line::styled(
        format!("{:<name_width$} {:>9} {:>12}", "total", "", usd(*total)),
        ui.theme.fg("title"),
    ));
    lines.push(Line::styled("any key closes this", ui.theme.fg("dim")));
    // The lines and the borders.
    let height = lines.len() as u16 + 2;
    overlay(frame, ui, area, (width, height), "Cost", lines);
}

#[cfg(test)]
mod tests {
    #[test]
    fn dollars_keep_two_significant_figures_below_a_cent() {
        assert_eq!(super::usd(0.0), "$0");
        assert_eq!(super::usd(1.25), "$1.2500");
        assert_eq!(super::usd(0.000046), "$0.000046");
        assert_eq!(super::usd(0.0001), "$0.0001");
        assert_eq!(super::usd(0.00456), "$0.0046");
        assert_ne!(super::usd(0.00004), "$0.0000");
    }

    use crate::app::{Mode, Pane};
    use crate::fixtures::workspace;
    use crate::keymap::Keymap;
    use crate::theme::Theme;
    use crate::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn status_line(app: &crate::app::App, width: u16) -> String {
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(width, 1)).unwrap();
        terminal
            .draw(|frame| super::draw(frame, app, &ui, frame.area()))
            .unwrap();
        let _ = &mut ui;
        format!("{}", terminal.backend())
    }

    #[test]
    fn threads_that_need_the_operator_lead_the_status_bar() {
        let mut app = workspace();
        // The fixture's desk has one thread waiting; one more whose run failed.
        let mut failed = app.list.threads[2].clone();
        failed.last_reply_status = Some(agentdeck_model::MessageStatus::Failed);
        app.apply(crate::app::AppEvent::Server(
            agentdeck_client::ServerEvent {
                id: Some(1),
                payload: agentdeck_model::EventPayload::thread_updated(&failed),
            },
        ));
        let line = status_line(&app, 120);
        assert!(line.contains("\" ⚑ 2 need you (!) │ ● connected"), "{line}");
        insta::assert_snapshot!("status_attention", line);
    }

    #[test]
    fn at_80_columns_the_bar_keeps_help_and_the_panes_first_keys() {
        let mut app = workspace();
        for (pane, keys) in [
            (Pane::Threads, ["i write", "n new", "/ filter"]),
            (Pane::Tools, ["a approve", "d deny", "enter open"]),
            (Pane::Conversation, ["i write", "/ search", "[ select"]),
        ] {
            app.focus = pane;
            let line = status_line(&app, 80);
            assert!(line.contains("? help"), "{line}");
            for key in keys {
                assert!(
                    line.contains(key),
                    "{pane:?} at 80: {key:?} missing from {line}"
                );
            }
            assert!(
                !line.contains("http://"),
                "the origin gives way first: {line}"
            );
        }
        let line = status_line(&app, 200);
        assert!(line.contains("http://127.0.0.1:7878"), "{line}");
    }

    #[test]
    fn status_bar_hints_follow_the_focused_pane() {
        let mut app = workspace();
        insta::assert_snapshot!("status_threads", status_line(&app, 200));
        app.focus = Pane::Conversation;
        insta::assert_snapshot!("status_conversation", status_line(&app, 200));
        app.mode = Mode::Search;
        app.conversation.search = "refund".into();
        insta::assert_snapshot!("status_search", status_line(&app, 120));
    }

    #[test]
    fn the_cost_table_lists_assistants_most_first_and_any_key_closes_it() {
        use crate::app::{AppEvent, CostRow};
        let mut app = workspace();
        app.apply(AppEvent::Costs {
            rows: vec![
                CostRow {
                    assistant: "triage".into(),
                    threads: 12,
                    cost: 1.25,
                },
                CostRow {
                    assistant: "legal-review \u{1b}[2J".into(),
                    threads: 1,
                    cost: 0.0031,
                },
            ],
            total: 1.2531,
        });
        assert_eq!(app.mode, Mode::Costs);
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(80, 16)).unwrap();
        terminal
            .draw(|frame| super::draw_costs(frame, &app, &ui, frame.area()))
            .unwrap();
        let _ = &mut ui;
        let screen = format!("{}", terminal.backend());
        assert!(!screen.contains('\u{1b}'));
        insta::assert_snapshot!("cost_table", screen);
    }
}
