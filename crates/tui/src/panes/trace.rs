//! The trace view (`t`): the tree of a run — replies, model steps, tool calls, routed hops
//! into child threads — each with status, start offset, a duration bar on a shared time
//! axis, tokens and cost; live while it runs. Beside it the conversation and the routing
//! graph, as they are, or during a replay as they were at the replay's point.

use super::clip;
use crate::app::{App, Pane};
use crate::trace::{Span, SpanKind, SpanStatus};
use crate::ui::Ui;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span as Text};
use ratatui::widgets::{Block, Borders, Paragraph};

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui, area: Rect) {
    let Some(trace) = app.trace.as_ref() else {
        return;
    };
    // Wide: the tree on the left, the conversation over the graph beside it. Narrow: the
    // tree across the top (its labels need the width), the two side by side below.
    let (left, conversation, routing) = if area.width >= 110 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(area);
        let [conversation, routing] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        (left, conversation, routing)
    } else {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(area);
        let [conversation, routing] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(bottom);
        (top, conversation, routing)
    };
    // The conversation and graph: live, or as they were at the replay's point.
    let shown: &App = trace.replay.as_ref().map_or(app, |r| &r.state);
    if trace.replay.is_some() {
        // Replayed messages share ids with live ones further along: lay them out afresh.
        ui.streaming.clear();
    }
    super::draw(frame, shown, ui, Pane::Conversation, conversation);
    super::draw(frame, shown, ui, Pane::Routing, routing);
    draw_tree(frame, app, ui, left);
}

fn draw_tree(frame: &mut Frame, app: &App, ui: &Ui, area: Rect) {
    let Some(trace) = app.trace.as_ref() else {
        return;
    };
    let theme = &ui.theme;
    let view = app.trace_view().unwrap_or_default();
    let root_title = app
        .list
        .threads
        .iter()
        .find(|t| t.id == trace.root)
        .and_then(|t| t.title.clone())
        .unwrap_or_else(|| trace.root.clone());
    let state = match &trace.replay {
        Some(replay) => format!(
            "replay {}/{} {} {}",
            replay.cursor,
            trace.events.len(),
            if replay.playing { "▶" } else { "❚❚" },
            if replay.fast { "4×" } else { "1×" }
        ),
        None if view.spans.iter().any(|s| s.end_ms.is_none()) => "live".to_string(),
        None => format!("{} events", trace.events.len()),
    };
    let title = format!(" Trace · {} · {state} ", clip(&root_title, 40));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border(true))
        .title(Text::styled(title, theme.fg("title")));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let message = if trace.loading {
        Some("Loading the trace…".to_string())
    } else if let Some(err) = &trace.error {
        Some(format!("The trace could not be loaded: {}", clip(err, 200)))
    } else if view.rows.is_empty() {
        Some("Nothing has happened in this thread yet.".to_string())
    } else {
        None
    };
    if let Some(message) = message {
        frame.render_widget(Paragraph::new(message).style(theme.fg("dim")), inner);
        return;
    }
    let width = inner.width as usize;
    let height = inner.height as usize;
    // Columns: the tree, the start offset, the duration, the bar, tokens and cost (the
    // last two only where there is room).
    let wide = width >= 100;
    let label_width = (width * 2 / 5).clamp(16, 60);
    let numbers = 7 + 7 + if wide { 11 + 9 } else { 0 };
    let bar_width = width.saturating_sub(label_width + numbers + 1).max(4);
    // Where the replay is on the time axis; what runs there runs until then.
    let replay_ms = trace.replay.as_ref().map(|r| {
        r.cursor
            .checked_sub(1)
            .and_then(|i| view.event_ms.get(i))
            .copied()
            .unwrap_or(0)
    });
    let now_ms = replay_ms.unwrap_or_else(|| view.at(app.now));
    let total = view.total_ms(now_ms);
    // Live, what runs grows: a frame a second while anything does.
    if replay_ms.is_none() && view.spans.iter().any(|s| s.end_ms.is_none()) {
        ui.redraw_at(app.now + 1);
    }
    let offset = trace.selected.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = view
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height)
        .map(|(index, row)| {
            let span = &view.spans[row.span];
            let (icon, style) = look(span, ui);
            let label = clip(&format!("{}{icon} {}", row.guides, span.label), label_width);
            let end = view.end_of(span, now_ms);
            let mut parts = vec![
                Text::styled(format!("{label:<label_width$}"), style),
                Text::styled(
                    format!("{:>7}", format!("+{}", duration(span.start_ms))),
                    theme.fg("dim"),
                ),
                Text::styled(
                    format!(
                        "{:>7}",
                        if span.kind == SpanKind::User {
                            String::new()
                        } else {
                            duration(end.saturating_sub(span.start_ms))
                        }
                    ),
                    theme.fg("text"),
                ),
                Text::raw(" "),
            ];
            parts.extend(bar(span, end, total, bar_width, replay_ms, style, ui));
            if wide {
                let tokens = if span.input_tokens + span.output_tokens > 0 {
                    format!(
                        "{}/{}",
                        super::compact(span.input_tokens),
                        super::compact(span.output_tokens)
                    )
                } else {
                    String::new()
                };
                let cost = if span.cost > 0.0 {
                    format!("${:.4}", span.cost)
                } else {
                    String::new()
                };
                parts.push(Text::styled(format!("{tokens:>11}"), theme.fg("dim")));
                parts.push(Text::styled(format!("{cost:>9}"), theme.fg("dim")));
            }
            let line = Line::from(parts);
            if index == trace.selected {
                theme.select_line(line)
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A span's icon and colour, by kind and status.
fn look(span: &Span, ui: &Ui) -> (&'static str, Style) {
    let theme = &ui.theme;
    let style = match span.status {
        SpanStatus::Running => theme.fg("running"),
        SpanStatus::Waiting => theme.fg("waiting"),
        SpanStatus::Done => theme.fg("text"),
        SpanStatus::Failed => theme.fg("error"),
    };
    let icon = match (span.kind, span.status) {
        (SpanKind::User, _) => "✎",
        (SpanKind::Reply, _) => "◆",
        (SpanKind::Step, _) => "○",
        (SpanKind::Hop, _) => "⇢",
        (SpanKind::Tool, SpanStatus::Running) => "⟳",
        (SpanKind::Tool, SpanStatus::Waiting) => "?",
        (SpanKind::Tool, SpanStatus::Done) => "✓",
        (SpanKind::Tool, SpanStatus::Failed) => "✗",
    };
    let style = match span.kind {
        SpanKind::Reply => style.add_modifier(Modifier::BOLD),
        SpanKind::User => theme.fg("user"),
        _ => style,
    };
    (icon, style)
}

/// The span's bar on the shared axis: blank before its start, drawn to its end (at least
/// one cell), with the replay's point marked across every row.
fn bar(
    span: &Span,
    end: u64,
    total: u64,
    width: usize,
    replay_ms: Option<u64>,
    style: Style,
    ui: &Ui,
) -> Vec<Text<'static>> {
    let column = |ms: u64| ((ms as u128 * width as u128) / total.max(1) as u128) as usize;
    let from = column(span.start_ms).min(width.saturating_sub(1));
    let to = column(end).clamp(from + 1, width);
    let marker = replay_ms.map(|ms| column(ms).min(width.saturating_sub(1)));
    let running = span.end_ms.is_none();
    let mut cells: Vec<Text<'static>> = Vec::with_capacity(3);
    let mut text = String::new();
    let mut current: Option<Style> = None;
    let dim = ui.theme.fg("dim");
    for x in 0..width {
        let (c, s) = if x >= from && x < to {
            let c = if span.kind == SpanKind::User {
                '▏'
            } else if running && x + 1 == to {
                '▸'
            } else {
                '━'
            };
            (c, style)
        } else if marker == Some(x) {
            ('┊', dim)
        } else {
            (' ', Style::default())
        };
        if current != Some(s) && !text.is_empty() {
            cells.push(Text::styled(
                std::mem::take(&mut text),
                current.unwrap_or_default(),
            ));
        }
        current = Some(s);
        text.push(c);
    }
    if !text.is_empty() {
        cells.push(Text::styled(text, current.unwrap_or_default()));
    }
    cells
}

/// 850ms, 3.4s, 2m05s.
pub fn duration(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

#[cfg(test)]
mod tests {
    use crate::app::{App, AppEvent, Effect, Mode, Pane};
    use crate::fixtures::{routed_run_events, routed_workspace};
    use crate::keymap::{Action, Keymap};
    use crate::screen::draw;
    use crate::theme::Theme;
    use crate::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::screen::testing::render_workspace as render;

    /// The trace of triage's thread, loaded.
    fn traced() -> App {
        let mut app = routed_workspace();
        app.focus = Pane::Threads;
        let root = app
            .visible_threads()
            .iter()
            .position(|t| t.id == "thread_0456")
            .unwrap();
        app.list.selected = root;
        let effects = app.act(Action::Trace);
        assert_eq!(effects, vec![Effect::LoadTrace("thread_0456".into())]);
        assert_eq!(app.mode, Mode::Trace);
        assert!(render(&app, 120, 20).contains("Loading the trace…"));
        app.apply(AppEvent::TraceLoaded {
            root: "thread_0456".into(),
            events: Ok(routed_run_events()),
        });
        app
    }

    #[test]
    fn the_trace_of_a_routed_run() {
        let app = traced();
        insta::assert_snapshot!("trace_120x24", render(&app, 120, 24));
        let wide = render(&app, 200, 30);
        assert!(wide.contains("240/60"), "tokens at 200 columns: {wide}");
        insta::assert_snapshot!("trace_200x30", wide);
        let narrow = render(&app, 80, 24);
        insta::assert_snapshot!("trace_80x24", narrow);
    }

    #[test]
    fn replay_steps_through_the_events_and_shows_the_state_at_that_point() {
        let mut app = traced();
        // Step to the routing event (the 7th): the hop is there, the child's reply not yet.
        for _ in 0..7 {
            app.trace_act(Action::StepForward);
        }
        let replay = app.trace.as_ref().unwrap().replay.as_ref().unwrap();
        assert_eq!(replay.cursor, 7);
        assert_eq!(
            replay
                .state
                .routes
                .edges
                .values()
                .map(|e| e.count)
                .sum::<u32>(),
            1
        );
        let screen = render(&app, 120, 24);
        assert!(screen.contains("replay 7/17"), "{screen}");
        assert!(!screen.contains("reply by billing"), "{screen}");
        insta::assert_snapshot!("trace_replay_120x24", screen);
        // Back one: the routing is not there yet.
        app.trace_act(Action::StepBack);
        let replay = app.trace.as_ref().unwrap().replay.as_ref().unwrap();
        assert_eq!(replay.cursor, 6);
        assert!(replay.state.routes.edges.is_empty());
        // Space plays: each tick takes the next event, until the end.
        app.trace_act(Action::Play);
        assert!(app.replay_wait().is_some());
        for _ in 0..20 {
            app.replay_tick();
        }
        let replay = app.trace.as_ref().unwrap().replay.as_ref().unwrap();
        assert_eq!(replay.cursor, 17);
        assert!(!replay.playing);
        assert!(app.replay_wait().is_none());
        // Esc ends the replay, then the trace.
        app.trace_act(Action::Leave);
        assert!(app.trace.as_ref().unwrap().replay.is_none());
        app.trace_act(Action::Leave);
        assert_eq!(app.mode, Mode::Normal);
    }

    #[test]
    fn a_live_trace_asks_for_a_frame_a_second_and_a_finished_one_does_not() {
        let mut app = traced();
        let frame = |app: &App| {
            let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
            let mut terminal = Terminal::new(TestBackend::new(120, 24)).unwrap();
            terminal.draw(|frame| draw(frame, app, &mut ui)).unwrap();
            ui.next_age_change()
        };
        // Finished: only the relative times of the conversation beside it ask (later).
        assert!(frame(&app).is_none_or(|at| at > app.now + 1));
        let events = routed_run_events();
        let running = events.len() - 3;
        app.apply(AppEvent::TraceLoaded {
            root: "thread_0456".into(),
            events: Ok(Vec::new()),
        });
        let trace = app.trace.as_mut().unwrap();
        *trace = crate::app::Trace::for_test("thread_0456", events[..running].to_vec());
        assert_eq!(frame(&app), Some(app.now + 1));
    }

    #[test]
    fn live_events_join_a_loaded_trace_once_each_and_in_order() {
        let mut app = routed_workspace();
        let root = app
            .visible_threads()
            .iter()
            .position(|t| t.id == "thread_0456")
            .unwrap();
        app.list.selected = root;
        app.act(Action::Trace);
        let events = routed_run_events();
        // The log up to the routing, while the live stream already brought later events
        // and brings some twice.
        for event in &events[9..12] {
            app.apply(AppEvent::Server(event.clone()));
        }
        app.apply(AppEvent::TraceLoaded {
            root: "thread_0456".into(),
            events: Ok(events[..10].to_vec()),
        });
        for event in &events[11..] {
            app.apply(AppEvent::Server(event.clone()));
        }
        let kept: Vec<Option<u64>> = app
            .trace
            .as_ref()
            .unwrap()
            .events
            .iter()
            .map(|e| e.id)
            .collect();
        let all: Vec<Option<u64>> = events.iter().map(|e| e.id).collect();
        assert_eq!(kept, all);
    }

    #[test]
    fn enter_on_a_hop_opens_the_routed_thread() {
        let mut app = traced();
        for _ in 0..4 {
            app.trace_act(Action::Down);
        }
        app.trace_act(Action::Open);
        assert_eq!(app.mode, Mode::Normal);
        assert_eq!(app.conversation.open_thread.as_deref(), Some("thread_0460"));
        assert_eq!(app.focus, Pane::Conversation);
    }
}
