//! Text to vectors through an OpenAI-compatible `POST {base}/embeddings` (OpenAI, Ollama,
//! vLLM, LiteLLM, a local sentence-embedding server): batches, a timeout, unit length.

use serde_json::{Value, json};
use std::time::Duration;

/// Texts per request.
const BATCH: usize = 64;
/// The longest one request may take.
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct Embedder {
    /// The provider's name in the config (for errors).
    provider: String,
    url: String,
    model: String,
    api_key_env: Option<String>,
    client: reqwest::Client,
}

impl Embedder {
    pub fn new(
        provider: &str,
        base_url: &str,
        model: &str,
        api_key_env: Option<String>,
    ) -> Embedder {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(TIMEOUT)
            .build()
            .unwrap_or_default();
        Embedder {
            provider: provider.to_string(),
            url: format!("{}/embeddings", base_url.trim_end_matches('/')),
            model: model.to_string(),
            api_key_env,
            client,
        }
    }

    /// What ranks with it, for outputs and the README's "which is in use".
    pub fn describe(&self) -> String {
        format!("{} (provider {})", self.model, self.provider)
    }

    /// One vector per text, in order, each of unit length.
    pub async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let key = match &self.api_key_env {
            Some(variable) => Some(std::env::var(variable).map_err(|_| {
                format!(
                    "the embeddings provider '{}' needs its API key in {variable}, which is not set",
                    self.provider
                )
            })?),
            None => None,
        };
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            let mut request = self
                .client
                .post(&self.url)
                .json(&json!({"model": self.model, "input": batch}));
            if let Some(key) = &key {
                request = request.bearer_auth(key);
            }
            let response = request
                .send()
                .await
                .map_err(|err| format!("embeddings from {}: {err}", self.url))?;
            let status = response.status();
            let body: Value = response
                .json()
                .await
                .map_err(|err| format!("embeddings from {}: not JSON: {err}", self.url))?;
            if !status.is_success() {
                let message = body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err(format!(
                    "embeddings from {} answered {status}: {}",
                    self.url,
                    message.chars().take(200).collect::<String>()
                ));
            }
            let mut items: Vec<(u64, Vec<f32>)> = body
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| format!("embeddings from {}: no data", self.url))?
                .iter()
                .enumerate()
                .map(|(position, item)| {
                    let index = item
                        .get("index")
                        .and_then(Value::as_u64)
                        .unwrap_or(position as u64);
                    let vector = item
                        .get("embedding")
                        .and_then(Value::as_array)
                        .map(|values| {
                            values
                                .iter()
                                .map(|v| v.as_f64().unwrap_or(0.0) as f32)
                                .collect()
                        })
                        .unwrap_or_default();
                    (index, vector)
                })
                .collect();
            items.sort_by_key(|(index, _)| *index);
            if items.len() != batch.len() || items.iter().any(|(_, v)| v.is_empty()) {
                return Err(format!(
                    "embeddings from {}: {} vectors for {} texts",
                    self.url,
                    items.len(),
                    batch.len()
                ));
            }
            vectors.extend(items.into_iter().map(|(_, v)| unit(v)));
        }
        let dims = vectors.first().map_or(0, Vec::len);
        if vectors.iter().any(|v| v.len() != dims) {
            return Err(format!(
                "embeddings from {}: vectors of differing sizes",
                self.url
            ));
        }
        Ok(vectors)
    }
}

fn unit(mut vector: Vec<f32>) -> Vec<f32> {
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in &mut vector {
            *v /= norm;
        }
    }
    vector
}
