//! Token usage per project: totals (for estimated cost) and the last minute's tokens.
//! With other nodes on the database, both are the cluster's: totals read from the
//! shared store, the last minute's tokens counted in Redis (this node's view of the
//! others' is at most [`SHARED_STALENESS`] old).

use super::cluster::Cluster;
use agentdeck_model::Usage;
use agentdeck_model::config::Config;
use agentdeck_model::sync;
use agentdeck_store::{Store, StoreResult};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How old this node's view of the cluster's last-minute tokens of a project may get.
const SHARED_STALENESS: Duration = Duration::from_millis(250);

pub struct UsageBook {
    store: Store,
    totals: Mutex<HashMap<(String, String), Usage>>,
    recent: Mutex<HashMap<String, VecDeque<(Instant, u64)>>>,
    cluster: Option<Arc<Cluster>>,
    /// The cluster's last-minute tokens per project, and when they were read.
    shared: Arc<Mutex<HashMap<String, (Instant, u64)>>>,
}

impl UsageBook {
    pub fn load(store: &Store, cluster: Option<Arc<Cluster>>) -> StoreResult<Self> {
        let totals = store
            .usage_totals()?
            .into_iter()
            .map(|(project, model, usage)| ((project, model), usage))
            .collect();
        Ok(UsageBook {
            store: store.clone(),
            totals: Mutex::new(totals),
            recent: Mutex::new(HashMap::new()),
            cluster,
            shared: Arc::default(),
        })
    }

    /// Adds `tokens` to the cluster's count of a project and notes the new total.
    fn share(&self, project_id: &str, tokens: u64) {
        let (Some(cluster), Ok(runtime)) = (&self.cluster, tokio::runtime::Handle::try_current())
        else {
            return;
        };
        if tokens == 0 {
            // A refresh: one at a time per project.
            let mut shared = sync::lock(&self.shared);
            match shared.get_mut(project_id) {
                Some((read_at, _)) if read_at.elapsed() < SHARED_STALENESS => return,
                Some((read_at, _)) => *read_at = Instant::now(),
                None => {
                    shared.insert(project_id.to_string(), (Instant::now(), 0));
                }
            }
        }
        let (cluster, shared, project_id) =
            (cluster.clone(), self.shared.clone(), project_id.to_string());
        runtime.spawn(async move {
            match cluster.add_tokens(&project_id, tokens).await {
                Ok(total) => {
                    sync::lock(&shared).insert(project_id, (Instant::now(), total));
                }
                Err(err) => tracing::warn!("the cluster's token count: {err}"),
            }
        });
    }

    pub fn record(&self, project_id: &str, model: &str, usage: Usage) {
        if let Err(err) = self.store.add_usage(project_id, model, usage) {
            tracing::error!("could not record usage: {err}");
        }
        let mut totals = sync::lock(&self.totals);
        let total = totals
            .entry((project_id.to_string(), model.to_string()))
            .or_default();
        total.input_tokens += usage.input_tokens;
        total.output_tokens += usage.output_tokens;
        drop(totals);
        let mut recent = sync::lock(&self.recent);
        let tokens = usage.input_tokens + usage.output_tokens;
        recent
            .entry(project_id.to_string())
            .or_default()
            .push_back((Instant::now(), tokens));
        drop(recent);
        self.share(project_id, tokens);
    }

    pub fn tokens_last_minute(&self, project_id: &str) -> u64 {
        let local = self.local_tokens_last_minute(project_id);
        if self.cluster.is_none() {
            return local;
        }
        self.share(project_id, 0);
        let shared = sync::lock(&self.shared)
            .get(project_id)
            .map_or(0, |(_, total)| *total);
        local.max(shared)
    }

    fn local_tokens_last_minute(&self, project_id: &str) -> u64 {
        let mut recent = sync::lock(&self.recent);
        let Some(window) = recent.get_mut(project_id) else {
            return 0;
        };
        let now = Instant::now();
        while window
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(60))
        {
            window.pop_front();
        }
        window.iter().map(|(_, tokens)| tokens).sum()
    }

    /// USD from the price table of the configuration; models without a price cost nothing.
    pub fn estimated_cost(&self, project_id: &str, config: &Config) -> f64 {
        if self.cluster.is_some() {
            // Other nodes add to the totals too: the store has them all.
            match self.store.usage_totals() {
                Ok(totals) => {
                    return totals
                        .iter()
                        .filter(|(project, _, _)| project == project_id)
                        .map(|(_, model, usage)| {
                            config.cost(model, usage.input_tokens, usage.output_tokens)
                        })
                        .sum();
                }
                Err(err) => tracing::warn!("usage totals: {err}"),
            }
        }
        let totals = sync::lock(&self.totals);
        totals
            .iter()
            .filter(|((project, _), _)| project == project_id)
            .map(|((_, model), usage)| config.cost(model, usage.input_tokens, usage.output_tokens))
            .sum()
    }
}
