//! After an unclean stop: replies cut mid-generation become `incomplete` with the text
//! they had, runs paused for an operator wait on, and threads left running are freed.
//! The same settles what runs stopped by a database outage could not write, once it is
//! back (`Engine::watch_storage`).

use super::{Engine, EngineResult};
use agentdeck_model::{ErrorBody, Message, MessageStatus, ThreadStatus, ToolCallStatus};
use std::collections::HashSet;

/// What [`Engine::recover`] settled.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Recovery {
    /// Replies cut by the stop, now `incomplete`; their streams still need an ending
    /// ([`Engine::close_recovered`]).
    pub incomplete: Vec<Message>,
    pub threads_reset: usize,
}

/// Why a run stopped, or a reply was cut, while the database was away.
pub(crate) fn storage_unavailable_error() -> ErrorBody {
    ErrorBody {
        message: "the database became unavailable while this reply was being generated".into(),
        kind: "server_error".into(),
        code: Some("storage_unavailable".into()),
        param: None,
    }
}

impl Engine {
    /// Settles what the last run of the data dir left in progress. Call once, before
    /// serving.
    pub fn recover(&self) -> EngineResult<Recovery> {
        let cut = ErrorBody {
            message: "the runtime stopped while this reply was being generated".into(),
            kind: "server_error".into(),
            code: Some("interrupted".into()),
            param: None,
        };
        // With other nodes, a reply under a lease is some node's (or, lapsed, will be
        // taken over): only what no node claims is settled here.
        let claimed = self.leased_threads(None)?;
        self.settle(cut, "interrupted by a restart", &claimed)
    }

    /// After the database came back from an outage: what the runs it stopped could not
    /// write is settled the same way, except on threads that run again (`busy`).
    pub(super) fn settle_after_outage(&self) -> EngineResult<Recovery> {
        let mut busy: HashSet<String> = super::lock(&self.inner.runs.active)
            .keys()
            .cloned()
            .collect();
        // In a cluster, replies other nodes run (or will take over) are theirs.
        let this_node = self.inner.options.cluster.as_ref().map(|c| c.node());
        busy.extend(self.leased_threads(this_node)?);
        self.settle(
            storage_unavailable_error(),
            "the database was unavailable",
            &busy,
        )
    }

    fn settle(
        &self,
        cut_error: ErrorBody,
        cut_output: &str,
        busy: &HashSet<String>,
    ) -> EngineResult<Recovery> {
        let store = self.store();
        let mut recovery = Recovery::default();
        let mut waiting_threads = HashSet::new();
        for mut message in store.inflight_messages()? {
            if busy.contains(&message.thread_id) {
                continue;
            }
            let waiting = message.tool_calls.iter().any(|c| c.status.is_waiting());
            if message.status == MessageStatus::InProgress && waiting {
                // A run paused for an operator survives a restart: it resumes when answered.
                waiting_threads.insert(message.thread_id.clone());
                continue;
            }
            if message.status == MessageStatus::InProgress {
                message.status = MessageStatus::Incomplete;
                message.error = Some(cut_error.clone());
                for call in &mut message.tool_calls {
                    if !call.status.is_final() {
                        call.status = ToolCallStatus::Failed;
                        call.output.get_or_insert_with(|| cut_output.into());
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
        for mut thread in cut.into_iter().filter(|t| !busy.contains(&t.id)) {
            thread.status = ThreadStatus::Active;
            store.put_thread(&thread)?;
            recovery.threads_reset += 1;
        }
        for mut thread in store.threads_with_status(ThreadStatus::RequiresAction) {
            if !waiting_threads.contains(&thread.id) && !busy.contains(&thread.id) {
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

    /// In a cluster, the threads under a run lease, but those of `except` (a node);
    /// alone, none.
    fn leased_threads(&self, except: Option<&str>) -> EngineResult<HashSet<String>> {
        if self.inner.options.cluster.is_none() {
            return Ok(HashSet::new());
        }
        Ok(self
            .store()
            .leases()?
            .into_iter()
            .filter(|(_, lease, _)| Some(lease.node.as_str()) != except)
            .map(|(thread_id, _, _)| thread_id)
            .collect())
    }

    /// While the database is away (writes wait in the bus), runs stop: what they stream
    /// could not be kept. Once it is back and the waiting writes are made, what they
    /// could not write is settled and told (replies `incomplete`, threads free).
    pub(super) fn watch_storage(&self) {
        let engine = self.clone();
        let mut health = self.inner.bus.storage_health();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    changed = health.changed() => if changed.is_err() { return },
                    _ = engine.inner.shutdown.cancelled() => return,
                }
                if *health.borrow_and_update() {
                    match engine.settle_after_outage() {
                        Ok(settled) => {
                            tracing::warn!(
                                "the database is back: {} replies ended incomplete, {} threads freed",
                                settled.incomplete.len(),
                                settled.threads_reset
                            );
                            engine.close_recovered(&settled.incomplete).await;
                        }
                        Err(err) => tracing::error!("settling after the outage: {err}"),
                    }
                } else {
                    tracing::warn!("the database is unavailable: stopping the runs");
                    for run in super::lock(&engine.inner.runs.active).values() {
                        run.cancel.cancel();
                    }
                }
            }
        });
    }
}
