//! UI-only state: what drawing needs beside the app state (the composer, the layout
//! caches, the highlighter, where each pane was drawn). `screen` splits the frame and
//! `panes` draw into it; every piece of untrusted text is sanitized there.

use super::highlight::Highlighter;
use super::keymap::Keymap;
use super::pane::Pane;
use super::pane_cache::{Noted, PaneCache};
use super::theme::Theme;
use ratatui::layout::Rect;
use ratatui::text::Line;
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
    /// The panes' cells as last drawn, reused while only a reply's text changes.
    pub panes: PaneCache,
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
            panes: PaneCache::default(),
        }
    }

    /// Switches the theme; laid-out lines carry the old colours, so they go.
    pub fn set_theme(&mut self, theme: Theme) {
        self.theme = theme;
        self.panes.invalidate();
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

    /// Forgets what the last frame noted: where panes were, the soonest age change,
    /// whether something moved.
    pub fn begin_frame(&mut self) {
        self.areas.clear();
        self.next_age_change.set(None);
        self.animating.set(false);
    }

    /// What the frame has noted so far (the soonest age change, whether something
    /// moves), taken: drawing a pane afresh notes its own from nothing.
    pub fn take_noted(&self) -> Noted {
        Noted {
            next_age_change: self.next_age_change.take(),
            animating: self.animating.replace(false),
        }
    }

    /// Adds what a pane noted to the frame's (a pane drawn from its cells notes what
    /// drawing them did).
    pub fn note(&self, noted: Noted) {
        if let Some(at) = noted.next_age_change {
            self.redraw_at(at);
        }
        self.animating.set(self.animating.get() || noted.animating);
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
