//! The bus in a cluster (see `engine::cluster`): a round is numbered with the cluster's
//! ids under its commit lock, written, and appended to the cluster's stream; what this
//! node publishes is what it reads back from that stream, every node's rounds in one
//! order.

use super::write::{Durability, write_round};
use super::{EventBus, ID_BLOCK, RETRY_INTERVAL, Work, lock};
use crate::cluster::Cluster;
use agentdeck_model::EventKind;
use agentdeck_model::event::ThreadEvent;
use std::sync::Arc;
use std::time::Duration;

impl EventBus {
    /// One round in a cluster. If Redis cannot be reached, the work goes back to the
    /// front of the queue (its order kept), storage counts as unavailable (runs stop),
    /// and the round is tried again shortly.
    pub(super) async fn commit_cluster_round(&self, cluster: &Arc<Cluster>) -> (Durability, u64) {
        let (mut work, queued, floor) = {
            let mut state = lock(&self.inner.state);
            state.urgent = false;
            (
                std::mem::take(&mut state.queue),
                state.queued,
                state.published.max(state.allocated),
            )
        };
        let count = work
            .iter()
            .filter(|item| matches!(item, Work::Event(_)))
            .count() as u64;
        let gate = self.inner.gate.write().await;
        let ticket = match cluster.begin_round(count, floor).await {
            Ok(ticket) => ticket,
            Err(err) => {
                drop(gate);
                tracing::warn!("commit round waits: {err}");
                {
                    let mut state = lock(&self.inner.state);
                    work.append(&mut state.queue);
                    state.queue = work;
                    state.urgent = true;
                }
                self.set_storage_ok(false);
                tokio::time::sleep(RETRY_INTERVAL).await;
                let done = *self.inner.durable.borrow();
                return (Durability::Checkpoint, done);
            }
        };
        let mut next = ticket.first_id;
        for item in &mut work {
            if let Work::Event(event) = item {
                event.id = next;
                next += 1;
            }
        }
        let last = next.saturating_sub(1);
        let reserve = {
            let mut state = lock(&self.inner.state);
            state.allocated = state.allocated.max(last);
            let reserve = (last > state.reserved).then_some(last + ID_BLOCK);
            if let Some(upto) = reserve {
                state.reserved = upto;
            }
            reserve
        };
        let store = self.inner.store.clone();
        let pending = self.inner.pending.clone();
        let written = tokio::task::spawn_blocking(move || {
            if let Some(upto) = reserve {
                if let Err(err) = store.raise_event_id_reservation(upto) {
                    tracing::error!("could not reserve event ids: {err}");
                }
            }
            let mut pending = lock(&pending);
            let published = write_round(&store, work, Durability::Checkpoint, &mut pending);
            (published, pending.healthy())
        })
        .await;
        let (published, written_ok) = match written {
            Ok(written) => written,
            Err(err) => {
                tracing::error!("commit round failed: {err}");
                (Vec::new(), false)
            }
        };
        let streamed = cluster.end_round(ticket, &published).await;
        drop(gate);
        let streamed_ok = match streamed {
            Ok(true) => true,
            Ok(false) => {
                tracing::error!(
                    "a commit round outlived the cluster's lock: its {} events are durable but \
                     were not streamed to the other nodes",
                    published.len()
                );
                true
            }
            Err(err) => {
                tracing::error!(
                    "could not stream a commit round of {} events: {err}",
                    published.len()
                );
                false
            }
        };
        self.set_storage_ok(written_ok && streamed_ok);
        self.inner.durable.send_replace(queued);
        (Durability::Checkpoint, queued)
    }

    pub(super) fn set_storage_ok(&self, healthy: bool) {
        self.inner.storage_ok.send_if_modified(|ok| {
            let changed = *ok != healthy;
            *ok = healthy;
            changed
        });
    }

    /// Publishes what the cluster's stream holds after `after`, as it comes, until the
    /// bus closes. A lost connection is made again and reading goes on from the last
    /// event read, so a Redis outage delays events but drops none the stream still has.
    pub(super) async fn feed_from(self, cluster: Arc<Cluster>, mut after: u64) {
        let mut reader = None;
        loop {
            if self.inner.closed.is_cancelled() {
                return;
            }
            let conn = match reader.as_mut() {
                Some(conn) => conn,
                None => match cluster.reader().await {
                    Ok(conn) => reader.insert(conn),
                    Err(err) => {
                        tracing::warn!("reading the cluster's events: {err}");
                        self.pause().await;
                        continue;
                    }
                },
            };
            let read = tokio::select! {
                _ = self.inner.closed.cancelled() => return,
                read = cluster.read_after(conn, after) => read,
            };
            let received = match read {
                Ok(received) => received,
                Err(err) => {
                    tracing::warn!("reading the cluster's events: {err}");
                    reader = None;
                    self.pause().await;
                    continue;
                }
            };
            let mut batch = Vec::with_capacity(received.len());
            for item in received {
                if item.event.id <= after {
                    continue;
                }
                after = item.event.id;
                if item.node != cluster.node() {
                    self.learn(&item.event);
                }
                batch.push(Arc::new(item.event));
            }
            if !batch.is_empty() {
                self.publish(batch);
            }
        }
    }

    async fn pause(&self) {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = self.inner.closed.cancelled() => {}
        }
    }

    /// What another node changed that this node keeps in memory: its threads.
    fn learn(&self, event: &super::Published) {
        if !matches!(
            event.kind,
            EventKind::ThreadCreated | EventKind::ThreadUpdated
        ) {
            return;
        }
        let text = String::from_utf8_lossy(&event.frame);
        let Some(data) = text.lines().find_map(|line| line.strip_prefix("data: ")) else {
            return;
        };
        match serde_json::from_str::<ThreadEvent>(data) {
            Ok(changed) => self.inner.store.index_thread(changed.thread),
            Err(err) => tracing::warn!("a thread event from another node is unreadable: {err}"),
        }
    }
}
