//! One tool call whole (`Enter` in the Tools pane): whose it is — the thread, its
//! assistant and runtime —, its status and latency, its arguments pretty-printed and
//! wrapped, and its output; scrolled with the cursor keys, decided with the Tools pane's
//! own keys, so nothing is approved unseen.

use super::status::overlay;
use crate::app::{App, LiveCall, short_id};
use crate::keymap::{Action, Context};
use crate::ui::Ui;
use agentdeck_model::ToolCallStatus;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;

/// Output shown in the view, at most (the rest is summed up).
const OUTPUT_SHOWN: usize = 16 * 1024;

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let Some(live) = app.detail_call() else {
        return;
    };
    let width = area.width.min(100);
    let height = area.height.saturating_sub(2).max(5);
    // The text's width inside the borders.
    let text_width = width.saturating_sub(2).max(10) as usize;
    let lines = detail_lines(app, ui, live, text_width);
    let visible = height.saturating_sub(2) as usize;
    // Keys stay in the last line; the rest scrolls.
    let body = visible.saturating_sub(1);
    let max_scroll = lines.len().saturating_sub(body);
    let scroll = app.tools.detail_scroll.min(max_scroll);
    let mut shown: Vec<Line> = lines.into_iter().skip(scroll).take(body).collect();
    shown.resize(body, Line::raw(""));
    let more = max_scroll > scroll;
    shown.push(Line::styled(keys_line(ui, live, more), ui.theme.fg("dim")));
    let title = format!("Tool call · {}", super::clip(&live.call.function.name, 40));
    overlay(frame, ui, area, (width, height), &title, shown);
}

fn keys_line(ui: &Ui, live: &LiveCall, more: bool) -> String {
    let key = |action| {
        ui.keymap
            .key_for(Context::Tools, action)
            .unwrap_or_else(|| "?".into())
    };
    let mut keys = Vec::new();
    match live.call.status {
        ToolCallStatus::RequiresApproval => {
            keys.push(format!("{} approve", key(Action::Approve)));
            keys.push(format!("{} deny", key(Action::Deny)));
            keys.push(format!("{} edit arguments", key(Action::EditTool)));
        }
        ToolCallStatus::RequiresAction => {
            keys.push(format!("{} answer", key(Action::Approve)));
            keys.push(format!("{} answer in $EDITOR", key(Action::EditTool)));
        }
        _ => {}
    }
    keys.push(format!("{}/{} scroll", key(Action::Down), key(Action::Up)));
    keys.push("Esc back".into());
    let mut line = keys.join(" · ");
    if more {
        line.push_str(" · more below");
    }
    line
}

/// What the view says of a call, wrapped to `width`.
fn detail_lines(app: &App, ui: &Ui, live: &LiveCall, width: usize) -> Vec<Line<'static>> {
    let theme = &ui.theme;
    let call = &live.call;
    let mut lines = Vec::new();
    let field = |name: &str, value: String| -> Vec<Line<'static>> {
        wrap(&format!("{name:<10} {value}"), width)
            .into_iter()
            .map(Line::raw)
            .collect()
    };
    let status = match call.status {
        ToolCallStatus::RequiresApproval => "waiting for your approval",
        ToolCallStatus::RequiresAction => "waiting for your answer",
        ToolCallStatus::InProgress => "running",
        ToolCallStatus::Completed => "completed",
        ToolCallStatus::Failed => "failed",
        ToolCallStatus::Denied => "denied",
        ToolCallStatus::Cancelled => "cancelled",
    };
    lines.push(Line::styled(
        format!("{} {status}", super::call_icon(call.status)),
        super::tools::call_style(call.status, theme),
    ));
    let (title, assistant) = match app.thread_by_id(&live.thread_id) {
        Some(thread) => (
            thread.title.clone().unwrap_or_else(|| short_id(&thread.id)),
            app.assistant_name(&thread.assistant_id),
        ),
        None => (short_id(&live.thread_id), "?".to_string()),
    };
    lines.extend(field("thread", format!("{title} ({})", live.thread_id)));
    lines.extend(field("assistant", assistant));
    let runtime = app.runtime_name(&live.thread_id);
    if !runtime.is_empty() {
        lines.extend(field("runtime", runtime.to_string()));
    }
    let mut about = format!("{} · {:?}", call.id, call.kind).to_lowercase();
    if let Some(ms) = call.latency_ms {
        about.push_str(&format!(" · {ms} ms"));
    }
    lines.extend(field("call", about));
    lines.push(Line::raw(""));
    lines.push(Line::styled("arguments", theme.fg("title")));
    let arguments = serde_json::from_str::<serde_json::Value>(&call.function.arguments)
        .map_or_else(|_| call.function.arguments.clone(), |v| readable_json(&v));
    let arguments = if arguments.trim().is_empty() {
        "(none)".to_string()
    } else {
        arguments
    };
    lines.extend(
        wrap(&arguments, width.saturating_sub(2))
            .into_iter()
            .map(|l| Line::styled(format!("  {l}"), theme.fg("tool"))),
    );
    if let Some(output) = &call.output {
        lines.push(Line::raw(""));
        lines.push(Line::styled("output", theme.fg("title")));
        let cut: String = output.chars().take(OUTPUT_SHOWN).collect();
        lines.extend(
            wrap(&cut, width.saturating_sub(2))
                .into_iter()
                .map(|l| Line::raw(format!("  {l}"))),
        );
        if cut.len() < output.len() {
            lines.push(Line::styled(
                format!("  … {} more bytes", output.len() - cut.len()),
                theme.fg("dim"),
            ));
        }
    }
    lines
}

/// JSON as a person reads it: indented like pretty JSON, but a string of several lines —
/// a patch's diff, a script — is set out as those lines under its key (`|`), not one
/// line of `\n`s.
pub fn readable_json(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_readable(value, 0, &mut out);
    out
}

fn write_readable(value: &serde_json::Value, indent: usize, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            let entries = fields.iter().map(|(key, inner)| (Some(key), inner));
            write_entries(('{', '}'), entries, indent, out);
        }
        Value::Array(items) if !items.is_empty() => {
            write_entries(
                ('[', ']'),
                items.iter().map(|inner| (None, inner)),
                indent,
                out,
            );
        }
        Value::String(text) if is_block(value) => {
            out.push('|');
            for line in text.trim_end_matches('\n').split('\n') {
                out.push('\n');
                out.push_str(&" ".repeat(indent + 2));
                out.push_str(line);
            }
        }
        other => out.push_str(&other.to_string()),
    }
}

/// An object's fields or an array's items, one a line between `brackets`; a comma after
/// each but the last, and after none that is a block of lines.
fn write_entries<'a>(
    brackets: (char, char),
    entries: impl ExactSizeIterator<Item = (Option<&'a String>, &'a serde_json::Value)>,
    indent: usize,
    out: &mut String,
) {
    let count = entries.len();
    out.push(brackets.0);
    out.push('\n');
    for (i, (key, inner)) in entries.enumerate() {
        out.push_str(&" ".repeat(indent + 2));
        if let Some(key) = key {
            out.push_str(&serde_json::Value::String(key.clone()).to_string());
            out.push_str(": ");
        }
        write_readable(inner, indent + 2, out);
        if i + 1 < count && !is_block(inner) {
            out.push(',');
        }
        out.push('\n');
    }
    out.push_str(&" ".repeat(indent));
    out.push(brackets.1);
}

fn is_block(value: &serde_json::Value) -> bool {
    value
        .as_str()
        .is_some_and(|text| text.trim_end_matches('\n').contains('\n'))
}

/// Untrusted text, sanitized, as lines of at most `width` characters (long lines are
/// broken where they reach it; line breaks are kept).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let clean = agentdeck_model::text::sanitize(text);
    let mut out = Vec::new();
    for line in clean.split('\n') {
        let chars: Vec<char> = line.chars().collect();
        if chars.is_empty() {
            out.push(String::new());
            continue;
        }
        for piece in chars.chunks(width) {
            out.push(piece.iter().collect());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::app::{LiveCall, Mode, Pane};
    use crate::fixtures::{call, workspace};
    use crate::keymap::Action;
    use crate::screen::testing::render_workspace;
    use agentdeck_model::ToolCallStatus;

    #[test]
    fn enter_shows_a_call_whole_and_its_keys_decide_it() {
        let mut app = workspace();
        let arguments = r#"{"order_id": "ORD-4521-XY-000000000000000000098765", "amount": 42.5, "reason": "charged twice \u001b[2J"}"#;
        app.tools.calls.push_front(LiveCall {
            thread_id: "thread_0456".into(),
            call: call(
                "call_refund",
                "refund_payment",
                arguments,
                ToolCallStatus::RequiresApproval,
                None,
            ),
        });
        app.focus = Pane::Tools;
        app.tools.cursor = 0;
        app.act(Action::Open);
        assert_eq!(app.mode, Mode::CallDetail("call_refund".into()));
        let screen = render_workspace(&app, 80, 24);
        assert!(
            screen.contains("ORD-4521-XY-000000000000000000098765"),
            "{screen}"
        );
        assert!(screen.contains("triage"), "{screen}");
        assert!(screen.contains("Order ORD-4521 never arrived"), "{screen}");
        assert!(!screen.contains('\u{1b}'));
        insta::assert_snapshot!("call_detail_80x24", screen);
        let effects = app.detail_act(Action::Approve);
        assert!(
            matches!(effects.as_slice(), [crate::app::Effect::Approve { call_id, .. }] if call_id == "call_refund"),
            "{effects:?}"
        );
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn a_patch_in_the_arguments_reads_as_its_lines() {
        let patch = serde_json::json!({"changes": [
            {"path": "README.md", "diff": "@@ -1 +1 @@\n-hello\n+hello world\n"},
            {"path": "notes.txt", "diff": "from codex\n"}]});
        assert_eq!(
            super::readable_json(&patch),
            "{\n  \"changes\": [\n    {\n      \"diff\": |\n        @@ -1 +1 @@\n        -hello\n        +hello world\n      \"path\": \"README.md\"\n    },\n    {\n      \"diff\": \"from codex\\n\",\n      \"path\": \"notes.txt\"\n    }\n  ]\n}"
        );
        // Without a string of several lines it is pretty JSON.
        let plain = serde_json::json!({"a": [1, "x"], "b": {}, "c": null});
        assert_eq!(
            super::readable_json(&plain),
            serde_json::to_string_pretty(&plain).unwrap()
        );
    }

    #[test]
    fn wrapping_keeps_every_character_and_breaks_long_lines() {
        let lines = super::wrap("abcdefghij\n\nxy", 4);
        assert_eq!(lines, vec!["abcd", "efgh", "ij", "", "xy"]);
    }
}
