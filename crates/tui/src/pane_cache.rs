//! The cells of panes as last drawn, reused while nothing they show has changed.
//!
//! While a reply streams, only the conversation changes from frame to frame, yet every
//! pane was laid out and drawn again at each one. The loop tells the cache what changed:
//! a reply's text only (the conversation's alone), or anything else (every pane drawn
//! again). A pane is drawn from its cells when its place, the clock it shows and the
//! animation's step are the same as when they were drawn, and nothing but reply text
//! changed since.

use super::app::AppEvent;
use super::pane::Pane;
use agentdeck_model::EventPayload;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// What a pane's cells were drawn from, besides the state the generation stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Drawn {
    area: Rect,
    generation: u64,
    /// The clock (Unix seconds): relative times read from it.
    now: u64,
    /// The animation's step (live routing edges).
    phase: u64,
}

/// One pane's cells and what drawing them noted for the loop.
struct Entry {
    drawn: Drawn,
    cells: Buffer,
    noted: Noted,
}

/// The panes' cells as last drawn.
#[derive(Default)]
pub struct PaneCache {
    /// Counts changes other than reply text; a pane drawn at an older one is stale.
    generation: u64,
    entries: Vec<(Pane, Entry)>,
    /// Off: every pane is drawn at every frame (tests compare both ways).
    disabled: bool,
}

/// What drawing a pane afresh noted, for the cache to keep beside its cells.
#[derive(Clone, Copy, Default)]
pub struct Noted {
    /// When a relative time drawn reads differently (Unix seconds).
    pub next_age_change: Option<u64>,
    /// Something drawn moves.
    pub animating: bool,
}

impl PaneCache {
    /// Something besides reply text changed (a key, an event, a timer): every pane is
    /// drawn again at the next frame.
    pub fn invalidate(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// An event reached the state: unless it only grew a reply's text (or reasoning),
    /// which the conversation alone shows, every pane is drawn again.
    pub fn changed_by(&mut self, event: &AppEvent) {
        if !only_reply_text(event) {
            self.invalidate();
        }
    }

    /// Draws every pane at every frame from now on.
    pub fn disable(&mut self) {
        self.disabled = true;
        self.entries.clear();
    }

    /// The cells of `pane` if they were drawn at `area` from what is current, with what
    /// drawing them noted.
    pub fn reuse(&self, pane: Pane, area: Rect, now: u64, phase: u64) -> Option<(&Buffer, Noted)> {
        if self.disabled {
            return None;
        }
        let wanted = Drawn {
            area,
            generation: self.generation,
            now,
            phase,
        };
        self.entries
            .iter()
            .find(|(p, entry)| *p == pane && entry.drawn == wanted)
            .map(|(_, entry)| (&entry.cells, entry.noted))
    }

    /// Keeps the cells `pane` was just drawn with at `area` in `buf`.
    pub fn keep(
        &mut self,
        pane: Pane,
        buf: &Buffer,
        area: Rect,
        now: u64,
        phase: u64,
        noted: Noted,
    ) {
        if self.disabled {
            return;
        }
        let drawn = Drawn {
            area,
            generation: self.generation,
            now,
            phase,
        };
        let held = area.intersection(buf.area);
        let index = match self.entries.iter().position(|(p, _)| *p == pane) {
            Some(index) => index,
            None => {
                let cells = Buffer::empty(held);
                self.entries.push((
                    pane,
                    Entry {
                        drawn,
                        cells,
                        noted,
                    },
                ));
                self.entries.len() - 1
            }
        };
        let entry = &mut self.entries[index].1;
        // The pane's last cells are overwritten in place while its area stays: no
        // buffer allocated, and each cell's text reuses its allocation.
        if entry.cells.area != held {
            entry.cells = Buffer::empty(held);
        }
        copy_cells(buf, &mut entry.cells, held);
        entry.drawn = drawn;
        entry.noted = noted;
    }
}

/// The event only grows the text or reasoning of a reply.
fn only_reply_text(event: &AppEvent) -> bool {
    match event {
        AppEvent::From(_, inner) => only_reply_text(inner),
        AppEvent::Server(event) => matches!(
            event.payload,
            EventPayload::MessageDelta(_) | EventPayload::ReasoningDelta(_)
        ),
        _ => false,
    }
}

/// Copies the cells of `area` from one buffer into another (the part both hold).
pub fn copy_cells(from: &Buffer, to: &mut Buffer, area: Rect) {
    let area = area.intersection(from.area).intersection(to.area);
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    for y in area.top()..area.bottom() {
        // Inside both buffers' areas, so both indexes are in bounds.
        let source = from.index_of(area.x, y);
        let target = to.index_of(area.x, y);
        to.content[target..target + width].clone_from_slice(&from.content[source..source + width]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::fixtures::{delta, routed_run_events, routed_workspace};
    use crate::keymap::Keymap;
    use crate::theme::Theme;
    use crate::ui::Ui;
    use crossterm::event::{KeyCode, KeyEvent};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    /// One workspace as the loop runs it: its state, UI state and terminal.
    struct Desk {
        app: App,
        ui: Ui,
        terminal: Terminal<TestBackend>,
    }

    impl Desk {
        fn new(cached: bool) -> Desk {
            let mut ui = Ui::new(Keymap::default_keymap(), Theme::default_theme());
            if !cached {
                ui.panes.disable();
            }
            Desk {
                app: routed_workspace(),
                ui,
                terminal: Terminal::new(TestBackend::new(160, 45)).unwrap(),
            }
        }

        fn event(&mut self, event: AppEvent) {
            self.ui.panes.changed_by(&event);
            self.app.apply(event);
        }

        fn key(&mut self, code: KeyCode) {
            self.ui.panes.invalidate();
            crate::input::handle_key(&mut self.app, &mut self.ui, KeyEvent::from(code));
        }

        fn draw(&mut self) -> Buffer {
            let Desk { app, ui, terminal } = self;
            terminal
                .draw(|frame| crate::screen::draw(frame, app, ui))
                .unwrap();
            terminal.backend().buffer().clone()
        }
    }

    /// One thing that happens to a workspace.
    type Step = Box<dyn Fn(&mut Desk)>;

    /// Every step of a routed run, with reply text streaming between its events, keys
    /// pressed and the clock moving: the frames drawn with panes reused are the frames
    /// drawn afresh, and panes are reused while only text streams.
    #[test]
    fn frames_with_reused_panes_are_the_frames_drawn_afresh() {
        let (mut cached, mut fresh) = (Desk::new(true), Desk::new(false));
        let mut steps: Vec<Step> = Vec::new();
        for (n, event) in routed_run_events().into_iter().enumerate() {
            let thread = match &event.payload {
                EventPayload::MessageCreated(e) => Some(e.thread_id.clone()),
                _ => None,
            };
            let message = match &event.payload {
                EventPayload::MessageCreated(e) => Some(e.message_id.clone()),
                _ => None,
            };
            steps.push(Box::new(move |desk| {
                desk.event(AppEvent::Server(event.clone()))
            }));
            if let (Some(thread), Some(message)) = (thread, message) {
                for word in ["Looking ", "into **ORD-4521**", "\n\n- first", " point\n"] {
                    let (thread, message) = (thread.clone(), message.clone());
                    steps.push(Box::new(move |desk| {
                        desk.event(delta(&thread, &message, word));
                    }));
                }
            }
            match n % 5 {
                1 => steps.push(Box::new(|desk| desk.key(KeyCode::Char('j')))),
                2 => steps.push(Box::new(|desk| desk.app.now += 7)),
                3 => steps.push(Box::new(|desk| desk.key(KeyCode::Tab))),
                _ => {}
            }
        }
        let mut reused = 0;
        for (at, step) in steps.iter().enumerate() {
            step(&mut cached);
            step(&mut fresh);
            let threads_area = cached
                .ui
                .areas
                .iter()
                .find(|(pane, _)| *pane == Pane::Threads)
                .map(|(_, area)| *area);
            if let Some(area) = threads_area {
                let phase = cached.ui.phase;
                if cached
                    .ui
                    .panes
                    .reuse(Pane::Threads, area, cached.app.now, phase)
                    .is_some()
                {
                    reused += 1;
                }
            }
            assert_eq!(cached.draw(), fresh.draw(), "frame after step {at}");
        }
        assert!(reused >= 10, "panes reused at {reused} steps only");
    }
}
