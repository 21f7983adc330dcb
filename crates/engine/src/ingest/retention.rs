//! `[otlp] retention_days`: external threads (made from spans) are deleted, with their
//! messages, once no span has touched them for that long. Every node sweeps its own
//! index, so on a shared database each one lets go of what the others deleted.

use crate::Engine;
use agentdeck_model::now_secs;
use std::time::Duration;

impl Engine {
    /// How often the sweep runs: a tenth of the retention, between a second and an hour.
    pub(super) fn retention_sweep_every(&self) -> Option<Duration> {
        let days = self.config().otlp.retention_days;
        (days > 0.0).then(|| {
            Duration::from_secs_f64(days * 86_400.0 / 10.0)
                .clamp(Duration::from_secs(1), Duration::from_secs(3600))
        })
    }

    /// Deletes the external threads idle past the retention; how many.
    pub(super) fn sweep_external_threads(&self) -> usize {
        let days = self.config().otlp.retention_days;
        if days <= 0.0 {
            return 0;
        }
        let cutoff = now_secs().saturating_sub((days * 86_400.0) as u64);
        let expired = self.inner.store.threads_where(|thread| {
            thread.metadata.get("source").map(String::as_str) == Some("otlp")
                && thread.updated_at < cutoff
        });
        let mut deleted = 0;
        for thread in expired {
            match self.inner.store.delete_thread(&thread.id) {
                Ok(true) => deleted += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!("retention: could not delete thread {}: {err}", thread.id);
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!("retention: deleted {deleted} external threads idle over {days} days");
        }
        deleted
    }
}
