//! The Tools pane's state: the tool calls seen (live, and from each thread's history), the
//! cursor, the marks a decision is for, and the call detail view's scroll.

use super::Effect;
use crate::keymap::Action;
use agentdeck_model::{ToolCall, ToolCallStatus};
use std::collections::{BTreeSet, VecDeque};

/// Tool calls kept for the Tools pane, newest first.
pub(super) const LIVE_CALLS_KEPT: usize = 100;

/// A tool call seen running anywhere, for the Tools pane.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCall {
    pub thread_id: String,
    pub call: ToolCall,
}

#[derive(Debug, Default)]
pub struct Tools {
    /// Newest first, at most `LIVE_CALLS_KEPT`.
    pub calls: VecDeque<LiveCall>,
    /// The row under the cursor (of `rows`).
    pub cursor: usize,
    /// Lines scrolled in the call detail view.
    pub detail_scroll: usize,
    /// Calls marked (`m`) for a decision on all of them.
    pub marked: BTreeSet<String>,
}

impl Tools {
    /// The pane's rows: calls waiting for the operator first, then the rest, each newest
    /// first.
    pub fn rows(&self) -> Vec<&LiveCall> {
        let (waiting, rest): (Vec<&LiveCall>, Vec<&LiveCall>) =
            self.calls.iter().partition(|c| c.call.status.is_waiting());
        waiting.into_iter().chain(rest).collect()
    }

    /// The call under the cursor.
    pub fn selected(&self) -> Option<&LiveCall> {
        self.rows().get(self.cursor).copied()
    }

    pub fn get(&self, call_id: &str) -> Option<&LiveCall> {
        self.calls.iter().find(|c| c.call.id == call_id)
    }

    pub(super) fn get_mut(&mut self, call_id: &str) -> Option<&mut LiveCall> {
        self.calls.iter_mut().find(|c| c.call.id == call_id)
    }

    /// How many calls wait for the operator.
    pub fn waiting(&self) -> usize {
        self.calls
            .iter()
            .filter(|c| c.call.status.is_waiting())
            .count()
    }

    /// The tool call a thread is in, if any (running, or waiting for the operator).
    pub fn current(&self, thread_id: &str) -> Option<&LiveCall> {
        self.calls
            .iter()
            .find(|c| c.thread_id == thread_id && !c.call.status.is_final())
    }

    /// A call just created: it goes first.
    pub(super) fn started(&mut self, call: LiveCall) {
        self.calls.push_front(call);
        self.calls.truncate(LIVE_CALLS_KEPT);
    }

    /// Calls from the threads' history: live calls are newer and more current, so history
    /// goes after them, once.
    pub(super) fn history_loaded(&mut self, calls: Vec<LiveCall>) {
        for call in calls {
            if self.get(&call.call.id).is_none() {
                self.calls.push_back(call);
            }
        }
        self.calls.truncate(LIVE_CALLS_KEPT);
    }

    /// Marks the call under the cursor, or unmarks it; false when there is none.
    pub(super) fn toggle_mark(&mut self) -> bool {
        let Some(id) = self.selected().map(|c| c.call.id.clone()) else {
            return false;
        };
        if !self.marked.remove(&id) {
            self.marked.insert(id);
        }
        true
    }

    /// Scrolls the detail view; false for a key that is not a scroll.
    pub(super) fn scroll_detail(&mut self, action: Action) -> bool {
        self.detail_scroll = match action {
            Action::Down => self.detail_scroll + 1,
            Action::Up => self.detail_scroll.saturating_sub(1),
            Action::PageDown => self.detail_scroll + 10,
            Action::PageUp => self.detail_scroll.saturating_sub(10),
            Action::Top => 0,
            _ => return false,
        };
        true
    }

    /// The decision `action` (approve or deny) for every marked call, which it clears;
    /// with how many marked calls were not waiting for approval (answers go one by one).
    pub(super) fn decide_marked(&mut self, action: Action) -> (Vec<Effect>, usize) {
        let marked = std::mem::take(&mut self.marked);
        let mut effects = Vec::new();
        let mut skipped = 0;
        for live in self.calls.iter().filter(|c| marked.contains(&c.call.id)) {
            let (thread_id, call_id) = (live.thread_id.clone(), live.call.id.clone());
            match (action, live.call.status) {
                (Action::Approve, ToolCallStatus::RequiresApproval) => {
                    effects.push(Effect::Approve {
                        thread_id,
                        call_id,
                        arguments: None,
                    })
                }
                (Action::Deny, ToolCallStatus::RequiresApproval) => {
                    effects.push(Effect::Deny { thread_id, call_id })
                }
                _ => skipped += 1,
            }
        }
        (effects, skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, thread: &str, status: ToolCallStatus) -> LiveCall {
        LiveCall {
            thread_id: thread.into(),
            call: crate::fixtures::call(id, "refund_payment", "{}", status, None),
        }
    }

    #[test]
    fn waiting_calls_come_first_and_history_goes_after_the_live_ones_once() {
        let mut tools = Tools::default();
        tools.started(call("call_old", "thread_a", ToolCallStatus::Completed));
        tools.started(call(
            "call_wait",
            "thread_b",
            ToolCallStatus::RequiresApproval,
        ));
        tools.started(call("call_new", "thread_a", ToolCallStatus::InProgress));
        let history = vec![
            call("call_old", "thread_a", ToolCallStatus::InProgress),
            call("call_older", "thread_c", ToolCallStatus::Completed),
        ];
        tools.history_loaded(history);
        let ids: Vec<&str> = tools.rows().iter().map(|c| c.call.id.as_str()).collect();
        assert_eq!(ids, ["call_wait", "call_new", "call_old", "call_older"]);
        // The live copy stayed: history never overwrites what the events said.
        assert_eq!(
            tools.get("call_old").map(|c| c.call.status),
            Some(ToolCallStatus::Completed)
        );
        assert_eq!(tools.waiting(), 1);
        assert_eq!(
            tools.current("thread_a").map(|c| c.call.id.as_str()),
            Some("call_new")
        );
        for n in 0..2 * LIVE_CALLS_KEPT {
            tools.started(call(
                &format!("call_{n}"),
                "thread_d",
                ToolCallStatus::Completed,
            ));
        }
        assert_eq!(tools.calls.len(), LIVE_CALLS_KEPT);
    }

    #[test]
    fn marked_calls_are_decided_together_and_answers_are_left_out() {
        let mut tools = Tools::default();
        tools.started(call(
            "call_answer",
            "thread_a",
            ToolCallStatus::RequiresAction,
        ));
        tools.started(call(
            "call_one",
            "thread_b",
            ToolCallStatus::RequiresApproval,
        ));
        tools.started(call(
            "call_two",
            "thread_c",
            ToolCallStatus::RequiresApproval,
        ));
        for _ in 0..3 {
            assert!(tools.toggle_mark());
            tools.cursor += 1;
        }
        assert!(!tools.toggle_mark(), "no call under the cursor");
        let (effects, skipped) = tools.decide_marked(Action::Deny);
        assert_eq!(skipped, 1);
        let denied: Vec<&str> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Deny { call_id, .. } => Some(call_id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(denied, ["call_two", "call_one"]);
        assert!(tools.marked.is_empty());
    }

    #[test]
    fn the_detail_view_scrolls_and_stops_at_its_top() {
        let mut tools = Tools::default();
        assert!(tools.scroll_detail(Action::PageDown));
        assert!(tools.scroll_detail(Action::Up));
        assert_eq!(tools.detail_scroll, 9);
        assert!(tools.scroll_detail(Action::PageUp));
        assert_eq!(tools.detail_scroll, 0);
        assert!(!tools.scroll_detail(Action::Approve));
    }
}
