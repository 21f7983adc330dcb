//! A run and its project's limits: a slot before it starts, the token budget before each
//! later model call.

use super::{Outcome, Run};
use agentdeck_model::ThreadStatus;

impl Run {
    /// Waits for the project's limits to let the run start (a free slot, tokens left
    /// this minute), the thread `queued` meanwhile. A routed run uses its parent's slot:
    /// the parent waits on it, so making it queue behind the parent could never end.
    pub(super) async fn admit(&self) -> Result<Option<crate::admission::Slot>, Outcome> {
        if self.chain.len() > 1 {
            return Ok(None);
        }
        let Ok(Some(project)) = self.engine.store().project(&self.thread.project_id) else {
            return Ok(None);
        };
        let was_queued = std::sync::atomic::AtomicBool::new(false);
        let entered = self
            .engine
            .inner
            .runs
            .admission
            .enter(
                &project.id,
                &project.limits,
                || self.engine.inner.runs.usage.tokens_last_minute(&project.id),
                || {
                    was_queued.store(true, std::sync::atomic::Ordering::Relaxed);
                    let _ = self.engine.update_thread(&self.thread.id, |t| {
                        if t.status == ThreadStatus::Running {
                            t.status = ThreadStatus::Queued;
                        }
                    });
                },
                &self.cancel,
            )
            .await;
        match entered {
            Ok(slot) => {
                if was_queued.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = self.engine.update_thread(&self.thread.id, |t| {
                        if t.status == ThreadStatus::Queued {
                            t.status = ThreadStatus::Running;
                        }
                    });
                }
                Ok(Some(slot))
            }
            Err(crate::admission::Refused::Cancelled) => Err(Outcome::Cancelled),
        }
    }

    /// Waits, the thread `queued`, while the project has used its minute's tokens.
    pub(super) async fn wait_for_tokens(&self) -> Result<(), Outcome> {
        let Ok(Some(project)) = self.engine.store().project(&self.thread.project_id) else {
            return Ok(());
        };
        let spent = || {
            self.engine.inner.runs.usage.tokens_last_minute(&project.id)
                >= project.limits.tokens_per_minute
        };
        if !spent() {
            return Ok(());
        }
        let set_status = |from: ThreadStatus, to: ThreadStatus| {
            let _ = self.engine.update_thread(&self.thread.id, |t| {
                if t.status == from {
                    t.status = to;
                }
            });
        };
        // What the reply holds so far (its tool calls' outputs) is stored before the
        // thread shows it waits: a reader who sees `queued` sees them too.
        self.engine.bus().sync().await;
        set_status(ThreadStatus::Running, ThreadStatus::Queued);
        while spent() {
            tokio::select! {
                _ = self.cancel.cancelled() => return Err(Outcome::Cancelled),
                _ = tokio::time::sleep(crate::admission::TOKEN_RECHECK) => {}
            }
        }
        set_status(ThreadStatus::Queued, ThreadStatus::Running);
        Ok(())
    }
}
