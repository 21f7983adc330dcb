//! The run trace (`t`): a thread's run and the threads it routed to, from their logged
//! events and then live; and replay, which steps through those events and shows the
//! conversation and the routing graph as they were at that point.

use super::*;
use crate::trace::{SpanKind, TraceView, build};
use agentdeck_model::EventPayload;
use std::rc::Rc;

/// Events kept per trace, at most (a run longer than that shows its start).
pub const TRACE_EVENTS: usize = 100_000;
/// Threads a trace follows, at most (routed hops, recursively).
pub const TRACE_THREADS: usize = 64;

#[derive(Debug)]
pub struct Trace {
    pub root: String,
    /// Structural events of the traced threads, in id order (deltas are left out).
    pub events: Vec<ServerEvent>,
    pub threads: HashSet<String>,
    pub loading: bool,
    /// Live events that came while the logs load (any thread's: which threads the trace
    /// follows is known once the logs show their routing), merged after them.
    arrived: Vec<ServerEvent>,
    pub error: Option<String>,
    /// The row under the cursor.
    pub selected: usize,
    pub replay: Option<Replay>,
    view: std::cell::RefCell<Option<(ViewKey, Rc<TraceView>)>>,
    /// The whole trace's times, for pacing a replay.
    full: std::cell::RefCell<Option<(usize, Rc<TraceView>)>>,
}

/// What a built view is of: (events, shown up to).
type ViewKey = (usize, usize);

/// A replay: how many events are applied, and whether it plays (and at 4×).
#[derive(Debug)]
pub struct Replay {
    pub cursor: usize,
    pub playing: bool,
    pub fast: bool,
    /// The workspace as it was after `cursor` events: its conversation and graph are drawn.
    pub state: Box<App>,
}

impl Replay {
    /// How long until the next event, given every event's time on the trace's axis (at
    /// 4× when fast; at least 40 ms, at most 2 s, so a long tool call does not stall it).
    fn wait(&self, event_ms: &[u64]) -> std::time::Duration {
        let now = self
            .cursor
            .checked_sub(1)
            .and_then(|i| event_ms.get(i))
            .copied()
            .unwrap_or(0);
        let next = event_ms.get(self.cursor).copied().unwrap_or(now);
        let gap = next.saturating_sub(now) / if self.fast { 4 } else { 1 };
        std::time::Duration::from_millis(gap.clamp(40, 2_000))
    }
}

impl Trace {
    fn new(root: String) -> Trace {
        Trace {
            threads: HashSet::from([root.clone()]),
            root,
            events: Vec::new(),
            loading: true,
            arrived: Vec::new(),
            error: None,
            selected: 0,
            replay: None,
            view: Default::default(),
            full: Default::default(),
        }
    }

    /// A loaded trace of `root` from `events`, for tests elsewhere in the UI.
    #[cfg(test)]
    pub fn for_test(root: &str, events: Vec<ServerEvent>) -> Trace {
        let mut trace = Trace::new(root.to_string());
        trace.loading = false;
        trace.merge(events);
        trace
    }

    /// How far the trace is shown: all of it, or up to the replay's cursor.
    pub fn upto(&self) -> usize {
        self.replay.as_ref().map_or(self.events.len(), |r| r.cursor)
    }

    /// The logs of the traced threads arrived: the events that came meanwhile follow them.
    fn loaded(&mut self, logs: Result<Vec<ServerEvent>, String>) {
        self.loading = false;
        match logs {
            Ok(events) => self.merge(events),
            Err(err) => self.error = Some(err),
        }
        for event in std::mem::take(&mut self.arrived) {
            self.feed(event);
        }
    }

    /// A live event of any thread: kept aside while the logs load, else part of the
    /// trace when it is about one of its threads (deltas never are).
    fn live(&mut self, event: &ServerEvent) {
        if event.payload.kind().is_delta() {
            return;
        }
        if self.loading {
            if self.arrived.len() < TRACE_EVENTS {
                self.arrived.push(event.clone());
            }
            return;
        }
        self.feed(event.clone());
    }

    /// Moves the cursor among `rows` rows; false for a key that is not a move.
    fn navigate(&mut self, action: Action, rows: usize) -> bool {
        match super::actions::moved(action, rows, self.selected) {
            Some(at) => self.selected = at,
            None => return false,
        }
        true
    }

    /// Where one step of the replay lands: every event kept is a step (deltas never
    /// enter a trace); with no replay yet, forward starts at the first event and back
    /// at the last.
    fn step_target(&self, forward: bool) -> usize {
        let len = self.events.len();
        let at = match &self.replay {
            Some(replay) => replay.cursor,
            None if forward => 0,
            None => len,
        };
        if forward {
            (at + 1).min(len)
        } else {
            at.saturating_sub(1)
        }
    }

    /// The replay's cursor, while it plays.
    fn playing_cursor(&self) -> Option<usize> {
        self.replay.as_ref().filter(|r| r.playing).map(|r| r.cursor)
    }

    /// A live event, kept when it is about one of the traced threads.
    fn feed(&mut self, event: ServerEvent) {
        if self.threads.contains(event.payload.thread_id()) {
            self.merge(vec![event]);
        }
    }

    /// Adds events (a thread's log, or live ones), keeping id order and no duplicate.
    fn merge(&mut self, events: Vec<ServerEvent>) {
        let events: Vec<ServerEvent> = events
            .into_iter()
            .filter(|e| !e.payload.kind().is_delta())
            .collect();
        // A live event (or any run of them) newer than all kept: appended as it is, so a
        // trace that follows a run costs each event its own size, not the trace's.
        let newest = self.events.iter().rev().find_map(|e| e.id).unwrap_or(0);
        let appended = events.iter().all(|e| e.id.is_some())
            && events
                .first()
                .and_then(|e| e.id)
                .is_none_or(|first| first > newest)
            && events.windows(2).all(|w| w[0].id < w[1].id);
        if appended {
            for event in events {
                if self.events.len() >= TRACE_EVENTS {
                    break;
                }
                follow_routing(&mut self.threads, &event);
                self.events.push(event);
            }
            return;
        }
        let mut known: HashSet<u64> = self.events.iter().filter_map(|e| e.id).collect();
        // An event without an id (a snapshot of a reply) goes after the last one before it.
        let mut keyed: Vec<((u64, usize), ServerEvent)> = Vec::new();
        let mut last = 0u64;
        for (k, event) in std::mem::take(&mut self.events).into_iter().enumerate() {
            last = event.id.unwrap_or(last);
            keyed.push(((last, k), event));
        }
        let mut last = 0u64;
        for (k, event) in events.into_iter().enumerate() {
            if let Some(id) = event.id {
                if !known.insert(id) {
                    continue;
                }
                last = id;
            }
            keyed.push(((last, TRACE_EVENTS + k), event));
        }
        keyed.sort_by_key(|(key, _)| *key);
        keyed.truncate(TRACE_EVENTS);
        self.events = keyed.into_iter().map(|(_, e)| e).collect();
        for event in &self.events {
            follow_routing(&mut self.threads, event);
        }
    }
}

/// A routing event: the trace follows the thread it opened too.
fn follow_routing(threads: &mut HashSet<String>, event: &ServerEvent) {
    if let EventPayload::Routing(r) = &event.payload {
        if threads.len() < TRACE_THREADS {
            threads.insert(r.to_thread_id.clone());
        }
    }
}

impl App {
    /// `t`: the trace of the selected thread.
    pub(super) fn open_trace(&mut self) -> Vec<Effect> {
        let Some(id) = self.selected_thread().map(|t| t.id.clone()) else {
            self.notice = Some("No thread selected.".into());
            return Vec::new();
        };
        self.trace = Some(Trace::new(id.clone()));
        self.mode = Mode::Trace;
        vec![Effect::LoadTrace(id)]
    }

    /// The logs of the traced threads arrived (the root's and the threads it routed to).
    pub(super) fn trace_loaded(&mut self, root: &str, logs: Result<Vec<ServerEvent>, String>) {
        if let Some(trace) = self.trace.as_mut().filter(|t| t.root == root) {
            trace.loaded(logs);
        }
    }

    /// A live event: part of the trace when it is about one of its threads.
    pub(super) fn feed_trace(&mut self, event: &ServerEvent) {
        if let Some(trace) = self.trace.as_mut() {
            trace.live(event);
        }
    }

    /// The trace as drawn: built again only when events arrive or the replay moves.
    pub fn trace_view(&self) -> Option<Rc<TraceView>> {
        let trace = self.trace.as_ref()?;
        let key = (trace.events.len(), trace.upto());
        let mut cache = trace.view.borrow_mut();
        if let Some((known, view)) = cache.as_ref() {
            if *known == key {
                return Some(view.clone());
            }
        }
        let name = |id: &str| self.assistant_name(id);
        let view = Rc::new(build(&trace.root, &trace.events, key.1, &name));
        *cache = Some((key, view.clone()));
        Some(view)
    }

    /// A key in the trace.
    pub fn trace_act(&mut self, action: Action) -> Vec<Effect> {
        let rows = self.trace_view().map_or(0, |v| v.rows.len());
        let Some(trace) = self.trace.as_mut() else {
            self.mode = Mode::Normal;
            return Vec::new();
        };
        if trace.navigate(action, rows) {
            return Vec::new();
        }
        match action {
            Action::StepForward | Action::StepBack => {
                let forward = action == Action::StepForward;
                self.replay_step(forward);
            }
            Action::Play => {
                if self.trace.as_ref().is_some_and(|t| t.replay.is_none()) {
                    self.replay_to(0);
                }
                if let Some(replay) = self.trace.as_mut().and_then(|t| t.replay.as_mut()) {
                    replay.playing = !replay.playing;
                }
            }
            Action::Speed => {
                if let Some(replay) = trace.replay.as_mut() {
                    replay.fast = !replay.fast;
                }
            }
            Action::Open => return self.open_trace_row(),
            // Esc ends a replay first, then the trace.
            Action::Leave | Action::Trace if trace.replay.take().is_none() => {
                self.trace = None;
                self.mode = Mode::Normal;
            }
            Action::Quit => return vec![Effect::Quit],
            _ => {}
        }
        Vec::new()
    }

    fn replay_step(&mut self, forward: bool) {
        let Some(target) = self.trace.as_ref().map(|t| t.step_target(forward)) else {
            return;
        };
        self.replay_to(target);
        if let Some(replay) = self.trace.as_mut().and_then(|t| t.replay.as_mut()) {
            replay.playing = false;
        }
    }

    /// Puts the replay at `cursor` events: the workspace state is rebuilt from them.
    fn replay_to(&mut self, cursor: usize) {
        let Some(trace) = self.trace.as_ref() else {
            return;
        };
        let cursor = cursor.min(trace.events.len());
        let (playing, fast) = trace
            .replay
            .as_ref()
            .map_or((false, false), |r| (r.playing, r.fast));
        let mut state = App::new(self.origin.clone());
        state.now = self.now;
        let threads: Vec<Thread> = self
            .list
            .threads
            .iter()
            .filter(|t| trace.threads.contains(&t.id))
            .cloned()
            .collect();
        state.apply(AppEvent::Snapshot {
            assistants: self.assistants.values().cloned().collect(),
            threads,
            has_more: false,
        });
        // Routes are counted as the replay reaches them, not from the threads it knows.
        state.routes.forget_counts();
        if let Some(root) = self
            .list
            .threads
            .iter()
            .find(|t| t.id == trace.root)
            .cloned()
        {
            state.apply(AppEvent::Open(root));
        }
        for event in trace.events.iter().take(cursor) {
            state.apply(AppEvent::Server(event.clone()));
        }
        state.take_alerts();
        if let Some(trace) = self.trace.as_mut() {
            trace.replay = Some(Replay {
                cursor,
                playing,
                fast,
                state: Box::new(state),
            });
        }
    }

    /// While a replay plays: how long until its next event, on the trace's time axis.
    pub fn replay_wait(&self) -> Option<std::time::Duration> {
        let trace = self.trace.as_ref()?;
        let replay = trace.replay.as_ref().filter(|r| r.playing)?;
        if replay.cursor >= trace.events.len() {
            return None;
        }
        // The whole trace's times: a reply's end is known only once all of it is read.
        let full = {
            let mut cache = trace.full.borrow_mut();
            match cache.as_ref().filter(|(len, _)| *len == trace.events.len()) {
                Some((_, view)) => view.clone(),
                None => {
                    let view = Rc::new(build(
                        &trace.root,
                        &trace.events,
                        trace.events.len(),
                        &|id| self.assistant_name(id),
                    ));
                    *cache = Some((trace.events.len(), view.clone()));
                    view
                }
            }
        };
        Some(replay.wait(&full.event_ms))
    }

    /// The replay's next event, when its wait is over.
    pub fn replay_tick(&mut self) {
        let Some(cursor) = self.trace.as_ref().and_then(Trace::playing_cursor) else {
            return;
        };
        self.replay_to(cursor + 1);
        if let Some(trace) = self.trace.as_mut() {
            let end = trace.events.len();
            if let Some(replay) = trace.replay.as_mut() {
                replay.playing = replay.cursor < end;
            }
        }
    }

    /// Enter on a row: the message it is about, in its thread (a hop: the routed thread).
    fn open_trace_row(&mut self) -> Vec<Effect> {
        let Some(view) = self.trace_view() else {
            return Vec::new();
        };
        let Some(row) = self.trace.as_ref().and_then(|t| view.rows.get(t.selected)) else {
            return Vec::new();
        };
        let span = &view.spans[row.span];
        let (thread_id, message_id) = match (&span.kind, &span.child_thread) {
            (SpanKind::Hop, Some(child)) => (child.clone(), None),
            _ => (span.thread_id.clone(), span.message_id.clone()),
        };
        self.trace = None;
        self.mode = Mode::Normal;
        self.conversation.pending_selection = message_id.map(|message_id| MessageRef {
            thread_id: thread_id.clone(),
            message_id,
        });
        // The thread may be folded under its parent or filtered out: fetched and opened
        // the way a search hit is.
        let visible = self.visible_threads().iter().any(|t| t.id == thread_id);
        let known = self
            .list
            .threads
            .iter()
            .find(|t| t.id == thread_id)
            .cloned();
        let effects = match known {
            Some(thread) if visible => {
                let already_open =
                    self.conversation.open_thread.as_deref() == Some(thread.id.as_str());
                let effects = self.apply(AppEvent::Open(thread));
                if already_open {
                    self.select_pending();
                }
                effects
            }
            Some(thread) => {
                if let Some(parent) = &thread.parent_thread_id {
                    self.list.folded.remove(parent);
                    self.list.folded_rev += 1;
                }
                self.apply(AppEvent::Open(thread))
            }
            None => vec![Effect::FetchThread(thread_id)],
        };
        self.focus = Pane::Conversation;
        effects
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::routed_run_events;

    #[test]
    fn events_that_come_while_the_logs_load_follow_them_once_and_routing_is_followed() {
        let events = routed_run_events();
        let mut trace = Trace::new("thread_0456".into());
        // Live meanwhile: the last three events (the first of them also in the log) and
        // one of another thread.
        let logged = &events[..events.len() - 2];
        for event in events[events.len() - 3..].iter() {
            trace.live(event);
        }
        let mut stranger = events
            .iter()
            .find(|e| matches!(e.payload, EventPayload::MessageCreated(_)))
            .unwrap()
            .clone();
        stranger.id = Some(10_000);
        if let EventPayload::MessageCreated(e) = &mut stranger.payload {
            e.thread_id = "thread_elsewhere".into();
        }
        trace.live(&stranger);
        assert!(trace.events.is_empty(), "nothing shown before the logs");
        trace.loaded(Ok(logged.to_vec()));
        let ids: Vec<Option<u64>> = trace.events.iter().map(|e| e.id).collect();
        let all: Vec<Option<u64>> = events
            .iter()
            .filter(|e| !e.payload.kind().is_delta())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, all, "in id order, each once, the stranger's left out");
        assert!(
            trace.threads.contains("thread_0460"),
            "the routed thread is followed"
        );
    }

    #[test]
    fn the_cursor_and_the_replay_steps_stay_inside_the_trace() {
        let mut trace = Trace::for_test("thread_0456", routed_run_events());
        let len = trace.events.len();
        assert!(trace.navigate(Action::Bottom, 7));
        assert!(trace.navigate(Action::PageDown, 7));
        assert_eq!(trace.selected, 6);
        assert!(!trace.navigate(Action::Play, 7));
        assert_eq!(
            trace.step_target(true),
            1,
            "forward starts at the first event"
        );
        assert_eq!(trace.step_target(false), len - 1, "back starts at the end");
        trace.replay = Some(Replay {
            cursor: len,
            playing: true,
            fast: false,
            state: Box::new(App::new("test".into())),
        });
        assert_eq!(trace.step_target(true), len);
        assert_eq!(trace.playing_cursor(), Some(len));
    }

    #[test]
    fn a_replay_waits_as_long_as_the_run_did_within_bounds() {
        let mut replay = Replay {
            cursor: 1,
            playing: true,
            fast: false,
            state: Box::new(App::new("test".into())),
        };
        let times = [0, 1_000, 1_010, 60_000];
        assert_eq!(replay.wait(&times).as_millis(), 1_000);
        replay.fast = true;
        assert_eq!(replay.wait(&times).as_millis(), 250);
        replay.cursor = 2;
        assert_eq!(replay.wait(&times).as_millis(), 40, "at least 40 ms");
        replay.cursor = 3;
        assert_eq!(replay.wait(&times).as_millis(), 2_000, "at most 2 s");
        replay.cursor = 4;
        assert_eq!(replay.wait(&times).as_millis(), 40, "past the end");
    }
}
