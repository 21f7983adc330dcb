//! Keys and mouse events, translated from the terminal into the app's actions.

use super::app::{App, Effect, LineInput, LineKey, Mode, Pane};
use super::keymap::{Action, Context};
use super::ui::Ui;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

/// A key typed into a one-line field (the filter, the searches, the palette).
pub(super) enum LineEdit {
    Leave,
    Edit(LineKey),
    Ignored,
}

/// The readline keys of a one-line field: the cursor by character (`←` `→`, `ctrl-b`
/// `ctrl-f`) and word (`alt-b` `alt-f`), `Home`/`ctrl-a`, `End`/`ctrl-e`; `ctrl-u`
/// deletes to the start, `ctrl-k` to the end, `ctrl-w` (or `alt-Backspace`) the word
/// before the cursor.
pub(super) fn line_key(key: &KeyEvent) -> LineEdit {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    LineEdit::Edit(match key.code {
        KeyCode::Esc | KeyCode::Enter => return LineEdit::Leave,
        KeyCode::Backspace if alt || ctrl => LineKey::KillWord,
        KeyCode::Backspace => LineKey::Backspace,
        KeyCode::Delete => LineKey::Delete,
        KeyCode::Left if alt || ctrl => LineKey::WordLeft,
        KeyCode::Right if alt || ctrl => LineKey::WordRight,
        KeyCode::Left => LineKey::Left,
        KeyCode::Right => LineKey::Right,
        KeyCode::Home => LineKey::Home,
        KeyCode::End => LineKey::End,
        KeyCode::Char(c) if ctrl => match c {
            'u' => LineKey::KillToStart,
            'k' => LineKey::KillToEnd,
            'w' => LineKey::KillWord,
            'a' => LineKey::Home,
            'e' => LineKey::End,
            'b' => LineKey::Left,
            'f' => LineKey::Right,
            'h' => LineKey::Backspace,
            'd' => LineKey::Delete,
            _ => return LineEdit::Ignored,
        },
        KeyCode::Char(c) if alt => match c {
            'b' => LineKey::WordLeft,
            'f' => LineKey::WordRight,
            _ => return LineEdit::Ignored,
        },
        KeyCode::Char(c) => LineKey::Insert(c),
        _ => return LineEdit::Ignored,
    })
}

/// Applies an edit to `text` at the app's line cursor; the new text if it changed.
fn edit_field(app: &mut App, text: &str, edit: LineKey) -> Option<String> {
    let mut line = LineInput {
        text: text.to_string(),
        cursor: app.line_cursor,
    };
    let changed = line.apply(edit);
    app.line_cursor = line.cursor;
    changed.then_some(line.text)
}

pub(super) fn handle_key(app: &mut App, ui: &mut Ui, key: KeyEvent) -> Vec<Effect> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
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
            // The shell's meaning (the textarea's own is undo).
            _ if ctrl && key.code == KeyCode::Char('u') => {
                ui.composer.delete_line_by_head();
                Vec::new()
            }
            _ => {
                ui.composer.input(key);
                Vec::new()
            }
        },
        Mode::Filter => match line_key(&key) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Edit(edit) => match edit_field(app, &app.list.filter_text.clone(), edit) {
                Some(text) => {
                    let cursor = app.line_cursor;
                    let effects = app.set_filter(text);
                    app.line_cursor = cursor;
                    effects
                }
                None => Vec::new(),
            },
            LineEdit::Ignored => Vec::new(),
        },
        Mode::Search => match line_key(&key) {
            LineEdit::Leave => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            LineEdit::Edit(edit) => {
                if let Some(text) = edit_field(app, &app.conversation.search.clone(), edit) {
                    app.set_search(text);
                }
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
            _ => match line_key(&key) {
                LineEdit::Edit(edit) => {
                    match edit_field(app, &app.global_search.query.clone(), edit) {
                        Some(text) => app.set_global_query(text),
                        None => Vec::new(),
                    }
                }
                LineEdit::Leave | LineEdit::Ignored => Vec::new(),
            },
        },
        Mode::CallDetail(_) => {
            match super::terminal::chord(&key).and_then(|c| ui.keymap.action(Context::Tools, c)) {
                Some(action) => app.detail_act(action),
                None if key.code == KeyCode::Esc => app.detail_act(Action::Leave),
                None => Vec::new(),
            }
        }
        Mode::Confirm(_) => app.confirm(matches!(key.code, KeyCode::Char('y' | 'Y'))),
        Mode::Help => {
            let action =
                super::terminal::chord(&key).and_then(|c| ui.keymap.action(app.focus.context(), c));
            app.help_act(action);
            Vec::new()
        }
        Mode::Costs => {
            app.mode = Mode::Normal;
            Vec::new()
        }
        Mode::Palette(line) => match key.code {
            KeyCode::Esc => {
                app.mode = Mode::Normal;
                Vec::new()
            }
            KeyCode::Enter => app.run_command(&line),
            KeyCode::Tab => {
                app.complete_palette();
                Vec::new()
            }
            KeyCode::Up | KeyCode::Down => {
                app.palette_history_step(key.code == KeyCode::Up);
                Vec::new()
            }
            _ => {
                if let LineEdit::Edit(edit) = line_key(&key) {
                    if let Some(text) = edit_field(app, &line, edit) {
                        app.mode = Mode::Palette(text);
                    }
                }
                Vec::new()
            }
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
                let offset = app.list.selected.saturating_sub(height.saturating_sub(1));
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
    use crate::fixtures::workspace;

    #[test]
    fn clicks_focus_and_pick_threads_and_the_wheel_scrolls_the_pane_under_it() {
        let mut app = workspace();
        let mut ui = Ui::new(
            crate::keymap::Keymap::default_keymap(),
            crate::theme::Theme::default_theme(),
        );
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(140, 36)).unwrap();
        terminal
            .draw(|f| crate::screen::draw(f, &app, &mut ui))
            .unwrap();
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
        assert_eq!(app.conversation.scroll, 3);
        handle_mouse(&mut app, &ui, at(5, 3, MouseEventKind::ScrollDown));
        assert_eq!(
            app.selected_thread().map(|t| t.id.as_str()),
            Some("thread_0459")
        );
        assert_eq!(app.focus, Pane::Threads);
    }
}
