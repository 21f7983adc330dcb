//! The live wall (`w`): the most recently active threads side by side, each the live tail
//! of its conversation. Every thread's last words are kept from the event stream, bounded
//! (a few messages, a few KiB each, for the threads active last), so a tile never needs
//! its thread opened; a tile with nothing yet loads its last messages once.

use super::*;
use agentdeck_model::{EventPayload, Role};

/// Bytes of text kept per message of a tail (at least; up to twice as many between cuts),
/// and messages kept per thread.
const TAIL_BYTES: usize = 4096;
const TAIL_MESSAGES: usize = 4;
/// Threads whose tails are kept; the one updated longest ago goes first.
const TAILS_KEPT: usize = 64;
/// Tiles at most (3×3).
pub const WALL_TILES: usize = 9;

/// One message's last words.
#[derive(Debug, Clone, PartialEq)]
pub struct TailEntry {
    pub message_id: String,
    pub role: Role,
    /// Sanitized as it arrived.
    pub text: String,
}

/// The last words of one thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    pub entries: VecDeque<TailEntry>,
    /// When it last changed, in updates seen (for keeping the active ones).
    touched: u64,
}

impl Tail {
    fn entry(&mut self, message_id: &str, role: Role) -> &mut TailEntry {
        let at = match self.entries.iter().position(|e| e.message_id == message_id) {
            Some(at) => at,
            None => {
                self.entries.push_back(TailEntry {
                    message_id: message_id.to_string(),
                    role,
                    text: String::new(),
                });
                if self.entries.len() > TAIL_MESSAGES {
                    self.entries.pop_front();
                }
                self.entries.len() - 1
            }
        };
        &mut self.entries[at]
    }
}

/// Appends sanitized text, keeping at least the last `TAIL_BYTES` bytes and at most twice
/// that: the front is cut (at a character) only when the text has doubled, so a long reply
/// does not move its tail on every delta.
fn append_bounded(text: &mut String, more: &str) {
    text.extend(
        more.chars()
            .filter_map(agentdeck_model::text::sanitize_char),
    );
    if text.len() > 2 * TAIL_BYTES {
        let mut cut = text.len() - TAIL_BYTES;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.drain(..cut);
    }
}

/// The wall's threads among `visible` (indices into `threads`), at most `tiles`.
pub(super) fn pick(threads: &[Thread], visible: &[usize], tiles: usize) -> Vec<usize> {
    let mut picked = visible.to_vec();
    let rank = |i: &usize| {
        let t = &threads[*i];
        let live = matches!(
            t.status,
            ThreadStatus::Running | ThreadStatus::RequiresAction | ThreadStatus::Queued
        );
        (!live, std::cmp::Reverse(t.updated_at), *i)
    };
    let tiles = tiles.clamp(1, WALL_TILES);
    if picked.len() > tiles {
        picked.select_nth_unstable_by_key(tiles - 1, rank);
        picked.truncate(tiles);
    }
    picked.sort_by_key(rank);
    picked
}

/// The picked threads in tile order: a thread that was on the wall keeps its tile; the
/// newcomers take the tiles left free, in the order they were picked. So tiles do not
/// reshuffle as the threads on them take turns being the most recently active.
pub(super) fn keep_places(threads: &[Thread], before: &[String], picked: Vec<usize>) -> Vec<usize> {
    let mut slots: Vec<Option<usize>> = before
        .iter()
        .take(WALL_TILES)
        .map(|id| picked.iter().copied().find(|&i| &threads[i].id == id))
        .collect();
    let placed: Vec<usize> = slots.iter().flatten().copied().collect();
    let mut newcomers = picked.iter().copied().filter(|i| !placed.contains(i));
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        *slot = newcomers.next();
    }
    let mut order: Vec<usize> = slots.into_iter().flatten().collect();
    order.extend(newcomers);
    order
}

impl App {
    /// Feeds the tails from an event of any thread.
    pub(super) fn feed_tail(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::MessageCreated(e) => {
                let text = e.message.text();
                if let Some(tail) = self.tail(&e.thread_id) {
                    let entry = tail.entry(&e.message.id, e.message.role);
                    entry.text.clear();
                    append_bounded(&mut entry.text, &text);
                }
            }
            EventPayload::MessageDelta(e) => {
                if let Some(tail) = self.tail(&e.thread_id) {
                    let entry = tail.entry(&e.message_id, Role::Assistant);
                    append_bounded(&mut entry.text, &e.delta);
                }
            }
            EventPayload::MessageCompleted(e) => {
                // The final text wins over what the deltas built (a snapshot after a gap).
                let text = e.message.text();
                if let Some(tail) = self.tail(&e.thread_id) {
                    let entry = tail.entry(&e.message.id, e.message.role);
                    if text.len() >= entry.text.len() {
                        entry.text.clear();
                        append_bounded(&mut entry.text, &text);
                    }
                }
            }
            _ => {}
        }
    }

    /// A thread's tail, made if it is new (the stalest goes when there are too many). A
    /// thread already kept costs no allocation: this runs for every delta.
    fn tail(&mut self, thread_id: &str) -> Option<&mut Tail> {
        self.tail_clock += 1;
        let clock = self.tail_clock;
        if !self.tails.contains_key(thread_id) {
            if self.tails.len() >= TAILS_KEPT {
                let stalest = self
                    .tails
                    .iter()
                    .min_by_key(|(_, tail)| tail.touched)
                    .map(|(id, _)| id.clone());
                if let Some(id) = stalest {
                    self.tails.remove(&id);
                }
            }
            self.tails.insert(thread_id.to_string(), Tail::default());
        }
        let tail = self.tails.get_mut(thread_id)?;
        tail.touched = clock;
        Some(tail)
    }

    /// A thread's last messages, loaded for its tile: they fill in what the events have
    /// not brought.
    pub(super) fn tail_loaded(&mut self, thread_id: &str, messages: Vec<Message>) {
        let mut loaded = Tail::default();
        for message in messages {
            let entry = loaded.entry(&message.id, message.role);
            append_bounded(&mut entry.text, &message.text());
        }
        let Some(tail) = self.tail(thread_id) else {
            return;
        };
        // Live entries are newer than the page: they stay, after it.
        for entry in std::mem::take(&mut tail.entries) {
            match loaded
                .entries
                .iter_mut()
                .find(|e| e.message_id == entry.message_id)
            {
                Some(slot) if entry.text.len() > slot.text.len() => *slot = entry,
                Some(_) => {}
                None => {
                    loaded.entries.push_back(entry);
                    if loaded.entries.len() > TAIL_MESSAGES {
                        loaded.entries.pop_front();
                    }
                }
            }
        }
        tail.entries = loaded.entries;
    }

    /// The threads on the wall: those running or waiting first, then the rest, each most
    /// recently active first; the filter applies. Picked once per change of the threads.
    pub fn wall_threads(&self) -> Vec<&Thread> {
        self.with_wall(|indices| indices.iter().map(|&i| &self.threads[i]).collect())
    }

    /// The tool call a thread is in, if any (running, or waiting for the operator).
    pub fn current_tool(&self, thread_id: &str) -> Option<&LiveCall> {
        self.live_calls
            .iter()
            .find(|c| c.thread_id == thread_id && !c.call.status.is_final())
    }

    pub(super) fn open_wall(&mut self) -> Vec<Effect> {
        self.mode = Mode::Wall;
        self.wall_selected = 0;
        self.load_wall_tails()
    }

    /// Loads the last messages of tiles that have no tail yet, once each.
    pub(super) fn load_wall_tails(&mut self) -> Vec<Effect> {
        let missing: Vec<String> = self
            .wall_threads()
            .iter()
            .filter(|t| !self.tails.contains_key(&t.id))
            .map(|t| t.id.clone())
            .collect();
        for id in &missing {
            self.tail(id);
        }
        if missing.is_empty() {
            Vec::new()
        } else {
            vec![Effect::LoadTails(missing)]
        }
    }

    /// A key on the wall: move between tiles, open one, or leave.
    pub fn wall_act(&mut self, action: Action) -> Vec<Effect> {
        let count = self.wall_threads().len();
        let last = count.saturating_sub(1);
        match action {
            Action::Down | Action::NextItem => {
                self.wall_selected = (self.wall_selected + 1).min(last)
            }
            Action::Up | Action::PrevItem => {
                self.wall_selected = self.wall_selected.saturating_sub(1)
            }
            Action::Top => self.wall_selected = 0,
            Action::Bottom => self.wall_selected = last,
            Action::Open => {
                let Some(id) = self
                    .wall_threads()
                    .get(self.wall_selected)
                    .map(|t| t.id.clone())
                else {
                    return Vec::new();
                };
                self.mode = Mode::Normal;
                self.focus = Pane::Conversation;
                let position = self.visible_threads().iter().position(|t| t.id == id);
                if let Some(position) = position {
                    self.selected = position;
                    return self.open_selected();
                }
            }
            Action::Leave | Action::Wall => self.mode = Mode::Normal,
            Action::Quit => return vec![Effect::Quit],
            _ => {}
        }
        Vec::new()
    }
}
