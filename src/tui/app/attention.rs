//! Attention: a thread that starts waiting for an operator, or a run that fails, is
//! marked (a status-bar badge, `!` jumps to it) and raises one alert for the host to ring
//! or notify with. Opening the thread clears its mark.

use super::*;
use crate::model::MessageStatus;
use crate::model::event::EventPayload;

/// One alert for the terminal (bell, desktop notification, `notify_command`).
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub thread_id: String,
    /// "waiting for you" or "failed".
    pub what: String,
    /// The thread's title (or short id).
    pub about: String,
}

/// Failed replies remembered (so a replayed event alerts once), at most.
const ALERTED_KEPT: usize = 10_000;

impl App {
    /// Looks at an event before the reducer applies it: a thread turning
    /// `requires_action`, or a reply completing `failed`, needs the operator.
    pub(super) fn notice_attention(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::ThreadCreated(e) | EventPayload::ThreadUpdated(e) => {
                let before = self
                    .threads
                    .iter()
                    .find(|t| t.id == e.thread.id)
                    .map(|t| t.status);
                let waiting = e.thread.status == ThreadStatus::RequiresAction;
                if waiting && before != Some(ThreadStatus::RequiresAction) {
                    self.raise(&e.thread, "waiting for you");
                } else if !waiting && before == Some(ThreadStatus::RequiresAction) {
                    // Answered elsewhere: it no longer waits.
                    self.attention
                        .retain(|(id, what)| !(id == &e.thread.id && what == "waiting for you"));
                }
            }
            EventPayload::MessageCompleted(e) if e.message.status == MessageStatus::Failed => {
                if self.alerted.len() >= ALERTED_KEPT {
                    self.alerted.clear();
                }
                if self.alerted.insert(e.message.id.clone()) {
                    if let Some(thread) = self.threads.iter().find(|t| t.id == e.thread_id).cloned()
                    {
                        self.raise(&thread, "failed");
                    }
                }
            }
            _ => {}
        }
    }

    fn raise(&mut self, thread: &Thread, what: &str) {
        let about = thread.title.clone().unwrap_or_else(|| short_id(&thread.id));
        self.attention.retain(|(id, _)| id != &thread.id);
        self.attention.push((thread.id.clone(), what.to_string()));
        self.alerts.push(Alert {
            thread_id: thread.id.clone(),
            what: what.to_string(),
            about,
        });
    }

    /// The alerts raised since the last call, for the host.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// Threads that need the operator.
    pub fn attention_count(&self) -> usize {
        self.attention.len()
    }

    pub(super) fn clear_attention(&mut self, thread_id: &str) {
        self.attention.retain(|(id, _)| id != thread_id);
    }

    /// `!`: opens the thread that has waited longest for the operator.
    pub(super) fn next_attention(&mut self) -> Vec<Effect> {
        let Some((thread_id, _)) = self.attention.first().cloned() else {
            self.notice = Some("Nothing needs you.".into());
            return Vec::new();
        };
        match self.threads.iter().find(|t| t.id == thread_id).cloned() {
            Some(thread) => self.apply(AppEvent::Open(thread)),
            None => {
                self.clear_attention(&thread_id);
                vec![Effect::FetchThread(thread_id)]
            }
        }
    }
}
