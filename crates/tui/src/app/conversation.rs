//! The open thread: its messages as loaded and as they stream, the replies still
//! streaming, the selection, the in-thread search, the scroll and the memory snapshot.

use super::{MemoryView, Selection, StreamingText};
use agentdeck_model::{Message, ToolCall};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Default)]
pub struct Conversation {
    /// The thread open, if any.
    pub open_thread: Option<String>,
    /// Its messages, oldest first.
    pub messages: Vec<Message>,
    /// Its replies still streaming, by message id: their text sanitized as it came and
    /// where its finished lines end (for the conversation pane).
    pub replies: HashMap<String, StreamingText>,
    /// Lines scrolled up from the bottom.
    pub scroll: usize,
    /// Its memory.
    pub memory: Option<MemoryView>,
    pub selection: Option<Selection>,
    /// The view should move to show the selection (set when it changes).
    pub follow_selection: bool,
    /// Messages whose reasoning is shown whole.
    pub expanded: HashSet<String>,
    /// The in-thread search (`/` in the conversation).
    pub search: String,
    /// A message to select once its thread is open and loaded (a search hit opened).
    pub(super) pending_selection: Option<MessageRef>,
}

/// A message, by its thread and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    pub thread_id: String,
    pub message_id: String,
}

impl Conversation {
    /// Selects the message a hit named, if its thread is open and the message loaded;
    /// true when it did.
    pub(super) fn select_pending(&mut self) -> bool {
        let Some(pending) = &self.pending_selection else {
            return false;
        };
        if self.open_thread.as_deref() != Some(pending.thread_id.as_str())
            || !self.messages.iter().any(|m| m.id == pending.message_id)
        {
            return false;
        }
        self.selection = Some(Selection {
            message_id: pending.message_id.clone(),
            code_block: None,
        });
        self.follow_selection = true;
        self.pending_selection = None;
        true
    }

    /// Opens `thread_id`: what was shown of the thread before goes.
    pub(super) fn open(&mut self, thread_id: &str) {
        self.open_thread = Some(thread_id.to_string());
        self.messages.clear();
        self.replies.clear();
        self.memory = None;
        self.selection = None;
        self.search.clear();
        self.scroll = 0;
    }

    pub fn is_open(&self, thread_id: &str) -> bool {
        self.open_thread.as_deref() == Some(thread_id)
    }

    /// A loaded page may be older than the live events already applied: of two copies of a
    /// message keep the one further along, and keep live messages the page does not have.
    pub(super) fn merge_loaded(&mut self, loaded: Vec<Message>) {
        let mut merged = loaded;
        for live in std::mem::take(&mut self.messages) {
            match merged.iter_mut().find(|m| m.id == live.id) {
                Some(slot) => {
                    let live_is_ahead = (live.status.is_final() && !slot.status.is_final())
                        || (live.status == slot.status && live.text_len() > slot.text_len());
                    if live_is_ahead {
                        *slot = live;
                    }
                }
                None => merged.push(live),
            }
        }
        self.messages = merged;
        self.replies.clear();
        let streaming: Vec<String> = self
            .messages
            .iter()
            .filter(|m| !m.status.is_final())
            .map(|m| m.id.clone())
            .collect();
        for id in streaming {
            self.track_reply(&id);
        }
    }

    /// Brings the collector of a message's streaming text in step with the message after
    /// it changed other than by a delta: rebuilt from its text while it streams, dropped
    /// when it is final.
    pub(super) fn track_reply(&mut self, id: &str) {
        let Some(message) = self.messages.iter().rev().find(|m| m.id == id) else {
            self.replies.remove(id);
            return;
        };
        if message.status.is_final() {
            self.replies.remove(id);
        } else {
            self.replies
                .insert(id.to_string(), StreamingText::new(&message.text()));
        }
    }

    /// Streamed text arrived for a message of the open thread.
    pub(super) fn append_reply_text(&mut self, id: &str, delta: &str) {
        let Some(message) = self.message_mut(id) else {
            return;
        };
        message.append_text(delta);
        let fed_before = message.text_len() - delta.len();
        match self.replies.get_mut(id) {
            Some(reply) if reply.fed() == fed_before => reply.push(delta),
            _ => self.track_reply(id),
        }
    }

    pub(super) fn message_mut(&mut self, id: &str) -> Option<&mut Message> {
        self.messages.iter_mut().rev().find(|m| m.id == id)
    }

    /// A tool call of a message of the open thread.
    pub(super) fn call_mut(
        &mut self,
        thread_id: &str,
        message_id: &str,
        call_id: &str,
    ) -> Option<&mut ToolCall> {
        if !self.is_open(thread_id) {
            return None;
        }
        self.message_mut(message_id)?
            .tool_calls
            .iter_mut()
            .find(|c| c.id == call_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::message;
    use agentdeck_model::{MessageStatus, Role};

    fn streaming(id: &str, text: &str) -> Message {
        let mut reply = message(id, Role::Assistant, text);
        reply.status = MessageStatus::InProgress;
        reply
    }

    #[test]
    fn a_loaded_page_never_takes_back_what_the_stream_already_said() {
        let mut conversation = Conversation::default();
        conversation.open("thread_0456");
        conversation.messages = vec![streaming("msg_reply", "Refunds take five")];
        conversation.track_reply("msg_reply");
        // The page was read before the last deltas, and lacks a message sent since.
        let page = vec![
            message("msg_q", Role::User, "How long do refunds take?"),
            streaming("msg_reply", "Refunds"),
        ];
        // A search hit asked for the question before the page came.
        conversation.pending_selection = Some(MessageRef {
            thread_id: "thread_0456".into(),
            message_id: "msg_q".into(),
        });
        assert!(!conversation.select_pending(), "not loaded yet");
        conversation.merge_loaded(page);
        assert!(conversation.select_pending());
        assert_eq!(
            conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_q")
        );
        assert!(conversation.pending_selection.is_none());
        conversation.append_reply_text("msg_reply", " days.");
        let texts: Vec<String> = conversation.messages.iter().map(Message::text).collect();
        assert_eq!(
            texts,
            ["How long do refunds take?", "Refunds take five days."]
        );
        assert!(conversation.replies.contains_key("msg_reply"));
        assert!(conversation.is_open("thread_0456"));
        // Opening another thread forgets this one's.
        conversation.open("thread_0457");
        assert!(conversation.messages.is_empty() && conversation.replies.is_empty());
    }

    #[test]
    fn items_step_through_messages_and_their_code_blocks_and_search_finds_older_matches() {
        let mut conversation = Conversation {
            messages: vec![
                message("msg_1", Role::User, "Which refund?"),
                message(
                    "msg_2",
                    Role::Assistant,
                    "Run:\n\n```sh\nrefund ORD-1\n```\n",
                ),
                message("msg_3", Role::User, "Thanks, refund done"),
            ],
            ..Default::default()
        };
        conversation.step_item(false);
        assert_eq!(
            conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_3")
        );
        conversation.step_item(false);
        let selected = conversation.selection.clone();
        assert_eq!(
            selected.map(|s| (s.message_id, s.code_block)),
            Some(("msg_2".to_string(), Some(0)))
        );
        assert_eq!(
            conversation.copied(),
            Some(("refund ORD-1".to_string(), "the code block"))
        );
        conversation.search = "REFUND".into();
        assert_eq!(conversation.find_match(true, true), Some(3));
        assert_eq!(conversation.find_match(true, false), Some(3));
        assert_eq!(conversation.find_match(true, false), Some(3));
        assert_eq!(
            conversation
                .selection
                .as_ref()
                .map(|s| s.message_id.as_str()),
            Some("msg_1")
        );
        assert_eq!(conversation.find_match(true, false), None);
        // Past the newest item the selection ends and the view follows the thread again.
        conversation.step_item(false);
        for _ in 0..4 {
            conversation.step_item(true);
        }
        assert_eq!(conversation.selection, None);
        assert_eq!(conversation.scroll, 0);
    }
}
