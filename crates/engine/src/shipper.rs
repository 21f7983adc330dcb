//! Delivery of telemetry to each project's `logs_webhook`: batches POSTed as a JSON array
//! in the order the events happened, from a bounded queue. A slow or dead webhook never
//! slows a run: events wait (up to a bound per project, the oldest dropped and counted
//! beyond it) and are tried again with growing pauses until the webhook answers 2xx. Each
//! batch carries an `Idempotency-Key`, the same on every try, so a receiver can tell a
//! retry from a new batch. The target obeys the network rules (`[telemetry]
//! allowed_domains` in the config lists loopback or private hosts it may reach).

use super::Engine;
use super::net::NetRules;
use agentdeck_model::event::Telemetry;
use agentdeck_model::sync;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Events on their way from runs to the shipper.
const QUEUE: usize = 10_000;
/// Events a project keeps waiting for its webhook.
const KEPT_PER_PROJECT: usize = 10_000;
/// Events in one POST.
const BATCH: usize = 100;
/// How long events gather before they are sent.
const GATHER: Duration = Duration::from_millis(500);
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// One POST may take this long.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct Shipper {
    tx: mpsc::Sender<(String, Telemetry)>,
    rx: std::sync::Mutex<Option<mpsc::Receiver<(String, Telemetry)>>>,
    dropped: AtomicU64,
}

impl Default for Shipper {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Shipper {
            tx,
            rx: std::sync::Mutex::new(Some(rx)),
            dropped: AtomicU64::new(0),
        }
    }
}

/// A project's events waiting for its webhook.
#[derive(Default)]
struct Pending {
    events: VecDeque<Telemetry>,
    /// The batch being tried, with its key: it is retried whole, never regrouped.
    in_flight: Option<(String, Vec<Telemetry>)>,
    retry_at: Option<tokio::time::Instant>,
    backoff: Duration,
}

impl Shipper {
    /// Queues an event for its project's webhook; never waits.
    pub fn send(&self, project_id: &str, event: &Telemetry) {
        if self
            .tx
            .try_send((project_id.to_string(), event.clone()))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Events dropped: the queue was full, or a project's webhook fell too far behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Starts the delivery task (once; the runtime calls it when it starts).
    pub fn start(&self, engine: Engine) {
        let rx = sync::lock(&self.rx).take();
        if let Some(rx) = rx {
            // The task holds the engine weakly: it must not keep a stopped runtime's
            // store open.
            let weak = std::sync::Arc::downgrade(&engine.inner);
            let shutdown = engine.inner.shutdown.clone();
            let allowed = engine.config().telemetry.allowed_domains.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = deliver(weak, allowed, rx) => {}
                    _ = shutdown.cancelled() => {}
                }
            });
        }
    }
}

async fn deliver(
    engine: std::sync::Weak<super::EngineInner>,
    allowed_domains: Vec<String>,
    mut rx: mpsc::Receiver<(String, Telemetry)>,
) {
    let rules = NetRules::of(&agentdeck_model::Safety {
        strict: false,
        allowed_domains,
    });
    let Ok(client) = rules.client(TIMEOUT) else {
        tracing::error!("telemetry webhooks are off: no HTTP client");
        return;
    };
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut tick = tokio::time::interval(GATHER);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            received = rx.recv() => {
                let Some((project_id, event)) = received else { return };
                let project = pending.entry(project_id).or_default();
                project.events.push_back(event);
                if project.events.len() > KEPT_PER_PROJECT {
                    project.events.pop_front();
                    let Some(inner) = engine.upgrade() else { return };
                    inner.telemetry.shipper.dropped.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            // Only while something waits: an idle runtime does not wake up for it.
            _ = tick.tick(), if !pending.is_empty() => {}
        }
        let Some(inner) = engine.upgrade() else {
            return;
        };
        let engine = Engine { inner };
        let now = tokio::time::Instant::now();
        for (project_id, project) in pending.iter_mut() {
            if project.retry_at.is_some_and(|at| at > now) {
                continue;
            }
            if project.in_flight.is_none() && !project.events.is_empty() {
                let take = project.events.len().min(BATCH);
                let batch: Vec<Telemetry> = project.events.drain(..take).collect();
                project.in_flight = Some((agentdeck_model::new_id("batch_"), batch));
            }
            let Some((key, batch)) = &project.in_flight else {
                continue;
            };
            let webhook = match engine.store().project(project_id) {
                Ok(Some(p)) => p.logs_webhook,
                _ => None,
            };
            let Some(webhook) = webhook else {
                // No webhook (any more): nothing to deliver to.
                project.in_flight = None;
                project.events.clear();
                continue;
            };
            match post(&client, &rules, &webhook, key, batch).await {
                Ok(()) => {
                    project.in_flight = None;
                    project.retry_at = None;
                    project.backoff = Duration::ZERO;
                }
                Err(why) => {
                    project.backoff = (project.backoff * 2).clamp(FIRST_RETRY, LAST_RETRY);
                    project.retry_at = Some(tokio::time::Instant::now() + project.backoff);
                    tracing::warn!(
                        "logs_webhook of {project_id}: {why}; trying again in {:?}",
                        project.backoff
                    );
                }
            }
        }
        pending.retain(|_, p| !p.events.is_empty() || p.in_flight.is_some());
    }
}

async fn post(
    client: &reqwest::Client,
    rules: &NetRules,
    webhook: &str,
    key: &str,
    batch: &[Telemetry],
) -> Result<(), String> {
    let url = reqwest::Url::parse(webhook).map_err(|err| format!("not a URL: {err}"))?;
    rules.check_url(&url)?;
    let response = client
        .post(url)
        .header("Idempotency-Key", key)
        .json(batch)
        .send()
        .await
        .map_err(super::net::http_error)?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered HTTP {}", response.status().as_u16()))
    }
}
