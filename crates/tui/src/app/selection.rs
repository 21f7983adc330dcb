//! Selecting messages and code blocks, searching the thread, copying.

use super::*;

impl Conversation {
    /// The selectable items of the open thread, oldest first: each message with text,
    /// then each of its code blocks.
    pub(super) fn items(&self) -> Vec<Selection> {
        let mut items = Vec::new();
        for message in &self.messages {
            let text = message.text();
            if text.is_empty() && message.tool_calls.is_empty() {
                continue;
            }
            items.push(Selection {
                message_id: message.id.clone(),
                code_block: None,
            });
            let blocks = crate::markdown::code_blocks(&agentdeck_model::text::sanitize(&text));
            for index in 0..blocks.len() {
                items.push(Selection {
                    message_id: message.id.clone(),
                    code_block: Some(index),
                });
            }
        }
        items
    }

    /// `]` selects the next (newer) item, `[` the previous; from no selection `[`
    /// starts at the newest. Past the newest, the selection ends and the view follows.
    pub(super) fn step_item(&mut self, forward: bool) {
        let items = self.items();
        if items.is_empty() {
            return;
        }
        let at = self
            .selection
            .as_ref()
            .and_then(|s| items.iter().position(|i| i == s));
        let next = match (at, forward) {
            (None, _) => Some(items.len() - 1),
            (Some(i), true) if i + 1 < items.len() => Some(i + 1),
            (Some(_), true) => None,
            (Some(i), false) => Some(i.saturating_sub(1)),
        };
        self.selection = next.map(|i| items[i].clone());
        self.follow_selection = self.selection.is_some();
        if self.selection.is_none() {
            self.scroll = 0;
        }
    }

    /// Selects the next message (older, or newer) whose text holds the search;
    /// `from_newest` starts over from the newest message. The number of messages that
    /// match when one was found; `None` when there is no search or no match that way.
    pub(super) fn find_match(&mut self, older: bool, from_newest: bool) -> Option<usize> {
        let needle = self.search.to_lowercase();
        if needle.is_empty() {
            return None;
        }
        let current = if from_newest {
            None
        } else {
            self.selection
                .as_ref()
                .and_then(|s| self.messages.iter().position(|m| m.id == s.message_id))
        };
        let matches = |m: &Message| m.text().to_lowercase().contains(&needle);
        let found = if older {
            let end = current.unwrap_or(self.messages.len());
            self.messages[..end].iter().rposition(matches)
        } else {
            let start = current.map_or(self.messages.len(), |c| c + 1);
            self.messages
                .get(start..)
                .and_then(|rest| rest.iter().position(matches))
                .map(|i| i + start)
        }?;
        self.selection = Some(Selection {
            message_id: self.messages[found].id.clone(),
            code_block: None,
        });
        self.follow_selection = true;
        Some(self.messages.iter().filter(|m| matches(m)).count())
    }

    /// What `y` copies: the selected code block or message, else the newest message with
    /// text; with what it is, for the notice.
    pub(super) fn copied(&self) -> Option<(String, &'static str)> {
        let selected = self.selection.as_ref().and_then(|s| {
            let message = self.messages.iter().find(|m| m.id == s.message_id)?;
            Some((message.text(), s.code_block))
        });
        match selected {
            Some((text, Some(block))) => {
                let code = crate::markdown::code_blocks(&agentdeck_model::text::sanitize(&text))
                    .into_iter()
                    .nth(block);
                Some(match code {
                    Some((_, code)) => (code, "the code block"),
                    None => (text, "the message"),
                })
            }
            Some((text, None)) => Some((text, "the message")),
            None => self
                .messages
                .iter()
                .rev()
                .find(|m| !m.text().is_empty())
                .map(|message| (message.text(), "the newest message")),
        }
    }
}

impl App {
    /// Selects the next message (older, or newer) whose text holds the search, and says
    /// how many match; `from_newest` starts over from the newest message.
    pub fn jump_to_match(&mut self, older: bool, from_newest: bool) {
        if self.conversation.search.is_empty() {
            return;
        }
        let found = self.conversation.find_match(older, from_newest);
        let search = &self.conversation.search;
        self.notice = Some(match found {
            Some(total) => format!("“{search}”: {total} messages match."),
            None => format!(
                "“{search}”: no {} match.",
                if older { "older" } else { "newer" }
            ),
        });
    }

    /// The search text changed (typed in search mode): jump to the newest match.
    pub fn set_search(&mut self, text: String) {
        self.conversation.search = text;
        self.jump_to_match(true, true);
    }

    /// `y`: the selected code block or message, else the newest message with text.
    pub(super) fn copy(&mut self) -> Vec<Effect> {
        let Some((text, what)) = self.conversation.copied() else {
            self.notice = Some("Nothing to copy here.".into());
            return Vec::new();
        };
        self.notice = Some(format!("Copied {what} ({} bytes).", text.len()));
        vec![Effect::Copy(text)]
    }
}
