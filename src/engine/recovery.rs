//! After an unclean stop: replies cut mid-generation become `incomplete` with the text
//! they had, runs paused for an operator wait on, and threads left running are freed.

use super::{Engine, EngineResult};
use crate::model::{ErrorBody, Message, MessageStatus, ThreadStatus, ToolCallStatus};
use std::collections::HashSet;

/// What [`Engine::recover`] settled.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// Replies cut by the stop, now `incomplete`; their streams still need an ending
    /// ([`Engine::close_recovered`]).
    pub incomplete: Vec<Message>,
    pub threads_reset: usize,
}

impl Engine {
    /// Settles what the last run of the data dir left in progress. Call once, before
    /// serving.
    pub fn recover(&self) -> EngineResult<Recovery> {
        let store = self.store();
        let mut recovery = Recovery::default();
        let mut waiting_threads = HashSet::new();
        for mut message in store.inflight_messages()? {
            let waiting = message.tool_calls.iter().any(|c| c.status.is_waiting());
            if message.status == MessageStatus::InProgress && waiting {
                // A run paused for an operator survives a restart: it resumes when answered.
                waiting_threads.insert(message.thread_id.clone());
                continue;
            }
            if message.status == MessageStatus::InProgress {
                message.status = MessageStatus::Incomplete;
                message.error = Some(ErrorBody {
                    message: "the runtime stopped while this reply was being generated".into(),
                    kind: "server_error".into(),
                    code: Some("interrupted".into()),
                    param: None,
                });
                for call in &mut message.tool_calls {
                    if !call.status.is_final() {
                        call.status = ToolCallStatus::Failed;
                        call.output
                            .get_or_insert_with(|| "interrupted by a restart".into());
                    }
                }
                store.put_message(&message)?;
                recovery.incomplete.push(message);
                continue;
            }
            // Final, but still listed as in progress: written whole, which unlists it.
            store.put_message(&message)?;
        }
        let mut cut = store.threads_with_status(ThreadStatus::Running);
        cut.extend(store.threads_with_status(ThreadStatus::Queued));
        for mut thread in cut {
            thread.status = ThreadStatus::Active;
            store.put_thread(&thread)?;
            recovery.threads_reset += 1;
        }
        for mut thread in store.threads_with_status(ThreadStatus::RequiresAction) {
            if !waiting_threads.contains(&thread.id) {
                thread.status = ThreadStatus::Active;
                store.put_thread(&thread)?;
                recovery.threads_reset += 1;
            }
        }
        if recovery != Recovery::default() {
            store.flush_blocking()?;
        }
        Ok(recovery)
    }
}
