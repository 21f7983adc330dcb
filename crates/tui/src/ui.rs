//! Drawing: a pure function of the app state plus UI-only state (the composer, the
//! layout cache, the highlighter). The frame is split into the panes of `panes`; every
//! piece of untrusted text goes through `text::sanitize` there.

use super::app::{App, Mode, Pane};
use super::highlight::Highlighter;
use super::keymap::Keymap;
use super::panes;
use super::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;
use std::collections::HashMap;
use std::sync::Arc;

/// A message laid out at one width: its lines in parts that may be shared (a streaming
/// reply shares its finished paragraphs with the cache, so a frame need not copy them).
#[derive(Debug)]
pub struct WrappedMessage {
    parts: Vec<Arc<Vec<Line<'static>>>>,
    len: usize,
    /// (first, last) line of each code block.
    pub code_blocks: Vec<(usize, usize)>,
}

impl WrappedMessage {
    pub fn new(parts: Vec<Arc<Vec<Line<'static>>>>, code_blocks: Vec<(usize, usize)>) -> Self {
        let len = parts.iter().map(|p| p.len()).sum();
        WrappedMessage {
            parts,
            len,
            code_blocks,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies of the lines from `skip` on.
    pub fn lines_from(&self, skip: usize) -> Vec<Line<'static>> {
        let mut out = Vec::with_capacity(self.len.saturating_sub(skip));
        let mut at = 0;
        for part in &self.parts {
            let end = at + part.len();
            if end > skip {
                out.extend(part[skip.saturating_sub(at)..].iter().cloned());
            }
            at = end;
        }
        out
    }
}

/// A composer holding `text`, with the cursor at its end (where typing goes on).
pub fn composer_with(text: &str) -> TextArea<'static> {
    let mut composer = TextArea::from(text.lines());
    composer.move_cursor(ratatui_textarea::CursorMove::Bottom);
    composer.move_cursor(ratatui_textarea::CursorMove::End);
    composer
}

/// Laid-out lines shared between a cache and the frames that show them.
pub type SharedLines = Arc<Vec<Line<'static>>>;

/// The finished lines of a reply that is streaming, laid out (cheap to clone: shared).
#[derive(Clone)]
pub struct StreamingPrefix {
    pub width: usize,
    /// Bytes of the (sanitized) text they cover.
    pub prefix_len: usize,
    pub lines: SharedLines,
    /// (first, last) line of each code block among them.
    pub blocks: Arc<Vec<(usize, usize)>>,
}

/// UI-only state: what the app state does not need to know.
pub struct Ui {
    pub keymap: Keymap,
    pub theme: Theme,
    pub composer: TextArea<'static>,
    /// Laid-out finished messages, by (message id, width, reasoning shown).
    pub wrapped: HashMap<(String, u16, bool), Arc<WrappedMessage>>,
    pub highlighter: Highlighter,
    /// The laid-out finished lines of the replies streaming, by message id.
    pub streaming: HashMap<String, StreamingPrefix>,
    /// Where each pane was drawn last (for the mouse).
    pub areas: Vec<(Pane, Rect)>,
    /// The conversation's scroll as last drawn (it moves to show a selection).
    pub scroll_used: usize,
    /// When the soonest relative time drawn in the last frame changes (Unix seconds):
    /// the loop draws again then, and not before, when nothing else happens.
    next_age_change: std::cell::Cell<Option<u64>>,
    /// The routing graph's view, as last drawn (it moves only to keep the cursor in view).
    pub routing_scroll: (u16, u16),
    /// Steps of the animation of live edges; the loop advances it while one is drawn.
    pub phase: u64,
    /// The last frame drew something that moves.
    pub animating: std::cell::Cell<bool>,
    /// Which of Tools, Routing and Memory a narrow layout shows in its lower left (the
    /// one focused last).
    pub drawer: Pane,
    /// The wall's replies laid out as markdown, by (message id, text length, width).
    pub wall_lines: HashMap<(String, usize, usize), SharedLines>,
}

impl Ui {
    pub fn new(keymap: Keymap, theme: Theme) -> Ui {
        Ui {
            keymap,
            theme,
            composer: TextArea::default(),
            wrapped: HashMap::new(),
            highlighter: Highlighter::plain(),
            streaming: HashMap::new(),
            areas: Vec::new(),
            scroll_used: 0,
            next_age_change: std::cell::Cell::new(None),
            routing_scroll: (0, 0),
            phase: 0,
            animating: std::cell::Cell::new(false),
            drawer: Pane::Tools,
            wall_lines: HashMap::new(),
        }
    }

    /// Switches the theme; laid-out lines carry the old colours, so they go.
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.wrapped.clear();
        self.streaming.clear();
    }

    /// A code block's highlighting arrived: lay messages out again to show it.
    pub fn highlighted(&mut self, key: u64, lines: super::highlight::Highlighted) {
        self.highlighter.insert(key, lines);
        self.wrapped.clear();
        self.streaming.clear();
    }

    /// A relative time ("5s", "2m") as drawn, noting when it will read differently.
    pub fn ago(&self, now: u64, then: u64) -> String {
        let changes = super::app::ago_changes_at(now, then);
        let soonest = self
            .next_age_change
            .get()
            .map_or(changes, |at| at.min(changes));
        self.next_age_change.set(Some(soonest));
        super::app::ago(now, then)
    }

    /// Asks for a frame at `at` (Unix seconds) even if nothing else changes (a duration
    /// on screen that grows while something runs).
    pub fn redraw_at(&self, at: u64) {
        let soonest = self.next_age_change.get().map_or(at, |known| known.min(at));
        self.next_age_change.set(Some(soonest));
    }

    /// When a relative time drawn in the last frame changes, if one was drawn.
    pub fn next_age_change(&self) -> Option<u64> {
        self.next_age_change.get()
    }

    /// The pane at a screen position.
    pub fn pane_at(&self, column: u16, row: u16) -> Option<(Pane, Rect)> {
        self.areas
            .iter()
            .rev()
            .find(|(_, r)| {
                column >= r.x && column < r.x + r.width && row >= r.y && row < r.y + r.height
            })
            .copied()
    }
}

pub fn draw(frame: &mut Frame, app: &App, ui: &mut Ui) {
    ui.areas.clear();
    ui.next_age_change.set(None);
    ui.animating.set(false);
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
mod tests {
    use super::*;
    use crate::app::Pane;
    use crate::fixtures::{message, workspace};
    use crate::keymap::Action;
    use agentdeck_model::{Message, Role};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use crate::panes::testing::render_workspace as render;

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
                        app.selection = app.messages.last().map(|m| crate::app::Selection {
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
                        thread_id: searching.threads[0].id.clone(),
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
            for thread in &app.threads {
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
            .threads
            .iter()
            .map(|t| t.updated_at)
            .chain(app.messages.iter().map(|m| m.created_at))
            .chain(app.memory.iter().flat_map(|m| {
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
        app.messages = messages;
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
