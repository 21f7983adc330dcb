//! `GET /metrics`: the runtime's counters and gauges in the Prometheus text format
//! (prometheus-client). Labels are bounded: projects and assistants (which an admin
//! creates), tool types and statuses, run outcomes, token kinds; never thread or
//! message ids.

use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 5 ms to ~80 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// The counters kept as the runtime works; gauges are read when scraped.
pub struct Metrics {
    runs: Family<Labels, Counter>,
    model_calls: Family<Labels, Counter>,
    model_call_seconds: Histograms,
    tokens: Family<Labels, Counter>,
    tool_calls: Family<Labels, Counter>,
    tool_call_seconds: Histograms,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            runs: Family::default(),
            model_calls: Family::default(),
            model_call_seconds: Family::new_with_constructor(latency_histogram),
            tokens: Family::default(),
            tool_calls: Family::default(),
            tool_call_seconds: Family::new_with_constructor(latency_histogram),
        }
    }
}

/// What the scrape reads at that moment.
pub struct Snapshot {
    /// (project, running runs, queued runs, estimated cost)
    pub projects: Vec<(String, u64, u64, f64)>,
    pub sse_subscribers: u64,
    pub store_bytes: u64,
    pub last_event_id: u64,
    pub telemetry_dropped: u64,
    pub webhook_dropped: u64,
}

impl Metrics {
    /// A run ended: `completed`, `incomplete`, `failed`, `cancelled` or `paused`.
    pub fn run_ended(&self, project: &str, outcome: &str) {
        self.runs
            .get_or_create(&vec![
                ("project", project.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    pub fn model_call(
        &self,
        project: &str,
        assistant: &str,
        seconds: f64,
        input: u64,
        output: u64,
    ) {
        self.model_calls
            .get_or_create(&vec![
                ("project", project.to_string()),
                ("assistant", assistant.to_string()),
            ])
            .inc();
        self.model_call_seconds
            .get_or_create(&vec![("project", project.to_string())])
            .observe(seconds);
        for (kind, count) in [("input", input), ("output", output)] {
            self.tokens
                .get_or_create(&vec![
                    ("project", project.to_string()),
                    ("kind", kind.to_string()),
                ])
                .inc_by(count);
        }
    }

    pub fn tool_call(&self, project: &str, tool_type: &str, status: &str, seconds: f64) {
        self.tool_calls
            .get_or_create(&vec![
                ("project", project.to_string()),
                ("type", tool_type.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.tool_call_seconds
            .get_or_create(&vec![("project", project.to_string())])
            .observe(seconds);
    }

    /// The text format, counters and the gauges of `now`.
    pub fn encode(&self, now: Snapshot) -> String {
        let mut registry = <Registry>::with_prefix("agentdeck");
        registry.register("runs", "Runs ended, by outcome", self.runs.clone());
        registry.register("model_calls", "Model calls made", self.model_calls.clone());
        registry.register(
            "model_call_seconds",
            "Time of a model call, first byte to last",
            self.model_call_seconds.clone(),
        );
        registry.register("tokens", "Tokens used, by kind", self.tokens.clone());
        registry.register(
            "tool_calls",
            "Tool calls run, by type and status",
            self.tool_calls.clone(),
        );
        registry.register(
            "tool_call_seconds",
            "Time of a tool call",
            self.tool_call_seconds.clone(),
        );
        let running = Family::<Labels, Gauge>::default();
        let queued = Family::<Labels, Gauge>::default();
        let cost = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        for (project, running_now, queued_now, cost_now) in &now.projects {
            let labels = vec![("project", project.clone())];
            running
                .get_or_create(&labels)
                .set(i64::try_from(*running_now).unwrap_or(i64::MAX));
            queued
                .get_or_create(&labels)
                .set(i64::try_from(*queued_now).unwrap_or(i64::MAX));
            cost.get_or_create(&labels).set(*cost_now);
        }
        registry.register(
            "running_runs",
            "Runs holding a slot of their project",
            running,
        );
        registry.register(
            "queued_runs",
            "Runs waiting for their project's limits",
            queued,
        );
        registry.register(
            "estimated_cost",
            "Estimated cost so far (usage times the price table)",
            cost,
        );
        let gauge = |value: u64| {
            let gauge = Gauge::<i64>::default();
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            gauge
        };
        registry.register(
            "sse_subscribers",
            "Event streams open",
            gauge(now.sse_subscribers),
        );
        registry.register(
            "store_bytes",
            "Size of the data dir's database on disk",
            gauge(now.store_bytes),
        );
        registry.register(
            "last_event_id",
            "The newest event id handed out",
            gauge(now.last_event_id),
        );
        registry.register(
            "telemetry_dropped",
            "Telemetry lines not written because the writer fell behind",
            ConstCounter::new(now.telemetry_dropped),
        );
        registry.register(
            "logs_webhook_dropped",
            "Telemetry events not delivered to a logs_webhook (its queue was full)",
            ConstCounter::new(now.webhook_dropped),
        );
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
            text.clear();
        }
        text
    }
}
