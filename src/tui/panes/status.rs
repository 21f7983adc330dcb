//! The status bar (connection, origin, tokens per minute against the limit, cost,
//! running and waiting threads, the focused pane's key hints), the palette and search
//! lines, and the help overlay generated from the keymap.

use super::{clip, compact};
use crate::text::sanitize;
use crate::tui::app::{App, Connection, Mode};
use crate::tui::keymap::{Action, Context};
use crate::tui::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let connection = match &app.connection {
        Connection::Connecting => "○ connecting".to_string(),
        Connection::Connected => "● connected".to_string(),
        Connection::Reconnecting(why) => format!("◌ reconnecting ({})", clip(why, 30)),
    };
    // Several runtimes: each one's own state, by name.
    let connection = if app.is_multi_runtime() {
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
        connection
    };
    let (running, waiting, queued) = app.counts();
    // Shown only when there are some: most projects never queue.
    let queued = if queued > 0 {
        format!(" · {queued} queued")
    } else {
        String::new()
    };
    let context = app.focus.context();
    let mut hints: Vec<String> = Vec::new();
    for action in [
        Action::Compose,
        Action::NewThread,
        Action::Approve,
        Action::Deny,
        Action::EditTool,
        Action::Search,
        Action::SearchNext,
        Action::PrevItem,
        Action::ToggleReasoning,
        Action::Copy,
        Action::Mark,
        Action::Sort,
        Action::Filter,
        Action::Help,
        Action::Quit,
    ] {
        if let Some(key) = ui.keymap.key_for(context, action) {
            hints.push(format!("{key} {}", action.hint()));
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
    // What needs the operator comes first, where the eye lands.
    let attention = match app.attention_count() {
        0 => String::new(),
        n => format!(
            " ⚑ {n} need{} you ({}) │",
            if n == 1 { "s" } else { "" },
            ui.keymap
                .key_for(crate::tui::keymap::Context::Global, Action::NextAttention)
                .unwrap_or_else(|| "!".into())
        ),
    };
    let mut text = format!(
        "{attention} {connection} {}{limits} │ {running} running · {waiting} waiting{queued} │ {}",
        if app.is_multi_runtime() {
            ""
        } else {
            app.origin.as_str()
        },
        hints.join(" · ")
    );
    if let Mode::Palette(line) = &app.mode {
        text = format!(
            ":{}█   (theme NAME · demo · cost · filter TEXT · search WORDS · reassign NAME · attach PATH · detach · help · quit; Enter runs, Esc leaves)",
            sanitize(line)
        );
    }
    // The wall and the trace take the whole screen: their own keys, from the keymap.
    let view = |context, name: &str, keys: &[(&[Action], &str)]| {
        let hints: Vec<String> = keys
            .iter()
            .map(|(actions, what)| {
                let keys: Vec<String> = actions
                    .iter()
                    .map(|a| ui.keymap.key_for(context, *a).unwrap_or_default())
                    .collect();
                format!("{} {what}", keys.join("/"))
            })
            .collect();
        format!(
            "{attention} {name} │ {running} running · {waiting} waiting{queued} │ {}",
            hints.join(" · ")
        )
    };
    if app.mode == Mode::Wall {
        text = view(
            Context::Wall,
            "wall",
            &[
                (&[Action::Open], "open"),
                (&[Action::NextItem, Action::PrevItem], "next/previous"),
                (&[Action::Leave], "leave"),
            ],
        );
    }
    if app.mode == Mode::Trace {
        text = view(
            Context::Trace,
            "trace",
            &[
                (&[Action::StepBack, Action::StepForward], "step"),
                (&[Action::Play], "play"),
                (&[Action::Speed], "1×/4×"),
                (&[Action::Open], "open"),
                (&[Action::Leave], "leave"),
            ],
        );
    }
    if app.mode == Mode::Search {
        text = format!(
            " search: {}█   (Enter keeps it: n older, N newer; Esc leaves)",
            sanitize(&app.search)
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

pub fn draw_help(frame: &mut Frame, ui: &Ui, area: Rect) {
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
    overlay(frame, ui, area, (70, 30), "Help", lines);
}

/// The `:cost` table: each assistant's threads and cost, most first, and the total.
pub fn draw_costs(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let (rows, total) = &app.costs;
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
            "{:<name_width$} {:>9} {:>12.4}",
            clip(&row.assistant, name_width),
            row.threads,
            row.cost
        )));
    }
    if rows.is_empty() {
        lines.push(Line::styled("No assistants yet.", ui.theme.fg("dim")));
    }
    lines.push(Line::styled(
        format!("{:<name_width$} {:>9} {:>12.4}", "total", "", total),
        ui.theme.fg("title"),
    ));
    lines.push(Line::styled("any key closes this", ui.theme.fg("dim")));
    // The lines and the borders.
    let height = lines.len() as u16 + 2;
    overlay(frame, ui, area, (width, height), "Cost", lines);
}

#[cfg(test)]
mod tests {
    use crate::tui::app::{Mode, Pane};
    use crate::tui::fixtures::workspace;
    use crate::tui::keymap::Keymap;
    use crate::tui::theme::Theme;
    use crate::tui::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn status_line(app: &crate::tui::app::App, width: u16) -> String {
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
        app.attention = vec![
            ("thread_a".into(), "waiting for you".into()),
            ("thread_b".into(), "failed".into()),
        ];
        let line = status_line(&app, 120);
        assert!(line.contains("\" ⚑ 2 need you (!) │ ● connected"), "{line}");
        insta::assert_snapshot!("status_attention", line);
    }

    #[test]
    fn status_bar_hints_follow_the_focused_pane() {
        let mut app = workspace();
        insta::assert_snapshot!("status_threads", status_line(&app, 200));
        app.focus = Pane::Conversation;
        insta::assert_snapshot!("status_conversation", status_line(&app, 200));
        app.mode = Mode::Search;
        app.search = "refund".into();
        insta::assert_snapshot!("status_search", status_line(&app, 120));
    }

    #[test]
    fn the_cost_table_lists_assistants_most_first_and_any_key_closes_it() {
        use crate::tui::app::{AppEvent, CostRow};
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
