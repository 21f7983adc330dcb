//! Per-key request rate limits: a token bucket per project key (the admin key is the
//! operator's own and is not limited). Over the limit a request gets `429` with
//! `Retry-After`; the map of buckets is bounded, idle full buckets going first.

use agentdeck_model::sync;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Keys whose buckets are kept; beyond this, buckets that are full again are dropped.
const KEYS_KEPT: usize = 10_000;

pub struct KeyRates {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl KeyRates {
    /// `per_second` on average, `burst` at once.
    pub fn new(per_second: f64, burst: u32) -> KeyRates {
        KeyRates {
            per_second,
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from the key's bucket; false when it is empty.
    pub fn take(&self, key_hash: &str) -> bool {
        self.take_many(key_hash, 1.0)
    }

    /// Takes `count` from the key's bucket, or nothing when it holds fewer (a batch
    /// larger than the burst is taken from a full bucket, leaving it in debt).
    pub fn take_many(&self, key_hash: &str, count: f64) -> bool {
        let now = Instant::now();
        let mut buckets = sync::lock(&self.buckets);
        if buckets.len() >= KEYS_KEPT && !buckets.contains_key(key_hash) {
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets
            .entry(key_hash.to_string())
            .or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        let need = count.min(self.burst).max(1.0);
        if *tokens >= need {
            *tokens -= count;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_burst_then_the_rate() {
        // A slow rate, so that no token comes back while the test runs (a loaded
        // machine may pause it for milliseconds).
        let rates = super::KeyRates::new(0.001, 5);
        assert!((0..5).all(|_| rates.take("k")));
        assert!(!rates.take("k"), "the burst is spent");
        assert!(rates.take("other"), "each key has its own bucket");
        let fast = super::KeyRates::new(1000.0, 1);
        assert!(fast.take("k"));
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(fast.take("k"), "tokens come back at the rate");
    }
}
