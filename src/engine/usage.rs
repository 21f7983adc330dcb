//! Token usage per project: totals (for estimated cost) and the last minute's tokens.

use crate::config::Config;
use crate::model::Usage;
use crate::store::{Store, StoreResult};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct UsageBook {
    store: Store,
    totals: Mutex<HashMap<(String, String), Usage>>,
    recent: Mutex<HashMap<String, VecDeque<(Instant, u64)>>>,
}

impl UsageBook {
    pub fn load(store: &Store) -> StoreResult<Self> {
        let totals = store
            .usage_totals()?
            .into_iter()
            .map(|(project, model, usage)| ((project, model), usage))
            .collect();
        Ok(UsageBook {
            store: store.clone(),
            totals: Mutex::new(totals),
            recent: Mutex::new(HashMap::new()),
        })
    }

    pub fn record(&self, project_id: &str, model: &str, usage: Usage) {
        if let Err(err) = self.store.add_usage(project_id, model, usage) {
            tracing::error!("could not record usage: {err}");
        }
        let mut totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        let total = totals
            .entry((project_id.to_string(), model.to_string()))
            .or_default();
        total.input_tokens += usage.input_tokens;
        total.output_tokens += usage.output_tokens;
        drop(totals);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .entry(project_id.to_string())
            .or_default()
            .push_back((Instant::now(), usage.input_tokens + usage.output_tokens));
    }

    pub fn tokens_last_minute(&self, project_id: &str) -> u64 {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
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
        let totals = self.totals.lock().unwrap_or_else(|p| p.into_inner());
        totals
            .iter()
            .filter(|((project, _), _)| project == project_id)
            .map(|((_, model), usage)| config.cost(model, usage.input_tokens, usage.output_tokens))
            .sum()
    }
}
