//! `[gateway] hold_tools`: an answer that asks for a held tool waits for an operator.
//! Its calls wait in the workspace as any run's approvals do (`requires_approval`, the
//! Tools pane's `a` / `d`, the approve and deny routes); the client's stream waits with
//! them. An approved answer goes to the client as the provider sent it; a denied call is
//! replaced by a message saying so. A hold nobody answers in `hold_timeout` is denied.

use super::GatewayCall;
use crate::ActiveRun;
use agentdeck_model::sync::lock;
use agentdeck_model::{EventPayload, ThreadStatus, ToolCallStatus};
use std::time::Duration;
use tokio::time::Instant;

/// How often a held call reads its calls back (an approval may come through another node).
const RECHECK: Duration = Duration::from_secs(1);

/// A call the operator denied (or nobody answered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub call_id: String,
    pub name: String,
    /// What the client's answer says in the call's place.
    pub notice: String,
}

impl GatewayCall {
    /// Whether the answer so far asks for a tool that `[gateway] hold_tools` holds.
    pub fn asks_for_held_tool(&self) -> bool {
        let gateway = &self.engine.config().gateway;
        self.reply
            .tool_calls
            .iter()
            .any(|call| gateway.holds(&call.function.name))
    }

    /// Whether any of these tools (a stream's event starts them) is held.
    pub fn holds_any_of(&self, names: &[String]) -> bool {
        let gateway = &self.engine.config().gateway;
        names.iter().any(|name| gateway.holds(name))
    }

    /// Holds the answer's held calls for the operator and waits for every one to be
    /// approved or denied; returns the denied ones.
    pub async fn hold(&mut self) -> Vec<Denied> {
        let gateway = self.engine.config().gateway.clone();
        let held: Vec<String> = self
            .reply
            .tool_calls
            .iter()
            .filter(|call| gateway.holds(&call.function.name))
            .map(|call| call.id.clone())
            .collect();
        if held.is_empty() {
            return Vec::new();
        }
        let engine = self.engine.clone();
        let (wake, mut woken) = tokio::sync::mpsc::unbounded_channel();
        lock(&engine.inner.runs.held).insert(self.reply.id.clone(), wake);
        for call in &mut self.reply.tool_calls {
            if held.contains(&call.id) {
                call.status = ToolCallStatus::RequiresApproval;
            }
        }
        engine.bus().put_message(self.reply.clone());
        for call in self
            .reply
            .tool_calls
            .iter()
            .filter(|c| held.contains(&c.id))
        {
            self.emit(EventPayload::tool_call_output(&self.reply, call));
        }
        engine.bus().sync().await;
        // Paused as a run pauses: the thread waits for the operator.
        engine.forget_run(&self.thread.id);
        let _ = engine.update_thread(&self.thread.id, |t| t.status = ThreadStatus::RequiresAction);
        let deadline = Instant::now() + gateway.hold_timeout;
        loop {
            self.read_back(&held);
            let waiting: Vec<String> = self
                .reply
                .tool_calls
                .iter()
                .filter(|c| held.contains(&c.id) && c.status.is_waiting())
                .map(|c| c.id.clone())
                .collect();
            if waiting.is_empty() {
                break;
            }
            let stopping = engine.inner.shutdown.is_cancelled();
            if stopping || Instant::now() >= deadline {
                let why = if stopping {
                    "The server stopped before an operator answered; the call was denied."
                        .to_string()
                } else {
                    format!(
                        "No operator answered within {}; the call was denied.",
                        humane(gateway.hold_timeout)
                    )
                };
                for id in waiting {
                    let why = why.clone();
                    let denied = engine
                        .resolve_pending_call(
                            &self.thread,
                            &id,
                            ToolCallStatus::RequiresApproval,
                            |call| {
                                call.status = ToolCallStatus::Denied;
                                call.output = Some(why);
                                Ok(())
                            },
                        )
                        .await;
                    if let Err(err) = denied {
                        tracing::debug!("gateway: a held call was answered meanwhile: {err}");
                    }
                }
                continue;
            }
            tokio::select! {
                _ = woken.recv() => {}
                _ = tokio::time::sleep_until(deadline.min(Instant::now() + RECHECK)) => {}
                _ = engine.inner.shutdown.cancelled() => {}
            }
        }
        lock(&engine.inner.runs.held).remove(&self.reply.id);
        // The call goes on: the thread is running it again.
        lock(&engine.inner.runs.active).insert(
            self.thread.id.clone(),
            ActiveRun {
                cancel: engine.inner.shutdown.child_token(),
            },
        );
        if let Err(err) = engine.claim_run(&self.thread.id) {
            tracing::debug!("gateway: {err}");
        }
        let _ = engine.update_thread(&self.thread.id, |t| t.status = ThreadStatus::Running);
        self.reply
            .tool_calls
            .iter()
            .filter(|c| held.contains(&c.id) && c.status == ToolCallStatus::Denied)
            .map(|c| Denied {
                call_id: c.id.clone(),
                name: c.function.name.clone(),
                notice: format!(
                    "The call to `{}` was not made. {}",
                    c.function.name,
                    c.output.as_deref().unwrap_or("The operator denied it.")
                ),
            })
            .collect()
    }

    /// The held calls as the operator left them in the store.
    fn read_back(&mut self, held: &[String]) {
        let Ok(Some(stored)) = self.engine.inner.store.message(&self.reply.id) else {
            return;
        };
        for call in &mut self.reply.tool_calls {
            if !held.contains(&call.id) {
                continue;
            }
            if let Some(answered) = stored.tool_calls.iter().find(|c| c.id == call.id) {
                call.status = answered.status;
                call.output = answered.output.clone();
                call.approved = answered.approved;
            }
        }
    }
}

/// "10m", "90s": a timeout as the config wrote it.
fn humane(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else if seconds > 0 {
        format!("{seconds}s")
    } else {
        format!("{}ms", duration.as_millis())
    }
}
