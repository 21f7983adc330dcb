//! The composer: a multi-line editor (ratatui-textarea) for a message, a new thread or
//! an answer to a tool call, with the files attached to the next message.

use crate::tui::app::{App, ComposeTarget, Mode, short_id};
use crate::tui::keymap::{Action, Context};
use crate::tui::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
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
                .key_for(Context::Global, Action::Compose)
                .unwrap_or_else(|| "i".into())
        ),
    };
    let mut title = title;
    if !app.attachments.is_empty() {
        let names: Vec<String> = app
            .attachments
            .iter()
            .map(|(name, _)| super::clip(name, 24))
            .collect();
        title.push_str(&format!(" · attached: {}", names.join(", ")));
    }
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

#[cfg(test)]
mod tests {
    use crate::tui::fixtures::workspace;
    use crate::tui::keymap::{Action, Keymap};
    use crate::tui::theme::Theme;
    use crate::tui::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn composer_with_a_draft_and_an_attachment() {
        let mut app = workspace();
        app.act(Action::Compose);
        app.attachments.push(("notes.txt".into(), "x".into()));
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        ui.composer = ratatui_textarea::TextArea::from(["Please refund", "the second charge."]);
        let mut terminal = Terminal::new(TestBackend::new(90, 5)).unwrap();
        terminal
            .draw(|frame| super::draw(frame, &app, &mut ui, frame.area()))
            .unwrap();
        insta::assert_snapshot!(format!("{}", terminal.backend()));
    }
}
