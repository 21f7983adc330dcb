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

/// The wall's own state: every thread's last words, the tile under the cursor and how
/// many tiles the terminal has room for.
#[derive(Debug)]
pub struct Wall {
    pub tails: HashMap<String, Tail>,
    /// Updates seen, for keeping the tails of the threads active last.
    clock: u64,
    /// The tile under the cursor.
    pub selected: usize,
    /// Tiles the wall has room for on this terminal (set by the loop as it resizes).
    pub tiles: usize,
}

impl Default for Wall {
    fn default() -> Self {
        Wall {
            tails: HashMap::new(),
            clock: 0,
            selected: 0,
            tiles: WALL_TILES,
        }
    }
}

impl Wall {
    /// Feeds the tails from an event of any thread.
    pub fn feed(&mut self, payload: &EventPayload) {
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
        self.clock += 1;
        let clock = self.clock;
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
    pub fn tail_loaded(&mut self, thread_id: &str, messages: Vec<Message>) {
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

    /// Of the threads on the wall, those with no tail yet: each gets an empty one (so it
    /// is loaded once) and is returned for loading.
    pub fn claim_missing<'a>(&mut self, on_wall: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let missing: Vec<String> = on_wall
            .into_iter()
            .filter(|id| !self.tails.contains_key(*id))
            .map(str::to_string)
            .collect();
        for id in &missing {
            self.tail(id);
        }
        missing
    }

    /// Moves the cursor among `count` tiles; false for a key that is not a move.
    pub fn navigate(&mut self, action: Action, count: usize) -> bool {
        // Tiles are few: no paging; ] and [ step like the arrows.
        let action = match action {
            Action::NextItem => Action::Down,
            Action::PrevItem => Action::Up,
            Action::PageDown | Action::PageUp => return false,
            other => other,
        };
        match super::actions::moved(action, count, self.selected) {
            Some(at) => self.selected = at,
            None => return false,
        }
        true
    }
}

impl App {
    /// The threads on the wall: those running or waiting first, then the rest, each most
    /// recently active first; the filter applies. Picked once per change of the threads.
    pub fn wall_threads(&self) -> Vec<&Thread> {
        self.with_wall(|indices| indices.iter().map(|&i| &self.list.threads[i]).collect())
    }

    pub(super) fn open_wall(&mut self) -> Vec<Effect> {
        self.mode = Mode::Wall;
        self.wall.selected = 0;
        self.load_wall_tails()
    }

    /// Loads the last messages of tiles that have no tail yet, once each.
    pub(super) fn load_wall_tails(&mut self) -> Vec<Effect> {
        let on_wall: Vec<String> = self.wall_threads().iter().map(|t| t.id.clone()).collect();
        let missing = self.wall.claim_missing(on_wall.iter().map(String::as_str));
        if missing.is_empty() {
            Vec::new()
        } else {
            vec![Effect::LoadTails(missing)]
        }
    }

    /// A key on the wall: move between tiles, open one, or leave.
    pub fn wall_act(&mut self, action: Action) -> Vec<Effect> {
        let count = self.wall_threads().len();
        if self.wall.navigate(action, count) {
            return Vec::new();
        }
        match action {
            Action::Open => {
                let Some(id) = self
                    .wall_threads()
                    .get(self.wall.selected)
                    .map(|t| t.id.clone())
                else {
                    return Vec::new();
                };
                self.mode = Mode::Normal;
                self.focus = Pane::Conversation;
                let position = self.visible_threads().iter().position(|t| t.id == id);
                if let Some(position) = position {
                    self.list.selected = position;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::message;
    use agentdeck_model::event::TextDelta;

    fn delta(thread: &str, message: &str, text: &str) -> EventPayload {
        EventPayload::MessageDelta(TextDelta {
            thread_id: thread.into(),
            message_id: message.into(),
            delta: text.into(),
        })
    }

    #[test]
    fn a_loaded_page_fills_in_behind_the_live_words_and_is_asked_for_once() {
        let mut wall = Wall::default();
        wall.feed(&delta("thread_a", "msg_live", "still \u{1b}[31mtyping"));
        // Only the thread with no tail is asked for, and only the first time.
        assert_eq!(
            wall.claim_missing(["thread_a", "thread_b"]),
            vec!["thread_b".to_string()]
        );
        assert!(wall.claim_missing(["thread_a", "thread_b"]).is_empty());

        let mut question = message("msg_q", Role::User, "Can we refund twice?");
        question.thread_id = "thread_a".into();
        wall.tail_loaded("thread_a", vec![question]);
        let entries: Vec<(&str, &str)> = wall.tails["thread_a"]
            .entries
            .iter()
            .map(|e| (e.message_id.as_str(), e.text.as_str()))
            .collect();
        // The page goes first, the live reply (sanitized as it came) after it.
        assert_eq!(
            entries,
            vec![
                ("msg_q", "Can we refund twice?"),
                ("msg_live", "still [31mtyping")
            ]
        );
    }

    #[test]
    fn the_cursor_stays_on_the_tiles_there_are() {
        let mut wall = Wall::default();
        assert!(wall.navigate(Action::Bottom, 4));
        assert_eq!(wall.selected, 3);
        assert!(wall.navigate(Action::Down, 4));
        assert_eq!(wall.selected, 3);
        assert!(wall.navigate(Action::Top, 4));
        assert!(wall.navigate(Action::Up, 4));
        assert_eq!(wall.selected, 0);
        assert!(!wall.navigate(Action::Open, 4));
    }
}
