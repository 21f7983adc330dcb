//! The composer: a multi-line editor (ratatui-textarea) for a message, a new thread or
//! an answer to a tool call, with the files attached to the next message.

use crate::app::{App, ComposeTarget, Mode, short_id};
use crate::keymap::{Action, Context};
use crate::ui::Ui;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let title = title(app, ui, area.width.saturating_sub(4) as usize);
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

/// The composer's title at `room` characters: what is written to (whole, where it can
/// be), then as many of its keys as fit, then what is attached.
fn title(app: &App, ui: &Ui, room: usize) -> String {
    let key = |action| {
        ui.keymap
            .key_for(Context::Composer, action)
            .map(|k| match k.as_str() {
                "enter" => "Enter".to_string(),
                "esc" => "Esc".to_string(),
                "alt-enter" => "Alt-Enter".to_string(),
                other => other.to_string(),
            })
            .unwrap_or_default()
    };
    let (what, keys): (String, Vec<String>) = match &app.mode {
        Mode::Compose(ComposeTarget::Thread) => {
            let about = app
                .selected_thread()
                .map(|t| app.thread_label(&t.id))
                .unwrap_or_default();
            (
                format!("Message to {about}"),
                vec![
                    format!("{} send", key(Action::Send)),
                    format!("{} leave", key(Action::Leave)),
                    format!("{} new line", key(Action::Newline)),
                    format!("{} $EDITOR", key(Action::Editor)),
                ],
            )
        }
        Mode::Compose(ComposeTarget::NewThread(assistant)) => (
            format!("New thread with {}", app.assistant_name(assistant)),
            vec![
                format!("{} send", key(Action::Send)),
                format!("{} leave", key(Action::Leave)),
                format!("{} new line", key(Action::Newline)),
            ],
        ),
        Mode::Compose(ComposeTarget::ToolAnswer { call_id, .. }) => {
            let name = app
                .tools
                .get(call_id)
                .map_or_else(|| short_id(call_id), |c| c.call.function.name.clone());
            (
                format!("Answer to {name}"),
                vec![
                    format!("{} send", key(Action::Send)),
                    format!("{} leave", key(Action::Leave)),
                ],
            )
        }
        _ => (
            format!(
                "Composer · {} to write",
                ui.keymap
                    .key_for(Context::Global, Action::Compose)
                    .unwrap_or_else(|| "i".into())
            ),
            Vec::new(),
        ),
    };
    // Sending and leaving are the keys to know, and what goes with the message: their
    // room is kept first; the other keys as room allows.
    let attached = if app.composer.attachments.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = app
            .composer
            .attachments
            .iter()
            .map(|attachment| super::clip(&attachment.name, 24))
            .collect();
        format!(" · attached: {}", names.join(", "))
    };
    let essential: usize = keys
        .iter()
        .take(2)
        .map(|k| k.chars().count() + 3)
        .sum::<usize>()
        + attached.chars().count();
    let mut title = super::clip(&what, room.saturating_sub(essential).max(12));
    for (at, key) in keys.iter().enumerate() {
        if at == 2 {
            title.push_str(&attached);
        }
        if title.chars().count() + 3 + key.chars().count() > room && at >= 2 {
            break;
        }
        title.push_str(" · ");
        title.push_str(key);
    }
    if keys.len() <= 2 {
        title.push_str(&attached);
    }
    title
}

#[cfg(test)]
mod tests {
    use crate::fixtures::workspace;
    use crate::keymap::{Action, Keymap};
    use crate::theme::Theme;
    use crate::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn composer_with_a_draft_and_an_attachment() {
        let mut app = workspace();
        app.act(Action::Compose);
        app.composer.attachments.push(crate::app::Attachment {
            name: "notes.txt".into(),
            text: "x".into(),
        });
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        ui.composer = ratatui_textarea::TextArea::from(["Please refund", "the second charge."]);
        let mut terminal = Terminal::new(TestBackend::new(90, 5)).unwrap();
        terminal
            .draw(|frame| super::draw(frame, &app, &mut ui, frame.area()))
            .unwrap();
        insta::assert_snapshot!(format!("{}", terminal.backend()));
    }
}
