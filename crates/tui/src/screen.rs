//! The frame split into the workspace's panes: which panes a size and a mode show,
//! where, and the overlays (help, costs, search, a call's detail) drawn over them.

use super::app::{App, Mode};
use super::pane::Pane;
use super::panes;
use super::ui::Ui;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::Paragraph;

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui) {
    ui.begin_frame();
    let area = frame.area();
    if area.width < 20 || area.height < 5 {
        frame.render_widget(Paragraph::new("agentdeck: enlarge the window"), area);
        return;
    }
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    if app.mode == Mode::Wall {
        panes::wall::draw(frame, app, ui, main);
    } else if app.mode == Mode::Trace {
        panes::trace::draw(frame, app, ui, main);
    } else if app.zoom {
        panes::draw(frame, app, ui, app.focus, main);
    } else {
        // Narrow terminals give the threads more of the width, so titles stay readable.
        let left_share = if main.width < 100 { 52 } else { 38 };
        let [left, right] = Layout::horizontal([
            Constraint::Percentage(left_share),
            Constraint::Percentage(100 - left_share),
        ])
        .areas(main);
        let composer_height = if matches!(app.mode, Mode::Compose(_)) {
            6
        } else {
            3
        };
        // Memory gets a strip under the conversation when there is room for both.
        let memory_height = if right.height >= 24 && main.width >= 100 {
            9
        } else {
            0
        };
        let [conversation, memory, composer] = Layout::vertical([
            Constraint::Min(3),
            Constraint::Length(memory_height),
            Constraint::Length(composer_height),
        ])
        .areas(right);
        // A pane that has no place of its own here is drawn where the focus can see it:
        // the lower left shows the one of Tools, Routing and Memory focused last.
        if matches!(app.focus, Pane::Tools | Pane::Routing | Pane::Memory) {
            ui.drawer = app.focus;
        }
        if main.width < 100 {
            let [threads, drawer] =
                Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(left);
            panes::draw(frame, app, ui, Pane::Threads, threads);
            panes::draw(frame, app, ui, ui.drawer, drawer);
        } else {
            let [threads, tools, routing] = Layout::vertical([
                Constraint::Percentage(50),
                Constraint::Percentage(25),
                Constraint::Percentage(25),
            ])
            .areas(left);
            panes::draw(frame, app, ui, Pane::Threads, threads);
            panes::draw(frame, app, ui, Pane::Tools, tools);
            // Memory without its strip takes the routing graph's place while it is
            // focused.
            let lower = if memory_height == 0 && app.focus == Pane::Memory {
                Pane::Memory
            } else {
                Pane::Routing
            };
            panes::draw(frame, app, ui, lower, routing);
        }
        panes::draw(frame, app, ui, Pane::Conversation, conversation);
        if memory_height > 0 {
            panes::draw(frame, app, ui, Pane::Memory, memory);
        }
        panes::composer::draw(frame, app, ui, composer);
    }
    panes::status::draw(frame, app, ui, status);
    if matches!(app.mode, Mode::CallDetail(_)) {
        panes::call::draw(frame, app, ui, area);
    }
    if app.mode == Mode::Help {
        panes::status::draw_help(frame, app, ui, area);
    }
    if app.mode == Mode::Costs {
        panes::status::draw_costs(frame, app, ui, area);
    }
    if app.mode == Mode::GlobalSearch {
        panes::search::draw(frame, app, ui, area);
    }
}

#[cfg(test)]
pub mod testing {
    use crate::app::App;
    use crate::keymap::Keymap;
    use crate::pane::Pane;
    use crate::panes;
    use crate::theme::Theme;
    use crate::ui::Ui;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// The whole workspace (panes, views and status bar), drawn at a size.
    pub fn render_workspace(app: &App, width: u16, height: u16) -> String {
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| super::draw(frame, app, &mut ui))
            .unwrap();
        format!("{}", terminal.backend())
    }

    /// One pane alone, drawn at a size.
    pub fn render_pane(app: &App, pane: Pane, width: u16, height: u16) -> String {
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| panes::draw(frame, app, &mut ui, pane, frame.area()))
            .unwrap();
        format!("{}", terminal.backend())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{message, workspace};
    use crate::keymap::Action;
    use crate::keymap::Keymap;
    use crate::theme::Theme;
    use crate::ui::composer_with;
    use agentdeck_model::{Message, Role};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use testing::render_workspace as render;

    /// Every theme, at three sizes, with each pane focused (so each selection bar shows)
    /// and the search view open: no drawn character has its background's colour, and the
    /// light theme draws nothing in white, bright white, grey or black (the background of
    /// many light palettes).
    #[test]
    fn every_theme_keeps_every_drawn_character_readable() {
        use ratatui::style::Color;
        for name in ["default", "light", "high-contrast"] {
            let theme = Theme::load(name, std::path::Path::new("/nonexistent")).unwrap();
            for (width, height) in [(80, 24), (120, 36), (200, 50)] {
                let mut views: Vec<App> = Pane::ALL
                    .iter()
                    .map(|pane| {
                        let mut app = crate::fixtures::routed_workspace();
                        app.focus = *pane;
                        app.conversation.selection =
                            app.conversation
                                .messages
                                .last()
                                .map(|m| crate::app::Selection {
                                    message_id: m.id.clone(),
                                    code_block: None,
                                });
                        app
                    })
                    .collect();
                let mut searching = workspace();
                let _ = searching.open_global_search("refund");
                searching.apply(crate::app::AppEvent::SearchResults {
                    seq: searching.global_search.seq,
                    hits: Ok(vec![agentdeck_model::SearchHit {
                        thread_id: searching.list.threads[0].id.clone(),
                        message_id: Some("msg_1".into()),
                        assistant_id: "asst_triage".into(),
                        kind: agentdeck_model::HitKind::Message,
                        snippet: "the refund was sent".into(),
                        highlights: vec![[4, 10]],
                        score: 1.0,
                        created_at: 0,
                    }]),
                });
                views.push(searching);
                // The graph drawn whole, the wall, the trace and a replay.
                let mut graph = crate::fixtures::routed_workspace();
                graph.focus = Pane::Routing;
                graph.zoom = true;
                views.push(graph);
                let mut wall = crate::fixtures::routed_workspace();
                wall.act(crate::keymap::Action::Wall);
                views.push(wall);
                for replay in [false, true] {
                    let mut traced = crate::fixtures::routed_workspace();
                    traced.act(crate::keymap::Action::Trace);
                    let root = traced.trace.as_ref().unwrap().root.clone();
                    traced.apply(crate::app::AppEvent::TraceLoaded {
                        root,
                        events: Ok(crate::fixtures::routed_run_events()),
                    });
                    if replay {
                        for _ in 0..9 {
                            traced.trace_act(crate::keymap::Action::StepForward);
                        }
                    }
                    views.push(traced);
                }
                for app in &views {
                    let mut ui = Ui::new(Keymap::default_keymap(), theme.clone());
                    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
                    terminal.draw(|frame| draw(frame, app, &mut ui)).unwrap();
                    let buffer = terminal.backend().buffer();
                    for y in 0..height {
                        for x in 0..width {
                            let cell = &buffer[(x, y)];
                            if cell.symbol().trim().is_empty() {
                                continue;
                            }
                            let at = format!(
                                "theme {name} at {width}x{height}, focus {:?}, cell ({x}, {y}) {:?}",
                                app.focus,
                                cell.symbol()
                            );
                            assert!(
                                cell.fg != cell.bg || cell.fg == Color::Reset,
                                "{at}: {:?} on {:?}",
                                cell.fg,
                                cell.bg
                            );
                            if name == "light" {
                                assert!(
                                    !matches!(
                                        cell.fg,
                                        Color::White | Color::Gray | Color::DarkGray | Color::Black
                                    ),
                                    "{at}: drawn in {:?}",
                                    cell.fg
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    /// The states a glance tells apart — running, waiting, done, failed — have four
    /// different colours in every theme.
    #[test]
    fn every_theme_tells_running_waiting_ok_and_error_apart() {
        for name in ["default", "light", "high-contrast"] {
            let theme = Theme::load(name, std::path::Path::new("/nonexistent")).unwrap();
            let colours: Vec<_> = ["running", "waiting", "ok", "error"]
                .iter()
                .map(|field| theme.fg(field).fg)
                .collect();
            for (i, a) in colours.iter().enumerate() {
                for b in &colours[i + 1..] {
                    assert_ne!(a, b, "theme {name}: two states share {a:?}");
                }
            }
        }
    }

    #[test]
    fn titles_win_over_chips_at_80_columns_and_more() {
        let app = workspace();
        for width in [80, 120, 200] {
            let screen = render(&app, width, 24);
            for thread in &app.list.threads {
                let title = thread.title.clone().unwrap_or_default();
                let start: String = title.chars().take(20).collect();
                assert!(
                    screen.contains(&start),
                    "at {width} columns, {start:?} is not shown:\n{screen}"
                );
            }
        }
    }

    #[test]
    fn workspace_with_every_pane() {
        insta::assert_snapshot!(render(&workspace(), 140, 36));
    }

    #[test]
    fn each_pane_zoomed() {
        for pane in Pane::ALL {
            let mut app = workspace();
            app.focus = pane;
            app.zoom = true;
            insta::assert_snapshot!(
                format!("zoom_{}", pane.title().to_lowercase()),
                render(&app, 100, 20)
            );
        }
    }

    #[test]
    fn filter_help_and_composer_views() {
        let mut app = workspace();
        app.act(Action::Filter);
        app.set_filter("status:requires_action legal".into());
        insta::assert_snapshot!("filter", render(&app, 120, 16));
        let mut app = workspace();
        app.act(Action::Help);
        insta::assert_snapshot!("help", render(&app, 100, 30));
        let mut app = workspace();
        app.act(Action::Compose);
        insta::assert_snapshot!("composer", render(&app, 100, 20));
        let mut app = workspace();
        app.act(Action::Palette);
        app.mode = Mode::Palette("theme li".into());
        app.limits = Some(agentdeck_model::LimitsView {
            tokens_per_minute: 100_000,
            concurrent_threads: 500,
            estimated_cost: 0.000456,
            tokens_used_last_minute: 1234,
            running_threads: 1,
            queued_threads: 0,
            provider_rate_limits: Default::default(),
        });
        insta::assert_snapshot!("palette", render(&app, 120, 16));
        app.mode = Mode::Normal;
        insta::assert_snapshot!("status_with_limits", render(&app, 160, 12));
    }

    #[test]
    fn a_frame_knows_when_its_soonest_relative_time_changes() {
        let mut app = workspace();
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(140, 36)).unwrap();
        terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
        let shown: Vec<u64> = app
            .list
            .threads
            .iter()
            .map(|t| t.updated_at)
            .chain(app.conversation.messages.iter().map(|m| m.created_at))
            .chain(app.conversation.memory.iter().flat_map(|m| {
                m.updated_at
                    .into_iter()
                    .chain(m.changes.iter().map(|c| c.at))
            }))
            .collect();
        for now in [
            app.now,
            app.now + 30,
            app.now + 3_600 + 7,
            app.now + 400_000,
        ] {
            app.now = now;
            terminal.draw(|f| draw(f, &app, &mut ui)).unwrap();
            let soonest = shown
                .iter()
                .map(|&t| crate::app::ago_changes_at(now, t))
                .min();
            assert_eq!(ui.next_age_change(), soonest);
            assert!(soonest.unwrap() > now);
        }
    }

    #[test]
    fn at_80x24_the_focused_pane_of_the_lower_left_is_drawn() {
        for (pane, title) in [
            (Pane::Memory, "5 Memory"),
            (Pane::Routing, "4 Routing"),
            (Pane::Tools, "3 Tools"),
        ] {
            let mut app = workspace();
            app.focus = pane;
            let screen = render(&app, 80, 24);
            assert!(screen.contains(title), "{pane:?}: {screen}");
        }
    }

    #[test]
    fn a_restored_draft_puts_the_cursor_at_its_end() {
        let composer = composer_with("first line\nsecond");
        assert_eq!(composer.cursor(), (1, 6));
    }

    #[test]
    fn tiny_sizes_and_resize_storms_never_panic() {
        let app = workspace();
        for width in [1, 5, 19, 20, 21, 33, 60] {
            for height in [1, 2, 4, 5, 6, 9, 12] {
                let screen = render(&app, width, height);
                assert!(
                    !screen.contains('\u{1b}'),
                    "no escape from model output reaches the screen"
                );
            }
        }
        insta::assert_snapshot!("tiny_20x5", render(&app, 20, 5));
    }

    #[test]
    fn a_long_conversation_lays_out_only_its_tail() {
        let mut app = workspace();
        let messages: Vec<Message> = (0..10_000)
            .map(|i| {
                message(
                    &format!("msg_{i}"),
                    Role::User,
                    &format!("message number {i}"),
                )
            })
            .collect();
        app.conversation.messages = messages;
        let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).unwrap();
        terminal.draw(|frame| draw(frame, &app, &mut ui)).unwrap();
        assert!(
            ui.wrapped.len() < 30,
            "only visible messages were wrapped: {}",
            ui.wrapped.len()
        );
        let screen = format!("{}", terminal.backend());
        assert!(screen.contains("message number 9999"));
    }
}
