//! Telemetry: one event per model call and per tool call, in the seed's shape. Each is
//! streamed as a `telemetry` SSE event, kept in memory (the newest per project, for
//! `GET /v2/projects/{id}/logs`) and appended as a JSON line to
//! `DATA_DIR/logs/telemetry.jsonl` by a writer thread of its own, from a bounded queue:
//! a slow disk never slows a run; what does not fit is counted as dropped.

use crate::{Engine, EngineResult, EventScope, Scope, metrics};
use agentdeck_model::EventPayload;
use agentdeck_model::event::Telemetry;
use agentdeck_model::sync;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};

/// Events kept per project for the logs endpoint.
pub const KEPT_PER_PROJECT: usize = 1000;
/// Lines waiting for the writer before new ones are dropped.
const FILE_QUEUE: usize = 10_000;

pub struct TelemetryLog {
    recent: Mutex<HashMap<String, VecDeque<Telemetry>>>,
    lines: Option<SyncSender<String>>,
    dropped: AtomicU64,
}

impl TelemetryLog {
    /// A log appending to `DATA_DIR/logs/telemetry.jsonl`; kept in memory only when the
    /// file cannot be opened (said once in the process log).
    pub fn open(data_dir: &Path) -> TelemetryLog {
        let path = data_dir.join("logs").join("telemetry.jsonl");
        let file = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
            });
        let lines = match file {
            Ok(file) => {
                let (tx, rx) = std::sync::mpsc::sync_channel::<String>(FILE_QUEUE);
                let spawned =
                    std::thread::Builder::new()
                        .name("telemetry".into())
                        .spawn(move || {
                            let mut out = std::io::BufWriter::new(file);
                            while let Ok(line) = rx.recv() {
                                let _ = writeln!(out, "{line}");
                                // Write what is there, then flush once for the batch.
                                while let Ok(more) = rx.try_recv() {
                                    let _ = writeln!(out, "{more}");
                                }
                                let _ = out.flush();
                            }
                        });
                spawned.ok().map(|_| tx)
            }
            Err(err) => {
                tracing::warn!(
                    "telemetry is kept in memory only: {}: {err}",
                    path.display()
                );
                None
            }
        };
        TelemetryLog {
            recent: Mutex::new(HashMap::new()),
            lines,
            dropped: AtomicU64::new(0),
        }
    }

    /// Keeps an event of `project_id` and queues its line for the file.
    pub fn record(&self, project_id: &str, event: &Telemetry) {
        {
            let mut recent = sync::lock(&self.recent);
            let kept = recent.entry(project_id.to_string()).or_default();
            kept.push_back(event.clone());
            while kept.len() > KEPT_PER_PROJECT {
                kept.pop_front();
            }
        }
        if let Some(lines) = &self.lines {
            let mut line = serde_json::to_value(event).unwrap_or_default();
            line["project_id"] = serde_json::Value::String(project_id.to_string());
            if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
                lines.try_send(line.to_string())
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The newest `limit` events of a project, newest first.
    pub fn recent(&self, project_id: &str, limit: usize) -> Vec<Telemetry> {
        let recent = sync::lock(&self.recent);
        recent.get(project_id).map_or_else(Vec::new, |kept| {
            kept.iter().rev().take(limit).cloned().collect()
        })
    }

    /// Lines that did not reach the file because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// What the engine tells of itself: `/metrics`, a project's logs, and each call recorded.
impl Engine {
    /// The Prometheus text of `/metrics`: counters kept as the runtime works, gauges read
    /// now.
    pub fn metrics_text(&self) -> EngineResult<String> {
        let projects = self
            .list_projects(&Scope::All)?
            .into_iter()
            .map(|project| {
                let (running, queued) = self.inner.runs.admission.counts(&project.id);
                let cost = self
                    .inner
                    .runs
                    .usage
                    .estimated_cost(&project.id, &self.inner.config);
                (project.id, running, queued, cost)
            })
            .collect();
        Ok(self.inner.telemetry.metrics.encode(metrics::Snapshot {
            projects,
            sse_subscribers: self.inner.bus.subscribers() as u64,
            store_bytes: self.inner.store.size_on_disk(),
            last_event_id: self.inner.bus.last_id(),
            telemetry_dropped: self.inner.telemetry.log.dropped(),
            webhook_dropped: self.inner.telemetry.shipper.dropped(),
        }))
    }

    /// The newest telemetry events of a project (at most `limit`), newest first.
    pub fn logs(
        &self,
        scope: &Scope,
        project_id: &str,
        limit: usize,
    ) -> EngineResult<Vec<Telemetry>> {
        let project = self.project(scope, project_id)?;
        Ok(self.inner.telemetry.log.recent(&project.id, limit))
    }

    /// Records a model or tool call: kept for the logs endpoint, written to the data
    /// dir's telemetry file, and sent as a `telemetry` event.
    pub(crate) fn telemetry(&self, scope: &EventScope, project_id: &str, event: Telemetry) {
        self.inner.telemetry.log.record(project_id, &event);
        self.inner.telemetry.shipper.send(project_id, &event);
        self.emit(scope, EventPayload::Telemetry(Box::new(event)));
    }
}
