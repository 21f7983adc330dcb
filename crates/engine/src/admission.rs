//! Project limits, enforced: a run starts only when its project has a free slot
//! (`concurrent_threads`) and tokens left this minute (`tokens_per_minute`); otherwise
//! it waits in the project's queue, first come first served, its thread `queued`.
//! With other nodes on the database, a slot is also taken in the cluster's count for
//! the project (Redis), held while the run runs and renewed with its lease: the limit
//! holds across nodes.

use super::cluster::Cluster;
use agentdeck_model::Limits;
use agentdeck_model::sync;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often a run held back only by the token budget looks again (tokens return as
/// the minute window slides; nothing announces it).
pub const TOKEN_RECHECK: Duration = Duration::from_millis(250);

#[derive(Default)]
struct ProjectSlots {
    running: usize,
    /// Tickets of the runs waiting, oldest first.
    waiting: VecDeque<u64>,
}

/// The slots and queues of every project.
#[derive(Default)]
pub struct Admission {
    projects: Mutex<HashMap<String, ProjectSlots>>,
    next_ticket: std::sync::atomic::AtomicU64,
    changed: Arc<Notify>,
    /// The cluster whose count of running runs the limit also holds for.
    cluster: Option<Arc<Cluster>>,
    /// Slots this node holds in the cluster's count: holder → project.
    held: Mutex<HashMap<String, String>>,
}

/// A run's slot; freed when dropped.
pub struct Slot {
    admission: Arc<Admission>,
    project_id: String,
    /// Its name in the cluster's count, if in a cluster.
    holder: Option<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(project) = self.admission.lock().get_mut(&self.project_id) {
            project.running = project.running.saturating_sub(1);
        }
        if let (Some(holder), Some(cluster)) = (self.holder.take(), &self.admission.cluster) {
            self.admission.held().remove(&holder);
            let (cluster, project_id) = (cluster.clone(), self.project_id.clone());
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(err) = cluster.release_slot(&project_id, &holder).await {
                        // It lapses with its lease.
                        tracing::warn!("could not give back a run slot: {err}");
                    }
                });
            }
        }
        self.admission.changed.notify_waiters();
    }
}

/// Why a run did not get a slot.
pub enum Refused {
    Cancelled,
}

impl Admission {
    /// Admission for a node; in a cluster, limits also hold across its nodes.
    pub fn new(cluster: Option<Arc<Cluster>>) -> Admission {
        Admission {
            cluster,
            ..Admission::default()
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        sync::lock(&self.held)
    }

    /// The slots this node holds in the cluster's count, to renew: (project, holder).
    pub fn held_slots(&self) -> Vec<(String, String)> {
        self.held()
            .iter()
            .map(|(holder, project)| (project.clone(), holder.clone()))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProjectSlots>> {
        sync::lock(&self.projects)
    }

    /// Runs of the project now running and waiting.
    pub fn counts(&self, project_id: &str) -> (u64, u64) {
        self.lock()
            .get(project_id)
            .map_or((0, 0), |p| (p.running as u64, p.waiting.len() as u64))
    }

    /// Waits for a slot of `project_id` under `limits`. `tokens_used` tells the tokens
    /// the project used in the last minute; `queued` is called once if the run has to
    /// wait. Cancelling gives the place in the queue up.
    pub async fn enter(
        self: &Arc<Self>,
        project_id: &str,
        limits: &Limits,
        tokens_used: impl Fn() -> u64,
        queued: impl FnOnce(),
        cancel: &CancellationToken,
    ) -> Result<Slot, Refused> {
        let ticket = self
            .next_ticket
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock()
            .entry(project_id.to_string())
            .or_default()
            .waiting
            .push_back(ticket);
        let mut queued = Some(queued);
        loop {
            // Registered before looking, so a change between the look and the wait wakes it.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (ready, mut blocked_by_tokens) = {
                let mut projects = self.lock();
                let project = projects.entry(project_id.to_string()).or_default();
                let first = project.waiting.front() == Some(&ticket);
                let slot_free = (project.running as u64) < limits.concurrent_threads;
                let tokens_left = tokens_used() < limits.tokens_per_minute;
                (
                    first && slot_free && tokens_left,
                    first && slot_free && !tokens_left,
                )
            };
            if ready {
                // In a cluster the other nodes' runs count too: a slot there first.
                let holder = match &self.cluster {
                    Some(cluster) => {
                        let holder = format!("{}:{ticket}", cluster.node());
                        match cluster
                            .take_slot(
                                project_id,
                                limits.concurrent_threads,
                                &holder,
                                super::leases::LEASE,
                            )
                            .await
                        {
                            Ok(true) => Some(Some(holder)),
                            Ok(false) => None,
                            Err(err) => {
                                // Without Redis no round commits either: the run stops
                                // soon; this node's own count still holds.
                                tracing::warn!("the cluster's run slots: {err}");
                                Some(None)
                            }
                        }
                    }
                    None => Some(None),
                };
                match holder {
                    Some(holder) => {
                        {
                            let mut projects = self.lock();
                            let project = projects.entry(project_id.to_string()).or_default();
                            project.waiting.retain(|t| *t != ticket);
                            project.running += 1;
                        }
                        if let Some(holder) = &holder {
                            self.held().insert(holder.clone(), project_id.to_string());
                        }
                        // The next in line may be able to start too.
                        self.changed.notify_waiters();
                        return Ok(Slot {
                            admission: self.clone(),
                            project_id: project_id.to_string(),
                            holder,
                        });
                    }
                    // Every slot is taken on other nodes: look again shortly (nothing
                    // here announces when one of theirs ends).
                    None => blocked_by_tokens = true,
                }
            }
            if let Some(mark) = queued.take() {
                mark();
            }
            let recheck = async {
                if blocked_by_tokens {
                    tokio::time::sleep(TOKEN_RECHECK).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = changed => {}
                _ = recheck => {}
                _ = cancel.cancelled() => {
                    if let Some(project) = self.lock().get_mut(project_id) {
                        project.waiting.retain(|t| *t != ticket);
                    }
                    self.changed.notify_waiters();
                    return Err(Refused::Cancelled);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_wait_in_order_for_a_slot_and_for_tokens() {
        let admission = Arc::new(Admission::default());
        let limits = Limits {
            tokens_per_minute: 100,
            concurrent_threads: 2,
        };
        let cancel = CancellationToken::new();
        let a = admission
            .enter("p", &limits, || 0, || {}, &cancel)
            .await
            .ok();
        let b = admission
            .enter("p", &limits, || 0, || {}, &cancel)
            .await
            .ok();
        assert!(a.is_some() && b.is_some());
        assert_eq!(admission.counts("p"), (2, 0));
        // A third waits, marked queued, until one ends.
        let queued = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let third = {
            let (admission, limits, cancel, queued) =
                (admission.clone(), limits, cancel.clone(), queued.clone());
            tokio::spawn(async move {
                admission
                    .enter(
                        "p",
                        &limits,
                        || 0,
                        move || queued.store(true, std::sync::atomic::Ordering::SeqCst),
                        &cancel,
                    )
                    .await
                    .ok()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(queued.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(admission.counts("p"), (2, 1));
        drop(a);
        let c = third.await.unwrap();
        assert!(c.is_some());
        assert_eq!(admission.counts("p"), (2, 0));
        drop((b, c));
        // Out of tokens: waits; cancelling gives the place up.
        let cancel_one = CancellationToken::new();
        let waiting = {
            let (admission, limits, cancel_one) = (admission.clone(), limits, cancel_one.clone());
            tokio::spawn(async move {
                admission
                    .enter("p", &limits, || 100, || {}, &cancel_one)
                    .await
                    .is_ok()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(admission.counts("p"), (0, 1));
        cancel_one.cancel();
        assert!(!waiting.await.unwrap());
        assert_eq!(admission.counts("p"), (0, 0));
    }
}
