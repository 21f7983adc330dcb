//! The search across every thread (`ctrl-f`, `:search`): the query, then one row per hit
//! (assistant, thread, snippet with the matched words marked), the chosen one selected.

use super::clip;
use crate::app::{App, short_id};
use crate::ui::Ui;
use agentdeck_model::HitKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

pub fn draw(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let width = area.width.saturating_sub(4).clamp(20, 120).min(area.width);
    let height = area.height.saturating_sub(2).max(3).min(area.height);
    let inner = (width as usize).saturating_sub(2);
    let search = &app.global_search;
    let status = match (&search.error, &search.answered) {
        (Some(why), _) => Span::styled(clip(why, inner / 2), ui.theme.fg("error")),
        (None, _) if search.query.trim().is_empty() => {
            Span::styled("type to search every thread", ui.theme.fg("dim"))
        }
        (None, Some(answered)) if *answered == search.query.trim() => Span::styled(
            match search.hits.len() {
                0 => "no matches".to_string(),
                1 => "1 match".to_string(),
                n => format!("{n} matches"),
            },
            ui.theme.fg("dim"),
        ),
        _ => Span::styled("searching…", ui.theme.fg("dim")),
    };
    let query = clip(&search.query, inner.saturating_sub(status.width() + 4));
    let mut lines = vec![
        Line::from(vec![
            Span::styled("› ", ui.theme.fg("title")),
            Span::styled(query, ui.theme.fg("title").add_modifier(Modifier::BOLD)),
            Span::styled("▏ ", ui.theme.fg("title")),
            status,
        ]),
        Line::raw(""),
    ];
    let rows = (height as usize).saturating_sub(2 + 3);
    let first = search.selected.saturating_sub(rows.saturating_sub(1));
    for (index, hit) in search.hits.iter().enumerate().skip(first).take(rows) {
        lines.push(hit_line(app, ui, hit, inner, index == search.selected));
    }
    while lines.len() < (height as usize).saturating_sub(3) {
        lines.push(Line::raw(""));
    }
    lines.push(Line::styled(
        "↑↓ choose · enter open · esc close",
        ui.theme.fg("dim"),
    ));
    super::status::overlay(
        frame,
        ui,
        area,
        (width, height),
        "Search every thread",
        lines,
    );
}

/// One hit: assistant, thread, then the snippet with its matched words marked; all of
/// it sanitized (a snippet is what a model or a user wrote).
fn hit_line<'a>(
    app: &App,
    ui: &Ui,
    hit: &agentdeck_model::SearchHit,
    width: usize,
    selected: bool,
) -> Line<'a> {
    let base = if selected {
        ui.theme.selected()
    } else {
        ui.theme.fg("text")
    };
    let assistant = app
        .assistants
        .get(&hit.assistant_id)
        .map_or_else(|| short_id(&hit.assistant_id), |a| a.name.clone());
    let thread = app
        .list
        .threads
        .iter()
        .find(|t| t.id == hit.thread_id)
        .and_then(|t| t.title.clone())
        .unwrap_or_else(|| short_id(&hit.thread_id));
    let mark = match hit.kind {
        HitKind::Message => "  ",
        HitKind::ToolOutput => "⚙ ",
        HitKind::Title => "# ",
    };
    let name_width = (width / 6).clamp(6, 14);
    let thread_width = (width / 4).clamp(8, 28);
    let mut spans = vec![
        Span::styled(
            format!("{:<name_width$} ", clip(&assistant, name_width)),
            base.patch(if selected {
                Style::default()
            } else {
                ui.theme.fg("assistant")
            }),
        ),
        Span::styled(
            format!("{:<thread_width$} ", clip(&thread, thread_width)),
            base.patch(if selected {
                Style::default()
            } else {
                ui.theme.fg("dim")
            }),
        ),
        Span::styled(mark, base),
    ];
    let mut left = width.saturating_sub(name_width + thread_width + 4);
    // On the selection bar the match colour may not read: bold and underlined there.
    let marked = if selected {
        base.add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    } else {
        base.patch(ui.theme.fg("search_match"))
            .add_modifier(Modifier::BOLD)
    };
    for (text, matched) in segments(&hit.snippet, &hit.highlights) {
        if left == 0 {
            break;
        }
        let shown: String = agentdeck_model::text::one_line_chars(text)
            .take(left)
            .collect();
        left -= shown.chars().count();
        spans.push(Span::styled(shown, if matched { marked } else { base }));
    }
    if left > 0 && selected {
        spans.push(Span::styled(" ".repeat(left), base));
    }
    Line::from(spans)
}

/// The snippet cut at its highlight ranges: (text, matched) in order. Ranges that are
/// out of order, out of bounds or not on character boundaries are ignored.
pub fn segments<'a>(snippet: &'a str, highlights: &[[usize; 2]]) -> Vec<(&'a str, bool)> {
    let mut parts = Vec::new();
    let mut at = 0;
    for &[start, end] in highlights {
        let valid = start >= at
            && start < end
            && end <= snippet.len()
            && snippet.is_char_boundary(start)
            && snippet.is_char_boundary(end);
        if !valid {
            continue;
        }
        if start > at {
            parts.push((&snippet[at..start], false));
        }
        parts.push((&snippet[start..end], true));
        at = end;
    }
    if at < snippet.len() {
        parts.push((&snippet[at..], false));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::{AppEvent, Effect, Mode};
    use crate::fixtures::workspace;
    use crate::keymap::Keymap;
    use crate::theme::Theme;
    use agentdeck_model::SearchHit;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn segments_follow_the_ranges_and_ignore_bad_ones() {
        assert_eq!(
            segments("the refund was late", &[[4, 10]]),
            vec![("the ", false), ("refund", true), (" was late", false)]
        );
        assert_eq!(
            segments("héllo", &[[1, 2], [9, 12]]),
            vec![("héllo", false)],
            "inside a character, and past the end"
        );
    }

    fn hit(
        thread_id: &str,
        message_id: &str,
        snippet: &str,
        highlights: Vec<[usize; 2]>,
    ) -> SearchHit {
        SearchHit {
            thread_id: thread_id.into(),
            message_id: Some(message_id.into()),
            assistant_id: "asst_triage".into(),
            kind: HitKind::Message,
            snippet: snippet.into(),
            highlights,
            score: 2.5,
            created_at: 0,
        }
    }

    #[test]
    fn search_view_lists_hits_and_enter_opens_the_thread_at_the_message() {
        let mut app = workspace();
        let effects = app.open_global_search("refund");
        assert_eq!(app.mode, Mode::GlobalSearch);
        let Some(Effect::SearchAll { query, seq }) = effects.first().cloned() else {
            panic!("{effects:?}");
        };
        assert_eq!(query, "refund");
        let thread = app.list.threads[1].id.clone();
        let first = app.list.threads[0].id.clone();
        // An older answer is dropped; the current one is shown.
        app.apply(AppEvent::SearchResults {
            seq: seq - 1,
            hits: Ok(vec![]),
        });
        assert_eq!(app.global_search.answered, None);
        app.apply(AppEvent::SearchResults {
            seq,
            hits: Ok(vec![
                hit(
                    &first,
                    "msg_a",
                    "Was the refund for ORD-1 sent?",
                    vec![[8, 14]],
                ),
                hit(
                    &thread,
                    "msg_b",
                    "evil \u{1b}[2J refund \u{7}done",
                    vec![[12, 18]],
                ),
            ]),
        });
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        for (width, height) in [(80, 20), (120, 30)] {
            let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
            app.global_search.selected = 1;
            terminal
                .draw(|frame| draw(frame, &app, &ui, frame.area()))
                .unwrap();
            let text = format!("{:?}", terminal.backend());
            assert!(!text.contains('\u{1b}'), "sanitized");
            insta::assert_snapshot!(format!("search_view_{width}x{height}"), terminal.backend());
        }
        app.global_search.selected = 0;
        app.step_hit(true);
        let effects = app.open_hit();
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(
            app.conversation.open_thread.as_deref(),
            Some(thread.as_str())
        );
        assert!(
            effects.contains(&Effect::LoadMessages(thread.clone())),
            "{effects:?}"
        );
        app.apply(AppEvent::Messages {
            thread_id: thread.clone(),
            messages: vec![crate::fixtures::message(
                "msg_b",
                agentdeck_model::Role::User,
                "evil refund done",
            )],
        });
        assert_eq!(
            app.conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_b")
        );
        assert!(app.conversation.follow_selection);
        let _ = &mut ui;
    }
}
