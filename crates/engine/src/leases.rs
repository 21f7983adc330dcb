//! Run ownership between nodes that share a database: a node claims a thread's run with
//! a lease in the store (compare-and-swap, so exactly one node wins), renews it while the
//! run goes on and gives it back when the run ends. A node that dies stops renewing; once
//! its lease has lapsed another node takes it over (again by compare-and-swap) and ends
//! the run `incomplete` with the text it had, or starts it again if it had streamed
//! nothing yet. A node alone on its data has no leases: nothing else could run its work.

use super::{ActiveRun, Engine, EngineError, EngineResult, lock, run};
use agentdeck_model::{ErrorBody, MessageStatus, ThreadStatus, ToolCallStatus};
use agentdeck_store::Lease;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a lease holds without renewal: the longest a dead node's run waits.
pub const LEASE: Duration = Duration::from_secs(5);
/// How often leases are renewed and lapsed ones looked for.
const SWEEP: Duration = Duration::from_millis(1000);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn node_lost_error() -> ErrorBody {
    ErrorBody {
        message: "the node running this reply stopped while it was being generated".into(),
        kind: "server_error".into(),
        code: Some("node_lost".into()),
        param: None,
    }
}

impl Engine {
    fn lease_for_me(&self) -> Option<Lease> {
        let cluster = self.inner.options.cluster.as_ref()?;
        Some(Lease {
            node: cluster.node().to_string(),
            until_ms: now_ms() + LEASE.as_millis() as u64,
        })
    }

    /// Claims a thread's run for this node, or says which node has it. Call with the
    /// runs lock held, before recording the run.
    pub(super) fn claim_run(&self, thread_id: &str) -> EngineResult<()> {
        let Some(mine) = self.lease_for_me() else {
            return Ok(());
        };
        if self.inner.store.swap_lease(thread_id, None, Some(&mine))? {
            return Ok(());
        }
        let holder = self
            .inner
            .store
            .lease(thread_id)?
            .map_or_else(|| "another node".to_string(), |(lease, _)| lease.node);
        Err(EngineError::Conflict(format!(
            "Thread '{thread_id}' already has a run in progress on {holder}; wait for it or cancel it."
        )))
    }

    /// Forgets a run that ended (or never started) and gives its lease back.
    pub(super) fn forget_run(&self, thread_id: &str) {
        lock(&self.inner.runs.active).remove(thread_id);
        self.release_lease(thread_id);
    }

    fn release_lease(&self, thread_id: &str) {
        let Some(cluster) = self.inner.options.cluster.as_ref() else {
            return;
        };
        match self.inner.store.lease(thread_id) {
            Ok(Some((lease, bytes))) if lease.node == cluster.node() => {
                if let Err(err) = self.inner.store.swap_lease(thread_id, Some(&bytes), None) {
                    tracing::warn!("could not give back the lease of {thread_id}: {err}");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::warn!("could not give back the lease of {thread_id}: {err}"),
        }
    }

    /// Renews this node's leases and takes over lapsed ones, every [`SWEEP`]; stops the
    /// runs of cancels other nodes forward. Only in a cluster.
    pub(super) fn start_leases(&self) {
        let Some(cluster) = self.inner.options.cluster.clone() else {
            return;
        };
        let engine = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(SWEEP);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = engine.inner.shutdown.cancelled() => return,
                }
                if let Err(err) = engine.sweep_leases().await {
                    tracing::warn!("run leases: {err}");
                }
            }
        });
        let engine = self.clone();
        let mut cancels = cluster.cancels();
        tokio::spawn(async move {
            loop {
                let thread_id = tokio::select! {
                    next = cancels.recv() => match next {
                        Some(thread_id) => thread_id,
                        None => return,
                    },
                    _ = engine.inner.shutdown.cancelled() => return,
                };
                if let Some(run) = lock(&engine.inner.runs.active).get(&thread_id) {
                    run.cancel.cancel();
                }
            }
        });
    }

    async fn sweep_leases(&self) -> EngineResult<()> {
        let Some(cluster) = self.inner.options.cluster.clone() else {
            return Ok(());
        };
        // The runs' slots in the cluster's count live as long as their leases.
        if let Err(err) = cluster
            .renew_slots(&self.inner.runs.admission.held_slots(), LEASE)
            .await
        {
            tracing::warn!("could not renew run slots: {err}");
        }
        let running: std::collections::HashSet<String> =
            lock(&self.inner.runs.active).keys().cloned().collect();
        let now = now_ms();
        for (thread_id, lease, bytes) in self.inner.store.leases()? {
            let ours = lease.node == cluster.node();
            if ours && running.contains(&thread_id) {
                let Some(renewed) = self.lease_for_me() else {
                    continue;
                };
                if !self
                    .inner
                    .store
                    .swap_lease(&thread_id, Some(&bytes), Some(&renewed))?
                {
                    // Taken over while this node could not renew (cut off for longer
                    // than a lease): the other node settles it; this run stops.
                    if let Some(run) = lock(&self.inner.runs.active).get(&thread_id) {
                        run.cancel.cancel();
                    }
                }
            } else if ours {
                self.inner
                    .store
                    .swap_lease(&thread_id, Some(&bytes), None)?;
            } else if lease.until_ms < now {
                let Some(mine) = self.lease_for_me() else {
                    continue;
                };
                if self
                    .inner
                    .store
                    .swap_lease(&thread_id, Some(&bytes), Some(&mine))?
                {
                    tracing::warn!(
                        "node {} stopped renewing its run of {thread_id}: taking it over",
                        lease.node
                    );
                    self.take_over(&thread_id).await?;
                }
            }
        }
        Ok(())
    }

    /// Settles the run of a node that died: its reply ends `incomplete` with the text it
    /// had, or runs again here if it had produced nothing; a reply waiting for an
    /// operator waits on.
    async fn take_over(&self, thread_id: &str) -> EngineResult<()> {
        let store = self.store();
        let replies: Vec<_> = store
            .inflight_messages()?
            .into_iter()
            .filter(|m| m.thread_id == thread_id && m.status == MessageStatus::InProgress)
            .collect();
        let mut restarted = false;
        for mut reply in replies {
            if reply.tool_calls.iter().any(|c| c.status.is_waiting()) {
                continue;
            }
            let nothing_yet = reply.text().is_empty()
                && reply.tool_calls.is_empty()
                && reply.reasoning.is_empty();
            if nothing_yet && !restarted {
                let assistant_id = match &reply.assistant_id {
                    Some(id) => id.clone(),
                    None => continue,
                };
                lock(&self.inner.runs.active).insert(
                    thread_id.to_string(),
                    ActiveRun {
                        cancel: self.inner.shutdown.child_token(),
                    },
                );
                self.spawn_run(run::RunSpec {
                    thread_id: thread_id.to_string(),
                    reply_id: reply.id.clone(),
                    chain: vec![assistant_id],
                });
                restarted = true;
                continue;
            }
            for call in &mut reply.tool_calls {
                if !call.status.is_final() {
                    call.status = ToolCallStatus::Failed;
                    call.output
                        .get_or_insert_with(|| "the node running it stopped".into());
                }
            }
            reply.status = MessageStatus::Incomplete;
            reply.error = Some(node_lost_error());
            self.end_reply(thread_id, &reply).await;
        }
        if !restarted {
            let _ = self.update_thread(thread_id, |t| {
                if matches!(t.status, ThreadStatus::Running | ThreadStatus::Queued) {
                    t.status = ThreadStatus::Active;
                }
            });
            self.release_lease(thread_id);
            self.inner.bus.sync().await;
        }
        Ok(())
    }
}
