//! Keys and mouse events, translated from the terminal into the app's actions.

use super::app::{App, Effect, Mode, Pane};
use super::keymap::{Action, Context};
use super::ui::Ui;
use crossterm::event::{KeyCode, MouseButton, MouseEvent, MouseEventKind};

/// A key typed into a one-line field (the filter, the search).
pub(super) enum LineEdit {
    Leave,
    Changed(String),
    Ignored,
}

pub(super) fn edit_line(key: &crossterm::event::KeyEvent, text: &str) -> LineEdit {
    let mut text = text.to_string();
    match key.code {
        KeyCode::Esc | KeyCode::Enter => return LineEdit::Leave,
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Char(c) => text.push(c),
        _ => return LineEdit::Ignored,
    }
    LineEdit::Changed(text)
}

pub(super) fn handle_key(
    app: &mut App,
    ui: &mut Ui,
    key: crossterm::event::KeyEvent,
) -> Vec<Effect> {
    match app.mode.clone() {
        Mode::Compose(_) => match super::terminal::chord(&key)
            .and_then(|c| ui.keymap.action(Context::Composer, c))
        {
            Some(Action::Send) => {
                let text = ui.composer.lines().join("\n");
                ui.composer = ratatui_textarea::TextArea::default();
                app.submit(text)
            }
            Some(Action::Leave) => app.act(Action::Leave),
            Some(Action::Newline) => {
                ui.composer.insert_newline();
                Vec::new()
            }
            _ => {
                ui.composer.input(key);
                Vec::new()
            }
        },
        Mode::Filter => match edit_line(&key, &app.filter_text) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Changed(text) => app.set_filter(text),
            LineEdit::Ignored => Vec::new(),
        },
        Mode::Search => match edit_line(&key, &app.search) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Changed(text) => {
                app.set_search(text);
                Vec::new()
            }
            LineEdit::Ignored => Vec::new(),
        },
        Mode::Trace => {
            match super::terminal::chord(&key).and_then(|c| ui.keymap.action(Context::Trace, c)) {
                Some(action) => app.trace_act(action),
                None => Vec::new(),
            }
        }
        Mode::Wall => {
            match super::terminal::chord(&key).and_then(|c| ui.keymap.action(Context::Wall, c)) {
                Some(action) => app.wall_act(action),
                None => Vec::new(),
            }
        }
        Mode::GlobalSearch => match key.code {
            KeyCode::Esc => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter => app.open_hit(),
            KeyCode::Down => {
                app.step_hit(true);
                Vec::new()
            }
            KeyCode::Up => {
                app.step_hit(false);
                Vec::new()
            }
            _ => match edit_line(&key, &app.global_search.query) {
                LineEdit::Changed(text) => app.set_global_query(text),
                LineEdit::Leave | LineEdit::Ignored => Vec::new(),
            },
        },
        Mode::Help | Mode::Costs => {
            app.mode = Mode::Normal;
            Vec::new()
        }
        Mode::Palette(mut line) => match key.code {
            KeyCode::Esc => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter => app.run_command(&line),
            KeyCode::Backspace => {
                line.pop();
                app.mode = Mode::Palette(line);
                Vec::new()
            }
            KeyCode::Char(c) => {
                line.push(c);
                app.mode = Mode::Palette(line);
                Vec::new()
            }
            _ => Vec::new(),
        },
        Mode::Normal => match super::terminal::chord(&key)
            .and_then(|c| ui.keymap.action(app.focus.context(), c))
        {
            Some(action) => app.act(action),
            None => Vec::new(),
        },
    }
}

/// Mouse (when enabled): a click focuses the pane under it (and picks the thread row
/// clicked); the wheel scrolls the pane under it.
pub(super) fn handle_mouse(app: &mut App, ui: &Ui, event: MouseEvent) -> Vec<Effect> {
    if app.mode != Mode::Normal {
        return Vec::new();
    }
    let Some((pane, area)) = ui.pane_at(event.column, event.row) else {
        return Vec::new();
    };
    match event.kind {
        MouseEventKind::Down(MouseButton::Left) => {
            app.focus = pane;
            if pane == Pane::Threads {
                // Rows start inside the border; the list scrolls to keep the cursor in view.
                let height = area.height.saturating_sub(2) as usize;
                let offset = app.selected.saturating_sub(height.saturating_sub(1));
                if event.row > area.y && event.row < area.y + area.height.saturating_sub(1) {
                    let row = (event.row - area.y - 1) as usize;
                    return app.select_thread(offset + row);
                }
            }
            Vec::new()
        }
        MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
            let focus = std::mem::replace(&mut app.focus, pane);
            let action = if event.kind == MouseEventKind::ScrollUp {
                Action::Up
            } else {
                Action::Down
            };
            let effects = (0..3).flat_map(|_| app.act(action)).collect();
            if pane != Pane::Threads {
                app.focus = focus;
            }
            effects
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::workspace;
    use crate::tui::ui;
    use crossterm::event::KeyModifiers;

    #[test]
    fn clicks_focus_and_pick_threads_and_the_wheel_scrolls_the_pane_under_it() {
        let mut app = workspace();
        let mut ui = Ui::new(
            crate::tui::keymap::Keymap::default_keymap(),
            crate::tui::theme::Theme::default_theme(),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 36)).unwrap();
        terminal.draw(|f| ui::draw(f, &app, &mut ui)).unwrap();
        let at = |column, row, kind| MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        };
        // The third thread row (the border is row 0).
        let effects = handle_mouse(
            &mut app,
            &ui,
            at(5, 3, MouseEventKind::Down(MouseButton::Left)),
        );
        assert_eq!(
            app.selected_thread().map(|t| t.id.as_str()),
            Some("thread_0458")
        );
        assert!(effects.contains(&Effect::LoadMessages("thread_0458".into())));
        // A click in the conversation focuses it; the wheel over it scrolls it, and over
        // the threads moves their cursor (and the focus) there.
        handle_mouse(
            &mut app,
            &ui,
            at(80, 10, MouseEventKind::Down(MouseButton::Left)),
        );
        assert_eq!(app.focus, Pane::Conversation);
        handle_mouse(&mut app, &ui, at(80, 10, MouseEventKind::ScrollUp));
        assert_eq!(app.scroll, 3);
        handle_mouse(&mut app, &ui, at(5, 3, MouseEventKind::ScrollDown));
        assert_eq!(
            app.selected_thread().map(|t| t.id.as_str()),
            Some("thread_0459")
        );
        assert_eq!(app.focus, Pane::Threads);
    }
}
