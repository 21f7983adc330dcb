//! The tools pane: live tool calls across threads (name, arguments as they stream,
//! status, latency, output) and the approvals inbox: `a` approve or answer, `d` deny,
//! `e` edit the answer or the arguments.

use super::{block, call_icon, clip};
use crate::app::{App, Pane};
use crate::ui::Ui;
use agentdeck_model::ToolCallStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let waiting = app.tools.waiting();
    let mut title = format!("Tools · {waiting} waiting");
    if !app.tools.marked.is_empty() {
        title.push_str(&format!(" · {} marked", app.tools.marked.len()));
    }
    let block = block(app, ui, Pane::Tools, title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = inner.width as usize;
    let offset = app.tools.cursor.saturating_sub(height.saturating_sub(1));
    let theme = &ui.theme;
    let rows = app.tools.rows();
    // Whose call it is gets a third of the row (at most 28), the tool's name a fifth.
    let name_width = (width / 5).clamp(8, 16);
    let who_width = (width / 3).clamp(8, 28);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(index, live)| {
            let call = &live.call;
            let style = call_style(call.status, theme);
            let latency = call
                .latency_ms
                .map_or(String::new(), |ms| format!(" {ms}ms"));
            let spinner = if call.status == ToolCallStatus::InProgress {
                ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"][(app.now % 10) as usize]
            } else {
                call_icon(call.status)
            };
            let output = match call.output.as_deref() {
                None => String::new(),
                // Running: the last line it printed.
                Some(o) if call.status == ToolCallStatus::InProgress => {
                    let last = o.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
                    format!(" ⋯ {}", clip(last, 40))
                }
                Some(o) => match super::citations(call) {
                    Some(cited) => format!(" → {}", clip(&cited, 60)),
                    None => format!(" → {} ({})", clip(o, 40), byte_size(o.len())),
                },
            };
            let marked = app.tools.marked.contains(&call.id);
            let mark = if marked { "◆" } else { " " };
            let who = clip(&app.call_owner(live), who_width);
            let head = format!(
                "{mark}{spinner} {:<name_width$} ",
                clip(&call.function.name, name_width)
            );
            let rest = format!(
                " {}{}{}",
                clip(&call.function.arguments, 60),
                latency,
                output
            );
            let mut spans = vec![
                Span::styled(head, style),
                Span::styled(format!("{who:<who_width$}"), theme.fg("assistant")),
                Span::styled(rest, style),
            ];
            if marked {
                spans[0].style = spans[0].style.add_modifier(Modifier::BOLD);
            }
            let mut line = Line::from(clip_spans(spans, width));
            if index == app.tools.cursor && app.focus == Pane::Tools {
                line = theme.select_line(line);
            }
            line
        })
        .collect();
    frame.render_widget(super::lines_or(lines, "No tool calls yet.", theme), inner);
}

/// A call's colour by its status.
pub fn call_style(status: ToolCallStatus, theme: &crate::theme::Theme) -> Style {
    match status {
        ToolCallStatus::InProgress => theme.fg("running"),
        ToolCallStatus::RequiresAction | ToolCallStatus::RequiresApproval => theme.fg("waiting"),
        ToolCallStatus::Completed => theme.fg("ok"),
        ToolCallStatus::Failed | ToolCallStatus::Denied => theme.fg("error"),
        ToolCallStatus::Cancelled => theme.fg("dim"),
    }
}

/// Spans cut to `width` characters in all (their text is already clean).
fn clip_spans(spans: Vec<Span<'static>>, width: usize) -> Vec<Span<'static>> {
    let mut left = width;
    let mut out = Vec::with_capacity(spans.len());
    for span in spans {
        if left == 0 {
            break;
        }
        let count = span.content.chars().count();
        if count <= left {
            left -= count;
            out.push(span);
        } else {
            out.push(Span::styled(clip(&span.content, left), span.style));
            left = 0;
        }
    }
    out
}

/// A size for people: 812 B, 4.2 KiB, 1.5 MiB.
fn byte_size(bytes: usize) -> String {
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", bytes as f64 / 1024.0),
        _ => format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
    }
}

#[cfg(test)]
mod tests {
    use crate::app::Pane;
    use crate::fixtures::workspace;
    use crate::screen::testing::render_pane;

    #[test]
    fn tools_pane() {
        let mut app = workspace();
        app.focus = Pane::Tools;
        insta::assert_snapshot!(render_pane(&app, Pane::Tools, 100, 6));
    }

    #[test]
    fn a_running_calls_output_shows_as_it_streams() {
        use crate::app::{AppEvent, LiveCall};
        use agentdeck_client::ServerEvent;
        use agentdeck_model::event::ToolCallDelta;
        use agentdeck_model::{EventPayload, ToolCallStatus};
        let mut app = workspace();
        let call =
            crate::fixtures::call("call_rows", "rows", "{}", ToolCallStatus::InProgress, None);
        app.tools.calls.push_front(LiveCall {
            thread_id: "thread_0458".into(),
            call,
        });
        for (i, delta) in ["row 1\n", "row 2\n", "row \u{1b}[2J3\n"]
            .iter()
            .enumerate()
        {
            app.apply(AppEvent::Server(ServerEvent {
                id: Some(10 + i as u64),
                payload: EventPayload::ToolCallOutputDelta(ToolCallDelta {
                    thread_id: "thread_0458".into(),
                    message_id: "msg_x".into(),
                    tool_call_id: "call_rows".into(),
                    delta: delta.to_string(),
                }),
            }));
            let screen = render_pane(&app, Pane::Tools, 120, 6);
            assert!(
                screen.contains(&format!(
                    "⋯ row {}",
                    if i == 2 {
                        "[2J3".to_string()
                    } else {
                        (i + 1).to_string()
                    }
                )),
                "{screen}"
            );
            assert!(!screen.contains('\u{1b}'));
        }
    }

    #[test]
    fn a_file_search_shows_its_citations() {
        use crate::app::LiveCall;
        use agentdeck_model::{ToolCallStatus, ToolCallType};
        let mut app = workspace();
        let output = serde_json::json!({"query": "liability", "ranking": "bm25", "results": [
            {"citation": "[contract.pdf p.3]", "score": 2.41, "text": "Section 9. Limitation of liability"},
            {"citation": "[notes.md lines 4-20]", "score": 0.87, "text": "…"}
        ]})
        .to_string();
        let mut call = crate::fixtures::call(
            "call_fs",
            "file_search",
            "{\"query\":\"liability\"}",
            ToolCallStatus::Completed,
            Some(&output),
        );
        call.kind = ToolCallType::FileSearch;
        app.tools.calls.push_front(LiveCall {
            thread_id: app.list.threads[0].id.clone(),
            call,
        });
        let screen = render_pane(&app, Pane::Tools, 160, 6);
        assert!(
            screen.contains("2 passages: [contract.pdf p.3] 2.41, [notes.md lines 4-20]"),
            "{screen}"
        );
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn waiting_calls_come_first_and_marked_ones_are_decided_together() {
        use crate::app::{Effect, LiveCall};
        use crate::keymap::Action;
        use agentdeck_model::ToolCallStatus;
        let mut app = workspace();
        app.focus = Pane::Tools;
        let mut waiting = Vec::new();
        for (i, name) in ["refund_payment", "case_update", "send_email"]
            .iter()
            .enumerate()
        {
            let mut call = app.tools.calls[0].call.clone();
            call.id = format!("call_w{i}");
            call.function.name = name.to_string();
            call.status = ToolCallStatus::RequiresApproval;
            call.output = None;
            call.latency_ms = None;
            waiting.push(LiveCall {
                thread_id: format!("thread_w{i}"),
                call,
            });
        }
        // Older than the finished calls, still listed first.
        for live in waiting {
            app.tools.calls.push_back(live);
        }
        // Past the call that waits for an answer; mark two waiting for approval.
        app.act(Action::Down);
        app.act(Action::Mark);
        app.act(Action::Mark);
        insta::assert_snapshot!(
            "tools_pane_waiting_and_marked",
            render_pane(&app, Pane::Tools, 100, 8)
        );
        let effects = app.act(Action::Approve);
        let approved: Vec<&str> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Approve { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(approved.len(), 2, "{effects:?}");
        assert!(app.tools.marked.is_empty());
        // One more, by itself: deny.
        let denied = app.act(Action::Deny);
        assert!(
            matches!(denied.as_slice(), [Effect::Deny { .. }]),
            "{denied:?}"
        );
    }
}
