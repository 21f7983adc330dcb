//! The panes of the workspace, one module each, with what they share: the framed block,
//! small formatters (clipping untrusted text is `text::clip`, re-exported here).

pub mod call;
pub mod composer;
pub mod conversation;
pub mod memory;
pub mod routing;
pub mod search;
pub mod status;
pub mod threads;
pub mod tools;
pub mod trace;
pub mod wall;

use super::app::{App, Pane};
use super::ui::Ui;
pub use agentdeck_model::text::clip;
use agentdeck_model::{ThreadStatus, ToolCallStatus};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// A `file_search` call's output as its citations: "2 passages: [contract.pdf p.3]
/// 0.033, [notes.md lines 4-20] 0.016" (or "no passage found"). `None` for any other
/// call, or an output that is not the runtime's JSON.
pub fn citations(call: &agentdeck_model::ToolCall) -> Option<String> {
    if call.kind != agentdeck_model::ToolCallType::FileSearch {
        return None;
    }
    let output: serde_json::Value = serde_json::from_str(call.output.as_deref()?).ok()?;
    let results = output.get("results")?.as_array()?;
    if results.is_empty() {
        return Some("no passage found".into());
    }
    let cited: Vec<String> = results
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r.get("citation")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("?"),
                r.get("score")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or(0.0)
            )
        })
        .collect();
    Some(format!(
        "{} passage{}: {}",
        cited.len(),
        if cited.len() == 1 { "" } else { "s" },
        cited.join(", ")
    ))
}

/// Draws one pane into `area`: the conversation afresh, another pane from its cells of
/// the last frame when nothing it shows has changed since (`pane_cache`).
pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, pane: Pane, area: Rect) {
    ui.areas.push((pane, area));
    if pane == Pane::Conversation {
        draw_afresh(frame, app, ui, pane, area);
        return;
    }
    if let Some((cells, noted)) = ui.panes.reuse(pane, area, app.now, ui.phase) {
        crate::pane_cache::copy_cells(cells, frame.buffer_mut(), area);
        ui.note(noted);
        return;
    }
    let before = ui.take_noted();
    draw_afresh(frame, app, ui, pane, area);
    let noted = ui.take_noted();
    let phase = ui.phase;
    ui.panes
        .keep(pane, frame.buffer_mut(), area, app.now, phase, noted);
    ui.note(before);
    ui.note(noted);
}

fn draw_afresh(frame: &mut Frame, app: &App, ui: &mut Ui, pane: Pane, area: Rect) {
    match pane {
        Pane::Threads => threads::draw(frame, app, ui, area),
        Pane::Conversation => conversation::draw(frame, app, ui, area),
        Pane::Tools => tools::draw(frame, app, ui, area),
        Pane::Routing => routing::draw(frame, app, ui, area),
        Pane::Memory => memory::draw(frame, app, ui, area),
    }
}

/// The frame of a pane: its number (the key that focuses it) and title.
pub fn block<'a>(app: &App, ui: &Ui, pane: Pane, title: String) -> PaneFrame<'a> {
    let number = Pane::ALL.iter().position(|p| *p == pane).unwrap_or(0) + 1;
    PaneFrame {
        border: ui.theme.border(app.focus == pane),
        title: Line::from(Span::styled(
            format!(" {number} {title} "),
            ui.theme.fg("title"),
        )),
    }
}

/// A pane's border and title, drawn as a plain `Block` with all borders draws them, but
/// touching only the border's cells: `Block` also styles every cell inside, which took a
/// tenth of the workspace's CPU while a reply streamed.
pub struct PaneFrame<'a> {
    border: ratatui::style::Style,
    title: Line<'a>,
}

impl PaneFrame<'_> {
    /// The area inside the border.
    pub fn inner(&self, area: Rect) -> Rect {
        Rect {
            x: area.x.saturating_add(1).min(area.right()),
            y: area.y.saturating_add(1).min(area.bottom()),
            width: area.width.saturating_sub(2),
            height: area.height.saturating_sub(2),
        }
    }
}

impl ratatui::widgets::Widget for PaneFrame<'_> {
    fn render(self, area: Rect, buf: &mut ratatui::buffer::Buffer) {
        use ratatui::symbols::line;
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let (left, top) = (area.left(), area.top());
        let (right, bottom) = (area.right() - 1, area.bottom() - 1);
        for x in left..=right {
            buf[(x, top)]
                .set_symbol(line::HORIZONTAL)
                .set_style(self.border);
            buf[(x, bottom)]
                .set_symbol(line::HORIZONTAL)
                .set_style(self.border);
        }
        for y in top..=bottom {
            buf[(left, y)]
                .set_symbol(line::VERTICAL)
                .set_style(self.border);
            buf[(right, y)]
                .set_symbol(line::VERTICAL)
                .set_style(self.border);
        }
        for (x, y, corner) in [
            (right, bottom, line::BOTTOM_RIGHT),
            (right, top, line::TOP_RIGHT),
            (left, bottom, line::BOTTOM_LEFT),
            (left, top, line::TOP_LEFT),
        ] {
            buf[(x, y)].set_symbol(corner).set_style(self.border);
        }
        let room = area.width.saturating_sub(2);
        let width = u16::try_from(self.title.width())
            .unwrap_or(u16::MAX)
            .min(room);
        self.title.render(Rect::new(left + 1, top, width, 1), buf);
    }
}

/// A pane's lines, or a dim line saying why there are none.
pub fn lines_or<'a>(
    lines: Vec<ratatui::text::Line<'a>>,
    empty: &'a str,
    theme: &super::theme::Theme,
) -> ratatui::widgets::Paragraph<'a> {
    if lines.is_empty() {
        ratatui::widgets::Paragraph::new(empty).style(theme.fg("dim"))
    } else {
        ratatui::widgets::Paragraph::new(lines)
    }
}

/// A thread's status as an icon and its colour (the threads list, the wall, badges).
pub fn thread_icon(status: ThreadStatus, theme: &super::theme::Theme) -> (&'static str, Style) {
    match status {
        ThreadStatus::Active => ("·", theme.fg("dim")),
        ThreadStatus::Running => ("●", theme.fg("running")),
        ThreadStatus::Queued => ("◌", theme.fg("waiting")),
        ThreadStatus::RequiresAction => ("!", theme.fg("waiting")),
        ThreadStatus::Closed => ("✓", theme.fg("dim")),
    }
}

/// A thread's icon and colour: its status, or `✗` when its last run failed and nothing
/// runs or waits in it now.
pub fn thread_state_icon(
    thread: &agentdeck_model::Thread,
    theme: &super::theme::Theme,
) -> (&'static str, Style) {
    if thread.failed() && thread.status == ThreadStatus::Active {
        return ("✗", theme.fg("error"));
    }
    thread_icon(thread.status, theme)
}

pub fn call_icon(status: ToolCallStatus) -> &'static str {
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

/// 950, 12.3k, 1.2M.
pub fn compact(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::style::{Color, Modifier};
    use ratatui::widgets::{Block, Borders, Widget};

    /// A buffer with text and colour in every cell, as a pane's content leaves it.
    fn painted(area: Rect) -> Buffer {
        let mut buf = Buffer::empty(area);
        for y in area.top()..area.bottom() {
            for x in area.left()..area.right() {
                buf[(x, y)]
                    .set_symbol(if (x + y) % 2 == 0 { "a" } else { "é" })
                    .set_style(Style::default().fg(Color::Red).bg(Color::Blue));
            }
        }
        buf
    }

    #[test]
    fn a_pane_frame_draws_what_a_bordered_block_draws() {
        let border = Style::default()
            .fg(Color::Yellow)
            .add_modifier(Modifier::BOLD);
        let title = || {
            Span::styled(
                " 2 Conversation · a long title ",
                Style::default().fg(Color::Cyan),
            )
        };
        let whole = Rect::new(0, 0, 40, 12);
        for area in [
            Rect::new(0, 0, 40, 12),
            Rect::new(3, 2, 20, 5),
            Rect::new(5, 5, 2, 2),
            Rect::new(1, 1, 1, 1),
            Rect::new(0, 0, 10, 3),
            Rect::new(30, 8, 20, 10),
        ] {
            let mut by_block = painted(whole);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(title());
            let block_inner = block.inner(area);
            block.render(area, &mut by_block);
            let mut by_frame = painted(whole);
            let frame = PaneFrame {
                border,
                title: Line::from(title()),
            };
            assert_eq!(frame.inner(area), block_inner, "inner of {area:?}");
            frame.render(area, &mut by_frame);
            assert_eq!(by_frame, by_block, "drawn into {area:?}");
        }
    }
}
