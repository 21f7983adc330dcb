//! The live wall: the most recently active threads as tiles side by side (2×2 up to 3×3
//! by size), each the live tail of its conversation under its assistant, status and the
//! tool it is in. The cost of a frame is the tiles' tails, bounded, whatever the history.

use super::{call_icon, clip};
use crate::app::{App, Tail, WALL_TILES};
use crate::markdown::wrap;
use crate::ui::Ui;
use agentdeck_model::{Role, ToolCallStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Columns and rows of tiles for an area: 3 across from 150 columns, 3 down from 36 rows.
pub fn grid(area: Rect) -> (usize, usize) {
    let columns = if area.width >= 150 { 3 } else { 2 };
    let rows = if area.height >= 36 { 3 } else { 2 };
    (columns, rows)
}

/// How many tiles the wall shows on a terminal of this size (the status bar's row left
/// out).
pub fn tiles_for(width: u16, height: u16) -> usize {
    let (columns, rows) = grid(Rect::new(0, 0, width, height.saturating_sub(1)));
    (columns * rows).min(WALL_TILES)
}

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let threads = app.wall_threads();
    if threads.is_empty() {
        frame.render_widget(
            Paragraph::new("The wall shows the most recently active threads: none yet.")
                .style(ui.theme.fg("dim"))
                .block(Block::default().borders(Borders::ALL).title(" Wall ")),
            area,
        );
        return;
    }
    let (columns, rows) = grid(area);
    let slots = (columns * rows).min(WALL_TILES);
    let row_areas = Layout::vertical(vec![Constraint::Ratio(1, rows as u32); rows]).split(area);
    let mut tiles: Vec<Rect> = Vec::with_capacity(slots);
    for row in row_areas.iter() {
        let cells =
            Layout::horizontal(vec![Constraint::Ratio(1, columns as u32); columns]).split(*row);
        tiles.extend(cells.iter().copied());
    }
    for (index, (thread, tile)) in threads.iter().zip(tiles).enumerate() {
        draw_tile(frame, app, ui, thread, tile, index == app.wall.selected);
    }
    // Laid-out tails of messages no longer shown go.
    if ui.wall_lines.len() > 4 * WALL_TILES * 4 {
        ui.wall_lines.clear();
    }
}

fn draw_tile(
    frame: &mut Frame,
    app: &App,
    ui: &mut Ui,
    thread: &agentdeck_model::Thread,
    area: Rect,
    selected: bool,
) {
    let theme = &ui.theme;
    let (icon, status_style) = super::thread_state_icon(thread, theme);
    let inner_width = area.width.saturating_sub(2) as usize;
    let assistant = clip(&app.assistant_name(&thread.assistant_id), 16);
    let title = thread
        .title
        .clone()
        .unwrap_or_else(|| crate::app::short_id(&thread.id));
    let room = inner_width.saturating_sub(assistant.chars().count() + 8);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(selected))
        .title(Line::from(vec![
            Span::styled(format!(" {icon} "), status_style),
            Span::styled(
                assistant,
                theme.fg("assistant").add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!(" · {} ", clip(&title, room)), theme.fg("title")),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // The tool the thread is in takes the bottom line.
    let mut body_height = inner.height as usize;
    if let Some(live) = app.tools.current(&thread.id) {
        body_height = body_height.saturating_sub(1);
        let text = format!(
            "{} {} {}",
            call_icon(live.call.status),
            live.call.function.name,
            match live.call.status {
                ToolCallStatus::RequiresAction => "waits for an answer",
                ToolCallStatus::RequiresApproval => "waits for approval",
                _ => "running",
            }
        );
        let line = Rect {
            y: inner.y + inner.height - 1,
            height: 1,
            ..inner
        };
        frame.render_widget(
            Paragraph::new(clip(&text, inner.width as usize)).style(ui.theme.fg("tool")),
            line,
        );
    }
    let lines = tail_lines(
        app.wall.tails.get(&thread.id),
        inner.width as usize,
        body_height,
        ui,
    );
    let lines = if lines.is_empty() {
        vec![Line::styled("…", ui.theme.fg("dim"))]
    } else {
        lines
    };
    frame.render_widget(
        Paragraph::new(lines),
        Rect {
            height: body_height as u16,
            ..inner
        },
    );
}

/// The last `height` lines of a tail at `width`: each message's role, then its text —
/// a reply as markdown is drawn (no `**` or backticks), laid out once per change of its
/// text and kept; newest last.
fn tail_lines(tail: Option<&Tail>, width: usize, height: usize, ui: &mut Ui) -> Vec<Line<'static>> {
    let Some(tail) = tail else {
        return Vec::new();
    };
    let mut lines: Vec<Line<'static>> = Vec::new();
    for entry in tail.entries.iter().rev() {
        let theme = &ui.theme;
        let (who, style): (&str, Style) = match entry.role {
            Role::User => ("you", theme.fg("user")),
            Role::Assistant => ("", theme.fg("text")),
            Role::Tool => ("tool", theme.fg("tool")),
            Role::System => ("system", theme.fg("dim")),
        };
        let mut block: Vec<Line<'static>> = if entry.role == Role::Assistant {
            let key = (entry.message_id.clone(), entry.text.len(), width);
            let laid_out = match ui.wall_lines.get(&key) {
                Some(lines) => lines.clone(),
                None => {
                    let mut rendered = Vec::new();
                    let mut plain = crate::highlight::Highlighter::plain();
                    // The markdown renderer indents by two; a tile has no room to spare.
                    crate::markdown::render(
                        entry.text.trim_end(),
                        width + 2,
                        &ui.theme,
                        &mut plain,
                        &mut rendered,
                    );
                    let rendered: Vec<Line<'static>> = rendered
                        .into_iter()
                        .map(|mut line| {
                            if let Some(first) = line.spans.first_mut() {
                                let trimmed = first.content.strip_prefix("  ").map(str::to_string);
                                if let Some(trimmed) = trimmed {
                                    first.content = trimmed.into();
                                }
                            }
                            line
                        })
                        .collect();
                    let rendered = std::sync::Arc::new(rendered);
                    ui.wall_lines.insert(key, rendered.clone());
                    rendered
                }
            };
            laid_out.as_ref().clone()
        } else {
            let mut block = Vec::new();
            for paragraph in entry.text.trim_end().split('\n') {
                for piece in wrap(paragraph, width.max(1)) {
                    block.push(Line::styled(piece, style));
                }
            }
            block
        };
        if !who.is_empty() {
            block.insert(
                0,
                Line::styled(format!("{who}:"), style.add_modifier(Modifier::BOLD)),
            );
        }
        // Newest last: earlier messages go above, as far as there is room.
        let keep = block.len().min(height.saturating_sub(lines.len()));
        let start = block.len() - keep;
        block.drain(..start);
        block.append(&mut lines);
        lines = block;
        if lines.len() >= height {
            break;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use crate::app::{App, AppEvent, Effect, Mode};
    use crate::fixtures::{delta, message, routed_workspace};
    use crate::keymap::Action;
    use agentdeck_client::ServerEvent;
    use agentdeck_model::EventPayload;
    use agentdeck_model::Role;

    use crate::screen::testing::render_workspace as render;

    fn wall() -> App {
        let mut app = routed_workspace();
        app.wall.tiles = super::tiles_for(120, 30);
        let effects = app.act(Action::Wall);
        assert_eq!(app.mode, Mode::Wall);
        // Tiles with no words yet ask for their threads' last messages, once.
        let Some(Effect::LoadTails(ids)) = effects.first() else {
            panic!("{effects:?}");
        };
        assert!(ids.contains(&"thread_0461".to_string()));
        assert!(app.act(Action::Wall).is_empty() || app.mode == Mode::Normal);
        app.mode = Mode::Wall;
        let mut question = message("msg_q", Role::User, "Can we refund twice for ORD-4521?");
        question.thread_id = "thread_0461".into();
        app.apply(AppEvent::Tail {
            thread_id: "thread_0461".into(),
            messages: vec![question],
        });
        for word in [
            "Checking ",
            "the ",
            "policy: ",
            "a ",
            "second ",
            "refund ",
            "needs ",
            "approval.",
        ] {
            app.apply(delta("thread_0461", "msg_a", word));
            app.apply(delta("thread_0460", "msg_b", word));
        }
        app
    }

    #[test]
    fn the_wall_shows_live_tails_side_by_side() {
        let mut app = wall();
        insta::assert_snapshot!("wall_120x30", render(&app, 120, 30));
        app.wall.tiles = super::tiles_for(200, 50);
        let big = render(&app, 200, 50);
        // 3×3 at this size: every thread of the fixture has a tile.
        for title in ["Is a second", "Refund the dup", "Liability clauses"] {
            assert!(big.contains(title), "{title}: {big}");
        }
        insta::assert_snapshot!("wall_200x50", big);
    }

    #[test]
    fn tiles_keep_their_places_while_their_threads_stream_and_draw_markdown() {
        let mut app = wall();
        let order = |app: &App| -> Vec<String> {
            app.wall_threads().iter().map(|t| t.id.clone()).collect()
        };
        let before = order(&app);
        assert!(before.len() >= 3, "{before:?}");
        // The threads on the wall take turns being the most recently active.
        for (step, id) in before.iter().rev().enumerate() {
            let mut thread = app
                .list
                .threads
                .iter()
                .find(|t| &t.id == id)
                .unwrap()
                .clone();
            thread.updated_at = app.now + 10 + step as u64;
            app.apply(AppEvent::Server(ServerEvent {
                id: Some(100 + step as u64),
                payload: EventPayload::thread_updated(&thread),
            }));
            assert_eq!(
                order(&app),
                before,
                "after {id} moved to the top of the list"
            );
        }
        app.apply(delta(
            "thread_0461",
            "msg_a",
            " **Refunded** with `refund_payment` once.",
        ));
        let screen = render(&app, 120, 30);
        assert!(screen.contains("Refunded with refund_payment"), "{screen}");
        assert!(!screen.contains("**Refunded**"), "{screen}");
    }

    #[test]
    fn tails_stay_bounded_and_keep_the_newest_words() {
        let mut app = wall();
        for n in 0..20_000 {
            app.apply(delta("thread_0460", "msg_b", &format!("word{n} ")));
        }
        let tail = &app.wall.tails["thread_0460"];
        let text = &tail.entries.back().unwrap().text;
        assert!(text.len() <= 8192, "{} bytes kept", text.len());
        assert!(text.ends_with("word19999 "), "{}", &text[text.len() - 30..]);
        // Threads beyond the kept number push the stalest out.
        for t in 0..100 {
            app.apply(delta(&format!("thread_x{t}"), "msg", "hi"));
        }
        assert!(app.wall.tails.len() <= 64);
        assert!(app.wall.tails.contains_key("thread_x99"));
    }

    #[test]
    fn enter_on_a_tile_opens_its_thread_and_text_escapes_are_gone() {
        let mut app = wall();
        app.apply(delta("thread_0461", "msg_a", " \u{1b}[2J\u{7}done"));
        let screen = render(&app, 120, 30);
        assert!(
            !screen.contains('\u{1b}') && !screen.contains('\u{7}'),
            "{screen}"
        );
        assert!(screen.contains("[2Jdone"), "{screen}");
        let first = app.wall_threads()[0].id.clone();
        app.wall_act(Action::NextItem);
        let second = app.wall_threads()[1].id.clone();
        assert_ne!(first, second);
        let effects = app.wall_act(Action::Open);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(
            app.conversation.open_thread.as_deref(),
            Some(second.as_str())
        );
        assert!(
            effects.contains(&Effect::LoadMessages(second)),
            "{effects:?}"
        );
    }
}
